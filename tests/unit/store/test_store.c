/*
 * test_store.c — the LMDB replica: ingest of runs (new, known, gap, fork,
 * forged), the materialised state against a rebuild from the op log,
 * history, the full op listing, the stored forms of ops and entities
 * (canonical bytes back for every reader), and a map that must grow by
 * itself.
 *
 * Every writer is enrolled (a certificate of the network's authority,
 * store/trust.h) before its ops are ingested, so each refusal tested here
 * has the one reason the test names; the trust rules themselves are
 * test_trust.c's.
 */
#include "testutil.h"

#include "field.h"
#include "store.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t net_pk[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];

/* Ingest ops[0..n) as one run signed at its end. */
static gs_err
ingest(gs_store *s, const struct gs_test_op *ops, size_t n, gs_ingest_stats *st)
{
    gs_run_item *items = calloc(n, sizeof *items);
    assert_non_null(items);
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_run_item){ops[i].bytes, ops[i].n, NULL};
    items[n - 1].sig = &ops[n - 1].sig;
    gs_store_run run = {items, n};
    gs_err rc = gs_store_ingest(s, &run, 1, net_pk, st);
    free(items);
    return rc;
}

struct fixture {
    char dir[64];
    gs_store *s;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    gs_store_opts o = {0, 0, true};
    gs_test_keypair(0xa0, net_pk, net_sk);
    strcpy(f->dir, "/tmp/gs-store-XXXXXX");
    if (!mkdtemp(f->dir) || gs_store_open(f->dir, &o, &f->s) != GS_OK)
        return -1;
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

/* Enroll writer w in s for its own scope (and below), as the authority. */
static void
enroll(gs_store *s, const struct gs_test_writer *w, bool shop)
{
    gs_test_enroll(s, net_pk, net_sk, w->pk, w->scope, shop);
}

static void
assert_consistent(gs_store *s, uint8_t digest[GS_HASH_BYTES])
{
    uint8_t rebuilt[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(s, digest), GS_OK);
    assert_int_equal(gs_store_digest_rebuild(s, rebuilt), GS_OK);
    assert_memory_equal(digest, rebuilt, GS_HASH_BYTES);
}

static void
test_store_open_missing_without_create(void **state)
{
    (void)state;
    gs_store *s;
    gs_store_opts o = {0, 0, false};
    char dir[] = "/tmp/gs-store-missing-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_ENOTFOUND);
    rmdir(dir);
}

static void
test_store_ingest_applies_and_matches_rebuild(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct gs_test_op ops[3];
    gs_ingest_stats st;
    uint8_t d[GS_HASH_BYTES];
    gs_entity e;
    gs_vref v;

    gs_test_writer_init(&w, 1, "yc.g1", net_pk);
    enroll(f->s, &w, false);
    gs_test_writer_op(&w, "household", "H-1", "name", "张三", &ops[0]);
    gs_test_writer_op(&w, "household", "H-1", "phone", "13800000000", &ops[1]);
    gs_test_writer_op(&w, "household", "H-2", "name", "李四", &ops[2]);
    assert_int_equal(ingest(f->s, ops, 3, &st), GS_OK);
    assert_int_equal(st.applied, 3);
    assert_int_equal(st.rejected, 0);
    assert_consistent(f->s, d);

    assert_int_equal(gs_store_entity_get(f->s, gs_slice_of("household", 9),
                                         gs_slice_of("H-1", 3), &e),
                     GS_OK);
    assert_true(gs_field_lww_get(gs_entity_field(&e, "name", GS_KIND_LWW), &v,
                                 NULL));
    assert_int_equal(v.s.n, strlen("张三"));
    assert_memory_equal(v.s.p, "张三", v.s.n);
    gs_entity_fini(&e);
    assert_int_equal(gs_store_entity_get(f->s, gs_slice_of("household", 9),
                                         gs_slice_of("H-9", 3), &e),
                     GS_ENOTFOUND);

    gs_feed_head head;
    assert_int_equal(gs_store_feed_head(f->s, w.pk, gs_slice_of("yc.g1", 5),
                                        &head),
                     GS_OK);
    assert_int_equal(head.seq, 3);
    assert_memory_equal(head.hash, w.prev, GS_HASH_BYTES);
}

static void
test_store_reingest_is_noop(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct gs_test_op ops[2];
    gs_ingest_stats st;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    gs_store_counts c1, c2;

    gs_test_writer_init(&w, 2, "yc.g1", net_pk);
    enroll(f->s, &w, false);
    gs_test_writer_op(&w, "ticket", "T-1", "title", "路灯坏了", &ops[0]);
    gs_test_writer_op(&w, "ticket", "T-1", "title", "路灯坏了两盏", &ops[1]);
    assert_int_equal(ingest(f->s, ops, 2, &st), GS_OK);
    assert_consistent(f->s, d1);
    assert_int_equal(gs_store_counts_get(f->s, &c1), GS_OK);
    assert_int_equal(ingest(f->s, ops, 2, &st), GS_OK);
    assert_int_equal(st.known, 2);
    assert_int_equal(st.applied, 0);
    assert_consistent(f->s, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    assert_int_equal(gs_store_counts_get(f->s, &c2), GS_OK);
    assert_int_equal(c1.ops, c2.ops);
    /* a run that overlaps what is held applies only the new tail */
    struct gs_test_op more[3];
    memcpy(more, ops, sizeof ops);
    gs_test_writer_op(&w, "ticket", "T-1", "dept", "城管", &more[2]);
    assert_int_equal(ingest(f->s, more, 3, &st), GS_OK);
    assert_int_equal(st.known, 2);
    assert_int_equal(st.applied, 1);
}

static void
test_store_refuses_gap(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct gs_test_op ops[3];
    gs_ingest_stats st;
    uint8_t before[GS_HASH_BYTES], after[GS_HASH_BYTES];

    gs_test_writer_init(&w, 3, "yc.g2", net_pk);
    enroll(f->s, &w, false);
    gs_test_writer_op(&w, "household", "H-5", "name", "王五", &ops[0]);
    gs_test_writer_op(&w, "household", "H-5", "name", "王五一", &ops[1]);
    gs_test_writer_op(&w, "household", "H-5", "name", "王五二", &ops[2]);
    assert_int_equal(ingest(f->s, ops, 1, &st), GS_OK);
    assert_int_equal(st.applied, 1);
    assert_consistent(f->s, before);
    assert_int_equal(ingest(f->s, &ops[2], 1, &st), GS_OK); /* seq 3 after 1 */
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.by_reason[GS_ECHAIN], 1);
    assert_consistent(f->s, after);
    assert_memory_equal(before, after, GS_HASH_BYTES);
}

/* Runs as gs_store_ops_each or feed_read hand them: a signature ends one. */
struct runs_out {
    struct gs_test_op ops[16];
    gs_run_item items[16];
    gs_store_run runs[4];
    size_t n_ops, n_runs, run_start;
};

static int
runs_add(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct runs_out *o = ctx;
    assert_true(o->n_ops < 16 && len <= sizeof o->ops[0].bytes);
    struct gs_test_op *t = &o->ops[o->n_ops];
    memcpy(t->bytes, op, len);
    t->n = len;
    o->items[o->n_ops] = (gs_run_item){t->bytes, len, NULL};
    if (sig) {
        t->sig = *sig;
        o->items[o->n_ops].sig = &t->sig;
    }
    o->n_ops++;
    if (sig) {
        assert_true(o->n_runs < 4);
        o->runs[o->n_runs++] = (gs_store_run){o->items + o->run_start,
                                              o->n_ops - o->run_start};
        o->run_start = o->n_ops;
    }
    return 0;
}

static int
fork_seen(const gs_store_fork *x, void *ctx)
{
    *(gs_store_fork *)ctx = *x;
    ((gs_store_fork *)ctx)->ops[0] = ((gs_store_fork *)ctx)->ops[1] = NULL;
    return 0;
}

static gs_store_feed_info
info_of(gs_store *s, const struct gs_test_writer *w)
{
    gs_store_feed_info fi;
    assert_int_equal(gs_store_feed_info_get(s, w->pk,
                                            gs_slice_of(w->scope,
                                                        strlen(w->scope)),
                                            &fi),
                     GS_OK);
    return fi;
}

/* Issue 5, must show 5 at store level: a device signs two ops at seq 2;
 * each replica holding either branch ends frozen at seq 1 with the same
 * state, keeps both branches as evidence, and takes nothing more. */
static void
test_store_fork_freezes_feed_at_last_common_op(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w, twin;
    struct gs_test_op ops[3], other;
    gs_ingest_stats st;
    gs_store_counts c;
    gs_store_fork x;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES], d[GS_HASH_BYTES];

