/*
 * agent.c — the sync agent: one thread, one event loop over the transport
 * (net/transport.c), running sync sessions (net/session.c) with every
 * connected peer (docs/protocol.md §4).
 *
 * Connections. A configured peer (agent.peers, DEVICE_KEY@ENDPOINT) is
 * dialed; a device that dials us arrives on the ROUTER, admitted by the
 * ZAP handler if its key is in agent.peers or agent.accept. Either side of
 * a connection may start a session over it; at most one session runs per
 * connection. When both start at once the listener (ROUTER) side yields:
 * it drops its own and answers the dialer's.
 *
 * When a session starts: with a dialed peer when its connection comes up
 * and every agent.sync_interval seconds (after a failure: backoff from 1 s,
 * doubling up to the interval); with any peer that asked for gossip as
 * soon as this replica has new ops — a poke from a local writer, or ops a
 * session brought in from another peer (that is the relay). New ops during
 * a session mark the connection dirty; another session follows at once.
 *
 * A peer that breaks the protocol (bad frames, bad signatures, wrong
 * network or version) gets an ERROR, its session ends, the reason is
 * counted and its key is ignored for GS_AGENT_BAN_S seconds; other peers
 * are not affected.
 *
 * Status: DIR/agent.status (JSON, replaced atomically at most once a
 * second when something changed) is what `gridsync status` shows.
 */
#include "gridsync.h"

#include "config.h"
#include "err.h"
#include "identity.h"
#include "replica_int.h"
#include "session.h"
#include "transport.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX 256
#define SESSION_IDLE_S 30.0 /* a session with no message for this long ends */
/* An inbound peer shows its link only by its messages (ZeroMQ reports no
 * disconnect per ROUTER peer): one not heard from for this long is shown
 * as not connected (status), though gossip still tries it; one silent in
 * a session for SESSION_IDLE_S is taken as gone. */
#define INBOUND_SEEN_S 120.0
#define BAN_S 60.0
#define TICK_MS 200
#define LOCK_FILE "agent.lock"
#define STATUS_FILE "agent.status"
#define POKE_FILE "agent.poke"

struct conn {
    bool used, dialed, up, gossip, dirty, banned_once;
    bool quiet; /* inbound, not heard from for INBOUND_SEEN_S */
    bool provisional; /* inbound, admitted to show its token in HELLO */
    int peer; /* dialed: transport handle */
    uint8_t rid[GS_NET_RID_BYTES_MAX];
    size_t rid_len;
    uint8_t curve[32];
    uint8_t device[GS_KEY_BYTES];
    bool device_known;
    char endpoint[256];
    gs_session *sess;
    bool sess_mine;
    uint32_t next_id;
    double sess_start, last_rx, next_sync, backoff;
    /* for status */
    time_t last_contact;
    uint64_t sessions_ok, sessions_failed, ops_in, ops_out, bytes_in,
        bytes_out;
    uint64_t rejected[GS_ERR_COUNT_];
    uint64_t owes_us, we_owe; /* ops, as the last session left them */
    gs_err last_error;
    char refused[128];
};

struct ban {
    uint8_t curve[32];
    double until;
};

/* The scopes a session we dial reconciles (wanted_scopes). */
struct wanted {
    char v[GS_SESSION_READ_MAX][GS_SCOPE_BYTES_MAX + 1];
    const char *p[GS_SESSION_READ_MAX + 1];
    size_t n;
};

/* A growable list of CURVE public keys. */
struct keyset {
    uint8_t (*k)[32];
    size_t n, cap;
    bool short_; /* a key could not be added (out of memory) */
};

struct gs_agent {
    gs_replica *r;
    bool owns_r; /* opened by gs_agent_run; gs_agent_start borrows it */
    gs_store *st;
    const uint8_t *network;
    const gs_identity *id;
    gs_net *net;
    gs_agent_log_fn log;
    void *log_ctx;
    int lock_fd;
    char dir[4096];
    char endpoint[256];
    struct wanted *wanted; /* the scopes sessions reconcile, per session */
    double interval;
    struct conn conns[CONNS_MAX];
    struct ban bans[16];
    uint8_t accept[CONNS_MAX][32]; /* curve keys admitted */
    size_t n_accept;
    /* CURVE keys of enrolled devices and of revoked ones (store/trust.h),
     * read again whenever the authority's trust feed has moved */
    struct keyset enrolled, revoked;
    uint64_t trust_seq;
    bool trust_read;
    uint64_t hostile[GS_ERR_COUNT_];
    uint64_t refused_keys; /* handshakes refused: key not accepted */
    double refused_logged;
    uint8_t refused_last[32]; /* the key refused_logged is about */
    /* our admission token (store/trust.h), from our certificate */
    uint8_t token[GS_TRUST_TOKEN_BYTES];
    bool has_token;
    bool status_dirty;
    double status_at;
    gs_buf msg;
    /* thread mode: gs_agent_stop sets stop from the app's thread */
    pthread_t thread;
    atomic_int stop;
};

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void
logf_(gs_agent *a, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (a->log) {
        a->log(line, a->log_ctx);
        return;
    }
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
    fprintf(stderr, "%s gridsync agent: %s\n", ts, line);
}

static void
hex8(const uint8_t *k, char out[17])
{
    sodium_bin2hex(out, 17, k, 8);
}

static const char *
label(const struct conn *c, char *buf, size_t n)
{
    char h[17] = "?";
    if (c->device_known)
        hex8(c->device, h);
    if (c->dialed)
        snprintf(buf, n, "%s… at %s", h, c->endpoint);
    else
        snprintf(buf, n, "%s… (inbound)", h);
    return buf;
}

/* ---- admission ---- */

static bool
banned(gs_agent *a, const uint8_t curve[32])
{
    double now = mono();
    for (size_t i = 0; i < sizeof a->bans / sizeof a->bans[0]; i++)
        if (a->bans[i].until > now && !memcmp(a->bans[i].curve, curve, 32))
            return true;
    return false;
}

static void
ban(gs_agent *a, const uint8_t curve[32])
{
    size_t oldest = 0;
    for (size_t i = 0; i < sizeof a->bans / sizeof a->bans[0]; i++)
        if (a->bans[i].until < a->bans[oldest].until)
            oldest = i;
    memcpy(a->bans[oldest].curve, curve, 32);
    a->bans[oldest].until = mono() + BAN_S;
}

