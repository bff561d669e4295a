/*
 * test_entity.c — entities (apply, join, tombstones, unknown kinds, the
 * canonical encoding and its decoder), the streaming state digest, and the
 * in-memory replica state: the same ops in any order, grouping or
 * repetition give the same digest; a different state gives another.
 */
#include "testutil.h"

#include "field.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UPD 8

static uint8_t A[4][GS_KEY_BYTES];

static int
setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        memset(A[i], 0x10 * (i + 1), GS_KEY_BYTES);
    return 0;
}

static gs_slice
S(const char *s)
{
    return gs_slice_of(s, strlen(s));
}

/* ---- building ops by hand ---- */

typedef struct tw {
    gs_op op;
    gs_buf pl[MAX_UPD];
    uint8_t hash[GS_HASH_BYTES];
} tw;

static void
tw_begin(tw *w, const uint8_t *author, uint64_t hlc, const char *type,
         const char *id)
{
    memset(&w->op, 0, sizeof w->op);
    w->op.version = GS_OP_VERSION;
    memcpy(w->op.author, author, GS_KEY_BYTES);
    w->op.scope = S("g1");
    w->op.seq = 1;
    w->op.hlc = hlc;
    w->op.type = S(type);
    w->op.id = S(id);
    for (int i = 0; i < MAX_UPD; i++)
        gs_buf_init(&w->pl[i], GS_PAYLOAD_BYTES_MAX);
}

/* A new update; fill the returned buffer with its payload. */
static gs_buf *
tw_add(tw *w, const char *field, uint8_t kind)
{
    assert_true(w->op.n_updates < MAX_UPD);
    gs_update *u = &w->op.updates[w->op.n_updates];
    u->field = S(field);
    u->kind = kind;
    return &w->pl[w->op.n_updates++];
}

/* Point the updates at their payloads; the hash covers everything that
 * makes the op distinct, plus a serial so no two ops share one. */
static void
tw_end(tw *w)
{
    static uint64_t serial;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, GS_HASH_BYTES);
    serial++;
    crypto_generichash_update(&st, (const uint8_t *)&serial, sizeof serial);
    for (size_t i = 0; i < w->op.n_updates; i++) {
        w->op.updates[i].payload = gs_slice_of(w->pl[i].data, w->pl[i].len);
        crypto_generichash_update(&st, w->pl[i].data, w->pl[i].len);
    }
    crypto_generichash_final(&st, w->hash, GS_HASH_BYTES);
}

static void
tw_fini(tw *w)
{
    for (int i = 0; i < MAX_UPD; i++)
        gs_buf_fini(&w->pl[i]);
}

static void
put_lww_str(tw *w, const char *field, const char *s)
{
    gs_vref v = {GS_V_STR, 0, S(s)};
    assert_int_equal(gs_payload_lww(tw_add(w, field, GS_KIND_LWW), 0, &v),
                     GS_OK);
}

static void
put_lww_bool(tw *w, const char *field, bool b)
{
    gs_vref v = {b ? GS_V_TRUE : GS_V_FALSE, 0, {NULL, 0}};
    assert_int_equal(gs_payload_lww(tw_add(w, field, GS_KIND_LWW), 0, &v),
                     GS_OK);
}

static void
put_log_str(tw *w, const char *field, const char *s)
{
    gs_vref v = {GS_V_STR, 0, S(s)};
    assert_int_equal(gs_payload_log(tw_add(w, field, GS_KIND_LOG), &v), GS_OK);
}

static void
put_set_add(tw *w, const char *field, const char *elem)
{
    gs_set_item it = {GS_SET_ADD, S(elem), 0, NULL};
    assert_int_equal(gs_payload_set(tw_add(w, field, GS_KIND_SET), &it, 1),
                     GS_OK);
}

static void
enc(const gs_entity *e, gs_buf *b)
{
    gs_buf_reset(b);
    assert_int_equal(gs_entity_encode(e, b), GS_OK);
}