    gs_test_writer_init(&w, 4, "yc.g3", net_pk);
    enroll(f->s, &w, false);
    gs_test_writer_op(&w, "wish", "W-1", "title", "修自行车", &ops[0]);
    twin = w; /* the same device state, cloned: it will equivocate */
    gs_test_writer_op(&w, "wish", "W-1", "title", "修自行车和轮椅", &ops[1]);
    gs_test_writer_op(&w, "wish", "W-2", "title", "读报", &ops[2]);
    gs_test_writer_op(&twin, "wish", "W-1", "title", "买米", &other);
    assert_int_equal(ingest(f->s, ops, 1, &st), GS_OK);
    assert_consistent(f->s, d1);
    assert_int_equal(ingest(f->s, &ops[1], 1, &st), GS_OK);
    assert_int_equal(st.applied, 1);
    assert_consistent(f->s, d2);
    assert_memory_not_equal(d1, d2, GS_HASH_BYTES);

    /* the other op 2: evidence, and the feed goes back to op 1 */
    assert_int_equal(ingest(f->s, &other, 1, &st), GS_OK);
    assert_int_equal(st.forks, 1);
    assert_int_equal(st.applied, 0);
    assert_consistent(f->s, d);
    assert_memory_equal(d, d1, GS_HASH_BYTES);
    gs_store_feed_info fi = info_of(f->s, &w);
    assert_true(fi.frozen);
    assert_int_equal(fi.head.seq, 1);
    assert_int_equal(gs_store_counts_get(f->s, &c), GS_OK);
    assert_int_equal(c.forks, 1);
    assert_int_equal(c.frozen_feeds, 1);
    assert_int_equal(c.ops, 2); /* the certificate and op 1 */

    /* nothing past the fork is taken, either branch or after it */
    assert_int_equal(ingest(f->s, &ops[1], 2, &st), GS_OK);
    assert_int_equal(st.by_reason[GS_EFORK], 2);
    assert_int_equal(st.applied, 0);
    assert_int_equal(ingest(f->s, &other, 1, &st), GS_OK);
    assert_int_equal(st.by_reason[GS_EFORK], 1);
    assert_consistent(f->s, d);
    assert_memory_equal(d, d1, GS_HASH_BYTES);

    /* the evidence: both branches at seq 2, signed */
    memset(&x, 0, sizeof x);
    assert_int_equal(gs_store_forks_each(f->s, fork_seen, &x), GS_OK);
    assert_int_equal(x.seq, 2);
    assert_true(x.frozen);
    assert_int_equal(x.n[0], 1);
    assert_int_equal(x.n[1], 1);
    assert_memory_equal(x.author, w.pk, GS_KEY_BYTES);

    /* read for sync: op 1 and the first branch, then the second branch */
    struct runs_out o;
    uint64_t to = 0;
    memset(&o, 0, sizeof o);
    assert_int_equal(gs_store_feed_read(f->s, w.pk,
                                        gs_slice_of("yc.g3", 5), 1, 1000,
                                        runs_add, &o, &to),
                     GS_OK);
    assert_int_equal(to, 2);
    assert_int_equal(o.n_runs, 1);
    assert_int_equal(o.runs[0].n, 2);
    assert_int_equal(gs_store_feed_read_fork(f->s, w.pk,
                                             gs_slice_of("yc.g3", 5),
                                             runs_add, &o, &to),
                     GS_OK);
    assert_int_equal(to, 2);
    assert_int_equal(o.n_runs, 2);
    assert_int_equal(o.runs[1].n, 1);

    /* the replica that held the other branch ends in the same state */
    char dir2[] = "/tmp/gs-store-other-XXXXXX";
    gs_store *s2 = gs_test_store_new(dir2);
    enroll(s2, &w, false);
    assert_int_equal(ingest(s2, ops, 1, &st), GS_OK);
    assert_int_equal(ingest(s2, &other, 1, &st), GS_OK);
    assert_int_equal(st.applied, 1);
    assert_int_equal(gs_store_ingest(s2, o.runs, 1, net_pk, &st), GS_OK);
    assert_int_equal(st.forks, 1);
    assert_consistent(s2, d);
    assert_memory_equal(d, d1, GS_HASH_BYTES);
    fi = info_of(s2, &w);
    assert_true(fi.frozen);
    assert_int_equal(fi.head.seq, 1);
    gs_store_close(s2);
    gs_test_rmtree(dir2);

    /* and one that saw neither, given what ops_each (a bundle) holds */
    char dir3[] = "/tmp/gs-store-third-XXXXXX";
    gs_store *s3 = gs_test_store_new(dir3);
    enroll(s3, &w, false);
    memset(&o, 0, sizeof o);
    assert_int_equal(gs_store_ops_each(f->s, runs_add, &o), GS_OK);
    /* the authority's certificate feed, then ours: op 1 + branch 0, and
     * branch 1 */
    assert_int_equal(o.n_runs, 3);
    assert_int_equal(gs_store_ingest(s3, o.runs, o.n_runs, net_pk, &st),
                     GS_OK);
    assert_int_equal(st.forks, 1);
    assert_consistent(s3, d);
    assert_memory_equal(d, d1, GS_HASH_BYTES);
    assert_true(info_of(s3, &w).frozen);
    gs_store_close(s3);
    gs_test_rmtree(dir3);
}

/* Review findings (issue 5): evidence must be of the feed, and both
 * branches must part from the op held before: a run that splices another
 * device's op onto V's, or a lone op whose chain parts lower, is no fork
 * (else two replicas could freeze at different ops, or a bundle could
 * freeze anyone's feed). */
