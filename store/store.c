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
 * Ops and entities are kept in compact stored forms (store.h, "stored
 * forms" and "op blocks" below) that expand to the canonical bytes on
 * every read: nothing outside this file ever sees the stored form. Ops
 * are stored in per-feed blocks without author, scope, seq and prev, most
 * of them zstd-compressed; entities list the ops that touched them (hist
 * takes over past HIST_INLINE) and name fields by number.
 *
 * A transaction that applies a revocation ends by rolling its device
 * back ("rolling back a revoked device" below): the device's ops past the
 * cutoff leave the log, and what they touched is rebuilt from what stays.
 *
 * MDB_* and errno codes are mapped here and go no further.
 *
 * SPEC: DESIGN §4, §5 (revocation); op bytes per docs/op-format.md.
 */
#include "store.h"
#include "trust.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <zstd.h>

/* 6: an entity type has a database of its own; 5: interned strings; 4:
 * stage updates carry a base; 3: ops in blocks; 2: compact ops and
 * entities */
#define FORMAT "6"
#define DEFAULT_MAP ((uint64_t)64 << 20)
#define FEED_REC_BYTES (8 + 8 + GS_HASH_BYTES + 1 + GS_SIG_BYTES + 1)
#define FEED_KEY_MAX (GS_KEY_BYTES + GS_SCOPE_BYTES_MAX)
#define ENT_KEY_MAX (GS_NAME_BYTES_MAX + 1 + GS_ID_BYTES_MAX)
#define HIST_KEY_MAX (ENT_KEY_MAX + 1 + 8 + 20)
#define HIST_INLINE 16 /* ops an entity lists itself; more go to hist */
#define NAMES_CACHE 64 /* field names an ecodec remembers */
#define TYPE_TAILS 16   /* entity types whose last key an ecodec knows */
#define ENT_SLOTS 31    /* entity types with a database of their own */
_Static_assert(NAMES_CACHE < 256, "a name hint holds a slot in a byte");
#define V_SREF 0x20       /* stored lww value: an interned string */

struct gs_store {
    MDB_env *env;
    MDB_dbi meta, feeds, fnum, ops, ents, hist, forks, sigs, names;
    MDB_dbi strs, strids; /* interned strings, both ways */
    MDB_dbi etypes;       /* entity type -> its slot ("entity databases") */
    MDB_dbi eslot[ENT_SLOTS + 1]; /* slot k's database; [0] is ents */
    uint64_t *seen; /* strings ops wrote, hashed, with counts (str_ref) */
    size_t blk_aim;  /* a sealed op block's size aimed at, and */
    uint64_t zratio; /* its compressed bytes per 1024 raw, last seen */
    uint64_t max_map;
    bool map_full; /* set by put(): the running write transaction hit the
                      map; only the one writer LMDB admits touches it */
    /* Threads of one process may share the store (the app and the agent
     * thread of gs_agent_start): every transaction holds `resize` shared;
     * changing the map size needs it exclusive, because LMDB allows that
     * only while this process has no transaction open. */
    pthread_rwlock_t resize;
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

/* flags. FROZEN: the author forked the feed; its head is the last op
 * before the fork (maybe seq 0) and may be unsigned: the evidence's first
 * branch, whose first op chains on it, vouches for it (docs/trust.md §4).
 * SUSPECT: a run that should have chained on our head failed its
 * signature, which is what a fork below the head looks like over the wire
 * (prev is left out there): the next sync asks for the feed from seq 1. */
#define FEED_FROZEN 0x01
#define FEED_SUSPECT 0x02

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

static size_t
put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static void
put_u32be(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint32_t
get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
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
    } dbs[] = {
        {"meta", &s->meta},   {"feeds", &s->feeds}, {"fnum", &s->fnum},
        {"ops", &s->ops},     {"ents", &s->ents},   {"hist", &s->hist},
        {"forks", &s->forks}, {"sigs", &s->sigs},   {"names", &s->names},
        {"strs", &s->strs},   {"strids", &s->strids}, {"etypes", &s->etypes}};
    size_t n_dbs = sizeof dbs / sizeof dbs[0];
    bool no_sigs = false;
    /* then the slots' databases, ents.1 to ents.ENT_SLOTS, all made at
     * init: a transaction of any age may read one */
    for (size_t i = 0; i < n_dbs + ENT_SLOTS; i++) {
        char slot[16];
        if (i >= n_dbs) {
            snprintf(slot, sizeof slot, "ents.%zu", i - n_dbs + 1);
            rc = mdb_dbi_open(txn, slot, flags, &s->eslot[i - n_dbs + 1]);
        } else {
            rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
        }
        if (rc == MDB_NOTFOUND && i < n_dbs && dbs[i].dbi == &s->sigs) {
            no_sigs = true; /* a replica from before sigs: added below */
            continue;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            /* a database missing from an existing replica: not ours */
            return rc == MDB_NOTFOUND ? GS_EVERSION : map_err(rc);
        }
    }
    s->eslot[0] = s->ents;
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
    rc = mdb_txn_commit(txn);
    if (rc != 0 || !no_sigs)
        return map_err(rc);
    /* sigs came after format 2 without changing it: empty is a valid
     * state (no checkpoints yet), so an older replica gets one here. */
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return map_err(rc);
    rc = mdb_dbi_open(txn, "sigs", MDB_CREATE, &s->sigs);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
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
    if (pthread_rwlock_init(&s->resize, NULL) != 0) {
        free(s);
        return GS_ENOMEM;
    }
    int mrc = mdb_env_create(&s->env);
    if (mrc == 0)
        mrc = mdb_env_set_maxdbs(s->env, 12 + ENT_SLOTS);
    if (mrc == 0)
        mrc = mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size
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
    /* an overflow page holds its size less a 16-byte header; aim a little
     * lower, as the next block's ratio is a guess; 8:1 until one is seen */
    MDB_stat ms;
    mdb_env_stat(s->env, &ms);
    s->blk_aim = (ms.ms_psize - 16) / 16 * 15;
    s->zratio = 128;
    *out = s;
    return GS_OK;
fail:
    if (s->env)
        mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->resize);
    free(s->seen);
    free(s);
    return rc;
}

void
gs_store_close(gs_store *s)
{
    if (s == NULL)
        return;
    mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->resize);
    free(s->seen);
    free(s);
}

/* A transaction of this process, under `resize` held shared. */
static int
txn_begin(gs_store *s, unsigned flags, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&s->resize);
    int mrc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (mrc != 0)
        pthread_rwlock_unlock(&s->resize);
    return mrc;
}

static void
txn_abort(gs_store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
}

static int
txn_commit(gs_store *s, MDB_txn *txn)
{
    int mrc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&s->resize);
    return mrc;
}

/* Set the map size (0: adopt another process's) with no transaction of
 * this process open. */
static int
set_mapsize(gs_store *s, size_t size)
{
    pthread_rwlock_wrlock(&s->resize);
    int mrc = mdb_env_set_mapsize(s->env, size);
    pthread_rwlock_unlock(&s->resize);
    return mrc;
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
    return map_err(set_mapsize(s, (size_t)size));
}

static gs_err
with_txn(gs_store *s, bool write, txn_fn fn, void *ctx)
{
    for (;;) {
        MDB_txn *txn;
        int mrc = txn_begin(s, write ? 0 : MDB_RDONLY, &txn);
        if (mrc == MDB_MAP_RESIZED) {
            /* another process grew the map: adopt its size */
            mrc = set_mapsize(s, 0);
            if (mrc != 0)
                return map_err(mrc);
            continue;
        }
        if (mrc != 0)
            return map_err(mrc);
        if (write)
            s->map_full = false;
        gs_err rc = fn(s, txn, ctx);
        bool full = false;
        if (rc == GS_OK && write) {
            mrc = txn_commit(s, txn);
            if (mrc == MDB_MAP_FULL)
                s->map_full = true;
            else if (mrc != 0)
                rc = write_err(s, mrc);
            full = s->map_full;
        } else {
            full = write && s->map_full;
            txn_abort(s, txn);
        }
        if (!write || !full)
            return rc;
        /* the batch did not fit: grow and run it again from the start */
        rc = grow(s);
        if (rc != GS_OK)
            return rc;
    }
}

/* An LMDB delete's result, with MDB_MAP_FULL reported so with_txn grows
 * the map (a delete copies pages too). */
static gs_err
del_err(gs_store *s, int mrc)
{
    if (mrc == MDB_MAP_FULL)
        s->map_full = true;
    return map_err(mrc);
}

/* LMDB put at cursor cur, with MDB_MAP_FULL reported as put does. */
static gs_err
cursor_put(gs_store *s, MDB_cursor *cur, const void *k, size_t kn,
           const void *v, size_t vn, unsigned flags)
{
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    int mrc = mdb_cursor_put(cur, &key, &val, flags);
    if (mrc == MDB_MAP_FULL)
        s->map_full = true;
    return map_err(mrc);
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

/* Walk the keys of dbi that start with prefix. */
typedef gs_err (*walk_fn)(const MDB_val *k, const MDB_val *v, void *ctx,
                          bool *stop);

/* LMDB's order of keys (mdb_cmp_memn). */
static int
key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? c : (an > bn) - (an < bn);
}

