/*
 * replica.c — the public replica API of gridsync.h: a directory holding the
 * LMDB store, this device's key and the config, and the operations an app
 * or the command line performs on it.
 *
 * Every local write goes through gs_store_write, which reads the feed head
 * and the entity inside the write transaction, so the command line, the
 * agent and an app writing as one device at once never fork its feed. The
 * clock is brought up to the greatest stamp the replica holds before each
 * write (crdt/hlc.h G1 across processes and restarts).
 *
 * SPEC: DESIGN §4, §7; include/gridsync.h.
 */
#include "gridsync.h"

#include "bundle.h"
#include "config.h"
#include "err.h"
#include "field.h"
#include "hlc.h"
#include "identity.h"
#include "json.h"
#include "replica_int.h"
#include "schema.h"
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE "device.key"
#define CONF_FILE "gridsync.conf"
#define DETAIL_BYTES 512
#define IMPORT_LINE_MAX (1u << 20) /* one JSON line */
#define IMPORT_BATCH 1000          /* records per transaction */

struct gs_replica {
    gs_store *store;
    gs_identity id;
    gs_config *cfg;
    gs_schema *schema;
    uint8_t network[GS_KEY_BYTES];
    char scope[GS_SCOPE_BYTES_MAX + 1];
    gs_hlc clock;
    char detail[DETAIL_BYTES];
    char dir[4096];
};

const char *
gs_replica_detail(const gs_replica *r)
{
    return r && r->detail[0] ? r->detail : "";
}

static gs_err
path_in(char *out, size_t cap, const char *dir, const char *name)
{
    return snprintf(out, cap, "%s/%s", dir, name) < (int)cap ? GS_OK
                                                             : GS_EINVAL;
}

static gs_err
mkdirs(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return GS_EINVAL;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return errno == ENOSPC ? GS_EFULL : GS_EIO;
        p[i] = c;
    }
    return GS_OK;
}

static gs_err
parse_key_hex(const char *hex, uint8_t out[GS_KEY_BYTES])
{
    size_t n = 0;
    if (hex == NULL || strlen(hex) != 2 * GS_KEY_BYTES)
        return GS_EINVAL;
    if (sodium_hex2bin(out, GS_KEY_BYTES, hex, strlen(hex), NULL, &n, NULL) !=
            0 ||
        n != GS_KEY_BYTES)
        return GS_EINVAL;
    return GS_OK;
}

gs_err
gs_replica_init(const char *dir, const gs_replica_init_opts *opts,
                char device_hex[65], char *why, size_t why_len)
{
    char path[4096];
    struct stat st;
    gs_identity id = {{0}, NULL};
    gs_config *cfg = NULL;
    gs_config_diag diag = {0};
    gs_store *store = NULL;
    uint8_t net[GS_KEY_BYTES];
    gs_err rc;

    if (sodium_init() < 0)
        return GS_ENOMEM;
    if (opts == NULL || opts->scope == NULL ||
        !gs_scope_valid((const uint8_t *)opts->scope, strlen(opts->scope))) {
        return gs_why(
            why, why_len, GS_EINVAL,
            "a write scope is needed, a dotted org path such as "
            "yc.yimei.nanjun.xinxin.g012 (lower-case letters, digits, - and "
            "_)");
    }
    if (opts->authority && *opts->authority &&
        parse_key_hex(opts->authority, net) != GS_OK) {
        return gs_why(why, why_len, GS_EINVAL,
                      "the authority must be 64 hex digits, as "
                      "'gridsync authority init' prints it");
    }
    if ((rc = mkdirs(dir)) != GS_OK) {
        return gs_why(why, why_len, rc, "cannot create directory %s: %s", dir,
                      strerror(errno));
    }
    const char *mine[] = {"data.mdb", KEY_FILE, CONF_FILE};
    for (size_t i = 0; i < 3; i++) {
        if (path_in(path, sizeof path, dir, mine[i]) != GS_OK)
            return GS_EINVAL;
        if (stat(path, &st) == 0) {
            (void)gs_why(
                why, why_len, GS_OK,
                "%s already holds a replica (%s exists); choose an empty "
                "directory",
                dir, mine[i]);
            return GS_EEXIST;
        }
    }
    if ((rc = gs_identity_generate(&id)) != GS_OK)
        goto out;
    if ((rc = path_in(path, sizeof path, dir, KEY_FILE)) != GS_OK ||
        (rc = gs_identity_save(&id, path)) != GS_OK) {
        rc = gs_why(why, why_len, rc, "cannot write the device key %s: %s",
                    path, gs_strerror(rc));
        goto out;
    }
    gs_identity_hex(id.pk, device_hex);
    if ((rc = gs_config_new_default(&cfg)) != GS_OK)
        goto out;
    char net_hex[65];
    if (opts->authority && *opts->authority)
        snprintf(net_hex, sizeof net_hex, "%s", opts->authority);
    else
        memcpy(net_hex, device_hex, sizeof net_hex); /* standalone */
    if ((rc = gs_config_set(cfg, "network.authority", net_hex, &diag)) ||
        (rc = gs_config_set(cfg, "replica.scope", opts->scope, &diag)) ||
        (opts->name &&
         (rc = gs_config_set(cfg, "replica.name", opts->name, &diag)))) {
        rc = gs_why(why, why_len, rc, "%s", diag.msg);
        goto out;
    }
    if ((rc = path_in(path, sizeof path, dir, CONF_FILE)) != GS_OK ||
        (rc = gs_config_write(cfg, path)) != GS_OK) {
        rc = gs_why(why, why_len, rc, "cannot write %s: %s", path,
                    gs_strerror(rc));
        goto out;
    }
    uint64_t map_mib = 64;
    if ((rc = gs_config_get_u64(cfg, "store.map_size_mib", &map_mib)))
        goto out;
    gs_store_opts so = {map_mib << 20, 0, true};
    if ((rc = gs_store_open(dir, &so, &store)) != GS_OK) {
        rc = gs_why(why, why_len, rc, "cannot create the store in %s: %s", dir,
                    gs_strerror(rc));
        goto out;
    }
out:
    gs_store_close(store);
    gs_config_free(cfg);
    gs_identity_fini(&id);
    return rc;
}

