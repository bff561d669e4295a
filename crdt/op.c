/*
 * op.c — the op's canonical encoding, content hash, signature and the
 * verification of a contiguous run of a feed.
 *
 * Invariants: gs_op_decode accepts exactly the byte strings gs_op_encode
 * produces (one encoding per op: minimal varints, updates sorted by field,
 * payloads canonical, no trailing bytes), so the content hash names an op,
 * not one of its spellings. Every length is checked against its limit and
 * against the bytes left before anything is read; nothing is allocated.
 *
 * A run is authenticated by the signature on its last op and the chain of
 * content hashes below it (DESIGN §3, "Signatures are detachable"): hashing
 * is cheap, Ed25519 verification is not, so a run of 1,000 ops costs one
 * verification plus 1,000 BLAKE2b hashes.
 *
 * SPEC: docs/op-format.md §3 (op), §5 (signature), §7 (runs).
 */
#include "op.h"
#include "blake2b.h"
#include "field.h"

#include <sodium.h>
#include <string.h>

static const uint8_t zero_hash[GS_HASH_BYTES];

static void
crypto_ready(void)
{
    static volatile int ready;
    if (!ready) {
        /* sodium_init is thread-safe and idempotent; the flag only keeps
         * its lock off the hot path. -1 means no usable RNG, which signing
         * and verifying do not need. */
        int r = sodium_init();
        ready = 1 + (r < 0);
    }
}

/* The characters of names and scopes, by class: a table read per byte
 * (every op's type, field names and scope are checked as it is decoded). */
enum { C_LOWER = 1, C_DIGIT = 2, C_UNDER = 4, C_DASH = 8 };
static const uint8_t char_class[256] = {
    ['a'] = C_LOWER,
    ['b'] = C_LOWER,
    ['c'] = C_LOWER,
    ['d'] = C_LOWER,
    ['e'] = C_LOWER,
    ['f'] = C_LOWER,
    ['g'] = C_LOWER,
    ['h'] = C_LOWER,
    ['i'] = C_LOWER,
    ['j'] = C_LOWER,
    ['k'] = C_LOWER,
    ['l'] = C_LOWER,
    ['m'] = C_LOWER,
    ['n'] = C_LOWER,
    ['o'] = C_LOWER,
    ['p'] = C_LOWER,
    ['q'] = C_LOWER,
    ['r'] = C_LOWER,
    ['s'] = C_LOWER,
    ['t'] = C_LOWER,
    ['u'] = C_LOWER,
    ['v'] = C_LOWER,
    ['w'] = C_LOWER,
    ['x'] = C_LOWER,
    ['y'] = C_LOWER,
    ['z'] = C_LOWER,
    ['0'] = C_DIGIT,
    ['1'] = C_DIGIT,
    ['2'] = C_DIGIT,
    ['3'] = C_DIGIT,
    ['4'] = C_DIGIT,
    ['5'] = C_DIGIT,
    ['6'] = C_DIGIT,
    ['7'] = C_DIGIT,
    ['8'] = C_DIGIT,
    ['9'] = C_DIGIT,
    ['_'] = C_UNDER,
    ['-'] = C_DASH,
};

bool
gs_name_valid(const uint8_t *p, size_t n)
{
    if (n == 0 || n > GS_NAME_BYTES_MAX)
        return false;
    if (!(char_class[p[0]] & (C_LOWER | C_UNDER)))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(char_class[p[i]] & (C_LOWER | C_DIGIT | C_UNDER)))
            return false;
    return true;
}

bool
gs_scope_valid(const uint8_t *p, size_t n)
{
    if (n == 0 || n > GS_SCOPE_BYTES_MAX)
        return false;
    size_t seg = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '.') {
            if (seg == 0)
                return false;
            seg = 0;
            continue;
        }
        if (!char_class[c])
            return false;
        seg++;
    }
    return seg > 0;
}

