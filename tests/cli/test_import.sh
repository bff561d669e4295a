#!/usr/bin/env bash
# Import of JSON Lines (issue 3, must show 4): a malformed file names the
# line and the reason and changes nothing; --skip-bad writes the good lines
# and names each bad one. Also put/get/list/history/export basics, usage
# errors (exit 2) and --help on every command.
. "$(dirname "$0")/lib.sh" "$@"

R=$TMP/r
new_replica "$R"
cat >"$TMP/good.jsonl" <<'J'
{"type":"household","id":"H-1","fields":{"address":"新新社区1栋","head":"王秀英"}}
{"type":"person","id":"P-1","fields":{"name":"王秀英","tags":["elderly-alone"],"points":10}}

{"type":"ticket","id":"T-1","fields":{"title":"路灯不亮","stage":"reported"}}
J
cp "$TMP/good.jsonl" "$TMP/bad.jsonl"
echo '{"type":"household","id":"H-2","fields":{"addres":"typo"}}' >>"$TMP/bad.jsonl"
echo '{"type":"household","id":"H-3",' >>"$TMP/bad.jsonl"
echo '{"type":"household","id":"H-4","fields":{"address":"ok"}}' >>"$TMP/bad.jsonl"

before=$("$GS" -r "$R" digest)
expect_rc "import bad file" 1 "$GS" -r "$R" import "$TMP/bad.jsonl"
expect_grep "names the line" "line 5" "$TMP/err"
expect_grep "names the field" "addres" "$TMP/err"
expect_eq "nothing written" "$("$GS" -r "$R" digest)" "$before"
expect_eq "no entities" "$("$GS" -r "$R" list | wc -l)" 0

expect_rc "import --skip-bad" 0 "$GS" -r "$R" import "$TMP/bad.jsonl" \
    --skip-bad --json
expect_grep "skip reports line 5" "line 5" "$TMP/err"
expect_grep "skip reports line 6" "line 6" "$TMP/err"
expect_grep "counts" '"records":4' "$TMP/out"
expect_eq "entities" "$("$GS" -r "$R" list | wc -l)" 4
"$GS" -r "$R" get person P-1 --json >"$TMP/p"
expect_grep "points" '"points":10' "$TMP/p"
expect_grep "tags" 'elderly-alone' "$TMP/p"

# a line over the 1 MiB limit is named, without the whole line being held
python3 -c "print('{\"type\":\"household\",\"id\":\"H-9\",\"fields\":{\"address\":\"' + 'x' * (2 << 20) + '\"}}')" >"$TMP/long.jsonl"
cat "$TMP/good.jsonl" >>"$TMP/long.jsonl"
before=$("$GS" -r "$R" digest)
expect_rc "import a 2 MiB line" 1 "$GS" -r "$R" import "$TMP/long.jsonl"
expect_grep "names the long line" "line 1: line longer than" "$TMP/err"
expect_eq "long line: nothing written" "$("$GS" -r "$R" digest)" "$before"

# stages within one file, as if each line were put in turn: a reopen after
# a stage of the same file starts round 1 and the stage after it lands
# there; a stage going back is named by its line and nothing is written,
# also when it comes more than a write batch (8,000 records) after the
# line that set the stage
R3=$TMP/r3
new_replica "$R3"
cat >"$TMP/stages.jsonl" <<'J'
{"type":"ticket","id":"T-1","fields":{"title":"路灯不亮","stage":"reported"}}
{"type":"ticket","id":"T-1","fields":{"stage":"resolved"}}
{"type":"ticket","id":"T-1","fields":{"stage":"reopen"}}
{"type":"ticket","id":"T-1","fields":{"stage":"accepted"}}
J
expect_rc "import: reopen within a file" 0 "$GS" -r "$R3" import \
    "$TMP/stages.jsonl"
