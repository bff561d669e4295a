/*
 * test_store.c — the LMDB replica: ingest of runs (new, known, gap, fork,
 * forged), the materialised state against a rebuild from the op log,
 * history, the full op listing, and a map that must grow by itself.
 */
#include "testutil.h"

#include "field.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t net_pk[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];

/* Ingest ops[0..n) as one run signed at its end. */
static gs_err
ingest(gs_store *s, const struct gs_test_op *ops, size_t n, gs_ingest_stats *st)
{
    gs_run_item items[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_run_item){ops[i].bytes, ops[i].n, NULL};
    items[n - 1].sig = &ops[n - 1].sig;
    gs_store_run run = {items, n};
    return gs_store_ingest(s, &run, 1, net_pk, st);
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
    gs_test_writer_op(&w, "household", "H-5", "name", "王五", &ops[0]);
    gs_test_writer_op(&w, "household", "H-5", "name", "王五一", &ops[1]);
    gs_test_writer_op(&w, "household", "H-5", "name", "王五二", &ops[2]);
    assert_int_equal(ingest(f->s, ops, 1, &st), GS_OK);
    assert_consistent(f->s, before);
    assert_int_equal(ingest(f->s, &ops[2], 1, &st), GS_OK); /* seq 3 after 1 */
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.by_reason[GS_ECHAIN], 1);
    assert_consistent(f->s, after);
    assert_memory_equal(before, after, GS_HASH_BYTES);
}

static void
test_store_keeps_fork_as_evidence(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w, twin;
    struct gs_test_op ops[2], other;
    gs_ingest_stats st;
    gs_store_counts c;
    uint8_t before[GS_HASH_BYTES], after[GS_HASH_BYTES];

    gs_test_writer_init(&w, 4, "yc.g3", net_pk);
    gs_test_writer_op(&w, "wish", "W-1", "title", "修自行车", &ops[0]);
    twin = w; /* the same device state, cloned: it will equivocate */
    gs_test_writer_op(&w, "wish", "W-1", "title", "修自行车和轮椅", &ops[1]);
    gs_test_writer_op(&twin, "wish", "W-1", "title", "买米", &other);
    assert_int_equal(ingest(f->s, ops, 2, &st), GS_OK);
    assert_consistent(f->s, before);
    assert_int_equal(ingest(f->s, &other, 1, &st), GS_OK);
    assert_int_equal(st.forks, 1);
    assert_int_equal(st.applied, 0);
    assert_consistent(f->s, after);
    assert_memory_equal(before, after, GS_HASH_BYTES);
    assert_int_equal(gs_store_counts_get(f->s, &c), GS_OK);
    assert_int_equal(c.forks, 1);
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
    gs_test_writer_op(&w, "wish", "W-2", "title", "a", &op1);
    assert_int_equal(ingest(f->s, &op1, 1, &st), GS_OK);
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

    assert_consistent(f->s, before);
    gs_test_writer_init(&w, 6, "yc.g4", net_pk);
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
    assert_int_equal(c->applied, 5);
    assert_consistent(f->s, d1);
    assert_consistent(c->dst, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    gs_store_close(c->dst);
    gs_test_rmtree(dir);
    free(c);
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
    size_t total = 0;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    gs_test_writer_init(&w, 11, "yc.g8", net_pk);
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
        cmocka_unit_test_setup_teardown(test_store_keeps_fork_as_evidence,
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
        cmocka_unit_test(test_store_map_grows_when_full),
        cmocka_unit_test(test_store_map_cap_is_an_error_not_a_crash),
    };
    gs_test_keypair(0xa0, net_pk, net_sk);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
