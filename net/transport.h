/*
 * transport.h — the ZeroMQ side of sync: one ROUTER bound on the agent's
 * endpoint, one DEALER per dialed peer, CURVE on every connection with the
 * key pair derived from the device's Ed25519 identity, a ZAP handler that
 * admits only the keys the caller approves, ZMQ_MAXMSGSIZE on every
 * socket, and a local poke socket (ipc) by which the command line tells
 * the agent that it wrote.
 *
 * Messages are opaque byte strings here (one frame each); net/session.c
 * gives them meaning. The only identity this layer vouches for is a
 * sender's CURVE public key (gs_net_event.curve_pk): for a dialed peer the
 * server key we pinned at dial time, for an inbound peer the key CURVE
 * authenticated and our ZAP handler admitted. Routing ids are connection
 * names, not identities: a reconnecting peer gets a new one.
 *
 * Threads: one gs_net is used by one thread; gs_net_wake is the one call
 * safe from any thread (and from a signal handler). gs_net_poke and
 * gs_net_curve_keys touch no gs_net and are safe anywhere.
 *
 * SPEC: docs/protocol.md §2
 */
#ifndef GS_NET_TRANSPORT_H
#define GS_NET_TRANSPORT_H

#include "buf.h"
#include "gridsync.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_NET_PEERS_MAX 64     /* dialed peers at once */
#define GS_NET_RID_BYTES_MAX 32 /* ROUTER routing id we assign or accept */
#define GS_NET_CURVE_BYTES 32   /* a CURVE (X25519) key */
/* Messages queued per connection and direction (ZMQ_SNDHWM/RCVHWM). A
 * session keeps 2 OPS batches in flight, so 64 leaves room for control
 * messages and gossip bursts; memory per connection is bounded by
 * GS_NET_HWM x max_msg each way. */
#define GS_NET_HWM 64
#define GS_NET_ENDPOINT_MAX 256 /* longest endpoint gs_net_endpoint gives */

typedef struct gs_net gs_net;

/* Decide whether a connecting peer may in: curve_pk is the peer's CURVE
 * public key (what CURVE authenticated). Return GS_NET_ADMIT, or
 * GS_NET_REFUSE, or GS_NET_ADMIT_HELLO: let it in so that its HELLO can
 * make its case (a device this replica has not heard of, presenting its
 * admission token); its messages then come with `provisional` set, and
 * the caller must judge the HELLO before anything else. Called from
 * inside gs_net_recv, on the caller's thread, once per handshake (a
 * refused peer that keeps redialing is asked again each time). It must
 * not call gs_net functions on the same gs_net. */
enum { GS_NET_REFUSE = 0, GS_NET_ADMIT = 1, GS_NET_ADMIT_HELLO = 2 };
typedef int (*gs_net_admit_fn)(const uint8_t curve_pk[32], void *ctx);

/* Read by gs_net_open only (borrowed for the call; nothing is kept: the
 * secret key is converted into sodium_malloc memory). */
typedef struct gs_net_opts {
    const char *bind;      /* tcp://HOST:PORT or ipc://PATH; NULL: dial only.
                              tcp://127.0.0.1:* picks a free port; read it
                              back with gs_net_endpoint */
    const char *poke_bind; /* ipc://PATH for pokes; NULL: none. No CURVE: who
                              may poke is who may open PATH, so put it in a
                              directory only the agent's user can enter */
    const uint8_t *ed_pk;  /* device Ed25519 public key, 32 bytes */
    const uint8_t *ed_sk;  /* device Ed25519 secret key, 64 bytes, whose
                              second half must equal ed_pk */
    gs_net_admit_fn admit; /* NULL: admit nobody inbound */
    void *admit_ctx;
    size_t max_msg; /* ZMQ_MAXMSGSIZE on every socket; 0: GS_WIRE_MSG_MAX */
} gs_net_opts;

/* Derive the CURVE key pair from an Ed25519 identity (libsodium's
 * conversion). ed_sk (64 bytes) and curve_sk may be NULL to derive the
 * public key only. GS_EINVAL if ed_pk is not a valid point (or of small
 * order). */
GS_MUST_CHECK gs_err gs_net_curve_keys(const uint8_t ed_pk[32],
                                       const uint8_t *ed_sk,
                                       uint8_t curve_pk[32], uint8_t *curve_sk);

/* Open: a context, the ZAP handler (bound before any CURVE server socket,
 * so no connection is ever admitted unchecked), the ROUTER bound on
 * opts->bind (if any), the poke socket (if any). why (may be NULL) gets a
 * sentence on failure naming the endpoint ("tcp://127.0.0.1:7420: cannot
 * bind the sync endpoint: Address already in use; ..."). GS_EIO if
 * binding fails (in use, no such address, no permission; also an ipc path
 * another process listens on), GS_EINVAL for a bad endpoint, a key that
 * is not a valid point or a secret key that does not belong to ed_pk.
 * Free with gs_net_close. */
GS_MUST_CHECK gs_err gs_net_open(const gs_net_opts *opts, gs_net **out,
                                 char *why, size_t why_len);
/* Close every socket at once (linger 0: unsent messages are dropped) and
 * the context. NULL is fine. */
void gs_net_close(gs_net *n);

