/*
 * hostile.c — gs-hostile, a misbehaving peer for the multi-agent tests
 * (tests/multi/test_hostile.sh, test_refusals.sh). It holds a real device
 * key the agent admits, so it passes the CURVE handshake and the ZAP
 * check, and then breaks the protocol from inside: garbage frames, a frame
 * over ZMQ_MAXMSGSIZE, a HELLO of another version or network, or OPS
 * batches whose runs carry a bad signature. Or it keeps the protocol and
 * sends runs that the trust rules must refuse (docs/trust.md §2): its own
 * ops without a certificate (nocert), its own ops signed for another
 * network (othernet), a foreign authority's certificate and the ops of the
 * device it certifies (foreigncert). Whatever the agent answers within
 * READ_MS is printed to stdout, one message a line ("WELCOME", "ACK 0
 * GS_EBADSIG", "ERROR GS_EVERSION"), and so are the link's DOWN and UP, so
 * the test can assert on the agent's reaction.
 *
 * Usage:
 *   gs-hostile key
 *   gs-hostile MODE SECRETHEX NETWORKHEX PEER_KEY@ENDPOINT [SCOPE]
 * with MODE one of garbage, oversize, version, network, badsig, nocert,
 * othernet, foreigncert; SCOPE the agent's wanted scope (the first label
 * of its replica.scope, default "yc"). The keys a mode makes up are
 * printed before the answers ("FOREIGN HEX", "DEVICE HEX", "SIGNED_FOR
 * HEX"), so the test can look for their feeds. Exit: 0 done, 1 failed,
 * 2 usage error, 3 the agent refused us or the link did not come up
 * within UP_MS.
 *
 * Everything sent is built with the library's own encoders (net/wire.h,
 * crdt/op.h) and then broken in one place, so the agent sees exactly one
 * fault per mode.
 *
 * SPEC: docs/protocol.md §6 (errors), §3 (messages), §5 (compact ops);
 * docs/trust.md §2 (ingest rules).
 */
#include "gridsync.h"

#include "field.h"
#include "op.h"
#include "recon.h"
#include "transport.h"
#include "wire.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UP_MS 5000          /* wait for the link */
#define READ_MS 2000        /* read the agent's answers */
#define BADSIG_BATCHES 3    /* OPS batches 0, 1, 2 */
#define BADSIG_OPS 3        /* ops in the one run of each batch */
#define TRUST_OPS 3         /* ops of a device run in the trust modes */
#define RUN_OPS_MAX 3       /* the longest run built here */
#define OP_BYTES_MAX 1024   /* the ops built here are small */
#define BATCH_RUNS_MAX 2    /* runs in one OPS batch built here */
#define OVERSIZE_EXTRA 4096 /* bytes past GS_WIRE_MSG_MAX */
#define OVERSIZE_MAX_MSG (GS_WIRE_MSG_MAX + ((size_t)1 << 20))

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NOLINK = 3 };

struct hostile {
    gs_net *net;
    gs_net_addr to;
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
    uint8_t network[GS_KEY_BYTES], peer_pk[GS_KEY_BYTES];
    const char *endpoint;
    const char *scope;
    uint32_t session;
    size_t max_msg;
    gs_buf rx;
    /* The trust modes keep the protocol to its end: recon over nothing
     * (we hold no feeds), then an empty WANT and BYE once every batch of
     * ours is ACKed, so the agent ends the session at once — it adds a
     * session's refusals to its status when the session ends, and notices
     * an inbound peer that went away only when its session idles out. */
    bool polite;
    struct gs_recon rec[2];
    size_t n_rec;
    uint64_t batches, acks;
    bool bye_sent, peer_bye;
    gs_wire_msg *out;
};

static double
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
usage(void)
{
    fputs("usage: gs-hostile key\n"
          "       gs-hostile MODE SECRETHEX NETWORKHEX PEER_KEY@ENDPOINT "
          "[SCOPE]\n"
          "MODE: garbage | oversize | version | network | badsig |\n"
          "      nocert | othernet | foreigncert\n",
          stderr);
    return EXIT_USAGE;
}

/* Exactly n bytes of hex, nothing else. */
static bool
unhex(const char *hex, uint8_t *out, size_t n)
{
    size_t len = 0;
    const char *end = NULL;
    if (strlen(hex) != 2 * n)
        return false;
    if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &len, &end) != 0)
        return false;
    return len == n && end && *end == 0;
}

