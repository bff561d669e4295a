/*
 * transport.c — ZeroMQ sockets for sync: a CURVE ROUTER that peers dial,
 * a CURVE DEALER per peer we dial, a ZAP handler, a poke socket and a
 * wake pipe, all driven by one zmq_poll in gs_net_recv.
 *
 * Invariants:
 * - The ZAP handler (a REP on inproc://zeromq.zap.01) is bound before the
 *   ROUTER: libzmq admits CURVE clients unchecked when no handler exists.
 *   It admits only CURVE requests of our domain whose key the caller's
 *   admit callback approves, and returns the key's hex as the User-Id
 *   (after a '?' for a key let in only to show its HELLO: its messages
 *   come marked provisional).
 *   An inbound message's curve_pk comes from that User-Id and nothing
 *   else; a message without one is dropped.
 * - Routing ids are the ROUTER's own (dealers never set ZMQ_ROUTING_ID)
 *   and ZMQ_ROUTER_HANDOVER stays off: a peer-chosen id could take over
 *   another peer's connection. A reconnecting peer is a new connection
 *   with a new rid; its old rid fails with GS_ECLOSED once ZeroMQ drops
 *   the old connection (at once on a clean close, after the heartbeat
 *   timeout on a silent one). The session layer keys on (rid, session).
 * - Every socket has linger 0 and ZMQ_MAXMSGSIZE (the ROUTER's twice
 *   max_msg, so that a message over max_msg is seen and reported as
 *   GS_NET_TOOBIG rather than dropped unseen); dealers have
 *   ZMQ_IMMEDIATE so nothing queues for a peer that is not connected.
 * - Bytes from the network are never asserted on: wrong frame counts,
 *   oversized routing ids and unparsable monitor or ZAP frames are
 *   dropped (draining every part), never a crash.
 * - Foreign codes (zmq errno) stop here: zerr() maps them to gs_err.
 * - The curve secret key lives in sodium_malloc memory (libzmq keeps its
 *   own copy in its socket options, which we cannot wipe).
 *
 * Wake: a non-blocking pipe polled as a raw fd. write(2) is thread- and
 * async-signal-safe, so gs_net_wake needs no lock and never touches a
 * ZeroMQ socket (which are not thread-safe).
 *
 * SPEC: docs/protocol.md §2
 */
#include "transport.h"

#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "gridsync"
#define ZAP_BURST 32 /* ZAP requests answered per wake-up */
#define ZAP_FRAMES 7 /* version, id, domain, address, identity, mech, key */
#define HEARTBEAT_IVL_MS 2000
#define HEARTBEAT_TIMEOUT_MS 6000
#define RECONNECT_IVL_MS 500
#define RECONNECT_IVL_MAX_MS 30000
/* A CURVE MESSAGE command: "\x07MESSAGE" (8), short nonce (8), box of
 * flags (1) + message + MAC (16). */
#define CURVE_OVERHEAD 33
#define POKE_LINGER_MS 100
#define CLOSE_LINGER_MS 500 /* gs_net_close: flush what is queued */
#define POKE_BYTES_MAX 64 /* a poke is empty; allow a little, never more */
#define POKE_HWM 16
#define MON_EVENTS                                                             \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |   \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

struct peer {
    void *sock; /* DEALER; NULL: free slot */
    void *mon;  /* PAIR reading the DEALER's monitor */
    uint8_t curve_pk[GS_NET_CURVE_BYTES]; /* the server key we pinned */
    bool up;
    char refused[sizeof(((gs_net_event *)0)->why)]; /* last REFUSED why */
};

/* Event sources in poll order after the ZAP socket: the fixed ones, then
 * per peer its monitor and its DEALER. */
enum { SRC_WAKE, SRC_POKE, SRC_ROUTER, SRC_FIXED };
#define SRC_MAX (SRC_FIXED + 2 * GS_NET_PEERS_MAX)

struct gs_net {
    void *ctx;
    void *zap;
    void *router; /* NULL without bind */
    void *poke;   /* NULL without poke_bind */
    int wake_rd, wake_wr;
    gs_net_admit_fn admit;
    void *admit_ctx;
    size_t max_msg;
    uint8_t curve_pk[GS_NET_CURVE_BYTES];
    uint8_t *curve_sk; /* sodium_malloc'd */
    unsigned mon_seq;  /* names monitor endpoints, never reused */
    unsigned turn;     /* source to try first: fairness among sources */
    struct peer peers[GS_NET_PEERS_MAX];
};

