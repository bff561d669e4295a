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
 * A device key sealed with a passphrase is not asked for at open: the
 * replica is locked (r->id.sk NULL) until gs_replica_unlock, reads work,
 * and whatever signs refuses with GS_EBADPASS — gs_replica_put here,
 * gs_store_write for a NULL sk, the agent and sync via gs_replica_key.
 * The passphrase is borrowed, never kept; the key is in sodium_malloc
 * memory, wiped by gs_replica_close.
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
#include "trust.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
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
/* Records per transaction: each commit syncs the disk (twice), which
 * costs as much as writing a few thousand records; the store signs every
 * GS_STORE_SIG_SPACING ops of a batch, so sync segments stay short. */
#define IMPORT_BATCH 8000

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

void
gs_replica_detail_set(gs_replica *r, const char *msg)
{
    snprintf(r->detail, sizeof r->detail, "%s", msg);
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

gs_err
gs_replica_init(const char *dir, const gs_replica_init_opts *opts,
                char device_hex[65], char *why, size_t why_len)
{
    return gs_replica_init_pass(dir, opts, NULL, 0, device_hex, why, why_len);
}

gs_err
gs_replica_init_pass(const char *dir, const gs_replica_init_opts *opts,
                     const char *pass, size_t passlen, char device_hex[65],
                     char *why, size_t why_len)
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
    if (pass && passlen == 0) {
        return gs_why(why, why_len, GS_EINVAL,
                      "the passphrase is empty; choose one, or make the "
                      "replica without a passphrase");
    }
    if (opts->authority && *opts->authority &&
        gs_identity_hex_decode(opts->authority, strlen(opts->authority), net) !=
            GS_OK) {
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
        (rc = pass ? gs_identity_save_sealed(&id, path, pass, passlen)
                   : gs_identity_save(&id, path)) != GS_OK) {
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
    if (!auth ||
        gs_identity_hex_decode(auth, strlen(auth), r->network) != GS_OK) {
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
    /* A sealed key stays locked (r->id.sk NULL) until gs_replica_unlock:
     * reads need no passphrase. Its file is checked here all the same. */
    rc = gs_identity_load(path, &r->id);
    if (rc == GS_EBADPASS)
        rc = GS_OK;
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
                    "gridsync reads; make a new replica ('gridsync init') "
                    "and sync it from a peer",
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

/* ---- the device key ---- */

int
gs_replica_locked(const gs_replica *r)
{
    return r != NULL && r->id.sk == NULL;
}

/* Say that r's key is sealed and still locked: what refuses to sign. */
static gs_err
locked_detail(gs_replica *r, const char *what)
{
    detail(r,
           "the device key %s/" KEY_FILE " is sealed with a passphrase and "
           "not unlocked; %s",
           r->dir, what);
    return GS_EBADPASS;
}

gs_err
gs_replica_unlock(gs_replica *r, const char *pass, size_t passlen)
{
    char path[4096];
    gs_identity id = {{0}, NULL};
    gs_err rc;

    if (r == NULL)
        return GS_EINVAL;
    r->detail[0] = 0;
    if (r->id.sk != NULL)
        return GS_OK; /* not sealed, or unlocked already */
    if (pass == NULL || passlen == 0)
        return locked_detail(r, "give its passphrase");
    if ((rc = path_in(path, sizeof path, r->dir, KEY_FILE)) != GS_OK)
        return rc;
    rc = gs_identity_load_pass(path, pass, passlen, &id);
    if (rc == GS_EBADPASS) {
        detail(r,
               "wrong passphrase for the device key in %s; nothing was "
               "changed; check the passphrase and try again (a key file "
               "that was altered reads the same)",
               path);
        return rc;
    }
    if (rc != GS_OK) {
        detail(r, "cannot load the device key %s: %s%s", path, gs_strerror(rc),
               rc == GS_EPERM ? "; run chmod 600 on it" : "");
        return rc;
    }
    r->id = id; /* the secret key moves to r, in sodium_malloc memory */
    return GS_OK;
}

gs_err
gs_replica_passphrase_set(gs_replica *r, const char *pass, size_t passlen)
{
    char path[4096];
    gs_err rc;

    if (r == NULL)
        return GS_EINVAL;
    r->detail[0] = 0;
    if (r->id.sk == NULL)
        return locked_detail(r, "unlock it with its passphrase first");
    if (pass == NULL || passlen == 0) {
        detail(r, "the passphrase is empty; choose one");
        return GS_EINVAL;
    }
    if ((rc = path_in(path, sizeof path, r->dir, KEY_FILE)) != GS_OK)
        return rc;
    rc = gs_identity_seal(&r->id, path, pass, passlen);
    if (rc == GS_EEXIST)
        detail(r,
               "%s.tmp exists: another change of the key file is under "
               "way, or one was cut short; if none runs, remove it and try "
               "again",
               path);
    else if (rc != GS_OK)
        detail(r, "cannot rewrite the device key %s: %s; it is as it was", path,
               gs_strerror(rc));
    return rc;
}

/* ---- writes ---- */

/* One record to write: its fields as JSON, or (import) the updates its
 * check already made for an entity not held yet, and where its line lies
 * in the file so the build can read it again for one that is held. */
struct record {
    json_t *fields; /* NULL: use kept, or read the line again */
    const char *text; /* the line in memory (else in the file at off) */
    unsigned long line;
    const uint8_t *kept; /* updates kept by the check (see struct keep) */
    size_t kept_n;
    const uint8_t *upd; /* where each of them lies in kept: n_upd x
                           struct upd_at (unaligned) */
    size_t n_upd;
    off_t off; /* the line in the file */
    size_t len;
    /* the op a parser made and hashed ahead for this record, for a head
     * of seq - 1 and hash prev ("the chain ahead"); n 0: none */
    struct {
        const uint8_t *op, *prev, *hash;
        size_t n;
        uint64_t seq, hlc;
    } ahead;
};

/* Where one update lies in an updates section, as its check read it. */
struct upd_at {
    uint32_t field, payload, payload_n; /* offsets, length */
    uint8_t field_n, kind;
    uint8_t pad[2]; /* zeros: no byte of it unset */
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
    gs_replica_guard_fn guard; /* NULL: none (see replica_int.h) */
    void *guard_ctx;
    bool shop;   /* this device may redeem points (gs_replica_shop) */
    bool stream; /* a streamed write: targets and recs hold the current
                    write only, whatever its index */
    gs_jtape tape; /* a record's fields, for the build */
    gs_op op;      /* the op of the last build */
    uint64_t wall; /* the wall clock (ms), as read for build */
    unsigned wall_age; /* builds since (% WALL_EVERY) */
    atomic_bool *ahead_off; /* set: the chain ahead is of no more use */
};

#define WALL_EVERY 64

/* The stamp of the op after one stamped seen: the replica's clock (held
 * still for a batch: a retried batch stamps from the same start) given
 * seen, at the wall time read every WALL_EVERY stamps (a read was 2% of
 * an import's writer; each stamp is past the one before it whatever the
 * clock says, and a reading that old is a fraction of a millisecond
 * behind in an import). */
static gs_err
stamp_next(const gs_hlc *clock, uint64_t seen, uint64_t *wall, unsigned *age,
           uint64_t *out)
{
    gs_hlc clk = *clock;
    if ((*age)++ % WALL_EVERY == 0)
        *wall = gs_hlc_wall_ms();
    gs_err rc = gs_hlc_recv(&clk, seen, *wall);
    return rc == GS_OK ? gs_hlc_now(&clk, *wall, out) : rc;
}

/* Op's header: the replica's write of seq after prev, stamped hlc, on t. */
static void
op_head(const gs_replica *r, uint64_t seq, const uint8_t prev[GS_HASH_BYTES],
        uint64_t hlc, const gs_store_target *t, gs_op *op)
{
    op->version = GS_OP_VERSION;
    memcpy(op->author, r->id.pk, GS_KEY_BYTES);
    op->scope = gs_slice_of(r->scope, strlen(r->scope));
    op->seq = seq;
    memcpy(op->prev, prev, GS_HASH_BYTES);
    op->hlc = hlc;
    op->type = t->type;
    op->id = t->id;
}

/* The target and record of write i. */
static const gs_store_target *
target_at(const struct build_ctx *b, size_t i)
{
    return b->stream ? b->targets : &b->targets[i];
}

static const struct record *
record_at(const struct build_ctx *b, size_t i)
{
    return b->stream ? b->recs : &b->recs[i];
}

/* Parse record rec's line again (read again from the file if it is not
 * in memory) into b's tape: *fields, its "fields". */
static gs_err
reread(struct build_ctx *b, const struct record *rec, const gs_jval **fields)
{
    char jwhy[200];
    const gs_jval *doc;
    if (rec->text != NULL) {
        /* it parsed a moment ago: only memory can fail */
        doc = gs_jtape_load(&b->tape, rec->text, rec->len, jwhy, sizeof jwhy);
        if (doc == NULL)
            return gs_why(b->why, sizeof b->why, GS_ENOMEM, "%s", jwhy);
        *fields = gs_jval_get(doc, "fields");
        return GS_OK;
    }
    char *line = malloc(rec->len ? rec->len : 1);
    if (line == NULL)
        return GS_ENOMEM;
    ssize_t got = pread(b->fd, line, rec->len, rec->off);
    doc = got == (ssize_t)rec->len
              ? gs_jtape_load(&b->tape, line, rec->len, jwhy, sizeof jwhy)
              : NULL;
    free(line);
    if (doc == NULL) /* checked a moment ago: the file changed under us */
        return gs_why(b->why, sizeof b->why, GS_EIO,
                      "the file changed while it was imported");
    *fields = gs_jval_get(doc, "fields");
    return GS_OK;
}

/* The updates kept for record rec into op (borrowing the keep arena), as
 * the check read them (entry_put). */
static void
kept_fill(const struct record *rec, gs_op *op)
{
    op->n_updates = rec->n_upd;
    for (size_t i = 0; i < rec->n_upd; i++) {
        struct upd_at a;
        memcpy(&a, rec->upd + i * sizeof a, sizeof a);
        op->updates[i] = (gs_update){gs_slice_of(rec->kept + a.field, a.field_n),
                                     a.kind,
                                     gs_slice_of(rec->kept + a.payload,
                                                 a.payload_n)};
    }
}

/* The shop takes only points its replica sees (DESIGN §3): with grants
 * only ever adding and redemptions made here alone, no replica then sees a
 * balance below zero. Devices without the shop flag are refused by the
 * store's trust rule (GS_ESHOP) whatever the balance. */
static gs_err
balance_check(struct build_ctx *b, size_t i, const gs_entity *current,
              const gs_op *op)
{
    int64_t take = gs_trust_points_taken(op);
    if (take == 0)
        return GS_OK;
    const gs_field *f =
        current
            ? gs_entity_field(current, GS_TRUST_POINTS_FIELD, GS_KIND_COUNTER)
            : NULL;
    int64_t have = f ? gs_field_counter_value(f) : 0;
    if (have >= take)
        return GS_OK;
    return gs_why(b->why, sizeof b->why, GS_EBALANCE,
                  "the balance of %.*s is %lld; cannot take %lld (grants not "
                  "yet synced here do not count until they arrive)",
                  (int)target_at(b, i)->id.n,
                  (const char *)target_at(b, i)->id.p, (long long)have,
                  (long long)take);
}

/* Whether update u would change nothing in cur: an lww field already
 * holding its value, or a set already holding every element it adds.
 * Counters, logs, stages and claims are events: they always change. */
static bool
update_unchanged(const gs_entity *cur, const gs_update *u)
{
    char name[GS_NAME_BYTES_MAX + 1];
    gs_payload p;
    gs_vref v;
    if (u->field.n > GS_NAME_BYTES_MAX ||
        gs_payload_parse(u->kind, u->payload, &p) != GS_OK)
        return false;
    memcpy(name, u->field.p, u->field.n);
    name[u->field.n] = 0;
    const gs_field *f = gs_entity_field(cur, name, u->kind);
    if (f == NULL)
        return false;
    if (u->kind == GS_KIND_LWW)
        return gs_field_lww_get(f, &v, NULL) &&
               gs_vref_cmp(&v, &p.u.lww.v) == 0;
    if (u->kind != GS_KIND_SET)
        return false;
    gs_rd r;
    gs_set_item it;
    gs_rd_init(&r, p.u.set.items.p, p.u.set.items.n);
    for (size_t j = 0; j < p.u.set.n; j++)
        if (gs_payload_set_next(&r, &it) != GS_OK ||
            it.action != GS_SET_ADD || !gs_field_set_has(f, it.elem))
            return false;
    return true;
}

/* An import writes only what changes: the updates of op that would change
 * nothing in cur are left out (a record left with none writes no op), so
 * a file imported twice writes nothing the second time, as a bundle. */
static void
unchanged_drop(const gs_entity *cur, gs_op *op)
{
    size_t k = 0;
    for (size_t i = 0; i < op->n_updates; i++)
        if (!update_unchanged(cur, &op->updates[i]))
            op->updates[k++] = op->updates[i];
    op->n_updates = k;
}

/* Build the op for record i from its JSON and the entity's current state. */
static gs_err
build(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
      const gs_entity *current, gs_buf *out, gs_store_built *built, void *ctx)
{
    struct build_ctx *b = ctx;
    const struct record *rec = record_at(b, i);
    const gs_store_target *t = target_at(b, i);
    gs_replica *r = b->r;
    gs_json_updates ups;
    const gs_jval *fields = NULL;
    bool have_ups = false;
    gs_op *op = &b->op; /* the store may read it after (built->op) */
    gs_err rc = GS_OK;

    op->n_updates = 0; /* what else op holds is set before it is read (a
                          memset of its 64 updates was a tenth of a build) */
    if (b->guard) {
        /* inside the write transaction: the rule sees the very state the
         * op is built on, whoever else writes meanwhile */
        json_t *cur =
            current ? gs_json_entity(r->schema, current, GS_JSON_REVEAL) : NULL;
        rc = current && cur == NULL
                 ? GS_ENOMEM
                 : b->guard(cur, b->guard_ctx, b->why, sizeof b->why);
        json_decref(cur);
        if (rc != GS_OK) {
            b->bad_rc = rc;
            return rc;
        }
    }
    if (current == NULL && rec->kept) {
        /* a fresh entity: the check made exactly these updates, encoded,
         * and read them */
        kept_fill(rec, op);
    } else {
        if (rec->fields != NULL) {
            fields = gs_jtape_of(&b->tape, rec->fields);
            rc = fields != NULL ? GS_OK : GS_ENOMEM;
        } else {
            rc = reread(b, rec, &fields);
        }
        if (rc == GS_OK)
            rc = gs_json_updates_decode(r->schema, t->type, current, r->id.pk,
                                        fields, &ups, b->why, sizeof b->why);
        have_ups = rc == GS_OK;
        if (have_ups)
            gs_json_updates_fill(&ups, op);
        if (have_ups && current && b->fd >= 0)
            unchanged_drop(current, op);
    }
    if (rc == GS_OK && b->shop)
        rc = balance_check(b, i, current, op);
    if (rc != GS_OK) {
        if (have_ups) /* made, then refused by the balance rule */
            gs_json_updates_fini(&ups);
        b->bad_rc = rc;
        if (b->skip_bad) {
            if (b->report)
                b->report(rec->line, rc, b->why, b->report_ctx);
            return GS_OK; /* empty op: skipped */
        }
        return rc;
    }
    bool fresh = current == NULL && rec->kept;
    if (op->n_updates > 0 && fresh && rec->ahead.n > 0 &&
        rec->ahead.seq == head->seq + 1 && rec->ahead.hlc > hlc_seen &&
        memcmp(rec->ahead.prev, head->hash, GS_HASH_BYTES) == 0) {
        /* a parser made this very op, on this head, and hashed it */
        op_head(r, rec->ahead.seq, head->hash, rec->ahead.hlc, t, op);
        rc = gs_buf_put(out, rec->ahead.op, rec->ahead.n);
        built->op = op;
        built->hash = rec->ahead.hash;
    } else if (op->n_updates > 0) {
        uint64_t hlc;
        rc = stamp_next(&r->clock, hlc_seen, &b->wall, &b->wall_age, &hlc);
        op_head(r, head->seq + 1, head->hash, hlc, t, op);
        /* gs_store_write decodes every op it is given before anything
         * else: that is the check, done once. An op made of updates its
         * parser checked and read (entry_put), about a target it checked
         * (target_check), is handed over decoded. */
        if (rc == GS_OK && fresh) {
            rc = gs_op_encode_with(op, gs_slice_of(rec->kept, rec->kept_n),
                                   out);
            built->op = op;
        } else if (rc == GS_OK) {
            rc = gs_op_encode_unchecked(op, out);
        }
    } /* else it writes nothing: no op */
    /* the head moved, or will not move, other than the chain ahead has it */
    if (b->ahead_off && built->hash == NULL &&
        (op->n_updates > 0 || rec->ahead.n > 0))
        atomic_store_explicit(b->ahead_off, true, memory_order_relaxed);
    if (have_ups)
        gs_json_updates_fini(&ups);
    return rc;
}

static gs_err write_after(gs_replica *r, gs_err rc, const struct build_ctx *b,
                          const gs_store_write_result *res);

/* Write records of one batch as one transaction. */
static gs_err
write_batch(gs_replica *r, const gs_store_target *targets,
            const struct record *recs, size_t n, bool skip_bad, int fd,
            gs_replica_report_fn fn, void *ctx, gs_store_write_result *res,
            gs_replica_guard_fn guard, void *guard_ctx)
{
    struct build_ctx b = {.r = r,
                          .targets = targets,
                          .recs = recs,
                          .skip_bad = skip_bad,
                          .report = fn,
                          .report_ctx = ctx,
                          .fd = fd,
                          .guard = guard,
                          .guard_ctx = guard_ctx};
    b.shop = gs_replica_shop(r) == GS_OK;
    gs_jtape_init(&b.tape);
    gs_err rc = gs_store_write(r->store, r->id.pk, r->id.sk,
                               gs_slice_of(r->scope, strlen(r->scope)),
                               r->network, targets, n, build, &b, res);
    rc = write_after(r, rc, &b, res);
    gs_jtape_fini(&b.tape);
    return rc;
}

/* After a write: the clock, or the detail of why it failed. */
static gs_err
write_after(gs_replica *r, gs_err rc, const struct build_ctx *b,
            const gs_store_write_result *res)
{
    if (rc == GS_OK) {
        /* the batch is durable: the clock moves past its stamps */
        uint64_t seen;
        if (gs_store_hlc_seen(r->store, &seen) == GS_OK &&
            gs_hlc_recv(&r->clock, seen, gs_hlc_wall_ms()) != GS_OK)
            detail(r, "clock: the replica holds a stamp beyond this "
                      "device's range");
    } else if (b->bad_rc != GS_OK) {
        detail(r, "line %lu: %s", record_at(b, res->failed_at)->line, b->why);
    } else if (rc == GS_EFORK) {
        detail(r, "this device's key signed two different histories (it is "
                  "in use on another device too), so its feed is frozen and "
                  "takes no more writes; see 'gridsync forks', and ask the "
                  "authority for a new enrolment");
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

static gs_err target_check(const char *type, const char *id, char *why,
                           size_t why_len);

static bool
valid_target(gs_replica *r, const char *type, const char *id)
{
    return target_check(type, id, r->detail, sizeof r->detail) == GS_OK;
}

gs_err
gs_replica_scope_use(gs_replica *r, const char *scope)
{
    const char *own = gs_config_get(r->cfg, "replica.scope");
    size_t n = scope ? strlen(scope) : 0;
    r->detail[0] = 0;
    if (n == 0 || n > GS_SCOPE_BYTES_MAX ||
        !gs_scope_valid((const uint8_t *)scope, n)) {
        detail(r, "'%s' is not a scope: a dotted org path such as "
                  "yc.s01.c01.g001",
               scope ? scope : "");
        return GS_EINVAL;
    }
    if (own == NULL ||
        !gs_scope_covers(gs_slice_of(own, strlen(own)), gs_slice_of(scope, n))) {
        detail(r, "%s is not inside this replica's scope %s; a device writes "
                  "at its scope or below it",
               scope, own ? own : "(none)");
        return GS_ESCOPE;
    }
    memcpy(r->scope, scope, n + 1);
    return GS_OK;
}

gs_err
gs_replica_put(gs_replica *r, const char *type, const char *id,
               const char *fields_json)
{
    return gs_replica_put_guarded(r, type, id, fields_json, NULL, NULL);
}

gs_err
gs_replica_put_guarded(gs_replica *r, const char *type, const char *id,
                       const char *fields_json, gs_replica_guard_fn guard,
                       void *guard_ctx)
{
    json_error_t jerr;
    gs_store_write_result res;
    r->detail[0] = 0;
    if (!valid_target(r, type, id))
        return GS_EINVAL;
    if (r->id.sk == NULL)
        return locked_detail(r, "unlock it (gs_replica_unlock) to write; "
                                "nothing was written");
    json_t *fields = json_loads(fields_json, JSON_REJECT_DUPLICATES, &jerr);
    if (fields == NULL || !json_is_object(fields)) {
        detail(r, "fields must be a JSON object: %s",
               fields ? "got another JSON value" : jerr.text);
        json_decref(fields);
        return GS_EMALFORMED;
    }
    gs_store_target t = {gs_slice_of(type, strlen(type)),
                         gs_slice_of(id, strlen(id))};
    struct record rec = {.fields = fields, .line = 1};
    gs_err rc = write_batch(r, &t, &rec, 1, false, -1, NULL, NULL, &res, guard,
                            guard_ctx);
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
        val = gs_json_value(&pl.u.lww.v);
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
        val = gs_json_value(&pl.u.log);
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

json_t *
gs_replica_op_json(const uint8_t *bytes, size_t len,
                   const uint8_t hash[GS_HASH_BYTES])
{
    gs_op op;
    char hex[2 * GS_HASH_BYTES + 1], at[32];
    if (gs_op_decode(bytes, len, &op) != GS_OK)
        return NULL;
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
    json_object_set_new(j, "type",
                        json_stringn((const char *)op.type.p, op.type.n));
    json_object_set_new(j, "id", json_stringn((const char *)op.id.p, op.id.n));
    for (size_t i = 0; i < op.n_updates; i++) {
        char name[GS_NAME_BYTES_MAX + 1];
        memcpy(name, op.updates[i].field.p, op.updates[i].field.n);
        name[op.updates[i].field.n] = 0;
        json_object_set_new(ups, name, update_json(&op.updates[i]));
    }
    json_object_set_new(j, "updates", ups);
    return j;
}

static int
hist_one(const uint8_t *bytes, size_t len, const uint8_t hash[GS_HASH_BYTES],
         void *ctx)
{
    struct hist_ctx *c = ctx;
    json_t *j = gs_replica_op_json(bytes, len, hash);
    if (j == NULL) {
        c->rc = GS_EMALFORMED;
        return 1;
    }
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

/*
 * Import (gs_replica_import) applies a file as if each line were put
 * after the one before. A file of up to IMPORT_ONE_TXN_MAX bytes is
 * checked and written in one pass and one transaction (one_pass, below).
 * A longer one is read twice, as follows. The check pass parses every
 * line, so that a bad line changes nothing unless skip_bad, follows the
 * stage fields from line to line (struct stages), and keeps what the
 * write pass needs of each good line (struct keep). The
 * write pass then writes the records in transactions of IMPORT_BATCH, one
 * signature each, from what was kept, parsing again only the lines past
 * the keep's cap.
 *
 * Parsing is most of an import's time and lines parse independently, so
 * parser threads (struct parsers) share it with the calling thread: the
 * caller reads the file into chunks of lines, whichever thread is free
 * turns each line of a chunk into a keep entry or the reason it is bad,
 * and the caller takes the chunks back in file order. Everything else
 * (reports, counts, messages, the keep, the store, r->detail, the
 * callback) stays on the calling thread and happens in line order, as if
 * it had parsed each line itself; parsers only read r->schema and r->id.pk
 * and their own chunk. In the one pass, and in the write pass, the
 * parsers work on the lines ahead while the caller writes. With one CPU,
 * or if no thread can be started, the caller parses every chunk itself.
 */

#define IMPORT_CHUNK_LINES 256                /* lines in a chunk */
#define IMPORT_CHUNK_TEXT ((size_t)256 << 10) /* line bytes in a chunk */
#define IMPORT_CHUNK_KEEP ((size_t)1 << 20)   /* entries kept after use */
#define IMPORT_CHUNKS 8      /* chunks in flight: read, parsing, parsed */
#define IMPORT_PARSERS_MAX 3 /* parser threads besides the caller */

/* The import's reading of its file: blocks, cut at newlines. The import
 * owns its FILE, and nothing else reads it while a pass runs. */
#define IMPORT_BLOCK ((size_t)64 << 10)

struct reader {
    FILE *f;
    char *blk; /* IMPORT_BLOCK bytes read, blk[at, n) not used yet */
    size_t at, n;
};

/* Append one line to dst (without its newline), up to IMPORT_LINE_MAX
 * bytes: straight from the block read, with no copy between. A longer
 * line is read through to its end and not kept (dst as it was), and
 * *too_long set. *used gets the bytes consumed, newline included.
 * Returns the length, -1 at end of file (or on a read error: see
 * ferror), -2 if out of memory (dst as it was). */
static ssize_t
read_line(struct reader *r, gs_buf *dst, bool *too_long, size_t *used)
{
    size_t n = 0, all = 0, start = dst->len;
    bool nl = false;
    *too_long = false;
    while (!nl) {
        if (r->at == r->n) {
            r->at = 0;
            r->n = fread(r->blk, 1, IMPORT_BLOCK, r->f);
            if (r->n == 0)
                break;
        }
        const char *s = r->blk + r->at, *e = memchr(s, '\n', r->n - r->at);
        size_t seg = e ? (size_t)(e - s) : r->n - r->at;
        nl = e != NULL;
        r->at += seg + nl;
        all += seg + nl;
        if (*too_long)
            continue;
        if (seg > IMPORT_LINE_MAX - n) {
            *too_long = true;
            dst->len = start;
            continue;
        }
        if (gs_buf_put(dst, s, seg) != GS_OK) {
            dst->len = start;
            return -2;
        }
        n += seg;
    }
    *used = all;
    if (all == 0)
        return -1;
    return (ssize_t)n;
}

/* The target's names, as valid_target checks them; why gets the complaint
 * (GS_EINVAL). */
static gs_err
target_check(const char *type, const char *id, char *why, size_t why_len)
{
    if (!type || !gs_name_valid((const uint8_t *)type, strlen(type)))
        return gs_why(why, why_len, GS_EINVAL,
                      "'%s' is not a type name (lower-case letters, digits, "
                      "_)",
                      type ? type : "");
    if (!id || !gs_id_valid((const uint8_t *)id, strlen(id)))
        return gs_why(why, why_len, GS_EINVAL,
                      "'%s' is not an id (1-128 bytes of text, no spaces)",
                      id ? id : "");
    return GS_OK;
}

/* Parse one line into a record on tape t: JSON of the record's shape, a
 * valid target, a type the schema has; why says what is wrong. *type,
 * *id and *fields are t's. Safe on parser threads: reads only r->schema. */
static gs_err
parse_line(const gs_replica *r, gs_jtape *t, const char *line, size_t n,
           const char **type, const char **id, const gs_jval **fields,
           char *why, size_t why_len)
{
    char jwhy[200];
    const gs_jval *j = gs_jtape_load(t, line, n, jwhy, sizeof jwhy);
    if (j == NULL)
        return gs_why(why, why_len, GS_EMALFORMED, "not JSON: %s", jwhy);
    /* the three members in one pass (a key is in an object once) */
    const gs_jval *jt = NULL, *ji = NULL, *jf = NULL, *m = j + 1;
    for (size_t i = 0; j->type == GS_J_OBJ && i < j->n; i++) {
        if (m->n == 4 && memcmp(m->u.s, "type", 4) == 0)
            jt = m + 1;
        else if (m->n == 2 && memcmp(m->u.s, "id", 2) == 0)
            ji = m + 1;
        else if (m->n == 6 && memcmp(m->u.s, "fields", 6) == 0)
            jf = m + 1;
        m += 1 + m[1].skip;
    }
    if (jt == NULL || jt->type != GS_J_STR || ji == NULL ||
        ji->type != GS_J_STR || jf == NULL || jf->type != GS_J_OBJ)
        return gs_why(why, why_len, GS_EMALFORMED,
                      "a record is {\"type\": ..., \"id\": ..., "
                      "\"fields\": {...}}");
    *type = jt->u.s;
    *id = ji->u.s;
    *fields = jf;
    gs_err rc = target_check(*type, *id, why, why_len);
    if (rc == GS_OK &&
        gs_schema_type_get(r->schema, gs_slice_of(*type, jt->n)) == NULL)
        rc = gs_why(why, why_len, GS_EINVAL, "unknown type '%s'", *type);
    return rc;
}

/* What the check pass keeps of the good lines, so that the write pass
 * need not parse them again: each line's type, id and the updates that a
 * build for an entity with no state makes (gs_json_updates_check), with
 * the line's place in the file. The write pass uses them for an entity
 * the replica does not hold yet and reads the line again for one it
 * holds. A line whose updates need the state (a reopen) keeps none and is
 * always read again; the check pass followed its stages through the file
 * (struct stages), so the write pass finds the state the check saw. The
 * arena is capped: lines past the cap are parsed again in the write pass.
 *
 * Entry: varint line, varint offset, varint length, str type, str id,
 * u8 kept, then if kept the updates as the op's encoding has them, after
 * their length (u32be): varint n, n x (str field, u8 kind, str payload),
 * sorted by field. The write pass makes entries of the lines past the cap
 * the same way, but may leave out updates that no longer check (the file
 * changed) or found no memory: kept 0, the build reads the line again. */
#define IMPORT_KEEP_MAX ((size_t)16 << 20)

struct keep {
    gs_buf arena;
    unsigned long bad;  /* bad lines skipped among those kept */
    bool full;          /* the arena filled: the rest is in the file */
    unsigned long line; /* if full: the first line not kept (1-based) */
    off_t off;          /* ... and its offset */
    gs_buf late;        /* skip_bad: lines past the cap that parse but
                           were refused for their stages (varints, in
                           order), for the write pass to skip */
};

/* Where entry_put put the parts of an entry in its buffer (offsets, as
 * the buffer may move as it grows): for a reader of a chunk's entries,
 * which takes them from here rather than parse the entry again
 * (entry_view_read). */
struct entry_view {
    uint32_t type, id, kept, upd; /* offsets of their bytes */
    uint32_t kept_n;
    uint16_t type_n, id_n;
    uint8_t n_upd;
    bool has; /* updates kept */
};

/* Append the entry of a line to b; u NULL: no updates kept. The updates
 * are kept as the op's encoding has them (gs_op_encode_updates), after
 * their length (u32be): the build copies them into the op. Then how many
 * (u8) and where each lies in them (struct upd_at): the build hands the
 * op to the store decoded. They need no parse to be read so: their names
 * are the schema's, and each payload was made by a builder of field.h,
 * which checks what it writes (json.c); the store parses each payload
 * again as it takes the op (gs_store_built). */
static gs_err
entry_put(gs_buf *b, unsigned long line, off_t off, size_t len,
          const char *type, const char *id, const gs_json_updates *u,
          struct entry_view *ev)
{
    static const uint8_t room[4];
    gs_update_at at[GS_OP_UPDATES_MAX];
    gs_op op; /* its updates only */
    size_t sec = 0, tn = strlen(type), in = strlen(id), ta = 0, ia = 0;
    gs_err rc = GS_OK;
    if ((rc = gs_buf_put_varint(b, line)) == GS_OK &&
        (rc = gs_buf_put_varint(b, (uint64_t)off)) == GS_OK &&
        (rc = gs_buf_put_varint(b, len)) == GS_OK &&
        (rc = gs_buf_put_str(b, type, tn)) == GS_OK &&
        (ta = b->len - tn, rc = gs_buf_put_str(b, id, in)) == GS_OK &&
        (ia = b->len - in, rc = gs_buf_put_u8(b, u != NULL)) == GS_OK &&
        u != NULL) {
        gs_json_updates_fill(u, &op);
        if ((rc = gs_buf_put(b, room, sizeof room)) == GS_OK) {
            sec = b->len;
            rc = gs_op_encode_updates_at(op.updates, op.n_updates, b, at);
        }
    }
    if (rc != GS_OK)
        return rc;
    /* names and ids are short (their rules: GS_NAME_BYTES_MAX,
     * GS_ID_BYTES_MAX), and a chunk's entries far below 4 GiB */
    *ev = (struct entry_view){.type = (uint32_t)ta,
                              .id = (uint32_t)ia,
                              .type_n = (uint16_t)tn,
                              .id_n = (uint16_t)in,
                              .has = u != NULL};
    if (u == NULL)
        return GS_OK;
    /* 32 bits hold it: 64 payloads of at most 32 KiB */
    size_t n = b->len - sec;
    for (int k = 0; k < 4; k++)
        b->data[sec - 4 + (size_t)k] = (uint8_t)(n >> (24 - 8 * k));
    struct upd_at ua[GS_OP_UPDATES_MAX];
    for (size_t i = 0; i < op.n_updates; i++)
        ua[i] = (struct upd_at){(uint32_t)at[i].field,
                                (uint32_t)at[i].payload,
                                (uint32_t)at[i].u->payload.n,
                                (uint8_t)at[i].u->field.n, at[i].u->kind,
                                {0, 0}};
    if ((rc = gs_buf_put_u8(b, (uint8_t)op.n_updates)) == GS_OK)
        rc = gs_buf_put(b, ua, op.n_updates * sizeof ua[0]);
    if (rc == GS_OK) {
        ev->kept = (uint32_t)sec;
        ev->kept_n = (uint32_t)n;
        ev->upd = (uint32_t)(b->len - op.n_updates * sizeof ua[0]);
        ev->n_upd = (uint8_t)op.n_updates;
    }
    return rc;
}

/* Read the entry at rd into rec and t (borrowing its bytes); rec->kept
 * points at its updates for the build (NULL if none were kept: the build
 * reads the line again). */
static gs_err
entry_read(gs_rd *rd, struct record *rec, gs_store_target *t)
{
    uint64_t ln, o, n;
    gs_slice type, id, kept;
    uint8_t has;
    gs_err rc;
    if ((rc = gs_rd_varint(rd, &ln)) != GS_OK ||
        (rc = gs_rd_varint(rd, &o)) != GS_OK ||
        (rc = gs_rd_varint(rd, &n)) != GS_OK ||
        (rc = gs_rd_str(rd, GS_NAME_BYTES_MAX, &type)) != GS_OK ||
        (rc = gs_rd_str(rd, GS_ID_BYTES_MAX, &id)) != GS_OK ||
        (rc = gs_rd_u8(rd, &has)) != GS_OK)
        return rc;
    *rec = (struct record){.line = (unsigned long)ln,
                           .off = (off_t)o,
                           .len = (size_t)n};
    *t = (gs_store_target){type, id};
    if (!has)
        return GS_OK;
    gs_slice kl;
    if ((rc = gs_rd_bytes(rd, 4, &kl)) != GS_OK)
        return rc;
    size_t kn = (size_t)kl.p[0] << 24 | (size_t)kl.p[1] << 16 |
                (size_t)kl.p[2] << 8 | kl.p[3];
    uint8_t nu;
    gs_slice at;
    if ((rc = gs_rd_bytes(rd, kn, &kept)) != GS_OK ||
        (rc = gs_rd_u8(rd, &nu)) != GS_OK ||
        (rc = gs_rd_bytes(rd, nu * sizeof(struct upd_at), &at)) != GS_OK)
        return rc;
    rec->kept = kept.p;
    rec->kept_n = kept.n;
    rec->upd = at.p;
    rec->n_upd = nu;
    return GS_OK;
}

/* entry_read of an entry of base (a chunk's keep buffer) by its view, for
 * the line (no, off, len): nothing parsed. */
static void
entry_view_read(const uint8_t *base, const struct entry_view *ev,
                unsigned long no, off_t off, size_t len, struct record *rec,
                gs_store_target *t)
{
    *rec = (struct record){.line = no, .off = off, .len = len};
    *t = (gs_store_target){gs_slice_of(base + ev->type, ev->type_n),
                           gs_slice_of(base + ev->id, ev->id_n)};
    if (!ev->has)
        return;
    rec->kept = base + ev->kept;
    rec->kept_n = ev->kept_n;
    rec->upd = base + ev->upd;
    rec->n_upd = ev->n_upd;
}

/* Keep a line's entry (made by a parser), unless the arena is full; the
 * line that does not fit, or that no entry could be made for (n == 0), is
 * where the write pass starts parsing again. */
static void
keep_take(struct keep *k, unsigned long line, off_t off, const uint8_t *e,
          size_t n)
{
    if (k->full)
        return;
    if (n > 0 && gs_buf_put(&k->arena, e, n) == GS_OK)
        return;
    k->full = true;
    k->line = line;
    k->off = off;
}

/*
 * The stages a file sets, line after line, for the check pass: an import
 * is checked as if its lines were put one after the other, and a stage
 * input is the one thing whose check depends on the lines before it
 * ("reopen" needs a stage; a stage below the current one is refused;
 * a plain stage lands in the current round). The parsers note each line's
 * stage inputs (stages_put_line); the caller follows them in line order
 * (stage_check) from the replica's state of the entity, and records where
 * each good line leaves each stage field. The write pass needs none of
 * this: it decodes every line of an entity already written against the
 * entity's state, which is then the state the check followed.
 *
 * The table holds (type, id, field) as its 128-bit SipHash under a key
 * drawn for the import (no file can be made to collide; by chance, two of
 * 2M keys collide with odds about 2^-87), open addressing, at most half
 * full, IMPORT_STAGES_MAX entries (96 MiB of table at most).
 */
#define IMPORT_STAGES_MAX ((size_t)1 << 21) /* stage fields in one file */
#define STAGE_KEY_BYTES crypto_shorthash_siphashx24_BYTES

struct stage_slot {
    uint8_t key[STAGE_KEY_BYTES];
    uint32_t round; /* <= GS_ROUND_MAX */
    uint8_t stage;  /* <= GS_STAGE_MAX */
    uint8_t used;
};

struct stages {
    struct stage_slot *slot;
    size_t cap, n; /* cap 0 or a power of two; n <= cap / 2 */
    uint8_t hkey[crypto_shorthash_siphashx24_KEYBYTES];
};

/* The key of (type, id, field). */
static void
stage_key(const struct stages *st, gs_slice type, gs_slice id,
          const gs_schema_field *sf, uint8_t key[STAGE_KEY_BYTES])
{
    uint8_t in[GS_NAME_BYTES_MAX + 1 + GS_ID_BYTES_MAX + 1 + GS_NAME_BYTES_MAX];
    size_t n = 0;
    /* type and id were read with their bounds (stage_check), the name is
     * the schema's; no NUL is in any of them, so the parts stay apart */
    memcpy(in, type.p, type.n);
    n += type.n;
    in[n++] = 0;
    memcpy(in + n, id.p, id.n);
    n += id.n;
    in[n++] = 0;
    memcpy(in + n, sf->name, sf->name_n);
    n += sf->name_n;
    crypto_shorthash_siphashx24(key, in, n, st->hkey);
}

/* The slot of key: its entry, or the free slot where it would go. */
static struct stage_slot *
stage_slot(const struct stages *st, const uint8_t key[STAGE_KEY_BYTES])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    for (size_t i = (size_t)h & (st->cap - 1);; i = (i + 1) & (st->cap - 1)) {
        struct stage_slot *s = &st->slot[i];
        if (!s->used || memcmp(s->key, key, STAGE_KEY_BYTES) == 0)
            return s;
    }
}

/* Set key's stage; GS_ETOOBIG past IMPORT_STAGES_MAX entries. */
static gs_err
stages_set(struct stages *st, const uint8_t key[STAGE_KEY_BYTES],
           uint64_t round, uint64_t stage)
{
    if (st->n + 1 > st->cap / 2) {
        if (st->n >= IMPORT_STAGES_MAX)
            return GS_ETOOBIG;
        struct stages grown = *st;
        grown.cap = st->cap ? st->cap * 2 : 1024;
        grown.slot = calloc(grown.cap, sizeof *grown.slot);
        if (grown.slot == NULL)
            return GS_ENOMEM;
        for (size_t i = 0; i < st->cap; i++)
            if (st->slot[i].used)
                *stage_slot(&grown, st->slot[i].key) = st->slot[i];
        free(st->slot);
        *st = grown;
    }
    struct stage_slot *s = stage_slot(st, key);
    st->n += !s->used;
    memcpy(s->key, key, STAGE_KEY_BYTES);
    s->round = (uint32_t)round;
    s->stage = (uint8_t)stage;
    s->used = 1;
    return GS_OK;
}

/* A line's stage inputs, for stage_check: str type, str id, varint n,
 * n x gs_json_stage (its bytes: it points into the schema, which outlives
 * the import). */
static gs_err
stages_put_line(gs_buf *b, const char *type, const char *id,
                const gs_json_updates *u)
{
    gs_err rc;
    if ((rc = gs_buf_put_str(b, type, strlen(type))) != GS_OK ||
        (rc = gs_buf_put_str(b, id, strlen(id))) != GS_OK ||
        (rc = gs_buf_put_varint(b, u->n_stages)) != GS_OK)
        return rc;
    return gs_buf_put(b, u->stages, u->n_stages * sizeof u->stages[0]);
}

/* Follow the stage inputs at p (n bytes, stages_put_line's) from where the
 * lines before left them, or the replica's state of the entity. A refusal
 * is the line's (*bad, why says it, as put would); any other error is the
 * import's. On success the table holds where the line leaves them. */
static gs_err
stage_check(gs_replica *r, struct stages *st, const uint8_t *p, size_t n,
            bool *bad, char *why, size_t why_len)
{
    struct {
        uint8_t key[STAGE_KEY_BYTES];
        uint64_t round, stage;
    } to[GS_OP_UPDATES_MAX];
    gs_slice type, id, in_b;
    uint64_t k;
    gs_entity held;
    bool looked = false, have_held = false;
    gs_rd rd;
    gs_err rc;

    *bad = false;
    gs_rd_init(&rd, p, n);
    if ((rc = gs_rd_str(&rd, GS_NAME_BYTES_MAX, &type)) != GS_OK ||
        (rc = gs_rd_str(&rd, GS_ID_BYTES_MAX, &id)) != GS_OK ||
        (rc = gs_rd_varint(&rd, &k)) != GS_OK)
        return rc;
    if (k > GS_OP_UPDATES_MAX)
        return GS_EINVAL;
    for (size_t i = 0; i < k; i++) {
        gs_json_stage in;
        bool have, wrote;
        if ((rc = gs_rd_bytes(&rd, sizeof in, &in_b)) != GS_OK)
            goto out;
        memcpy(&in, in_b.p, sizeof in);
        stage_key(st, type, id, in.sf, to[i].key);
        const struct stage_slot *s = st->cap ? stage_slot(st, to[i].key) : NULL;
        if (s != NULL && s->used) {
            have = true;
            to[i].round = s->round;
            to[i].stage = s->stage;
        } else {
            /* the first line of the file to set it: from the replica */
            if (!looked) {
                rc = gs_store_entity_get(r->store, type, id, &held);
                if (rc != GS_OK && rc != GS_ENOTFOUND)
                    goto out;
                have_held = rc == GS_OK;
                looked = true;
            }
            const gs_field *f =
                have_held ? gs_entity_field(&held, in.sf->name, GS_KIND_STAGE)
                          : NULL;
            gs_stamp at;
            have = f != NULL &&
                   gs_field_stage_get(f, &to[i].round, &to[i].stage, &at);
        }
        rc = gs_json_stage_next(&in, &have, &to[i].round, &to[i].stage, &wrote,
                                why, why_len);
        if (rc != GS_OK) {
            *bad = true;
            goto out;
        }
    }
    /* all or nothing: the line is one op */
    for (size_t i = 0; rc == GS_OK && i < k; i++)
        rc = stages_set(st, to[i].key, to[i].round, to[i].stage);
out:
    if (have_held)
        gs_entity_fini(&held);
    return rc;
}

/* Do the updates take points (a redemption)? An import refuses them in
 * its check pass: the balance rule (balance_check) would refuse one only
 * in the write pass, after the batches before it were written. */
static bool
takes_points(const gs_json_updates *u)
{
    gs_op op;
    gs_json_updates_fill(u, &op);
    return gs_trust_is_redemption(&op);
}

/* One line of a chunk, and what a parser made of it. */
struct cline {
    unsigned long no; /* 1-based */
    off_t off;        /* where it starts in the file */
    size_t at, len;   /* its bytes: text[at, at + len), trailing '\r' cut */
    bool too_long;
    gs_err rc;      /* GS_OK: a record, its entry keep[kat, kat + kn) */
    size_t kat, kn; /* kn 0 with rc GS_OK: no memory for its entry */
    struct entry_view ev; /* kn > 0: where its entry's parts are in keep */
    bool ups;       /* the entry holds its updates (else read it again) */
    size_t why;     /* rc != GS_OK: its reason at whys[why]; SIZE_MAX:
                       none could be kept, say gs_strerror(rc) */
    size_t sat, sn; /* check pass: its stages at stg[sat, sat + sn) (sn 0:
                       it writes no stage), see stages_put_line */
    /* the chain ahead: its op at ops[oat, oat + on), hash hash, made for
     * a head of seq - 1 and hash prev; on 0: none */
    size_t oat, on;
    uint64_t seq, hlc;
    uint8_t prev[GS_HASH_BYTES], hash[GS_HASH_BYTES];
};

/* read, being parsed, parsed (to be chained), chained: done */
enum { CHUNK_FREE, CHUNK_READ, CHUNK_BUSY, CHUNK_PARSED, CHUNK_DONE };

struct chunk {
    int state;
    struct cline line[IMPORT_CHUNK_LINES];
    size_t n;
    gs_buf text, keep, whys, stg, ops;
};

/* ---- the chain ahead ----
 *
 * The op chain's hash is the writer's longest serial step (BLAKE2b of
 * every op, whose first block holds the hash of the op before: a fifth
 * to a third of the writer's time in an import). In a one-pass import
 * the parsers run it ahead instead, on their own time: in line order,
 * from the feed's head and stamp read before the stream, they make the
 * op of each line as the writer would for an entity it does not hold
 * (from the kept updates; stamped as build stamps) and hash it. The
 * writer takes the made op and its hash when the line's entity is new
 * and the op's seq, prev and stamp are what its own would be (build);
 * else it makes the op itself, as without the chain, and from then on
 * the ops made ahead cannot match: it tells the parsers to stop. So an
 * import of new records (the common bulk load) is chained through; one
 * that meets an entity held, a line whose stages the writer must check
 * in order, or a write by another process, is as fast as before from
 * there. The writer's checks of seq, prev and stamp are what make a
 * wrong guess harmless. */
struct chain {
    bool on;           /* still making ops ahead (only its chainer reads) */
    atomic_bool off;   /* set by the writer: no more use */
    uint64_t seq, hlc; /* the head the next op follows: seq, its stamp */
    uint8_t prev[GS_HASH_BYTES];
    gs_hlc clock;  /* the replica's, as build starts from */
    uint64_t wall; /* as build reads it */
    unsigned wall_age;
};

struct parsers {
    const gs_replica *r;
    bool write, skip_bad; /* the pass: what a parser does with a line */
    /* the reading: whoever holds p->reading (a parser, or the caller when
     * there are no parser threads) */
    struct reader rd;
    unsigned long lineno; /* lines read */
    off_t off;            /* where the next line starts */
    bool eof;
    gs_err read_rc; /* why reading stopped early: GS_ENOMEM, GS_EIO */
    int read_errno;
    /* chunk i is c[i % IMPORT_CHUNKS]; taken back <= handed <= read */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    struct chunk *c;
    size_t n_read, n_handed, n_back;
    bool reading; /* a chunk is being read (by a parser, or the caller) */
    bool stop;
    pthread_t th[IMPORT_PARSERS_MAX];
    size_t n_th;
    gs_jtape tape; /* the caller's, when it parses */
    /* chunks chained (<= handed); one chains at a time, in order */
    size_t n_chained;
    bool chaining;
    struct chain ch;
};

/* Turn line l of c into its entry or the reason it is bad; its JSON on
 * the thread's tape t. */
static void
line_parse(const struct parsers *p, struct chunk *c, struct cline *l,
           gs_jtape *t)
{
    char why[256];
    const gs_jval *fields = NULL;
    const char *type = NULL, *id = NULL;
    gs_json_updates ups;
    bool made = false; /* ups to fini (harmless after a failed decode) */
    gs_err rc;

    l->kat = c->keep.len;
    l->kn = 0;
    l->ups = false;
    l->sat = c->stg.len;
    l->sn = 0;
    if (l->too_long) {
        rc = gs_why(why, sizeof why, GS_ETOOBIG, "line longer than %u bytes",
                    IMPORT_LINE_MAX);
    } else {
        rc = parse_line(p->r, t, (const char *)c->text.data + l->at, l->len,
                        &type, &id, &fields, why, sizeof why);
    }
    if (rc == GS_OK) {
        /* The fields' values against the schema: what can be checked
         * without the entity's state is checked before anything is
         * written; the stages, which depend on the lines before, are
         * followed in line order by the caller (stage_check). In the
         * write pass without skip_bad every line was found good already;
         * should this one not be now (the file changed), its build reads
         * it again and names the line. */
        rc = gs_json_updates_check(
            p->r->schema, gs_slice_of(type, strlen(type)), p->r->id.pk,
            fields, &ups, why, sizeof why);
        made = true;
        if (rc == GS_OK && takes_points(&ups))
            rc = gs_why(why, sizeof why, GS_ESCHEMA,
                        "a points decrease (a redemption) is not imported: "
                        "the shop redeems with 'gridsync points redeem', "
                        "which checks the balance");
        l->ups = rc == GS_OK && !ups.later;
        if (rc == GS_OK && !p->write && ups.n_stages > 0 &&
            stages_put_line(&c->stg, type, id, &ups) != GS_OK) {
            c->stg.len = l->sat;
            rc = gs_why(why, sizeof why, GS_ENOMEM, "out of memory");
        }
        if (rc == GS_OK)
            l->sn = c->stg.len - l->sat;
        if (rc != GS_OK && p->write && !p->skip_bad)
            rc = GS_OK;
    }
    l->rc = rc;
    if (rc == GS_OK) {
        gs_err erc = entry_put(&c->keep, l->no, l->off, l->len, type, id,
                               l->ups ? &ups : NULL, &l->ev);
        if (erc != GS_OK && p->write && l->ups) {
            /* no room for the updates: the build reads the line again */
            c->keep.len = l->kat;
            l->ups = false;
            erc = entry_put(&c->keep, l->no, l->off, l->len, type, id, NULL,
                            &l->ev);
        }
        if (erc == GS_OK)
            l->kn = c->keep.len - l->kat;
        else
            c->keep.len = l->kat;
    } else {
        l->why = c->whys.len;
        if (gs_buf_put(&c->whys, why, strlen(why) + 1) != GS_OK)
            l->why = SIZE_MAX;
    }
    if (made)
        gs_json_updates_fini(&ups);
}

static void
chunk_parse(const struct parsers *p, struct chunk *c, gs_jtape *t)
{
    for (size_t i = 0; i < c->n; i++)
        line_parse(p, c, &c->line[i], t);
}

/* Make the ops of c's lines ahead, in order ("the chain ahead"). */
static void
chunk_chain(struct parsers *p, struct chunk *c)
{
    struct chain *ch = &p->ch;
    gs_buf_reset(&c->ops);
    for (size_t i = 0; i < c->n; i++) {
        struct cline *l = &c->line[i];
        struct record rec;
        gs_store_target t;
        uint64_t hlc;
        l->on = 0;
        if (ch->on && atomic_load_explicit(&ch->off, memory_order_relaxed))
            ch->on = false;
        if (!ch->on || l->rc != GS_OK)
            continue; /* a bad line writes nothing (or ends the import) */
        /* a line whose stages the writer checks in order may be refused
         * there; one whose updates were not kept is built from its text */
        if (!l->ups || l->kn == 0 || l->sn > 0 || !l->ev.has) {
            ch->on = false;
            continue;
        }
        entry_view_read(c->keep.data, &l->ev, l->no, l->off, l->len, &rec,
                        &t);
        if (rec.n_upd == 0)
            continue; /* it writes no op */
        if (stamp_next(&ch->clock, ch->hlc, &ch->wall, &ch->wall_age, &hlc) !=
            GS_OK) {
            ch->on = false;
            continue;
        }
        gs_op op;
        op_head(p->r, ch->seq + 1, ch->prev, hlc, &t, &op);
        l->oat = c->ops.len;
        if (gs_op_encode_with(&op, gs_slice_of(rec.kept, rec.kept_n),
                              &c->ops) != GS_OK) {
            ch->on = false;
            continue;
        }
        l->on = c->ops.len - l->oat;
        gs_op_hash(c->ops.data + l->oat, l->on, l->hash);
        l->seq = ++ch->seq;
        l->hlc = ch->hlc = hlc;
        memcpy(l->prev, ch->prev, GS_HASH_BYTES);
        memcpy(ch->prev, l->hash, GS_HASH_BYTES);
    }
}

/* With p->mu held: chain the next chunk in order if it is parsed and no
 * other thread chains; false if there is none. The lock is let go
 * meanwhile. */
static bool
chunk_chain_next(struct parsers *p)
{
    struct chunk *c = &p->c[p->n_chained % IMPORT_CHUNKS];
    if (p->chaining || p->n_chained == p->n_handed || c->state != CHUNK_PARSED)
        return false;
    p->chaining = true;
    pthread_mutex_unlock(&p->mu);
    chunk_chain(p, c);
    pthread_mutex_lock(&p->mu);
    p->chaining = false;
    c->state = CHUNK_DONE;
    p->n_chained++;
    pthread_cond_broadcast(&p->done);
    return true;
}

static void chunk_read(struct parsers *p, struct chunk *c);

/* With p->mu held: parse the next chunk read; or else read the next one
 * if a chunk is free and no one reads; or else chain the next chunk
 * parsed. False if none can be done now. The lock is let go meanwhile.
 *
 * Chaining comes last: whichever thread is free does it, so the work of
 * the chain ahead falls to the parsers while they keep ahead of the
 * writer, and to the writer, which would wait for them otherwise, when
 * they do not. */
static bool
parsers_work(struct parsers *p, bool read, gs_jtape *t)
{
    if (p->n_handed < p->n_read) {
        struct chunk *c = &p->c[p->n_handed++ % IMPORT_CHUNKS];
        c->state = CHUNK_BUSY;
        pthread_mutex_unlock(&p->mu);
        chunk_parse(p, c, t);
        pthread_mutex_lock(&p->mu);
        c->state = CHUNK_PARSED;
        pthread_cond_broadcast(&p->done); /* the writer may chain it */
        return true;
    }
    if (!read || p->reading || p->eof || /* eof: the reader's, till then */
        p->n_read - p->n_back == IMPORT_CHUNKS)
        return chunk_chain_next(p);
    struct chunk *c = &p->c[p->n_read % IMPORT_CHUNKS];
    p->reading = true; /* the file, its position and p->eof are ours */
    pthread_mutex_unlock(&p->mu);
    chunk_read(p, c);
    pthread_mutex_lock(&p->mu);
    p->reading = false;
    if (c->n > 0) {
        c->state = CHUNK_READ;
        p->n_read++;
    }
    /* a chunk to parse, or the end for the caller to see */
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->done);
    return true;
}

/* A parser thread: reads the file and parses its chunks, ahead of the
 * caller, who takes them in order (parsers_next). */
static void *
parser_main(void *arg)
{
    struct parsers *p = arg;
    gs_jtape t; /* the thread's, for each line in turn */
    gs_jtape_init(&t);
    pthread_mutex_lock(&p->mu);
    while (!p->stop)
        if (!parsers_work(p, true, &t))
            pthread_cond_wait(&p->work, &p->mu);
    pthread_mutex_unlock(&p->mu);
    gs_jtape_fini(&t);
    return NULL;
}

/* Read lines into c (free, so the caller's alone) until it is full or the
 * file ends: blank lines only count, lines too long are marked. */
static void
chunk_read(struct parsers *p, struct chunk *c)
{
    bool too_long;
    size_t used;
    c->n = 0;
    gs_buf_reset(&c->text);
    gs_buf_reset(&c->keep);
    gs_buf_reset(&c->whys);
    gs_buf_reset(&c->stg);
    /* a chunk that held a long line lets its memory go */
    if (c->text.cap > IMPORT_CHUNK_TEXT * 2 ||
        c->keep.cap > IMPORT_CHUNK_KEEP || c->ops.cap > IMPORT_CHUNK_KEEP) {
        gs_buf_fini(&c->text);
        gs_buf_fini(&c->keep);
        gs_buf_fini(&c->ops);
        gs_buf_init(&c->text, IMPORT_CHUNK_TEXT + IMPORT_LINE_MAX);
        gs_buf_init(&c->keep, SIZE_MAX);
        gs_buf_init(&c->ops, SIZE_MAX);
    }
    while (c->n < IMPORT_CHUNK_LINES && c->text.len < IMPORT_CHUNK_TEXT) {
        size_t at = c->text.len;
        ssize_t len = read_line(&p->rd, &c->text, &too_long, &used);
        if (len == -1) {
            p->eof = true;
            if (ferror(p->rd.f)) {
                p->read_rc = GS_EIO;
                p->read_errno = errno;
            }
            return;
        }
        if (len == -2) {
            p->eof = true;
            p->read_rc = GS_ENOMEM;
            return;
        }
        p->lineno++;
        off_t off = p->off;
        p->off += (off_t)used;
        if (!too_long) {
            while (len > 0 && c->text.data[at + (size_t)len - 1] == '\r')
                len--;
            c->text.len = at + (size_t)len;
            if (len == 0)
                continue; /* blank lines are allowed */
        }
        c->line[c->n++] = (struct cline){.no = p->lineno,
                                         .off = off,
                                         .at = at,
                                         .len = too_long ? 0 : (size_t)len,
                                         .too_long = too_long};
    }
}

/* Start parsing the file from where f stands: line lineno + 1, at off;
 * ch, if not NULL, is the head the chain ahead starts from. */
static gs_err
parsers_start(struct parsers *p, const gs_replica *r, FILE *f, bool write,
              bool skip_bad, unsigned long lineno, off_t off,
              const gs_feed_head *ch, uint64_t ch_hlc)
{
    memset(p, 0, sizeof *p);
    if (ch != NULL) {
        p->ch.on = true;
        p->ch.seq = ch->seq;
        memcpy(p->ch.prev, ch->hash, GS_HASH_BYTES);
        p->ch.hlc = ch_hlc;
        p->ch.clock = r->clock;
    }
    p->r = r;
    p->write = write;
    p->skip_bad = skip_bad;
    p->rd.f = f;
    p->lineno = lineno;
    p->off = off;
    p->rd.blk = malloc(IMPORT_BLOCK);
    p->c = p->rd.blk ? calloc(IMPORT_CHUNKS, sizeof *p->c) : NULL;
    if (p->c == NULL)
        return GS_ENOMEM;
    for (size_t i = 0; i < IMPORT_CHUNKS; i++) {
        gs_buf_init(&p->c[i].text, IMPORT_CHUNK_TEXT + IMPORT_LINE_MAX);
        gs_buf_init(&p->c[i].keep, SIZE_MAX);
        gs_buf_init(&p->c[i].whys, SIZE_MAX);
        gs_buf_init(&p->c[i].stg, SIZE_MAX);
        gs_buf_init(&p->c[i].ops, SIZE_MAX);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t want = cpus > 1 ? (size_t)cpus - 1 : 0;
    if (want > IMPORT_PARSERS_MAX)
        want = IMPORT_PARSERS_MAX;
    while (p->n_th < want &&
           pthread_create(&p->th[p->n_th], NULL, parser_main, p) == 0)
        p->n_th++;
    gs_jtape_init(&p->tape);
    return GS_OK;
}

/* The next chunk of the file, parsed and chained, in file order (NULL:
 * the end, or reading stopped, see read_rc); give it back with
 * parsers_release. Rather than wait, the caller does what a parser would
 * (parsers_work): it is the writer, and the chunk it waits for may be
 * one read, or parsed, and not yet taken. */
static struct chunk *
parsers_next(struct parsers *p)
{
    struct chunk *head = &p->c[p->n_back % IMPORT_CHUNKS];
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->n_back < p->n_read && head->state == CHUNK_DONE)
            break;
        if (p->n_back == p->n_read && !p->reading && p->eof) {
            head = NULL;
            break;
        }
        if (!parsers_work(p, true, &p->tape))
            pthread_cond_wait(&p->done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return head;
}

static void
parsers_release(struct parsers *p, struct chunk *c)
{
    pthread_mutex_lock(&p->mu);
    c->state = CHUNK_FREE;
    p->n_back++;
    /* Room to read into. A parser that waits for it is woken once half
     * the chunks are free, not at each (a wake-up costs an interrupt to
     * another CPU and two context switches): the half still parsed is
     * the caller's meanwhile. */
    bool wake = p->n_read - p->n_back <= IMPORT_CHUNKS / 2;
    pthread_mutex_unlock(&p->mu);
    /* after the unlock, so that the thread woken finds the lock free and
     * this one is not woken back for it */
    if (wake)
        pthread_cond_signal(&p->work);
}

/* Stop the parsers (a chunk being parsed is finished first) and free
 * what p holds; p may be as parsers_start left it on failure, or zeroed. */
static void
parsers_stop(struct parsers *p)
{
    if (p->c != NULL) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; i < p->n_th; i++)
            pthread_join(p->th[i], NULL);
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        for (size_t i = 0; i < IMPORT_CHUNKS; i++) {
            gs_buf_fini(&p->c[i].text);
            gs_buf_fini(&p->c[i].keep);
            gs_buf_fini(&p->c[i].whys);
            gs_buf_fini(&p->c[i].stg);
            gs_buf_fini(&p->c[i].ops);
        }
        free(p->c);
        p->c = NULL;
        gs_jtape_fini(&p->tape);
    }
    free(p->rd.blk);
    p->rd.blk = NULL;
}

/* Say why reading stopped, if it stopped early. */
static gs_err
parsers_read_rc(gs_replica *r, const struct parsers *p)
{
    if (p->read_rc == GS_ENOMEM)
        detail(r, "out of memory reading line %lu", p->lineno + 1);
    else if (p->read_rc == GS_EIO)
        detail(r, "cannot read the file: %s", strerror(p->read_errno));
    return p->read_rc;
}

/* The records of one transaction. Those of the keep's arena borrow it;
 * those of a chunk are copied into keep, so that the batch outlives the
 * chunk, and read when the batch is written (keep may move as it grows). */
struct batch {
    gs_store_target t[IMPORT_BATCH];
    struct record rec[IMPORT_BATCH];
    size_t at[IMPORT_BATCH]; /* a copied entry: keep[at, at + len) */
    size_t len[IMPORT_BATCH];
    bool copied[IMPORT_BATCH];
    size_t n;
    gs_buf keep;
};

/* Add the record of a chunk's line l (its entry is copied) to b. */
static gs_err
batch_copy(struct batch *b, const struct chunk *c, const struct cline *l)
{
    b->at[b->n] = b->keep.len;
    b->len[b->n] = l->kn;
    b->copied[b->n] = true;
    gs_err rc = gs_buf_put(&b->keep, c->keep.data + l->kat, l->kn);
    if (rc == GS_OK)
        b->n++;
    return rc;
}

/* Write the records gathered in b as one batch, then forget them; say
 * how many records are written if progress. */
static gs_err
batch_write(gs_replica *r, struct batch *b, bool skip_bad, int fd,
            bool progress, gs_replica_report_fn fn, void *ctx,
            gs_import_stats *st)
{
    gs_store_write_result res = {0};
    gs_err rc = GS_OK;
    for (size_t i = 0; rc == GS_OK && i < b->n; i++) {
        gs_rd rd;
        if (!b->copied[i])
            continue;
        gs_rd_init(&rd, b->keep.data + b->at[i], b->len[i]);
        rc = entry_read(&rd, &b->rec[i], &b->t[i]);
    }
    if (rc == GS_OK && b->n > 0)
        rc = write_batch(r, b->t, b->rec, b->n, skip_bad, fd, fn, ctx, &res,
                         NULL, NULL);
    st->ops += res.written;
    b->n = 0;
    gs_buf_reset(&b->keep);
    if (rc == GS_OK && progress && fn) {
        char msg[64];
        snprintf(msg, sizeof msg, "%lu records written", st->records);
        fn(0, GS_OK, msg, ctx);
    }
    return rc;
}

/* Say why the stages of line could not be followed (rc, not the line's
 * fault). */
static void
stage_fail(gs_replica *r, unsigned long line, gs_err rc)
{
    if (rc == GS_ETOOBIG)
        detail(r, "line %lu: more than %zu stage fields in one file; split it",
               line, (size_t)IMPORT_STAGES_MAX);
    else
        detail(r, "line %lu: cannot follow its stages: %s", line,
               gs_strerror(rc));
}

/* The check pass: parse every line and follow the stages in line order;
 * report the bad lines (stopping at the first unless skip_bad); keep what
 * k can hold of the good ones. */
static gs_err
check_pass(gs_replica *r, FILE *f, bool skip_bad, gs_replica_report_fn fn,
           void *ctx, struct keep *k, gs_import_stats *st)
{
    struct parsers p;
    struct stages sg = {NULL, 0, 0, {0}};
    struct chunk *c;
    char swhy[GS_JSON_WHY_BYTES];
    gs_err rc, first_bad = GS_OK, fatal = GS_OK;
    bool stop = false;

    randombytes_buf(sg.hkey, sizeof sg.hkey);
    if ((rc = parsers_start(&p, r, f, false, skip_bad, 0, 0, NULL, 0)) !=
        GS_OK) {
        parsers_stop(&p);
        return rc;
    }
    while (!stop && (c = parsers_next(&p)) != NULL) {
        for (size_t i = 0; i < c->n && !stop; i++) {
            const struct cline *l = &c->line[i];
            const char *why = NULL;
            gs_err lrc = l->rc;
            if (lrc == GS_OK && l->sn > 0) {
                bool bad;
                lrc = stage_check(r, &sg, c->stg.data + l->sat, l->sn, &bad,
                                  swhy, sizeof swhy);
                if (lrc != GS_OK && !bad) {
                    stage_fail(r, l->no, lrc);
                    fatal = lrc;
                    stop = true;
                    break;
                }
                why = swhy;
                /* past the keep's cap the write pass parses the line
                 * again, and only this pass knows it is bad */
                if (lrc != GS_OK && k->full &&
                    gs_buf_put_varint(&k->late, l->no) != GS_OK) {
                    detail(r, "out of memory checking line %lu", l->no);
                    fatal = GS_ENOMEM;
                    stop = true;
                    break;
                }
            }
            if (lrc == GS_OK) {
                keep_take(k, l->no, l->off, c->keep.data + l->kat, l->kn);
                st->lines = l->no;
                continue;
            }
            if (why == NULL)
                why = l->why == SIZE_MAX ? gs_strerror(lrc)
                                         : (const char *)c->whys.data + l->why;
            if (st->bad_line == 0)
                st->bad_line = l->no;
            if (fn)
                fn(l->no, lrc, why, ctx);
            if (first_bad == GS_OK)
                first_bad = lrc;
            if (!skip_bad) {
                detail(r, "line %lu: %s", l->no, why);
                stop = true;
            } else {
                k->bad += !k->full;
            }
        }
        parsers_release(&p, c);
    }
    rc = fatal != GS_OK ? fatal : stop ? GS_OK : parsers_read_rc(r, &p);
    parsers_stop(&p);
    free(sg.slot);
    if (rc != GS_OK)
        return rc;
    return skip_bad ? GS_OK : first_bad;
}

/* The write pass: write the good lines in batches, first those k kept,
 * then the lines after them, parsed again. */
static gs_err
write_pass(gs_replica *r, FILE *f, bool skip_bad, gs_replica_report_fn fn,
           void *ctx, const struct keep *k, gs_import_stats *st)
{
    struct batch *b = calloc(1, sizeof *b);
    struct parsers p = {0};
    struct chunk *c;
    int fd = fileno(f);
    gs_rd rd, late;
    uint64_t next_late = 0; /* the next line of k->late; 0: none */
    gs_err rc = GS_OK;

    if (b == NULL)
        return GS_ENOMEM;
    gs_buf_init(&b->keep, SIZE_MAX);
    /* the lines the check kept: no parsing */
    gs_rd_init(&rd, k->arena.data, k->arena.len);
    while (rc == GS_OK && gs_rd_left(&rd) > 0) {
        b->copied[b->n] = false;
        if ((rc = entry_read(&rd, &b->rec[b->n], &b->t[b->n])) != GS_OK)
            break;
        b->n++;
        st->records++;
        if (b->n == IMPORT_BATCH)
            rc = batch_write(r, b, skip_bad, fd, true, fn, ctx, st);
    }
    st->skipped += k->bad;
    if (rc != GS_OK || !k->full)
        goto done;
    /* the lines past the keep's cap: parsed ahead of the writer */
    if (fseeko(f, k->off, SEEK_SET) != 0) {
        rc = GS_EIO;
        goto done;
    }
    if ((rc = parsers_start(&p, r, f, true, skip_bad, k->line - 1, k->off,
                            NULL, 0)) != GS_OK)
        goto done;
    gs_rd_init(&late, k->late.data, k->late.len);
    if (gs_rd_left(&late) > 0 && gs_rd_varint(&late, &next_late) != GS_OK)
        next_late = 0;
    while (rc == GS_OK && (c = parsers_next(&p)) != NULL) {
        for (size_t i = 0; rc == GS_OK && i < c->n; i++) {
            const struct cline *l = &c->line[i];
            bool refused = l->no == next_late;
            if (refused && (gs_rd_left(&late) == 0 ||
                            gs_rd_varint(&late, &next_late) != GS_OK))
                next_late = 0;
            if (l->rc != GS_OK || refused) {
                st->skipped++; /* reported by the check */
                continue;
            }
            if (l->kn == 0) {
                detail(r, "out of memory reading line %lu", l->no);
                rc = GS_ENOMEM;
                break;
            }
            if ((rc = batch_copy(b, c, l)) != GS_OK)
                break;
            st->records++;
            if (b->n == IMPORT_BATCH)
                rc = batch_write(r, b, skip_bad, fd, true, fn, ctx, st);
        }
        parsers_release(&p, c);
    }
done:
    if (rc == GS_OK && b->n > 0)
        rc = batch_write(r, b, skip_bad, fd, false, fn, ctx, st);
    if (rc == GS_OK && p.c != NULL)
        rc = parsers_read_rc(r, &p);
    parsers_stop(&p);
    gs_buf_fini(&b->keep);
    free(b);
    return rc;
}

/*
 * The one-pass import: a file of at most IMPORT_ONE_TXN_MAX bytes is
 * written in one transaction while the parsers read ahead. Each line is
 * checked in line order as the check pass checks it (stage_check) and
 * written at once; a bad line (without skip_bad), or any failure, aborts
 * the transaction, so nothing is written, as after a failed check pass.
 * Until it commits, the transaction's pages are held in memory (about
 * the file's size again), hence the bound; a longer file takes the two
 * passes. Other writers of the replica wait for the commit.
 */
#define IMPORT_ONE_TXN_MAX ((uint64_t)16 << 20)
/* map room asked for first, per byte of the file: a stream cannot run
 * again after the map grew (gs_store_write_stream), so it falls back to
 * the two passes if the room runs out */
#define IMPORT_ROOM_PER_BYTE 4

struct stream {
    struct build_ctx b; /* first: the build's ctx is the stream's */
    gs_store_target t;  /* the current write, borrowing chunk c */
    struct record rec;
    struct parsers p;
    struct stages sg;
    struct chunk *c; /* the chunk of the current line; NULL: none */
    size_t li;       /* the next line of c */
    gs_import_stats *st;
    unsigned long upto; /* the last line taken */
    bool started;
    bool replay;  /* the map grew and the transaction ran again */
    bool stopped; /* the stream ended the write (a bad line, a failure),
                     and r->detail says why */
};

/* The reports of the two passes after a one-pass import that ran out of
 * room: lines it reported already are not reported again. */
struct quiet {
    gs_replica_report_fn fn;
    void *ctx;
    unsigned long upto;
};

static void
quiet_report(unsigned long line, gs_err rc, const char *msg, void *ctx)
{
    const struct quiet *q = ctx;
    if (line == 0 || line > q->upto)
        q->fn(line, rc, msg, q->ctx);
}

/* Lines ahead of the one the writer takes whose bytes (the line's record
 * in the chunk, its entry, its op) it asks for. A parser thread made
 * them, most often on the other core, and perf puts the writer's first
 * read of a line's bytes, wherever it is, among its slowest instructions.
 * Measured: a CLI import of 100k records, median of 10 alternated with
 * the build without it, 238 -> 232 ms; the first reads stay slow (perf
 * annotate of build varies from run to run too much to say by how much
 * less). */
#define STREAM_AHEAD 4

static void
line_prefetch(const struct chunk *c, const struct cline *l)
{
    for (size_t k = 0; k < sizeof *l; k += 64)
        __builtin_prefetch((const char *)l + k);
    for (size_t k = 0; k < l->kn; k += 64)
        __builtin_prefetch(c->keep.data + l->kat + k);
    for (size_t k = 0; k < l->on; k += 64)
        __builtin_prefetch(c->ops.data + l->oat + k);
}

/* gs_store_next_fn of the one-pass import: the next good line. */
static gs_err
stream_next(size_t i, gs_store_target *t, void *ctx)
{
    struct stream *s = ctx;
    gs_replica *r = s->b.r;
    char swhy[GS_JSON_WHY_BYTES];
    gs_err rc;

    if (i == 0 && s->started) {
        s->replay = true; /* one_pass falls back to the two passes */
        return GS_ETOOBIG;
    }
    s->started = true;
    for (;;) {
        if (s->c != NULL && s->li == s->c->n) {
            parsers_release(&s->p, s->c);
            s->c = NULL;
        }
        if (s->c == NULL) {
            if ((s->c = parsers_next(&s->p)) == NULL) {
                rc = parsers_read_rc(r, &s->p);
                s->stopped = rc != GS_OK;
                return rc == GS_OK ? GS_ENOTFOUND : rc;
            }
            s->li = 0;
        }
        const struct cline *l = &s->c->line[s->li++];
        const char *why = NULL;
        if (s->li + STREAM_AHEAD < s->c->n)
            line_prefetch(s->c, &s->c->line[s->li + STREAM_AHEAD]);
        gs_err lrc = l->rc;
        s->upto = l->no;
        if (lrc == GS_OK && l->sn > 0) {
            bool bad;
            lrc = stage_check(r, &s->sg, s->c->stg.data + l->sat, l->sn, &bad,
                              swhy, sizeof swhy);
            if (lrc != GS_OK && !bad) {
                stage_fail(r, l->no, lrc);
                s->stopped = true;
                return lrc;
            }
            why = swhy;
        }
        if (lrc == GS_OK) {
            if (l->kn == 0) {
                detail(r, "out of memory reading line %lu", l->no);
                s->stopped = true;
                return GS_ENOMEM;
            }
            entry_view_read(s->c->keep.data, &l->ev, l->no, l->off, l->len,
                            &s->rec, &s->t);
            /* for an entity held, the build parses the line again, here
             * in the chunk (a fresh one takes the kept updates, and the
             * op made ahead if it has one) */
            s->rec.fields = NULL;
            s->rec.text = (const char *)s->c->text.data + l->at;
            s->rec.ahead.n = l->on;
            s->rec.ahead.op = l->on ? s->c->ops.data + l->oat : NULL;
            s->rec.ahead.prev = l->prev;
            s->rec.ahead.hash = l->hash;
            s->rec.ahead.seq = l->seq;
            s->rec.ahead.hlc = l->hlc;
            *t = s->t;
            s->st->records++;
            s->st->lines = l->no;
            if (s->b.report && s->st->records % IMPORT_BATCH == 0) {
                char msg[64];
                /* nothing is written until the file is done (one
                 * transaction): the count is of records prepared */
                snprintf(msg, sizeof msg,
                         "%lu records prepared, committed at the end",
                         s->st->records);
                s->b.report(0, GS_OK, msg, s->b.report_ctx);
            }
            return GS_OK;
        }
        if (why == NULL)
            why = l->why == SIZE_MAX ? gs_strerror(lrc)
                                     : (const char *)s->c->whys.data + l->why;
        if (s->st->bad_line == 0)
            s->st->bad_line = l->no;
        if (s->b.report)
            s->b.report(l->no, lrc, why, s->b.report_ctx);
        if (!s->b.skip_bad) {
            detail(r, "line %lu: %s", l->no, why);
            s->stopped = true;
            return lrc;
        }
        s->st->skipped++;
    }
}

/* Import f (size bytes) in one transaction; *replay: the map had to grow
 * and nothing was written, for the two passes to do it; the lines up to
 * *upto were reported already. */
static gs_err
one_pass(gs_replica *r, FILE *f, uint64_t size, bool skip_bad,
         gs_replica_report_fn fn, void *ctx, gs_import_stats *st, bool *replay,
         unsigned long *upto)
{
    struct stream *s = calloc(1, sizeof *s);
    gs_store_write_result res = {0};
    gs_err rc;

    *replay = false;
    if (s == NULL)
        return GS_ENOMEM;
    s->b = (struct build_ctx){.r = r,
                              .targets = &s->t,
                              .recs = &s->rec,
                              .skip_bad = skip_bad,
                              .report = fn,
                              .report_ctx = ctx,
                              .fd = fileno(f),
                              .stream = true};
    s->b.shop = gs_replica_shop(r) == GS_OK;
    gs_jtape_init(&s->b.tape);
    s->st = st;
    randombytes_buf(s->sg.hkey, sizeof s->sg.hkey);
    /* no room reserved (no address space): the stream may fall back */
    (void)gs_store_reserve(r->store, size * IMPORT_ROOM_PER_BYTE);
    /* the chain ahead starts where the feed stands now; should another
     * writer move it before the transaction begins, no op made ahead
     * matches and the writer makes them all */
    gs_feed_head head;
    uint64_t seen;
    bool ahead = gs_store_feed_head(r->store, r->id.pk,
                                    gs_slice_of(r->scope, strlen(r->scope)),
                                    &head) == GS_OK &&
                 gs_store_hlc_seen(r->store, &seen) == GS_OK;
    rc = parsers_start(&s->p, r, f, false, skip_bad, 0, 0,
                       ahead ? &head : NULL, ahead ? seen : 0);
    s->b.ahead_off = &s->p.ch.off;
    if (rc == GS_OK) {
        rc = gs_store_write_stream(r->store, r->id.pk, r->id.sk,
                                   gs_slice_of(r->scope, strlen(r->scope)),
                                   r->network, stream_next, build, s, &res);
        st->ops = rc == GS_OK ? res.written : 0; /* else none committed */
        *replay = s->replay;
        *upto = s->upto;
        if (!s->replay && !s->stopped)
            rc = write_after(r, rc, &s->b, &res);
    }
    parsers_stop(&s->p);
    gs_jtape_fini(&s->b.tape);
    free(s->sg.slot);
    free(s);
    return rc;
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
    struct stat sb;
    struct quiet q = {fn, ctx, 0};
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) &&
        (uint64_t)sb.st_size <= IMPORT_ONE_TXN_MAX) {
        bool replay;
        gs_err rc = one_pass(r, f, (uint64_t)sb.st_size, skip_bad, fn, ctx,
                             stats, &replay, &q.upto);
        if (!replay) {
            fclose(f);
            return rc;
        }
        /* nothing was written: the two passes do it in a grown map */
        r->detail[0] = 0;
        memset(stats, 0, sizeof *stats);
        rewind(f);
        if (fn != NULL) {
            fn = quiet_report;
            ctx = &q;
        }
    }
    struct keep k = {.full = false};
    gs_buf_init(&k.arena, IMPORT_KEEP_MAX);
    gs_buf_init(&k.late, SIZE_MAX);
    /* Pass 1 checks every line, so a bad line changes nothing. */
    gs_err rc = check_pass(r, f, skip_bad, fn, ctx, &k, stats);
    if (rc == GS_OK) {
        unsigned long lines = stats->lines, bad = stats->bad_line;
        rewind(f);
        memset(stats, 0, sizeof *stats);
        rc = write_pass(r, f, skip_bad, fn, ctx, &k, stats);
        stats->lines = lines;
        stats->bad_line = bad;
    }
    gs_buf_fini(&k.arena);
    gs_buf_fini(&k.late);
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
    out->runs_forked = st->runs_forked;
    out->err_offset = st->err_offset;
}

/* Export every feed, or (read not NULL) only those a reader may read. */
static gs_err
bundle_export(gs_replica *r, const char *path, const char *origin,
              const gs_slice *read, size_t n_read,
              gs_replica_report_fn progress, void *ctx, gs_bundle_result *out)
{
    struct bundle_ctx b = {progress, ctx};
    gs_bundle_stats st;
    memset(&st, 0, sizeof st);
    memset(out, 0, sizeof *out);
    gs_err rc = gs_bundle_export_scoped(
        r->store, r->network,
        origin ? origin : gs_config_get(r->cfg, "replica.name"), path, read,
        n_read, progress ? bundle_progress : NULL, &b, &st);
    bundle_result(&st, out);
    if (rc == GS_EFULL)
        detail(r, "the disk holding %s is full; nothing was written", path);
    else if (rc != GS_OK)
        detail(r, "cannot write %s: %s", path, gs_strerror(rc));
    return rc;
}

gs_err
gs_replica_bundle_export(gs_replica *r, const char *path, const char *origin,
                         gs_replica_report_fn progress, void *ctx,
                         gs_bundle_result *out)
{
    r->detail[0] = 0;
    return bundle_export(r, path, origin, NULL, 0, progress, ctx, out);
}

gs_err
gs_replica_bundle_export_for(gs_replica *r, const char *path,
                             const char *origin, const char *device,
                             gs_replica_report_fn progress, void *ctx,
                             gs_bundle_result *out)
{
    uint8_t key[GS_KEY_BYTES];
    char(*v)[GS_SCOPE_BYTES_MAX + 1] = NULL;
    gs_slice read[GS_TRUST_SCOPES_MAX];
    r->detail[0] = 0;
    memset(out, 0, sizeof *out);
    if (!device ||
        gs_identity_hex_decode(device, strlen(device), key) != GS_OK) {
        detail(r, "'%s' is not a device key: give the 64 hex digits "
                  "'gridsync init' printed for the device",
               device ? device : "");
        return GS_EINVAL;
    }
    if (!(v = calloc(GS_TRUST_SCOPES_MAX, sizeof *v)))
        return GS_ENOMEM;
    int n = gs_trust_read_scopes(r->store, r->network, key, v,
                                 GS_TRUST_SCOPES_MAX);
    for (int i = 0; i < n; i++)
        read[i] = gs_slice_of(v[i], strlen(v[i]));
    gs_err rc = bundle_export(r, path, origin, n < 0 ? NULL : read,
                              n < 0 ? 0 : (size_t)n, progress, ctx, out);
    free(v);
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
    if (rc == GS_OK || st.runs > 0) {
        /* the bundle may have told us we are revoked */
        gs_store_purge_result pr;
        gs_err prc = gs_trust_purge(r->store, r->network, r->id.pk, &pr);
        out->purged_feeds = pr.feeds;
        out->purged_ops = pr.ops;
        if (rc == GS_OK && prc != GS_OK) {
            detail(r, "this device is revoked, and removing the data it may "
                      "no longer read failed: %s; run the import again",
                   gs_strerror(prc));
            return prc;
        }
    }
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

gs_err
gs_replica_shop(gs_replica *r)
{
    char hex[65];
    gs_entity cert;
    gs_cert_view v;
    if (memcmp(r->id.pk, r->network, GS_KEY_BYTES) == 0)
        return GS_OK; /* the authority (a standalone replica is its own) */
    gs_trust_id(r->id.pk, hex);
    gs_err rc = gs_store_entity_get(
        r->store, gs_slice_of(GS_TRUST_CERT, strlen(GS_TRUST_CERT)),
        gs_slice_of(hex, 64), &cert);
    if (rc != GS_OK)
        return rc;
    gs_cert_view_read(&cert, &v);
    bool shop = v.shop;
    gs_entity_fini(&cert);
    return shop ? GS_OK : GS_ESHOP;
}

const gs_schema *
gs_replica_schema(const gs_replica *r)
{
    return r->schema;
}

const gs_identity *
gs_replica_identity(const gs_replica *r)
{
    return &r->id;
}

gs_err
gs_replica_key(gs_replica *r, const char *pass, size_t passlen,
               const gs_identity **id, char *why, size_t why_len)
{
    gs_err rc = GS_OK;
    if (r->id.sk == NULL && pass == NULL)
        rc = locked_detail(r, "open the replica, unlock it with the "
                              "passphrase, then start the agent or sync");
    else if (r->id.sk == NULL)
        rc = gs_replica_unlock(r, pass, passlen);
    if (rc != GS_OK)
        return gs_why(why, why_len, rc, "%s", r->detail);
    *id = &r->id;
    return GS_OK;
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
gs_replica_scope(const gs_replica *r)
{
    return r->scope;
}

const char *
gs_replica_dir(const gs_replica *r)
{
    return r->dir;
}
