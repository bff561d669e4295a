/*
 * config.c — the per-replica INI config: the table of known keys, a
 * strict parser, a writer that lists every key with its help and default.
 *
 * Invariants:
 * - The table `keys` is the only list of keys. Parser, getters, setter,
 *   writer and gs_config_each all walk it; adding a key is adding a row
 *   (keep a section's rows together so the writer prints one header).
 *   Every default must pass its own type check (tested).
 * - A value in a gs_config has passed check_value: readers never re-check
 *   and gs_config_get_u64 cannot fail on a number key's value.
 * - vals[i] == NULL means "not set": the default is in force. Setting a
 *   key to its default still counts as set (gs_config_each's is_set).
 * - Input is bounded: the file by GS_CONFIG_FILE_MAX before it is read,
 *   each value by GS_CONFIG_VALUE_MAX.
 *
 * SPEC: DESIGN.md §7 (INI per replica, every default printed).
 */
#include "config.h"

#include "buf.h"
#include "file.h"
#include "op.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum kind { K_TEXT, K_NUMBER, K_KEY, K_ENDPOINT, K_PEERS, K_KEYS, K_SCOPE };

static const char *const kind_names[] = {
    [K_TEXT] = "text",         [K_NUMBER] = "number",       [K_KEY] = "key",
    [K_ENDPOINT] = "endpoint", [K_PEERS] = "peers",
    [K_KEYS] = "keys",
    [K_SCOPE] = "scope",
};

struct key_def {
    const char *key; /* "section.name" */
    const char *section;
    const char *name;
    enum kind kind;
    uint64_t min, max; /* K_NUMBER only */
    const char *def;
    const char *help;
};

#define ROW(sec, nam, kind, min, max, def, help)                               \
    {                                                                          \
        sec "." nam, sec, nam, kind, min, max, def, help                       \
    }

static const struct key_def keys[] = {
    ROW("replica", "name", K_TEXT, 0, 0, "",
        "name of this replica shown to peers and in listings; empty = the "
        "replica directory's name"),
    ROW("replica", "scope", K_SCOPE, 0, 0, "",
        "org path this device writes in, e.g. yc.yimei.nanjun.xinxin.g012; "
        "set by 'gridsync init --scope'"),
    ROW("network", "authority", K_KEY, 0, 0, "",
        "public key (64 hex digits) of the district authority that "
        "certifies devices; empty = not set yet"),
    ROW("agent", "endpoint", K_ENDPOINT, 0, 0, "tcp://127.0.0.1:7420",
        "where the agent listens for peers: tcp://HOST:PORT or ipc://PATH"),
    ROW("agent", "peers", K_PEERS, 0, 0, "",
        "peers this agent dials, as DEVICE_KEY@ENDPOINT (the peer's device "
        "key, 64 hex digits, as 'gridsync init' printed it), separated by "
        "commas; empty = dial nobody"),
    ROW("agent", "accept", K_KEYS, 0, 0, "",
        "device keys (64 hex digits) allowed to dial this agent, separated "
        "by commas; the keys in agent.peers are allowed too"),
    ROW("agent", "sync_interval", K_NUMBER, 1, 86400, "30",
        "seconds between sync rounds with each configured peer"),
    ROW("store", "map_size_mib", K_NUMBER, 1, UINT64_C(1) << 20, "64",
        "initial size of the LMDB map in MiB; the map grows by itself "
        "when full"),
    ROW("store", "max_map_mib", K_NUMBER, 0, UINT64_C(1) << 30, "0",
        "cap in MiB for automatic map growth; 0 = grow until the disk is "
        "full"),
};

#define NKEYS (sizeof keys / sizeof keys[0])

struct gs_config {
    char *vals[NKEYS]; /* malloc'd, checked; NULL = default */
};

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static void
diag_set(gs_config_diag *d, size_t line, const char *fmt, ...)
{
    va_list ap;
    if (!d)
        return;
    d->line = line;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
}