static void say(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!why || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* zmq errno -> gs_err, the one place foreign codes are translated. */
static gs_err
zerr(int e)
{
    switch (e) {
    case EAGAIN:
        return GS_EFULL;
    case EHOSTUNREACH:
    case ETERM:
    case ENOTSOCK:
        return GS_ECLOSED;
    case ENOMEM:
        return GS_ENOMEM;
    case EMSGSIZE:
        return GS_ETOOBIG;
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case ENAMETOOLONG:
    case ENODEV:
        return GS_EINVAL;
    default:
        return GS_EIO;
    }
}

/* ---- keys ---- */

gs_err
gs_net_curve_keys(const uint8_t ed_pk[32], const uint8_t *ed_sk,
                  uint8_t curve_pk[32], uint8_t *curve_sk)
{
    if (!ed_pk || !curve_pk)
        return GS_EINVAL;
    if (crypto_sign_ed25519_pk_to_curve25519(curve_pk, ed_pk) != 0)
        return GS_EINVAL;
    if (ed_sk && curve_sk &&
        crypto_sign_ed25519_sk_to_curve25519(curve_sk, ed_sk) != 0)
        return GS_EINVAL;
    return GS_OK;
}

/* ---- socket set-up ---- */

static int
set_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

/* Options every socket of ours carries. */
static int
set_common(void *s, size_t max_msg, int hwm)
{
    int64_t max = (int64_t)max_msg;

    if (set_int(s, ZMQ_LINGER, 0) || set_int(s, ZMQ_SNDHWM, hwm) ||
        set_int(s, ZMQ_RCVHWM, hwm))
        return -1;
    return zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
}

/* Options of the CURVE sockets (ROUTER and DEALERs): MAXMSGSIZE counts
 * the frame on the wire, which CURVE makes CURVE_OVERHEAD bytes longer
 * than the message, so a max_msg message still passes; a dead link is
 * noticed within HEARTBEAT_TIMEOUT_MS, and the peer drops us as soon if
 * it hears nothing (TTL). ZMQ_IPV6 only for an IPv6 literal ("[::1]"):
 * with it, an IPv4 endpoint reads back as "[::ffff:127.0.0.1]". */
static int
set_link(void *s, size_t max_msg, const char *endpoint)
{
    if (set_common(s, max_msg + CURVE_OVERHEAD, GS_NET_HWM) ||
        set_int(s, ZMQ_HEARTBEAT_IVL, HEARTBEAT_IVL_MS) ||
        set_int(s, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS) ||
        set_int(s, ZMQ_HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS) ||
        set_int(s, ZMQ_IPV6, strchr(endpoint, '[') != NULL))
        return -1;
    return 0;
}

static void
close_sock(void **s)
{
    if (*s) {
        zmq_close(*s);
        *s = NULL;
    }
}

/* libzmq unlinks an ipc path before binding it, which would silently steal
 * the socket of an agent that is listening there. Knock first: if a
 * connect succeeds, someone listens. (Best effort: racy by nature.) */
static bool
ipc_busy(const char *endpoint)
{
    struct sockaddr_un sa;
    const char *path;
    bool busy;
    int fd;

    if (strncmp(endpoint, "ipc://", 6) != 0)
        return false;
    path = endpoint + 6;
    if (path[0] == '@' || strlen(path) >= sizeof sa.sun_path)
        return false; /* abstract names fail in bind by themselves */
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    busy = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return busy;
}

static gs_err
bind_sock(void *s, const char *endpoint, const char *what, char *why,
          size_t why_len)
{
    gs_err rc;
    int e;

    if (ipc_busy(endpoint)) {
        say(why, why_len,
            "%s: another process listens there (%s); stop it or choose "
            "another path",
            endpoint, what);
        return GS_EIO;
    }
    if (zmq_bind(s, endpoint) == 0)
        return GS_OK;
    e = zmq_errno();
    rc = zerr(e);
    if (rc == GS_EINVAL) {
        say(why, why_len,
            "%s: not a valid endpoint for the %s (%s); write "
            "tcp://HOST:PORT or ipc://PATH",
            endpoint, what, zmq_strerror(e));
        return GS_EINVAL;
    }
    say(why, why_len, "%s: cannot bind the %s: %s; %s", endpoint, what,
        zmq_strerror(e),
        e == EADDRINUSE ? "another agent may be running, or choose another "
                          "port"
                        : "check the address and permissions");
    return rc == GS_ENOMEM ? rc : GS_EIO;
}

/* ---- open and close ---- */

static void
drain_pipe(int fd)
{
    char buf[64];

    while (read(fd, buf, sizeof buf) > 0)
        ;
}

static gs_err
open_pipe(gs_net *n, char *why, size_t why_len)
{
    int fds[2];

    if (pipe(fds) != 0) {
        say(why, why_len, "cannot make the wake pipe: %s", strerror(errno));
        return GS_EIO;
    }
    n->wake_rd = fds[0];
    n->wake_wr = fds[1];
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            say(why, why_len, "cannot set up the wake pipe: %s",
                strerror(errno));
            return GS_EIO;
        }
    }
    return GS_OK;
}