/* walk, telling in *stop whether fn stopped it */
static gs_err
walk_until(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t pn,
           walk_fn fn, void *ctx, bool *stop)
{
    MDB_cursor *cur;
    MDB_val k = {pn, (void *)prefix}, v;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc != 0)
        return map_err(mrc);
    gs_err rc = GS_OK;
    *stop = false;
    mrc = mdb_cursor_get(cur, &k, &v, pn ? MDB_SET_RANGE : MDB_FIRST);
    while (mrc == 0 && !*stop) {
        if (pn && (k.mv_size < pn || memcmp(k.mv_data, prefix, pn) != 0))
            break;
        rc = fn(&k, &v, ctx, stop);
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
walk(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t pn, walk_fn fn,
     void *ctx)
{
    bool stop;
    return walk_until(txn, dbi, prefix, pn, fn, ctx, &stop);
}

/* ---- entity databases ----
 *
 * Each entity type has a database of its own, a slot: ents.1 to
 * ents.ENT_SLOTS, all made at init (a read transaction of any age can
 * use a slot's handle: a slot taken after it began is empty in it). A
 * type takes the next free slot when it is first written, recorded in
 * etypes (type -> u8 slot); slots are never given back. Types past the
 * last slot share ents. Keys are type || 0 || id in every one of them.
 *
 * Why: an import writes new entities of several types in turn (a
 * household, its people). In one database each type's new keys go in
 * the middle, where the next type's begin, and LMDB splits such a page
 * in halves that stay half empty: ents was 17 of the bench replica's
 * 19.3 MB at 66% full, and its puts and the commit's writes were a fifth
 * of the import. In a database of its own each new key goes at the end
 * (full pages, no split of a full page in two). */

/* The slot an etypes value names, 1..ENT_SLOTS; 0 if it names none. */
static unsigned
slot_of(const MDB_val *v)
{
    unsigned slot = v->mv_size == 1 ? *(const uint8_t *)v->mv_data : 0;
    return slot <= ENT_SLOTS ? slot : 0;
}

/* The database entities of type (tn bytes) are in, as etypes in txn has
 * it: its slot's, else ents. assign (a write transaction): a type etypes
 * lacks takes the next free slot, if one is left. An LMDB code. */
static int
ents_dbi(gs_store *s, MDB_txn *txn, const uint8_t *type, size_t tn,
         bool assign, MDB_dbi *out)
{
    MDB_val k = {tn, (void *)type}, v;
    MDB_stat st;
    int mrc = mdb_get(txn, s->etypes, &k, &v);
    *out = s->ents;
    if (mrc == 0) {
        unsigned slot = slot_of(&v);
        if (slot == 0)
            return MDB_CORRUPTED;
        *out = s->eslot[slot];
        return 0;
    }
    if (mrc != MDB_NOTFOUND)
        return mrc;
    if (!assign)
        return 0;
    if ((mrc = mdb_stat(txn, s->etypes, &st)) != 0 ||
        st.ms_entries >= ENT_SLOTS)
        return mrc; /* the slots are taken: ents holds the type */
    uint8_t slot = (uint8_t)(st.ms_entries + 1);
    v.mv_size = 1;
    v.mv_data = &slot;
    if ((mrc = mdb_put(txn, s->etypes, &k, &v, MDB_NOOVERWRITE)) != 0) {
        if (mrc == MDB_MAP_FULL)
            s->map_full = true; /* as put() has it: with_txn grows the map */
        return mrc;
    }
    *out = s->eslot[slot];
    return 0;
}

/* The database of an entity's key k (type || 0 || id). */
static int
key_dbi(gs_store *s, MDB_txn *txn, const MDB_val *k, bool assign,
        MDB_dbi *out)
{
    const uint8_t *z = memchr(k->mv_data, 0, k->mv_size);
    if (z == NULL)
        return MDB_CORRUPTED;
    return ents_dbi(s, txn, k->mv_data, (size_t)(z - (const uint8_t *)k->mv_data),
                    assign, out);
}

/* Walk every entity in (type, id) order, the digest's: the types with a
 * slot, in etypes' order (their names'), merged with ents, which holds
 * the others ("entity databases"). */
static gs_err
walk_ents(gs_store *s, MDB_txn *txn, walk_fn fn, void *ctx)
{
    MDB_cursor *tc = NULL, *oc = NULL;
    MDB_val tk, tv, ok, ov;
    uint8_t type[GS_NAME_BYTES_MAX + 1];
    bool stop = false;
    gs_err rc = GS_OK;
    int trc = mdb_cursor_open(txn, s->etypes, &tc), orc = trc;
    if (trc == 0)
        orc = mdb_cursor_open(txn, s->ents, &oc);
    if (trc == 0 && orc == 0) {
        trc = mdb_cursor_get(tc, &tk, &tv, MDB_FIRST);
        orc = mdb_cursor_get(oc, &ok, &ov, MDB_FIRST);
    }
    while (rc == GS_OK && !stop && (trc == 0 || orc == 0)) {
        if (trc == 0 && (tk.mv_size > GS_NAME_BYTES_MAX || slot_of(&tv) == 0)) {
            rc = GS_EMALFORMED;
            break;
        }
        if (trc == 0) { /* the slot's keys go first if type || 0 does */
            memcpy(type, tk.mv_data, tk.mv_size);
            type[tk.mv_size] = 0;
        }
        if (trc == 0 && (orc != 0 || key_cmp(type, tk.mv_size + 1, ok.mv_data,
                                             ok.mv_size) < 0)) {
            rc = walk_until(txn, s->eslot[slot_of(&tv)], type,
                            tk.mv_size + 1, fn, ctx, &stop);
            trc = mdb_cursor_get(tc, &tk, &tv, MDB_NEXT);
        } else {
            rc = fn(&ok, &ov, ctx, &stop);
            orc = mdb_cursor_get(oc, &ok, &ov, MDB_NEXT);
        }
    }
    if (rc == GS_OK && trc != 0 && trc != MDB_NOTFOUND)
        rc = map_err(trc);
    if (rc == GS_OK && orc != 0 && orc != MDB_NOTFOUND)
        rc = map_err(orc);
    if (oc)
        mdb_cursor_close(oc);
    if (tc)
        mdb_cursor_close(tc);
    return rc;
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

struct head_get {
    uint8_t key[FEED_KEY_MAX];
    size_t kn;
    struct feed f;
};

static gs_err
head_get_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct head_get *h = ctx;
    return feed_get(s, txn, h->key, h->kn, &h->f);
}

gs_err
gs_store_feed_head(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                   gs_slice scope, gs_feed_head *out)
{
    struct head_get h;
    if (scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    h.kn = feed_key(author, scope, h.key);
    gs_err rc = with_txn(s, false, head_get_fn, &h);
    struct feed f = h.f;
    if (rc == GS_ENOTFOUND) {
        memset(out, 0, sizeof *out);
        return GS_OK;
    }
    if (rc == GS_OK)
        *out = f.head;
    return rc;
}

/* ---- signature checkpoints ----
 *
 * sigs keeps, besides the head signature in each feed record, the
 * signatures of some older heads: keyed feed number (u64be) || seq (u64be),
 * so one feed's checkpoints sort together by seq. When a head moves on, the
 * old head's signature is kept if the new head lies more than
 * GS_STORE_SIG_SPACING past the last one kept (or past seq 0). Signed seqs
 * (checkpoints and the head) then lie at most GS_STORE_SIG_SPACING apart,
 * or one run apart where an ingested run was longer (a local write batch
 * that long signs every GS_STORE_SIG_SPACING-th op: write_ops): every sync
 * segment (gs_store_feed_read) ends at a signed seq, and these bound it.
 * The last kept seq is found with one cursor seek, so the feed record is
 * unchanged and older binaries still read every record. */

/* feed number || seq: the key of ops, forks and sigs alike. */
static void
seq_key(uint64_t num, uint64_t seq, uint8_t out[16])
{
    put_u64be(out, num);
    put_u64be(out + 8, seq);
}

/* A checkpoint looked up in sigs: found only if it is of the feed asked
 * about. */
struct ckpt {
    bool found;
    uint64_t seq;
    MDB_val sig; /* borrowed from the transaction */
};

static gs_err
ckpt_read(const MDB_val *k, const MDB_val *v, uint64_t num, struct ckpt *c)
{
    if (k->mv_size != 16 || v->mv_size != GS_SIG_BYTES)
        return GS_EMALFORMED; /* a damaged replica, never a crash */
    c->found = get_u64be(k->mv_data) == num;
    c->seq = get_u64be((const uint8_t *)k->mv_data + 8);
    c->sig = *v;
    return GS_OK;
}

/* Around (num, seq) in sigs: *below gets the greatest checkpoint of feed
 * num under seq, *above (may be NULL) the least at or over it. */
static gs_err
ckpt_around(gs_store *s, MDB_txn *txn, uint64_t num, uint64_t seq,
            struct ckpt *below, struct ckpt *above)
{
    uint8_t key[16];
    MDB_cursor *cur;
    gs_err rc = GS_OK;
    memset(below, 0, sizeof *below);
    if (above)
        memset(above, 0, sizeof *above);
    seq_key(num, seq, key);
    MDB_val k = {16, key}, v;
    int mrc = mdb_cursor_open(txn, s->sigs, &cur);
    if (mrc != 0)
        return map_err(mrc);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (mrc == 0 && above)
        rc = ckpt_read(&k, &v, num, above);
    if (rc == GS_OK && (mrc == 0 || mrc == MDB_NOTFOUND))
        mrc = mdb_cursor_get(cur, &k, &v, mrc == 0 ? MDB_PREV : MDB_LAST);
    if (rc == GS_OK && mrc == 0)
        rc = ckpt_read(&k, &v, num, below);
    else if (rc == GS_OK && mrc != MDB_NOTFOUND)
        rc = map_err(mrc);
    mdb_cursor_close(cur);
    return rc;
}

/* f's head is about to move on to new_seq: keep its signature as a
 * checkpoint if the spacing asks for one. Call before f changes. */
static gs_err
ckpt_keep(gs_store *s, MDB_txn *txn, const struct feed *f, uint64_t new_seq)
{
    uint8_t key[16], enc[GS_SIG_BYTES];
    struct ckpt last;
    if (!f->has_sig || f->head.seq == 0 || new_seq <= f->head.seq)
        return GS_OK;
    gs_err rc = ckpt_around(s, txn, f->num, UINT64_MAX, &last, NULL);
    if (rc != GS_OK)
        return rc;
    if (new_seq - (last.found ? last.seq : 0) <= GS_STORE_SIG_SPACING)
        return GS_OK;
    seq_key(f->num, f->head.seq, key);
    gs_sig_encode(&f->sig, enc);
    return put(s, txn, s->sigs, key, sizeof key, enc, sizeof enc, 0);
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

/* ---- stored forms (format 3) ----
 *
 * Ops are stored in blocks ("op blocks" below).
 *
 * Entities are stored without type and id (the key has them), with their
 * field names as numbers (names) and every (hlc, author) stamp of the
 * canonical state (docs/op-format.md §6) replaced by an index into a
 * table at the front of the value; the ops that touched the entity lead:
 *
 *   varint h, h x (varint feed number, varint seq): the entity's ops in
 *       the order applied, h <= HIST_INLINE; h = 0: hist lists them
 *   varint a, a x author (ascending by key): the varint number of a
 *       feed of that author (fnum has the key), or 0 and the 32 bytes
 *   varint t, t x (u64be hlc, varint author index) (ascending by stamp)
 *   varint n, n x (varint name number, u8 kind, str(state with stamps as
 *       varints, and an lww string maybe interned: "interned strings"))
 *
 * The fields of one op share one stamp, and one author writes most of an
 * entity, so a stamp costs a byte or two instead of forty, a name one
 * byte, and a history entry a few bytes instead of a hist record. The
 * history list is not part of the state: the digest never sees it.
 * ent_expand rebuilds the canonical encoding byte for byte and
 * gs_entity_decode checks it as it would any other. */

/* Feed number -> feed key (author || scope), remembered for the next op of
 * the same feed. */
struct feed_ident {
    uint64_t num;
    size_t kn; /* 0: nothing remembered */
    uint8_t key[FEED_KEY_MAX];
};

static gs_err
feed_ident_get(gs_store *s, MDB_txn *txn, uint64_t num, struct feed_ident *fi)
{
    uint8_t k8[8];
    if (fi->kn && fi->num == num)
        return GS_OK;
    put_u64be(k8, num);
    MDB_val k = {8, k8}, v;
    int mrc = mdb_get(txn, s->fnum, &k, &v);
    if (mrc != 0)
        return map_err(mrc == MDB_NOTFOUND ? MDB_CORRUPTED : mrc);
    if (v.mv_size <= GS_KEY_BYTES || v.mv_size > FEED_KEY_MAX)
        return GS_EMALFORMED;
    memcpy(fi->key, v.mv_data, v.mv_size);
    fi->kn = v.mv_size;
    fi->num = num;
    return GS_OK;
}

struct stamp {
    uint64_t hlc;
    uint8_t author[GS_KEY_BYTES];
    uint64_t aidx;
};

/* A transcoder between the canonical and the stored entity forms. */
struct ecodec {
    bool expand;  /* stored -> canonical; else canonical -> stored */
    bool collect; /* the first half of compacting: gather stamps only */
    struct stamp *st;
    size_t n_st, cap_st;
    uint8_t (*au)[GS_KEY_BYTES];
    size_t n_au, cap_au;
    gs_buf out, state; /* the result; one field's state */
    gs_store *s;       /* where authors are looked up, and in which */
    MDB_txn *txn;      /* transaction (set before each use) */
    uint64_t hint_num; /* the feed being written and its author: */
    uint8_t hint_author[GS_KEY_BYTES]; /* its record may not be put yet */
    struct feed_ident fi;              /* last feed number looked up */
    /* the history section of the entity last expanded (kept for the
     * write that follows), or of the one about to be compacted */
    bool spilled;    /* its ops are listed in hist, not here */
    uint64_t n_refs; /* else: how many it lists, */
    gs_buf refs;     /* n_refs x (varint feed number, varint seq) */
    size_t n_cache;
    struct {
        uint8_t author[GS_KEY_BYTES];
        uint64_t num;
    } cache[8]; /* author -> a feed number of theirs */
    size_t n_names;
    uint8_t name_hint[64]; /* name_key(name) -> 1 + its slot in names */
    struct {
        uint64_t num;
        uint8_t n;
        uint8_t name[GS_NAME_BYTES_MAX];
    } names[NAMES_CACHE]; /* field names looked up */
    struct strcache *sc; /* interned strings met in this transaction */
    size_t n_tails;
    struct {
        size_t tn, kn; /* the type's length, the key's */
        uint8_t key[ENT_KEY_MAX];
        MDB_cursor *cur; /* on the type's database, for its keys */
        bool own;        /* that database is the type's slot, not ents */
    } tails[TYPE_TAILS]; /* per type: no key of it is greater (ents_get);
                            keys type || 0 alone: it has none */
    bool fresh;          /* compacting what op (op_hlc, hint_author) wrote */
    uint64_t op_hlc;
    bool last_fresh; /* the stamp compacted last is that op's */
};

static void
ecodec_init(struct ecodec *x)
{
    memset(x, 0, sizeof *x);
    gs_buf_init(&x->out, GS_ENTITY_BYTES_MAX);
    gs_buf_init(&x->state, GS_FIELD_STATE_BYTES_MAX);
    gs_buf_init(&x->refs, HIST_INLINE * 20);
}

static void
ecodec_fini(struct ecodec *x)
{
    free(x->st);
    free(x->au);
    gs_buf_fini(&x->out);
    gs_buf_fini(&x->state);
    gs_buf_fini(&x->refs);
    free(x->sc);
}

static gs_err
emit(struct ecodec *x, gs_buf *b, const uint8_t *from, const gs_rd *r)
{
    return x->collect ? GS_OK : gs_buf_put(b, from, (size_t)(r->p - from));
}

static int
stamp_cmp(const void *a, const void *b)
{
    const struct stamp *x = a, *y = b;
    if (x->hlc != y->hlc)
        return x->hlc < y->hlc ? -1 : 1;
    return memcmp(x->author, y->author, GS_KEY_BYTES);
}

static int
author_cmp(const void *a, const void *b)
{
    return memcmp(a, b, GS_KEY_BYTES);
}

/* Stamp i of the table, in full: hlc then author (author then hlc when
 * author_first, as a counter entry has it). */
static gs_err
stamp_expand(struct ecodec *x, uint64_t i, gs_buf *b, bool author_first)
{
    gs_err rc;
    if (i >= x->n_st)
        return GS_EMALFORMED;
    const struct stamp *s = &x->st[i];
    const uint8_t *au = x->au[s->aidx];
    if (author_first && (rc = gs_buf_put(b, au, GS_KEY_BYTES)) != GS_OK)
        return rc;
    if ((rc = gs_buf_put_u64be(b, s->hlc)) != GS_OK)
        return rc;
    return author_first ? GS_OK : gs_buf_put(b, au, GS_KEY_BYTES);
}

/* One stamp: hlc then author (author then hlc when author_first, as a
 * counter entry has it). */
static gs_err
xc_stamp(struct ecodec *x, gs_rd *r, gs_buf *b, bool author_first)
{
    struct stamp k;
    gs_slice a;
    gs_err rc;
    if (x->expand) {
        uint64_t i;
        if ((rc = gs_rd_varint(r, &i)) != GS_OK)
            return rc;
        return stamp_expand(x, i, b, author_first);
    }
    if (author_first) {
        if ((rc = gs_rd_bytes(r, GS_KEY_BYTES, &a)) == GS_OK)
            rc = gs_rd_u64be(r, &k.hlc);
    } else {
        if ((rc = gs_rd_u64be(r, &k.hlc)) == GS_OK)
            rc = gs_rd_bytes(r, GS_KEY_BYTES, &a);
    }
    if (rc != GS_OK)
        return rc;
    memcpy(k.author, a.p, GS_KEY_BYTES);
    if (x->collect) {
        if (x->n_st == x->cap_st) {
            size_t cap = x->cap_st ? 2 * x->cap_st : 16;
            struct stamp *p = realloc(x->st, cap * sizeof *p);
            if (p == NULL)
                return GS_ENOMEM;
            x->st = p;
            x->cap_st = cap;
        }
        x->st[x->n_st++] = k;
        return GS_OK;
    }
    x->last_fresh = x->fresh && k.hlc == x->op_hlc &&
                    memcmp(k.author, x->hint_author, GS_KEY_BYTES) == 0;
    const struct stamp *s = bsearch(&k, x->st, x->n_st, sizeof k, stamp_cmp);
    if (s == NULL)
        return GS_EINVAL; /* collected a moment ago */
    return gs_buf_put_varint(b, (uint64_t)(s - x->st));
}

/* A value (op-format §4): tag, then its content. */
static gs_err
xc_value(struct ecodec *x, gs_rd *r, gs_buf *b)
{
    const uint8_t *from = r->p;
    uint8_t tag;
    uint64_t u;
    gs_slice sl;
    gs_err rc = gs_rd_u8(r, &tag);
    if (rc == GS_OK && tag == GS_V_INT)
        rc = gs_rd_varint(r, &u);
    else if (rc == GS_OK && tag == GS_V_STR)
        rc = gs_rd_str(r, GS_STR_BYTES_MAX, &sl);
    else if (rc == GS_OK && tag > GS_V_TRUE)
        rc = GS_EMALFORMED;
    return rc != GS_OK ? rc : emit(x, b, from, r);
}

static gs_err str_of(struct ecodec *x, uint64_t num, gs_slice *str);
static bool str_ref(struct ecodec *x, gs_slice str, uint64_t *num,
                    gs_err *rc);

/* An lww field's value: as xc_value, but a string may be interned (tag
 * V_SREF, then the varint number strs has it under). */
static gs_err
xc_lww_value(struct ecodec *x, gs_rd *r, gs_buf *b)
{
    const uint8_t *from = r->p;
    uint8_t tag;
    uint64_t num;
    gs_slice sl;
    gs_err rc;
    if (x->collect || gs_rd_left(r) == 0 ||
        *r->p != (x->expand ? V_SREF : GS_V_STR))
        return xc_value(x, r, b);
    if ((rc = gs_rd_u8(r, &tag)) != GS_OK)
        return rc;
    if (x->expand) {
        if ((rc = gs_rd_varint(r, &num)) != GS_OK ||
            (rc = str_of(x, num, &sl)) != GS_OK ||
            (rc = gs_buf_put_u8(b, GS_V_STR)) != GS_OK)
            return rc;
        return gs_buf_put_str(b, sl.p, sl.n);
    }
    if ((rc = gs_rd_str(r, GS_STR_BYTES_MAX, &sl)) != GS_OK)
        return rc;
    if (!str_ref(x, sl, &num, &rc))
        return rc != GS_OK ? rc : emit(x, b, from, r);
    if ((rc = gs_buf_put_u8(b, V_SREF)) != GS_OK)
        return rc;
    return gs_buf_put_varint(b, num);
}

/* An lww field's value v, enc its encoding (checked), in the stored form
 * to b: as xc_lww_value makes of it. */
static gs_err
lww_value_out(struct ecodec *x, const gs_vref *v, gs_slice enc, gs_buf *b)
{
    uint64_t num;
    gs_err rc;
    if (v->type != GS_V_STR || !str_ref(x, v->s, &num, &rc))
        return v->type == GS_V_STR && rc != GS_OK ? rc
                                                  : gs_buf_put(b, enc.p, enc.n);
    if ((rc = gs_buf_put_u8(b, V_SREF)) != GS_OK)
        return rc;
    return gs_buf_put_varint(b, num);
}

static gs_err
xc_varint(struct ecodec *x, gs_rd *r, gs_buf *b, uint64_t *v)
{
    const uint8_t *from = r->p;
    gs_err rc = gs_rd_varint(r, v);
    return rc != GS_OK ? rc : emit(x, b, from, r);
}

static gs_err
xc_u8(struct ecodec *x, gs_rd *r, gs_buf *b, uint8_t *v)
{
    const uint8_t *from = r->p;
    gs_err rc = gs_rd_u8(r, v);
    return rc != GS_OK ? rc : emit(x, b, from, r);
}

/* n items of (stamp, then a str or a value). */
static gs_err
xc_stamped(struct ecodec *x, gs_rd *r, gs_buf *b, bool str)
{
    uint64_t n;
    gs_slice sl;
    gs_err rc = xc_varint(x, r, b, &n);
    for (uint64_t i = 0; rc == GS_OK && i < n; i++) {
        rc = xc_stamp(x, r, b, false);
        if (rc == GS_OK && str) {
            const uint8_t *from = r->p;
            rc = gs_rd_str(r, GS_STR_BYTES_MAX, &sl);
            if (rc == GS_OK)
                rc = emit(x, b, from, r);
        } else if (rc == GS_OK) {
            rc = xc_value(x, r, b);
        }
    }
    return rc;
}

/* One field's state, by kind (op-format §6); it must be used up. */
static gs_err
xc_state(struct ecodec *x, uint8_t kind, gs_rd *r, gs_buf *b)
{
    uint64_t n, u;
    uint8_t set;
    gs_err rc;
    switch (kind) {
    case GS_KIND_LWW:
    case GS_KIND_STAGE:
        rc = xc_u8(x, r, b, &set);
        if (rc != GS_OK || set == 0)
            break;
        if (kind == GS_KIND_LWW) {
            if ((rc = xc_stamp(x, r, b, false)) == GS_OK &&
                (rc = xc_varint(x, r, b, &u)) == GS_OK)
                rc = xc_lww_value(x, r, b);
        } else {
            if ((rc = xc_varint(x, r, b, &u)) == GS_OK &&
                (rc = xc_varint(x, r, b, &u)) == GS_OK)
                rc = xc_stamp(x, r, b, false);
        }
        break;
    case GS_KIND_COUNTER:
        rc = xc_varint(x, r, b, &n);
        for (uint64_t i = 0; rc == GS_OK && i < n; i++) {
            if ((rc = xc_stamp(x, r, b, true)) == GS_OK)
                rc = xc_varint(x, r, b, &u);
        }
        break;
    case GS_KIND_SET: {
        /* no stamps: adds and removes copied as they are */
        const uint8_t *from = r->p;
        gs_slice sl;
        rc = GS_OK;
        for (int part = 0; rc == GS_OK && part < 2; part++) {
            rc = gs_rd_varint(r, &n);
            for (uint64_t i = 0; rc == GS_OK && i < n; i++) {
                if ((rc = gs_rd_str(r, GS_STR_BYTES_MAX, &sl)) == GS_OK)
                    rc = gs_rd_bytes(r, GS_HASH_BYTES, &sl);
            }
        }
        if (rc == GS_OK)
            rc = emit(x, b, from, r);
        break;
    }
    case GS_KIND_LOG:
        rc = xc_stamped(x, r, b, false);
        break;
    case GS_KIND_CLAIM:
        rc = xc_stamped(x, r, b, true);
        if (rc == GS_OK)
            rc = xc_stamped(x, r, b, true);
        break;
    default:
        return GS_EMALFORMED; /* unknown kinds are never in the state */
    }
    if (rc == GS_OK && gs_rd_left(r) != 0)
        rc = GS_EMALFORMED;
    return rc;
}

/* ---- field names ----
 *
 * names maps each field name an entity holds to a number and back:
 * name -> u32be number, and '#' || u32be number -> name ('#' starts no
 * name). Stored entities name their fields by number: most entities of a
 * type share the same few names, so a field costs a byte, not its name.
 * Numbers come from meta "next_name"; ecodec remembers what it looked up
 * for the length of its transaction. */

/* Remember name (p, n) as number num; returns the copy. */
static const uint8_t *
name_cache(struct ecodec *x, uint64_t num, const void *p, size_t n)
{
    size_t i = x->n_names < NAMES_CACHE ? x->n_names++ : num % NAMES_CACHE;
    x->names[i].num = num;
    x->names[i].n = (uint8_t)n;
    memcpy(x->names[i].name, p, n);
    return x->names[i].name;
}

/* The name numbered num. */
static gs_err
name_of(struct ecodec *x, uint64_t num, gs_slice *name)
{
    uint8_t key[5] = {'#'};
    for (size_t i = 0; i < x->n_names; i++)
        if (x->names[i].num == num) {
            *name = gs_slice_of(x->names[i].name, x->names[i].n);
            return GS_OK;
        }
    if (num == 0 || num > UINT32_MAX)
        return GS_EMALFORMED;
    put_u32be(key + 1, (uint32_t)num);
    MDB_val k = {5, key}, v;
    int mrc = mdb_get(x->txn, x->s->names, &k, &v);
    if (mrc != 0)
        return mrc == MDB_NOTFOUND ? GS_EMALFORMED : map_err(mrc);
    if (v.mv_size == 0 || v.mv_size > GS_NAME_BYTES_MAX)
        return GS_EMALFORMED;
    *name = gs_slice_of(name_cache(x, num, v.mv_data, v.mv_size), v.mv_size);
    return GS_OK;
}

/* The number of name, given one now if it has none (a write transaction). */
static gs_err
name_num(struct ecodec *x, gs_slice name, uint64_t *num)
{
    uint8_t key[5] = {'#'}, b[4];
    /* a name looked up before is most often where the hint says */
    size_t h = name.n == 0 ? 0
                           : (name.n * 31u + name.p[0] * 7u +
                              name.p[name.n - 1]) % sizeof x->name_hint;
    size_t at = x->name_hint[h];
    if (at != 0 && x->names[at - 1].n == name.n &&
        memcmp(x->names[at - 1].name, name.p, name.n) == 0) {
        *num = x->names[at - 1].num;
        return GS_OK;
    }
    for (size_t i = 0; i < x->n_names; i++)
        if (x->names[i].n == name.n &&
            memcmp(x->names[i].name, name.p, name.n) == 0) {
            x->name_hint[h] = (uint8_t)(i + 1);
            *num = x->names[i].num;
            return GS_OK;
        }
    MDB_val k = {name.n, (void *)name.p}, v;
    int mrc = mdb_get(x->txn, x->s->names, &k, &v);
    if (mrc == 0 && v.mv_size != 4)
        return GS_EMALFORMED;
    if (mrc == 0) {
        *num = get_u32be(v.mv_data);
        name_cache(x, *num, name.p, name.n);
        return GS_OK;
    }
    if (mrc != MDB_NOTFOUND)
        return map_err(mrc);
    MDB_val mk = {9, (void *)"next_name"};
    mrc = mdb_get(x->txn, x->s->meta, &mk, &v);
    uint64_t next = mrc == 0 && v.mv_size == 4 ? get_u32be(v.mv_data) : 1;
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return map_err(mrc);
    if (next >= UINT32_MAX)
        return GS_ETOOBIG;
    gs_err rc;
    put_u32be(b, (uint32_t)(next + 1));
    if ((rc = put(x->s, x->txn, x->s->meta, "next_name", 9, b, 4, 0)))
        return rc;
    put_u32be(b, (uint32_t)next);
    put_u32be(key + 1, (uint32_t)next);
    if ((rc = put(x->s, x->txn, x->s->names, name.p, name.n, b, 4,
                  MDB_NOOVERWRITE)) != GS_OK ||
        (rc = put(x->s, x->txn, x->s->names, key, 5, name.p, name.n,
                  MDB_NOOVERWRITE)) != GS_OK)
        return rc;
    *num = next;
    name_cache(x, next, name.p, name.n);
    return GS_OK;
}

/* ---- interned strings (format 5) ----
 *
 * A short string held by lww fields of many entities (a grid, the id of a
 * person or household, a day, a status) is stored once: strs maps a
 * number to it (u32be -> the string, numbers in the order given, from
 * meta "next_str"), strids the string to its number. A stored lww value
 * names it by tag V_SREF and the varint number: 3 bytes instead of 14 for
 * "P-G0001-0004".
 *
 * Only a string written often is interned: its two table entries cost
 * about 2.5 x its length + 35 bytes, and each reference saves its length
 * less one, so it is interned once ops have written it as many times as
 * that takes to pay (str_need: 6 for a 12-byte id, 4 for a 31-byte
 * address). s->seen counts the writings (lossy: a slot per hash, the last
 * one kept, with its count in the low byte). So a phone number, a visit's
 * minute or an address that two households share stays inline and costs
 * no table entries. A value an entity held already keeps its form:
 * expanding the entity cached the strings it named. Which form a value
 * has is this replica's own affair: the canonical form, hence digests,
 * bundles and sync, never see it. */

#define STR_INTERN_MIN 4  /* shorter: the reference saves nothing */
#define STR_INTERN_MAX 40 /* longer: rarely the same twice */
/* 32 KiB: a string written often comes back before its slot is taken;
 * a table of 256 KiB (1 << 15) interned about as much (disk per op 1.40x the
 * JSON against 1.41x) but its reads missed the cache: 4.7% of an import's
 * time against 1.6% (perf, the bench's 100k records) */
#define SEEN_SLOTS (1u << 12)
#define SC_SLOTS 256

struct sentry {
    uint32_t num; /* 0: empty */
    uint8_t n;
    uint8_t s[STR_INTERN_MAX];
};

/* Interned strings an ecodec met, by number and by hash; like names, for
 * the length of one transaction (a number given in a transaction that
 * aborts is given again). */
struct strcache {
    struct sentry by_num[SC_SLOTS], by_str[SC_SLOTS];
};

static uint64_t
str_hash(gs_slice str)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < str.n; i++)
        h = (h ^ str.p[i]) * 0x100000001b3u;
    return h | 0x100; /* 0 is an empty slot; the low byte is a count */
}

/* Writings of a string of n bytes that pay for interning it. */
static unsigned
str_need(size_t n)
{
    return (unsigned)((5 * n + 70 + 2 * (n - 1) - 1) / (2 * (n - 1)));
}

static void
str_cache(struct ecodec *x, uint32_t num, gs_slice str, uint64_t h)
{
    if (x->sc == NULL && (x->sc = calloc(1, sizeof *x->sc)) == NULL)
        return; /* no cache: every string is looked up */
    struct sentry *a = &x->sc->by_num[num % SC_SLOTS];
    a->num = num;
    a->n = (uint8_t)str.n;
    memcpy(a->s, str.p, str.n);
    x->sc->by_str[h % SC_SLOTS] = *a;
}

/* The string numbered num. */
static gs_err
str_of(struct ecodec *x, uint64_t num, gs_slice *str)
{
    uint8_t key[4];
    if (num == 0 || num > UINT32_MAX)
        return GS_EMALFORMED;
    if (x->sc && x->sc->by_num[num % SC_SLOTS].num == num) {
        const struct sentry *a = &x->sc->by_num[num % SC_SLOTS];
        *str = gs_slice_of(a->s, a->n);
        return GS_OK;
    }
    put_u32be(key, (uint32_t)num);
    MDB_val k = {4, key}, v;
    int mrc = mdb_get(x->txn, x->s->strs, &k, &v);
    if (mrc != 0)
        return mrc == MDB_NOTFOUND ? GS_EMALFORMED : map_err(mrc);
    if (v.mv_size < STR_INTERN_MIN || v.mv_size > STR_INTERN_MAX)
        return GS_EMALFORMED;
    *str = gs_slice_of(v.mv_data, v.mv_size);
    str_cache(x, (uint32_t)num, *str, str_hash(*str));
    return GS_OK;
}

/* Whether to store str as a reference (then its number in *num), giving it
 * one if this writing is the one that pays for it (str_need); *rc says
 * why not if it is an error, else GS_OK. */
static bool
str_ref(struct ecodec *x, gs_slice str, uint64_t *num, gs_err *rc)
{
    uint8_t b[4];
    gs_store *s = x->s;
    *rc = GS_OK;
    if (str.n < STR_INTERN_MIN || str.n > STR_INTERN_MAX)
        return false;
    uint64_t h = str_hash(str);
    if (x->sc) {
        const struct sentry *a = &x->sc->by_str[h % SC_SLOTS];
        if (a->num && a->n == str.n && memcmp(a->s, str.p, str.n) == 0) {
            *num = a->num;
            return true;
        }
    }
    if (!x->last_fresh)
        return false; /* held before, inline: it stays so */
    if (s->seen == NULL && (s->seen = calloc(SEEN_SLOTS, 8)) == NULL)
        return false;
    uint64_t *slot = &s->seen[(h >> 8) % SEEN_SLOTS];
    if ((*slot ^ h) >> 8 != 0) {
        *slot = (h & ~(uint64_t)0xff) | 1; /* the first time */
        return false;
    }
    if ((*slot & 0xff) + 1 < str_need(str.n)) {
        *slot += 1;
        return false;
    }
    MDB_val k = {str.n, (void *)str.p}, v;
    int mrc = mdb_get(x->txn, s->strids, &k, &v);
    if (mrc == 0 && v.mv_size == 4 && get_u32be(v.mv_data) != 0) {
        *num = get_u32be(v.mv_data);
    } else if (mrc == 0) {
        *rc = GS_EMALFORMED;
        return false;
    } else if (mrc != MDB_NOTFOUND) {
        *rc = map_err(mrc);
        return false;
    } else {
        MDB_val mk = {8, (void *)"next_str"};
        mrc = mdb_get(x->txn, s->meta, &mk, &v);
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            *rc = map_err(mrc);
            return false;
        }
        *num = mrc == 0 && v.mv_size == 4 ? get_u32be(v.mv_data) : 1;
        if (*num >= UINT32_MAX)
            return false; /* numbers used up: inline from now on */
        put_u32be(b, (uint32_t)(*num + 1));
        if ((*rc = put(s, x->txn, s->meta, "next_str", 8, b, 4, 0)))
            return false;
        put_u32be(b, (uint32_t)*num);
        if ((*rc = put(s, x->txn, s->strs, b, 4, str.p, str.n,
                       MDB_APPEND)) != GS_OK ||
            (*rc = put(s, x->txn, s->strids, str.p, str.n, b, 4,
                       MDB_NOOVERWRITE)) != GS_OK)
            return false;
    }
    str_cache(x, (uint32_t)*num, str, h);
    return true;
}

/* The fields: n x (str name, u8 kind, str(state)), state transcoded; the
 * stored form has (varint name number, u8 kind, str(state)), except for an
 * lww field that is set, the most common field there is: u8 K_LWW_SET,
 * then its state without the set byte and not as a str (the value ends
 * it); or, if its stamp is the table's first and its base 0 (a record
 * written by one op), u8 K_LWW_SET0 and the value alone. */
#define K_LWW_SET (0x80 | GS_KIND_LWW)
#define K_LWW_SET0 (0xc0 | GS_KIND_LWW)

/* Append to x->out a field's kind and its state, transcoded (x->state),
 * in the stored form. */
static gs_err
state_out(struct ecodec *x, uint8_t kind)
{
    const uint8_t *sd = x->state.data;
    gs_err rc;
    if (!x->expand && kind == GS_KIND_LWW && x->state.len > 3 && sd[0] == 1 &&
        sd[1] == 0 && sd[2] == 0) {
        if ((rc = gs_buf_put_u8(&x->out, K_LWW_SET0)) == GS_OK)
            rc = gs_buf_put(&x->out, sd + 3, x->state.len - 3);
    } else if (!x->expand && kind == GS_KIND_LWW && x->state.len > 1 &&
               sd[0] == 1) {
        if ((rc = gs_buf_put_u8(&x->out, K_LWW_SET)) == GS_OK)
            rc = gs_buf_put(&x->out, sd + 1, x->state.len - 1);
    } else if ((rc = gs_buf_put_u8(&x->out, kind)) == GS_OK) {
        rc = gs_buf_put_str(&x->out, x->state.data, x->state.len);
    }
    return rc;
}

static gs_err
xc_fields(struct ecodec *x, gs_rd *r)
{
    uint64_t n;
    gs_err rc = xc_varint(x, r, &x->out, &n);
    for (uint64_t i = 0; rc == GS_OK && i < n; i++) {
        gs_slice name, st;
        uint64_t num = 0, u;
        uint8_t kind;
        /* the name: a number in the stored form, text in the canonical */
        if (x->expand) {
            if ((rc = gs_rd_varint(r, &num)) == GS_OK &&
                (rc = name_of(x, num, &name)) == GS_OK)
                rc = gs_buf_put_str(&x->out, name.p, name.n);
        } else if ((rc = gs_rd_str(r, GS_NAME_BYTES_MAX, &name)) == GS_OK &&
                   !x->collect && (rc = name_num(x, name, &num)) == GS_OK) {
            rc = gs_buf_put_varint(&x->out, num);
        }
        if (rc != GS_OK || (rc = gs_rd_u8(r, &kind)) != GS_OK)
            break;
        gs_buf_reset(&x->state);
        if (x->expand && (kind == K_LWW_SET || kind == K_LWW_SET0)) {
            /* the state follows inline: rebuilt with its set byte (and,
             * for K_LWW_SET0, the table's first stamp and base 0) */
            if ((rc = gs_buf_put_u8(&x->state, 1)) == GS_OK &&
                kind == K_LWW_SET0) {
                if ((rc = stamp_expand(x, 0, &x->state, false)) == GS_OK)
                    rc = gs_buf_put_u8(&x->state, 0);
            } else if (rc == GS_OK &&
                       (rc = xc_stamp(x, r, &x->state, false)) == GS_OK) {
                rc = xc_varint(x, r, &x->state, &u);
            }
            if (rc != GS_OK ||
                (rc = xc_lww_value(x, r, &x->state)) != GS_OK ||
                (rc = gs_buf_put_u8(&x->out, GS_KIND_LWW)) != GS_OK)
                break;
            rc = gs_buf_put_str(&x->out, x->state.data, x->state.len);
            continue;
        }
        if ((rc = gs_rd_str(r, GS_FIELD_STATE_BYTES_MAX, &st)) != GS_OK)
            break;
        gs_rd sr;
        gs_rd_init(&sr, st.p, st.n);
        rc = xc_state(x, kind, &sr, &x->state);
        if (rc == GS_OK && !x->collect)
            rc = state_out(x, kind);
    }
    if (rc == GS_OK && gs_rd_left(r) != 0)
        rc = GS_EMALFORMED;
    return rc;
}

