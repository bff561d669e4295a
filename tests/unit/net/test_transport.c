/*
 * test_transport.c — the ZeroMQ transport (net/transport.h) on loopback:
 * CURVE with keys derived from Ed25519 identities, the ZAP admit
 * callback, oversized messages, wrong server keys, routing ids, pokes over
 * ipc, wake from another thread and bind errors (issue 4).
 *
 * Only tcp://127.0.0.1 with ephemeral ports and ipc:// paths under a
 * mkdtemp directory are used. Every wait is bounded (WAIT_MS); a test
 * that would block forever is ended by alarm().
 */
#include "testutil.h"

#include "transport.h"
#include "wire.h"

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WAIT_MS 5000
#define LISTEN "tcp://127.0.0.1:*"
#define KINDS (GS_NET_TOOBIG + 1)

struct admit_list {
    const uint8_t *keys[4]; /* curve keys admitted */
    int n;
    int calls;
    bool hello; /* others: GS_NET_ADMIT_HELLO rather than refused */
};

static int
admit_listed(const uint8_t curve_pk[32], void *ctx)
{
    struct admit_list *a = ctx;

    a->calls++;
    for (int i = 0; i < a->n; i++)
        if (memcmp(a->keys[i], curve_pk, 32) == 0)
            return GS_NET_ADMIT;
    return a->hello ? GS_NET_ADMIT_HELLO : GS_NET_REFUSE;
}

struct node {
    gs_net *n;
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
    uint8_t curve_pk[32];
    char ep[GS_NET_ENDPOINT_MAX];
    int seen[KINDS];
    gs_net_event last[KINDS]; /* the last event of each kind */
    gs_buf msg;               /* the last message */
    gs_buf scratch;
};

static void
node_keys(struct node *nd, uint8_t seed)
{
    memset(nd, 0, sizeof *nd);
    gs_test_keypair(seed, nd->pk, nd->sk);
    assert_int_equal(gs_net_curve_keys(nd->pk, NULL, nd->curve_pk, NULL),
                     GS_OK);
}

