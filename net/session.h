/*
 * session.h — one sync session between two replicas (docs/protocol.md §4)
 * as a state machine without sockets: feed it the peer's messages, send
 * what it queues. The agent (agent/agent.c) moves the bytes; tests drive
 * two sessions against each other in memory and count bytes and round
 * trips.
 *
 * A session reconciles the dialer's wanted scopes: it finds the feeds the
 * two sides differ on (net/recon.c), each side asks for what it lacks
 * (WANT) and streams what the other asked for in bounded, acknowledged
 * batches (OPS/ACK), each batch applied through gs_store_ingest in one
 * transaction before it is acknowledged. Then both say BYE.
 *
 * Ownership: the session borrows the store and the key bytes in its opts
 * for its whole life; it copies the scopes. Threads: one thread at a time.
 *
 * SPEC: docs/protocol.md §4
 */
#ifndef GS_NET_SESSION_H
#define GS_NET_SESSION_H

#include "store.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_SESSION_BATCH_OPS 1000 /* ops per OPS batch (tunable) */
#define GS_SESSION_WINDOW 2       /* OPS batches in flight (tunable) */
#define GS_SESSION_REFUSED_MAX 3  /* broken runs that end a session */

typedef struct gs_session gs_session;

/* The scopes the peer device may be served (DESIGN §5 read scoping): write
 * up to max org paths (NUL-terminated, each up to GS_SCOPE_BYTES_MAX
 * bytes) into out and return how many; return -1 to serve it everything
 * (the authority). `trust` is always served and need not be listed. */
typedef int (*gs_session_read_fn)(const uint8_t device[GS_KEY_BYTES],
                                  char (*out)[GS_SCOPE_BYTES_MAX + 1],
                                  size_t max, void *ctx);
#define GS_SESSION_READ_MAX 64

typedef struct gs_session_opts {
    gs_store *store;
    const uint8_t *network;    /* GS_KEY_BYTES */
    const uint8_t *device;     /* our Ed25519 public key */
    const uint8_t *peer_curve; /* the CURVE key the transport authenticated,
                                  or NULL (no transport: tests) */
    bool dialer;
    uint32_t id;                /* dialer: the session number it chose */
    const char *const *scopes;  /* dialer: wanted scopes (org paths), >= 1 */
    size_t n_scopes;            /* 1..GS_WIRE_SCOPES_MAX */
    bool gossip;                /* ask for PUSHes after the session */
    size_t batch_ops;           /* 0: GS_SESSION_BATCH_OPS */
    size_t window;              /* 0: GS_SESSION_WINDOW */
    /* Read scoping: with read_fn, only feeds in scopes the peer may read
     * are listed to it (so it can neither see nor ask for the others).
     * The listener asks once HELLO named the peer; the dialer asks at
     * start for peer_device, the key it dials (required with read_fn). */
    gs_session_read_fn read_fn;
    void *read_ctx;
    const uint8_t *peer_device;
    /* Dialer: what HELLO's cert field carries (our admission token, see
     * store/trust.h; empty: nothing). Listener: hello_fn, if set, judges
     * the peer's HELLO (after the network and key checks); an error ends
     * the session with that code in an ERROR to the peer. */
    gs_slice cert;
    gs_err (*hello_fn)(const gs_wire_hello *h, void *ctx);
    void *hello_ctx;
} gs_session_opts;

