/*
 * test_wire.c — the wire codec (net/wire.h): round trips of every message
 * type, refusals by error class for every decoder, the zstd run list, and
 * compact <-> canonical ops on a real signed run (issue 4).
 */
#include "testutil.h"

#include "wire.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define NET_SEED 0xa0

static uint8_t network[GS_KEY_BYTES];
static struct gs_test_op run_ops[3];
static gs_run_item run_items[3];
static gs_buf compact_buf, frame_buf;
static gs_wire_run sample_run;

/* A 3-op run of one feed, compacted and compressed once for all tests. */
static void
sample_run_init(void)
{
    struct gs_test_writer w;
    uint8_t sk[GS_SECRETKEY_BYTES];

    if (frame_buf.len)
        return;
    gs_test_keypair(NET_SEED, network, sk);
    gs_test_writer_init(&w, 7, "yc.yimei.nanjun", network);
    gs_test_writer_op(&w, "household", "h-001", "name", "Zhang", &run_ops[0]);
    gs_test_writer_op(&w, "household", "h-002", "name", "Li", &run_ops[1]);
    gs_test_writer_op(&w, "person", "p-001", "phone", "123", &run_ops[2]);
    for (int i = 0; i < 3; i++) {
        run_items[i].bytes = run_ops[i].bytes;
        run_items[i].n = run_ops[i].n;
        run_items[i].sig = i == 2 ? &run_ops[i].sig : NULL;
    }
    gs_buf_init(&compact_buf, 1 << 20);
    gs_buf_init(&frame_buf, GS_WIRE_MSG_MAX);
    assert_int_equal(
        gs_wire_run_compact(run_items, 3, &sample_run, &compact_buf), GS_OK);
    assert_int_equal(gs_wire_batch_compress(&sample_run, 1, &frame_buf), GS_OK);
}

static const char *const scopes[] = {"trust", "yc.yimei", "yc.yimei.nanjun"};

static void
feed(gs_wire_feed *f, uint8_t a, const char *scope)
{
    memset(f->author, a, GS_KEY_BYTES);
    f->scope = gs_slice_of(scope, strlen(scope));
}

