/*
 * inspect.c — what a replica holds, feed by feed: for operators (`gridsync
 * feeds`, `gridsync forks`) and for tests that must assert on the store
 * itself rather than on a listing (read scoping: a tablet holds no op
 * outside its grid; a forked feed froze in the same place everywhere);
 * and the conflicts queue (`gridsync conflicts`), below.
 */
#include "gridsync.h"

#include "json.h"
#include "replica_int.h"
#include "store.h"
#include "trust.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
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

/* ---- the conflicts queue ----
 *
 * A replica keeps only the winner of an lww or stage field, but its op log
 * keeps every write, and each such update carries its base: the hlc of the
 * stamp its writer saw in the field (docs/op-format.md §4). A write W that
 * beats a write L overruled L *concurrently* if W's writer had not seen L
 * when it wrote: a writer that had applied L holds a stamp at least L's
 * in the field (lww only moves to greater stamps; a stage moves to greater
 * stages, whose stamp the writer shows), so W.base < L.hlc. One exception:
 * W's writer saw L's very value, written by another op M (two devices
 * closing one ticket): then W.base is M's hlc, and L lost nothing.
 *
 * Only the write that took L's place can have overruled it: the writes of
 * a field are put in the order they win in, and each is held against the
 * next one of another value. If that one saw L, L was replaced on purpose
 * (a later write unseen by L then overruled the replacement, not L); the
 * same value written again just after L (two devices, one number) stands
 * with L, and the last of them is held against what follows. O(k log k)
 * for k writes of a field. Claims need no base: the earliest surviving
 * claim wins and every other surviving claim lost to it (crdt/field.h).
 * Every replica holding the same ops lists the same conflicts. */

#define CONFLICT_WRITES_MAX (1u << 22) /* lww and stage writes of one entity */

struct cwrite {
    size_t name_at, name_n; /* field name in the arena */
    size_t pay_at, pay_n;   /* payload in the arena */
    const uint8_t *name;    /* set, with pl, once the arena stops moving */
    uint8_t kind;
    gs_stamp at;
    gs_payload pl;
};

struct conflicts_ctx {
    struct emit e; /* first: emit takes the context */
    gs_replica *r;
    gs_store *st;
    const gs_schema *sc;
    const char *grid; /* NULL: all */
    gs_buf arena;
    struct cwrite *w;
    size_t n, cap;
    gs_err rc;
};

/* Keep the lww and stage updates of one op of the entity's history. */
static int
conflict_collect(const uint8_t *bytes, size_t len,
                 const uint8_t hash[GS_HASH_BYTES], void *ctx)
{
    struct conflicts_ctx *c = ctx;
    gs_op op;
    (void)hash;
    if ((c->rc = gs_op_decode(bytes, len, &op)) != GS_OK)
        return 1;
    for (size_t i = 0; i < op.n_updates; i++) {
        const gs_update *u = &op.updates[i];
        if (u->kind != GS_KIND_LWW && u->kind != GS_KIND_STAGE)
            continue;
        void *grown = c->w;
        c->rc = c->n >= CONFLICT_WRITES_MAX
                    ? GS_ETOOBIG
                    : gs_grow(&grown, &c->cap, c->n + 1, sizeof *c->w);
        c->w = grown;
        if (c->rc != GS_OK)
            return 1;
        struct cwrite *w = &c->w[c->n];
        memset(w, 0, sizeof *w);
        w->kind = u->kind;
        w->at.hlc = op.hlc;
        memcpy(w->at.author, op.author, GS_KEY_BYTES);
        w->name_at = c->arena.len;
        w->name_n = u->field.n;
        if ((c->rc = gs_buf_put(&c->arena, u->field.p, u->field.n)) != GS_OK)
            return 1;
        w->pay_at = c->arena.len;
        w->pay_n = u->payload.n;
        if ((c->rc = gs_buf_put(&c->arena, u->payload.p, u->payload.n)) !=
            GS_OK)
            return 1;
        c->n++;
    }
    return 0;
}