static gs_err
open_router(gs_net *n, const char *endpoint, char *why, size_t why_len)
{
    n->router = zmq_socket(n->ctx, ZMQ_ROUTER);
    /* Up to twice max_msg reaches us, to be reported (GS_NET_TOOBIG) and
     * counted against the peer; ZeroMQ drops anything larger unseen. */
    if (!n->router || set_link(n->router, 2 * n->max_msg, endpoint) ||
        set_int(n->router, ZMQ_ROUTER_MANDATORY, 1) ||
        set_int(n->router, ZMQ_ROUTER_HANDOVER, 0) ||
        set_int(n->router, ZMQ_CURVE_SERVER, 1) ||
        zmq_setsockopt(n->router, ZMQ_CURVE_SECRETKEY, n->curve_sk,
                       GS_NET_CURVE_BYTES) ||
        zmq_setsockopt(n->router, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN,
                       strlen(ZAP_DOMAIN))) {
        say(why, why_len, "cannot set up the listening socket: %s",
            zmq_strerror(zmq_errno()));
        return GS_EIO;
    }
    return bind_sock(n->router, endpoint, "sync endpoint", why, why_len);
}

static gs_err
open_poke(gs_net *n, const char *endpoint, char *why, size_t why_len)
{
    if (strncmp(endpoint, "ipc://", 6) != 0) {
        say(why, why_len,
            "%s: the poke endpoint must be ipc://PATH (it has no "
            "encryption, so it stays on this machine)",
            endpoint);
        return GS_EINVAL;
    }
    n->poke = zmq_socket(n->ctx, ZMQ_PULL);
    if (!n->poke || set_common(n->poke, POKE_BYTES_MAX, POKE_HWM)) {
        say(why, why_len, "cannot set up the poke socket: %s",
            zmq_strerror(zmq_errno()));
        return GS_EIO;
    }
    return bind_sock(n->poke, endpoint, "poke socket", why, why_len);
}

