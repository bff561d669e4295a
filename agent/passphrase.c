/*
 * passphrase.c — the passphrase of a sealed device key, from a file, the
 * environment or the terminal (passphrase.h has the order and the
 * trade-offs; docs/cli.md tells the operator).
 *
 * Invariants:
 * - Every byte of a passphrase, as read, sits in sodium_malloc memory:
 *   read(2) writes straight into it, one byte at a time from the terminal
 *   and the file, so no stdio buffer holds a copy. sodium_free wipes it.
 * - The terminal's echo is off only while a line is read, and is put back
 *   on every way out: the normal one, and SIGINT, SIGTERM, SIGHUP and
 *   SIGQUIT, whose handlers restore it and then die of the signal.
 * - Nothing here prints a passphrase; the messages name only its source.
 *
 * SPEC: DESIGN §5 (keys optionally sealed by a passphrase); docs/cli.md.
 */
#include "passphrase.h"

#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The terminal while its echo is off, for the signal handler. */
static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_quiet;

static const int tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_TTY_SIGNALS (sizeof tty_signals / sizeof tty_signals[0])

static void
on_tty_signal(int sig)
{
    /* tcsetattr, signal and raise are async-signal-safe */
    if (tty_quiet)
        (void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Read one line from fd into buf (cap bytes and a NUL), a byte at a time
 * and straight into buf, without its "\n" or "\r\n". *len is the line's
 * length; a longer line is read to its end (buf[cap] is the scratch byte)
 * and refused with GS_EINVAL. EOF ends a line. */
static gs_err
read_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool over = false;
    for (;;) {
        char *at = buf + (n < cap ? n : cap);
        ssize_t r = read(fd, at, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return GS_EIO;
        if (r == 0 || *at == '\n')
            break;
        if (n < cap)
            n++;
        else
            over = true;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    *len = n;
    return over ? GS_EINVAL : GS_OK;
}

/* Ask on the terminal fd with echo off. Echo goes off before the prompt
 * shows, so nothing typed after the prompt is ever echoed. GS_ENOTFOUND
 * if fd is not a terminal. */
static gs_err
tty_ask(int fd, const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct termios quiet;
    struct sigaction sa, old[N_TTY_SIGNALS];
    gs_err rc;

    if (tcgetattr(fd, &tty_saved) != 0)
        return GS_ENOTFOUND;
    quiet = tty_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tty_signal;
    sigemptyset(&sa.sa_mask);
    tty_fd = fd;
    for (size_t i = 0; i < N_TTY_SIGNALS; i++)
        sigaction(tty_signals[i], &sa, &old[i]);
    tty_quiet = 1;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0 ||
        write(fd, prompt, strlen(prompt)) < 0)
        rc = GS_EIO;
    else
        rc = read_line(fd, buf, cap, len);
    (void)tcsetattr(fd, TCSAFLUSH, &tty_saved);
    tty_quiet = 0;
    /* echo was off: the Enter the operator typed did not show */
    if (write(fd, "\n", 1) < 0 && rc == GS_OK)
        rc = GS_EIO;
    for (size_t i = 0; i < N_TTY_SIGNALS; i++)
        sigaction(tty_signals[i], &old[i], NULL);
    tty_fd = -1;
    return rc;
}

static gs_err
tty_said(gs_err rc, char *why, size_t why_len)
{
    if (rc == GS_EINVAL)
        return gs_why(why, why_len, rc, "the passphrase is longer than %d bytes",
                   GS_CLI_PASS_MAX);
    if (rc != GS_OK && rc != GS_ENOTFOUND)
        return gs_why(why, why_len, rc,
                   "cannot read the passphrase from the terminal");
    return rc;
}

/* From the controlling terminal; GS_ENOTFOUND if there is none (a daemon,
 * cron, setsid, a CI runner). */
static gs_err
from_tty(const char *prompt, bool confirm, char *buf, size_t *len, char *why,
         size_t why_len)
{
    char *again = NULL;
    size_t n2 = 0;
    gs_err rc;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return GS_ENOTFOUND;
    rc = tty_said(tty_ask(fd, prompt, buf, GS_CLI_PASS_MAX, len), why, why_len);
    if (rc == GS_OK && confirm && *len > 0) {
        again = sodium_malloc(GS_CLI_PASS_MAX + 1);
        if (again == NULL)
            rc = gs_why(why, why_len, GS_ENOMEM, "out of memory");
        else
            rc = tty_said(tty_ask(fd, "the same passphrase again: ", again,
                                  GS_CLI_PASS_MAX, &n2),
                          why, why_len);
        if (rc == GS_OK && (n2 != *len || sodium_memcmp(again, buf, n2) != 0))
            rc = gs_why(why, why_len, GS_EINVAL,
                     "the two passphrases differ; nothing was done");
    }
    sodium_free(again);
    close(fd);
    return rc;
}

static gs_err
from_file(const char *file, char *buf, size_t *len, char *why, size_t why_len)
{
    gs_err rc;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        int e = errno;
        return gs_why(why, why_len,
                   e == ENOENT                 ? GS_ENOTFOUND
                   : e == EACCES || e == EPERM ? GS_EPERM
                                               : GS_EIO,
                   "cannot read the passphrase file %s: %s", file, strerror(e));
    }
    rc = read_line(fd, buf, GS_CLI_PASS_MAX, len);
    close(fd);
    if (rc == GS_EINVAL)
        return gs_why(why, why_len, rc,
                   "the first line of %s is longer than %d bytes", file,
                   GS_CLI_PASS_MAX);
    if (rc != GS_OK)
        return gs_why(why, why_len, rc, "cannot read the passphrase file %s",
                   file);
    return GS_OK;
}

gs_err
gs_cli_pass_get(const char *file, bool use_env, const char *prompt,
                bool confirm, char **pass, size_t *len, char *why,
                size_t why_len)
{
    const char *env = use_env ? getenv(GS_CLI_PASS_ENV) : NULL;
    const char *source;
    size_t n = 0;
    gs_err rc;

    if (why && why_len)
        why[0] = 0;
    if (sodium_init() < 0)
        return gs_why(why, why_len, GS_EIO, "libsodium cannot start");
    char *buf = sodium_malloc(GS_CLI_PASS_MAX + 1);
    if (buf == NULL)
        return gs_why(why, why_len, GS_ENOMEM, "out of memory");
    if (file != NULL) {
        source = file;
        rc = from_file(file, buf, &n, why, why_len);
    } else if (env != NULL) {
        source = "$" GS_CLI_PASS_ENV;
        n = strlen(env);
        if (n > GS_CLI_PASS_MAX)
            rc = gs_why(why, why_len, GS_EINVAL, "%s is longer than %d bytes",
                     source, GS_CLI_PASS_MAX);
        else
            rc = GS_OK;
        if (rc == GS_OK)
            memcpy(buf, env, n + 1);
    } else {
        source = "the terminal";
        rc = from_tty(prompt, confirm, buf, &n, why, why_len);
    }
    if (rc == GS_OK && n == 0)
        rc = gs_why(why, why_len, GS_EINVAL,
                 "the passphrase from %s is empty; an empty passphrase "
                 "protects nothing and is refused",
                 source);
    if (rc != GS_OK) {
        sodium_free(buf);
        return rc;
    }
    *pass = buf;
    *len = n;
    return GS_OK;
}

void
gs_cli_pass_free(char *pass)
{
    sodium_free(pass); /* zeroes before unmapping; NULL-safe */
}
