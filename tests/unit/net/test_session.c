/*
 * test_session.c — two sync sessions driven against each other in memory,
 * each over its own store: they end with equal digests, and the bytes and
 * round trips a session costs are measured and printed (issue 4, must
 * show 2): nothing to do is one round trip under 1 KB; one changed op
 * among 10,000 or 100,000 feeds costs under 2 KB plus the op, the same at
 * both sizes. Hostile input ends a session with a named error and changes
 * nothing.
 *
 * Every writer is enrolled (store/trust.h) in every store before its ops
 * go in, in the same order in each, so the measured sessions move exactly
 * the ops they did before certificates existed; those sessions want "yc"
 * only. One test leaves the certificates to the session: wanting "trust"
 * first, as the agent does, a replica that has none gets them and then
 * the ops they admit; wanting "yc" alone, it refuses those ops
 * (GS_ENOCERT) and stays as it was.
 *
 * A "flight" is everything one side has queued, delivered at once; two
 * flights make a round trip.
 */
#include "session.h"
#include "store.h"
#include "trust.h"
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t net_pk[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];
static const char *const wanted[] = {"yc"}; /* every test feed is below */
static const char *const wanted_trust[] = {"trust", "yc"}; /* the agent's */

struct side {
    char dir[64];
    gs_store *st;
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
};

static void
side_open(struct side *s, uint8_t seed)
{
    gs_store_opts o = {0, 0, true};
    strcpy(s->dir, "/tmp/gs-sess-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    assert_int_equal(gs_store_open(s->dir, &o, &s->st), GS_OK);
    gs_test_keypair(seed, s->pk, s->sk);
}

/* Enroll the device of key seed `seed` for `write` in every store given,
 * in the order given. */
static void
enroll(gs_store *const *stores, size_t n_stores, uint8_t seed,
       const char *write)
{
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
    gs_test_keypair(seed, pk, sk);
    for (size_t k = 0; k < n_stores; k++)
        gs_test_enroll(stores[k], net_pk, net_sk, pk, write, false);
}

static void
side_close(struct side *s)
{
    gs_store_close(s->st);
    gs_test_rmtree(s->dir);
}

/* Ingest ops as runs of up to `run` ops, `per_call` runs per transaction,
 * into every store given. */
struct pending {
    struct gs_test_op *ops;
    size_t n, cap;
    size_t *run_ends; /* exclusive ends of runs */
    size_t n_runs, cap_runs;
};

static void
pend_op(struct pending *p, const struct gs_test_op *op, bool ends_run)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->ops = realloc(p->ops, p->cap * sizeof *p->ops);
        assert_non_null(p->ops);
    }
    p->ops[p->n++] = *op;
    if (ends_run) {
        if (p->n_runs == p->cap_runs) {
            p->cap_runs = p->cap_runs ? p->cap_runs * 2 : 1024;
            p->run_ends = realloc(p->run_ends, p->cap_runs * sizeof(size_t));
            assert_non_null(p->run_ends);
        }
        p->run_ends[p->n_runs++] = p->n;
    }
}

static void
pend_flush(struct pending *p, gs_store *const *stores, size_t n_stores)
{
    gs_run_item *items = calloc(p->n ? p->n : 1, sizeof *items);
    gs_store_run *runs = calloc(p->n_runs ? p->n_runs : 1, sizeof *runs);
    assert_non_null(items);
    assert_non_null(runs);
    size_t start = 0;
    for (size_t r = 0; r < p->n_runs; r++) {
        size_t end = p->run_ends[r];
        for (size_t i = start; i < end; i++)
            items[i] = (gs_run_item){p->ops[i].bytes, p->ops[i].n, NULL};
        items[end - 1].sig = &p->ops[end - 1].sig;
        runs[r] = (gs_store_run){items + start, end - start};
        start = end;
    }
    for (size_t k = 0; k < n_stores; k++)
        for (size_t r = 0; r < p->n_runs; r += 1000) {
            gs_ingest_stats is;
            size_t n = p->n_runs - r < 1000 ? p->n_runs - r : 1000;
            assert_int_equal(gs_store_ingest(stores[k], runs + r, n, net_pk,
                                             &is),
                             GS_OK);
            assert_int_equal(is.rejected, 0);
        }
    free(items);
    free(runs);
    p->n = p->n_runs = 0;
}