/* A node with key seed; listens on loopback if admit is given. */
static void
node_open(struct node *nd, uint8_t seed, struct admit_list *admit,
          size_t max_msg, const char *poke)
{
    gs_net_opts o = {0};
    char why[256];

    node_keys(nd, seed);
    o.bind = admit ? LISTEN : NULL;
    o.poke_bind = poke;
    o.ed_pk = nd->pk;
    o.ed_sk = nd->sk;
    o.admit = admit ? admit_listed : NULL;
    o.admit_ctx = admit;
    o.max_msg = max_msg;
    gs_err rc = gs_net_open(&o, &nd->n, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("gs_net_open: %s: %s", gs_errname(rc), why);
    if (admit)
        assert_int_equal(gs_net_endpoint(nd->n, nd->ep, sizeof nd->ep), GS_OK);
    gs_buf_init(&nd->msg, GS_WIRE_MSG_MAX);
    gs_buf_init(&nd->scratch, GS_WIRE_MSG_MAX);
}

static void
node_close(struct node *nd)
{
    gs_net_close(nd->n);
    nd->n = NULL;
    gs_buf_fini(&nd->msg);
    gs_buf_fini(&nd->scratch);
}

static int64_t
ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receive on every node in turn (10 ms each) for up to ms, counting
 * events; true as soon as who has seen one more event of kind. who NULL:
 * just pump for ms. */
static bool
pump(struct node **nodes, int k, struct node *who, int kind, int ms)
{
    int64_t end = ms_now() + ms;
    int before = who ? who->seen[kind] : 0;

    while (ms_now() < end) {
        for (int i = 0; i < k; i++) {
            gs_net_event ev;
            gs_err rc = gs_net_recv(nodes[i]->n, 10, &ev, &nodes[i]->scratch);
            if (rc == GS_ETIMEOUT)
                continue;
            assert_int_equal(rc, GS_OK);
            assert_true(ev.kind >= GS_NET_MSG && ev.kind < KINDS);
            nodes[i]->seen[ev.kind]++;
            nodes[i]->last[ev.kind] = ev;
            if (ev.kind == GS_NET_MSG) {
                gs_buf_reset(&nodes[i]->msg);
                assert_int_equal(gs_buf_put(&nodes[i]->msg,
                                            nodes[i]->scratch.data,
                                            nodes[i]->scratch.len),
                                 GS_OK);
            }
        }
        if (who && who->seen[kind] > before)
            return true;
    }
    return false;
}

static void
assert_msg(struct node *nd, const void *p, size_t n)
{
    assert_int_equal(nd->msg.len, n);
    assert_memory_equal(nd->msg.data, p, n);
}

/* d dials l and both see the link come up. */
static int
dial_up(struct node *d, struct node *l)
{
    struct node *both[] = {l, d};
    int peer = -1;

    assert_int_equal(gs_net_dial(d->n, l->ep, l->pk, &peer), GS_OK);
    assert_true(peer >= 0);
    assert_true(pump(both, 2, d, GS_NET_UP, WAIT_MS));
    assert_int_equal(d->last[GS_NET_UP].from.peer, peer);
    return peer;
}

static void
test_transport_curve_keys(void **state)
{
    uint8_t pk[32], sk[64], cpk[32], cpk2[32], check[32];
    uint8_t *csk = sodium_malloc(32);
    uint8_t zero[32] = {0};

    (void)state;
    assert_non_null(csk);
    gs_test_keypair(3, pk, sk);
    assert_int_equal(gs_net_curve_keys(pk, sk, cpk, csk), GS_OK);
    assert_int_equal(crypto_scalarmult_base(check, csk), 0);
    assert_memory_equal(check, cpk, 32);
    assert_int_equal(gs_net_curve_keys(pk, NULL, cpk2, NULL), GS_OK);
    assert_memory_equal(cpk, cpk2, 32);
    /* all zeros is a point of small order: refused */
    assert_int_equal(gs_net_curve_keys(zero, NULL, cpk2, NULL), GS_EINVAL);
    sodium_free(csk);
}

static void
test_transport_open_refuses_bad_options(void **state)
{
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    gs_net_opts o = {0};
    gs_net *n = NULL;
    char why[256];

    (void)state;
    gs_test_keypair(4, pk, sk);
    gs_test_keypair(5, pk2, sk2);
    o.ed_pk = pk;
    o.ed_sk = sk2; /* not pk's */
    assert_int_equal(gs_net_open(&o, &n, why, sizeof why), GS_EINVAL);
    assert_non_null(strstr(why, "secret key"));
    assert_null(n);
    o.ed_sk = sk;
    o.bind = "nonsense";
    assert_int_equal(gs_net_open(&o, &n, why, sizeof why), GS_EINVAL);
    assert_non_null(strstr(why, "nonsense"));
    o.bind = "tcp://127.0.0.1"; /* no port */
    assert_int_equal(gs_net_open(&o, &n, why, sizeof why), GS_EINVAL);
    o.bind = NULL;
    o.poke_bind = "tcp://127.0.0.1:*"; /* pokes are local only */
    assert_int_equal(gs_net_open(&o, &n, why, sizeof why), GS_EINVAL);
    assert_null(n);
}

static void
test_transport_endpoint(void **state)
{
    struct admit_list a = {0};
    struct node l, d;
    char small[8];

    (void)state;
    node_open(&l, 10, &a, 0, NULL);
    node_open(&d, 11, NULL, 0, NULL);
    assert_int_equal(strncmp(l.ep, "tcp://127.0.0.1:", 16), 0);
    assert_true(atoi(l.ep + 16) > 0);
    assert_int_equal(gs_net_endpoint(l.n, small, sizeof small), GS_ETOOBIG);
    assert_int_equal(gs_net_endpoint(d.n, small, sizeof small), GS_ENOTFOUND);
    node_close(&l);
    node_close(&d);
}

static void
test_transport_admitted_peer_exchanges_both_ways(void **state)
{
    struct admit_list a = {0};
    struct node l, d;
    struct node *both[] = {&l, &d};
    static const char hello[] = "hello from the dialer";
    static const char reply[] = "welcome";
    gs_net_addr to = {0}, back;
    int peer;

    (void)state;
    node_keys(&d, 21);
    a.keys[a.n++] = d.curve_pk;
    node_open(&l, 20, &a, 0, NULL);
    node_open(&d, 21, NULL, 0, NULL);
    peer = dial_up(&d, &l);
    assert_true(a.calls >= 1);

    to.peer = peer;
    assert_int_equal(gs_net_send(d.n, &to, hello, sizeof hello), GS_OK);
    assert_true(pump(both, 2, &l, GS_NET_MSG, WAIT_MS));
    assert_msg(&l, hello, sizeof hello);
    back = l.last[GS_NET_MSG].from;
    assert_int_equal(back.peer, -1);
    assert_true(back.rid_len > 0 && back.rid_len <= GS_NET_RID_BYTES_MAX);
    /* the listener learns the dialer's key: its Ed25519 key, converted */
    assert_memory_equal(l.last[GS_NET_MSG].curve_pk, d.curve_pk, 32);

    assert_int_equal(gs_net_send(l.n, &back, reply, sizeof reply), GS_OK);
    assert_true(pump(both, 2, &d, GS_NET_MSG, WAIT_MS));
    assert_msg(&d, reply, sizeof reply);
    assert_int_equal(d.last[GS_NET_MSG].from.peer, peer);
    assert_memory_equal(d.last[GS_NET_MSG].curve_pk, l.curve_pk, 32);

    /* an empty message is a message too */
    assert_int_equal(gs_net_send(d.n, &to, NULL, 0), GS_OK);
    assert_true(pump(both, 2, &l, GS_NET_MSG, WAIT_MS));
    assert_int_equal(l.msg.len, 0);

    /* hang up: the dialer's handle is closed, and the listener's rid
     * goes unknown once ZeroMQ has seen the connection end */
    gs_net_hangup(d.n, peer);
    assert_int_equal(gs_net_send(d.n, &to, hello, sizeof hello), GS_ECLOSED);
    int64_t end = ms_now() + WAIT_MS;
    gs_err rc;
    while ((rc = gs_net_send(l.n, &back, reply, sizeof reply)) == GS_OK &&
           ms_now() < end)
        (void)pump(both, 1, NULL, 0, 20);
    assert_int_equal(rc, GS_ECLOSED);

    /* a redial takes the freed handle and comes up again */
    assert_int_equal(dial_up(&d, &l), peer);
    assert_int_equal(l.seen[GS_NET_UP] + l.seen[GS_NET_DOWN], 0);
    node_close(&d);
    node_close(&l);
}

/* A peer let in to make its case in HELLO (GS_NET_ADMIT_HELLO): its
 * messages come marked provisional, an admitted peer's do not (issue 5:
 * a device presenting an admission token the replica has not heard of). */
static void
test_transport_hello_admission_marks_messages(void **state)
{
    struct admit_list a = {0};
    struct node l, d;
    struct node *both[] = {&l, &d};
    static const char hello[] = "HELLO with a token";
    gs_net_addr to = {0};

    (void)state;
    a.hello = true;
    node_open(&l, 30, &a, 0, NULL);
    node_open(&d, 31, NULL, 0, NULL);
    to.peer = dial_up(&d, &l);
    assert_int_equal(gs_net_send(d.n, &to, hello, sizeof hello), GS_OK);
    assert_true(pump(both, 2, &l, GS_NET_MSG, WAIT_MS));
    assert_msg(&l, hello, sizeof hello);
    assert_true(l.last[GS_NET_MSG].provisional);
    assert_memory_equal(l.last[GS_NET_MSG].curve_pk, d.curve_pk, 32);
    node_close(&d);
    node_close(&l);

    /* listed: admitted outright */
    memset(&a, 0, sizeof a);
    node_keys(&d, 33);
    a.keys[a.n++] = d.curve_pk;
    node_open(&l, 32, &a, 0, NULL);
    node_open(&d, 33, NULL, 0, NULL);
    to.peer = dial_up(&d, &l);
    assert_int_equal(gs_net_send(d.n, &to, hello, sizeof hello), GS_OK);
    assert_true(pump(both, 2, &l, GS_NET_MSG, WAIT_MS));
    assert_false(l.last[GS_NET_MSG].provisional);
    node_close(&d);
    node_close(&l);
}

static void
test_transport_refused_peer_gets_refused(void **state)
{
    uint8_t other[32];
    struct admit_list a = {0};
    struct node l, d;
    struct node *both[] = {&l, &d};
    gs_net_addr to = {0};
    int peer;

    (void)state;
    memset(other, 0x5a, sizeof other);
    a.keys[a.n++] = other; /* admits someone else only */
    node_open(&l, 30, &a, 0, NULL);
    node_open(&d, 31, NULL, 0, NULL);
    assert_int_equal(gs_net_dial(d.n, l.ep, l.pk, &peer), GS_OK);
    assert_true(pump(both, 2, &d, GS_NET_REFUSED, WAIT_MS));
    assert_int_equal(d.last[GS_NET_REFUSED].from.peer, peer);
    assert_non_null(strstr(d.last[GS_NET_REFUSED].why, "refused our key"));
    assert_non_null(strstr(d.last[GS_NET_REFUSED].why, "400"));
    assert_true(a.calls >= 1);
    /* ZeroMQ knocks again; still nothing gets through, and the refusal
     * is reported once, not once per knock */
    to.peer = peer;
    assert_int_equal(gs_net_send(d.n, &to, "x", 1), GS_ECLOSED);
    (void)pump(both, 2, NULL, 0, 1500);
    assert_int_equal(d.seen[GS_NET_UP], 0);
    assert_int_equal(d.seen[GS_NET_REFUSED], 1);
    assert_int_equal(l.seen[GS_NET_MSG], 0);
    node_close(&d);
    node_close(&l);
}

static void
test_transport_oversized_message_dropped(void **state)
{
    struct admit_list a = {0};
    struct node l, d, d2;
    struct node *all[] = {&l, &d, &d2};
    uint8_t *big = calloc(1, 65536 + 1);
    gs_net_addr to = {0};

    (void)state;
    assert_non_null(big);
    node_keys(&d, 41);
    node_keys(&d2, 42);
    a.keys[a.n++] = d.curve_pk;
    a.keys[a.n++] = d2.curve_pk;
    node_open(&l, 40, &a, 1024, NULL);
    node_open(&d, 41, NULL, 65536, NULL);
    node_open(&d2, 42, NULL, 0, NULL);
    to.peer = dial_up(&d, &l);
    /* over our own cap: refused before it is sent */
    assert_int_equal(gs_net_send(d.n, &to, big, 65536 + 1), GS_ETOOBIG);
    /* one byte over the listener's cap: reported, not delivered, with
     * the sender's key (the agent counts it against that peer) */
    assert_int_equal(gs_net_send(d.n, &to, big, 1025), GS_OK);
    assert_true(pump(all, 2, &l, GS_NET_TOOBIG, WAIT_MS));
    assert_int_equal(l.last[GS_NET_TOOBIG].size, 1025);
    assert_memory_equal(l.last[GS_NET_TOOBIG].curve_pk, d.curve_pk, 32);
    assert_int_equal(l.seen[GS_NET_MSG], 0);
    /* over twice the cap: ZeroMQ drops the connection unseen */
    assert_int_equal(gs_net_send(d.n, &to, big, 2 * 1024 + 64), GS_OK);
    assert_true(pump(all, 2, &d, GS_NET_DOWN, WAIT_MS));
    assert_int_equal(l.seen[GS_NET_MSG], 0);
    assert_int_equal(l.seen[GS_NET_TOOBIG], 1);
    /* ZeroMQ redials; a message of exactly the cap then goes through
     * (CURVE's own bytes do not count against it) */
    assert_true(pump(all, 2, &d, GS_NET_UP, WAIT_MS));
    assert_int_equal(gs_net_send(d.n, &to, big, 1024), GS_OK);
    assert_true(pump(all, 2, &l, GS_NET_MSG, WAIT_MS));
    assert_int_equal(l.msg.len, 1024);
    assert_int_equal(l.seen[GS_NET_MSG], 1);
    /* and so does a new dialer */
    to.peer = dial_up(&d2, &l);
    assert_int_equal(gs_net_send(d2.n, &to, "small", 5), GS_OK);
    assert_true(pump(all, 3, &l, GS_NET_MSG, WAIT_MS));
    assert_msg(&l, "small", 5);
    assert_memory_equal(l.last[GS_NET_MSG].curve_pk, d2.curve_pk, 32);
    free(big);
    node_close(&d2);
    node_close(&d);
    node_close(&l);
}

static void
test_transport_wrong_server_key_never_up(void **state)
{
    struct admit_list a = {0};
    struct node l, d, x;
    struct node *both[] = {&l, &d};
    gs_net_addr to = {0};

    (void)state;
    node_keys(&d, 51);
    a.keys[a.n++] = d.curve_pk;
    node_keys(&x, 59); /* a key that is not the listener's */
    node_open(&l, 50, &a, 0, NULL);
    node_open(&d, 51, NULL, 0, NULL);
    assert_int_equal(gs_net_dial(d.n, l.ep, x.pk, &to.peer), GS_OK);
    (void)pump(both, 2, NULL, 0, 1500);
    assert_int_equal(d.seen[GS_NET_UP], 0);
    assert_int_equal(l.seen[GS_NET_MSG], 0);
    assert_int_equal(a.calls, 0); /* it never got as far as the key check */
    /* the listener cannot open our HELLO and hangs up: a refusal */
    assert_true(d.seen[GS_NET_REFUSED] >= 1);
    assert_non_null(strstr(d.last[GS_NET_REFUSED].why, "handshake"));
    assert_int_equal(gs_net_send(d.n, &to, "x", 1), GS_ECLOSED);
    node_close(&d);
    node_close(&l);
}

/* A hand-made CURVE client (raw libzmq) with d's keys, to send what our
 * own transport never sends. */
static void *
raw_dealer(void *ctx, struct node *d, struct node *l, const void *rid,
           size_t rid_len)
{
    uint8_t csk[32], cpk[32];
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;

    assert_non_null(s);
    assert_int_equal(gs_net_curve_keys(d->pk, d->sk, cpk, csk), GS_OK);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, l->curve_pk, 32),
                     0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, cpk, 32), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, csk, 32), 0);
    sodium_memzero(csk, sizeof csk);
    if (rid)
        assert_int_equal(zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, rid_len), 0);
    assert_int_equal(zmq_connect(s, l->ep), 0);
    return s;
}

