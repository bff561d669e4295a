/*
 * store.h — the LMDB replica: the op log, feed heads, fork evidence and the
 * materialised entities (DESIGN §4).
 *
 * One environment per replica directory, with named databases (meta
 * "format" is "6"; a replica of another format is GS_EVERSION):
 *   meta   string key -> bytes: "format", "next_feed" (the next feed
 *          number), "next_name" (the next field-name number, u32be),
 *          "hlc_max" (the greatest hlc held); the network id and the
 *          device key live in gridsync.conf and device.key
 *   feeds  author(32) || scope -> feed record (number, head seq, head
 *          hash, head signature, frozen flag)
 *   fnum   feed number (u64be) -> author(32) || scope; a number outlives
 *          its record when a revocation cuts the feed to nothing (stored
 *          entities may name the author by it)
 *   ops    feed number (u64be) || seq of its first op (u64be) -> a block
 *          of up to 256 consecutive ops of the feed: u8 form (0 open, 1
 *          sealed raw, 2 sealed zstd), varint n, the 32-byte prev of its
 *          first op, varint raw length, then the raw payload or its zstd
 *          frame. Raw: n x (varint m, m bytes of op without author, scope,
 *          seq and prev: its version byte, then every byte after prev in
 *          the canonical encoding). Readers rebuild each op in order (seq
 *          from the key, prev the hash of the op before) from fnum, so
 *          every reader (history, ops_each, feed_read, rebuild, the fork
 *          check, bundles) gets the canonical bytes and content hash.
 *          Only the feed's newest block is open (rewritten as it grows);
 *          a block is sealed once it would compress to about one
 *          overflow page, or at 256 ops or 64 KiB raw.
 *   etypes entity type -> u8 slot k (1..31): the type's entities are in
 *          ents.k, a database of its own, taken when the type is first
 *          written (ents.1 to ents.31 are made at init); the types met
 *          after the 31st share ents (store.c "entity databases")
 *   ents, ents.k
 *          type || 0x00 || id -> entity state in its stored form: first
 *          the ops that touched it, varint h, h x (varint feed number,
 *          varint seq) in the order applied (h <= 16; h = 0: more, listed
 *          in hist); then not type and id (the key has them), each field
 *          name a number (names), and each (hlc, author) stamp of the
 *          canonical state (docs/op-format.md §6) an index into tables in
 *          front: varint a, a x author (the varint number of a feed of
 *          that author, or 0 then the 32 bytes), ascending by author;
 *          varint t, t x (u64be hlc, varint author index), ascending;
 *          varint n, n x (varint name number, u8 kind, str(state, stamps
 *          as varint indexes, and an lww string maybe interned: tag 0x20,
 *          varint strs number); a set lww field is kind 0x81 then its
 *          stamp, base and value, or kind 0xc1 then its value when stamp
 *          and base are 0). Read back, it is the canonical encoding
 *          byte for byte, checked by gs_entity_decode; the digest is
 *          unchanged.
 *   names  field name -> u32be number, '#' || u32be number -> name
 *   strs   u32be number -> an interned string (4 to 40 bytes, written by
 *          ops often: store.c "interned strings"); strids the string ->
 *          its u32be number
 *   hist   type || 0x00 || id || 0x00 || hlc (u64be) || varint feed number
 *          || varint seq -> empty: the entity->ops index behind history,
 *          for entities touched by more than 16 ops (others list theirs)
 *   forks  feed number || seq -> fork evidence: the two branches the
 *          author signed from seq, each its ops up to a signed one and
 *          that signature (store.c "fork evidence"); one per feed, the
 *          lowest fork found
 *   sigs   feed number (u64be) || seq (u64be) -> the encoded gs_sig of
 *          that op, once the feed's head: checkpoints kept as the head
 *          moves on, about every GS_STORE_SIG_SPACING ops (see "sync").
 *
 * Invariants:
 *  - A batch is one write transaction: verify, append, merge, index. A
 *    crash leaves all of a batch or none of it; an acknowledged batch is on
 *    disk (LMDB syncs at commit).
 *  - ops holds, per feed, exactly seq 1..head with no gap (in blocks that
 *    follow each other), each linking to the one before, and the head
 *    carries a signature that verifies; ops past the last signature held
 *    are never stored. The one exception is a frozen feed, whose head
 *    (the op before its fork) the evidence's first branch vouches for.
 *  - The entity databases together equal the state obtained by applying
 *    every op in ops (checked by gs_store_digest_rebuild).
 *  - No feed of a revoked device holds an op past what its revocation
 *    leaves valid (store/trust.h): the transaction that applies the
 *    revocation cuts the feed back (blocks, hist, sigs and forks past the
 *    cutoff; the head moved back and signed with the cutoff's signature,
 *    or cut further to a signed seq when that does not verify; a feed
 *    cut to nothing has no record) and rebuilds every entity the removed
 *    ops touched from its remaining ops, so the replica equals one that
 *    never saw them.
 *  - A second, different op at a known (feed, seq), signed by the author,
 *    is kept in forks as evidence with the branch held, and the feed is
 *    frozen at seq - 1 in the same transaction: cut back as a revocation
 *    cuts (the entities its removed ops touched rebuilt), marked frozen,
 *    and taking no op past its head from then on (GS_EFORK), nor a local
 *    write. Every replica that learns of the fork ends at the same head.
 *  - Entity keys sort as the digest needs: (type, id) by bytes, because
 *    neither holds a 0x00 byte; a full walk merges the slots, in etypes'
 *    order, with ents.
 *
 * The map grows by itself: a batch that hits MDB_MAP_FULL is aborted, the
 * map doubled (up to the configured cap) and the batch run again. A full
 * disk is GS_EFULL and leaves the replica as it was.
 *
 * Several processes may open one replica; LMDB serialises writers. One
 * gs_store handle is used by one thread at a time.
 */