/* By field (name, kind). */
static int
field_cmp(const struct cwrite *a, const struct cwrite *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    size_t n = a->name_n < b->name_n ? a->name_n : b->name_n;
    int c = memcmp(a->name, b->name, n);
    return c ? c : a->name_n < b->name_n ? -1 : a->name_n > b->name_n;
}

/* Do a and b (of one field) hold the same value? */
static bool
same_value(const struct cwrite *a, const struct cwrite *b)
{
    if (a->kind == GS_KIND_LWW)
        return gs_vref_cmp(&a->pl.u.lww.v, &b->pl.u.lww.v) == 0;
    return a->pl.u.stage.round == b->pl.u.stage.round &&
           a->pl.u.stage.stage == b->pl.u.stage.stage;
}

/* qsort: by field, then in the order writes win (the merge's: lww by
 * (stamp, base, value), a stage by (round, stage), then its stamp). */
static int
write_order(const void *pa, const void *pb)
{
    const struct cwrite *a = pa, *b = pb;
    int c = field_cmp(a, b);
    if (c != 0)
        return c;
    if (a->kind == GS_KIND_LWW)
        return gs_lww_cmp(&a->at, a->pl.u.lww.base, &a->pl.u.lww.v, &b->at,
                          b->pl.u.lww.base, &b->pl.u.lww.v);
    if (a->pl.u.stage.round != b->pl.u.stage.round)
        return a->pl.u.stage.round < b->pl.u.stage.round ? -1 : 1;
    if (a->pl.u.stage.stage != b->pl.u.stage.stage)
        return a->pl.u.stage.stage < b->pl.u.stage.stage ? -1 : 1;
    return gs_stamp_cmp(&a->at, &b->at);
}

static uint64_t
write_base(const struct cwrite *w)
{
    return w->kind == GS_KIND_LWW ? w->pl.u.lww.base : w->pl.u.stage.base;
}

/* Did w's writer not see l? f[0..n) are the writes of their field. */
static bool
unseen(const struct cwrite *w, const struct cwrite *l, const struct cwrite *f,
       size_t n)
{
    uint64_t base = write_base(w);
    if (base >= l->at.hlc)
        return false;
    for (size_t m = 0; m < n; m++)
        if (f[m].at.hlc == base && same_value(&f[m], l))
            return false; /* it saw l's value, written by another op */
    return true;
}

/* The device's name from its certificate, else the first 16 hex digits
 * of its key. */
static json_t *
device_json(gs_store *st, const uint8_t author[GS_KEY_BYTES])
{
    char hex[65];
    gs_entity cert;
    gs_cert_view v;
    json_t *name = NULL;
    gs_trust_id(author, hex);
    if (gs_store_entity_get(st, gs_slice_of(GS_TRUST_CERT, strlen(GS_TRUST_CERT)),
                            gs_slice_of(hex, 64), &cert) == GS_OK) {
        gs_cert_view_read(&cert, &v);
        if (v.name.n > 0)
            name = json_stringn((const char *)v.name.p, v.name.n);
        gs_entity_fini(&cert);
    }
    if (name == NULL) {
        hex[16] = 0;
        name = json_string(hex);
    }
    return name;
}

/* {"value", "at", "hlc", "author", "device"} of one write. */
static json_t *
side_json(const struct conflicts_ctx *c, const gs_stamp *at, json_t *value)
{
    char iso[GS_JSON_TIME_BYTES], hex[65];
    gs_json_time(at->hlc, iso);
    gs_trust_id(at->author, hex);
    return json_pack("{s:o, s:s, s:I, s:s, s:o}", "value",
                     value ? value : json_null(), "at", iso, "hlc",
                     (json_int_t)at->hlc, "author", hex, "device",
                     device_json(c->st, at->author));
}

