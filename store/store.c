/*
 * store.c — the LMDB replica (see store.h for the databases and the
 * invariants they keep).
 *
 * Every write goes through with_write(): one write transaction around a
 * callback that can be run again from the start. When LMDB says the map is
 * full, the transaction is aborted, the map doubled (up to the cap) and the
 * callback run again, so a batch is never half-written and never lost to a
 * small map. ENOSPC is GS_EFULL: the transaction is aborted and the files
 * keep their last committed state, which LMDB guarantees because a commit
 * writes the meta page only after the data pages.
 *
 * MDB_* and errno codes are mapped here and go no further.
 *
 * SPEC: DESIGN §4; op bytes per docs/op-format.md.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define FORMAT "1"
#define DEFAULT_MAP ((uint64_t)64 << 20)
#define FEED_REC_BYTES (8 + 8 + GS_HASH_BYTES + 1 + GS_SIG_BYTES + 1)
#define FEED_KEY_MAX (GS_KEY_BYTES + GS_SCOPE_BYTES_MAX)
#define ENT_KEY_MAX (GS_NAME_BYTES_MAX + 1 + GS_ID_BYTES_MAX)
#define HIST_KEY_MAX (ENT_KEY_MAX + 1 + 24)

struct gs_store {
    MDB_env *env;
    MDB_dbi meta, feeds, fnum, ops, ents, hist, forks;
    uint64_t max_map;
    bool map_full; /* set by put(): the running transaction hit the map */
    char dir[4096]; /* for the free-space check after a failed write */
};

/* A feed's record in the feeds database. */
struct feed {
    uint64_t num;
    gs_feed_head head;
    bool has_sig;
    gs_sig sig; /* of the head */
    uint8_t flags;
};

static gs_err
map_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return GS_OK;
    case MDB_NOTFOUND:
        return GS_ENOTFOUND;
    case ENOMEM:
        return GS_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return GS_EFULL;
    case MDB_MAP_FULL:
        return GS_ETOOBIG;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
        return GS_EVERSION;
    default:
        return GS_EIO;
    }
}

static void
put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* A failed commit on a full disk may come back as EIO rather than ENOSPC:
 * LMDB reports a short write as EIO. Say "full" when the file system has
 * less room than a commit may need, so the writer is told what to do. */
static gs_err
write_err(const gs_store *s, int mrc)
{
    struct statvfs vfs;
    if ((mrc == EIO || mrc == ENOSPC) && statvfs(s->dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)4 << 20))
        return GS_EFULL;
    return map_err(mrc);
}

/* ---- open / close ---- */

static gs_err
open_dbis(gs_store *s, bool create)
{
    MDB_txn *txn;
    unsigned flags = create ? MDB_CREATE : 0;
    int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != 0)
        return map_err(rc);
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"meta", &s->meta}, {"feeds", &s->feeds}, {"fnum", &s->fnum},
               {"ops", &s->ops},   {"ents", &s->ents},   {"hist", &s->hist},
               {"forks", &s->forks}};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
        if (rc != 0) {
            mdb_txn_abort(txn);
            /* a database missing from an existing replica: not ours */
            return rc == MDB_NOTFOUND ? GS_EVERSION : map_err(rc);
        }
    }
    MDB_val k = {6, (void *)"format"}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND && create) {
        v.mv_size = strlen(FORMAT);
        v.mv_data = (void *)FORMAT;
        rc = mdb_put(txn, s->meta, &k, &v, 0);
    } else if (rc == 0 && (v.mv_size != strlen(FORMAT) ||
                           memcmp(v.mv_data, FORMAT, v.mv_size) != 0)) {
        mdb_txn_abort(txn);
        return GS_EVERSION;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? GS_EVERSION : map_err(rc);
    }
    /* Commit even the read-only transaction: LMDB closes the handles a
     * transaction opened when that transaction is aborted. */
    return map_err(mdb_txn_commit(txn));
}

gs_err
gs_store_open(const char *dir, const gs_store_opts *opts, gs_store **out)
{
    gs_store_opts defaults = {0, 0, false};
    char path[4096];
    struct stat st;
    gs_err rc;

    if (opts == NULL)
        opts = &defaults;
    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
        return GS_EINVAL;
    bool exists = stat(path, &st) == 0;
    if (!exists && !opts->create)
        return GS_ENOTFOUND;
    gs_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return GS_ENOMEM;
    s->max_map = opts->max_map_size;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    int mrc = mdb_env_create(&s->env);
    if (mrc == 0)
        mrc = mdb_env_set_maxdbs(s->env, 16);
    if (mrc == 0)
        mrc = mdb_env_set_mapsize(s->env,
                                  opts->map_size ? opts->map_size
                                                 : DEFAULT_MAP);
    /* MDB_NOTLS: read transactions are not tied to a thread, so an app may
     * hand the replica between threads. Durable commits: no NOSYNC. */
    if (mrc == 0)
        mrc = mdb_env_open(s->env, dir, MDB_NOTLS, 0644);
    if (mrc != 0) {
        rc = map_err(mrc);
        goto fail;
    }
    rc = open_dbis(s, !exists);
    if (rc != GS_OK)
        goto fail;
    *out = s;
    return GS_OK;
fail:
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    return rc;
}

