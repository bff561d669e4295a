#!/usr/bin/env bash
# The conflicts queue on the command line (issue 6): a village station and
# a grid tablet, cut off from each other, edit the same things; when a
# USB stick carries their bundles across, `gridsync conflicts` lists every
# write that lost to one made without seeing it — a ticket closed at the
# station while the resident reopened it on the tablet, one phone number
# typed on both, two volunteers claiming one wish — the same on both
# devices; and nothing else: an edit made after seeing the old value, a
# value its own writer replaced before the other side's write, or the same
# value written on both sides, is no conflict. --grid narrows it,
# --json shapes, bad arguments exit 2, the listing writes nothing.
. "$(dirname "$0")/lib.sh" "$@"

A=$TMP/auth S=$TMP/station T=$TMP/tablet
KA=$(new_authority "$A") || fail "authority init"
KS=$(new_device "$S" --scope yc.c1 --authority "$KA" --name station)
KT=$(new_device "$T" --scope yc.c1.g1 --authority "$KA" --name tablet)
"$GS" -r "$A" authority enroll "$KS" --name 新星站 --role station \
    --write yc.c1 >/dev/null || fail "enroll station"
"$GS" -r "$A" authority enroll "$KT" --name 网格平板 --role tablet \
    --write yc.c1.g1 >/dev/null || fail "enroll tablet"
carry "$A" "$S"
carry "$A" "$T"
run() { "$@" >/dev/null 2>"$TMP/err" || fail "$*: $(head -c 300 "$TMP/err")"; }

expect_rc "help" 0 "$GS" conflicts --help
expect_grep "help: what a conflict is" "had not seen the first" "$TMP/out"
expect_rc "listed in gridsync help" 0 "$GS" help
expect_grep "conflicts in the command list" "^  conflicts " "$TMP/out"
expect_rc "an argument" 2 "$GS" -r "$S" conflicts T-1
expect_rc "unknown option" 2 "$GS" -r "$S" conflicts --colour red
expect_rc "a grid that is no org path" 2 "$GS" -r "$S" conflicts --grid 'a..b'
expect_grep "bad grid: why" "org path" "$TMP/err"

# Before the cut: both hold the same ticket, household and wish.
S_() { run "$GS" -r "$S" "$@"; }
T_() { run "$GS" -r "$T" "$@"; }
S_ ticket report T-1 --category 市政设施 --grid yc.c1.g1 --title 路灯不亮
S_ ticket report T-2 --category 市政设施 --grid yc.c1.g1 --title 井盖松动
for t in T-1 T-2; do
    S_ ticket accept $t
    S_ ticket dispatch $t 城管局
    S_ ticket resolve $t
done
S_ put household H-1 --scope yc.c1.g1 address=3号楼 grid=yc.c1.g1 phone=100
S_ put household H-2 --scope yc.c1.g1 address=5号楼 grid=yc.c1.g1
S_ put household H-3 --scope yc.c1.g1 address=7号楼 grid=yc.c1.g1 phone=400
S_ wish post W-1 --title 代买药品 --poster P-9 --grid yc.c1.g1
carry "$S" "$T"
expect_rc "nothing yet" 0 "$GS" -r "$S" conflicts
expect_grep "nothing yet: says so" "^no conflicts$" "$TMP/out"
# a refused step in a grid below the station's scope keeps its reason
expect_rc "refused in a grid below" 1 "$GS" -r "$S" ticket accept T-1
expect_grep "refused in a grid below: why" "ticket T-1 is at resolved" "$TMP/err"