static void
assert_same(const gs_entity *x, const gs_entity *y)
{
    gs_buf a, b;
    gs_buf_init(&a, GS_ENTITY_BYTES_MAX);
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    enc(x, &a);
    enc(y, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    gs_buf_fini(&a);
    gs_buf_fini(&b);
}

static void
entity_new(gs_entity *e, const char *type, const char *id)
{
    assert_int_equal(gs_entity_init(e, S(type), S(id)), GS_OK);
}

static const char *
lww_str(const gs_entity *e, const char *field)
{
    const gs_field *f = gs_entity_field(e, field, GS_KIND_LWW);
    gs_vref v;
    if (f == NULL || !gs_field_lww_get(f, &v, NULL) || v.type != GS_V_STR)
        return NULL;
    return (const char *)v.s.p;
}

/* ---- entity ---- */

static void
test_entity_apply_sorts_fields(void **state)
{
    (void)state;
    gs_entity e;
    tw w;
    entity_new(&e, "household", "H-000123");
    tw_begin(&w, A[0], 100, "household", "H-000123");
    put_lww_str(&w, "phone", "13800000000");
    put_lww_str(&w, "address", "Xinxin Rd 12");
    put_set_add(&w, "tags", "elderly-alone");
    put_log_str(&w, "visits", "all well");
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    assert_int_equal(e.n_fields, 4);
    const char *names[] = {"address", "phone", "tags", "visits"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(e.fields[i].name, names[i]);
    assert_string_equal(lww_str(&e, "phone"), "13800000000");
    const gs_field *tags = gs_entity_field(&e, "tags", GS_KIND_SET);
    assert_non_null(tags);
    assert_true(gs_field_set_has(tags, S("elderly-alone")));
    assert_null(gs_entity_field(&e, "tags", GS_KIND_LWW));
    assert_null(gs_entity_field(&e, "nope", GS_KIND_LWW));
    /* applying the op again changes nothing */
    gs_buf b1, b2;
    gs_buf_init(&b1, GS_ENTITY_BYTES_MAX);
    gs_buf_init(&b2, GS_ENTITY_BYTES_MAX);
    enc(&e, &b1);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    enc(&e, &b2);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    gs_buf_fini(&b1);
    gs_buf_fini(&b2);
    tw_fini(&w);
    gs_entity_fini(&e);
}

static void
test_entity_apply_rejects_other_entity(void **state)
{
    (void)state;
    gs_entity e;
    tw w;
    entity_new(&e, "household", "H-1");
    tw_begin(&w, A[0], 100, "household", "H-2");
    put_lww_str(&w, "phone", "1");
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_EINVAL);
    w.op.id = S("H-1");
    w.op.type = S("ticket");
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_EINVAL);
    assert_int_equal(e.n_fields, 0);
    tw_fini(&w);
    gs_entity_fini(&e);
    /* invalid type or id */
    assert_int_equal(gs_entity_init(&e, S("Bad"), S("H-1")), GS_EINVAL);
    assert_int_equal(gs_entity_init(&e, S("household"), S("")), GS_EINVAL);
}

static void
test_entity_apply_bad_update_changes_nothing(void **state)
{
    (void)state;
    gs_entity e;
    tw w;
    entity_new(&e, "household", "H-1");
    tw_begin(&w, A[0], 100, "household", "H-1");
    put_lww_str(&w, "address", "ok");
    gs_buf *bad = tw_add(&w, "phone", GS_KIND_LWW);
    assert_int_equal(gs_buf_put(bad, "\x00\x07", 2), GS_OK); /* bad tag */
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_EMALFORMED);
    assert_int_equal(e.n_fields, 0);
    /* kind 0 is refused whole too */
    w.op.updates[1].kind = 0;
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_EKIND);
    assert_int_equal(e.n_fields, 0);
    tw_fini(&w);
    gs_entity_fini(&e);
}

