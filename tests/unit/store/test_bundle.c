/*
 * test_bundle.c — bundle files: export then import gives an equal replica;
 * a second import changes nothing; a run altered in transit is refused and
 * reported while the others apply; wrong network, magic and version import
 * nothing; a truncated or corrupted file imports its intact prefix and says
 * where it stopped; a fork is reported; a 10,000-op feed (longer than one
 * record) round trips.
 *
 * Writers are enrolled (store/trust.h) in the source replica before their
 * ops are ingested; the authority's trust feed is then the source's
 * oldest feed, so a bundle carries the certificates first, and the
 * destination learns them from the bundle, as a station would. Bundles
 * made by hand, and replicas that ingest ops directly, get the
 * certificates up front, in the same order everywhere.
 */
#include "testutil.h"

#include "bundle.h"
#include "field.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t net_pk[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];

/* n ops on entities H-<i % 7> of the writer's scope. */
static void
writer_ops(struct gs_test_writer *w, struct gs_test_op *ops, size_t n)
{
    char id[32], text[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof id, "H-%zu", i % 7);
        snprintf(text, sizeof text, "v%zu", i);
        gs_test_writer_op(w, "household", id, "name", text, &ops[i]);
    }
}

/* Ingest ops[0..n) as runs of at most per ops, each signed at its end. */
static void
ingest(gs_store *s, const struct gs_test_op *ops, size_t n, size_t per)
{
    gs_run_item *items = calloc(per, sizeof *items);
    gs_ingest_stats st;
    assert_non_null(items);
    for (size_t at = 0; at < n; at += per) {
        size_t k = n - at < per ? n - at : per;
        for (size_t i = 0; i < k; i++)
            items[i] = (gs_run_item){ops[at + i].bytes, ops[at + i].n, NULL};
        items[k - 1].sig = &ops[at + k - 1].sig;
        gs_store_run run = {items, k};
        assert_int_equal(gs_store_ingest(s, &run, 1, net_pk, &st), GS_OK);
        assert_int_equal(st.applied, k);
    }
    free(items);
}

/* Enroll w in s for its scope (and below), as the authority. */
static void
enroll(gs_store *s, const struct gs_test_writer *w)
{
    gs_test_enroll(s, net_pk, net_sk, w->pk, w->scope, false);
}

struct fixture {
    char dir[64];  /* holds src/, dst/ and the bundle */
    char path[96]; /* the bundle */
    gs_store *src, *dst;
};

