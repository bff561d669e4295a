#!/usr/bin/env bash
# A device key sealed with a passphrase (issue 5, must show 9).
#  - `init --passphrase` seals the key: device.key is 0600, sealed, and
#    after unsealing its public key is the one init printed (the author of
#    the ops it signs).
#  - Commands that sign (put, import, agent, sync) need the passphrase:
#    from --passphrase-file, $GRIDSYNC_PASSPHRASE or the terminal. Without
#    any of them, and no terminal, they fail at once with a clear message,
#    never hang; with a wrong one they fail with a clear message, exit 1,
#    and the replica is unchanged (digest). Reads never ask.
#  - A replica kept in clear works as before, with no prompt.
#  - `key passphrase` seals an existing key and changes a passphrase; the
#    sealed file then holds no trace of the seed it held in clear.
#  - The terminal: asked twice at init, never echoed; a mismatch makes
#    nothing (a pty drives the real binary).
# (That the sealed file holds no plaintext key — seed or secret key, raw,
# hex or base64 — is checked byte by byte in tests/unit/store/
# test_identity.c, where the key is known.)
# Every command runs under `timeout`: a prompt that waits is a failure.
. "$(dirname "$0")/lib.sh" "$@"
unset GRIDSYNC_PASSPHRASE
T=(timeout 60)
# notty CMD...: no controlling terminal (setsid) and no stdin
notty() { setsid -w "$@" </dev/null; }
SEALED="the device key is sealed with a passphrase; give it with --passphrase-file FILE or GRIDSYNC_PASSPHRASE, or run from a terminal"

printf 'correct horse battery staple\n' >"$TMP/pass"
printf 'Tr0ub4dor&3\n' >"$TMP/wrong"
printf 'a new passphrase\n' >"$TMP/pass2"
: >"$TMP/empty"
chmod 600 "$TMP/pass" "$TMP/wrong" "$TMP/pass2" "$TMP/empty"
PASS="correct horse battery staple"

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ---- init --passphrase ----
R=$TMP/sealed
out=$("${T[@]}" "$GS" init "$R" --scope yc.t.g1 --passphrase-file \
    "$TMP/pass" --json) || fail "init --passphrase-file"
DEV=$(printf '%s' "$out" | json_field device)
expect_eq "init says sealed" "$(printf '%s' "$out" | json_field sealed)" True
expect_eq "key file mode" "$(stat -c %a "$R/device.key")" 600
expect_eq "key file is sealed" "$(head -n 1 "$R/device.key")" \
    "gridsync-key v1 sealed"
if grep -q "$PASS" "$R/device.key"; then
    fail "the key file holds the passphrase"
else ok; fi
if grep -qi "$DEV" "$R/device.key"; then
    fail "the key file holds the public key in clear"
else ok; fi

# ---- reads need no passphrase, and never ask ----
for cmd in "digest" "digest --rebuild" "list" "export" "config" "status" \
    "history person P-0"; do
    # shellcheck disable=SC2086
    expect_rc "read without a passphrase: $cmd" 0 notty "${T[@]}" "$GS" \
        -r "$R" $cmd
done
expect_rc "bundle export without a passphrase" 0 notty "${T[@]}" "$GS" \
    -r "$R" bundle export "$TMP/empty.bundle"

# ---- no passphrase and no terminal: a clear error at once ----
D0=$("$GS" -r "$R" digest)
t0=$SECONDS
expect_rc "put, no passphrase, no tty" 1 notty "${T[@]}" "$GS" -r "$R" put \
    person P-1 name=A
expect_eq "says how to give it" "$(cat "$TMP/err")" "gridsync: open $R: $SEALED"
printf '{"type":"person","id":"P-9","fields":{"name":"I"}}\n' >"$TMP/one.jsonl"
expect_rc "import, no passphrase, no tty" 1 notty "${T[@]}" "$GS" -r "$R" \
    import "$TMP/one.jsonl"
expect_grep "import says how" "$SEALED" "$TMP/err"
expect_rc "agent, no passphrase, no tty" 1 notty "${T[@]}" "$GS" -r "$R" \
    agent --endpoint tcp://127.0.0.1:1
expect_grep "agent says how" "$SEALED" "$TMP/err"
expect_rc "sync, no passphrase, no tty" 1 notty "${T[@]}" "$GS" -r "$R" \
    sync "$DEV@tcp://127.0.0.1:1" --timeout 1
expect_grep "sync says how" "$SEALED" "$TMP/err"
[ $((SECONDS - t0)) -lt 30 ] && ok || fail "refusals took $((SECONDS - t0)) s"
expect_eq "nothing written" "$("$GS" -r "$R" digest)" "$D0"

