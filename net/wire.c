/*
 * wire.c — encode and decode of the sync protocol's messages, the zstd run
 * list of OPS/PUSH and the compact op form.
 *
 * Invariants: every decoder compares each length and count with its limit
 * and with the bytes left before it reads (lists: count <= left / smallest
 * item), and allocates only in gs_wire_batch_decode, after the frame's
 * declared content size has been checked against GS_WIRE_BATCH_MAX. Every
 * encoder runs the matching decoder on what it wrote and rolls back on
 * refusal, so the two can never drift apart: decode(encode(x)) == x and
 * encode(decode(b)) == b for every accepted b (fuzz_wire_msg checks it).
 *
 * SPEC: docs/protocol.md §2, §3, §5, §7.
 */
#include "wire.h"
#include "field.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#define ZSTD_LEVEL 3
/* smallest encodings, for "count <= left / min" checks */
#define FEED_MIN (GS_KEY_BYTES + 1)
#define COP_MIN (8 + 2 + 2 + 1 + 2 + 1 + 1)
#define RUN_MIN (GS_KEY_BYTES + 2 + 1 + 1 + COP_MIN + GS_SIG_BYTES)

static const uint8_t zero_hash[GS_HASH_BYTES];

#define TRY(call)                                                              \
    do {                                                                       \
        if ((rc = (call)) != GS_OK)                                            \
            goto out;                                                          \
    } while (0)

/* ---- reading helpers ---- */

static gs_err
rd_fixed(gs_rd *r, size_t n, uint8_t *out)
{
    gs_slice s;
    gs_err rc = gs_rd_bytes(r, n, &s);
    if (rc == GS_OK)
        memcpy(out, s.p, n);
    return rc;
}

static gs_err
rd_scope(gs_rd *r, gs_slice *out)
{
    gs_err rc = gs_rd_str(r, GS_SCOPE_BYTES_MAX, out);
    if (rc != GS_OK)
        return rc;
    return gs_scope_valid(out->p, out->n) ? GS_OK : GS_EUTF8;
}

static gs_err
rd_name(gs_rd *r, size_t max, bool (*valid)(const uint8_t *, size_t),
        gs_slice *out)
{
    gs_err rc = gs_rd_str(r, max, out);
    if (rc != GS_OK)
        return rc;
    return valid(out->p, out->n) ? GS_OK : GS_EUTF8;
}

/* A list count: over max is GS_ETOOBIG, more items than the bytes left
 * could hold is GS_ETRUNC, zero when one is required GS_EMALFORMED. */
static gs_err
rd_count(gs_rd *r, size_t max, size_t min_item, bool nonzero, size_t *out)
{
    uint64_t v;
    gs_err rc = gs_rd_varint(r, &v);
    if (rc != GS_OK)
        return rc;
    if (v > max)
        return GS_ETOOBIG;
    if (v > gs_rd_left(r) / min_item)
        return GS_ETRUNC;
    if (nonzero && v == 0)
        return GS_EMALFORMED;
    *out = (size_t)v;
    return GS_OK;
}

static gs_err
rd_feed(gs_rd *r, bool bound, gs_wire_feed *f)
{
    gs_err rc = rd_fixed(r, GS_KEY_BYTES, f->author);
    if (rc != GS_OK)
        return rc;
    if ((rc = gs_rd_str(r, GS_SCOPE_BYTES_MAX, &f->scope)) != GS_OK)
        return rc;
    if (bound && f->scope.n == 0)
        return GS_OK;
    return gs_scope_valid(f->scope.p, f->scope.n) ? GS_OK : GS_EUTF8;
}

static int
feed_cmp(const gs_wire_feed *a, const gs_wire_feed *b)
{
    int c = memcmp(a->author, b->author, GS_KEY_BYTES);
    return c ? c : gs_slice_cmp(a->scope, b->scope);
}

static bool
code_valid(const uint8_t *p, size_t n)
{
    if (n == 0 || n > GS_WIRE_CODE_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
              p[i] == '_'))
            return false;
    return true;
}

