#!/usr/bin/env bash
# A grid worker's walk on the command line (issue 6): visits to households
# (the people's diary), the daily check-in of elderly people living alone
# and the morning's list of who has none, micro-wishes claimed, withdrawn
# and fulfilled. Refusals exit 1 with the reason and write nothing (the
# digest stays); bad arguments exit 2; --json shapes; --help. The missing
# list is checked against a generated grid, computed independently here
# from the generator's JSON Lines.
. "$(dirname "$0")/lib.sh" "$@"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

R=$TMP/r
"$GS" init "$R" --scope yc --name 网格员甲 >/dev/null || fail "init"
export GRIDSYNC_REPLICA=$R
field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
d0=
refused() { # refused WHAT WANT_MESSAGE CMD ARGS...: exit 1 (2 with
    # RC=2: an argument that is none), why, nothing written
    local what=$1 msg=$2
    shift 2
    d0=$("$GS" digest)
    expect_rc "$what" "${RC:-1}" "$GS" "$@"
    expect_grep "$what: why" "$msg" "$TMP/err"
    expect_eq "$what: nothing written" "$("$GS" digest)" "$d0"
}

for c in visit checkin wish; do
    expect_rc "$c --help" 0 "$GS" $c --help
    expect_rc "$c in gridsync help" 0 "$GS" help
    expect_grep "$c in the command list" "^  $c " "$TMP/out"
done
"$GS" visit --help >"$TMP/h"
expect_grep "visit help: id" "V-HOUSEHOLD-YYYYMMDDHHMM-DEVICE" "$TMP/h"
"$GS" checkin --help >"$TMP/h"
expect_grep "checkin help: merge" "the later one stands" "$TMP/h"
"$GS" wish --help >"$TMP/h"
expect_grep "wish help: winner" "earliest surviving claim wins" "$TMP/h"

"$GS" put household H-1 grid=yc.g1 address=3号楼101 >/dev/null
"$GS" put person P-1 name=王奶奶 household=H-1 tags+=elderly-alone >/dev/null
"$GS" put person P-2 name=李爷爷 grid=yc.g1 tags+=elderly-alone >/dev/null
"$GS" put person P-3 name=赵 grid=yc.g2 tags+=elderly-alone >/dev/null

# ---- visits
expect_rc "visit add" 0 "$GS" visit add H-1 --note 身体不错 --at "2024-12-30 10:05" --json
VID=$(field "$TMP/out" 'j["visit"]')
expect_eq "visit --json" "$(field "$TMP/out" '(j["ok"], j["household"], j["visit"][:19], len(j["visit"]))')" \
    "(True, 'H-1', 'V-H-1-202412301005-', 27)"
expect_rc "visit show" 0 "$GS" get visit "$VID" --json
expect_eq "visit record" "$(field "$TMP/out" '[j["fields"][k] for k in ("household", "worker", "note", "at", "grid")]')" \
    "['H-1', '网格员甲', '身体不错', '2024-12-30 10:05', 'yc.g1']"
expect_rc "visit same minute" 0 "$GS" visit add H-1 --note 再访 --at "2024-12-30 10:05" --worker 王五 --grid yc.g9
expect_grep "visit same minute: a new id" "ok: visit $VID-2 to H-1 recorded" "$TMP/out"
expect_eq "visit --grid, --worker" "$("$GS" get visit "$VID-2" --json | python3 -c 'import json,sys; f=json.load(sys.stdin)["fields"]; print(f["grid"], f["worker"])')" \
    "yc.g9 王五"
refused "visit of an unknown household" "gridsync: visit add: no household H-9 in this replica" \
    visit add H-9 --note x
RC=2 refused "visit at a bad time" "'noon' is not a time" visit add H-1 --note x --at noon
expect_rc "visit without --note" 2 "$GS" visit add H-1
expect_rc "visit without household" 2 "$GS" visit add --note x
expect_rc "visit fly" 2 "$GS" visit fly H-1
expect_rc "visit --day" 2 "$GS" visit add H-1 --note x --day 2024-12-30

# ---- check-ins
expect_rc "checkin" 0 "$GS" checkin P-1 ok --day 2024-12-30 --json
expect_eq "checkin --json" "$(field "$TMP/out" '(j["ok"], j["checkin"], j["person"], j["day"], j["status"], j["updated"])')" \
    "(True, 'C-P-1-20241230', 'P-1', '2024-12-30', 'ok', False)"