/* The endpoint the ROUTER is bound on, as ZeroMQ resolved it (a wildcard
 * port replaced by the real one: "tcp://127.0.0.1:40123"). A wildcard
 * address stays one ("tcp://0.0.0.0:7420"), which peers cannot dial.
 * GS_ENOTFOUND if opened without bind, GS_ETOOBIG if out (len bytes,
 * GS_NET_ENDPOINT_MAX is enough) is too small. */
GS_MUST_CHECK gs_err gs_net_endpoint(gs_net *n, char *out, size_t len);

/* Dial a peer whose device key is peer_ed_pk at endpoint: a DEALER with
 * CURVE (server key derived from peer_ed_pk); ZeroMQ reconnects it by
 * itself, also after a refusal, so hang up a refused peer to stop it
 * knocking. *peer gets a small handle >= 0, valid until gs_net_hangup.
 * GS_ETOOBIG past GS_NET_PEERS_MAX, GS_EINVAL for a bad endpoint or key. */
GS_MUST_CHECK gs_err gs_net_dial(gs_net *n, const char *endpoint,
                                 const uint8_t peer_ed_pk[32], int *peer);
/* Drop a dialed peer (unsent messages are discarded; no GS_NET_DOWN
 * follows). Unknown handles are ignored. */
void gs_net_hangup(gs_net *n, int peer);

/* Where a message came from or goes to: a dialed peer, or an inbound
 * connection on the ROUTER named by its routing id. */
typedef struct gs_net_addr {
    int peer; /* >= 0: a dialed peer; -1: inbound, see rid */
    uint8_t rid[GS_NET_RID_BYTES_MAX];
    size_t rid_len;
} gs_net_addr;

/* Queue one message. Never blocks: GS_EFULL when the peer's queue is
 * full (GS_NET_HWM), GS_ECLOSED when the peer is gone, unknown or (a
 * dialed peer) not connected, GS_ETOOBIG over max_msg (the receiver would
 * drop the connection), GS_EINVAL for a bad address. */
GS_MUST_CHECK gs_err gs_net_send(gs_net *n, const gs_net_addr *to,
                                 const void *msg, size_t len);

enum gs_net_event_kind {
    GS_NET_MSG = 1, /* a message: from, curve_pk, msg */
    GS_NET_POKE,    /* the poke socket got a poke (coalesced) */
    GS_NET_UP,      /* a dialed peer's connection is up (peer) */
    GS_NET_DOWN,    /* a dialed peer's connection dropped (peer) */
    GS_NET_REFUSED, /* a dialed peer refused our key (peer, why) */
    GS_NET_WAKE,    /* gs_net_wake was called (coalesced) */
    GS_NET_TOOBIG,  /* a connecting peer sent a message over max_msg (from,
                       curve_pk, size); its bytes were dropped */
};

/* UP and DOWN alternate per dialed peer, starting with UP. REFUSED comes
 * once per run of failed handshakes (again only if the reason changes or
 * after an UP). Inbound connections have no events: a peer shows up by
 * its first message, and sending to it gives GS_ECLOSED once it is gone
 * (up to the heartbeat timeout after a silent loss). */
typedef struct gs_net_event {
    enum gs_net_event_kind kind;
    gs_net_addr from;     /* GS_NET_MSG, TOOBIG; .peer for UP/DOWN/REFUSED */
    uint8_t curve_pk[32]; /* GS_NET_MSG, TOOBIG: the sender's key */
    bool provisional;     /* GS_NET_MSG, TOOBIG: admitted on GS_NET_ADMIT_HELLO */
    char why[128];        /* GS_NET_REFUSED: what went wrong, for a person */
    size_t size;          /* GS_NET_TOOBIG: the message's size */
} gs_net_event;

/* Wait up to timeout_ms (-1: forever, 0: poll) for one event; ZAP requests
 * are answered inside (so a listener admits nobody while it is not in
 * gs_net_recv). A message's bytes go to msg (reset first); give msg a cap
 * of at least max_msg, else a bigger message is dropped with GS_ETOOBIG.
 * Messages with an unexpected number of frames are dropped silently.
 * GS_ETIMEOUT when nothing came, GS_ECLOSED if the context was ended,
 * GS_EINVAL for NULL arguments. Interrupted by a signal, it goes on
 * waiting: call gs_net_wake from the handler to make it return. */
GS_MUST_CHECK gs_err gs_net_recv(gs_net *n, int timeout_ms, gs_net_event *ev,
                                 gs_buf *msg);

/* Make a gs_net_recv blocked in another thread return GS_NET_WAKE (or the
 * next one, if none is blocked). The only call that is safe from another
 * thread; it writes one byte to a pipe, so it is also async-signal-safe.
 * Wakes that pile up before a recv make one GS_NET_WAKE. */
void gs_net_wake(gs_net *n);

/* Send one poke to an agent's poke endpoint (ipc://PATH) and return within
 * ~100 ms; GS_OK even if no agent listens (then nobody needed the poke).
 * GS_ENOTFOUND at once if PATH does not exist (no agent ever bound it:
 * nothing is sent). GS_EINVAL if the endpoint is not ipc:// or is
 * malformed, GS_EIO if ZeroMQ cannot start. */
GS_MUST_CHECK gs_err gs_net_poke(const char *poke_endpoint);

#endif /* GS_NET_TRANSPORT_H */