static bool
slice_eq(gs_slice a, gs_slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

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

/* ---- message bodies ---- */

static gs_err
dec_hello(gs_rd *r, gs_wire_hello *h)
{
    gs_err rc;
    if ((rc = rd_fixed(r, GS_KEY_BYTES, h->network)) != GS_OK)
        return rc;
    if ((rc = rd_fixed(r, GS_KEY_BYTES, h->device)) != GS_OK)
        return rc;
    if ((rc = gs_rd_str(r, GS_WIRE_CERT_BYTES_MAX, &h->cert)) != GS_OK)
        return rc;
    if ((rc = rd_count(r, GS_WIRE_SCOPES_MAX, 2, false, &h->n_scopes)))
        return rc;
    for (size_t i = 0; i < h->n_scopes; i++) {
        if ((rc = rd_scope(r, &h->scopes[i])) != GS_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (slice_eq(h->scopes[j], h->scopes[i]))
                return GS_EMALFORMED;
    }
    if ((rc = gs_rd_varint(r, &h->max_msg)) != GS_OK)
        return rc;
    return gs_rd_varint(r, &h->flags);
}

static gs_err
dec_summary(gs_rd *r, gs_wire_summary *s)
{
    gs_err rc;
    if ((rc = rd_count(r, GS_WIRE_SCOPES_MAX, 2 + 1 + GS_WIRE_FP_BYTES, false,
                       &s->n)))
        return rc;
    for (size_t i = 0; i < s->n; i++) {
        gs_wire_sum *e = &s->scopes[i];
        if ((rc = rd_scope(r, &e->scope)) != GS_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (slice_eq(s->scopes[j].scope, e->scope))
                return GS_EMALFORMED;
        if ((rc = gs_rd_varint(r, &e->feeds)) != GS_OK)
            return rc;
        if ((rc = rd_fixed(r, GS_WIRE_FP_BYTES, e->fp)) != GS_OK)
            return rc;
    }
    return GS_OK;
}

/* Range body: lower bound, u8 form (0: count and fingerprint, 1: heads
 * listed), then varint count + 16-byte fp, or varint n + n (feed, seq). */
static gs_err
dec_ranges(gs_rd *r, gs_wire_ranges *g)
{
    gs_err rc;
    g->n_ranges = g->n_heads = 0;
    if ((rc = rd_count(r, GS_WIRE_SCOPES_MAX, 2 + 1, false, &g->n_scopes)))
        return rc;
    for (size_t i = 0; i < g->n_scopes; i++) {
        gs_wire_scope_ranges *sc = &g->scopes[i];
        size_t nr;
        if ((rc = rd_scope(r, &sc->scope)) != GS_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (slice_eq(g->scopes[j].scope, sc->scope))
                return GS_EMALFORMED;
        if ((rc = rd_count(r, GS_WIRE_RANGES_MAX, FEED_MIN + 2, true, &nr)))
            return rc;
        if (nr > GS_WIRE_RANGES_MAX - g->n_ranges)
            return GS_ETOOBIG;
        sc->n_ranges = nr;
        const gs_wire_head *last = NULL; /* last head of this scope */
        for (size_t k = 0; k < nr; k++) {
            gs_wire_range *rg = &g->ranges[g->n_ranges];
            uint8_t form;
            if ((rc = rd_feed(r, true, &rg->lower)) != GS_OK)
                return rc;
            if (k > 0 && feed_cmp(&rg[-1].lower, &rg->lower) >= 0)
                return GS_EMALFORMED;
            if (last && feed_cmp(&last->feed, &rg->lower) >= 0)
                return GS_EMALFORMED;
            g->n_ranges++;
            if ((rc = gs_rd_u8(r, &form)) != GS_OK)
                return rc;
            if (form > 1)
                return GS_EMALFORMED;
            rg->listed = form == 1;
            rg->n_heads = 0;
            if (!rg->listed) {
                if ((rc = gs_rd_varint(r, &rg->count)) != GS_OK)
                    return rc;
                if ((rc = rd_fixed(r, GS_WIRE_FP_BYTES, rg->fp)) != GS_OK)
                    return rc;
                continue;
            }
            memset(rg->fp, 0, sizeof rg->fp);
            size_t nh;
            if ((rc = rd_count(r, GS_WIRE_HEADS_MAX, FEED_MIN + 2, true, &nh)))
                return rc;
            if (nh > GS_WIRE_HEADS_MAX - g->n_heads)
                return GS_ETOOBIG;
            rg->n_heads = nh;
            rg->count = nh;
            for (size_t h = 0; h < nh; h++) {
                gs_wire_head *hd = &g->heads[g->n_heads];
                if ((rc = rd_feed(r, false, &hd->feed)) != GS_OK)
                    return rc;
                if ((rc = gs_rd_varint(r, &hd->seq)) != GS_OK)
                    return rc;
                if (hd->seq == 0)
                    return GS_EMALFORMED;
                /* at or above the bound, then strictly ascending */
                if (h == 0 ? feed_cmp(&rg->lower, &hd->feed) > 0
                           : feed_cmp(&last->feed, &hd->feed) >= 0)
                    return GS_EMALFORMED;
                last = hd;
                g->n_heads++;
            }
        }
    }
    return GS_OK;
}

static gs_err
dec_want(gs_rd *r, gs_wire_wants *w)
{
    gs_err rc;
    if ((rc = rd_count(r, GS_WIRE_WANTS_MAX, FEED_MIN + 1, false, &w->n)))
        return rc;
    for (size_t i = 0; i < w->n; i++) {
        gs_wire_want *e = &w->feeds[i];
        if ((rc = rd_feed(r, false, &e->feed)) != GS_OK)
            return rc;
        if (i > 0 && feed_cmp(&w->feeds[i - 1].feed, &e->feed) >= 0)
            return GS_EMALFORMED;
        if ((rc = gs_rd_varint(r, &e->from)) != GS_OK)
            return rc;
        if (e->from == 0)
            return GS_EMALFORMED;
    }
    return GS_OK;
}

/* The frame's header: one zstd frame, nothing after it, content size
 * declared and 1..GS_WIRE_BATCH_MAX. Reads no more than the header. */
static gs_err
frame_check(gs_slice f, size_t *size)
{
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (f.n < 4)
        return GS_ETRUNC;
    if (memcmp(f.p, magic, 4) != 0)
        return GS_EMALFORMED; /* skippable or foreign frames too */
    unsigned long long cs = ZSTD_getFrameContentSize(f.p, f.n);
    if (cs == ZSTD_CONTENTSIZE_ERROR)
        return GS_EMALFORMED;
    if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs > GS_WIRE_BATCH_MAX)
        return GS_ETOOBIG;
    if (cs == 0)
        return GS_EMALFORMED;
    size_t fs = ZSTD_findFrameCompressedSize(f.p, f.n);
    if (ZSTD_isError(fs))
        return ZSTD_getErrorCode(fs) == ZSTD_error_srcSize_wrong
                   ? GS_ETRUNC
                   : GS_EMALFORMED;
    if (fs != f.n)
        return GS_EMALFORMED;
    *size = (size_t)cs;
    return GS_OK;
}

static gs_err
dec_ops(gs_rd *r, gs_wire_ops *o)
{
    size_t size;
    gs_err rc = gs_rd_varint(r, &o->batch);
    if (rc != GS_OK)
        return rc;
    if ((rc = gs_rd_bytes(r, gs_rd_left(r), &o->frame)) != GS_OK)
        return rc;
    return frame_check(o->frame, &size);
}

static gs_err
dec_ack(gs_rd *r, gs_wire_ack *a)
{
    gs_err rc;
    if ((rc = gs_rd_varint(r, &a->batch)) != GS_OK ||
        (rc = gs_rd_varint(r, &a->applied)) != GS_OK ||
        (rc = gs_rd_varint(r, &a->known)) != GS_OK ||
        (rc = gs_rd_varint(r, &a->rejected)) != GS_OK)
        return rc;
    if ((rc = rd_count(r, GS_WIRE_REFUSED_MAX, 3, false, &a->n_refused)))
        return rc;
    for (size_t i = 0; i < a->n_refused; i++) {
        gs_wire_refused *e = &a->refused[i];
        if ((rc = gs_rd_varint(r, &e->run)) != GS_OK)
            return rc;
        if (e->run >= GS_WIRE_RUNS_MAX)
            return GS_ETOOBIG;
        if (i > 0 && a->refused[i - 1].run >= e->run)
            return GS_EMALFORMED;
        if ((rc = gs_rd_str(r, GS_WIRE_CODE_BYTES_MAX, &e->code)) != GS_OK)
            return rc;
        if (!code_valid(e->code.p, e->code.n))
            return GS_EMALFORMED;
    }
    return GS_OK;
}

static gs_err
dec_error(gs_rd *r, gs_wire_error *e)
{
    gs_err rc = gs_rd_str(r, GS_WIRE_CODE_BYTES_MAX, &e->code);
    if (rc != GS_OK)
        return rc;
    if (!code_valid(e->code.p, e->code.n))
        return GS_EMALFORMED;
    if ((rc = gs_rd_str(r, GS_WIRE_TEXT_BYTES_MAX, &e->text)) != GS_OK)
        return rc;
    return gs_utf8_valid(e->text.p, e->text.n) ? GS_OK : GS_EUTF8;
}

gs_err
gs_wire_decode(const uint8_t *p, size_t n, gs_wire_msg *m)
{
    gs_rd r;
    uint8_t version;
    gs_slice s;
    gs_err rc;

    if (n > GS_WIRE_MSG_MAX)
        return GS_ETOOBIG;
    gs_rd_init(&r, p, n);
    if ((rc = gs_rd_u8(&r, &version)) != GS_OK)
        return rc;
    if (version != GS_WIRE_VERSION)
        return GS_EVERSION;
    if ((rc = gs_rd_u8(&r, &m->type)) != GS_OK)
        return rc;
    if ((rc = gs_rd_bytes(&r, 4, &s)) != GS_OK)
        return rc;
    m->session = (uint32_t)s.p[0] << 24 | (uint32_t)s.p[1] << 16 |
                 (uint32_t)s.p[2] << 8 | s.p[3];
    switch (m->type) {
    case GS_WIRE_HELLO:
    case GS_WIRE_WELCOME:
        rc = dec_hello(&r, &m->u.hello);
        break;
    case GS_WIRE_SUMMARY:
        rc = dec_summary(&r, &m->u.summary);
        break;
    case GS_WIRE_RANGES:
        rc = dec_ranges(&r, &m->u.ranges);
        break;
    case GS_WIRE_WANT:
        rc = dec_want(&r, &m->u.want);
        break;
    case GS_WIRE_OPS:
    case GS_WIRE_PUSH:
        rc = dec_ops(&r, &m->u.ops);
        break;
    case GS_WIRE_ACK:
        rc = dec_ack(&r, &m->u.ack);
        break;
    case GS_WIRE_ERROR:
        rc = dec_error(&r, &m->u.error);
        break;
    case GS_WIRE_BYE:
        break;
    default:
        return GS_EMALFORMED;
    }
    if (rc != GS_OK)
        return rc;
    return gs_rd_left(&r) == 0 ? GS_OK : GS_EMALFORMED;
}

/* ---- encoding ---- */

static gs_err
put_feed(gs_buf *b, const gs_wire_feed *f)
{
    gs_err rc = gs_buf_put(b, f->author, GS_KEY_BYTES);
    return rc ? rc : gs_buf_put_str(b, f->scope.p, f->scope.n);
}

static gs_err
enc_body(const gs_wire_msg *m, gs_buf *b)
{
    gs_err rc = GS_OK;
    switch (m->type) {
    case GS_WIRE_HELLO:
    case GS_WIRE_WELCOME: {
        const gs_wire_hello *h = &m->u.hello;
        if (h->n_scopes > GS_WIRE_SCOPES_MAX)
            return GS_ETOOBIG;
        TRY(gs_buf_put(b, h->network, GS_KEY_BYTES));
        TRY(gs_buf_put(b, h->device, GS_KEY_BYTES));
        TRY(gs_buf_put_str(b, h->cert.p, h->cert.n));
        TRY(gs_buf_put_varint(b, h->n_scopes));
        for (size_t i = 0; i < h->n_scopes; i++)
            TRY(gs_buf_put_str(b, h->scopes[i].p, h->scopes[i].n));
        TRY(gs_buf_put_varint(b, h->max_msg));
        TRY(gs_buf_put_varint(b, h->flags));
        break;
    }
    case GS_WIRE_SUMMARY: {
        const gs_wire_summary *s = &m->u.summary;
        if (s->n > GS_WIRE_SCOPES_MAX)
            return GS_ETOOBIG;
        TRY(gs_buf_put_varint(b, s->n));
        for (size_t i = 0; i < s->n; i++) {
            TRY(gs_buf_put_str(b, s->scopes[i].scope.p, s->scopes[i].scope.n));
            TRY(gs_buf_put_varint(b, s->scopes[i].feeds));
            TRY(gs_buf_put(b, s->scopes[i].fp, GS_WIRE_FP_BYTES));
        }
        break;
    }
    case GS_WIRE_RANGES: {
        const gs_wire_ranges *g = &m->u.ranges;
        size_t ri = 0, hi = 0;
        if (g->n_scopes > GS_WIRE_SCOPES_MAX ||
            g->n_ranges > GS_WIRE_RANGES_MAX || g->n_heads > GS_WIRE_HEADS_MAX)
            return GS_ETOOBIG;
        TRY(gs_buf_put_varint(b, g->n_scopes));
        for (size_t i = 0; i < g->n_scopes; i++) {
            const gs_wire_scope_ranges *sc = &g->scopes[i];
            if (sc->n_ranges > g->n_ranges - ri)
                return GS_EINVAL;
            TRY(gs_buf_put_str(b, sc->scope.p, sc->scope.n));
            TRY(gs_buf_put_varint(b, sc->n_ranges));
            for (size_t k = 0; k < sc->n_ranges; k++, ri++) {
                const gs_wire_range *rg = &g->ranges[ri];
                TRY(put_feed(b, &rg->lower));
                TRY(gs_buf_put_u8(b, rg->listed ? 1 : 0));
                if (!rg->listed) {
                    TRY(gs_buf_put_varint(b, rg->count));
                    TRY(gs_buf_put(b, rg->fp, GS_WIRE_FP_BYTES));
                    continue;
                }
                if (rg->n_heads > g->n_heads - hi)
                    return GS_EINVAL;
                TRY(gs_buf_put_varint(b, rg->n_heads));
                for (size_t h = 0; h < rg->n_heads; h++, hi++) {
                    TRY(put_feed(b, &g->heads[hi].feed));
                    TRY(gs_buf_put_varint(b, g->heads[hi].seq));
                }
            }
        }
        if (ri != g->n_ranges || hi != g->n_heads)
            return GS_EINVAL;
        break;
    }
    case GS_WIRE_WANT: {
        const gs_wire_wants *w = &m->u.want;
        if (w->n > GS_WIRE_WANTS_MAX)
            return GS_ETOOBIG;
        TRY(gs_buf_put_varint(b, w->n));
        for (size_t i = 0; i < w->n; i++) {
            TRY(put_feed(b, &w->feeds[i].feed));
            TRY(gs_buf_put_varint(b, w->feeds[i].from));
        }
        break;
    }
    case GS_WIRE_OPS:
    case GS_WIRE_PUSH:
        TRY(gs_buf_put_varint(b, m->u.ops.batch));
        TRY(gs_buf_put(b, m->u.ops.frame.p, m->u.ops.frame.n));
        break;
    case GS_WIRE_ACK: {
        const gs_wire_ack *a = &m->u.ack;
        if (a->n_refused > GS_WIRE_REFUSED_MAX)
            return GS_ETOOBIG;
        TRY(gs_buf_put_varint(b, a->batch));
        TRY(gs_buf_put_varint(b, a->applied));
        TRY(gs_buf_put_varint(b, a->known));
        TRY(gs_buf_put_varint(b, a->rejected));
        TRY(gs_buf_put_varint(b, a->n_refused));
        for (size_t i = 0; i < a->n_refused; i++) {
            TRY(gs_buf_put_varint(b, a->refused[i].run));
            TRY(gs_buf_put_str(b, a->refused[i].code.p, a->refused[i].code.n));
        }
        break;
    }
    case GS_WIRE_ERROR:
        TRY(gs_buf_put_str(b, m->u.error.code.p, m->u.error.code.n));
        TRY(gs_buf_put_str(b, m->u.error.text.p, m->u.error.text.n));
        break;
    case GS_WIRE_BYE:
        break;
    default:
        return GS_EINVAL;
    }
out:
    return rc;
}

gs_err
gs_wire_encode(const gs_wire_msg *m, gs_buf *out)
{
    size_t old = out->len;
    uint8_t hdr[GS_WIRE_HEADER_BYTES] = {GS_WIRE_VERSION,
                                         m->type,
                                         (uint8_t)(m->session >> 24),
                                         (uint8_t)(m->session >> 16),
                                         (uint8_t)(m->session >> 8),
                                         (uint8_t)m->session};
    gs_wire_msg *check = NULL;
    gs_err rc = GS_OK;

    TRY(gs_buf_put(out, hdr, sizeof hdr));
    TRY(enc_body(m, out));
    if (out->len - old > GS_WIRE_MSG_MAX) {
        rc = GS_ETOOBIG;
        goto out;
    }
    /* One set of rules: what we write must be what any decoder accepts. */
    check = malloc(sizeof *check);
    if (!check) {
        rc = GS_ENOMEM;
        goto out;
    }
    rc = gs_wire_decode(out->data + old, out->len - old, check);
out:
    free(check);
    if (rc != GS_OK)
        out->len = old;
    return rc;
}

/* ---- compact ops and runs ---- */

/* One compact op into op's hlc, type, id and updates, checked as
 * gs_op_decode checks them. */
static gs_err
cop_read(gs_rd *r, gs_op *op)
{
    gs_err rc;

    if ((rc = gs_rd_u64be(r, &op->hlc)) != GS_OK)
        return rc;
    if ((rc = rd_name(r, GS_NAME_BYTES_MAX, gs_name_valid, &op->type)))
        return rc;
    if ((rc = rd_name(r, GS_ID_BYTES_MAX, gs_id_valid, &op->id)))
        return rc;
    return gs_op_read_updates(r, op);
}

/* Size of the canonical op rebuilt from a compact op of cop bytes. */
static size_t
op_size(size_t cop, gs_slice scope, uint64_t seq)
{
    return 1 + GS_KEY_BYTES + varint_len(scope.n) + scope.n + varint_len(seq) +
           GS_HASH_BYTES + cop;
}

static gs_err
run_read(gs_rd *r, gs_wire_run *run)
{
    gs_slice s;
    gs_op op;
    gs_err rc;

    if ((rc = rd_fixed(r, GS_KEY_BYTES, run->author)) != GS_OK)
        return rc;
    if ((rc = rd_scope(r, &run->scope)) != GS_OK)
        return rc;
    if ((rc = gs_rd_varint(r, &run->first_seq)) != GS_OK)
        return rc;
    if (run->first_seq == 0)
        return GS_EMALFORMED;
    if ((rc = rd_count(r, GS_WIRE_RUN_OPS_MAX, COP_MIN, true, &run->n)))
        return rc;
    if (run->first_seq > UINT64_MAX - (run->n - 1))
        return GS_EMALFORMED;
    const uint8_t *start = r->p;
    for (size_t i = 0; i < run->n; i++) {
        const uint8_t *p0 = r->p;
        if ((rc = cop_read(r, &op)) != GS_OK)
            return rc;
        if (op_size((size_t)(r->p - p0), run->scope, run->first_seq + i) >
            GS_OP_BYTES_MAX)
            return GS_ETOOBIG;
    }
    run->ops = gs_slice_of(start, (size_t)(r->p - start));
    if ((rc = gs_rd_bytes(r, GS_SIG_BYTES, &s)) != GS_OK)
        return rc;
    gs_sig_decode(s.p, &run->sig);
    return GS_OK;
}

void
gs_wire_batch_fini(gs_wire_batch *b)
{
    free(b->raw);
    free(b->runs);
    memset(b, 0, sizeof *b);
}

gs_err
gs_wire_batch_decode(gs_slice frame, gs_wire_batch *b)
{
    size_t size, n;
    gs_rd r;
    gs_err rc = GS_OK;

    memset(b, 0, sizeof *b);
    if ((rc = frame_check(frame, &size)) != GS_OK)
        return rc;
    b->raw = malloc(size);
    if (!b->raw)
        return GS_ENOMEM;
    size_t got = ZSTD_decompress(b->raw, size, frame.p, frame.n);
    if (ZSTD_isError(got) || got != size) {
        rc = GS_EMALFORMED;
        goto out;
    }
    b->raw_len = size;
    gs_rd_init(&r, b->raw, size);
    TRY(rd_count(&r, GS_WIRE_RUNS_MAX, RUN_MIN, true, &n));
    b->runs = calloc(n, sizeof *b->runs);
    if (!b->runs) {
        rc = GS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        TRY(run_read(&r, &b->runs[i]));
    b->n_runs = n;
    if (gs_rd_left(&r) != 0)
        rc = GS_EMALFORMED;
out:
    if (rc != GS_OK)
        gs_wire_batch_fini(b);
    return rc;
}

gs_err
gs_wire_runs_encode(const gs_wire_run *runs, size_t n, gs_buf *raw)
{
    size_t old = raw->len;
    uint8_t sig[GS_SIG_BYTES];
    gs_err rc = GS_OK;

    if (n == 0)
        return GS_EMALFORMED;
    if (n > GS_WIRE_RUNS_MAX)
        return GS_ETOOBIG;
    TRY(gs_buf_put_varint(raw, n));
    for (size_t i = 0; i < n; i++) {
        const gs_wire_run *run = &runs[i];
        size_t at = raw->len;
        gs_wire_run check;
        gs_rd r;
        TRY(gs_buf_put(raw, run->author, GS_KEY_BYTES));
        TRY(gs_buf_put_str(raw, run->scope.p, run->scope.n));
        TRY(gs_buf_put_varint(raw, run->first_seq));
        TRY(gs_buf_put_varint(raw, run->n));
        TRY(gs_buf_put(raw, run->ops.p, run->ops.n));
        gs_sig_encode(&run->sig, sig);
        TRY(gs_buf_put(raw, sig, sizeof sig));
        /* the run must read back as itself, its ops slice exactly n ops */
        gs_rd_init(&r, raw->data + at, raw->len - at);
        TRY(run_read(&r, &check));
        if (gs_rd_left(&r) != 0 || check.ops.n != run->ops.n) {
            rc = GS_EMALFORMED;
            goto out;
        }
    }
    if (raw->len - old > GS_WIRE_BATCH_MAX)
        rc = GS_ETOOBIG;
out:
    if (rc != GS_OK)
        raw->len = old;
    return rc;
}

gs_err
gs_wire_batch_compress(const gs_wire_run *runs, size_t n, gs_buf *frame)
{
    gs_buf raw;
    uint8_t *tmp = NULL;
    size_t old = frame->len;
    gs_err rc = GS_OK;

    gs_buf_init(&raw, GS_WIRE_BATCH_MAX);
    TRY(gs_wire_runs_encode(runs, n, &raw));
    size_t bound = ZSTD_compressBound(raw.len);
    tmp = malloc(bound);
    if (!tmp) {
        rc = GS_ENOMEM;
        goto out;
    }
    size_t got = ZSTD_compress(tmp, bound, raw.data, raw.len, ZSTD_LEVEL);
    if (ZSTD_isError(got)) {
        rc = GS_ENOMEM; /* bound is always enough: only memory can fail */
        goto out;
    }
    TRY(gs_buf_put(frame, tmp, got));
out:
    free(tmp);
    gs_buf_fini(&raw);
    if (rc != GS_OK)
        frame->len = old;
    return rc;
}

gs_err
gs_wire_run_compact(const gs_run_item *items, size_t n, gs_wire_run *run,
                    gs_buf *ops)
{
    size_t old = ops->len;
    uint8_t hash[GS_HASH_BYTES];
    gs_op op, first;
    gs_err rc = GS_OK;

    if (n == 0 || n > GS_WIRE_RUN_OPS_MAX)
        return GS_EINVAL;
    if (!items[n - 1].sig)
        return GS_ENOSIG;
    for (size_t i = 0; i < n; i++) {
        gs_op *o = i == 0 ? &first : &op;
        TRY(gs_op_decode(items[i].bytes, items[i].n, o));
        if (i > 0) {
            if (memcmp(o->author, first.author, GS_KEY_BYTES) != 0 ||
                !slice_eq(o->scope, first.scope)) {
                rc = GS_EFEED;
                goto out;
            }
            if (o->seq != first.seq + i ||
                memcmp(o->prev, hash, GS_HASH_BYTES) != 0) {
                rc = GS_ECHAIN;
                goto out;
            }
        }
        gs_op_hash(items[i].bytes, items[i].n, hash);
        TRY(gs_buf_put_u64be(ops, o->hlc));
        TRY(gs_buf_put_str(ops, o->type.p, o->type.n));
        TRY(gs_buf_put_str(ops, o->id.p, o->id.n));
        TRY(gs_buf_put_varint(ops, o->n_updates));
        for (size_t k = 0; k < o->n_updates; k++) {
            const gs_update *u = &o->updates[k];
            TRY(gs_buf_put_str(ops, u->field.p, u->field.n));
            TRY(gs_buf_put_u8(ops, u->kind));
            TRY(gs_buf_put_str(ops, u->payload.p, u->payload.n));
        }
    }
    memcpy(run->author, first.author, GS_KEY_BYTES);
    run->scope = first.scope;
    run->first_seq = first.seq;
    run->n = n;
    run->ops = gs_slice_of(ops->data + old, ops->len - old);
    run->sig = *items[n - 1].sig;
out:
    if (rc != GS_OK)
        ops->len = old;
    return rc;
}

gs_err
gs_wire_run_expand(const gs_wire_run *run, const uint8_t prev[GS_HASH_BYTES],
                   gs_buf *out, gs_run_item *items,
                   uint8_t (*hashes)[GS_HASH_BYTES])
{
    size_t old = out->len;
    uint8_t cur[GS_HASH_BYTES];
    gs_op op;
    gs_rd r;
    gs_err rc = GS_OK;

    if (run->n == 0 || run->first_seq == 0)
        return GS_EMALFORMED;
    if (run->n > GS_WIRE_RUN_OPS_MAX)
        return GS_ETOOBIG;
    if (run->first_seq > UINT64_MAX - (run->n - 1))
        return GS_EMALFORMED;
    if ((run->first_seq == 1) != !memcmp(prev, zero_hash, GS_HASH_BYTES))
        return GS_ECHAIN;
    if (!gs_scope_valid(run->scope.p, run->scope.n))
        return GS_EUTF8;
    memcpy(cur, prev, GS_HASH_BYTES);
    gs_rd_init(&r, run->ops.p, run->ops.n);
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, run->author, GS_KEY_BYTES);
    op.scope = run->scope;
    for (size_t i = 0; i < run->n; i++) {
        size_t at = out->len;
        TRY(cop_read(&r, &op));
        op.seq = run->first_seq + i;
        memcpy(op.prev, cur, GS_HASH_BYTES);
        TRY(gs_op_encode(&op, out));
        gs_op_hash(out->data + at, out->len - at, cur);
        if (hashes)
            memcpy(hashes[i], cur, GS_HASH_BYTES);
        /* offsets now, pointers at the end: out may move as it grows */
        items[i].bytes = NULL;
        items[i].n = out->len - at;
        items[i].sig = NULL;
    }
    if (gs_rd_left(&r) != 0) {
        rc = GS_EMALFORMED;
        goto out;
    }
    {
        const uint8_t *p = out->data + old;
        for (size_t i = 0; i < run->n; i++) {
            items[i].bytes = p;
            p += items[i].n;
        }
        items[run->n - 1].sig = &run->sig;
    }
out:
    if (rc != GS_OK)
        out->len = old;
    return rc;
}