static void
pend_free(struct pending *p)
{
    free(p->ops);
    free(p->run_ends);
}

/* n_feeds feeds of one author (one scope each, under "yc.t"), one op each,
 * into every store given. */
static void
many_feeds(gs_store *const *stores, size_t n_stores, size_t n_feeds,
           uint8_t seed)
{
    struct pending p = {0};
    char scope[64], id[32];
    for (size_t i = 0; i < n_feeds; i++) {
        struct gs_test_writer w;
        struct gs_test_op op;
        snprintf(scope, sizeof scope, "yc.t.g%06zu", i);
        snprintf(id, sizeof id, "H-%06zu", i);
        gs_test_writer_init(&w, seed, scope, net_pk);
        gs_test_writer_op(&w, "household", id, "name", "张伟", &op);
        pend_op(&p, &op, true);
    }
    pend_flush(&p, stores, n_stores);
    pend_free(&p);
}

/* n ops by writer w (which keeps its state), runs of `run` ops. */
static void
feed_ops(struct gs_test_writer *w, gs_store *st, size_t n, size_t run)
{
    struct pending p = {0};
    char id[32], text[32];
    for (size_t i = 0; i < n; i++) {
        struct gs_test_op op;
        snprintf(id, sizeof id, "P-%04zu", i % 500);
        snprintf(text, sizeof text, "v%zu", (size_t)w->seq);
        gs_test_writer_op(w, "person", id, "name", text, &op);
        pend_op(&p, &op, (i + 1) % run == 0 || i + 1 == n);
    }
    pend_flush(&p, &st, 1);
    pend_free(&p);
}

/* Hand a message to a session; its outcome shows in the session's state. */
static void
deliver(gs_session *to, const uint8_t *p, size_t n)
{
    gs_err rc = gs_session_recv(to, p, n);
    (void)rc;
}

struct run_stats {
    size_t flights, rtts, bytes, msgs;
    size_t dialer_flights; /* flights until the dialer was over */
};

/* Deliver one side's queue to the other. Returns the bytes moved. */
static size_t
flight(gs_session *from, gs_session *to, size_t *msgs, size_t stop_after,
       bool *stopped)
{
    gs_slice m;
    size_t bytes = 0;
    while (gs_session_next(from, &m)) {
        bytes += m.n;
        (*msgs)++;
        if (stop_after && *msgs >= stop_after) {
            *stopped = true;
            return bytes;
        }
        if (!gs_session_over(to))
            deliver(to, m.p, m.n);
    }
    return bytes;
}

static gs_session *
new_session_scopes(struct side *s, bool dialer, size_t batch_ops,
                   const char *const *scopes, size_t n_scopes)
{
    gs_session_opts o = {0};
    gs_session *x;
    o.store = s->st;
    o.network = net_pk;
    o.device = s->pk;
    o.dialer = dialer;
    o.scopes = scopes;
    o.n_scopes = n_scopes;
    o.id = 7;
    o.batch_ops = batch_ops;
    assert_int_equal(gs_session_new(&o, &x), GS_OK);
    return x;
}

static gs_session *
new_session(struct side *s, bool dialer, size_t batch_ops)
{
    return new_session_scopes(s, dialer, batch_ops, wanted, 1);
}

/* One session, a dialing b for the n_scopes scopes given. stop_after > 0
 * cuts it after that many messages (an interrupted link). Returns both
 * sessions' stats. */
