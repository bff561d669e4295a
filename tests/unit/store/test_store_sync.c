/*
 * test_store_sync.c — what the store gives sync (store.h "sync"): the feed
 * listing with its scope filter, and signed segments of a feed read from
 * any seq. Feeds are made three ways, because each leaves its signatures
 * at other places: many small local writes (a signature per write, kept
 * as checkpoints), one long ingested run (one signature for all), and
 * local write batches longer than GS_STORE_SIG_SPACING. Every segment must
 * end at a signature that verifies, carry every op in order, and apply
 * whole to a fresh replica, whose digest then equals the source's.
 *
 * Every writer is enrolled (store/trust.h) in every store before it
 * writes or its ops are ingested there, in the same order in each store,
 * so the authority's trust feed is one feed among the others, the same
 * everywhere.
 */
#include "testutil.h"

#include "field.h"
#include "store.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t net_pk[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];

static const char *const ids[] = {"H-1", "H-2", "H-3", "T-4"};

/* ---- making feeds ---- */

/* Enroll writer w in s for its scope (and below), as the authority. */
static void
enroll(gs_store *s, const struct gs_test_writer *w)
{
    gs_test_enroll(s, net_pk, net_sk, w->pk, w->scope, false);
}

/* The authority's trust feed as a writer, to find it in listings and
 * read it as any feed: n certificates written. */
static struct gs_test_writer
trust_feed(gs_store *s)
{
    struct gs_test_writer t;
    gs_feed_head h;
    memset(&t, 0, sizeof t);
    memcpy(t.pk, net_pk, GS_KEY_BYTES);
    t.scope = "trust";
    t.network = net_pk;
    assert_int_equal(gs_store_feed_head(s, net_pk, gs_slice_of("trust", 5), &h),
                     GS_OK);
    t.seq = h.seq;
    memcpy(t.prev, h.hash, GS_HASH_BYTES);
    return t;
}

struct fixture {
    char dir[64];
    gs_store *s;
};

static gs_store *
replica_new(char *dir)
{
    return gs_test_store_new(dir);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/gs-sync-XXXXXX");
    f->s = replica_new(f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    gs_store_close(f->s);
    gs_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Ingest ops[0..n) as one run with a signature on its last op only. */
static void
ingest_run(gs_store *s, const struct gs_test_op *ops, size_t n,
           gs_ingest_stats *st)
{
    gs_run_item *items = calloc(n, sizeof *items);
    assert_non_null(items);
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_run_item){ops[i].bytes, ops[i].n, NULL};
    items[n - 1].sig = &ops[n - 1].sig;
    gs_store_run run = {items, n};
    assert_int_equal(gs_store_ingest(s, &run, 1, net_pk, st), GS_OK);
    free(items);
}

/* A feed of n ops written by w and ingested as one run. */
static void
ingest_feed(gs_store *s, struct gs_test_writer *w, size_t n)
{
    struct gs_test_op *ops = calloc(n, sizeof *ops);
    gs_ingest_stats st;
    assert_non_null(ops);
    for (size_t i = 0; i < n; i++)
        gs_test_writer_op(w, "household", ids[i % 4], "name", "张三", &ops[i]);
    ingest_run(s, ops, n, &st);
    assert_int_equal(st.applied, n);
    assert_int_equal(st.rejected, 0);
    free(ops);
}

/* Write i of a batch by writer w, on ids[i % 4], its value padded with
 * pad letters (up to 200) that compress badly. */
static gs_err
build_padded(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
             gs_buf *out, const struct gs_test_writer *w, size_t pad)
{
    char text[256];
    gs_buf pay;
    gs_op op;
    int k = snprintf(text, sizeof text, "v%llu",
                     (unsigned long long)head->seq + 1);
    uint64_t x = head->seq * 0x9e3779b97f4a7c15ull + 1;
    for (size_t j = 0; j < pad && j < 200; j++, k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        text[k] = (char)('a' + x % 26);
    }
    text[k] = 0;
    gs_vref v = {GS_V_STR, 0, gs_slice_of(text, strlen(text))};
    gs_buf_init(&pay, 256);
    gs_err rc = gs_payload_lww(&pay, 0, &v);
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, w->pk, GS_KEY_BYTES);
    op.scope = gs_slice_of(w->scope, strlen(w->scope));
    op.seq = head->seq + 1;
    memcpy(op.prev, head->hash, GS_HASH_BYTES);
    op.hlc = (hlc_seen > w->hlc ? hlc_seen : w->hlc) + 1;
    op.type = gs_slice_of("household", 9);
    op.id = gs_slice_of(ids[i % 4], strlen(ids[i % 4]));
    op.n_updates = 1;
    op.updates[0].field = gs_slice_of("name", 4);
    op.updates[0].kind = GS_KIND_LWW;
    op.updates[0].payload = gs_slice_of(pay.data, pay.len);
    if (rc == GS_OK)
        rc = gs_op_encode(&op, out);
    gs_buf_fini(&pay);
    return rc;
}