static void
test_entity_unknown_kinds_skipped(void **state)
{
    (void)state;
    gs_entity e;
    tw w;
    entity_new(&e, "ticket", "T-1");
    tw_begin(&w, A[0], 100, "ticket", "T-1");
    put_lww_str(&w, "title", "broken lamp");
    assert_int_equal(gs_buf_put(tw_add(&w, "urgency", 9), "\xff\x00\x01", 3),
                     GS_OK);
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    assert_int_equal(e.n_fields, 1);
    assert_string_equal(lww_str(&e, "title"), "broken lamp");
    tw_fini(&w);
    /* an op of unknown kinds only: nothing merged, no error */
    tw_begin(&w, A[0], 101, "ticket", "T-1");
    assert_int_equal(gs_buf_put(tw_add(&w, "urgency", 200), "x", 1), GS_OK);
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    assert_int_equal(e.n_fields, 1);
    tw_fini(&w);
    gs_entity_fini(&e);
}

static void
test_entity_field_under_two_kinds(void **state)
{
    (void)state;
    gs_entity e, d;
    tw w;
    entity_new(&e, "ticket", "T-1");
    tw_begin(&w, A[0], 100, "ticket", "T-1");
    put_lww_str(&w, "note", "as lww");
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    tw_begin(&w, A[1], 90, "ticket", "T-1");
    put_log_str(&w, "note", "as log");
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    assert_int_equal(e.n_fields, 2);
    assert_int_equal(e.fields[0].kind, GS_KIND_LWW);
    assert_int_equal(e.fields[1].kind, GS_KIND_LOG);
    assert_string_equal(lww_str(&e, "note"), "as lww");
    const gs_field *lg = gs_entity_field(&e, "note", GS_KIND_LOG);
    assert_non_null(lg);
    assert_int_equal(gs_field_log_count(lg), 1);
    /* and the pair survives the encoding */
    gs_buf b;
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    enc(&e, &b);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_OK);
    assert_same(&d, &e);
    gs_buf_fini(&b);
    gs_entity_fini(&d);
    gs_entity_fini(&e);
}