static void
test_store_fork_needs_same_feed_and_parent(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer v, g, twin;
    struct gs_test_op v1, g1, g2, a[3], b[3];
    gs_ingest_stats st;

    gs_test_writer_init(&v, 8, "yc.g6", net_pk);
    gs_test_writer_init(&g, 9, "yc.g6", net_pk);
    enroll(f->s, &v, false);
    enroll(f->s, &g, false);
    gs_test_writer_op(&v, "wish", "W-7", "title", "v", &v1);
    gs_test_writer_op(&g, "wish", "W-8", "title", "g", &g1);
    gs_test_writer_op(&g, "wish", "W-8", "title", "g2", &g2);
    assert_int_equal(ingest(f->s, &v1, 1, &st), GS_OK);
    assert_int_equal(ingest(f->s, &g1, 1, &st), GS_OK);
    /* V's op 1, then G's op 2: one run, signed at its end by G */
    struct gs_test_op spliced[2] = {v1, g2};
    assert_int_equal(ingest(f->s, spliced, 2, &st), GS_OK);
    assert_int_equal(st.forks, 0);
    assert_int_equal(st.by_reason[GS_EFEED], 1);
    assert_false(info_of(f->s, &v).frozen);

    /* a device forks at 2: a2 a3 held; b3 alone chains on b2, not a2 */
    struct gs_test_writer d;
    gs_test_writer_init(&d, 10, "yc.g7", net_pk);
    enroll(f->s, &d, false);
    gs_test_writer_op(&d, "wish", "W-9", "title", "1", &a[0]);
    twin = d;
    gs_test_writer_op(&d, "wish", "W-9", "title", "a2", &a[1]);
    gs_test_writer_op(&d, "wish", "W-9", "title", "a3", &a[2]);
    gs_test_writer_op(&twin, "wish", "W-9", "title", "b2", &b[1]);
    gs_test_writer_op(&twin, "wish", "W-9", "title", "b3", &b[2]);
    assert_int_equal(ingest(f->s, a, 3, &st), GS_OK);
    assert_int_equal(ingest(f->s, &b[2], 1, &st), GS_OK);
    assert_int_equal(st.forks, 0);
    assert_int_equal(st.rejected, 1);
    assert_false(info_of(f->s, &d).frozen);
    /* b2 b3 from the op they part at: the fork, at 2 */
    assert_int_equal(ingest(f->s, &b[1], 2, &st), GS_OK);
    assert_int_equal(st.forks, 1);
    gs_store_feed_info fi = info_of(f->s, &d);
    assert_true(fi.frozen);
    assert_int_equal(fi.head.seq, 1);
}

/* A fork at a feed's first op leaves it frozen with no op, still known. */
static void
test_store_fork_at_first_op_freezes_to_nothing(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w, twin;
    struct gs_test_op a, b;
    gs_ingest_stats st;
    uint8_t d0[GS_HASH_BYTES], d[GS_HASH_BYTES];

    gs_test_writer_init(&w, 7, "yc.g5", net_pk);
    enroll(f->s, &w, false);
    assert_consistent(f->s, d0);
    twin = w;
    gs_test_writer_op(&w, "wish", "W-9", "title", "a", &a);
    gs_test_writer_op(&twin, "wish", "W-9", "title", "b", &b);
    assert_int_equal(ingest(f->s, &a, 1, &st), GS_OK);
    assert_int_equal(ingest(f->s, &b, 1, &st), GS_OK);
    assert_int_equal(st.forks, 1);
    assert_consistent(f->s, d);
    assert_memory_equal(d, d0, GS_HASH_BYTES);
    gs_store_feed_info fi = info_of(f->s, &w);
    assert_true(fi.frozen);
    assert_int_equal(fi.head.seq, 0);
    assert_int_equal(ingest(f->s, &a, 1, &st), GS_OK);
    assert_int_equal(st.by_reason[GS_EFORK], 1);
}

static void
test_store_refuses_forged_fork(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w, twin;
    struct gs_test_op op1, forged;
    gs_ingest_stats st;
    gs_store_counts c;

    gs_test_writer_init(&w, 5, "yc.g3", net_pk);
    enroll(f->s, &w, false);
    gs_test_writer_op(&w, "wish", "W-2", "title", "a", &op1);
    assert_int_equal(ingest(f->s, &op1, 1, &st), GS_OK);
    assert_int_equal(st.applied, 1); /* held: the next one is a "fork" */
    gs_test_writer_init(&twin, 5, "yc.g3", net_pk);
    gs_test_writer_op(&twin, "wish", "W-2", "title", "b", &forged);
    forged.sig.sig[3] ^= 1; /* not really the device's */
    assert_int_equal(ingest(f->s, &forged, 1, &st), GS_OK);
    assert_int_equal(st.forks, 0);
    assert_int_equal(st.by_reason[GS_EBADSIG], 1);
    assert_int_equal(gs_store_counts_get(f->s, &c), GS_OK);
    assert_int_equal(c.forks, 0);
}

static void
test_store_refuses_bad_signature_and_other_network(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct gs_test_op ops[2];
    gs_ingest_stats st;
    uint8_t before[GS_HASH_BYTES], after[GS_HASH_BYTES];
    uint8_t other_pk[GS_KEY_BYTES], other_sk[GS_SECRETKEY_BYTES];

    gs_test_writer_init(&w, 6, "yc.g4", net_pk);
    enroll(f->s, &w, false); /* the signature is the only thing wrong */
    assert_consistent(f->s, before);
    gs_test_writer_op(&w, "household", "H-7", "name", "赵六", &ops[0]);
    gs_test_writer_op(&w, "household", "H-7", "name", "赵六六", &ops[1]);
    ops[1].sig.sig[0] ^= 1;
    assert_int_equal(ingest(f->s, ops, 2, &st), GS_OK);
    assert_int_equal(st.by_reason[GS_EBADSIG], 2); /* the whole run */
    gs_test_keypair(0xb0, other_pk, other_sk);
    ops[1].sig.sig[0] ^= 1;
    memcpy(ops[1].sig.network, other_pk, GS_KEY_BYTES);
    assert_int_equal(ingest(f->s, ops, 2, &st), GS_OK);
    assert_int_equal(st.by_reason[GS_ENETWORK], 2);
    assert_consistent(f->s, after);
    assert_memory_equal(before, after, GS_HASH_BYTES);
}

struct hist {
    size_t n;
    uint64_t last_hlc;
    bool ordered;
};

static int
hist_cb(const uint8_t *bytes, size_t len, const uint8_t hash[GS_HASH_BYTES],
        void *ctx)
{
    struct hist *h = ctx;
    gs_op op;
    uint8_t again[GS_HASH_BYTES];
    assert_int_equal(gs_op_decode(bytes, len, &op), GS_OK);
    gs_op_hash(bytes, len, again);
    assert_memory_equal(again, hash, GS_HASH_BYTES);
    if (h->n && op.hlc < h->last_hlc)
        h->ordered = false;
    h->last_hlc = op.hlc;
    h->n++;
    return 0;
}

static void
test_store_history_lists_ops_in_time_order(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer a, b;
    struct gs_test_op oa[2], ob[1];
    gs_ingest_stats st;
    struct hist h = {0, 0, true};

    gs_test_writer_init(&a, 7, "yc.g5", net_pk);
    gs_test_writer_init(&b, 8, "yc.g5", net_pk);
    enroll(f->s, &a, false);
    enroll(f->s, &b, false);
    b.hlc += 5; /* b writes between a's two ops */
    gs_test_writer_op(&a, "ticket", "T-9", "title", "井盖丢失", &oa[0]);
    gs_test_writer_op(&b, "ticket", "T-9", "dept", "市政", &ob[0]);
    a.hlc += 10;
    gs_test_writer_op(&a, "ticket", "T-9", "title", "井盖丢失（主路）", &oa[1]);
    gs_test_writer_op(&a, "ticket", "T-10", "title", "other", &oa[1]);
    assert_int_equal(ingest(f->s, oa, 1, &st), GS_OK);
    assert_int_equal(ingest(f->s, ob, 1, &st), GS_OK);
    assert_int_equal(gs_store_history(f->s, gs_slice_of("ticket", 6),
                                      gs_slice_of("T-9", 3), hist_cb, &h),
                     GS_OK);
    assert_int_equal(h.n, 2);
    assert_true(h.ordered);

    /* past the 16 ops an entity lists itself, the list moves to hist with
     * each op's time: 10 ops of c, then 10 of d stamped between them */
    struct gs_test_writer c, d;
    struct gs_test_op *mc = calloc(10, sizeof *mc);
    struct gs_test_op *md = calloc(10, sizeof *md);
    struct hist h2 = {0, 0, true};
    assert_non_null(mc);
    assert_non_null(md);
    gs_test_writer_init(&c, 9, "yc.g5", net_pk);
    gs_test_writer_init(&d, 10, "yc.g5", net_pk);
    enroll(f->s, &c, false);
    enroll(f->s, &d, false);
    d.hlc = c.hlc + 1;
    for (int i = 0; i < 10; i++) { /* c at even steps, d at odd ones */
        gs_test_writer_op(&c, "ticket", "T-11", "title", "c", &mc[i]);
        gs_test_writer_op(&d, "ticket", "T-11", "dept", "d", &md[i]);
        c.hlc += 1;
        d.hlc += 1;
    }
    assert_int_equal(ingest(f->s, mc, 10, &st), GS_OK);
    assert_int_equal(st.applied, 10);
    assert_int_equal(ingest(f->s, md, 10, &st), GS_OK);
    assert_int_equal(st.applied, 10);
    assert_int_equal(gs_store_history(f->s, gs_slice_of("ticket", 6),
                                      gs_slice_of("T-11", 4), hist_cb, &h2),
                     GS_OK);
    assert_int_equal(h2.n, 20);
    assert_true(h2.ordered);
    free(mc);
    free(md);
}