/* gs_store_write's builder: write i of a batch by the writer in ctx, on
 * ids[i % 4]. No side effects: a batch may be built twice. */
static gs_err
build_op(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
         const gs_entity *current, gs_buf *out, gs_store_built *built, void *ctx)
{
    (void)built;
    (void)current;
    return build_padded(i, head, hlc_seen, out, ctx, 0);
}

/* `batches` local writes of `per` ops each by w, each signed at its end;
 * w's seq and prev follow the head. */
static void
write_feed(gs_store *s, struct gs_test_writer *w, size_t per, size_t batches)
{
    gs_store_target *t = calloc(per, sizeof *t);
    gs_store_write_result res;
    assert_non_null(t);
    for (size_t i = 0; i < per; i++)
        t[i] = (gs_store_target){gs_slice_of("household", 9),
                                 gs_slice_of(ids[i % 4], strlen(ids[i % 4]))};
    for (size_t b = 0; b < batches; b++) {
        assert_int_equal(gs_store_write(s, w->pk, w->sk,
                                        gs_slice_of(w->scope, strlen(w->scope)),
                                        net_pk, t, per, build_op, w, &res),
                         GS_OK);
        assert_int_equal(res.written, per);
        assert_int_equal(res.head.seq, w->seq + per);
        w->seq = res.head.seq;
        memcpy(w->prev, res.head.hash, GS_HASH_BYTES);
    }
    free(t);
}

/* ---- reading segments ---- */

/* One segment as the callback sees it, checked op by op against the chain
 * read so far; kept in ops (if not NULL) to be ingested elsewhere. */
struct seg {
    const struct gs_test_writer *w;
    uint64_t next;               /* the seq expected next */
    uint8_t prev[GS_HASH_BYTES]; /* content hash of seq next - 1 */
    size_t n;                    /* ops of this segment */
    bool got_sig;                /* the segment's signature came */
    size_t stop_after;           /* return nonzero after this many (0: no) */
    struct gs_test_op *ops;
    size_t cap;
};

static int
seg_cb(const uint8_t *bytes, size_t len, const gs_sig *sig, void *ctx)
{
    struct seg *g = ctx;
    uint8_t hash[GS_HASH_BYTES];
    gs_op op;
    assert_false(g->got_sig); /* nothing follows the signed op */
    assert_int_equal(gs_op_decode(bytes, len, &op), GS_OK);
    assert_memory_equal(op.author, g->w->pk, GS_KEY_BYTES);
    assert_int_equal(op.scope.n, strlen(g->w->scope));
    assert_memory_equal(op.scope.p, g->w->scope, op.scope.n);
    assert_int_equal(op.seq, g->next);
    assert_memory_equal(op.prev, g->prev, GS_HASH_BYTES);
    gs_op_hash(bytes, len, hash);
    if (sig) {
        assert_int_equal(gs_op_verify(hash, sig, net_pk, g->w->pk), GS_OK);
        g->got_sig = true;
    }
    if (g->ops) {
        assert_true(g->n < g->cap && len <= sizeof g->ops[0].bytes);
        memcpy(g->ops[g->n].bytes, bytes, len);
        g->ops[g->n].n = len;
        if (sig)
            g->ops[g->n].sig = *sig;
    }
    memcpy(g->prev, hash, GS_HASH_BYTES);
    g->next++;
    g->n++;
    return g->stop_after && g->n == g->stop_after;
}

#define SEG_CAP 6000

