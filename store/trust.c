/*
 * trust.c — the ingest rules of trust.h: certificates, write scopes, the
 * shop flag, validity and revocation cutoffs.
 *
 * SPEC: DESIGN §5, docs/trust.md.
 */
#include "trust.h"
#include "hlc.h"
#include "store.h"

#include <sodium.h>
#include <string.h>

#define SLICE(s) ((gs_slice){(const uint8_t *)(s), sizeof(s) - 1})

bool
gs_scope_covers(gs_slice outer, gs_slice scope)
{
    if (outer.n == 0)
        return true;
    if (scope.n < outer.n || memcmp(scope.p, outer.p, outer.n) != 0)
        return false;
    return scope.n == outer.n || scope.p[outer.n] == '.';
}

bool
gs_trust_refusal(gs_err rc)
{
    return rc == GS_ENOCERT || rc == GS_ESCOPE || rc == GS_ESHOP ||
           rc == GS_EEXPIRED || rc == GS_EREVOKED;
}

void
gs_trust_id(const uint8_t key[GS_KEY_BYTES], char out[65])
{
    sodium_bin2hex(out, 65, key, GS_KEY_BYTES);
}

static bool
slice_is(gs_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static size_t
set_of(const gs_entity *e, const char *name, gs_slice *out, size_t max)
{
    const gs_field *f = gs_entity_field(e, name, GS_KIND_SET);
    return f ? gs_field_set_members(f, out, max) : 0;
}

static bool
lww_of(const gs_entity *e, const char *name, gs_vref *v)
{
    const gs_field *f = gs_entity_field(e, name, GS_KIND_LWW);
    return f && gs_field_lww_get(f, v, NULL);
}

void
gs_cert_view_read(const gs_entity *cert, gs_cert_view *out)
{
    gs_vref v;
    memset(out, 0, sizeof *out);
    out->n_write = set_of(cert, "write", out->write, GS_TRUST_SCOPES_MAX);
    out->n_read = set_of(cert, "read", out->read, GS_TRUST_SCOPES_MAX);
    if (lww_of(cert, "name", &v) && v.type == GS_V_STR)
        out->name = v.s;
    if (lww_of(cert, "role", &v) && v.type == GS_V_STR)
        out->role = v.s;
    if (lww_of(cert, "shop", &v))
        out->shop = v.type == GS_V_TRUE || (v.type == GS_V_INT && v.i != 0);
    if (lww_of(cert, "until", &v) && v.type == GS_V_INT && v.i > 0)
        out->until = (uint64_t)v.i;
}

/* "SCOPE SEQ HASHHEX" or "SCOPE SEQ HASHHEX SIGHEX": the scope, then
 * decimal seq, then 64 hex digits, then optionally 128 (the device's
 * signature of that op; *has_sig says whether it was there). */
static bool
cutoff_parse(gs_slice e, gs_slice *scope, uint64_t *seq,
             uint8_t hash[GS_HASH_BYTES], bool *has_sig,
             uint8_t sig[GS_SIGNATURE_BYTES])
{
    size_t sp[3], n_sp = 0;
    for (size_t i = 0; i < e.n; i++)
        if (e.p[i] == ' ') {
            if (n_sp == 3)
                return false;
            sp[n_sp++] = i;
        }
    if (n_sp < 2)
        return false;
    size_t hash_end = n_sp == 3 ? sp[2] : e.n;
    if (sp[0] == 0 || sp[1] == sp[0] + 1 ||
        hash_end - sp[1] - 1 != 2 * GS_HASH_BYTES ||
        (n_sp == 3 && e.n - sp[2] - 1 != 2 * GS_SIGNATURE_BYTES))
        return false;
    uint64_t n = 0;
    for (size_t i = sp[0] + 1; i < sp[1]; i++) {
        if (e.p[i] < '0' || e.p[i] > '9' || n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(e.p[i] - '0');
    }
    size_t got = 0;
    if (sodium_hex2bin(hash, GS_HASH_BYTES, (const char *)e.p + sp[1] + 1,
                       2 * GS_HASH_BYTES, NULL, &got, NULL) != 0 ||
        got != GS_HASH_BYTES)
        return false;
    *has_sig = n_sp == 3;
    if (*has_sig &&
        (sodium_hex2bin(sig, GS_SIGNATURE_BYTES, (const char *)e.p + sp[2] + 1,
                        2 * GS_SIGNATURE_BYTES, NULL, &got, NULL) != 0 ||
         got != GS_SIGNATURE_BYTES))
        return false;
    *scope = (gs_slice){e.p, sp[0]};
    *seq = n;
    return true;
}

bool
gs_revocation_cutoff(const gs_entity *rev, gs_slice scope, uint64_t *seq,
                     uint8_t hash[GS_HASH_BYTES],
                     uint8_t sig[GS_SIGNATURE_BYTES])
{
    gs_slice all[GS_TRUST_SCOPES_MAX];
    size_t n = set_of(rev, "cutoff", all, GS_TRUST_SCOPES_MAX);
    bool found = false, signed_ = false;
    *seq = 0;
    memset(hash, 0, GS_HASH_BYTES);
    /* a feed named twice (two revocations merged) keeps the lower cutoff:
     * the decision must not depend on which one came first */
    for (size_t i = 0; i < n && i < GS_TRUST_SCOPES_MAX; i++) {
        gs_slice s;
        uint64_t q;
        uint8_t h[GS_HASH_BYTES], g[GS_SIGNATURE_BYTES];
        bool has_g;
        if (!cutoff_parse(all[i], &s, &q, h, &has_g, g) ||
            gs_slice_cmp(s, scope) != 0)
            continue;
        if (!found || q < *seq) {
            *seq = q;
            memcpy(hash, h, GS_HASH_BYTES);
            signed_ = false;
        }
        found = true;
        /* the signature only lets the store keep a signed head; it never
         * changes the decision, so any element pinning the same op may
         * bring it (an older 3-field one beside a newer 4-field one) */
        if (!signed_ && has_g && q == *seq &&
            memcmp(h, hash, GS_HASH_BYTES) == 0) {
            signed_ = true;
            if (sig)
                memcpy(sig, g, GS_SIGNATURE_BYTES);
        }
    }
    return signed_;
}

int64_t
gs_trust_points_taken(const gs_op *op)
{
    for (size_t i = 0; i < op->n_updates; i++) {
        const gs_update *u = &op->updates[i];
        gs_payload pl;
        if (u->kind != GS_KIND_COUNTER ||
            !slice_is(u->field, GS_TRUST_POINTS_FIELD))
            continue;
        if (gs_payload_parse(u->kind, u->payload, &pl) == GS_OK &&
            pl.u.counter.delta < 0)
            return -pl.u.counter.delta;
    }
    return 0;
}

bool
gs_trust_is_redemption(const gs_op *op)
{
    return gs_trust_points_taken(op) > 0;
}

gs_err
gs_trust_check(const gs_trust_dev *d, const gs_op *op,
               const uint8_t hash[GS_HASH_BYTES])
{
    if (memcmp(op->author, d->network, GS_KEY_BYTES) == 0)
        return GS_OK;
    if (slice_is(op->type, GS_TRUST_CERT) ||
        slice_is(op->type, GS_TRUST_REVOCATION) ||
        gs_scope_covers(SLICE(GS_TRUST_SCOPE), op->scope))
        return GS_ESCOPE;
    if (!d->cert)
        return GS_ENOCERT;
    gs_cert_view c;
    gs_cert_view_read(d->cert, &c);
    bool inside = false;
    for (size_t i = 0; i < c.n_write && i < GS_TRUST_SCOPES_MAX && !inside;
         i++)
        inside = gs_scope_covers(c.write[i], op->scope);
    if (!inside)
        return GS_ESCOPE;
    if (c.until && gs_hlc_ms(op->hlc) >= c.until)
        return GS_EEXPIRED;
    if (!c.shop && gs_trust_is_redemption(op))
        return GS_ESHOP;
    if (d->revocation) {
        uint64_t cut;
        uint8_t pin[GS_HASH_BYTES];
        gs_revocation_cutoff(d->revocation, op->scope, &cut, pin, NULL);
        if (op->seq > cut ||
            (op->seq == cut && sodium_memcmp(pin, hash, GS_HASH_BYTES) != 0))
            return GS_EREVOKED;
    }
    return GS_OK;
}

bool
gs_trust_may_read(const gs_slice *read, size_t n, gs_slice scope)
{
    if (gs_scope_covers(SLICE(GS_TRUST_SCOPE), scope))
        return true;
    for (size_t i = 0; i < n; i++)
        if (gs_scope_covers(read[i], scope))
            return true;
    return false;
}

int
gs_trust_read_scopes(struct gs_store *st, const uint8_t *network,
                     const uint8_t device[GS_KEY_BYTES],
                     char (*out)[GS_SCOPE_BYTES_MAX + 1], size_t max)
{
    char hex[65];
    gs_entity e;
    gs_cert_view v;
    if (!memcmp(device, network, GS_KEY_BYTES))
        return -1;
    gs_trust_id(device, hex);
    /* a revoked device is served the certificates only, also over a
     * connection it opened before the revocation came */
    if (gs_store_entity_get(st, SLICE(GS_TRUST_REVOCATION),
                            gs_slice_of(hex, 64), &e) == GS_OK) {
        gs_entity_fini(&e);
        return 0;
    }
    if (gs_store_entity_get(st, SLICE(GS_TRUST_CERT), gs_slice_of(hex, 64),
                            &e) != GS_OK)
        return 0;
    gs_cert_view_read(&e, &v);
    size_t n = 0;
    for (size_t i = 0; i < v.n_read && i < GS_TRUST_SCOPES_MAX && n < max;
         i++) {
        if (v.read[i].n > GS_SCOPE_BYTES_MAX)
            continue;
        memcpy(out[n], v.read[i].p, v.read[i].n);
        out[n++][v.read[i].n] = 0;
    }
    gs_entity_fini(&e);
    return (int)n;
}

gs_err
gs_trust_purge(struct gs_store *st, const uint8_t *network,
               const uint8_t self[GS_KEY_BYTES], gs_store_purge_result *out)
{
    char hex[65];
    gs_entity e;
    memset(out, 0, sizeof *out);
    if (!memcmp(self, network, GS_KEY_BYTES))
        return GS_OK; /* the authority reads everything */
    gs_trust_id(self, hex);
    gs_err rc = gs_store_entity_get(st, SLICE(GS_TRUST_REVOCATION),
                                    gs_slice_of(hex, 64), &e);
    if (rc == GS_ENOTFOUND)
        return GS_OK;
    if (rc != GS_OK)
        return rc;
    gs_entity_fini(&e);
    const gs_slice keep = SLICE(GS_TRUST_SCOPE);
    return gs_store_purge(st, self, &keep, 1, out);
}

#define TOKEN_TAG "gridsync-admit-v1"

static void
token_message(const uint8_t *network, const uint8_t *device, uint8_t *out)
{
    memcpy(out, TOKEN_TAG, sizeof TOKEN_TAG - 1);
    memcpy(out + sizeof TOKEN_TAG - 1, network, GS_KEY_BYTES);
    memcpy(out + sizeof TOKEN_TAG - 1 + GS_KEY_BYTES, device, GS_KEY_BYTES);
}

#define TOKEN_MSG_BYTES (sizeof TOKEN_TAG - 1 + 2 * GS_KEY_BYTES)

void
gs_trust_token_sign(const uint8_t *network, const uint8_t *sk,
                    const uint8_t device[GS_KEY_BYTES],
                    uint8_t token[GS_TRUST_TOKEN_BYTES])
{
    uint8_t m[TOKEN_MSG_BYTES];
    token_message(network, device, m);
    crypto_sign_detached(token, NULL, m, sizeof m, sk);
}

bool
gs_trust_token_verify(const uint8_t *network,
                      const uint8_t device[GS_KEY_BYTES], const uint8_t *token,
                      size_t n)
{
    uint8_t m[TOKEN_MSG_BYTES];
    if (n != GS_TRUST_TOKEN_BYTES)
        return false;
    token_message(network, device, m);
    return crypto_sign_verify_detached(token, m, sizeof m, network) == 0;
}

bool
gs_trust_token_get(struct gs_store *st, const uint8_t *network,
                   const uint8_t device[GS_KEY_BYTES],
                   uint8_t token[GS_TRUST_TOKEN_BYTES])
{
    char hex[65];
    gs_entity e;
    gs_vref v;
    bool ok = false;
    gs_trust_id(device, hex);
    if (gs_store_entity_get(st, SLICE(GS_TRUST_CERT), gs_slice_of(hex, 64),
                            &e) != GS_OK)
        return false;
    if (lww_of(&e, "token", &v) && v.type == GS_V_STR &&
        v.s.n == 2 * GS_TRUST_TOKEN_BYTES &&
        sodium_hex2bin(token, GS_TRUST_TOKEN_BYTES, (const char *)v.s.p, v.s.n,
                       NULL, NULL, NULL) == 0)
        ok = gs_trust_token_verify(network, device, token,
                                   GS_TRUST_TOKEN_BYTES);
    gs_entity_fini(&e);
    return ok;
}