/* Export every op as runs and ingest them into a second replica. */
struct copy {
    gs_store *dst;
    struct gs_test_op ops[64];
    size_t n;
    size_t applied;
};

static int
copy_cb(const uint8_t *bytes, size_t len, const gs_sig *sig, void *ctx)
{
    struct copy *c = ctx;
    assert_true(c->n < 64 && len <= sizeof c->ops[0].bytes);
    memcpy(c->ops[c->n].bytes, bytes, len);
    c->ops[c->n].n = len;
    c->n++;
    if (sig) { /* a feed's head: the run ends here */
        gs_ingest_stats st;
        c->ops[c->n - 1].sig = *sig;
        assert_int_equal(ingest(c->dst, c->ops, c->n, &st), GS_OK);
        assert_int_equal(st.rejected, 0);
        c->applied += st.applied;
        c->n = 0;
    }
    return 0;
}

static void
test_store_ops_each_rebuilds_equal_replica(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer a, b;
    struct gs_test_op ops[5];
    gs_ingest_stats st;
    struct copy *c = calloc(1, sizeof *c);
    char dir[] = "/tmp/gs-store-copy-XXXXXX";
    gs_store_opts o = {0, 0, true};
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];

    gs_test_writer_init(&a, 9, "yc.g6", net_pk);
    gs_test_writer_init(&b, 10, "yc.g7", net_pk);
    enroll(f->s, &a, false);
    enroll(f->s, &b, false);
    for (int i = 0; i < 3; i++)
        gs_test_writer_op(&a, "household", "H-100", "note", i ? "再访" : "初访",
                  &ops[i]);
    gs_test_writer_op(&b, "household", "H-100", "name", "孙七", &ops[3]);
    gs_test_writer_op(&b, "person", "P-1", "name", "孙七", &ops[4]);
    assert_int_equal(ingest(f->s, ops, 3, &st), GS_OK);
    assert_int_equal(ingest(f->s, ops + 3, 2, &st), GS_OK);

    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &c->dst), GS_OK);
    assert_int_equal(gs_store_ops_each(f->s, copy_cb, c), GS_OK);
    assert_int_equal(c->n, 0); /* every feed ended on a signed head */
    /* the authority's feed came first (the oldest feed): its two
     * certificates, then the ops they admit */
    assert_int_equal(c->applied, 2 + 5);
    assert_consistent(f->s, d1);
    assert_consistent(c->dst, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    gs_store_close(c->dst);
    gs_test_rmtree(dir);
    free(c);
}

/* ---- the stored forms: ops in blocks without author and scope, entities
 * with interned stamps and strings; every reader must get the canonical
 * bytes back ---- */

#define RT_FEEDS 3
#define RT_OPS 48

struct rt_feed {
    struct gs_test_writer w;
    struct gs_test_op ops[RT_OPS];
    int64_t total;
};

/* A random update of kind into pay; returns the field it writes (one
 * field per kind). */
static const char *
rt_update(struct rt_feed *f, gs_rng *rng, uint8_t kind, gs_buf *pay)
{
    static const char *const strs[] = {"张三", "李四", "vol-1", "13800000000"};
    const char *field = "x";
    const char *str = strs[gs_rng_below(rng, 4)];
    gs_vref v = {GS_V_STR, 0, gs_slice_of(str, strlen(str))};
    if (gs_rng_below(rng, 3) == 0)
        v = (gs_vref){GS_V_INT, (int64_t)gs_rng_below(rng, 1000) - 500, {0}};

    switch (kind) {
    case GS_KIND_LWW:
        field = gs_rng_below(rng, 2) ? "name" : "phone";
        assert_int_equal(gs_payload_lww(pay, gs_rng_below(rng, 5), &v), GS_OK);
        break;
    case GS_KIND_COUNTER: {
        int64_t d = (int64_t)gs_rng_below(rng, 20) - 5;
        f->total += d;
        field = "points";
        assert_int_equal(gs_payload_counter(pay, d, f->total), GS_OK);
        break;
    }
    case GS_KIND_SET: {
        /* a remove names the add's tag: here one no replica holds */
        static uint8_t tag[1][GS_HASH_BYTES];
        gs_set_item it = {GS_SET_ADD, gs_slice_of(str, strlen(str)), 0, NULL};
        memset(tag, (int)gs_rng_below(rng, 256), sizeof tag);
        if (gs_rng_below(rng, 4) == 0)
            it = (gs_set_item){GS_SET_REMOVE, it.elem, 1, tag};
        field = "tags";
        assert_int_equal(gs_payload_set(pay, &it, 1), GS_OK);
        break;
    }
    case GS_KIND_LOG:
        field = "diary";
        assert_int_equal(gs_payload_log(pay, &v), GS_OK);
        break;
    case GS_KIND_STAGE:
        field = "stage";
        assert_int_equal(gs_payload_stage(pay, 0, gs_rng_below(rng, 3),
                                          gs_rng_below(rng, 6)),
                         GS_OK);
        break;
    default:
        field = "claims";
        assert_int_equal(gs_payload_claim(pay,
                                          gs_rng_below(rng, 3) ? GS_CLAIM
                                                               : GS_WITHDRAW,
                                          gs_slice_of(str, strlen(str))),
                         GS_OK);
        break;
    }
    return field;
}

/* The writer's next op, its updates op->updates[0..n) on (type "household",
 * id), signed into out. */
static void
rt_sign(struct rt_feed *f, gs_rng *rng, gs_op *op, const char *id,
        struct gs_test_op *out)
{
    gs_buf enc;
    uint8_t hash[GS_HASH_BYTES];
    gs_buf_init(&enc, sizeof out->bytes);
    op->version = GS_OP_VERSION;
    memcpy(op->author, f->w.pk, GS_KEY_BYTES);
    op->scope = gs_slice_of(f->w.scope, strlen(f->w.scope));
    op->seq = ++f->w.seq;
    memcpy(op->prev, f->w.prev, GS_HASH_BYTES);
    f->w.hlc += 1 + gs_rng_below(rng, 3);
    op->hlc = f->w.hlc;
    if (op->type.n == 0)
        op->type = gs_slice_of("household", 9);
    op->id = gs_slice_of(id, strlen(id));
    assert_int_equal(gs_op_encode(op, &enc), GS_OK);
    memcpy(out->bytes, enc.data, enc.len);
    out->n = enc.len;
    gs_op_hash(out->bytes, out->n, hash);
    gs_op_sign(hash, f->w.network, f->w.sk, &out->sig);
    memcpy(f->w.prev, hash, GS_HASH_BYTES);
    gs_buf_fini(&enc);
}