gs_err
gs_replica_open(const char *dir, gs_replica **out, char *why, size_t why_len)
{
    char path[4096];
    gs_config_diag diag = {0};
    gs_err rc;
    uint64_t seen = 0, map_mib = 64, max_mib = 0;

    if (sodium_init() < 0)
        return GS_ENOMEM;
    gs_replica *r = calloc(1, sizeof *r);
    if (r == NULL)
        return GS_ENOMEM;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    if ((rc = path_in(path, sizeof path, dir, CONF_FILE)) != GS_OK)
        goto fail;
    rc = gs_config_load(path, &diag, &r->cfg);
    if (rc == GS_ENOTFOUND) {
        (void)gs_why(
            why, why_len, GS_OK,
            "%s is not a replica (no %s); create one with 'gridsync init "
            "%s --scope SCOPE'",
            dir, CONF_FILE, dir);
        goto fail;
    }
    if (rc != GS_OK) {
        (void)gs_why(why, why_len, GS_OK,
                     "%s line %zu: %s; fix the line or run 'gridsync "
                     "config' to see every key",
                     path, diag.line, diag.msg);
        goto fail;
    }
    const char *auth = gs_config_get(r->cfg, "network.authority");
    if (parse_key_hex(auth, r->network) != GS_OK) {
        rc = GS_EINVAL;
        (void)gs_why(why, why_len, GS_OK,
                     "%s: network.authority is not set; set it with "
                     "'gridsync config set network.authority KEY'",
                     path);
        goto fail;
    }
    const char *scope = gs_config_get(r->cfg, "replica.scope");
    if (!scope || !gs_scope_valid((const uint8_t *)scope, strlen(scope))) {
        rc = GS_EINVAL;
        rc = gs_why(why, why_len, rc, "%s: replica.scope is not a valid scope",
                    path);
        goto fail;
    }
    snprintf(r->scope, sizeof r->scope, "%s", scope);
    if ((rc = path_in(path, sizeof path, dir, KEY_FILE)) != GS_OK)
        goto fail;
    rc = gs_identity_load(path, &r->id);
    if (rc != GS_OK) {
        (void)gs_why(why, why_len, GS_OK, "cannot load the device key %s: %s%s",
                     path, gs_strerror(rc),
                     rc == GS_EPERM ? "; run chmod 600 on it" : "");
        goto fail;
    }
    if ((rc = gs_config_get_u64(r->cfg, "store.map_size_mib", &map_mib)) ||
        (rc = gs_config_get_u64(r->cfg, "store.max_map_mib", &max_mib)))
        goto fail;
    gs_store_opts so = {map_mib << 20, max_mib << 20, false};
    rc = gs_store_open(dir, &so, &r->store);
    if (rc == GS_EVERSION) {
        rc = gs_why(why, why_len, rc,
                    "the store in %s is of another format than this "
                    "gridsync reads; export a bundle with the gridsync that "
                    "made it and import it into a new replica",
                    dir);
        goto fail;
    }
    if (rc != GS_OK) {
        rc = gs_why(why, why_len, rc, "cannot open the store in %s: %s", dir,
                    gs_strerror(rc));
        goto fail;
    }
    if ((rc = gs_schema_load_default(&r->schema)) != GS_OK)
        goto fail;
    gs_hlc_init(&r->clock, 0);
    if ((rc = gs_store_hlc_seen(r->store, &seen)) != GS_OK)
        goto fail;
    if ((rc = gs_hlc_recv(&r->clock, seen, gs_hlc_wall_ms())) != GS_OK)
        goto fail;
    *out = r;
    return GS_OK;
fail:
    gs_replica_close(r);
    return rc;
}

void
gs_replica_close(gs_replica *r)
{
    if (r == NULL)
        return;
    gs_store_close(r->store);
    gs_schema_free(r->schema);
    gs_config_free(r->cfg);
    gs_identity_fini(&r->id);
    free(r);
}

