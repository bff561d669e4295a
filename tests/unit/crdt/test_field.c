/*
 * test_field.c — the field kinds: payload builders and checker, the merge
 * semantics of each kind, the state encoding, and seeded randomized checks
 * of the lattice laws (join commutative, associative, idempotent; apply
 * idempotent and equal to joining the one-op state) on >= 1000 random
 * triples per kind. States are compared by their canonical encodings.
 */
#include "testutil.h"

#include "field.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGEBRA_ROUNDS 1000

static uint8_t A[4][GS_KEY_BYTES]; /* authors, A[0] < A[1] < ... */
static uint8_t TAGS[6][GS_HASH_BYTES];

static int
setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        memset(A[i], 0x10 * (i + 1), GS_KEY_BYTES);
    for (int i = 0; i < 6; i++) {
        uint8_t b = (uint8_t)i;
        crypto_generichash(TAGS[i], GS_HASH_BYTES, &b, 1, NULL, 0);
    }
    return 0;
}

static gs_slice
S(const char *s)
{
    return gs_slice_of(s, strlen(s));
}

static gs_vref
vstr(const char *s)
{
    gs_vref v = {GS_V_STR, 0, S(s)};
    return v;
}

static gs_vref
vint(int64_t i)
{
    gs_vref v = {GS_V_INT, i, {NULL, 0}};
    return v;
}

static gs_vref
vtag(uint8_t t)
{
    gs_vref v = {t, 0, {NULL, 0}};
    return v;
}

static gs_slice
bs(const gs_buf *b)
{
    return gs_slice_of(b->data, b->len);
}

/* An op carrying one update of field f, by author at hlc. */
static void
op_fill(gs_op *op, const uint8_t *author, uint64_t hlc, const gs_field *f,
        const gs_buf *pl)
{
    memset(op, 0, sizeof *op);
    op->version = GS_OP_VERSION;
    memcpy(op->author, author, GS_KEY_BYTES);
    op->scope = S("g1");
    op->seq = 1;
    op->hlc = hlc;
    op->type = S("ticket");
    op->id = S("T-1");
    op->n_updates = 1;
    op->updates[0].field = gs_slice_of(f->name, f->name_n);
    op->updates[0].kind = f->kind;
    op->updates[0].payload = bs(pl);
}

static gs_err
apply_h(gs_field *f, const uint8_t *author, uint64_t hlc, const gs_buf *pl,
        const uint8_t hash[GS_HASH_BYTES])
{
    gs_op op;
    op_fill(&op, author, hlc, f, pl);
    return gs_field_apply(f, &op.updates[0], &op, hash);
}

/* Apply with a content hash derived from (author, hlc, payload). */
static gs_err
apply(gs_field *f, const uint8_t *author, uint64_t hlc, const gs_buf *pl)
{
    uint8_t h[GS_HASH_BYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, GS_HASH_BYTES);
    crypto_generichash_update(&st, author, GS_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)&hlc, sizeof hlc);
    crypto_generichash_update(&st, pl->data, pl->len);
    crypto_generichash_final(&st, h, GS_HASH_BYTES);
    return apply_h(f, author, hlc, pl, h);
}

static void
field_new(gs_field *f, uint8_t kind)
{
    assert_int_equal(gs_field_init(f, S("f"), kind), GS_OK);
}

static void
enc(const gs_field *f, gs_buf *b)
{
    gs_buf_reset(b);
    assert_int_equal(gs_field_state_encode(f, b), GS_OK);
}

static void
assert_same(const gs_field *x, const gs_field *y)
{
    gs_buf a, b;
    gs_buf_init(&a, GS_FIELD_STATE_BYTES_MAX);
    gs_buf_init(&b, GS_FIELD_STATE_BYTES_MAX);
    enc(x, &a);
    enc(y, &b);
    assert_int_equal(a.len, b.len);
    if (a.len > 0)
        assert_memory_equal(a.data, b.data, a.len);
    gs_buf_fini(&a);
    gs_buf_fini(&b);
}

/* Copy through the state encoding (exercises decode; checks the
 * encode -> decode -> encode identity on every use). */
static void
clone(gs_field *dst, const gs_field *src)
{
    gs_buf b;
    gs_buf_init(&b, GS_FIELD_STATE_BYTES_MAX);
    enc(src, &b);
    assert_int_equal(gs_field_state_decode(dst,
                                           gs_slice_of(src->name, src->name_n),
                                           src->kind, b.data, b.len),
                     GS_OK);
    assert_same(dst, src);
    gs_buf_fini(&b);
}

/* ---- payload builders and checker ---- */

static void
test_payload_lww_roundtrip(void **state)
{
    (void)state;
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_vref vals[] = {
        vtag(GS_V_NULL), vtag(GS_V_FALSE), vtag(GS_V_TRUE),
        vint(0),         vint(-1),         vint(INT64_MIN),
        vint(INT64_MAX), vstr(""),         vstr("王小明 13800000000")};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        gs_buf_reset(&b);
        assert_int_equal(gs_payload_lww(&b, 77 + i, &vals[i]), GS_OK);
        gs_payload pl;
        assert_int_equal(gs_payload_parse(GS_KIND_LWW, bs(&b), &pl), GS_OK);
        assert_int_equal(pl.u.lww.base, 77 + i);
        assert_int_equal(gs_vref_cmp(&pl.u.lww.v, &vals[i]), 0);
        assert_int_equal(gs_payload_check(GS_KIND_LWW, bs(&b)), GS_OK);
    }
    gs_buf_fini(&b);
}