/* The writer's next op: one update of a random kind on a random entity. */
static void
rt_op(struct rt_feed *f, gs_rng *rng, struct gs_test_op *out)
{
    static const char *const ids[] = {"H-1", "H-2", "T-3"};
    gs_buf pay;
    gs_op op;
    gs_buf_init(&pay, 1024);
    memset(&op, 0, sizeof op);
    op.n_updates = 1;
    op.updates[0].kind = (uint8_t)(1 + gs_rng_below(rng, 6));
    const char *field = rt_update(f, rng, op.updates[0].kind, &pay);
    op.updates[0].field = gs_slice_of(field, strlen(field));
    op.updates[0].payload = gs_slice_of(pay.data, pay.len);
    rt_sign(f, rng, &op, ids[gs_rng_below(rng, 3)], out);
    gs_buf_fini(&pay);
}

struct rt_check {
    struct rt_feed *feeds;
    size_t feed, seq; /* ops_each: where the walk is */
    size_t seen;
    size_t certs; /* ops of the authority's trust feed, walked first */
};

/* The op (bytes) must be one the writers wrote, byte for byte. */
static bool
rt_known(const struct rt_feed *feeds, const uint8_t *bytes, size_t len)
{
    for (size_t f = 0; f < RT_FEEDS; f++)
        for (size_t i = 0; i < RT_OPS; i++)
            if (feeds[f].ops[i].n == len &&
                memcmp(feeds[f].ops[i].bytes, bytes, len) == 0)
                return true;
    return false;
}

static int
rt_each_cb(const uint8_t *bytes, size_t len, const gs_sig *sig, void *ctx)
{
    struct rt_check *c = ctx;
    gs_op op;
    assert_int_equal(gs_op_decode(bytes, len, &op), GS_OK);
    if (memcmp(op.author, net_pk, GS_KEY_BYTES) == 0) {
        /* the certificates: the first feed, before any writer's */
        assert_int_equal(c->seen, 0);
        assert_int_equal(op.seq, ++c->certs);
        return 0;
    }
    /* feeds come in feed-number order: the order they were ingested */
    const struct gs_test_op *want = &c->feeds[c->feed].ops[c->seq];
    assert_int_equal(len, want->n);
    assert_memory_equal(bytes, want->bytes, len);
    assert_true((sig != NULL) == (c->seq == RT_OPS - 1));
    if (++c->seq == RT_OPS) {
        c->seq = 0;
        c->feed++;
    }
    c->seen++;
    return 0;
}

static int
rt_hist_cb(const uint8_t *bytes, size_t len, const uint8_t hash[GS_HASH_BYTES],
           void *ctx)
{
    struct rt_check *c = ctx;
    uint8_t again[GS_HASH_BYTES];
    assert_true(rt_known(c->feeds, bytes, len));
    gs_op_hash(bytes, len, again);
    assert_memory_equal(again, hash, GS_HASH_BYTES);
    c->seen++;
    return 0;
}

/* Apply a held op to the in-memory state in ctx. */
static int
rt_apply_cb(const uint8_t *bytes, size_t len, const gs_sig *sig, void *ctx)
{
    gs_op op;
    uint8_t hash[GS_HASH_BYTES];
    (void)sig;
    assert_int_equal(gs_op_decode(bytes, len, &op), GS_OK);
    gs_op_hash(bytes, len, hash);
    assert_int_equal(gs_state_apply(ctx, &op, hash), GS_OK);
    return 0;
}

/* Household id reads back from s encoding exactly as mem's (if mem has
 * it). */
static void
rt_same_entity_of(gs_store *s, const gs_state *mem, const char *type_s,
                  const char *id_s)
{
    gs_entity got;
    gs_buf a, b;
    gs_slice type = gs_slice_of(type_s, strlen(type_s));
    gs_slice id = gs_slice_of(id_s, strlen(id_s));
    const gs_entity *want = gs_state_get(mem, type, id);
    if (want == NULL)
        return;
    assert_int_equal(gs_store_entity_get(s, type, id, &got), GS_OK);
    gs_buf_init(&a, GS_ENTITY_BYTES_MAX);
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    assert_int_equal(gs_entity_encode(&got, &a), GS_OK);
    assert_int_equal(gs_entity_encode(want, &b), GS_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    gs_buf_fini(&a);
    gs_buf_fini(&b);
    gs_entity_fini(&got);
}

static void
rt_same_entity(gs_store *s, const gs_state *mem, const char *id_s)
{
    rt_same_entity_of(s, mem, "household", id_s);
}

/* s is consistent, its digest that of mem. */
static void
rt_same_digest(gs_store *s, const gs_state *mem)
{
    uint8_t d[GS_HASH_BYTES], dm[GS_HASH_BYTES];
    assert_consistent(s, d);
    assert_int_equal(gs_state_digest(mem, dm), GS_OK);
    assert_memory_equal(d, dm, GS_HASH_BYTES);
}

static void
test_store_stored_forms_give_canonical_bytes(void **state)
{
    struct fixture *f = *state;
    struct rt_feed *feeds = calloc(RT_FEEDS, sizeof *feeds);
    gs_rng rng;
    gs_ingest_stats st;
    gs_state *mem;
    static const char *const ids[] = {"H-1", "H-2", "T-3"};

    gs_rng_seed(&rng, gs_test_seed());
    assert_int_equal(gs_state_new(&mem), GS_OK);
    for (size_t i = 0; i < RT_FEEDS; i++) {
        gs_test_writer_init(&feeds[i].w, (uint8_t)(20 + i),
                            i == 2 ? "yc.g9.b" : "yc.g9", net_pk);
        feeds[i].w.hlc += gs_rng_below(&rng, 4); /* stamps interleave */
        /* shop: the random counter updates on "points" take some away */
        enroll(f->s, &feeds[i].w, true);
    }
    /* the state in memory holds the certificates too */
    assert_int_equal(gs_store_feed_read(f->s, net_pk, gs_slice_of("trust", 5),
                                        1, 16, rt_apply_cb, mem, NULL),
                     GS_OK);
    for (size_t k = 0; k < RT_OPS; k++)
        for (size_t i = 0; i < RT_FEEDS; i++)
            rt_op(&feeds[i], &rng, &feeds[i].ops[k]);
    for (size_t i = 0; i < RT_FEEDS; i++) {
        assert_int_equal(ingest(f->s, feeds[i].ops, RT_OPS, &st), GS_OK);
        assert_int_equal(st.applied, RT_OPS);
        for (size_t k = 0; k < RT_OPS; k++) {
            gs_op op;
            uint8_t hash[GS_HASH_BYTES];
            assert_int_equal(gs_op_decode(feeds[i].ops[k].bytes,
                                          feeds[i].ops[k].n, &op),
                             GS_OK);
            gs_op_hash(feeds[i].ops[k].bytes, feeds[i].ops[k].n, hash);
            assert_int_equal(gs_state_apply(mem, &op, hash), GS_OK);
        }
    }
    /* re-ingesting is a no-op: the held ops compare equal once expanded */
    assert_int_equal(ingest(f->s, feeds[0].ops, RT_OPS, &st), GS_OK);
    assert_int_equal(st.known, RT_OPS);
    assert_int_equal(st.forks, 0);

    struct rt_check c = {feeds, 0, 0, 0, 0};
    assert_int_equal(gs_store_ops_each(f->s, rt_each_cb, &c), GS_OK);
    assert_int_equal(c.seen, RT_FEEDS * RT_OPS);
    assert_int_equal(c.certs, RT_FEEDS);
    c.seen = 0;
    for (size_t e = 0; e < 3; e++)
        assert_int_equal(gs_store_history(f->s, gs_slice_of("household", 9),
                                          gs_slice_of(ids[e], strlen(ids[e])),
                                          rt_hist_cb, &c),
                         GS_OK);
    assert_int_equal(c.seen, RT_FEEDS * RT_OPS);

    /* entities read back encode exactly as the in-memory state's */
    for (size_t e = 0; e < 3; e++)
        rt_same_entity(f->s, mem, ids[e]);
    rt_same_digest(f->s, mem);
    gs_state_free(mem);
    free(feeds);
}

/* A feed of writer number wn, enrolled in s, and the in-memory state
 * holding its certificate as s does. */
static struct rt_feed *
rt_begin(gs_store *s, uint8_t wn, gs_rng *rng, gs_state **mem)
{
    struct rt_feed *feed = calloc(1, sizeof *feed);
    assert_non_null(feed);
    gs_rng_seed(rng, gs_test_seed());
    assert_int_equal(gs_state_new(mem), GS_OK);
    gs_test_writer_init(&feed->w, wn, "yc.g9", net_pk);
    enroll(s, &feed->w, true);
    assert_int_equal(gs_store_feed_read(s, net_pk, gs_slice_of("trust", 5), 1,
                                        16, rt_apply_cb, *mem, NULL),
                     GS_OK);
    return feed;
}

/* Apply ops[0, n) to mem as the store applies them. */
static void
rt_apply_ops(gs_state *mem, const struct gs_test_op *ops, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        gs_op op;
        uint8_t hash[GS_HASH_BYTES];
        assert_int_equal(gs_op_decode(ops[k].bytes, ops[k].n, &op), GS_OK);
        gs_op_hash(ops[k].bytes, ops[k].n, hash);
        assert_int_equal(gs_state_apply(mem, &op, hash), GS_OK);
    }
}

