#!/usr/bin/env bash
# put --scope, import --scope: a station writes about one of its grids under the grid's
# scope (so the grid's tablets, which read only their grid, get it); a
# scope outside the replica's own is refused and writes nothing.
# Usage: test_put.sh GRIDSYNC
. "$(dirname "$0")/lib.sh" "$@"

R=$TMP/station
new_replica "$R" yc.s01.c01
expect_rc "put at the station's scope" 0 "$GS" -r "$R" put household H-1 head=王
expect_rc "put in one of its grids" 0 "$GS" -r "$R" put household H-2 \
    head=李 --scope yc.s01.c01.g001
expect_eq "that op is in the grid's feed" "$("$GS" -r "$R" feeds --json |
    python3 -c 'import json,sys; print(sorted((f["scope"], f["seq"]) for f in map(json.loads, sys.stdin)))')" \
    "[('yc.s01.c01', 1), ('yc.s01.c01.g001', 1)]"
d=$("$GS" -r "$R" digest)
expect_rc "outside its scope" 1 "$GS" -r "$R" put household H-3 head=张 \
    --scope yc.s01.c02
expect_grep "says why" "not inside this replica's scope yc.s01.c01" "$TMP/err"
expect_rc "not a scope" 2 "$GS" -r "$R" put household H-3 head=张 \
    --scope "yc..x"
expect_grep "says what a scope is" "not a scope" "$TMP/err"
expect_eq "nothing written" "$("$GS" -r "$R" digest)" "$d"
# import --scope: the same rule for a file of records
printf '{"type":"household","id":"H-9","fields":{"head":"周"}}\n' >"$TMP/one.jsonl"
expect_rc "import into a grid" 0 "$GS" -r "$R" import "$TMP/one.jsonl" \
    --scope yc.s01.c01.g002
expect_eq "in that grid's feed" "$("$GS" -r "$R" feeds --scope yc.s01.c01.g002 --json |
    python3 -c 'import json,sys; print([f["seq"] for f in map(json.loads, sys.stdin)])')" "[1]"
expect_rc "import outside" 1 "$GS" -r "$R" import "$TMP/one.jsonl" \
    --scope yc.s02
finish
