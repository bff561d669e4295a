/*
 * inspect.c — what a replica holds, feed by feed: for operators (`gridsync
 * feeds`, `gridsync forks`) and for tests that must assert on the store
 * itself rather than on a listing (read scoping: a tablet holds no op
 * outside its grid; a forked feed froze in the same place everywhere).
 */
#include "gridsync.h"

#include "replica_int.h"
#include "store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Hand o (taken) to the caller's fn as compact JSON; what fn returned, or
 * -1 without memory. */
struct emit {
    gs_replica_json_fn fn;
    void *ctx;
    int stopped;
};

static int
emit(struct emit *e, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return e->stopped = -1;
    int r = e->fn(s, e->ctx);
    free(s);
    return e->stopped = r;
}

static int
feed_one(const gs_store_feed_info *f, void *ctx)
{
    char author[65], hash[65];
    sodium_bin2hex(author, sizeof author, f->author, GS_KEY_BYTES);
    sodium_bin2hex(hash, sizeof hash, f->head.hash, GS_HASH_BYTES);
    json_t *o = json_pack("{s:s, s:s%, s:I, s:s, s:b}", "author", author,
                          "scope", (const char *)f->scope.p, f->scope.n,
                          "seq", (json_int_t)f->head.seq, "head", hash,
                          "frozen", f->frozen);
    return emit(ctx, o);
}

gs_err
gs_replica_feeds(gs_replica *r, const char *under, gs_replica_json_fn fn,
                 void *ctx)
{
    struct emit c = {fn, ctx, 0};
    gs_slice u = {(const uint8_t *)under, under ? strlen(under) : 0};
    gs_err rc = gs_store_feeds_each(gs_replica_store(r), u, feed_one, &c);
    return rc == GS_OK && c.stopped < 0 ? GS_ENOMEM : rc;
}

/* One branch of a fork: how many ops, whether its signature verifies
 * (the store checked it when it took the evidence; checked again here,
 * since this is what an operator shows the authority), and its first op. */
static json_t *
branch_json(const gs_store_fork *x, int b, const uint8_t *network)
{
    uint8_t hash[GS_HASH_BYTES];
    const gs_slice *ops = x->ops[b];
    size_t n = x->n[b];
    gs_op_hash(ops[n - 1].p, ops[n - 1].n, hash);
    bool ok = gs_op_verify(hash, &x->sig[b], network, x->author) == GS_OK;
    gs_op_hash(ops[0].p, ops[0].n, hash);
    json_t *first = gs_replica_op_json(ops[0].p, ops[0].n, hash);
    return json_pack("{s:I, s:b, s:o}", "ops", (json_int_t)n, "signed", ok,
                     "first", first ? first : json_null());
}

struct forks_ctx {
    struct emit e; /* first: emit takes the context */
    const uint8_t *network;
};

static int
fork_one(const gs_store_fork *x, void *ctx)
{
    struct forks_ctx *c = ctx;
    char author[65];
    sodium_bin2hex(author, sizeof author, x->author, GS_KEY_BYTES);
    json_t *o = json_pack("{s:s, s:s%, s:I, s:b, s:[o, o]}", "author", author,
                          "scope", (const char *)x->scope.p, x->scope.n,
                          "seq", (json_int_t)x->seq, "frozen", x->frozen,
                          "branches", branch_json(x, 0, c->network),
                          branch_json(x, 1, c->network));
    return emit(&c->e, o);
}

gs_err
gs_replica_forks(gs_replica *r, gs_replica_json_fn fn, void *ctx)
{
    struct forks_ctx c = {{fn, ctx, 0}, gs_replica_network(r)};
    gs_err rc = gs_store_forks_each(gs_replica_store(r), fork_one, &c);
    return rc == GS_OK && c.e.stopped < 0 ? GS_ENOMEM : rc;
}