static int
cmd_key(void)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char pkh[2 * sizeof pk + 1], skh[2 * sizeof sk + 1];
    if (crypto_sign_keypair(pk, sk) != 0) {
        fputs("gs-hostile: cannot make a key pair\n", stderr);
        return EXIT_FAIL;
    }
    sodium_bin2hex(pkh, sizeof pkh, pk, sizeof pk);
    sodium_bin2hex(skh, sizeof skh, sk, sizeof sk);
    printf("%s %s\n", pkh, skh);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(skh, sizeof skh);
    return EXIT_OK;
}

static const char *
type_name(uint8_t t)
{
    static const char *const names[] = {
        NULL,  "HELLO", "WELCOME", "SUMMARY", "RANGES", "WANT",
        "OPS", "ACK",   "PUSH",    "ERROR",   "BYE",
    };
    return t >= 1 && t <= GS_WIRE_TYPE_MAX_ ? names[t] : NULL;
}

/* ---- the link ---- */

/* Dial the agent and wait for UP. EXIT_NOLINK if it refuses us or does
 * not answer within UP_MS. */
static int
link_up(struct hostile *h)
{
    gs_net_opts o;
    char why[256] = "";
    int peer = -1;
    gs_err rc;
    memset(&o, 0, sizeof o);
    o.ed_pk = h->pk;
    o.ed_sk = h->sk;
    o.max_msg = h->max_msg;
    if ((rc = gs_net_open(&o, &h->net, why, sizeof why)) != GS_OK) {
        fprintf(stderr, "gs-hostile: gs_net_open: %s: %s\n", gs_errname(rc),
                why);
        return EXIT_FAIL;
    }
    if ((rc = gs_net_dial(h->net, h->endpoint, h->peer_pk, &peer)) != GS_OK) {
        fprintf(stderr, "gs-hostile: dial %s: %s\n", h->endpoint,
                gs_errname(rc));
        return EXIT_FAIL;
    }
    memset(&h->to, 0, sizeof h->to);
    h->to.peer = peer;
    double deadline = mono_ms() + UP_MS;
    for (;;) {
        gs_net_event ev;
        double left = deadline - mono_ms();
        if (left <= 0)
            break;
        rc = gs_net_recv(h->net, (int)left, &ev, &h->rx);
        if (rc == GS_ETIMEOUT)
            continue;
        if (rc != GS_OK) {
            fprintf(stderr, "gs-hostile: recv: %s\n", gs_errname(rc));
            return EXIT_FAIL;
        }
        if (ev.kind == GS_NET_UP)
            return EXIT_OK;
        if (ev.kind == GS_NET_REFUSED) {
            fprintf(stderr, "gs-hostile: %s refused us: %s\n", h->endpoint,
                    ev.why);
            return EXIT_NOLINK;
        }
    }
    fprintf(stderr, "gs-hostile: %s: no connection within %d ms\n", h->endpoint,
            UP_MS);
    return EXIT_NOLINK;
}

static gs_err
send_bytes(struct hostile *h, const void *p, size_t n)
{
    gs_err rc = gs_net_send(h->net, &h->to, p, n);
    if (rc != GS_OK)
        fprintf(stderr, "gs-hostile: send %zu bytes: %s\n", n, gs_errname(rc));
    return rc;
}

/* Encode m and send it; patch, if not NULL, may break the bytes first. */
static gs_err
send_msg(struct hostile *h, const gs_wire_msg *m, void (*patch)(gs_buf *))
{
    gs_buf b;
    gs_buf_init(&b, GS_WIRE_MSG_MAX);
    gs_err rc = gs_wire_encode(m, &b);
    if (rc != GS_OK)
        fprintf(stderr, "gs-hostile: encode type %u: %s\n", m->type,
                gs_errname(rc));
    else {
        if (patch)
            patch(&b);
        rc = send_bytes(h, b.data, b.len);
    }
    gs_buf_fini(&b);
    return rc;
}

static gs_err polite_answer(struct hostile *h, const gs_wire_msg *in);

/* Print what the agent says until READ_MS have passed (a polite mode:
 * until both sides said BYE). */