void
gs_store_close(gs_store *s)
{
    if (s == NULL)
        return;
    mdb_env_close(s->env);
    free(s);
}

/* ---- transactions ---- */

typedef gs_err (*txn_fn)(gs_store *s, MDB_txn *txn, void *ctx);

/* Grow the map after MDB_MAP_FULL: double it, up to the cap. */
static gs_err
grow(gs_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t size = (uint64_t)info.me_mapsize * 2;
    if (s->max_map && size > s->max_map) {
        if ((uint64_t)info.me_mapsize >= s->max_map)
            return GS_ETOOBIG;
        size = s->max_map;
    }
    return map_err(mdb_env_set_mapsize(s->env, (size_t)size));
}

static gs_err
with_txn(gs_store *s, bool write, txn_fn fn, void *ctx)
{
    for (;;) {
        MDB_txn *txn;
        int mrc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
        if (mrc == MDB_MAP_RESIZED) {
            /* another process grew the map: adopt its size */
            mrc = mdb_env_set_mapsize(s->env, 0);
            if (mrc != 0)
                return map_err(mrc);
            continue;
        }
        if (mrc != 0)
            return map_err(mrc);
        s->map_full = false;
        gs_err rc = fn(s, txn, ctx);
        if (rc == GS_OK && write) {
            mrc = mdb_txn_commit(txn);
            if (mrc == MDB_MAP_FULL)
                s->map_full = true;
            else if (mrc != 0)
                rc = write_err(s, mrc);
        } else {
            mdb_txn_abort(txn);
        }
        if (!write || !s->map_full)
            return rc;
        /* the batch did not fit: grow and run it again from the start */
        rc = grow(s);
        if (rc != GS_OK)
            return rc;
    }
}

/* LMDB put, with MDB_MAP_FULL reported so with_txn grows the map. */
static gs_err
put(gs_store *s, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn,
    const void *v, size_t vn, unsigned flags)
{
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    int mrc = mdb_put(txn, dbi, &key, &val, flags);
    if (mrc == MDB_MAP_FULL)
        s->map_full = true;
    return map_err(mrc);
}

/* ---- meta ---- */

struct meta_ctx {
    const char *key;
    const void *val;
    size_t len;
    void *buf;
    size_t cap;
    size_t *outlen;
};

static gs_err
meta_put_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct meta_ctx *m = ctx;
    return put(s, txn, s->meta, m->key, strlen(m->key), m->val, m->len, 0);
}

gs_err
gs_store_meta_put(gs_store *s, const char *key, const void *val, size_t len)
{
    struct meta_ctx m = {key, val, len, NULL, 0, NULL};
    if (strlen(key) == 0 || strlen(key) > 64 || len > 4096)
        return GS_EINVAL;
    return with_txn(s, true, meta_put_fn, &m);
}

static gs_err
meta_get_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct meta_ctx *m = ctx;
    MDB_val k = {strlen(m->key), (void *)m->key}, v;
    int mrc = mdb_get(txn, s->meta, &k, &v);
    if (mrc != 0)
        return map_err(mrc);
    if (v.mv_size > m->cap)
        return GS_ETOOBIG;
    memcpy(m->buf, v.mv_data, v.mv_size);
    *m->outlen = v.mv_size;
    return GS_OK;
}

gs_err
gs_store_meta_get(gs_store *s, const char *key, void *buf, size_t cap,
                  size_t *len)
{
    struct meta_ctx m = {key, NULL, 0, buf, cap, len};
    return with_txn(s, false, meta_get_fn, &m);
}

/* ---- feeds ---- */

static size_t
feed_key(const uint8_t author[GS_KEY_BYTES], gs_slice scope,
         uint8_t out[FEED_KEY_MAX])
{
    memcpy(out, author, GS_KEY_BYTES);
    memcpy(out + GS_KEY_BYTES, scope.p, scope.n);
    return GS_KEY_BYTES + scope.n;
}

static void
feed_encode(const struct feed *f, uint8_t out[FEED_REC_BYTES])
{
    uint8_t *p = out;
    put_u64be(p, f->num);
    put_u64be(p + 8, f->head.seq);
    memcpy(p + 16, f->head.hash, GS_HASH_BYTES);
    p += 16 + GS_HASH_BYTES;
    *p++ = f->has_sig;
    if (f->has_sig)
        gs_sig_encode(&f->sig, p);
    else
        memset(p, 0, GS_SIG_BYTES);
    p += GS_SIG_BYTES;
    *p = f->flags;
}