static bool
keyset_has(const struct keyset *ks, const uint8_t k[32])
{
    for (size_t i = 0; i < ks->n; i++)
        if (!sodium_memcmp(ks->k[i], k, 32))
            return true;
    return false;
}

/* Add the CURVE key of the device whose Ed25519 key is the entity id. */
static int
keyset_add_entity(const gs_entity *e, void *ctx)
{
    struct keyset *ks = ctx;
    uint8_t ed[32];
    if (gs_identity_hex_decode(e->id, e->id_n, ed) != GS_OK)
        return 0;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? 2 * ks->cap : 64;
        void *p = realloc(ks->k, cap * sizeof *ks->k);
        if (!p) {
            ks->short_ = true;
            return 1;
        }
        ks->k = p;
        ks->cap = cap;
    }
    if (gs_net_curve_keys(ed, NULL, ks->k[ks->n], NULL) == GS_OK)
        ks->n++;
    return 0;
}

/* Read the enrolled and revoked devices again if the authority's trust
 * feed has moved since the last look (one read transaction when not). */
static void
trust_refresh(gs_agent *a)
{
    gs_feed_head h;
    const gs_slice trust = {(const uint8_t *)GS_TRUST_SCOPE,
                            sizeof GS_TRUST_SCOPE - 1};
    if (gs_store_feed_head(a->st, a->network, trust, &h) != GS_OK) {
        a->trust_read = false; /* admit fails closed until read */
        return;
    }
    if (a->trust_read && h.seq == a->trust_seq)
        return;
    a->trust_read = false;
    a->enrolled.n = a->revoked.n = 0;
    a->enrolled.short_ = a->revoked.short_ = false;
    const gs_slice cert = {(const uint8_t *)GS_TRUST_CERT,
                           sizeof GS_TRUST_CERT - 1};
    const gs_slice rev = {(const uint8_t *)GS_TRUST_REVOCATION,
                          sizeof GS_TRUST_REVOCATION - 1};
    if (gs_store_entity_each(a->st, cert, keyset_add_entity, &a->enrolled) ||
        gs_store_entity_each(a->st, rev, keyset_add_entity, &a->revoked) ||
        a->enrolled.short_ || a->revoked.short_)
        return; /* read again next time */
    a->trust_seq = h.seq;
    a->trust_read = true;
    a->has_token = gs_trust_token_get(a->st, a->network, a->id->pk, a->token);
}

/* If the certificates say we are revoked, let go of what we may no
 * longer read (at start, and after each session that brought ops). */
static void
purge_if_revoked(gs_agent *a)
{
    gs_store_purge_result pr;
    gs_err rc = gs_trust_purge(a->st, a->network, a->id->pk, &pr);
    if (rc != GS_OK)
        logf_(a, "this device is revoked, and removing the data it may no "
                 "longer read failed: %s; it is tried again after the next "
                 "session",
              gs_strerror(rc));
    else if (pr.feeds)
        logf_(a, "this device is revoked: removed %llu ops of %llu feeds it "
                 "may no longer read (its own writes and the certificates "
                 "stay)",
              (unsigned long long)pr.ops, (unsigned long long)pr.feeds);
}

/* gs_session_read_fn over a store: the authority reads everything; an
 * enrolled device what its certificate's read scopes say; a device whose
 * certificate has not reached this replica, only `trust`. */
static int
store_read_scopes(gs_store *st, const uint8_t *network,
                  const uint8_t device[GS_KEY_BYTES],
                  char (*out)[GS_SCOPE_BYTES_MAX + 1], size_t max)
{
    return gs_trust_read_scopes(st, network, device, out, max);
}

static int
sync_read_scopes(const uint8_t device[GS_KEY_BYTES],
                 char (*out)[GS_SCOPE_BYTES_MAX + 1], size_t max, void *ctx)
{
    gs_replica *r = ctx;
    return store_read_scopes(gs_replica_store(r), gs_replica_network(r),
                             device, out, max);
}

static int
agent_read_scopes(const uint8_t device[GS_KEY_BYTES],
                  char (*out)[GS_SCOPE_BYTES_MAX + 1], size_t max, void *ctx)
{
    gs_agent *a = ctx;
    return store_read_scopes(a->st, a->network, device, out, max);
}

/* Log a refused device: a peer redialing every second is one line per
 * 10 s, not spam. */
static void
refused_log(gs_agent *a, const uint8_t curve_pk[32], const char *why)
{
    a->refused_keys++;
    a->status_dirty = true;
    if (mono() - a->refused_logged > 10.0 ||
        sodium_memcmp(a->refused_last, curve_pk, 32) != 0) {
        memcpy(a->refused_last, curve_pk, 32);
        char h[17];
        hex8(curve_pk, h);
        logf_(a, "refused a device at the handshake: %s (CURVE key %s…); "
                 "%llu refused so far",
              why, h, (unsigned long long)a->refused_keys);
        a->refused_logged = mono();
    }
}

/* The transport's ZAP decision (DESIGN §5): the authority, enrolled
 * devices and the keys of agent.peers / agent.accept are let in; a
 * revoked device never is; any other device is let in only to present
 * its admission token in HELLO (hello_check), for a replica that has not
 * heard of its certificate yet. */
static int
admit(const uint8_t curve_pk[32], void *ctx)
{
    gs_agent *a = ctx;
    uint8_t auth[32];
    const char *why;
    if (banned(a, curve_pk))
        return GS_NET_REFUSE;
    trust_refresh(a);
    if (!a->trust_read) {
        /* fail closed: without the revocations nobody is let in */
        why = "this replica could not read its certificates just now";
    } else if (keyset_has(&a->revoked, curve_pk)) {
        why = "revoked by the district authority";
    } else {
        if (gs_net_curve_keys(a->network, NULL, auth, NULL) == GS_OK &&
            !sodium_memcmp(auth, curve_pk, 32))
            return GS_NET_ADMIT;
        if (keyset_has(&a->enrolled, curve_pk))
            return GS_NET_ADMIT;
        for (size_t i = 0; i < a->n_accept; i++)
            if (!sodium_memcmp(a->accept[i], curve_pk, 32))
                return GS_NET_ADMIT;
        return GS_NET_ADMIT_HELLO;
    }
    refused_log(a, curve_pk, why);
    return GS_NET_REFUSE;
}

/* A device admitted only to make its case (GS_NET_ADMIT_HELLO): its HELLO
 * must carry the authority's admission token for its key, else the
 * session ends with GS_EDENIED and it learns why from the ERROR. */
