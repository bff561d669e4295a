/*
 * op.h — the op: one signed change to one entity, the unit of replication.
 *
 * An op is held in two forms. Its canonical encoding (bytes) is what is
 * hashed, signed, stored and sent; there is exactly one encoding of each op,
 * so decode followed by encode gives back the same bytes, and any other
 * byte string is refused (GS_ENONCANON). A decoded gs_op borrows: its slices
 * point into the bytes it was decoded from, or, when the caller fills one in
 * to encode it, into the caller's memory. A gs_op holds no heap memory.
 *
 * Identity and authenticity:
 *   content hash = BLAKE2b-256(encoding)
 *   signature    = Ed25519(author secret key,
 *                          GS_SIG_DOMAIN || network id || content hash)
 * The network id is the district authority's public key; putting it inside
 * the signed message keeps a test network's ops out of a production one. A
 * gs_sig carries the network id it was made for beside the signature, so a
 * receiver can say "wrong network" rather than only "bad signature".
 *
 * Feeds: the ops of one author in one scope form a chain, seq 1, 2, 3 ...,
 * each naming in prev the content hash of the one before (zeros for seq 1).
 * One valid signature on the last op of a contiguous run vouches for every
 * op beneath it (gs_run_verify).
 *
 * SPEC: docs/op-format.md.
 */
#ifndef GS_CRDT_OP_H
#define GS_CRDT_OP_H

#include "buf.h"
#include "gridsync.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_OP_VERSION 1
#define GS_KEY_BYTES 32       /* Ed25519 public key, network id */
#define GS_SECRETKEY_BYTES 64 /* libsodium's Ed25519 secret key */
#define GS_HASH_BYTES 32      /* BLAKE2b-256 */
#define GS_SIGNATURE_BYTES 64
#define GS_SIG_BYTES (GS_KEY_BYTES + GS_SIGNATURE_BYTES) /* encoded gs_sig */
#define GS_SIG_DOMAIN "gridsync/op-sig/v1"               /* 18 bytes */

#define GS_OP_BYTES_MAX 65536 /* whole encoded op */
#define GS_OP_UPDATES_MAX 64  /* updates in one op */
#define GS_SCOPE_BYTES_MAX 255
#define GS_NAME_BYTES_MAX 64 /* type and field names */
#define GS_ID_BYTES_MAX 128  /* entity ids */
#define GS_PAYLOAD_BYTES_MAX 32768
#define GS_RUN_MAX 4096 /* ops in one run given to gs_run_verify */

/* Field kinds (DESIGN §3). Values above GS_KIND_CLAIM are kinds a newer
 * version may define: they are decoded, hashed, signed and relayed, but not
 * merged (their payload is opaque). 0 is never valid. */
enum gs_kind {
    GS_KIND_LWW = 1,
    GS_KIND_COUNTER = 2,
    GS_KIND_SET = 3,
    GS_KIND_LOG = 4,
    GS_KIND_STAGE = 5,
    GS_KIND_CLAIM = 6,
    GS_KIND_KNOWN_MAX = GS_KIND_CLAIM,
};

typedef struct gs_update {
    gs_slice field;   /* [a-z_][a-z0-9_]*, 1..GS_NAME_BYTES_MAX */
    uint8_t kind;     /* enum gs_kind or an unknown kind >= 7 */
    gs_slice payload; /* kind-specific, see field.h; <= GS_PAYLOAD_BYTES_MAX */
} gs_update;

typedef struct gs_op {
    uint8_t version;
    uint8_t author[GS_KEY_BYTES];
    gs_slice scope; /* dotted org path: [a-z0-9_-]+ joined by '.' */
    uint64_t seq;   /* >= 1 */
    uint8_t prev[GS_HASH_BYTES];
    uint64_t hlc;
    gs_slice type; /* like field names */
    gs_slice id;   /* UTF-8, no controls or spaces, 1..GS_ID_BYTES_MAX */
    size_t n_updates;
    gs_update updates[GS_OP_UPDATES_MAX]; /* sorted by field, no repeats */
} gs_op;