/* A valid message of type t with every list non-empty. */
static void
sample(uint8_t t, gs_wire_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = t;
    m->session = 0xdeadbeef;
    switch (t) {
    case GS_WIRE_HELLO:
    case GS_WIRE_WELCOME:
        memset(m->u.hello.network, 0xa0, GS_KEY_BYTES);
        memset(m->u.hello.device, t, GS_KEY_BYTES);
        m->u.hello.cert = gs_slice_of("", 0);
        m->u.hello.n_scopes = 3;
        for (int i = 0; i < 3; i++)
            m->u.hello.scopes[i] = gs_slice_of(scopes[i], strlen(scopes[i]));
        m->u.hello.max_msg = GS_WIRE_MSG_MAX;
        m->u.hello.flags = GS_WIRE_FLAG_GOSSIP;
        break;
    case GS_WIRE_SUMMARY:
        m->u.summary.n = 2;
        for (int i = 0; i < 2; i++) {
            m->u.summary.scopes[i].scope =
                gs_slice_of(scopes[i], strlen(scopes[i]));
            m->u.summary.scopes[i].feeds = 300u * (unsigned)i + 1;
            memset(m->u.summary.scopes[i].fp, 0x11 * (i + 1), GS_WIRE_FP_BYTES);
        }
        break;
    case GS_WIRE_RANGES: {
        gs_wire_ranges *g = &m->u.ranges;
        g->n_scopes = 2;
        g->scopes[0].scope = gs_slice_of("trust", 5);
        g->scopes[0].n_ranges = 1;
        feed(&g->ranges[0].lower, 0, "");
        g->ranges[0].count = 40;
        memset(g->ranges[0].fp, 0x42, GS_WIRE_FP_BYTES);
        g->scopes[1].scope = gs_slice_of("yc", 2);
        g->scopes[1].n_ranges = 2;
        feed(&g->ranges[1].lower, 0, "");
        g->ranges[1].listed = true;
        g->ranges[1].n_heads = 2;
        g->ranges[1].count = 2;
        feed(&g->heads[0].feed, 1, "yc.a");
        g->heads[0].seq = 5;
        feed(&g->heads[1].feed, 1, "yc.b");
        g->heads[1].seq = 300;
        feed(&g->ranges[2].lower, 9, "yc.a");
        g->ranges[2].count = 17;
        memset(g->ranges[2].fp, 0x99, GS_WIRE_FP_BYTES);
        g->n_ranges = 3;
        g->n_heads = 2;
        break;
    }
    case GS_WIRE_WANT:
        m->u.want.n = 2;
        feed(&m->u.want.feeds[0].feed, 3, "yc.a");
        m->u.want.feeds[0].from = 1;
        feed(&m->u.want.feeds[1].feed, 4, "yc.a");
        m->u.want.feeds[1].from = 1000;
        break;
    case GS_WIRE_OPS:
    case GS_WIRE_PUSH:
        sample_run_init();
        m->u.ops.batch = t == GS_WIRE_OPS ? 7 : 0;
        m->u.ops.frame = gs_slice_of(frame_buf.data, frame_buf.len);
        break;
    case GS_WIRE_ACK:
        m->u.ack.batch = 7;
        m->u.ack.applied = 1000;
        m->u.ack.known = 3;
        m->u.ack.rejected = 12;
        m->u.ack.n_refused = 2;
        m->u.ack.refused[0].run = 2;
        m->u.ack.refused[0].code = gs_slice_of("GS_EBADSIG", 10);
        m->u.ack.refused[1].run = 40;
        m->u.ack.refused[1].code = gs_slice_of("GS_ECHAIN", 9);
        break;
    case GS_WIRE_ERROR:
        m->u.error.code = gs_slice_of("GS_EVERSION", 11);
        m->u.error.text = gs_slice_of("we speak 1", 10);
        break;
    default:
        break;
    }
}

static gs_wire_msg *
msg_new(void)
{
    gs_wire_msg *m = calloc(1, sizeof *m);
    assert_non_null(m);
    return m;
}

static void
encode_sample(uint8_t t, gs_buf *b)
{
    gs_wire_msg *m = msg_new();
    sample(t, m);
    gs_buf_init(b, GS_WIRE_MSG_MAX);
    assert_int_equal(gs_wire_encode(m, b), GS_OK);
    free(m);
}

static gs_err
decode_bytes(const uint8_t *p, size_t n)
{
    gs_wire_msg *m = msg_new();
    gs_err rc = gs_wire_decode(p, n, m);
    free(m);
    return rc;
}

static void
assert_slice(gs_slice a, gs_slice b)
{
    assert_int_equal(a.n, b.n);
    if (a.n)
        assert_memory_equal(a.p, b.p, a.n);
}