static void
test_payload_all_kinds_roundtrip(void **state)
{
    (void)state;
    gs_buf b;
    gs_payload pl;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);

    assert_int_equal(gs_payload_counter(&b, -5, 1000), GS_OK);
    assert_int_equal(gs_payload_parse(GS_KIND_COUNTER, bs(&b), &pl), GS_OK);
    assert_int_equal(pl.u.counter.delta, -5);
    assert_int_equal(pl.u.counter.total, 1000);

    gs_buf_reset(&b);
    gs_vref v = vstr("visited, all well");
    assert_int_equal(gs_payload_log(&b, &v), GS_OK);
    assert_int_equal(gs_payload_parse(GS_KIND_LOG, bs(&b), &pl), GS_OK);
    assert_int_equal(gs_vref_cmp(&pl.u.log, &v), 0);

    gs_buf_reset(&b);
    assert_int_equal(gs_payload_stage(&b, 0, 3, 5), GS_OK);
    assert_int_equal(gs_payload_parse(GS_KIND_STAGE, bs(&b), &pl), GS_OK);
    assert_int_equal(pl.u.stage.round, 3);
    assert_int_equal(pl.u.stage.stage, 5);

    gs_buf_reset(&b);
    assert_int_equal(gs_payload_claim(&b, GS_WITHDRAW, S("vol-7")), GS_OK);
    assert_int_equal(gs_payload_parse(GS_KIND_CLAIM, bs(&b), &pl), GS_OK);
    assert_int_equal(pl.u.claim.action, GS_WITHDRAW);
    assert_int_equal(gs_slice_cmp(pl.u.claim.who, S("vol-7")), 0);

    /* set: items given unsorted with unsorted, repeated tags */
    gs_buf_reset(&b);
    const uint8_t tg[3][GS_HASH_BYTES] = {{9}, {3}, {9}};
    gs_set_item items[] = {
        {GS_SET_REMOVE, S("low-income"), 3, tg},
        {GS_SET_ADD, S("elderly-alone"), 0, NULL},
    };
    assert_int_equal(gs_payload_set(&b, items, 2), GS_OK);
    assert_int_equal(gs_payload_parse(GS_KIND_SET, bs(&b), &pl), GS_OK);
    assert_int_equal(pl.u.set.n, 2);
    gs_rd r;
    gs_set_item it;
    gs_rd_init(&r, pl.u.set.items.p, pl.u.set.items.n);
    assert_int_equal(gs_payload_set_next(&r, &it), GS_OK);
    assert_int_equal(it.action, GS_SET_ADD);
    assert_int_equal(gs_slice_cmp(it.elem, S("elderly-alone")), 0);
    assert_int_equal(gs_payload_set_next(&r, &it), GS_OK);
    assert_int_equal(it.action, GS_SET_REMOVE);
    assert_int_equal(it.n_tags, 2); /* deduplicated, sorted */
    assert_int_equal(it.tags[0][0], 3);
    assert_int_equal(it.tags[1][0], 9);
    assert_int_equal(gs_rd_left(&r), 0);

    /* kinds: 0 is invalid, newer kinds pass unread */
    assert_int_equal(gs_payload_check(0, bs(&b)), GS_EKIND);
    assert_int_equal(gs_payload_check(7, S("\xff\xff anything")), GS_OK);
    gs_buf_fini(&b);
}

static void
test_payload_builders_reject_bad_input(void **state)
{
    (void)state;
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    const uint8_t tg[1][GS_HASH_BYTES] = {{1}};
    gs_set_item dup[] = {{GS_SET_ADD, S("a"), 0, NULL},
                         {GS_SET_REMOVE, S("a"), 1, tg}};
    assert_int_equal(gs_payload_set(&b, dup, 2), GS_EINVAL);
    gs_set_item notags[] = {{GS_SET_REMOVE, S("a"), 0, NULL}};
    assert_int_equal(gs_payload_set(&b, notags, 1), GS_EINVAL);
    gs_set_item empty[] = {{GS_SET_ADD, S(""), 0, NULL}};
    assert_int_equal(gs_payload_set(&b, empty, 1), GS_EINVAL);
    assert_int_equal(gs_payload_set(&b, dup, 0), GS_EINVAL);
    assert_int_equal(gs_payload_counter(&b, 0, (INT64_C(1) << 62) + 1),
                     GS_ETOOBIG);
    assert_int_equal(gs_payload_stage(&b, 0, 0, GS_STAGE_MAX + 1), GS_ETOOBIG);
    assert_int_equal(gs_payload_claim(&b, 3, S("x")), GS_EINVAL);
    gs_vref bad = vstr("a\x01");
    assert_int_equal(gs_payload_lww(&b, 0, &bad), GS_EUTF8);
    gs_vref unk = vtag(9);
    assert_int_equal(gs_payload_log(&b, &unk), GS_EINVAL);
    assert_int_equal(b.len, 0); /* nothing left behind */
    gs_buf_fini(&b);
}

static void
test_payload_check_rejects_truncated(void **state)
{
    (void)state;
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_vref v = vstr("hello");
    assert_int_equal(gs_payload_lww(&b, 300, &v), GS_OK);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(gs_payload_check(GS_KIND_LWW, gs_slice_of(b.data, n)),
                         GS_ETRUNC);
    gs_buf_reset(&b);
    const uint8_t tg[2][GS_HASH_BYTES] = {{1}, {2}};
    gs_set_item items[] = {{GS_SET_ADD, S("a"), 0, NULL},
                           {GS_SET_REMOVE, S("b"), 2, tg}};
    assert_int_equal(gs_payload_set(&b, items, 2), GS_OK);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(gs_payload_check(GS_KIND_SET, gs_slice_of(b.data, n)),
                         GS_ETRUNC);
    /* and a claim, a stage, a counter */
    gs_buf_reset(&b);
    assert_int_equal(gs_payload_claim(&b, GS_CLAIM, S("vol")), GS_OK);
    assert_int_equal(
        gs_payload_check(GS_KIND_CLAIM, gs_slice_of(b.data, b.len - 1)),
        GS_ETRUNC);
    assert_int_equal(gs_payload_check(GS_KIND_STAGE, S("\x01")), GS_ETRUNC);
    assert_int_equal(gs_payload_check(GS_KIND_COUNTER, S("\x02")), GS_ETRUNC);
    gs_buf_fini(&b);
}

static void
test_payload_check_rejects_bad_utf8(void **state)
{
    (void)state;
    /* lww: base 0, string of 2 bytes: an overlong '/' */
    assert_int_equal(
        gs_payload_check(GS_KIND_LWW, gs_slice_of("\x00\x04\x02\xc0\xaf", 5)),
        GS_EUTF8);
    /* log: a lone continuation byte */
    assert_int_equal(gs_payload_check(GS_KIND_LOG, S("\x04\x01\x80")),
                     GS_EUTF8);
    /* set: add of a NUL element */
    assert_int_equal(
        gs_payload_check(GS_KIND_SET, gs_slice_of("\x01\x01\x01\x00", 4)),
        GS_EUTF8);
    /* claim: a surrogate */
    assert_int_equal(gs_payload_check(GS_KIND_CLAIM, S("\x01\x03\xed\xa0\x80")),
                     GS_EUTF8);
}

