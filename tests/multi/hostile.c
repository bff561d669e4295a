/*
 * hostile.c — gs-hostile, a misbehaving peer for the multi-agent tests
 * (tests/multi/test_hostile.sh). It holds a real device key the agent
 * admits, so it passes the CURVE handshake and the ZAP check, and then
 * breaks the protocol from inside: garbage frames, a frame over
 * ZMQ_MAXMSGSIZE, a HELLO of another version or network, or OPS batches
 * whose runs carry a bad signature. Whatever the agent answers within
 * READ_MS is printed to stdout, one message a line ("WELCOME", "ACK 0
 * GS_EBADSIG", "ERROR GS_EVERSION"), and so are the link's DOWN and UP, so
 * the test can assert on the agent's reaction.
 *
 * Usage:
 *   gs-hostile key
 *   gs-hostile MODE SECRETHEX NETWORKHEX PEER_KEY@ENDPOINT [SCOPE]
 * with MODE one of garbage, oversize, version, network, badsig; SCOPE the
 * agent's wanted scope (the first label of its replica.scope, default
 * "yc"). Exit: 0 done, 1 failed, 2 usage error, 3 the agent refused us or
 * the link did not come up within UP_MS.
 *
 * Everything sent is built with the library's own encoders (net/wire.h,
 * crdt/op.h) and then broken in one place, so the agent sees exactly one
 * fault per mode.
 *
 * SPEC: docs/protocol.md §6 (errors), §3 (messages), §5 (compact ops).
 */
#include "gridsync.h"

#include "field.h"
#include "op.h"
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
          "MODE: garbage | oversize | version | network | badsig\n",
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

/* Print what the agent says until READ_MS have passed. */
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
        }
        fflush(stdout);
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

/* One run of BADSIG_OPS ops of our feed in SCOPE.x, seq 1 on (so each
 * batch links to the agent's empty head and only the signature is wrong),
 * signed and then the last signature corrupted; compacted and compressed
 * into frame. */
static gs_err
bad_run(struct hostile *h, uint64_t batch, gs_buf *frame)
{
    char scope[GS_SCOPE_BYTES_MAX + 1], id[64], text[64];
    uint8_t bytes[BADSIG_OPS][512], prev[GS_HASH_BYTES] = {0};
    size_t len[BADSIG_OPS];
    gs_sig sig;
    gs_run_item items[BADSIG_OPS];
    gs_wire_run run;
    gs_buf pay, enc, compact;
    gs_err rc = GS_OK;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t hlc = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000)
                   << 16;
    int sn = snprintf(scope, sizeof scope, "%s.x", h->scope);
    if (sn < 0 || (size_t)sn >= sizeof scope)
        return GS_EINVAL;
    gs_buf_init(&pay, 1024);
    gs_buf_init(&enc, sizeof bytes[0]);
    gs_buf_init(&compact, GS_WIRE_BATCH_MAX);
    for (size_t i = 0; i < BADSIG_OPS && rc == GS_OK; i++) {
        gs_op op;
        uint8_t hash[GS_HASH_BYTES];
        snprintf(id, sizeof id, "HOSTILE-%llu-%zu", (unsigned long long)batch,
                 i);
        snprintf(text, sizeof text, "forged %llu.%zu",
                 (unsigned long long)batch, i);
        gs_vref v = {GS_V_STR, 0, gs_slice_of(text, strlen(text))};
        gs_buf_reset(&pay);
        gs_buf_reset(&enc);
        if ((rc = gs_payload_lww(&pay, 0, &v)) != GS_OK)
            break;
        memset(&op, 0, sizeof op);
        op.version = GS_OP_VERSION;
        memcpy(op.author, h->pk, GS_KEY_BYTES);
        op.scope = gs_slice_of(scope, strlen(scope));
        op.seq = i + 1;
        memcpy(op.prev, prev, GS_HASH_BYTES);
        op.hlc = hlc + i;
        op.type = gs_slice_of("household", 9);
        op.id = gs_slice_of(id, strlen(id));
        op.n_updates = 1;
        op.updates[0].field = gs_slice_of("head", 4);
        op.updates[0].kind = GS_KIND_LWW;
        op.updates[0].payload = gs_slice_of(pay.data, pay.len);
        if ((rc = gs_op_encode(&op, &enc)) != GS_OK)
            break;
        memcpy(bytes[i], enc.data, enc.len);
        len[i] = enc.len;
        gs_op_hash(bytes[i], len[i], hash);
        if (i == BADSIG_OPS - 1) {
            gs_op_sign(hash, h->network, h->sk, &sig);
            sig.sig[0] ^= 0x01; /* right network, wrong signature */
        }
        memcpy(prev, hash, GS_HASH_BYTES);
        items[i] = (gs_run_item){bytes[i], len[i], NULL};
    }
    items[BADSIG_OPS - 1].sig = &sig;
    if (rc == GS_OK && (rc = gs_wire_run_compact(items, BADSIG_OPS, &run,
                                                 &compact)) == GS_OK) {
        run.first_seq = 1;
        rc = gs_wire_batch_compress(&run, 1, frame);
    }
    if (rc != GS_OK)
        fprintf(stderr, "gs-hostile: build run: %s\n", gs_errname(rc));
    gs_buf_fini(&pay);
    gs_buf_fini(&enc);
    gs_buf_fini(&compact);
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

static const struct mode {
    const char *name;
    gs_err (*run)(struct hostile *, gs_wire_msg *);
} modes[] = {
    {"garbage", mode_garbage}, {"oversize", mode_oversize},
    {"version", mode_version}, {"network", mode_network},
    {"badsig", mode_badsig},
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
    free(m);
    gs_net_close(h.net);
    gs_buf_fini(&h.rx);
    sodium_memzero(h.sk, sizeof h.sk);
    return ret;
}