static void
test_entity_tombstone(void **state)
{
    (void)state;
    gs_entity e;
    tw w;
    entity_new(&e, "household", "H-1");
    tw_begin(&w, A[0], 100, "household", "H-1");
    put_lww_str(&w, "phone", "1");
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    assert_false(gs_entity_deleted(&e));

    tw_begin(&w, A[1], 200, "household", "H-1");
    put_lww_bool(&w, GS_DELETED_FIELD, true);
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    assert_true(gs_entity_deleted(&e));

    /* an older concurrent undelete loses; the edit is still merged */
    tw_begin(&w, A[2], 150, "household", "H-1");
    put_lww_bool(&w, GS_DELETED_FIELD, false);
    put_lww_str(&w, "phone", "2");
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    assert_true(gs_entity_deleted(&e));
    assert_string_equal(lww_str(&e, "phone"), "2");

    /* a later restore wins */
    tw_begin(&w, A[0], 300, "household", "H-1");
    put_lww_bool(&w, GS_DELETED_FIELD, false);
    tw_end(&w);
    assert_int_equal(gs_entity_apply(&e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    assert_false(gs_entity_deleted(&e));
    gs_entity_fini(&e);
}

static void
test_entity_join(void **state)
{
    (void)state;
    gs_entity a, b, ab, ba, other;
    tw w1, w2;
    entity_new(&a, "ticket", "T-7");
    entity_new(&b, "ticket", "T-7");
    tw_begin(&w1, A[0], 100, "ticket", "T-7");
    put_lww_str(&w1, "title", "leaking pipe");
    put_log_str(&w1, "comments", "reported");
    tw_end(&w1);
    tw_begin(&w2, A[1], 110, "ticket", "T-7");
    put_log_str(&w2, "comments", "on my way");
    put_set_add(&w2, "photos", "b2:9f00");
    tw_end(&w2);
    assert_int_equal(gs_entity_apply(&a, &w1.op, w1.hash), GS_OK);
    assert_int_equal(gs_entity_apply(&b, &w2.op, w2.hash), GS_OK);

    entity_new(&ab, "ticket", "T-7");
    entity_new(&ba, "ticket", "T-7");
    assert_int_equal(gs_entity_join(&ab, &a), GS_OK);
    assert_int_equal(gs_entity_join(&ab, &b), GS_OK);
    assert_int_equal(gs_entity_join(&ba, &b), GS_OK);
    assert_int_equal(gs_entity_join(&ba, &a), GS_OK);
    assert_same(&ab, &ba);
    assert_int_equal(ab.n_fields, 3);
    assert_int_equal(
        gs_field_log_count(gs_entity_field(&ab, "comments", GS_KIND_LOG)), 2);
    /* join equals applying both ops */
    assert_int_equal(gs_entity_apply(&a, &w2.op, w2.hash), GS_OK);
    assert_same(&a, &ab);
    /* and is idempotent */
    assert_int_equal(gs_entity_join(&ab, &ba), GS_OK);
    assert_int_equal(gs_entity_join(&ab, &ab), GS_OK);
    assert_same(&a, &ab);

    entity_new(&other, "ticket", "T-8");
    assert_int_equal(gs_entity_join(&other, &a), GS_EINVAL);
    assert_int_equal(other.n_fields, 0);

    tw_fini(&w1);
    tw_fini(&w2);
    gs_entity_fini(&a);
    gs_entity_fini(&b);
    gs_entity_fini(&ab);
    gs_entity_fini(&ba);
    gs_entity_fini(&other);
}

/* An entity with one field of each kind. */
static void
rich_entity(gs_entity *e)
{
    tw w;
    entity_new(e, "wish", "W-42");
    tw_begin(&w, A[0], 1000, "wish", "W-42");
    put_lww_str(&w, "text", "repair my wheelchair");
    assert_int_equal(
        gs_payload_counter(tw_add(&w, "points", GS_KIND_COUNTER), 5, 5), GS_OK);
    put_set_add(&w, "tags", "elderly");
    put_log_str(&w, "diary", "posted");
    assert_int_equal(gs_payload_stage(tw_add(&w, "stage", GS_KIND_STAGE), 0, 0, 2),
                     GS_OK);
    assert_int_equal(gs_payload_claim(tw_add(&w, "taker", GS_KIND_CLAIM),
                                      GS_CLAIM, S("vol-1")),
                     GS_OK);
    tw_end(&w);
    assert_int_equal(gs_entity_apply(e, &w.op, w.hash), GS_OK);
    tw_fini(&w);
}

static void
test_entity_encode_decode_roundtrip(void **state)
{
    (void)state;
    gs_entity e, d;
    gs_buf b, c;
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    gs_buf_init(&c, GS_ENTITY_BYTES_MAX);
    rich_entity(&e);
    assert_int_equal(e.n_fields, 6);
    enc(&e, &b);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_OK);
    enc(&d, &c);
    assert_int_equal(b.len, c.len);
    assert_memory_equal(b.data, c.data, b.len);
    assert_string_equal(d.type, "wish");
    assert_string_equal(d.id, "W-42");
    assert_int_equal(d.n_fields, 6);
    assert_int_equal(
        gs_field_counter_value(gs_entity_field(&d, "points", GS_KIND_COUNTER)),
        5);
    /* an entity with no fields encodes and decodes too */
    gs_entity_fini(&d);
    entity_new(&d, "wish", "W-43");
    enc(&d, &b);
    gs_entity_fini(&d);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_OK);
    assert_int_equal(d.n_fields, 0);
    gs_entity_fini(&d);
    gs_entity_fini(&e);
    gs_buf_fini(&b);
    gs_buf_fini(&c);
}

/* Encode an entity by hand: header then n raw field records. */
static void
hand_entity(gs_buf *b, size_t n)
{
    gs_buf_reset(b);
    assert_int_equal(gs_buf_put_str(b, "wish", 4), GS_OK);
    assert_int_equal(gs_buf_put_str(b, "W-1", 3), GS_OK);
    assert_int_equal(gs_buf_put_varint(b, n), GS_OK);
}