#ifndef GS_STORE_STORE_H
#define GS_STORE_STORE_H

#include "field.h"
#include "gridsync.h"
#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gs_store gs_store;

typedef struct gs_store_opts {
    uint64_t map_size;     /* initial map size in bytes; 0: 64 MiB */
    uint64_t max_map_size; /* cap for growth; 0: no cap but the disk */
    bool create;           /* create the environment if missing */
} gs_store_opts;

/* Open the replica in dir (which must exist). GS_ENOTFOUND if there is no
 * replica and !opts->create; GS_EVERSION for an unknown format; GS_EIO for
 * other LMDB or file errors. */
GS_MUST_CHECK gs_err gs_store_open(const char *dir, const gs_store_opts *opts,
                                   gs_store **out);
void gs_store_close(gs_store *s);

/* ---- ingest ---- */

/* Ops in one run given to gs_store_ingest. A run longer than GS_RUN_MAX
 * is verified in pieces linked by their hashes, the last piece by the
 * run's one signature: a run ends at a signed op, and the store keeps
 * only some (the head's and checkpoints, see "sync"), so a run may have to
 * be long. */
#define GS_STORE_RUN_MAX (1u << 20)

/* One run of one feed, as sync and bundles carry it. */
typedef struct gs_store_run {
    const gs_run_item *items;
    size_t n;
} gs_store_run;

/* What became of a batch. Counts are ops. */
typedef struct gs_ingest_stats {
    size_t applied;   /* new ops stored and merged */
    size_t known;     /* ops already held: no-ops */
    size_t rejected;  /* refused; by_reason says why */
    size_t forks;     /* second ops at a known (feed, seq), kept as evidence */
    size_t by_reason[GS_ERR_COUNT_];
    size_t first_bad_run; /* least index of a refused run, if any */
    gs_err first_bad_rc;
} gs_ingest_stats;