static gs_store *
open_store(const char *top, const char *name)
{
    char dir[128];
    gs_store_opts o = {0, 0, true};
    gs_store *s = NULL;
    snprintf(dir, sizeof dir, "%s/%s", top, name);
    if (mkdir(dir, 0700) != 0 || gs_store_open(dir, &o, &s) != GS_OK)
        return NULL;
    return s;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    gs_test_keypair(0xa0, net_pk, net_sk);
    strcpy(f->dir, "/tmp/gs-bundle-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/b.gsb", f->dir);
    f->src = open_store(f->dir, "src");
    f->dst = open_store(f->dir, "dst");
    if (!f->src || !f->dst)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    gs_store_close(f->src);
    gs_store_close(f->dst);
    gs_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Refusals reported by an import. */
struct reports {
    size_t n;
    gs_bundle_refusal r[16];
};

static void
on_refusal(const gs_bundle_refusal *r, void *ctx)
{
    struct reports *rep = ctx;
    if (rep->n < 16)
        rep->r[rep->n] = *r;
    rep->n++;
}

static void
digest(gs_store *s, uint8_t d[GS_HASH_BYTES])
{
    uint8_t rebuilt[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(s, d), GS_OK);
    assert_int_equal(gs_store_digest_rebuild(s, rebuilt), GS_OK);
    assert_memory_equal(d, rebuilt, GS_HASH_BYTES);
}

static uint64_t
ops_held(gs_store *s)
{
    gs_store_counts c;
    assert_int_equal(gs_store_counts_get(s, &c), GS_OK);
    return c.ops;
}

/* The authority's feed of 3 certificates, then three feeds: 5, 3 and 9
 * ops; the third ingested in two runs. Returns the ops held: 3 + 17. */
static size_t
fill_src(gs_store *s)
{
    struct gs_test_writer a, b, c;
    static struct gs_test_op ops[17];
    gs_test_writer_init(&a, 1, "yc.g1", net_pk);
    gs_test_writer_init(&b, 2, "yc.g1", net_pk);
    gs_test_writer_init(&c, 3, "yc.g2", net_pk);
    enroll(s, &a);
    enroll(s, &b);
    enroll(s, &c);
    writer_ops(&a, ops, 5);
    writer_ops(&b, ops + 5, 3);
    writer_ops(&c, ops + 8, 9);
    ingest(s, ops, 5, 5);
    ingest(s, ops + 5, 3, 3);
    ingest(s, ops + 8, 9, 4);
    return 3 + 17;
}

static void
count_progress(uint64_t ops, uint64_t bytes, void *ctx)
{
    (void)bytes;
    *(uint64_t *)ctx = ops;
}

static void
test_bundle_round_trip(void **state)
{
    struct fixture *f = *state;
    gs_bundle_stats ex, im;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    uint64_t progressed = 0;
    char tmp[128];
    struct stat sb;

    size_t total = fill_src(f->src);
    assert_int_equal(gs_bundle_export(f->src, net_pk, "station 站 7", f->path,
                                      count_progress, &progressed, &ex),
                     GS_OK);
    assert_int_equal(ex.runs, 1 + 3); /* the certificates, then the feeds */
    assert_int_equal(ex.ops, total);
    assert_int_equal(progressed, total);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, ex.bytes);
    snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed away */

    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_OK);
    assert_int_equal(im.runs, 1 + 3);
    assert_int_equal(im.ops, total);
    assert_int_equal(im.applied, total); /* certificates came first */
    assert_int_equal(im.known, 0);
    assert_int_equal(im.rejected, 0);
    assert_int_equal(im.bytes, ex.bytes);
    assert_string_equal(im.header.origin, "station 站 7");
    assert_memory_equal(im.header.network, net_pk, GS_KEY_BYTES);
    digest(f->src, d1);
    digest(f->dst, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    assert_int_equal(ops_held(f->dst), total);
}

