#!/usr/bin/env bash
# Issue 4, must show 3: a hostile peer cannot hurt an agent. The station's
# agent admits an honest tablet and five hostile identities (their keys in
# agent.accept, so they pass the handshake); each hostile one breaks the
# protocol from inside in one way (tests/multi/hostile.c). After each:
#   (a) the station's digest is what it was (the tablet is idle meanwhile,
#       so the only ops the station can hold are the tablet's),
#   (b) the reason is in the station's log and in `gridsync status --json`
#       ("hostile": sessions ended by reason, exact over the whole run;
#       per peer "rejected": refused ops by reason; an oversize message is
#       seen by the transport, dropped unread and counted as GS_ETOOBIG),
#   (c) the agent lives and still serves the tablet: a new write there
#       reaches the station within 5 s (gossip; the sync interval is an
#       hour, so nothing else could bring it).
# Usage: test_hostile.sh GRIDSYNC GS_HOSTILE
. "$(dirname "$0")/lib.sh" "$@"
HOSTILE=${2:?usage: $0 GRIDSYNC GS_HOSTILE}
# (sourcing lib.sh with arguments leaves this script's own $1 $2 as they were)

MODES=(garbage oversize version network badsig)
declare -A HPK HSK

node station yc.t.station
node tablet yc.t.g1
link tablet station
for m in "${MODES[@]}"; do
    read -r HPK[$m] HSK[$m] < <("$HOSTILE" key) || fail "gs-hostile key"
done
cur=$(gsr station config --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent.accept"]["value"])')
acc=$cur
for m in "${MODES[@]}"; do acc="$acc,${HPK[$m]}"; done
gsr station config set agent.accept "$acc" >/dev/null ||
    fail "add the hostile keys to the station's agent.accept"
for n in station tablet; do
    gsr "$n" config set agent.sync_interval 3600 >/dev/null
done
start_agent station
start_agent tablet
for i in 1 2 3; do
    expect_rc "tablet writes T-$i" 0 gsr tablet put household "T-$i" head=张$i
done
if wait_equal 15 station tablet; then ok; else
    fail "station and tablet never converged before the hostile runs"
fi

# hostile_json: the station status's "hostile" object, keys sorted.
hostile_json() {
    gsr station status --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("hostile", {}), sort_keys=True))'
}
# peer_rejected DEVICE: that peer's "rejected" object (or "none").
peer_rejected() {
    gsr station status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [p for p in d.get("peers", []) if p.get("device") == sys.argv[1]]
print(json.dumps(p[0]["rejected"], sort_keys=True) if p else "none")' "$1"
}
# wait_for SECONDS WANT CMD...: until CMD prints WANT; prints the last.
wait_for() {
    local limit=$1 want=$2 t0=$SECONDS got
    shift 2
    while :; do
        got=$("$@")
        [ "$got" == "$want" ] && break
        [ $((SECONDS - t0)) -ge "$limit" ] && break
        sleep 0.2
    done
    printf '%s' "$got"
}

declare -A WANT_ERROR=([garbage]=GS_EMALFORMED [version]=GS_EVERSION
    [network]=GS_ENETWORK [badsig]=GS_EBADSIG)
hostile='{}'
target="${KEY[station]}@tcp://127.0.0.1:${PORT[station]}"
for m in "${MODES[@]}"; do
    d0=$(digest station)
    t0=$(date +%s%N)
    timeout 20 "$HOSTILE" "$m" "${HSK[$m]}" "$NET" "$target" yc \
        >"$TMP/h-$m.out" 2>"$TMP/h-$m.err"
    rc=$?
    echo "$m: gs-hostile exit $rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms; it saw: $(tr '\n' ' ' <"$TMP/h-$m.out")"
    expect_eq "$m: gs-hostile ran" "$rc" 0
    [ "$rc" -eq 0 ] || cat "$TMP/h-$m.err" >&2
    # (a) nothing of the hostile peer's got in
    expect_eq "$m: station digest unchanged" "$(digest station)" "$d0"
    # (b) its answer, its log line, its count
    code=${WANT_ERROR[$m]:-}
    if [ -n "$code" ]; then
        expect_grep "$m: the agent answered ERROR $code" "^ERROR $code\$" \
            "$TMP/h-$m.out"
        expect_grep "$m: the reason is logged" \
            "broke the protocol ($code" "$TMP/station.log"
        hostile=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=d.get(sys.argv[2],0)+1; print(json.dumps(d, sort_keys=True))' "$hostile" "$code")
    else
        # oversize: the transport sees the message is over the limit and
        # drops its bytes unread (net/transport.c, GS_NET_TOOBIG); nothing
        # is answered, the key is ignored for a while
        t1=$SECONDS
        until grep -q "broke the protocol (GS_ETOOBIG" "$TMP/station.log"; do
            [ $((SECONDS - t1)) -ge 5 ] && break
            sleep 0.2
        done
        expect_grep "$m: the reason is logged" \
            "broke the protocol (GS_ETOOBIG" "$TMP/station.log"
        hostile=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["GS_ETOOBIG"]=d.get("GS_ETOOBIG",0)+1; print(json.dumps(d, sort_keys=True))' "$hostile")
    fi
    expect_eq "$m: status counts hostile peers by reason" \
        "$(wait_for 5 "$hostile" hostile_json)" "$hostile"
    if [ "$m" == badsig ]; then
        for b in 0 1 2; do
            expect_grep "badsig: batch $b refused for its signature" \
                "^ACK $b GS_EBADSIG\$" "$TMP/h-$m.out"
        done
        # three refused runs end the session (GS_SESSION_REFUSED_MAX): all
        # three were ACKed above, and the ERROR came after the third. Status
        # counts refused ops: 3 batches x 3 ops (hostile.c BADSIG_BATCHES,
        # BADSIG_OPS).
        want='{"GS_EBADSIG": 9}'
        expect_eq "badsig: the peer's refused ops by reason" \
            "$(wait_for 5 "$want" peer_rejected "${HPK[$m]}")" "$want"
        expect_rc "badsig: no forged record on the station" 1 \
            gsr station get household HOSTILE-0-0
    fi
    # (c) alive, and still serving the tablet
    if kill -0 "${AGENT_PID[station]}" 2>/dev/null; then ok; else
        fail "$m: the station's agent died"
    fi
    expect_rc "$m: tablet writes after it" 0 \
        gsr tablet put household "A-$m" head=李
    t0=$(date +%s%N)
    seen=0
    while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ]; do
        if gsr station get household "A-$m" >/dev/null 2>&1; then
            seen=1
            break
        fi
        sleep 0.05
    done
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ $seen -eq 1 ]; then
        ok
        echo "$m: the tablet's next write reached the station in $ms ms"
    else
        fail "$m: the tablet's write A-$m never reached the station (${ms} ms)"
    fi
    if wait_equal 10 station tablet; then ok; else
        fail "$m: station and tablet differ after the tablet's write"
    fi
done
echo "station status, hostile: $(hostile_json)"
finish
