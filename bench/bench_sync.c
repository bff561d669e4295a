/*
 * bench_sync.c — `scripts/bench sync`: sync sessions between two real
 * agents on loopback, beside the machine's floor measured in the same run
 * (issue 4).
 *
 * Replicas. One network, whose authority key the benchmark holds. Eight
 * writer devices, each writing its own grid's feed (yc.yimei.nanjun.xinxin.
 * g001..g008), import N/8 of the generated records each (bench_common.h;
 * gs_replica_import: one op per record, signed per batch). Eight authors
 * and feeds, because a community's tablets each write their own. Replica
 * A is writer 1 and takes in the other seven feeds as bundles (one signed
 * run per feed), so it holds few signatures — the benchmark prints how
 * many, since a run costs one verification whatever its length. B is a
 * new tablet of the network (its own feed g101). Every replica first
 * ingests the same run of certificate ops, signed by the authority, that
 * enroll all nine devices to read and write "yc" (store/trust.h, docs/
 * trust.md), so the trust rules admit their ops wherever they go and A
 * serves B everything; the certificates (scope `trust`, which sessions
 * reconcile first) are equal on both sides and not counted below.
 *
 * Sessions. A's agent runs in a child (gs_agent_run on a free loopback
 * port; SIGTERM, its stop flag, ends it after the session, within 10 s or
 * SIGKILL); B dials it from another child (gs_sync_once), which hands its
 * gs_sync_result back through a pipe. Each child is a fresh process (fork
 * and exec); its peak RSS is its VmHWM. Children are killed on every way
 * out.
 *   W1  B is new and empty: it receives all N ops
 *   W2  A and B hold the same N ops; each imports N/100 edits, N/1000 of
 *       them on entities both sides edit; one session moves both ways
 *   W3  one new op on A (gs_replica_put); one session
 * After each session both replicas' digests must be equal.
 *
 * Figures: wall time of the gs_sync_once call (open, connect, session);
 * ops/s = ops moved both ways / that time; wire bytes = the session's
 * message bytes both ways (ZMTP, CURVE and TCP framing not counted); an
 * op's own size = its canonical encoding as the store holds it (docs/
 * op-format.md, signature not counted), read back with gs_store_feed_read;
 * round trips as gs_sync_result counts them; JSON size = the records'
 * JSON Lines, newlines not counted (as `scripts/bench store`).
 * Floor: libsodium Ed25519 verify of an 82-byte message, one core.
 * Targets (issue 4): W1 ops/s >= 2x raw verify; W1 wire <= 40% of the
 * records' JSON; W2 wire <= 1.2x the missing ops' size + 4 KiB; every
 * agent's peak RSS < 64 MiB.
 */
#include "bench_common.h"
#include "field.h"
#include "gridsync.h"
#include "op.h"
#include "replica_int.h"
#include "store.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_sync(int argc, char **argv);

#define WRITERS 8
#define DEVICES (WRITERS + 1) /* and B */
#define SCOPE_FMT "yc.yimei.nanjun.xinxin.g%03u"
#define WANTED "yc" /* what a replica syncs: its scope's first label */
#define B_GRID 101u
#define RSS_MAX_MIB 64.0
#define WHO "gs-bench sync"

static const char *base; /* the temporary directory */

/* ---- enrolment: one run of certificate ops by the authority ---- */

struct authority {
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
    char hex[65];
    uint8_t *ops[DEVICES];
    size_t len[DEVICES];
    gs_sig sig; /* of the last op: it vouches for the run */
};