static gs_err
hello_check(const gs_wire_hello *h, void *ctx)
{
    gs_agent *a = ctx;
    uint8_t curve[32];
    if (crypto_sign_ed25519_pk_to_curve25519(curve, h->device) != 0)
        memset(curve, 0, sizeof curve);
    trust_refresh(a);
    if (keyset_has(&a->revoked, curve)) {
        refused_log(a, curve, "revoked by the district authority");
        return GS_EDENIED;
    }
    if (gs_trust_token_verify(a->network, h->device, h->cert.p, h->cert.n)) {
        char d[17];
        hex8(h->device, d);
        logf_(a, "admitted device %s…, not enrolled here yet, on its "
                 "admission token; its certificate comes with its `trust`",
              d);
        return GS_OK;
    }
    refused_log(a, curve,
                "not enrolled by the district authority (no certificate "
                "here, no admission token in its HELLO) nor in agent.peers "
                "or agent.accept");
    return GS_EDENIED;
}

static gs_err
accept_key(gs_agent *a, const char *hex, size_t n)
{
    uint8_t ed[32];
    size_t len;
    if (a->n_accept == CONNS_MAX)
        return GS_ETOOBIG;
    if (sodium_hex2bin(ed, 32, hex, n, NULL, &len, NULL) != 0 || len != 32)
        return GS_EINVAL;
    return gs_net_curve_keys(ed, NULL, a->accept[a->n_accept++], NULL);
}

/* ---- connections ---- */

static struct conn *
conn_new(gs_agent *a)
{
    for (size_t i = 0; i < CONNS_MAX; i++)
        if (!a->conns[i].used) {
            struct conn *c = &a->conns[i];
            memset(c, 0, sizeof *c);
            c->used = true;
            c->peer = -1;
            randombytes_buf(&c->next_id, sizeof c->next_id);
            return c;
        }
    /* full: reuse the inbound connection idle the longest, one of a key
     * let in only to show its HELLO first (anyone can make those; they
     * must not push out enrolled peers) */
    struct conn *old = NULL;
    for (size_t i = 0; i < CONNS_MAX; i++) {
        struct conn *c = &a->conns[i];
        if (c->dialed || c->sess)
            continue;
        if (!old || (c->provisional && !old->provisional) ||
            (c->provisional == old->provisional && c->last_rx < old->last_rx))
            old = c;
    }
    if (old) {
        memset(old, 0, sizeof *old);
        old->used = true;
        old->peer = -1;
    }
    return old;
}

static struct conn *
conn_of(gs_agent *a, const gs_net_event *ev)
{
    for (size_t i = 0; i < CONNS_MAX; i++) {
        struct conn *c = &a->conns[i];
        if (!c->used)
            continue;
        if (ev->from.peer >= 0 ? c->dialed && c->peer == ev->from.peer
                               : !c->dialed && c->rid_len == ev->from.rid_len &&
                                     !memcmp(c->rid, ev->from.rid,
                                             c->rid_len))
            return c;
    }
    return NULL;
}

static gs_net_addr
addr_of(const struct conn *c)
{
    gs_net_addr to;
    memset(&to, 0, sizeof to);
    to.peer = c->dialed ? c->peer : -1;
    memcpy(to.rid, c->rid, c->rid_len);
    to.rid_len = c->rid_len;
    return to;
}

static void
mark_all_dirty(gs_agent *a, const struct conn *except)
{
    for (size_t i = 0; i < CONNS_MAX; i++)
        if (a->conns[i].used && &a->conns[i] != except)
            a->conns[i].dirty = true;
}

static bool
hostile_code(gs_err rc)
{
    switch (rc) {
    case GS_EMALFORMED:
    case GS_ETRUNC:
    case GS_ETOOBIG:
    case GS_ENONCANON:
    case GS_EUTF8:
    case GS_EVERSION:
    case GS_ENETWORK:
    case GS_EBADSIG:
    case GS_EPROTO:
    case GS_EDENIED:
    case GS_ECHAIN:
    case GS_ENOSIG:
        return true;
    default:
        return false;
    }
}

/* What a session still owes: ops promised (listed or asked) but not yet
 * moved. 0 after a session that ended well. */
static uint64_t
owed(const gs_session_stats *s, bool to_us)
{
    uint64_t done = to_us ? s->ops_in + s->ops_known + s->rejected
                          : s->ops_out;
    uint64_t promised = to_us ? s->ops_promised_in : s->ops_promised_out;
    return promised > done ? promised - done : 0;
}

