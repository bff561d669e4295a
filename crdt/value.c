/*
 * value.c — values, the payload of each field kind, their builders and the
 * payload checker.
 *
 * A payload is what an op's update carries; it has exactly one encoding, so
 * every reader here refuses the non-canonical (GS_ENONCANON), bounds every
 * length before reading it, checks the UTF-8 of every string (GS_EUTF8) and
 * refuses trailing bytes (GS_EMALFORMED). The builders write through the
 * same checker, so nothing is built that a receiver would refuse.
 *
 *   value    u8 tag: 0 null, 1 false, 2 true, 3 int (zigzag varint),
 *            4 string (varint length <= GS_STR_BYTES_MAX, UTF-8)
 *   lww      varint base_hlc, value
 *   counter  svarint delta, svarint total (|each| <= 2^62)
 *   set      varint n >= 1, n items strictly ascending by element:
 *            u8 action (1 add, 2 remove), str element (1..GS_STR_BYTES_MAX),
 *            remove only: varint n_tags >= 1, n_tags 32-byte tags strictly
 *            ascending
 *   log      value
 *   stage    varint base_hlc, varint round <= GS_ROUND_MAX,
 *            varint stage <= GS_STAGE_MAX
 *   claim    u8 action (1 claim, 2 withdraw), str claimant
 *            (1..GS_ID_BYTES_MAX)
 *
 * Values compare by their encoding (gs_vref_cmp), which is how lww and log
 * break ties the same way on every replica.
 *
 * SPEC: docs/op-format.md §4 (payloads), §6 (field state).
 */
#include "field.h"

#include <stdlib.h>
#include <string.h>

/* gs_value_read; check: a string's text is checked. */
static gs_err
value_read(gs_rd *r, gs_vref *out, bool check)
{
    uint8_t tag;
    gs_err rc = gs_rd_u8(r, &tag);
    if (rc != GS_OK)
        return rc;
    gs_vref v = {tag, 0, {NULL, 0}};
    switch (tag) {
    case GS_V_NULL:
    case GS_V_FALSE:
    case GS_V_TRUE:
        break;
    case GS_V_INT:
        rc = gs_rd_svarint(r, &v.i);
        break;
    case GS_V_STR:
        rc = gs_rd_str(r, GS_STR_BYTES_MAX, &v.s);
        if (rc == GS_OK && check && !gs_utf8_valid(v.s.p, v.s.n))
            rc = GS_EUTF8;
        break;
    default:
        rc = GS_EMALFORMED;
        break;
    }
    if (rc == GS_OK)
        *out = v;
    return rc;
}

gs_err
gs_value_read(gs_rd *r, gs_vref *out)
{
    return value_read(r, out, true);
}

/* gs_value_write; check: a string's text is checked. */
static gs_err
value_write(gs_buf *b, const gs_vref *v, bool check)
{
    size_t old = b->len;
    gs_err rc;
    switch (v->type) {
    case GS_V_NULL:
    case GS_V_FALSE:
    case GS_V_TRUE:
        return gs_buf_put_u8(b, v->type);
    case GS_V_INT:
        rc = gs_buf_put_u8(b, v->type);
        if (rc == GS_OK)
            rc = gs_buf_put_svarint(b, v->i);
        break;
    case GS_V_STR:
        if (v->s.n > GS_STR_BYTES_MAX)
            return GS_ETOOBIG;
        if (v->s.n > 0 && v->s.p == NULL)
            return GS_EINVAL;
        if (check && !gs_utf8_valid(v->s.p, v->s.n))
            return GS_EUTF8;
        rc = gs_buf_put_u8(b, v->type);
        if (rc == GS_OK)
            rc = gs_buf_put_str(b, v->s.p, v->s.n);
        break;
    default:
        return GS_EINVAL;
    }
    if (rc != GS_OK)
        b->len = old;
    return rc;
}

gs_err
gs_value_write(gs_buf *b, const gs_vref *v)
{
    return value_write(b, v, true);
}

int
gs_vref_cmp(const gs_vref *a, const gs_vref *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case GS_V_INT:
        return gs_varint_cmp(gs_zigzag(a->i), gs_zigzag(b->i));
    case GS_V_STR: {
        int c = gs_varint_cmp(a->s.n, b->s.n);
        if (c != 0 || a->s.n == 0)
            return c;
        return memcmp(a->s.p, b->s.p, a->s.n);
    }
    default:
        return 0;
    }
}