static void
detail(gs_replica *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* ---- writes ---- */

/* One record to write: its fields as JSON, or (import) the updates its
 * check already made for an entity not held yet, and where its line lies
 * in the file so the build can read it again for one that is held. */
struct record {
    json_t *fields; /* NULL: use kept, or read the line again */
    unsigned long line;
    const uint8_t *kept; /* updates kept by the check (see struct keep) */
    size_t kept_n;
    off_t off; /* the line in the file */
    size_t len;
};

struct build_ctx {
    gs_replica *r;
    const gs_store_target *targets;
    const struct record *recs;
    bool skip_bad;
    gs_replica_report_fn report;
    void *report_ctx;
    int fd; /* import: the file, to read a line again; else -1 */
    gs_err bad_rc;
    char why[256];
};

/* Read record rec's line again and parse it; *doc is a new reference. */
static gs_err
reread(struct build_ctx *b, const struct record *rec, json_t **doc)
{
    json_error_t jerr;
    char *line = malloc(rec->len ? rec->len : 1);
    if (line == NULL)
        return GS_ENOMEM;
    ssize_t got = pread(b->fd, line, rec->len, rec->off);
    *doc = got == (ssize_t)rec->len
               ? json_loadb(line, rec->len, JSON_REJECT_DUPLICATES, &jerr)
               : NULL;
    free(line);
    if (*doc == NULL) /* checked a moment ago: the file changed under us */
        return gs_why(b->why, sizeof b->why, GS_EIO,
                      "the file changed while it was imported");
    return GS_OK;
}

/* The updates kept for record rec into op (borrowing the keep arena). */
static gs_err
kept_fill(const struct record *rec, gs_op *op)
{
    gs_rd rd;
    uint64_t n;
    gs_err rc;
    gs_rd_init(&rd, rec->kept, rec->kept_n);
    if ((rc = gs_rd_varint(&rd, &n)) != GS_OK)
        return rc;
    if (n > GS_OP_UPDATES_MAX)
        return GS_EINVAL;
    op->n_updates = (size_t)n;
    for (size_t i = 0; i < op->n_updates; i++) {
        gs_update *u = &op->updates[i];
        if ((rc = gs_rd_str(&rd, GS_NAME_BYTES_MAX, &u->field)) != GS_OK ||
            (rc = gs_rd_u8(&rd, &u->kind)) != GS_OK ||
            (rc = gs_rd_str(&rd, GS_PAYLOAD_BYTES_MAX, &u->payload)) != GS_OK)
            return rc;
    }
    return GS_OK;
}

/* Build the op for record i from its JSON and the entity's current state. */
static gs_err
build(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
      const gs_entity *current, gs_buf *out, void *ctx)
{
    struct build_ctx *b = ctx;
    const struct record *rec = &b->recs[i];
    gs_replica *r = b->r;
    gs_json_updates ups;
    json_t *doc = NULL, *fields = rec->fields;
    bool have_ups = false;
    gs_op op;
    gs_err rc = GS_OK;

    memset(&op, 0, sizeof op);
    if (current == NULL && rec->kept) {
        /* a fresh entity: the check made exactly these updates */
        rc = kept_fill(rec, &op);
    } else {
        if (fields == NULL && (rc = reread(b, rec, &doc)) == GS_OK)
            fields = json_object_get(doc, "fields");
        if (rc == GS_OK)
            rc = gs_json_updates_decode(r->schema, b->targets[i].type, current,
                                        r->id.pk, fields, &ups, b->why,
                                        sizeof b->why);
        have_ups = rc == GS_OK;
        if (have_ups)
            gs_json_updates_fill(&ups, &op);
    }
    if (rc != GS_OK) {
        json_decref(doc);
        b->bad_rc = rc;
        if (b->skip_bad) {
            if (b->report)
                b->report(rec->line, rc, b->why, b->report_ctx);
            return GS_OK; /* empty op: skipped */
        }
        return rc;
    }
    if (op.n_updates > 0) {
        op.version = GS_OP_VERSION;
        memcpy(op.author, r->id.pk, GS_KEY_BYTES);
        op.scope = gs_slice_of(r->scope, strlen(r->scope));
        op.seq = head->seq + 1;
        memcpy(op.prev, head->hash, GS_HASH_BYTES);
        /* Work on a copy: a retried batch must stamp from the same start. */
        gs_hlc clk = r->clock;
        if ((rc = gs_hlc_recv(&clk, hlc_seen, gs_hlc_wall_ms())) == GS_OK)
            rc = gs_hlc_now(&clk, gs_hlc_wall_ms(), &op.hlc);
        op.type = b->targets[i].type;
        op.id = b->targets[i].id;
        if (rc == GS_OK)
            rc = gs_op_encode(&op, out);
    } /* else it writes nothing: no op */
    if (have_ups)
        gs_json_updates_fini(&ups);
    json_decref(doc);
    return rc;
}

/* Write records of one batch as one transaction. */
static gs_err
write_batch(gs_replica *r, const gs_store_target *targets,
            const struct record *recs, size_t n, bool skip_bad, int fd,
            gs_replica_report_fn fn, void *ctx, gs_store_write_result *res)
{
    struct build_ctx b = {r, targets, recs, skip_bad, fn, ctx, fd, GS_OK, ""};
    gs_err rc = gs_store_write(r->store, r->id.pk, r->id.sk,
                               gs_slice_of(r->scope, strlen(r->scope)),
                               r->network, targets, n, build, &b, res);
    if (rc == GS_OK) {
        /* the batch is durable: the clock moves past its stamps */
        uint64_t seen;
        if (gs_store_hlc_seen(r->store, &seen) == GS_OK &&
            gs_hlc_recv(&r->clock, seen, gs_hlc_wall_ms()) != GS_OK)
            detail(r, "clock: the replica holds a stamp beyond this "
                      "device's range");
    } else if (b.bad_rc != GS_OK) {
        detail(r, "line %lu: %s", recs[res->failed_at].line, b.why);
    } else if (rc == GS_EFULL) {
        detail(r, "the disk is full: nothing was written; free some space "
                  "and try again");
    } else if (rc == GS_ETOOBIG) {
        detail(r, "the store reached store.max_map_mib: nothing was "
                  "written; raise it with 'gridsync config set "
                  "store.max_map_mib N'");
    }
    return rc;
}

static bool
valid_target(gs_replica *r, const char *type, const char *id)
{
    if (!type || !gs_name_valid((const uint8_t *)type, strlen(type))) {
        detail(r, "'%s' is not a type name (lower-case letters, digits, _)",
               type ? type : "");
        return false;
    }
    if (!id || !gs_id_valid((const uint8_t *)id, strlen(id))) {
        detail(r, "'%s' is not an id (1-128 bytes of text, no spaces)",
               id ? id : "");
        return false;
    }
    return true;
}

gs_err
gs_replica_put(gs_replica *r, const char *type, const char *id,
               const char *fields_json)
{
    json_error_t jerr;
    gs_store_write_result res;
    r->detail[0] = 0;
    if (!valid_target(r, type, id))
        return GS_EINVAL;
    json_t *fields = json_loads(fields_json, JSON_REJECT_DUPLICATES, &jerr);
    if (fields == NULL || !json_is_object(fields)) {
        detail(r, "fields must be a JSON object: %s",
               fields ? "got another JSON value" : jerr.text);
        json_decref(fields);
        return GS_EMALFORMED;
    }
    gs_store_target t = {gs_slice_of(type, strlen(type)),
                         gs_slice_of(id, strlen(id))};
    struct record rec = {fields, 1, NULL, 0, 0, 0};
    gs_err rc = write_batch(r, &t, &rec, 1, false, -1, NULL, NULL, &res);
    if (rc != GS_OK && r->detail[0] == 0)
        detail(r, "%s", gs_strerror(rc));
    /* "line 1: " means nothing for a single put */
    if (rc != GS_OK && !strncmp(r->detail, "line 1: ", 8))
        memmove(r->detail, r->detail + 8, strlen(r->detail + 8) + 1);
    json_decref(fields);
    return rc;
}

gs_err
gs_replica_put_assign(gs_replica *r, const char *type, const char *id,
                      const char *const *assign, size_t n)
{
    char why[256];
    gs_err rc = GS_OK;
    r->detail[0] = 0;
    if (!valid_target(r, type, id))
        return GS_EINVAL;
    if (n == 0) {
        detail(r, "give at least one field=value");
        return GS_EINVAL;
    }
    json_t *fields = json_object();
    if (fields == NULL)
        return GS_ENOMEM;
    for (size_t i = 0; rc == GS_OK && i < n; i++) {
        rc =
            gs_json_parse_assignment(r->schema, gs_slice_of(type, strlen(type)),
                                     assign[i], fields, why, sizeof why);
        if (rc != GS_OK)
            detail(r, "'%s': %s", assign[i], why);
    }
    char *text = rc == GS_OK ? json_dumps(fields, JSON_COMPACT) : NULL;
    json_decref(fields);
    if (rc != GS_OK)
        return rc;
    if (text == NULL)
        return GS_ENOMEM;
    rc = gs_replica_put(r, type, id, text);
    free(text);
    return rc;
}

/* ---- reads ---- */

static gs_err
entity_json(gs_replica *r, const gs_entity *e, unsigned flags, char **out)
{
    json_t *j = gs_json_entity(r->schema, e, flags);
    if (j == NULL)
        return GS_ENOMEM;
    *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return *out ? GS_OK : GS_ENOMEM;
}

gs_err
gs_replica_get(gs_replica *r, const char *type, const char *id, unsigned flags,
               char **json)
{
    gs_entity e;
    r->detail[0] = 0;
    if (!valid_target(r, type, id))
        return GS_EINVAL;
    gs_err rc = gs_store_entity_get(r->store, gs_slice_of(type, strlen(type)),
                                    gs_slice_of(id, strlen(id)), &e);
    if (rc == GS_ENOTFOUND) {
        detail(r, "no %s with id %s in this replica", type, id);
        return rc;
    }
    if (rc != GS_OK)
        return rc;
    rc = entity_json(r, &e, flags, json);
    gs_entity_fini(&e);
    return rc;
}

struct list_ctx {
    gs_replica *r;
    const char *where_field, *where_value;
    unsigned flags;
    gs_replica_json_fn fn;
    void *ctx;
    gs_err rc;
};

/* Does e show where_value in where_field (an lww value or a set member)? */
static bool
matches(const struct list_ctx *c, const gs_entity *e)
{
    if (c->where_field == NULL)
        return true;
    gs_slice want = gs_slice_of(c->where_value, strlen(c->where_value));
    const gs_field *f = gs_entity_field(e, c->where_field, GS_KIND_SET);
    if (f && gs_field_set_has(f, want))
        return true;
    f = gs_entity_field(e, c->where_field, GS_KIND_LWW);
    gs_vref v;
    if (!f || !gs_field_lww_get(f, &v, NULL))
        return false;
    char num[32];
    switch (v.type) {
    case GS_V_STR:
        return gs_slice_cmp(v.s, want) == 0;
    case GS_V_INT:
        snprintf(num, sizeof num, "%lld", (long long)v.i);
        return strcmp(num, c->where_value) == 0;
    case GS_V_TRUE:
        return strcmp(c->where_value, "true") == 0;
    case GS_V_FALSE:
        return strcmp(c->where_value, "false") == 0;
    default:
        return strcmp(c->where_value, "null") == 0;
    }
}

static int
list_one(const gs_entity *e, void *ctx)
{
    struct list_ctx *c = ctx;
    char *json;
    if (gs_entity_deleted(e) || !matches(c, e))
        return 0;
    c->rc = entity_json(c->r, e, c->flags, &json);
    if (c->rc != GS_OK)
        return 1;
    int stop = c->fn(json, c->ctx);
    free(json);
    return stop;
}

gs_err
gs_replica_list(gs_replica *r, const char *type, const char *where_field,
                const char *where_value, unsigned flags, gs_replica_json_fn fn,
                void *ctx)
{
    struct list_ctx c = {r, where_field, where_value, flags, fn, ctx, GS_OK};
    r->detail[0] = 0;
    if (type && !gs_name_valid((const uint8_t *)type, strlen(type))) {
        detail(r, "'%s' is not a type name", type);
        return GS_EINVAL;
    }
    if ((where_field == NULL) != (where_value == NULL))
        return GS_EINVAL;
    gs_err rc = gs_store_entity_each(
        r->store, type ? gs_slice_of(type, strlen(type)) : gs_slice_of("", 0),
        list_one, &c);
    return rc != GS_OK ? rc : c.rc;
}

struct hist_ctx {
    gs_replica_json_fn fn;
    void *ctx;
    gs_err rc;
};

static json_t *
vref_json(const gs_vref *v)
{
    switch (v->type) {
    case GS_V_NULL:
        return json_null();
    case GS_V_FALSE:
        return json_false();
    case GS_V_TRUE:
        return json_true();
    case GS_V_INT:
        return json_integer(v->i);
    default:
        return json_stringn((const char *)v->s.p, v->s.n);
    }
}

static const char *kind_names[] = {"?",   "lww",   "counter", "set",
                                   "log", "stage", "claim"};

/* An update's payload as JSON, for history. */
static json_t *
update_json(const gs_update *u)
{
    gs_payload pl;
    json_t *j = json_object();
    json_t *val = NULL;
    json_object_set_new(j, "kind",
                        json_string(u->kind <= GS_KIND_KNOWN_MAX
                                        ? kind_names[u->kind]
                                        : "unknown"));
    if (u->kind > GS_KIND_KNOWN_MAX ||
        gs_payload_parse(u->kind, u->payload, &pl) != GS_OK)
        return j;
    switch (u->kind) {
    case GS_KIND_LWW:
        val = vref_json(&pl.u.lww.v);
        break;
    case GS_KIND_COUNTER:
        val = json_pack("{sIsI}", "delta", (json_int_t)pl.u.counter.delta,
                        "total", (json_int_t)pl.u.counter.total);
        break;
    case GS_KIND_SET: {
        gs_rd rd;
        gs_set_item it;
        json_t *add = json_array(), *rm = json_array();
        gs_rd_init(&rd, pl.u.set.items.p, pl.u.set.items.n);
        for (size_t i = 0; i < pl.u.set.n; i++) {
            if (gs_payload_set_next(&rd, &it) != GS_OK)
                break;
            json_array_append_new(
                it.action == GS_SET_ADD ? add : rm,
                json_stringn((const char *)it.elem.p, it.elem.n));
        }
        val = json_pack("{soso}", "add", add, "remove", rm);
        break;
    }
    case GS_KIND_LOG:
        val = vref_json(&pl.u.log);
        break;
    case GS_KIND_STAGE:
        val = json_pack("{sIsI}", "round", (json_int_t)pl.u.stage.round,
                        "stage", (json_int_t)pl.u.stage.stage);
        break;
    case GS_KIND_CLAIM:
        val = json_pack("{ss%}",
                        pl.u.claim.action == GS_CLAIM ? "claim" : "withdraw",
                        (const char *)pl.u.claim.who.p, pl.u.claim.who.n);
        break;
    }
    if (val)
        json_object_set_new(j, "value", val);
    return j;
}

static int
hist_one(const uint8_t *bytes, size_t len, const uint8_t hash[GS_HASH_BYTES],
         void *ctx)
{
    struct hist_ctx *c = ctx;
    gs_op op;
    char hex[2 * GS_HASH_BYTES + 1], at[32];
    if (gs_op_decode(bytes, len, &op) != GS_OK) {
        c->rc = GS_EMALFORMED;
        return 1;
    }
    json_t *j = json_object(), *ups = json_object();
    sodium_bin2hex(hex, sizeof hex, op.author, GS_KEY_BYTES);
    json_object_set_new(j, "author", json_string(hex));
    json_object_set_new(j, "scope",
                        json_stringn((const char *)op.scope.p, op.scope.n));
    json_object_set_new(j, "seq", json_integer((json_int_t)op.seq));
    gs_json_time(op.hlc, at);
    json_object_set_new(j, "at", json_string(at));
    json_object_set_new(j, "hlc", json_integer((json_int_t)op.hlc));
    sodium_bin2hex(hex, sizeof hex, hash, GS_HASH_BYTES);
    json_object_set_new(j, "hash", json_string(hex));
    for (size_t i = 0; i < op.n_updates; i++) {
        char name[GS_NAME_BYTES_MAX + 1];
        memcpy(name, op.updates[i].field.p, op.updates[i].field.n);
        name[op.updates[i].field.n] = 0;
        json_object_set_new(ups, name, update_json(&op.updates[i]));
    }
    json_object_set_new(j, "updates", ups);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL) {
        c->rc = GS_ENOMEM;
        return 1;
    }
    int stop = c->fn(text, c->ctx);
    free(text);
    return stop;
}