gs_err
gs_net_open(const gs_net_opts *opts, gs_net **out, char *why, size_t why_len)
{
    gs_net *n;
    gs_err rc;

    say(why, why_len, "%s", "");
    if (!opts || !out || !opts->ed_pk || !opts->ed_sk) {
        say(why, why_len, "gs_net_open needs options and a key pair");
        return GS_EINVAL;
    }
    if (opts->max_msg > (size_t)INT64_MAX - CURVE_OVERHEAD) {
        say(why, why_len, "max_msg %zu is too large", opts->max_msg);
        return GS_EINVAL;
    }
    if (sodium_init() < 0) {
        say(why, why_len, "libsodium failed to start");
        return GS_EIO;
    }
    if (!zmq_has("curve")) {
        say(why, why_len,
            "this libzmq was built without CURVE; install a "
            "libzmq with libsodium support");
        return GS_EIO;
    }
    if (sodium_memcmp(opts->ed_sk + 32, opts->ed_pk, 32) != 0) {
        say(why, why_len,
            "the secret key does not belong to the public "
            "key given with it");
        return GS_EINVAL;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        return GS_ENOMEM;
    n->wake_rd = n->wake_wr = -1;
    n->admit = opts->admit;
    n->admit_ctx = opts->admit_ctx;
    n->max_msg = opts->max_msg ? opts->max_msg : GS_WIRE_MSG_MAX;
    n->curve_sk = sodium_malloc(GS_NET_CURVE_BYTES);
    if (!n->curve_sk) {
        rc = GS_ENOMEM;
        goto out;
    }
    rc = gs_net_curve_keys(opts->ed_pk, opts->ed_sk, n->curve_pk, n->curve_sk);
    if (rc != GS_OK) {
        say(why, why_len, "the device key is not a valid Ed25519 key");
        goto out;
    }
    rc = open_pipe(n, why, why_len);
    if (rc != GS_OK)
        goto out;
    n->ctx = zmq_ctx_new();
    if (!n->ctx) {
        say(why, why_len, "cannot start ZeroMQ: %s", zmq_strerror(zmq_errno()));
        rc = GS_EIO;
        goto out;
    }
    /* The ZAP handler first: until it is bound, libzmq would let every
     * CURVE client in. */
    n->zap = zmq_socket(n->ctx, ZMQ_REP);
    if (!n->zap || set_int(n->zap, ZMQ_LINGER, 0) ||
        zmq_bind(n->zap, ZAP_ENDPOINT) != 0) {
        say(why, why_len, "cannot start the key check (ZAP): %s",
            zmq_strerror(zmq_errno()));
        rc = GS_EIO;
        goto out;
    }
    if (opts->bind) {
        rc = open_router(n, opts->bind, why, why_len);
        if (rc != GS_OK)
            goto out;
    }
    if (opts->poke_bind) {
        rc = open_poke(n, opts->poke_bind, why, why_len);
        if (rc != GS_OK)
            goto out;
    }
    *out = n;
    return GS_OK;
out:
    gs_net_close(n);
    return rc;
}

void
gs_net_close(gs_net *n)
{
    if (!n)
        return;
    /* What a session queued last (its BYE, its last ACK) should still
     * reach the peer: dialed sockets get a bounded linger, so closing
     * waits until they are flushed, at most CLOSE_LINGER_MS. */
    for (int i = 0; i < GS_NET_PEERS_MAX; i++) {
        if (n->peers[i].sock)
            (void)set_int(n->peers[i].sock, ZMQ_LINGER, CLOSE_LINGER_MS);
        gs_net_hangup(n, i);
    }
    close_sock(&n->router);
    close_sock(&n->poke);
    close_sock(&n->zap);
    if (n->ctx) {
        while (zmq_ctx_term(n->ctx) != 0 && zmq_errno() == EINTR)
            ;
    }
    if (n->wake_rd >= 0)
        close(n->wake_rd);
    if (n->wake_wr >= 0)
        close(n->wake_wr);
    sodium_free(n->curve_sk);
    free(n);
}

gs_err
gs_net_endpoint(gs_net *n, char *out, size_t len)
{
    char buf[GS_NET_ENDPOINT_MAX];
    size_t blen = sizeof buf;

    if (!n || !out)
        return GS_EINVAL;
    if (!n->router)
        return GS_ENOTFOUND;
    if (zmq_getsockopt(n->router, ZMQ_LAST_ENDPOINT, buf, &blen) != 0)
        return zerr(zmq_errno());
    if (blen == 0 || buf[blen - 1] != '\0')
        return GS_EIO;
    if (blen > len)
        return GS_ETOOBIG;
    memcpy(out, buf, blen);
    return GS_OK;
}

/* ---- dialing ---- */

gs_err
gs_net_dial(gs_net *n, const char *endpoint, const uint8_t peer_ed_pk[32],
            int *peer)
{
    char mon_ep[48];
    struct peer *p = NULL;
    gs_err rc;
    int i;

    if (!n || !endpoint || !peer_ed_pk || !peer)
        return GS_EINVAL;
    for (i = 0; i < GS_NET_PEERS_MAX && n->peers[i].sock; i++)
        ;
    if (i == GS_NET_PEERS_MAX)
        return GS_ETOOBIG;
    p = &n->peers[i];
    memset(p, 0, sizeof *p);
    rc = gs_net_curve_keys(peer_ed_pk, NULL, p->curve_pk, NULL);
    if (rc != GS_OK)
        return rc;
    p->sock = zmq_socket(n->ctx, ZMQ_DEALER);
    if (!p->sock || set_link(p->sock, n->max_msg, endpoint) ||
        set_int(p->sock, ZMQ_IMMEDIATE, 1) ||
        set_int(p->sock, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS) ||
        set_int(p->sock, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS) ||
        zmq_setsockopt(p->sock, ZMQ_CURVE_SERVERKEY, p->curve_pk,
                       GS_NET_CURVE_BYTES) ||
        zmq_setsockopt(p->sock, ZMQ_CURVE_PUBLICKEY, n->curve_pk,
                       GS_NET_CURVE_BYTES) ||
        zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, n->curve_sk,
                       GS_NET_CURVE_BYTES))
        goto fail;
    /* The monitor's reader is connected before the DEALER connects, so no
     * event is lost (libzmq drops monitor events nobody reads). */
    snprintf(mon_ep, sizeof mon_ep, "inproc://gs-mon-%u", n->mon_seq++);
    if (zmq_socket_monitor(p->sock, mon_ep, MON_EVENTS) != 0)
        goto fail;
    p->mon = zmq_socket(n->ctx, ZMQ_PAIR);
    if (!p->mon || set_int(p->mon, ZMQ_LINGER, 0) ||
        zmq_connect(p->mon, mon_ep) != 0)
        goto fail;
    if (zmq_connect(p->sock, endpoint) != 0)
        goto fail;
    *peer = i;
    return GS_OK;
fail:
    rc = zerr(zmq_errno());
    gs_net_hangup(n, i);
    return rc;
}