/* Read w's whole feed in segments of max_ops from seq 1: each ends at a
 * signature that verifies, holds at most `bound` ops (0: no bound) and, if
 * dst is not NULL, applies whole to dst. Returns the number of segments;
 * ends[] (if not NULL, room for max_ends) gets each segment's last seq. */
static size_t
read_feed(gs_store *s, const struct gs_test_writer *w, size_t max_ops,
          size_t bound, gs_store *dst, uint64_t *ends, size_t max_ends)
{
    struct seg g = {.w = w, .next = 1};
    gs_slice scope = gs_slice_of(w->scope, strlen(w->scope));
    gs_feed_head head;
    size_t segs = 0;
    uint64_t to;

    assert_int_equal(gs_store_feed_head(s, w->pk, scope, &head), GS_OK);
    assert_true(head.seq > 0);
    if (dst) {
        g.ops = calloc(SEG_CAP, sizeof *g.ops);
        assert_non_null(g.ops);
        g.cap = SEG_CAP;
    }
    while (g.next <= head.seq) {
        uint64_t from = g.next;
        g.n = 0;
        g.got_sig = false;
        to = 0;
        assert_int_equal(
            gs_store_feed_read(s, w->pk, scope, from, max_ops, seg_cb, &g, &to),
            GS_OK);
        assert_true(g.got_sig);
        assert_int_equal(to, from + g.n - 1);
        assert_int_equal(g.next, to + 1);
        if (bound)
            assert_true(g.n <= bound);
        if (ends && segs < max_ends)
            ends[segs] = to;
        segs++;
        if (dst) {
            gs_ingest_stats st;
            ingest_run(dst, g.ops, g.n, &st);
            assert_int_equal(st.applied, g.n);
            assert_int_equal(st.rejected, 0);
        }
    }
    assert_int_equal(g.next, head.seq + 1);
    assert_memory_equal(g.prev, head.hash, GS_HASH_BYTES);
    free(g.ops);
    return segs;
}

/* ---- feeds_each ---- */

#define FEEDS_MAX 8

struct listing {
    size_t n;
    struct {
        uint8_t author[GS_KEY_BYTES];
        char scope[GS_SCOPE_BYTES_MAX + 1];
        gs_feed_head head;
        bool frozen;
    } f[FEEDS_MAX];
    size_t stop_after; /* 0: list all */
};

static int
list_cb(const gs_store_feed_info *fi, void *ctx)
{
    struct listing *l = ctx;
    assert_true(l->n < FEEDS_MAX && fi->scope.n <= GS_SCOPE_BYTES_MAX);
    memcpy(l->f[l->n].author, fi->author, GS_KEY_BYTES);
    memcpy(l->f[l->n].scope, fi->scope.p, fi->scope.n);
    l->f[l->n].scope[fi->scope.n] = 0;
    l->f[l->n].head = fi->head;
    l->f[l->n].frozen = fi->frozen;
    l->n++;
    return l->stop_after && l->n == l->stop_after;
}

static struct listing
list(gs_store *s, const char *under)
{
    struct listing l;
    memset(&l, 0, sizeof l);
    assert_int_equal(
        gs_store_feeds_each(s, gs_slice_of(under, strlen(under)), list_cb, &l),
        GS_OK);
    return l;
}

/* The listing holds w's feed, with w's head. */
static bool
listed(const struct listing *l, const struct gs_test_writer *w)
{
    for (size_t i = 0; i < l->n; i++)
        if (memcmp(l->f[i].author, w->pk, GS_KEY_BYTES) == 0 &&
            strcmp(l->f[i].scope, w->scope) == 0) {
            assert_int_equal(l->f[i].head.seq, w->seq);
            assert_memory_equal(l->f[i].head.hash, w->prev, GS_HASH_BYTES);
            assert_false(l->f[i].frozen);
            return true;
        }
    return false;
}

#define N_SCOPED 5

static void
scoped_feeds(gs_store *s, struct gs_test_writer w[N_SCOPED])
{
    static const char *const scopes[N_SCOPED] = {"a.b", "a.b.c", "a.bc", "x",
                                                 "a"};
    for (size_t i = 0; i < N_SCOPED; i++) {
        /* the last one is the first writer again, in another scope */
        gs_test_writer_init(&w[i], (uint8_t)(i == N_SCOPED - 1 ? 40 : 40 + i),
                            scopes[i], net_pk);
        enroll(s, &w[i]); /* the first writer gets a second write scope */
        if (i % 2)
            ingest_feed(s, &w[i], 3 + i);
        else
            write_feed(s, &w[i], 2, 1 + i);
    }
}