static void
run_session_scopes(struct side *a, struct side *b, struct run_stats *rs,
                   size_t batch_ops, size_t stop_after, gs_session_stats *sa,
                   gs_session_stats *sb, const char *const *scopes,
                   size_t n_scopes)
{
    gs_session *d = new_session_scopes(a, true, batch_ops, scopes, n_scopes);
    gs_session *l = new_session_scopes(b, false, batch_ops, scopes, n_scopes);
    bool stopped = false;
    memset(rs, 0, sizeof *rs);
    assert_int_equal(gs_session_start(d), GS_OK);
    while (!stopped && rs->flights < 10000) {
        size_t moved;
        gs_session *from = rs->flights % 2 ? l : d, *to = from == d ? l : d;
        moved = flight(from, to, &rs->msgs, stop_after, &stopped);
        if (!moved && gs_session_over(d) && gs_session_over(l))
            break;
        rs->bytes += moved;
        rs->flights++;
        if (gs_session_over(d) && !rs->dialer_flights)
            rs->dialer_flights = rs->flights;
        if (!moved && !gs_session_over(d) && !gs_session_over(l) &&
            rs->flights > 2) {
            /* both idle but not over: a stall is a bug */
            gs_slice m;
            if (!gs_session_next(d, &m) && !gs_session_next(l, &m))
                fail_msg("session stalled after %zu flights", rs->flights);
        }
    }
    rs->rtts = (rs->dialer_flights + 1) / 2;
    if (gs_session_result(d) != GS_OK || gs_session_result(l) != GS_OK)
        printf("dialer: %s (peer said %s), listener: %s (peer said %s)\n",
               gs_errname(gs_session_result(d)),
               gs_errname(gs_session_stats_get(d)->peer_error),
               gs_errname(gs_session_result(l)),
               gs_errname(gs_session_stats_get(l)->peer_error));
    if (!stop_after) {
        assert_true(gs_session_over(d));
        assert_true(gs_session_over(l));
        assert_int_equal(gs_session_result(d), GS_OK);
        assert_int_equal(gs_session_result(l), GS_OK);
    }
    if (!stop_after) /* the session's own count agrees with the flights */
        assert_int_equal(gs_session_stats_get(d)->round_trips, rs->rtts);
    if (sa)
        *sa = *gs_session_stats_get(d);
    if (sb)
        *sb = *gs_session_stats_get(l);
    gs_session_free(d);
    gs_session_free(l);
}

/* run_session_scopes for "yc": the certificates are in place already. */
static void
run_session(struct side *a, struct side *b, struct run_stats *rs,
            size_t batch_ops, size_t stop_after, gs_session_stats *sa,
            gs_session_stats *sb)
{
    run_session_scopes(a, b, rs, batch_ops, stop_after, sa, sb, wanted, 1);
}

static void
assert_same_digest(struct side *a, struct side *b)
{
    uint8_t da[GS_HASH_BYTES], db[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(a->st, da), GS_OK);
    assert_int_equal(gs_store_digest(b->st, db), GS_OK);
    assert_memory_equal(da, db, GS_HASH_BYTES);
}

static void
test_session_nothing_to_do_is_one_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {10000, 100000};
    for (size_t k = 0; k < 2; k++) {
        struct side a, b;
        struct run_stats rs;
        side_open(&a, 1);
        side_open(&b, 2);
        gs_store *both[2] = {a.st, b.st};
        enroll(both, 2, 9, "yc.t");
        many_feeds(both, 2, sizes[k], 9);
        run_session(&a, &b, &rs, 0, 0, NULL, NULL);
        printf("nothing to do, %zu feeds: %zu bytes, %zu round trip(s), "
               "%zu messages\n",
               sizes[k], rs.bytes, rs.rtts, rs.msgs);
        assert_int_equal(rs.rtts, 1);
        assert_true(rs.bytes < 1024);
        assert_same_digest(&a, &b);
        side_close(&a);
        side_close(&b);
    }
}