gs_err
gs_value_set(gs_value *dst, const gs_vref *src)
{
    if (src->type > GS_V_STR)
        return GS_EINVAL;
    if (src->type != GS_V_STR) {
        free(dst->s);
        dst->s = NULL;
        dst->n = 0;
        dst->type = src->type;
        dst->i = src->type == GS_V_INT ? src->i : 0;
        return GS_OK;
    }
    if (src->s.n > GS_STR_BYTES_MAX)
        return GS_ETOOBIG;
    if (src->s.n > 0 && src->s.p == NULL)
        return GS_EINVAL;
    if (!gs_utf8_valid(src->s.p, src->s.n))
        return GS_EUTF8;
    if (dst->s != NULL && src->s.p == (const uint8_t *)dst->s &&
        src->s.n == dst->n) {
        dst->type = GS_V_STR; /* already ours */
        dst->i = 0;
        return GS_OK;
    }
    /* A fresh copy, then free the old: src may point into dst->s. */
    char *s = malloc(src->s.n + 1);
    if (s == NULL)
        return GS_ENOMEM;
    if (src->s.n > 0)
        memcpy(s, src->s.p, src->s.n);
    s[src->s.n] = '\0';
    free(dst->s);
    dst->s = s;
    dst->n = src->s.n;
    dst->type = GS_V_STR;
    dst->i = 0;
    return GS_OK;
}

void
gs_value_fini(gs_value *v)
{
    free(v->s);
    v->s = NULL;
    v->n = 0;
    v->type = GS_V_NULL;
    v->i = 0;
}

gs_vref
gs_value_ref(const gs_value *v)
{
    gs_vref r = {v->type, v->i, {(const uint8_t *)v->s, v->n}};
    return r;
}

/* ---- reading payloads ---- */

/* gs_payload_set_next; check: the element's text is checked. */
static gs_err
set_next(gs_rd *r, gs_set_item *it, bool check)
{
    uint8_t action;
    gs_err rc = gs_rd_u8(r, &action);
    if (rc != GS_OK)
        return rc;
    if (action != GS_SET_ADD && action != GS_SET_REMOVE)
        return GS_EMALFORMED;
    gs_slice elem;
    rc = check ? gs_rd_text(r, GS_STR_BYTES_MAX, &elem)
               : gs_rd_str(r, GS_STR_BYTES_MAX, &elem);
    if (rc == GS_OK && elem.n == 0)
        rc = GS_EMALFORMED; /* as gs_rd_text has it */
    if (rc != GS_OK)
        return rc;
    it->action = action;
    it->elem = elem;
    it->n_tags = 0;
    it->tags = NULL;
    if (action == GS_SET_ADD)
        return GS_OK;
    uint64_t nt;
    rc = gs_rd_varint(r, &nt);
    if (rc != GS_OK)
        return rc;
    if (nt == 0)
        return GS_EMALFORMED;
    if (nt > gs_rd_left(r) / GS_HASH_BYTES)
        return GS_ETRUNC;
    gs_slice t;
    rc = gs_rd_bytes(r, (size_t)nt * GS_HASH_BYTES, &t);
    if (rc != GS_OK)
        return rc;
    for (size_t k = 1; k < nt; k++) {
        if (memcmp(t.p + (k - 1) * GS_HASH_BYTES, t.p + k * GS_HASH_BYTES,
                   GS_HASH_BYTES) >= 0)
            return GS_ENONCANON;
    }
    it->n_tags = (size_t)nt;
    it->tags = (const uint8_t(*)[GS_HASH_BYTES])t.p;
    return GS_OK;
}

gs_err
gs_payload_set_next(gs_rd *r, gs_set_item *it)
{
    return set_next(r, it, true);
}

gs_err
gs_payload_set_next_known(gs_rd *r, gs_set_item *it)
{
    return set_next(r, it, false);
}