static void
test_wire_roundtrip_every_type(void **state)
{
    (void)state;
    for (uint8_t t = 1; t <= GS_WIRE_TYPE_MAX_; t++) {
        gs_wire_msg *m = msg_new(), *d = msg_new();
        gs_buf b, b2;
        sample(t, m);
        gs_buf_init(&b, GS_WIRE_MSG_MAX);
        gs_buf_init(&b2, GS_WIRE_MSG_MAX);
        assert_int_equal(gs_wire_encode(m, &b), GS_OK);
        assert_int_equal(b.data[0], GS_WIRE_VERSION);
        assert_int_equal(b.data[1], t);
        assert_int_equal(b.data[2], 0xde);
        assert_int_equal(b.data[5], 0xef);
        assert_int_equal(gs_wire_decode(b.data, b.len, d), GS_OK);
        assert_int_equal(d->type, t);
        assert_int_equal(d->session, 0xdeadbeef);
        switch (t) {
        case GS_WIRE_HELLO:
        case GS_WIRE_WELCOME:
            assert_memory_equal(d->u.hello.network, m->u.hello.network, 32);
            assert_memory_equal(d->u.hello.device, m->u.hello.device, 32);
            assert_int_equal(d->u.hello.n_scopes, 3);
            for (int i = 0; i < 3; i++)
                assert_slice(d->u.hello.scopes[i], m->u.hello.scopes[i]);
            assert_int_equal(d->u.hello.max_msg, GS_WIRE_MSG_MAX);
            assert_int_equal(d->u.hello.flags, GS_WIRE_FLAG_GOSSIP);
            break;
        case GS_WIRE_SUMMARY:
            assert_int_equal(d->u.summary.n, 2);
            assert_int_equal(d->u.summary.scopes[1].feeds, 301);
            assert_memory_equal(d->u.summary.scopes[1].fp,
                                m->u.summary.scopes[1].fp, GS_WIRE_FP_BYTES);
            break;
        case GS_WIRE_RANGES:
            assert_int_equal(d->u.ranges.n_scopes, 2);
            assert_int_equal(d->u.ranges.n_ranges, 3);
            assert_int_equal(d->u.ranges.n_heads, 2);
            assert_true(d->u.ranges.ranges[1].listed);
            assert_int_equal(d->u.ranges.ranges[2].count, 17);
            assert_int_equal(d->u.ranges.heads[1].seq, 300);
            assert_slice(d->u.ranges.heads[1].feed.scope,
                         gs_slice_of("yc.b", 4));
            break;
        case GS_WIRE_WANT:
            assert_int_equal(d->u.want.n, 2);
            assert_int_equal(d->u.want.feeds[1].from, 1000);
            break;
        case GS_WIRE_OPS:
        case GS_WIRE_PUSH:
            assert_int_equal(d->u.ops.batch, m->u.ops.batch);
            assert_slice(d->u.ops.frame, m->u.ops.frame);
            break;
        case GS_WIRE_ACK:
            assert_int_equal(d->u.ack.rejected, 12);
            assert_int_equal(d->u.ack.n_refused, 2);
            assert_int_equal(d->u.ack.refused[1].run, 40);
            assert_slice(d->u.ack.refused[1].code, m->u.ack.refused[1].code);
            break;
        case GS_WIRE_ERROR:
            assert_slice(d->u.error.code, m->u.error.code);
            assert_slice(d->u.error.text, m->u.error.text);
            break;
        default:
            break;
        }
        /* and the decoded message re-encodes to the same bytes */
        assert_int_equal(gs_wire_encode(d, &b2), GS_OK);
        assert_int_equal(b2.len, b.len);
        assert_memory_equal(b2.data, b.data, b.len);
        gs_buf_fini(&b);
        gs_buf_fini(&b2);
        free(m);
        free(d);
    }
}

/* Every decoder: a cut anywhere is refused (the last byte cut: GS_ETRUNC),
 * a byte more is GS_EMALFORMED, another version GS_EVERSION. */
static void
test_wire_refuse_trunc_trailing_version(void **state)
{
    (void)state;
    for (uint8_t t = 1; t <= GS_WIRE_TYPE_MAX_; t++) {
        gs_buf b;
        encode_sample(t, &b);
        for (size_t k = 0; k < b.len; k++)
            assert_int_not_equal(decode_bytes(b.data, k), GS_OK);
        assert_int_equal(decode_bytes(b.data, b.len - 1), GS_ETRUNC);
        assert_int_equal(decode_bytes(b.data, 5), GS_ETRUNC);
        assert_int_equal(gs_buf_put_u8(&b, 0), GS_OK);
        assert_int_equal(decode_bytes(b.data, b.len), GS_EMALFORMED);
        b.data[0] = 2;
        assert_int_equal(decode_bytes(b.data, b.len), GS_EVERSION);
        b.data[0] = 0;
        assert_int_equal(decode_bytes(b.data, b.len), GS_EVERSION);
        gs_buf_fini(&b);
    }
}