static void
test_session_one_changed_op_costs_little(void **state)
{
    (void)state;
    static const size_t sizes[] = {10000, 100000};
    size_t cost[2];
    for (size_t k = 0; k < 2; k++) {
        struct side a, b;
        struct run_stats rs;
        gs_session_stats sa, sb;
        side_open(&a, 1);
        side_open(&b, 2);
        gs_store *both[2] = {a.st, b.st};
        enroll(both, 2, 9, "yc.t");
        many_feeds(both, 2, sizes[k], 9);
        /* one more op on one feed, on a only */
        struct gs_test_writer w;
        char scope[64];
        snprintf(scope, sizeof scope, "yc.t.g%06zu", sizes[k] / 3);
        gs_test_writer_init(&w, 9, scope, net_pk);
        struct gs_test_op first, op;
        char id[32];
        snprintf(id, sizeof id, "H-%06zu", sizes[k] / 3);
        gs_test_writer_op(&w, "household", id, "name", "张伟", &first);
        gs_test_writer_op(&w, "household", id, "phone", "13900001111", &op);
        gs_run_item it = {op.bytes, op.n, &op.sig};
        gs_store_run run = {&it, 1};
        gs_ingest_stats is;
        assert_int_equal(gs_store_ingest(a.st, &run, 1, net_pk, &is), GS_OK);
        assert_int_equal(is.applied, 1);

        run_session(&a, &b, &rs, 0, 0, &sa, &sb);
        cost[k] = rs.bytes;
        printf("one changed op (%zu bytes) among %zu feeds: %zu bytes, "
               "%zu round trips, %zu messages\n",
               op.n, sizes[k], rs.bytes, rs.rtts, rs.msgs);
        assert_int_equal(sb.ops_in, 1);
        assert_int_equal(sa.ops_out, 1);
        assert_true(rs.bytes < 2048 + op.n + GS_SIG_BYTES);
        assert_same_digest(&a, &b);
        side_close(&a);
        side_close(&b);
    }
    /* cost follows the difference, not the size: within 25% */
    assert_true(cost[1] * 4 < cost[0] * 5);
}

static void
test_session_offline_writers_converge(void **state)
{
    (void)state;
    struct side a, b;
    struct run_stats rs;
    gs_session_stats sa, sb;
    side_open(&a, 1);
    side_open(&b, 2);
    /* each side: 10,000 ops offline, in 4 feeds, signed every 50 ops, by
     * devices enrolled before they went offline */
    gs_store *both[2] = {a.st, b.st};
    for (int i = 0; i < 4; i++) {
        enroll(both, 2, (uint8_t)(10 + i), "yc.t");
        enroll(both, 2, (uint8_t)(20 + i), "yc.t");
    }
    for (int i = 0; i < 4; i++) {
        struct gs_test_writer wa, wb;
        gs_test_writer_init(&wa, (uint8_t)(10 + i),
                            i % 2 ? "yc.t.g1" : "yc.t.g2", net_pk);
        gs_test_writer_init(&wb, (uint8_t)(20 + i),
                            i % 2 ? "yc.t.g1" : "yc.t.g3", net_pk);
        feed_ops(&wa, a.st, 2500, 50);
        feed_ops(&wb, b.st, 2500, 50);
    }
    run_session(&a, &b, &rs, 0, 0, &sa, &sb);
    printf("10,000 ops each way: %zu bytes, %zu flights, %zu messages\n",
           rs.bytes, rs.flights, rs.msgs);
    assert_int_equal(sa.ops_in, 10000);
    assert_int_equal(sb.ops_in, 10000);
    assert_int_equal(sa.ops_out, 10000);
    assert_int_equal(sb.ops_out, 10000);
    /* what each side was promised is what came: nothing left owed */
    assert_int_equal(sa.ops_promised_in, 10000);
    assert_int_equal(sb.ops_promised_in, 10000);
    assert_int_equal(sa.ops_promised_out, 10000);
    assert_int_equal(sb.ops_promised_out, 10000);
    assert_same_digest(&a, &b);
    /* and again: nothing to do */
    run_session(&a, &b, &rs, 0, 0, &sa, &sb);
    assert_int_equal(rs.rtts, 1);
    assert_int_equal(sa.ops_in + sb.ops_in + sa.ops_out + sb.ops_out, 0);
    side_close(&a);
    side_close(&b);
}