static json_t *
write_value(const gs_schema_field *sf, const struct cwrite *w)
{
    if (w->kind == GS_KIND_LWW)
        return gs_json_value(&w->pl.u.lww.v);
    const char *name =
        sf ? gs_schema_stage_name(sf, w->pl.u.stage.stage) : NULL;
    return name ? json_pack("{s:I, s:s}", "round",
                            (json_int_t)w->pl.u.stage.round, "stage", name)
                : json_pack("{s:I, s:I}", "round",
                            (json_int_t)w->pl.u.stage.round, "stage",
                            (json_int_t)w->pl.u.stage.stage);
}

/* Emit one conflict; non-zero to stop. */
static int
conflict_emit(struct conflicts_ctx *c, const gs_entity *e, const char *grid,
              const char *field, const char *kind, json_t *lost, json_t *won,
              const char *why)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "type",
                          e->type, "id", e->id, "field", field, "kind", kind,
                          "lost", lost ? lost : json_null(), "won",
                          won ? won : json_null(), "why", why);
    if (o && grid)
        json_object_set_new(o, "grid", json_string(grid));
    return emit(&c->e, o);
}

/* The grid an entity lies in: its own `grid`, or its household's (a
 * resident without one, as the report counts it); "" if none. */
static void
entity_grid(struct conflicts_ctx *c, const gs_entity *e, char *out,
            size_t size)
{
    gs_vref v;
    gs_stamp at;
    const gs_field *f = gs_entity_field(e, "grid", GS_KIND_LWW);
    out[0] = 0;
    if (f && gs_field_lww_get(f, &v, &at) && v.type == GS_V_STR) {
        snprintf(out, size, "%.*s", (int)v.s.n, (const char *)v.s.p);
        return;
    }
    f = gs_entity_field(e, "household", GS_KIND_LWW);
    gs_entity h;
    if (f && gs_field_lww_get(f, &v, &at) && v.type == GS_V_STR &&
        gs_store_entity_get(c->st, gs_slice_of("household", 9), v.s, &h) ==
            GS_OK) {
        const gs_field *g = gs_entity_field(&h, "grid", GS_KIND_LWW);
        if (g && gs_field_lww_get(g, &v, &at) && v.type == GS_V_STR)
            snprintf(out, size, "%.*s", (int)v.s.n, (const char *)v.s.p);
        gs_entity_fini(&h);
    }
}

/* Claim losers, from the state alone. */
static int
claims_of(struct conflicts_ctx *c, const gs_entity *e, const gs_field *f,
          const char *grid)
{
    size_t n = gs_field_claims(f, NULL, 0);
    const struct gs_claim_rec **cl;
    int stop = 0;
    if (n < 2)
        return 0;
    if ((cl = calloc(n, sizeof *cl)) == NULL) {
        c->rc = GS_ENOMEM;
        return 1;
    }
    gs_field_claims(f, cl, n);
    for (size_t i = 1; i < n && !stop; i++)
        stop = conflict_emit(
            c, e, grid, f->name, "claim",
            side_json(c, &cl[i]->at,
                      json_stringn(cl[i]->who, cl[i]->who_n)),
            side_json(c, &cl[0]->at,
                      json_stringn(cl[0]->who, cl[0]->who_n)),
            "claimed later");
    free(cl);
    return stop;
}