static void
test_wire_refuse_unknown_type(void **state)
{
    (void)state;
    uint8_t m[6] = {1, 0, 0, 0, 0, 1};
    assert_int_equal(decode_bytes(m, 6), GS_EMALFORMED);
    m[1] = 11;
    assert_int_equal(decode_bytes(m, 6), GS_EMALFORMED);
    m[1] = 255;
    assert_int_equal(decode_bytes(m, 6), GS_EMALFORMED);
    m[1] = GS_WIRE_BYE;
    assert_int_equal(decode_bytes(m, 6), GS_OK);
}

/* Patch the byte at off of a sample of type t and decode. */
static gs_err
patched(uint8_t t, size_t off, uint8_t v)
{
    gs_buf b;
    encode_sample(t, &b);
    assert_true(off < b.len);
    b.data[off] = v;
    gs_err rc = decode_bytes(b.data, b.len);
    gs_buf_fini(&b);
    return rc;
}

/* Build a message by hand: header of type t, then body bytes. */
static gs_err
raw_msg(uint8_t t, const uint8_t *body, size_t n)
{
    uint8_t buf[512] = {GS_WIRE_VERSION, t, 0, 0, 0, 9};
    assert_true(n + 6 <= sizeof buf);
    memcpy(buf + 6, body, n);
    return decode_bytes(buf, n + 6);
}

static void
test_wire_refuse_too_big(void **state)
{
    (void)state;
    /* HELLO/WELCOME: scope count 65; certificate over 4 KiB */
    const size_t scount = 6 + 64 + 1;
    assert_int_equal(patched(GS_WIRE_HELLO, scount, 65), GS_ETOOBIG);
    assert_int_equal(patched(GS_WIRE_WELCOME, scount, 65), GS_ETOOBIG);
    uint8_t cert[64 + 2] = {0};
    cert[64] = 0x81; /* 4097 */
    cert[65] = 0x20;
    assert_int_equal(raw_msg(GS_WIRE_HELLO, cert, sizeof cert), GS_ETOOBIG);
    /* SUMMARY: 65 scopes */
    assert_int_equal(patched(GS_WIRE_SUMMARY, 6, 65), GS_ETOOBIG);
    /* RANGES: 65 scopes; 1025 ranges in one scope; 4097 heads */
    assert_int_equal(patched(GS_WIRE_RANGES, 6, 65), GS_ETOOBIG);
    uint8_t rg[] = {1, 2, 'y', 'c', 0x81, 0x08};
    assert_int_equal(raw_msg(GS_WIRE_RANGES, rg, sizeof rg), GS_ETOOBIG);
    uint8_t hd[41] = {1, 2, 'y', 'c', 1}; /* bound: zero author, "" */
    hd[38] = 1;                           /* heads listed */
    hd[39] = 0x81;                        /* 4097 */
    hd[40] = 0x20;
    assert_int_equal(raw_msg(GS_WIRE_RANGES, hd, sizeof hd), GS_ETOOBIG);
    /* WANT: 4097 feeds */
    uint8_t want[] = {0x81, 0x20};
    assert_int_equal(raw_msg(GS_WIRE_WANT, want, sizeof want), GS_ETOOBIG);
    /* ACK: 4097 refused; a run index past the limit */
    uint8_t ack[] = {1, 1, 1, 1, 0x81, 0x20};
    assert_int_equal(raw_msg(GS_WIRE_ACK, ack, sizeof ack), GS_ETOOBIG);
    uint8_t ack2[] = {1, 1, 1, 1, 1, 0x80, 0x20, 1, 'X'};
    assert_int_equal(raw_msg(GS_WIRE_ACK, ack2, sizeof ack2), GS_ETOOBIG);
    /* ERROR: a text of 257 bytes */
    uint8_t err[1 + 1 + 2] = {1, 'X', 0x81, 0x02};
    assert_int_equal(raw_msg(GS_WIRE_ERROR, err, sizeof err), GS_ETOOBIG);
    /* any message over GS_WIRE_MSG_MAX */
    uint8_t *big = calloc(1, GS_WIRE_MSG_MAX + 1);
    assert_non_null(big);
    big[0] = 1;
    big[1] = GS_WIRE_BYE;
    assert_int_equal(decode_bytes(big, GS_WIRE_MSG_MAX + 1), GS_ETOOBIG);
    free(big);
}