static void
test_session_interrupted_resumes_without_resending(void **state)
{
    (void)state;
    struct side a, b;
    struct run_stats rs;
    gs_session_stats sa, sb;
    side_open(&a, 1);
    side_open(&b, 2);
    struct gs_test_writer w;
    gs_store *both[2] = {a.st, b.st};
    enroll(both, 2, 30, "yc.t.g1");
    gs_test_writer_init(&w, 30, "yc.t.g1", net_pk);
    feed_ops(&w, a.st, 5000, 100);
    /* cut the link after 12 messages: some batches applied, some not */
    run_session(&a, &b, &rs, 500, 12, &sa, &sb);
    uint64_t first = sb.ops_in;
    assert_true(first > 0 && first < 5000);
    /* the cut session knew what it was still owed */
    assert_int_equal(sb.ops_promised_in, 5000);
    assert_int_equal(sa.ops_promised_out, 5000);
    run_session(&a, &b, &rs, 500, 0, &sa, &sb);
    printf("interrupted: first session applied %llu, second sent %llu\n",
           (unsigned long long)first, (unsigned long long)sa.ops_out);
    assert_int_equal(first + sb.ops_in, 5000);
    assert_int_equal(sa.ops_out, 5000 - first); /* nothing sent twice */
    assert_int_equal(sb.ops_known, 0);
    assert_same_digest(&a, &b);
    side_close(&a);
    side_close(&b);
}

static void
test_session_garbage_ends_with_named_error(void **state)
{
    (void)state;
    struct side b;
    side_open(&b, 2);
    static const uint8_t junk[][8] = {
        {0},                      /* too short */
        {9, 1, 0, 0, 0, 7, 0, 0}, /* another version */
        {1, 1, 0, 0, 0, 7, 0xff, 0xff}, /* HELLO cut short */
        {1, 6, 0, 0, 0, 7, 0, 0}, /* OPS before HELLO */
    };
    static const gs_err want[] = {GS_EMALFORMED, GS_EVERSION, GS_ETRUNC,
                                  GS_EPROTO};
    for (size_t i = 0; i < 4; i++) {
        gs_session *l = new_session(&b, false, 0);
        gs_slice m;
        gs_err rc = gs_session_recv(l, junk[i], i == 0 ? 1 : 8);
        assert_int_not_equal(rc, GS_OK);
        if (i != 2)
            assert_int_equal(rc, want[i]);
        assert_true(gs_session_over(l));
        assert_true(gs_session_next(l, &m)); /* the ERROR for the peer */
        assert_int_equal(m.p[1], GS_WIRE_ERROR);
        gs_session_free(l);
    }
    gs_store_counts c;
    assert_int_equal(gs_store_counts_get(b.st, &c), GS_OK);
    assert_int_equal(c.ops, 0);
    side_close(&b);
}