/* Ingest runs in one write transaction. A run that fails verification or
 * the trust rules (trust.h) is refused whole and counted; the others are
 * applied. The authority's runs go first, then the rest in the order
 * given, so certificates count for the ops of the same batch whatever
 * their order. A revocation the batch applies rolls its device's feeds
 * back before the transaction commits (see the invariants above; a local
 * write of a revocation by the authority does the same). network is the
 * replica's
 * network id. Returns GS_OK even when runs were refused (see stats);
 * an error return means nothing was written: GS_EFULL (disk full),
 * GS_ETOOBIG (map at its cap), GS_ENOMEM, GS_EIO. */
GS_MUST_CHECK gs_err gs_store_ingest(gs_store *s, const gs_store_run *runs,
                                     size_t n_runs,
                                     const uint8_t network[GS_KEY_BYTES],
                                     gs_ingest_stats *stats);

/* ---- local writes ---- */

/* The entity a write is about. */
typedef struct gs_store_target {
    gs_slice type, id;
} gs_store_target;

/* What a builder may hand over besides the op's bytes (both NULL when it
 * is called), valid until its next call:
 *   op    the op decoded, as gs_op_decode would decode it, if the builder
 *         checked the target's type and id (gs_name_valid, gs_id_valid)
 *         and the op's updates section with gs_op_updates_check (on
 *         bytes equal to op's, where the updates' slices may point), or
 *         made the section itself with gs_op_encode_updates_at from valid
 *         names and payloads made by field.h's builders (which check
 *         them): the store reads it
 *         instead of decoding the bytes (parsing each payload, as known),
 *         compares its author, seq, prev, type and id with what they must
 *         be and its scope with the write's (checked once), and checks
 *         none of them again;
 *   hash  the op's content hash (gs_op_hash of its bytes), if the builder
 *         has it: the store does not hash the op again. */
typedef struct gs_store_built {
    const gs_op *op;
    const uint8_t *hash;
} gs_store_built;

/* Build write i: append to op the canonical bytes of an op by the writer
 * with seq head->seq + 1, prev head->hash and an hlc above hlc_seen (the
 * greatest stamp this replica holds), about targets[i], given the entity's
 * current state (NULL if never written), and fill *built as it can. Leave
 * op empty to skip write i.
 * Runs inside the write transaction and may run again if the batch is
 * retried after the map grew, so it must not keep side effects. */
typedef gs_err (*gs_store_build_fn)(size_t i, const gs_feed_head *head,
                                    uint64_t hlc_seen,
                                    const gs_entity *current, gs_buf *op,
                                    gs_store_built *built, void *ctx);

typedef struct gs_store_write_result {
    size_t written, skipped;
    size_t failed_at; /* index of the write whose build failed */
    gs_feed_head head; /* the feed's head after the batch */
} gs_store_write_result;

/* Write n ops of one feed (author, scope) in one durable transaction: the
 * head is read, each op built, checked, appended and merged, and the last
 * one signed with sk (the ops below it are vouched for by the chain).
 * Because the head is read inside the transaction, two processes writing
 * as one device never fork its feed. If a build fails, nothing is written
 * and its index is in out->failed_at. sk NULL — the device key is sealed
 * and was not unlocked (gs_replica_unlock) — is GS_EBADPASS, before
 * anything is read or built. */
GS_MUST_CHECK gs_err gs_store_write(gs_store *s,
                                    const uint8_t author[GS_KEY_BYTES],
                                    const uint8_t sk[GS_SECRETKEY_BYTES],
                                    gs_slice scope,
                                    const uint8_t network[GS_KEY_BYTES],
                                    const gs_store_target *targets, size_t n,
                                    gs_store_build_fn fn, void *ctx,
                                    gs_store_write_result *out);

