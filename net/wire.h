/*
 * wire.h — the sync protocol's messages: canonical encode and decode of
 * every message of docs/protocol.md §3, the zstd-compressed run list of OPS
 * and PUSH, and the compact op form of §5. No sockets, no sessions.
 *
 * A message is one ZeroMQ frame: u8 version (GS_WIRE_VERSION) | u8 type |
 * u32be session | body. Decoders borrow: a decoded gs_wire_msg's slices
 * point into the input bytes and live as long as they do; nothing is
 * allocated by gs_wire_decode. Every length and count is checked against
 * its limit (GS_WIRE_*) and against the bytes left before anything is read.
 *
 * Canonical: gs_wire_decode accepts exactly what gs_wire_encode writes
 * (minimal varints, no trailing bytes, lists in their canonical order), and
 * each encoder runs the decoder on its own output, so nothing is sent that a
 * peer refuses. For OPS and PUSH, a zstd frame has many valid spellings: the
 * message keeps its frame as opaque bytes (so a decoded message re-encodes
 * to the same bytes), and canonicality holds for the decompressed run list
 * (gs_wire_batch_decode / gs_wire_runs_encode).
 *
 * Errors from decoders: GS_ETRUNC (input ends early), GS_ETOOBIG (a length
 * or count over its limit, a frame claiming too much or an unknown size),
 * GS_EVERSION (header version), GS_ENONCANON (padded varint), GS_EUTF8
 * (bad characters in a scope, name, id or text), GS_EMALFORMED (anything
 * else: unknown type, trailing bytes, zero counts where one is required,
 * bad order, repeats, a broken zstd frame), GS_EKIND (an update of kind 0).
 *
 * Threads: no shared state; distinct objects may be used from any thread.
 *
 * SPEC: docs/protocol.md §2 (header), §3 (messages), §5 (compact ops),
 * §7 (limits).
 */
#ifndef GS_NET_WIRE_H
#define GS_NET_WIRE_H

#include "buf.h"
#include "gridsync.h"
#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_WIRE_VERSION 1
#define GS_WIRE_HEADER_BYTES 6
#define GS_WIRE_MSG_MAX ((size_t)8 << 20)    /* whole message, compressed */
#define GS_WIRE_BATCH_MAX ((size_t)16 << 20) /* decompressed run list */
#define GS_WIRE_CERT_BYTES_MAX 4096
#define GS_WIRE_SCOPES_MAX 64   /* HELLO wanted scopes; SUMMARY, RANGES */
#define GS_WIRE_RANGES_MAX 1024 /* ranges in one RANGES, all scopes */
#define GS_WIRE_HEADS_MAX 4096  /* listed heads in one RANGES */
#define GS_WIRE_WANTS_MAX 4096  /* feeds in one WANT */
#define GS_WIRE_RUNS_MAX 4096   /* runs in one OPS or PUSH */
#define GS_WIRE_RUN_OPS_MAX GS_RUN_MAX /* ops in one run */
#define GS_WIRE_REFUSED_MAX GS_WIRE_RUNS_MAX
#define GS_WIRE_CODE_BYTES_MAX 32  /* a gs_err name, [A-Z0-9_] */
#define GS_WIRE_TEXT_BYTES_MAX 256 /* ERROR text */
#define GS_WIRE_FP_BYTES 16        /* range fingerprint, §4.1 */

#define GS_WIRE_FLAG_GOSSIP 1u /* HELLO flags: wants gossip */

enum gs_wire_type {
    GS_WIRE_HELLO = 1,
    GS_WIRE_WELCOME = 2,
    GS_WIRE_SUMMARY = 3,
    GS_WIRE_RANGES = 4,
    GS_WIRE_WANT = 5,
    GS_WIRE_OPS = 6,
    GS_WIRE_ACK = 7,
    GS_WIRE_PUSH = 8,
    GS_WIRE_ERROR = 9,
    GS_WIRE_BYE = 10,
    GS_WIRE_TYPE_MAX_ = GS_WIRE_BYE
};

/* A feed key: author || str scope, ordered bytewise (author, then scope).
 * As a range bound, scope may be empty (the start of the key space). */
typedef struct gs_wire_feed {
    uint8_t author[GS_KEY_BYTES];
    gs_slice scope;
} gs_wire_feed;

/* HELLO and WELCOME. Scopes: valid scopes, no repeats, in any order. */
typedef struct gs_wire_hello {
    uint8_t network[GS_KEY_BYTES];
    uint8_t device[GS_KEY_BYTES];
    gs_slice cert; /* opaque, <= GS_WIRE_CERT_BYTES_MAX, empty until issue 5 */
    size_t n_scopes;
    gs_slice scopes[GS_WIRE_SCOPES_MAX];
    uint64_t max_msg; /* largest message the sender accepts */
    uint64_t flags;   /* GS_WIRE_FLAG_*; unknown bits are carried */
} gs_wire_hello;