static void
test_session_other_network_is_refused(void **state)
{
    (void)state;
    struct side a, b;
    side_open(&a, 1);
    side_open(&b, 2);
    uint8_t other[GS_KEY_BYTES];
    memset(other, 0x5a, sizeof other);
    gs_session_opts o = {0};
    gs_session *d, *l = new_session(&b, false, 0);
    o.store = a.st;
    o.network = other;
    o.device = a.pk;
    o.dialer = true;
    o.scopes = wanted;
    o.n_scopes = 1;
    o.id = 3;
    assert_int_equal(gs_session_new(&o, &d), GS_OK);
    assert_int_equal(gs_session_start(d), GS_OK);
    gs_slice m;
    assert_true(gs_session_next(d, &m));
    assert_int_equal(gs_session_recv(l, m.p, m.n), GS_ENETWORK);
    assert_true(gs_session_next(l, &m));
    assert_int_equal(gs_session_recv(d, m.p, m.n), GS_ENETWORK);
    assert_int_equal(gs_session_stats_get(d)->peer_error, GS_ENETWORK);
    gs_session_free(d);
    gs_session_free(l);
    side_close(&a);
    side_close(&b);
}

/* A peer that serves ops with a bad signature: refused, counted, the
 * receiver's store unchanged; the third bad run ends the session. */
static void
test_session_bad_signature_refused_and_counted(void **state)
{
    (void)state;
    struct side a, b;
    side_open(&a, 1);
    side_open(&b, 2);
    gs_store *both[2] = {a.st, b.st};
    for (int i = 0; i < 3; i++) /* the signatures are all that is wrong */
        enroll(both, 2, (uint8_t)(40 + i), "yc.t.g1");
    for (int i = 0; i < 3; i++) {
        struct gs_test_writer w;
        gs_test_writer_init(&w, (uint8_t)(40 + i), "yc.t.g1", net_pk);
        feed_ops(&w, a.st, 3, 3);
    }
    uint8_t before[GS_HASH_BYTES], after[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(b.st, before), GS_OK);

    gs_session *d = new_session(&a, true, 0), *l = new_session(&b, false, 0);
    assert_int_equal(gs_session_start(d), GS_OK);
    size_t msgs = 0;
    bool stopped = false, tampered = false;
    for (int f = 0; f < 40 && !(gs_session_over(d) && gs_session_over(l));
         f++) {
        gs_session *from = f % 2 ? l : d, *to = from == d ? l : d;
        gs_slice m;
        while (gs_session_next(from, &m)) {
            uint8_t *copy = malloc(m.n);
            assert_non_null(copy);
            memcpy(copy, m.p, m.n);
            if (from == d && copy[1] == GS_WIRE_OPS) {
                /* re-encode the batch with every signature flipped */
                gs_wire_msg *x = calloc(1, sizeof *x);
                gs_wire_batch bt;
                gs_buf fr, out;
                assert_non_null(x);
                assert_int_equal(gs_wire_decode(copy, m.n, x), GS_OK);
                assert_int_equal(gs_wire_batch_decode(x->u.ops.frame, &bt),
                                 GS_OK);
                for (size_t r = 0; r < bt.n_runs; r++)
                    bt.runs[r].sig.sig[5] ^= 1;
                gs_buf_init(&fr, GS_WIRE_MSG_MAX);
                gs_buf_init(&out, GS_WIRE_MSG_MAX);
                assert_int_equal(gs_wire_batch_compress(bt.runs, bt.n_runs,
                                                        &fr),
                                 GS_OK);
                x->u.ops.frame = gs_slice_of(fr.data, fr.len);
                assert_int_equal(gs_wire_encode(x, &out), GS_OK);
                if (!gs_session_over(to))
                    deliver(to, out.data, out.len);
                tampered = true;
                gs_buf_fini(&fr);
                gs_buf_fini(&out);
                gs_wire_batch_fini(&bt);
                free(x);
            } else if (!gs_session_over(to)) {
                deliver(to, copy, m.n);
            }
            free(copy);
            msgs++;
        }
    }
    (void)stopped;
    assert_true(tampered);
    const gs_session_stats *st = gs_session_stats_get(l);
    assert_int_equal(st->ops_in, 0);
    assert_int_equal(st->runs_refused, 3);
    assert_int_equal(st->rejected_by_reason[GS_EBADSIG], 9); /* 3 x 3 ops */
    assert_true(gs_session_over(l));
    assert_int_equal(gs_session_result(l), GS_EBADSIG);
    assert_int_equal(gs_store_digest(b.st, after), GS_OK);
    assert_memory_equal(before, after, GS_HASH_BYTES);
    gs_session_free(d);
    gs_session_free(l);
    side_close(&a);
    side_close(&b);
}

