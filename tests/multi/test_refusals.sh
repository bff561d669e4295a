#!/usr/bin/env bash
# Issue 5, must show 1, with real agents: ops that must not get in are
# refused with their reason, leave the replica as it was and are not
# relayed. A district and a station, agents running, the station dialing
# the district (it reads all of yc, so its sessions with the district
# cover every feed below). The bad ops reach the station by a USB stick
# (`bundle import` of a crafted bundle) and over the wire (gs-hostile,
# tests/multi/hostile.c, a peer the station admits):
#   (a) a forged signature: an enrolled tablet's stick with one bit of its
#       run's signature flipped; gs-hostile badsig (an enrolled key whose
#       runs carry a bad signature)                          GS_EBADSIG
#   (b) a key without a certificate: an unenrolled device's stick;
#       gs-hostile nocert (its own ops, signed right)        GS_ENOCERT
#   (c) a certificate by another authority: on a stick, that authority's
#       certificate of a device (signed for its own network, GS_ENETWORK)
#       before the device's ops in one bundle (GS_ENOCERT: the certificate
#       does not count); over the wire (gs-hostile foreigncert), the same
#       certificate signed for our network (only the network's authority
#       writes in `trust`: GS_ESCOPE, docs/trust.md §2) and for its own
#       (GS_ENETWORK), each before the device's ops (GS_ENOCERT)
#   (d) another network's ops: a test network's stick is refused whole at
#       its header; with the header changed to ours, each run is refused
#       for its signatures' network; over the wire (gs-hostile othernet),
#       a run signed for another network inside a session of ours
#                                                           GS_ENETWORK
#       (the devices of (d) and the keys of badsig and othernet are
#       enrolled in our network: the network id, or the signature, is all
#       that is wrong with their ops)
# For each: the station names the reason (the import's report, the ACK
# gs-hostile got, and `status --json`: ops refused from the peer by
# reason), its digest is unchanged and it holds no feed of the bad author;
# then the station writes a marker record, and once the district has it
# (a session ran after the bad ops), the district holds no feed of the bad
# authors, refused nothing from the station (a relayed bad op would be
# refused there and counted) and has the station's digest. Controls at
# the end show those checks can fail: the tablet's stick intact, and the
# unenrolled device's stick once it is enrolled, are taken and reach the
# district.
# Usage: test_refusals.sh GRIDSYNC GS_HOSTILE
. "$(dirname "$0")/lib.sh" "$@"
HOSTILE=${2:?usage: $0 GRIDSYNC GS_HOSTILE}

# What the import's report says for each reason (crdt/err.c): `bundle
# import` names a refused run with the message, not the code.
declare -A WHY=(
    [GS_EBADSIG]="signature does not verify"
    [GS_ENOCERT]="the author holds no certificate from this network's authority"
    [GS_ENETWORK]="signed for another network"
)