static void
test_transport_unexpected_frames_dropped(void **state)
{
    struct admit_list a = {0};
    struct node l, d;
    struct node *one[] = {&l};
    uint8_t long_rid[40];
    void *ctx = zmq_ctx_new();
    void *s, *s2;

    (void)state;
    assert_non_null(ctx);
    node_keys(&d, 61);
    a.keys[a.n++] = d.curve_pk;
    node_open(&l, 60, &a, 0, NULL);
    s = raw_dealer(ctx, &d, &l, NULL, 0);
    /* two frames: dropped whole; then one frame: delivered */
    assert_int_equal(zmq_send(s, "part1", 5, ZMQ_SNDMORE), 5);
    assert_int_equal(zmq_send(s, "part2", 5, 0), 5);
    assert_int_equal(zmq_send(s, "single", 6, 0), 6);
    assert_true(pump(one, 1, &l, GS_NET_MSG, WAIT_MS));
    assert_msg(&l, "single", 6);
    assert_memory_equal(l.last[GS_NET_MSG].curve_pk, d.curve_pk, 32);
    /* a peer-chosen routing id longer than we accept: dropped */
    memset(long_rid, 'r', sizeof long_rid);
    s2 = raw_dealer(ctx, &d, &l, long_rid, sizeof long_rid);
    assert_int_equal(zmq_send(s2, "long", 4, 0), 4);
    (void)pump(one, 1, NULL, 0, 500);
    assert_int_equal(l.seen[GS_NET_MSG], 1);
    zmq_close(s);
    zmq_close(s2);
    zmq_ctx_term(ctx);
    node_close(&l);
}

