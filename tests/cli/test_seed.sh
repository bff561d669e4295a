#!/usr/bin/env bash
# The district generator (issue 6, seeds/gen_district.py): the same seed
# and arguments give byte-identical files and another seed does not; every
# file imports into a replica with nothing refused, each grid's file in
# its own scope (one feed per grid, as a grid's tablet would write it); the
# manifest's counts are what `gridsync list` and `feeds` then show; the
# data keeps the domain's rules (a check-in per elderly resident living
# alone per day, personal fields masked, valid ID numbers); all well under
# a minute.
. "$(dirname "$0")/lib.sh" "$@"

GEN=$(cd "$(dirname "$0")/../../seeds" && pwd)/gen_district.py
ARGS=(--scale 0.002 --days 3)
start=$SECONDS

expect_rc "generate" 0 python3 "$GEN" "${ARGS[@]}" --out "$TMP/a"
expect_grep "progress on stderr" "gen_district: " "$TMP/err"
expect_rc "generate again" 0 python3 "$GEN" "${ARGS[@]}" --out "$TMP/b"
expect_rc "byte-identical" 0 diff -r "$TMP/a" "$TMP/b"
expect_rc "another seed" 0 python3 "$GEN" "${ARGS[@]}" --seed 2 \
    --out "$TMP/c"
expect_rc "another seed differs" 1 diff -q "$TMP/a/manifest.json" \
    "$TMP/c/manifest.json"
expect_rc "bad scale is a usage error" 2 python3 "$GEN" --scale 0 \
    --out "$TMP/d"

M=$TMP/a/manifest.json
# man EXPR: a value from the manifest (a python expression over m)
man() { python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print($1)" "$M"; }
expect_eq "grids at scale 0.002" "$(man 'len(m["grids"])')" 2
expect_eq "a file per grid" "$(ls "$TMP/a" | grep -c '^yc\..*\.jsonl$')" 2

R=$TMP/r
new_replica "$R" yc
expect_rc "import org" 0 "$GS" -r "$R" import "$TMP/a/org.jsonl" --json
expect_grep "org: nothing skipped" '"skipped":0' "$TMP/out"
expect_grep "org: every line" "\"records\":$(man 'm["org"]["lines"]')," \
    "$TMP/out"
for sc in $(man '" ".join(g["scope"] for g in m["grids"])'); do
    lines=$(man "next(g['lines'] for g in m['grids'] if g['scope'] == '$sc')")
    "$GS" -r "$R" config set replica.scope "$sc" >/dev/null
    expect_rc "import $sc" 0 "$GS" -r "$R" import "$TMP/a/$sc.jsonl" --json
    expect_grep "$sc: nothing skipped" '"skipped":0' "$TMP/out"
    expect_grep "$sc: every line" "\"records\":$lines," "$TMP/out"
    "$GS" -r "$R" feeds --scope "$sc" --json >"$TMP/feeds"
    expect_eq "$sc: one feed, one op a line" \
        "$(python3 -c 'import json,sys; print([f["seq"] for f in map(json.loads, sys.stdin)])' <"$TMP/feeds")" \
        "[$lines]"
    for t in household person ticket visit checkin wish rating list_item; do
        want=$(man "next(g for g in m['grids'] if g['scope'] == '$sc')['entities'].get('$t', 0)")
        expect_eq "$sc: $t" \
            "$("$GS" -r "$R" list "$t" --where "grid=$sc" | wc -l)" "$want"
    done
    # the grid's buildings, and the grid itself from org.jsonl
    want=$(man "next(g for g in m['grids'] if g['scope'] == '$sc')['entities']['org'] + 1")
    expect_eq "$sc: org units" \
        "$("$GS" -r "$R" list org --where "scope=$sc" | wc -l)" "$want"
done

for t in $(man '" ".join(k for k in m["totals"] if k != "lines")'); do
    want=$(man "m['totals']['$t'] + (m['org']['entities']['$t'] if '$t' == 'org' else 0)")
    expect_eq "district: $t" "$("$GS" -r "$R" list "$t" | wc -l)" "$want"
done
expect_eq "district: no unknown types" "$("$GS" -r "$R" list | wc -l)" \
    "$(man 'sum(v for k, v in m["totals"].items() if k != "lines") + m["org"]["lines"]')"

# the domain's rules
alone=$("$GS" -r "$R" list person --where tags=elderly-alone | wc -l)
[ "$alone" -gt 0 ] && ok || fail "no elderly residents living alone"
expect_eq "a check-in per elderly resident alone per day" \
    "$("$GS" -r "$R" list checkin | wc -l)" $((alone * 3))
"$GS" -r "$R" list person >"$TMP/people"
expect_grep "ID numbers masked" '"id_number":"\*\*\*"' "$TMP/people"
if grep -q '"id_number":"[0-9]' "$TMP/people"; then
    fail "an ID number shown without --reveal"
else ok; fi
"$GS" -r "$R" list person --reveal >"$TMP/people"
expect_eq "ID numbers valid (GB 11643 check digit)" "$(python3 - "$TMP/people" <<'P'
import json, sys
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
bad = 0
for line in open(sys.argv[1], encoding="utf-8"):
    n = json.loads(line)["fields"]["id_number"]
    s = sum(int(c) * k for c, k in zip(n[:17], w))
    bad += len(n) != 18 or "10X98765432"[s % 11] != n[17]
print(bad)
P
)" 0
"$GS" -r "$R" list ticket >"$TMP/tickets"
expect_eq "every ticket has a category, department and deadline" \
    "$(python3 -c '