void
gs_net_hangup(gs_net *n, int peer)
{
    struct peer *p;

    if (!n || peer < 0 || peer >= GS_NET_PEERS_MAX)
        return;
    p = &n->peers[peer];
    if (p->sock)
        zmq_socket_monitor(p->sock, NULL, 0);
    close_sock(&p->sock);
    close_sock(&p->mon);
    memset(p, 0, sizeof *p);
}

/* ---- sending ---- */

gs_err
gs_net_send(gs_net *n, const gs_net_addr *to, const void *msg, size_t len)
{
    struct peer *p;
    gs_err rc;

    if (!n || !to || (!msg && len))
        return GS_EINVAL;
    if (len > n->max_msg)
        return GS_ETOOBIG;
    if (to->peer >= 0) {
        if (to->peer >= GS_NET_PEERS_MAX || !n->peers[to->peer].sock)
            return GS_ECLOSED;
        p = &n->peers[to->peer];
        if (zmq_send(p->sock, msg ? msg : "", len, ZMQ_DONTWAIT) >= 0)
            return GS_OK;
        rc = zerr(zmq_errno());
        /* ZMQ_IMMEDIATE: no connection means no queue, hence EAGAIN. */
        return rc == GS_EFULL && !p->up ? GS_ECLOSED : rc;
    }
    if (to->peer != -1 || to->rid_len == 0 ||
        to->rid_len > GS_NET_RID_BYTES_MAX)
        return GS_EINVAL;
    if (!n->router)
        return GS_ECLOSED;
    /* ROUTER_MANDATORY: an unknown rid is EHOSTUNREACH, a full queue
     * EAGAIN, both on the first frame; the second cannot fail then. */
    if (zmq_send(n->router, to->rid, to->rid_len, ZMQ_DONTWAIT | ZMQ_SNDMORE) <
            0 ||
        zmq_send(n->router, msg ? msg : "", len, ZMQ_DONTWAIT) < 0)
        return zerr(zmq_errno());
    return GS_OK;
}

/* ---- receiving ---- */

/* Receive all frames of one message: the first max into parts (which the
 * caller closes, *got of them), the rest drained. Returns the number of
 * frames, 0 if nothing was waiting, -1 on another error (errno kept). */
static int
recv_parts(void *s, zmq_msg_t *parts, int max, int *got)
{
    int total = 0, more;
    size_t more_len;

    *got = 0;
    do {
        zmq_msg_t scratch, *m = total < max ? &parts[total] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (total == 0 && e == EAGAIN)
                return 0;
            errno = e;
            return total ? total : -1;
        }
        more = 0;
        more_len = sizeof more;
        if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &more_len) != 0)
            more = 0;
        if (total < max)
            (*got)++;
        else
            zmq_msg_close(m);
        total++;
    } while (more);
    return total;
}