/* The overruled lww and stage writes of e, from its history. */
static int
writes_of(struct conflicts_ctx *c, const gs_entity *e, const char *grid)
{
    const gs_schema_type *t =
        c->sc ? gs_schema_type_get(c->sc, gs_slice_of(e->type, e->type_n))
              : NULL;
    int stop = 0;
    c->n = 0;
    gs_buf_reset(&c->arena);
    gs_err rc = gs_store_history(c->st, gs_slice_of(e->type, e->type_n),
                                 gs_slice_of(e->id, e->id_n),
                                 conflict_collect, c);
    if (rc != GS_OK || c->rc != GS_OK) {
        if (c->rc == GS_OK)
            c->rc = rc;
        return 1;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct cwrite *w = &c->w[i];
        w->name = c->arena.data + w->name_at;
        /* the store took these ops: their payloads check */
        if ((c->rc = gs_payload_parse(
                 w->kind, gs_slice_of(c->arena.data + w->pay_at, w->pay_n),
                 &w->pl)) != GS_OK)
            return 1;
    }
    if (c->n > 1)
        qsort(c->w, c->n, sizeof *c->w, write_order);
    for (size_t f = 0, end; f < c->n && !stop; f = end) {
        /* the writes of one field: c->w[f, end) */
        for (end = f + 1; end < c->n && field_cmp(&c->w[f], &c->w[end]) == 0;
             end++)
            ;
        for (size_t i = f; i + 1 < end && !stop; i++) {
            const struct cwrite *l = &c->w[i], *s = &c->w[i + 1];
            if (same_value(l, s) || !unseen(s, l, &c->w[f], end - f))
                continue;
            char name[GS_NAME_BYTES_MAX + 1];
            snprintf(name, sizeof name, "%.*s", (int)l->name_n,
                     (const char *)l->name);
            const gs_schema_field *sf =
                t ? gs_schema_field_get(t, gs_slice_of(name, l->name_n))
                  : NULL;
            if (sf && sf->kind != l->kind)
                sf = NULL;
            stop = conflict_emit(
                c, e, grid, name, gs_schema_kind_name(l->kind),
                side_json(c, &l->at, write_value(sf, l)),
                side_json(c, &s->at, write_value(sf, s)),
                "written without seeing it");
        }
    }
    return stop;
}

static int
conflicts_entity(const gs_entity *e, size_t touched, void *ctx)
{
    struct conflicts_ctx *c = ctx;
    char grid[GS_ID_BYTES_MAX + 1];
    bool claims = false, writes = false;
    int stop = 0;
    for (size_t i = 0; i < e->n_fields; i++) {
        const gs_field *f = &e->fields[i];
        claims |= f->kind == GS_KIND_CLAIM && gs_field_claims(f, NULL, 0) > 1;
        /* one op alone overrules nothing: no history read (most records) */
        writes |= touched > 1 &&
                  (f->kind == GS_KIND_LWW || f->kind == GS_KIND_STAGE);
    }
    if (!claims && !writes)
        return 0;
    entity_grid(c, e, grid, sizeof grid);
    if (c->grid && !(grid[0] && gs_scope_covers(
                                    gs_slice_of(c->grid, strlen(c->grid)),
                                    gs_slice_of(grid, strlen(grid)))))
        return 0;
    for (size_t i = 0; claims && i < e->n_fields && !stop; i++)
        if (e->fields[i].kind == GS_KIND_CLAIM)
            stop = claims_of(c, e, &e->fields[i], grid[0] ? grid : NULL);
    if (!stop && writes)
        stop = writes_of(c, e, grid[0] ? grid : NULL);
    return stop;
}

gs_err
gs_replica_conflicts(gs_replica *r, const char *grid, gs_replica_json_fn fn,
                     void *ctx)
{
    struct conflicts_ctx c = {{fn, ctx, 0}, r, gs_replica_store(r),
                              gs_replica_schema(r), grid, {0}, NULL, 0, 0,
                              GS_OK};
    if (grid && !gs_scope_valid((const uint8_t *)grid, strlen(grid))) {
        gs_replica_detail_set(r, "the grid is an org path such as "
                                 "yc.yimei.nanjun.xinxin.g012");
        return GS_EINVAL;
    }
    gs_buf_init(&c.arena, GS_ENTITY_BYTES_MAX);
    gs_err rc = gs_store_entity_each_touched(c.st, gs_slice_of("", 0),
                                             conflicts_entity, &c);
    gs_buf_fini(&c.arena);
    free(c.w);
    if (rc == GS_OK)
        rc = c.rc;
    return rc == GS_OK && c.e.stopped < 0 ? GS_ENOMEM : rc;
}