import json, sys
print(sum(not all(k in e["fields"] for k in ("category", "department", "deadline", "stage", "grid"))
          for e in map(json.loads, sys.stdin)))' <"$TMP/tickets")" 0

# a longer history: tickets reopened and closed again, wishes claimed
# twice; still nothing refused, and every reopened ticket is in round 1
expect_rc "generate 200 days" 0 python3 "$GEN" --scale 0.002 --days 200 \
    --out "$TMP/y"
R2=$TMP/r2
new_replica "$R2" yc
for f in "$TMP"/y/yc.*.jsonl; do
    "$GS" -r "$R2" config set replica.scope "$(basename "$f" .jsonl)" \
        >/dev/null
    expect_rc "import $(basename "$f") (200 days)" 0 "$GS" -r "$R2" import \
        "$f" --json
    expect_grep "200 days: nothing skipped" '"skipped":0' "$TMP/out"
done
reopened=$(grep -h '"round":1' "$TMP"/y/yc.*.jsonl |
    python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in sys.stdin}))')
[ "$reopened" -gt 0 ] && ok || fail "no ticket reopened in 200 days"
expect_eq "reopened tickets in round 1" \
    "$("$GS" -r "$R2" list ticket | grep -c '"round":1')" "$reopened"
[ "$("$GS" -r "$R2" list wish | grep -c '"losing":\["')" -gt 0 ] && ok ||
    fail "no wish claimed twice in 200 days"

# a ticket reopened after its deadline had passed was written resolved
# before its reopened in_progress, and the import refused the grid's file
# (scripts/bench domain, scale 1, a year: grid 15 of yc.s01.c01); --only
# writes that grid as the whole district would
expect_rc "generate one grid of scale 1 (--only)" 0 python3 "$GEN" \
    --scale 1 --days 365 --only yc.s01.c01.g015 --out "$TMP/late"
expect_eq "--only: one grid file" \
    "$(ls "$TMP/late" | grep -c '^yc\..*\.jsonl$')" 1
new_replica "$TMP/rl" yc
expect_rc "late reopened ticket: the grid imports" 0 "$GS" -r "$TMP/rl" \
    import "$TMP/late/yc.s01.c01.g015.jsonl" --scope yc.s01.c01.g015 --json
expect_grep "late reopened ticket: nothing skipped" '"skipped":0' "$TMP/out"

took=$((SECONDS - start))
[ "$took" -lt 60 ] && ok || fail "took ${took}s, want under 60"
finish