static void
certs_build(struct authority *au, char dev[DEVICES][65])
{
    uint8_t prev[GS_HASH_BYTES] = {0};
    gs_buf out, pay[2];
    struct timespec ts;
    char name[32];
    gs_err rc = GS_OK;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    gs_buf_init(&out, GS_OP_BYTES_MAX);
    gs_buf_init(&pay[0], GS_PAYLOAD_BYTES_MAX);
    gs_buf_init(&pay[1], GS_PAYLOAD_BYTES_MAX);
    for (size_t i = 0; i < DEVICES && rc == GS_OK; i++) {
        gs_op op;
        memset(&op, 0, sizeof op);
        op.version = GS_OP_VERSION;
        memcpy(op.author, au->pk, GS_KEY_BYTES);
        op.scope = gs_slice_of("trust", 5);
        op.seq = i + 1;
        memcpy(op.prev, prev, GS_HASH_BYTES);
        op.hlc = (ms << 16) + i;
        op.type = gs_slice_of("cert", 4);
        op.id = gs_slice_of(dev[i], 64);
        snprintf(name, sizeof name, "bench device %zu", i + 1);
        gs_vref v = {GS_V_STR, 0, gs_slice_of(name, strlen(name))};
        gs_set_item w = {GS_SET_ADD, gs_slice_of(WANTED, strlen(WANTED)), 0,
                         NULL};
        gs_buf_reset(&pay[0]);
        gs_buf_reset(&pay[1]);
        gs_buf_reset(&out);
        if ((rc = gs_payload_lww(&pay[0], 0, &v)) != GS_OK ||
            (rc = gs_payload_set(&pay[1], &w, 1)) != GS_OK)
            break;
        /* sorted by field; read and write are the same set: "yc" */
        gs_slice yc = gs_slice_of(pay[1].data, pay[1].len);
        op.updates[0] = (gs_update){gs_slice_of("name", 4), GS_KIND_LWW,
                                    gs_slice_of(pay[0].data, pay[0].len)};
        op.updates[1] = (gs_update){gs_slice_of("read", 4), GS_KIND_SET, yc};
        op.updates[2] = (gs_update){gs_slice_of("write", 5), GS_KIND_SET, yc};
        op.n_updates = 3;
        if ((rc = gs_op_encode(&op, &out)) != GS_OK)
            break;
        if (!(au->ops[i] = malloc(out.len)))
            rc = GS_ENOMEM;
        else
            memcpy(au->ops[i], out.data, out.len);
        au->len[i] = out.len;
        gs_op_hash(out.data, out.len, prev);
    }
    gs_buf_fini(&out);
    gs_buf_fini(&pay[0]);
    gs_buf_fini(&pay[1]);
    if (rc != GS_OK)
        gs_bench_die("certificates", gs_strerror(rc));
    gs_op_sign(prev, au->pk, au->sk, &au->sig);
}

static void
certs_ingest(gs_replica *r, const struct authority *au)
{
    gs_run_item items[DEVICES];
    gs_ingest_stats is;
    for (size_t i = 0; i < DEVICES; i++)
        items[i] = (gs_run_item){au->ops[i], au->len[i],
                                 i == DEVICES - 1 ? &au->sig : NULL};
    gs_store_run run = {items, DEVICES};
    memset(&is, 0, sizeof is);
    gs_err rc = gs_store_ingest(gs_replica_store(r), &run, 1,
                                gs_replica_network(r), &is);
    if (rc != GS_OK)
        gs_bench_die("certificates", gs_strerror(rc));
    if (is.rejected)
        gs_bench_die("certificates", gs_strerror(is.first_bad_rc));
}

/* ---- the ops' own size: canonical encodings as the store holds them ---- */

struct feedref {
    uint8_t author[GS_KEY_BYTES];
    char scope[GS_SCOPE_BYTES_MAX];
    size_t scope_n;
    uint64_t seq;
};

struct feeds {
    struct feedref *v;
    size_t n, cap;
};

static int
feed_collect(const gs_store_feed_info *f, void *ctx)
{
    struct feeds *fs = ctx;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        struct feedref *p = realloc(fs->v, cap * sizeof *p);
        if (!p)
            return -1;
        fs->v = p;
        fs->cap = cap;
    }
    struct feedref *d = &fs->v[fs->n++];
    memcpy(d->author, f->author, GS_KEY_BYTES);
    memcpy(d->scope, f->scope.p, f->scope.n);
    d->scope_n = f->scope.n;
    d->seq = f->head.seq;
    return 0;
}