static void
close_parts(zmq_msg_t *parts, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

static bool
eq_text(zmq_msg_t *m, const char *s)
{
    size_t len = strlen(s);
    return zmq_msg_size(m) == len && memcmp(zmq_msg_data(m), s, len) == 0;
}

/* Answer one ZAP request (RFC 27). Only libzmq speaks on this socket, but
 * its frames are still checked, not trusted: anything unexpected is
 * refused. A REP must answer before it reads again, so a reply is always
 * sent (an empty request id if there was none). */
static bool
zap_serve(gs_net *n)
{
    zmq_msg_t f[ZAP_FRAMES];
    char user[2 * GS_NET_CURVE_BYTES + 2] = "";
    int verdict;
    const char *status = "400", *text = "key not admitted";
    int total, got;

    total = recv_parts(n->zap, f, ZAP_FRAMES, &got);
    if (total <= 0)
        return false;
    if (total != ZAP_FRAMES || !eq_text(&f[0], "1.0"))
        text = "malformed ZAP request";
    else if (!eq_text(&f[2], ZAP_DOMAIN))
        text = "not our domain";
    else if (!eq_text(&f[5], "CURVE"))
        text = "only CURVE is admitted";
    else if (zmq_msg_size(&f[6]) != GS_NET_CURVE_BYTES)
        text = "malformed CURVE key";
    else if (n->admit &&
             (verdict = n->admit(zmq_msg_data(&f[6]), n->admit_ctx)) !=
                 GS_NET_REFUSE) {
        /* the User-Id is the key's hex, after a '?' if its HELLO is to
         * be judged (read_router sets provisional) */
        status = "200";
        text = "OK";
        bool hello = verdict == GS_NET_ADMIT_HELLO;
        user[0] = '?';
        sodium_bin2hex(user + hello, sizeof user - 1, zmq_msg_data(&f[6]),
                       GS_NET_CURVE_BYTES);
    }
    if (zmq_send(n->zap, "1.0", 3, ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0 &&
        zmq_send(n->zap, got > 1 ? zmq_msg_data(&f[1]) : "",
                 got > 1 ? zmq_msg_size(&f[1]) : 0,
                 ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0 &&
        zmq_send(n->zap, status, 3, ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0 &&
        zmq_send(n->zap, text, strlen(text), ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0 &&
        zmq_send(n->zap, user, strlen(user), ZMQ_DONTWAIT | ZMQ_SNDMORE) >= 0)
        (void)zmq_send(n->zap, "", 0, ZMQ_DONTWAIT);
    close_parts(f, got);
    return true;
}

/* One message's bytes into msg. */
static gs_err
take(zmq_msg_t *m, gs_buf *msg)
{
    gs_buf_reset(msg);
    return gs_buf_put(msg, zmq_msg_data(m), zmq_msg_size(m));
}

/* ROUTER: [rid][message]; the sender's key from the ZAP User-Id. */
static gs_err
read_router(gs_net *n, gs_net_event *ev, gs_buf *msg, bool *got_ev)
{
    zmq_msg_t f[2];
    const char *user;
    size_t rid_len, bin_len;
    int total, got;
    gs_err rc = GS_OK;

    total = recv_parts(n->router, f, 2, &got);
    if (total < 0)
        return zerr(errno);
    if (total != 2)
        goto out;
    rid_len = zmq_msg_size(&f[0]);
    if (rid_len == 0 || rid_len > GS_NET_RID_BYTES_MAX)
        goto out;
    user = zmq_msg_gets(&f[1], "User-Id");
    ev->provisional = false;
    if (user && user[0] == '?') {
        ev->provisional = true;
        user++;
    }
    if (!user || strlen(user) != 2 * GS_NET_CURVE_BYTES ||
        sodium_hex2bin(ev->curve_pk, GS_NET_CURVE_BYTES, user, strlen(user),
                       NULL, &bin_len, NULL) != 0 ||
        bin_len != GS_NET_CURVE_BYTES)
        goto out;
    if (zmq_msg_size(&f[1]) > n->max_msg) {
        ev->kind = GS_NET_TOOBIG; /* its bytes are dropped unread */
        ev->size = zmq_msg_size(&f[1]);
    } else {
        rc = take(&f[1], msg);
        if (rc != GS_OK)
            goto out;
        ev->kind = GS_NET_MSG;
    }
    ev->from.peer = -1;
    memcpy(ev->from.rid, zmq_msg_data(&f[0]), rid_len);
    ev->from.rid_len = rid_len;
    *got_ev = true;
out:
    close_parts(f, got);
    return rc;
}

/* DEALER: one frame from the peer whose server key we pinned. */
static gs_err
read_dealer(gs_net *n, int i, gs_net_event *ev, gs_buf *msg, bool *got_ev)
{
    zmq_msg_t f[1];
    int total, got;
    gs_err rc = GS_OK;

    total = recv_parts(n->peers[i].sock, f, 1, &got);
    if (total < 0)
        return zerr(errno);
    if (total != 1)
        goto out;
    rc = take(&f[0], msg);
    if (rc != GS_OK)
        goto out;
    ev->kind = GS_NET_MSG;
    ev->from.peer = i;
    memcpy(ev->curve_pk, n->peers[i].curve_pk, GS_NET_CURVE_BYTES);
    *got_ev = true;
out:
    close_parts(f, got);
    return rc;
}

static void
refusal(uint16_t event, uint32_t value, char *why, size_t len)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 300)
        say(why, len,
            "the peer could not check our key just now (ZAP "
            "300); ZeroMQ retries");
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 500)
        say(why, len, "the peer's key check failed (ZAP 500); see its log");
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        say(why, len,
            "the peer refused our key (ZAP %u): it must admit this device",
            (unsigned)value);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
            say(why, len,
                "CURVE handshake failed: the peer's key is not "
                "the one we dialed, or ours was refused");
        else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            say(why, len,
                "the peer does not speak CURVE: not a gridsync "
                "agent?");
        else
            say(why, len, "handshake failed: protocol error 0x%08x",
                (unsigned)value);
    } else {
        say(why, len,
            "the peer hung up in the handshake (%s): is its key the one "
            "we dialed?",
            zmq_strerror((int)value));
    }
}

/* One monitor event of peer i; only state changes become events. */
static gs_err
read_monitor(gs_net *n, int i, gs_net_event *ev, bool *got_ev)
{
    struct peer *p = &n->peers[i];
    zmq_msg_t f[1];
    uint16_t event;
    uint32_t value;
    int total, got;

    total = recv_parts(p->mon, f, 1, &got);
    if (total < 0)
        return zerr(errno);
    if (got < 1 || zmq_msg_size(&f[0]) != 6)
        goto out;
    memcpy(&event, zmq_msg_data(&f[0]), 2);
    memcpy(&value, (uint8_t *)zmq_msg_data(&f[0]) + 2, 4);
    ev->from.peer = i;
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        if (!p->up) {
            p->up = true;
            p->refused[0] = '\0';
            ev->kind = GS_NET_UP;
            *got_ev = true;
        }
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (p->up) {
            p->up = false;
            ev->kind = GS_NET_DOWN;
            *got_ev = true;
        }
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        refusal(event, value, ev->why, sizeof ev->why);
        if (strcmp(ev->why, p->refused) != 0) {
            memcpy(p->refused, ev->why, sizeof p->refused);
            ev->kind = GS_NET_REFUSED;
            *got_ev = true;
        }
        break;
    default:
        break;
    }
out:
    close_parts(f, got);
    return GS_OK;
}

