/*
 * fuzz_session.c — libFuzzer target for the sync session state machine
 * (net/session.c, docs/protocol.md §4) under hostile input: a peer that
 * sends any sequence of messages, valid or not, in any order.
 *
 * Input (session_fixture.h): byte 0's low bit picks the mode — 0: we are
 * the LISTENER; 1: we are the DIALER (scopes {"yc"}), started first — then
 * up to GS_FUZZ_MSGS_MAX u16be-length-prefixed messages. Each is handed to
 * gs_session_recv from a heap copy that is freed at once (so a session
 * that kept a pointer into the peer's bytes is a use after free), and what
 * the session queued is drained after each, until it is over.
 *
 * Properties, beyond "no crash, no sanitizer report, no leak":
 *  - every queued message decodes (gs_wire_decode): a session only sends
 *    what a peer accepts; all carry one session number, the dialer's own;
 *  - a non-GS_OK return from gs_session_recv ends the session with that
 *    code; a session that is over stays over and queues nothing more;
 *  - a session that ended with an error queued an ERROR last, naming that
 *    error — unless the peer's ERROR ended it (then the result is the
 *    peer's code);
 *  - a session that ended well said BYE.
 *
 * The store: once per process, a replica in a mkdtemp directory under /tmp
 * holding gs_fuzz_fixture (20 feeds in "yc.t"), removed at exit. Its map is
 * capped (GS_FUZZ_MAP_MAX), so a runaway is an error, not a full disk. The
 * fuzzer cannot forge signatures, but the corpus holds real signed ops,
 * and a session applies them: when an input changed the store (its
 * counts), it is rebuilt, so every input starts from the same replica and
 * a replay is deterministic.
 *
 * Corpus: real conversations recorded by gen_session_corpus.c (see
 * tests/fuzz/corpus/README.md). GS_FUZZ_SESSION_TRACE=1 prints how each
 * input ended, to check that the recordings still run to their end.
 */
#include "session_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/gs-fuzz-session-XXXXXX";
static gs_store *store;
static uint8_t net[GS_KEY_BYTES], device[GS_KEY_BYTES];
static gs_store_counts base;
static gs_wire_msg *rx; /* ~350 KB: not on the stack */

static void
cleanup(void)
{
    gs_fuzz_store_rm(dir, store, 1);
    free(rx);
}

static void
counts(gs_store_counts *c)
{
    if (gs_store_counts_get(store, c) != GS_OK)
        abort();
}

static void
setup(void)
{
    uint8_t sk[GS_SECRETKEY_BYTES];
    gs_fuzz_keypair(GS_FUZZ_NET_SEED, net, sk);
    gs_fuzz_keypair(GS_FUZZ_DEVICE_SEED, device, sk);
    if (!(rx = malloc(sizeof *rx)))
        abort();
    store = gs_fuzz_store_new(dir);
    atexit(cleanup);
    gs_fuzz_fill_fixture(store, net);
    counts(&base);
}

/* Rebuild the replica if the input changed it (ops only ever add). */
static void
restore(void)
{
    gs_store_counts c;
    counts(&c);
    if (c.feeds == base.feeds && c.ops == base.ops && c.forks == base.forks &&
        c.frozen_feeds == base.frozen_feeds)
        return;
    gs_fuzz_store_rm(dir, store, 0);
    store = gs_fuzz_store_new(dir);
    gs_fuzz_fill_fixture(store, net);
    counts(&c);
    if (c.ops != base.ops || c.feeds != base.feeds)
        abort();
}

/* What the session sent, as far as the properties need it. */
struct sent {
    size_t n;
    uint32_t session;
    uint8_t last_type;
    char last_code[GS_WIRE_CODE_BYTES_MAX + 1]; /* of the last ERROR */
    bool bye;
};

static void
drain(gs_session *s, struct sent *w)
{
    gs_slice m;
    while (gs_session_next(s, &m)) {
        if (gs_wire_decode(m.p, m.n, rx) != GS_OK)
            abort(); /* the session queued a message no peer accepts */
        if (w->n++ && rx->session != w->session)
            abort(); /* two session numbers in one session */
        w->session = rx->session;
        w->last_type = rx->type;
        w->bye |= rx->type == GS_WIRE_BYE;
        if (rx->type == GS_WIRE_ERROR) {
            memcpy(w->last_code, rx->u.error.code.p, rx->u.error.code.n);
            w->last_code[rx->u.error.code.n] = 0;
        }
    }
}

/* Hand one message to s from a heap copy of exactly n bytes. */
static gs_err
deliver(gs_session *s, const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n)
        memcpy(copy, p, n);
    gs_err rc = gs_session_recv(s, copy, n);
    free(copy);
    return rc;
}

static void
check_end(gs_session *s, const struct sent *w, bool dialer)
{
    const gs_session_stats *st = gs_session_stats_get(s);
    gs_err res = gs_session_result(s);
    if (dialer && w->session != GS_FUZZ_DIALER_ID)
        abort();
    if (!gs_session_over(s)) {
        if (res != GS_OK)
            abort();
        return;
    }
    if (st->peer_error != GS_OK) { /* the peer's ERROR ended it */
        if (res != st->peer_error)
            abort();
    } else if (res != GS_OK) {
        if (w->last_type != GS_WIRE_ERROR ||
            strcmp(w->last_code, gs_errname(res)) != 0)
            abort(); /* failed without telling the peer why */
    } else if (!w->bye || w->last_type == GS_WIRE_ERROR) {
        abort(); /* a good end without a BYE */
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t bye[] = {GS_WIRE_VERSION, GS_WIRE_BYE, 0, 0, 0, 0};
    gs_session_opts o;
    gs_session *s;
    struct sent w;
    size_t at = 1, fed = 0;

    if (!store)
        setup();
    if (size == 0)
        return 0;
    bool dialer = data[0] & 1;
    memset(&w, 0, sizeof w);
    gs_fuzz_session_opts(&o, store, net, device, dialer);
    if (gs_session_new(&o, &s) != GS_OK)
        abort();
    if (dialer) {
        if (gs_session_start(s) != GS_OK)
            abort();
        drain(s, &w);
    }
    while (fed < GS_FUZZ_MSGS_MAX && size - at >= 2 && !gs_session_over(s)) {
        size_t n = (size_t)data[at] << 8 | data[at + 1];
        at += 2;
        if (n > size - at)
            n = size - at;
        gs_err rc = deliver(s, data + at, n);
        at += n;
        fed++;
        if (rc != GS_OK && (!gs_session_over(s) || gs_session_result(s) != rc))
            abort(); /* an error that did not end the session */
        drain(s, &w);
    }
    check_end(s, &w, dialer);
    if (gs_session_over(s)) { /* over stays over, and quiet */
        size_t before = w.n;
        if (deliver(s, bye, sizeof bye) != gs_session_result(s))
            abort();
        drain(s, &w);
        if (w.n != before)
            abort();
    }
    if (getenv("GS_FUZZ_SESSION_TRACE")) {
        const gs_session_stats *st = gs_session_stats_get(s);
        fprintf(stderr,
                "%s: fed %zu, sent %zu, %s, result %s, peer error %s, "
                "ops in %llu, ops out %llu\n",
                dialer ? "dialer" : "listener", fed, w.n,
                gs_session_over(s) ? "over" : "open",
                gs_errname(gs_session_result(s)), gs_errname(st->peer_error),
                (unsigned long long)st->ops_in,
                (unsigned long long)st->ops_out);
    }
    gs_session_free(s);
    restore();
    return 0;
}