static void
test_payload_check_rejects_noncanonical(void **state)
{
    (void)state;
    /* set items out of order: "b" then "a" */
    assert_int_equal(gs_payload_check(GS_KIND_SET, S("\x02\x01\x01"
                                                     "b\x01\x01"
                                                     "a")),
                     GS_ENONCANON);
    /* a repeated element */
    assert_int_equal(gs_payload_check(GS_KIND_SET, S("\x02\x01\x01"
                                                     "a\x01\x01"
                                                     "a")),
                     GS_ENONCANON);
    /* remove tags not ascending */
    /* n 1, remove, "x", 2 tags */
    uint8_t q[5 + 2 * GS_HASH_BYTES] = {1, GS_SET_REMOVE, 1, 'x', 2};
    memset(q + 5, 2, 32);
    memset(q + 37, 1, 32);
    assert_int_equal(gs_payload_check(GS_KIND_SET, gs_slice_of(q, 69)),
                     GS_ENONCANON);
    memset(q + 37, 2, 32); /* equal tags */
    assert_int_equal(gs_payload_check(GS_KIND_SET, gs_slice_of(q, 69)),
                     GS_ENONCANON);
    memset(q + 37, 3, 32); /* fine */
    assert_int_equal(gs_payload_check(GS_KIND_SET, gs_slice_of(q, 69)), GS_OK);
    /* a padded varint (base 0 as 0x80 0x00) */
    assert_int_equal(
        gs_payload_check(GS_KIND_LWW, gs_slice_of("\x80\x00\x00", 3)),
        GS_ENONCANON);
    /* trailing bytes */
    assert_int_equal(gs_payload_check(GS_KIND_LOG, gs_slice_of("\x00\x00", 2)),
                     GS_EMALFORMED);
    /* structurally empty set, empty element, remove without tags */
    assert_int_equal(gs_payload_check(GS_KIND_SET, gs_slice_of("\x00", 1)),
                     GS_EMALFORMED);
    assert_int_equal(
        gs_payload_check(GS_KIND_SET, gs_slice_of("\x01\x01\x00\x00", 4)),
        GS_EMALFORMED);
    assert_int_equal(
        gs_payload_check(GS_KIND_SET, gs_slice_of("\x01\x02\x01x\x00", 5)),
        GS_EMALFORMED);
    /* unknown set and claim actions */
    assert_int_equal(gs_payload_check(GS_KIND_SET, S("\x01\x03\x01x")),
                     GS_EMALFORMED);
    assert_int_equal(gs_payload_check(GS_KIND_CLAIM, S("\x03\x01x")),
                     GS_EMALFORMED);
}

static void
test_payload_check_rejects_over_limits(void **state)
{
    (void)state;
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    /* a string one byte over GS_STR_BYTES_MAX */
    assert_int_equal(gs_buf_put_varint(&b, 0), GS_OK);
    assert_int_equal(gs_buf_put_u8(&b, GS_V_STR), GS_OK);
    assert_int_equal(gs_buf_put_varint(&b, GS_STR_BYTES_MAX + 1), GS_OK);
    for (int i = 0; i <= GS_STR_BYTES_MAX; i++)
        assert_int_equal(gs_buf_put_u8(&b, 'a'), GS_OK);
    assert_int_equal(gs_payload_check(GS_KIND_LWW, bs(&b)), GS_ETOOBIG);
    /* a builder refuses it too */
    gs_vref big = {GS_V_STR, 0, gs_slice_of(b.data + 4, GS_STR_BYTES_MAX + 1)};
    gs_buf c;
    gs_buf_init(&c, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_log(&c, &big), GS_ETOOBIG);
    big.s.n = GS_STR_BYTES_MAX;
    assert_int_equal(gs_payload_log(&c, &big), GS_OK);

    /* counter delta and total beyond 2^62 */
    gs_buf_reset(&b);
    assert_int_equal(gs_buf_put_svarint(&b, (INT64_C(1) << 62) + 1), GS_OK);
    assert_int_equal(gs_buf_put_svarint(&b, 0), GS_OK);
    assert_int_equal(gs_payload_check(GS_KIND_COUNTER, bs(&b)), GS_ETOOBIG);
    gs_buf_reset(&b);
    assert_int_equal(gs_buf_put_svarint(&b, 0), GS_OK);
    assert_int_equal(gs_buf_put_svarint(&b, INT64_MIN), GS_OK);
    assert_int_equal(gs_payload_check(GS_KIND_COUNTER, bs(&b)), GS_ETOOBIG);
    /* exactly 2^62 is fine */
    gs_buf_reset(&b);
    assert_int_equal(
        gs_payload_counter(&b, -(INT64_C(1) << 62), INT64_C(1) << 62), GS_OK);

    /* stage and round (after the base) */
    gs_buf_reset(&b);
    assert_int_equal(gs_buf_put_varint(&b, 0), GS_OK);
    assert_int_equal(gs_buf_put_varint(&b, GS_ROUND_MAX + 1), GS_OK);
    assert_int_equal(gs_buf_put_varint(&b, 0), GS_OK);
    assert_int_equal(gs_payload_check(GS_KIND_STAGE, bs(&b)), GS_ETOOBIG);
    assert_int_equal(
        gs_payload_check(GS_KIND_STAGE, gs_slice_of("\x00\x00\x40", 3)),
        GS_ETOOBIG);

    /* claimant longer than an id */
    gs_buf_reset(&b);
    assert_int_equal(gs_buf_put_u8(&b, GS_CLAIM), GS_OK);
    assert_int_equal(gs_buf_put_varint(&b, GS_ID_BYTES_MAX + 1), GS_OK);
    for (int i = 0; i <= GS_ID_BYTES_MAX; i++)
        assert_int_equal(gs_buf_put_u8(&b, 'v'), GS_OK);
    assert_int_equal(gs_payload_check(GS_KIND_CLAIM, bs(&b)), GS_ETOOBIG);

    /* a set whose tag count cannot fit the input */
    assert_int_equal(
        gs_payload_check(GS_KIND_SET, S("\x01\x02\x01x\xff\xff\x03")),
        GS_ETRUNC);
    gs_buf_fini(&b);
    gs_buf_fini(&c);
}