/* A feed number of author (0 if the store has none: then the stored form
 * keeps the 32 bytes). Every author in a state wrote an op held here, so
 * 0 is only a fallback. */
static gs_err
author_num(struct ecodec *x, const uint8_t *author, uint64_t *num)
{
    MDB_cursor *cur;
    MDB_val k = {GS_KEY_BYTES, (void *)author}, v;
    struct feed f;
    *num = 0;
    if (x->hint_num && memcmp(author, x->hint_author, GS_KEY_BYTES) == 0) {
        *num = x->hint_num;
        return GS_OK;
    }
    for (size_t i = 0; i < x->n_cache; i++)
        if (memcmp(x->cache[i].author, author, GS_KEY_BYTES) == 0) {
            *num = x->cache[i].num;
            return GS_OK;
        }
    int mrc = mdb_cursor_open(x->txn, x->s->feeds, &cur);
    if (mrc != 0)
        return map_err(mrc);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    gs_err rc = GS_OK;
    if (mrc == 0 && k.mv_size > GS_KEY_BYTES &&
        memcmp(k.mv_data, author, GS_KEY_BYTES) == 0 &&
        (rc = feed_decode(&v, &f)) == GS_OK)
        *num = f.num;
    else if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = map_err(mrc);
    mdb_cursor_close(cur);
    if (rc == GS_OK && *num) {
        size_t i = x->n_cache < 8 ? x->n_cache++ : (size_t)(*num % 8);
        memcpy(x->cache[i].author, author, GS_KEY_BYTES);
        x->cache[i].num = *num;
    }
    return rc;
}

/* Start x->out with the history section (x->refs). */
static gs_err
refs_out(struct ecodec *x)
{
    gs_err rc;
    gs_buf_reset(&x->out);
    if ((rc = gs_buf_put_varint(&x->out, x->spilled ? 0 : x->n_refs)))
        return rc;
    return gs_buf_put(&x->out, x->refs.data, x->refs.len);
}

/* Append the tables to x->out: the authors (x->au, sorted, each as a feed
 * number of theirs), then the stamps (x->st, sorted: hlc, author index). */
static gs_err
tables_out(struct ecodec *x)
{
    gs_err rc = gs_buf_put_varint(&x->out, x->n_au);
    for (size_t i = 0; rc == GS_OK && i < x->n_au; i++) {
        uint64_t num;
        if ((rc = author_num(x, x->au[i], &num)) == GS_OK &&
            (rc = gs_buf_put_varint(&x->out, num)) == GS_OK && num == 0)
            rc = gs_buf_put(&x->out, x->au[i], GS_KEY_BYTES);
    }
    if (rc == GS_OK)
        rc = gs_buf_put_varint(&x->out, x->n_st);
    for (size_t i = 0; rc == GS_OK && i < x->n_st; i++) {
        if ((rc = gs_buf_put_u64be(&x->out, x->st[i].hlc)) == GS_OK)
            rc = gs_buf_put_varint(&x->out, x->st[i].aidx);
    }
    return rc;
}

/* Canonical entity encoding (p, n) -> the stored form in x->out. */
static gs_err
ent_compact(struct ecodec *x, const uint8_t *p, size_t n)
{
    gs_rd r;
    gs_slice type, id;
    gs_err rc;
    x->expand = false;
    x->collect = true;
    x->n_st = x->n_au = 0;
    if ((rc = refs_out(x)) != GS_OK)
        return rc;
    for (int pass = 0; pass < 2; pass++) {
        gs_rd_init(&r, p, n);
        if ((rc = gs_rd_str(&r, GS_NAME_BYTES_MAX, &type)) != GS_OK ||
            (rc = gs_rd_str(&r, GS_ID_BYTES_MAX, &id)) != GS_OK ||
            (rc = xc_fields(x, &r)) != GS_OK)
            return rc;
        if (pass == 1)
            break;
        /* the tables: stamps and authors sorted, each once */
        size_t k = 0;
        if (x->n_st)
            qsort(x->st, x->n_st, sizeof *x->st, stamp_cmp);
        for (size_t i = 0; i < x->n_st; i++)
            if (k == 0 || stamp_cmp(&x->st[k - 1], &x->st[i]) != 0)
                x->st[k++] = x->st[i];
        x->n_st = k;
        if (k > x->cap_au) {
            void *q = realloc(x->au, k * sizeof *x->au);
            if (q == NULL)
                return GS_ENOMEM;
            x->au = q;
            x->cap_au = k;
        }
        for (size_t i = 0; i < k; i++)
            memcpy(x->au[i], x->st[i].author, GS_KEY_BYTES);
        if (k)
            qsort(x->au, k, sizeof *x->au, author_cmp);
        size_t m = 0;
        for (size_t i = 0; i < k; i++)
            if (m == 0 || memcmp(x->au[m - 1], x->au[i], GS_KEY_BYTES))
                memcpy(x->au[m++], x->au[i], GS_KEY_BYTES);
        x->n_au = m;
        for (size_t i = 0; i < k; i++) {
            const uint8_t(*a)[GS_KEY_BYTES] =
                bsearch(x->st[i].author, x->au, m, GS_KEY_BYTES, author_cmp);
            x->st[i].aidx = (uint64_t)(a - x->au);
        }
        if ((rc = tables_out(x)) != GS_OK)
            return rc;
        x->collect = false;
    }
    return GS_OK;
}

/* The canonical state of a set field after its first payload pl (op's,
 * hash), to cs: as gs_field_apply_parsed and gs_field_state_encode make
 * it. The payload's items are sorted by element, each there once, and a
 * remove's tags sorted (gs_payload_parse refuses other orders): the adds,
 * each tagged with op, then the removes' (element, tag) pairs are in the
 * state's order as they come. The op's decode checked the elements: they
 * are read here, not checked again. */
static gs_err
set_fresh(const gs_payload *pl, const uint8_t hash[GS_HASH_BYTES], gs_buf *cs)
{
    uint64_t n_add = 0, n_rm = 0;
    gs_set_item it;
    gs_rd r;
    gs_err rc = GS_OK;
    gs_rd_init(&r, pl->u.set.items.p, pl->u.set.items.n);
    for (size_t i = 0; rc == GS_OK && i < pl->u.set.n; i++)
        if ((rc = gs_payload_set_next_known(&r, &it)) == GS_OK &&
            it.action == GS_SET_ADD)
            n_add++;
        else if (rc == GS_OK)
            n_rm += it.n_tags;
    for (int part = 0; rc == GS_OK && part < 2; part++) {
        rc = gs_buf_put_varint(cs, part == 0 ? n_add : n_rm);
        gs_rd_init(&r, pl->u.set.items.p, pl->u.set.items.n);
        for (size_t i = 0; rc == GS_OK && i < pl->u.set.n; i++) {
            if ((rc = gs_payload_set_next_known(&r, &it)) != GS_OK ||
                (it.action == GS_SET_ADD) != (part == 0))
                continue;
            for (size_t k = 0; rc == GS_OK && k < (part ? it.n_tags : 1); k++)
                if ((rc = gs_buf_put_str(cs, it.elem.p, it.elem.n)) == GS_OK)
                    rc = gs_buf_put(cs, part ? it.tags[k] : hash,
                                    GS_HASH_BYTES);
        }
    }
    return rc;
}

/* The stored form, in x->out, of the entity op is about that held no
 * fields before it (x->refs its history section, op's ref included):
 * what applying op to it and compacting its canonical encoding give, made
 * without the entity. Most ops of an import write such an entity. An lww
 * field is written from its payload, a set's state made from it; other
 * kinds are applied to a field of their own. cs: scratch. */
static gs_err
ent_fresh(struct ecodec *x, const gs_op *op, const gs_payload *pl,
          const uint8_t hash[GS_HASH_BYTES], gs_buf *cs)
{
    size_t at[GS_OP_UPDATES_MAX + 1], n = 0;
    bool stamped = false; /* a state holds op's stamp */
    gs_err rc = GS_OK;

    if (op->n_updates > GS_OP_UPDATES_MAX)
        return GS_EINVAL;
    gs_buf_reset(cs);
    /* the canonical state of each update's field but an lww one at
     * cs[at[i], at[i + 1]); none if it is of a kind not merged or left
     * its field empty. Updates are sorted by field and name each once:
     * the entity's fields are in their order. */
    for (size_t i = 0; i < op->n_updates && rc == GS_OK; i++) {
        const gs_update *u = &op->updates[i];
        at[i] = cs->len;
        if (u->kind == GS_KIND_LWW) {
            stamped = true;
            n++;
        } else if (u->kind == GS_KIND_SET) {
            rc = set_fresh(&pl[i], hash, cs);
            n++; /* a set payload has an item at least */
        } else if (u->kind <= GS_KIND_KNOWN_MAX) {
            gs_field f;
            if ((rc = gs_field_init(&f, u->field, u->kind)) != GS_OK)
                break;
            rc = gs_field_apply_parsed(&f, &pl[i], op, hash);
            if (rc == GS_OK && !gs_field_empty(&f)) {
                rc = gs_field_state_encode(&f, cs);
                stamped = true; /* every kind but a set holds stamps */
                n++;
            }
            gs_field_fini(&f);
        }
    }
    at[op->n_updates] = cs->len;
    if (rc != GS_OK)
        return rc;

    x->expand = x->collect = false;
    x->n_st = x->n_au = 0;
    if (stamped) { /* the tables: op's stamp and author */
        if (x->cap_st == 0 && (x->st = malloc(sizeof *x->st)) != NULL)
            x->cap_st = 1;
        if (x->cap_au == 0 && (x->au = malloc(sizeof *x->au)) != NULL)
            x->cap_au = 1;
        if (x->cap_st == 0 || x->cap_au == 0)
            return GS_ENOMEM;
        x->st[0].hlc = op->hlc;
        memcpy(x->st[0].author, op->author, GS_KEY_BYTES);
        x->st[0].aidx = 0;
        memcpy(x->au[0], op->author, GS_KEY_BYTES);
        x->n_st = x->n_au = 1;
    }
    if ((rc = refs_out(x)) != GS_OK || (rc = tables_out(x)) != GS_OK ||
        (rc = gs_buf_put_varint(&x->out, n)) != GS_OK)
        return rc;
    x->last_fresh = x->fresh; /* every stamp here is op's */
    for (size_t i = 0; i < op->n_updates && rc == GS_OK; i++) {
        const gs_update *u = &op->updates[i];
        uint64_t num, base;
        gs_rd sr;
        if (u->kind != GS_KIND_LWW && at[i + 1] == at[i])
            continue;
        if ((rc = name_num(x, u->field, &num)) != GS_OK ||
            (rc = gs_buf_put_varint(&x->out, num)) != GS_OK)
            break;
        if (u->kind == GS_KIND_LWW) {
            /* as state_out has it: set, stamp 0, base, the value; the
             * value's encoding is the payload after its base (op's
             * decode checked it) */
            gs_rd vr;
            gs_rd_init(&vr, u->payload.p, u->payload.n);
            if ((rc = gs_rd_varint(&vr, &base)) != GS_OK)
                break;
            if (base == 0)
                rc = gs_buf_put_u8(&x->out, K_LWW_SET0);
            else if ((rc = gs_buf_put_u8(&x->out, K_LWW_SET)) == GS_OK &&
                     (rc = gs_buf_put_u8(&x->out, 0)) == GS_OK)
                rc = gs_buf_put_varint(&x->out, base);
            if (rc == GS_OK)
                rc = lww_value_out(x, &pl[i].u.lww.v,
                                   gs_slice_of(vr.p, gs_rd_left(&vr)), &x->out);
            continue;
        }
        gs_buf_reset(&x->state);
        gs_rd_init(&sr, cs->data + at[i], at[i + 1] - at[i]);
        if ((rc = xc_state(x, u->kind, &sr, &x->state)) == GS_OK)
            rc = state_out(x, u->kind);
    }
    return rc;
}

/* The history section at r: *n refs, their bytes in *refs. Bytes from
 * disk: each ref is checked. */
static gs_err
refs_read(gs_rd *r, uint64_t *n, gs_slice *refs)
{
    uint64_t num, seq;
    const uint8_t *from;
    gs_err rc = gs_rd_varint(r, n);
    if (rc != GS_OK)
        return rc;
    if (*n > HIST_INLINE)
        return GS_EMALFORMED;
    from = r->p;
    for (uint64_t i = 0; i < *n; i++) {
        if ((rc = gs_rd_varint(r, &num)) != GS_OK ||
            (rc = gs_rd_varint(r, &seq)) != GS_OK)
            return rc;
        if (num == 0 || seq == 0)
            return GS_EMALFORMED;
    }
    *refs = gs_slice_of(from, (size_t)(r->p - from));
    return GS_OK;
}

/* The stored form (p, n) of the entity keyed (type, id) -> its canonical
 * encoding in x->out. Bytes from disk: every count is bounded by the bytes
 * that remain before anything is allocated. */
static gs_err
ent_expand(struct ecodec *x, gs_slice type, gs_slice id, const uint8_t *p,
           size_t n)
{
    gs_rd r;
    uint64_t na, nt;
    gs_slice sl;
    gs_err rc;
    x->expand = true;
    x->collect = false;
    gs_buf_reset(&x->out);
    gs_rd_init(&r, p, n);
    if ((rc = refs_read(&r, &x->n_refs, &sl)) != GS_OK)
        return rc;
    x->spilled = x->n_refs == 0;
    gs_buf_reset(&x->refs);
    if ((rc = gs_buf_put(&x->refs, sl.p, sl.n)) != GS_OK ||
        (rc = gs_rd_varint(&r, &na)) != GS_OK)
        return rc;
    if (na > gs_rd_left(&r))
        return GS_ETRUNC;
    if (na > x->cap_au) {
        void *q = realloc(x->au, (size_t)na * sizeof *x->au);
        if (q == NULL)
            return GS_ENOMEM;
        x->au = q;
        x->cap_au = (size_t)na;
    }
    for (size_t i = 0; rc == GS_OK && i < (size_t)na; i++) {
        uint64_t num;
        if ((rc = gs_rd_varint(&r, &num)) != GS_OK)
            break;
        if (num == 0) {
            if ((rc = gs_rd_bytes(&r, GS_KEY_BYTES, &sl)) == GS_OK)
                memcpy(x->au[i], sl.p, GS_KEY_BYTES);
        } else if ((rc = feed_ident_get(x->s, x->txn, num, &x->fi)) == GS_OK) {
            memcpy(x->au[i], x->fi.key, GS_KEY_BYTES);
        }
    }
    if (rc == GS_OK)
        rc = gs_rd_varint(&r, &nt);
    if (rc != GS_OK)
        return rc;
    if (nt > gs_rd_left(&r) / 9)
        return GS_ETRUNC;
    if (nt > x->cap_st) {
        void *q = realloc(x->st, (size_t)nt * sizeof *x->st);
        if (q == NULL)
            return GS_ENOMEM;
        x->st = q;
        x->cap_st = (size_t)nt;
    }
    x->n_au = (size_t)na;
    x->n_st = (size_t)nt;
    for (size_t i = 0; i < x->n_st; i++) {
        if ((rc = gs_rd_u64be(&r, &x->st[i].hlc)) != GS_OK ||
            (rc = gs_rd_varint(&r, &x->st[i].aidx)) != GS_OK)
            return rc;
        if (x->st[i].aidx >= na)
            return GS_EMALFORMED;
    }
    if ((rc = gs_buf_put_str(&x->out, type.p, type.n)) != GS_OK ||
        (rc = gs_buf_put_str(&x->out, id.p, id.n)) != GS_OK)
        return rc;
    return xc_fields(x, &r);
}

/* An entity key, type || 0x00 || id, split in two. */
static gs_err
ent_key_split(const MDB_val *k, gs_slice *type, gs_slice *id)
{
    const uint8_t *p = k->mv_data, *z = memchr(p, 0, k->mv_size);
    if (z == NULL || z == p || (size_t)(z - p) + 1 >= k->mv_size)
        return GS_EMALFORMED;
    *type = gs_slice_of(p, (size_t)(z - p));
    *id = gs_slice_of(z + 1, k->mv_size - (size_t)(z - p) - 1);
    return GS_OK;
}

/* Decode a stored entity (key k, value v) into e (initialised here). */
static gs_err
ent_decode(gs_store *s, MDB_txn *txn, struct ecodec *x, const MDB_val *k,
           const MDB_val *v, gs_entity *e)
{
    x->s = s;
    x->txn = txn;
    gs_slice type, id;
    gs_err rc = ent_key_split(k, &type, &id);
    if (rc == GS_OK)
        rc = ent_expand(x, type, id, v->mv_data, v->mv_size);
    if (rc == GS_OK)
        rc = gs_entity_decode(e, x->out.data, x->out.len);
    return rc;
}

/* A read transaction about entity (type, id), whose key goes into key
 * and k; GS_EINVAL for a type or id out of bounds. */
static gs_err
ent_txn(gs_store *s, gs_slice type, gs_slice id, uint8_t key[ENT_KEY_MAX],
        MDB_val *k, MDB_txn **txn)
{
    if (type.n == 0 || type.n > GS_NAME_BYTES_MAX || id.n == 0 ||
        id.n > GS_ID_BYTES_MAX)
        return GS_EINVAL;
    int mrc = txn_begin(s, MDB_RDONLY, txn);
    if (mrc != 0)
        return map_err(mrc);
    k->mv_size = ent_key(type, id, key);
    k->mv_data = key;
    return GS_OK;
}

gs_err
gs_store_entity_from_stored(gs_store *s, gs_slice type, gs_slice id,
                            const uint8_t *v, size_t n, gs_entity *out)
{
    uint8_t key[ENT_KEY_MAX];
    struct ecodec x;
    MDB_txn *txn;
    MDB_val k, val = {n, (void *)v};
    gs_err rc = ent_txn(s, type, id, key, &k, &txn);
    if (rc != GS_OK)
        return rc;
    ecodec_init(&x);
    rc = ent_decode(s, txn, &x, &k, &val, out);
    ecodec_fini(&x);
    txn_abort(s, txn);
    return rc;
}

gs_err
gs_store_entity_stored(gs_store *s, gs_slice type, gs_slice id, gs_buf *out)
{
    uint8_t key[ENT_KEY_MAX];
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k, v;
    gs_err rc = ent_txn(s, type, id, key, &k, &txn);
    if (rc != GS_OK)
        return rc;
    int mrc = ents_dbi(s, txn, type.p, type.n, false, &dbi);
    if (mrc == 0)
        mrc = mdb_get(txn, dbi, &k, &v);
    rc = map_err(mrc);
    gs_buf_reset(out);
    if (rc == GS_OK)
        rc = gs_buf_put(out, v.mv_data, v.mv_size);
    txn_abort(s, txn);
    return rc;
}

/* ---- op blocks (format 3) ----
 *
 * ops holds each feed in blocks of consecutive ops, keyed feed number
 * (u64be) || seq of the block's first op (u64be):
 *
 *   u8 form        BLK_OPEN: raw, the feed's newest block, still growing;
 *                  BLK_RAW: sealed, raw; BLK_ZSTD: sealed, one zstd frame
 *   varint n       ops in the block, 1..BLOCK_OPS
 *   32 bytes       prev of the first op (zeros at seq 1)
 *   varint len     length of the raw payload, <= BLOCK_RAW_MAX
 *   payload        raw, or its zstd frame (content size len)
 *
 * The raw payload is n x (varint m, m bytes): each op without author and
 * scope (the feed's: fnum has them), seq (the block's first + i) and prev
 * (the content hash of the op before, which the reader computes as it
 * expands the block in order): its version byte, then every byte that
 * follows prev in the canonical encoding. A reader rebuilds each op's
 * canonical bytes and content hash from the block's one stored prev, so
 * every reader (history, ops_each, feed_read, rebuild, the fork check)
 * sees exactly what was signed.
 *
 * A block is sealed (compressed, unless that does not shrink it) once it
 * holds BLOCK_OPS ops or BLOCK_FILL raw bytes, or once it would compress
 * to about one LMDB overflow page (s->blk_aim, judged by the ratio the
 * last block sealed had); the next op starts a new one. Ops of one feed
 * look alike (names, ids, clock), so a sealed block is a fraction of its
 * ops' size, and one LMDB record carries many ops. A value just over half
 * a page takes a page of its own, so a block that fills its page costs
 * about half the disk (and mapped memory) of one compressed to half.
 * Only the open block is ever rewritten, and only by appending: a block's
 * ops never change. */

#define BLK_OPEN 0
#define BLK_RAW 1
#define BLK_ZSTD 2
#define BLOCK_OPS 256
#define BLOCK_FILL (64u << 10)
#define BLOCK_RAW_MAX (BLOCK_FILL + GS_OP_BYTES_MAX + 16)
#define BLOCK_HEAD_MAX (1 + 10 + GS_HASH_BYTES + 10)
/* zstd level 1: on blocks of a page or so, level 3 saved nothing here (the
 * bench store replica 1.40-1.41x its JSON at both, the bench domain
 * station 44 MiB at both) and is slower: 600 MB/s against 700 at level 1
 * (zstd -b on the bench's records cut in 16 KiB blocks) */
#define BLOCK_ZLEVEL 1

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Sealed blocks compressed on a thread of their own (a long write's:
 * see "sealing on the side" below); NULL: in line. */
struct sealer;

/* The ops of the block being written in this transaction, one feed's. */
struct blockw {
    uint64_t num;   /* its feed; 0: none */
    uint64_t first; /* seq of its first op */
    uint8_t prev[GS_HASH_BYTES];
    size_t n;      /* ops in raw */
    bool dirty;    /* raw holds ops not yet put */
    bool put_once; /* this (open) block is in ops already */
    gs_buf raw;
    uint8_t *val; /* the value put: VAL_CAP bytes, made on first use */
    size_t val_n;
    uint64_t zratio; /* of the last block sealed: bytes per 1024 raw */
    ZSTD_CCtx *cctx; /* made on the first seal */
    struct sealer *sealer;
};

#define VAL_CAP (BLOCK_HEAD_MAX + ZSTD_COMPRESSBOUND(BLOCK_RAW_MAX))

static void sealer_stop(struct blockw *w);
static gs_err sealer_give(gs_store *s, MDB_txn *txn, struct blockw *w);
static gs_err sealer_drain(gs_store *s, MDB_txn *txn, struct blockw *w);
static void sealer_discard(struct blockw *w);

static void
blockw_init(struct blockw *w)
{
    memset(w, 0, sizeof *w);
    gs_buf_init(&w->raw, BLOCK_RAW_MAX);
}

static void
blockw_fini(struct blockw *w)
{
    sealer_stop(w);
    gs_buf_fini(&w->raw);
    free(w->val);
    ZSTD_freeCCtx(w->cctx);
}

/* A block of n ops (the first after prev, raw their payload) as a value
 * into v (VAL_CAP bytes), *vn its length: header, then payload,
 * compressed if seal and it shrinks (*zratio then says by how much; the
 * context *cctx is made on first use). */
static gs_err
block_value(uint8_t *v, size_t *vn, bool seal, size_t n,
            const uint8_t prev[GS_HASH_BYTES], const gs_buf *raw,
            ZSTD_CCtx **cctx, uint64_t *zratio)
{
    size_t head = 0;
    v[head++] = seal ? BLK_ZSTD : BLK_OPEN;
    head += put_varint(v + head, n);
    memcpy(v + head, prev, GS_HASH_BYTES);
    head += GS_HASH_BYTES;
    head += put_varint(v + head, raw->len);
    if (seal) {
        if (*cctx == NULL && (*cctx = ZSTD_createCCtx()) == NULL)
            return GS_ENOMEM;
        size_t zn = ZSTD_compressCCtx(*cctx, v + head, VAL_CAP - head,
                                      raw->data, raw->len, BLOCK_ZLEVEL);
        *zratio = !ZSTD_isError(zn) && zn < raw->len
                      ? 1 + (uint64_t)zn * 1024 / raw->len
                      : 1024;
        if (!ZSTD_isError(zn) && zn < raw->len) {
            *vn = head + zn;
            return GS_OK;
        }
        v[0] = BLK_RAW; /* incompressible: sealed as it is */
    }
    memcpy(v + head, raw->data, raw->len);
    *vn = head + raw->len;
    return GS_OK;
}