static const struct key_def *
find_key(const char *key, size_t *idx)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (!strcmp(keys[i].key, key)) {
            if (idx)
                *idx = i;
            return &keys[i];
        }
    }
    return NULL;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void
trim(const char **p, size_t *n)
{
    while (*n > 0 && is_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*p)[*n - 1]))
        (*n)--;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Decimal digits only, no sign, no overflow. */
static bool
parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool
text_ok(const char *p, size_t n)
{
    if (n > GS_CONFIG_TEXT_MAX || !gs_utf8_valid((const uint8_t *)p, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* tcp://HOST:PORT (HOST a name, address, interface, '*' or [IPv6]) or
 * ipc://PATH. ZeroMQ checks the rest when it binds or connects. */
static bool
endpoint_ok(const char *p, size_t n)
{
    if (n > 6 && !memcmp(p, "ipc://", 6)) {
        for (size_t i = 6; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c <= 0x20 || c == 0x7f || c == ',')
                return false;
        }
        return true;
    }
    if (n <= 6 || memcmp(p, "tcp://", 6))
        return false;
    p += 6;
    n -= 6;
    const char *colon = NULL;
    for (size_t i = n; i > 0; i--) {
        if (p[i - 1] == ':') {
            colon = p + i - 1;
            break;
        }
    }
    if (!colon || colon == p)
        return false;
    size_t hlen = (size_t)(colon - p), plen = n - hlen - 1;
    uint64_t port;
    if (plen > 5 || !parse_u64(colon + 1, plen, &port) || port == 0 ||
        port > 65535)
        return false;
    if (p[0] == '[') {
        if (hlen < 3 || p[hlen - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < hlen; i++)
            if (!is_alnum(p[i]) && p[i] != ':' && p[i] != '.' && p[i] != '%')
                return false;
        return true;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!is_alnum(p[i]) && p[i] != '.' && p[i] != '-' && p[i] != '_' &&
            p[i] != '*')
            return false;
    return true;
}

static bool
key_ok(char *p, size_t n)
{
    if (n == 0)
        return true;
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'F')
            p[i] = (char)(c - 'A' + 'a'); /* one spelling per key */
        else if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
            return false;
    }
    return true;
}

/* DEVICE_KEY@ENDPOINT: CURVE needs the peer's key before it connects. */
static bool
peer_ok(char *p, size_t n)
{
    char *at = memchr(p, '@', n);
    if (!at || at == p)
        return false;
    size_t kn = (size_t)(at - p);
    return key_ok(p, kn) && endpoint_ok(at + 1, n - kn - 1);
}

static bool
nonempty_key_ok(char *p, size_t n)
{
    return n != 0 && key_ok(p, n);
}

/* Items separated by commas, spaces around them allowed, none empty. */
static bool
list_ok(char *p, size_t n, bool (*item_ok)(char *, size_t))
{
    if (n == 0)
        return true;
    for (;;) {
        char *comma = memchr(p, ',', n);
        size_t item = comma ? (size_t)(comma - p) : n;
        const char *q = p;
        size_t m = item;
        trim(&q, &m);
        if (!item_ok((char *)q, m))
            return false;
        if (!comma)
            return true;
        p += item + 1;
        n -= item + 1;
    }
}

/* Check v (n bytes, NUL-terminated, ours to normalise) against k. On
 * failure say why in diag. */
static bool
check_value(const struct key_def *k, char *v, size_t n, gs_config_diag *diag,
            size_t line)
{
    uint64_t u;
    switch (k->kind) {
    case K_TEXT:
        if (text_ok(v, n))
            return true;
        diag_set(diag, line,
                 "'%s' must be printable UTF-8 text of at most %d bytes",
                 k->key, GS_CONFIG_TEXT_MAX);
        return false;
    case K_NUMBER:
        if (parse_u64(v, n, &u) && u >= k->min && u <= k->max)
            return true;
        diag_set(diag, line, "'%s' must be a whole number from %llu to %llu",
                 k->key, (unsigned long long)k->min,
                 (unsigned long long)k->max);
        return false;
    case K_KEY:
        if (key_ok(v, n))
            return true;
        diag_set(diag, line,
                 "'%s' must be 64 hex digits (a public key) or "
                 "empty",
                 k->key);
        return false;
    case K_SCOPE:
        if (n == 0 || gs_scope_valid((const uint8_t *)v, n))
            return true;
        diag_set(diag, line,
                 "'%s' must be a dotted org path of lower-case letters, "
                 "digits, - and _ (e.g. yc.yimei.nanjun) or empty",
                 k->key);
        return false;
    case K_ENDPOINT:
        if (endpoint_ok(v, n))
            return true;
        diag_set(diag, line, "'%s' must be tcp://HOST:PORT or ipc://PATH",
                 k->key);
        return false;
    case K_PEERS:
        if (list_ok(v, n, peer_ok))
            return true;
        diag_set(diag, line,
                 "'%s' must be DEVICE_KEY@ENDPOINT items (64 hex digits, "
                 "then tcp://HOST:PORT or ipc://PATH) separated by commas",
                 k->key);
        return false;
    case K_KEYS:
        if (list_ok(v, n, nonempty_key_ok))
            return true;
        diag_set(diag, line,
                 "'%s' must be device keys (64 hex digits) separated by "
                 "commas",
                 k->key);
        return false;
    }
    return false;
}

gs_err
gs_config_new_default(gs_config **out)
{
    if (!out)
        return GS_EINVAL;
    gs_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return GS_ENOMEM;
    *out = cfg;
    return GS_OK;
}

void
gs_config_free(gs_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        free(cfg->vals[i]);
    free(cfg);
}

/* Trim, copy, check and store value p[0..n) for key i. */
static gs_err
store_value(gs_config *cfg, size_t i, const char *p, size_t n,
            gs_config_diag *diag, size_t line)
{
    trim(&p, &n);
    if (n > GS_CONFIG_VALUE_MAX) {
        diag_set(diag, line, "value of '%s' is longer than %d bytes",
                 keys[i].key, GS_CONFIG_VALUE_MAX);
        return GS_ETOOBIG;
    }
    char *v = malloc(n + 1);
    if (!v)
        return GS_ENOMEM;
    memcpy(v, p, n);
    v[n] = '\0';
    if (memchr(v, '\0', n)) {
        diag_set(diag, line, "value of '%s' holds a NUL byte", keys[i].key);
        free(v);
        return GS_EINVAL;
    }
    if (!check_value(&keys[i], v, n, diag, line)) {
        free(v);
        return GS_EINVAL;
    }
    free(cfg->vals[i]);
    cfg->vals[i] = v;
    return GS_OK;
}

/* One line, already trimmed and not blank or a comment. *section is the
 * current section (a row's section string) or NULL. */
static gs_err
parse_line(gs_config *cfg, const char *p, size_t n, size_t line,
           const char **section, size_t *seen, gs_config_diag *diag)
{
    if (p[0] == '[') {
        if (p[n - 1] != ']') {
            diag_set(diag, line, "section header must end with ']'");
            return GS_EMALFORMED;
        }
        const char *s = p + 1;
        size_t sn = n - 2;
        trim(&s, &sn);
        for (size_t i = 0; i < NKEYS; i++) {
            if (strlen(keys[i].section) == sn &&
                !memcmp(keys[i].section, s, sn)) {
                *section = keys[i].section;
                return GS_OK;
            }
        }
        diag_set(diag, line, "unknown section [%.*s]", (int)(sn > 64 ? 64 : sn),
                 s);
        return GS_EMALFORMED;
    }
    const char *eq = memchr(p, '=', n);
    if (!eq) {
        diag_set(diag, line, "expected 'name = value' or '[section]'");
        return GS_EMALFORMED;
    }
    const char *name = p;
    size_t nn = (size_t)(eq - p);
    trim(&name, &nn);
    if (nn == 0) {
        diag_set(diag, line, "a name is missing before '='");
        return GS_EMALFORMED;
    }
    if (!*section) {
        diag_set(diag, line, "'%.*s' is outside any [section]",
                 (int)(nn > 64 ? 64 : nn), name);
        return GS_EMALFORMED;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].section != *section || strlen(keys[i].name) != nn ||
            memcmp(keys[i].name, name, nn))
            continue;
        if (seen[i]) {
            diag_set(diag, line, "'%s' is set twice (first on line %zu)",
                     keys[i].key, seen[i]);
            return GS_EMALFORMED;
        }
        gs_err rc =
            store_value(cfg, i, eq + 1, n - (size_t)(eq + 1 - p), diag, line);
        if (rc == GS_EINVAL || rc == GS_ETOOBIG)
            rc = GS_EMALFORMED; /* from a file: bad data, not a bad call */
        if (rc == GS_OK)
            seen[i] = line;
        return rc;
    }
    diag_set(diag, line, "unknown key '%.*s' in [%s]", (int)(nn > 64 ? 64 : nn),
             name, *section);
    return GS_EMALFORMED;
}