/* SUMMARY: per scope (no repeats), its feed count and fingerprint. */
typedef struct gs_wire_sum {
    gs_slice scope;
    uint64_t feeds;
    uint8_t fp[GS_WIRE_FP_BYTES];
} gs_wire_sum;

typedef struct gs_wire_summary {
    size_t n;
    gs_wire_sum scopes[GS_WIRE_SCOPES_MAX];
} gs_wire_summary;

/* RANGES. Scope i owns the next scopes[i].n_ranges entries of ranges[];
 * a listed range owns the next n_heads entries of heads[]. Within a scope
 * lower bounds ascend strictly; a listed range's heads ascend strictly,
 * lie at or above its bound and below the next range's bound; seq >= 1. */
typedef struct gs_wire_head {
    gs_wire_feed feed;
    uint64_t seq;
} gs_wire_head;

typedef struct gs_wire_range {
    gs_wire_feed lower;
    bool listed;    /* heads listed rather than count and fingerprint */
    uint64_t count; /* listed: set to n_heads by decode */
    uint8_t fp[GS_WIRE_FP_BYTES]; /* listed: zeros */
    size_t n_heads;               /* listed only, else 0 */
} gs_wire_range;

typedef struct gs_wire_scope_ranges {
    gs_slice scope;
    size_t n_ranges; /* >= 1 */
} gs_wire_scope_ranges;

typedef struct gs_wire_ranges {
    size_t n_scopes, n_ranges, n_heads;
    gs_wire_scope_ranges scopes[GS_WIRE_SCOPES_MAX];
    gs_wire_range ranges[GS_WIRE_RANGES_MAX];
    gs_wire_head heads[GS_WIRE_HEADS_MAX];
} gs_wire_ranges;

/* WANT: feeds in strictly ascending key order, each from seq >= 1. */
typedef struct gs_wire_want {
    gs_wire_feed feed;
    uint64_t from;
} gs_wire_want;

typedef struct gs_wire_wants {
    size_t n;
    gs_wire_want feeds[GS_WIRE_WANTS_MAX];
} gs_wire_wants;

/* OPS and PUSH: batch number, then one zstd frame (to the end of the
 * message) holding the run list; see gs_wire_batch_decode. The decoder
 * checks the frame's header only: one frame, nothing after it, a declared
 * content size of 1..GS_WIRE_BATCH_MAX. */
typedef struct gs_wire_ops {
    uint64_t batch;
    gs_slice frame;
} gs_wire_ops;

/* ACK: refused runs by ascending index, each with its reason: the name of
 * a gs_err ("GS_EBADSIG"), 1..GS_WIRE_CODE_BYTES_MAX of [A-Z0-9_]. */
typedef struct gs_wire_refused {
    uint64_t run;
    gs_slice code;
} gs_wire_refused;

typedef struct gs_wire_ack {
    uint64_t batch, applied, known, rejected;
    size_t n_refused;
    gs_wire_refused refused[GS_WIRE_REFUSED_MAX];
} gs_wire_ack;

/* ERROR: code as in ACK, text UTF-8 of 0..GS_WIRE_TEXT_BYTES_MAX bytes. */
typedef struct gs_wire_error {
    gs_slice code;
    gs_slice text;
} gs_wire_error;

/* A decoded message. Large (RANGES has fixed arrays, ~350 KB): keep it on
 * the heap. Fill only the union member of type. BYE has no body. */
typedef struct gs_wire_msg {
    uint8_t type; /* enum gs_wire_type */
    uint32_t session;
    union {
        gs_wire_hello hello; /* HELLO, WELCOME */
        gs_wire_summary summary;
        gs_wire_ranges ranges;
        gs_wire_wants want;
        gs_wire_ops ops; /* OPS, PUSH */
        gs_wire_ack ack;
        gs_wire_error error;
    } u;
} gs_wire_msg;

/* Decode one message from p[0..n) into *m, which then borrows p. Errors as
 * above; an input over GS_WIRE_MSG_MAX is GS_ETOOBIG. On error *m is
 * unspecified. */
GS_MUST_CHECK gs_err gs_wire_decode(const uint8_t *p, size_t n, gs_wire_msg *m);

/* Append the encoding of *m to out. Checks *m as the decoder would (the
 * same named errors; GS_EINVAL for an unknown type or RANGES counts that
 * do not add up) and never writes more than GS_WIRE_MSG_MAX. Allocates a
 * scratch message to check its output (GS_ENOMEM). On error out is as it
 * was. */
