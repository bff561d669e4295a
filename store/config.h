/*
 * config.h — the per-replica config file (INI).
 *
 * DESIGN §7: sensible defaults, every default printed by `gridsync
 * config`. The known keys, their types, defaults and one-line help are one
 * table in config.c; adding a key is adding a row there. Keys are named
 * "section.name" ("agent.sync_interval").
 *
 * File syntax: "[section]" lines, "name = value" lines, whole-line
 * comments starting with '#' or ';', blank lines. Whitespace around
 * section names, names and values is trimmed; values are taken literally
 * otherwise (no quotes, no inline comments: "30 # s" is not a number). A
 * UTF-8 byte order mark at the start is skipped. Strict on purpose: an
 * unknown section or key, a key set twice, a key outside a section or a
 * bad value is an error naming its line, because a typo silently ignored
 * is a default silently used.
 *
 * Value types: text (printable UTF-8, at most 255 bytes); number (decimal,
 * within the key's range); key (empty or 64 hex digits, stored lowercase);
 * endpoint (tcp://HOST:PORT or ipc://PATH); endpoints (comma-separated
 * endpoints, may be empty).
 *
 * Ownership: a gs_config is created by gs_config_new_default, _parse or
 * _load, and freed by the caller with gs_config_free. Strings returned by
 * gs_config_get and passed to gs_config_each borrow from the config (or
 * the static table) and stay valid until the next gs_config_set on that
 * key or gs_config_free.
 *
 * Thread safety: one owner per gs_config; reads from several threads are
 * safe while nobody sets.
 */
#ifndef GS_CONFIG_H
#define GS_CONFIG_H

#include "gridsync.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_CONFIG_FILE_MAX 65536 /* bytes of a config file */
#define GS_CONFIG_VALUE_MAX 4096 /* bytes of one value */
#define GS_CONFIG_TEXT_MAX 255   /* bytes of a text value */
#define GS_CONFIG_DIAG_BYTES 192 /* gs_config_diag.msg, with NUL */

typedef struct gs_config gs_config;

/* Why a parse failed: 1-based line (0 when not about one line, e.g. a
 * file too big) and a message that says what is wrong, e.g.
 * "unknown key 'intervall' in [agent]". */
typedef struct gs_config_diag {
    size_t line;
    char msg[GS_CONFIG_DIAG_BYTES];
} gs_config_diag;

/* One key as gs_config_each reports it. All strings borrowed. */
typedef struct gs_config_entry {
    const char *key;     /* "agent.sync_interval" */
    const char *section; /* "agent" */
    const char *name;    /* "sync_interval" */
    const char *type;    /* "text", "number", "key", "endpoint", "endpoints" */
    const char *value;   /* the value in force (the default if unset) */
    const char *def;     /* the default */
    const char *help;    /* one line, no trailing period */
    bool is_set;         /* value set by the file or gs_config_set */
} gs_config_entry;

typedef void gs_config_each_fn(const gs_config_entry *e, void *ctx);

/* A config with every key at its default. Errors: GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_config_new_default(gs_config **out);

/* NULL-safe. */
void gs_config_free(gs_config *cfg);

/* Parse len bytes of INI text (borrowed; need not be NUL-terminated).
 * Keys absent from the text take their defaults. diag may be NULL; it is
 * written on failure. *out is written only on success.
 * Errors: GS_EMALFORMED (unknown section or key, key set twice, line not
 * understood, bad value, NUL byte, invalid UTF-8 — diag names the line),
 * GS_ETOOBIG (over GS_CONFIG_FILE_MAX), GS_ENOMEM, GS_EINVAL. */
GS_MUST_CHECK gs_err gs_config_parse(const char *text, size_t len,
                                     gs_config_diag *diag, gs_config **out);

/* Read and parse the file at path. As gs_config_parse, plus:
 * GS_ENOTFOUND (no file), GS_EPERM (not readable), GS_EIO. */
GS_MUST_CHECK gs_err gs_config_load(const char *path, gs_config_diag *diag,
                                    gs_config **out);

/* Value in force for key ("section.name"): the set value or the default.
 * NULL if the key is unknown. */
const char *gs_config_get(const gs_config *cfg, const char *key);

/* Number value of key. *out written only on success.
 * Errors: GS_ENOTFOUND (unknown key), GS_EINVAL (not a number key). */
GS_MUST_CHECK gs_err gs_config_get_u64(const gs_config *cfg, const char *key,
                                       uint64_t *out);

/* Set key to value (copied) after checking it as the file parser does;
 * value NULL resets the key to its default. On failure cfg is unchanged.
 * Errors: GS_ENOTFOUND (unknown key), GS_EINVAL (bad value; diag, if not
 * NULL, says why with line 0), GS_ETOOBIG (value over
 * GS_CONFIG_VALUE_MAX), GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_config_set(gs_config *cfg, const char *key,
                                   const char *value, gs_config_diag *diag);

/* Call cb for every known key, in table order. */
void gs_config_each(const gs_config *cfg, gs_config_each_fn *cb, void *ctx);

/* The config as INI text: a header comment, then every key under its
 * section with its help and default as a comment and its value in force.
 * gs_config_parse of the text gives an equal config. *text (malloc'd,
 * NUL-terminated, caller frees) and *len written only on success.
 * Errors: GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_config_encode(const gs_config *cfg, char **text,
                                      size_t *len);

/* Write gs_config_encode's text to path atomically (path.tmp, fsync,
 * rename, fsync of the directory), replacing any file there; mode 0644
 * narrowed by the umask. Errors: GS_ENOTFOUND (directory missing),
 * GS_EPERM, GS_EFULL, GS_EEXIST (path.tmp exists: another write is under
 * way or was interrupted), GS_EIO, GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_config_write(const gs_config *cfg, const char *path);

/* True if both configs have the same value in force for every key. */
bool gs_config_equal(const gs_config *a, const gs_config *b);

#endif
