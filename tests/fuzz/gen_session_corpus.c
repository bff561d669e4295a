/*
 * gen_session_corpus.c — writes seed inputs for fuzz_session and the
 * per-type wire targets from real conversations. Not built by CMake: run
 * tests/fuzz/gen_corpus.sh, which builds it against a build's library,
 * names the outputs by their SHA-1 and puts them in tests/fuzz/corpus/.
 *
 * For each scenario, twice (our side listening, then dialing), it drives
 * our session — the fuzz target's: gs_fuzz_fixture store, options from
 * gs_fuzz_session_opts — against a peer session over a store of its own,
 * delivering each side's queue to the other in flights (as
 * tests/unit/net/test_session.c does), and records what OUR side received
 * in fuzz_session's input format (session_fixture.h). Because ops, keys
 * and the fixture are deterministic, fuzz_session replays each recording
 * exactly as it ran here, to the same end. Scenarios: nothing to do, one
 * changed op, we serve, several feeds each way, a batch of ops, another
 * network, a device enrolled after the fixture's (its certificate comes
 * first when the peer wants "trust"; else its ops are refused GS_ENOCERT);
 * and hostile peers whose OPS are rewritten on the way to us
 * (bad signatures, gaps, runs out of scope, runs split in parts, OPS sent
 * as PUSH), which reach the refusal and join paths a mutating fuzzer
 * seldom builds through a zstd frame. Every message either side sent also
 * goes, header stripped, to wire_<type>/ (OPS bodies to wire_push/ too:
 * PUSH has the body of OPS).
 *
 * usage: gen_session_corpus OUTDIR   (OUTDIR exists; writes OUTDIR/session,
 * OUTDIR/wire_<type>; prints one line per recording)
 */
#include "session_fixture.h"

#include <errno.h>
#include <sys/stat.h>

static const char *const type_names[] = {
    NULL,  "hello", "welcome", "summary", "ranges", "want",
    "ops", "ack",   "push",    "error",   "bye"};

#define OTHER_NET_SEED 0xb0 /* the authority of another network */

static uint8_t net[GS_KEY_BYTES], other_net[GS_KEY_BYTES];
static uint8_t device[GS_KEY_BYTES], peer_device[GS_KEY_BYTES];
static const char *outdir;

/* ---- the peer's stores ---- */

static void
put(gs_store *st, const uint8_t *nw, uint8_t key, const char *scope,
    unsigned n_ops, unsigned run)
{
    struct gs_fuzz_feed f = {key, scope, n_ops};
    gs_fuzz_feed_put(st, nw, &f, 1, run);
}

/* The fixture (its certificates, then its feeds) with feed i's op count
 * changed by delta[i] (-1000: none). */
static void
fixture_but(gs_store *st, const uint8_t *nw, const int *delta)
{
    gs_fuzz_enroll(st, nw == net ? GS_FUZZ_NET_SEED : OTHER_NET_SEED,
                   gs_fuzz_certs, 0, GS_FUZZ_CERTS);
    for (size_t i = 0; i < GS_FUZZ_FIXTURE_FEEDS; i++) {
        struct gs_fuzz_feed f = gs_fuzz_fixture(i);
        int n = (int)f.n_ops + (delta ? delta[i] : 0);
        if (n > 0)
            put(st, nw, f.key, f.scope, (unsigned)n, 2);
    }
}

static void
peer_same(gs_store *st)
{
    fixture_but(st, net, NULL);
}

static void
peer_ahead_one(gs_store *st)
{
    int d[GS_FUZZ_FIXTURE_FEEDS] = {[7] = 1};
    fixture_but(st, net, d);
}

/* We serve: the peer lacks 12 feeds and an op of another. */
static void
peer_behind(gs_store *st)
{
    int d[GS_FUZZ_FIXTURE_FEEDS] = {[13] = -1};
    for (size_t i = 0; i < 12; i++)
        d[i] = -1000;
    fixture_but(st, net, d);
}

/* Several feeds each way: the peer lacks some, is behind and ahead on
 * others, and has feeds we lack (one in a scope outside "yc.t"). */