static void
test_bundle_import_twice_changes_nothing(void **state)
{
    struct fixture *f = *state;
    gs_bundle_stats im;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    struct reports rep = {0};

    size_t total = fill_src(f->src);
    assert_int_equal(
        gs_bundle_export(f->src, net_pk, NULL, f->path, NULL, NULL, NULL),
        GS_OK);
    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    digest(f->dst, d1);
    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(im.applied, 0);
    assert_int_equal(im.known, total);
    assert_int_equal(im.rejected, 0);
    assert_int_equal(rep.n, 0);
    digest(f->dst, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    /* and into the replica it came from: all known */
    assert_int_equal(
        gs_bundle_import(f->src, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(im.known, total);
    assert_int_equal(im.applied, 0);
}

/* Append ops[0..n) as one run record (signed at its end) to b. */
static void
put_run(gs_buf *b, const struct gs_test_op *ops, size_t n)
{
    gs_run_item items[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_run_item){ops[i].bytes, ops[i].n, NULL};
    items[n - 1].sig = &ops[n - 1].sig;
    gs_bundle_rec r = {0, 0, true, items, n};
    assert_int_equal(gs_bundle_rec_encode(&r, b), GS_OK);
}

static void
put_header(gs_buf *b, const uint8_t net[GS_KEY_BYTES], uint8_t version)
{
    gs_bundle_header h = {version, {0}, 1764000000000, "test"};
    memcpy(h.network, net, GS_KEY_BYTES);
    assert_int_equal(gs_bundle_header_encode(&h, b), GS_OK);
}

static void
write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Flip a bit in the last byte of an op: its text value. It still decodes,
 * but no longer hashes to what was signed and chained. */
static void
alter(struct gs_test_op *o)
{
    gs_op op;
    o->bytes[o->n - 1] ^= 1;
    assert_int_equal(gs_op_decode(o->bytes, o->n, &op), GS_OK);
}

static void
test_bundle_bad_runs_reported_good_ones_applied(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w[5];
    static struct gs_test_op ops[5][4];
    gs_buf b;
    gs_bundle_stats im;
    struct reports rep = {0};

    for (int i = 0; i < 5; i++) {
        gs_test_writer_init(&w[i], (uint8_t)(20 + i), "yc.g3", net_pk);
        enroll(f->dst, &w[i]); /* only the tampering is wrong */
        writer_ops(&w[i], ops[i], 4);
    }
    alter(&ops[1][3]); /* last op: the signature fails */
    alter(&ops[3][1]); /* inner op: op 3's prev no longer links */
    gs_buf_init(&b, 1 << 20);
    put_header(&b, net_pk, GS_BUNDLE_VERSION);
    for (int i = 0; i < 5; i++)
        put_run(&b, ops[i], 4);
    assert_int_equal(gs_bundle_end_encode(&b), GS_OK);
    write_file(f->path, b.data, b.len);
    gs_buf_fini(&b);

    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(im.runs, 5);
    assert_int_equal(im.applied, 12);
    assert_int_equal(im.rejected, 8);
    assert_int_equal(im.runs_refused, 2);
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.r[0].run, 1);
    assert_int_equal(rep.r[0].reason, GS_EBADSIG);
    assert_int_equal(rep.r[0].first_seq, 1);
    assert_int_equal(rep.r[0].n_ops, 4);
    assert_memory_equal(rep.r[0].author, w[1].pk, GS_KEY_BYTES);
    assert_string_equal(rep.r[0].scope, "yc.g3");
    assert_int_equal(rep.r[1].run, 3);
    assert_int_equal(rep.r[1].reason, GS_ECHAIN);
    assert_int_equal(ops_held(f->dst), 5 + 12); /* 5 certificates */

    /* the same file again: the good runs are known, the bad ones refused
     * again with the same reasons */
    rep.n = 0;
    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(im.applied, 0);
    assert_int_equal(im.known, 12);
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.r[0].reason, GS_EBADSIG);
    assert_int_equal(rep.r[1].reason, GS_ECHAIN);
}

static void
test_bundle_fork_reported(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w, w2;
    static struct gs_test_op mine[3], theirs[3];
    struct reports rep = {0};
    gs_bundle_stats im;

    /* one device, two histories from seq 2 on (a restored backup) */
    gs_test_writer_init(&w, 30, "yc.g4", net_pk);
    enroll(f->src, &w);
    enroll(f->dst, &w);
    writer_ops(&w, mine, 3);
    w2 = w;
    w2.seq = 1;
    gs_op_hash(mine[0].bytes, mine[0].n, w2.prev);
    gs_test_writer_op(&w2, "household", "H-9", "name", "other", &theirs[1]);
    gs_test_writer_op(&w2, "household", "H-9", "name", "other2", &theirs[2]);
    ingest(f->src, mine, 3, 3);
    theirs[0] = mine[0];
    ingest(f->dst, theirs, 3, 3);
    assert_int_equal(
        gs_bundle_export(f->src, net_pk, NULL, f->path, NULL, NULL, NULL),
        GS_OK);
    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(im.known, 1 + 1); /* the certificate, op 1 */
    assert_int_equal(im.forks, 1);
    assert_int_equal(im.applied, 0);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.r[0].reason, GS_EFORK);
    assert_int_equal(rep.r[0].run, 1); /* run 0: the certificate */
}