static void
test_payload_check_rejects_unknown_value_tag(void **state)
{
    (void)state;
    assert_int_equal(gs_payload_check(GS_KIND_LOG, S("\x05")), GS_EMALFORMED);
    assert_int_equal(gs_payload_check(GS_KIND_LWW, gs_slice_of("\x00\xff", 2)),
                     GS_EMALFORMED);
}

/* ---- apply semantics ---- */

static void
lww_put_str(gs_field *f, const uint8_t *author, uint64_t hlc, const char *s)
{
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_vref v = vstr(s);
    assert_int_equal(gs_payload_lww(&b, 0, &v), GS_OK);
    assert_int_equal(apply(f, author, hlc, &b), GS_OK);
    gs_buf_fini(&b);
}

static const char *
lww_str(const gs_field *f)
{
    gs_vref v;
    if (!gs_field_lww_get(f, &v, NULL) || v.type != GS_V_STR)
        return NULL;
    return (const char *)v.s.p;
}

static void
test_lww_later_stamp_wins(void **state)
{
    (void)state;
    gs_field f, g;
    field_new(&f, GS_KIND_LWW);
    field_new(&g, GS_KIND_LWW);
    assert_false(gs_field_lww_get(&f, NULL, NULL));
    lww_put_str(&f, A[1], 10, "old");
    lww_put_str(&f, A[0], 20, "new");
    lww_put_str(&g, A[0], 20, "new");
    lww_put_str(&g, A[1], 10, "old"); /* arrives late: loses */
    assert_string_equal(lww_str(&f), "new");
    assert_string_equal(lww_str(&g), "new");
    gs_stamp at;
    gs_vref v;
    assert_true(gs_field_lww_get(&f, &v, &at));
    assert_int_equal(at.hlc, 20);
    assert_memory_equal(at.author, A[0], GS_KEY_BYTES);
    assert_same(&f, &g);
    gs_field_fini(&f);
    gs_field_fini(&g);
}

static void
test_lww_tiebreak_on_author(void **state)
{
    (void)state;
    gs_field f, g;
    field_new(&f, GS_KIND_LWW);
    field_new(&g, GS_KIND_LWW);
    lww_put_str(&f, A[2], 10, "from-2");
    lww_put_str(&f, A[1], 10, "from-1");
    lww_put_str(&g, A[1], 10, "from-1");
    lww_put_str(&g, A[2], 10, "from-2");
    assert_string_equal(lww_str(&f), "from-2");
    assert_string_equal(lww_str(&g), "from-2");
    /* the same stamp twice (a forked device): the value breaks the tie */
    lww_put_str(&f, A[3], 11, "b");
    lww_put_str(&f, A[3], 11, "a");
    lww_put_str(&g, A[3], 11, "a");
    lww_put_str(&g, A[3], 11, "b");
    assert_same(&f, &g);
    gs_field_fini(&f);
    gs_field_fini(&g);
}

static void
ctr_put(gs_field *f, const uint8_t *author, uint64_t hlc, int64_t delta,
        int64_t total)
{
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_counter(&b, delta, total), GS_OK);
    assert_int_equal(apply(f, author, hlc, &b), GS_OK);
    gs_buf_fini(&b);
}

static void
test_counter_sums_author_totals(void **state)
{
    (void)state;
    gs_field f;
    field_new(&f, GS_KIND_COUNTER);
    assert_int_equal(gs_field_counter_value(&f), 0);
    ctr_put(&f, A[0], 1, 5, 5);
    ctr_put(&f, A[1], 1, 3, 3);
    ctr_put(&f, A[0], 2, 3, 8);
    assert_int_equal(gs_field_counter_value(&f), 11);
    /* a stale total (older op seen again or late) changes nothing */
    ctr_put(&f, A[0], 1, 5, 5);
    assert_int_equal(gs_field_counter_value(&f), 11);
    assert_int_equal(gs_field_counter_author_total(&f, A[0]), 8);
    assert_int_equal(gs_field_counter_author_total(&f, A[1]), 3);
    assert_int_equal(gs_field_counter_author_total(&f, A[2]), 0);
    /* a redemption lowers the author's total */
    ctr_put(&f, A[1], 5, -2, 1);
    assert_int_equal(gs_field_counter_value(&f), 9);
    gs_field_fini(&f);
}

static void
test_counter_saturates(void **state)
{
    (void)state;
    gs_field f;
    int64_t big = INT64_C(1) << 62;
    field_new(&f, GS_KIND_COUNTER);
    ctr_put(&f, A[0], 1, big, big);
    ctr_put(&f, A[1], 1, big, big);
    ctr_put(&f, A[2], 1, big, big);
    assert_int_equal(gs_field_counter_value(&f), INT64_MAX);
    gs_field_fini(&f);
    field_new(&f, GS_KIND_COUNTER);
    ctr_put(&f, A[0], 1, -big, -big);
    ctr_put(&f, A[1], 1, -big, -big);
    ctr_put(&f, A[2], 1, -big, -big);
    assert_int_equal(gs_field_counter_value(&f), INT64_MIN);
    gs_field_fini(&f);
}

static void
set_add(gs_field *f, const char *elem, const uint8_t *hash)
{
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_set_item it = {GS_SET_ADD, S(elem), 0, NULL};
    assert_int_equal(gs_payload_set(&b, &it, 1), GS_OK);
    assert_int_equal(apply_h(f, A[0], 1, &b, hash), GS_OK);
    gs_buf_fini(&b);
}

/* Remove elem with the tags f currently sees for it. */
static void
set_remove_seen(gs_field *f, const gs_field *seen, const char *elem,
                const uint8_t *hash)
{
    uint8_t tags[8][GS_HASH_BYTES];
    size_t n = gs_field_set_tags(seen, S(elem), tags, 8);
    assert_true(n > 0 && n <= 8);
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_set_item it = {GS_SET_REMOVE, S(elem), n,
                      (const uint8_t(*)[GS_HASH_BYTES])tags};
    assert_int_equal(gs_payload_set(&b, &it, 1), GS_OK);
    assert_int_equal(apply_h(f, A[1], 2, &b, hash), GS_OK);
    gs_buf_fini(&b);
}