json_field() { # json_field KEY: that key of the JSON object on stdin
    python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# ---- the network, and the makers of bad ops ----
node district yc yc
node station yc.s1 yc
link station district
node tablet yc.s1.g1 yc.s1.g1        # (a): enrolled; its stick is forged
ENROLL=0 node rogue yc.s1.g2         # (b): never enrolled
ENROLL=0 node spy yc.s1.g3           # (c): enrolled by another authority
FOREIGN=$TMP/foreign
FNET=$("$GS" authority init "$FOREIGN" --json | json_field device) ||
    fail "init the foreign authority"
"$GS" -r "$FOREIGN" authority enroll "${KEY[spy]}" --name spy --role station \
    --write yc.s1.g3 --read yc >/dev/null || fail "foreign authority enrolls spy"
# (d): a test network, whose device is enrolled there and here too
TESTAUTH=$TMP/testauth
TNET=$("$GS" authority init "$TESTAUTH" --json | json_field device) ||
    fail "init the test network's authority"
KEY[testdev]=$("$GS" init "$TMP/testdev" --scope yc.s1.g4 --name testdev \
    --authority "$TNET" --json | json_field device) || fail "init testdev"
"$GS" -r "$TESTAUTH" authority enroll "${KEY[testdev]}" --name testdev \
    --role station --write yc.s1.g4 --read yc >/dev/null ||
    fail "test authority enrolls testdev"
"$GS" -r "$TESTAUTH" bundle export "$TMP/testtrust.bundle" >/dev/null &&
    gsr testdev bundle import "$TMP/testtrust.bundle" >/dev/null ||
    fail "give testdev its certificate"
"$GS" -r "$AUTH" authority enroll "${KEY[testdev]}" --name testdev \
    --role station --write yc.s1.g4 --read yc >/dev/null ||
    fail "enroll testdev's key in our network too"
# gs-hostile keys: badsig and othernet enrolled (to write yc), nocert and
# foreigncert (a relay) only admitted by the station's agent.accept
HMODES=(badsig nocert foreigncert othernet)
declare -A HPK HSK
for m in "${HMODES[@]}"; do
    read -r HPK[$m] HSK[$m] < <("$HOSTILE" key) || fail "gs-hostile key"
done
for m in badsig othernet; do
    "$GS" -r "$AUTH" authority enroll "${HPK[$m]}" --name "h-$m" \
        --role tablet --write yc --read yc >/dev/null || fail "enroll h-$m"
done
trust_to_all
acc=$(gsr station config --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent.accept"]["value"])')
gsr station config set agent.accept \
    "${acc:+$acc,}${HPK[nocert]},${HPK[foreigncert]}" >/dev/null ||
    fail "admit nocert and foreigncert"

# the bad ops' makers write, and their sticks are made
expect_rc "tablet writes" 0 gsr tablet put household TAB-1 head=张
expect_rc "tablet writes again" 0 gsr tablet put household TAB-2 head=张
expect_rc "rogue writes" 0 gsr rogue put household ROGUE-1 head=假
expect_rc "spy writes" 0 gsr spy put household SPY-1 head=谍
expect_rc "testdev writes" 0 gsr testdev put household TEST-1 head=测
expect_rc "testdev writes again" 0 gsr testdev put household TEST-2 head=测
for n in tablet rogue spy testdev; do
    expect_rc "$n's stick" 0 gsr "$n" bundle export "$TMP/$n.bundle"
done
expect_rc "the foreign authority's stick" 0 \
    "$GS" -r "$FOREIGN" bundle export "$TMP/foreign.bundle"

# craft OUT NETHEX FORGE IN...: a bundle whose header names network NETHEX
# and holds the records of each IN in turn; the runs of author FORGE (or
# "-": none) get one bit of their Ed25519 signature flipped (not of the
# network id before it). The checksum is made anew, as anyone with the
# format at hand could (docs/bundle.md §2).
craft() {
    python3 - "$@" <<'PY' || fail "craft $1"
import hashlib, sys
out, net, forge, ins = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4:]
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return v, i
head, body = None, bytearray()
for path in ins:
    b = open(path, "rb").read()
    assert b[:8] == b"GSBUNDLE" and b[8] == 1
    n, i = varint(b, 49)                 # origin, after magic version network created
    if head is None:
        head = bytearray(b[:i + n])
        head[9:41] = net
    i += n
    while b[i] != 0:                     # records up to the end tag
        tag, (n, j) = b[i], varint(b, i + 1)
        for _ in range(n):
            ln, j = varint(b, j)
            author = b[j + 1:j + 33].hex()   # op: version, author, ...
            j += ln
        rec = bytearray(b[i:j + (96 if tag == 1 else 0)])
        if tag == 1 and author == forge:
            rec[-64 + 7] ^= 1
        body += rec
        i += len(rec)
    assert len(b) == i + 1 + 32
data = bytes(head + body + b"\0")
open(out, "wb").write(data + hashlib.blake2b(data, digest_size=32).digest())
PY
}
craft "$TMP/forged.bundle" "$NET" "${KEY[tablet]}" "$TMP/tablet.bundle"
craft "$TMP/intact.bundle" "$NET" - "$TMP/tablet.bundle"
craft "$TMP/foreigncert.bundle" "$NET" - "$TMP/foreign.bundle" "$TMP/spy.bundle"
craft "$TMP/replayed.bundle" "$NET" - "$TMP/testdev.bundle"

for n in district station; do
    gsr "$n" config set agent.sync_interval 1 >/dev/null
done
start_agent district
start_agent station

# feeds_of NAME AUTHOR: how many feeds of AUTHOR NAME's store holds
feeds_of() {
    gsr "$1" feeds --json | python3 -c '
import json, sys
print(sum(1 for f in map(json.loads, sys.stdin) if f["author"] == sys.argv[1]))' "$2"
}
# rejected_of NAME DEVICE: NAME's ops refused from peer DEVICE, by reason
rejected_of() {
    gsr "$1" status --json | python3 -c '
import json, sys
p = [p for p in json.load(sys.stdin).get("peers", [])
     if p.get("device") == sys.argv[1]]
print(json.dumps(p[0].get("rejected", {}), sort_keys=True) if p else "none")' "$2"
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
# the station's digest before a case, and what it holds of the bad authors
D0=""
before() { D0=$(digest station); }
station_unchanged() { # station_unchanged CASE AUTHOR...
    local what=$1 a
    shift
    expect_eq "$what: the station's digest is unchanged" "$(digest station)" \
        "$D0"
    for a in "$@"; do
        expect_eq "$what: the station holds no feed of ${a:0:16}" \
            "$(feeds_of station "$a")" 0
    done
}
# not_relayed CASE AUTHOR...: the station writes a marker; once the
# district has it, a session ran after the bad ops, and the district
# holds no feed of any AUTHOR, refused nothing from the station and has
# the station's digest.
MARKS=0
not_relayed() {
    local what=$1 a t0
    shift
    MARKS=$((MARKS + 1))
    expect_rc "$what: the station writes marker M-$MARKS" 0 \
        gsr station put household "M-$MARKS" head=标
    t0=$SECONDS
    until gsr district get household "M-$MARKS" >/dev/null 2>&1; do
        [ $((SECONDS - t0)) -ge 10 ] && break
        sleep 0.1
    done
    expect_rc "$what: the marker reached the district" 0 \
        gsr district get household "M-$MARKS"
    for a in "$@"; do
        expect_eq "$what: the district holds no feed of ${a:0:16}" \
            "$(feeds_of district "$a")" 0
    done
    # (listed by device once its first session with the station ended)
    expect_eq "$what: the district refused nothing from the station" \
        "$(wait_for 5 "{}" rejected_of district "${KEY[station]}")" "{}"
    if wait_equal 10 station district; then ok; else
        fail "$what: the district's digest is not the station's"
    fi
}
# import_refused CASE FILE RUNS REASON...: the station's import of FILE
# exits 1, applies nothing, refuses RUNS runs, one for each REASON in turn
import_refused() {
    local what=$1 file=$2 runs=$3 r i=0
    shift 3
    expect_rc "$what: the import fails" 1 \
        gsr station bundle import "$file" --json
    expect_grep "$what: nothing applied" '"applied":0,' "$TMP/out"
    expect_grep "$what: $runs runs refused" "\"runs_refused\":$runs[,}]" \
        "$TMP/out"
    grep 'refused: ' "$TMP/err" | sed 's/.*refused: //' >"$TMP/why"
    for r in "$@"; do
        i=$((i + 1))
        expect_eq "$what: refused run $i names $r" \
            "$(sed -n "${i}p" "$TMP/why")" "${WHY[$r]}"
    done
    expect_eq "$what: no other run refused" "$(wc -l <"$TMP/why")" "$#"
}
# over_wire MODE: gs-hostile MODE against the station; its output in
# $TMP/h-MODE.out
over_wire() {
    local m=$1 rc
    timeout 20 "$HOSTILE" "$m" "${HSK[$m]}" "$NET" \
        "${KEY[station]}@tcp://127.0.0.1:${PORT[station]}" yc \
        >"$TMP/h-$m.out" 2>"$TMP/h-$m.err"
    rc=$?
    expect_eq "$m: gs-hostile ran" "$rc" 0
    [ "$rc" -eq 0 ] || cat "$TMP/h-$m.err" >&2
    echo "$m: gs-hostile saw: $(grep -v '^\(RANGES\|WANT\|SUMMARY\|OPS\)$' \
        "$TMP/h-$m.out" | tr '\n' ' ')"
}

# the link works: a marker reaches the district, which refused nothing
not_relayed "before the bad ops"

# ---- (a) forged signature ----
before
import_refused "a, stick" "$TMP/forged.bundle" 1 GS_EBADSIG
expect_rc "a, stick: TAB-1 is not on the station" 1 \
    gsr station get household TAB-1
station_unchanged "a, stick" "${KEY[tablet]}"
not_relayed "a, stick" "${KEY[tablet]}"

before
over_wire badsig
for b in 0 1 2; do
    expect_grep "a, wire: batch $b refused for its signature" \
        "^ACK $b GS_EBADSIG\$" "$TMP/h-badsig.out"
done
expect_grep "a, wire: three such runs end the session" "^ERROR GS_EBADSIG\$" \
    "$TMP/h-badsig.out"
want='{"GS_EBADSIG": 9}'
expect_eq "a, wire: status counts the peer's refused ops by reason" \
    "$(wait_for 10 "$want" rejected_of station "${HPK[badsig]}")" "$want"
station_unchanged "a, wire" "${HPK[badsig]}"
not_relayed "a, wire" "${HPK[badsig]}"

# ---- (b) no certificate ----
before
import_refused "b, stick" "$TMP/rogue.bundle" 1 GS_ENOCERT
station_unchanged "b, stick" "${KEY[rogue]}"
not_relayed "b, stick" "${KEY[rogue]}"

before
over_wire nocert
expect_grep "b, wire: the run is refused" "^ACK 0 GS_ENOCERT\$" \
    "$TMP/h-nocert.out"
want='{"GS_ENOCERT": 3}'
expect_eq "b, wire: status counts the peer's refused ops by reason" \
    "$(wait_for 10 "$want" rejected_of station "${HPK[nocert]}")" "$want"
expect_rc "b, wire: NOCERT-0 is not on the station" 1 \
    gsr station get household NOCERT-0
station_unchanged "b, wire" "${HPK[nocert]}"
not_relayed "b, wire" "${HPK[nocert]}"

# ---- (c) a certificate by another authority ----
before
expect_rc "c, stick: the foreign authority's own stick is refused" 1 \
    gsr station bundle import "$TMP/foreign.bundle"
expect_grep "c, stick: for another network, at its header" \
    "another network" "$TMP/err"
# the spy's stick also carries our certificates (known); the foreign one
# comes first in the one batch, and does not count
import_refused "c, stick" "$TMP/foreigncert.bundle" 2 GS_ENETWORK GS_ENOCERT
expect_grep "c, stick: the rest is known" '"known":[1-9]' "$TMP/out"
expect_rc "c, stick: the foreign certificate is not on the station" 1 \
    gsr station get cert "${KEY[spy]}"
station_unchanged "c, stick" "$FNET" "${KEY[spy]}"
not_relayed "c, stick" "$FNET" "${KEY[spy]}"

before
over_wire foreigncert
F=$(sed -n 's/^FOREIGN //p' "$TMP/h-foreigncert.out")
DEV=$(sed -n 's/^DEVICE //p' "$TMP/h-foreigncert.out")
expect_eq "c, wire: gs-hostile named its two keys" \
    "${#F}:${#DEV}" "64:64"
expect_grep "c, wire: the certificate signed for us by a foreign key" \
    "^ACK 0 GS_ESCOPE GS_ENOCERT\$" "$TMP/h-foreigncert.out"
expect_grep "c, wire: ... and signed for its own network" \
    "^ACK 1 GS_ENETWORK GS_ENOCERT\$" "$TMP/h-foreigncert.out"
want='{"GS_ENETWORK": 1, "GS_ENOCERT": 6, "GS_ESCOPE": 1}'
expect_eq "c, wire: status counts the peer's refused ops by reason" \
    "$(wait_for 10 "$want" rejected_of station "${HPK[foreigncert]}")" \
    "$want"
expect_rc "c, wire: no certificate of the device on the station" 1 \
    gsr station get cert "$DEV"
station_unchanged "c, wire" "$F" "$DEV" "${HPK[foreigncert]}"
not_relayed "c, wire" "$F" "$DEV" "${HPK[foreigncert]}"

# ---- (d) another network's ops ----
before
expect_rc "d, stick: the test network's stick is refused" 1 \
    gsr station bundle import "$TMP/testdev.bundle"
expect_grep "d, stick: whole, at its header" "another network" "$TMP/err"
# the header changed to ours: the test authority's run, then testdev's
import_refused "d, stick replayed" "$TMP/replayed.bundle" 2 \
    GS_ENETWORK GS_ENETWORK
expect_rc "d, stick: TEST-1 is not on the station" 1 \
    gsr station get household TEST-1
station_unchanged "d, stick" "$TNET" "${KEY[testdev]}"
not_relayed "d, stick" "$TNET" "${KEY[testdev]}"

before
over_wire othernet
expect_grep "d, wire: signed for another network" "^SIGNED_FOR [0-9a-f]\{64\}\$" \
    "$TMP/h-othernet.out"
expect_grep "d, wire: the run is refused" "^ACK 0 GS_ENETWORK\$" \
    "$TMP/h-othernet.out"
want='{"GS_ENETWORK": 3}'
expect_eq "d, wire: status counts the peer's refused ops by reason" \
    "$(wait_for 10 "$want" rejected_of station "${HPK[othernet]}")" "$want"
expect_rc "d, wire: OTHERNET-0 is not on the station" 1 \
    gsr station get household OTHERNET-0
station_unchanged "d, wire" "${HPK[othernet]}"
not_relayed "d, wire" "${HPK[othernet]}"

# ---- controls: the same path carries good ops to the district ----
# the crafted copy of the tablet's stick, unforged, is taken
expect_rc "control: the tablet's stick, crafted but intact, imports" 0 \
    gsr station bundle import "$TMP/intact.bundle" --json
expect_grep "control: its two ops are new" '"applied":2,' "$TMP/out"
# the unenrolled device, once enrolled, is taken (its stick unchanged)
"$GS" -r "$AUTH" authority enroll "${KEY[rogue]}" --name rogue \
    --role tablet --write yc.s1.g2 >/dev/null || fail "enroll rogue"
"$GS" -r "$AUTH" bundle export "$TMP/trust.bundle" >/dev/null &&
    gsr station bundle import "$TMP/trust.bundle" >/dev/null ||
    fail "give the station rogue's certificate"
expect_rc "control: rogue's stick imports once it is enrolled" 0 \
    gsr station bundle import "$TMP/rogue.bundle" --json
t0=$SECONDS
until gsr district get household ROGUE-1 >/dev/null 2>&1 &&
    gsr district get household TAB-2 >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -ge 10 ] && break
    sleep 0.1
done
expect_eq "control: the district holds the tablet's feed" \
    "$(feeds_of district "${KEY[tablet]}")" 1
expect_eq "control: and rogue's" "$(feeds_of district "${KEY[rogue]}")" 1
if wait_equal 10 station district; then ok; else
    fail "control: station and district differ"
fi
expect_eq "the station's state is its op log" \
    "$(gsr station digest --rebuild)" "$(digest station)"
echo "station refused, by peer: $(gsr station status --json | python3 -c '
import json, sys
print(" ".join("%s=%s" % (p["device"][:8], json.dumps(p.get("rejected", {}), sort_keys=True))
               for p in json.load(sys.stdin).get("peers", []) if p.get("rejected")))')"
finish