GS_MUST_CHECK gs_err gs_wire_encode(const gs_wire_msg *m, gs_buf *out);

/* ---- the run list of OPS and PUSH ----
 *
 * Decompressed: varint n_runs (1..GS_WIRE_RUNS_MAX), then n_runs runs:
 * author (32), str scope, varint first_seq (>= 1), varint n
 * (1..GS_WIRE_RUN_OPS_MAX), n compact ops, sig (GS_SIG_BYTES) of the
 * last op. A compact op is an op without version, author, scope, seq and
 * prev: u64be hlc, str type, str id, varint n_updates (1..64), updates
 * (str field, u8 kind, str payload; ascending by field; payloads
 * canonical). The decoder checks every compact op as gs_op_decode checks
 * an op, and that each rebuilt op fits GS_OP_BYTES_MAX, so any accepted
 * run expands (gs_wire_run_expand) for any well-formed prev. */
typedef struct gs_wire_run {
    uint8_t author[GS_KEY_BYTES];
    gs_slice scope;
    uint64_t first_seq;
    size_t n;
    gs_slice ops; /* the n compact ops, back to back */
    gs_sig sig;   /* of op first_seq + n - 1 */
} gs_wire_run;

/* A decompressed run list. Owns raw (the decompressed bytes) and runs;
 * the runs' slices borrow raw. Free with gs_wire_batch_fini. */
typedef struct gs_wire_batch {
    uint8_t *raw;
    size_t raw_len;
    size_t n_runs;
    gs_wire_run *runs;
} gs_wire_batch;

/* Decompress frame (a gs_wire_ops frame) and decode its run list into *b.
 * The content size declared in the frame header is checked (unknown or
 * over GS_WIRE_BATCH_MAX: GS_ETOOBIG) before the buffer is allocated, and
 * decompression writes into a buffer of exactly that size. On success the
 * caller frees *b with gs_wire_batch_fini; on error *b holds nothing. */
GS_MUST_CHECK gs_err gs_wire_batch_decode(gs_slice frame, gs_wire_batch *b);
void gs_wire_batch_fini(gs_wire_batch *b);

/* Append the uncompressed run list of runs[0..n) to raw, checking it as
 * gs_wire_batch_decode would. On error raw is as it was. */
GS_MUST_CHECK gs_err gs_wire_runs_encode(const gs_wire_run *runs, size_t n,
                                         gs_buf *raw);

/* gs_wire_runs_encode, then zstd (one frame with its content size) appended
 * to frame. GS_ETOOBIG if the run list passes GS_WIRE_BATCH_MAX or the
 * frame does not fit frame's cap. On error frame is as it was. */
GS_MUST_CHECK gs_err gs_wire_batch_compress(const gs_wire_run *runs, size_t n,
                                            gs_buf *frame);

/* Compact a run of canonical ops items[0..n) (n 1..GS_WIRE_RUN_OPS_MAX,
 * else GS_EINVAL): each must decode (gs_op_decode's errors), share the
 * first op's author and scope (GS_EFEED), count up by one from its seq and
 * name the previous op's content hash in prev (GS_ECHAIN); the last must
 * carry a sig (GS_ENOSIG). The first op's prev is left out unchecked: the
 * receiver supplies its own. Appends the compact ops to ops and fills *run:
 * run->scope borrows items[0].bytes, run->ops borrows ops's memory (valid
 * until ops next changes). On error ops is as it was. */
GS_MUST_CHECK gs_err gs_wire_run_compact(const gs_run_item *items, size_t n,
                                         gs_wire_run *run, gs_buf *ops);

/* Rebuild the canonical ops of run, the first naming prev (the content
 * hash of op first_seq - 1: the receiver's head; zeros iff first_seq is 1,
 * else GS_ECHAIN). Appends the n ops to out and fills items[0..run->n)
 * (caller-owned) ready for gs_run_verify: bytes point into out (valid until
 * out next changes), the last item's sig is &run->sig, the others NULL.
 * hashes, if not NULL, receives the n content hashes. Errors: those of a
 * malformed run (as gs_wire_batch_decode), GS_ETOOBIG if out's cap is too
 * small. On error out is as it was. */
GS_MUST_CHECK gs_err gs_wire_run_expand(const gs_wire_run *run,
                                        const uint8_t prev[GS_HASH_BYTES],
                                        gs_buf *out, gs_run_item *items,
                                        uint8_t (*hashes)[GS_HASH_BYTES]);

#endif /* GS_NET_WIRE_H */