static void
test_feeds_each_lists_every_feed_with_its_head(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w[N_SCOPED];
    scoped_feeds(f->s, w);
    struct listing l = list(f->s, "");
    struct gs_test_writer t = trust_feed(f->s);
    assert_int_equal(t.seq, N_SCOPED); /* a certificate per scope */
    assert_int_equal(l.n, N_SCOPED + 1);
    for (size_t i = 0; i < N_SCOPED; i++)
        assert_true(listed(&l, &w[i]));
    assert_true(listed(&l, &t));
    /* a write moves the head it lists */
    write_feed(f->s, &w[3], 1, 1);
    l = list(f->s, "x");
    assert_int_equal(l.n, 1);
    assert_true(listed(&l, &w[3]));
}

static void
test_feeds_each_filters_by_scope_on_a_dot(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w[N_SCOPED];
    scoped_feeds(f->s, w);

    struct listing l = list(f->s, "a.b"); /* a.b and a.b.c, not a.bc */
    assert_int_equal(l.n, 2);
    assert_true(listed(&l, &w[0]) && listed(&l, &w[1]));
    l = list(f->s, "a"); /* all but x */
    assert_int_equal(l.n, 4);
    assert_false(listed(&l, &w[3]));
    l = list(f->s, "trust"); /* the authority's feed, in a scope of its own */
    assert_int_equal(l.n, 1);
    l = list(f->s, "a.b.c");
    assert_int_equal(l.n, 1);
    assert_true(listed(&l, &w[1]));
    l = list(f->s, "a.bc");
    assert_int_equal(l.n, 1);
    assert_true(listed(&l, &w[2]));
    assert_int_equal(list(f->s, "a.b.c.d").n, 0);
    assert_int_equal(list(f->s, "b").n, 0);
    assert_int_equal(list(f->s, "a.").n, 0);
}

static void
test_feeds_each_stops_when_asked(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w[N_SCOPED];
    struct listing l;
    scoped_feeds(f->s, w);
    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    assert_int_equal(gs_store_feeds_each(f->s, gs_slice_of("", 0), list_cb, &l),
                     GS_OK);
    assert_int_equal(l.n, 2);
}

/* ---- feed_read ---- */

static void
test_feed_read_small_writes_end_at_signatures(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    gs_test_writer_init(&w, 50, "yc.g1", net_pk);
    enroll(f->s, &w);
    write_feed(f->s, &w, 7, 400); /* 2,800 ops, a signature every 7 */

    /* at least the spacing: segments stay within max_ops */
    read_feed(f->s, &w, GS_STORE_SIG_SPACING, GS_STORE_SIG_SPACING, NULL, NULL,
              0);
    assert_int_equal(read_feed(f->s, &w, 4096, 4096, NULL, NULL, 0), 1);
    assert_int_equal(read_feed(f->s, &w, 2000, 2000, NULL, NULL, 0), 2);
    /* below it: never longer than the spacing */
    read_feed(f->s, &w, 100, GS_STORE_SIG_SPACING, NULL, NULL, 0);
    read_feed(f->s, &w, 1, GS_STORE_SIG_SPACING, NULL, NULL, 0);
}

static void
test_feed_read_one_long_run_is_one_segment(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct seg g = {.w = &w};
    uint64_t ends[2], to;
    gs_test_writer_init(&w, 51, "yc.g2", net_pk);
    enroll(f->s, &w);
    ingest_feed(f->s, &w, 5000); /* one signature, on seq 5000 */

    assert_int_equal(read_feed(f->s, &w, 100, 0, NULL, ends, 2), 1);
    assert_int_equal(ends[0], 5000);
    /* from the middle, too: the only signature is the head's. A first
     * read stopped early walks the chain up to there. */
    g.next = 1;
    g.stop_after = 2499;
    assert_int_equal(gs_store_feed_read(f->s, w.pk, gs_slice_of("yc.g2", 5), 1,
                                        100, seg_cb, &g, &to),
                     GS_OK);
    assert_int_equal(g.next, 2500);
    assert_false(g.got_sig);
    g.n = 0;
    g.stop_after = 0;
    assert_int_equal(gs_store_feed_read(f->s, w.pk, gs_slice_of("yc.g2", 5),
                                        2500, 100, seg_cb, &g, &to),
                     GS_OK);
    assert_int_equal(to, 5000);
    assert_int_equal(g.n, 2501);
    assert_true(g.got_sig);
}