/* The block as a value: header, then payload (compressed if sealed and it
 * shrinks). */
static gs_err
blockw_value(struct blockw *w, bool seal)
{
    if (w->val == NULL && (w->val = malloc(VAL_CAP)) == NULL)
        return GS_ENOMEM;
    return block_value(w->val, &w->val_n, seal, w->n, w->prev, &w->raw,
                       &w->cctx, &w->zratio);
}

/* Put block value v[0, vn) of feed num, first op first, into ops;
 * *put_once: it was put before in this transaction (an open block), and
 * after: it is now, open. */
static gs_err
block_put(gs_store *s, MDB_txn *txn, uint64_t num, uint64_t first,
          uint8_t *v, size_t vn, bool seal, bool *put_once)
{
    uint8_t key[16];
    put_u64be(key, num);
    put_u64be(key + 8, first);
    /* A block that sorts last goes in with MDB_APPEND: LMDB then fills
     * each page before it starts the next, where a plain put would leave
     * pages of large values about half empty. Only the last feed's blocks
     * can; the others take a plain put. */
    if (!*put_once) {
        MDB_val k = {16, key}, val = {vn, v};
        int mrc = mdb_put(txn, s->ops, &k, &val, MDB_APPEND);
        if (mrc != MDB_KEYEXIST) {
            *put_once = mrc == 0 && !seal;
            if (mrc == MDB_MAP_FULL)
                s->map_full = true;
            return map_err(mrc);
        }
    }
    if (seal && *put_once) {
        /* Replacing a value in place, LMDB keeps its overflow pages if
         * they are enough (mdb_cursor_put: "we don't bother to try
         * shrinking"): the open block put earlier in this transaction
         * would leave the sealed one its many pages. Deleted first, it
         * gives them back and the sealed block takes what it needs. */
        MDB_val k = {16, key};
        int mrc = mdb_del(txn, s->ops, &k, NULL);
        if (mrc != 0 && mrc != MDB_NOTFOUND)
            return del_err(s, mrc);
    }
    *put_once = !seal;
    return put(s, txn, s->ops, key, 16, v, vn, 0);
}

static gs_err
blockw_put(gs_store *s, MDB_txn *txn, struct blockw *w, bool seal)
{
    gs_err rc = blockw_value(w, seal);
    if (rc != GS_OK)
        return rc;
    return block_put(s, txn, w->num, w->first, w->val, w->val_n, seal,
                     &w->put_once);
}

/* Put the open block, if it holds ops not put yet, after the sealed ones
 * still being compressed. Call before anything in the transaction reads
 * ops, and before it commits. */
static gs_err
blockw_flush(gs_store *s, MDB_txn *txn, struct blockw *w)
{
    gs_err rc = sealer_drain(s, txn, w);
    if (rc != GS_OK || !w->dirty)
        return rc;
    w->dirty = false;
    return blockw_put(s, txn, w, false);
}

/* Forget the block (a new transaction, or a retry of one). */
static void
blockw_reset(struct blockw *w)
{
    sealer_discard(w); /* the sealed blocks of a transaction that ended */
    w->num = 0;
    w->n = 0;
    w->dirty = false;
    w->put_once = false;
    gs_buf_reset(&w->raw);
}

/* The header of a stored block v; *payload is what follows it. */
struct blockh {
    uint8_t form;
    size_t n, len;
    const uint8_t *prev;
    gs_slice payload;
};

static gs_err
block_head(const MDB_val *v, struct blockh *h)
{
    gs_rd r;
    uint64_t n, len;
    gs_slice prev;
    gs_err rc;
    gs_rd_init(&r, v->mv_data, v->mv_size);
    if ((rc = gs_rd_u8(&r, &h->form)) != GS_OK ||
        (rc = gs_rd_varint(&r, &n)) != GS_OK ||
        (rc = gs_rd_bytes(&r, GS_HASH_BYTES, &prev)) != GS_OK ||
        (rc = gs_rd_varint(&r, &len)) != GS_OK)
        return GS_EMALFORMED;
    if (h->form > BLK_ZSTD || n == 0 || n > BLOCK_OPS || len > BLOCK_RAW_MAX ||
        (h->form != BLK_ZSTD && len != gs_rd_left(&r)))
        return GS_EMALFORMED; /* a damaged replica, never a crash */
    h->n = (size_t)n;
    h->len = (size_t)len;
    h->prev = prev.p;
    h->payload = gs_slice_of(r.p, gs_rd_left(&r));
    return GS_OK;
}

/* The feed's newest block (the one holding seq), taken up for appending if
 * it is still open and ends just below seq. */
static gs_err
blockw_resume(gs_store *s, MDB_txn *txn, struct blockw *w, uint64_t num,
              uint64_t seq)
{
    uint8_t key[16];
    MDB_cursor *cur;
    struct blockh h;
    gs_err rc = GS_OK;
    blockw_reset(w);
    w->num = num;
    w->first = seq;
    if (seq <= 1)
        return GS_OK;
    put_u64be(key, num);
    put_u64be(key + 8, seq);
    MDB_val k = {16, key}, v;
    int mrc = mdb_cursor_open(txn, s->ops, &cur);
    if (mrc != 0)
        return map_err(mrc);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mrc = mdb_cursor_get(cur, &k, &v, mrc == 0 ? MDB_PREV : MDB_LAST);
    if (mrc == 0 && k.mv_size == 16 && get_u64be(k.mv_data) == num &&
        (rc = block_head(&v, &h)) == GS_OK && h.form == BLK_OPEN &&
        get_u64be((const uint8_t *)k.mv_data + 8) + h.n == seq) {
        w->first = seq - h.n;
        w->n = h.n;
        w->put_once = true;
        memcpy(w->prev, h.prev, GS_HASH_BYTES);
        rc = gs_buf_put(&w->raw, h.payload.p, h.payload.n);
    } else if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = map_err(mrc);
    }
    mdb_cursor_close(cur);
    return rc;
}

/* Append op (canonical bytes, decoded into op, content hash) to its feed
 * num's blocks: author, scope, seq and prev are left out. */
static gs_err
blockw_append(gs_store *s, MDB_txn *txn, struct blockw *w, uint64_t num,
              const gs_op *op, const uint8_t *bytes, size_t n,
              const uint8_t hash[GS_HASH_BYTES])
{
    gs_err rc;
    if (w->num != num || w->first + w->n != op->seq) {
        if ((rc = blockw_flush(s, txn, w)) != GS_OK ||
            (rc = blockw_resume(s, txn, w, num, op->seq)) != GS_OK)
            return rc;
    }
    if (w->n == 0)
        memcpy(w->prev, op->prev, GS_HASH_BYTES);
    /* what follows prev: after the version, author, scope (its length,
     * then its bytes), the seq varint and prev */
    size_t rest = 1 + GS_KEY_BYTES + varint_len(op->scope.n) + op->scope.n +
                  varint_len(op->seq) + GS_HASH_BYTES;
    if (rest >= n)
        return GS_EINVAL; /* a decoded op always has more after prev */
    if ((rc = gs_buf_put_varint(&w->raw, 1 + n - rest)) != GS_OK ||
        (rc = gs_buf_put_u8(&w->raw, bytes[0])) != GS_OK ||
        (rc = gs_buf_put(&w->raw, bytes + rest, n - rest)) != GS_OK)
        return rc;
    w->n++;
    w->dirty = true;
    if (w->n < BLOCK_OPS && w->raw.len < BLOCK_FILL &&
        w->raw.len * s->zratio < s->blk_aim * 1024)
        return GS_OK;
    w->dirty = false;
    if (w->sealer != NULL) {
        if ((rc = sealer_give(s, txn, w)) != GS_OK)
            return rc;
    } else if ((rc = blockw_put(s, txn, w, true)) != GS_OK) {
        return rc;
    } else {
        s->zratio = w->zratio; /* a hint for the next block, any feed's */
    }
    w->first += w->n; /* the next op opens a block after this one */
    w->n = 0;
    w->put_once = false;
    memcpy(w->prev, hash, GS_HASH_BYTES);
    gs_buf_reset(&w->raw);
    return GS_OK;
}

/* ---- sealing on the side ----
 *
 * zstd is a fifth of a long write's work on its one writer thread (the
 * import's), while the thread that parses its lines has time to spare:
 * for such a write (blockw_async) a block, once sealed, goes to a thread
 * of its own to be compressed, and the writer takes the next op at once.
 * The writer puts the compressed blocks into ops itself (a transaction is
 * one thread's), in the order they were sealed, as they come back and at
 * the latest in blockw_flush, which every read of ops in the transaction
 * and its commit come after: what is stored, and when it can be read,
 * is as if they were put at their seal. A few blocks are out at a time:
 * with all of them out, the writer waits for the oldest. A transaction
 * that ends without its commit leaves its blocks unput (blockw_reset).
 * The size a block is sealed at follows the ratio of the last one put,
 * not the last one sealed: a few blocks later, as the writer learns it. */

#define SEAL_JOBS 4
#define SEAL_WAKE 2 /* jobs waiting that wake the thread: a wake-up costs
                       (an interrupt to another CPU, two context switches);
                       fewer, each for more work */

struct seal_job {
    uint64_t num, first; /* the block's key */
    size_t n;
    uint8_t prev[GS_HASH_BYTES];
    bool put_once; /* its open form was put in this transaction */
    gs_buf raw;
    uint8_t *val; /* VAL_CAP bytes: the value to put */
    size_t val_n;
    uint64_t zratio;
    gs_err rc; /* of block_value */
};

struct sealer {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a job given, a job compressed, or stop */
    /* jobs given, compressed and put, ever: job i is job[i % SEAL_JOBS];
     * put <= done <= given <= put + SEAL_JOBS. The thread reads job
     * `done` while done < given; the writer all others. */
    uint64_t given, done, put;
    bool idle; /* the thread waits for a job */
    bool stop;
    ZSTD_CCtx *cctx;
    struct seal_job job[SEAL_JOBS];
};

static void *
sealer_main(void *arg)
{
    struct sealer *z = arg;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        while (!z->stop && z->done == z->given) {
            z->idle = true;
            pthread_cond_wait(&z->cv, &z->mu);
            z->idle = false;
        }
        if (z->done == z->given)
            break; /* stopped, nothing left */
        struct seal_job *j = &z->job[z->done % SEAL_JOBS];
        pthread_mutex_unlock(&z->mu);
        j->rc = block_value(j->val, &j->val_n, true, j->n, j->prev, &j->raw,
                            &z->cctx, &j->zratio);
        pthread_mutex_lock(&z->mu);
        z->done++;
        pthread_cond_broadcast(&z->cv); /* the writer seldom waits */
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

static void
sealer_free(struct sealer *z)
{
    for (size_t i = 0; i < SEAL_JOBS; i++) {
        gs_buf_fini(&z->job[i].raw);
        free(z->job[i].val);
    }
    ZSTD_freeCCtx(z->cctx);
    free(z);
}

/* Seal w's blocks on the side from now on (a long write). If the thread
 * or its memory cannot be had, they are sealed in line, as before. */
static void
blockw_async(struct blockw *w)
{
    struct sealer *z = calloc(1, sizeof *z);
    if (z == NULL)
        return;
    bool ok = true;
    for (size_t i = 0; i < SEAL_JOBS; i++) {
        gs_buf_init(&z->job[i].raw, BLOCK_RAW_MAX);
        ok = ok && (z->job[i].val = malloc(VAL_CAP)) != NULL;
    }
    if (!ok) {
        sealer_free(z);
        return;
    }
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->cv, NULL);
    if (pthread_create(&z->th, NULL, sealer_main, z) != 0) {
        pthread_cond_destroy(&z->cv);
        pthread_mutex_destroy(&z->mu);
        sealer_free(z);
        return;
    }
    w->sealer = z;
}

static void
sealer_stop(struct blockw *w)
{
    struct sealer *z = w->sealer;
    if (z == NULL)
        return;
    pthread_mutex_lock(&z->mu);
    z->stop = true;
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    pthread_join(z->th, NULL);
    pthread_cond_destroy(&z->cv);
    pthread_mutex_destroy(&z->mu);
    sealer_free(z);
    w->sealer = NULL;
}

/* Put the oldest job out, once compressed (wait: wait for it; else only
 * if it is). *none: there was none to put. */
static gs_err
sealer_put_one(gs_store *s, MDB_txn *txn, struct sealer *z, bool wait,
               bool *none)
{
    pthread_mutex_lock(&z->mu);
    if (wait && z->idle && z->done < z->given)
        pthread_cond_broadcast(&z->cv); /* fewer than SEAL_WAKE given */
    while (wait && z->done == z->put && z->put < z->given)
        pthread_cond_wait(&z->cv, &z->mu);
    *none = z->done == z->put;
    pthread_mutex_unlock(&z->mu);
    if (*none)
        return GS_OK;
    struct seal_job *j = &z->job[z->put % SEAL_JOBS];
    gs_err rc = j->rc;
    if (rc == GS_OK)
        rc = block_put(s, txn, j->num, j->first, j->val, j->val_n, true,
                       &j->put_once);
    if (rc == GS_OK)
        s->zratio = j->zratio; /* a hint for the next block, any feed's */
    z->put++; /* only the writer reads or changes it */
    return rc;
}

/* Give w's block, just sealed, to be compressed; w->raw comes back empty
 * (the job's buffer). */
static gs_err
sealer_give(gs_store *s, MDB_txn *txn, struct blockw *w)
{
    struct sealer *z = w->sealer;
    bool none = false;
    gs_err rc = GS_OK;
    /* the blocks back by now go in; with every job out, the oldest is
     * waited for */
    while (rc == GS_OK && !none)
        rc = sealer_put_one(s, txn, z, false, &none);
    if (rc == GS_OK && z->given - z->put == SEAL_JOBS)
        rc = sealer_put_one(s, txn, z, true, &none);
    if (rc != GS_OK)
        return rc;
    struct seal_job *j = &z->job[z->given % SEAL_JOBS];
    gs_buf spare = j->raw;
    j->num = w->num;
    j->first = w->first;
    j->n = w->n;
    memcpy(j->prev, w->prev, GS_HASH_BYTES);
    j->put_once = w->put_once;
    j->raw = w->raw;
    w->raw = spare;
    gs_buf_reset(&w->raw);
    pthread_mutex_lock(&z->mu);
    z->given++;
    bool wake = z->idle && z->given - z->done >= SEAL_WAKE;
    pthread_mutex_unlock(&z->mu);
    /* after the unlock: woken, the thread finds the lock free */
    if (wake)
        pthread_cond_broadcast(&z->cv);
    return GS_OK;
}

/* Put every block given, waiting for those still being compressed. */
static gs_err
sealer_drain(gs_store *s, MDB_txn *txn, struct blockw *w)
{
    struct sealer *z = w->sealer;
    bool none = false;
    gs_err rc = GS_OK;
    while (z != NULL && rc == GS_OK && z->put < z->given)
        rc = sealer_put_one(s, txn, z, true, &none);
    return rc;
}

/* Forget the blocks given and not put (their transaction ended). */
static void
sealer_discard(struct blockw *w)
{
    struct sealer *z = w->sealer;
    if (z == NULL)
        return;
    pthread_mutex_lock(&z->mu);
    if (z->idle && z->done < z->given)
        pthread_cond_broadcast(&z->cv);
    while (z->done < z->given)
        pthread_cond_wait(&z->cv, &z->mu);
    z->put = z->given;
    pthread_mutex_unlock(&z->mu);
}

/* One block read back: every op's canonical bytes and content hash. */
struct blockr {
    uint64_t num, first; /* the block held; n == 0: none */
    size_t n;
    size_t off[BLOCK_OPS + 1]; /* op i is canon[off[i], off[i + 1]) */
    uint8_t hash[BLOCK_OPS][GS_HASH_BYTES];
    uint8_t *raw; /* a decompressed payload: BLOCK_RAW_MAX, on first use */
    gs_buf canon;
    ZSTD_DCtx *dctx;
    struct feed_ident fi; /* the feed's author and scope */
};

static void
blockr_init(struct blockr *b)
{
    memset(b, 0, sizeof *b);
    gs_buf_init(&b->canon, BLOCK_RAW_MAX + BLOCK_OPS * (FEED_KEY_MAX + 64));
}

static void
blockr_fini(struct blockr *b)
{
    free(b->raw);
    gs_buf_fini(&b->canon);
    ZSTD_freeDCtx(b->dctx);
}

/* The raw payload of the block h: its own bytes, or its zstd frame
 * decompressed into b->raw (which b's expanded ops never point into). */
static gs_err
block_raw(struct blockr *b, const struct blockh *h, const uint8_t **raw)
{
    *raw = h->payload.p;
    if (h->form != BLK_ZSTD)
        return GS_OK;
    if (b->dctx == NULL && (b->dctx = ZSTD_createDCtx()) == NULL)
        return GS_ENOMEM;
    if (b->raw == NULL && (b->raw = malloc(BLOCK_RAW_MAX)) == NULL)
        return GS_ENOMEM;
    /* the frame must say its size, and be exactly that */
    if (ZSTD_getFrameContentSize(h->payload.p, h->payload.n) != h->len)
        return GS_EMALFORMED;
    size_t got = ZSTD_decompressDCtx(b->dctx, b->raw, h->len, h->payload.p,
                                     h->payload.n);
    if (ZSTD_isError(got) || got != h->len)
        return GS_EMALFORMED;
    *raw = b->raw;
    return GS_OK;
}

/* The next op of a raw payload: varint m, then its m stored bytes. */
static gs_err
raw_op_next(gs_rd *r, gs_slice *op)
{
    uint64_t m;
    if (gs_rd_varint(r, &m) != GS_OK || m == 0 || m > GS_OP_BYTES_MAX ||
        gs_rd_bytes(r, (size_t)m, op) != GS_OK)
        return GS_EMALFORMED;
    return GS_OK;
}

/* Expand the block (key k, value v) into b. Bytes from disk: every length
 * is checked before it is used. */
static gs_err
blockr_load(gs_store *s, MDB_txn *txn, struct blockr *b, const MDB_val *k,
            const MDB_val *v)
{
    struct blockh h;
    const uint8_t *raw;
    gs_err rc;
    b->n = 0;
    if (k->mv_size != 16)
        return GS_EMALFORMED;
    uint64_t num = get_u64be(k->mv_data);
    uint64_t first = get_u64be((const uint8_t *)k->mv_data + 8);
    if ((rc = block_head(v, &h)) != GS_OK ||
        (rc = feed_ident_get(s, txn, num, &b->fi)) != GS_OK)
        return rc;
    if (first == 0 || first > UINT64_MAX - BLOCK_OPS)
        return GS_EMALFORMED;
    if ((rc = block_raw(b, &h, &raw)) != GS_OK)
        return rc;
    const uint8_t *fkey = b->fi.key;
    size_t fkn = b->fi.kn;
    gs_rd r;
    gs_buf_reset(&b->canon);
    gs_rd_init(&r, raw, h.len);
    for (size_t i = 0; i < h.n; i++) {
        gs_slice op;
        b->off[i] = b->canon.len;
        if ((rc = raw_op_next(&r, &op)) != GS_OK)
            return rc;
        /* version, author, str scope, varint seq, prev, the rest */
        if ((rc = gs_buf_put_u8(&b->canon, op.p[0])) != GS_OK ||
            (rc = gs_buf_put(&b->canon, fkey, GS_KEY_BYTES)) != GS_OK ||
            (rc = gs_buf_put_str(&b->canon, fkey + GS_KEY_BYTES,
                                 fkn - GS_KEY_BYTES)) != GS_OK ||
            (rc = gs_buf_put_varint(&b->canon, first + i)) != GS_OK ||
            (rc = gs_buf_put(&b->canon, i ? b->hash[i - 1] : h.prev,
                             GS_HASH_BYTES)) != GS_OK ||
            (rc = gs_buf_put(&b->canon, op.p + 1, op.n - 1)) != GS_OK)
            return rc;
        gs_op_hash(b->canon.data + b->off[i], b->canon.len - b->off[i],
                   b->hash[i]);
    }
    if (gs_rd_left(&r) != 0)
        return GS_EMALFORMED;
    b->off[h.n] = b->canon.len;
    b->num = num;
    b->first = first;
    b->n = h.n;
    return GS_OK;
}

/* The block of feed num that holds seq, if any: its key and value (valid
 * for the transaction). GS_ENOTFOUND if no block starts at or below seq. */
static gs_err
block_find(gs_store *s, MDB_txn *txn, uint64_t num, uint64_t seq, MDB_val *k,
           MDB_val *v)
{
    uint8_t key[16];
    MDB_cursor *cur;
    gs_err rc = GS_ENOTFOUND;
    put_u64be(key, num);
    put_u64be(key + 8, seq);
    *k = (MDB_val){16, key};
    int mrc = mdb_cursor_open(txn, s->ops, &cur);
    if (mrc != 0)
        return map_err(mrc);
    mrc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (mrc == 0 && memcmp(k->mv_data, key, 16) != 0)
        mrc = mdb_cursor_get(cur, k, v, MDB_PREV);
    else if (mrc == MDB_NOTFOUND)
        mrc = mdb_cursor_get(cur, k, v, MDB_LAST);
    if (mrc == 0 && k->mv_size == 16 && get_u64be(k->mv_data) == num &&
        get_u64be((const uint8_t *)k->mv_data + 8) <= seq)
        rc = GS_OK;
    else if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = map_err(mrc);
    mdb_cursor_close(cur);
    return rc;
}

/* Make b hold the block with op (num, seq). GS_ENOTFOUND if none has. */
static gs_err
blockr_seek(gs_store *s, MDB_txn *txn, struct blockr *b, uint64_t num,
            uint64_t seq)
{
    MDB_val k, v;
    if (b->n && b->num == num && seq >= b->first && seq - b->first < b->n)
        return GS_OK;
    gs_err rc = block_find(s, txn, num, seq, &k, &v);
    if (rc == GS_OK)
        rc = blockr_load(s, txn, b, &k, &v);
    if (rc == GS_OK && seq - b->first >= b->n)
        rc = GS_ENOTFOUND;
    return rc;
}

/* The hlc of op (num, seq), read from its block without rebuilding the
 * block's ops and hashes (what blockr_load does): in a stored op the hlc
 * follows the version byte (op-format §2: it comes right after prev). b's
 * block, if it holds the op, is used; else only b's buffers are. */
static gs_err
blockr_hlc(gs_store *s, MDB_txn *txn, struct blockr *b, uint64_t num,
           uint64_t seq, uint64_t *hlc)
{
    MDB_val k, v;
    struct blockh h;
    gs_rd r;
    gs_op op;
    gs_err rc;
    if (b->n && b->num == num && seq >= b->first && seq - b->first < b->n) {
        size_t i = (size_t)(seq - b->first);
        rc = gs_op_decode(b->canon.data + b->off[i],
                          b->off[i + 1] - b->off[i], &op);
        if (rc == GS_OK)
            *hlc = op.hlc;
        return rc;
    }
    if ((rc = block_find(s, txn, num, seq, &k, &v)) != GS_OK ||
        (rc = block_head(&v, &h)) != GS_OK)
        return rc;
    uint64_t first = get_u64be((const uint8_t *)k.mv_data + 8);
    if (seq - first >= h.n)
        return GS_ENOTFOUND;
    const uint8_t *raw;
    if ((rc = block_raw(b, &h, &raw)) != GS_OK)
        return rc;
    gs_rd_init(&r, raw, h.len);
    for (uint64_t i = 0;; i++) {
        gs_slice o;
        if ((rc = raw_op_next(&r, &o)) != GS_OK)
            return rc;
        if (i == seq - first) {
            if (o.n < 9)
                return GS_EMALFORMED;
            *hlc = get_u64be(o.p + 1);
            return GS_OK;
        }
    }
}

/* Op (num, seq): its canonical bytes (valid until b moves) and hash. */
static gs_err
blockr_op(gs_store *s, MDB_txn *txn, struct blockr *b, uint64_t num,
          uint64_t seq, gs_slice *op, const uint8_t **hash)
{
    gs_err rc = blockr_seek(s, txn, b, num, seq);
    if (rc != GS_OK)
        return rc;
    size_t i = (size_t)(seq - b->first);
    *op = gs_slice_of(b->canon.data + b->off[i], b->off[i + 1] - b->off[i]);
    if (hash)
        *hash = b->hash[i];
    return GS_OK;
}