static void
test_bundle_wrong_network(void **state)
{
    struct fixture *f = *state;
    uint8_t other[GS_KEY_BYTES], other_sk[GS_SECRETKEY_BYTES];
    gs_bundle_stats im;
    struct reports rep = {0};

    fill_src(f->src);
    gs_test_keypair(0xb0, other, other_sk);
    assert_int_equal(
        gs_bundle_export(f->src, other, NULL, f->path, NULL, NULL, NULL),
        GS_OK);
    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_ENETWORK);
    assert_int_equal(im.applied, 0);
    assert_int_equal(im.runs, 0);
    assert_int_equal(rep.n, 0);
    assert_int_equal(ops_held(f->dst), 0);
}

/* Record offsets of a bundle, from the decoder. */
struct offsets {
    size_t n;
    uint64_t at[64];
    size_t ops[64];
};

static gs_err
on_rec(const gs_bundle_rec *r, void *ctx)
{
    struct offsets *o = ctx;
    assert_int_equal(r->index, o->n);
    o->at[o->n] = r->offset;
    o->ops[o->n++] = r->n;
    return GS_OK;
}

static uint8_t *
slurp(const char *path, size_t *n)
{
    uint8_t *p = (uint8_t *)gs_read_file(path, n);
    assert_non_null(p);
    return p;
}

static void
test_bundle_truncated_imports_prefix(void **state)
{
    struct fixture *f = *state;
    struct offsets o = {0};
    gs_bundle_stats im;
    size_t n;
    uint64_t off;

    fill_src(f->src);
    assert_int_equal(
        gs_bundle_export(f->src, net_pk, NULL, f->path, NULL, NULL, NULL),
        GS_OK);
    uint8_t *p = slurp(f->path, &n);
    assert_int_equal(gs_bundle_decode_mem(p, n, NULL, on_rec, &o, &off), GS_OK);
    assert_int_equal(o.n, 4); /* the certificates, then the three feeds */
    assert_int_equal(o.ops[0], 3);
    assert_int_equal(off, n);

    /* cut in the middle of the last run */
    size_t cut = (size_t)(o.at[3] + 40);
    write_file(f->path, p, cut);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_ETRUNC);
    assert_int_equal(im.err_offset, o.at[3]);
    assert_int_equal(im.runs, 3);
    assert_int_equal(im.applied, o.ops[0] + o.ops[1] + o.ops[2]);
    assert_int_equal(ops_held(f->dst), o.ops[0] + o.ops[1] + o.ops[2]);

    /* cut inside the end checksum: every run is in, the file is damaged */
    write_file(f->path, p, n - 5);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_ETRUNC);
    assert_int_equal(im.runs, 4);
    assert_int_equal(ops_held(f->dst), 3 + 17);

    /* a flipped checksum byte and trailing bytes: malformed */
    p[n - 1] ^= 0x55;
    write_file(f->path, p, n);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_EMALFORMED);
    assert_int_equal(im.err_offset, n - 1 - GS_HASH_BYTES);
    p[n - 1] ^= 0x55;
    uint8_t *q = malloc(n + 1);
    memcpy(q, p, n);
    q[n] = 0;
    write_file(f->path, q, n + 1);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_EMALFORMED);
    assert_int_equal(im.err_offset, n);
    free(q);
    free(p);
}