# Cut off: each side edits.
T_ ticket reopen T-1 --note 路灯还是不亮 # the resident, on the tablet
S_ ticket close T-1                   # the station, not knowing
T_ ticket close T-2                   # both close T-2: one outcome
S_ ticket close T-2
S_ put household H-1 --scope yc.c1.g1 phone=111
T_ put household H-1 phone=222
S_ put household H-2 --scope yc.c1.g1 phone=300 # the same number twice
T_ put household H-2 phone=300
# the station corrects its own number, then the tablet types another: only
# the number in force on the station's side lost (402), not the one the
# station itself replaced (401)
S_ put household H-3 --scope yc.c1.g1 phone=401
S_ put household H-3 --scope yc.c1.g1 phone=402
T_ put household H-3 phone=499
S_ wish claim W-1 P-1
T_ wish claim W-1 P-2
carry "$S" "$T"
carry "$T" "$S"
# After the meeting: the tablet edits what it has seen (no conflict).
T_ put household H-1 address=3号楼2单元
carry "$T" "$S"

d0=$("$GS" -r "$S" digest)
expect_rc "station lists" 0 "$GS" -r "$S" conflicts --json
cp "$TMP/out" "$TMP/s.json"
expect_rc "tablet lists" 0 "$GS" -r "$T" conflicts --json
expect_eq "the same list on both devices" "$(cat "$TMP/out")" "$(cat "$TMP/s.json")"
expect_eq "listing wrote nothing" "$("$GS" -r "$S" digest)" "$d0"
expect_eq "digests equal" "$("$GS" -r "$T" digest)" "$d0"

# each line: type id field kind | lost value, device | won value, device | why
summary() {
    python3 -c '
import json, sys
def v(x):
    return "%s@%s" % (x["stage"], x["round"]) if isinstance(x, dict) else x
for line in open(sys.argv[1]):
    c = json.loads(line)
    print(c["type"], c["id"], c["field"], c["kind"], c.get("grid"), "|",
          v(c["lost"]["value"]), c["lost"]["device"], "|",
          v(c["won"]["value"]), c["won"]["device"], "|", c["why"])
' "$1"
}
expect_eq "exactly these conflicts" "$(summary "$TMP/s.json")" \
"household H-1 phone lww yc.c1.g1 | 111 新星站 | 222 网格平板 | written without seeing it
household H-3 phone lww yc.c1.g1 | 402 新星站 | 499 网格平板 | written without seeing it
ticket T-1 stage stage yc.c1.g1 | closed@0 新星站 | reported@1 网格平板 | written without seeing it
wish W-1 claims claim yc.c1.g1 | P-2 网格平板 | P-1 新星站 | claimed later"
# the times are the writes' own: the loser's close came after the reopen
expect_eq "times and keys shown" "$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    c = json.loads(line)
    for s in (c["lost"], c["won"]):
        assert s["at"].endswith("Z") and len(s["author"]) == 64 and s["hlc"] > 0
print("ok")' "$TMP/s.json")" "ok"

expect_rc "text" 0 "$GS" -r "$S" conflicts
expect_grep "text: the ticket's loser" "lost  closed (round 0) .*by 新星站" "$TMP/out"
expect_grep "text: the ticket's winner" "won   reported (round 1) .*by 网格平板 .*written without seeing it" "$TMP/out"
expect_grep "text: the count" "^4 overruled write(s)" "$TMP/out"

expect_rc "--grid of the grid" 0 "$GS" -r "$S" conflicts --grid yc.c1.g1 --json
expect_eq "--grid of the grid: all four" "$(wc -l <"$TMP/out")" "4"
expect_rc "--grid of the community" 0 "$GS" -r "$S" conflicts --grid yc.c1 --json
expect_eq "--grid of the community: all four" "$(wc -l <"$TMP/out")" "4"
expect_rc "--grid of another grid" 0 "$GS" -r "$S" conflicts --grid yc.c1.g2
expect_grep "--grid of another grid: none" "^no conflicts in yc.c1.g2$" "$TMP/out"

# Writing the lost value again, having seen the winner, adds no conflict:
# the old one stays on record.
S_ put household H-1 --scope yc.c1.g1 phone=111
carry "$S" "$T"
expect_rc "after a restore" 0 "$GS" -r "$T" conflicts --json
expect_eq "after a restore: the same four" "$(summary "$TMP/out")" "$(summary "$TMP/s.json")"

finish