static void
test_wire_refuse_noncanon_and_malformed(void **state)
{
    (void)state;
    /* padded varints */
    uint8_t want[] = {0x81, 0x00};
    assert_int_equal(raw_msg(GS_WIRE_WANT, want, sizeof want), GS_ENONCANON);
    uint8_t ack[] = {0x80, 0x00, 1, 1, 1, 0};
    assert_int_equal(raw_msg(GS_WIRE_ACK, ack, sizeof ack), GS_ENONCANON);
    /* HELLO: a repeated scope; a bad scope */
    gs_wire_msg *m = msg_new();
    gs_buf b;
    gs_buf_init(&b, GS_WIRE_MSG_MAX);
    sample(GS_WIRE_HELLO, m);
    m->u.hello.scopes[2] = m->u.hello.scopes[0];
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    assert_int_equal(b.len, 0);
    m->u.hello.scopes[2] = gs_slice_of("Yc", 2);
    assert_int_equal(gs_wire_encode(m, &b), GS_EUTF8);
    /* SUMMARY: a repeated scope */
    sample(GS_WIRE_SUMMARY, m);
    m->u.summary.scopes[1].scope = m->u.summary.scopes[0].scope;
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    /* RANGES: bounds out of order; a head below its bound; a form 2 */
    sample(GS_WIRE_RANGES, m);
    feed(&m->u.ranges.ranges[2].lower, 0, "");
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_RANGES, m);
    feed(&m->u.ranges.ranges[2].lower, 1, "yc.a");
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_RANGES, m);
    m->u.ranges.heads[0].seq = 0;
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_RANGES, m);
    m->u.ranges.n_heads = 1;
    assert_int_equal(gs_wire_encode(m, &b), GS_EINVAL);
    assert_int_equal(patched(GS_WIRE_RANGES, 6 + 1 + 6 + 1 + 33, 2),
                     GS_EMALFORMED);
    /* WANT: feeds out of order; from 0 */
    sample(GS_WIRE_WANT, m);
    m->u.want.feeds[1].feed = m->u.want.feeds[0].feed;
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_WANT, m);
    m->u.want.feeds[0].from = 0;
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    /* an empty WANT is a side's last word: it wants nothing (more) */
    sample(GS_WIRE_WANT, m);
    m->u.want.n = 0;
    gs_buf_reset(&b);
    assert_int_equal(gs_wire_encode(m, &b), GS_OK);
    {
        gs_wire_msg *e = calloc(1, sizeof *e);
        assert_non_null(e);
        assert_int_equal(gs_wire_decode(b.data, b.len, e), GS_OK);
        assert_int_equal(e->u.want.n, 0);
        free(e);
    }
    gs_buf_reset(&b);
    /* ACK: refused runs out of order; a bad code */
    sample(GS_WIRE_ACK, m);
    m->u.ack.refused[1].run = 2;
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_ACK, m);
    m->u.ack.refused[1].code = gs_slice_of("gs_echain", 9);
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    /* ERROR: empty code; text with a NUL */
    sample(GS_WIRE_ERROR, m);
    m->u.error.code = gs_slice_of("", 0);
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_ERROR, m);
    m->u.error.text = gs_slice_of("a\0b", 3);
    assert_int_equal(gs_wire_encode(m, &b), GS_EUTF8);
    /* OPS/PUSH: not a zstd frame; two frames */
    sample(GS_WIRE_OPS, m);
    m->u.ops.frame = gs_slice_of("\x01\x02\x03\x04\x05", 5);
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    sample(GS_WIRE_PUSH, m);
    gs_buf two;
    gs_buf_init(&two, GS_WIRE_MSG_MAX);
    assert_int_equal(gs_buf_put(&two, frame_buf.data, frame_buf.len), GS_OK);
    assert_int_equal(gs_buf_put(&two, frame_buf.data, frame_buf.len), GS_OK);
    m->u.ops.frame = gs_slice_of(two.data, two.len);
    assert_int_equal(gs_wire_encode(m, &b), GS_EMALFORMED);
    assert_int_equal(b.len, 0);
    gs_buf_fini(&two);
    gs_buf_fini(&b);
    free(m);
}