struct opsum {
    unsigned long long ops, bytes, sigs; /* sigs: signatures held */
};

static int
op_add(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct opsum *s = ctx;
    (void)op;
    s->ops++;
    s->bytes += len;
    s->sigs += sig != NULL;
    return 0;
}

/* Count and size every op in the synced scope (feeds are listed first:
 * gs_store_feed_read opens a read transaction of its own). */
static struct opsum
op_sizes(const char *dir)
{
    gs_replica *r = gs_bench_replica_open(dir);
    gs_store *st = gs_replica_store(r);
    struct feeds fs = {0};
    struct opsum sum = {0, 0, 0};
    gs_err rc = gs_store_feeds_each(st, gs_slice_of(WANTED, strlen(WANTED)),
                                    feed_collect, &fs);
    for (size_t i = 0; rc == GS_OK && i < fs.n; i++) {
        const struct feedref *f = &fs.v[i];
        gs_slice scope = gs_slice_of(f->scope, f->scope_n);
        for (uint64_t from = 1, to = 0; rc == GS_OK && from <= f->seq;
             from = to + 1)
            rc = gs_store_feed_read(st, f->author, scope, from, 4096, op_add,
                                    &sum, &to);
    }
    free(fs.v);
    gs_replica_close(r);
    if (rc != GS_OK || (fs.n && !fs.v))
        gs_bench_die("reading ops back",
                     gs_strerror(rc != GS_OK ? rc : GS_ENOMEM));
    return sum;
}

static void
digests_equal(const char *adir, const char *bdir, const char *when)
{
    uint8_t da[32], db[32];
    gs_replica *a = gs_bench_replica_open(adir);
    gs_err rc = gs_replica_digest(a, 0, da);
    gs_replica_close(a);
    gs_replica *b = gs_bench_replica_open(bdir);
    if (rc == GS_OK)
        rc = gs_replica_digest(b, 0, db);
    gs_replica_close(b);
    if (rc != GS_OK)
        gs_bench_die(when, gs_strerror(rc));
    if (memcmp(da, db, sizeof da) != 0)
        gs_bench_die(when,
                     "A's and B's digests differ after the session: they did "
                     "not converge");
}

/* ---- W2's edits ---- */

/* Households to edit: k-th of 2*n_new spread over the N records. Side 0
 * (A) takes k in [0, n_new), side 1 (B) k in [0, shared) and [n_new,
 * 2*n_new - shared): the first `shared` are edited on both sides, with
 * different values, so last-writer-wins has to decide them. */
static void
edits_write(const char *path, size_t n, size_t n_new, size_t shared, int side)
{
    FILE *f = fopen(path, "w");
    size_t households = n / 2, stride = households / (2 * n_new);
    if (!f)
        gs_bench_die("edits", "cannot write the edits file");
    for (size_t j = 0; j < n_new; j++) {
        size_t k = side == 0 || j < shared ? j : n_new + (j - shared);
        size_t i = 2 * ((k * stride) % households);
        if (fprintf(f,
                    "{\"type\":\"household\",\"id\":\"H-%07zu\",\"fields\":"
                    "{\"phone\":\"13%u%08zu\",\"head\":\"%s\"}}\n",
                    i, 7u + (unsigned)side, (k * 7919) % 100000000,
                    side ? "李建国" : "王秀英") < 0)
            gs_bench_die("edits", "write failed");
    }
    if (fclose(f) != 0)
        gs_bench_die("edits", "write failed");
}

/* ---- output ---- */