/* The next write of a streamed write (gs_store_write_stream) into *t,
 * whose bytes must stay valid until next is called again: GS_OK, or
 * GS_ENOTFOUND when there are no more; another error ends the write
 * with nothing written (out->failed_at is i). A call with i 0 after calls
 * with greater i means the transaction runs again from the start (the map
 * grew): a stream that cannot start over returns an error. */
typedef gs_err (*gs_store_next_fn)(size_t i, gs_store_target *t, void *ctx);

/* gs_store_write of the writes next names, as many as it names, in one
 * transaction (an import's): a long write is signed every
 * GS_STORE_SIG_SPACING ops as gs_store_write's. next and fn alternate:
 * next(i), then fn(i, ...), then next(i + 1). No writes at all commit an
 * empty transaction. */
GS_MUST_CHECK gs_err gs_store_write_stream(
    gs_store *s, const uint8_t author[GS_KEY_BYTES],
    const uint8_t sk[GS_SECRETKEY_BYTES], gs_slice scope,
    const uint8_t network[GS_KEY_BYTES], gs_store_next_fn next,
    gs_store_build_fn fn, void *ctx, gs_store_write_result *out);

/* Grow the map now, if need be, so that bytes more can be written without
 * the map filling (up to store.max_map_mib): a write too long to be run
 * again (gs_store_write_stream) asks for its room first. The map is
 * address space; the file grows only as it is written. Advice, not a
 * promise: on failure (no address space left) the map is as it was, and a
 * write may still find it full. */
gs_err gs_store_reserve(gs_store *s, uint64_t bytes);

/* The greatest hlc this replica holds (0 if none): a writer's clock must
 * start above it (crdt/hlc.h, G1 across restarts). */
GS_MUST_CHECK gs_err gs_store_hlc_seen(gs_store *s, uint64_t *out);

/* The head of a feed: seq 0 and a zero hash if unknown. */
GS_MUST_CHECK gs_err gs_store_feed_head(gs_store *s,
                                        const uint8_t author[GS_KEY_BYTES],
                                        gs_slice scope, gs_feed_head *out);

/* ---- reads ---- */

/* Entity (type, id) into *out (initialised here; caller finis it).
 * GS_ENOTFOUND if no op ever touched it. */
GS_MUST_CHECK gs_err gs_store_entity_get(gs_store *s, gs_slice type,
                                         gs_slice id, gs_entity *out);

/* Call fn for every entity of type (all types if type.n == 0) in (type, id)
 * order; fn returns non-zero to stop. The entity is valid during the call
 * only. */
typedef int (*gs_store_entity_fn)(const gs_entity *e, void *ctx);
GS_MUST_CHECK gs_err gs_store_entity_each(gs_store *s, gs_slice type,
                                          gs_store_entity_fn fn, void *ctx);

/* gs_store_entity_each that also tells fn how many ops touched each
 * entity: exact up to 16, GS_STORE_TOUCHED_MORE beyond (the stored form
 * lists 16, the hist database the rest). A cheap look before a history
 * read: the count comes with the entity, no read of its own. */
#define GS_STORE_TOUCHED_MORE 17
typedef int (*gs_store_entity_touched_fn)(const gs_entity *e, size_t touched,
                                          void *ctx);
GS_MUST_CHECK gs_err gs_store_entity_each_touched(
    gs_store *s, gs_slice type, gs_store_entity_touched_fn fn, void *ctx);

/* Every op that touched (type, id), in hlc order: its bytes (valid during
 * the call) and content hash. */
typedef int (*gs_store_op_fn)(const uint8_t *op, size_t len,
                              const uint8_t hash[GS_HASH_BYTES], void *ctx);
GS_MUST_CHECK gs_err gs_store_history(gs_store *s, gs_slice type, gs_slice id,
                                      gs_store_op_fn fn, void *ctx);

/* Every op of every feed, feed by feed in seq order, with the signature of
 * each feed's head passed with its last op (NULL for the others): exactly
 * what a bundle or a full sync sends. A frozen feed gives its ops up to
 * the frozen head unsigned, then both branches of its evidence, each
 * signed at its end (two runs past the head). */