static void
peer_both_ways(gs_store *st)
{
    int d[GS_FUZZ_FIXTURE_FEEDS] = {
        [0] = -1000, [1] = -1000, [2] = -1000, [4] = -1,
        [5] = 2,     [6] = 2,     [11] = 1};
    fixture_but(st, net, d);
    put(st, net, 0x20, "yc.t.g9", 2, 2);
    put(st, net, 0x21, "yc.t", 3, 1);
    put(st, net, 0x22, "yc.b", 2, 2);
}

/* As both ways, and a feed in "zz", which a peer wanting two scopes gets
 * nothing of from us. */
static void
peer_two_scopes(gs_store *st)
{
    peer_both_ways(st);
    put(st, net, 0x23, "zz", 2, 2);
}

/* A batch of ops: a new feed of 30 ops signed every 3, and 10 more ops on
 * a fixture feed; the peer serves them in batches of 8. */
static void
peer_batch(gs_store *st)
{
    int d[GS_FUZZ_FIXTURE_FEEDS] = {[9] = 10};
    fixture_but(st, net, d);
    put(st, net, 0x28, "yc.t.g5", 30, 3);
}

/* A device enrolled after the fixture was made: the peer holds its
 * certificate (the trust feed's next op) and 4 ops of it. */
static void
peer_trust(gs_store *st)
{
    struct gs_fuzz_cert all[GS_FUZZ_CERTS + 1];
    memcpy(all, gs_fuzz_certs, sizeof gs_fuzz_certs);
    all[GS_FUZZ_CERTS] = (struct gs_fuzz_cert){0x29, "yc.t"};
    fixture_but(st, net, NULL);
    gs_fuzz_enroll(st, GS_FUZZ_NET_SEED, all, GS_FUZZ_CERTS, 1);
    put(st, net, 0x29, "yc.t.g6", 4, 2);
}

static void
peer_other_network(gs_store *st)
{
    fixture_but(st, other_net, NULL);
}

/* What the peer's OPS become on their way to us (hostile scenarios). */
enum tamper {
    T_NONE,
    T_BADSIG, /* every run's signature flipped: refused GS_EBADSIG */
    T_GAP,    /* every run starts one seq later: refused GS_ECHAIN */
    T_SCOPE,  /* every run in scope "zz": refused GS_EPROTO */
    T_SPLIT,  /* every run of 2+ ops in two parts, the first unsigned */
    T_PUSH,   /* sent as PUSH: the session answers GS_EPROTO */
};

struct scenario {
    const char *name;
    void (*fill)(gs_store *st);
    const uint8_t *network;
    size_t batch_ops;
    enum tamper tamper;
    size_t peer_scopes; /* a dialing peer wants the first 1 or 2 of
                           {"yc", "zz"} ("zz": a scope we hold nothing of) */
    /* if set, what a dialing peer wants instead of {"yc", "zz"} */
    const char *const *peer_wanted;
};

static const char *const trust_first[] = {"trust", "yc"}; /* the agent's */

static const struct scenario scenarios[] = {
    {"nothing", peer_same, net, 0, T_NONE, 1, NULL},
    {"one-op", peer_ahead_one, net, 0, T_NONE, 1, NULL},
    {"serve", peer_behind, net, 0, T_NONE, 1, NULL},
    {"both-ways", peer_both_ways, net, 0, T_NONE, 1, NULL},
    {"batch", peer_batch, net, 8, T_NONE, 1, NULL},
    {"other-network", peer_other_network, other_net, 0, T_NONE, 1, NULL},
    {"bad-sig", peer_both_ways, net, 0, T_BADSIG, 1, NULL},
    {"gap", peer_both_ways, net, 0, T_GAP, 1, NULL},
    {"scope", peer_batch, net, 8, T_SCOPE, 1, NULL},
    {"split-runs", peer_both_ways, net, 0, T_SPLIT, 1, NULL},
    {"push", peer_ahead_one, net, 0, T_PUSH, 1, NULL},
    {"two-scopes", peer_two_scopes, net, 0, T_NONE, 2, NULL},
    {"trust-first", peer_trust, net, 0, T_NONE, 2, trust_first},
};

/* ---- hostile peers ---- */

/* Bytes of the first h compact ops of r (compaction is canonical, so they
 * are a prefix of r->ops). */
