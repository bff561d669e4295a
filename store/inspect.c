/*
 * inspect.c — what a replica holds, feed by feed: for operators (`gridsync
 * feeds`) and for tests that must assert on the store itself rather than
 * on a listing (read scoping: a tablet holds no op outside its grid).
 */
#include "gridsync.h"

#include "replica_int.h"
#include "store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct feeds_ctx {
    gs_replica_json_fn fn;
    void *ctx;
    int stopped;
};

static int
feed_one(const gs_store_feed_info *f, void *ctx)
{
    struct feeds_ctx *c = ctx;
    char author[65], hash[65];
    sodium_bin2hex(author, sizeof author, f->author, GS_KEY_BYTES);
    sodium_bin2hex(hash, sizeof hash, f->head.hash, GS_HASH_BYTES);
    json_t *o = json_pack("{s:s, s:s%, s:I, s:s, s:b}", "author", author,
                          "scope", (const char *)f->scope.p, f->scope.n,
                          "seq", (json_int_t)f->head.seq, "head", hash,
                          "frozen", f->frozen);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return c->stopped = -1;
    int r = c->fn(s, c->ctx);
    free(s);
    return c->stopped = r;
}

gs_err
gs_replica_feeds(gs_replica *r, const char *under, gs_replica_json_fn fn,
                 void *ctx)
{
    struct feeds_ctx c = {fn, ctx, 0};
    gs_slice u = {(const uint8_t *)under, under ? strlen(under) : 0};
    gs_err rc = gs_store_feeds_each(gs_replica_store(r), u, feed_one, &c);
    return rc == GS_OK && c.stopped < 0 ? GS_ENOMEM : rc;
}