/* compact -> compress -> decode -> expand gives back the signed ops, and
 * the expanded run verifies. */
static void
test_wire_run_compact_expand(void **state)
{
    (void)state;
    gs_wire_batch batch;
    gs_buf out;
    gs_run_item items[3];
    uint8_t hashes[3][GS_HASH_BYTES];
    uint8_t zero[GS_HASH_BYTES] = {0};

    sample_run_init();
    assert_int_equal(sample_run.n, 3);
    assert_int_equal(sample_run.first_seq, 1);
    /* compact form: smaller than the ops by author, scope, seq, prev */
    size_t canon = run_ops[0].n + run_ops[1].n + run_ops[2].n;
    assert_true(sample_run.ops.n < canon - 3 * (1 + 32 + 32));
    assert_int_equal(gs_wire_batch_decode(
                         gs_slice_of(frame_buf.data, frame_buf.len), &batch),
                     GS_OK);
    assert_int_equal(batch.n_runs, 1);
    const gs_wire_run *r = &batch.runs[0];
    assert_memory_equal(r->author, sample_run.author, GS_KEY_BYTES);
    assert_slice(r->scope, sample_run.scope);
    assert_slice(r->ops, sample_run.ops);
    assert_memory_equal(r->sig.sig, run_ops[2].sig.sig, GS_SIGNATURE_BYTES);

    gs_buf_init(&out, 1 << 20);
    assert_int_equal(gs_wire_run_expand(r, zero, &out, items, hashes), GS_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(items[i].n, run_ops[i].n);
        assert_memory_equal(items[i].bytes, run_ops[i].bytes, run_ops[i].n);
        assert_true(items[i].sig == (i == 2 ? &r->sig : NULL));
    }
    assert_int_equal(gs_run_verify(items, 3, NULL, network, NULL, NULL, NULL),
                     GS_OK);

    /* the raw run list re-encodes to the decompressed bytes */
    gs_buf raw;
    gs_buf_init(&raw, GS_WIRE_BATCH_MAX);
    assert_int_equal(gs_wire_runs_encode(batch.runs, batch.n_runs, &raw),
                     GS_OK);
    assert_int_equal(raw.len, batch.raw_len);
    assert_memory_equal(raw.data, batch.raw, raw.len);

    /* a later piece: ops 2..3 against the receiver's head (op 1's hash) */
    gs_wire_run tail;
    gs_buf tail_ops;
    gs_buf_init(&tail_ops, 1 << 20);
    assert_int_equal(gs_wire_run_compact(run_items + 1, 2, &tail, &tail_ops),
                     GS_OK);
    assert_int_equal(tail.first_seq, 2);
    gs_buf_reset(&out);
    assert_int_equal(gs_wire_run_expand(&tail, hashes[0], &out, items, NULL),
                     GS_OK);
    assert_memory_equal(items[1].bytes, run_ops[2].bytes, run_ops[2].n);
    /* the wrong head: the ops rebuild but do not link (and do not verify) */
    gs_buf_reset(&out);
    assert_int_equal(gs_wire_run_expand(&tail, zero, &out, items, NULL),
                     GS_ECHAIN);
    assert_int_equal(out.len, 0);
    assert_int_equal(gs_wire_run_expand(&tail, hashes[1], &out, items, NULL),
                     GS_OK);
    gs_feed_head head = {1, {0}};
    memcpy(head.hash, hashes[0], GS_HASH_BYTES);
    assert_int_equal(gs_run_verify(items, 2, &head, network, NULL, NULL, NULL),
                     GS_ECHAIN);
    gs_buf_fini(&tail_ops);
    gs_buf_fini(&raw);
    gs_buf_fini(&out);
    gs_wire_batch_fini(&batch);
}