static void
end_session(gs_agent *a, struct conn *c, gs_err rc)
{
    char lb[320];
    const gs_session_stats *s = gs_session_stats_get(c->sess);
    double dt = mono() - c->sess_start;
    if (rc == GS_OK)
        rc = gs_session_result(c->sess);
    /* a device we refused for want of a certificate or token is not
     * hostile (it may come back enrolled), nor one to gossip to */
    bool refused_hello = rc == GS_EDENIED && c->provisional;
    if (s->peer_error == GS_OK && !c->device_known && !refused_hello &&
        !sodium_is_zero(s->peer_device, GS_KEY_BYTES)) {
        memcpy(c->device, s->peer_device, GS_KEY_BYTES);
        c->device_known = true;
    }
    if ((s->peer_flags & GS_WIRE_FLAG_GOSSIP) && !refused_hello)
        c->gossip = true;
    c->ops_in += s->ops_in;
    c->ops_out += s->ops_out;
    c->bytes_in += s->bytes_in;
    c->bytes_out += s->bytes_out;
    for (int i = 0; i < GS_ERR_COUNT_; i++)
        c->rejected[i] += s->rejected_by_reason[i];
    c->last_error = rc;
    c->owes_us = owed(s, true);
    c->we_owe = owed(s, false);
    if (rc == GS_OK) {
        c->sessions_ok++;
        c->backoff = 0;
        c->next_sync = mono() + a->interval;
    } else {
        c->sessions_failed++;
        c->backoff = c->backoff ? c->backoff * 2 : 1;
        if (c->backoff > a->interval)
            c->backoff = a->interval;
        c->next_sync = mono() + c->backoff;
    }
    logf_(a,
          "session with %s: %s; ops in %llu (known %llu, refused %llu) out "
          "%llu; bytes in %llu out %llu; %.2f s",
          label(c, lb, sizeof lb), rc == GS_OK ? "ok" : gs_errname(rc),
          (unsigned long long)s->ops_in, (unsigned long long)s->ops_known,
          (unsigned long long)s->rejected, (unsigned long long)s->ops_out,
          (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
          dt);
    if (s->ops_in) {
        mark_all_dirty(a, c); /* relay what this peer brought */
        trust_refresh(a);     /* and look at the certificates it brought */
        purge_if_revoked(a);
    }
    if (s->suspects)
        c->dirty = true; /* ask this peer again, from seq 1 */
    if (s->forks) {
        /* a feed froze: every peer, this one too, is to hear of it (it
         * may hold the other branch) */
        mark_all_dirty(a, NULL);
        if (s->forks)
            logf_(a, "session with %s: a device signed two histories; its "
                     "feed is frozen; see 'gridsync forks'",
                  lb);
        if (s->suspects)
            logf_(a, "session with %s: %llu run(s) did not follow on from "
                     "what we hold (a fork below our head, or a broken "
                     "peer); asking for those feeds from their start",
                  lb, (unsigned long long)s->suspects);
    }
    if (s->peer_error == GS_EDENIED)
        logf_(a, "peer %s refused us: this device is not enrolled there, "
                 "or was revoked; ask the district to enroll its key "
                 "(gridsync authority enroll), then bring this device the "
                 "district's bundle so that it can show its certificate",
              lb);
    if (rc != GS_OK && hostile_code(rc) && s->peer_error == GS_OK &&
        !refused_hello) {
        a->hostile[rc]++;
        ban(a, c->curve);
        logf_(a, "peer %s broke the protocol (%s: %s); ignoring its key for "
                 "%d s",
              lb, gs_errname(rc), gs_strerror(rc), (int)BAN_S);
        /* an inbound connection stays listed, idle, so that status keeps
         * its refusals by reason; on_message drops what it sends while
         * the ban lasts, and conn_new may recycle it */
        if (!c->dialed)
            c->up = false;
    }
    gs_session_free(c->sess);
    c->sess = NULL;
    a->status_dirty = true;
}

/* Send what the session queued; end it if it is over. */
static void
flush(gs_agent *a, struct conn *c)
{
    gs_slice m;
    gs_net_addr to = addr_of(c);
    gs_err rc = GS_OK;
    while (gs_session_next(c->sess, &m))
        if (rc == GS_OK)
            rc = gs_net_send(a->net, &to, m.p, m.n);
    if (rc != GS_OK) {
        end_session(a, c, rc);
        return;
    }
    if (gs_session_over(c->sess))
        end_session(a, c, GS_OK);
}

static gs_err wanted_scopes(gs_store *st, const uint8_t *network,
                            const uint8_t *self, const gs_config *cfg,
                            struct wanted *w, char *why, size_t why_len);

static void
start_session(gs_agent *a, struct conn *c)
{
    gs_session_opts o;
    if (!c->device_known)
        return; /* an inbound peer names itself in its own session first */
    if (wanted_scopes(a->st, a->network, a->id->pk, gs_replica_cfg(a->r),
                      a->wanted, NULL, 0) != GS_OK)
        return;
    memset(&o, 0, sizeof o);
    o.store = a->st;
    o.network = a->network;
    o.device = a->id->pk;
    o.peer_curve = c->curve;
    o.dialer = true;
    o.scopes = a->wanted->p;
    o.n_scopes = a->wanted->n;
    o.read_fn = agent_read_scopes;
    o.read_ctx = a;
    o.peer_device = c->device;
    trust_refresh(a);
    if (a->has_token) /* for a peer that has not heard of us yet */
        o.cert = gs_slice_of(a->token, sizeof a->token);
    c->next_id = (c->next_id + 1) & 0x7fffffffu;
    o.id = c->next_id | (c->dialed ? 0 : 0x80000000u);
    o.gossip = true;
    c->dirty = false;
    if (gs_session_new(&o, &c->sess) != GS_OK) {
        c->sess = NULL;
        return;
    }
    c->sess_mine = true;
    c->sess_start = c->last_rx = mono();
    gs_err rc = gs_session_start(c->sess);
    if (rc != GS_OK) {
        end_session(a, c, rc);
        return;
    }
    flush(a, c);
}

static void
on_message(gs_agent *a, const gs_net_event *ev, const gs_buf *msg)
{
    struct conn *c = conn_of(a, ev);
    uint8_t type;
    uint32_t id;
    if (banned(a, ev->curve_pk))
        return;
    if (!c) {
        if (ev->from.peer >= 0 || !(c = conn_new(a)))
            return;
        memcpy(c->rid, ev->from.rid, ev->from.rid_len);
        c->rid_len = ev->from.rid_len;
        memcpy(c->curve, ev->curve_pk, 32);
    }
    if (!c->dialed) {
        c->up = true; /* a message is all an inbound peer shows of its link */
        c->provisional = ev->provisional;
    }
    c->last_rx = mono();
    c->last_contact = time(NULL);
    a->status_dirty = true;
    gs_err rc = gs_session_peek(msg->data, msg->len, &type, &id);
    /* A HELLO starts a session. So does a message without a readable
     * header (too short, another version) outside a session: a session
     * answers it with ERROR GS_EMALFORMED or GS_EVERSION and end_session
     * counts it (docs/protocol.md §6); a well-formed message of no session
     * is a late reply and is dropped. */
    if ((rc == GS_OK && type == GS_WIRE_HELLO &&
         (!c->sess || (c->sess_mine && !c->dialed))) ||
        (rc != GS_OK && !c->sess)) {
        if (c->sess) { /* both started: the listener side yields */
            gs_session_free(c->sess);
            c->sess = NULL;
            c->dirty = true;
        }
        gs_session_opts o;
        memset(&o, 0, sizeof o);
        o.store = a->st;
        o.network = a->network;
        o.device = a->id->pk;
        o.peer_curve = c->curve;
        o.gossip = true;
        o.read_fn = agent_read_scopes;
        o.read_ctx = a;
        if (c->provisional) { /* let in to show its token (admit) */
            o.hello_fn = hello_check;
            o.hello_ctx = a;
        }
        if (gs_session_new(&o, &c->sess) != GS_OK) {
            c->sess = NULL;
            return;
        }
        c->sess_mine = false;
        c->sess_start = mono();
    } else if (!c->sess) {
        return; /* a late message of a session gone */
    }
    /* a failed session queued its ERROR; flush sends it and ends it */
    if (gs_session_recv(c->sess, msg->data, msg->len) != GS_OK &&
        !gs_session_over(c->sess))
        return;
    flush(a, c);
}

/* A connecting peer sent a message over the limit (docs/protocol.md §6):
 * counted and logged like any broken session, its key ignored a while. */
static void
on_toobig(gs_agent *a, const gs_net_event *ev)
{
    char h[17];
    if (banned(a, ev->curve_pk))
        return;
    struct conn *c = conn_of(a, ev);
    if (c && c->sess) {
        gs_session_free(c->sess);
        c->sess = NULL;
    }
    if (c && !c->dialed)
        c->up = false;
    a->hostile[GS_ETOOBIG]++;
    ban(a, ev->curve_pk);
    hex8(ev->curve_pk, h);
    logf_(a, "peer (CURVE key %s…) broke the protocol (GS_ETOOBIG: a "
             "message of %zu bytes, over the limit of %zu); ignoring its "
             "key for %d s",
          h, ev->size, (size_t)GS_WIRE_MSG_MAX, (int)BAN_S);
    a->status_dirty = true;
}

static void
on_event(gs_agent *a, const gs_net_event *ev)
{
    struct conn *c = conn_of(a, ev);
    char lb[320];
    switch (ev->kind) {
    case GS_NET_MSG:
        on_message(a, ev, &a->msg);
        break;
    case GS_NET_POKE:
        mark_all_dirty(a, NULL);
        break;
    case GS_NET_TOOBIG:
        on_toobig(a, ev);
        break;
    case GS_NET_UP:
        if (c) {
            c->up = true;
            c->refused[0] = 0;
            c->next_sync = 0; /* sync at once */
            c->last_contact = time(NULL);
            a->status_dirty = true;
        }
        break;
    case GS_NET_DOWN:
        if (c) {
            c->up = false;
            if (c->sess)
                end_session(a, c, GS_ECLOSED);
            a->status_dirty = true;
        }
        break;
    case GS_NET_REFUSED:
        if (c && strcmp(c->refused, ev->why) != 0) {
            snprintf(c->refused, sizeof c->refused, "%s", ev->why);
            logf_(a, "peer %s refused us: %s; this device may not be "
                     "enrolled yet or was revoked: ask the district to "
                     "enroll its key (gridsync authority enroll)",
                  label(c, lb, sizeof lb), ev->why);
            a->status_dirty = true;
        }
        break;
    case GS_NET_WAKE:
        break;
    }
}

static void
tick(gs_agent *a)
{
    double now = mono();
    for (size_t i = 0; i < CONNS_MAX; i++) {
        struct conn *c = &a->conns[i];
        if (!c->used)
            continue;
        if (c->sess && now - c->last_rx > SESSION_IDLE_S) {
            end_session(a, c, GS_ETIMEOUT);
            if (!c->dialed)
                c->up = false; /* gone silent in a session: gone */
            continue;
        }
        bool quiet = !c->dialed && now - c->last_rx > INBOUND_SEEN_S;
        if (quiet != c->quiet) { /* status shows it; gossip still tries */
            c->quiet = quiet;
            a->status_dirty = true;
        }
        if (c->sess || !c->up)
            continue;
        if (c->dialed ? (now >= c->next_sync || (c->dirty && !c->backoff))
                      : (c->dirty && c->gossip))
            start_session(a, c);
    }
}

/* ---- status ---- */

static json_t *
reasons(const uint64_t *counts)
{
    json_t *o = json_object();
    for (int i = 1; i < GS_ERR_COUNT_; i++)
        if (counts[i])
            json_object_set_new(o, gs_errname((gs_err)i),
                                json_integer((json_int_t)counts[i]));
    return o;
}

static void
write_status(gs_agent *a, bool running)
{
    char path[4200], tmp[4210], hex[65], ts[32];
    json_t *root = json_object(), *peers = json_array();
    time_t t = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    sodium_bin2hex(hex, sizeof hex, a->id->pk, 32);
    json_object_set_new(root, "running", json_boolean(running));
    json_object_set_new(root, "pid", json_integer(getpid()));
    json_object_set_new(root, "updated", json_string(ts));
    json_object_set_new(root, "device", json_string(hex));
    json_object_set_new(root, "endpoint", json_string(a->endpoint));
    json_object_set_new(root, "hostile", reasons(a->hostile));
    json_object_set_new(root, "refused_handshakes",
                        json_integer((json_int_t)a->refused_keys));
    for (size_t i = 0; i < CONNS_MAX; i++) {
        const struct conn *c = &a->conns[i];
        if (!c->used)
            continue;
        json_t *p = json_object();
        char dev[65] = "";
        if (c->device_known)
            sodium_bin2hex(dev, sizeof dev, c->device, 32);
        json_object_set_new(p, "device",
                            c->device_known ? json_string(dev) : json_null());
        json_object_set_new(p, "direction",
                            json_string(c->dialed ? "out" : "in"));
        json_object_set_new(p, "endpoint", c->dialed
                                               ? json_string(c->endpoint)
                                               : json_null());
        json_object_set_new(p, "connected", json_boolean(c->up && !c->quiet));
        if (c->last_contact) {
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ",
                     gmtime_r(&c->last_contact, &tm));
            json_object_set_new(p, "last_contact", json_string(ts));
        } else {
            json_object_set_new(p, "last_contact", json_null());
        }
        json_object_set_new(p, "syncing", json_boolean(c->sess != NULL));
        const gs_session_stats *ss = c->sess ? gs_session_stats_get(c->sess)
                                             : NULL;
        json_object_set_new(
            p, "ops_it_owes_us",
            json_integer((json_int_t)(ss ? owed(ss, true) : c->owes_us)));
        json_object_set_new(
            p, "ops_we_owe_it",
            json_integer((json_int_t)(ss ? owed(ss, false) : c->we_owe)));
        json_object_set_new(p, "in_sync",
                            json_boolean(c->up && !c->sess && !c->dirty &&
                                         c->sessions_ok &&
                                         c->last_error == GS_OK));
        json_object_set_new(p, "sessions_ok",
                            json_integer((json_int_t)c->sessions_ok));
        json_object_set_new(p, "sessions_failed",
                            json_integer((json_int_t)c->sessions_failed));
        json_object_set_new(p, "ops_in", json_integer((json_int_t)c->ops_in));
        json_object_set_new(p, "ops_out",
                            json_integer((json_int_t)c->ops_out));
        json_object_set_new(p, "bytes_in",
                            json_integer((json_int_t)c->bytes_in));
        json_object_set_new(p, "bytes_out",
                            json_integer((json_int_t)c->bytes_out));
        json_object_set_new(p, "rejected", reasons(c->rejected));
        json_object_set_new(p, "last_error",
                            c->last_error ? json_string(gs_errname(c->last_error))
                                          : json_null());
        json_object_set_new(p, "refused_us", c->refused[0]
                                                 ? json_string(c->refused)
                                                 : json_null());
        json_array_append_new(peers, p);
    }
    json_object_set_new(root, "peers", peers);
    snprintf(path, sizeof path, "%s/%s", a->dir, STATUS_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (json_dump_file(root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) == 0)
        (void)rename(tmp, path);
    json_decref(root);
    a->status_dirty = false;
    a->status_at = mono();
}

/* ---- setup ---- */


/* The scopes a session we dial reconciles, in order: `trust` first, which
 * every replica follows (certificates before the ops they admit), then
 * the read scopes of our certificate; before our certificate has come
 * (or for the authority), the first label of the replica's scope ("yc" of
 * "yc.yimei.g012") — the peer serves us only what we may read anyway. */
static gs_err
wanted_scopes(gs_store *st, const uint8_t *network, const uint8_t *self,
              const gs_config *cfg, struct wanted *w, char *why,
              size_t why_len)
{
    const gs_slice trust = {(const uint8_t *)GS_TRUST_SCOPE,
                            sizeof GS_TRUST_SCOPE - 1};
    w->n = 0;
    w->p[w->n++] = GS_TRUST_SCOPE;
    int k = store_read_scopes(st, network, self, w->v, GS_SESSION_READ_MAX);
    char hex[65];
    gs_entity rev;
    gs_trust_id(self, hex);
    if (k == 0 && gs_store_entity_get(st,
                                      gs_slice_of(GS_TRUST_REVOCATION,
                                                  strlen(GS_TRUST_REVOCATION)),
                                      gs_slice_of(hex, 64), &rev) == GS_OK) {
        /* revoked: we may read nothing but the certificates */
        gs_entity_fini(&rev);
        w->n = 1;
        return GS_OK;
    }
    if (k <= 0) {
        const char *s = gs_config_get(cfg, "replica.scope");
        size_t n = s ? strcspn(s, ".") : 0;
        if (n == 0 || n > GS_SCOPE_BYTES_MAX)
            return gs_why(why, why_len, GS_EINVAL,
                           "replica.scope is not set; set it with "
                           "'gridsync config set replica.scope ORG.PATH'");
        memcpy(w->v[0], s, n);
        w->v[0][n] = 0;
        k = 1;
    }
    /* each scope once: none inside trust or inside another listed one */
    for (int i = 0; i < k; i++) {
        gs_slice si = gs_slice_of(w->v[i], strlen(w->v[i]));
        bool inside = gs_scope_covers(trust, si);
        for (int j = 0; j < k && !inside; j++) {
            gs_slice sj = gs_slice_of(w->v[j], strlen(w->v[j]));
            inside = j != i && gs_scope_covers(sj, si) &&
                     (si.n != sj.n || j < i);
        }
        if (!inside)
            w->p[w->n++] = w->v[i];
    }
    return GS_OK;
}

/* Call fn on each comma-separated item of list, trimmed. */
static gs_err
each_item(const char *list, gs_err (*fn)(gs_agent *, const char *, size_t),
          gs_agent *a)
{
    const char *p = list;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *q = p;
        while (n && (*q == ' ' || *q == '\t'))
            q++, n--;
        while (n && (q[n - 1] == ' ' || q[n - 1] == '\t'))
            n--;
        if (n) {
            gs_err rc = fn(a, q, n);
            if (rc != GS_OK)
                return rc;
        }
        p = comma ? comma + 1 : NULL;
    }
    return GS_OK;
}