static int
read_answers(struct hostile *h)
{
    gs_wire_msg *m = calloc(1, sizeof *m);
    double deadline = mono_ms() + READ_MS;
    int ret = EXIT_OK;
    if (!m)
        return EXIT_FAIL;
    for (;;) {
        gs_net_event ev;
        double left = deadline - mono_ms();
        if (left <= 0)
            break;
        gs_err rc = gs_net_recv(h->net, (int)left, &ev, &h->rx);
        if (rc == GS_ETIMEOUT)
            continue;
        if (rc != GS_OK) {
            fprintf(stderr, "gs-hostile: recv: %s\n", gs_errname(rc));
            ret = EXIT_FAIL;
            break;
        }
        if (ev.kind == GS_NET_DOWN) {
            puts("DOWN");
        } else if (ev.kind == GS_NET_UP) {
            puts("UP");
        } else if (ev.kind == GS_NET_REFUSED) {
            printf("REFUSED %s\n", ev.why);
        } else if (ev.kind == GS_NET_MSG) {
            const char *name = h->rx.len >= 2 ? type_name(h->rx.data[1]) : NULL;
            rc = gs_wire_decode(h->rx.data, h->rx.len, m);
            if (!name) {
                printf("UNKNOWN %zu bytes\n", h->rx.len);
            } else if (rc != GS_OK) {
                printf("%s undecodable %s\n", name, gs_errname(rc));
            } else if (m->type == GS_WIRE_ERROR) {
                printf("ERROR %.*s\n", (int)m->u.error.code.n,
                       (const char *)m->u.error.code.p);
            } else if (m->type == GS_WIRE_ACK) {
                printf("ACK %llu", (unsigned long long)m->u.ack.batch);
                for (size_t i = 0; i < m->u.ack.n_refused; i++)
                    printf(" %.*s", (int)m->u.ack.refused[i].code.n,
                           (const char *)m->u.ack.refused[i].code.p);
                putchar('\n');
            } else {
                puts(name);
            }
            if (rc == GS_OK && h->polite && polite_answer(h, m) != GS_OK) {
                ret = EXIT_FAIL;
                break;
            }
        }
        fflush(stdout);
        if (h->polite && h->bye_sent && h->peer_bye)
            break;
    }
    free(m);
    return ret;
}

/* ---- the modes ---- */

static void
fill_hello(const struct hostile *h, gs_wire_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = GS_WIRE_HELLO;
    m->session = h->session;
    memcpy(m->u.hello.network, h->network, GS_KEY_BYTES);
    memcpy(m->u.hello.device, h->pk, GS_KEY_BYTES);
    m->u.hello.cert = gs_slice_of(NULL, 0);
    m->u.hello.n_scopes = 1;
    m->u.hello.scopes[0] = gs_slice_of(h->scope, strlen(h->scope));
    m->u.hello.max_msg = GS_WIRE_MSG_MAX;
    m->u.hello.flags = 0; /* no gossip: nothing is to be pushed to us */
}

static gs_err
mode_garbage(struct hostile *h, gs_wire_msg *m)
{
    /* 1 byte is shorter than any header; 7 and 300 are random. */
    static const size_t sizes[] = {1, 7, 300};
    uint8_t junk[300];
    (void)m;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        randombytes_buf(junk, sizes[i]);
        gs_err rc = send_bytes(h, junk, sizes[i]);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

static gs_err
mode_oversize(struct hostile *h, gs_wire_msg *m)
{
    size_t n = GS_WIRE_MSG_MAX + OVERSIZE_EXTRA;
    gs_buf b;
    gs_err rc;
    fill_hello(h, m);
    gs_buf_init(&b, n);
    /* a HELLO's header, then filler: only the size is wrong */
    if ((rc = gs_wire_encode(m, &b)) == GS_OK) {
        uint8_t fill[4096];
        memset(fill, 0xa5, sizeof fill);
        while (rc == GS_OK && b.len < n) {
            size_t k = n - b.len < sizeof fill ? n - b.len : sizeof fill;
            rc = gs_buf_put(&b, fill, k);
        }
    }
    if (rc == GS_OK)
        rc = send_bytes(h, b.data, b.len);
    else
        fprintf(stderr, "gs-hostile: build oversize: %s\n", gs_errname(rc));
    gs_buf_fini(&b);
    return rc;
}

static void
patch_version(gs_buf *b)
{
    b->data[0] = 9;
}

static gs_err
mode_version(struct hostile *h, gs_wire_msg *m)
{
    fill_hello(h, m);
    return send_msg(h, m, patch_version);
}

static gs_err
mode_network(struct hostile *h, gs_wire_msg *m)
{
    fill_hello(h, m);
    do
        randombytes_buf(m->u.hello.network, GS_KEY_BYTES);
    while (!memcmp(m->u.hello.network, h->network, GS_KEY_BYTES));
    return send_msg(h, m, NULL);
}

/* ---- runs of ops, signed as the mode needs ---- */

/* A key the hostile peer signs with: its own, or one it made up (the
 * author of a run need not be the peer that relays it). */
struct signer {
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
};

/* One run being built: the ops' canonical bytes (run.scope borrows the
 * first), the signature of the last op, and the compact form for the
 * wire (run.ops borrows compact). */
struct run_buf {
    uint8_t bytes[RUN_OPS_MAX][OP_BYTES_MAX];
    size_t len[RUN_OPS_MAX];
    size_t n;
    gs_sig sig;
    gs_buf compact;
    gs_wire_run run;
};

static void
run_buf_init(struct run_buf *rb)
{
    memset(rb, 0, sizeof *rb);
    gs_buf_init(&rb->compact, GS_WIRE_BATCH_MAX);
}

static void
run_buf_fini(struct run_buf *rb)
{
    gs_buf_fini(&rb->compact);
}

static uint64_t
hlc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 16;
}