expect_rc "checkin again the same day" 0 "$GS" checkin P-1 concern --day 2024-12-30 --note 窗帘未拉开
expect_grep "checkin again: updated" "the day's record updated" "$TMP/out"
expect_eq "checkin again: one record, the later status" \
    "$("$GS" get checkin C-P-1-20241230 --json | python3 -c 'import json,sys; f=json.load(sys.stdin)["fields"]; print(f["status"], f["note"], f["grid"])')" \
    "concern 窗帘未拉开 yc.g1"
expect_rc "checkin today" 0 "$GS" checkin P-2 ok --json
expect_eq "checkin today: local date" "$(field "$TMP/out" 'j["day"]')" "$(date +%F)"
refused "checkin of an unknown person" "gridsync: checkin: no person P-9 in this replica" \
    checkin P-9 ok --day 2024-12-30
RC=2 refused "checkin on a bad day" "'2024-13-01' is not a day" checkin P-1 ok --day 2024-13-01
expect_rc "checkin status bogus" 2 "$GS" checkin P-1 fine
expect_rc "checkin without status" 2 "$GS" checkin P-1
expect_rc "checkin --grid" 2 "$GS" checkin P-1 ok --grid yc.g1

expect_rc "missing" 0 "$GS" checkin missing --grid yc.g1 --day 2024-12-30 --json
expect_eq "missing --json" "$(field "$TMP/out" '(j["grid"], j["day"], j["missing"])')" \
    "('yc.g1', '2024-12-30', [{'person': 'P-2', 'name': '李爷爷', 'household': None}])"
expect_rc "missing, text" 0 "$GS" checkin missing --grid yc.g1 --day 2024-12-31
expect_grep "missing, text: count" "^2 elderly resident(s) living alone in yc.g1 without a check-in on 2024-12-31" "$TMP/out"
expect_rc "missing today" 0 "$GS" checkin missing --grid yc.g1 --json
expect_eq "missing today: P-2 checked in" "$(field "$TMP/out" '(j["day"], [m["person"] for m in j["missing"]])')" \
    "('$(date +%F)', ['P-1'])"
expect_rc "missing without --grid" 2 "$GS" checkin missing
expect_rc "missing bad day" 2 "$GS" checkin missing --grid yc.g1 --day soon

# ---- wishes
expect_rc "wish post" 0 "$GS" wish post W-1 --title 修收音机 --poster P-1 --grid yc.g1 --reward 10 --json
expect_eq "wish post --json" "$(field "$TMP/out" '(j["ok"], j["wish"], j["step"], j["winner"])')" \
    "(True, 'W-1', 'post', None)"
refused "wish post again" "wish W-1 exists already" wish post W-1 --title x --poster P-1 --grid yc.g1
refused "fulfil of an unclaimed wish" "gridsync: wish fulfil: wish W-1 has no claim" wish fulfil W-1
refused "withdraw without a claim" "P-7 has no claim on wish W-1 to withdraw" wish withdraw W-1 P-7
expect_rc "claim" 0 "$GS" wish claim W-1 P-5 --json
expect_eq "claim --json" "$(field "$TMP/out" '(j["step"], j["winner"])')" "('claim', 'P-5')"
expect_rc "second claim" 0 "$GS" wish claim W-1 P-6
expect_grep "second claim: the first wins" "claimed by P-6; P-5 wins it" "$TMP/out"
expect_rc "third claim" 0 "$GS" wish claim W-1 P-7 --json
refused "claim twice" "P-6 has claimed wish W-1 already" wish claim W-1 P-6
expect_rc "show" 0 "$GS" wish show W-1
expect_grep "show: winner" "claimant   P-5" "$TMP/out"
expect_grep "show: who lost to whom" "overruled  P-6 lost to P-5" "$TMP/out"
expect_grep "show: reward" "reward     10 points" "$TMP/out"
expect_rc "show --json" 0 "$GS" wish show W-1 --json
expect_eq "show --json: claims" "$(field "$TMP/out" '(j["fields"]["claims"], j["fields"]["status"])')" \
    "({'winner': 'P-5', 'losing': ['P-6', 'P-7']}, 'claimed')"