typedef struct gs_session_stats {
    uint8_t peer_device[GS_KEY_BYTES]; /* from HELLO/WELCOME; zeros before */
    uint64_t peer_flags;               /* HELLO/WELCOME flags */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t ops_in;    /* ops we applied from the peer */
    uint64_t ops_known; /* ops the peer sent that we held already */
    uint64_t ops_out;   /* ops we sent */
    uint64_t ops_out_applied; /* of those, what the peer's ACKs say it applied */
    uint64_t feeds_wanted;    /* feeds we asked for */
    uint64_t ops_promised_in;  /* ops the peer listed beyond ours: owed us */
    uint64_t ops_promised_out; /* ops the peer asked of us: we owe it */
    uint64_t rejected; /* ops we refused from the peer */
    uint64_t runs_refused; /* runs we refused from the peer */
    uint64_t runs_broken;  /* of those, for a reason other than trust's
                              (signature, chain, form): GS_SESSION_REFUSED_MAX
                              of them end the session */
    uint64_t rejected_by_reason[GS_ERR_COUNT_]; /* ops, by reason */
    uint64_t refused_by_peer; /* runs of ours the peer refused */
    uint64_t forks;    /* forks the peer's ops showed us (the feed froze) */
    uint64_t suspects; /* feeds marked suspect (gs_store_feed_suspect) */
    gs_err peer_error;        /* code of an ERROR the peer sent, else GS_OK */
    /* Dialer: round trips until it was done, i.e. the longest chain of
     * "we sent, the peer answered" the session needed; 0 for the listener.
     * Each message gets a depth: what we queue has the depth of the
     * message we were handling (0 for the first flight), what arrives has
     * 1 + the depth of the message of ours it answers — an OPS batch b
     * answers our first WANT (b < window) or our ACK of batch b - window,
     * an ACK our OPS batch, a BYE the last of our recon messages, WANTs
     * and ACKs, any other message our latest recon message. This counts
     * like tests/unit/net/test_session.c, where each side's whole queue
     * moves at once and two such flights are a round trip, however the
     * bytes are split and timed on a real link. Assumes the peer's window
     * is ours (both default to GS_SESSION_WINDOW). */
    uint64_t round_trips;
} gs_session_stats;

/* New session (nothing is sent yet). GS_EINVAL for a missing store, key,
 * or a bad scope (empty, over GS_SCOPE_BYTES_MAX, too many); GS_ENOMEM.
 * Free with gs_session_free. */
GS_MUST_CHECK gs_err gs_session_new(const gs_session_opts *o,
                                    gs_session **out);
void gs_session_free(gs_session *s);

/* Dialer: queue the first flight, HELLO and SUMMARY (reads the store). */
GS_MUST_CHECK gs_err gs_session_start(gs_session *s);

/* Handle one message of the peer (its bytes, header included). Returns
 * GS_OK if the session goes on or ended well. Any other code ends the
 * session: the ERROR for the peer is queued (unless the peer's own ERROR
 * ended it) and gs_session_result gives the code. Bad bytes from the
 * peer never crash; they are GS_EMALFORMED and friends. */
GS_MUST_CHECK gs_err gs_session_recv(gs_session *s, const uint8_t *msg,
                                     size_t n);

/* Take the next queued message to send: *msg borrows the session's memory
 * until the next call on it. False when the queue is empty. */
bool gs_session_next(gs_session *s, gs_slice *msg);

/* True when the session is over: finished well or failed. */
bool gs_session_over(const gs_session *s);
/* GS_OK while running or after a good end; the failure code otherwise. */
gs_err gs_session_result(const gs_session *s);
const gs_session_stats *gs_session_stats_get(const gs_session *s);
/* Whether the peer's BYE has arrived: after it, nothing more of the peer's
 * is coming, and everything we sent before our BYE was received. */
bool gs_session_got_bye(const gs_session *s);

/* The dialer's wanted scopes as agreed (valid during the session). */
size_t gs_session_scopes(const gs_session *s, const char *const **out);

/* Decode, verify and apply one OPS or PUSH frame in one store
 * transaction, and fill ack: applied, known, rejected and the refused runs
 * (index of a run's first part, reason as a gs_err name). A run of a feed
 * we do not link to (a gap) is refused GS_ECHAIN; a run outside scopes
 * (when scopes is not NULL) GS_EPROTO. Consecutive runs of one feed whose
 * seqs follow on are parts of one run: only the last one's signature
 * counts. stats (may be NULL) gets ops_in, ops_known, rejected and
 * rejected_by_reason. Errors: the batch's decoding errors (nothing
 * applied), the store's (GS_EFULL, GS_EIO), GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_session_apply(gs_store *st, const uint8_t *network,
                                      gs_slice frame, const gs_slice *scopes,
                                      size_t n_scopes, gs_wire_ack *ack,
                                      gs_session_stats *stats);

/* The header of a message: type and session number. GS_ETRUNC if it is
 * shorter than a header, GS_EVERSION for another protocol version. */
GS_MUST_CHECK gs_err gs_session_peek(const uint8_t *msg, size_t n,
                                     uint8_t *type, uint32_t *id);

/* The feed id recon works on: BLAKE2b-256(author || str scope). */
void gs_session_feed_id(const uint8_t author[GS_KEY_BYTES], gs_slice scope,
                        uint8_t out[GS_KEY_BYTES]);


#endif /* GS_NET_SESSION_H */