static void
test_feed_read_long_write_batches_signed_every_spacing(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    uint64_t ends[16];
    gs_test_writer_init(&w, 52, "yc.g3", net_pk);
    enroll(f->s, &w);
    /* a batch longer than the spacing (an import's) is signed every
     * GS_STORE_SIG_SPACING ops and at its end: 1024, 2048, 3000, 4024,
     * 5048, 6000, ... 12000 */
    write_feed(f->s, &w, 3000, 4);

    /* without those only 3000, 6000, ... would be signed: 4 segments */
    assert_int_equal(read_feed(f->s, &w, 4096, 4096, NULL, ends, 16), 3);
    assert_int_equal(ends[0], 4024);
    assert_int_equal(ends[1], 8048);
    assert_int_equal(ends[2], 12000);
    /* signed seqs lie at most the spacing apart, as after small batches */
    assert_int_equal(read_feed(f->s, &w, GS_STORE_SIG_SPACING,
                               GS_STORE_SIG_SPACING, NULL, ends, 16),
                     12);
    for (size_t i = 0; i < 12; i++)
        assert_int_equal(ends[i], 3000 * (i / 3) +
                                      (i % 3 == 2 ? 3000 : 1024 * (i % 3 + 1)));
    /* a smaller window still ends at the next signed seq */
    assert_int_equal(
        read_feed(f->s, &w, 100, GS_STORE_SIG_SPACING, NULL, ends, 16), 12);
}

/* A streamed write (an import's): n writes named one at a time by
 * stream_next, built by build_op; starts counts the runs from write 0,
 * which a stream that can start over (replay) serves again, stamped
 * later: a try's ops differ from the last one's, so none of an ended
 * try's can pass for the committed one's. pad: each try's values are
 * pad letters longer than the last's, so its blocks also end at other
 * ops (store.c seals a block by its size). */
struct stream {
    struct gs_test_writer *w;
    size_t n, starts;
    bool replay;
    size_t pad;
};

static gs_err
stream_next(size_t i, gs_store_target *t, void *ctx)
{
    struct stream *st = ctx;
    if (i == 0 && st->starts++ > 0 && !st->replay)
        return GS_EINVAL;
    if (i == 0)
        st->w->hlc += 1000;
    if (i == st->n)
        return GS_ENOTFOUND;
    *t = (gs_store_target){gs_slice_of("household", 9),
                           gs_slice_of(ids[i % 4], strlen(ids[i % 4]))};
    return GS_OK;
}

static gs_err
stream_build(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
             const gs_entity *current, gs_buf *out, gs_store_built *built,
             void *ctx)
{
    const struct stream *st = ctx;
    (void)current;
    (void)built;
    return build_padded(i, head, hlc_seen, out, st->w, st->pad * st->starts);
}

static gs_err
write_stream(gs_store *s, struct stream *st, gs_store_write_result *res)
{
    struct gs_test_writer *w = st->w;
    return gs_store_write_stream(s, w->pk, w->sk,
                                 gs_slice_of(w->scope, strlen(w->scope)),
                                 net_pk, stream_next, stream_build, st, res);
}