static void
hand_lww_field(gs_buf *b, const char *name, uint8_t kind, bool set)
{
    assert_int_equal(gs_buf_put_str(b, name, strlen(name)), GS_OK);
    assert_int_equal(gs_buf_put_u8(b, kind), GS_OK);
    if (!set) {
        assert_int_equal(gs_buf_put_str(b, "\x00", 1), GS_OK);
        return;
    }
    /* set, hlc, author, base 0, null */
    uint8_t st[1 + 8 + 32 + 1 + 1] = {1};
    assert_int_equal(gs_buf_put_str(b, st, sizeof st), GS_OK);
}

static void
test_entity_decode_rejects(void **state)
{
    (void)state;
    gs_entity e, d;
    gs_buf b;
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    rich_entity(&e);
    enc(&e, &b);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(gs_entity_decode(&d, b.data, n), GS_OK);
    assert_int_equal(gs_buf_put_u8(&b, 0), GS_OK);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_EMALFORMED);
    gs_entity_fini(&e);

    hand_entity(&b, 2);
    hand_lww_field(&b, "a", GS_KIND_LWW, true);
    hand_lww_field(&b, "b", GS_KIND_LWW, true);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_OK);
    gs_entity_fini(&d);

    hand_entity(&b, 2); /* fields out of order */
    hand_lww_field(&b, "b", GS_KIND_LWW, true);
    hand_lww_field(&b, "a", GS_KIND_LWW, true);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_ENONCANON);

    hand_entity(&b, 2); /* a repeated field */
    hand_lww_field(&b, "a", GS_KIND_LWW, true);
    hand_lww_field(&b, "a", GS_KIND_LWW, true);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_ENONCANON);

    hand_entity(&b, 1); /* an empty field */
    hand_lww_field(&b, "a", GS_KIND_LWW, false);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_ENONCANON);

    hand_entity(&b, 1); /* an unknown kind */
    hand_lww_field(&b, "a", 9, true);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_EKIND);

    hand_entity(&b, 1); /* a bad field name */
    hand_lww_field(&b, "A b", GS_KIND_LWW, true);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_EMALFORMED);

    hand_entity(&b, 1000); /* more fields than the input could hold */
    hand_lww_field(&b, "a", GS_KIND_LWW, true);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_ETRUNC);

    gs_buf_reset(&b); /* a bad type name */
    assert_int_equal(gs_buf_put_str(&b, "Wish", 4), GS_OK);
    assert_int_equal(gs_buf_put_str(&b, "W-1", 3), GS_OK);
    assert_int_equal(gs_buf_put_varint(&b, 0), GS_OK);
    assert_int_equal(gs_entity_decode(&d, b.data, b.len), GS_EMALFORMED);
    gs_buf_fini(&b);
}

/* ---- digest ---- */

static void
test_digest_empty_known_answer(void **state)
{
    (void)state;
    uint8_t got[GS_HASH_BYTES], want[GS_HASH_BYTES];
    gs_digest d;
    assert_int_equal(gs_digest_init(&d), GS_OK);
    gs_digest_final(&d, got);
    const char *tag = "gridsync/state/v1";
    crypto_generichash(want, GS_HASH_BYTES, (const uint8_t *)tag, strlen(tag),
                       NULL, 0);
    assert_memory_equal(got, want, GS_HASH_BYTES);
}