/* A new entity lists no ops yet. */
static void
refs_none(struct ecodec *x)
{
    x->spilled = false;
    x->n_refs = 0;
    gs_buf_reset(&x->refs);
}

/* The tail x knows of type, found in the type's database (ents_dbi: a
 * new type takes a slot) with a cursor of its own if this transaction has
 * not yet and find is set; SIZE_MAX if it has not and find is not, or x
 * knows too many types already. An LMDB code in *mrc.
 *
 * The type's cursor is left where its keys end, and stays there while
 * its new keys go in: LMDB's put finds a key that falls inside the page
 * its cursor is on without a search from the root (callgrind, 20k
 * records when two types shared one database and one cursor: their puts
 * 56M instructions of the writer's 294M, 31M with one cursor per type).
 *
 * The type is compared where the caller has it, not in the entity key
 * the caller has just written (whose type end ent_store had to find with
 * memchr): perf put 3% of an import's samples on this memcmp of the fresh
 * key, most on its one masked vector load. Compared so, the samples
 * moved to the writer's next first read of the line (build); the import
 * rate did not change measurably. */
static size_t
tail_of(gs_store *s, MDB_txn *txn, struct ecodec *x, gs_slice type, bool find,
        int *mrc)
{
    size_t tn = type.n;
    *mrc = 0;
    for (size_t i = 0; i < x->n_tails; i++)
        if (x->tails[i].tn == tn && memcmp(x->tails[i].key, type.p, tn) == 0)
            return i;
    if (!find || x->n_tails == TYPE_TAILS)
        return SIZE_MAX;
    MDB_cursor *cur;
    MDB_dbi dbi;
    if ((*mrc = ents_dbi(s, txn, type.p, tn, true, &dbi)) != 0 ||
        (*mrc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return SIZE_MAX;
    /* the greatest key below type || 1 is the type's last, if it has one */
    uint8_t past[GS_NAME_BYTES_MAX + 1];
    memcpy(past, type.p, tn);
    past[tn] = 1;
    MDB_val pk = {tn + 1, past}, v;
    int rc = mdb_cursor_get(cur, &pk, &v, MDB_SET_RANGE);
    if (rc == 0 || rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &pk, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        *mrc = rc;
        return SIZE_MAX;
    }
    size_t i = x->n_tails++;
    if (rc == 0 && pk.mv_size > tn + 1 && pk.mv_size <= ENT_KEY_MAX &&
        memcmp(pk.mv_data, type.p, tn) == 0 &&
        ((const uint8_t *)pk.mv_data)[tn] == 0) {
        memcpy(x->tails[i].key, pk.mv_data, pk.mv_size);
        x->tails[i].kn = pk.mv_size;
    } else {
        memcpy(x->tails[i].key, type.p, tn); /* none of the type */
        x->tails[i].key[tn] = 0;
        x->tails[i].kn = tn + 1;
    }
    x->tails[i].tn = tn;
    x->tails[i].cur = cur;
    x->tails[i].own = dbi != s->ents;
    return i;
}

/* Whether id, of the type of tail t, sorts past the tail: the keys share
 * type || 0, so the ids decide. */
static bool
past_tail(const struct ecodec *x, size_t t, gs_slice id)
{
    size_t tn = x->tails[t].tn;
    return key_cmp(id.p, id.n, x->tails[t].key + tn + 1,
                   x->tails[t].kn - tn - 1) > 0;
}

/* The entity (type, id), of key k, as MDB_SET gives it, on the type's
 * cursor (the put that follows starts from its page). A key past its
 * type's tail is not searched for: an import of new entities, whose ids
 * mostly grow, reads none of them. An LMDB code. */
static int
ents_get(gs_store *s, MDB_txn *txn, struct ecodec *x, gs_slice type,
         gs_slice id, MDB_val *k, MDB_val *v)
{
    MDB_dbi dbi;
    int mrc;
    size_t t = tail_of(s, txn, x, type, true, &mrc);
    if (mrc != 0)
        return mrc;
    if (t == SIZE_MAX)
        return (mrc = ents_dbi(s, txn, type.p, type.n, true, &dbi)) != 0
                   ? mrc
                   : mdb_get(txn, dbi, k, v);
    if (past_tail(x, t, id))
        return MDB_NOTFOUND;
    return mdb_cursor_get(x->tails[t].cur, k, v, MDB_SET);
}

/* Load (type, id) into e, fresh if never seen; x keeps its history
 * section for the ent_store that follows. */
static gs_err
ent_load(gs_store *s, MDB_txn *txn, struct ecodec *x, gs_slice type,
         gs_slice id, gs_entity *e)
{
    uint8_t key[ENT_KEY_MAX];
    MDB_val k = {ent_key(type, id, key), key}, v;
    int mrc = ents_get(s, txn, x, type, id, &k, &v);
    refs_none(x);
    if (mrc == MDB_NOTFOUND)
        return gs_entity_init(e, type, id);
    if (mrc != 0)
        return map_err(mrc);
    return ent_decode(s, txn, x, &k, &v, e);
}

/* Store e; or, given op (and its parsed updates pl), the entity op is
 * about after op, where it held no fields before (ent_fresh: e is not
 * read). */
static gs_err
ent_store(gs_store *s, MDB_txn *txn, const gs_entity *e, const gs_op *op,
          const gs_payload *pl, const uint8_t *hash, gs_buf *scratch,
          struct ecodec *x)
{
    uint8_t key[ENT_KEY_MAX];
    gs_slice type = op ? op->type : gs_slice_of(e->type, e->type_n),
             id = op ? op->id : gs_slice_of(e->id, e->id_n);
    size_t kn = ent_key(type, id, key);
    gs_err rc = GS_OK;
    x->s = s;
    x->txn = txn;
    if (op != NULL) {
        rc = ent_fresh(x, op, pl, hash, scratch);
    } else {
        gs_buf_reset(scratch);
        rc = gs_entity_encode(e, scratch);
        if (rc == GS_OK)
            rc = ent_compact(x, scratch->data, scratch->len);
    }
    if (rc != GS_OK)
        return rc;
    MDB_dbi dbi;
    int mrc;
    size_t t = tail_of(s, txn, x, type, false, &mrc);
    if (t == SIZE_MAX)
        return (rc = map_err(ents_dbi(s, txn, type.p, type.n, true, &dbi))) !=
                       GS_OK
                   ? rc
                   : put(s, txn, dbi, key, kn, x->out.data, x->out.len, 0);
    /* a key past its type's tail is the new tail (a delete leaves the
     * tail as it was: still no key of the type is greater), and in a
     * slot of the type's own the database's last key */
    bool past = past_tail(x, t, id);
    if ((rc = cursor_put(s, x->tails[t].cur, key, kn, x->out.data,
                         x->out.len,
                         past && x->tails[t].own ? MDB_APPEND : 0)) != GS_OK)
        return rc;
    if (past) {
        memcpy(x->tails[t].key, key, kn);
        x->tails[t].kn = kn;
    }
    return GS_OK;
}

/* ---- ingest ---- */

/* A feed to freeze at the end of the transaction: its key, the fork's seq. */
struct freeze_at {
    uint8_t key[FEED_KEY_MAX];
    size_t kn;
    uint64_t seq;
};

struct ingest_ctx {
    const gs_store_run *runs;
    size_t n_runs;
    const bool *by_authority; /* per run: its first op is the authority's */
    const uint8_t *network;
    gs_ingest_stats *stats;
    gs_buf scratch;
    uint64_t hlc_max; /* greatest hlc appended by this transaction */
    struct ecodec x;  /* entities to and from their stored form */
    struct blockw bw; /* the block being appended to */
    struct blockr br; /* a block read back (the check for held ops) */
    /* devices whose revocation an op of this transaction touched: rolled
     * back by rollback_run before it commits */
    uint8_t (*revoked)[GS_KEY_BYTES];
    size_t n_revoked, cap_revoked;
    /* feeds a fork was found in, at seq: frozen by rollback_run */
    struct freeze_at *frozen;
    size_t n_frozen, cap_frozen;
};

/* Start (or start again) a write transaction's work. */
static void
ingest_ctx_reset(struct ingest_ctx *c)
{
    c->hlc_max = 0;
    c->x.n_cache = 0; /* what an aborted try looked up is gone */
    c->x.n_names = 0;
    memset(c->x.name_hint, 0, sizeof c->x.name_hint);
    if (c->x.sc)
        memset(c->x.sc, 0, sizeof *c->x.sc);
    c->x.fi.kn = 0;
    c->x.n_tails = 0; /* the transaction they were on closed the types'
                         cursors; what they found may be undone */
    c->br.n = 0;
    c->br.fi.kn = 0;
    c->n_revoked = 0;
    c->n_frozen = 0;
    blockw_reset(&c->bw);
}

static void
ingest_ctx_init(struct ingest_ctx *c)
{
    gs_buf_init(&c->scratch, GS_ENTITY_BYTES_MAX);
    ecodec_init(&c->x);
    blockw_init(&c->bw);
    blockr_init(&c->br);
}

static void
ingest_ctx_fini(struct ingest_ctx *c)
{
    blockr_fini(&c->br);
    blockw_fini(&c->bw);
    ecodec_fini(&c->x);
    gs_buf_fini(&c->scratch);
    free(c->revoked);
    free(c->frozen);
}

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

/* The authority's runs are ingested before the others (ingest_fn), so the
 * first refused run is the one of least index, not the first seen. */
static void
refuse(gs_ingest_stats *st, size_t run, gs_err why, size_t n_ops)
{
    if (st->first_bad_rc == GS_OK || run < st->first_bad_run) {
        st->first_bad_run = run;
        st->first_bad_rc = why;
    }
    st->rejected += n_ops;
    st->by_reason[why] += n_ops;
}

/* The trust entities of one author (store/trust.h), read in the write
 * transaction so that a certificate ingested earlier in the same batch
 * counts. */
struct trust_ents {
    gs_entity cert, rev;
    bool has_cert, has_rev;
};

static gs_err
trust_get(gs_store *s, MDB_txn *txn, struct ecodec *x, const char *type,
          gs_slice id, gs_entity *e, bool *has)
{
    uint8_t key[ENT_KEY_MAX];
    gs_slice t = {(const uint8_t *)type, strlen(type)};
    MDB_val k = {ent_key(t, id, key), key}, v;
    MDB_dbi dbi;
    int mrc = ents_dbi(s, txn, t.p, t.n, false, &dbi);
    if (mrc == 0)
        mrc = mdb_get(txn, dbi, &k, &v);
    *has = false;
    refs_none(x);
    if (mrc == MDB_NOTFOUND)
        return GS_OK;
    if (mrc != 0)
        return map_err(mrc);
    gs_err rc = ent_decode(s, txn, x, &k, &v, e);
    *has = rc == GS_OK;
    return rc;
}

static gs_err
trust_load(gs_store *s, MDB_txn *txn, struct ecodec *x,
           const uint8_t author[GS_KEY_BYTES], struct trust_ents *t)
{
    char hex[65];
    gs_trust_id(author, hex);
    gs_slice id = {(const uint8_t *)hex, 64};
    gs_err rc = trust_get(s, txn, x, GS_TRUST_CERT, id, &t->cert,
                          &t->has_cert);
    if (rc == GS_OK)
        rc = trust_get(s, txn, x, GS_TRUST_REVOCATION, id, &t->rev,
                       &t->has_rev);
    if (rc != GS_OK && t->has_cert) {
        gs_entity_fini(&t->cert);
        t->has_cert = false;
    }
    return rc;
}

static void
trust_fini(struct trust_ents *t)
{
    if (t->has_cert)
        gs_entity_fini(&t->cert);
    if (t->has_rev)
        gs_entity_fini(&t->rev);
    t->has_cert = t->has_rev = false;
}

/* The trust rules over ops k.. of a verified run (one author): GS_OK, or
 * the first refusal's reason in *why. Only storage errors are returned. */
static gs_err
trust_run(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
          const gs_store_run *run, size_t k, gs_err *why)
{
    struct trust_ents t = {0};
    gs_op op;
    uint8_t hash[GS_HASH_BYTES];
    gs_err rc = gs_op_decode(run->items[k].bytes, run->items[k].n, &op);
    *why = GS_OK;
    if (rc != GS_OK)
        return GS_EINVAL; /* verified a moment ago */
    if (memcmp(op.author, c->network, GS_KEY_BYTES) == 0)
        return GS_OK; /* the authority */
    if ((rc = trust_load(s, txn, &c->x, op.author, &t)) != GS_OK)
        return rc;
    gs_trust_dev d = {c->network, t.has_cert ? &t.cert : NULL,
                      t.has_rev ? &t.rev : NULL};
    for (size_t i = k; i < run->n && *why == GS_OK; i++) {
        if ((rc = gs_op_decode(run->items[i].bytes, run->items[i].n, &op)))
            break;
        gs_op_hash(run->items[i].bytes, run->items[i].n, hash);
        *why = gs_trust_check(&d, &op, hash);
    }
    trust_fini(&t);
    return rc == GS_OK ? GS_OK : GS_EINVAL;
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
    gs_err rc = gs_run_verify(items + done, n - done, from, network, NULL, NULL,
                              &piece_bad);
    if (rc != GS_OK)
        *bad = done + piece_bad;
    return rc;
}

/* The hist key of op (feedno, seq), stamped hlc, of entity (type, id). */
static size_t
hist_key(gs_slice type, gs_slice id, uint64_t hlc, uint64_t feedno,
         uint64_t seq, uint8_t out[HIST_KEY_MAX])
{
    size_t hn = ent_key(type, id, out);
    out[hn++] = 0;
    put_u64be(out + hn, hlc);
    hn += 8;
    hn += put_varint(out + hn, feedno);
    hn += put_varint(out + hn, seq);
    return hn;
}

/* Index op (feedno, seq) in hist under its entity. */
static gs_err
hist_put(gs_store *s, MDB_txn *txn, gs_slice type, gs_slice id, uint64_t hlc,
         uint64_t feedno, uint64_t seq)
{
    uint8_t hkey[HIST_KEY_MAX];
    size_t hn = hist_key(type, id, hlc, feedno, seq, hkey);
    return put(s, txn, s->hist, hkey, hn, "", 0, 0);
}

/* Add op (of feed feedno) to its entity's history: to the list in the
 * entity's value (c->x, loaded with it) while it holds under HIST_INLINE
 * ops, which is most entities and costs a few bytes an op; past that, the
 * whole list moves to hist, whose keys sort by time, so history stays
 * cheap for an entity written thousands of times. */
static gs_err
hist_add(gs_store *s, MDB_txn *txn, struct ingest_ctx *c, const gs_op *op,
         uint64_t feedno)
{
    struct ecodec *x = &c->x;
    gs_err rc;
    if (!x->spilled && x->n_refs < HIST_INLINE) {
        if ((rc = gs_buf_put_varint(&x->refs, feedno)) != GS_OK ||
            (rc = gs_buf_put_varint(&x->refs, op->seq)) != GS_OK)
            return rc;
        x->n_refs++;
        return GS_OK;
    }
    if (!x->spilled) {
        /* the listed ops, some perhaps in the open block, go to hist */
        gs_rd r;
        if ((rc = blockw_flush(s, txn, &c->bw)) != GS_OK)
            return rc;
        gs_rd_init(&r, x->refs.data, x->refs.len);
        for (uint64_t i = 0; i < x->n_refs; i++) {
            uint64_t num, seq, hlc;
            if ((rc = gs_rd_varint(&r, &num)) != GS_OK ||
                (rc = gs_rd_varint(&r, &seq)) != GS_OK ||
                (rc = blockr_hlc(s, txn, &c->br, num, seq, &hlc)) ||
                (rc = hist_put(s, txn, op->type, op->id, hlc, num, seq)))
                return rc == GS_ENOTFOUND ? map_err(MDB_CORRUPTED) : rc;
        }
        x->spilled = true;
        x->n_refs = 0;
        gs_buf_reset(&x->refs);
    }
    return hist_put(s, txn, op->type, op->id, op->hlc, feedno, op->seq);
}

/* A device key from its trust id: 64 lowercase hex digits, as
 * gs_trust_id writes it (an id in any other spelling is not the entity
 * the trust rules read). */
static bool
trust_id_key(gs_slice id, uint8_t out[GS_KEY_BYTES])
{
    if (id.n != 2 * GS_KEY_BYTES)
        return false;
    for (size_t i = 0; i < id.n; i++) {
        uint8_t ch = id.p[i], v;
        if (ch >= '0' && ch <= '9')
            v = (uint8_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v = (uint8_t)(ch - 'a' + 10);
        else
            return false;
        out[i / 2] = i % 2 ? (uint8_t)(out[i / 2] | v) : (uint8_t)(v << 4);
    }
    return true;
}


/* If op is a revocation by the authority, remember its device: the ops
 * it had applied past the cutoff are rolled back (rollback_run) before the
 * transaction commits. Both ingest and local writes come through here. */
static gs_err
revoked_note(struct ingest_ctx *c, const gs_op *op)
{
    static const char rev[] = GS_TRUST_REVOCATION;
    uint8_t dev[GS_KEY_BYTES];
    if (c->network == NULL ||
        memcmp(op->author, c->network, GS_KEY_BYTES) != 0 ||
        op->type.n != sizeof rev - 1 ||
        memcmp(op->type.p, rev, op->type.n) != 0 ||
        !trust_id_key(op->id, dev) ||
        memcmp(dev, c->network, GS_KEY_BYTES) == 0)
        return GS_OK;
    for (size_t i = 0; i < c->n_revoked; i++)
        if (memcmp(c->revoked[i], dev, GS_KEY_BYTES) == 0)
            return GS_OK;
    void *p = c->revoked;
    gs_err rc = gs_grow(&p, &c->cap_revoked, c->n_revoked + 1, sizeof *c->revoked);
    c->revoked = p;
    if (rc != GS_OK)
        return rc;
    memcpy(c->revoked[c->n_revoked++], dev, GS_KEY_BYTES);
    return GS_OK;
}

/* Store and merge one verified op (decoded from item into op, so its
 * slices point into item->bytes). cur, if not NULL, is the entity's state
 * already loaded by the caller; it is used up here. pl, if not NULL, is
 * op's updates as the decode parsed them (gs_op_decode_parsed). */
static gs_err
append_op(gs_store *s, MDB_txn *txn, struct ingest_ctx *c, uint64_t feedno,
          const gs_op *op, const gs_run_item *item,
          const uint8_t hash[GS_HASH_BYTES], gs_entity *cur,
          const gs_payload *pl)
{
    gs_entity e;
    gs_err rc = GS_OK;

    c->x.hint_num = feedno;
    memcpy(c->x.hint_author, op->author, GS_KEY_BYTES);
    if (cur) {
        e = *cur;
    } else {
        rc = ent_load(s, txn, &c->x, op->type, op->id, &e);
        if (rc != GS_OK)
            return rc;
    }
    rc = blockw_append(s, txn, &c->bw, feedno, op, item->bytes, item->n, hash);
    if (rc == GS_OK)
        rc = hist_add(s, txn, c, op, feedno);
    if (op->hlc > c->hlc_max)
        c->hlc_max = op->hlc;
    /* an entity that held nothing (most of an import's) is not merged
     * into: its stored form is written from op */
    gs_payload own[GS_OP_UPDATES_MAX];
    bool fresh = e.n_fields == 0;
    if (rc == GS_OK && fresh && pl == NULL && (rc = gs_op_parse_updates(op, own)) == GS_OK)
        pl = own;
    if (rc == GS_OK && !fresh)
        rc = pl ? gs_entity_apply_parsed(&e, op, pl, hash)
                : gs_entity_apply(&e, op, hash);
    c->x.fresh = true; /* the values op wrote may be interned */
    c->x.op_hlc = op->hlc;
    if (rc == GS_OK)
        rc = ent_store(s, txn, &e, fresh ? op : NULL, pl, hash, &c->scratch,
                       &c->x);
    c->x.fresh = false;
    if (rc == GS_OK)
        rc = revoked_note(c, op);
    gs_entity_fini(&e);
    return rc;
}

/* ---- fork evidence (docs/trust.md §4) ----
 *
 * The forks database keeps, under feed number || seq, the proof that the
 * author signed two different ops at that seq: two branches, each the ops
 * from seq up to one the author signed, with that signature, so anyone
 * holding the author's key can check it. Branch 0 is the one this replica
 * held, branch 1 the one that came. Both chain on the op before seq, the
 * frozen head, which both sides of the fork hold alike.
 *   u8 1 (form), then per branch: varint n >= 1, n x str(op bytes), the
 *   GS_SIG_BYTES signature of its last op.
 * A feed keeps one record: the lowest fork found. */
#define EVIDENCE_FORM 1
#define EVIDENCE_BYTES_MAX ((size_t)256 << 20)

struct evidence {
    struct {
        gs_slice *ops; /* borrowed from the value */
        size_t n;
        gs_sig sig;
    } b[2];
};

static void
evidence_fini(struct evidence *e)
{
    free(e->b[0].ops);
    free(e->b[1].ops);
    memset(e, 0, sizeof *e);
}

/* Bytes from disk: every count checked against what is left. */
static gs_err
evidence_decode(const uint8_t *p, size_t n, struct evidence *e)
{
    gs_rd r;
    uint8_t form;
    gs_slice sig;
    gs_err rc;
    memset(e, 0, sizeof *e);
    gs_rd_init(&r, p, n);
    if ((rc = gs_rd_u8(&r, &form)) != GS_OK)
        return rc;
    if (form != EVIDENCE_FORM)
        return GS_EMALFORMED;
    for (int b = 0; b < 2; b++) {
        uint64_t k;
        if ((rc = gs_rd_varint(&r, &k)) != GS_OK)
            goto fail;
        if (k == 0 || k > gs_rd_left(&r) / 2) { /* an op takes >= 2 bytes */
            rc = GS_EMALFORMED;
            goto fail;
        }
        if ((e->b[b].ops = malloc((size_t)k * sizeof *e->b[b].ops)) == NULL) {
            rc = GS_ENOMEM;
            goto fail;
        }
        e->b[b].n = (size_t)k;
        for (size_t i = 0; i < e->b[b].n; i++)
            if ((rc = gs_rd_str(&r, GS_OP_BYTES_MAX, &e->b[b].ops[i])) !=
                GS_OK)
                goto fail;
        if ((rc = gs_rd_bytes(&r, GS_SIG_BYTES, &sig)) != GS_OK)
            goto fail;
        gs_sig_decode(sig.p, &e->b[b].sig);
    }
    if (gs_rd_left(&r) == 0)
        return GS_OK;
    rc = GS_EMALFORMED;
fail:
    evidence_fini(e);
    return rc;
}

/* The evidence at (num, seq), borrowing the transaction's page. */
static gs_err
evidence_get(gs_store *s, MDB_txn *txn, uint64_t num, uint64_t seq,
             struct evidence *e)
{
    uint8_t key[16];
    seq_key(num, seq, key);
    MDB_val k = {16, key}, v;
    int mrc = mdb_get(txn, s->forks, &k, &v);
    if (mrc != 0)
        return map_err(mrc == MDB_NOTFOUND ? MDB_CORRUPTED : mrc);
    return evidence_decode(v.mv_data, v.mv_size, e);
}

static gs_err
branch_end(gs_buf *out, const gs_sig *sig)
{
    uint8_t enc[GS_SIG_BYTES];
    gs_sig_encode(sig, enc);
    return gs_buf_put(out, enc, sizeof enc);
}

static gs_err held_op(gs_store *s, MDB_txn *txn, struct blockr *br,
                      uint64_t num, uint64_t seq, gs_slice *op,
                      const uint8_t **hash);

/* Append the branch feed f holds from seq: its ops up to the first one
 * signed (a checkpoint or the head). A frozen feed's head may be
 * unsigned: then the branch runs on through the first branch of the
 * evidence it froze on, which chains on that head. */
static gs_err
branch_held(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
            const struct feed *f, uint64_t seq, gs_buf *out)
{
    struct ckpt below, above;
    struct evidence e = {0};
    uint64_t to = f->head.seq;
    gs_sig sig = f->sig;
    bool has = f->has_sig, more = false;
    gs_err rc = ckpt_around(s, txn, f->num, seq, &below, &above);
    if (rc != GS_OK)
        return rc;
    if (above.found && above.seq < to) {
        to = above.seq;
        gs_sig_decode(above.sig.mv_data, &sig);
        has = true;
    }
    if (!has) {
        if (!(f->flags & FEED_FROZEN))
            return map_err(MDB_CORRUPTED); /* every other head is signed */
        if ((rc = evidence_get(s, txn, f->num, f->head.seq + 1, &e)) != GS_OK)
            return rc;
        more = true;
        sig = e.b[0].sig;
    }
    rc = gs_buf_put_varint(out, (to - seq + 1) + (more ? e.b[0].n : 0));
    for (uint64_t q = seq; rc == GS_OK && q <= to; q++) {
        gs_slice op;
        if ((rc = held_op(s, txn, &c->br, f->num, q, &op, NULL)) == GS_OK)
            rc = gs_buf_put_str(out, op.p, op.n);
    }
    for (size_t i = 0; more && rc == GS_OK && i < e.b[0].n; i++)
        rc = gs_buf_put_str(out, e.b[0].ops[i].p, e.b[0].ops[i].n);
    if (rc == GS_OK)
        rc = branch_end(out, &sig);
    evidence_fini(&e);
    return rc;
}

/* Remember to freeze feed fkey at seq when the transaction ends. */
static gs_err
freeze_note(struct ingest_ctx *c, const uint8_t *fkey, size_t fkn,
            uint64_t seq)
{
    for (size_t i = 0; i < c->n_frozen; i++)
        if (c->frozen[i].kn == fkn && !memcmp(c->frozen[i].key, fkey, fkn)) {
            if (seq < c->frozen[i].seq)
                c->frozen[i].seq = seq;
            return GS_OK;
        }
    void *p = c->frozen;
    gs_err rc = gs_grow(&p, &c->cap_frozen, c->n_frozen + 1, sizeof *c->frozen);
    c->frozen = p;
    if (rc != GS_OK)
        return rc;
    struct freeze_at *z = &c->frozen[c->n_frozen++];
    memcpy(z->key, fkey, fkn);
    z->kn = fkn;
    z->seq = seq;
    return GS_OK;
}

/* A verified run of n ops from seq whose first differs from the op f
 * holds there: keep the evidence and freeze the feed at seq - 1. An
 * evidence too large to keep (a run of a million ops) leaves the feed as
 * it was; the run is refused with GS_EFORK all the same. */
static gs_err
fork_found(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
           const struct feed *f, const uint8_t *fkey, size_t fkn,
           uint64_t seq, const gs_run_item *items, size_t n)
{
    uint8_t key[16];
    gs_buf b;
    gs_buf_init(&b, EVIDENCE_BYTES_MAX);
    gs_err rc = gs_buf_put_u8(&b, EVIDENCE_FORM);
    if (rc == GS_OK)
        rc = branch_held(s, txn, c, f, seq, &b);
    if (rc == GS_OK)
        rc = gs_buf_put_varint(&b, n);
    for (size_t i = 0; rc == GS_OK && i < n; i++)
        rc = gs_buf_put_str(&b, items[i].bytes, items[i].n);
    if (rc == GS_OK)
        rc = branch_end(&b, items[n - 1].sig);
    if (rc == GS_ETOOBIG) {
        gs_buf_fini(&b);
        return GS_OK;
    }
    seq_key(f->num, seq, key);
    if (rc == GS_OK)
        rc = put(s, txn, s->forks, key, 16, b.data, b.len, 0);
    gs_buf_fini(&b);
    return rc == GS_OK ? freeze_note(c, fkey, fkn, seq) : rc;
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
    bool is_new = false, from_one = op.seq == 1;
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
        /* every op of a run is of the run's feed (verification checks it
         * past here, the fork path below needs it too) */
        if (memcmp(op.author, fkey, GS_KEY_BYTES) != 0 ||
            op.scope.n != fkn - GS_KEY_BYTES ||
            memcmp(op.scope.p, fkey + GS_KEY_BYTES, op.scope.n) != 0) {
            refuse(st, r, GS_EFEED, run->n - k);
            return GS_OK;
        }
        if (op.seq > f.head.seq)
            break;
        uint8_t key[16];
        gs_slice held;
        seq_key(f.num, op.seq, key);
        rc = blockr_op(s, txn, &c->br, f.num, op.seq, &held, NULL);
        if (rc != GS_OK)
            return rc == GS_ENOTFOUND ? map_err(MDB_CORRUPTED) : rc;
        if (held.n == it->n && memcmp(held.p, it->bytes, it->n) == 0) {
            st->known++;
            continue;
        }
        /* Evidence counts only if the second op is really signed by the
         * feed's author and chains on the op we hold before it: a forged
         * "fork" must not be able to smear a device, and both branches
         * must part from the same op, or replicas would freeze apart.
         * Its signature may cover it directly or through the rest of the
         * run. */
        gs_feed_head before = {op.seq - 1, {0}};
        if (op.seq > 1) {
            const uint8_t *hp;
            gs_slice prev_op;
            rc = blockr_op(s, txn, &c->br, f.num, op.seq - 1, &prev_op, &hp);
            if (rc != GS_OK)
                return rc == GS_ENOTFOUND ? map_err(MDB_CORRUPTED) : rc;
            memcpy(before.hash, hp, GS_HASH_BYTES);
        }
        size_t bad_at = 0;
        rc = verify_long(it, run->n - k, &before, c->network, &bad_at);
        if (rc != GS_OK) {
            refuse(st, r, rc, run->n - k);
            return GS_OK;
        }
        /* and it must be an op the trust rules take: one they refuse
         * (a revoked device's op that is not the one its revocation
         * pinned, say) is no evidence against the feed */
        gs_err why;
        if ((rc = trust_run(s, txn, c, run, k, &why)) != GS_OK)
            return rc;
        if (why != GS_OK) {
            refuse(st, r, why, run->n - k);
            return GS_OK;
        }
        rc = fork_found(s, txn, c, &f, fkey, fkn, op.seq, it, run->n - k);
        if (rc != GS_OK)
            return rc;
        st->forks++;
        if (st->first_bad_rc == GS_OK || r < st->first_bad_run) {
            st->first_bad_run = r;
            st->first_bad_rc = GS_EFORK;
        }
        /* what the run chains after the fork is refused with it */
        if (run->n - k - 1 > 0)
            refuse(st, r, GS_EFORK, run->n - k - 1);
        return GS_OK;
    }
    if (k == run->n) { /* all known */
        if (!from_one || !(f.flags & FEED_SUSPECT))
            return GS_OK;
        f.flags &= (uint8_t)~FEED_SUSPECT; /* the whole feed matched */
        return feed_put(s, txn, fkey, fkn, &f);
    }
    if (f.flags & FEED_FROZEN) {
        /* past the fork nothing of the feed is taken (the other branch
         * included: it is in the evidence) */
        refuse(st, r, GS_EFORK, run->n - k);
        return GS_OK;
    }

    size_t n = run->n - k;
    size_t bad = 0;
    rc = verify_long(run->items + k, n, &f.head, c->network, &bad);
    if (rc != GS_OK) {
        refuse(st, r, rc, n);
        return GS_OK;
    }
    /* who may write what (store/trust.h): a run is refused whole, since
     * what the signature at its end vouches for cannot be cut */
    gs_err why;
    if ((rc = trust_run(s, txn, c, run, k, &why)) != GS_OK)
        return rc;
    if (why != GS_OK) {
        refuse(st, r, why, n);
        return GS_OK;
    }
    if (is_new) {
        rc = feed_new(s, txn, fkey, fkn, &f);
        if (rc != GS_OK)
            return rc;
    }
    /* verified: the run ends n ops above the head */
    if ((rc = ckpt_keep(s, txn, &f, f.head.seq + n)) != GS_OK)
        return rc;
    for (size_t i = k; i < run->n; i++) {
        const gs_run_item *it = &run->items[i];
        rc = gs_op_decode(it->bytes, it->n, &op);
        if (rc != GS_OK)
            return GS_EINVAL; /* verified a moment ago */
        gs_op_hash(it->bytes, it->n, hash);
        rc = append_op(s, txn, c, f.num, &op, it, hash, NULL, NULL);
        if (rc != GS_OK)
            return rc;
        f.head.seq = op.seq;
        memcpy(f.head.hash, hash, GS_HASH_BYTES);
    }
    /* the next run may read this feed's ops */
    if ((rc = blockw_flush(s, txn, &c->bw)) != GS_OK)
        return rc;
    f.has_sig = true;
    f.sig = *run->items[run->n - 1].sig;
    if (from_one)
        f.flags &= (uint8_t)~FEED_SUSPECT;
    st->applied += n;
    return feed_put(s, txn, fkey, fkn, &f);
}

/* ---- rolling back a revoked device (docs/trust.md §2) ----
 *
 * A revocation names, per feed of the device, the last valid op. Ops past
 * it are refused from then on (trust.c); those this replica applied before
 * the revocation reached it are taken back here, in the transaction that
 * applied the revocation, so that the replica ends in exactly the state of
 * one that never saw them (same digest):
 *  - every feed of the device is cut at what the revocation leaves valid
 *    (gs_revocation_cutoff over the merged entity: the lower of two
 *    cutoffs): its blocks past it deleted and the block holding it
 *    rewritten to end there, its hist entries, checkpoints and fork
 *    evidence past it deleted, its head moved back; a feed cut to nothing
 *    loses its record, as if never seen;
 *  - then every entity the removed ops touched is rebuilt from the ops it
 *    still lists (merge is commutative: any order gives the same state);
 *    one that no op touches any more is deleted.
 * If the op held at the cutoff is not the one pinned (the device forked
 * there), it is no more valid than those after it (trust.c refuses it):
 * the feed is cut just below it.
 *
 * A head must carry a signature that verifies (store.h). The cutoff
 * element brings the device's signature of the op at the cutoff (its
 * 4-field form, written by gs_authority_revoke); if it is missing (an
 * element written before it had one, or a cutoff moved below a forked op)
 * or does not verify, a checkpoint at exactly the cutoff serves; failing
 * that, the feed is cut further, to its greatest checkpoint below the
 * cutoff (none: all of it). Those ops are valid and come back by sync in
 * a run signed at its end, as any valid op would.
 *
 * Runs once per transaction, at its end (rollback_run), for every device
 * whose revocation an op of the transaction touched (revoked_note): by
 * then a batch's own ops past the cutoff have been refused, and what it
 * applied below the cutoff stays. */

/* A feed cut back here: its ops above `to` are gone. */
struct cut_feed {
    uint64_t num, to;
};

/* An entity a removed op touched: its ents key. */
struct touched {
    uint16_t n;
    uint8_t key[ENT_KEY_MAX];
};

/* A feed key of the device, copied: the record changes as it is cut. */
struct dev_feed {
    size_t n;
    uint8_t key[FEED_KEY_MAX];
};

struct rollback {
    struct cut_feed *cut;
    size_t n_cut, cap_cut;
    struct touched *ents; /* sorted and without repeats when rebuilt */
    size_t n_ents, cap_ents;
    struct dev_feed *feeds; /* the device being cut */
    size_t n_feeds, cap_feeds;
};


static int
touched_cmp(const void *a, const void *b)
{
    const struct touched *x = a, *y = b;
    int d = memcmp(x->key, y->key, x->n < y->n ? x->n : y->n);
    return d ? d : (x->n > y->n) - (x->n < y->n);
}

static void
touched_unique(struct rollback *rb)
{
    size_t k = 0;
    if (rb->n_ents == 0)
        return;
    qsort(rb->ents, rb->n_ents, sizeof *rb->ents, touched_cmp);
    for (size_t i = 0; i < rb->n_ents; i++)
        if (k == 0 || touched_cmp(&rb->ents[k - 1], &rb->ents[i]) != 0)
            rb->ents[k++] = rb->ents[i];
    rb->n_ents = k;
}

static gs_err
touched_add(struct rollback *rb, const uint8_t *key, size_t kn)
{
    /* a feed's ops touch the same few entities again and again: drop the
     * repeats before growing */
    if (rb->n_ents == rb->cap_ents) {
        touched_unique(rb);
        if (rb->cap_ents == 0 || rb->n_ents > rb->cap_ents / 2) {
            void *p = rb->ents;
            gs_err rc =
                gs_grow(&p, &rb->cap_ents, rb->cap_ents + 1, sizeof *rb->ents);
            rb->ents = p;
            if (rc != GS_OK)
                return rc;
        }
    }
    struct touched *t = &rb->ents[rb->n_ents++];
    t->n = (uint16_t)kn;
    memcpy(t->key, key, kn);
    return GS_OK;
}

/* Whether op (num, seq) was removed by a cut of this transaction. */
static bool
cut_removed(const struct rollback *rb, uint64_t num, uint64_t seq)
{
    for (size_t i = 0; i < rb->n_cut; i++)
        if (rb->cut[i].num == num && seq > rb->cut[i].to)
            return true;
    return false;
}

/* Delete the keys of feed num above seq `after` from dbi: ops (blocks
 * starting above it), sigs or forks, all keyed feed number || seq. */
static gs_err
seq_del_after(gs_store *s, MDB_txn *txn, MDB_dbi dbi, uint64_t num,
              uint64_t after)
{
    uint8_t key[16];
    MDB_cursor *cur;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc != 0)
        return map_err(mrc);
    for (;;) {
        seq_key(num, after + 1, key);
        MDB_val k = {16, key}, v;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc != 0 || k.mv_size != 16 || get_u64be(k.mv_data) != num)
            break;
        if ((mrc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return mrc == MDB_NOTFOUND ? GS_OK : del_err(s, mrc);
}

/* Rewrite the last block of feed num, the one holding seq `to` (those
 * after it are deleted already), to end at `to`. The cut block is open
 * and raw: a strict prefix of a block lies below both sealing limits, so
 * blockw_resume could take it up again (a revoked feed takes no more ops,
 * but the layout stays the one every other feed has). Bytes from disk:
 * checked as blockr_load checks them. */
static gs_err
block_cut(gs_store *s, MDB_txn *txn, uint64_t num, uint64_t to)
{
    uint8_t key[16];
    MDB_cursor *cur;
    struct blockh h;
    struct blockw w;
    uint8_t *dec = NULL;
    gs_err rc;
    seq_key(num, to + 1, key);
    MDB_val k = {16, key}, v;
    int mrc = mdb_cursor_open(txn, s->ops, &cur);
    if (mrc != 0)
        return map_err(mrc);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mrc = mdb_cursor_get(cur, &k, &v, mrc == 0 ? MDB_PREV : MDB_LAST);
    mdb_cursor_close(cur);
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return map_err(mrc);
    if (mrc != 0 || k.mv_size != 16 || get_u64be(k.mv_data) != num)
        return map_err(MDB_CORRUPTED); /* the feed holds `to` */
    uint64_t first = get_u64be((const uint8_t *)k.mv_data + 8);
    if ((rc = block_head(&v, &h)) != GS_OK)
        return rc;
    if (first == 0 || first > to || to - first >= h.n)
        return map_err(MDB_CORRUPTED);
    size_t keep = (size_t)(to - first + 1);
    if (keep == h.n)
        return GS_OK; /* it ends there already */
    const uint8_t *raw = h.payload.p;
    if (h.form == BLK_ZSTD) {
        /* the frame must say its size, and be exactly that */
        if (ZSTD_getFrameContentSize(h.payload.p, h.payload.n) != h.len)
            return GS_EMALFORMED;
        if ((dec = malloc(h.len ? h.len : 1)) == NULL)
            return GS_ENOMEM;
        size_t got = ZSTD_decompress(dec, h.len, h.payload.p, h.payload.n);
        if (ZSTD_isError(got) || got != h.len) {
            free(dec);
            return GS_EMALFORMED;
        }
        raw = dec;
    }
    /* the first `keep` ops: n x (varint m, m bytes) */
    gs_rd r;
    gs_rd_init(&r, raw, h.len);
    for (size_t i = 0; i < keep; i++) {
        uint64_t m;
        gs_slice op;
        if (gs_rd_varint(&r, &m) != GS_OK || m == 0 || m > GS_OP_BYTES_MAX ||
            gs_rd_bytes(&r, (size_t)m, &op) != GS_OK) {
            free(dec);
            return GS_EMALFORMED;
        }
    }
    blockw_init(&w);
    w.num = num;
    w.first = first;
    w.n = keep;
    memcpy(w.prev, h.prev, GS_HASH_BYTES);
    /* copied out of the page before the put replaces it */
    rc = gs_buf_put(&w.raw, raw, (size_t)(r.p - raw));
    free(dec);
    if (rc == GS_OK)
        rc = blockw_value(&w, false);
    seq_key(num, first, key);
    if (rc == GS_OK)
        rc = put(s, txn, s->ops, key, 16, w.val, w.val_n, 0);
    blockw_fini(&w);
    return rc;
}

/* Op (num, seq), which the feed holds: its canonical bytes and hash. */
static gs_err
held_op(gs_store *s, MDB_txn *txn, struct blockr *br, uint64_t num,
        uint64_t seq, gs_slice *op, const uint8_t **hash)
{
    gs_err rc = blockr_op(s, txn, br, num, seq, op, hash);
    return rc == GS_ENOTFOUND ? map_err(MDB_CORRUPTED) : rc;
}

/* Take feed f's ops above `to` out of the log: their hist entries,
 * blocks, checkpoints and the fork evidence above forks_after go, and the
 * entities they touched are noted in rb for the rebuild. The caller
 * writes the feed's new record. */
static gs_err
feed_trim(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
          const struct feed *f, uint64_t to, uint64_t forks_after,
          struct rollback *rb)
{
    gs_slice op;
    gs_err rc;
    /* what the removed ops touched; their hist entries go (an entity
     * listing its ops itself has none: the delete finds nothing) */
    for (uint64_t seq = to + 1; seq <= f->head.seq; seq++) {
        uint8_t key[HIST_KEY_MAX];
        gs_op o;
        if ((rc = held_op(s, txn, &c->br, f->num, seq, &op, NULL)) != GS_OK)
            return rc;
        if ((rc = gs_op_decode(op.p, op.n, &o)) != GS_OK)
            return rc;
        if ((rc = touched_add(rb, key, ent_key(o.type, o.id, key))) != GS_OK)
            return rc;
        MDB_val hk = {hist_key(o.type, o.id, o.hlc, f->num, seq, key), key};
        int mrc = mdb_del(txn, s->hist, &hk, NULL);
        if (mrc != 0 && mrc != MDB_NOTFOUND)
            return del_err(s, mrc);
    }
    if ((rc = seq_del_after(s, txn, s->ops, f->num, to)) != GS_OK ||
        (rc = seq_del_after(s, txn, s->sigs, f->num, to)) != GS_OK ||
        (rc = seq_del_after(s, txn, s->forks, f->num, forks_after)) != GS_OK ||
        (to > 0 && (rc = block_cut(s, txn, f->num, to)) != GS_OK))
        return rc;
    c->br.n = 0; /* the block it held may be gone or shorter */
    void *p = rb->cut;
    rc = gs_grow(&p, &rb->cap_cut, rb->n_cut + 1, sizeof *rb->cut);
    rb->cut = p;
    if (rc != GS_OK)
        return rc;
    rb->cut[rb->n_cut++] = (struct cut_feed){f->num, to};
    return GS_OK;
}

/* Cut the device's feed fkey back to what rev leaves valid (above),
 * noting the entities its removed ops touched. */
static gs_err
feed_cut(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
         const uint8_t *fkey, size_t fkn, const gs_entity *rev,
         struct rollback *rb)
{
    uint8_t pin[GS_HASH_BYTES], to_hash[GS_HASH_BYTES] = {0};
    uint8_t given[GS_SIGNATURE_BYTES];
    struct feed f;
    gs_sig sig;
    gs_slice op;
    const uint8_t *hash;
    uint64_t cut, to;
    bool signed_head = false;
    gs_err rc = feed_get(s, txn, fkey, fkn, &f);
    if (rc != GS_OK)
        return rc;
    gs_slice scope = gs_slice_of(fkey + GS_KEY_BYTES, fkn - GS_KEY_BYTES);
    bool has_sig = gs_revocation_cutoff(rev, scope, &cut, pin, given);
    /* A frozen feed is cut like any other, so that it ends where replicas
     * that never froze end (the revocation decides now, docs/trust.md §4
     * "After"): at most at its frozen head, whose own signature it may
     * lack, unfrozen, its evidence gone. */
    bool frozen = (f.flags & FEED_FROZEN) != 0;
    if (f.head.seq < cut && !frozen)
        return GS_OK;
    if (frozen && cut > f.head.seq) {
        cut = f.head.seq; /* the pin is of an op past it: not ours */
        has_sig = false;
        if (cut > 0) {
            if ((rc = held_op(s, txn, &c->br, f.num, cut, &op, &hash)))
                return rc;
            memcpy(pin, hash, GS_HASH_BYTES);
        }
    }
    to = cut;
    if (cut > 0) {
        if ((rc = held_op(s, txn, &c->br, f.num, cut, &op, &hash)) != GS_OK)
            return rc;
        if (memcmp(hash, pin, GS_HASH_BYTES) != 0) {
            to = cut - 1; /* a forked op at the cutoff: not the pinned one */
            has_sig = false;
        } else {
            memcpy(to_hash, hash, GS_HASH_BYTES);
        }
    }
    if (f.head.seq <= to && !frozen)
        return GS_OK; /* nothing past it */
    if (to > 0 && has_sig) {
        memcpy(sig.network, c->network, GS_KEY_BYTES);
        memcpy(sig.sig, given, GS_SIGNATURE_BYTES);
        signed_head = gs_op_verify(to_hash, &sig, c->network, fkey) == GS_OK;
    }
    if (to > 0 && !signed_head) {
        struct ckpt below, above;
        if ((rc = ckpt_around(s, txn, f.num, to, &below, &above)) != GS_OK)
            return rc;
        /* the checkpoint's value is borrowed: decoded before any write */
        if (above.found && above.seq == to) {
            gs_sig_decode(above.sig.mv_data, &sig);
        } else if (below.found) {
            to = below.seq; /* only what a signature vouches for stays */
            gs_sig_decode(below.sig.mv_data, &sig);
        } else {
            to = 0;
        }
        if (to > 0) {
            if ((rc = held_op(s, txn, &c->br, f.num, to, &op, &hash)))
                return rc;
            memcpy(to_hash, hash, GS_HASH_BYTES);
        }
    }
    if ((rc = feed_trim(s, txn, c, &f, to, to, rb)) != GS_OK)
        return rc;
    if (to == 0) {
        /* nothing of it left: the feed looks never seen (feeds_each and
         * feed_head know it not). fnum keeps its number, which stored
         * entities may name the device by (ent_compact's author table);
         * ops_each skips a number without a record. */
        MDB_val k = {fkn, (void *)fkey};
        return del_err(s, mdb_del(txn, s->feeds, &k, NULL));
    }
    f.head.seq = to;
    memcpy(f.head.hash, to_hash, GS_HASH_BYTES);
    f.has_sig = true;
    f.sig = sig;
    /* cut below a fork: the evidence went with the ops, and the
     * revocation is what stops the feed now */
    f.flags = 0;
    return feed_put(s, txn, fkey, fkn, &f);
}

/* Freeze the feed z names at the op before its fork (docs/trust.md §4):
 * every replica ends there, whichever branch it held. Its head keeps a
 * signature if a checkpoint lies exactly there; else the evidence's first
 * branch vouches for it. */
static gs_err
feed_freeze(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
            const struct freeze_at *z, struct rollback *rb)
{
    struct feed f;
    struct ckpt below, above;
    gs_slice op;
    const uint8_t *hash;
    uint64_t to = z->seq - 1;
    gs_err rc = feed_get(s, txn, z->key, z->kn, &f);
    if (rc == GS_ENOTFOUND)
        return GS_OK; /* a revocation in this batch cut it to nothing */
    if (rc != GS_OK)
        return rc;
    if (f.head.seq < z->seq)
        return GS_OK; /* frozen lower already, or revoked below the fork */
    f.has_sig = false;
    memset(f.head.hash, 0, GS_HASH_BYTES);
    if (to > 0) {
        if ((rc = held_op(s, txn, &c->br, f.num, to, &op, &hash)) != GS_OK)
            return rc;
        memcpy(f.head.hash, hash, GS_HASH_BYTES);
        if ((rc = ckpt_around(s, txn, f.num, to, &below, &above)) != GS_OK)
            return rc;
        if (above.found && above.seq == to) {
            gs_sig_decode(above.sig.mv_data, &f.sig);
            f.has_sig = true;
        }
    }
    if ((rc = feed_trim(s, txn, c, &f, to, z->seq, rb)) != GS_OK)
        return rc;
    f.head.seq = to;
    f.flags = FEED_FROZEN;
    return feed_put(s, txn, z->key, z->kn, &f);
}

/* One entity being rebuilt from the ops it still lists. */
struct rebuild_one {
    gs_store *s;
    MDB_txn *txn;
    struct ingest_ctx *c;
    const struct rollback *rb;
    gs_entity *e;
    size_t kept; /* ops applied */
    size_t pn;   /* hist: the (type, id) prefix of the keys */
};

static gs_err
rebuild_apply(struct rebuild_one *r, uint64_t num, uint64_t seq)
{
    gs_slice bytes;
    const uint8_t *hash;
    gs_op op;
    gs_err rc = held_op(r->s, r->txn, &r->c->br, num, seq, &bytes, &hash);
    if (rc == GS_OK)
        rc = gs_op_decode(bytes.p, bytes.n, &op);
    if (rc == GS_OK)
        rc = gs_entity_apply(r->e, &op, hash);
    if (rc == GS_OK)
        r->kept++;
    return rc;
}

static gs_err
rebuild_hist(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct rebuild_one *r = ctx;
    uint64_t num, seq;
    gs_rd rd;
    (void)v;
    (void)stop;
    if (k->mv_size < r->pn + 8)
        return GS_EMALFORMED;
    gs_rd_init(&rd, (const uint8_t *)k->mv_data + r->pn + 8,
               k->mv_size - r->pn - 8);
    if (gs_rd_varint(&rd, &num) != GS_OK || gs_rd_varint(&rd, &seq) != GS_OK ||
        gs_rd_left(&rd) != 0)
        return GS_EMALFORMED;
    return cut_removed(r->rb, num, seq) ? GS_OK : rebuild_apply(r, num, seq);
}

/* Rebuild entity t from the ops it lists that remain, with its list
 * rewritten (an entity whose list spilled to hist stays spilled: its
 * removed entries are gone from hist already); delete it if none does. */
static gs_err
ent_rebuild(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
            const struct rollback *rb, const struct touched *t)
{
    struct ecodec *x = &c->x;
    uint8_t refs[HIST_INLINE * 20];
    MDB_val k = {t->n, (void *)t->key}, v;
    gs_slice type, id, sl;
    uint64_t n;
    gs_entity e;
    gs_rd r;
    MDB_dbi dbi;
    int mrc = key_dbi(s, txn, &k, false, &dbi);
    if (mrc == 0)
        mrc = mdb_get(txn, dbi, &k, &v);
    if (mrc != 0)
        return map_err(mrc == MDB_NOTFOUND ? MDB_CORRUPTED : mrc);
    gs_err rc = ent_key_split(&k, &type, &id);
    gs_rd_init(&r, v.mv_data, v.mv_size);
    if (rc == GS_OK)
        rc = refs_read(&r, &n, &sl);
    if (rc != GS_OK)
        return rc;
    if (sl.n > sizeof refs)
        return GS_EMALFORMED;
    memcpy(refs, sl.p, sl.n); /* the value is borrowed: copied first */
    size_t refs_n = sl.n;
    if ((rc = gs_entity_init(&e, type, id)) != GS_OK)
        return rc;
    struct rebuild_one one = {s, txn, c, rb, &e, 0, 0};
    refs_none(x);
    if (n > 0) {
        gs_rd_init(&r, refs, refs_n);
        for (uint64_t i = 0; rc == GS_OK && i < n; i++) {
            uint64_t num, seq;
            if ((rc = gs_rd_varint(&r, &num)) != GS_OK ||
                (rc = gs_rd_varint(&r, &seq)) != GS_OK)
                break;
            if (cut_removed(rb, num, seq))
                continue;
            if ((rc = rebuild_apply(&one, num, seq)) == GS_OK &&
                (rc = gs_buf_put_varint(&x->refs, num)) == GS_OK &&
                (rc = gs_buf_put_varint(&x->refs, seq)) == GS_OK)
                x->n_refs++;
        }
    } else {
        uint8_t prefix[ENT_KEY_MAX + 1];
        memcpy(prefix, t->key, t->n);
        prefix[t->n] = 0;
        one.pn = t->n + 1u;
        x->spilled = true;
        rc = walk(txn, s->hist, prefix, one.pn, rebuild_hist, &one);
    }
    if (rc == GS_OK && one.kept == 0)
        rc = del_err(s, mdb_del(txn, dbi, &k, NULL));
    else if (rc == GS_OK)
        rc = ent_store(s, txn, &e, NULL, NULL, NULL, &c->scratch, x);
    gs_entity_fini(&e);
    return rc;
}

static gs_err
dev_feed_add(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct rollback *rb = ctx;
    (void)v;
    (void)stop;
    if (k->mv_size <= GS_KEY_BYTES || k->mv_size > FEED_KEY_MAX)
        return GS_EMALFORMED;
    void *p = rb->feeds;
    gs_err rc = gs_grow(&p, &rb->cap_feeds, rb->n_feeds + 1, sizeof *rb->feeds);
    rb->feeds = p;
    if (rc != GS_OK)
        return rc;
    struct dev_feed *d = &rb->feeds[rb->n_feeds++];
    d->n = k->mv_size;
    memcpy(d->key, k->mv_data, k->mv_size);
    return GS_OK;
}

/* Cut every feed of device dev (revoked: its revocation is in ents). */
static gs_err
device_cut(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
           const uint8_t dev[GS_KEY_BYTES], struct rollback *rb)
{
    char hex[65];
    gs_entity rev;
    bool has;
    gs_trust_id(dev, hex);
    gs_err rc = trust_get(s, txn, &c->x, GS_TRUST_REVOCATION,
                          gs_slice_of(hex, 64), &rev, &has);
    if (rc != GS_OK || !has)
        return rc;
    /* feeds keys are author || scope: one prefix walk finds them all */
    rb->n_feeds = 0;
    rc = walk(txn, s->feeds, dev, GS_KEY_BYTES, dev_feed_add, rb);
    for (size_t i = 0; rc == GS_OK && i < rb->n_feeds; i++)
        rc = feed_cut(s, txn, c, rb->feeds[i].key, rb->feeds[i].n, &rev, rb);
    gs_entity_fini(&rev);
    return rc;
}

/* After feeds were cut into rb: forget what the append path remembers
 * (it may name blocks or feeds now gone) and rebuild every entity the
 * removed ops touched. */
static gs_err
rollback_finish(gs_store *s, MDB_txn *txn, struct ingest_ctx *c,
                struct rollback *rb)
{
    gs_err rc = GS_OK;
    blockw_reset(&c->bw);
    c->br.n = 0;
    c->x.hint_num = 0;
    c->x.n_cache = 0;
    touched_unique(rb);
    for (size_t i = 0; rc == GS_OK && i < rb->n_ents; i++)
        rc = ent_rebuild(s, txn, c, rb, &rb->ents[i]);
    return rc;
}

/* Roll back every device whose revocation this transaction touched, and
 * freeze every feed it found a fork in. */
static gs_err
rollback_run(gs_store *s, MDB_txn *txn, struct ingest_ctx *c)
{
    struct rollback rb;
    gs_err rc;
    if (c->n_revoked == 0 && c->n_frozen == 0)
        return GS_OK;
    memset(&rb, 0, sizeof rb);
    /* the ops appended so far must be readable */
    if ((rc = blockw_flush(s, txn, &c->bw)) != GS_OK)
        return rc;
    for (size_t i = 0; rc == GS_OK && i < c->n_revoked; i++)
        rc = device_cut(s, txn, c, c->revoked[i], &rb);
    for (size_t i = 0; rc == GS_OK && i < c->n_frozen; i++)
        rc = feed_freeze(s, txn, c, &c->frozen[i], &rb);
    if (rc == GS_OK)
        rc = rollback_finish(s, txn, c, &rb);
    free(rb.cut);
    free(rb.ents);
    free(rb.feeds);
    return rc;
}

/* ---- purge: a replica lets go of what it may no longer read ---- */

struct purge_txn {
    struct ingest_ctx ic;
    const uint8_t *self;
    const gs_slice *keep;
    size_t n_keep;
    struct rollback rb;
    gs_store_purge_result *out;
};

/* feeds walk: note every feed neither ours nor in a kept scope */
static gs_err
purge_pick(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct purge_txn *p = ctx;
    if (k->mv_size <= GS_KEY_BYTES || k->mv_size > FEED_KEY_MAX)
        return GS_EMALFORMED;
    if (memcmp(k->mv_data, p->self, GS_KEY_BYTES) == 0)
        return GS_OK;
    gs_slice scope = gs_slice_of((const uint8_t *)k->mv_data + GS_KEY_BYTES,
                                 k->mv_size - GS_KEY_BYTES);
    for (size_t i = 0; i < p->n_keep; i++)
        if (gs_scope_covers(p->keep[i], scope))
            return GS_OK;
    return dev_feed_add(k, v, &p->rb, stop);
}

static gs_err
purge_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct purge_txn *p = ctx;
    struct ingest_ctx *c = &p->ic;
    gs_err rc;
    ingest_ctx_reset(c); /* this may be a second try */
    memset(p->out, 0, sizeof *p->out);
    p->rb.n_cut = p->rb.n_ents = p->rb.n_feeds = 0;
    if ((rc = walk(txn, s->feeds, NULL, 0, purge_pick, p)) != GS_OK)
        return rc;
    for (size_t i = 0; rc == GS_OK && i < p->rb.n_feeds; i++) {
        struct dev_feed *d = &p->rb.feeds[i];
        struct feed f;
        if ((rc = feed_get(s, txn, d->key, d->n, &f)) != GS_OK)
            break;
        p->out->ops += f.head.seq;
        p->out->feeds++;
        /* as a revocation cut to nothing: no record, the number kept */
        if ((rc = feed_trim(s, txn, c, &f, 0, 0, &p->rb)) == GS_OK) {
            MDB_val k = {d->n, d->key};
            rc = del_err(s, mdb_del(txn, s->feeds, &k, NULL));
        }
    }
    return rc == GS_OK ? rollback_finish(s, txn, c, &p->rb) : rc;
}

gs_err
gs_store_purge(gs_store *s, const uint8_t self[GS_KEY_BYTES],
               const gs_slice *keep, size_t n_keep, gs_store_purge_result *out)
{
    struct purge_txn p = {.self = self, .keep = keep, .n_keep = n_keep,
                          .out = out};
    ingest_ctx_init(&p.ic);
    gs_err rc = with_txn(s, true, purge_fn, &p);
    ingest_ctx_fini(&p.ic);
    free(p.rb.cut);
    free(p.rb.ents);
    free(p.rb.feeds);
    return rc;
}

/* The authority's runs go first, then the others, each in the order
 * given (so a feed's runs keep theirs): the certificates a batch carries
 * count for the ops it carries, whatever order its runs came in (trust.h:
 * the decision must not depend on arrival order). Authority runs depend
 * on no one's certificate, so nothing is lost by moving them up. */
static gs_err
ingest_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct ingest_ctx *c = ctx;
    memset(c->stats, 0, sizeof *c->stats); /* this may be a second try */
    ingest_ctx_reset(c);
    for (int pass = 0; pass < 2; pass++)
        for (size_t r = 0; r < c->n_runs; r++) {
            if (c->by_authority[r] != (pass == 0))
                continue;
            gs_err rc = ingest_run(s, txn, c, r);
            if (rc != GS_OK)
                return rc;
        }
    gs_err rc = rollback_run(s, txn, c);
    return rc == GS_OK ? hlc_raise(s, txn, c->hlc_max) : rc;
}

gs_err
gs_store_ingest(gs_store *s, const gs_store_run *runs, size_t n_runs,
                const uint8_t network[GS_KEY_BYTES], gs_ingest_stats *stats)
{
    struct ingest_ctx c = {
        .runs = runs, .n_runs = n_runs, .network = network, .stats = stats};
    bool *auth = calloc(n_runs ? n_runs : 1, sizeof *auth);
    if (auth == NULL)
        return GS_ENOMEM;
    for (size_t r = 0; r < n_runs; r++) {
        gs_op op; /* an op that does not decode is refused in its turn */
        auth[r] = runs[r].n &&
                  gs_op_decode(runs[r].items[0].bytes, runs[r].items[0].n,
                               &op) == GS_OK &&
                  memcmp(op.author, network, GS_KEY_BYTES) == 0;
    }
    c.by_authority = auth;
    ingest_ctx_init(&c);
    gs_err rc = with_txn(s, true, ingest_fn, &c);
    ingest_ctx_fini(&c);
    free(auth);
    return rc;
}

/* ---- local writes ---- */

struct write_ctx {
    struct ingest_ctx ic; /* scratch and hlc tracking, shared with ingest */
    const uint8_t *author, *sk, *network;
    gs_slice scope;
    const gs_store_target *targets;
    size_t n;
    gs_store_next_fn next; /* a streamed write: targets come from it */
    gs_store_build_fn fn;
    void *ctx;
    gs_store_write_result *out;
    gs_buf op;
};

static gs_err write_ops(gs_store *s, MDB_txn *txn, struct write_ctx *w,
                        struct feed *fp, const uint8_t *fkey, size_t fkn,
                        bool is_new, uint64_t seen, const gs_trust_dev *dev);

static gs_err
write_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct write_ctx *w = ctx;
    uint8_t fkey[FEED_KEY_MAX];
    struct feed f;
    uint64_t seen;
    gs_err rc;

    memset(w->out, 0, sizeof *w->out); /* this may be a second try */
    ingest_ctx_reset(&w->ic);
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
    if (f.flags & FEED_FROZEN)
        return GS_EFORK; /* this key signed two histories: no more */
    if ((rc = hlc_get(s, txn, &seen)) != GS_OK)
        return rc;
    /* The device's own writes meet the trust rules once its certificate
     * is here; before that (enrolment pending) they wait in its feed, to
     * be judged by every peer when the certificate has come. */
    struct trust_ents tr = {0};
    if (memcmp(w->author, w->network, GS_KEY_BYTES) != 0 &&
        (rc = trust_load(s, txn, &w->ic.x, w->author, &tr)) != GS_OK)
        return rc;
    gs_trust_dev dev = {w->network, tr.has_cert ? &tr.cert : NULL,
                        tr.has_rev ? &tr.rev : NULL};
    rc = write_ops(s, txn, w, &f, fkey, fkn, is_new, seen, &dev);
    trust_fini(&tr);
    return rc;
}

