/*
 * recon.h — range reconciliation of feed heads (docs/protocol.md §4.1):
 * the pure logic that finds which feeds two replicas differ on, one scope
 * at a time, as step functions a session drives. No sockets, no store.
 *
 * Items. A side's view of one scope is its feed heads, gs_wire_head
 * (feed key = author || str scope, seq >= 1), sorted strictly ascending by
 * gs_recon_feed_cmp: author bytewise (memcmp), then scope bytes
 * lexicographically, shorter first (wire.c's order). Within one scope every
 * item has the same scope, so items are in author order. The bytewise order
 * of the wire form author || varint(len) || scope agrees with this for all
 * keys recon ever compares (same scope, or an empty-scope bound).
 *
 * Bounds. A range is half-open [lower, next lower) in that order; the last
 * range of an open interval ends at the interval's end. A bound is a feed
 * key whose scope is the scope reconciled or empty: (a, "") sorts just
 * below (a, scope), so no item lies between them and (0^32, "") is the
 * start of the key space. Bounds a side chooses when it splits are
 * (author of one of its own items, ""), so they partition both sides' items
 * in the same way; the other side computes its count and fingerprint over
 * exactly the bounds it received.
 *
 * Fingerprint of a set: XOR of BLAKE2b-128 (crypto_generichash, 16 bytes)
 * of each item's canonical encoding author || str(scope) || varint(seq)
 * || tag, where the tag is 8 bytes of the feed's head hash (zeros for a
 * frozen feed, or when no meta is given): two replicas at one seq of a
 * feed but on different ops (a fork) differ, though a listing shows only
 * seqs.
 *
 * Forks (docs/trust.md §4). A frozen feed is an item with seq
 * gs_recon_frozen_seq(head): above any real seq, so a side that is not
 * frozen wants it (and gets the evidence), and the lower the frozen head
 * the greater, so a side frozen higher wants it from a side frozen lower.
 * A full listing that explains nothing — same feeds, same seqs, yet the
 * fingerprints differed — means a head differs: every listed feed is
 * wanted from its own seq (a probe: the peer's op there is held already,
 * or is the other branch). A feed marked suspect (its meta) is wanted
 * from seq 1 instead, which finds a fork below the head.
 *
 * The exchange (per scope; messages alternate, each side answers the
 * other's last message):
 *   - Each side starts with one open interval, the whole key space, as if
 *     it had sent its SUMMARY. A SUMMARY is one count + fingerprint range
 *     over it.
 *   - An interval a side sent is answered by entries covering it exactly
 *     (the first entry's bound is the interval's lower bound), or by no
 *     entry at all, which closes it.
 *   - A count + fingerprint entry: equal fingerprint and count -> closed
 *     (nothing sent). Differing: if both sides have <= list_max items in it
 *     (or the other side has none and we have <= GS_RECON_BULK_MAX), list
 *     our heads (form 1); if we have none, send count 0 (the other side
 *     then lists); else split it into up to `split` sub-ranges of equal
 *     item counts by our items, each with count + fingerprint.
 *   - A listed entry answering our count + fingerprint (a full listing):
 *     we want every listed feed whose seq is above ours (from our head + 1;
 *     1 if unknown) and answer with the heads the lister lacks or is behind
 *     on (a "difference listing"), or nothing if there are none. The range
 *     is closed on our side.
 *   - A listed entry answering our own listing is such a difference
 *     listing: we want its feeds; the range is closed. Nothing is answered.
 * An answer is sent iff the other side left something open (it sent a
 * count + fingerprint entry or a full listing); the scope is done for a
 * side when it has no open interval. Every answer either closes an open
 * interval or replaces it by sub-ranges with fewer of the splitter's items
 * (a listing is answered once and then closed), so the exchange ends: with
 * d differing feeds among F, in about log_split(F / list_max) + 2 answers.
 * When a message would exceed GS_WIRE_RANGES_MAX or GS_WIRE_HEADS_MAX,
 * splits use fewer sub-ranges (at least one: the range is sent back with
 * our count + fingerprint, the other side then splits it) and listings turn
 * into splits; progress continues, only more slowly.
 *
 * Ownership: struct gs_recon borrows scope and items (they must outlive
 * it, unchanged) and owns its open intervals and wants; free with
 * gs_recon_fini. Messages produced borrow scope; authors are copied.
 * Threads: no shared state.
 *
 * SPEC: docs/protocol.md §4.1.
 */
#ifndef GS_NET_RECON_H
#define GS_NET_RECON_H