gs_err
gs_replica_history(gs_replica *r, const char *type, const char *id,
                   gs_replica_json_fn fn, void *ctx)
{
    struct hist_ctx c = {fn, ctx, GS_OK};
    r->detail[0] = 0;
    if (!valid_target(r, type, id))
        return GS_EINVAL;
    gs_err rc = gs_store_history(r->store, gs_slice_of(type, strlen(type)),
                                 gs_slice_of(id, strlen(id)), hist_one, &c);
    return rc != GS_OK ? rc : c.rc;
}

gs_err
gs_replica_digest(gs_replica *r, int rebuild, unsigned char out[32])
{
    return rebuild ? gs_store_digest_rebuild(r->store, out)
                   : gs_store_digest(r->store, out);
}

/* ---- import / export ---- */

/* Parse one line into a record; why says what is wrong. check_fields:
 * also check the fields' values against the schema (the build checks them
 * again against the entity's state, so a second pass over lines the first
 * pass found good need not); ups (may be NULL) then gets the updates for
 * an entity with no state yet (the caller finis them). */
static gs_err
parse_line(gs_replica *r, const char *line, size_t n, json_t **out,
           const char **type, const char **id, bool check_fields,
           gs_json_updates *ups, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        return gs_why(why, why_len, GS_EMALFORMED, "not JSON: %s (column %d)",
                      jerr.text, jerr.column);
    }
    json_t *jt = json_object_get(j, "type"), *ji = json_object_get(j, "id");
    json_t *jf = json_object_get(j, "fields");
    if (!json_is_object(j) || !json_is_string(jt) || !json_is_string(ji) ||
        !json_is_object(jf)) {
        (void)gs_why(why, why_len, GS_OK,
                     "a record is {\"type\": ..., \"id\": ..., "
                     "\"fields\": {...}}");
        json_decref(j);
        return GS_EMALFORMED;
    }
    *type = json_string_value(jt);
    *id = json_string_value(ji);
    if (!valid_target(r, *type, *id)) {
        (void)gs_why(why, why_len, GS_OK, "%s", r->detail);
        json_decref(j);
        return GS_EINVAL;
    }
    const gs_schema_type *st =
        gs_schema_type_get(r->schema, gs_slice_of(*type, strlen(*type)));
    if (st == NULL) {
        (void)gs_why(why, why_len, GS_OK, "unknown type '%s'", *type);
        json_decref(j);
        return GS_EINVAL;
    }
    /* The fields' values against the schema: what can be checked without
     * the entity's state is checked before anything is written. */
    if (!check_fields) {
        *out = j;
        return GS_OK;
    }
    gs_json_updates mine;
    gs_json_updates *u = ups ? ups : &mine;
    gs_err rc =
        gs_json_updates_decode(r->schema, gs_slice_of(*type, strlen(*type)),
                               NULL, r->id.pk, jf, u, why, why_len);
    if (rc != GS_OK) {
        json_decref(j);
        return rc;
    }
    if (u == &mine)
        gs_json_updates_fini(&mine);
    *out = j;
    return GS_OK;
}