static gs_err
feed_decode(const MDB_val *v, struct feed *f)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size != FEED_REC_BYTES)
        return GS_EMALFORMED; /* a damaged replica, never a crash */
    f->num = get_u64be(p);
    f->head.seq = get_u64be(p + 8);
    memcpy(f->head.hash, p + 16, GS_HASH_BYTES);
    p += 16 + GS_HASH_BYTES;
    f->has_sig = *p++ != 0;
    gs_sig_decode(p, &f->sig);
    p += GS_SIG_BYTES;
    f->flags = *p;
    return GS_OK;
}

/* Look a feed up; GS_ENOTFOUND if new. */
static gs_err
feed_get(gs_store *s, MDB_txn *txn, const uint8_t *key, size_t kn,
         struct feed *f)
{
    MDB_val k = {kn, (void *)key}, v;
    int mrc = mdb_get(txn, s->feeds, &k, &v);
    if (mrc != 0)
        return map_err(mrc);
    return feed_decode(&v, f);
}

static gs_err
feed_put(gs_store *s, MDB_txn *txn, const uint8_t *key, size_t kn,
         const struct feed *f)
{
    uint8_t rec[FEED_REC_BYTES];
    feed_encode(f, rec);
    return put(s, txn, s->feeds, key, kn, rec, sizeof rec, 0);
}

/* A new feed gets the next number; fnum maps it back to its key. */
static gs_err
feed_new(gs_store *s, MDB_txn *txn, const uint8_t *key, size_t kn,
         struct feed *f)
{
    MDB_val k = {9, (void *)"next_feed"}, v;
    uint8_t num[8];
    uint64_t next = 1;
    int mrc = mdb_get(txn, s->meta, &k, &v);
    if (mrc == 0 && v.mv_size == 8)
        next = get_u64be(v.mv_data);
    else if (mrc != 0 && mrc != MDB_NOTFOUND)
        return map_err(mrc);
    memset(f, 0, sizeof *f);
    f->num = next;
    put_u64be(num, next + 1);
    gs_err rc = put(s, txn, s->meta, "next_feed", 9, num, 8, 0);
    if (rc != GS_OK)
        return rc;
    put_u64be(num, next);
    return put(s, txn, s->fnum, num, 8, key, kn, MDB_NOOVERWRITE);
}

gs_err
gs_store_feed_head(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                   gs_slice scope, gs_feed_head *out)
{
    uint8_t key[FEED_KEY_MAX];
    struct feed f;
    MDB_txn *txn;
    if (scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    size_t kn = feed_key(author, scope, key);
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0)
        return map_err(mrc);
    gs_err rc = feed_get(s, txn, key, kn, &f);
    mdb_txn_abort(txn);
    if (rc == GS_ENOTFOUND) {
        memset(out, 0, sizeof *out);
        return GS_OK;
    }
    if (rc == GS_OK)
        *out = f.head;
    return rc;
}

/* ---- entities ---- */

static size_t
ent_key(gs_slice type, gs_slice id, uint8_t out[ENT_KEY_MAX])
{
    memcpy(out, type.p, type.n);
    out[type.n] = 0;
    memcpy(out + type.n + 1, id.p, id.n);
    return type.n + 1 + id.n;
}