typedef struct gs_sig {
    uint8_t network[GS_KEY_BYTES];
    uint8_t sig[GS_SIGNATURE_BYTES];
} gs_sig;

/* Decode bytes[0..n) into *op (which then borrows bytes). Checks every
 * length before reading, every identifier's charset, the UTF-8 of every
 * string, the payload of every known kind, and that the input is the
 * canonical encoding of the op it describes. Errors: GS_ETRUNC,
 * GS_ETOOBIG, GS_EUTF8, GS_EVERSION, GS_ENONCANON, GS_EMALFORMED. On error
 * *op is unspecified. */
GS_MUST_CHECK gs_err gs_op_decode(const uint8_t *bytes, size_t n, gs_op *op);

/* Append the canonical encoding of *op to out. Updates may be given in any
 * order; they are written sorted by field name. The op is checked as
 * gs_op_decode would check it (GS_EINVAL-free: the same named errors), so
 * nothing is ever encoded that a decoder refuses. On error out is as it
 * was. */
GS_MUST_CHECK gs_err gs_op_encode(const gs_op *op, gs_buf *out);

/* gs_op_encode without its closing check, for a caller that hands the
 * bytes straight to something that decodes them before anything else
 * (gs_store_write checks every op it is given): the decode is the check,
 * and doing it twice is a third of the cost of building an op. The bytes
 * are the canonical encoding if op is valid; if it is not, the decode
 * says why. Only the caps are checked here (GS_ETOOBIG). */
GS_MUST_CHECK gs_err gs_op_encode_unchecked(const gs_op *op, gs_buf *out);

/* The updates section of an op's encoding appended to out: varint n,
 * then the n updates sorted by field name, as gs_op_encode writes them
 * (unchecked: gs_op_decode of the op checks them). GS_ETOOBIG past
 * GS_OP_UPDATES_MAX. An importer makes it from a line once; see
 * gs_op_encode_with. On error out is as it was. */
GS_MUST_CHECK gs_err gs_op_encode_updates(const gs_update *u, size_t n,
                                          gs_buf *out);

/* Where gs_op_encode_updates_at put an update: the update it is (one of
 * u), and the offsets of its field name's bytes and of its payload's
 * from the start of the section. */
typedef struct gs_update_at {
    const gs_update *u;
    size_t field, payload;
} gs_update_at;

/* gs_op_encode_updates, and where each update went: at[i] for the i-th
 * in the section (at: room for n). For a caller that reads the section
 * as gs_op_updates_parse would, without parsing it: each payload as its
 * builder made it (the builders in field.h check what they write), each
 * name as it was given (an import's: the schema's; fuzz_json_updates
 * holds json.c to sections the full check takes, each update where this
 * says). */
GS_MUST_CHECK gs_err gs_op_encode_updates_at(const gs_update *u, size_t n,
                                             gs_buf *out, gs_update_at *at);

/* Check an updates section, p[0, n), as gs_op_decode checks the updates
 * of an op: GS_OK, or the error its decode would give. */
GS_MUST_CHECK gs_err gs_op_updates_check(const uint8_t *p, size_t n);

/* gs_op_updates_check, and the updates read into op->n_updates and
 * op->updates (borrowing p); what else op holds is left as it was. */
GS_MUST_CHECK gs_err gs_op_updates_parse(const uint8_t *p, size_t n,
                                         gs_op *op);

/* Read an updates section from r into op->n_updates and op->updates
 * (borrowing r's bytes), checked as gs_op_decode checks them; r is left
 * after it. For decoders of other forms of an op (net/wire.c's compact
 * ops). */
GS_MUST_CHECK gs_err gs_op_read_updates(gs_rd *r, gs_op *op);