/* Append op seq n + 1 of a's feed in scope to rb, chained on the op
 * before it (seq 1 on: the run links to an empty head). */
static gs_err
run_add(struct run_buf *rb, const struct signer *a, const char *scope,
        uint64_t hlc, const char *type, const char *id, const gs_update *ups,
        size_t n_ups)
{
    gs_op op;
    gs_buf enc;
    gs_err rc;
    if (rb->n == RUN_OPS_MAX || n_ups > GS_OP_UPDATES_MAX)
        return GS_ETOOBIG;
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, a->pk, GS_KEY_BYTES);
    op.scope = gs_slice_of(scope, strlen(scope));
    op.seq = rb->n + 1;
    if (rb->n)
        gs_op_hash(rb->bytes[rb->n - 1], rb->len[rb->n - 1], op.prev);
    op.hlc = hlc + rb->n;
    op.type = gs_slice_of(type, strlen(type));
    op.id = gs_slice_of(id, strlen(id));
    op.n_updates = n_ups;
    memcpy(op.updates, ups, n_ups * sizeof *ups);
    gs_buf_init(&enc, OP_BYTES_MAX);
    if ((rc = gs_op_encode(&op, &enc)) == GS_OK) {
        memcpy(rb->bytes[rb->n], enc.data, enc.len);
        rb->len[rb->n++] = enc.len;
    }
    gs_buf_fini(&enc);
    return rc;
}

/* Sign rb's last op with a's key for network net — then flip one bit of
 * the signature if flip — and compact the run for the wire. */
static gs_err
run_seal(struct run_buf *rb, const struct signer *a,
         const uint8_t net[GS_KEY_BYTES], bool flip)
{
    gs_run_item items[RUN_OPS_MAX];
    uint8_t hash[GS_HASH_BYTES];
    if (rb->n == 0)
        return GS_EINVAL;
    gs_op_hash(rb->bytes[rb->n - 1], rb->len[rb->n - 1], hash);
    gs_op_sign(hash, net, a->sk, &rb->sig);
    if (flip)
        rb->sig.sig[0] ^= 0x01; /* right network, wrong signature */
    for (size_t i = 0; i < rb->n; i++)
        items[i] = (gs_run_item){rb->bytes[i], rb->len[i], NULL};
    items[rb->n - 1].sig = &rb->sig;
    gs_err rc = gs_wire_run_compact(items, rb->n, &rb->run, &rb->compact);
    if (rc == GS_OK)
        rb->run.first_seq = 1;
    return rc;
}

/* n household ops of a's feed in scope, ids PREFIX-0.., each writing
 * head = "forged ID": the records a test looks for (`get household
 * PREFIX-0`) to see whether they got in. */
static gs_err
run_households(struct run_buf *rb, const struct signer *a, const char *scope,
               const char *prefix, size_t n)
{
    char id[64], text[80];
    gs_buf pay;
    gs_err rc = GS_OK;
    uint64_t hlc = hlc_now();
    gs_buf_init(&pay, 256);
    for (size_t i = 0; i < n && rc == GS_OK; i++) {
        snprintf(id, sizeof id, "%s-%zu", prefix, i);
        snprintf(text, sizeof text, "forged %s", id);
        gs_vref v = {GS_V_STR, 0, gs_slice_of(text, strlen(text))};
        gs_buf_reset(&pay);
        if ((rc = gs_payload_lww(&pay, 0, &v)) != GS_OK)
            break;
        gs_update up = {gs_slice_of("head", 4), GS_KIND_LWW,
                        gs_slice_of(pay.data, pay.len)};
        rc = run_add(rb, a, scope, hlc, "household", id, &up, 1);
    }
    gs_buf_fini(&pay);
    return rc;
}

/* One op of a's feed in `trust`: a certificate for dev, writing and
 * reading scope, as an authority would write it (docs/trust.md §1) —
 * only a is not this network's authority. */