static void
test_wire_run_compact_refuses_broken_chain(void **state)
{
    (void)state;
    struct gs_test_writer w;
    struct gs_test_op ops[3];
    gs_run_item items[3];
    gs_wire_run run;
    gs_buf b;

    sample_run_init();
    gs_test_writer_init(&w, 8, "yc.yimei", network);
    gs_test_writer_op(&w, "t", "a", "f", "1", &ops[0]);
    /* the middle op names a wrong prev */
    memset(w.prev, 0x55, GS_HASH_BYTES);
    gs_test_writer_op(&w, "t", "a", "f", "2", &ops[1]);
    gs_test_writer_op(&w, "t", "a", "f", "3", &ops[2]);
    for (int i = 0; i < 3; i++) {
        items[i].bytes = ops[i].bytes;
        items[i].n = ops[i].n;
        items[i].sig = i == 2 ? &ops[2].sig : NULL;
    }
    gs_buf_init(&b, 1 << 20);
    assert_int_equal(gs_wire_run_compact(items, 3, &run, &b), GS_ECHAIN);
    assert_int_equal(b.len, 0);
    /* ops 2..3 alone link */
    assert_int_equal(gs_wire_run_compact(items + 1, 2, &run, &b), GS_OK);
    /* another feed in the middle */
    gs_run_item mixed[3] = {run_items[0], items[1], run_items[2]};
    gs_buf_reset(&b);
    assert_int_equal(gs_wire_run_compact(mixed, 3, &run, &b), GS_EFEED);
    /* a gap in seq */
    gs_run_item gap[2] = {run_items[0], run_items[2]};
    assert_int_equal(gs_wire_run_compact(gap, 2, &run, &b), GS_ECHAIN);
    /* no signature on the last */
    gs_run_item nosig[2] = {run_items[0], run_items[1]};
    assert_int_equal(gs_wire_run_compact(nosig, 2, &run, &b), GS_ENOSIG);
    gs_buf_fini(&b);
}

/* A tiny frame claiming 1 GiB of content, and one with no content size:
 * both refused from the header, before anything is allocated. */