static void
json_session(const char *name, const struct gs_bench_session *s,
             unsigned long long op_bytes, bool comma)
{
    double w = (double)gs_bench_wire(s), m = (double)gs_bench_moved(s);
    printf("\"%s\":{\"ops_in\":%llu,\"ops_out\":%llu,\"seconds\":%.4f,"
           "\"ops_per_s\":%.0f,\"wire_bytes\":%llu,\"bytes_in\":%llu,"
           "\"bytes_out\":%llu,\"msgs\":%llu,\"wire_bytes_per_op\":%.1f,"
           "\"op_bytes\":%llu,\"wire_vs_op_bytes\":%.3f,"
           "\"round_trips\":%llu,\"rss_serving_agent_mib\":%.1f,"
           "\"rss_dialing_agent_mib\":%.1f}%s",
           name, s->res.ops_in, s->res.ops_out, s->wall, m / s->wall,
           gs_bench_wire(s), s->res.bytes_in, s->res.bytes_out,
           s->res.msgs_in + s->res.msgs_out, m ? w / m : 0.0, op_bytes,
           op_bytes ? w / (double)op_bytes : 0.0, s->res.round_trips,
           s->rss_serve, s->rss_dial, comma ? "," : "");
}

/* ---- the heavy steps, each in a child of its own ---- */

/* What every step knows: forked children get a copy. */
static struct {
    size_t n, n_new, shared;
    char dirs[DEVICES][4200]; /* writers 1..8 (A is writer 1), then B */
    const char *adir, *bdir;
} bx;

struct setup_io {
    char dev[DEVICES][65];
    size_t json_bytes;
    struct opsum own; /* A's ops */
};

/* The network, nine enrolled devices, the writers' feeds, A. */
static void
setup_step(void *p)
{
    struct setup_io *io = p;
    struct authority au;
    uint8_t seed[32];
    char path[4300], name[32], scope[64];
    /* the network: an authority key of our own, the same every run */
    memset(&au, 0, sizeof au);
    memset(seed, 0x5a, sizeof seed);
    crypto_sign_seed_keypair(au.pk, au.sk, seed);
    sodium_bin2hex(au.hex, sizeof au.hex, au.pk, GS_KEY_BYTES);
    for (unsigned w = 0; w < DEVICES; w++) {
        bool is_b = w == WRITERS;
        snprintf(name, sizeof name, is_b ? "B" : "writer-%u", w + 1);
        snprintf(scope, sizeof scope, SCOPE_FMT, is_b ? B_GRID : w + 1);
        gs_bench_replica_make(bx.dirs[w], au.hex, scope, name, io->dev[w]);
    }
    certs_build(&au, io->dev);
    sodium_memzero(au.sk, sizeof au.sk);

    io->json_bytes = 0;
    for (unsigned w = 0; w < WRITERS; w++) {
        size_t first = bx.n / WRITERS * w;
        size_t cnt = w == WRITERS - 1 ? bx.n - first : bx.n / WRITERS;
        snprintf(path, sizeof path, "%s/records-%u.jsonl", base, w + 1);
        io->json_bytes += gs_bench_records_write(path, first, cnt);
        gs_replica *r = gs_bench_replica_open(bx.dirs[w]);
        certs_ingest(r, &au);
        gs_bench_replica_import(r, path, cnt);
        if (w > 0) {
            gs_bundle_result br;
            snprintf(path, sizeof path, "%s/w%u.bundle", base, w + 1);
            if (gs_replica_bundle_export(r, path, "bench", NULL, NULL, &br) !=
                GS_OK)
                gs_bench_die("bundle export", gs_replica_detail(r));
        }
        gs_replica_close(r);
    }
    gs_bench_progress("A takes in the other %d feeds as bundles...",
                      WRITERS - 1);
    gs_replica *a = gs_bench_replica_open(bx.adir);
    for (unsigned w = 1; w < WRITERS; w++) {
        gs_bundle_result br;
        snprintf(path, sizeof path, "%s/w%u.bundle", base, w + 1);
        if (gs_replica_bundle_import(a, path, NULL, NULL, &br) != GS_OK)
            gs_bench_die("bundle import", gs_replica_detail(a));
        if (br.rejected || br.runs_refused)
            gs_bench_die("bundle import", "A refused ops of a writer");
    }
    gs_bench_replica_accept(a, io->dev[WRITERS]);
    gs_replica_close(a);
    gs_replica *b = gs_bench_replica_open(bx.bdir);
    certs_ingest(b, &au);
    gs_bench_replica_accept(b, io->dev[0]);
    gs_replica_close(b);
    for (size_t i = 0; i < DEVICES; i++)
        free(au.ops[i]);
    io->own = op_sizes(bx.adir);
    if (io->own.ops != bx.n)
        gs_bench_die("setup", "A does not hold every op");
}