static gs_err
run_cert(struct run_buf *rb, const struct signer *a,
         const uint8_t dev[GS_KEY_BYTES], const char *scope)
{
    static const char name[] = "foreign", role[] = "station";
    char id[2 * GS_KEY_BYTES + 1];
    gs_buf pn, pr, ps;
    gs_update ups[4];
    gs_err rc;
    gs_set_item item = {GS_SET_ADD, gs_slice_of(scope, strlen(scope)), 0, NULL};
    gs_vref vn = {GS_V_STR, 0, gs_slice_of(name, sizeof name - 1)};
    gs_vref vr = {GS_V_STR, 0, gs_slice_of(role, sizeof role - 1)};
    sodium_bin2hex(id, sizeof id, dev, GS_KEY_BYTES);
    gs_buf_init(&pn, 64);
    gs_buf_init(&pr, 64);
    gs_buf_init(&ps, 256);
    if ((rc = gs_payload_lww(&pn, 0, &vn)) == GS_OK &&
        (rc = gs_payload_lww(&pr, 0, &vr)) == GS_OK &&
        (rc = gs_payload_set(&ps, &item, 1)) == GS_OK) {
        ups[0] = (gs_update){gs_slice_of("name", 4), GS_KIND_LWW,
                             gs_slice_of(pn.data, pn.len)};
        ups[1] = (gs_update){gs_slice_of("read", 4), GS_KIND_SET,
                             gs_slice_of(ps.data, ps.len)};
        ups[2] = (gs_update){gs_slice_of("role", 4), GS_KIND_LWW,
                             gs_slice_of(pr.data, pr.len)};
        ups[3] = (gs_update){gs_slice_of("write", 5), GS_KIND_SET,
                             gs_slice_of(ps.data, ps.len)};
        rc = run_add(rb, a, "trust", hlc_now(), "cert", id, ups, 4);
    }
    gs_buf_fini(&pn);
    gs_buf_fini(&pr);
    gs_buf_fini(&ps);
    return rc;
}

/* Send the runs as OPS batch `batch` of our session. */
static gs_err
send_batch(struct hostile *h, gs_wire_msg *m, uint64_t batch,
           struct run_buf *const *rbs, size_t n)
{
    gs_wire_run runs[BATCH_RUNS_MAX];
    gs_buf frame;
    gs_err rc;
    if (n > BATCH_RUNS_MAX)
        return GS_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        runs[i] = rbs[i]->run;
    gs_buf_init(&frame, GS_WIRE_MSG_MAX);
    if ((rc = gs_wire_batch_compress(runs, n, &frame)) == GS_OK) {
        memset(m, 0, sizeof *m);
        m->type = GS_WIRE_OPS;
        m->session = h->session;
        m->u.ops.batch = batch;
        m->u.ops.frame = gs_slice_of(frame.data, frame.len);
        if ((rc = send_msg(h, m, NULL)) == GS_OK)
            h->batches++;
    } else {
        fprintf(stderr, "gs-hostile: compress batch %llu: %s\n",
                (unsigned long long)batch, gs_errname(rc));
    }
    gs_buf_fini(&frame);
    return rc;
}

/* HELLO and SUMMARY of a session of the right network, wanting `trust`
 * (if with_trust: a run of `trust` must lie in the session's scopes) and
 * SCOPE. We hold nothing: the SUMMARY says so, and recon goes on from the
 * agent's answer (polite_answer). The OPS that follow are runs nobody
 * asked for, which the agent takes as it would a relay's. */
static gs_err
start_session(struct hostile *h, gs_wire_msg *m, bool with_trust)
{
    static const char trust[] = "trust";
    gs_slice sc[2];
    size_t n = 0;
    gs_err rc;
    if (with_trust)
        sc[n++] = gs_slice_of(trust, sizeof trust - 1);
    sc[n++] = gs_slice_of(h->scope, strlen(h->scope));
    if (!h->out && !(h->out = calloc(1, sizeof *h->out)))
        return GS_ENOMEM;
    for (h->n_rec = 0; h->n_rec < n; h->n_rec++)
        if ((rc = gs_recon_init(&h->rec[h->n_rec], sc[h->n_rec], NULL, NULL,
                                0)) != GS_OK)
            return rc;
    h->polite = true;
    fill_hello(h, m);
    m->u.hello.n_scopes = n;
    memcpy(m->u.hello.scopes, sc, n * sizeof *sc);
    if ((rc = send_msg(h, m, NULL)) != GS_OK)
        return rc;
    memset(m, 0, sizeof *m);
    m->type = GS_WIRE_SUMMARY;
    m->session = h->session;
    m->u.summary.n = n;
    for (size_t i = 0; i < n; i++)
        gs_recon_summary(&h->rec[i], &m->u.summary.scopes[i]);
    return send_msg(h, m, NULL);
}