/* An entity new to the replica is stored from its first op, not merged
 * into (ent_fresh): ops of several updates, every kind and one the
 * replica does not know, each on an entity of its own, read back as the
 * in-memory state applies them; and so do the entities after a second op
 * each, merged into what was stored. */
static void
test_store_new_entities_read_back_as_applied(void **state)
{
    struct fixture *f = *state;
    gs_rng rng;
    gs_ingest_stats st;
    gs_state *mem;
    char ids[RT_OPS][16];
    struct rt_feed *feed = rt_begin(f->s, 40, &rng, &mem);
    for (size_t k = 0; k < RT_OPS; k++) {
        gs_buf pay[GS_KIND_KNOWN_MAX + 1];
        gs_op op;
        memset(&op, 0, sizeof op);
        snprintf(ids[k], sizeof ids[k], "N-%zu", k % (RT_OPS / 2));
        for (uint8_t kind = 1; kind <= GS_KIND_KNOWN_MAX + 1; kind++) {
            if (gs_rng_below(&rng, 2) && !(kind == 1 && op.n_updates == 0) &&
                !(kind == GS_KIND_SET && k == 0))
                continue;
            gs_buf_init(&pay[kind - 1], 1024);
            const char *field = "zz_later"; /* a kind from a later version */
            if (kind == GS_KIND_SET && k == 0) {
                /* the first: a set of adds and removes of two tags */
                static const uint8_t tags[2][GS_HASH_BYTES] = {{1}, {2}};
                gs_set_item its[3] = {
                    {GS_SET_ADD, gs_slice_of("a", 1), 0, NULL},
                    {GS_SET_REMOVE, gs_slice_of("b", 1), 2, tags},
                    {GS_SET_ADD, gs_slice_of("c", 1), 0, NULL}};
                assert_int_equal(gs_payload_set(&pay[kind - 1], its, 3), GS_OK);
                field = "tags";
            } else if (kind <= GS_KIND_KNOWN_MAX)
                field = rt_update(feed, &rng, kind, &pay[kind - 1]);
            else
                assert_int_equal(gs_buf_put(&pay[kind - 1], "\x01\x02", 2),
                                 GS_OK);
            op.updates[op.n_updates++] =
                (gs_update){gs_slice_of(field, strlen(field)),
                            kind <= GS_KIND_KNOWN_MAX ? kind : 0x40,
                            gs_slice_of(pay[kind - 1].data, pay[kind - 1].len)};
        }
        rt_sign(feed, &rng, &op, ids[k], &feed->ops[k]);
        for (uint8_t kind = 1; kind <= GS_KIND_KNOWN_MAX + 1; kind++)
            for (size_t u = 0; u < op.n_updates; u++)
                if (op.updates[u].payload.p == pay[kind - 1].data)
                    gs_buf_fini(&pay[kind - 1]);
    }
    /* the first half: each op makes its entity; then the second */
    for (size_t half = 0; half < 2; half++) {
        const struct gs_test_op *ops = feed->ops + half * (RT_OPS / 2);
        assert_int_equal(ingest(f->s, ops, RT_OPS / 2, &st), GS_OK);
        assert_int_equal(st.applied, RT_OPS / 2);
        rt_apply_ops(mem, ops, RT_OPS / 2);
        for (size_t e = 0; e < RT_OPS / 2; e++)
            rt_same_entity(f->s, mem, ids[e]);
    }
    rt_same_digest(f->s, mem);
    gs_state_free(mem);
    free(feed);
}

/* An entity is found in one transaction whatever the order of the ids
 * its type's ops come in: past the greatest key of the type held (not
 * searched for, store.c's tails), at it, below it; a type new to the
 * replica, and types that are prefixes of each other. The entities read
 * back as the in-memory state applies the ops: one taken for new when it
 * is held would lose its first value. */
static void
test_store_finds_entities_in_any_order(void **state)
{
    struct fixture *f = *state;
    gs_rng rng;
    gs_ingest_stats st;
    gs_state *mem;
    static const char *const at[][2] = {
        /* the first transaction: what is held before */
        {"household", "M-5"}, {"hous", "A-1"},
        /* the second */
        {"household", "N-1"}, {"household", "N-3"}, {"household", "N-3"},
        {"household", "N-2"}, {"household", "M-5"}, {"householder", "B-1"},
        {"hous", "A-0"}, {"hous", "A-1"}, {"household", "N-1"},
        {"householder", "B-1"}, {"household", "N-10"}, {"household", "N-9"},
        {"household", "N-9"}, {"hous", "A-2"}, {"hous", "A-2"}};
    size_t n = sizeof at / sizeof at[0], first = 2;
    struct rt_feed *feed = rt_begin(f->s, 41, &rng, &mem);
    for (size_t k = 0; k < n; k++) {
        gs_buf pay;
        gs_op op;
        char name[16];
        memset(&op, 0, sizeof op);
        gs_buf_init(&pay, 256);
        snprintf(name, sizeof name, "v%zu", k); /* each op its own value */
        gs_vref v = {GS_V_STR, 0, gs_slice_of(name, strlen(name))};
        assert_int_equal(gs_payload_lww(&pay, 0, &v), GS_OK);
        /* a field per op: every op's value stays in its entity */
        snprintf(name, sizeof name, "f%zu", k);
        op.updates[0] = (gs_update){gs_slice_of(name, strlen(name)),
                                    GS_KIND_LWW,
                                    gs_slice_of(pay.data, pay.len)};
        op.n_updates = 1;
        op.type = gs_slice_of(at[k][0], strlen(at[k][0]));
        rt_sign(feed, &rng, &op, at[k][1], &feed->ops[k]);
        gs_buf_fini(&pay);
    }
    assert_int_equal(ingest(f->s, feed->ops, first, &st), GS_OK);
    assert_int_equal(st.applied, first);
    assert_int_equal(ingest(f->s, feed->ops + first, n - first, &st), GS_OK);
    assert_int_equal(st.applied, n - first);
    rt_apply_ops(mem, feed->ops, n);
    for (size_t k = 0; k < n; k++) {
        const gs_entity *e =
            gs_state_get(mem, gs_slice_of(at[k][0], strlen(at[k][0])),
                         gs_slice_of(at[k][1], strlen(at[k][1])));
        assert_non_null(e); /* rt_same_entity_of compares, not skips */
        rt_same_entity_of(f->s, mem, at[k][0], at[k][1]);
    }
    rt_same_digest(f->s, mem);
    gs_state_free(mem);
    free(feed);
}