static void
test_wire_zstd_bomb(void **state)
{
    (void)state;
    gs_wire_batch batch;
    /* magic, FHD: 8-byte content size + single segment, size, then an RLE
     * last block of 128 KiB - 1 */
    uint8_t bomb[4 + 1 + 8 + 3 + 1] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0};
    uint64_t cs = (uint64_t)1 << 30;
    for (int i = 0; i < 8; i++)
        bomb[5 + i] = (uint8_t)(cs >> (8 * i));
    uint32_t bh = 1u | (1u << 1) | ((128u * 1024 - 1) << 3);
    bomb[13] = (uint8_t)bh;
    bomb[14] = (uint8_t)(bh >> 8);
    bomb[15] = (uint8_t)(bh >> 16);
    bomb[16] = 'A';
    gs_slice f = gs_slice_of(bomb, sizeof bomb);
    assert_int_equal(gs_wire_batch_decode(f, &batch), GS_ETOOBIG);
    assert_null(batch.raw);

    gs_wire_msg *m = msg_new();
    gs_buf b;
    gs_buf_init(&b, GS_WIRE_MSG_MAX);
    sample(GS_WIRE_OPS, m);
    m->u.ops.frame = f;
    assert_int_equal(gs_wire_encode(m, &b), GS_ETOOBIG);
    uint8_t msg[6 + 1 + sizeof bomb] = {1, GS_WIRE_OPS, 0, 0, 0, 1, 0};
    memcpy(msg + 7, bomb, sizeof bomb);
    assert_int_equal(decode_bytes(msg, sizeof msg), GS_ETOOBIG);

    /* just over the cap */
    cs = GS_WIRE_BATCH_MAX + 1;
    for (int i = 0; i < 8; i++)
        bomb[5 + i] = (uint8_t)(cs >> (8 * i));
    assert_int_equal(gs_wire_batch_decode(f, &batch), GS_ETOOBIG);

    /* no content size: FHD 0, window descriptor, raw last block of 1 */
    uint8_t unk[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x09, 0, 0, 'A'};
    assert_int_equal(gs_wire_batch_decode(gs_slice_of(unk, sizeof unk), &batch),
                     GS_ETOOBIG);
    gs_buf_fini(&b);
    free(m);
}

/* A frame whose declared size is honest but whose content is not a run
 * list; and a run list with trailing bytes. */
static void
test_wire_batch_refuses_bad_content(void **state)
{
    (void)state;
    gs_wire_batch batch;
    uint8_t junk[64];
    memset(junk, 0x7f, sizeof junk);
    uint8_t frame[256];
    size_t n = ZSTD_compress(frame, sizeof frame, junk, sizeof junk, 1);
    assert_false(ZSTD_isError(n));
    assert_int_not_equal(gs_wire_batch_decode(gs_slice_of(frame, n), &batch),
                         GS_OK);
    assert_null(batch.runs);

    sample_run_init();
    gs_buf raw;
    gs_buf_init(&raw, GS_WIRE_BATCH_MAX);
    assert_int_equal(gs_wire_runs_encode(&sample_run, 1, &raw), GS_OK);
    assert_int_equal(gs_buf_put_u8(&raw, 0), GS_OK);
    uint8_t big[4096];
    n = ZSTD_compress(big, sizeof big, raw.data, raw.len, 1);
    assert_false(ZSTD_isError(n));
    assert_int_equal(gs_wire_batch_decode(gs_slice_of(big, n), &batch),
                     GS_EMALFORMED);
    /* zero runs; an op count over the limit */
    gs_wire_run r = sample_run;
    gs_buf_reset(&raw);
    assert_int_equal(gs_wire_runs_encode(&r, 0, &raw), GS_EMALFORMED);
    r.n = 2; /* the slice holds 3 ops */
    assert_int_equal(gs_wire_runs_encode(&r, 1, &raw), GS_EMALFORMED);
    r.n = GS_WIRE_RUN_OPS_MAX + 1;
    assert_int_equal(gs_wire_runs_encode(&r, 1, &raw), GS_ETOOBIG);
    r = sample_run;
    r.first_seq = 0;
    assert_int_equal(gs_wire_runs_encode(&r, 1, &raw), GS_EMALFORMED);
    assert_int_equal(raw.len, 0);
    gs_buf_fini(&raw);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_roundtrip_every_type),
        cmocka_unit_test(test_wire_refuse_trunc_trailing_version),
        cmocka_unit_test(test_wire_refuse_unknown_type),
        cmocka_unit_test(test_wire_refuse_too_big),
        cmocka_unit_test(test_wire_refuse_noncanon_and_malformed),
        cmocka_unit_test(test_wire_run_compact_expand),
        cmocka_unit_test(test_wire_run_compact_refuses_broken_chain),
        cmocka_unit_test(test_wire_zstd_bomb),
        cmocka_unit_test(test_wire_batch_refuses_bad_content),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gs_buf_fini(&compact_buf);
    gs_buf_fini(&frame_buf);
    return rc;
}