/* The op a builder decoded (gs_store_build_fn), n bytes encoded, into op,
 * and its updates' payloads parsed into pl, read as checked already (the
 * builder checked them, as its decode would: gs_payload_parse_known). */
static gs_err
decoded_take(const gs_op *built, size_t n, gs_op *op, gs_payload *pl)
{
    if (n > GS_OP_BYTES_MAX || built->n_updates == 0 ||
        built->n_updates > GS_OP_UPDATES_MAX)
        return GS_EINVAL; /* not an op its decode would give */
    memcpy(op, built, offsetof(gs_op, updates));
    op->n_updates = built->n_updates;
    for (size_t i = 0; i < op->n_updates; i++) {
        const gs_update *u = &built->updates[i];
        op->updates[i] = *u;
        if (u->kind == 0 || u->kind > GS_KIND_KNOWN_MAX)
            continue; /* a kind of a later version: opaque */
        gs_err rc = gs_payload_parse_known(u->kind, u->payload, &pl[i]);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

/* write_fn's loop over the writes, with the trust state loaded. */
static gs_err
write_ops(gs_store *s, MDB_txn *txn, struct write_ctx *w, struct feed *fp,
          const uint8_t *fkey, size_t fkn, bool is_new, uint64_t seen,
          const gs_trust_dev *dev)
{
    uint8_t hash[GS_HASH_BYTES];
    struct feed f = *fp, before = f; /* its head sig may become a checkpoint */
    gs_op op;
    gs_payload pl[GS_OP_UPDATES_MAX]; /* op's updates, parsed by the check */
    gs_err rc;
    for (size_t i = 0; w->next || i < w->n; i++) {
        gs_entity cur;
        bool have = false;
        uint8_t key[ENT_KEY_MAX];
        gs_store_target nt;
        const gs_store_target *t = &nt;
        if (w->next == NULL) {
            t = &w->targets[i];
        } else if ((rc = w->next(i, &nt, w->ctx)) == GS_ENOTFOUND) {
            break;
        } else if (rc != GS_OK) {
            w->out->failed_at = i;
            return rc;
        }
        if (t->type.n == 0 || t->type.n > GS_NAME_BYTES_MAX || t->id.n == 0 ||
            t->id.n > GS_ID_BYTES_MAX) {
            w->out->failed_at = i;
            return GS_EINVAL;
        }
        MDB_val k = {ent_key(t->type, t->id, key), key}, v;
        int mrc = ents_get(s, txn, &w->ic.x, t->type, t->id, &k, &v);
        refs_none(&w->ic.x);
        if (mrc == 0) {
            if ((rc = ent_decode(s, txn, &w->ic.x, &k, &v, &cur)))
                return rc;
            have = true;
        } else if (mrc != MDB_NOTFOUND) {
            return map_err(mrc);
        }
        gs_buf_reset(&w->op);
        gs_store_built built = {NULL, NULL};
        rc = w->fn(i, &f.head, seen, have ? &cur : NULL, &w->op, &built,
                   w->ctx);
        if (rc != GS_OK) {
            if (have)
                gs_entity_fini(&cur);
            w->out->failed_at = i;
            return rc;
        }
        if (w->op.len == 0) {
            if (have)
                gs_entity_fini(&cur);
            w->out->skipped++;
            continue;
        }
        /* The builder is ours, but what goes into the log is checked like
         * anything from outside: one feed, the next seq, the right link,
         * about the target, after every stamp held. What the builder
         * checked (the import's target and updates, on the parser thread
         * that made them) is not checked twice: the op it decoded is
         * read, the scope is the write's, checked once, and the type and
         * id are the target's. */
        rc = built.op ? decoded_take(built.op, w->op.len, &op, pl)
                      : gs_op_decode_parsed(w->op.data, w->op.len, &op, pl);
        if (rc == GS_OK &&
            (memcmp(op.author, w->author, GS_KEY_BYTES) ||
             gs_slice_cmp(op.scope, w->scope) || op.seq != f.head.seq + 1 ||
             memcmp(op.prev, f.head.hash, GS_HASH_BYTES) ||
             gs_slice_cmp(op.type, t->type) || gs_slice_cmp(op.id, t->id)))
            rc = GS_ECHAIN;
        if (rc == GS_OK && op.hlc <= seen)
            rc = GS_ECLOCK;
        if (rc == GS_OK) {
            if (built.hash) /* the builder hashed these bytes */
                memcpy(hash, built.hash, GS_HASH_BYTES);
            else
                gs_op_hash(w->op.data, w->op.len, hash);
            rc = gs_trust_check(dev, &op, hash);
            /* enrolment pending: the write waits in the feed, to be
             * judged by every peer (a redemption too: tests/multi/
             * test_trust.sh shows peers refuse it; 'points redeem' does
             * not write one without the shop flag) */
            if (rc == GS_ENOCERT)
                rc = GS_OK;
        }
        if (rc == GS_OK && is_new) {
            rc = feed_new(s, txn, fkey, fkn, &f);
            is_new = rc != GS_OK;
        } else if (rc != GS_OK) {
            w->out->failed_at = i;
        }
        if (rc != GS_OK) {
            if (have)
                gs_entity_fini(&cur);
            return rc;
        }
        gs_run_item item = {w->op.data, w->op.len, NULL};
        /* the state just read goes on to the merge: no second read; an
         * entity not held has no fields, and append_op writes it from op
         * alone (op's type and id, checked above) */
        if (!have) {
            cur.n_fields = cur.cap_fields = cur.type_n = cur.id_n = 0;
            cur.fields = NULL;
        }
        rc = append_op(s, txn, &w->ic, f.num, &op, &item, hash, &cur, pl);
        if (rc != GS_OK)
            return rc;
        seen = op.hlc;
        f.head.seq = op.seq;
        memcpy(f.head.hash, hash, GS_HASH_BYTES);
        w->out->written++;
        /* A long batch (an import's) is signed every GS_STORE_SIG_SPACING
         * ops, and kept as consecutive batches of that size would keep
         * their heads: signed seqs stay that close, so a sync segment
         * stays as short as it would be after smaller batches. */
        if (f.head.seq - before.head.seq >= GS_STORE_SIG_SPACING &&
            (w->next || i + 1 < w->n)) {
            if ((rc = ckpt_keep(s, txn, &before, f.head.seq)) != GS_OK)
                return rc;
            before = f;
            gs_op_sign(f.head.hash, w->network, w->sk, &before.sig);
            before.has_sig = true;
        }
    }
    w->out->head = f.head;
    if (w->out->written == 0)
        return GS_OK; /* nothing new: the transaction changes nothing */
    /* One signature on the newest op vouches for the batch beneath it. */
    if ((rc = blockw_flush(s, txn, &w->ic.bw)) != GS_OK ||
        (rc = ckpt_keep(s, txn, &before, f.head.seq)) != GS_OK)
        return rc;
    gs_op_sign(f.head.hash, w->network, w->sk, &f.sig);
    f.has_sig = true;
    rc = feed_put(s, txn, fkey, fkn, &f);
    if (rc == GS_OK) /* the authority's revocations roll back here too */
        rc = rollback_run(s, txn, &w->ic);
    if (rc == GS_OK)
        rc = hlc_raise(s, txn, w->ic.hlc_max);
    return rc;
}

/* gs_store_write and gs_store_write_stream: w names the writes. */
static gs_err
write_run(gs_store *s, struct write_ctx *wp)
{
    struct write_ctx w = *wp;
    if (!gs_scope_valid(w.scope.p, w.scope.n) || (w.next == NULL && w.n == 0))
        return GS_EINVAL;
    if (w.sk == NULL)
        return GS_EBADPASS; /* a sealed key still locked: nothing to sign */
    ingest_ctx_init(&w.ic);
    w.ic.network = w.network; /* revoked_note knows the authority by it */
    if (w.next != NULL)
        blockw_async(&w.ic.bw); /* a long write: an import */
    gs_buf_init(&w.op, GS_OP_BYTES_MAX);
    gs_err rc = with_txn(s, true, write_fn, &w);
    gs_buf_fini(&w.op);
    ingest_ctx_fini(&w.ic);
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
    return write_run(s, &w);
}

gs_err
gs_store_write_stream(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                      const uint8_t sk[GS_SECRETKEY_BYTES], gs_slice scope,
                      const uint8_t network[GS_KEY_BYTES],
                      gs_store_next_fn next, gs_store_build_fn fn, void *ctx,
                      gs_store_write_result *out)
{
    struct write_ctx w = {.author = author,
                          .sk = sk,
                          .network = network,
                          .scope = scope,
                          .next = next,
                          .fn = fn,
                          .ctx = ctx,
                          .out = out};
    return write_run(s, &w);
}

gs_err
gs_store_reserve(gs_store *s, uint64_t bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize,
             want = used + bytes;
    if (want <= info.me_mapsize)
        return GS_OK;
    if (s->max_map && want > s->max_map)
        want = s->max_map;
    if (want <= info.me_mapsize)
        return GS_OK;
    return map_err(set_mapsize(s, (size_t)want));
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
    const uint8_t *author; /* feed_read: the feed (author, scope) */
    gs_slice scope;        /* feed_read; feeds_each: the filter */
    uint64_t from, to;     /* feed_read: the segment asked, its end */
    int branch;            /* feed_read of a frozen feed: 1, the evidence's
                              second branch */
    size_t max_ops;
    gs_entity *out;
    gs_store_entity_fn efn;
    gs_store_entity_touched_fn etfn; /* entity_each_touched: instead */
    gs_store_op_fn ofn;
    gs_store_feed_op_fn ffn;
    gs_store_feed_fn feedfn;
    void *ctx;
    uint8_t *digest;
    gs_store_counts *counts;
    struct ecodec x; /* entities from their stored form */
    gs_digest *d;
    gs_store *s;
    MDB_txn *txn;
};

static gs_err
entity_get_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    uint8_t key[ENT_KEY_MAX];
    MDB_val k = {ent_key(c->type, c->id, key), key}, v;
    MDB_dbi dbi;
    int mrc = ents_dbi(s, txn, c->type.p, c->type.n, false, &dbi);
    if (mrc == 0)
        mrc = mdb_get(txn, dbi, &k, &v);
    if (mrc != 0)
        return map_err(mrc);
    return ent_decode(s, txn, &c->x, &k, &v, c->out);
}

gs_err
gs_store_entity_get(gs_store *s, gs_slice type, gs_slice id, gs_entity *out)
{
    struct read_ctx c = {.type = type, .id = id, .out = out};
    if (type.n == 0 || type.n > GS_NAME_BYTES_MAX || id.n == 0 ||
        id.n > GS_ID_BYTES_MAX)
        return GS_EINVAL;
    ecodec_init(&c.x);
    gs_err rc = with_txn(s, false, entity_get_fn, &c);
    ecodec_fini(&c.x);
    return rc;
}

static gs_err
each_ent(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct read_ctx *c = ctx;
    gs_entity e;
    gs_err rc = ent_decode(c->s, c->txn, &c->x, k, v, &e);
    if (rc != GS_OK)
        return rc;
    /* the expansion read the entity's list of ops (see ents) */
    _Static_assert(GS_STORE_TOUCHED_MORE == HIST_INLINE + 1, "see store.h");
    *stop = (c->etfn ? c->etfn(&e,
                               c->x.spilled ? GS_STORE_TOUCHED_MORE
                                            : (size_t)c->x.n_refs,
                               c->ctx)
                     : c->efn(&e, c->ctx)) != 0;
    gs_entity_fini(&e);
    return GS_OK;
}

static gs_err
entity_each_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    uint8_t prefix[GS_NAME_BYTES_MAX + 1];
    MDB_dbi dbi;
    c->s = s;
    c->txn = txn;
    if (c->type.n == 0)
        return walk_ents(s, txn, each_ent, c);
    int mrc = ents_dbi(s, txn, c->type.p, c->type.n, false, &dbi);
    if (mrc != 0)
        return map_err(mrc);
    memcpy(prefix, c->type.p, c->type.n);
    prefix[c->type.n] = 0;
    return walk(txn, dbi, prefix, c->type.n + 1, each_ent, c);
}

