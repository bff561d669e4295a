#!/usr/bin/env bash
# Issue 5 with real agents: who may write what, who is served what, who
# gets in. A district (reads all of yc), a station (reads yc.s1) and a
# tablet (reads yc.s1.g1), each enrolled by the authority; the district
# holds data of 20 grids of yc.s1 and of another station's grid.
#   read scoping (must show 6): the tablet's store holds no feed outside
#     its grid and trust; the station's none outside yc.s1;
#   handshake (must show 7): an unenrolled device dialing the station is
#     refused at the handshake, and both logs say why; a device enrolled
#     after the station last heard of the certificates is let in on the
#     admission token its HELLO carries;
#   ingest (must show 2): a device enrolled to write yc.s1.g2 (and read
#     yc.s1) whose ops were
#     written before its certificate reached it: those outside its grid
#     (GS_ESCOPE) and its redemption without the shop flag (GS_ESHOP) are
#     refused by the station, counted in status, and never reach the
#     district; its ops inside its grid arrive;
#   replay (must show 3): the tablet's old ops imported again, at the
#     tablet and at the station, are all known, change nothing there nor
#     at the district;
#   revocation (must show 4): a write of the device that spread before
#     the revocation, past its cutoff, is rolled back on the station and
#     the district (the one before the cutoff stays); the device cannot
#     connect, and once it knows, it cannot write either, and it purges
#     every feed but its own and the certificates.
# Usage: test_trust.sh GRIDSYNC [GS_HOSTILE]
. "$(dirname "$0")/lib.sh" "$@"

node district yc yc
node station yc.s1 yc.s1
node tablet yc.s1.g1 yc.s1.g1
link station district
link tablet station
for n in district station tablet; do
    gsr "$n" config set agent.sync_interval 1 >/dev/null
done

# the district writes 5 households in each of 20 grids of yc.s1, and 5 in
# a grid of another station, as feeds of those scopes
for g in $(seq 1 20) x; do
    sc=yc.s1.g$g
    [ "$g" == x ] && sc=yc.s2.g1
    gsr district config set replica.scope "$sc" >/dev/null
    for i in 1 2 3 4 5; do
        printf '{"type":"household","id":"H-%s-%d","fields":{"head":"王%d"}}\n' \
            "$g" "$i" "$i"
    done >"$TMP/g$g.jsonl"
    expect_rc "district writes in $sc" 0 gsr district import "$TMP/g$g.jsonl"
done
gsr district config set replica.scope yc >/dev/null

# feeds_outside NAME SCOPE...: feeds of NAME's store in none of the scopes
feeds_outside() {
    local name=$1
    shift
    gsr "$name" feeds --json | python3 -c '
import json, sys
ok = sys.argv[1:] + ["trust"]
bad = [f["scope"] for f in map(json.loads, sys.stdin)
       if not any(f["scope"] == s or f["scope"].startswith(s + ".") for s in ok)]
print(" ".join(sorted(bad)) or "none")' "$@"
}
ops_in() { # ops_in NAME SCOPE: ops NAME holds in SCOPE and below
    gsr "$1" feeds --scope "$2" --json | python3 -c '
import json, sys
print(sum(json.loads(l)["seq"] for l in sys.stdin))'
}
wait_ops() { # wait_ops SECONDS NAME SCOPE WANT
    local t0=$SECONDS
    while [ "$(ops_in "$2" "$3")" != "$4" ]; do
        [ $((SECONDS - t0)) -ge "$1" ] && return 1
        sleep 0.3
    done
}

start_agent district
start_agent station
start_agent tablet

# ---- read scoping ----
if wait_ops 30 station yc.s1 100; then ok; else
    fail "station never got yc.s1's 100 ops (has $(ops_in station yc.s1))"
fi
if wait_ops 30 tablet yc.s1.g1 5; then ok; else
    fail "tablet never got its grid's 5 ops (has $(ops_in tablet yc.s1.g1))"
fi
sleep 2 # two more sync rounds: anything else would have come by now
expect_eq "the tablet's store holds nothing outside its grid" \
    "$(feeds_outside tablet yc.s1.g1)" none
expect_eq "the station's store holds nothing outside yc.s1" \
    "$(feeds_outside station yc.s1)" none
expect_eq "the district holds the other station's grid" \
    "$(ops_in district yc.s2)" 5
echo "tablet holds: $(gsr tablet feeds | tail -1)"

# ---- an unenrolled device is refused at the handshake ----
ENROLL=0 node rogue yc.s1.g1
gsr rogue config set agent.peers \
    "${KEY[station]}@tcp://127.0.0.1:${PORT[station]}" >/dev/null