static gs_err
parse_set(gs_rd *r, gs_payload *out, bool check)
{
    uint64_t n;
    gs_err rc = gs_rd_varint(r, &n);
    if (rc != GS_OK)
        return rc;
    if (n == 0)
        return GS_EMALFORMED;
    if (n > gs_rd_left(r) / 3) /* an item is at least 3 bytes */
        return GS_ETRUNC;
    const uint8_t *start = r->p;
    gs_slice prev = {NULL, 0};
    for (uint64_t i = 0; i < n; i++) {
        gs_set_item it;
        rc = set_next(r, &it, check);
        if (rc != GS_OK)
            return rc;
        if (i > 0 && gs_slice_cmp(prev, it.elem) >= 0)
            return GS_ENONCANON;
        prev = it.elem;
    }
    out->u.set.n = (size_t)n;
    out->u.set.items = gs_slice_of(start, (size_t)(r->p - start));
    return GS_OK;
}

/* gs_payload_parse; check: an lww value's text and a set's elements are
 * checked. */
static gs_err
payload_parse(uint8_t kind, gs_slice p, gs_payload *out, bool check)
{
    if (kind == 0 || kind > GS_KIND_KNOWN_MAX)
        return GS_EKIND;
    if (p.n > GS_PAYLOAD_BYTES_MAX)
        return GS_ETOOBIG;
    if (!check && kind == GS_KIND_LWW && p.n >= 3 && p.p[0] < 0x80 &&
        p.p[1] == GS_V_STR && p.p[2] < 0x80 && (size_t)p.p[2] + 3 == p.n) {
        /* the most common payload of all, read again (an import reads
         * each of its lww updates twice): a base and a string under 128
         * bytes, each length one byte, as the reader below reads them */
        out->kind = kind;
        out->u.lww.base = p.p[0];
        out->u.lww.v = (gs_vref){GS_V_STR, 0, gs_slice_of(p.p + 3, p.p[2])};
        return GS_OK;
    }
    gs_rd r;
    gs_rd_init(&r, p.p, p.n);
    gs_payload pl;
    memset(&pl, 0, sizeof pl);
    pl.kind = kind;
    gs_err rc;
    switch (kind) {
    case GS_KIND_LWW:
        rc = gs_rd_varint(&r, &pl.u.lww.base);
        if (rc == GS_OK)
            rc = value_read(&r, &pl.u.lww.v, check);
        break;
    case GS_KIND_COUNTER:
        rc = gs_rd_svarint(&r, &pl.u.counter.delta);
        if (rc == GS_OK)
            rc = gs_rd_svarint(&r, &pl.u.counter.total);
        if (rc == GS_OK && (pl.u.counter.delta > GS_COUNTER_ABS_MAX ||
                            pl.u.counter.delta < -GS_COUNTER_ABS_MAX ||
                            pl.u.counter.total > GS_COUNTER_ABS_MAX ||
                            pl.u.counter.total < -GS_COUNTER_ABS_MAX))
            rc = GS_ETOOBIG;
        break;
    case GS_KIND_SET:
        rc = parse_set(&r, &pl, check);
        break;
    case GS_KIND_LOG:
        rc = gs_value_read(&r, &pl.u.log);
        break;
    case GS_KIND_STAGE:
        rc = gs_rd_varint(&r, &pl.u.stage.base);
        if (rc == GS_OK)
            rc = gs_rd_varint(&r, &pl.u.stage.round);
        if (rc == GS_OK && pl.u.stage.round > GS_ROUND_MAX)
            rc = GS_ETOOBIG;
        if (rc == GS_OK)
            rc = gs_rd_varint(&r, &pl.u.stage.stage);
        if (rc == GS_OK && pl.u.stage.stage > GS_STAGE_MAX)
            rc = GS_ETOOBIG;
        break;
    default: /* GS_KIND_CLAIM */
        rc = gs_rd_u8(&r, &pl.u.claim.action);
        if (rc == GS_OK && pl.u.claim.action != GS_CLAIM &&
            pl.u.claim.action != GS_WITHDRAW)
            rc = GS_EMALFORMED;
        if (rc == GS_OK)
            rc = gs_rd_text(&r, GS_ID_BYTES_MAX, &pl.u.claim.who);
        break;
    }
    if (rc == GS_OK && gs_rd_left(&r) != 0)
        rc = GS_EMALFORMED;
    if (rc == GS_OK)
        *out = pl;
    return rc;
}

gs_err
gs_payload_parse(uint8_t kind, gs_slice p, gs_payload *out)
{
    return payload_parse(kind, p, out, true);
}

gs_err
gs_payload_parse_known(uint8_t kind, gs_slice p, gs_payload *out)
{
    return payload_parse(kind, p, out, false);
}

static bool
slice_same(gs_slice a, gs_slice b)
{
    return a.p == b.p && a.n == b.n;
}

