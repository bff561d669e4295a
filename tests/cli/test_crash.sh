#!/usr/bin/env bash
# Crash test (issue 3, must show 2): a writer acknowledges each put after
# it returned and is killed with SIGKILL at random instants, GS_CRASH_KILLS
# times (default 200). After every kill the replica opens with no repair
# step, every acknowledged write is present, and the digest equals a
# rebuild from the op log alone. Seeded: GS_SEED replays the kill times.
. "$(dirname "$0")/lib.sh" "$@"
WRITER=${2:?usage: $0 GRIDSYNC CRASHWRITER}
KILLS=${GS_CRASH_KILLS:-200}
SEED=${GS_SEED:-$(date +%s)}
echo "seed: $SEED (replay with GS_SEED=$SEED)"
RANDOM=$SEED

R=$TMP/r
new_replica "$R"
: >"$TMP/acked"
next=1
for k in $(seq 1 "$KILLS"); do
    setsid "$WRITER" "$R" "$next" >"$TMP/acks" 2>"$TMP/werr" &
    pid=$!
    PIDS+=("$pid")
    # 5..124 ms: mostly mid-transaction, sometimes between puts
    sleep "0.$(printf '%03d' $((5 + RANDOM % 120)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ -s "$TMP/werr" ]; then
        fail "kill $k: writer error: $(head -c 300 "$TMP/werr")"
        break
    fi
    grep '^ack ' "$TMP/acks" | cut -d' ' -f2 >>"$TMP/acked"
    last=$(tail -n 1 "$TMP/acked")
    [ -n "$last" ] && next=$((10#${last#H-} + 1))
    # the replica opens without repair, and state equals the op log
    d1=$("$GS" -r "$R" digest 2>"$TMP/derr")
    d2=$("$GS" -r "$R" digest --rebuild 2>>"$TMP/derr")
    if [ -z "$d1" ] || [ "$d1" != "$d2" ]; then
        fail "kill $k: digest '$d1' vs rebuild '$d2': $(cat "$TMP/derr")"
        break
    fi
    ok
    # the put interrupted by the kill may have committed before its ack
    # was printed; the next writer starts after it so ids never repeat
    "$GS" -r "$R" list household --json | sed 's/.*"id":"\([^"]*\)".*/\1/' \
        | sort >"$TMP/present"
    top=$(tail -n 1 "$TMP/present")
    [ -n "$top" ] && next=$((10#${top#H-} + 1))
    sort "$TMP/acked" >"$TMP/acked.sorted"
    missing=$(comm -23 "$TMP/acked.sorted" "$TMP/present" | head -n 3)
    if [ -n "$missing" ]; then
        fail "kill $k: acknowledged but missing: $missing"
        break
    fi
    ok
done
echo "$KILLS kills, $(wc -l <"$TMP/acked") acknowledged writes, all present"
finish