static void
test_digest_enforces_order(void **state)
{
    (void)state;
    gs_entity e[5];
    entity_new(&e[0], "ab", "Z");
    entity_new(&e[1], "abc", "A");   /* type "ab" < "abc" */
    entity_new(&e[2], "abc", "A-1"); /* id prefix is smaller */
    entity_new(&e[3], "abc", "B");
    entity_new(&e[4], "b", "A");
    gs_digest d;
    assert_int_equal(gs_digest_init(&d), GS_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gs_digest_add(&d, &e[i]), GS_OK);
    gs_digest_final(&d, NULL);

    uint8_t h1[GS_HASH_BYTES], h2[GS_HASH_BYTES];
    assert_int_equal(gs_digest_init(&d), GS_OK);
    assert_int_equal(gs_digest_add(&d, &e[0]), GS_OK);
    assert_int_equal(gs_digest_add(&d, &e[2]), GS_OK);
    assert_int_equal(gs_digest_add(&d, &e[1]), GS_EINVAL); /* backwards */
    assert_int_equal(gs_digest_add(&d, &e[2]), GS_EINVAL); /* repeated */
    assert_int_equal(gs_digest_add(&d, &e[0]), GS_EINVAL);
    gs_digest_final(&d, h1);
    /* refused entities left the digest as it was */
    assert_int_equal(gs_digest_init(&d), GS_OK);
    assert_int_equal(gs_digest_add(&d, &e[0]), GS_OK);
    assert_int_equal(gs_digest_add(&d, &e[2]), GS_OK);
    gs_digest_final(&d, h2);
    assert_memory_equal(h1, h2, GS_HASH_BYTES);
    for (int i = 0; i < 5; i++)
        gs_entity_fini(&e[i]);
}

/* ---- in-memory state ---- */

enum { N_TYPES = 2, N_IDS = 3 };
static const char *TYPES[N_TYPES] = {"household", "ticket"};
static const char *IDS[N_IDS] = {"H-1", "H-2", "T-9"};

typedef struct rop {
    tw w;
} rop;

/* A random op: one of a few entities, 1..4 of the fields below. */
static void
rop_gen(gs_rng *r, rop *o, uint8_t (*seen)[GS_HASH_BYTES], size_t n_seen)
{
    static const char *elems[] = {"a", "b", "c"};
    tw *w = &o->w;
    tw_begin(w, A[gs_rng_below(r, 3)], 1 + gs_rng_below(r, 20),
             TYPES[gs_rng_below(r, N_TYPES)], IDS[gs_rng_below(r, N_IDS)]);
    do {
        if (gs_rng_below(r, 3) == 0)
            put_lww_bool(w, GS_DELETED_FIELD, gs_rng_below(r, 2));
        if (gs_rng_below(r, 2) == 0) {
            char s[16];
            snprintf(s, sizeof s, "n%u", (unsigned)gs_rng_below(r, 5));
            put_lww_str(w, "name", s);
        }
        if (gs_rng_below(r, 3) == 0)
            assert_int_equal(
                gs_payload_claim(tw_add(w, "owner", GS_KIND_CLAIM),
                                 gs_rng_below(r, 4) ? GS_CLAIM : GS_WITHDRAW,
                                 S(elems[gs_rng_below(r, 3)])),
                GS_OK);
        if (gs_rng_below(r, 3) == 0) {
            int64_t t = (int64_t)gs_rng_below(r, 100);
            assert_int_equal(
                gs_payload_counter(tw_add(w, "points", GS_KIND_COUNTER), t, t),
                GS_OK);
        }
        if (gs_rng_below(r, 3) == 0)
            assert_int_equal(gs_payload_stage(tw_add(w, "stage", GS_KIND_STAGE),
                                              0, gs_rng_below(r, 2),
                                              gs_rng_below(r, 6)),
                             GS_OK);
        if (gs_rng_below(r, 3) == 0) {
            gs_set_item it = {GS_SET_ADD, S(elems[gs_rng_below(r, 3)]), 0,
                              NULL};
            if (n_seen > 0 && gs_rng_below(r, 2)) {
                it.action = GS_SET_REMOVE;
                it.n_tags = 1;
                it.tags = (const uint8_t(*)[GS_HASH_BYTES])
                    seen[gs_rng_below(r, n_seen)];
            }
            assert_int_equal(
                gs_payload_set(tw_add(w, "tags", GS_KIND_SET), &it, 1), GS_OK);
        }
        if (gs_rng_below(r, 3) == 0) {
            gs_vref v = {GS_V_INT, (int64_t)gs_rng_below(r, 3), {NULL, 0}};
            assert_int_equal(
                gs_payload_log(tw_add(w, "visits", GS_KIND_LOG), &v), GS_OK);
        }
    } while (w->op.n_updates == 0);
    tw_end(w);
}

