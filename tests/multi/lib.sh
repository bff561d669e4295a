# lib.sh — sourced by the multi-agent tests: real `gridsync agent`
# processes on 127.0.0.1 only, each with its own replica; every agent is
# stopped on exit (SIGTERM, then SIGKILL after 5 s), every wait is bounded.
# Usage: . "$(dirname "$0")/lib.sh" "$@" with $1 the gridsync binary.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh" "$@"

declare -A AGENT_PID PORT KEY
NET=""

stop_agents() {
    local n p
    for n in "${!AGENT_PID[@]}"; do
        p=${AGENT_PID[$n]}
        kill -CONT "$p" 2>/dev/null
        kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 50); do
        local alive=0
        for n in "${!AGENT_PID[@]}"; do
            kill -0 "${AGENT_PID[$n]}" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for n in "${!AGENT_PID[@]}"; do
        kill -KILL "${AGENT_PID[$n]}" 2>/dev/null
    done
    wait 2>/dev/null
}
trap 'stop_agents; cleanup' EXIT

# A free TCP port on 127.0.0.1 (bound, then released).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# node NAME SCOPE [READ]: a replica in $TMP/NAME on a port of its own. The
# first node of a network (NET empty) makes the network's authority first,
# in $TMP/authority-N (no agent: it only signs). Every node is enrolled
# there, writing under SCOPE and reading READ (default: its district,
# SCOPE's first label), and every node of the network gets the authority's
# certificates as a bundle, the way a USB stick would bring them. With
# ENROLL=0 the node is made in the network but not enrolled.
NODES=()
AUTH=""
node() {
    local name=$1 scope=$2 read=${3:-${2%%.*}} dir=$TMP/$1 out n
    if [ -z "$NET" ]; then
        AUTH=$TMP/authority-$((${#NODES[@]} + 1))
        out=$("$GS" authority init "$AUTH" --json) ||
            { fail "authority init"; return 1; }
        NET=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["device"])')
        NODES=()
    fi
    out=$("$GS" init "$dir" --scope "$scope" --name "$name" \
        --authority "$NET" --json) || { fail "init $name"; return 1; }
    KEY[$name]=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["device"])')
    if [ "${ENROLL:-1}" -eq 1 ]; then
        "$GS" -r "$AUTH" authority enroll "${KEY[$name]}" --name "$name" \
            --role station --write "$scope" --read "$read" >/dev/null ||
            { fail "enroll $name"; return 1; }
    fi
    trust_to_all "$name"
    PORT[$name]=$(free_port)
    gsr "$name" config set agent.endpoint "tcp://127.0.0.1:${PORT[$name]}" >/dev/null
}

# trust_to_all [NEW]: every node (and NEW) imports the authority's bundle.
trust_to_all() {
    local n
    "$GS" -r "$AUTH" bundle export "$TMP/trust.bundle" >/dev/null ||
        { fail "export the certificates"; return 1; }
    [ -n "${1:-}" ] && NODES+=("$1")
    for n in "${NODES[@]}"; do
        gsr "$n" bundle import "$TMP/trust.bundle" >/dev/null ||
            { fail "give $n the certificates"; return 1; }
    done
}

gsr() {
    local name=$1
    shift
    "$GS" -r "$TMP/$name" "$@"
}

# link A B: A dials B; B accepts A.
link() {
    local a=$1 b=$2 cur
    cur=$(gsr "$a" config --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent.peers"]["value"])' 2>/dev/null)
    local peer="${KEY[$b]}@tcp://127.0.0.1:${PORT[$b]}"
    gsr "$a" config set agent.peers "${cur:+$cur,}$peer" >/dev/null ||
        fail "set peers of $a"
    cur=$(gsr "$b" config --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent.accept"]["value"])' 2>/dev/null)
    gsr "$b" config set agent.accept "${cur:+$cur,}${KEY[$a]}" >/dev/null ||
        fail "set accept of $b"
}

start_agent() {
    local name=$1
    "$GS" -r "$TMP/$name" agent 2>>"$TMP/$name.log" &
    AGENT_PID[$name]=$!
}

stop_agent() {
    local name=$1 p=${AGENT_PID[$1]}
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    unset "AGENT_PID[$name]"
}

digest() {
    gsr "$1" digest --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
}

# wait_equal SECONDS NAME...: until every named replica has one digest.
wait_equal() {
    local limit=$1 t0=$SECONDS first d all
    shift
    while :; do
        all=1
        first=$(digest "$1")
        for n in "$@"; do
            d=$(digest "$n")
            [ "$d" == "$first" ] || all=0
        done
        [ $all -eq 1 ] && return 0
        [ $((SECONDS - t0)) -ge "$limit" ] && return 1
        sleep 0.3
    done
}

# records N PREFIX FILE: N household records, ids PREFIX-000001...
records() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
n, p, f = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(f, "w") as o:
    for i in range(n):
        o.write(json.dumps({"type": "household", "id": "%s-%06d" % (p, i),
            "fields": {"address": "新新社区%d栋" % (i % 40), "head": "王%d" % i,
                       "grid": "g1"}}, ensure_ascii=False) + "\n")
PY
}
