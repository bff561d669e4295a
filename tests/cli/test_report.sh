#!/usr/bin/env bash
# `gridsync report` (issue 6, must-show 4): a generated district imported
# into one replica, plus a few steps taken here (two tickets accepted now,
# one past its deadline and one before it; a redemption; a second, concern
# check-in for someone already checked in), reported as JSON for the
# generator's last day, and every figure of every grid, community and the
# total compared with the same figures computed here in python straight
# from the JSONL (each entity's lines replayed in file order). Then the
# scope filter, the table, n/a for a scope with nothing in it, a bad day.
. "$(dirname "$0")/lib.sh" "$@"

SEEDS=$(cd "$(dirname "$0")/../../seeds" && pwd)
END=$(python3 -c "import sys; sys.path.insert(0, '$SEEDS'); import gen_district; print(gen_district.END)")
D=$TMP/d
R=$TMP/r
expect_rc "generate" 0 python3 "$SEEDS/gen_district.py" --scale 0.02 \
    --days 7 --out "$D"
new_replica "$R" yc
expect_rc "import org" 0 "$GS" -r "$R" import "$D/org.jsonl"
for f in "$D"/yc.*.jsonl; do
    expect_rc "import $(basename "$f")" 0 "$GS" -r "$R" import "$f"
done