static void
digest_of(const gs_state *s, uint8_t out[GS_HASH_BYTES])
{
    assert_int_equal(gs_state_digest(s, out), GS_OK);
}

static void
test_state_digest_independent_of_order(void **state)
{
    (void)state;
    enum { N_OPS = 60, ROUNDS = 60 };
    gs_rng r;
    gs_rng_seed(&r, gs_test_seed() * 7 + 1);
    rop *ops = calloc(N_OPS, sizeof *ops);
    uint8_t(*seen)[GS_HASH_BYTES] = calloc(N_OPS, GS_HASH_BYTES);
    size_t order[N_OPS];
    assert_non_null(ops);
    assert_non_null(seen);
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < N_OPS; i++) {
            rop_gen(&r, &ops[i], seen, i);
            memcpy(seen[i], ops[i].w.hash, GS_HASH_BYTES);
        }
        gs_state *s1, *s2, *s3, *s4;
        assert_int_equal(gs_state_new(&s1), GS_OK);
        assert_int_equal(gs_state_new(&s2), GS_OK);
        assert_int_equal(gs_state_new(&s3), GS_OK);
        assert_int_equal(gs_state_new(&s4), GS_OK);
        /* s1: in order; s2: shuffled, some twice; s3, s4: two overlapping
         * halves, then joined */
        for (size_t i = 0; i < N_OPS; i++) {
            order[i] = i;
            assert_int_equal(gs_state_apply(s1, &ops[i].w.op, ops[i].w.hash),
                             GS_OK);
        }
        for (size_t i = N_OPS; i-- > 1;) {
            size_t j = gs_rng_below(&r, i + 1);
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (size_t i = 0; i < N_OPS; i++) {
            const rop *o = &ops[order[i]];
            assert_int_equal(gs_state_apply(s2, &o->w.op, o->w.hash), GS_OK);
            if (gs_rng_below(&r, 4) == 0)
                assert_int_equal(gs_state_apply(s2, &o->w.op, o->w.hash),
                                 GS_OK);
            gs_state *half = i < N_OPS * 2 / 3 ? s3 : s4;
            assert_int_equal(gs_state_apply(half, &o->w.op, o->w.hash), GS_OK);
            if (i >= N_OPS / 3 && i < N_OPS * 2 / 3)
                assert_int_equal(gs_state_apply(s4, &o->w.op, o->w.hash),
                                 GS_OK);
        }
        assert_int_equal(gs_state_join(s3, s4), GS_OK);
        uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES], d3[GS_HASH_BYTES];
        digest_of(s1, d1);
        digest_of(s2, d2);
        digest_of(s3, d3);
        assert_memory_equal(d1, d2, GS_HASH_BYTES);
        assert_memory_equal(d1, d3, GS_HASH_BYTES);
        assert_int_equal(gs_state_count(s1), gs_state_count(s2));
        assert_int_equal(gs_state_count(s1), gs_state_count(s3));
        /* every entity agrees, not just the digest */
        for (size_t t = 0; t < N_TYPES; t++) {
            for (size_t i = 0; i < N_IDS; i++) {
                const gs_entity *e1 = gs_state_get(s1, S(TYPES[t]), S(IDS[i]));
                const gs_entity *e3 = gs_state_get(s3, S(TYPES[t]), S(IDS[i]));
                assert_true((e1 == NULL) == (e3 == NULL));
                if (e1 != NULL)
                    assert_same(e1, e3);
            }
        }
        gs_state_free(s1);
        gs_state_free(s2);
        gs_state_free(s3);
        gs_state_free(s4);
        for (size_t i = 0; i < N_OPS; i++)
            tw_fini(&ops[i].w);
    }
    free(ops);
    free(seen);
}