/* Load (type, id) into e, fresh if never seen. */
static gs_err
ent_load(gs_store *s, MDB_txn *txn, gs_slice type, gs_slice id, gs_entity *e)
{
    uint8_t key[ENT_KEY_MAX];
    MDB_val k = {ent_key(type, id, key), key}, v;
    int mrc = mdb_get(txn, s->ents, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return gs_entity_init(e, type, id);
    if (mrc != 0)
        return map_err(mrc);
    return gs_entity_decode(e, v.mv_data, v.mv_size);
}

static gs_err
ent_store(gs_store *s, MDB_txn *txn, const gs_entity *e, gs_buf *scratch)
{
    uint8_t key[ENT_KEY_MAX];
    size_t kn = ent_key(gs_slice_of(e->type, e->type_n),
                        gs_slice_of(e->id, e->id_n), key);
    gs_buf_reset(scratch);
    gs_err rc = gs_entity_encode(e, scratch);
    if (rc != GS_OK)
        return rc;
    return put(s, txn, s->ents, key, kn, scratch->data, scratch->len, 0);
}

/* ---- ingest ---- */

struct ingest_ctx {
    const gs_store_run *runs;
    size_t n_runs;
    const uint8_t *network;
    gs_ingest_stats *stats;
    gs_buf scratch;
    uint64_t hlc_max; /* greatest hlc appended by this transaction */
};

/* The greatest hlc held, kept in meta so every writer's clock, in any
 * process, starts above everything the replica holds. */
static gs_err
hlc_get(gs_store *s, MDB_txn *txn, uint64_t *out)
{
    MDB_val k = {7, (void *)"hlc_max"}, v;
    int mrc = mdb_get(txn, s->meta, &k, &v);
    *out = 0;
    if (mrc == MDB_NOTFOUND)
        return GS_OK;
    if (mrc != 0)
        return map_err(mrc);
    if (v.mv_size != 8)
        return GS_EMALFORMED;
    *out = get_u64be(v.mv_data);
    return GS_OK;
}

static gs_err
hlc_raise(gs_store *s, MDB_txn *txn, uint64_t hlc)
{
    uint64_t cur;
    uint8_t b[8];
    gs_err rc = hlc_get(s, txn, &cur);
    if (rc != GS_OK || hlc <= cur)
        return rc;
    put_u64be(b, hlc);
    return put(s, txn, s->meta, "hlc_max", 7, b, 8, 0);
}

static void
refuse(gs_ingest_stats *st, size_t run, gs_err why, size_t n_ops)
{
    if (st->first_bad_rc == GS_OK) {
        st->first_bad_run = run;
        st->first_bad_rc = why;
    }
    st->rejected += n_ops;
    st->by_reason[why] += n_ops;
}

/* Verify a run of any length up to GS_STORE_RUN_MAX: pieces of GS_RUN_MAX
 * linked by hash, the last piece carrying the run's signature. */
static gs_err
verify_long(const gs_run_item *items, size_t n, const gs_feed_head *head,
            const uint8_t *network, size_t *bad)
{
    gs_feed_head at;
    const gs_feed_head *from = head;
    size_t done = 0;
    while (n - done > GS_RUN_MAX) {
        size_t piece_bad = 0;
        gs_err rc = gs_run_link(items + done, GS_RUN_MAX, from, network, NULL,
                                NULL, &piece_bad);
        if (rc != GS_OK) {
            *bad = done + piece_bad;
            return rc;
        }
        gs_op last;
        rc = gs_op_decode(items[done + GS_RUN_MAX - 1].bytes,
                          items[done + GS_RUN_MAX - 1].n, &last);
        if (rc != GS_OK)
            return rc;
        at.seq = last.seq;
        gs_op_hash(items[done + GS_RUN_MAX - 1].bytes,
                   items[done + GS_RUN_MAX - 1].n, at.hash);
        from = &at;
        done += GS_RUN_MAX;
    }
    size_t piece_bad = 0;
    gs_err rc = gs_run_verify(items + done, n - done, from, network, NULL,
                              NULL, &piece_bad);
    if (rc != GS_OK)
        *bad = done + piece_bad;
    return rc;
}

/* Store and merge one verified op. */
static gs_err
append_op(gs_store *s, MDB_txn *txn, struct ingest_ctx *c, uint64_t feedno,
          const gs_op *op, const gs_run_item *item,
          const uint8_t hash[GS_HASH_BYTES])
{
    uint8_t key[16], hkey[HIST_KEY_MAX];
    gs_entity e;
    gs_err rc;

    put_u64be(key, feedno);
    put_u64be(key + 8, op->seq);
    rc = put(s, txn, s->ops, key, 16, item->bytes, item->n, MDB_NOOVERWRITE);
    if (rc != GS_OK)
        return rc;
    size_t hn = ent_key(op->type, op->id, hkey);
    hkey[hn++] = 0;
    put_u64be(hkey + hn, op->hlc);
    memcpy(hkey + hn + 8, key, 16);
    rc = put(s, txn, s->hist, hkey, hn + 24, "", 0, 0);
    if (rc != GS_OK)
        return rc;
    if (op->hlc > c->hlc_max)
        c->hlc_max = op->hlc;
    rc = ent_load(s, txn, op->type, op->id, &e);
    if (rc != GS_OK)
        return rc;
    rc = gs_entity_apply(&e, op, hash);
    if (rc == GS_OK)
        rc = ent_store(s, txn, &e, &c->scratch);
    gs_entity_fini(&e);
    return rc;
}

/* Ingest one run. Refusals are counted, not returned: only storage
 * failures abort the batch. */
static gs_err
ingest_run(gs_store *s, MDB_txn *txn, struct ingest_ctx *c, size_t r)
{
    const gs_store_run *run = &c->runs[r];
    gs_ingest_stats *st = c->stats;
    uint8_t fkey[FEED_KEY_MAX], hash[GS_HASH_BYTES];
    struct feed f;
    gs_op op;
    gs_err rc;

    if (run->n == 0)
        return GS_OK;
    if (run->n > GS_STORE_RUN_MAX) {
        refuse(st, r, GS_ETOOBIG, run->n);
        return GS_OK;
    }
    rc = gs_op_decode(run->items[0].bytes, run->items[0].n, &op);
    if (rc != GS_OK) {
        refuse(st, r, rc, run->n);
        return GS_OK;
    }
    size_t fkn = feed_key(op.author, op.scope, fkey);
    bool is_new = false;
    rc = feed_get(s, txn, fkey, fkn, &f);
    if (rc == GS_ENOTFOUND) {
        memset(&f, 0, sizeof f);
        is_new = true;
    } else if (rc != GS_OK) {
        return rc;
    }

    /* Ops the replica already holds: the same bytes are a no-op, other
     * bytes at a held (feed, seq) are a fork. */
    size_t k = 0;
    for (; k < run->n; k++) {
        const gs_run_item *it = &run->items[k];
        rc = gs_op_decode(it->bytes, it->n, &op);
        if (rc != GS_OK) {
            refuse(st, r, rc, run->n - k);
            return GS_OK;
        }
        if (op.seq > f.head.seq)
            break;
        uint8_t key[16];
        put_u64be(key, f.num);
        put_u64be(key + 8, op.seq);
        MDB_val kv = {16, key}, v;
        int mrc = mdb_get(txn, s->ops, &kv, &v);
        if (mrc != 0)
            return map_err(mrc == MDB_NOTFOUND ? MDB_CORRUPTED : mrc);
        if (v.mv_size == it->n && memcmp(v.mv_data, it->bytes, it->n) == 0) {
            st->known++;
            continue;
        }
        /* Evidence counts only if the second op is really signed by the
         * feed's author: a forged "fork" must not be able to smear a
         * device. Its signature may cover it directly or through the
         * rest of the run. */
        size_t bad_at = 0;
        rc = verify_long(it, run->n - k, NULL, c->network, &bad_at);
        if (rc != GS_OK) {
            refuse(st, r, rc, run->n - k);
            return GS_OK;
        }
        gs_buf_reset(&c->scratch);
        rc = gs_buf_put_str(&c->scratch, it->bytes, it->n);
        if (rc != GS_OK)
            return rc;
        rc = put(s, txn, s->forks, key, 16, c->scratch.data, c->scratch.len, 0);
        if (rc != GS_OK)
            return rc;
        st->forks++;
        if (st->first_bad_rc == GS_OK) {
            st->first_bad_run = r;
            st->first_bad_rc = GS_EFORK;
        }
        /* what the run chains after the fork is refused with it */
        if (run->n - k - 1 > 0)
            refuse(st, r, GS_EFORK, run->n - k - 1);
        return GS_OK;
    }
    if (k == run->n)
        return GS_OK; /* all known */

    size_t n = run->n - k;
    size_t bad = 0;
    rc = verify_long(run->items + k, n, &f.head, c->network, &bad);
    if (rc != GS_OK) {
        refuse(st, r, rc, n);
        return GS_OK;
    }
    if (is_new) {
        rc = feed_new(s, txn, fkey, fkn, &f);
        if (rc != GS_OK)
            return rc;
    }
    for (size_t i = k; i < run->n; i++) {
        const gs_run_item *it = &run->items[i];
        rc = gs_op_decode(it->bytes, it->n, &op);
        if (rc != GS_OK)
            return GS_EINVAL; /* verified a moment ago */
        gs_op_hash(it->bytes, it->n, hash);
        rc = append_op(s, txn, c, f.num, &op, it, hash);
        if (rc != GS_OK)
            return rc;
        f.head.seq = op.seq;
        memcpy(f.head.hash, hash, GS_HASH_BYTES);
    }
    f.has_sig = true;
    f.sig = *run->items[run->n - 1].sig;
    st->applied += n;
    return feed_put(s, txn, fkey, fkn, &f);
}

static gs_err
ingest_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct ingest_ctx *c = ctx;
    memset(c->stats, 0, sizeof *c->stats); /* this may be a second try */
    c->hlc_max = 0;
    for (size_t r = 0; r < c->n_runs; r++) {
        gs_err rc = ingest_run(s, txn, c, r);
        if (rc != GS_OK)
            return rc;
    }
    return hlc_raise(s, txn, c->hlc_max);
}