bool
gs_id_valid(const uint8_t *p, size_t n)
{
    if (n == 0 || n > GS_ID_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n')
            return false;
    return gs_utf8_valid(p, n);
}

/* Read one string field and check it with valid() (NULL: not checked); a
 * charset failure is GS_EUTF8 (the error names bad characters too). */
static gs_err
rd_ident(gs_rd *r, size_t max, bool (*valid)(const uint8_t *, size_t),
         gs_slice *out)
{
    gs_err rc = gs_rd_str(r, max, out);
    if (rc != GS_OK || valid == NULL)
        return rc;
    return valid(out->p, out->n) ? GS_OK : GS_EUTF8;
}

static gs_err decode(const uint8_t *bytes, size_t n, gs_op *op,
                     gs_payload *pl);

gs_err
gs_op_decode(const uint8_t *bytes, size_t n, gs_op *op)
{
    return decode(bytes, n, op, NULL);
}

gs_err
gs_op_decode_parsed(const uint8_t *bytes, size_t n, gs_op *op, gs_payload *pl)
{
    return decode(bytes, n, op, pl);
}

/* An op's updates section from r into op (and, if pl is not NULL, each
 * update's parsed payload into pl: the check parses it anyway,
 * gs_payload_check is gs_payload_parse). */
static gs_err
rd_updates(gs_rd *r, gs_op *op, gs_payload *pl)
{
    uint64_t v;
    gs_err rc;
    if ((rc = gs_rd_varint(r, &v)) != GS_OK)
        return rc;
    if (v > GS_OP_UPDATES_MAX)
        return GS_ETOOBIG;
    if (v == 0)
        return GS_EMALFORMED;
    op->n_updates = (size_t)v;
    for (size_t i = 0; i < op->n_updates; i++) {
        gs_update *u = &op->updates[i];
        if ((rc = rd_ident(r, GS_NAME_BYTES_MAX, gs_name_valid, &u->field)))
            return rc;
        if ((rc = gs_rd_u8(r, &u->kind)) != GS_OK)
            return rc;
        if ((rc = gs_rd_str(r, GS_PAYLOAD_BYTES_MAX, &u->payload)))
            return rc;
        if (i > 0) {
            int c = gs_slice_cmp(op->updates[i - 1].field, u->field);
            if (c == 0)
                return GS_EMALFORMED; /* one update per field */
            if (c > 0)
                return GS_ENONCANON; /* same op, other order */
        }
        gs_payload one;
        gs_payload *to = pl ? &pl[i] : &one;
        if (u->kind == 0 || u->kind > GS_KIND_KNOWN_MAX)
            rc = gs_payload_check(u->kind, u->payload);
        else
            rc = gs_payload_parse(u->kind, u->payload, to);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

gs_err
gs_op_read_updates(gs_rd *r, gs_op *op)
{
    return rd_updates(r, op, NULL);
}

gs_err
gs_op_updates_parse(const uint8_t *p, size_t n, gs_op *op)
{
    gs_rd r;
    gs_rd_init(&r, p, n);
    gs_err rc = rd_updates(&r, op, NULL);
    if (rc == GS_OK && gs_rd_left(&r) != 0)
        rc = GS_EMALFORMED;
    return rc;
}

gs_err
gs_op_updates_check(const uint8_t *p, size_t n)
{
    gs_op op;
    return gs_op_updates_parse(p, n, &op);
}

/* gs_op_decode; pl as rd_updates has it. */
static gs_err
decode(const uint8_t *bytes, size_t n, gs_op *op, gs_payload *pl)
{
    gs_rd r;
    gs_slice s;
    gs_err rc;

    if (n > GS_OP_BYTES_MAX)
        return GS_ETOOBIG;
    gs_rd_init(&r, bytes, n);
    if ((rc = gs_rd_u8(&r, &op->version)) != GS_OK)
        return rc;
    if (op->version != GS_OP_VERSION)
        return GS_EVERSION;
    if ((rc = gs_rd_bytes(&r, GS_KEY_BYTES, &s)) != GS_OK)
        return rc;
    memcpy(op->author, s.p, GS_KEY_BYTES);
    if ((rc = rd_ident(&r, GS_SCOPE_BYTES_MAX, gs_scope_valid,
                       &op->scope)))
        return rc;
    if ((rc = gs_rd_varint(&r, &op->seq)) != GS_OK)
        return rc;
    if ((rc = gs_rd_bytes(&r, GS_HASH_BYTES, &s)) != GS_OK)
        return rc;
    memcpy(op->prev, s.p, GS_HASH_BYTES);
    /* seq 1 and only seq 1 starts a chain */
    if (op->seq == 0 ||
        (op->seq == 1) != !memcmp(op->prev, zero_hash, GS_HASH_BYTES))
        return GS_EMALFORMED;
    if ((rc = gs_rd_u64be(&r, &op->hlc)) != GS_OK)
        return rc;
    if ((rc = rd_ident(&r, GS_NAME_BYTES_MAX, gs_name_valid, &op->type)))
        return rc;
    if ((rc = rd_ident(&r, GS_ID_BYTES_MAX, gs_id_valid, &op->id)))
        return rc;
    if ((rc = rd_updates(&r, op, pl)) != GS_OK)
        return rc;
    if (gs_rd_left(&r) != 0)
        return GS_EMALFORMED;
    return GS_OK;
}

static int
update_cmp(const gs_update *a, const gs_update *b)
{
    return gs_slice_cmp(a->field, b->field);
}

#define PUT(call)                                                              \
    do {                                                                       \
        if ((rc = (call)) != GS_OK)                                            \
            goto out;                                                          \
    } while (0)

/* op's encoding up to its updates: version .. id. */
static gs_err
put_head(const gs_op *op, gs_buf *out)
{
    gs_err rc;
    PUT(gs_buf_put_u8(out, op->version));
    PUT(gs_buf_put(out, op->author, GS_KEY_BYTES));
    PUT(gs_buf_put_str(out, op->scope.p, op->scope.n));
    PUT(gs_buf_put_varint(out, op->seq));
    PUT(gs_buf_put(out, op->prev, GS_HASH_BYTES));
    PUT(gs_buf_put_u64be(out, op->hlc));
    PUT(gs_buf_put_str(out, op->type.p, op->type.n));
    PUT(gs_buf_put_str(out, op->id.p, op->id.n));
out:
    return rc;
}

gs_err
gs_op_encode_updates_at(const gs_update *u, size_t n, gs_buf *out,
                        gs_update_at *at)
{
    const gs_update *sorted[GS_OP_UPDATES_MAX];
    size_t old = out->len;
    gs_err rc = GS_OK;

    if (n > GS_OP_UPDATES_MAX)
        return GS_ETOOBIG;
    /* insertion sort: updates are few, and usually given in order */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && update_cmp(sorted[j - 1], &u[i]) > 0) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = &u[i];
    }
    PUT(gs_buf_put_varint(out, n));
    for (size_t i = 0; i < n; i++) {
        PUT(gs_buf_put_str(out, sorted[i]->field.p, sorted[i]->field.n));
        if (at)
            at[i].field = out->len - sorted[i]->field.n - old;
        PUT(gs_buf_put_u8(out, sorted[i]->kind));
        PUT(gs_buf_put_str(out, sorted[i]->payload.p, sorted[i]->payload.n));
        if (at) {
            at[i].payload = out->len - sorted[i]->payload.n - old;
            at[i].u = sorted[i];
        }
    }
out:
    if (rc != GS_OK)
        out->len = old;
    return rc;
}

gs_err
gs_op_encode_updates(const gs_update *u, size_t n, gs_buf *out)
{
    return gs_op_encode_updates_at(u, n, out, NULL);
}

gs_err
gs_op_encode_with(const gs_op *op, gs_slice updates, gs_buf *out)
{
    size_t old = out->len;
    gs_err rc = put_head(op, out);
    if (rc == GS_OK)
        rc = gs_buf_put(out, updates.p, updates.n);
    if (rc != GS_OK)
        out->len = old;
    return rc;
}
#undef PUT

/* The encoding of op appended to out, unchecked (check: decode it). */
static gs_err
encode(const gs_op *op, gs_buf *out, bool check)
{
    size_t old = out->len;
    gs_err rc = put_head(op, out);
    if (rc == GS_OK)
        rc = gs_op_encode_updates(op->updates, op->n_updates, out);
    /* One set of rules: what we write must be what any decoder accepts. A
     * gs_buf cap above GS_OP_BYTES_MAX still cannot let a big op out. */
    if (rc == GS_OK && check) {
        gs_op back;
        rc = gs_op_decode(out->data + old, out->len - old, &back);
    }
    if (rc != GS_OK)
        out->len = old;
    return rc;
}

gs_err
gs_op_encode(const gs_op *op, gs_buf *out)
{
    return encode(op, out, true);
}

gs_err
gs_op_encode_unchecked(const gs_op *op, gs_buf *out)
{
    return encode(op, out, false);
}

void
gs_op_hash(const uint8_t *bytes, size_t n, uint8_t out[GS_HASH_BYTES])
{
    /* crypto_generichash's function, at about twice its speed here
     * (blake2b.h) */
    gs_blake2b(out, GS_HASH_BYTES, bytes, n);
}

#define SIG_DOMAIN_BYTES (sizeof GS_SIG_DOMAIN - 1)
#define SIG_MSG_BYTES (SIG_DOMAIN_BYTES + GS_KEY_BYTES + GS_HASH_BYTES)

static void
sig_message(const uint8_t hash[GS_HASH_BYTES],
            const uint8_t network[GS_KEY_BYTES], uint8_t msg[SIG_MSG_BYTES])
{
    memcpy(msg, GS_SIG_DOMAIN, SIG_DOMAIN_BYTES);
    memcpy(msg + SIG_DOMAIN_BYTES, network, GS_KEY_BYTES);
    memcpy(msg + SIG_DOMAIN_BYTES + GS_KEY_BYTES, hash, GS_HASH_BYTES);
}

void
gs_op_sign(const uint8_t hash[GS_HASH_BYTES],
           const uint8_t network[GS_KEY_BYTES],
           const uint8_t sk[GS_SECRETKEY_BYTES], gs_sig *out)
{
    uint8_t msg[SIG_MSG_BYTES];
    crypto_ready();
    sig_message(hash, network, msg);
    memcpy(out->network, network, GS_KEY_BYTES);
    crypto_sign_detached(out->sig, NULL, msg, sizeof msg, sk);
}

gs_err
gs_op_verify(const uint8_t hash[GS_HASH_BYTES], const gs_sig *sig,
             const uint8_t network[GS_KEY_BYTES],
             const uint8_t author[GS_KEY_BYTES])
{
    uint8_t msg[SIG_MSG_BYTES];
    if (memcmp(sig->network, network, GS_KEY_BYTES) != 0)
        return GS_ENETWORK;
    crypto_ready();
    sig_message(hash, network, msg);
    if (crypto_sign_verify_detached(sig->sig, msg, sizeof msg, author) != 0)
        return GS_EBADSIG;
    return GS_OK;
}

void
gs_sig_encode(const gs_sig *sig, uint8_t out[GS_SIG_BYTES])
{
    memcpy(out, sig->network, GS_KEY_BYTES);
    memcpy(out + GS_KEY_BYTES, sig->sig, GS_SIGNATURE_BYTES);
}

void
gs_sig_decode(const uint8_t in[GS_SIG_BYTES], gs_sig *out)
{
    memcpy(out->network, in, GS_KEY_BYTES);
    memcpy(out->sig, in + GS_KEY_BYTES, GS_SIGNATURE_BYTES);
}

/* The one implementation behind gs_run_verify and gs_run_link; need_sig
 * says whether the last op must carry a signature. */
static gs_err
run_check(const gs_run_item *items, size_t n, const gs_feed_head *head,
          const uint8_t network[GS_KEY_BYTES], gs_op *ops,
          uint8_t (*hashes)[GS_HASH_BYTES], size_t *bad, bool need_sig)
{
    gs_op local;
    uint8_t author[GS_KEY_BYTES];
    gs_slice scope = {NULL, 0};
    uint8_t prev[GS_HASH_BYTES], hash[GS_HASH_BYTES];
    uint64_t seq = head ? head->seq : 0;
    size_t i = 0;
    gs_err rc = GS_OK;

    if (n == 0 || n > GS_RUN_MAX)
        return GS_EINVAL;
    if (head)
        memcpy(prev, head->hash, GS_HASH_BYTES);
    /* Pass 1, cheap: decode, hash and link every op. */
    for (i = 0; i < n; i++) {
        gs_op *op = ops ? &ops[i] : &local;
        rc = gs_op_decode(items[i].bytes, items[i].n, op);
        if (rc != GS_OK)
            goto out;
        if (i == 0) {
            memcpy(author, op->author, GS_KEY_BYTES);
            scope = op->scope;
        } else if (memcmp(op->author, author, GS_KEY_BYTES) ||
                   gs_slice_cmp(op->scope, scope)) {
            rc = GS_EFEED;
            goto out;
        }
        /* Without a head the first op may start anywhere in its feed. */
        if ((head || i > 0) &&
            (op->seq != seq + 1 || memcmp(op->prev, prev, GS_HASH_BYTES))) {
            rc = GS_ECHAIN;
            goto out;
        }
        seq = op->seq;
        gs_op_hash(items[i].bytes, items[i].n, hash);
        memcpy(prev, hash, GS_HASH_BYTES);
        if (hashes)
            memcpy(hashes[i], hash, GS_HASH_BYTES);
    }
    /* The last op's signature covers the run; nothing past it is trusted. */
    if (items[n - 1].sig == NULL && need_sig) {
        i = n - 1;
        rc = GS_ENOSIG;
        goto out;
    }
    if (items[n - 1].sig != NULL) {
        rc = gs_op_verify(hash, items[n - 1].sig, network, author);
        if (rc != GS_OK) {
            i = n - 1;
            goto out;
        }
    }
    /* Pass 2: signatures given on inner ops are checked too, so no forged
     * signature is ever kept beside an op as if it were evidence. */
    for (i = 0; i + 1 < n; i++) {
        if (items[i].sig == NULL)
            continue;
        if (hashes) {
            memcpy(hash, hashes[i], GS_HASH_BYTES);
        } else {
            gs_op_hash(items[i].bytes, items[i].n, hash);
        }
        rc = gs_op_verify(hash, items[i].sig, network, author);
        if (rc != GS_OK)
            goto out;
    }
    rc = GS_OK;
out:
    if (rc != GS_OK && bad)
        *bad = i;
    return rc;
}

gs_err
gs_run_verify(const gs_run_item *items, size_t n, const gs_feed_head *head,
              const uint8_t network[GS_KEY_BYTES], gs_op *ops,
              uint8_t (*hashes)[GS_HASH_BYTES], size_t *bad)
{
    return run_check(items, n, head, network, ops, hashes, bad, true);
}

gs_err
gs_run_link(const gs_run_item *items, size_t n, const gs_feed_head *head,
            const uint8_t network[GS_KEY_BYTES], gs_op *ops,
            uint8_t (*hashes)[GS_HASH_BYTES], size_t *bad)
{
    return run_check(items, n, head, network, ops, hashes, bad, false);
}