static gs_err
add_peer(gs_agent *a, const char *item, size_t n)
{
    const char *at = memchr(item, '@', n);
    struct conn *c;
    gs_err rc;
    if (!at || at - item != 64 || n - 65 >= sizeof c->endpoint)
        return GS_EINVAL;
    if ((rc = accept_key(a, item, 64)) != GS_OK)
        return rc;
    if (!(c = conn_new(a)))
        return GS_ETOOBIG;
    size_t len;
    if (sodium_hex2bin(c->device, 32, item, 64, NULL, &len, NULL) != 0)
        return GS_EINVAL;
    c->device_known = true;
    c->dialed = true;
    memcpy(c->endpoint, at + 1, n - 65);
    c->endpoint[n - 65] = 0;
    memcpy(c->curve, a->accept[a->n_accept - 1], 32);
    return gs_net_dial(a->net, c->endpoint, c->device, &c->peer);
}

static gs_err
add_accept(gs_agent *a, const char *item, size_t n)
{
    return accept_key(a, item, n);
}

static void
agent_free(gs_agent *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < CONNS_MAX; i++)
        gs_session_free(a->conns[i].sess);
    gs_net_close(a->net);
    if (a->r && a->owns_r)
        gs_replica_close(a->r);
    if (a->lock_fd >= 0)
        close(a->lock_fd); /* releases the lock */
    gs_buf_fini(&a->msg);
    free(a->enrolled.k);
    free(a->wanted);
    free(a->revoked.k);
    free(a);
}