/* What the check pass keeps of the good lines, so that the write pass
 * need not parse them again (parsing is most of an import's time): each
 * line's type, id and the updates that a build for an entity with no
 * state makes (gs_json_updates_decode depends on nothing else), with the
 * line's place in the file. The write pass uses them for an entity the
 * replica does not hold yet and reads the line again for one it holds.
 * The arena is capped: lines past the cap are parsed again, as before.
 *
 * Entry: varint line, varint offset, varint length, str type, str id,
 * then the updates: varint n, n x (str field, u8 kind, str payload). */
#define IMPORT_KEEP_MAX ((size_t)16 << 20)

struct keep {
    gs_buf arena;
    unsigned long bad;  /* bad lines skipped among those kept */
    bool full;          /* the arena filled: the rest is in the file */
    unsigned long line; /* if full: the first line not kept (1-based) */
    off_t off;          /* ... and its offset */
};

static gs_err
keep_add(struct keep *k, unsigned long line, off_t off, size_t len,
         const char *type, const char *id, const gs_json_updates *u)
{
    size_t mark = k->arena.len;
    gs_err rc = GS_OK;
    if (k->full)
        return GS_OK;
    if ((rc = gs_buf_put_varint(&k->arena, line)) == GS_OK &&
        (rc = gs_buf_put_varint(&k->arena, (uint64_t)off)) == GS_OK &&
        (rc = gs_buf_put_varint(&k->arena, len)) == GS_OK &&
        (rc = gs_buf_put_str(&k->arena, type, strlen(type))) == GS_OK &&
        (rc = gs_buf_put_str(&k->arena, id, strlen(id))) == GS_OK)
        rc = gs_buf_put_varint(&k->arena, u->n);
    for (size_t i = 0; rc == GS_OK && i < u->n; i++) {
        if ((rc = gs_buf_put_str(&k->arena, u->u[i].field,
                                 strlen(u->u[i].field))) == GS_OK &&
            (rc = gs_buf_put_u8(&k->arena, u->u[i].kind)) == GS_OK)
            rc = gs_buf_put_str(&k->arena, u->u[i].payload.data,
                                u->u[i].payload.len);
    }
    if (rc == GS_ETOOBIG || rc == GS_ENOMEM) {
        /* the cap (or memory): the write pass parses from this line on */
        k->arena.len = mark;
        k->full = true;
        k->line = line;
        k->off = off;
        return GS_OK;
    }
    return rc;
}

