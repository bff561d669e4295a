/*
 * trust.h — who may write what (DESIGN §5, docs/trust.md): the ingest
 * rules every op meets before it is stored, by sync, bundle import or a
 * local write alike.
 *
 * The district authority's public key is the network id. Certificates and
 * revocations are ordinary entities in the `trust` scope, written only by
 * the authority:
 *   cert/DEVICEHEX        name, role (lww text), write, read (set of
 *                         scopes), shop (lww bool), until (lww int, ms
 *                         since the epoch; 0 or absent: no end)
 *   revocation/DEVICEHEX  cutoff (set of "SCOPE SEQ HASHHEX SIGHEX": per
 *                         feed of the device, its last valid op, and the
 *                         device's signature of that op; elements written
 *                         before the signature was added have no SIGHEX),
 *                         at (lww int)
 * DEVICEHEX is the device key in 64 lowercase hex digits; SIGHEX the
 * 64-byte Ed25519 signature in 128, made for this network (crdt/op.h).
 *
 * Rules, for an op of author A in scope S (the feed's scope):
 *  - A is the authority: anything. (It could enroll itself anyway.)
 *  - else: no op may touch a cert or a revocation (GS_ESCOPE); A's cert
 *    must exist (GS_ENOCERT); S must lie within one of its write scopes
 *    and not within `trust` (GS_ESCOPE); the op's hlc must lie before
 *    `until` (GS_EEXPIRED); a counter decrease on a field named "points"
 *    (a redemption) needs shop (GS_ESHOP); if A is revoked, S's cutoff
 *    (0 when the revocation does not name S) bounds the feed: ops past it
 *    are GS_EREVOKED, and the op at it must have the pinned hash. Ops
 *    a replica applied before the revocation reached it are rolled back
 *    by the store (store.c, "rolling back"): the signature in the cutoff
 *    lets it keep a signed head at the cutoff.
 * Every rule reads only the op and the trust entities, so every replica
 * that holds the same trust state decides alike, whatever order ops came
 * in; an op refused for want of a certificate is not stored, so it is
 * asked for again once the certificate has arrived (sessions reconcile
 * `trust` first).
 *
 * To narrow a device's rights, revoke it and enroll a new key: `write`,
 * `until` and `shop` only ever grow (gs_authority_enroll refuses to shrink
 * `until` and keeps `shop` once given), so an op once valid stays valid.
 */
#ifndef GS_STORE_TRUST_H
#define GS_STORE_TRUST_H

#include "field.h"
#include "gridsync.h"
#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_TRUST_SCOPE "trust"
#define GS_TRUST_CERT "cert"
#define GS_TRUST_REVOCATION "revocation"
#define GS_TRUST_POINTS_FIELD "points"
#define GS_TRUST_SCOPES_MAX 64 /* write or read scopes in one certificate */

/* The trust entities of one author, borrowed for one decision. */
typedef struct gs_trust_dev {
    const uint8_t *network; /* the authority's key, GS_KEY_BYTES */
    const gs_entity *cert;  /* NULL: the author holds none */
    const gs_entity *revocation; /* NULL: not revoked */
} gs_trust_dev;

/* True if scope lies in outer: equal, or below it on a '.' boundary ("a.b"
 * covers "a.b" and "a.b.c", not "a.bc"); an empty outer covers all. */
bool gs_scope_covers(gs_slice outer, gs_slice scope);

/* True for the refusals of these rules (GS_ENOCERT, GS_ESCOPE, GS_ESHOP,
 * GS_EEXPIRED, GS_EREVOKED): an honest peer may relay such ops (a device
 * not enrolled yet), unlike ops that fail their signature or chain. */
bool gs_trust_refusal(gs_err rc);

/* ---- admission tokens (docs/trust.md §3) ----
 * At enrolment the authority also signs, with its own key, the message
 * "gridsync-admit-v1" || network || device, and writes the signature into
 * the certificate (field "token", 128 hex). A device presents it in HELLO
 * (the cert field); a replica that has not heard of the device yet admits
 * it on the token alone, which anyone can check with the network id. */
#define GS_TRUST_TOKEN_BYTES 64