static void
digest_step(void *p)
{
    digests_equal(bx.adir, bx.bdir, p);
}

static void
check_digests(const char *when)
{
    char io[16];
    snprintf(io, sizeof io, "%s", when);
    gs_bench_in_child(when, digest_step, io, sizeof io);
}

struct w2_io {
    struct opsum a, b; /* after the edits */
};

/* Each side imports its edits. */
static void
w2_step(void *p)
{
    struct w2_io *io = p;
    char path[4300];
    for (int side = 0; side < 2; side++) {
        const char *dir = side ? bx.bdir : bx.adir;
        snprintf(path, sizeof path, "%s/edits-%c.jsonl", base, "ab"[side]);
        edits_write(path, bx.n, bx.n_new, bx.shared, side);
        gs_replica *r = gs_bench_replica_open(dir);
        gs_bench_replica_import(r, path, bx.n_new);
        gs_replica_close(r);
    }
    io->a = op_sizes(bx.adir);
    io->b = op_sizes(bx.bdir);
}

struct w3_io {
    unsigned long long own; /* the new op's bytes */
};

static void
w3_step(void *p)
{
    struct w3_io *io = p;
    struct opsum before = op_sizes(bx.adir);
    gs_replica *a = gs_bench_replica_open(bx.adir);
    if (gs_replica_put(a, "household", "H-0000002",
                       "{\"phone\":\"13600000000\"}") != GS_OK)
        gs_bench_die("W3", gs_replica_detail(a));
    gs_replica_close(a);
    io->own = op_sizes(bx.adir).bytes - before.bytes;
}