/* A polite mode's answer to the agent's message in: recon (our side holds
 * nothing), counting ACKs, and once recon is done and every batch ACKed,
 * an empty WANT (we want nothing) and BYE. */
static gs_err
polite_answer(struct hostile *h, const gs_wire_msg *in)
{
    gs_wire_msg *out = h->out;
    bool any = false, done = true;
    gs_err rc = GS_OK;
    memset(out, 0, sizeof *out);
    out->type = GS_WIRE_RANGES;
    out->session = h->session;
    if (in->type == GS_WIRE_SUMMARY) {
        for (size_t i = 0; i < in->u.summary.n && rc == GS_OK; i++)
            for (size_t k = 0; k < h->n_rec && rc == GS_OK; k++) {
                bool reply = false;
                if (gs_slice_cmp(in->u.summary.scopes[i].scope,
                                 h->rec[k].scope) != 0)
                    continue;
                rc = gs_recon_answer_summary(&h->rec[k],
                                             &in->u.summary.scopes[i],
                                             &out->u.ranges, &reply);
                any |= reply;
            }
    } else if (in->type == GS_WIRE_RANGES) {
        for (size_t k = 0; k < h->n_rec && rc == GS_OK; k++) {
            bool reply = false;
            if (gs_recon_done(&h->rec[k]))
                continue;
            rc = gs_recon_answer(&h->rec[k], &in->u.ranges, &out->u.ranges,
                                 &reply);
            any |= reply;
        }
    } else if (in->type == GS_WIRE_ACK) {
        h->acks++;
    } else if (in->type == GS_WIRE_BYE) {
        h->peer_bye = true;
    }
    if (rc == GS_OK && any)
        rc = send_msg(h, out, NULL);
    for (size_t k = 0; k < h->n_rec; k++)
        done &= gs_recon_done(&h->rec[k]);
    if (rc == GS_OK && done && !h->bye_sent && h->acks == h->batches) {
        memset(out, 0, sizeof *out);
        out->type = GS_WIRE_WANT;
        out->session = h->session;
        if ((rc = send_msg(h, out, NULL)) == GS_OK) {
            out->type = GS_WIRE_BYE;
            rc = send_msg(h, out, NULL);
        }
        h->bye_sent = rc == GS_OK;
    }
    if (rc != GS_OK)
        fprintf(stderr, "gs-hostile: answer type %u: %s\n", in->type,
                gs_errname(rc));
    return rc;
}

/* SCOPE.x, the feed scope of the modes' household runs. */
static gs_err
scope_x(const struct hostile *h, char out[GS_SCOPE_BYTES_MAX + 1])
{
    int sn = snprintf(out, GS_SCOPE_BYTES_MAX + 1, "%s.x", h->scope);
    return sn < 0 || sn > GS_SCOPE_BYTES_MAX ? GS_EINVAL : GS_OK;
}

static void
print_key(const char *what, const uint8_t key[GS_KEY_BYTES])
{
    char hex[2 * GS_KEY_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, key, GS_KEY_BYTES);
    printf("%s %s\n", what, hex);
    fflush(stdout);
}

/* One run of BADSIG_OPS ops of our feed in SCOPE.x, seq 1 on (so each
 * batch links to the agent's empty head and only the signature is wrong),
 * signed and then the last signature corrupted; compacted and compressed
 * into frame. */
static gs_err
bad_run(struct hostile *h, uint64_t batch, gs_buf *frame)
{
    char scope[GS_SCOPE_BYTES_MAX + 1], prefix[32];
    struct signer me;
    struct run_buf *rb = malloc(sizeof *rb);
    gs_err rc;
    if (!rb)
        return GS_ENOMEM;
    memcpy(me.pk, h->pk, GS_KEY_BYTES);
    memcpy(me.sk, h->sk, GS_SECRETKEY_BYTES);
    run_buf_init(rb);
    snprintf(prefix, sizeof prefix, "HOSTILE-%llu", (unsigned long long)batch);
    if ((rc = scope_x(h, scope)) == GS_OK &&
        (rc = run_households(rb, &me, scope, prefix, BADSIG_OPS)) == GS_OK &&
        (rc = run_seal(rb, &me, h->network, true)) == GS_OK)
        rc = gs_wire_batch_compress(&rb->run, 1, frame);
    if (rc != GS_OK)
        fprintf(stderr, "gs-hostile: build run: %s\n", gs_errname(rc));
    run_buf_fini(rb);
    free(rb);
    sodium_memzero(&me, sizeof me);
    return rc;
}