gs_err
gs_config_parse(const char *text, size_t len, gs_config_diag *diag,
                gs_config **out)
{
    gs_config *cfg = NULL;
    const char *section = NULL;
    size_t seen[NKEYS] = {0};
    size_t line = 0, pos = 0;
    gs_err rc;

    if ((!text && len > 0) || !out)
        return GS_EINVAL;
    if (len > GS_CONFIG_FILE_MAX) {
        diag_set(diag, 0, "config is over %d bytes", GS_CONFIG_FILE_MAX);
        return GS_ETOOBIG;
    }
    rc = gs_config_new_default(&cfg);
    if (rc != GS_OK)
        goto out;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        pos = 3;
    while (pos < len) {
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += n + (nl != NULL);
        line++;
        if (memchr(p, '\0', n)) {
            diag_set(diag, line, "NUL byte in the line");
            rc = GS_EMALFORMED;
            goto out;
        }
        trim(&p, &n);
        if (n == 0 || p[0] == '#' || p[0] == ';')
            continue;
        rc = parse_line(cfg, p, n, line, &section, seen, diag);
        if (rc != GS_OK)
            goto out;
    }
    *out = cfg;
    cfg = NULL;
out:
    gs_config_free(cfg);
    return rc;
}

gs_err
gs_config_load(const char *path, gs_config_diag *diag, gs_config **out)
{
    gs_err rc = GS_OK;
    char *buf = NULL;
    size_t n = 0;
    struct stat st;
    int fd = -1;

    if (!path || !out)
        return GS_EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = gs_file_errno(errno);
        diag_set(diag, 0, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = gs_file_errno(errno);
        diag_set(diag, 0, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = GS_EMALFORMED;
        diag_set(diag, 0, "not a regular file");
        goto out;
    }
    if (st.st_size > GS_CONFIG_FILE_MAX) {
        rc = GS_ETOOBIG;
        diag_set(diag, 0, "config file is over %d bytes", GS_CONFIG_FILE_MAX);
        goto out;
    }
    /* One byte over the cap catches a file that grew since fstat. */
    buf = malloc(GS_CONFIG_FILE_MAX + 1);
    if (!buf) {
        rc = GS_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, GS_CONFIG_FILE_MAX + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = gs_file_errno(errno);
            diag_set(diag, 0, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > GS_CONFIG_FILE_MAX) {
            rc = GS_ETOOBIG;
            diag_set(diag, 0, "config file is over %d bytes",
                     GS_CONFIG_FILE_MAX);
            goto out;
        }
    }
    rc = gs_config_parse(buf, n, diag, out);
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

const char *
gs_config_get(const gs_config *cfg, const char *key)
{
    size_t i;
    if (!cfg || !key || !find_key(key, &i))
        return NULL;
    return cfg->vals[i] ? cfg->vals[i] : keys[i].def;
}

gs_err
gs_config_get_u64(const gs_config *cfg, const char *key, uint64_t *out)
{
    size_t i;
    uint64_t v;
    if (!cfg || !key || !out)
        return GS_EINVAL;
    if (!find_key(key, &i))
        return GS_ENOTFOUND;
    if (keys[i].kind != K_NUMBER)
        return GS_EINVAL;
    const char *s = cfg->vals[i] ? cfg->vals[i] : keys[i].def;
    if (!parse_u64(s, strlen(s), &v))
        return GS_EINVAL; /* unreachable: values are checked when set */
    *out = v;
    return GS_OK;
}

gs_err
gs_config_set(gs_config *cfg, const char *key, const char *value,
              gs_config_diag *diag)
{
    size_t i;
    if (!cfg || !key)
        return GS_EINVAL;
    if (!find_key(key, &i)) {
        diag_set(diag, 0, "unknown key '%.64s'", key);
        return GS_ENOTFOUND;
    }
    if (!value) {
        free(cfg->vals[i]);
        cfg->vals[i] = NULL;
        return GS_OK;
    }
    return store_value(cfg, i, value, strlen(value), diag, 0);
}

void
gs_config_each(const gs_config *cfg, gs_config_each_fn *cb, void *ctx)
{
    if (!cfg || !cb)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        gs_config_entry e = {
            .key = keys[i].key,
            .section = keys[i].section,
            .name = keys[i].name,
            .type = kind_names[keys[i].kind],
            .value = cfg->vals[i] ? cfg->vals[i] : keys[i].def,
            .def = keys[i].def,
            .help = keys[i].help,
            .is_set = cfg->vals[i] != NULL,
        };
        cb(&e, ctx);
    }
}

gs_err
gs_config_encode(const gs_config *cfg, char **text, size_t *len)
{
    gs_err rc = GS_OK;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = NULL;
    const char *section = NULL;

    if (!cfg || !text || !len)
        return GS_EINVAL;
    f = open_memstream(&buf, &n);
    if (!f) {
        rc = GS_ENOMEM;
        goto out;
    }
    fputs("# gridsync replica configuration.\n"
          "# Every key is listed with its help and default. Edit a value "
          "here or run\n"
          "# 'gridsync config set KEY VALUE'; 'gridsync config' prints the "
          "values in force.\n"
          "# Lines starting with '#' or ';' are comments.\n",
          f);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key_def *k = &keys[i];
        const char *v = cfg->vals[i] ? cfg->vals[i] : k->def;
        if (section != k->section)
            fprintf(f, "\n[%s]\n", k->section);
        else
            fputc('\n', f);
        section = k->section;
        fprintf(f, "# %s (default: %s)\n%s =%s%s\n", k->help,
                *k->def ? k->def : "empty", k->name, *v ? " " : "", v);
    }
    if (ferror(f)) {
        rc = GS_ENOMEM;
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = GS_ENOMEM;
        goto out;
    }
    f = NULL;
    *text = buf;
    *len = n;
    buf = NULL;
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

gs_err
gs_config_write(const gs_config *cfg, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    gs_err rc;

    if (!cfg || !path || !*path)
        return GS_EINVAL;
    rc = gs_config_encode(cfg, &text, &len);
    if (rc != GS_OK)
        goto out;
    rc = gs_file_write_atomic(path, text, len, 0644, 0);
out:
    free(text);
    return rc;
}

bool
gs_config_equal(const gs_config *a, const gs_config *b)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *va = a->vals[i] ? a->vals[i] : keys[i].def;
        const char *vb = b->vals[i] ? b->vals[i] : keys[i].def;
        if (strcmp(va, vb))
            return false;
    }
    return true;
}