gs_err
gs_store_ingest(gs_store *s, const gs_store_run *runs, size_t n_runs,
                const uint8_t network[GS_KEY_BYTES], gs_ingest_stats *stats)
{
    struct ingest_ctx c = {runs, n_runs, network, stats, {0}, 0};
    gs_buf_init(&c.scratch, GS_ENTITY_BYTES_MAX);
    gs_err rc = with_txn(s, true, ingest_fn, &c);
    gs_buf_fini(&c.scratch);
    return rc;
}


/* ---- local writes ---- */

struct write_ctx {
    struct ingest_ctx ic; /* scratch and hlc tracking, shared with ingest */
    const uint8_t *author, *sk, *network;
    gs_slice scope;
    const gs_store_target *targets;
    size_t n;
    gs_store_build_fn fn;
    void *ctx;
    gs_store_write_result *out;
    gs_buf op;
};

static gs_err
write_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct write_ctx *w = ctx;
    uint8_t fkey[FEED_KEY_MAX], hash[GS_HASH_BYTES];
    struct feed f;
    uint64_t seen;
    gs_op op;
    gs_err rc;

    memset(w->out, 0, sizeof *w->out); /* this may be a second try */
    w->ic.hlc_max = 0;
    size_t fkn = feed_key(w->author, w->scope, fkey);
    bool is_new = false;
    rc = feed_get(s, txn, fkey, fkn, &f);
    if (rc == GS_ENOTFOUND) {
        memset(&f, 0, sizeof f);
        is_new = true;
        rc = GS_OK;
    }
    if (rc != GS_OK)
        return rc;
    if ((rc = hlc_get(s, txn, &seen)) != GS_OK)
        return rc;
    for (size_t i = 0; i < w->n; i++) {
        gs_entity cur;
        bool have = false;
        uint8_t key[ENT_KEY_MAX];
        const gs_store_target *t = &w->targets[i];
        if (t->type.n == 0 || t->type.n > GS_NAME_BYTES_MAX ||
            t->id.n == 0 || t->id.n > GS_ID_BYTES_MAX) {
            w->out->failed_at = i;
            return GS_EINVAL;
        }
        MDB_val k = {ent_key(t->type, t->id, key), key}, v;
        int mrc = mdb_get(txn, s->ents, &k, &v);
        if (mrc == 0) {
            if ((rc = gs_entity_decode(&cur, v.mv_data, v.mv_size)))
                return rc;
            have = true;
        } else if (mrc != MDB_NOTFOUND) {
            return map_err(mrc);
        }
        gs_buf_reset(&w->op);
        rc = w->fn(i, &f.head, seen, have ? &cur : NULL, &w->op, w->ctx);
        if (have)
            gs_entity_fini(&cur);
        if (rc != GS_OK) {
            w->out->failed_at = i;
            return rc;
        }
        if (w->op.len == 0) {
            w->out->skipped++;
            continue;
        }
        /* The builder is ours, but what goes into the log is checked like
         * anything from outside: one feed, the next seq, the right link,
         * about the target, after every stamp held. */
        rc = gs_op_decode(w->op.data, w->op.len, &op);
        if (rc == GS_OK &&
            (memcmp(op.author, w->author, GS_KEY_BYTES) ||
             gs_slice_cmp(op.scope, w->scope) || op.seq != f.head.seq + 1 ||
             memcmp(op.prev, f.head.hash, GS_HASH_BYTES) ||
             gs_slice_cmp(op.type, t->type) || gs_slice_cmp(op.id, t->id)))
            rc = GS_ECHAIN;
        if (rc == GS_OK && op.hlc <= seen)
            rc = GS_ECLOCK;
        if (rc != GS_OK) {
            w->out->failed_at = i;
            return rc;
        }
        if (is_new) {
            if ((rc = feed_new(s, txn, fkey, fkn, &f)) != GS_OK)
                return rc;
            is_new = false;
        }
        gs_op_hash(w->op.data, w->op.len, hash);
        gs_run_item item = {w->op.data, w->op.len, NULL};
        rc = append_op(s, txn, &w->ic, f.num, &op, &item, hash);
        if (rc != GS_OK)
            return rc;
        seen = op.hlc;
        f.head.seq = op.seq;
        memcpy(f.head.hash, hash, GS_HASH_BYTES);
        w->out->written++;
    }
    w->out->head = f.head;
    if (w->out->written == 0)
        return GS_OK; /* nothing new: the transaction changes nothing */
    /* One signature on the newest op vouches for the batch beneath it. */
    gs_op_sign(f.head.hash, w->network, w->sk, &f.sig);
    f.has_sig = true;
    rc = feed_put(s, txn, fkey, fkn, &f);
    if (rc == GS_OK)
        rc = hlc_raise(s, txn, w->ic.hlc_max);
    return rc;
}