static size_t
compact_prefix(const gs_wire_run *r, size_t h)
{
    static const gs_sig none;
    uint8_t prev[GS_HASH_BYTES];
    gs_run_item *items = calloc(r->n, sizeof *items);
    gs_wire_run part;
    gs_buf ex, ops;
    size_t len;
    memset(prev, r->first_seq == 1 ? 0 : 0x5a, sizeof prev);
    gs_buf_init(&ex, (size_t)1 << 26);
    gs_buf_init(&ops, (size_t)1 << 26);
    if (!items || gs_wire_run_expand(r, prev, &ex, items, NULL) != GS_OK)
        abort();
    items[h - 1].sig = &none;
    if (gs_wire_run_compact(items, h, &part, &ops) != GS_OK)
        abort();
    len = ops.len;
    gs_buf_fini(&ex);
    gs_buf_fini(&ops);
    free(items);
    return len;
}

/* Rewrite an OPS message p[0..n) from the peer as t says, into out. */
static void
tamper_ops(enum tamper t, const uint8_t *p, size_t n, gs_buf *out)
{
    static const gs_sig none;
    gs_wire_msg *m = calloc(1, sizeof *m);
    gs_wire_batch b;
    gs_wire_run *runs;
    gs_buf frame;
    size_t k = 0;
    if (!m || gs_wire_decode(p, n, m) != GS_OK ||
        gs_wire_batch_decode(m->u.ops.frame, &b) != GS_OK ||
        !(runs = calloc(2 * b.n_runs, sizeof *runs)))
        abort();
    for (size_t i = 0; i < b.n_runs; i++) {
        gs_wire_run r = b.runs[i];
        size_t h = r.n / 2, len;
        if (t == T_BADSIG)
            r.sig.sig[5] ^= 1;
        if (t == T_GAP)
            r.first_seq++;
        if (t == T_SCOPE)
            r.scope = gs_slice_of("zz", 2);
        if (t != T_SPLIT || r.n < 2) {
            runs[k++] = r;
            continue;
        }
        len = compact_prefix(&r, h);
        runs[k] = r;
        runs[k].n = h;
        runs[k].ops.n = len;
        runs[k++].sig = none;
        runs[k] = r;
        runs[k].first_seq += h;
        runs[k].n -= h;
        runs[k].ops.p += len;
        runs[k++].ops.n -= len;
    }
    gs_buf_init(&frame, GS_WIRE_MSG_MAX);
    if (gs_wire_batch_compress(runs, k, &frame) != GS_OK)
        abort();
    m->u.ops.frame = gs_slice_of(frame.data, frame.len);
    if (gs_wire_encode(m, out) != GS_OK)
        abort();
    gs_buf_fini(&frame);
    gs_wire_batch_fini(&b);
    free(runs);
    free(m);
}

/* ---- output ---- */

