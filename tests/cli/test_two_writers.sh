#!/usr/bin/env bash
# Two processes write to one replica at once (issue 3, must show 1): both
# succeed, and the replica holds what both wrote; its state equals a
# rebuild from the op log.
. "$(dirname "$0")/lib.sh" "$@"

R=$TMP/r
new_replica "$R"
N=60
writer() { # writer PREFIX
    local i
    for i in $(seq 1 "$N"); do
        "$GS" -r "$R" put household "$1-$i" "address=$1 路 $i号" \
            >/dev/null || { echo "put $1-$i failed" >&2; return 1; }
    done
}
writer A &
a=$!
writer B &
b=$!
wait $a; ra=$?
wait $b; rb=$?
expect_eq "writer A" "$ra" 0
expect_eq "writer B" "$rb" 0
got=$("$GS" -r "$R" list household | wc -l)
expect_eq "households after both" "$got" $((2 * N))
for p in A B; do
    for i in 1 $N; do
        "$GS" -r "$R" get household "$p-$i" --json >"$TMP/g" 2>&1
        expect_grep "get $p-$i" "$p 路 $i号" "$TMP/g"
    done
done
d1=$("$GS" -r "$R" digest)
d2=$("$GS" -r "$R" digest --rebuild)
expect_eq "digest equals rebuild" "$d1" "$d2"
# one device, one feed, never forked: 2N ops in one chain
"$GS" -r "$R" history household A-1 >"$TMP/h"
expect_eq "history of A-1" "$(wc -l <"$TMP/h")" 1
finish
