# lib.sh — sourced by the command-line tests: a scratch directory removed
# on exit, every started process stopped on exit, and assertions that say
# what was expected. Usage in a test: . "$(dirname "$0")/lib.sh" "$@"
# with $1 the gridsync binary.
set -u
GS=${1:?usage: $0 PATH_TO_GRIDSYNC}
shift
TMP=$(mktemp -d /tmp/gs-cli-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 -- "-$p" 2>/dev/null
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
FAILS=0
CHECKS=0
fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}
ok() {
    CHECKS=$((CHECKS + 1))
}
# expect_eq WHAT GOT WANT
expect_eq() {
    if [ "$2" == "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
# expect_rc WHAT WANT_RC CMD...
expect_rc() {
    local what=$1 want=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else
        fail "$what: exit $rc, want $want; stderr: $(head -c 400 "$TMP/err")"
    fi
}
# expect_grep WHAT PATTERN FILE
expect_grep() {
    if grep -q -- "$2" "$3"; then ok; else
        fail "$1: '$2' not in $(head -c 400 "$3")"
    fi
}
finish() {
    echo "$CHECKS checks, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}
# new_replica DIR [SCOPE] [AUTHORITY]
new_replica() {
    local args=(init "$1" --scope "${2:-yc.test.g1}")
    [ -n "${3:-}" ] && args+=(--authority "$3")
    "$GS" "${args[@]}" >/dev/null || { fail "init $1"; return 1; }
}
# new_device DIR ARGS...: gridsync init DIR ARGS, printing the device key
new_device() {
    "$GS" init "$@" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["device"])'
}
# new_authority DIR: an authority replica, printing its key (the network)
new_authority() {
    "$GS" authority init "$1" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["device"])'
}
# carry FROM TO: everything FROM holds, to TO by a bundle (a USB stick)
carry() {
    "$GS" -r "$1" bundle export "$TMP/b.gsb" >/dev/null &&
        "$GS" -r "$2" bundle import "$TMP/b.gsb" >/dev/null ||
        fail "carry $1 -> $2"
}
