#!/usr/bin/env bash
# Tickets on the command line (issue 6): report, every step of the stage
# lattice, rate, show and list; refused steps exit 1 with the reason and
# write nothing (the digest stays); bad arguments exit 2; --json shapes;
# --help.
. "$(dirname "$0")/lib.sh" "$@"

R=$TMP/r
"$GS" init "$R" --scope yc --name 网格员甲 >/dev/null || fail "init"
export GRIDSYNC_REPLICA=$R
# field FILE EXPR: a python expression over the JSON object j in FILE
field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

expect_rc "help" 0 "$GS" ticket --help
expect_grep "help names the steps" "dispatch ID DEPT" "$TMP/out"
expect_grep "help tells the merge" "may still win" "$TMP/out"
expect_rc "listed in gridsync help" 0 "$GS" help
expect_grep "ticket in the command list" "^  ticket " "$TMP/out"

expect_rc "report" 0 "$GS" ticket report T-1 --category 市政设施 --grid yc.g1 \
    --title 路灯不亮 --reporter 张三 --deadline 2024-05-03 --address 3号楼 --json
expect_eq "report --json" "$(field "$TMP/out" '(j["ok"], j["ticket"], j["step"], j["stage"], j["round"])')" \
    "(True, 'T-1', 'report', 'reported', 0)"
expect_rc "report again" 1 "$GS" ticket report T-1 --category 市政设施 --grid yc.g1
expect_grep "report again: why" "ticket T-1 exists already" "$TMP/err"
expect_rc "unknown category" 2 "$GS" ticket report T-2 --category 飞碟 --grid yc.g1
expect_grep "unknown category: the valid ones" \
    "gridsync: ticket report: '飞碟' is not a ticket category; categories: 市政设施, 环境卫生" "$TMP/err"
expect_rc "report without --grid" 2 "$GS" ticket report T-2 --category 市政设施
expect_rc "report without ID" 2 "$GS" ticket report --category 市政设施 --grid g
expect_rc "bad deadline" 1 "$GS" ticket report T-2 --category 市政设施 --grid g \
    --deadline soon
expect_rc "unknown sub-command" 2 "$GS" ticket fly T-1
expect_rc "unknown option" 2 "$GS" ticket accept T-1 --colour red

d0=$("$GS" digest)
refused() { # refused WHAT WANT_MESSAGE ARGS...
    local what=$1 msg=$2
    shift 2
    expect_rc "$what" 1 "$GS" ticket "$@"
    expect_grep "$what: why" "$msg" "$TMP/err"
    expect_eq "$what: nothing written" "$("$GS" digest)" "$d0"
}
refused "close before resolve" \
    "gridsync: ticket close: ticket T-1 is at reported; close needs it resolved first" close T-1
refused "rate before resolved" "rate needs it resolved first" rate T-1 5
refused "reopen of an open ticket" "reopen needs it resolved first" reopen T-1
refused "dispatch before accept" "dispatch needs it accepted first" \
    dispatch T-1 城管局
refused "no such ticket" "no ticket T-9 in this replica" accept T-9
expect_rc "dispatch without a department" 2 "$GS" ticket dispatch T-1
expect_grep "dispatch without a department: why" "dispatch needs the department" "$TMP/err"
expect_rc "rate 6" 2 "$GS" ticket rate T-1 6
expect_rc "rate x" 2 "$GS" ticket rate T-1 x

step() { # step WHAT STAGE ROUND ARGS...
    local what=$1 stage=$2 round=$3
    shift 3
    expect_rc "$what" 0 "$GS" ticket "$@" --json
    expect_eq "$what: stage" "$(field "$TMP/out" '(j["stage"], j["round"])')" \
        "('$stage', $round)"
}
step accept accepted 0 accept T-1 --note 已受理
step dispatch dispatched 0 dispatch T-1 城管局 --by 网格长
step progress in_progress 0 progress T-1 --note 正在维修
step resolve resolved 0 resolve T-1
expect_rc "rate" 0 "$GS" ticket rate T-1 4 --json
expect_eq "rate --json" "$(field "$TMP/out" 'j["satisfaction"]')" 4
step close closed 0 close T-1
d0=$("$GS" digest)
refused "accept of a closed ticket" \
    "ticket T-1 is at closed; accept needs it at reported, and a stage never goes back; reopen it to start a new round" \
    accept T-1
step reopen reported 1 reopen T-1 --note 居民反映仍不亮
step "accept in round 1" accepted 1 accept T-1

expect_rc "show" 0 "$GS" ticket show T-1
expect_grep "show: stage" "stage        accepted (round 1)" "$TMP/out"
expect_grep "show: department" "department   城管局" "$TMP/out"
expect_grep "show: history names who" "dispatched to 城管局 by 网格长" "$TMP/out"
expect_grep "show: history default who" "accepted by 网格员甲: 已受理" "$TMP/out"
expect_grep "show: reopen note" "reopened by 网格员甲: 居民反映仍不亮" "$TMP/out"
expect_rc "show --json" 0 "$GS" ticket show T-1 --json
expect_eq "show --json: comments" "$(field "$TMP/out" 'len(j["fields"]["comments"])')" 9
expect_eq "show --json: satisfaction" "$(field "$TMP/out" 'j["fields"]["satisfaction"]')" 4
expect_rc "show missing" 1 "$GS" ticket show T-9

