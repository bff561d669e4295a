/*
 * passphrase.h — where the command line gets the passphrase of a sealed
 * device key: --passphrase-file FILE (its first line), else the variable
 * GRIDSYNC_PASSPHRASE, else the terminal (/dev/tty, echo off).
 *
 * The passphrase lives only in sodium_malloc memory and is wiped by
 * gs_cli_pass_free; it is never echoed, printed or logged. The terminal is
 * the safe source: a file can be read by whoever reads the file (and
 * root), a variable by root and processes of the same user
 * (/proc/PID/environ) and by every child process.
 *
 * Thread safety: none; the command line is one thread when it asks.
 */
#ifndef GS_CLI_PASSPHRASE_H
#define GS_CLI_PASSPHRASE_H

#include "gridsync.h"

#include <stdbool.h>
#include <stddef.h>

#define GS_CLI_PASS_ENV "GRIDSYNC_PASSPHRASE"
#define GS_CLI_PASS_MAX 1024 /* bytes; a longer passphrase is refused */

/* Get a passphrase: the first line of file if file is not NULL (without
 * its "\n" or "\r\n"), else $GRIDSYNC_PASSPHRASE if it is set (use_env),
 * else from the terminal after prompt — twice if confirm, and the two
 * must match. *pass gets sodium_malloc memory holding *len bytes and a
 * NUL, freed (and wiped) with gs_cli_pass_free; written only on success.
 * Errors, with a sentence in why:
 *   GS_ENOTFOUND  no source: no file given, no variable, no terminal
 *   GS_EINVAL     the passphrase is empty or over GS_CLI_PASS_MAX, or the
 *                 two typed differ
 *   GS_EPERM, GS_EIO  the file cannot be read; GS_ENOMEM */
GS_MUST_CHECK gs_err gs_cli_pass_get(const char *file, bool use_env,
                                     const char *prompt, bool confirm,
                                     char **pass, size_t *len, char *why,
                                     size_t why_len);

/* Wipe and free a passphrase of gs_cli_pass_get. NULL-safe. */
void gs_cli_pass_free(char *pass);

#endif /* GS_CLI_PASSPHRASE_H */
