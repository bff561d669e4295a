#!/usr/bin/env bash
# Issue 4, must show 1d: while connected, a write on one peer is seen on
# the other within 1 s, long before the sync interval (an hour here).
. "$(dirname "$0")/lib.sh" "$@"

node district yc
node station yc.t.station
link station district
for n in district station; do
    gsr "$n" config set agent.sync_interval 3600 >/dev/null
done
start_agent district
start_agent station
# wait until the first session has run (connected and in sync)
for _ in $(seq 100); do
    gsr station status --json 2>/dev/null | grep -q '"in_sync": *true' && break
    sleep 0.1
done
worst=0
for i in 1 2 3; do
    for pair in "district station" "station district"; do
        set -- $pair
        expect_rc "write on $1" 0 gsr "$1" put household "G-$1-$i" head=李$i
        t0=$(date +%s%N)
        seen=0
        while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ]; do
            if gsr "$2" get household "G-$1-$i" >/dev/null 2>&1; then
                seen=1
                break
            fi
            sleep 0.02
        done
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        [ $ms -gt $worst ] && worst=$ms
        if [ $seen -eq 1 ] && [ $ms -lt 1000 ]; then ok; else
            fail "write on $1 reached $2 after ${ms} ms (seen=$seen), want < 1000"
        fi
    done
done
echo "slowest gossip: ${worst} ms"
finish