"$GS" -r "$R3" get ticket T-1 --json >"$TMP/t"
expect_grep "stage after the reopen in round 1" \
    '"stage":{"round":1,"stage":"accepted"}' "$TMP/t"
{
    echo '{"type":"ticket","id":"T-2","fields":{"title":"x","stage":"dispatched"}}'
    for i in $(seq 1 8100); do
        echo "{\"type\":\"household\",\"id\":\"H-$i\",\"fields\":{\"address\":\"$i\"}}"
    done
    echo '{"type":"ticket","id":"T-2","fields":{"stage":"accepted"}}'
} >"$TMP/back.jsonl"
before=$("$GS" -r "$R3" digest)
expect_rc "import: a stage going back" 1 "$GS" -r "$R3" import \
    "$TMP/back.jsonl"
expect_grep "names the line going back" \
    "line 8102: ticket.stage: already at dispatched" "$TMP/err"
expect_eq "stage going back: nothing written" "$("$GS" -r "$R3" digest)" \
    "$before"
expect_rc "import: a stage going back, --skip-bad" 0 "$GS" -r "$R3" import \
    "$TMP/back.jsonl" --skip-bad --json
expect_grep "skip names the line going back" "line 8102: " "$TMP/err"
expect_grep "skip counts it" '"records":8101,"ops":8101,"skipped":1' \
    "$TMP/out"
"$GS" -r "$R3" get ticket T-2 --json >"$TMP/t"
expect_grep "stage stays" '"stage":{"round":0,"stage":"dispatched"}' "$TMP/t"

# one file in one transaction, lines that update what lines before wrote
# (ids repeat, each line parsed once: its JSON goes from the parser to the
# writer): the same entities as the same lines imported in three pieces,
# each a transaction of its own, and again after importing it again
python3 - "$TMP" <<'P'
import json, sys
tmp = sys.argv[1]
lines = []
for i in range(3000):
    if i % 2:
        f = {"name": f"居民{i}", "tags": [f"t{i % 5}"],
             "birth_year": 1930 + i % 90}
        lines.append({"type": "person", "id": f"P-{i % 400}", "fields": f})
    else:
        f = {"address": f"新新社区{i}号", "tags": [f"g{i % 3}"]}
        lines.append({"type": "household", "id": f"H-{i % 300}", "fields": f})
text = [json.dumps(l, ensure_ascii=False) for l in lines]
open(f"{tmp}/repeat.jsonl", "w").write("\n".join(text) + "\n")
for k in range(3):
    open(f"{tmp}/repeat{k}.jsonl", "w").write(
        "\n".join(text[k * 1000:(k + 1) * 1000]) + "\n")
P
RA=$TMP/rep1
RB=$TMP/rep2
new_replica "$RA"
new_replica "$RB"
expect_rc "import: ids repeat in one file" 0 "$GS" -r "$RA" import \
    "$TMP/repeat.jsonl" --json
expect_grep "every line an op" '"records":3000,"ops":3000' "$TMP/out"
for k in 0 1 2; do
    expect_rc "import: piece $k" 0 "$GS" -r "$RB" import "$TMP/repeat$k.jsonl"
done
"$GS" -r "$RA" list >"$TMP/la"
"$GS" -r "$RB" list >"$TMP/lb"
expect_eq "entities" "$(wc -l <"$TMP/la")" 350
"$GS" -r "$RA" export "$TMP/ea.jsonl"
if python3 - "$TMP" <<'P'; then ok; else fail "not the values the lines leave"; fi
import json, sys
tmp = sys.argv[1]
want = {}
for line in open(f"{tmp}/repeat.jsonl"):
    r = json.loads(line)
    e = want.setdefault((r["type"], r["id"]), {})
    for k, v in r["fields"].items():
        e[k] = sorted(set(e.get(k, [])) | set(v)) if k == "tags" else v
got = {}
for line in open(f"{tmp}/ea.jsonl"):
    r = json.loads(line)
    got[(r["type"], r["id"])] = {k: r["fields"][k] for k in
                                 want[(r["type"], r["id"])]}
sys.exit(0 if got == want else 1)
P
if cmp -s "$TMP/la" "$TMP/lb"; then ok; else
    fail "one file and three pieces differ"
fi
expect_eq "digest equals a rebuild" "$("$GS" -r "$RA" digest --rebuild)" \
    "$("$GS" -r "$RA" digest)"