static void
test_state_digest_differs_when_state_differs(void **state)
{
    (void)state;
    gs_state *s1, *s2;
    uint8_t d0[GS_HASH_BYTES], d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    assert_int_equal(gs_state_new(&s1), GS_OK);
    assert_int_equal(gs_state_new(&s2), GS_OK);
    digest_of(s1, d0);
    tw w;
    tw_begin(&w, A[0], 10, "household", "H-1");
    put_lww_str(&w, "phone", "1");
    tw_end(&w);
    assert_int_equal(gs_state_apply(s1, &w.op, w.hash), GS_OK);
    assert_int_equal(gs_state_apply(s2, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    digest_of(s1, d1);
    assert_memory_not_equal(d0, d1, GS_HASH_BYTES);
    tw_begin(&w, A[0], 11, "household", "H-1");
    put_lww_str(&w, "phone", "2");
    tw_end(&w);
    assert_int_equal(gs_state_apply(s2, &w.op, w.hash), GS_OK);
    tw_fini(&w);
    digest_of(s2, d2);
    assert_memory_not_equal(d1, d2, GS_HASH_BYTES);
    /* joining brings them together */
    assert_int_equal(gs_state_join(s1, s2), GS_OK);
    digest_of(s1, d1);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    gs_state_free(s1);
    gs_state_free(s2);
}

static void
test_state_get_many_entities(void **state)
{
    (void)state;
    enum { N = 5000 };
    gs_state *s;
    char id[32];
    assert_int_equal(gs_state_new(&s), GS_OK);
    assert_int_equal(gs_state_count(s), 0);
    assert_null(gs_state_get(s, S("household"), S("H-0")));
    for (int i = 0; i < N; i++) {
        tw w;
        snprintf(id, sizeof id, "H-%06d", i);
        tw_begin(&w, A[i % 3], 10 + i, "household", id);
        put_lww_str(&w, "name", id);
        tw_end(&w);
        assert_int_equal(gs_state_apply(s, &w.op, w.hash), GS_OK);
        tw_fini(&w);
    }
    assert_int_equal(gs_state_count(s), N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "H-%06d", i);
        const gs_entity *e = gs_state_get(s, S("household"), S(id));
        assert_non_null(e);
        assert_string_equal(e->id, id);
        assert_string_equal(lww_str(e, "name"), id);
    }
    assert_null(gs_state_get(s, S("ticket"), S("H-000001")));
    gs_state_free(s);
}

static void
test_state_refused_op_leaves_nothing(void **state)
{
    (void)state;
    gs_state *s;
    assert_int_equal(gs_state_new(&s), GS_OK);
    tw w;
    tw_begin(&w, A[0], 10, "household", "H-1");
    assert_int_equal(gs_buf_put(tw_add(&w, "phone", GS_KIND_LWW), "\x00", 1),
                     GS_OK);
    tw_end(&w);
    assert_int_equal(gs_state_apply(s, &w.op, w.hash), GS_ETRUNC);
    assert_int_equal(gs_state_count(s), 0);
    tw_fini(&w);
    tw_begin(&w, A[0], 10, "household", "H-1");
    put_lww_str(&w, "phone", "1");
    tw_end(&w);
    w.op.type = S("Not A Type");
    assert_int_equal(gs_state_apply(s, &w.op, w.hash), GS_EINVAL);
    assert_int_equal(gs_state_count(s), 0);
    tw_fini(&w);
    gs_state_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entity_apply_sorts_fields),
        cmocka_unit_test(test_entity_apply_rejects_other_entity),
        cmocka_unit_test(test_entity_apply_bad_update_changes_nothing),
        cmocka_unit_test(test_entity_unknown_kinds_skipped),
        cmocka_unit_test(test_entity_field_under_two_kinds),
        cmocka_unit_test(test_entity_tombstone),
        cmocka_unit_test(test_entity_join),
        cmocka_unit_test(test_entity_encode_decode_roundtrip),
        cmocka_unit_test(test_entity_decode_rejects),
        cmocka_unit_test(test_digest_empty_known_answer),
        cmocka_unit_test(test_digest_enforces_order),
        cmocka_unit_test(test_state_digest_independent_of_order),
        cmocka_unit_test(test_state_digest_differs_when_state_differs),
        cmocka_unit_test(test_state_get_many_entities),
        cmocka_unit_test(test_state_refused_op_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