static void
test_transport_send_unknown_rid_closed(void **state)
{
    struct admit_list a = {0};
    struct node l;
    gs_net_addr to = {0};

    (void)state;
    node_open(&l, 70, &a, 0, NULL);
    to.peer = -1;
    memcpy(to.rid, "\0abcd", 5);
    to.rid_len = 5;
    assert_int_equal(gs_net_send(l.n, &to, "x", 1), GS_ECLOSED);
    to.peer = 3; /* never dialed */
    assert_int_equal(gs_net_send(l.n, &to, "x", 1), GS_ECLOSED);
    to.peer = -1;
    to.rid_len = 0;
    assert_int_equal(gs_net_send(l.n, &to, "x", 1), GS_EINVAL);
    to.rid_len = GS_NET_RID_BYTES_MAX + 1;
    assert_int_equal(gs_net_send(l.n, &to, "x", 1), GS_EINVAL);
    node_close(&l);
}

static void
test_transport_bind_in_use_names_endpoint(void **state)
{
    struct admit_list a = {0};
    struct node l;
    gs_net_opts o = {0};
    gs_net *n = NULL;
    char why[256];

    (void)state;
    node_open(&l, 80, &a, 0, NULL);
    o.bind = l.ep;
    o.ed_pk = l.pk;
    o.ed_sk = l.sk;
    assert_int_equal(gs_net_open(&o, &n, why, sizeof why), GS_EIO);
    assert_null(n);
    assert_non_null(strstr(why, l.ep));
    assert_non_null(strstr(why, "in use"));
    node_close(&l);
}