static void
test_set_remove_of_observed_tag_removes(void **state)
{
    (void)state;
    gs_field f;
    field_new(&f, GS_KIND_SET);
    set_add(&f, "elderly-alone", TAGS[0]);
    assert_true(gs_field_set_has(&f, S("elderly-alone")));
    set_remove_seen(&f, &f, "elderly-alone", TAGS[1]);
    assert_false(gs_field_set_has(&f, S("elderly-alone")));
    assert_int_equal(gs_field_set_members(&f, NULL, 0), 0);
    assert_int_equal(gs_field_set_tags(&f, S("elderly-alone"), NULL, 0), 0);
    /* added again by a new op: present again */
    set_add(&f, "elderly-alone", TAGS[2]);
    assert_true(gs_field_set_has(&f, S("elderly-alone")));
    gs_field_fini(&f);
}

static void
test_set_add_wins_over_concurrent_remove(void **state)
{
    (void)state;
    gs_field a, b;
    field_new(&a, GS_KIND_SET);
    field_new(&b, GS_KIND_SET);
    set_add(&a, "x", TAGS[0]);
    assert_int_equal(gs_field_join(&b, &a), GS_OK);
    /* b removes what it saw while a, concurrently, adds x again */
    set_remove_seen(&b, &b, "x", TAGS[1]);
    set_add(&a, "x", TAGS[2]);
    assert_false(gs_field_set_has(&b, S("x")));
    assert_int_equal(gs_field_join(&a, &b), GS_OK);
    assert_int_equal(gs_field_join(&b, &a), GS_OK);
    assert_true(gs_field_set_has(&a, S("x")));
    assert_true(gs_field_set_has(&b, S("x")));
    assert_int_equal(gs_field_set_tags(&a, S("x"), NULL, 0), 1);
    assert_same(&a, &b);
    gs_field_fini(&a);
    gs_field_fini(&b);
}

static void
test_set_remove_spares_element_added_by_same_op(void **state)
{
    (void)state;
    gs_field f;
    field_new(&f, GS_KIND_SET);
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_set_item two[] = {{GS_SET_ADD, S("b"), 0, NULL},
                         {GS_SET_ADD, S("a"), 0, NULL}};
    assert_int_equal(gs_payload_set(&b, two, 2), GS_OK);
    assert_int_equal(apply_h(&f, A[0], 1, &b, TAGS[0]), GS_OK);
    gs_slice m[4];
    assert_int_equal(gs_field_set_members(&f, m, 4), 2);
    assert_int_equal(gs_slice_cmp(m[0], S("a")), 0);
    assert_int_equal(gs_slice_cmp(m[1], S("b")), 0);
    /* both carry the op's hash as tag; removing a must not remove b */
    set_remove_seen(&f, &f, "a", TAGS[1]);
    assert_false(gs_field_set_has(&f, S("a")));
    assert_true(gs_field_set_has(&f, S("b")));
    assert_int_equal(gs_field_set_members(&f, m, 4), 1);
    gs_buf_fini(&b);
    gs_field_fini(&f);
}

static void
log_put(gs_field *f, const uint8_t *author, uint64_t hlc, const char *s)
{
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    gs_vref v = vstr(s);
    assert_int_equal(gs_payload_log(&b, &v), GS_OK);
    assert_int_equal(apply(f, author, hlc, &b), GS_OK);
    gs_buf_fini(&b);
}

static void
test_log_orders_entries(void **state)
{
    (void)state;
    gs_field f;
    field_new(&f, GS_KIND_LOG);
    log_put(&f, A[0], 30, "third");
    log_put(&f, A[1], 10, "first-b");
    log_put(&f, A[0], 10, "first-a");
    log_put(&f, A[2], 20, "second");
    log_put(&f, A[2], 20, "second"); /* the same entry again */
    assert_int_equal(gs_field_log_count(&f), 4);
    const char *want[] = {"first-a", "first-b", "second", "third"};
    for (size_t i = 0; i < 4; i++) {
        const struct gs_log_entry *e = gs_field_log_at(&f, i);
        assert_non_null(e);
        assert_string_equal(e->v.s, want[i]);
    }
    assert_null(gs_field_log_at(&f, 4));
    gs_field_fini(&f);
}

static void
stage_put(gs_field *f, const uint8_t *author, uint64_t hlc, uint64_t round,
          uint64_t stage)
{
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_stage(&b, 0, round, stage), GS_OK);
    assert_int_equal(apply(f, author, hlc, &b), GS_OK);
    gs_buf_fini(&b);
}

enum { REPORTED, ACCEPTED, DISPATCHED, IN_PROGRESS, RESOLVED, CLOSED };

static void
test_stage_reopen_beats_close(void **state)
{
    (void)state;
    gs_field f;
    uint64_t round, stage;
    gs_stamp at;
    field_new(&f, GS_KIND_STAGE);
    stage_put(&f, A[0], 10, 0, ACCEPTED);
    stage_put(&f, A[1], 12, 0, DISPATCHED);
    stage_put(&f, A[0], 11, 0, REPORTED); /* behind: ignored */
    assert_true(gs_field_stage_get(&f, &round, &stage, NULL));
    assert_int_equal(stage, DISPATCHED);
    /* closed on one device at 50, reopened on another at 40 (its clock is
     * behind): the reopen is round 1 and wins */
    stage_put(&f, A[0], 50, 0, CLOSED);
    stage_put(&f, A[2], 40, 1, REPORTED);
    assert_true(gs_field_stage_get(&f, &round, &stage, &at));
    assert_int_equal(round, 1);
    assert_int_equal(stage, REPORTED);
    assert_int_equal(at.hlc, 40);
    /* the same stage written twice keeps the earliest stamp */
    stage_put(&f, A[3], 45, 1, ACCEPTED);
    stage_put(&f, A[1], 44, 1, ACCEPTED);
    stage_put(&f, A[0], 46, 1, ACCEPTED);
    assert_true(gs_field_stage_get(&f, &round, &stage, &at));
    assert_int_equal(stage, ACCEPTED);
    assert_int_equal(at.hlc, 44);
    assert_memory_equal(at.author, A[1], GS_KEY_BYTES);
    gs_field_fini(&f);
}

static void
claim_put(gs_field *f, const uint8_t *author, uint64_t hlc, uint8_t action,
          const char *who)
{
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_claim(&b, action, S(who)), GS_OK);
    assert_int_equal(apply(f, author, hlc, &b), GS_OK);
    gs_buf_fini(&b);
}