static gs_err
read_poke(gs_net *n, gs_net_event *ev, bool *got_ev)
{
    zmq_msg_t f[1];
    int total, got;

    /* Every pending poke, one event: a poke says "look", not what. */
    while ((total = recv_parts(n->poke, f, 1, &got)) > 0) {
        close_parts(f, got);
        *got_ev = true;
    }
    if (total < 0)
        return zerr(errno);
    if (*got_ev)
        ev->kind = GS_NET_POKE;
    return GS_OK;
}

static gs_err
read_source(gs_net *n, int src, gs_net_event *ev, gs_buf *msg, bool *got_ev)
{
    switch (src) {
    case SRC_WAKE:
        drain_pipe(n->wake_rd);
        ev->kind = GS_NET_WAKE;
        *got_ev = true;
        return GS_OK;
    case SRC_POKE:
        return read_poke(n, ev, got_ev);
    case SRC_ROUTER:
        return read_router(n, ev, msg, got_ev);
    default:
        src -= SRC_FIXED;
        if (src % 2 == 0)
            return read_monitor(n, src / 2, ev, got_ev);
        return read_dealer(n, src / 2, ev, msg, got_ev);
    }
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

gs_err
gs_net_recv(gs_net *n, int timeout_ms, gs_net_event *ev, gs_buf *msg)
{
    zmq_pollitem_t items[1 + SRC_MAX];
    int src_of[1 + SRC_MAX];
    int64_t deadline = 0;
    gs_err rc;

    if (!n || !ev || !msg)
        return GS_EINVAL;
    gs_buf_reset(msg);
    if (timeout_ms >= 0)
        deadline = now_ms() + timeout_ms;
    for (;;) {
        long wait = -1;
        int cnt = 0;

        /* Item 0 is the ZAP handler; then the sources, in source order so
         * that a peer's monitor is read before its DEALER (UP first). */
        items[cnt++] = (zmq_pollitem_t){n->zap, 0, ZMQ_POLLIN, 0};
        items[cnt] = (zmq_pollitem_t){NULL, n->wake_rd, ZMQ_POLLIN, 0};
        src_of[cnt++] = SRC_WAKE;
        if (n->poke) {
            items[cnt] = (zmq_pollitem_t){n->poke, 0, ZMQ_POLLIN, 0};
            src_of[cnt++] = SRC_POKE;
        }
        if (n->router) {
            items[cnt] = (zmq_pollitem_t){n->router, 0, ZMQ_POLLIN, 0};
            src_of[cnt++] = SRC_ROUTER;
        }
        for (int i = 0; i < GS_NET_PEERS_MAX; i++) {
            if (!n->peers[i].sock)
                continue;
            items[cnt] = (zmq_pollitem_t){n->peers[i].mon, 0, ZMQ_POLLIN, 0};
            src_of[cnt++] = SRC_FIXED + 2 * i;
            items[cnt] = (zmq_pollitem_t){n->peers[i].sock, 0, ZMQ_POLLIN, 0};
            src_of[cnt++] = SRC_FIXED + 2 * i + 1;
        }
        if (timeout_ms >= 0) {
            int64_t left = deadline - now_ms();
            wait = left > 0 ? (long)left : 0;
        }
        if (zmq_poll(items, cnt, wait) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            return zerr(zmq_errno());
        }
        /* Handshakes wait on these answers: all pending first (a few at
         * a time, so a flood of dialers cannot starve the rest). */
        if (items[0].revents & ZMQ_POLLIN)
            for (int k = 0; k < ZAP_BURST && zap_serve(n); k++)
                ;
        /* Sources in turn, starting after the last one that gave an
         * event, so a busy peer cannot starve the others. */
        for (int k = 0; k < cnt - 1; k++) {
            int j = 1 + (int)((n->turn + (unsigned)k) % (unsigned)(cnt - 1));
            bool got_ev = false;

            if (!(items[j].revents & ZMQ_POLLIN))
                continue;
            memset(ev, 0, sizeof *ev);
            ev->from.peer = -1;
            rc = read_source(n, src_of[j], ev, msg, &got_ev);
            if (rc != GS_OK)
                return rc;
            if (got_ev) {
                n->turn = (unsigned)j; /* next call starts after j */
                return GS_OK;
            }
        }
        if (timeout_ms >= 0 && now_ms() >= deadline)
            return GS_ETIMEOUT;
    }
}

void
gs_net_wake(gs_net *n)
{
    ssize_t r;

    if (!n)
        return;
    /* A full pipe (EAGAIN) means a wake is pending already. */
    do
        r = write(n->wake_wr, "w", 1);
    while (r < 0 && errno == EINTR);
}

/* ---- poke ---- */

gs_err
gs_net_poke(const char *poke_endpoint)
{
    void *ctx, *s;
    gs_err rc = GS_OK;

    if (!poke_endpoint || strncmp(poke_endpoint, "ipc://", 6) != 0 ||
        !poke_endpoint[6])
        return GS_EINVAL;
    /* No socket file, no agent: the poke would wait out its linger in the
     * queue (every put and import without an agent, 100 ms) */
    if (access(poke_endpoint + 6, F_OK) != 0)
        return GS_ENOTFOUND;
    ctx = zmq_ctx_new();
    if (!ctx)
        return GS_EIO;
    s = zmq_socket(ctx, ZMQ_PUSH);
    if (!s) {
        rc = GS_EIO;
        goto out;
    }
    /* Not ZMQ_IMMEDIATE: the connect completes after we send, so the
     * poke waits in the queue for up to the linger. */
    if (set_int(s, ZMQ_LINGER, POKE_LINGER_MS) || set_int(s, ZMQ_SNDHWM, 1)) {
        rc = GS_EIO;
        goto out;
    }
    if (zmq_connect(s, poke_endpoint) != 0) {
        rc = zerr(zmq_errno());
        if (rc != GS_EINVAL && rc != GS_ENOMEM)
            rc = GS_EIO;
        goto out;
    }
    /* EAGAIN: nobody to take it; then nobody needed the poke. */
    (void)zmq_send(s, "", 0, ZMQ_DONTWAIT);
out:
    if (s)
        zmq_close(s);
    while (zmq_ctx_term(ctx) != 0 && zmq_errno() == EINTR)
        ;
    return rc;
}