static gs_err
entity_each(gs_store *s, struct read_ctx *c)
{
    if (c->type.n > GS_NAME_BYTES_MAX)
        return GS_EINVAL;
    ecodec_init(&c->x);
    gs_err rc = with_txn(s, false, entity_each_fn, c);
    ecodec_fini(&c->x);
    return rc;
}

gs_err
gs_store_entity_each(gs_store *s, gs_slice type, gs_store_entity_fn fn,
                     void *ctx)
{
    struct read_ctx c = {.type = type, .efn = fn, .ctx = ctx};
    return entity_each(s, &c);
}

gs_err
gs_store_entity_each_touched(gs_store *s, gs_slice type,
                             gs_store_entity_touched_fn fn, void *ctx)
{
    struct read_ctx c = {.type = type, .etfn = fn, .ctx = ctx};
    return entity_each(s, &c);
}

struct hist_walk {
    struct read_ctx *c;
    gs_store *s;
    MDB_txn *txn;
    size_t pn; /* the (type, id) prefix of the keys */
    struct blockr br;
};

static gs_err
each_hist(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct hist_walk *h = ctx;
    uint64_t feedno, seq;
    const uint8_t *hash;
    gs_slice op;
    gs_rd r;
    (void)v;
    if (k->mv_size < h->pn + 8)
        return GS_EMALFORMED;
    gs_rd_init(&r, (const uint8_t *)k->mv_data + h->pn + 8,
               k->mv_size - h->pn - 8);
    gs_err rc = gs_rd_varint(&r, &feedno);
    if (rc == GS_OK)
        rc = gs_rd_varint(&r, &seq);
    if (rc != GS_OK || gs_rd_left(&r) != 0)
        return GS_EMALFORMED;
    rc = blockr_op(h->s, h->txn, &h->br, feedno, seq, &op, &hash);
    if (rc != GS_OK)
        return rc;
    *stop = h->c->ofn(op.p, op.n, hash, h->c->ctx) != 0;
    return GS_OK;
}