static gs_err
agent_new(const char *dir, gs_replica *r, const gs_agent_opts *opts,
          gs_agent **out, char *why, size_t why_len)
{
    gs_agent *a = calloc(1, sizeof *a);
    char path[4200], poke[4220];
    gs_err rc;
    uint64_t interval;
    if (!a)
        return GS_ENOMEM;
    a->lock_fd = -1;
    gs_buf_init(&a->msg, GS_WIRE_MSG_MAX);
    if (opts) {
        a->log = opts->log;
        a->log_ctx = opts->log_ctx;
    }
    /* The lock comes first: a second agent in this process must not open
     * the LMDB environment again (LMDB forbids two opens per process). */
    snprintf(a->dir, sizeof a->dir, "%s", r ? gs_replica_dir(r) : dir);
    snprintf(path, sizeof path, "%s/%s", a->dir, LOCK_FILE);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd >= 0 && flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = gs_why(why, why_len, GS_EEXIST,
                     "%s: another agent runs on this replica; stop it first "
                     "or use 'gridsync status'",
                     a->dir);
        goto out;
    }
    if (r) {
        a->r = r;
    } else if ((rc = gs_replica_open(dir, &a->r, why, why_len)) != GS_OK) {
        goto out;
    } else {
        a->owns_r = true;
    }
    if (a->lock_fd < 0) { /* the directory holds a replica, yet no lock */
        rc = gs_why(why, why_len, GS_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    a->st = gs_replica_store(a->r);
    a->network = gs_replica_network(a->r);
    /* gs_agent_start's r must be unlocked; gs_agent_run has no passphrase */
    if ((rc = gs_replica_key(a->r, NULL, 0, &a->id, why, why_len)) != GS_OK)
        goto out;
    const gs_config *cfg = gs_replica_cfg(a->r);
    snprintf(a->endpoint, sizeof a->endpoint, "%s",
             opts && opts->endpoint ? opts->endpoint
                                    : gs_config_get(cfg, "agent.endpoint"));
    if (gs_config_get_u64(cfg, "agent.sync_interval", &interval) != GS_OK)
        interval = 30;
    a->interval = (double)interval;
    if (!(a->wanted = malloc(sizeof *a->wanted))) {
        rc = GS_ENOMEM;
        goto out;
    }
    if ((rc = wanted_scopes(a->st, a->network, a->id->pk, cfg, a->wanted,
                            why, why_len)) != GS_OK)
        goto out;
    purge_if_revoked(a);
    snprintf(poke, sizeof poke, "ipc://%s/%s", a->dir, POKE_FILE);
    gs_net_opts no;
    memset(&no, 0, sizeof no);
    no.bind = a->endpoint;
    no.poke_bind = poke;
    no.ed_pk = a->id->pk;
    no.ed_sk = a->id->sk;
    no.admit = admit;
    no.admit_ctx = a;
    if ((rc = gs_net_open(&no, &a->net, why, why_len)) != GS_OK)
        goto out;
    if ((rc = each_item(gs_config_get(cfg, "agent.accept"), add_accept,
                        a)) != GS_OK ||
        (rc = each_item(gs_config_get(cfg, "agent.peers"), add_peer, a)) !=
            GS_OK) {
        rc = gs_why(why, why_len, rc,
                     "agent.peers or agent.accept in %s/gridsync.conf: %s; "
                     "fix it with 'gridsync config set'",
                     a->dir, gs_strerror(rc));
        goto out;
    }
    *out = a;
    return GS_OK;
out:
    agent_free(a);
    return rc;
}

/* Serve until *stop (gs_agent_run's, set by a signal handler; NULL in
 * thread mode) or a->stop (gs_agent_stop, from another thread) is set. */
static void
agent_loop(gs_agent *a, volatile sig_atomic_t *stop)
{
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, a->id->pk, 32);
    logf_(a, "device %s listening on %s", hex, a->endpoint);
    write_status(a, true);
    while ((stop == NULL || !*stop) &&
           !atomic_load_explicit(&a->stop, memory_order_relaxed)) {
        gs_net_event ev;
        gs_err rc = gs_net_recv(a->net, TICK_MS, &ev, &a->msg);
        if (rc == GS_OK)
            on_event(a, &ev);
        else if (rc != GS_ETIMEOUT)
            logf_(a, "transport: %s", gs_strerror(rc));
        tick(a);
        if (a->status_dirty && mono() - a->status_at >= 1.0)
            write_status(a, true);
    }
    for (size_t i = 0; i < CONNS_MAX; i++)
        if (a->conns[i].sess)
            end_session(a, &a->conns[i], GS_ECLOSED);
    write_status(a, false);
    logf_(a, "stopped");
}