/* gs_store_entity_each's walk in order: each entity after the one
 * before by (type, id), all of type if one is set; counted. */
struct in_order {
    char type[GS_NAME_BYTES_MAX + 1], id[GS_ID_BYTES_MAX + 1];
    const char *only;
    size_t n;
};

static int
in_order_cb(const gs_entity *e, void *ctx)
{
    struct in_order *o = ctx;
    gs_slice t = gs_slice_of(e->type, e->type_n), id = gs_slice_of(e->id, e->id_n);
    int c = gs_slice_cmp(gs_slice_of(o->type, strlen(o->type)), t);
    if (o->n > 0)
        assert_true(c < 0 || (c == 0 && gs_slice_cmp(gs_slice_of(o->id,
                                                                 strlen(o->id)),
                                                    id) < 0));
    if (o->only)
        assert_true(gs_slice_cmp(gs_slice_of(o->only, strlen(o->only)), t) == 0);
    memcpy(o->type, e->type, e->type_n);
    o->type[e->type_n] = 0;
    memcpy(o->id, e->id, e->id_n);
    o->id[e->id_n] = 0;
    o->n++;
    return 0;
}

/* Each entity type has a database of its own up to store.c's 31 slots
 * (the certificates take one) and the rest share one: 40 types, some
 * prefixes of others, first written in a random order, so that types
 * with a slot and types without one fall between each other by name.
 * Every entity reads back as the in-memory state applies the ops, the
 * full walk is in (type, id) order (the digest, equal to the in-memory
 * one, needs that order), each type's walk holds that type alone, the
 * count is every entity; after the store is opened again too, and after
 * a second transaction adds to types of both kinds. */
static void
test_store_entity_types_past_the_slots(void **state)
{
    struct fixture *f = *state;
    gs_rng rng;
    gs_ingest_stats st;
    gs_state *mem;
    gs_store_counts c;
    static const char *const base[] = {"p", "q", "r", "s", "t"};
    static const char *const suffix[] = {"", "0", "00", "0a",
                                         "_", "a", "aa", "b"};
    char types[40][8], ids[RT_OPS][8];
    size_t order[40], type_of[RT_OPS], first = 40;
    for (size_t i = 0; i < 40; i++) {
        snprintf(types[i], sizeof types[i], "%s%s", base[i / 8],
                 suffix[i % 8]);
        order[i] = i;
    }
    struct rt_feed *feed = rt_begin(f->s, 42, &rng, &mem);
    for (size_t i = 39; i > 0; i--) { /* the order types are first met */
        size_t j = gs_rng_below(&rng, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < RT_OPS; k++) {
        gs_buf pay;
        gs_op op;
        char val[16];
        /* then new ids and held ones of types of both kinds */
        type_of[k] = k < first ? order[k] : order[gs_rng_below(&rng, 40)];
        snprintf(ids[k], sizeof ids[k], "E-%zu",
                 k < first ? 1 : (size_t)gs_rng_below(&rng, 3));
        memset(&op, 0, sizeof op);
        gs_buf_init(&pay, 256);
        snprintf(val, sizeof val, "v%zu", k);
        gs_vref v = {GS_V_STR, 0, gs_slice_of(val, strlen(val))};
        assert_int_equal(gs_payload_lww(&pay, 0, &v), GS_OK);
        op.updates[0] = (gs_update){gs_slice_of("name", 4), GS_KIND_LWW,
                                    gs_slice_of(pay.data, pay.len)};
        op.n_updates = 1;
        op.type = gs_slice_of(types[type_of[k]], strlen(types[type_of[k]]));
        rt_sign(feed, &rng, &op, ids[k], &feed->ops[k]);
        gs_buf_fini(&pay);
    }
    for (int round = 0; round < 3; round++) {
        size_t upto = round == 0 ? first : RT_OPS;
        if (round == 0 || round == 2) {
            const struct gs_test_op *from = feed->ops + (round ? first : 0);
            assert_int_equal(ingest(f->s, from, round ? RT_OPS - first : first,
                                    &st),
                             GS_OK);
            rt_apply_ops(mem, from, round ? RT_OPS - first : first);
        } else { /* the slots taken are read back from the replica */
            gs_store_opts o = {0, 0, false};
            gs_store_close(f->s);
            assert_int_equal(gs_store_open(f->dir, &o, &f->s), GS_OK);
        }
        for (size_t k = 0; k < upto; k++)
            rt_same_entity_of(f->s, mem, types[type_of[k]], ids[k]);
        rt_same_digest(f->s, mem);
        struct in_order all = {.n = 0};
        assert_int_equal(gs_store_entity_each(f->s, gs_slice_of("", 0),
                                              in_order_cb, &all),
                         GS_OK);
        assert_int_equal(gs_store_counts_get(f->s, &c), GS_OK);
        assert_int_equal(c.entities, all.n);
        size_t n_types = 0;
        for (size_t t = 0; t < 40; t++) {
            struct in_order one = {.only = types[t]};
            assert_int_equal(gs_store_entity_each(f->s,
                                                  gs_slice_of(types[t],
                                                              strlen(types[t])),
                                                  in_order_cb, &one),
                             GS_OK);
            n_types += one.n;
            assert_true(one.n >= 1); /* every type was written */
        }
        assert_true(all.n > n_types); /* and the certificates */
    }
    gs_state_free(mem);
    free(feed);
}

static void
test_store_map_grows_when_full(void **state)
{
    (void)state;
    char dir[] = "/tmp/gs-store-tiny-XXXXXX";
    gs_store_opts o = {64 * 1024, 0, true}; /* 64 KiB: full within a run */
    gs_store *s;
    gs_store_counts c;
    struct gs_test_writer w;
    static struct gs_test_op ops[64];
    gs_ingest_stats st;
    uint8_t d[GS_HASH_BYTES];
    char id[32];
    size_t total = 1; /* the writer's certificate */

    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    gs_test_writer_init(&w, 11, "yc.g8", net_pk);
    enroll(s, &w, false);
    for (int batch = 0; batch < 40; batch++) {
        for (int i = 0; i < 64; i++) {
            snprintf(id, sizeof id, "H-%d", batch * 64 + i);
            gs_test_writer_op(&w, "household", id, "name", "周八", &ops[i]);
        }
        assert_int_equal(ingest(s, ops, 64, &st), GS_OK);
        assert_int_equal(st.applied, 64);
        total += 64;
    }
    assert_int_equal(gs_store_counts_get(s, &c), GS_OK);
    assert_int_equal(c.ops, total);
    assert_true(c.map_size > 64 * 1024);
    assert_consistent(s, d);
    gs_store_close(s);
    /* and it reopens with everything */
    o.create = false;
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    assert_int_equal(gs_store_counts_get(s, &c), GS_OK);
    assert_int_equal(c.ops, total);
    gs_store_close(s);
    gs_test_rmtree(dir);
}

static void
test_store_map_cap_is_an_error_not_a_crash(void **state)
{
    (void)state;
    char dir[] = "/tmp/gs-store-cap-XXXXXX";
    gs_store_opts o = {64 * 1024, 256 * 1024, true};
    gs_store *s;
    struct gs_test_writer w;
    static struct gs_test_op ops[64];
    gs_ingest_stats st;
    char id[32];
    gs_err rc = GS_OK;
    uint8_t d[GS_HASH_BYTES];

    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    gs_test_writer_init(&w, 12, "yc.g9", net_pk);
    enroll(s, &w, false);
    for (int batch = 0; batch < 100 && rc == GS_OK; batch++) {
        struct gs_test_writer save = w;
        for (int i = 0; i < 64; i++) {
            snprintf(id, sizeof id, "H-%d", batch * 64 + i);
            gs_test_writer_op(&w, "household", id, "name", "吴九", &ops[i]);
        }
        rc = ingest(s, ops, 64, &st);
        if (rc != GS_OK)
            w = save;
    }
    assert_int_equal(rc, GS_ETOOBIG);
    assert_consistent(s, d); /* what was committed is intact */
    gs_store_close(s);
    gs_test_rmtree(dir);
}

/* The replica's LMDB environment opened beside the closed store, read
 * only, for a look at how it keeps things. */
static void
raw_open(const char *dir, MDB_env **env, MDB_txn **txn)
{
    assert_int_equal(mdb_env_create(env), 0);
    assert_int_equal(mdb_env_set_maxdbs(*env, 16), 0);
    assert_int_equal(mdb_env_open(*env, dir, MDB_RDONLY | MDB_NOLOCK, 0644),
                     0);
    assert_int_equal(mdb_txn_begin(*env, NULL, MDB_RDONLY, txn), 0);
}

/* The size of household id's stored form. */
static size_t
stored_size(gs_store *s, const char *id)
{
    gs_buf b;
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    assert_int_equal(gs_store_entity_stored(s, gs_slice_of("household", 9),
                                            gs_slice_of(id, strlen(id)), &b),
                     GS_OK);
    size_t n = b.len;
    gs_buf_fini(&b);
    return n;
}

/* A string that many entities hold is kept once, once ops have written it
 * often enough to pay for the table entries (six times for 15 bytes); one
 * that only one entity holds stays where it is. The values read back are
 * what was written, with the store closed and opened again. */
static void
test_store_interns_strings_written_often(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct gs_test_op ops[40];
    gs_ingest_stats st;
    uint8_t d[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    char id[16], phone[16];
    static const char grid[] = "yc.s01.c01.g001";

    gs_test_writer_init(&w, 1, "yc.g1", net_pk);
    enroll(f->s, &w, false);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "H-%d", i + 10);
        snprintf(phone, sizeof phone, "138000000%02d", i);
        gs_test_writer_op(&w, "household", id, "grid", grid, &ops[2 * i]);
        gs_test_writer_op(&w, "household", id, "phone", phone,
                          &ops[2 * i + 1]);
    }
    assert_int_equal(ingest(f->s, ops, 40, &st), GS_OK);
    assert_int_equal(st.applied, 40);
    assert_consistent(f->s, d);
    /* the first five households hold the grid itself (tag, length, 15
     * bytes), the sixth and later name it (tag, number): 15 bytes less,
     * all else alike */
    assert_int_equal(stored_size(f->s, "H-14"), stored_size(f->s, "H-15") + 15);
    assert_int_equal(stored_size(f->s, "H-10"), stored_size(f->s, "H-14"));
    assert_int_equal(stored_size(f->s, "H-15"), stored_size(f->s, "H-29"));
    gs_store_close(f->s);
    f->s = NULL;

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi strs;
    MDB_stat ms;
    raw_open(f->dir, &env, &txn);
    assert_int_equal(mdb_dbi_open(txn, "strs", 0, &strs), 0);
    assert_int_equal(mdb_stat(txn, strs, &ms), 0);
    assert_int_equal(ms.ms_entries, 1); /* the grid; no phone */
    MDB_val k = {4, "\0\0\0\1"}, v;
    assert_int_equal(mdb_get(txn, strs, &k, &v), 0);
    assert_int_equal(v.mv_size, strlen(grid));
    assert_memory_equal(v.mv_data, grid, v.mv_size);
    mdb_txn_abort(txn);
    mdb_env_close(env);

    gs_store_opts o = {0, 0, false};
    assert_int_equal(gs_store_open(f->dir, &o, &f->s), GS_OK);
    for (int i = 0; i < 20; i++) {
        gs_entity e;
        gs_vref val;
        snprintf(id, sizeof id, "H-%d", i + 10);
        snprintf(phone, sizeof phone, "138000000%02d", i);
        assert_int_equal(gs_store_entity_get(f->s,
                                             gs_slice_of("household", 9),
                                             gs_slice_of(id, strlen(id)), &e),
                         GS_OK);
        assert_true(gs_field_lww_get(gs_entity_field(&e, "grid", GS_KIND_LWW),
                                     &val, NULL));
        assert_int_equal(val.s.n, strlen(grid));
        assert_memory_equal(val.s.p, grid, val.s.n);
        assert_true(gs_field_lww_get(
            gs_entity_field(&e, "phone", GS_KIND_LWW), &val, NULL));
        assert_int_equal(val.s.n, strlen(phone));
        assert_memory_equal(val.s.p, phone, val.s.n);
        gs_entity_fini(&e);
    }
    assert_consistent(f->s, d2);
    assert_memory_equal(d, d2, GS_HASH_BYTES);
}