#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_RECON_SPLIT 4       /* sub-ranges per split (tunable) */
#define GS_RECON_LIST_MAX 8 /* list a differing range this small */
#define GS_RECON_BULK_MAX 1024 /* list this many when the peer has none */
#define GS_RECON_TAG_BYTES 8
#define GS_RECON_FROZEN (UINT64_C(1) << 62) /* seqs from here: frozen */

/* The item seq of a feed frozen at head (< GS_RECON_FROZEN). */
static inline uint64_t
gs_recon_frozen_seq(uint64_t head)
{
    return GS_RECON_FROZEN + (GS_RECON_FROZEN - 1 - head);
}

/* What recon knows of an item beyond its wire form. */
typedef struct gs_recon_meta {
    uint8_t tag[GS_RECON_TAG_BYTES]; /* head hash prefix; zeros if frozen */
    bool suspect; /* want the feed from seq 1 (gs_store_feed_info) */
} gs_recon_meta;

struct gs_recon_open; /* an interval we sent and await an answer for */

struct gs_recon {
    gs_slice scope;            /* borrowed */
    const gs_wire_head *items; /* borrowed, n, strictly ascending */
    const gs_recon_meta *meta; /* borrowed, n, or NULL */
    size_t n;
    uint8_t (*prefix)[GS_WIRE_FP_BYTES]; /* n + 1 prefix XORs */
    struct gs_recon_open *open;
    size_t n_open, cap_open;
    gs_wire_want *wants; /* feeds we lack, scope borrows scope */
    size_t n_wants, cap_wants;
    unsigned split, list_max; /* GS_RECON_SPLIT, GS_RECON_LIST_MAX */
    uint64_t owed; /* ops the other side listed beyond ours, in our wants */
};

/* Order of feed keys (see above): <0, 0, >0. */
int gs_recon_feed_cmp(const gs_wire_feed *a, const gs_wire_feed *b);

/* XOR of BLAKE2b-128 of each item's canonical encoding into out (meta
 * may be NULL: zero tags). */
void gs_recon_fingerprint(const gs_wire_head *items, const gs_recon_meta *meta,
                          size_t n, uint8_t out[GS_WIRE_FP_BYTES]);

/* Start reconciling scope over items[0..n) and their meta (both borrowed;
 * meta may be NULL). GS_EINVAL if the items are not strictly ascending,
 * not all of scope, or a seq is 0; GS_ENOMEM. Hashes every item once (the
 * prefix XORs make any range's fingerprint O(1)). */
GS_MUST_CHECK gs_err gs_recon_init(struct gs_recon *r, gs_slice scope,
                                   const gs_wire_head *items,
                                   const gs_recon_meta *meta, size_t n);
void gs_recon_fini(struct gs_recon *r);

/* Our SUMMARY entry for the scope: count and fingerprint of all items. */
void gs_recon_summary(const struct gs_recon *r, gs_wire_sum *out);

/* Answer the other side's SUMMARY entry for our scope: appends to out our
 * ranges for the scope, none if the fingerprints are equal (then the
 * scope is done; the listener sends its SUMMARY per §4). *reply is true
 * iff ranges were appended. Errors as gs_recon_answer. */
GS_MUST_CHECK gs_err gs_recon_answer_summary(struct gs_recon *r,
                                             const gs_wire_sum *in,
                                             gs_wire_ranges *out,
                                             bool *reply);

/* Answer the other side's RANGES message in (decoded; the scope may be
 * absent from it, which closes everything we had open): collects wants,
 * appends our entries for the scope to out (nothing if none) and sets
 * *reply: whether the other side awaits an answer (send out even if it
 * holds nothing for this scope). Errors: GS_EMALFORMED (entries outside
 * our open intervals, not covering one, a bound or head of another scope,
 * count + fingerprint answering our listing), GS_ETOOBIG (out cannot hold
 * the difference listings owed, or out already has GS_WIRE_SCOPES_MAX
 * scopes), GS_ENOMEM. On error r and out are as they were. */
GS_MUST_CHECK gs_err gs_recon_answer(struct gs_recon *r,
                                     const gs_wire_ranges *in,
                                     gs_wire_ranges *out, bool *reply);

/* True when nothing we sent awaits an answer. */
bool gs_recon_done(const struct gs_recon *r);

/* The wants collected so far, sorted ascending (a WANT's order): feeds the
 * other side has ahead of us, from our head + 1. Valid until r changes. */
const gs_wire_want *gs_recon_wants(struct gs_recon *r, size_t *n);

#endif /* GS_NET_RECON_H */