gs_err
gs_agent_run(const char *dir, const gs_agent_opts *opts,
             volatile sig_atomic_t *stop, char *why, size_t why_len)
{
    gs_agent *a;
    gs_err rc = agent_new(dir, NULL, opts, &a, why, why_len);
    if (rc != GS_OK)
        return rc;
    agent_loop(a, stop);
    agent_free(a);
    return GS_OK;
}

static void *
thread_main(void *arg)
{
    gs_agent *a = arg;
    agent_loop(a, NULL);
    return NULL;
}

gs_err
gs_agent_start(gs_replica *r, const gs_agent_opts *opts, gs_agent **out,
               char *why, size_t why_len)
{
    gs_agent *a;
    if (!r || !out)
        return GS_EINVAL;
    gs_err rc = agent_new(NULL, r, opts, &a, why, why_len);
    if (rc != GS_OK)
        return rc;
    if (pthread_create(&a->thread, NULL, thread_main, a) != 0) {
        agent_free(a);
        return gs_why(why, why_len, GS_ENOMEM, "cannot start a thread");
    }
    *out = a;
    return GS_OK;
}

void
gs_agent_stop(gs_agent *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, 1);
    gs_net_wake(a->net);
    pthread_join(a->thread, NULL);
    agent_free(a);
}

void
gs_agent_poke(const char *dir)
{
    char poke[4220];
    snprintf(poke, sizeof poke, "ipc://%s/%s", dir, POKE_FILE);
    if (gs_net_poke(poke) != GS_OK)
        return; /* no agent, or a bad path: nobody to tell */
}

/* ---- one session and exit ---- */

/* Our session may end before the peer's (it wanted nothing, so it did not
 * wait for BYE), and closing the sockets drops what is still queued: unless
 * the peer's BYE came already, wait up to half a second for it, which
 * proves our last messages arrived. */
static void
linger_for_bye(gs_net *net, gs_buf *msg, const gs_session *s)
{
    double end = mono() + 0.5;
    if (gs_session_got_bye(s))
        return;
    while (mono() < end) {
        gs_net_event ev;
        uint8_t type;
        uint32_t id;
        if (gs_net_recv(net, 50, &ev, msg) != GS_OK || ev.kind != GS_NET_MSG)
            continue;
        if (gs_session_peek(msg->data, msg->len, &type, &id) == GS_OK &&
            type == GS_WIRE_BYE)
            return;
    }
}

gs_err
gs_sync_once(const char *dir, const char *peer, int timeout_ms,
             gs_sync_result *res, char *why, size_t why_len)
{
    return gs_sync_once_pass(dir, peer, NULL, 0, timeout_ms, res, why,
                             why_len);
}