expect_rc "winner withdraws" 0 "$GS" wish withdraw W-1 P-5 --json
expect_eq "winner withdraws: the next wins" "$(field "$TMP/out" 'j["winner"]')" "P-6"
expect_rc "fulfil" 0 "$GS" wish fulfil W-1 --json
expect_eq "fulfil --json" "$(field "$TMP/out" '(j["step"], j["winner"])')" "('fulfil', 'P-6')"
refused "claim of a fulfilled wish" \
    "gridsync: wish claim: wish W-1 is fulfilled already; it takes no more claims" wish claim W-1 P-8
expect_eq "fulfilled: status" "$("$GS" wish show W-1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fields"]["status"])')" done
expect_rc "show unknown" 1 "$GS" wish show W-9
expect_rc "claim without person" 2 "$GS" wish claim W-1
expect_rc "fulfil with person" 2 "$GS" wish fulfil W-1 P-6
expect_rc "post without --grid" 2 "$GS" wish post W-2 --title x --poster P-1
expect_rc "post --reward x" 2 "$GS" wish post W-2 --title x --poster P-1 --grid g --reward x
expect_rc "--title outside post" 2 "$GS" wish claim W-1 P-8 --title x
expect_rc "wish fly" 2 "$GS" wish fly W-1

# ---- the morning's list on a generated grid: drop some check-ins of the
# last day, import, and compare with the list computed from the file
python3 "$SRC/seeds/gen_district.py" --scale 0.01 --days 2 --out "$TMP/gen" 2>/dev/null ||
    fail "gen_district"
GF=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
print(m["grids"][0]["file"])' "$TMP/gen")
SCOPE=${GF%.jsonl}
python3 - "$TMP/gen/$GF" "$TMP/grid.jsonl" <<'EOF'
import json, sys
n = 0
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as out:
    for line in src:
        r = json.loads(line)
        if r["type"] == "checkin" and r["fields"]["day"] == "2024-12-31":
            n += 1
            if n % 3 == 0:
                continue  # this morning's check-in never came
        out.write(line)
EOF
G=$TMP/g
"$GS" init "$G" --scope "$SCOPE" --name 网格员 >/dev/null || fail "init grid"
expect_rc "import the grid" 0 "$GS" -r "$G" import "$TMP/grid.jsonl"
expected() { # expected DAY: the missing list from the JSONL alone
    python3 - "$TMP/grid.jsonl" "$SCOPE" "$1" <<'EOF'
import json, sys
path, grid, day = sys.argv[1:]
people, households, checked = {}, {}, set()
for line in open(path):
    r = json.loads(line)
    f = r["fields"]
    if r["type"] == "person":
        people.setdefault(r["id"], {}).update(f)
    elif r["type"] == "household":
        households.setdefault(r["id"], {}).update(f)
    elif r["type"] == "checkin" and f.get("day") == day:
        checked.add(f["person"])
def grid_of(p):
    return p.get("grid") or households.get(p.get("household"), {}).get("grid")
print(sorted(pid for pid, p in people.items()
             if "elderly-alone" in p.get("tags", []) and grid_of(p) == grid
             and pid not in checked))
EOF
}
got() { # got DAY: the command's list
    "$GS" -r "$G" checkin missing --grid "$SCOPE" --day "$1" --json |
        python3 -c 'import json,sys; print(sorted(m["person"] for m in json.load(sys.stdin)["missing"]))'
}
want=$(expected 2024-12-31)
expect_eq "generated grid: missing on 2024-12-31" "$(got 2024-12-31)" "$want"
[ "$want" != "[]" ] || fail "generated grid: the test dropped no check-in"
expect_eq "generated grid: none missing on 2024-12-30" "$(got 2024-12-30)" "$(expected 2024-12-30)"
expect_eq "generated grid: every one missing on 2025-01-01" "$(got 2025-01-01)" "$(expected 2025-01-01)"
# the worker checks the first missing resident in: off the list
first=$(python3 -c 'import ast,sys; print(ast.literal_eval(sys.argv[1])[0])' "$want")
expect_rc "generated grid: check in $first" 0 "$GS" -r "$G" checkin "$first" ok --day 2024-12-31
expect_eq "generated grid: $first off the list" "$(got 2024-12-31)" \
    "$(python3 -c 'import ast,sys; print(ast.literal_eval(sys.argv[1])[1:])' "$want")"
expect_eq "generated grid: the record's shape" \
    "$("$GS" -r "$G" get checkin "C-$first-20241231" --json | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["fields"]))')" \
    "['day', 'grid', 'person', 'status', 'worker']"
finish