static gs_err
mode_badsig(struct hostile *h, gs_wire_msg *m)
{
    gs_err rc;
    fill_hello(h, m);
    if ((rc = send_msg(h, m, NULL)) != GS_OK)
        return rc;
    memset(m, 0, sizeof *m);
    m->type = GS_WIRE_SUMMARY;
    m->session = h->session;
    m->u.summary.n = 1;
    m->u.summary.scopes[0].scope = gs_slice_of(h->scope, strlen(h->scope));
    m->u.summary.scopes[0].feeds = 1;
    randombytes_buf(m->u.summary.scopes[0].fp, GS_WIRE_FP_BYTES);
    if ((rc = send_msg(h, m, NULL)) != GS_OK)
        return rc;
    for (uint64_t batch = 0; batch < BADSIG_BATCHES; batch++) {
        gs_buf frame;
        gs_buf_init(&frame, GS_WIRE_MSG_MAX);
        if ((rc = bad_run(h, batch, &frame)) == GS_OK) {
            memset(m, 0, sizeof *m);
            m->type = GS_WIRE_OPS;
            m->session = h->session;
            m->u.ops.batch = batch;
            m->u.ops.frame = gs_slice_of(frame.data, frame.len);
            rc = send_msg(h, m, NULL);
        }
        gs_buf_fini(&frame);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

/* The trust modes (docs/trust.md §2): every run below is well formed,
 * links to an empty head and is signed at its end; one ingest rule is
 * what refuses it. They send no BYE: the agent's answers are the ACKs. */

/* One run of our own households, tagged tag, signed by us for network
 * signed_for, in a session of our network. */
static gs_err
own_run(struct hostile *h, gs_wire_msg *m, const char *tag,
        const uint8_t *signed_for)
{
    char scope[GS_SCOPE_BYTES_MAX + 1];
    struct signer me;
    struct run_buf *rb = malloc(sizeof *rb);
    gs_err rc;
    if (!rb)
        return GS_ENOMEM;
    memcpy(me.pk, h->pk, GS_KEY_BYTES);
    memcpy(me.sk, h->sk, GS_SECRETKEY_BYTES);
    run_buf_init(rb);
    if ((rc = scope_x(h, scope)) == GS_OK &&
        (rc = run_households(rb, &me, scope, tag, TRUST_OPS)) == GS_OK &&
        (rc = run_seal(rb, &me, signed_for, false)) == GS_OK &&
        (rc = start_session(h, m, false)) == GS_OK)
        rc = send_batch(h, m, 0, &rb, 1);
    run_buf_fini(rb);
    free(rb);
    sodium_memzero(&me, sizeof me);
    return rc;
}

/* Our own ops, signed by us for the right network: what is wrong is only
 * that this key holds no certificate (the test does not enroll it, and
 * admits it with agent.accept): GS_ENOCERT. */
static gs_err
mode_nocert(struct hostile *h, gs_wire_msg *m)
{
    return own_run(h, m, "NOCERT", h->network);
}

/* Our own ops, signed by us for another network (a test network's ops
 * replayed into production), inside a session of the right one: the
 * HELLO passes, the run does not: GS_ENETWORK. The test enrolls this key,
 * so the network is all that is wrong. Prints "SIGNED_FOR NETHEX". */
static gs_err
mode_othernet(struct hostile *h, gs_wire_msg *m)
{
    uint8_t other[GS_KEY_BYTES];
    do
        randombytes_buf(other, sizeof other);
    while (!memcmp(other, h->network, GS_KEY_BYTES));
    print_key("SIGNED_FOR", other);
    return own_run(h, m, "OTHERNET", other);
}

/* Relays a foreign authority's certificate and the ops of the device it
 * certifies. Two fresh keys: F, an authority of another network, and D,
 * a device; prints "FOREIGN FHEX" and "DEVICE DHEX". Batch 0: F's cert
 * of D signed for our network (only the network's authority may write in
 * `trust`: GS_ESCOPE), then D's ops (GS_ENOCERT: the cert did not count,
 * though it came first in the batch). Batch 1: the same cert signed for
 * F's own network, as its authority would have made it (GS_ENETWORK),
 * then D's ops again (GS_ENOCERT). */
static gs_err
mode_foreigncert(struct hostile *h, gs_wire_msg *m)
{
    char scope[GS_SCOPE_BYTES_MAX + 1];
    struct signer *k = sodium_malloc(2 * sizeof *k);
    struct run_buf *rb = malloc(3 * sizeof *rb);
    gs_err rc = GS_OK;
    if (!k || !rb) {
        sodium_free(k);
        free(rb);
        return GS_ENOMEM;
    }
    struct signer *f = &k[0], *d = &k[1];
    struct run_buf *ours = &rb[0], *theirs = &rb[1], *dev = &rb[2];
    if (crypto_sign_keypair(f->pk, f->sk) != 0 ||
        crypto_sign_keypair(d->pk, d->sk) != 0)
        rc = GS_EINVAL;
    for (size_t i = 0; i < 3; i++)
        run_buf_init(&rb[i]);
    if (rc == GS_OK) {
        print_key("FOREIGN", f->pk);
        print_key("DEVICE", d->pk);
        rc = scope_x(h, scope);
    }
    if (rc == GS_OK && (rc = run_cert(ours, f, d->pk, h->scope)) == GS_OK &&
        (rc = run_seal(ours, f, h->network, false)) == GS_OK &&
        (rc = run_cert(theirs, f, d->pk, h->scope)) == GS_OK &&
        (rc = run_seal(theirs, f, f->pk, false)) == GS_OK &&
        (rc = run_households(dev, d, scope, "FOREIGN", TRUST_OPS)) == GS_OK &&
        (rc = run_seal(dev, d, h->network, false)) == GS_OK &&
        (rc = start_session(h, m, true)) == GS_OK) {
        struct run_buf *b0[] = {ours, dev}, *b1[] = {theirs, dev};
        if ((rc = send_batch(h, m, 0, b0, 2)) == GS_OK)
            rc = send_batch(h, m, 1, b1, 2);
    }
    if (rc != GS_OK)
        fprintf(stderr, "gs-hostile: foreigncert: %s\n", gs_errname(rc));
    for (size_t i = 0; i < 3; i++)
        run_buf_fini(&rb[i]);
    free(rb);
    sodium_free(k);
    return rc;
}

static const struct mode {
    const char *name;
    gs_err (*run)(struct hostile *, gs_wire_msg *);
} modes[] = {
    {"garbage", mode_garbage},   {"oversize", mode_oversize},
    {"version", mode_version},   {"network", mode_network},
    {"badsig", mode_badsig},     {"nocert", mode_nocert},
    {"othernet", mode_othernet}, {"foreigncert", mode_foreigncert},
};

int
main(int argc, char **argv)
{
    struct hostile h;
    const struct mode *mode = NULL;
    gs_wire_msg *m = NULL;
    int ret;

    if (sodium_init() < 0) {
        fputs("gs-hostile: libsodium does not start\n", stderr);
        return EXIT_FAIL;
    }
    if (argc == 2 && !strcmp(argv[1], "key"))
        return cmd_key();
    if (argc != 5 && argc != 6)
        return usage();
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(argv[1], modes[i].name))
            mode = &modes[i];
    const char *at = strchr(argv[4], '@');
    memset(&h, 0, sizeof h);
    if (!mode || !unhex(argv[2], h.sk, GS_SECRETKEY_BYTES) ||
        !unhex(argv[3], h.network, GS_KEY_BYTES) || !at ||
        at - argv[4] != 2 * GS_KEY_BYTES)
        return usage();
    char peer_hex[2 * GS_KEY_BYTES + 1];
    memcpy(peer_hex, argv[4], 2 * GS_KEY_BYTES);
    peer_hex[2 * GS_KEY_BYTES] = 0;
    if (!unhex(peer_hex, h.peer_pk, GS_KEY_BYTES))
        return usage();
    if (crypto_sign_ed25519_sk_to_pk(h.pk, h.sk) != 0)
        return usage();
    h.endpoint = at + 1;
    h.scope = argc == 6 ? argv[5] : "yc";
    if (!gs_scope_valid((const uint8_t *)h.scope, strlen(h.scope)))
        return usage();
    randombytes_buf(&h.session, sizeof h.session);
    h.session &= 0x7fffffffu; /* a dialer's number, as the agent's are */
    /* oversize: our own cap must let the message out, so that the
     * agent's ZMQ_MAXMSGSIZE is what drops it */
    h.max_msg = mode->run == mode_oversize ? OVERSIZE_MAX_MSG : GS_WIRE_MSG_MAX;
    gs_buf_init(&h.rx, h.max_msg);

    ret = link_up(&h);
    if (ret == EXIT_OK && !(m = calloc(1, sizeof *m)))
        ret = EXIT_FAIL;
    if (ret == EXIT_OK && mode->run(&h, m) != GS_OK)
        ret = EXIT_FAIL;
    if (ret == EXIT_OK)
        ret = read_answers(&h);
    for (size_t i = 0; i < h.n_rec; i++)
        gs_recon_fini(&h.rec[i]);
    free(h.out);
    free(m);
    gs_net_close(h.net);
    gs_buf_fini(&h.rx);
    sodium_memzero(h.sk, sizeof h.sk);
    return ret;
}