/* Certificates travel in the session, before the ops they admit: a has
 * the authority's certificates for two writers and their ops; b has
 * nothing. Wanting "yc" alone, b refuses every op (GS_ENOCERT) and stays
 * as it was; wanting "trust" first, it gets the certificates, then the
 * same ops, and ends equal to a. Either side dialing. */
static void
test_session_certificates_travel_first(void **state)
{
    (void)state;
    for (int b_dials = 0; b_dials < 2; b_dials++) {
        struct side a, b;
        struct run_stats rs;
        gs_session_stats sa, sb;
        uint8_t before[GS_HASH_BYTES], after[GS_HASH_BYTES];
        side_open(&a, 1);
        side_open(&b, 2);
        for (int i = 0; i < 2; i++) {
            struct gs_test_writer w;
            gs_test_writer_init(&w, (uint8_t)(50 + i),
                                i ? "yc.t.g2" : "yc.t.g1", net_pk);
            gs_test_enroll(a.st, net_pk, net_sk, w.pk, w.scope, false);
            feed_ops(&w, a.st, 100, 50);
        }
        struct side *d = b_dials ? &b : &a, *l = b_dials ? &a : &b;
        gs_session_stats *sd = b_dials ? &sb : &sa, *sl = b_dials ? &sa : &sb;

        assert_int_equal(gs_store_digest(b.st, before), GS_OK);
        run_session_scopes(d, l, &rs, 0, 0, sd, sl, wanted, 1);
        assert_int_equal(sb.ops_in, 0);
        assert_int_equal(sb.rejected_by_reason[GS_ENOCERT], 200);
        assert_int_equal(sb.runs_refused, 2);
        assert_int_equal(gs_store_digest(b.st, after), GS_OK);
        assert_memory_equal(before, after, GS_HASH_BYTES);

        run_session_scopes(d, l, &rs, 0, 0, sd, sl, wanted_trust, 2);
        printf("certificates first (%s dials): %zu bytes, %zu round trips\n",
               b_dials ? "b" : "a", rs.bytes, rs.rtts);
        assert_int_equal(sb.ops_in, 2 + 200);
        assert_int_equal(sb.rejected, 0);
        assert_int_equal(sa.ops_out, 2 + 200);
        assert_same_digest(&a, &b);
        side_close(&a);
        side_close(&b);
    }
}

static void
test_session_scope_covers_on_dots(void **state)
{
    (void)state;
    gs_slice ab = gs_slice_of("a.b", 3);
    assert_true(gs_scope_covers(ab, gs_slice_of("a.b", 3)));
    assert_true(gs_scope_covers(ab, gs_slice_of("a.b.c", 5)));
    assert_false(gs_scope_covers(ab, gs_slice_of("a.bc", 4)));
    assert_false(gs_scope_covers(ab, gs_slice_of("a", 1)));
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    gs_test_keypair(0xa0, net_pk, net_sk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_scope_covers_on_dots),
        cmocka_unit_test(test_session_garbage_ends_with_named_error),
        cmocka_unit_test(test_session_other_network_is_refused),
        cmocka_unit_test(test_session_nothing_to_do_is_one_round_trip),
        cmocka_unit_test(test_session_one_changed_op_costs_little),
        cmocka_unit_test(test_session_offline_writers_converge),
        cmocka_unit_test(test_session_interrupted_resumes_without_resending),
        cmocka_unit_test(test_session_bad_signature_refused_and_counted),
        cmocka_unit_test(test_session_certificates_travel_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