/* token = the authority's (sk, whose public half is network) signature. */
void gs_trust_token_sign(const uint8_t *network, const uint8_t *sk,
                         const uint8_t device[GS_KEY_BYTES],
                         uint8_t token[GS_TRUST_TOKEN_BYTES]);
/* Whether token (n bytes) is network's admission of device. */
bool gs_trust_token_verify(const uint8_t *network,
                           const uint8_t device[GS_KEY_BYTES],
                           const uint8_t *token, size_t n);
/* device's token from its certificate in st: true if there is a valid
 * one (checked against network). */
struct gs_store;
bool gs_trust_token_get(struct gs_store *st, const uint8_t *network,
                        const uint8_t device[GS_KEY_BYTES],
                        uint8_t token[GS_TRUST_TOKEN_BYTES]);

/* A redemption: the op takes from a "points" counter (only a device whose
 * certificate has the shop flag may write one). */
bool gs_trust_is_redemption(const gs_op *op);
/* How many points op takes (its "points" counter decrease; an op names a
 * field once), 0 if none. */
int64_t gs_trust_points_taken(const gs_op *op);

/* The id of a device's cert and revocation: 64 lowercase hex + NUL. */
void gs_trust_id(const uint8_t key[GS_KEY_BYTES], char out[65]);

/* GS_OK if op (already verified: signature, chain) may be stored, else the
 * reason (see above). hash is op's content hash. */
GS_MUST_CHECK gs_err gs_trust_check(const gs_trust_dev *d, const gs_op *op,
                                    const uint8_t hash[GS_HASH_BYTES]);

/* The parts of a certificate, read from its entity (borrowed from it). */
typedef struct gs_cert_view {
    gs_slice name, role;
    size_t n_write, n_read; /* may exceed GS_TRUST_SCOPES_MAX: then only */
    gs_slice write[GS_TRUST_SCOPES_MAX], read[GS_TRUST_SCOPES_MAX];
    bool shop;
    uint64_t until; /* 0: no end */
} gs_cert_view;

void gs_cert_view_read(const gs_entity *cert, gs_cert_view *out);

/* The cutoff of feed scope in a revocation: *seq and *hash (zeros when the
 * revocation does not name scope: nothing of it is valid). Elements of
 * either form count ("SCOPE SEQ HASHHEX", or with " SIGHEX" after it);
 * malformed ones are ignored. Of several naming scope (revocations merged)
 * the lowest seq wins, whatever order they came in. sig, if not NULL,
 * gets the signature the winning cutoff carries (any element with the
 * same seq and hash may bring it); returns whether there was one. The
 * signature is as the authority wrote it, not verified here. */
bool gs_revocation_cutoff(const gs_entity *rev, gs_slice scope, uint64_t *seq,
                          uint8_t hash[GS_HASH_BYTES],
                          uint8_t sig[GS_SIGNATURE_BYTES]);

/* ---- read scoping (DESIGN §5) ---- */

/* May a reader whose read scopes are read[0..n) be served feeds of scope?
 * `trust` always. */
bool gs_trust_may_read(const gs_slice *read, size_t n, gs_slice scope);

struct gs_store;
/* The read scopes of device in store st (NUL-terminated, each at most
 * GS_SCOPE_BYTES_MAX bytes) into out[0..max): their count; -1 for the
 * authority (device == network: it reads everything); 0 for a device
 * whose certificate st does not hold, or which is revoked (it reads only
 * `trust`). */
int gs_trust_read_scopes(struct gs_store *st, const uint8_t *network,
                         const uint8_t device[GS_KEY_BYTES],
                         char (*out)[GS_SCOPE_BYTES_MAX + 1], size_t max);

/* A device that loses its read rights lets go of the data: if self (this
 * replica's device) is revoked in st, every feed but `trust` and self's
 * own is purged (gs_store_purge; what was purged in *out, zeros if
 * nothing). Read scopes only grow (docs/trust.md §1), so revocation is
 * the one way to lose them. Called after anything that may bring trust
 * ops: a bundle import, a session. */
struct gs_store_purge_result;
GS_MUST_CHECK gs_err gs_trust_purge(struct gs_store *st,
                                    const uint8_t *network,
                                    const uint8_t self[GS_KEY_BYTES],
                                    struct gs_store_purge_result *out);

#endif /* GS_STORE_TRUST_H */