expect_rc "rogue writes" 0 gsr rogue put household R-1 head=假
start_agent rogue
t0=$SECONDS
until grep -q "refused us" "$TMP/rogue.log" 2>/dev/null; do
    [ $((SECONDS - t0)) -ge 10 ] && break
    sleep 0.2
done
expect_grep "the rogue learns why in its log" "refused us" "$TMP/rogue.log"
expect_grep "the rogue is told to get enrolled" "authority enroll" \
    "$TMP/rogue.log"
expect_grep "the station logs the refusal" \
    "refused a device at the handshake: not enrolled" "$TMP/station.log"
expect_rc "rogue's op is not on the station" 1 gsr station get household R-1
stop_agent rogue

# ---- a device enrolled after the station last heard of the certificates
# shows its admission token in HELLO: let in on it, its certificate then
# comes in its `trust` (DESIGN §5: "a peer presenting a valid certificate
# in HELLO for a device the replica has not heard of yet") ----
ENROLL=0 node newbie yc.s1.g1 yc.s1.g1
"$GS" -r "$AUTH" authority enroll "${KEY[newbie]}" --name newbie --role tablet \
    --write yc.s1.g1 --read yc.s1.g1 >/dev/null || fail "enroll newbie"
"$GS" -r "$AUTH" bundle export "$TMP/newbie.bundle" >/dev/null
expect_rc "only the newbie gets it" 0 gsr newbie bundle import \
    "$TMP/newbie.bundle"
expect_rc "the station has not heard of the newbie" 1 \
    gsr station get cert "${KEY[newbie]}"
gsr newbie config set agent.peers \
    "${KEY[station]}@tcp://127.0.0.1:${PORT[station]}" >/dev/null
expect_rc "the newbie writes" 0 gsr newbie put household NB-1 head=新
start_agent newbie
t0=$SECONDS
until gsr station get household NB-1 >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -ge 20 ] && break
    sleep 0.3
done
expect_rc "the newbie's op reached the station" 0 \
    gsr station get household NB-1
expect_grep "the station admitted it on its token" "on its admission token" \
    "$TMP/station.log"
expect_rc "and now holds its certificate" 0 gsr station get cert \
    "${KEY[newbie]}"
stop_agent newbie

# ---- ingest rules: outside the grid, a redemption without shop ----
ENROLL=0 node tab2 yc.s1.g2
gsr tab2 config set replica.scope yc.s1.g3 >/dev/null
expect_rc "tab2 writes in g3 before its certificate" 0 \
    gsr tab2 put household OUT-1 head=越界
gsr tab2 config set replica.scope yc.s1.g2.shop >/dev/null
expect_rc "tab2 takes points before its certificate" 0 \
    gsr tab2 put person P-1 points-=5
gsr tab2 config set replica.scope yc.s1.g2 >/dev/null
expect_rc "tab2 writes in its grid" 0 gsr tab2 put household IN-1 head=李
# it reads the whole of yc.s1, so its sessions with the station offer the
# station its g3 feed too
"$GS" -r "$AUTH" authority enroll "${KEY[tab2]}" --name tab2 --role tablet \
    --write yc.s1.g2 --read yc.s1 >/dev/null || fail "enroll tab2"
trust_to_all
gsr tab2 config set replica.scope yc.s1.g3 >/dev/null
expect_rc "tab2, enrolled, writing in g3 is refused at home" 1 \
    gsr tab2 put household OUT-2 head=越界
expect_grep "with the reason" "outside its author's write scopes" "$TMP/err"
gsr tab2 config set replica.scope yc.s1.g2 >/dev/null
link tab2 station
sd=$(digest district)
start_agent tab2
t0=$SECONDS
until gsr district get household IN-1 >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -ge 20 ] && break
    sleep 0.3
done
expect_rc "tab2's write in its grid reached the district" 0 \
    gsr district get household IN-1
expect_rc "tab2's write outside its grid did not" 1 \
    gsr district get household OUT-1
expect_rc "nor to the station" 1 gsr station get household OUT-1
expect_rc "its redemption did not reach the district" 1 \
    gsr district get person P-1
rejected_of() { # rejected_of NAME DEVICE: NAME's refusals of DEVICE's ops
    gsr "$1" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [p for p in d["peers"] if p.get("device") == sys.argv[1]]
print(json.dumps(p[0]["rejected"], sort_keys=True) if p else "none")' "$2"
}
t0=$SECONDS
until rejected_of station "${KEY[tab2]}" | grep -q GS_ESHOP &&
    rejected_of station "${KEY[tab2]}" | grep -q GS_ESCOPE; do
    [ $((SECONDS - t0)) -ge 10 ] && break
    sleep 0.3
