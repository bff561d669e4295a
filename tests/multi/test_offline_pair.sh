#!/usr/bin/env bash
# Issue 4, must show 1a: two replicas each write 10,000 ops while apart,
# then their agents connect and both end with equal digests and every
# record of both.
. "$(dirname "$0")/lib.sh" "$@"

node station yc.t.station
node tablet yc.t.g1
link tablet station
records 10000 S "$TMP/s.jsonl"
records 10000 T "$TMP/t.jsonl"
expect_rc "station writes 10,000 offline" 0 gsr station import "$TMP/s.jsonl"
expect_rc "tablet writes 10,000 offline" 0 gsr tablet import "$TMP/t.jsonl"
[ "$(digest station)" != "$(digest tablet)" ] && ok ||
    fail "digests equal before any sync"

gsr station config set agent.sync_interval 3600 >/dev/null
gsr tablet config set agent.sync_interval 3600 >/dev/null
t0=$(date +%s.%N)
start_agent station
start_agent tablet
if wait_equal 60 station tablet; then
    ok
    echo "converged after $(python3 -c "print(round($(date +%s.%N)-$t0,2))") s"
else
    fail "digests still differ after 60 s"
fi
for n in station tablet; do
    c=$(gsr "$n" list household | wc -l)
    expect_eq "$n holds every record" "$c" 20000
done
expect_rc "a station record on the tablet" 0 gsr tablet get household S-009999
expect_rc "a tablet record on the station" 0 gsr station get household T-000000
expect_grep "one log line per session" "session with" "$TMP/tablet.log"
# the status file follows within about a second
for _ in $(seq 30); do
    gsr tablet status --json >"$TMP/st.json"
    grep -q '"ops_in": *10000' "$TMP/st.json" && break
    sleep 0.2
done
expect_eq "tablet status: peer connected" \
    "$(python3 -c 'import json;d=json.load(open("'"$TMP"'/st.json"));print(d["peers"][0]["connected"])')" True
expect_eq "tablet status: ops in" \
    "$(python3 -c 'import json;d=json.load(open("'"$TMP"'/st.json"));print(sum(p["ops_in"] for p in d["peers"]))')" 10000
finish