/* A block of ops sealed in the transaction that had put it while it was
 * open (and larger: raw) takes only the pages its sealed value needs. The
 * open block is put early when an entity passes the ops it lists itself,
 * as H-X does here after 100 other ops. */
static void
test_store_sealed_block_takes_only_its_pages(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    struct gs_test_op *ops = calloc(400, sizeof *ops);
    gs_ingest_stats st;
    char id[16], text[160];

    assert_non_null(ops);
    gs_test_writer_init(&w, 1, "yc.g1", net_pk);
    enroll(f->s, &w, false);
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, i < 100 ? "H-%d" : "H-X", i);
        snprintf(text, sizeof text,
                 "第%d次走访：入户核查人口信息，宣传医保缴费政策，老人身体"
                 "状况良好，无其他诉求。",
                 i * 7919 % 10007);
        gs_test_writer_op(&w, "household", id, "note", text, &ops[i]);
    }
    assert_int_equal(ingest(f->s, ops, 400, &st), GS_OK);
    assert_int_equal(st.applied, 400);
    free(ops);
    gs_store_close(f->s);
    f->s = NULL;

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_stat ms;
    MDB_val k, v;
    size_t need = 0, sealed = 0;
    raw_open(f->dir, &env, &txn);
    assert_int_equal(mdb_env_stat(env, &ms), 0);
    size_t psize = ms.ms_psize;
    assert_int_equal(mdb_dbi_open(txn, "ops", 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &ms), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        sealed += ((const uint8_t *)v.mv_data)[0] != 0;
        /* a value over about half a page goes to overflow pages, as many
         * as it fills after their 16-byte header (counted for any value
         * over a quarter page: a bound, never too few) */
        if (v.mv_size > psize / 4)
            need += (16 + v.mv_size + psize - 1) / psize;
    }
    mdb_cursor_close(cur);
    assert_true(sealed >= 1);
    assert_in_range(ms.ms_overflow_pages, 1, need);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    gs_store_opts o = {0, 0, false};
    assert_int_equal(gs_store_open(f->dir, &o, &f->s), GS_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_open_missing_without_create),
        cmocka_unit_test_setup_teardown(
            test_store_ingest_applies_and_matches_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reingest_is_noop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_gap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_fork_at_first_op_freezes_to_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_fork_needs_same_feed_and_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_fork_freezes_feed_at_last_common_op,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_forged_fork, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_refuses_bad_signature_and_other_network, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_store_history_lists_ops_in_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_ops_each_rebuilds_equal_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_stored_forms_give_canonical_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_interns_strings_written_often, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_sealed_block_takes_only_its_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_new_entities_read_back_as_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_finds_entities_in_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_entity_types_past_the_slots,
                                        setup, teardown),
        cmocka_unit_test(test_store_map_grows_when_full),
        cmocka_unit_test(test_store_map_cap_is_an_error_not_a_crash),
    };
    gs_test_keypair(0xa0, net_pk, net_sk);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
