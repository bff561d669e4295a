#!/usr/bin/env bash
# Import of a file whose records do not all fit in what the check pass
# keeps (store/replica.c, IMPORT_KEEP_MAX, 16 MiB): the lines past it are
# parsed again by the parser threads while the writer commits. The result
# must not depend on where the keep ended: a bad line past it is named and
# nothing is written; with --skip-bad the entities equal those of the same
# lines imported in pieces that each fit. Ids repeat, so lines past the
# keep also update entities the replica already holds.
. "$(dirname "$0")/lib.sh" "$@"

python3 - "$TMP" <<'P'
import json, sys
tmp = sys.argv[1]
pad = "新新社区" * 40  # ~480 bytes a line: ~40,000 lines pass the keep
lines = []
for i in range(40000):
    if i % 3 == 0:
        f = {"address": f"{pad}{i}", "tags": [f"t{i % 7}"]}
        lines.append(json.dumps({"type": "household", "id": f"H-{i % 15000}",
                                 "fields": f}, ensure_ascii=False))
    else:
        f = {"name": f"{pad}{i}", "points": i % 5, "birth_year": 1930 + i % 80}
        lines.append(json.dumps({"type": "person", "id": f"P-{i % 15000}",
                                 "fields": f}, ensure_ascii=False))
    if i % 997 == 0:
        lines.append("")  # blank lines count, change nothing
good = [l for l in lines if l]
bad = list(lines)
bad.insert(99, '{"type":"household","id":"H-x","fields":{"addres":"typo"}}')
bad.insert(39000, '{"type":"household","id":"H-3",')
with open(f"{tmp}/bad.jsonl", "w") as f:
    f.write("\n".join(bad) + "\n")
with open(f"{tmp}/late.jsonl", "w") as f:  # only the bad line past the keep
    f.write("\n".join(lines[:39000] + [bad[39000]] + lines[39000:]) + "\n")
for k in range(4):
    with open(f"{tmp}/part{k}.jsonl", "w") as f:
        f.write("\n".join(good[k * 10000:(k + 1) * 10000]) + "\n")
P

R=$TMP/r
new_replica "$R"
before=$("$GS" -r "$R" digest)
expect_rc "import, bad line past the keep" 1 "$GS" -r "$R" import \
    "$TMP/late.jsonl"
expect_grep "names the late line" "line 39001: not JSON" "$TMP/err"
expect_eq "late bad line: nothing written" "$("$GS" -r "$R" digest)" "$before"

expect_rc "import --skip-bad" 0 "$GS" -r "$R" import "$TMP/bad.jsonl" \
    --skip-bad --json
expect_grep "reports the early line" "line 100: " "$TMP/err"
expect_grep "reports the late line" "line 39001: " "$TMP/err"
expect_grep "counts" '"records":40000,"ops":40000,"skipped":2' "$TMP/out"

R2=$TMP/r2
new_replica "$R2"
for k in 0 1 2 3; do
    expect_rc "import part $k" 0 "$GS" -r "$R2" import "$TMP/part$k.jsonl"
done
"$GS" -r "$R" list >"$TMP/list1"
"$GS" -r "$R2" list >"$TMP/list2"
expect_eq "entities" "$(wc -l <"$TMP/list1")" 15000
if cmp -s "$TMP/list1" "$TMP/list2"; then ok; else
    fail "one import past the keep and four within it differ"
fi

# Stages past the keep: the check follows them through the whole file, so
# a reopen there starts the next round, a stage going back there is named
# (once, with --skip-bad: the write pass parses the line again but knows
# it was refused) and nothing is written without --skip-bad.
python3 - "$TMP" <<'P'
import json, sys
tmp = sys.argv[1]
pad = "新新社区" * 160  # ~1,900 bytes a line: 10,000 lines pass the keep
t = lambda f: json.dumps({"type": "ticket", "id": "T-1", "fields": f})
lines = [t({"title": "lamp", "stage": "reported"})]
for i in range(10000):
    lines.append(json.dumps({"type": "household", "id": f"H-{i}",
                             "fields": {"address": f"{pad}{i}"}},
                            ensure_ascii=False))
lines += [t({"stage": "resolved"}), t({"stage": "reopen"}),
          t({"stage": "accepted"}), t({"stage": "reported"}),
          t({"stage": "dispatched"})]
with open(f"{tmp}/stages.jsonl", "w") as f:
    f.write("\n".join(lines) + "\n")
P
R3=$TMP/r3
new_replica "$R3"
before=$("$GS" -r "$R3" digest)
expect_rc "stages past the keep: going back" 1 "$GS" -r "$R3" import \
    "$TMP/stages.jsonl"
expect_grep "names the line going back" \
    "line 10005: ticket.stage: already at accepted (round 1)" "$TMP/err"
expect_eq "going back past the keep: nothing written" \
    "$("$GS" -r "$R3" digest)" "$before"
expect_rc "stages past the keep: --skip-bad" 0 "$GS" -r "$R3" import \
    "$TMP/stages.jsonl" --skip-bad --json
expect_eq "the line going back is reported once" \
    "$(grep -c "line 10005: " "$TMP/err")" 1
expect_grep "counts" '"records":10005,"ops":10005,"skipped":1' "$TMP/out"
"$GS" -r "$R3" get ticket T-1 --json >"$TMP/t"
expect_grep "round 1 after the reopen past the keep" \
    '"stage":{"round":1,"stage":"dispatched"}' "$TMP/t"
finish