static void
test_transport_dial_limit(void **state)
{
    char dir[] = "/tmp/gs-net-XXXXXX", ep[64];
    struct node d, l;
    int peer;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(ep, sizeof ep, "ipc://%s/nobody", dir);
    node_keys(&l, 91);
    node_open(&d, 90, NULL, 0, NULL);
    for (int i = 0; i < GS_NET_PEERS_MAX; i++) {
        assert_int_equal(gs_net_dial(d.n, ep, l.pk, &peer), GS_OK);
        assert_int_equal(peer, i);
    }
    assert_int_equal(gs_net_dial(d.n, ep, l.pk, &peer), GS_ETOOBIG);
    gs_net_hangup(d.n, 17);
    assert_int_equal(gs_net_dial(d.n, ep, l.pk, &peer), GS_OK);
    assert_int_equal(peer, 17);
    gs_net_hangup(d.n, 17);
    assert_int_equal(gs_net_dial(d.n, "bogus://x", l.pk, &peer), GS_EINVAL);
    node_close(&d);
    gs_test_rmtree(dir);
}

static void
test_transport_poke_coalesces(void **state)
{
    char dir[] = "/tmp/gs-net-XXXXXX", ep[64], ep2[64];
    struct node p;
    struct node *one[] = {&p};
    gs_net_opts o = {0};
    gs_net *n = NULL;
    char why[256];
    int64_t t0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(ep, sizeof ep, "ipc://%s/poke", dir);
    snprintf(ep2, sizeof ep2, "ipc://%s/nobody", dir);
    node_open(&p, 100, NULL, 0, ep);
    assert_int_equal(gs_net_poke(ep), GS_OK);
    assert_int_equal(gs_net_poke(ep), GS_OK);
    assert_true(pump(one, 1, &p, GS_NET_POKE, WAIT_MS));
    (void)pump(one, 1, NULL, 0, 300);
    assert_true(p.seen[GS_NET_POKE] >= 1 && p.seen[GS_NET_POKE] <= 2);
    assert_int_equal(p.seen[GS_NET_MSG], 0);

    /* nobody ever bound the path: said so, and back at once (no linger) */
    t0 = ms_now();
    assert_int_equal(gs_net_poke(ep2), GS_ENOTFOUND);
    assert_true(ms_now() - t0 < 50);
    /* a path left behind with nobody on it: no error, back within the
     * linger */
    int fd = open(ep2 + 6, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    t0 = ms_now();
    assert_int_equal(gs_net_poke(ep2), GS_OK);
    assert_true(ms_now() - t0 < 1000);
    unlink(ep2 + 6);
    assert_int_equal(gs_net_poke("tcp://127.0.0.1:1"), GS_EINVAL);
    assert_int_equal(gs_net_poke("ipc://"), GS_EINVAL);

    /* a second agent on the same poke path is refused, not let steal it */
    o.poke_bind = ep;
    o.ed_pk = p.pk;
    o.ed_sk = p.sk;
    assert_int_equal(gs_net_open(&o, &n, why, sizeof why), GS_EIO);
    assert_non_null(strstr(why, ep));
    assert_int_equal(gs_net_poke(ep), GS_OK);
    assert_true(pump(one, 1, &p, GS_NET_POKE, WAIT_MS));
    node_close(&p);
    gs_test_rmtree(dir);
}

static void *
wake_later(void *arg)
{
    struct timespec ts = {0, 100 * 1000 * 1000};

    nanosleep(&ts, NULL);
    gs_net_wake(arg);
    return NULL;
}

static void
test_transport_wake_from_thread(void **state)
{
    struct node w;
    gs_net_event ev;
    pthread_t t;

    (void)state;
    node_open(&w, 110, NULL, 0, NULL);
    alarm(20); /* a recv(-1) that is never woken ends the program */
    assert_int_equal(pthread_create(&t, NULL, wake_later, w.n), 0);
    assert_int_equal(gs_net_recv(w.n, -1, &ev, &w.scratch), GS_OK);
    assert_int_equal(ev.kind, GS_NET_WAKE);
    assert_int_equal(pthread_join(t, NULL), 0);
    alarm(0);
    /* wakes before a recv pile up into one event */
    gs_net_wake(w.n);
    gs_net_wake(w.n);
    assert_int_equal(gs_net_recv(w.n, 0, &ev, &w.scratch), GS_OK);
    assert_int_equal(ev.kind, GS_NET_WAKE);
    assert_int_equal(gs_net_recv(w.n, 0, &ev, &w.scratch), GS_ETIMEOUT);
    node_close(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_curve_keys),
        cmocka_unit_test(test_transport_open_refuses_bad_options),
        cmocka_unit_test(test_transport_endpoint),
        cmocka_unit_test(test_transport_admitted_peer_exchanges_both_ways),
        cmocka_unit_test(test_transport_refused_peer_gets_refused),
        cmocka_unit_test(test_transport_hello_admission_marks_messages),
        cmocka_unit_test(test_transport_oversized_message_dropped),
        cmocka_unit_test(test_transport_wrong_server_key_never_up),
        cmocka_unit_test(test_transport_unexpected_frames_dropped),
        cmocka_unit_test(test_transport_send_unknown_rid_closed),
        cmocka_unit_test(test_transport_bind_in_use_names_endpoint),
        cmocka_unit_test(test_transport_dial_limit),
        cmocka_unit_test(test_transport_poke_coalesces),
        cmocka_unit_test(test_transport_wake_from_thread),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