gs_err
gs_store_write(gs_store *s, const uint8_t author[GS_KEY_BYTES],
               const uint8_t sk[GS_SECRETKEY_BYTES], gs_slice scope,
               const uint8_t network[GS_KEY_BYTES],
               const gs_store_target *targets, size_t n, gs_store_build_fn fn,
               void *ctx, gs_store_write_result *out)
{
    struct write_ctx w = {.author = author,
                          .sk = sk,
                          .network = network,
                          .scope = scope,
                          .targets = targets,
                          .n = n,
                          .fn = fn,
                          .ctx = ctx,
                          .out = out};
    if (!gs_scope_valid(scope.p, scope.n) || n == 0)
        return GS_EINVAL;
    gs_buf_init(&w.ic.scratch, GS_ENTITY_BYTES_MAX);
    gs_buf_init(&w.op, GS_OP_BYTES_MAX);
    gs_err rc = with_txn(s, true, write_fn, &w);
    gs_buf_fini(&w.op);
    gs_buf_fini(&w.ic.scratch);
    return rc;
}

static gs_err
hlc_seen_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    return hlc_get(s, txn, ctx);
}

gs_err
gs_store_hlc_seen(gs_store *s, uint64_t *out)
{
    return with_txn(s, false, hlc_seen_fn, out);
}