static void
assert_claims(const gs_field *f, const char **want, size_t n)
{
    const struct gs_claim_rec *out[8];
    assert_int_equal(gs_field_claims(f, out, 8), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out[i]->who, want[i]);
}

static void
test_claim_earliest_wins(void **state)
{
    (void)state;
    gs_field f, g;
    field_new(&f, GS_KIND_CLAIM);
    field_new(&g, GS_KIND_CLAIM);
    claim_put(&f, A[1], 20, GS_CLAIM, "li");
    claim_put(&f, A[2], 10, GS_CLAIM, "wang");
    claim_put(&g, A[2], 10, GS_CLAIM, "wang");
    claim_put(&g, A[1], 20, GS_CLAIM, "li");
    const char *want[] = {"wang", "li"};
    assert_claims(&f, want, 2);
    assert_claims(&g, want, 2);
    /* a claimant claiming again is listed once, at its first claim */
    claim_put(&f, A[1], 30, GS_CLAIM, "wang");
    assert_claims(&f, want, 2);
    const struct gs_claim_rec *out[1];
    assert_int_equal(gs_field_claims(&f, out, 1), 2); /* count beyond max */
    assert_int_equal(out[0]->at.hlc, 10);
    gs_field_fini(&f);
    gs_field_fini(&g);
}

static void
test_claim_withdraw_then_later_claim(void **state)
{
    (void)state;
    gs_field f;
    field_new(&f, GS_KIND_CLAIM);
    claim_put(&f, A[0], 10, GS_CLAIM, "wang");
    claim_put(&f, A[0], 20, GS_WITHDRAW, "wang");
    assert_claims(&f, NULL, 0);
    claim_put(&f, A[0], 30, GS_CLAIM, "wang");
    const char *want[] = {"wang"};
    assert_claims(&f, want, 1);
    const struct gs_claim_rec *out[1];
    assert_int_equal(gs_field_claims(&f, out, 1), 1);
    assert_int_equal(out[0]->at.hlc, 30);
    /* a withdrawal older than the claim does not cancel it */
    claim_put(&f, A[0], 5, GS_WITHDRAW, "wang");
    assert_claims(&f, want, 1);
    gs_field_fini(&f);
}

static void
test_claim_withdrawn_winner_passes_to_next(void **state)
{
    (void)state;
    gs_field f;
    field_new(&f, GS_KIND_CLAIM);
    claim_put(&f, A[0], 10, GS_CLAIM, "wang");
    claim_put(&f, A[1], 11, GS_CLAIM, "li");
    claim_put(&f, A[2], 12, GS_CLAIM, "zhao");
    const char *before[] = {"wang", "li", "zhao"};
    assert_claims(&f, before, 3);
    claim_put(&f, A[0], 15, GS_WITHDRAW, "wang");
    const char *after[] = {"li", "zhao"};
    assert_claims(&f, after, 2);
    gs_field_fini(&f);
}

static void
test_field_apply_rejects_mismatch(void **state)
{
    (void)state;
    gs_field f, g;
    gs_buf b;
    gs_buf_init(&b, GS_PAYLOAD_BYTES_MAX);
    field_new(&f, GS_KIND_LWW);
    field_new(&g, GS_KIND_LOG);
    gs_vref v = vint(1);
    assert_int_equal(gs_payload_lww(&b, 0, &v), GS_OK);
    gs_op op;
    op_fill(&op, A[0], 1, &f, &b);
    op.updates[0].kind = GS_KIND_LOG;
    assert_int_equal(gs_field_apply(&f, &op.updates[0], &op, TAGS[0]),
                     GS_EINVAL);
    op.updates[0].kind = GS_KIND_LWW;
    op.updates[0].field = S("other");
    assert_int_equal(gs_field_apply(&f, &op.updates[0], &op, TAGS[0]),
                     GS_EINVAL);
    /* a bad payload changes nothing */
    op.updates[0].field = S("f");
    op.updates[0].payload = gs_slice_of("\x00\x09", 2);
    assert_int_equal(gs_field_apply(&f, &op.updates[0], &op, TAGS[0]),
                     GS_EMALFORMED);
    assert_true(gs_field_empty(&f));
    /* join of different kinds or names */
    assert_int_equal(gs_field_join(&f, &g), GS_EINVAL);
    gs_field h;
    assert_int_equal(gs_field_init(&h, S("g"), GS_KIND_LWW), GS_OK);
    assert_int_equal(gs_field_join(&f, &h), GS_EINVAL);
    gs_field_fini(&h);
    /* init: unknown kinds and bad names */
    assert_int_equal(gs_field_init(&h, S("f"), 0), GS_EKIND);
    assert_int_equal(gs_field_init(&h, S("f"), 7), GS_EKIND);
    assert_int_equal(gs_field_init(&h, S("Bad Name"), GS_KIND_LWW), GS_EINVAL);
    assert_int_equal(gs_field_init(&h, S(""), GS_KIND_LWW), GS_EINVAL);
    gs_field_fini(&f);
    gs_field_fini(&g);
    gs_buf_fini(&b);
}

/* ---- state encoding ---- */

static void
test_state_decode_rejects_truncated(void **state)
{
    (void)state;
    gs_field f, g;
    gs_buf b;
    gs_buf_init(&b, GS_FIELD_STATE_BYTES_MAX);
    uint8_t kinds[] = {GS_KIND_LWW, GS_KIND_COUNTER, GS_KIND_SET,
                       GS_KIND_LOG, GS_KIND_STAGE,   GS_KIND_CLAIM};
    for (size_t k = 0; k < sizeof kinds; k++) {
        field_new(&f, kinds[k]);
        gs_buf pl;
        gs_buf_init(&pl, GS_PAYLOAD_BYTES_MAX);
        gs_vref v = vstr("abc");
        gs_set_item it = {GS_SET_ADD, S("abc"), 0, NULL};
        switch (kinds[k]) {
        case GS_KIND_LWW:
            assert_int_equal(gs_payload_lww(&pl, 1, &v), GS_OK);
            break;
        case GS_KIND_COUNTER:
            assert_int_equal(gs_payload_counter(&pl, 1, 100), GS_OK);
            break;
        case GS_KIND_SET:
            assert_int_equal(gs_payload_set(&pl, &it, 1), GS_OK);
            break;
        case GS_KIND_LOG:
            assert_int_equal(gs_payload_log(&pl, &v), GS_OK);
            break;
        case GS_KIND_STAGE:
            assert_int_equal(gs_payload_stage(&pl, 0, 1, 2), GS_OK);
            break;
        default:
            assert_int_equal(gs_payload_claim(&pl, GS_CLAIM, S("abc")), GS_OK);
            break;
        }
        assert_int_equal(apply(&f, A[0], 1000, &pl), GS_OK);
        enc(&f, &b);
        for (size_t n = 0; n < b.len; n++) {
            gs_err rc = gs_field_state_decode(&g, S("f"), kinds[k], b.data, n);
            assert_true(rc == GS_ETRUNC);
        }
        /* and a trailing byte */
        assert_int_equal(gs_buf_put_u8(&b, 0), GS_OK);
        assert_int_equal(
            gs_field_state_decode(&g, S("f"), kinds[k], b.data, b.len),
            GS_EMALFORMED);
        gs_buf_fini(&pl);
        gs_field_fini(&f);
    }
    gs_buf_fini(&b);
}

