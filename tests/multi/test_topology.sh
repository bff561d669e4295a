#!/usr/bin/env bash
# Issue 4, must show 1b: five agents — a district (yc), two stations
# (yc.s1, yc.s2), two tablets (yc.s1.g1, yc.s2.g1) — converge in a star
# (every other node dials the district) and in a chain (tablet1 → station1
# → district → station2 → tablet2, each arrow a dial) while all of them
# write and random partitions come and go. A partition stops 1–2 random
# agents with SIGSTOP for 1–3 s, then SIGCONT; the command line keeps
# writing to a stopped agent's replica (it writes locally, without the
# agent). After the last heal: the five digests are equal within 60 s and
# every acknowledged write (a `gridsync put` that exited 0) is on every
# replica. Seeded: the seed is printed, GS_SEED=N replays the partitions.
# Usage: test_topology.sh GRIDSYNC [GS_HOSTILE]
. "$(dirname "$0")/lib.sh" "$@"

ROUNDS=4
SEED=${GS_SEED:-$(( $(date +%s%N) % 2147483647 ))}
echo "seed: $SEED (replay with GS_SEED=$SEED)"
RANDOM=$SEED

NAMES=(district station1 station2 tablet1 tablet2)
declare -A SCOPE=([district]=yc [station1]=yc.s1 [station2]=yc.s2
    [tablet1]=yc.s1.g1 [tablet2]=yc.s2.g1)
WRITERS=()

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# writer NAME FILE: put a record a time until $TMP/stop-writers exists;
# every id whose put exited 0 goes to FILE.
writer() {
    local name=$1 file=$2 i=0
    while [ ! -e "$TMP/stop-writers" ]; do
        i=$((i + 1))
        local id="$name-$i"
        if gsr "$name" put household "$id" head="w$i" >/dev/null 2>&1; then
            echo "$id" >>"$file"
        fi
        sleep 0.05
    done
}

stop_writers() {
    touch "$TMP/stop-writers"
    local p
    for p in "${WRITERS[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    WRITERS=()
}
trap 'stop_writers; stop_agents; cleanup' EXIT

# phase TOPOLOGY: fresh replicas (names prefixed with the topology), link
# them, write under partitions, check convergence and every ack.
phase() {
    local topo=$1 p=${1}_ n t0 t_heal
    local -a nodes=()
    NET=""
    rm -f "$TMP/stop-writers"
    for n in "${NAMES[@]}"; do
        node "$p$n" "${SCOPE[$n]}" || return
        nodes+=("$p$n")
    done
    if [ "$topo" == star ]; then
        for n in station1 station2 tablet1 tablet2; do
            link "$p$n" "${p}district"
        done
    else
        link "${p}tablet1" "${p}station1"
        link "${p}station1" "${p}district"
        link "${p}district" "${p}station2"
        link "${p}station2" "${p}tablet2"
    fi
    for n in "${nodes[@]}"; do
        gsr "$n" config set agent.sync_interval 2 >/dev/null
    done
    t0=$(now_ms)
    for n in "${nodes[@]}"; do start_agent "$n"; done
    for n in "${nodes[@]}"; do
        : >"$TMP/$n.acked"
        writer "$n" "$TMP/$n.acked" &
        WRITERS+=($!)
        PIDS+=($!)
    done
    local r k d i victims
    for r in $(seq "$ROUNDS"); do
        sleep 1 # connected for a while between partitions
        k=$((1 + RANDOM % 2))
        local -a pool=("${nodes[@]}")
        victims=()
        for ((i = 0; i < k; i++)); do
            local j=$((RANDOM % ${#pool[@]}))
            victims+=("${pool[$j]}")
            pool=("${pool[@]:0:$j}" "${pool[@]:$((j + 1))}")
        done
        d=$((10 + RANDOM % 21)) # tenths of a second, 1.0–3.0 s
        echo "$topo round $r: stop ${victims[*]} for $((d / 10)).$((d % 10)) s"
        for n in "${victims[@]}"; do kill -STOP "${AGENT_PID[$n]}"; done
        sleep "$((d / 10)).$((d % 10))"
        for n in "${victims[@]}"; do kill -CONT "${AGENT_PID[$n]}"; done
    done
    t_heal=$(now_ms)
    sleep 1 # a last second of writes with every agent running
    stop_writers
    local t_stop
    t_stop=$(now_ms)
    local acked=0
    for n in "${nodes[@]}"; do
        acked=$((acked + $(wc -l <"$TMP/$n.acked")))
    done
    echo "$topo: $acked acknowledged writes in $(( (t_stop - t0) / 1000 )) s"
    if [ "$acked" -ge $((5 * ROUNDS)) ]; then ok; else
        fail "$topo: only $acked writes were acknowledged"
    fi
    if wait_equal 60 "${nodes[@]}"; then
        ok
        echo "$topo: five digests equal $(( $(now_ms) - t_stop )) ms after" \
            "the writers stopped ($(( $(now_ms) - t_heal )) ms after the last heal)"
    else
        fail "$topo: digests still differ 60 s after the last heal:" \
            "$(for n in "${nodes[@]}"; do printf '%s=%.12s ' "$n" "$(digest "$n")"; done)"
    fi
    sort -u "$TMP/${p}"*.acked >"$TMP/$topo.want"
    for n in "${nodes[@]}"; do
        gsr "$n" list household |
            python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in sys.stdin if l.strip()]' |
            sort -u >"$TMP/$n.have"
        local missing
        missing=$(comm -23 "$TMP/$topo.want" "$TMP/$n.have" | wc -l)
        if [ "$missing" -eq 0 ]; then ok; else
            fail "$n lacks $missing acknowledged writes, e.g." \
                "$(comm -23 "$TMP/$topo.want" "$TMP/$n.have" | head -3 | tr '\n' ' ')"
        fi
    done
    for n in "${nodes[@]}"; do
        if kill -0 "${AGENT_PID[$n]}" 2>/dev/null; then ok; else
            fail "$n: its agent died"
        fi
        stop_agent "$n"
    done
}

T0=$(now_ms)
phase star
phase chain
echo "total $(( ($(now_ms) - T0) / 1000 )) s"
finish