typedef int (*gs_store_feed_op_fn)(const uint8_t *op, size_t len,
                                   const gs_sig *sig, void *ctx);
GS_MUST_CHECK gs_err gs_store_ops_each(gs_store *s, gs_store_feed_op_fn fn,
                                       void *ctx);

/* Decode v, a value as the ents database stores it, for the entity
 * (type, id) — what every read does, exposed so the decoder of bytes from
 * disk can be fuzzed (tests/fuzz/fuzz_store_entity.c). *out is initialised
 * on success. */
GS_MUST_CHECK gs_err gs_store_entity_from_stored(gs_store *s, gs_slice type,
                                                 gs_slice id,
                                                 const uint8_t *v, size_t n,
                                                 gs_entity *out);

/* The stored form of entity (type, id), as its database holds it, into
 * out: what gs_store_entity_from_stored reads (the fuzz target's seeds,
 * and tests of the stored form). GS_ENOTFOUND if none is held. */
GS_MUST_CHECK gs_err gs_store_entity_stored(gs_store *s, gs_slice type,
                                            gs_slice id, gs_buf *out);

/* ---- sync (docs/protocol.md §4) ---- */

/* The store keeps, besides each feed's head signature, a signature at
 * least every GS_STORE_SIG_SPACING ops where it was given one (each local
 * write transaction signs its last op, and one longer than that also every
 * GS_STORE_SIG_SPACING-th; each ingested run brings the signature of its
 * last op). A sync run must end at a signed op, so this
 * bounds the runs a sender has to cut. */
#define GS_STORE_SIG_SPACING 1024u

/* One feed as gs_store_feeds_each reports it. */
typedef struct gs_store_feed_info {
    uint8_t author[GS_KEY_BYTES];
    gs_slice scope;    /* borrowed: valid during the callback only */
    gs_feed_head head; /* seq and content hash of its newest op */
    bool frozen;       /* a fork was seen: the feed takes no more ops; head
                          is the op before the fork (seq may be 0) */
    bool suspect;      /* a run that should have chained on the head failed
                          its signature: sync asks for it from seq 1 */
} gs_store_feed_info;

/* Return nonzero to stop early (the call then returns GS_OK). */
typedef int (*gs_store_feed_fn)(const gs_store_feed_info *f, void *ctx);

/* Call fn for every feed whose scope lies in `under`: equal to it or below
 * it in the dotted path ("a.b" holds "a.b" and "a.b.c", not "a.bc"); an
 * empty `under` holds every scope. Order unspecified. One read
 * transaction. */
GS_MUST_CHECK gs_err gs_store_feeds_each(gs_store *s, gs_slice under,
                                         gs_store_feed_fn fn, void *ctx);

/* Read one signed segment of the feed (author, scope) starting at seq
 * `from` (>= 1): ops from..to, where `to` is the greatest signed seq <=
 * from + max_ops - 1, or, when no signed seq lies in that window, the
 * least signed seq above it (so a segment may exceed max_ops, but never
 * GS_STORE_RUN_MAX). fn gets each op's canonical bytes (borrowed, valid
 * during the callback) in seq order, with sig non-NULL on the last op
 * only. *to_out (may be NULL) gets `to`. GS_ENOTFOUND if the feed is
 * unknown or from is above its head; GS_EINVAL if from is 0 or max_ops
 * is 0; GS_ETOOBIG if the segment would exceed GS_STORE_RUN_MAX (only a
 * single gs_store_write of more ops than that can leave one). A nonzero
 * return from fn stops the read with GS_OK. One read transaction. */
GS_MUST_CHECK gs_err gs_store_feed_read(gs_store *s,
                                        const uint8_t author[GS_KEY_BYTES],
                                        gs_slice scope, uint64_t from,
                                        size_t max_ops,
                                        gs_store_feed_op_fn fn, void *ctx,
                                        uint64_t *to_out);