gs_err
gs_sync_once_pass(const char *dir, const char *peer, const char *pass,
                  size_t passlen, int timeout_ms, gs_sync_result *res,
                  char *why, size_t why_len)
{
    gs_replica *r = NULL;
    gs_net *net = NULL;
    gs_session *s = NULL;
    struct wanted *wanted = NULL;
    gs_buf msg;
    gs_err rc;
    uint8_t ed[32], curve[32];
    size_t len;
    const char *at = peer ? strchr(peer, '@') : NULL;
    double t0 = mono(), deadline = t0 + (timeout_ms > 0 ? timeout_ms : 60000) / 1e3;

    memset(res, 0, sizeof *res);
    gs_buf_init(&msg, GS_WIRE_MSG_MAX);
    if (!at || at - peer != 64 ||
        sodium_hex2bin(ed, 32, peer, 64, NULL, &len, NULL) != 0 ||
        gs_net_curve_keys(ed, NULL, curve, NULL) != GS_OK) {
        rc = gs_why(why, why_len, GS_EINVAL,
                     "the peer must be DEVICE_KEY@ENDPOINT (64 hex digits, "
                     "then tcp://HOST:PORT), e.g. as its 'gridsync status' "
                     "shows");
        goto out;
    }
    if ((rc = gs_replica_open(dir, &r, why, why_len)) != GS_OK)
        goto out;
    const gs_identity *id = NULL;
    if ((rc = gs_replica_key(r, pass, passlen, &id, why, why_len)) != GS_OK)
        goto out;
    gs_net_opts no;
    memset(&no, 0, sizeof no);
    no.ed_pk = id->pk;
    no.ed_sk = id->sk;
    int p;
    if ((rc = gs_net_open(&no, &net, why, why_len)) != GS_OK)
        goto out;
    if ((rc = gs_net_dial(net, at + 1, ed, &p)) != GS_OK) {
        rc = gs_why(why, why_len, rc, "%s: cannot dial: %s", at + 1,
                     gs_strerror(rc));
        goto out;
    }
    gs_session_opts o;
    memset(&o, 0, sizeof o);
    o.store = gs_replica_store(r);
    o.network = gs_replica_network(r);
    o.device = id->pk;
    o.peer_curve = curve;
    o.dialer = true;
    if (!(wanted = malloc(sizeof *wanted))) {
        rc = GS_ENOMEM;
        goto out;
    }
    if ((rc = wanted_scopes(gs_replica_store(r), gs_replica_network(r),
                            id->pk, gs_replica_cfg(r), wanted, why,
                            why_len)) != GS_OK)
        goto out;
    o.scopes = wanted->p;
    o.n_scopes = wanted->n;
    o.read_fn = sync_read_scopes;
    o.read_ctx = r;
    o.peer_device = ed;
    uint8_t token[GS_TRUST_TOKEN_BYTES];
    if (gs_trust_token_get(gs_replica_store(r), gs_replica_network(r), id->pk,
                           token))
        o.cert = gs_slice_of(token, sizeof token);
    randombytes_buf(&o.id, sizeof o.id);
    o.id &= 0x7fffffffu;
    if ((rc = gs_session_new(&o, &s)) != GS_OK)
        goto out;
    bool up = false;
    rc = GS_ETIMEOUT;
    while (mono() < deadline) {
        gs_net_event ev;
        int wait = (int)((deadline - mono()) * 1e3);
        gs_err e = gs_net_recv(net, wait > 0 ? wait : 0, &ev, &msg);
        if (e == GS_ETIMEOUT)
            continue;
        if (e != GS_OK) {
            rc = e;
            break;
        }
        if (ev.kind == GS_NET_REFUSED) {
            rc = gs_why(why, why_len, GS_EDENIED,
                         "%s refused us: %s; this device may not be "
                         "enrolled yet or was revoked: ask the district to "
                         "enroll its key (gridsync authority enroll)",
                         at + 1, ev.why);
            break;
        }
        if (ev.kind == GS_NET_DOWN && up) {
            rc = gs_why(why, why_len, GS_ECLOSED,
                         "%s: the connection dropped mid-session; run again "
                         "to resume", at + 1);
            break;
        }
        if (ev.kind == GS_NET_UP && !up) {
            up = true;
            if ((rc = gs_session_start(s)) != GS_OK)
                break;
        } else if (ev.kind == GS_NET_MSG && up) {
            if (gs_session_recv(s, msg.data, msg.len) != GS_OK &&
                !gs_session_over(s))
                break;
        } else {
            continue;
        }
        gs_slice m;
        gs_net_addr to;
        memset(&to, 0, sizeof to);
        to.peer = p;
        rc = GS_OK;
        while (gs_session_next(s, &m))
            if (rc == GS_OK)
                rc = gs_net_send(net, &to, m.p, m.n);
        if (rc != GS_OK)
            break;
        if (gs_session_over(s)) {
            rc = gs_session_result(s);
            if (rc == GS_OK)
                linger_for_bye(net, &msg, s);
            if (rc == GS_EDENIED && gs_session_stats_get(s)->peer_error)
                gs_why(why, why_len, rc,
                        "%s refused us: this device is not enrolled there "
                        "(no certificate it knows, no admission token) or "
                        "was revoked; ask the district to enroll its key "
                        "(gridsync authority enroll), then bring this "
                        "device the district's bundle",
                        at + 1);
            else if (rc != GS_OK)
                gs_why(why, why_len, rc, "session with %s ended: %s%s",
                        at + 1, gs_strerror(rc),
                        gs_session_stats_get(s)->peer_error
                            ? " (the peer said so)"
                            : "");
            break;
        }
        rc = GS_ETIMEOUT;
    }
    if (rc == GS_ETIMEOUT)
        gs_why(why, why_len, rc,
                "%s did not %s in time; check that its agent runs and the "
                "address is right",
                at + 1, up ? "finish the session" : "answer");
    if (s) {
        const gs_session_stats *st = gs_session_stats_get(s);
        res->ops_in = st->ops_in;
        res->ops_out = st->ops_out;
        res->ops_known = st->ops_known;
        res->rejected = st->rejected;
        res->bytes_in = st->bytes_in;
        res->bytes_out = st->bytes_out;
        res->msgs_in = st->msgs_in;
        res->msgs_out = st->msgs_out;
        res->round_trips = st->round_trips;
        sodium_bin2hex(res->peer_device, sizeof res->peer_device,
                       st->peer_device, 32);
        if (st->ops_in || st->forks)
            gs_agent_poke(dir); /* a local agent relays what we got */
        gs_store_purge_result pr;
        if (st->ops_in && gs_trust_purge(gs_replica_store(r),
                                         gs_replica_network(r), id->pk,
                                         &pr) == GS_OK)
            res->purged_ops = pr.ops; /* we learnt we are revoked */
    }
out:
    res->seconds = mono() - t0;
    free(wanted);
    gs_session_free(s);
    gs_net_close(net);
    gs_replica_close(r);
    gs_buf_fini(&msg);
    return rc;
}