static void
test_feed_read_streamed_write_signed_every_spacing(void **state)
{
    (void)state;
    char dir[] = "/tmp/gs-stream-XXXXXX";
    gs_store_opts o = {64 * 1024, 0, true}; /* 64 KiB: full within it */
    gs_store *s;
    struct gs_test_writer w;
    gs_store_write_result res;
    gs_feed_head head;
    uint64_t ends[16];
    gs_slice scope;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    gs_test_writer_init(&w, 53, "yc.g3", net_pk);
    scope = gs_slice_of(w.scope, strlen(w.scope));
    enroll(s, &w);

    /* a stream that cannot start over: the map fills, the write ends
     * with the stream's error and nothing is written */
    struct stream once = {&w, 3000, 0, false, 0};
    assert_int_equal(write_stream(s, &once, &res), GS_EINVAL);
    assert_int_equal(once.starts, 2);
    assert_int_equal(gs_store_feed_head(s, w.pk, scope, &head), GS_OK);
    assert_int_equal(head.seq, 0);

    /* one that can: the map grows until the whole write fits */
    struct stream again = {&w, 3000, 0, true, 0};
    assert_int_equal(write_stream(s, &again, &res), GS_OK);
    assert_true(again.starts > 1);
    assert_int_equal(res.written, 3000);
    assert_int_equal(res.head.seq, 3000);
    /* its blocks, sealed on the side (store.c), were all put, in order,
     * by the try that committed: the state is what the log rebuilds
     * (read_feed below reads every op back against its chain) */
    uint8_t digest[GS_HASH_BYTES], rebuilt[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(s, digest), GS_OK);
    assert_int_equal(gs_store_digest_rebuild(s, rebuilt), GS_OK);
    assert_memory_equal(digest, rebuilt, GS_HASH_BYTES);
    /* signed every GS_STORE_SIG_SPACING ops and at its end, as a long
     * batch: 1024, 2048, 3000 */
    assert_int_equal(read_feed(s, &w, GS_STORE_SIG_SPACING,
                               GS_STORE_SIG_SPACING, NULL, ends, 16),
                     3);
    assert_int_equal(ends[0], 1024);
    assert_int_equal(ends[1], 2048);
    assert_int_equal(ends[2], 3000);

    /* a stream naming nothing commits nothing */
    struct stream none = {&w, 0, 0, false, 0};
    assert_int_equal(write_stream(s, &none, &res), GS_OK);
    assert_int_equal(res.written, 0);
    assert_int_equal(gs_store_feed_head(s, w.pk, scope, &head), GS_OK);
    assert_int_equal(head.seq, 3000);
    gs_store_close(s);
    gs_test_rmtree(dir);
}

/* An op of the committed try, as history reads it (each op found by its
 * seq): its value is "v<seq>" and pad letters. */
struct hist_check {
    size_t pad, n;
};

static int
hist_cb(const uint8_t *bytes, size_t len, const uint8_t hash[GS_HASH_BYTES],
        void *ctx)
{
    struct hist_check *h = ctx;
    gs_op op;
    gs_payload pl;
    char want[32];
    (void)hash;
    assert_int_equal(gs_op_decode(bytes, len, &op), GS_OK);
    assert_int_equal(gs_payload_parse(op.updates[0].kind,
                                      op.updates[0].payload, &pl),
                     GS_OK);
    int k = snprintf(want, sizeof want, "v%llu", (unsigned long long)op.seq);
    assert_int_equal(pl.u.lww.v.s.n, (size_t)k + h->pad);
    assert_memory_equal(pl.u.lww.v.s.p, want, (size_t)k);
    h->n++;
    return 0;
}

/* A streamed write whose map fills after it has sealed blocks (the
 * sealer has one out at least when the try ends: the last it was given)
 * runs again, and what the committed try reads back is its own: an ended
 * try's blocks, put by the next one, end at other ops than its (its
 * values are longer), and an op looked up by its seq (history) would be
 * found in one of them. */