struct batch {
    gs_store_target t[IMPORT_BATCH];
    struct record rec[IMPORT_BATCH];
    json_t *doc[IMPORT_BATCH];
    size_t n;
};

static void
batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->doc[i]);
    b->n = 0;
}

/* Read one line into *buf (without its newline), growing it up to
 * IMPORT_LINE_MAX bytes. A longer line is read through to its end without
 * being kept, and *too_long set. *used gets the bytes consumed, newline
 * included. Returns the length, or -1 at end of file. The import owns its
 * FILE, so the unlocked getc is safe and much faster. */
static ssize_t
read_line(FILE *f, char **buf, size_t *cap, bool *too_long, size_t *used)
{
    size_t n = 0, all = 0;
    int c;
    *too_long = false;
    while ((c = getc_unlocked(f)) != EOF) {
        all++;
        if (c == '\n')
            break;
        if (*too_long)
            continue;
        if (n == IMPORT_LINE_MAX) {
            *too_long = true;
            continue;
        }
        if (n + 1 >= *cap) {
            size_t ncap = *cap ? *cap * 2 : 4096;
            if (ncap > IMPORT_LINE_MAX + 1)
                ncap = IMPORT_LINE_MAX + 1;
            char *p = realloc(*buf, ncap);
            if (p == NULL)
                return -2;
            *buf = p;
            *cap = ncap;
        }
        (*buf)[n++] = (char)c;
    }
    *used = all;
    if (c == EOF && all == 0)
        return -1;
    if (*buf)
        (*buf)[n] = 0;
    return (ssize_t)n;
}

/* Write the records gathered in b as one batch, then forget them. */
static gs_err
batch_write(gs_replica *r, struct batch *b, bool skip_bad, int fd,
            gs_replica_report_fn fn, void *ctx, gs_import_stats *st)
{
    gs_store_write_result res;
    gs_err rc = write_batch(r, b->t, b->rec, b->n, skip_bad, fd, fn, ctx, &res);
    st->ops += res.written;
    batch_clear(b);
    if (rc == GS_OK && fn) {
        char msg[64];
        snprintf(msg, sizeof msg, "%lu records written", st->records);
        fn(0, GS_OK, msg, ctx);
    }
    return rc;
}

/* One pass over the file: check every line (write == false), keeping
 * what k can hold, or write the good ones in batches (write == true):
 * first those k kept, then the lines after them, parsed again. */
