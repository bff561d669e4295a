/*
 * trust.c — the ingest rules of trust.h: certificates, write scopes, the
 * shop flag, validity and revocation cutoffs.
 *
 * SPEC: DESIGN §5, docs/trust.md.
 */
#include "trust.h"
#include "hlc.h"

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

/* "SCOPE SEQ HASHHEX": the scope, then decimal seq, then 64 hex digits. */
static bool
cutoff_parse(gs_slice e, gs_slice *scope, uint64_t *seq,
             uint8_t hash[GS_HASH_BYTES])
{
    size_t sp1 = 0, sp2 = 0;
    for (size_t i = 0; i < e.n; i++)
        if (e.p[i] == ' ') {
            if (!sp1)
                sp1 = i;
            else if (!sp2)
                sp2 = i;
            else
                return false;
        }
    if (!sp1 || !sp2 || sp2 == sp1 + 1 || e.n - sp2 - 1 != 2 * GS_HASH_BYTES)
        return false;
    uint64_t n = 0;
    for (size_t i = sp1 + 1; i < sp2; i++) {
        if (e.p[i] < '0' || e.p[i] > '9' || n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(e.p[i] - '0');
    }
    size_t got = 0;
    if (sodium_hex2bin(hash, GS_HASH_BYTES, (const char *)e.p + sp2 + 1,
                       2 * GS_HASH_BYTES, NULL, &got, NULL) != 0 ||
        got != GS_HASH_BYTES)
        return false;
    *scope = (gs_slice){e.p, sp1};
    *seq = n;
    return true;
}

void
gs_revocation_cutoff(const gs_entity *rev, gs_slice scope, uint64_t *seq,
                     uint8_t hash[GS_HASH_BYTES])
{
    gs_slice all[GS_TRUST_SCOPES_MAX];
    size_t n = set_of(rev, "cutoff", all, GS_TRUST_SCOPES_MAX);
    bool found = false;
    *seq = 0;
    memset(hash, 0, GS_HASH_BYTES);
    /* a feed named twice (two revocations merged) keeps the lower cutoff:
     * the decision must not depend on which one came first */
    for (size_t i = 0; i < n && i < GS_TRUST_SCOPES_MAX; i++) {
        gs_slice s;
        uint64_t q;
        uint8_t h[GS_HASH_BYTES];
        if (!cutoff_parse(all[i], &s, &q, h) || gs_slice_cmp(s, scope) != 0)
            continue;
        if (!found || q < *seq) {
            *seq = q;
            memcpy(hash, h, GS_HASH_BYTES);
        }
        found = true;
    }
}

/* A redemption: the op takes from a "points" counter. */
static bool
is_redemption(const gs_op *op)
{
    for (size_t i = 0; i < op->n_updates; i++) {
        const gs_update *u = &op->updates[i];
        gs_payload pl;
        if (u->kind != GS_KIND_COUNTER ||
            !slice_is(u->field, GS_TRUST_POINTS_FIELD))
            continue;
        if (gs_payload_parse(u->kind, u->payload, &pl) == GS_OK &&
            pl.u.counter.delta < 0)
            return true;
    }
    return false;
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
    if (!c.shop && is_redemption(op))
        return GS_ESHOP;
    if (d->revocation) {
        uint64_t cut;
        uint8_t pin[GS_HASH_BYTES];
        gs_revocation_cutoff(d->revocation, op->scope, &cut, pin);
        if (op->seq > cut ||
            (op->seq == cut && sodium_memcmp(pin, hash, GS_HASH_BYTES) != 0))
            return GS_EREVOKED;
    }
    return GS_OK;
}