/* An op of an entity's own list, held for sorting. */
struct hist_op {
    uint64_t hlc, num, seq;
    size_t off, n; /* its bytes in the walk's buffer */
    uint8_t hash[GS_HASH_BYTES];
};

static int
hist_op_cmp(const void *a, const void *b)
{
    const struct hist_op *x = a, *y = b;
    if (x->hlc != y->hlc)
        return x->hlc < y->hlc ? -1 : 1;
    if (x->num != y->num)
        return x->num < y->num ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The ops an entity lists itself (refs), in hist's order: by hlc, feed
 * number, seq. */
static gs_err
history_inline(struct hist_walk *h, gs_slice refs, uint64_t n)
{
    struct hist_op ops[HIST_INLINE];
    gs_buf all;
    gs_rd r;
    gs_err rc = GS_OK;
    gs_buf_init(&all, HIST_INLINE * (size_t)GS_OP_BYTES_MAX);
    gs_rd_init(&r, refs.p, refs.n);
    for (uint64_t i = 0; rc == GS_OK && i < n; i++) {
        struct hist_op *o = &ops[i];
        gs_slice bytes;
        const uint8_t *hash;
        gs_op op;
        if ((rc = gs_rd_varint(&r, &o->num)) != GS_OK ||
            (rc = gs_rd_varint(&r, &o->seq)) != GS_OK ||
            (rc = blockr_op(h->s, h->txn, &h->br, o->num, o->seq, &bytes,
                            &hash)) != GS_OK ||
            (rc = gs_op_decode(bytes.p, bytes.n, &op)) != GS_OK)
            break;
        o->hlc = op.hlc;
        o->off = all.len;
        o->n = bytes.n;
        memcpy(o->hash, hash, GS_HASH_BYTES);
        rc = gs_buf_put(&all, bytes.p, bytes.n);
    }
    if (rc == GS_ENOTFOUND)
        rc = map_err(MDB_CORRUPTED); /* listed, so it must be held */
    if (rc == GS_OK)
        qsort(ops, (size_t)n, sizeof ops[0], hist_op_cmp);
    for (uint64_t i = 0; rc == GS_OK && i < n; i++)
        if (h->c->ofn(all.data + ops[i].off, ops[i].n, ops[i].hash,
                      h->c->ctx) != 0)
            break;
    gs_buf_fini(&all);
    return rc;
}

static gs_err
history_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    uint8_t prefix[ENT_KEY_MAX + 1];
    size_t pn = ent_key(c->type, c->id, prefix);
    MDB_val k = {pn, prefix}, v;
    gs_slice refs;
    uint64_t n;
    gs_rd r;
    MDB_dbi dbi;
    int mrc = ents_dbi(s, txn, c->type.p, c->type.n, false, &dbi);
    if (mrc == 0)
        mrc = mdb_get(txn, dbi, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return GS_OK; /* no op touched it */
    if (mrc != 0)
        return map_err(mrc);
    gs_rd_init(&r, v.mv_data, v.mv_size);
    gs_err rc = refs_read(&r, &n, &refs);
    if (rc != GS_OK)
        return rc;
    prefix[pn++] = 0;
    struct hist_walk h = {.c = c, .s = s, .txn = txn, .pn = pn};
    blockr_init(&h.br);
    if (n > 0)
        rc = history_inline(&h, refs, n);
    else
        rc = walk(txn, s->hist, prefix, pn, each_hist, &h);
    blockr_fini(&h.br);
    return rc;
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

/* ---- feeds and their ops, as bundles and sync send them ---- */

/* A walk over the ops of one feed at a time (w->f). */
struct ops_walk {
    struct read_ctx *c;
    gs_store *s;
    MDB_txn *txn;
    struct feed f;
    bool stopped;
    struct blockr br;
};

/* Hand c->ffn the ops from..to of the feed being walked, in seq order, as
 * canonical bytes, with sig on `to` only: what ops_each and feed_read
 * send. Every seq in between must be held; a gap is a damaged replica.
 * Sets w->stopped when the callback asks to stop. */
static gs_err
feed_ops(struct ops_walk *w, uint64_t from, uint64_t to, const gs_sig *sig)
{
    gs_err rc = GS_OK;
    if (from == 0 || from > to)
        return GS_OK;
    for (uint64_t seq = from;; seq++) {
        gs_slice op;
        rc = blockr_op(w->s, w->txn, &w->br, w->f.num, seq, &op, NULL);
        if (rc != GS_OK)
            return rc == GS_ENOTFOUND ? map_err(MDB_CORRUPTED) : rc;
        w->stopped =
            w->c->ffn(op.p, op.n, seq == to ? sig : NULL, w->c->ctx) != 0;
        if (w->stopped || seq == to)
            break;
    }
    return rc;
}

/* Hand c->ffn branch b of the evidence of the frozen feed being walked,
 * its signature on the last op. */
static gs_err
evidence_ops(struct ops_walk *w, int b, size_t *n_out)
{
    struct evidence e;
    gs_err rc = evidence_get(w->s, w->txn, w->f.num, w->f.head.seq + 1, &e);
    if (rc == GS_OK && n_out)
        *n_out = e.b[b].n;
    for (size_t i = 0; rc == GS_OK && !w->stopped && i < e.b[b].n; i++)
        w->stopped = w->c->ffn(e.b[b].ops[i].p, e.b[b].ops[i].n,
                               i + 1 == e.b[b].n ? &e.b[b].sig : NULL,
                               w->c->ctx) != 0;
    evidence_fini(&e);
    return rc;
}

/* ops_each: per feed (in feed-number order), its ops 1..head; a frozen
 * feed's evidence after them. */
static gs_err
each_feed(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct ops_walk *w = ctx;
    if (k->mv_size != 8 || v->mv_size <= GS_KEY_BYTES ||
        v->mv_size > FEED_KEY_MAX)
        return GS_EMALFORMED;
    gs_err rc = feed_get(w->s, w->txn, v->mv_data, v->mv_size, &w->f);
    /* a number whose feed a revocation cut to nothing (no record), or
     * which a later feed_new replaced: kept for the entities that name
     * their author by it, with no ops */
    if (rc == GS_ENOTFOUND ||
        (rc == GS_OK && w->f.num != get_u64be(k->mv_data)))
        return GS_OK;
    if (rc != GS_OK)
        return rc;
    if (w->f.flags & FEED_FROZEN) {
        /* up to the fork, then both branches: what a replica needs to
         * end frozen at the same place */
        rc = feed_ops(w, 1, w->f.head.seq, NULL);
        for (int b = 0; rc == GS_OK && !w->stopped && b < 2; b++)
            rc = evidence_ops(w, b, NULL);
    } else {
        rc = feed_ops(w, 1, w->f.head.seq, w->f.has_sig ? &w->f.sig : NULL);
    }
    *stop = w->stopped;
    return rc;
}

static gs_err
ops_each_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct ops_walk w = {.c = ctx, .s = s, .txn = txn};
    blockr_init(&w.br);
    gs_err rc = walk(txn, s->fnum, NULL, 0, each_feed, &w);
    blockr_fini(&w.br);
    return rc;
}

gs_err
gs_store_ops_each(gs_store *s, gs_store_feed_op_fn fn, void *ctx)
{
    struct read_ctx c = {.ffn = fn, .ctx = ctx};
    return with_txn(s, false, ops_each_fn, &c);
}

/* Whether scope (p, n) lies in under: equal, or below it on a '.' (an
 * empty under holds everything). */
static bool
scope_in(gs_slice under, const uint8_t *p, size_t n)
{
    if (under.n == 0)
        return true;
    return n >= under.n && memcmp(p, under.p, under.n) == 0 &&
           (n == under.n || p[under.n] == '.');
}

static gs_err
each_feed_info(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct read_ctx *c = ctx;
    const uint8_t *p = k->mv_data;
    gs_store_feed_info fi;
    struct feed f;
    if (k->mv_size <= GS_KEY_BYTES || k->mv_size > FEED_KEY_MAX)
        return GS_EMALFORMED;
    if (!scope_in(c->scope, p + GS_KEY_BYTES, k->mv_size - GS_KEY_BYTES))
        return GS_OK;
    gs_err rc = feed_decode(v, &f);
    if (rc != GS_OK)
        return rc;
    memcpy(fi.author, p, GS_KEY_BYTES);
    fi.scope = gs_slice_of(p + GS_KEY_BYTES, k->mv_size - GS_KEY_BYTES);
    fi.head = f.head;
    fi.frozen = (f.flags & FEED_FROZEN) != 0;
    fi.suspect = (f.flags & FEED_SUSPECT) != 0;
    *stop = c->feedfn(&fi, c->ctx) != 0;
    return GS_OK;
}

static gs_err
feeds_each_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    /* keys lead with the author: a scope filter cannot seek, so it scans */
    return walk(txn, s->feeds, NULL, 0, each_feed_info, ctx);
}

gs_err
gs_store_feeds_each(gs_store *s, gs_slice under, gs_store_feed_fn fn, void *ctx)
{
    struct read_ctx c = {.scope = under, .feedfn = fn, .ctx = ctx};
    return with_txn(s, false, feeds_each_fn, &c);
}

/* The frozen feed w->f from `from`: for branch 0, its ops from..head
 * unsigned and then branch 0 of its evidence, which chains on the head
 * and is signed at its end; for branch 1, that branch alone (from is the
 * fork's seq). */
static gs_err
frozen_read(struct ops_walk *w, int b, uint64_t from)
{
    uint64_t head = w->f.head.seq;
    if (from > head + 1 || (b == 1 && from != head + 1))
        return GS_EINVAL;
    if (b == 0 && head + 1 - from >= GS_STORE_RUN_MAX)
        return GS_ETOOBIG;
    size_t n = 0;
    gs_err rc = GS_OK;
    blockr_init(&w->br);
    if (b == 0 && from <= head)
        rc = feed_ops(w, from, head, NULL);
    blockr_fini(&w->br);
    if (rc == GS_OK && !w->stopped)
        rc = evidence_ops(w, b, &n);
    w->c->to = head + n;
    return rc;
}

/* feed_read: the segment's end is the last signed seq in the window
 * from..from+max_ops-1, else the first signed seq past it; the signed seqs
 * are the checkpoints in sigs and the head. */
static gs_err
feed_read_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    struct ops_walk w = {.c = c, .s = s, .txn = txn};
    uint8_t key[FEED_KEY_MAX];
    size_t kn = feed_key(c->author, c->scope, key);
    gs_err rc = feed_get(s, txn, key, kn, &w.f);
    if (rc != GS_OK)
        return rc;
    bool frozen = (w.f.flags & FEED_FROZEN) != 0;
    if (c->from > w.f.head.seq + frozen || c->branch > frozen)
        return GS_ENOTFOUND;
    if (c->branch)
        return frozen_read(&w, 1, w.f.head.seq + 1);
    if (frozen && c->from > w.f.head.seq)
        return frozen_read(&w, 0, c->from);
    if (!w.f.has_sig && !frozen)
        return GS_ENOSIG; /* the store never holds such a feed */
    uint64_t span =
        c->max_ops < GS_STORE_RUN_MAX ? c->max_ops : GS_STORE_RUN_MAX;
    uint64_t to = w.f.head.seq;
    gs_sig sig = w.f.sig;
    bool tail = frozen; /* a frozen head: ops up to it, then branch 0 */
    if (to - c->from >= span) {
        /* the head lies past the window: look around its end */
        struct ckpt below, above;
        rc = ckpt_around(s, txn, w.f.num, c->from + span, &below, &above);
        if (rc != GS_OK)
            return rc;
        const struct ckpt *at = NULL;
        if (below.found && below.seq >= c->from)
            at = &below;
        else if (above.found && above.seq < to)
            at = &above;
        if (at) {
            to = at->seq;
            gs_sig_decode(at->sig.mv_data, &sig);
            tail = false;
        }
    }
    if (tail)
        return frozen_read(&w, 0, c->from);
    /* only a local write batch longer than a run can make one this long */
    if (to - c->from >= GS_STORE_RUN_MAX)
        return GS_ETOOBIG;
    c->to = to;
    blockr_init(&w.br);
    rc = feed_ops(&w, c->from, to, &sig);
    blockr_fini(&w.br);
    return rc;
}

gs_err
gs_store_feed_read(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                   gs_slice scope, uint64_t from, size_t max_ops,
                   gs_store_feed_op_fn fn, void *ctx, uint64_t *to_out)
{
    struct read_ctx c = {.author = author,
                         .scope = scope,
                         .from = from,
                         .max_ops = max_ops,
                         .ffn = fn,
                         .ctx = ctx};
    if (from == 0 || max_ops == 0 || scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    gs_err rc = with_txn(s, false, feed_read_fn, &c);
    if (rc == GS_OK && to_out)
        *to_out = c.to;
    return rc;
}

gs_err
gs_store_feed_read_fork(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                        gs_slice scope, gs_store_feed_op_fn fn, void *ctx,
                        uint64_t *seq_out)
{
    struct read_ctx c = {.author = author,
                         .scope = scope,
                         .from = 1,
                         .branch = 1,
                         .ffn = fn,
                         .ctx = ctx};
    if (scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    gs_err rc = with_txn(s, false, feed_read_fn, &c);
    if (rc == GS_OK && seq_out)
        *seq_out = c.to;
    return rc;
}

struct fork_walk {
    gs_store *s;
    MDB_txn *txn;
    gs_store_fork_fn fn;
    void *ctx;
};

static gs_err
each_fork(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct fork_walk *w = ctx;
    struct evidence e;
    struct feed f;
    if (k->mv_size != 16)
        return GS_EMALFORMED;
    uint8_t nk[8];
    memcpy(nk, k->mv_data, 8);
    MDB_val fk = {8, nk}, fv;
    int mrc = mdb_get(w->txn, w->s->fnum, &fk, &fv);
    if (mrc != 0)
        return map_err(mrc == MDB_NOTFOUND ? MDB_CORRUPTED : mrc);
    if (fv.mv_size <= GS_KEY_BYTES || fv.mv_size > FEED_KEY_MAX)
        return GS_EMALFORMED;
    gs_err rc = feed_get(w->s, w->txn, fv.mv_data, fv.mv_size, &f);
    if (rc != GS_OK)
        return rc == GS_ENOTFOUND ? GS_OK : rc;
    if ((rc = evidence_decode(v->mv_data, v->mv_size, &e)) != GS_OK)
        return rc;
    gs_store_fork x;
    memcpy(x.author, fv.mv_data, GS_KEY_BYTES);
    x.scope = gs_slice_of((const uint8_t *)fv.mv_data + GS_KEY_BYTES,
                          fv.mv_size - GS_KEY_BYTES);
    x.seq = get_u64be((const uint8_t *)k->mv_data + 8);
    x.frozen = (f.flags & FEED_FROZEN) && f.head.seq + 1 == x.seq;
    for (int b = 0; b < 2; b++) {
        x.ops[b] = e.b[b].ops;
        x.n[b] = e.b[b].n;
        x.sig[b] = e.b[b].sig;
    }
    *stop = w->fn(&x, w->ctx) != 0;
    evidence_fini(&e);
    return GS_OK;
}

static gs_err
forks_each_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct fork_walk *w = ctx;
    w->s = s;
    w->txn = txn;
    return walk(txn, s->forks, NULL, 0, each_fork, w);
}

gs_err
gs_store_forks_each(gs_store *s, gs_store_fork_fn fn, void *ctx)
{
    struct fork_walk w = {.fn = fn, .ctx = ctx};
    return with_txn(s, false, forks_each_fn, &w);
}

struct feed_mark {
    uint8_t key[FEED_KEY_MAX];
    size_t kn;
    gs_store_feed_info *info; /* get */
};

static gs_err
info_get_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct feed_mark *m = ctx;
    struct feed f;
    gs_err rc = feed_get(s, txn, m->key, m->kn, &f);
    if (rc != GS_OK)
        return rc;
    m->info->head = f.head;
    m->info->frozen = (f.flags & FEED_FROZEN) != 0;
    m->info->suspect = (f.flags & FEED_SUSPECT) != 0;
    return GS_OK;
}

gs_err
gs_store_feed_info_get(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                       gs_slice scope, gs_store_feed_info *out)
{
    struct feed_mark m = {.info = out};
    if (scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    memset(out, 0, sizeof *out);
    memcpy(out->author, author, GS_KEY_BYTES);
    out->scope = scope;
    m.kn = feed_key(author, scope, m.key);
    gs_err rc = with_txn(s, false, info_get_fn, &m);
    return rc == GS_ENOTFOUND ? GS_OK : rc;
}

static gs_err
suspect_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct feed_mark *m = ctx;
    struct feed f;
    gs_err rc = feed_get(s, txn, m->key, m->kn, &f);
    if (rc != GS_OK || (f.flags & (FEED_FROZEN | FEED_SUSPECT)))
        return rc == GS_ENOTFOUND ? GS_OK : rc;
    f.flags |= FEED_SUSPECT;
    return feed_put(s, txn, m->key, m->kn, &f);
}

gs_err
gs_store_feed_suspect(gs_store *s, const uint8_t author[GS_KEY_BYTES],
                      gs_slice scope)
{
    struct feed_mark m;
    if (scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    m.kn = feed_key(author, scope, m.key);
    return with_txn(s, true, suspect_fn, &m);
}

/* ---- digests ---- */

static gs_err
digest_ent(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct read_ctx *c = ctx;
    gs_entity e;
    (void)stop;
    gs_err rc = ent_decode(c->s, c->txn, &c->x, k, v, &e);
    if (rc != GS_OK)
        return rc;
    rc = gs_digest_add(c->d, &e);
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
    c->d = &d;
    c->s = s;
    c->txn = txn;
    rc = walk_ents(s, txn, digest_ent, c);
    gs_digest_final(&d, rc == GS_OK ? c->digest : NULL);
    return rc;
}

gs_err
gs_store_digest(gs_store *s, uint8_t out[GS_HASH_BYTES])
{
    struct read_ctx c = {.digest = out};
    ecodec_init(&c.x);
    gs_err rc = with_txn(s, false, digest_fn, &c);
    ecodec_fini(&c.x);
    return rc;
}

struct rebuild_walk {
    gs_store *s;
    MDB_txn *txn;
    gs_state *st;
    struct blockr br;
};

/* Every block in key order: every feed's ops in seq order. */
static gs_err
rebuild_block(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    struct rebuild_walk *w = ctx;
    gs_op op;
    (void)stop;
    gs_err rc = blockr_load(w->s, w->txn, &w->br, k, v);
    for (size_t i = 0; rc == GS_OK && i < w->br.n; i++) {
        const uint8_t *p = w->br.canon.data + w->br.off[i];
        size_t n = w->br.off[i + 1] - w->br.off[i];
        if ((rc = gs_op_decode(p, n, &op)) == GS_OK)
            rc = gs_state_apply(w->st, &op, w->br.hash[i]);
    }
    return rc;
}

static gs_err
rebuild_fn(gs_store *s, MDB_txn *txn, void *ctx)
{
    struct read_ctx *c = ctx;
    gs_state *st;
    gs_err rc = gs_state_new(&st);
    if (rc != GS_OK)
        return rc;
    struct rebuild_walk w = {.s = s, .txn = txn, .st = st};
    blockr_init(&w.br);
    rc = walk(txn, s->ops, NULL, 0, rebuild_block, &w);
    blockr_fini(&w.br);
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
count_ops(const MDB_val *k, const MDB_val *v, void *ctx, bool *stop)
{
    gs_store_counts *c = ctx;
    struct feed f;
    (void)k;
    (void)stop;
    gs_err rc = feed_decode(v, &f);
    if (rc == GS_OK) {
        c->ops += f.head.seq;
        c->frozen_feeds += (f.flags & FEED_FROZEN) != 0;
    }
    return rc;
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
    } q[] = {{s->feeds, &c->counts->feeds}, /* fnum may hold numbers of
                                                  feeds rolled back to none */
             {s->forks, &c->counts->forks}};
    memset(c->counts, 0, sizeof *c->counts);
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        int mrc = mdb_stat(txn, q[i].dbi, &st);
        if (mrc != 0)
            return map_err(mrc);
        *q[i].out = st.ms_entries;
    }
    for (size_t i = 0; i <= ENT_SLOTS; i++) { /* an unused slot is empty */
        int mrc = mdb_stat(txn, s->eslot[i], &st);
        if (mrc != 0)
            return map_err(mrc);
        c->counts->entities += st.ms_entries;
    }
    /* ops holds blocks: each feed holds seq 1..head, so sum the heads */
    gs_err rc = walk(txn, s->feeds, NULL, 0, count_ops, c->counts);
    if (rc != GS_OK)
        return rc;
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