static void
test_state_decode_rejects_unsorted(void **state)
{
    (void)state;
    gs_field f, g;
    gs_buf b;
    gs_buf_init(&b, GS_FIELD_STATE_BYTES_MAX);
    field_new(&f, GS_KIND_COUNTER);
    ctr_put(&f, A[0], 1, 1, 1);
    ctr_put(&f, A[1], 1, 2, 2);
    enc(&f, &b);
    /* varint n, then two 41-byte records (author, hlc, total) */
    assert_int_equal(b.len, 1 + 2 * 41);
    uint8_t sw[1 + 2 * 41];
    sw[0] = b.data[0];
    memcpy(sw + 1, b.data + 1 + 41, 41);
    memcpy(sw + 1 + 41, b.data + 1, 41);
    assert_int_equal(
        gs_field_state_decode(&g, S("f"), GS_KIND_COUNTER, sw, sizeof sw),
        GS_ENONCANON);
    /* a repeated record */
    memcpy(sw + 1 + 41, sw + 1, 41);
    assert_int_equal(
        gs_field_state_decode(&g, S("f"), GS_KIND_COUNTER, sw, sizeof sw),
        GS_ENONCANON);
    /* a count larger than the input could hold */
    sw[0] = 3;
    assert_int_equal(
        gs_field_state_decode(&g, S("f"), GS_KIND_COUNTER, sw, sizeof sw),
        GS_ETRUNC);
    gs_field_fini(&f);

    /* log entries out of order */
    field_new(&f, GS_KIND_LOG);
    log_put(&f, A[0], 1, "a");
    log_put(&f, A[0], 2, "b");
    enc(&f, &b);
    size_t rec = (b.len - 1) / 2;
    uint8_t *lw = malloc(b.len);
    assert_non_null(lw);
    lw[0] = b.data[0];
    memcpy(lw + 1, b.data + 1 + rec, rec);
    memcpy(lw + 1 + rec, b.data + 1, rec);
    assert_int_equal(gs_field_state_decode(&g, S("f"), GS_KIND_LOG, lw, b.len),
                     GS_ENONCANON);
    free(lw);
    gs_field_fini(&f);

    /* a bool that is neither 0 nor 1, limits in a stage state */
    assert_int_equal(gs_field_state_decode(&g, S("f"), GS_KIND_LWW,
                                           (const uint8_t *)"\x02", 1),
                     GS_EMALFORMED);
    uint8_t st[1 + 1 + 1 + 8 + 32] = {1, 0, 64};
    assert_int_equal(
        gs_field_state_decode(&g, S("f"), GS_KIND_STAGE, st, sizeof st),
        GS_ETOOBIG);
    st[2] = 63;
    assert_int_equal(
        gs_field_state_decode(&g, S("f"), GS_KIND_STAGE, st, sizeof st), GS_OK);
    gs_field_fini(&g);
    /* an empty state of each kind decodes */
    assert_int_equal(gs_field_state_decode(&g, S("f"), GS_KIND_SET,
                                           (const uint8_t *)"\x00\x00", 2),
                     GS_OK);
    assert_true(gs_field_empty(&g));
    gs_field_fini(&g);
    gs_buf_fini(&b);
}

/* ---- randomized lattice laws ---- */

typedef struct rupd {
    const uint8_t *author;
    uint64_t hlc;
    uint8_t hash[GS_HASH_BYTES];
    gs_buf pl;
} rupd;

static gs_vref
rand_value(gs_rng *r)
{
    static const char *strs[] = {"a", "b", "ab", ""};
    switch (gs_rng_below(r, 5)) {
    case 0:
        return vtag(GS_V_NULL);
    case 1:
        return vtag(GS_V_FALSE);
    case 2:
        return vtag(GS_V_TRUE);
    case 3:
        return vint((int64_t)gs_rng_below(r, 300) - 150);
    default:
        return vstr(strs[gs_rng_below(r, 4)]);
    }
}

/* A random update of kind, drawn from small pools so that ops collide,
 * tie and overlap often. */
static void
rupd_gen(gs_rng *r, uint8_t kind, rupd *u)
{
    static const char *elems[] = {"a", "b", "c", "d"};
    u->author = A[gs_rng_below(r, 3)];
    u->hlc = 1 + gs_rng_below(r, 6);
    memcpy(u->hash, TAGS[gs_rng_below(r, 6)], GS_HASH_BYTES);
    gs_buf_init(&u->pl, GS_PAYLOAD_BYTES_MAX);
    gs_vref v = rand_value(r);
    switch (kind) {
    case GS_KIND_LWW:
        assert_int_equal(gs_payload_lww(&u->pl, gs_rng_below(r, 200), &v),
                         GS_OK);
        break;
    case GS_KIND_COUNTER: {
        int64_t t = (int64_t)gs_rng_below(r, 11) - 5;
        assert_int_equal(gs_payload_counter(&u->pl, t, t), GS_OK);
        break;
    }
    case GS_KIND_SET: {
        gs_set_item items[4];
        uint8_t tags[4][3][GS_HASH_BYTES];
        size_t n = 0;
        for (size_t i = 0; i < 4; i++) {
            if (gs_rng_below(r, 2) == 0 && !(i == 3 && n == 0))
                continue;
            gs_set_item *it = &items[n];
            it->elem = S(elems[i]);
            it->action = gs_rng_below(r, 2) ? GS_SET_ADD : GS_SET_REMOVE;
            it->n_tags = 0;
            it->tags = NULL;
            if (it->action == GS_SET_REMOVE) {
                it->n_tags = 1 + gs_rng_below(r, 3);
                for (size_t k = 0; k < it->n_tags; k++)
                    memcpy(tags[n][k], TAGS[gs_rng_below(r, 6)], GS_HASH_BYTES);
                it->tags = (const uint8_t(*)[GS_HASH_BYTES])tags[n];
            }
            n++;
        }
        assert_int_equal(gs_payload_set(&u->pl, items, n), GS_OK);
        break;
    }
    case GS_KIND_LOG:
        assert_int_equal(gs_payload_log(&u->pl, &v), GS_OK);
        break;
    case GS_KIND_STAGE:
        assert_int_equal(
            gs_payload_stage(&u->pl, 0, gs_rng_below(r, 3), gs_rng_below(r, 6)),
            GS_OK);
        break;
    default:
        assert_int_equal(
            gs_payload_claim(&u->pl,
                             gs_rng_below(r, 3) ? GS_CLAIM : GS_WITHDRAW,
                             S(elems[gs_rng_below(r, 3)])),
            GS_OK);
        break;
    }
}