static gs_err
import_pass(gs_replica *r, FILE *f, bool write, bool skip_bad,
            gs_replica_report_fn fn, void *ctx, struct keep *k,
            gs_import_stats *st)
{
    char *line = NULL, why[256];
    size_t cap = 0, used = 0;
    ssize_t len = 0;
    off_t off = 0;
    gs_err rc = GS_OK, first_bad = GS_OK;
    struct batch *b = write ? calloc(1, sizeof *b) : NULL;
    unsigned long lineno = 0;
    int fd = fileno(f);

    if (write && b == NULL)
        return GS_ENOMEM;
    if (write) {
        /* the lines the check kept: no parsing */
        gs_rd rd;
        gs_rd_init(&rd, k->arena.data, k->arena.len);
        while (rc == GS_OK && gs_rd_left(&rd) > 0) {
            uint64_t ln, o, n;
            gs_slice type, id;
            struct record *rec = &b->rec[b->n];
            if ((rc = gs_rd_varint(&rd, &ln)) != GS_OK ||
                (rc = gs_rd_varint(&rd, &o)) != GS_OK ||
                (rc = gs_rd_varint(&rd, &n)) != GS_OK ||
                (rc = gs_rd_str(&rd, GS_NAME_BYTES_MAX, &type)) != GS_OK ||
                (rc = gs_rd_str(&rd, GS_ID_BYTES_MAX, &id)) != GS_OK)
                break;
            *rec = (struct record){NULL, (unsigned long)ln, rd.p,
                                   0,    (off_t)o,          (size_t)n};
            /* step over the updates; the build reads them */
            uint64_t nu;
            gs_slice sl;
            uint8_t kind;
            if ((rc = gs_rd_varint(&rd, &nu)) != GS_OK)
                break;
            for (uint64_t i = 0; rc == GS_OK && i < nu; i++)
                if ((rc = gs_rd_str(&rd, GS_NAME_BYTES_MAX, &sl)) == GS_OK &&
                    (rc = gs_rd_u8(&rd, &kind)) == GS_OK)
                    rc = gs_rd_str(&rd, GS_PAYLOAD_BYTES_MAX, &sl);
            if (rc != GS_OK)
                break;
            rec->kept_n = (size_t)(rd.p - rec->kept);
            b->t[b->n] = (gs_store_target){type, id};
            b->doc[b->n++] = NULL;
            st->records++;
            if (b->n == IMPORT_BATCH)
                rc = batch_write(r, b, skip_bad, fd, fn, ctx, st);
        }
        st->skipped += k->bad;
        if (rc != GS_OK || !k->full)
            goto done;
        lineno = k->line - 1;
        off = k->off;
        if (fseeko(f, off, SEEK_SET) != 0) {
            rc = GS_EIO;
            goto done;
        }
    }
    bool too_long;
    for (; (len = read_line(f, &line, &cap, &too_long, &used)) >= 0;
         off += (off_t)used) {
        lineno++;
        json_t *doc = NULL;
        const char *type = NULL, *id = NULL;
        gs_json_updates ups = {0};
        if (too_long) {
            rc = GS_ETOOBIG;
            (void)gs_why(why, sizeof why, GS_OK, "line longer than %u bytes",
                         IMPORT_LINE_MAX);
        } else {
            while (len > 0 && line[len - 1] == '\r')
                len--;
            if (len == 0)
                continue; /* blank lines are allowed */
            /* Without skip_bad, the write pass runs only when the check
             * pass found every line good: its fields need no second check
             * before the build checks them with the entity's state. */
            rc = parse_line(r, line, (size_t)len, &doc, &type, &id,
                            !write || skip_bad, write ? NULL : &ups, why,
                            sizeof why);
        }
        if (rc != GS_OK) {
            if (!write) {
                if (st->bad_line == 0)
                    st->bad_line = lineno;
                if (fn)
                    fn(lineno, rc, why, ctx);
                if (first_bad == GS_OK)
                    first_bad = rc;
                if (!skip_bad) {
                    detail(r, "line %lu: %s", lineno, why);
                    break;
                }
                k->bad += !k->full;
            }
            st->skipped += write;
            rc = GS_OK;
            continue;
        }
        if (!write) {
            rc = keep_add(k, lineno, off, (size_t)len, type, id, &ups);
            gs_json_updates_fini(&ups);
            json_decref(doc);
            st->lines = lineno;
            if (rc != GS_OK)
                break;
            continue;
        }
        b->doc[b->n] = doc;
        b->t[b->n] = (gs_store_target){gs_slice_of(type, strlen(type)),
                                       gs_slice_of(id, strlen(id))};
        b->rec[b->n] = (struct record){
            json_object_get(doc, "fields"), lineno, NULL, 0, off, (size_t)len};
        b->n++;
        st->records++;
        if (b->n == IMPORT_BATCH &&
            (rc = batch_write(r, b, skip_bad, fd, fn, ctx, st)) != GS_OK)
            break;
    }
done:
    if (write && rc == GS_OK && b->n > 0) {
        gs_store_write_result res;
        rc = write_batch(r, b->t, b->rec, b->n, skip_bad, fd, fn, ctx, &res);
        st->ops += res.written;
    }
    if (b) {
        batch_clear(b);
        free(b);
    }
    free(line);
    if (len == -2) {
        detail(r, "out of memory reading line %lu", lineno + 1);
        return GS_ENOMEM;
    }
    if (ferror(f)) {
        detail(r, "cannot read the file: %s", strerror(errno));
        return GS_EIO;
    }
    if (rc != GS_OK)
        return rc;
    return !write && !skip_bad ? first_bad : GS_OK;
}

gs_err
gs_replica_import(gs_replica *r, const char *path, int skip_bad,
                  gs_replica_report_fn fn, void *ctx, gs_import_stats *stats)
{
    r->detail[0] = 0;
    memset(stats, 0, sizeof *stats);
    FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "r");
    if (f == NULL) {
        detail(r, "cannot open %s: %s", path,
               strcmp(path, "-") == 0 ? "import needs a file, not standard "
                                        "input (it is read twice)"
                                      : strerror(errno));
        return strcmp(path, "-") == 0 ? GS_EINVAL : GS_ENOTFOUND;
    }
    struct keep k = {.full = false};
    gs_buf_init(&k.arena, IMPORT_KEEP_MAX);
    /* Pass 1 checks every line, so a bad line changes nothing. */
    gs_err rc = import_pass(r, f, false, skip_bad, fn, ctx, &k, stats);
    if (rc == GS_OK) {
        unsigned long lines = stats->lines, bad = stats->bad_line;
        rewind(f);
        memset(stats, 0, sizeof *stats);
        rc = import_pass(r, f, true, skip_bad, fn, ctx, &k, stats);
        stats->lines = lines;
        stats->bad_line = bad;
    }
    gs_buf_fini(&k.arena);
    fclose(f);
    return rc;
}

struct export_ctx {
    gs_replica *r;
    FILE *out;
    unsigned long n;
    gs_err rc;
};

static int
export_one(const gs_entity *e, void *ctx)
{
    struct export_ctx *c = ctx;
    json_t *j = gs_json_entity(c->r->schema, e, GS_REVEAL);
    if (j == NULL) {
        c->rc = GS_ENOMEM;
        return 1;
    }
    if (json_dumpf(j, c->out, JSON_COMPACT) != 0 || fputc('\n', c->out) < 0)
        c->rc = GS_EIO;
    json_decref(j);
    c->n++;
    return c->rc != GS_OK;
}