static bool
vref_same(const gs_vref *a, const gs_vref *b)
{
    return a->type == b->type && a->i == b->i && slice_same(a->s, b->s);
}

bool
gs_payload_same(const gs_payload *a, const gs_payload *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case GS_KIND_LWW:
        return a->u.lww.base == b->u.lww.base &&
               vref_same(&a->u.lww.v, &b->u.lww.v);
    case GS_KIND_COUNTER:
        return a->u.counter.delta == b->u.counter.delta &&
               a->u.counter.total == b->u.counter.total;
    case GS_KIND_SET:
        return a->u.set.n == b->u.set.n &&
               slice_same(a->u.set.items, b->u.set.items);
    case GS_KIND_LOG:
        return vref_same(&a->u.log, &b->u.log);
    case GS_KIND_STAGE:
        return a->u.stage.base == b->u.stage.base &&
               a->u.stage.round == b->u.stage.round &&
               a->u.stage.stage == b->u.stage.stage;
    case GS_KIND_CLAIM:
        return a->u.claim.action == b->u.claim.action &&
               slice_same(a->u.claim.who, b->u.claim.who);
    default:
        return false;
    }
}

gs_err
gs_payload_check(uint8_t kind, gs_slice p)
{
    if (kind == 0)
        return GS_EKIND;
    if (kind > GS_KIND_KNOWN_MAX)
        return GS_OK; /* a newer kind: opaque, relayed unread */
    gs_payload pl;
    return gs_payload_parse(kind, p, &pl);
}

/* ---- builders ---- */

/* Check what a builder wrote from old on; undo it on any error. */
static gs_err
finish(gs_buf *b, size_t old, uint8_t kind, gs_err rc)
{
    if (rc == GS_OK)
        rc = gs_payload_check(kind, gs_slice_of(b->data + old, b->len - old));
    if (rc != GS_OK)
        b->len = old;
    return rc;
}

/* The value is checked as it is written, and a varint and one value are
 * far below GS_PAYLOAD_BYTES_MAX: no parse after (an import writes one
 * of these per field of a record). */
_Static_assert(10 + 1 + 5 + GS_STR_BYTES_MAX <= GS_PAYLOAD_BYTES_MAX,
               "an lww payload (varint base, tag, length, string) fits");
/* gs_payload_lww; check: a string's text is checked. */
static gs_err
payload_lww(gs_buf *b, uint64_t base, const gs_vref *v, bool check)
{
    size_t old = b->len;
    gs_err rc = gs_buf_put_varint(b, base);
    if (rc == GS_OK)
        rc = value_write(b, v, check);
    if (rc != GS_OK)
        b->len = old;
    return rc;
}

gs_err
gs_payload_lww(gs_buf *b, uint64_t base, const gs_vref *v)
{
    return payload_lww(b, base, v, true);
}

gs_err
gs_payload_lww_known(gs_buf *b, uint64_t base, const gs_vref *v)
{
    return payload_lww(b, base, v, false);
}

gs_err
gs_payload_counter(gs_buf *b, int64_t delta, int64_t total)
{
    if (delta > GS_COUNTER_ABS_MAX || delta < -GS_COUNTER_ABS_MAX ||
        total > GS_COUNTER_ABS_MAX || total < -GS_COUNTER_ABS_MAX)
        return GS_ETOOBIG;
    size_t old = b->len;
    gs_err rc = gs_buf_put_svarint(b, delta);
    if (rc == GS_OK)
        rc = gs_buf_put_svarint(b, total);
    return finish(b, old, GS_KIND_COUNTER, rc);
}

static int
item_cmp(const void *a, const void *b)
{
    const gs_set_item *x = *(const gs_set_item *const *)a;
    const gs_set_item *y = *(const gs_set_item *const *)b;
    return gs_slice_cmp(x->elem, y->elem);
}

static int
tag_cmp(const void *a, const void *b)
{
    return memcmp(a, b, GS_HASH_BYTES);
}