/* gs_op_encode_unchecked of op, but with its updates section given,
 * encoded (gs_op_encode_updates): op->updates are not read. */
GS_MUST_CHECK gs_err gs_op_encode_with(const gs_op *op, gs_slice updates,
                                       gs_buf *out);

/* Content hash of an encoded op. */
void gs_op_hash(const uint8_t *bytes, size_t n, uint8_t out[GS_HASH_BYTES]);

/* Sign a content hash for network. sk is libsodium's 64-byte secret key
 * (seed || public key). */
void gs_op_sign(const uint8_t hash[GS_HASH_BYTES],
                const uint8_t network[GS_KEY_BYTES],
                const uint8_t sk[GS_SECRETKEY_BYTES], gs_sig *out);

/* Check sig over hash by author for network: GS_ENETWORK when the
 * signature was made for another network, GS_EBADSIG when it does not
 * verify. */
GS_MUST_CHECK gs_err gs_op_verify(const uint8_t hash[GS_HASH_BYTES],
                                  const gs_sig *sig,
                                  const uint8_t network[GS_KEY_BYTES],
                                  const uint8_t author[GS_KEY_BYTES]);

/* Encoded gs_sig: network id then signature, GS_SIG_BYTES. */
void gs_sig_encode(const gs_sig *sig, uint8_t out[GS_SIG_BYTES]);
void gs_sig_decode(const uint8_t in[GS_SIG_BYTES], gs_sig *out);

/* One op of a run handed to gs_run_verify: its bytes and, if the sender
 * had one, its signature (NULL otherwise). */
typedef struct gs_run_item {
    const uint8_t *bytes;
    size_t n;
    const gs_sig *sig;
} gs_run_item;

/* What the receiver knows of the feed before the run. */
typedef struct gs_feed_head {
    uint64_t seq;                /* 0: nothing yet */
    uint8_t hash[GS_HASH_BYTES]; /* content hash of op seq; zeros if 0 */
} gs_feed_head;

/* Verify a contiguous run of one feed: every op decodes; all share one
 * author and scope (else GS_EFEED); seq counts up from head->seq + 1 and
 * each prev is the content hash of the op before (the first one's is
 * head->hash) (else GS_ECHAIN); the last op carries a signature (else
 * GS_ENOSIG) and every signature given verifies for network (else
 * GS_ENETWORK / GS_EBADSIG). ops and hashes, if not NULL, receive the
 * decoded ops and their content hashes (arrays of n, caller-owned; ops
 * borrow items' bytes). *bad, if not NULL, gets the index of the first op at
 * fault on error. n must be 1..GS_RUN_MAX. */
GS_MUST_CHECK gs_err gs_run_verify(const gs_run_item *items, size_t n,
                                   const gs_feed_head *head,
                                   const uint8_t network[GS_KEY_BYTES],
                                   gs_op *ops, uint8_t (*hashes)[GS_HASH_BYTES],
                                   size_t *bad);

/* The same checks without requiring a signature on the last op: for the
 * leading pieces of a run longer than GS_RUN_MAX, whose only signature is
 * on its very last op. The caller must then verify the rest of the run,
 * linked from this piece's last hash, with gs_run_verify: an unsigned piece
 * is never to be trusted on its own. Signatures given are still checked. */
GS_MUST_CHECK gs_err gs_run_link(const gs_run_item *items, size_t n,
                                 const gs_feed_head *head,
                                 const uint8_t network[GS_KEY_BYTES],
                                 gs_op *ops, uint8_t (*hashes)[GS_HASH_BYTES],
                                 size_t *bad);

/* Identifier checks shared with the store and the command line. */
bool gs_name_valid(const uint8_t *p, size_t n);  /* type and field names */
bool gs_scope_valid(const uint8_t *p, size_t n); /* dotted org path */
bool gs_id_valid(const uint8_t *p, size_t n);    /* entity id */

#endif /* GS_CRDT_OP_H */