static void
write_file(const char *sub, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", outdir, sub);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        abort();
    snprintf(path, sizeof path, "%s/%s/%s", outdir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        abort();
}

static void
write_body(const char *label, size_t k, const uint8_t *m, size_t n)
{
    char sub[32], name[96];
    if (n < GS_WIRE_HEADER_BYTES || m[1] == 0 || m[1] > GS_WIRE_TYPE_MAX_)
        abort();
    snprintf(name, sizeof name, "%s-%zu", label, k);
    snprintf(sub, sizeof sub, "wire_%s", type_names[m[1]]);
    write_file(sub, name, m + GS_WIRE_HEADER_BYTES, n - GS_WIRE_HEADER_BYTES);
    if (m[1] == GS_WIRE_OPS)
        write_file("wire_push", name, m + GS_WIRE_HEADER_BYTES,
                   n - GS_WIRE_HEADER_BYTES);
}

/* ---- one conversation ---- */

static void
record(const struct scenario *sc, bool we_dial)
{
    char ldir[] = "/tmp/gs-gen-ours-XXXXXX", pdir[] = "/tmp/gs-gen-peer-XXXXXX";
    gs_store *ls = gs_fuzz_store_new(ldir), *ps = gs_fuzz_store_new(pdir);
    static const char *const wanted[] = {"yc", "zz"};
    gs_session_opts lo, po = {0};
    gs_session *us, *peer;
    gs_buf rec, bent; /* the recording; a tampered message */
    char label[64];
    size_t k = 0, got = 0;

    snprintf(label, sizeof label, "%s-%s", sc->name,
             we_dial ? "dialer" : "listener");
    gs_fuzz_fill_fixture(ls, net);
    sc->fill(ps);
    gs_fuzz_session_opts(&lo, ls, net, device, we_dial);
    po.store = ps;
    po.network = sc->network;
    po.device = peer_device;
    po.dialer = !we_dial;
    po.id = 9;
    po.scopes = sc->peer_wanted ? sc->peer_wanted : wanted;
    po.n_scopes = sc->peer_scopes;
    po.batch_ops = sc->batch_ops;
    if (gs_session_new(&lo, &us) != GS_OK ||
        gs_session_new(&po, &peer) != GS_OK ||
        gs_session_start(we_dial ? us : peer) != GS_OK)
        abort();
    gs_buf_init(&rec, (size_t)1 << 24);
    gs_buf_init(&bent, GS_WIRE_MSG_MAX);
    if (gs_buf_put(&rec, (const uint8_t[]){we_dial ? 1 : 0}, 1) != GS_OK)
        abort();
    gs_session *dialer = we_dial ? us : peer, *listener = we_dial ? peer : us;
    for (int flight = 0, idle = 0; flight < 200 && idle < 2; flight++) {
        gs_session *from = flight % 2 ? listener : dialer;
        gs_session *to = from == dialer ? listener : dialer;
        gs_slice m;
        bool moved = false;
        while (gs_session_next(from, &m)) {
            moved = true;
            gs_buf_reset(&bent);
            if (to == us && sc->tamper != T_NONE && m.n > 1 &&
                m.p[1] == GS_WIRE_OPS) {
                if (sc->tamper == T_PUSH) {
                    if (gs_buf_put(&bent, m.p, m.n) != GS_OK)
                        abort();
                    bent.data[1] = GS_WIRE_PUSH;
                } else {
                    tamper_ops(sc->tamper, m.p, m.n, &bent);
                }
                m = gs_slice_of(bent.data, bent.len);
            }
            write_body(label, k++, m.p, m.n);
            if (gs_session_over(to))
                continue;
            if (to == us) {
                uint8_t len[2] = {(uint8_t)(m.n >> 8), (uint8_t)m.n};
                if (m.n > 0xffff || gs_buf_put(&rec, len, 2) != GS_OK ||
                    gs_buf_put(&rec, m.p, m.n) != GS_OK)
                    abort();
                got++;
            }
            gs_err rc = gs_session_recv(to, m.p, m.n);
            (void)rc; /* the outcome shows in the session's state */
        }
        idle = moved ? 0 : idle + 1;
    }
    const gs_session_stats *st = gs_session_stats_get(us);
    printf("%-24s got %2zu msgs%s; ours: %s, %s, ops in %llu, out %llu, "
           "refused %llu runs; peer: %s\n",
           label, got, got > GS_FUZZ_MSGS_MAX ? " (TOO MANY)" : "",
           gs_session_over(us) ? "over" : "open",
           gs_errname(gs_session_result(us)), (unsigned long long)st->ops_in,
           (unsigned long long)st->ops_out,
           (unsigned long long)st->runs_refused,
           gs_errname(gs_session_result(peer)));
    if (got > GS_FUZZ_MSGS_MAX)
        abort(); /* fuzz_session would not replay it to the end */
    write_file("session", label, rec.data, rec.len);
    gs_buf_fini(&rec);
    gs_buf_fini(&bent);
    gs_session_free(us);
    gs_session_free(peer);
    gs_fuzz_store_rm(ldir, ls, 1);
    gs_fuzz_store_rm(pdir, ps, 1);
}

int
main(int argc, char **argv)
{
    uint8_t sk[GS_SECRETKEY_BYTES];
    if (argc != 2) {
        fprintf(stderr, "usage: gen_session_corpus OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    gs_fuzz_keypair(GS_FUZZ_NET_SEED, net, sk);
    gs_fuzz_keypair(OTHER_NET_SEED, other_net, sk);
    gs_fuzz_keypair(GS_FUZZ_DEVICE_SEED, device, sk);
    gs_fuzz_keypair(0x31, peer_device, sk);
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        record(&scenarios[i], false);
        record(&scenarios[i], true);
    }
    return 0;
}