static void
rupd_apply(gs_field *f, const rupd *u)
{
    assert_int_equal(apply_h(f, u->author, u->hlc, &u->pl, u->hash), GS_OK);
}

static void
rand_state(gs_rng *r, uint8_t kind, gs_field *f)
{
    field_new(f, kind);
    size_t n = gs_rng_below(r, 7);
    for (size_t i = 0; i < n; i++) {
        rupd u;
        rupd_gen(r, kind, &u);
        rupd_apply(f, &u);
        gs_buf_fini(&u.pl);
    }
}

static void
joined(gs_field *out, const gs_field *x, const gs_field *y)
{
    clone(out, x);
    assert_int_equal(gs_field_join(out, y), GS_OK);
}

static void
algebra(uint8_t kind)
{
    gs_rng r;
    gs_rng_seed(&r, gs_test_seed() * 31 + kind);
    for (int iter = 0; iter < ALGEBRA_ROUNDS; iter++) {
        gs_field a, b, c, x, y, z, w;
        rand_state(&r, kind, &a);
        rand_state(&r, kind, &b);
        rand_state(&r, kind, &c);

        /* commutative */
        joined(&x, &a, &b);
        joined(&y, &b, &a);
        assert_same(&x, &y);
        /* associative: (a b) c == a (b c) */
        joined(&z, &x, &c);
        gs_field_fini(&y);
        joined(&y, &b, &c);
        joined(&w, &a, &y);
        assert_same(&z, &w);
        gs_field_fini(&x);
        gs_field_fini(&y);
        gs_field_fini(&z);
        gs_field_fini(&w);
        /* idempotent, also joined with itself */
        joined(&x, &a, &a);
        assert_same(&x, &a);
        assert_int_equal(gs_field_join(&x, &x), GS_OK);
        assert_same(&x, &a);
        gs_field_fini(&x);

        /* apply idempotent, and the same as joining the one-op state */
        rupd u;
        rupd_gen(&r, kind, &u);
        clone(&x, &a);
        rupd_apply(&x, &u);
        clone(&y, &x);
        rupd_apply(&y, &u);
        assert_same(&x, &y);
        field_new(&z, kind);
        rupd_apply(&z, &u);
        joined(&w, &a, &z);
        assert_same(&x, &w);
        gs_buf_fini(&u.pl);
        gs_field_fini(&x);
        gs_field_fini(&y);
        gs_field_fini(&z);
        gs_field_fini(&w);

        gs_field_fini(&a);
        gs_field_fini(&b);
        gs_field_fini(&c);
    }
}

static void
test_field_lww_algebra(void **state)
{
    (void)state;
    algebra(GS_KIND_LWW);
}

static void
test_field_counter_algebra(void **state)
{
    (void)state;
    algebra(GS_KIND_COUNTER);
}

static void
test_field_set_algebra(void **state)
{
    (void)state;
    algebra(GS_KIND_SET);
}

static void
test_field_log_algebra(void **state)
{
    (void)state;
    algebra(GS_KIND_LOG);
}

static void
test_field_stage_algebra(void **state)
{
    (void)state;
    algebra(GS_KIND_STAGE);
}

static void
test_field_claim_algebra(void **state)
{
    (void)state;
    algebra(GS_KIND_CLAIM);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_lww_roundtrip),
        cmocka_unit_test(test_payload_all_kinds_roundtrip),
        cmocka_unit_test(test_payload_builders_reject_bad_input),
        cmocka_unit_test(test_payload_check_rejects_truncated),
        cmocka_unit_test(test_payload_check_rejects_bad_utf8),
        cmocka_unit_test(test_payload_check_rejects_noncanonical),
        cmocka_unit_test(test_payload_check_rejects_over_limits),
        cmocka_unit_test(test_payload_check_rejects_unknown_value_tag),
        cmocka_unit_test(test_lww_later_stamp_wins),
        cmocka_unit_test(test_lww_tiebreak_on_author),
        cmocka_unit_test(test_counter_sums_author_totals),
        cmocka_unit_test(test_counter_saturates),
        cmocka_unit_test(test_set_remove_of_observed_tag_removes),
        cmocka_unit_test(test_set_add_wins_over_concurrent_remove),
        cmocka_unit_test(test_set_remove_spares_element_added_by_same_op),
        cmocka_unit_test(test_log_orders_entries),
        cmocka_unit_test(test_stage_reopen_beats_close),
        cmocka_unit_test(test_claim_earliest_wins),
        cmocka_unit_test(test_claim_withdraw_then_later_claim),
        cmocka_unit_test(test_claim_withdrawn_winner_passes_to_next),
        cmocka_unit_test(test_field_apply_rejects_mismatch),
        cmocka_unit_test(test_state_decode_rejects_truncated),
        cmocka_unit_test(test_state_decode_rejects_unsorted),
        cmocka_unit_test(test_field_lww_algebra),
        cmocka_unit_test(test_field_counter_algebra),
        cmocka_unit_test(test_field_set_algebra),
        cmocka_unit_test(test_field_log_algebra),
        cmocka_unit_test(test_field_stage_algebra),
        cmocka_unit_test(test_field_claim_algebra),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