/* ---- reads ---- */

struct read_ctx {
    gs_slice type, id;
    gs_entity *out;
    gs_store_entity_fn efn;
    gs_store_op_fn ofn;
    gs_store_feed_op_fn ffn;
    void *ctx;
    uint8_t *digest;
    gs_store_counts *counts;
};

static gs_err
entity_get_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    uint8_t key[ENT_KEY_MAX];
    MDB_val k = {ent_key(c->type, c->id, key), key}, v;
    int mrc = mdb_get(txn, s->ents, &k, &v);
    if (mrc != 0)
        return map_err(mrc);
    return gs_entity_decode(c->out, v.mv_data, v.mv_size);
}

gs_err
gs_store_entity_get(gs_store *s, gs_slice type, gs_slice id, gs_entity *out)
{
    struct read_ctx c = {.type = type, .id = id, .out = out};
    if (type.n == 0 || type.n > GS_NAME_BYTES_MAX || id.n == 0 ||
        id.n > GS_ID_BYTES_MAX)
        return GS_EINVAL;
    return with_txn(s, false, entity_get_fn, &c);
}

/* Walk the keys of dbi that start with prefix. */
typedef gs_err (*walk_fn)(const MDB_val *k, const MDB_val *v, void *ctx,
                          bool *stop);

static gs_err
walk(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t pn, walk_fn fn,
     void *ctx)
{
    MDB_cursor *cur;
    MDB_val k = {pn, (void *)prefix}, v;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc != 0)
        return map_err(mrc);
    gs_err rc = GS_OK;
    bool stop = false;
    mrc = mdb_cursor_get(cur, &k, &v, pn ? MDB_SET_RANGE : MDB_FIRST);
    while (mrc == 0 && !stop) {
        if (pn && (k.mv_size < pn || memcmp(k.mv_data, prefix, pn) != 0))
            break;
        rc = fn(&k, &v, ctx, &stop);
        if (rc != GS_OK)
            break;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == GS_OK && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = map_err(mrc);
    mdb_cursor_close(cur);
    return rc;
}

static gs_err
each_ent(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct read_ctx *c = ctx;
    gs_entity e;
    (void)k;
    gs_err rc = gs_entity_decode(&e, v->mv_data, v->mv_size);
    if (rc != GS_OK)
        return rc;
    *stop = c->efn(&e, c->ctx) != 0;
    gs_entity_fini(&e);
    return GS_OK;
}

static gs_err
entity_each_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    uint8_t prefix[GS_NAME_BYTES_MAX + 1];
    size_t pn = 0;
    if (c->type.n) {
        memcpy(prefix, c->type.p, c->type.n);
        prefix[c->type.n] = 0;
        pn = c->type.n + 1;
    }
    return walk(txn, s->ents, prefix, pn, each_ent, c);
}

gs_err
gs_store_entity_each(gs_store *s, gs_slice type, gs_store_entity_fn fn,
                     void *ctx)
{
    struct read_ctx c = {.type = type, .efn = fn, .ctx = ctx};
    if (type.n > GS_NAME_BYTES_MAX)
        return GS_EINVAL;
    return with_txn(s, false, entity_each_fn, &c);
}

struct hist_walk {
    struct read_ctx *c;
    gs_store *s;
    MDB_txn *txn;
};

static gs_err
each_hist(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct hist_walk *h = ctx;
    uint8_t hash[GS_HASH_BYTES];
    (void)v;
    if (k->mv_size < 16)
        return GS_EMALFORMED;
    MDB_val ok = {16, (uint8_t *)k->mv_data + k->mv_size - 16}, ov;
    int mrc = mdb_get(h->txn, h->s->ops, &ok, &ov);
    if (mrc != 0)
        return map_err(mrc);
    gs_op_hash(ov.mv_data, ov.mv_size, hash);
    *stop = h->c->ofn(ov.mv_data, ov.mv_size, hash, h->c->ctx) != 0;
    return GS_OK;
}

static gs_err
history_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    uint8_t prefix[ENT_KEY_MAX + 1];
    size_t pn = ent_key(c->type, c->id, prefix);
    prefix[pn++] = 0;
    struct hist_walk h = {c, s, txn};
    return walk(txn, s->hist, prefix, pn, each_hist, &h);
}