static void
test_feed_read_streamed_write_retried_keeps_no_block_of_the_last_try(
    void **state)
{
    (void)state;
    char dir[] = "/tmp/gs-stream-XXXXXX";
    gs_store_opts o = {256 * 1024, 0, true}; /* fills after some blocks */
    gs_store *s;
    struct gs_test_writer w;
    gs_store_write_result res;
    uint8_t digest[GS_HASH_BYTES], rebuilt[GS_HASH_BYTES];

    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    gs_test_writer_init(&w, 54, "yc.g3", net_pk);
    enroll(s, &w);
    struct stream st = {&w, 3000, 0, true, 40};
    assert_int_equal(write_stream(s, &st, &res), GS_OK);
    assert_true(st.starts > 1);
    assert_int_equal(res.written, 3000);
    assert_int_equal(read_feed(s, &w, GS_STORE_SIG_SPACING,
                               GS_STORE_SIG_SPACING, NULL, NULL, 0),
                     3);
    assert_int_equal(gs_store_digest(s, digest), GS_OK);
    assert_int_equal(gs_store_digest_rebuild(s, rebuilt), GS_OK);
    assert_memory_equal(digest, rebuilt, GS_HASH_BYTES);
    struct hist_check h = {st.pad * st.starts, 0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(gs_store_history(s, gs_slice_of("household", 9),
                                          gs_slice_of(ids[i], strlen(ids[i])),
                                          hist_cb, &h),
                         GS_OK);
    assert_int_equal(h.n, 3000);
    gs_store_close(s);
    gs_test_rmtree(dir);
}

static void
test_feed_read_spacing_holds_for_single_op_writes(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    gs_test_writer_init(&w, 53, "yc.g4", net_pk);
    enroll(f->s, &w);
    write_feed(f->s, &w, 1, 10000);

    size_t segs = read_feed(f->s, &w, 4096, 4096, NULL, NULL, 0);
    assert_true(segs >= 3 && segs <= 10);
    /* signed seqs lie at most the spacing apart */
    read_feed(f->s, &w, GS_STORE_SIG_SPACING, GS_STORE_SIG_SPACING, NULL, NULL,
              0);
    read_feed(f->s, &w, 10, GS_STORE_SIG_SPACING, NULL, NULL, 0);
}

static void
test_feed_read_refuses_bad_starts(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w, stranger;
    struct seg g = {.w = &w};
    gs_slice scope = gs_slice_of("yc.g5", 5);
    uint64_t to = 77;
    gs_test_writer_init(&w, 54, "yc.g5", net_pk);
    enroll(f->s, &w);
    gs_test_writer_init(&stranger, 55, "yc.g5", net_pk);
    write_feed(f->s, &w, 5, 3);

    assert_int_equal(
        gs_store_feed_read(f->s, w.pk, scope, 16, 10, seg_cb, &g, &to),
        GS_ENOTFOUND); /* above the head */
    assert_int_equal(
        gs_store_feed_read(f->s, w.pk, scope, 0, 10, seg_cb, &g, &to),
        GS_EINVAL);
    assert_int_equal(
        gs_store_feed_read(f->s, w.pk, scope, 1, 0, seg_cb, &g, &to),
        GS_EINVAL);
    assert_int_equal(
        gs_store_feed_read(f->s, stranger.pk, scope, 1, 10, seg_cb, &g, &to),
        GS_ENOTFOUND); /* unknown feed */
    assert_int_equal(gs_store_feed_read(f->s, w.pk, gs_slice_of("yc.g6", 5), 1,
                                        10, seg_cb, &g, &to),
                     GS_ENOTFOUND); /* the author, another scope */
    assert_int_equal(g.n, 0);
    assert_int_equal(to, 77);

    /* a reader that stops early; a short feed keeps no checkpoint, so the
     * segment runs to the head whatever max_ops says */
    g.next = 1;
    g.stop_after = 2;
    assert_int_equal(
        gs_store_feed_read(f->s, w.pk, scope, 1, 10, seg_cb, &g, &to), GS_OK);
    assert_int_equal(g.n, 2);
    assert_int_equal(to, 15);
    assert_false(g.got_sig);
    assert_int_equal(gs_store_feed_read(f->s, w.pk, scope, 1, 10, seg_cb,
                                        &(struct seg){.w = &w, .next = 1},
                                        NULL),
                     GS_OK); /* to_out may be NULL */
}

static void
assert_same_state(gs_store *a, gs_store *b)
{
    uint8_t da[GS_HASH_BYTES], db[GS_HASH_BYTES], rebuilt[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(a, da), GS_OK);
    assert_int_equal(gs_store_digest(b, db), GS_OK);
    assert_memory_equal(da, db, GS_HASH_BYTES);
    assert_int_equal(gs_store_digest_rebuild(b, rebuilt), GS_OK);
    assert_memory_equal(db, rebuilt, GS_HASH_BYTES);
}

static void
test_feed_read_segments_apply_to_a_fresh_replica(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer small, longrun, batches;
    char dir[] = "/tmp/gs-sync-dst-XXXXXX";
    gs_store *dst = replica_new(dir);

    gs_store_counts c;
    uint64_t ends[4];

    gs_test_writer_init(&small, 60, "yc.g7", net_pk);
    gs_test_writer_init(&longrun, 61, "yc.g7.b", net_pk);
    gs_test_writer_init(&batches, 62, "yc.g8", net_pk);
    /* both replicas hold the same certificates (as a session that
     * reconciles `trust` first leaves them) */
    gs_store *both[2] = {f->s, dst};
    for (size_t i = 0; i < 2; i++) {
        enroll(both[i], &small);
        enroll(both[i], &longrun);
        enroll(both[i], &batches);
    }
    write_feed(f->s, &small, 5, 500); /* checkpoints at 1020, 2040 */
    ingest_feed(f->s, &longrun, 5000);
    write_feed(f->s, &batches, 3000, 2); /* signed at 1024, 2048, 3000, ... */

    assert_int_equal(read_feed(f->s, &small, GS_STORE_SIG_SPACING,
                               GS_STORE_SIG_SPACING, dst, ends, 4),
                     3);
    assert_int_equal(ends[0], 1020);
    assert_int_equal(ends[1], 2040);
    assert_int_equal(read_feed(f->s, &longrun, 1000, 0, dst, NULL, 0), 1);
    assert_int_equal(
        read_feed(f->s, &batches, 1000, GS_STORE_SIG_SPACING, dst, NULL, 0), 6);
    assert_same_state(f->s, dst);
    assert_int_equal(gs_store_counts_get(dst, &c), GS_OK);
    assert_int_equal(c.ops, 3 + 2500 + 5000 + 6000); /* 3 certificates */
    assert_int_equal(c.feeds, 1 + 3);
    struct listing l = list(dst, "");
    struct gs_test_writer t = trust_feed(f->s);
    assert_int_equal(l.n, 1 + 3);
    assert_true(listed(&l, &small) && listed(&l, &longrun) &&
                listed(&l, &batches) && listed(&l, &t));

    /* the receiver kept checkpoints of its own where the segments ended:
     * it passes the feeds on in segments as short */
    assert_int_equal(read_feed(dst, &small, GS_STORE_SIG_SPACING,
                               GS_STORE_SIG_SPACING, NULL, ends, 4),
                     3);
    assert_int_equal(ends[0], 1020);
    assert_int_equal(read_feed(dst, &batches, 4096, 4096, NULL, ends, 4), 2);
    assert_int_equal(ends[0], 4024);
    gs_store_close(dst);
    gs_test_rmtree(dir);
}

/* A replica made before sigs existed has no such database: it must still
 * open, and get one. */
static void
test_store_open_adds_sigs_to_older_replica(void **state)
{
    (void)state;
    char dir[] = "/tmp/gs-sync-old-XXXXXX";
    gs_store_opts o = {0, 0, false};
    gs_store *s = replica_new(dir);
    struct gs_test_writer w;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;

    gs_test_writer_init(&w, 63, "yc.g9", net_pk);
    enroll(s, &w);
    write_feed(s, &w, 1, 1100); /* one checkpoint, at 1024 */
    gs_store_close(s);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "sigs", 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    /* only the head is signed now: one segment, however long */
    assert_int_equal(read_feed(s, &w, 1000, 0, NULL, NULL, 0), 1);
    write_feed(s, &w, 1, 2000);
    read_feed(s, &w, 4096, 4096, NULL, NULL, 0);
    gs_store_close(s);
    /* and reopens as any replica */
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    read_feed(s, &w, 4096, 4096, NULL, NULL, 0);
    gs_store_close(s);
    gs_test_rmtree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_feeds_each_lists_every_feed_with_its_head, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_feeds_each_filters_by_scope_on_a_dot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feeds_each_stops_when_asked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_feed_read_small_writes_end_at_signatures, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_feed_read_one_long_run_is_one_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_feed_read_long_write_batches_signed_every_spacing, setup,
            teardown),
        cmocka_unit_test(test_feed_read_streamed_write_signed_every_spacing),
        cmocka_unit_test(
            test_feed_read_streamed_write_retried_keeps_no_block_of_the_last_try),
        cmocka_unit_test_setup_teardown(
            test_feed_read_spacing_holds_for_single_op_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_read_refuses_bad_starts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_feed_read_segments_apply_to_a_fresh_replica, setup, teardown),
        cmocka_unit_test(test_store_open_adds_sigs_to_older_replica),
    };
    gs_test_keypair(0xa0, net_pk, net_sk);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