int
bench_sync(int argc, char **argv)
{
    bool json = false;
    size_t n = 100000;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "%s: unknown argument '%s'\n", WHO, argv[i]);
            return 2;
        }
    }
    if (n < 4000 || n > 10000000) {
        fprintf(stderr, "%s: --ops must be 4000..10000000\n", WHO);
        return 2;
    }
    if (sodium_init() < 0)
        gs_bench_die("sodium", "init failed");
    base = gs_bench_begin(WHO, "sync");
    bx.n = n;
    bx.n_new = n / 100;
    bx.shared = n / 1000;
    for (unsigned w = 0; w < DEVICES; w++)
        snprintf(bx.dirs[w], sizeof bx.dirs[w], "%s/%s%u", base,
                 w == WRITERS ? "b" : "w", w == WRITERS ? 0 : w + 1);
    bx.adir = bx.dirs[0];
    bx.bdir = bx.dirs[WRITERS];
    const char *adir = bx.adir, *bdir = bx.bdir;

    gs_bench_progress("%zu records by %d writers, imported (one feed each)...",
                      n, WRITERS);
    struct setup_io su;
    gs_bench_in_child("setup", setup_step, &su, sizeof su);
    struct opsum w1_own = su.own;
    size_t json_bytes = su.json_bytes;

    gs_bench_progress("raw Ed25519 verify floor...");
    double raw_verify = gs_bench_raw_verify_best();

    /* W1: B is new */
    struct gs_bench_session w1, w2, w3;
    gs_bench_progress("W1: B, new, receives %zu ops from A's agent...", n);
    gs_bench_session_run(adir, bdir, su.dev[0], "w1", &w1);
    gs_bench_moved_check("W1", &w1, n, 0);
    check_digests("W1");

    /* W2: both write, then one session */
    gs_bench_progress(
        "W2: %zu new ops on each side, %zu entities edited on both...",
        bx.n_new, bx.shared);
    struct w2_io w2io;
    gs_bench_in_child("W2", w2_step, &w2io, sizeof w2io);
    unsigned long long missing = w2io.a.bytes + w2io.b.bytes - 2 * w1_own.bytes;
    unsigned long long missing_ops = w2io.a.ops + w2io.b.ops - 2 * w1_own.ops;
    gs_bench_session_run(adir, bdir, su.dev[0], "w2", &w2);
    gs_bench_moved_check("W2", &w2, bx.n_new, bx.n_new);
    check_digests("W2");

    /* W3: one op */
    gs_bench_progress("W3: one new op on A...");
    struct w3_io w3io;
    gs_bench_in_child("W3", w3_step, &w3io, sizeof w3io);
    unsigned long long w3_own = w3io.own;
    gs_bench_session_run(adir, bdir, su.dev[0], "w3", &w3);
    gs_bench_moved_check("W3", &w3, 1, 0);
    check_digests("W3");

    double again =
        gs_bench_raw_verify_best(); /* the floor once more, at the end */
    if (again > raw_verify)
        raw_verify = again;
    double w1_rate = (double)w1.res.ops_in / w1.wall;
    double r_ingest = w1_rate / raw_verify;
    double r_json = (double)gs_bench_wire(&w1) / (double)json_bytes;
    double w2_limit = 1.2 * (double)missing + 4096.0;
    double r_w2 = (double)gs_bench_wire(&w2) / w2_limit;
    double rss = 0;
    const struct gs_bench_session *all[3] = {&w1, &w2, &w3};
    for (int i = 0; i < 3; i++) {
        if (all[i]->rss_serve > rss)
            rss = all[i]->rss_serve;
        if (all[i]->rss_dial > rss)
            rss = all[i]->rss_dial;
    }
    bool m_ingest = r_ingest >= 2.0, m_json = r_json <= 0.40,
         m_w2 = r_w2 <= 1.0, m_rss = rss < RSS_MAX_MIB;

    if (json) {
        printf("{\"bench\":\"sync\",\"ops\":%zu,\"feeds\":%d,\"authors\":%d,"
               "\"raw_verify_per_s\":%.0f,\"json_bytes\":%zu,"
               "\"op_bytes\":%llu,\"signatures_held_by_a\":%llu,",
               n, WRITERS, WRITERS, raw_verify, json_bytes, w1_own.bytes,
               w1_own.sigs);
        json_session("w1", &w1, w1_own.bytes, true);
        json_session("w2", &w2, missing, true);
        json_session("w3", &w3, w3_own, true);
        printf("\"w1_ingest_vs_raw_verify\":%.3f,\"w1_wire_vs_json\":%.3f,"
               "\"w2_missing_ops\":%llu,\"w2_missing_bytes\":%llu,"
               "\"w2_wire_limit_bytes\":%.0f,\"w2_wire_vs_limit\":%.3f,"
               "\"peak_rss_mib\":%.1f,"
               "\"targets\":{\"w1_ingest_vs_raw_verify\":2,"
               "\"w1_wire_vs_json\":0.4,\"w2_wire_vs_limit\":1,"
               "\"peak_rss_mib\":64},"
               "\"met\":{\"w1_ingest\":%s,\"w1_wire\":%s,\"w2_wire\":%s,"
               "\"rss\":%s}}\n",
               r_ingest, r_json, missing_ops, missing, w2_limit, r_w2, rss,
               gs_bench_tf(m_ingest), gs_bench_tf(m_json), gs_bench_tf(m_w2),
               gs_bench_tf(m_rss));
    } else {
        printf("gridsync sync benchmark: %zu ops in %d feeds of %d authors; "
               "A's agent and B's\nsync session, each in its own process, on "
               "loopback\n\n",
               n, WRITERS, WRITERS);
        printf("%-30s %14s %14s %12s\n", "", "W1 new replica", "W2 both wrote",
               "W3 one op");
        printf("%-30s %14llu %14llu %12llu\n", "ops moved (in + out)",
               gs_bench_moved(&w1), gs_bench_moved(&w2), gs_bench_moved(&w3));
        printf("%-30s %14.3f %14.3f %12.3f\n", "wall time (s)", w1.wall,
               w2.wall, w3.wall);
        printf("%-30s %14.0f %14.0f %12.0f\n", "ops/s", w1_rate,
               (double)gs_bench_moved(&w2) / w2.wall,
               (double)gs_bench_moved(&w3) / w3.wall);
        printf("%-30s %14llu %14llu %12llu\n", "bytes on the wire",
               gs_bench_wire(&w1), gs_bench_wire(&w2), gs_bench_wire(&w3));
        printf("%-30s %14.1f %14.1f %12.1f\n", "  per op moved",
               (double)gs_bench_wire(&w1) / (double)gs_bench_moved(&w1),
               (double)gs_bench_wire(&w2) / (double)gs_bench_moved(&w2),
               (double)gs_bench_wire(&w3) / (double)gs_bench_moved(&w3));
        printf("%-30s %14.3f %14.3f %12.3f\n", "  vs the ops' own size",
               (double)gs_bench_wire(&w1) / (double)w1_own.bytes,
               (double)gs_bench_wire(&w2) / (double)missing,
               (double)gs_bench_wire(&w3) / (double)w3_own);
        printf("%-30s %14llu %14llu %12llu\n", "round trips",
               w1.res.round_trips, w2.res.round_trips, w3.res.round_trips);
        printf("%-30s %14.1f %14.1f %12.1f\n", "peak RSS, A's agent (MiB)",
               w1.rss_serve, w2.rss_serve, w3.rss_serve);
        printf("%-30s %14.1f %14.1f %12.1f\n", "peak RSS, B's sync (MiB)",
               w1.rss_dial, w2.rss_dial, w3.rss_dial);
        printf("\n%-30s %12s %12s %8s %8s\n", "", "ours", "floor/limit",
               "ratio", "target");
        printf("%-30s %12.0f %12.0f %8.3f %8s %s\n", "W1 ingest (ops/s)",
               w1_rate, raw_verify, r_ingest, ">=2",
               m_ingest ? "met" : "MISSED");
        printf("%-30s %12llu %12zu %8.3f %8s %s\n", "W1 wire vs JSON (bytes)",
               gs_bench_wire(&w1), json_bytes, r_json, "<=0.40",
               m_json ? "met" : "MISSED");
        printf("%-30s %12llu %12.0f %8.3f %8s %s\n", "W2 wire vs limit (bytes)",
               gs_bench_wire(&w2), w2_limit, r_w2, "<=1",
               m_w2 ? "met" : "MISSED");
        printf("%-30s %12.1f %12.0f %8s %8s %s\n", "peak RSS, any agent (MiB)",
               rss, RSS_MAX_MIB, "-", "<64", m_rss ? "met" : "MISSED");
        printf("\nfloor, same run: libsodium Ed25519 verify of an 82-byte "
               "message, one core,\nbest of 5 x 4,000 before W1 and again "
               "after W3.\n"
               "the ops' own size: canonical op encodings as stored, no "
               "signatures: W1\n%llu bytes (%.1f/op; A holds %llu "
               "signatures for them); W2 limit = 1.2 x\nthe %llu missing "
               "ops' %llu bytes + 4096; W3 %llu.\n"
               "JSON: the %zu records as JSON Lines, newlines not counted "
               "(%.1f bytes/record).\n"
               "wire: session messages both ways; ZMTP, CURVE and TCP "
               "framing not counted.\n"
               "RSS: each side a fresh process (fork, exec); peak = "
               "VmHWM.\n",
               w1_own.bytes, (double)w1_own.bytes / (double)w1_own.ops,
               w1_own.sigs, missing_ops, missing, w3_own, n,
               (double)json_bytes / (double)n);
    }
    gs_bench_end();
    return 0;
}
