#!/usr/bin/env bash
# Issue 4, must show 1c: an agent killed with SIGKILL in the middle of a
# session restarts and converges; nothing is lost, and the session after
# the restart does not bring again what the first one delivered.
. "$(dirname "$0")/lib.sh" "$@"

node district yc
node station yc.t.station
link station district
records 60000 D "$TMP/d.jsonl"
expect_rc "district holds 60,000 ops" 0 gsr district import "$TMP/d.jsonl"
gsr station config set agent.sync_interval 3600 >/dev/null
gsr district config set agent.sync_interval 3600 >/dev/null
start_agent district
start_agent station
# kill the station once some, not all, ops have arrived
got=0
for _ in $(seq 300); do
    got=$(gsr station list household 2>/dev/null | wc -l)
    [ "$got" -gt 0 ] && break
    sleep 0.01
done
kill -KILL "${AGENT_PID[station]}"
wait "${AGENT_PID[station]}" 2>/dev/null
unset "AGENT_PID[station]"
first=$(gsr station list household | wc -l)
echo "station held $first of 60000 when killed"
if [ "$first" -gt 0 ] && [ "$first" -lt 60000 ]; then ok; else
    fail "kill was not mid-session: station held $first"
fi
expect_rc "replica opens after SIGKILL" 0 gsr station digest
: >"$TMP/station.log"
start_agent station
if wait_equal 60 station district; then ok; else
    fail "no convergence after restart"
fi
expect_eq "every record arrived" "$(gsr station list household | wc -l)" 60000
# the restarted station's sessions: what it received again (known) is at
# most the batches in flight when it was killed (2 x 1,000 ops)
known=$(grep -o 'known [0-9]*' "$TMP/station.log" | awk '{s+=$2} END {print s+0}')
inops=$(grep -o 'ops in [0-9]*' "$TMP/station.log" | awk '{s+=$3} END {print s+0}')
echo "after restart: ops in $inops, already held $known"
expect_eq "second sessions bring exactly the rest" "$inops" $((60000 - first))
if [ "$known" -le 2000 ]; then ok; else
    fail "$known ops sent again after the restart"
fi
finish