static void
test_bundle_wrong_magic_and_version(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer w;
    static struct gs_test_op ops[2];
    gs_bundle_stats im;
    gs_buf b;

    gs_test_writer_init(&w, 40, "yc.g5", net_pk);
    enroll(f->dst, &w);
    uint64_t base = ops_held(f->dst); /* the certificate */
    writer_ops(&w, ops, 2);
    gs_buf_init(&b, 1 << 20);
    put_header(&b, net_pk, GS_BUNDLE_VERSION + 1);
    put_run(&b, ops, 2);
    assert_int_equal(gs_bundle_end_encode(&b), GS_OK);
    write_file(f->path, b.data, b.len);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_EVERSION);
    assert_int_equal(im.err_offset, 0);

    b.data[GS_BUNDLE_MAGIC_BYTES] = GS_BUNDLE_VERSION;
    b.data[0] = 'X';
    write_file(f->path, b.data, b.len);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_EMALFORMED);
    assert_int_equal(ops_held(f->dst), base);

    /* repaired, but the checksum covers the header: still refused at the
     * end, after the (authenticated) run was imported */
    b.data[0] = 'G';
    write_file(f->path, b.data, b.len);
    assert_int_equal(gs_bundle_import(f->dst, net_pk, f->path, NULL, NULL, &im),
                     GS_EMALFORMED);
    assert_int_equal(ops_held(f->dst), base + 2);
    gs_buf_fini(&b);

    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, "/nonexistent/b.gsb", NULL, NULL, &im),
        GS_ENOTFOUND);
}

static void
test_bundle_export_atomic_on_error(void **state)
{
    struct fixture *f = *state;
    char bad[128], origin[GS_BUNDLE_ORIGIN_MAX + 2];

    fill_src(f->src);
    snprintf(bad, sizeof bad, "%s/no-such-dir/b.gsb", f->dir);
    assert_int_equal(
        gs_bundle_export(f->src, net_pk, NULL, bad, NULL, NULL, NULL), GS_EIO);
    memset(origin, 'o', sizeof origin - 1);
    origin[sizeof origin - 1] = 0;
    assert_int_equal(
        gs_bundle_export(f->src, net_pk, origin, f->path, NULL, NULL, NULL),
        GS_EINVAL);
    assert_int_not_equal(access(f->path, F_OK), 0);
}

static void
test_bundle_long_feed_round_trips(void **state)
{
    struct fixture *f = *state;
    enum { N = 10000 };
    struct gs_test_op *ops = calloc(N, sizeof *ops);
    struct gs_test_writer w;
    struct offsets o = {0};
    struct reports rep = {0};
    gs_bundle_stats ex, im;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    size_t n;

    assert_non_null(ops);
    gs_test_writer_init(&w, 50, "yc.g9", net_pk);
    enroll(f->src, &w);
    writer_ops(&w, ops, N);
    ingest(f->src, ops, N, 500); /* the store keeps only the head's sig */
    assert_int_equal(
        gs_bundle_export(f->src, net_pk, NULL, f->path, NULL, NULL, &ex),
        GS_OK);
    assert_int_equal(ex.runs, 1 + 1); /* the certificate, the feed */
    assert_int_equal(ex.ops, 1 + N);

    /* the certificate; then two unsigned parts of GS_RUN_MAX ops, closed
     * by one signed run */
    uint8_t *p = slurp(f->path, &n);
    assert_int_equal(gs_bundle_decode_mem(p, n, NULL, on_rec, &o, NULL), GS_OK);
    free(p);
    assert_int_equal(o.n, 1 + 3);
    assert_int_equal(o.ops[0], 1);
    assert_int_equal(o.ops[1], GS_RUN_MAX);
    assert_int_equal(o.ops[2], GS_RUN_MAX);
    assert_int_equal(o.ops[3], N - 2 * GS_RUN_MAX);

    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(rep.n, 0);
    assert_int_equal(im.applied, 1 + N);
    digest(f->src, d1);
    digest(f->dst, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);

    /* and again: nothing changes */
    assert_int_equal(
        gs_bundle_import(f->dst, net_pk, f->path, on_refusal, &rep, &im),
        GS_OK);
    assert_int_equal(im.known, 1 + N);
    assert_int_equal(im.applied, 0);
    free(ops);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bundle_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_bundle_import_twice_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_bundle_bad_runs_reported_good_ones_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_fork_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bundle_wrong_network, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bundle_truncated_imports_prefix,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_wrong_magic_and_version,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_export_atomic_on_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bundle_long_feed_round_trips,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