# ---- a wrong passphrase: exit 1, clear, nothing changed ----
WRONG="wrong passphrase for the device key in $R/device.key"
expect_rc "put, wrong passphrase file" 1 notty "${T[@]}" "$GS" -r "$R" put \
    person P-1 name=A --passphrase-file "$TMP/wrong"
expect_grep "put names the key file" "^gridsync: open $R: $WRONG; " \
    "$TMP/err"
expect_rc "put, wrong passphrase variable" 1 env \
    GRIDSYNC_PASSPHRASE=nope setsid -w "${T[@]}" "$GS" -r "$R" put person \
    P-1 name=A </dev/null
expect_grep "variable: same message" "$WRONG" "$TMP/err"
expect_rc "import, wrong passphrase" 1 notty "${T[@]}" "$GS" -r "$R" import \
    "$TMP/one.jsonl" --passphrase-file "$TMP/wrong"
expect_grep "import: same message" "$WRONG" "$TMP/err"
expect_rc "sync, wrong passphrase" 1 notty "${T[@]}" "$GS" -r "$R" sync \
    "$DEV@tcp://127.0.0.1:1" --timeout 1 --passphrase-file "$TMP/wrong"
expect_grep "sync: same message" "$WRONG" "$TMP/err"
expect_rc "agent, wrong passphrase" 1 notty "${T[@]}" "$GS" -r "$R" agent \
    --endpoint tcp://127.0.0.1:1 --passphrase-file "$TMP/wrong"
expect_grep "agent: same message" "$WRONG" "$TMP/err"
expect_rc "empty passphrase file" 1 notty "${T[@]}" "$GS" -r "$R" put \
    person P-1 name=A --passphrase-file "$TMP/empty"
expect_grep "empty is refused" "is empty" "$TMP/err"
expect_rc "missing passphrase file" 1 notty "${T[@]}" "$GS" -r "$R" put \
    person P-1 name=A --passphrase-file "$TMP/no-such-file"
expect_grep "missing file named" "$TMP/no-such-file" "$TMP/err"
expect_eq "nothing changed by wrong passphrases" "$("$GS" -r "$R" digest)" \
    "$D0"
if grep -q "$PASS\|Tr0ub4dor\|nope" "$TMP/err" "$TMP/out"; then
    fail "a passphrase was printed"
else ok; fi

# ---- the right passphrase: file or variable ----
expect_rc "put with the passphrase file" 0 notty "${T[@]}" "$GS" -r "$R" \
    put person P-1 name=A --passphrase-file "$TMP/pass"
expect_rc "put with the variable" 0 env GRIDSYNC_PASSPHRASE="$PASS" \
    setsid -w "${T[@]}" "$GS" -r "$R" put person P-2 name=B </dev/null
expect_rc "import with the passphrase file" 0 notty "${T[@]}" "$GS" -r "$R" \
    import "$TMP/one.jsonl" --passphrase-file "$TMP/pass"
# the unsealed key is the one init printed: it signed these ops
author=$("$GS" -r "$R" history person P-1 | json_field author)
expect_eq "unsealed key is the device key" "$author" "$DEV"
author=$("$GS" -r "$R" history person P-9 | json_field author)
expect_eq "import signed by the device key" "$author" "$DEV"
expect_eq "rebuild agrees" "$("$GS" -r "$R" digest --rebuild)" \
    "$("$GS" -r "$R" digest)"

# ---- init: an empty passphrase or none at all makes nothing ----
expect_rc "init, empty passphrase" 1 notty "${T[@]}" "$GS" init "$TMP/e1" \
    --scope yc.t --passphrase-file "$TMP/empty"
expect_grep "init refuses empty" "is empty" "$TMP/err"
[ ! -e "$TMP/e1" ] && ok || fail "init with an empty passphrase made $TMP/e1"
expect_rc "init --passphrase, no source" 1 notty "${T[@]}" "$GS" init \
    "$TMP/e2" --scope yc.t --passphrase
expect_grep "init says how" "GRIDSYNC_PASSPHRASE, or run from a terminal" \
    "$TMP/err"
[ ! -e "$TMP/e2" ] && ok || fail "init with no passphrase made $TMP/e2"
expect_rc "init --passphrase from the variable" 0 env \
    GRIDSYNC_PASSPHRASE="$PASS" setsid -w "${T[@]}" "$GS" init "$TMP/e3" \
    --scope yc.t --passphrase </dev/null
expect_eq "sealed from the variable" "$(head -n 1 "$TMP/e3/device.key")" \
    "gridsync-key v1 sealed"

# ---- a replica in clear: as before, never a prompt ----
U=$TMP/plain
out=$("$GS" init "$U" --scope yc.t.g2 --json) || fail "init plain"
UDEV=$(printf '%s' "$out" | json_field device)
expect_eq "plain key file" "$(head -n 1 "$U/device.key")" \
    "gridsync-key v1 plain"
