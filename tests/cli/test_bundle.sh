#!/usr/bin/env bash
# Bundles on the command line (issue 3, must show 5): a replica built by
# importing records, and one built by importing the exported bundle of the
# first, have equal digests. Importing twice changes nothing; a damaged op
# is named with its reason and the rest imported; another network's bundle
# is refused whole.
. "$(dirname "$0")/lib.sh" "$@"

A=$TMP/a
B=$TMP/b
"$GS" init "$A" --scope yc.yimei.nanjun.xinxin.g012 --json >"$TMP/init"
NET=$(sed 's/.*"device":"\([0-9a-f]*\)".*/\1/' "$TMP/init")
expect_eq "network key" "${#NET}" 64
"$GS" init "$B" --scope yc.yimei.nanjun.xinxin.g013 --authority "$NET" \
    --json >"$TMP/initb"
BKEY=$(sed 's/.*"device":"\([0-9a-f]*\)".*/\1/' "$TMP/initb")
{
    for i in $(seq 1 300); do
        printf '{"type":"household","id":"H-%04d","fields":{"address":"新新社区%d号","head":"张%d"}}\n' "$i" "$i" "$i"
    done
    for i in $(seq 1 200); do
        printf '{"type":"person","id":"P-%04d","fields":{"name":"李%d","points":%d,"tags":["elderly-alone"]}}\n' "$i" "$i" "$i"
    done
} >"$TMP/records.jsonl"
expect_rc "import records into A" 0 "$GS" -r "$A" import "$TMP/records.jsonl"
expect_rc "a few puts on A" 0 "$GS" -r "$A" put ticket T-1 title=路灯不亮 \
    stage=reported
expect_rc "bundle export" 0 "$GS" -r "$A" bundle export "$TMP/a.bundle"
expect_rc "bundle import into B" 0 "$GS" -r "$B" bundle import \
    "$TMP/a.bundle" --json
expect_grep "all new" '"applied":501' "$TMP/out"
da=$("$GS" -r "$A" digest)
db=$("$GS" -r "$B" digest)
expect_eq "A and B agree" "$db" "$da"
expect_eq "B's state is its op log" "$("$GS" -r "$B" digest --rebuild)" "$db"

expect_rc "import again" 0 "$GS" -r "$B" bundle import "$TMP/a.bundle" --json
expect_grep "nothing new" '"applied":0' "$TMP/out"
expect_grep "all known" '"known":501' "$TMP/out"
expect_eq "unchanged" "$("$GS" -r "$B" digest)" "$db"

# B writes too; A imports B's bundle: both agree again
expect_rc "put on B" 0 "$GS" -r "$B" put person P-0001 points+=5
expect_rc "bundle from B" 0 "$GS" -r "$B" bundle export "$TMP/b.bundle"
# A made the network (its key is the network id: the authority); B is not
# enrolled yet, so A refuses B's op by name and stays as it was
da=$("$GS" -r "$A" digest)
expect_rc "into A before B is enrolled" 1 "$GS" -r "$A" bundle import \
    "$TMP/b.bundle"
expect_grep "refused for want of a certificate" \
    "holds no certificate from this network's authority" "$TMP/err"
expect_eq "A unchanged by the refused op" "$("$GS" -r "$A" digest)" "$da"
expect_rc "A enrolls B" 0 "$GS" -r "$A" authority enroll "$BKEY" --name b \
    --role station --write yc.yimei.nanjun.xinxin.g013
expect_rc "into A" 0 "$GS" -r "$A" bundle import "$TMP/b.bundle"
# B gets its certificate the same way, on the stick
expect_rc "A's bundle again" 0 "$GS" -r "$A" bundle export "$TMP/a1.bundle"
expect_rc "into B" 0 "$GS" -r "$B" bundle import "$TMP/a1.bundle"
expect_eq "agree after both ways" "$("$GS" -r "$A" digest)" \
    "$("$GS" -r "$B" digest)"
"$GS" -r "$A" get person P-0001 --json >"$TMP/p"
expect_grep "points merged" '"points":6' "$TMP/p"

# a damaged op: A now holds three feeds (its own, its certificates and
# B's); change one byte of an op of A's feed. That run cannot be
# authenticated (its chain runs through the damaged op) and is refused with
# its reason; B's certificate and B's op are imported.
C=$TMP/c
new_replica "$C" yc.yimei.nanjun.xinxin.g014 "$NET"
expect_rc "bundle of two feeds" 0 "$GS" -r "$A" bundle export "$TMP/a2.bundle"
python3 - "$TMP/a2.bundle" "$TMP/bad.bundle" <<'P'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
i = b.find('新新社区1号'.encode())
b[i + len('新新社区'.encode())] ^= 0x01   # '1' -> '0': still valid UTF-8
open(sys.argv[2], 'wb').write(bytes(b))
P
expect_rc "damaged bundle" 1 "$GS" -r "$C" bundle import "$TMP/bad.bundle" \
    --json
expect_grep "names the run and reason" "refused: op does not link" "$TMP/err"
expect_grep "counts the refusal" '"runs_refused":1' "$TMP/out"
expect_grep "B's certificate and op are in" '"applied":2,' "$TMP/out"
"$GS" -r "$C" get person P-0001 --json >"$TMP/p"
expect_grep "B's write arrived" '"points":5' "$TMP/p"
expect_eq "C consistent" "$("$GS" -r "$C" digest)" \
    "$("$GS" -r "$C" digest --rebuild)"

# a stick for one device holds only what its certificate lets it read
E=$TMP/e
"$GS" init "$E" --scope yc.yimei.nanjun.xinxin.g013 --authority "$NET" \
    --json >"$TMP/inite"
EKEY=$(sed 's/.*"device":"\([0-9a-f]*\)".*/\1/' "$TMP/inite")
expect_rc "A enrolls E to read g013" 0 "$GS" -r "$A" authority enroll \
    "$EKEY" --name e --role tablet --write yc.yimei.nanjun.xinxin.g013 \
    --read yc.yimei.nanjun.xinxin.g013
expect_rc "a stick for E" 0 "$GS" -r "$A" bundle export "$TMP/e.bundle" \
    --for "$EKEY"
expect_rc "E takes it" 0 "$GS" -r "$E" bundle import "$TMP/e.bundle"
expect_eq "E holds g013 and the certificates only" \
    "$("$GS" -r "$E" feeds --json | python3 -c '
import json, sys
print(" ".join(sorted(set(json.loads(l)["scope"] for l in sys.stdin))))')" \
    "trust yc.yimei.nanjun.xinxin.g013"
expect_rc "E has B's write" 0 "$GS" -r "$E" get person P-0001
expect_rc "--for needs a device key" 2 "$GS" -r "$A" bundle export \
    "$TMP/x.bundle" --for nope
expect_grep "says what a key is" "is not a device key" "$TMP/err"

# another network
D=$TMP/d
new_replica "$D" yc.other.g1
before=$("$GS" -r "$D" digest)
expect_rc "other network" 1 "$GS" -r "$D" bundle import "$TMP/a.bundle"
expect_grep "says another network" "another network" "$TMP/err"
expect_eq "nothing imported" "$("$GS" -r "$D" digest)" "$before"
expect_rc "bundle --help" 0 "$GS" bundle --help
finish