/* A frozen feed (docs/trust.md §4) is read as: its ops up to the head,
 * then the first branch of its fork evidence, which chains on the head
 * and carries the signature (gs_store_feed_read gives both as one
 * segment; `to` is then the branch's last seq); then, on its own, the
 * second branch: gs_store_feed_read_fork hands fn its ops (seq head + 1
 * on), the signature on the last, and *to_out its last seq. A replica
 * given both ends frozen at the same head. GS_ENOTFOUND if the feed is
 * not frozen. */
GS_MUST_CHECK gs_err gs_store_feed_read_fork(gs_store *s,
                                             const uint8_t author[GS_KEY_BYTES],
                                             gs_slice scope,
                                             gs_store_feed_op_fn fn, void *ctx,
                                             uint64_t *to_out);

/* The feed (author, scope) into *out (scope borrows the argument); seq 0
 * and no flags if unknown. */
GS_MUST_CHECK gs_err gs_store_feed_info_get(gs_store *s,
                                            const uint8_t author[GS_KEY_BYTES],
                                            gs_slice scope,
                                            gs_store_feed_info *out);

/* Mark the feed suspect (see gs_store_feed_info): a session saw a run of
 * it fail its signature where it should have chained on our head. The
 * next run from seq 1 that verifies, or a fork, clears it. Unknown or
 * frozen feeds are left alone. One durable write transaction. */
GS_MUST_CHECK gs_err gs_store_feed_suspect(gs_store *s,
                                           const uint8_t author[GS_KEY_BYTES],
                                           gs_slice scope);

/* Fork evidence as gs_store_forks_each reports it: the author signed two
 * different ops at seq; each branch runs from seq to an op it signed
 * (sig), ops are canonical bytes. Everything is borrowed for the call. */
typedef struct gs_store_fork {
    uint8_t author[GS_KEY_BYTES];
    gs_slice scope;
    uint64_t seq;
    bool frozen; /* the feed stands frozen at seq - 1 */
    const gs_slice *ops[2];
    size_t n[2];
    gs_sig sig[2];
} gs_store_fork;
typedef int (*gs_store_fork_fn)(const gs_store_fork *f, void *ctx);
GS_MUST_CHECK gs_err gs_store_forks_each(gs_store *s, gs_store_fork_fn fn,
                                         void *ctx);

/* What gs_store_purge let go of. */
typedef struct gs_store_purge_result {
    uint64_t feeds, ops;
} gs_store_purge_result;

/* Remove every feed not authored by self whose scope no keep[i] covers
 * (store/trust.h gs_scope_covers): its ops, history entries, checkpoints
 * and fork evidence, as a revocation cuts a feed to nothing, and rebuild
 * the entities they touched from the ops that remain (deleting those no op
 * touches any more). One durable write transaction; GS_EFULL etc. as
 * ingest. The device's own feeds stay: they are its own writes. */
GS_MUST_CHECK gs_err gs_store_purge(gs_store *s,
                                    const uint8_t self[GS_KEY_BYTES],
                                    const gs_slice *keep, size_t n_keep,
                                    gs_store_purge_result *out);

/* State digest from the materialised entities. */
GS_MUST_CHECK gs_err gs_store_digest(gs_store *s, uint8_t out[GS_HASH_BYTES]);
/* State digest recomputed from the op log alone (slow; for checks). */
GS_MUST_CHECK gs_err gs_store_digest_rebuild(gs_store *s,
                                             uint8_t out[GS_HASH_BYTES]);

/* Counts for status and tests. */
typedef struct gs_store_counts {
    uint64_t feeds, ops, entities, forks, frozen_feeds;
    uint64_t map_size, map_used;
} gs_store_counts;
GS_MUST_CHECK gs_err gs_store_counts_get(gs_store *s, gs_store_counts *out);

#endif /* GS_STORE_STORE_H */