"$GS" ticket report T-2 --category 环境卫生 --grid yc.g2 >/dev/null
"$GS" ticket report T-3 --category 环境卫生 --grid yc.g1 >/dev/null
expect_rc "list" 0 "$GS" ticket list
expect_grep "list: count" "^3 ticket(s)" "$TMP/out"
expect_eq "list --grid --stage" \
    "$("$GS" ticket list --grid yc.g1 --stage reported --json | python3 -c 'import json,sys; print([json.loads(l)["id"] for l in sys.stdin])')" \
    "['T-3']"
expect_rc "list --stage bogus" 2 "$GS" ticket list --stage bogus
expect_grep "list --stage bogus: stages" "stages: reported, accepted" "$TMP/err"
expect_rc "--stage outside list" 2 "$GS" ticket accept T-2 --stage reported

# a station's steps on a ticket of one of its grids go under the grid's
# scope, so the grid's tablets (which read only their grid) get them
S=$TMP/station
"$GS" init "$S" --scope yc.s1 --name 站 >/dev/null || fail "init station"
expect_rc "station reports in grid g1" 0 "$GS" -r "$S" ticket report T-9 \
    --category 市政设施 --grid yc.s1.g1
expect_rc "station accepts it" 0 "$GS" -r "$S" ticket accept T-9
# a grid outside the station's scope: its devices would never see the
# ticket, so it is refused, and so is a grid that is no org path
expect_rc "a ticket of a grid not ours" 1 "$GS" -r "$S" ticket \
    report T-10 --category 市政设施 --grid yc.s2.g7
expect_grep "a ticket of a grid not ours: why" \
    "grid yc.s2.g7 is outside this device's scope yc.s1: the ticket would never reach that grid's devices" "$TMP/err"
expect_rc "a grid that is no org path" 2 "$GS" -r "$S" ticket \
    report T-10 --category 市政设施 --grid 'g 7'
expect_grep "a grid that is no org path: why" "'g 7' is not a grid" "$TMP/err"
expect_eq "ops by feed" "$("$GS" -r "$S" feeds --json | python3 -c '
import json, sys
print(sorted((f["scope"], f["seq"]) for f in map(json.loads, sys.stdin)))')" \
    "[('yc.s1.g1', 2)]"

# one rule for dates: digits only, in range (sscanf took signs and spaces)
for bad in "2024-02-31 +9:-0" "2024-+1-05" "2024- 1-05" "2024-13-01"; do
    expect_rc "deadline '$bad'" 2 "$GS" -r "$S" ticket report T-12 \
        --category 市政设施 --grid yc.s1.g1 --deadline "$bad"
done

# report --note goes into the history line
expect_rc "report with a note" 0 "$GS" -r "$S" ticket report T-11 \
    --category 市政设施 --grid yc.s1.g1 --note 居民电话反映
# each history line starts with the writer's local time, which the report
# reads (the zone the deadline was written in, not the report machine's)
expect_eq "the note is in the history, after the local time" "$("$GS" -r "$S" get ticket T-11 --json |
    python3 -c '
import json, re, sys, time
vals = [c["value"] for c in json.load(sys.stdin)["fields"]["comments"]]
now = time.strftime("%Y-%m-%d %H:%M")
ok = all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d ", v) and v[:16] <= now for v in vals)
print(ok, [v[17:] for v in vals])')" \
    "True ['reported by 站: 居民电话反映']"

# a note too long for a history line is refused whole, never cut short
long=$(python3 -c 'print("路" * 700)')
d1=$("$GS" -r "$S" digest)
expect_rc "a 2100-byte note" 2 "$GS" -r "$S" ticket dispatch T-9 城管 --note "$long"
expect_grep "says why" "too long" "$TMP/err"
expect_eq "nothing written" "$("$GS" -r "$S" digest)" "$d1"

# "accepted within the deadline" is read in the writers' zone: a ticket
# accepted an hour after its deadline (Beijing time) is late on a machine
# set to UTC as well, where that hour of Beijing lies 8 hours earlier
Z=$TMP/zone
"$GS" init "$Z" --scope yc.z1 >/dev/null || fail "init zone"
dl=$(TZ=Asia/Shanghai date -d '-1 hour' '+%Y-%m-%d %H:%M')
TZ=Asia/Shanghai "$GS" -r "$Z" ticket report T-1 --category 市政设施 \
    --grid yc.z1.g1 --deadline "$dl" >/dev/null || fail "report in Beijing"
TZ=Asia/Shanghai "$GS" -r "$Z" ticket accept T-1 >/dev/null || fail "accept"
for tz in Asia/Shanghai UTC America/New_York; do
    expect_eq "responded, report run in $tz" "$(TZ=$tz "$GS" -r "$Z" report --json |
        python3 -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(t["tickets"], t["responded"])')" "1 0"
done
finish