# Steps taken on this replica: their ops carry this clock's stamps, and
# their comments none, so the report reads the clock for them. What they
# write goes to extra.jsonl for the python side (no stamp: "now").
G1=$(python3 -c "import json; print(json.load(open('$D/manifest.json'))['grids'][0]['scope'])")
ELDER=$(grep -m1 '"elderly-alone"' "$D/$G1.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
RICH=$(grep -m1 '"points":' "$D/$G1.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
expect_rc "report late" 0 "$GS" -r "$R" ticket report T-X-LATE \
    --category 环境卫生 --grid "$G1" --deadline "$END 08:00"
expect_rc "accept late" 0 "$GS" -r "$R" ticket accept T-X-LATE
expect_rc "report in time" 0 "$GS" -r "$R" ticket report T-X-TIME \
    --category 环境卫生 --grid "$G1" --deadline "2099-01-01"
expect_rc "accept in time" 0 "$GS" -r "$R" ticket accept T-X-TIME
expect_rc "redeem" 0 "$GS" -r "$R" points redeem "$RICH" 2 --reason 兑换毛巾
expect_rc "second check-in" 0 "$GS" -r "$R" put checkin "C-X-$ELDER" \
    "person=$ELDER" "day=$END" status=concern "grid=$G1"
cat >"$TMP/extra.jsonl" <<EOF
{"type":"ticket","id":"T-X-LATE","fields":{"grid":"$G1","deadline":"$END 08:00","stage":"reported"}}
{"type":"ticket","id":"T-X-LATE","fields":{"stage":"accepted"}}
{"type":"ticket","id":"T-X-TIME","fields":{"grid":"$G1","deadline":"2099-01-01","stage":"reported"}}
{"type":"ticket","id":"T-X-TIME","fields":{"stage":"accepted"}}
{"type":"person","id":"$RICH","fields":{"points":-2}}
{"type":"checkin","id":"C-X-$ELDER","fields":{"person":"$ELDER","day":"$END","status":"concern","grid":"$G1"}}
EOF

t0=$(date +%s.%N)
expect_rc "report --json" 0 "$GS" -r "$R" report --json --day "$END"
t1=$(date +%s.%N)
cp "$TMP/out" "$TMP/report.json"
echo "report on scale 0.02: $(python3 -c "print('%.2f s' % ($t1 - $t0))")"

# The oracle: the same figures from the JSONL alone.
cat >"$TMP/oracle.py" <<'EOF'
import datetime, glob, json, sys
d, extra, report, end = sys.argv[1:5]
STAGES = ["reported", "accepted", "dispatched", "in_progress", "resolved",
          "closed"]
now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
names, ents = {}, {}
for line in open(d + "/org.jsonl", encoding="utf-8"):
    f = json.loads(line)["fields"]
    names[f["scope"]] = f["name"]
files = sorted(glob.glob(d + "/yc.*.jsonl")) + [extra]
for path in files:
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        e = ents.setdefault((r["type"], r["id"]),
                            {"_st": (-1, -1), "_acc": None, "_pts": []})
        f = r["fields"]
        for k, v in f.items():
            if k == "stage":
                st = (v["round"], STAGES.index(v["stage"])) \
                    if isinstance(v, dict) else (0, STAGES.index(v))
                e["_st"] = max(e["_st"], st)
                if st >= (0, 1):
                    c = f.get("comments", "")
                    at = c[:16] if len(c) > 16 and c[10] == " " else now
                    e["_acc"] = min(e["_acc"] or at, at)
            elif k == "points":
                e["_pts"].append(v)
            else:
                e[k] = v
KEYS = ["tickets", "responded", "closed", "rated", "satisfied", "overdue",
        "elderly_alone", "checked_in", "checkin_concern", "points_granted",
        "points_redeemed"]
grids = {}
def T(g):
    return grids.setdefault(g, dict({k: 0 for k in KEYS}, sat=0))
for (typ, id_), e in ents.items():
    if typ == "org" and e.get("kind") == "grid":
        T(e["scope"])
elderly = {}
for (typ, id_), e in sorted(ents.items()):
    g = e.get("grid")
    if typ == "ticket":
        t = T(g); rnd, st = e["_st"]
        dl = e["deadline"] if len(e["deadline"]) == 16 else \
            e["deadline"] + " 24:00"
        t["tickets"] += 1
        t["closed"] += st == 5
        if "satisfaction" in e and st >= 4:  # rates a resolved outcome
            t["rated"] += 1; t["sat"] += e["satisfaction"]
            t["satisfied"] += e["satisfaction"] >= 4
        t["overdue"] += st < 4 and dl < end + " 24:00"
        t["responded"] += e["_acc"] is not None and e["_acc"] <= dl
    elif typ == "person":
        t = T(g)
        if "elderly-alone" in e.get("tags", []):
            t["elderly_alone"] += 1; elderly[id_] = g
        t["points_granted"] += sum(p for p in e["_pts"] if p > 0)
        t["points_redeemed"] -= sum(p for p in e["_pts"] if p < 0)
seen, concern = set(), set()
for (typ, id_), e in ents.items():
    if typ == "checkin" and e["day"] == end and e["person"] in elderly:
        seen.add(e["person"])
        if e["status"] == "concern":
            concern.add(e["person"])
for p in seen:
    T(elderly[p])["checked_in"] += 1
for p in concern:
    T(elderly[p])["checkin_concern"] += 1

def add(ts):
    out = dict({k: 0 for k in KEYS}, sat=0)
    for t in ts:
        for k in out:
            out[k] += t[k]
    return out
def rate(a, b):
    return None if b == 0 else a / b
bad = 0
def same(where, want, got):
    global bad
    w = {k: want[k] for k in KEYS}
    w["response_rate"] = rate(want["responded"], want["tickets"])
    w["closure_rate"] = rate(want["closed"], want["tickets"])
    w["satisfaction_mean"] = rate(want["sat"], want["rated"])
    w["satisfied_share"] = rate(want["satisfied"], want["rated"])
    w["checkin_coverage"] = rate(want["checked_in"], want["elderly_alone"])
    for k, v in w.items():
        g = got.get(k, "missing")
        ok = (g is None) if v is None else \
            (isinstance(g, (int, float)) and abs(g - v) < 1e-9)
        if not ok:
            print("FAIL: %s %s: report %r, data %r" % (where, k, g, v))
            bad += 1
rep = json.load(open(report, encoding="utf-8"))
comms = {}
for g in grids:
    comms.setdefault(g.rsplit(".", 1)[0], []).append(g)
got_c = {c["scope"]: c for c in rep["communities"]}
if sorted(got_c) != sorted(comms):
    print("FAIL: communities: report %s, data %s" % (sorted(got_c),
                                                     sorted(comms)))
    bad += 1
for c, gs in sorted(comms.items()):
    rc = got_c.get(c, {"totals": {}, "grids": []})
    if rc.get("name") != names.get(c, c):
        print("FAIL: %s name %r" % (c, rc.get("name"))); bad += 1
    same(c, add(grids[g] for g in gs), rc["totals"])
    got_g = {g["scope"]: g for g in rc["grids"]}
    if sorted(got_g) != sorted(gs):
        print("FAIL: %s grids %s, data %s" % (c, sorted(got_g), sorted(gs)))
        bad += 1
    for g in gs:
        same(g, grids[g], got_g.get(g, {"totals": {}})["totals"])
tot = add(grids.values())
same("total", tot, rep["totals"])
# the data must exercise what is compared
for k in ["tickets", "responded", "closed", "rated", "overdue",
          "checked_in", "checkin_concern", "points_granted",
          "points_redeemed"]:
    if tot[k] == 0:
        print("FAIL: the district has no %s to compare" % k); bad += 1
if tot["responded"] == tot["tickets"]:
    print("FAIL: every ticket responded: the deadline is not tested")
    bad += 1
print("compared %d grids, %d communities: %d tickets, %d responded, "
      "%d overdue, %d/%d checked in" % (len(grids), len(comms),
      tot["tickets"], tot["responded"], tot["overdue"], tot["checked_in"],
      tot["elderly_alone"]))
sys.exit(1 if bad else 0)
EOF
if python3 "$TMP/oracle.py" "$D" "$TMP/extra.jsonl" "$TMP/report.json" \
    "$END" >"$TMP/oracle.out"; then ok; else fail "figures differ"; fi
cat "$TMP/oracle.out"

# --scope: a community's report is the full report's community
C1=${G1%.*}
expect_rc "report --scope community" 0 "$GS" -r "$R" report --json \
    --day "$END" --scope "$C1"
expect_eq "scope: the community alone" "$(python3 -c "
import json, sys
full = json.load(open('$TMP/report.json'))
part = json.load(open('$TMP/out'))
c = next(c for c in full['communities'] if c['scope'] == '$C1')
print(part['communities'] == [c] and part['totals'] == c['totals']
      and part['scope'] == '$C1')")" True
expect_rc "report --scope grid" 0 "$GS" -r "$R" report --json \
    --day "$END" --scope "$G1"
expect_eq "scope: the grid alone" "$(python3 -c "
import json
full = json.load(open('$TMP/report.json'))
part = json.load(open('$TMP/out'))
g = next(g for c in full['communities'] for g in c['grids']
         if g['scope'] == '$G1')
print([g['scope'] for c in part['communities'] for g in c['grids']] ==
      ['$G1'] and part['totals'] == g['totals'])")" True

# the table: communities, grids indented, the total; n/a, not 0/0
expect_rc "report table" 0 "$GS" -r "$R" report --day "$END"
expect_grep "table: total row" "^合计 " "$TMP/out"
expect_grep "table: a grid indented" "^  .*第1网格 " "$TMP/out"
expect_grep "table: header" "响应率" "$TMP/out"
expect_rc "empty scope" 0 "$GS" -r "$R" report --day "$END" --scope yc.zz
expect_grep "empty scope: n/a" "^合计 *0 *n/a *n/a *n/a *n/a *0" "$TMP/out"
expect_rc "empty scope json" 0 "$GS" -r "$R" report --json --scope yc.zz \
    --day "$END"
expect_grep "empty scope: null rates" '"response_rate":null' "$TMP/out"
expect_rc "bad day" 2 "$GS" -r "$R" report --day 2024-13-01
expect_grep "bad day: why" "not a date; give YYYY-MM-DD" "$TMP/err"
expect_rc "bad scope" 2 "$GS" -r "$R" report --scope "yc..x"
expect_grep "bad scope: why" "is not an org path" "$TMP/err"
expect_rc "stray argument" 2 "$GS" -r "$R" report today
finish