# again: each line writes what it changes from the line before, the last
# of each id leaves the values it left before
expect_rc "import it again" 0 "$GS" -r "$RA" import "$TMP/repeat.jsonl"
"$GS" -r "$RA" list >"$TMP/la2"
if cmp -s "$TMP/la" "$TMP/la2"; then ok; else
    fail "imported again, the entities differ"
fi

# put forms and refusals
expect_rc "put counter" 0 "$GS" -r "$R" put person P-1 points+=5
expect_rc "put counter down" 0 "$GS" -r "$R" put person P-1 points-=3
"$GS" -r "$R" get person P-1 --json >"$TMP/p"
expect_grep "points 12" '"points":12' "$TMP/p"
expect_rc "put unknown field" 1 "$GS" -r "$R" put person P-1 nmae=x
expect_grep "unknown field named" "nmae" "$TMP/err"
expect_rc "put no fields" 2 "$GS" -r "$R" put person P-1
expect_rc "get missing" 1 "$GS" -r "$R" get person P-404
expect_grep "missing named" "P-404" "$TMP/err"
expect_rc "list --where" 0 "$GS" -r "$R" list person --where tags=elderly-alone
expect_eq "where finds one" "$(wc -l <"$TMP/out")" 1
"$GS" -r "$R" history person P-1 >"$TMP/h"
expect_eq "history ops" "$(wc -l <"$TMP/h")" 3
expect_grep "history shows delta" '"delta":5' "$TMP/h"
expect_rc "export" 0 "$GS" -r "$R" export "$TMP/out.jsonl"
expect_eq "export lines" "$(wc -l <"$TMP/out.jsonl")" 4
expect_rc "not a replica" 1 "$GS" -r "$TMP/nothing" digest
expect_grep "says how to create one" "gridsync init" "$TMP/err"
expect_rc "unknown command" 2 "$GS" frobnicate
expect_rc "config" 0 "$GS" -r "$R" config --json
expect_grep "config shows scope" '"replica.scope":{"value":"yc.test.g1"' "$TMP/out"
expect_rc "config set" 0 "$GS" -r "$R" config set agent.sync_interval 60
expect_rc "config set bad" 2 "$GS" -r "$R" config set agent.sync_interval x
expect_grep "says what it takes" "whole number" "$TMP/err"
expect_rc "config shows it" 0 "$GS" -r "$R" config
expect_grep "set value shown" "agent.sync_interval *= 60" "$TMP/out"
# importing a file again writes only what changed: nothing at all the
# second time (no op, same digest), and a record with one field changed
# writes that field alone (counters and logs are events: they would count)
R4=$TMP/r4
new_replica "$R4"
grep -v '"points"' "$TMP/good.jsonl" >"$TMP/again.jsonl"
expect_rc "import once" 0 "$GS" -r "$R4" import "$TMP/again.jsonl" --json
expect_grep "first import writes" '"ops":2' "$TMP/out"
d1=$("$GS" -r "$R4" digest)
expect_rc "import again" 0 "$GS" -r "$R4" import "$TMP/again.jsonl" --json
expect_grep "second import writes nothing" '"records":2,"ops":0' "$TMP/out"
expect_eq "second import: same digest" "$("$GS" -r "$R4" digest)" "$d1"
sed 's/王秀英"}}/王秀兰"}}/' "$TMP/again.jsonl" >"$TMP/changed.jsonl"
expect_rc "import a changed record" 0 "$GS" -r "$R4" import \
    "$TMP/changed.jsonl" --json
expect_grep "one op for the change" '"ops":1' "$TMP/out"
"$GS" -r "$R4" history household H-1 >"$TMP/h"
expect_eq "two ops on H-1" "$(wc -l <"$TMP/h")" 2
expect_grep "the second names only head" \
    '"updates":{"head":{"kind":"lww","value":"王秀兰"}}' "$TMP/h"