/* Write one remove item's tags sorted, duplicates dropped. */
static gs_err
put_tags(gs_buf *b, const gs_set_item *it)
{
    uint8_t(*t)[GS_HASH_BYTES] = malloc(it->n_tags * GS_HASH_BYTES);
    if (t == NULL)
        return GS_ENOMEM;
    memcpy(t, it->tags, it->n_tags * GS_HASH_BYTES);
    qsort(t, it->n_tags, GS_HASH_BYTES, tag_cmp);
    size_t n = 0;
    for (size_t k = 0; k < it->n_tags; k++) {
        if (n == 0 || memcmp(t[n - 1], t[k], GS_HASH_BYTES) != 0)
            memmove(t[n++], t[k], GS_HASH_BYTES);
    }
    gs_err rc = gs_buf_put_varint(b, n);
    if (rc == GS_OK)
        rc = gs_buf_put(b, t, n * GS_HASH_BYTES);
    free(t);
    return rc;
}

gs_err
gs_payload_set(gs_buf *b, const gs_set_item *items, size_t n)
{
    if (n == 0 || items == NULL)
        return GS_EINVAL;
    if (n > GS_PAYLOAD_BYTES_MAX / 3)
        return GS_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        const gs_set_item *it = &items[i];
        if (it->action != GS_SET_ADD && it->action != GS_SET_REMOVE)
            return GS_EINVAL;
        if (it->elem.n == 0 || it->elem.p == NULL)
            return GS_EINVAL;
        if (it->elem.n > GS_STR_BYTES_MAX)
            return GS_ETOOBIG;
        if (!gs_utf8_valid(it->elem.p, it->elem.n))
            return GS_EUTF8;
        if (it->action == GS_SET_REMOVE &&
            (it->n_tags == 0 || it->tags == NULL))
            return GS_EINVAL;
        if (it->action == GS_SET_REMOVE &&
            it->n_tags > GS_PAYLOAD_BYTES_MAX / GS_HASH_BYTES)
            return GS_ETOOBIG;
    }
    const gs_set_item *small[16], **ord = small; /* most: a few */
    if (n > sizeof small / sizeof small[0] &&
        (ord = malloc(n * sizeof *ord)) == NULL)
        return GS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ord[i] = &items[i];
    qsort(ord, n, sizeof *ord, item_cmp);

    size_t old = b->len;
    gs_err rc = GS_OK;
    for (size_t i = 1; i < n; i++) {
        if (gs_slice_cmp(ord[i - 1]->elem, ord[i]->elem) == 0) {
            rc = GS_EINVAL; /* an element may appear once */
            goto out;
        }
    }
    rc = gs_buf_put_varint(b, n);
    for (size_t i = 0; i < n && rc == GS_OK; i++) {
        rc = gs_buf_put_u8(b, ord[i]->action);
        if (rc == GS_OK)
            rc = gs_buf_put_str(b, ord[i]->elem.p, ord[i]->elem.n);
        if (rc == GS_OK && ord[i]->action == GS_SET_REMOVE)
            rc = put_tags(b, ord[i]);
    }
    rc = finish(b, old, GS_KIND_SET, rc);
out:
    if (ord != small)
        free(ord);
    return rc;
}

gs_err
gs_payload_log(gs_buf *b, const gs_vref *v)
{
    size_t old = b->len;
    gs_err rc = gs_value_write(b, v);
    return finish(b, old, GS_KIND_LOG, rc);
}

gs_err
gs_payload_stage(gs_buf *b, uint64_t base, uint64_t round, uint64_t stage)
{
    if (round > GS_ROUND_MAX || stage > GS_STAGE_MAX)
        return GS_ETOOBIG;
    size_t old = b->len;
    gs_err rc = gs_buf_put_varint(b, base);
    if (rc == GS_OK)
        rc = gs_buf_put_varint(b, round);
    if (rc == GS_OK)
        rc = gs_buf_put_varint(b, stage);
    return finish(b, old, GS_KIND_STAGE, rc);
}

gs_err
gs_payload_claim(gs_buf *b, uint8_t action, gs_slice claimant)
{
    if (action != GS_CLAIM && action != GS_WITHDRAW)
        return GS_EINVAL;
    if (claimant.n == 0 || claimant.p == NULL)
        return GS_EINVAL;
    if (claimant.n > GS_ID_BYTES_MAX)
        return GS_ETOOBIG;
    if (!gs_utf8_valid(claimant.p, claimant.n))
        return GS_EUTF8;
    size_t old = b->len;
    gs_err rc = gs_buf_put_u8(b, action);
    if (rc == GS_OK)
        rc = gs_buf_put_str(b, claimant.p, claimant.n);
    return finish(b, old, GS_KIND_CLAIM, rc);
}