expect_eq "plain key file mode" "$(stat -c %a "$U/device.key")" 600
expect_rc "put in clear, no tty" 0 notty "${T[@]}" "$GS" -r "$U" put person \
    P-1 name=A
expect_rc "put in clear ignores the variable" 0 env GRIDSYNC_PASSPHRASE=x \
    setsid -w "${T[@]}" "$GS" -r "$U" put person P-2 name=B </dev/null
chmod 644 "$U/device.key"
expect_rc "key file open to others" 1 notty "${T[@]}" "$GS" -r "$U" digest
expect_grep "says chmod 600" "chmod 600" "$TMP/err"
chmod 600 "$U/device.key"

# ---- key passphrase: seal a key kept in clear, then change it ----
SEED=$(sed -n 2p "$U/device.key")
SEED_B64=$(python3 -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$SEED")
DU=$("$GS" -r "$U" digest)
expect_rc "seal an existing key" 0 notty "${T[@]}" "$GS" -r "$U" key \
    passphrase --new-passphrase-file "$TMP/pass"
expect_eq "now sealed" "$(head -n 1 "$U/device.key")" "gridsync-key v1 sealed"
expect_eq "still 0600" "$(stat -c %a "$U/device.key")" 600
if grep -qiF -e "$SEED" -e "$SEED_B64" -e "${SEED_B64%%=*}" "$U/device.key"; then
    fail "the sealed file holds the seed it had in clear"
else ok; fi
[ ! -e "$U/device.key.tmp" ] && ok || fail "device.key.tmp left behind"
expect_eq "data untouched" "$("$GS" -r "$U" digest)" "$DU"
expect_rc "sealed now: put asks" 1 notty "${T[@]}" "$GS" -r "$U" put person \
    P-3 name=C
expect_grep "sealed now: message" "$SEALED" "$TMP/err"
expect_rc "sealed now: put with it" 0 notty "${T[@]}" "$GS" -r "$U" put \
    person P-3 name=C --passphrase-file "$TMP/pass"
author=$("$GS" -r "$U" history person P-3 | json_field author)
expect_eq "same device key after sealing" "$author" "$UDEV"
cp "$U/device.key" "$TMP/before.key"
expect_rc "change it with a wrong current one" 1 notty "${T[@]}" "$GS" -r \
    "$U" key passphrase --passphrase-file "$TMP/wrong" \
    --new-passphrase-file "$TMP/pass2"
expect_grep "change: wrong" "wrong passphrase for the device key" "$TMP/err"
cmp -s "$U/device.key" "$TMP/before.key" && ok ||
    fail "a failed change touched the key file"
expect_rc "change it, no new one and no tty" 1 notty "${T[@]}" "$GS" -r \
    "$U" key passphrase --passphrase-file "$TMP/pass"
expect_grep "change: asks for the new one" "new passphrase is needed" \
    "$TMP/err"
cmp -s "$U/device.key" "$TMP/before.key" && ok ||
    fail "a refused change touched the key file"
expect_rc "change the passphrase" 0 notty "${T[@]}" "$GS" -r "$U" key \
    passphrase --passphrase-file "$TMP/pass" --new-passphrase-file \
    "$TMP/pass2"
expect_rc "the old one no longer opens it" 1 notty "${T[@]}" "$GS" -r "$U" \
    put person P-4 name=D --passphrase-file "$TMP/pass"
expect_rc "the new one does" 0 notty "${T[@]}" "$GS" -r "$U" put person \
    P-4 name=D --passphrase-file "$TMP/pass2"
author=$("$GS" -r "$U" history person P-4 | json_field author)
expect_eq "same device key after the change" "$author" "$UDEV"

# ---- agent and sync with sealed keys on both sides ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
S=$TMP/station
out=$("$GS" init "$S" --scope yc.s1 --passphrase-file "$TMP/pass" --json) ||
    fail "init station"
SDEV=$(printf '%s' "$out" | json_field device)
B=$TMP/tablet
out=$("$GS" init "$B" --scope yc.s1.g1 --authority "$SDEV" \
    --passphrase-file "$TMP/pass2" --json) || fail "init tablet"
BDEV=$(printf '%s' "$out" | json_field device)
"$GS" -r "$S" config set agent.endpoint "tcp://127.0.0.1:$port" >/dev/null
"$GS" -r "$S" config set agent.accept "$BDEV" >/dev/null
"$GS" -r "$B" put person P-1 name=tablet --passphrase-file "$TMP/pass2" \
    >/dev/null || fail "tablet put"
setsid "$GS" -r "$S" agent --passphrase-file "$TMP/pass" \
    </dev/null 2>"$TMP/agent.log" &
PIDS+=($!)
for _ in $(seq 100); do
    grep -q "listening" "$TMP/agent.log" && break
    sleep 0.1
done
expect_grep "sealed agent runs" "listening on tcp://127.0.0.1:$port" \
    "$TMP/agent.log"
expect_grep "agent is the station's key" "device $SDEV" "$TMP/agent.log"
# CURVE proves both keys: the tablet dials the station's device key, and
# the station admits only the tablet's.
expect_rc "sealed tablet syncs" 0 notty "${T[@]}" "$GS" -r "$B" sync \
    "$SDEV@tcp://127.0.0.1:$port" --timeout 20 --passphrase-file \
    "$TMP/pass2" --json
expect_eq "the peer is the station's key" "$(json_field peer <"$TMP/out")" \
    "$SDEV"
expect_eq "sync ok" "$(json_field ok <"$TMP/out")" True
if grep -q "$PASS\|a new passphrase" "$TMP/agent.log"; then
    fail "the agent logged a passphrase"
else ok; fi
kill -TERM "${PIDS[-1]}" 2>/dev/null
for _ in $(seq 50); do kill -0 "${PIDS[-1]}" 2>/dev/null || break; sleep 0.1; done
kill -0 "${PIDS[-1]}" 2>/dev/null && fail "agent did not stop on SIGTERM" || ok
expect_grep "agent stopped cleanly" "stopped" "$TMP/agent.log"

# ---- the terminal: asked, never echoed; twice at init ----
python3 - "$GS" "$TMP" >"$TMP/pty.out" 2>&1 <<'PY'
import os, pty, select, sys, time
gs, tmp = sys.argv[1], sys.argv[2]
fails = 0

def run(argv, answers, timeout=30):
    """Run argv on a new pty (its controlling terminal); each answer is
    (prompt bytes, reply bytes), sent once the prompt has shown."""
    env = {k: v for k, v in os.environ.items() if k != "GRIDSYNC_PASSPHRASE"}
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    out, seen, answers = b"", 0, list(answers)
    end = time.time() + timeout
    while time.time() < end:
        if answers and answers[0][0] in out[seen:]:
            seen = out.index(answers[0][0], seen) + len(answers[0][0])
            os.write(fd, answers.pop(0)[1])
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        out += b
    else:
        os.kill(pid, 9)
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(st), out.decode("utf-8", "replace")

def check(what, cond, out=""):
    global fails
    if not cond:
        fails += 1
        print("FAIL: %s\n%s" % (what, out))

pw = "pty pass 1"
rc, out = run([gs, "init", tmp + "/tty", "--scope", "yc.t", "--passphrase"],
              [(b"passphrase for the new device key: ", pw.encode() + b"\n"),
               (b"again: ", pw.encode() + b"\n")])
check("tty init exit 0", rc == 0, out)
check("tty init asks twice", "again" in out, out)
check("tty init: no echo", pw not in out, out)
check("tty init sealed",
      open(tmp + "/tty/device.key").readline() == "gridsync-key v1 sealed\n")

rc, out = run([gs, "-r", tmp + "/tty", "put", "person", "P-1", "name=x"],
              [(b"passphrase of the device key", pw.encode() + b"\n")])
check("tty put exit 0", rc == 0, out)
check("tty put: no echo", pw not in out, out)
check("tty put asks once", out.count("passphrase of") == 1, out)

rc, out = run([gs, "-r", tmp + "/tty", "put", "person", "P-1", "name=y"],
              [(b"passphrase of the device key", b"not it\n")])
check("tty put, wrong: exit 1", rc == 1, out)
check("tty put, wrong: says so", "wrong passphrase" in out, out)
check("tty put, wrong: no echo", "not it" not in out, out)

rc, out = run([gs, "init", tmp + "/tty2", "--scope", "yc.t", "--passphrase"],
              [(b"passphrase for the new device key: ", b"one\n"),
               (b"again: ", b"two\n")])
check("tty init mismatch: exit 1", rc == 1, out)
check("tty init mismatch: says so", "differ" in out, out)
check("tty init mismatch: nothing made", not os.path.exists(tmp + "/tty2"))

rc, out = run([gs, "init", tmp + "/tty3", "--scope", "yc.t", "--passphrase"],
              [(b"passphrase for the new device key: ", b"\n")])
check("tty init empty: exit 1", rc == 1, out)
check("tty init empty: says so", "empty" in out, out)
check("tty init empty: nothing made", not os.path.exists(tmp + "/tty3"))
print("pty checks failed: %d" % fails)
sys.exit(1 if fails else 0)
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "terminal checks: $(cat "$TMP/pty.out")"
finish