# line ends as editors and spreadsheets write them: CRLF, blank lines (CR
# alone too), no newline after the last line; a bad line after them is
# named by its number in the file, and a line over the limit in the middle
# of the file is skipped whole, the lines after it read as they are
R5=$TMP/r5
new_replica "$R5"
{
    printf '\r\n\n'
    printf '{"type":"household","id":"H-1","fields":{"address":"a"}}\r\n'
    printf '\r\n'
    printf '{"type":"household","id":"H-2","fields":{"addres":"typo"}}\r\n'
    python3 -c "print('{\"type\":\"household\",\"id\":\"H-9\",\"fields\":{\"address\":\"' + 'x' * (2 << 20) + '\"}}')"
    printf '{"type":"household","id":"H-3","fields":{"address":"c"}}'
} >"$TMP/crlf.jsonl"
expect_rc "import CRLF, blank, long, no last newline" 1 "$GS" -r "$R5" \
    import "$TMP/crlf.jsonl"
expect_grep "the bad line by its number" "line 5: " "$TMP/err"
expect_rc "the same, bad lines skipped" 0 "$GS" -r "$R5" import \
    "$TMP/crlf.jsonl" --skip-bad --json
expect_grep "line 5 skipped" "line 5" "$TMP/err"
expect_grep "line 6 skipped, too long" "line 6: line longer than" "$TMP/err"
expect_grep "two records written" '"records":2,"ops":2' "$TMP/out"
"$GS" -r "$R5" get household H-1 --json >"$TMP/h1"
expect_grep "no CR kept in a value" '"address":"a"}' "$TMP/h1"
"$GS" -r "$R5" get household H-3 --json >"$TMP/h3"
expect_grep "the last line, with no newline" '"address":"c"' "$TMP/h3"

# CRs where the import's 64 KiB reads cut a line: a blank line (CRLF)
# whose CR is the last byte of one read and its newline the first of the
# next; a blank line of two CRs, the second and the newline in the next
# read. Both are blank (a CR left in would be a line that is not JSON),
# and every record is imported
R6=$TMP/r6
new_replica "$R6"
python3 - "$TMP/cut.jsonl" "$TMP/cut.n" <<'PY'
import sys
B = 64 << 10
ids = iter(range(1, 10000))
def rec(a):  # ids of one width: a line's length is its address's
    return '{"type":"household","id":"H-%04d","fields":{"address":"%s"}}' % (
        next(ids), a)
bare = len(rec(''))
def fill(text, upto):
    # lines (CRLF) of at most 3000 bytes of address until text is upto long
    while len(text) < upto:
        room = upto - len(text) - bare - 2
        if room > 3000 + bare + 3:
            room = 3000
        text += rec('f' * room) + '\r\n'
    assert len(text) == upto, (len(text), upto)
    return text
# a blank line whose CR is the first read's last byte, its newline the next
text = fill('', B - 1) + '\r\n'
# a blank line of two CRs, the second and the newline in the fourth read
# (the second read's last byte is no CR: a CR looked for where the first
# read was would be found in the second's bytes)
text = fill(text, 3 * B - 1) + '\r\r\n'
assert text[B - 1:B + 1] == '\r\n' and text[2 * B - 1] != '\r'
assert text[3 * B - 1:3 * B + 2] == '\r\r\n'
text += rec('e')
open(sys.argv[1], 'w').write(text)
open(sys.argv[2], 'w').write(str(text.count('\n') + 1 - 2))
PY
expect_rc "import lines cut at a read's end after a CR" 0 "$GS" -r "$R6" \
    import "$TMP/cut.jsonl" --json
n=$(cat "$TMP/cut.n")
expect_grep "every record" "\"records\":$n,\"ops\":$n" "$TMP/out"
"$GS" -r "$R6" get household H-"$(printf %04d "$((n + 1))")" --json \
    >"$TMP/cut.last"
expect_grep "the last record, after both" '"address":"e"}' "$TMP/cut.last"

for c in init put get list history digest import export bundle config \
    version; do
    expect_rc "$c --help" 0 "$GS" "$c" --help
    expect_grep "$c help has usage" "usage: gridsync $c" "$TMP/out"
done
finish