gs_err
gs_replica_export(gs_replica *r, const char *path, unsigned long *records)
{
    r->detail[0] = 0;
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (f == NULL) {
        detail(r, "cannot write %s: %s", path, strerror(errno));
        return errno == ENOSPC ? GS_EFULL : GS_EIO;
    }
    struct export_ctx c = {r, f, 0, GS_OK};
    gs_err rc =
        gs_store_entity_each(r->store, gs_slice_of("", 0), export_one, &c);
    if (rc == GS_OK)
        rc = c.rc;
    if (fflush(f) != 0 && rc == GS_OK)
        rc = errno == ENOSPC ? GS_EFULL : GS_EIO;
    if (!to_stdout && fclose(f) != 0 && rc == GS_OK)
        rc = GS_EIO;
    *records = c.n;
    return rc;
}

/* ---- bundles ---- */

struct bundle_ctx {
    gs_replica_report_fn fn;
    void *ctx;
};

static void
bundle_progress(uint64_t ops, uint64_t bytes, void *ctx)
{
    struct bundle_ctx *b = ctx;
    char msg[96];
    snprintf(msg, sizeof msg, "%llu ops, %llu bytes", (unsigned long long)ops,
             (unsigned long long)bytes);
    b->fn(0, GS_OK, msg, b->ctx);
}

static void
bundle_refusal(const gs_bundle_refusal *ref, void *ctx)
{
    struct bundle_ctx *b = ctx;
    char msg[512], author[2 * GS_KEY_BYTES + 1];
    sodium_bin2hex(author, sizeof author, ref->author, GS_KEY_BYTES);
    author[16] = 0;
    snprintf(msg, sizeof msg,
             "run %zu (%zu ops of feed %s in %s from seq %llu) refused: %s",
             ref->run + 1, ref->n_ops, author, ref->scope,
             (unsigned long long)ref->first_seq, gs_strerror(ref->reason));
    b->fn((unsigned long)ref->run + 1, ref->reason, msg, b->ctx);
}

static void
bundle_result(const gs_bundle_stats *st, gs_bundle_result *out)
{
    out->runs = st->runs;
    out->ops = st->ops;
    out->bytes = st->bytes;
    out->applied = st->applied;
    out->known = st->known;
    out->rejected = st->rejected;
    out->forks = st->forks;
    out->runs_refused = st->runs_refused;
    out->err_offset = st->err_offset;
}

gs_err
gs_replica_bundle_export(gs_replica *r, const char *path, const char *origin,
                         gs_replica_report_fn progress, void *ctx,
                         gs_bundle_result *out)
{
    struct bundle_ctx b = {progress, ctx};
    gs_bundle_stats st;
    r->detail[0] = 0;
    memset(&st, 0, sizeof st);
    memset(out, 0, sizeof *out);
    gs_err rc = gs_bundle_export(
        r->store, r->network,
        origin ? origin : gs_config_get(r->cfg, "replica.name"), path,
        progress ? bundle_progress : NULL, &b, &st);
    bundle_result(&st, out);
    if (rc == GS_EFULL)
        detail(r, "the disk holding %s is full; nothing was written", path);
    else if (rc != GS_OK)
        detail(r, "cannot write %s: %s", path, gs_strerror(rc));
    return rc;
}

gs_err
gs_replica_bundle_import(gs_replica *r, const char *path,
                         gs_replica_report_fn report, void *ctx,
                         gs_bundle_result *out)
{
    struct bundle_ctx b = {report, ctx};
    gs_bundle_stats st;
    r->detail[0] = 0;
    memset(&st, 0, sizeof st);
    memset(out, 0, sizeof *out);
    gs_err rc = gs_bundle_import(r->store, r->network, path,
                                 report ? bundle_refusal : NULL, &b, &st);
    bundle_result(&st, out);
    switch (rc) {
    case GS_OK:
        break;
    case GS_ENOTFOUND:
        detail(r, "no bundle at %s", path);
        break;
    case GS_ENETWORK:
        detail(r, "%s is a bundle of another network; nothing was imported",
               path);
        break;
    case GS_ETRUNC:
    case GS_EMALFORMED:
        detail(r,
               "%s is damaged at byte %llu (%s); the %llu runs before it "
               "were imported",
               path, (unsigned long long)st.err_offset, gs_strerror(rc),
               (unsigned long long)st.runs);
        break;
    case GS_EVERSION:
        detail(r, "%s is a bundle of a newer format; update gridsync", path);
        break;
    default:
        detail(r, "cannot import %s: %s", path, gs_strerror(rc));
    }
    return rc;
}

/* ---- config ---- */

struct config_ctx {
    gs_replica_config_fn fn;
    void *ctx;
};

static void
config_one(const gs_config_entry *e, void *ctx)
{
    struct config_ctx *c = ctx;
    c->fn(e->key, e->value, e->def, e->help, c->ctx);
}

void
gs_replica_config_each(gs_replica *r, gs_replica_config_fn fn, void *ctx)
{
    struct config_ctx c = {fn, ctx};
    gs_config_each(r->cfg, config_one, &c);
}

gs_err
gs_replica_config_set(gs_replica *r, const char *key, const char *value)
{
    gs_config_diag diag = {0};
    char path[4096];
    r->detail[0] = 0;
    gs_err rc = gs_config_set(r->cfg, key, value, &diag);
    if (rc != GS_OK) {
        detail(r, "%s", diag.msg[0] ? diag.msg : gs_strerror(rc));
        return rc;
    }
    if ((rc = path_in(path, sizeof path, r->dir, CONF_FILE)) == GS_OK)
        rc = gs_config_write(r->cfg, path);
    if (rc != GS_OK)
        detail(r, "cannot write %s: %s", path, gs_strerror(rc));
    return rc;
}

/* ---- for the agent (replica_int.h) ---- */

gs_store *
gs_replica_store(gs_replica *r)
{
    return r->store;
}

const gs_identity *
gs_replica_identity(const gs_replica *r)
{
    return &r->id;
}

const uint8_t *
gs_replica_network(const gs_replica *r)
{
    return r->network;
}

const gs_config *
gs_replica_cfg(const gs_replica *r)
{
    return r->cfg;
}

const char *
gs_replica_dir(const gs_replica *r)
{
    return r->dir;
}