done
rej=$(rejected_of station "${KEY[tab2]}")
echo "station refused of tab2: $rej"
expect_grep "the station counts GS_ESCOPE" GS_ESCOPE <(echo "$rej")
expect_grep "the station counts GS_ESHOP" GS_ESHOP <(echo "$rej")
expect_eq "the district holds no feed of tab2 outside yc.s1.g2" \
    "$(gsr district feeds --json | python3 -c '
import json, sys
k = sys.argv[1]
print(" ".join(sorted(f["scope"] for f in map(json.loads, sys.stdin)
                      if f["author"] == k and f["scope"] != "yc.s1.g2")) or "none")' "${KEY[tab2]}")" none

# ---- replay: the tablet's old ops, valid and signed, come again ----
# to the tablet itself and to the station, which relays: every op is
# counted known, none applied, no state changes; the district, which the
# station would relay to, does not change either
expect_rc "tablet exports" 0 gsr tablet bundle export "$TMP/tablet.bundle" \
    --json
n_ops=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$TMP/out")
dd=$(digest district)
for n in tablet station; do
    d0=$(digest "$n")
    expect_rc "$n takes the tablet's ops again" 0 gsr "$n" bundle import \
        "$TMP/tablet.bundle" --json
    expect_eq "$n: all known, none applied" "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["applied"], r["known"], r["rejected"])' "$TMP/out")" "0 $n_ops 0"
    expect_eq "$n unchanged" "$(digest "$n")" "$d0"
done
sleep 2
expect_eq "the district unchanged" "$(digest district)" "$dd"

# ---- revocation: what came after the cutoff is rolled back everywhere,
# the device cannot connect, and knowing it, cannot write ----
# the authority learns what the district holds (a stick from the district):
# its cutoff for tab2's grid feed will be IN-1
expect_rc "district's stick" 0 gsr district bundle export "$TMP/d.bundle"
expect_rc "to the authority" 0 "$GS" -r "$AUTH" bundle import "$TMP/d.bundle"
# then tab2 writes once more, and the write spreads before the revocation
expect_rc "tab2 writes again" 0 gsr tab2 put household IN-2 head=李
t0=$SECONDS
until gsr district get household IN-2 >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -ge 20 ] && break
    sleep 0.3
done
expect_rc "IN-2 reached the district" 0 gsr district get household IN-2
"$GS" -r "$AUTH" authority revoke "${KEY[tab2]}" >/dev/null ||
    fail "revoke tab2"
trust_to_all
# tab2's connection opened before the revocation: it is served nothing more
expect_rc "the station writes in yc.s1" 0 gsr station put household NEW-1 \
    head=赵
sleep 3
expect_rc "tab2, revoked but still connected, did not get it" 1 \
    gsr tab2 get household NEW-1
for n in station district; do
    expect_rc "$n keeps tab2's op up to the cutoff" 0 \
        gsr "$n" get household IN-1
    expect_rc "$n rolled back tab2's op past the cutoff" 1 \
        gsr "$n" get household IN-2
    expect_eq "$n's state is its op log" "$(gsr "$n" digest --rebuild)" \
        "$(digest "$n")"
done
stop_agent tab2
start_agent tab2
expect_rc "tab2, knowing it is revoked, cannot write" 1 \
    gsr tab2 put household LATE-1 head=李
expect_grep "and is told why" "revoked" "$TMP/err"
# and knowing it, it let go of what it read: only its own feed and trust
expect_eq "tab2 purged what it may no longer read" \
    "$(gsr tab2 feeds --json | python3 -c '
import json, sys
print(sorted({f["scope"] for f in map(json.loads, sys.stdin)
              if f["author"] != sys.argv[1]}))' "${KEY[tab2]}")" "['trust']"
t0=$SECONDS
until grep -q "refused us" "$TMP/tab2.log" 2>/dev/null; do
    [ $((SECONDS - t0)) -ge 10 ] && break
    sleep 0.2
done
expect_grep "tab2 is refused at the handshake" "refused us" "$TMP/tab2.log"
t0=$SECONDS
until grep -q "revoked by the district" "$TMP/station.log"; do
    [ $((SECONDS - t0)) -ge 5 ] && break
    sleep 0.2
done
expect_grep "the station says it is revoked" "revoked by the district" \
    "$TMP/station.log"
finish