gs_err
gs_store_history(gs_store *s, gs_slice type, gs_slice id, gs_store_op_fn fn,
                 void *ctx)
{
    struct read_ctx c = {.type = type, .id = id, .ofn = fn, .ctx = ctx};
    if (type.n == 0 || type.n > GS_NAME_BYTES_MAX || id.n == 0 ||
        id.n > GS_ID_BYTES_MAX)
        return GS_EINVAL;
    return with_txn(s, false, history_fn, &c);
}

/* ops_each: per feed (in feed-number order), its ops 1..head. */
struct ops_walk {
    struct read_ctx *c;
    gs_store *s;
    MDB_txn *txn;
    struct feed f;
    bool stopped;
};

static gs_err
each_feed_op(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct ops_walk *w = ctx;
    if (k->mv_size != 16)
        return GS_EMALFORMED;
    uint64_t seq = get_u64be((const uint8_t *)k->mv_data + 8);
    const gs_sig *sig =
        seq == w->f.head.seq && w->f.has_sig ? &w->f.sig : NULL;
    *stop = w->stopped =
        w->c->ffn(v->mv_data, v->mv_size, sig, w->c->ctx) != 0;
    return GS_OK;
}

static gs_err
each_feed(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct ops_walk *w = ctx;
    if (k->mv_size != 8)
        return GS_EMALFORMED;
    gs_err rc = feed_get(w->s, w->txn, v->mv_data, v->mv_size, &w->f);
    if (rc != GS_OK)
        return rc;
    rc = walk(w->txn, w->s->ops, k->mv_data, 8, each_feed_op, w);
    *stop = w->stopped;
    return rc;
}

static gs_err
ops_each_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct ops_walk w = {ctx, s, txn, {0}, false};
    return walk(txn, s->fnum, NULL, 0, each_feed, &w);
}

gs_err
gs_store_ops_each(gs_store *s, gs_store_feed_op_fn fn, void *ctx)
{
    struct read_ctx c = {.ffn = fn, .ctx = ctx};
    return with_txn(s, false, ops_each_fn, &c);
}

/* ---- digests ---- */

static gs_err
digest_ent(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    gs_digest *d = ctx;
    gs_entity e;
    (void)k;
    (void)stop;
    gs_err rc = gs_entity_decode(&e, v->mv_data, v->mv_size);
    if (rc != GS_OK)
        return rc;
    rc = gs_digest_add(d, &e);
    gs_entity_fini(&e);
    return rc;
}

static gs_err
digest_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    gs_digest d;
    gs_err rc = gs_digest_init(&d);
    if (rc != GS_OK)
        return rc;
    rc = walk(txn, s->ents, NULL, 0, digest_ent, &d);
    gs_digest_final(&d, rc == GS_OK ? c->digest : NULL);
    return rc;
}

gs_err
gs_store_digest(gs_store *s, uint8_t out[GS_HASH_BYTES])
{
    struct read_ctx c = {.digest = out};
    return with_txn(s, false, digest_fn, &c);
}

static gs_err
rebuild_op(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    gs_state *st = ctx;
    uint8_t hash[GS_HASH_BYTES];
    gs_op op;
    (void)k;
    (void)stop;
    gs_err rc = gs_op_decode(v->mv_data, v->mv_size, &op);
    if (rc != GS_OK)
        return rc;
    gs_op_hash(v->mv_data, v->mv_size, hash);
    return gs_state_apply(st, &op, hash);
}

static gs_err
rebuild_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    gs_state *st;
    gs_err rc = gs_state_new(&st);
    if (rc != GS_OK)
        return rc;
    rc = walk(txn, s->ops, NULL, 0, rebuild_op, st);
    if (rc == GS_OK)
        rc = gs_state_digest(st, c->digest);
    gs_state_free(st);
    return rc;
}

gs_err
gs_store_digest_rebuild(gs_store *s, uint8_t out[GS_HASH_BYTES])
{
    struct read_ctx c = {.digest = out};
    return with_txn(s, false, rebuild_fn, &c);
}

static gs_err
counts_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    MDB_stat st;
    MDB_envinfo info;
    struct {
        MDB_dbi dbi;
        uint64_t *out;
    } q[] = {{s->fnum, &c->counts->feeds},
             {s->ops, &c->counts->ops},
             {s->ents, &c->counts->entities},
             {s->forks, &c->counts->forks}};
    memset(c->counts, 0, sizeof *c->counts);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        int mrc = mdb_stat(txn, q[i].dbi, &st);
        if (mrc != 0)
            return map_err(mrc);
        *q[i].out = st.ms_entries;
    }
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    c->counts->map_size = info.me_mapsize;
    c->counts->map_used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    return GS_OK;
}

gs_err
gs_store_counts_get(gs_store *s, gs_store_counts *out)
{
    struct read_ctx c = {.counts = out};
    return with_txn(s, false, counts_fn, &c);
}
