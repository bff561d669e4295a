/*
 * authority.c — what the district authority writes (certificates and
 * revocations, store/trust.h) and how anyone lists them.
 *
 * The authority is a replica whose device key is the network id (a
 * replica made without --authority, as `gridsync authority init` does).
 * Its certificates and revocations are ops of its feed in the `trust`
 * scope, written in one store transaction like every other write, so
 * they travel by sync and by bundle like any op.
 *
 * SPEC: DESIGN §5, docs/trust.md.
 */
#include "gridsync.h"

#include "err.h"
#include "field.h"
#include "hlc.h"
#include "identity.h"
#include "replica_int.h"
#include "store.h"
#include "trust.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE_STR(s) ((gs_slice){(const uint8_t *)(s), strlen(s)})
#define UPS_MAX 8

/* The one op an authority command writes: its entity and updates. */
struct trust_op {
    const uint8_t *author;
    gs_slice type, id;
    gs_update ups[UPS_MAX];
    size_t n_ups;
    gs_buf pay[UPS_MAX];
};

static void
trust_op_init(struct trust_op *t, const uint8_t *author, const char *type,
              const char *id)
{
    memset(t, 0, sizeof *t);
    t->author = author;
    t->type = SLICE_STR(type);
    t->id = SLICE_STR(id);
    for (size_t i = 0; i < UPS_MAX; i++)
        gs_buf_init(&t->pay[i], GS_PAYLOAD_BYTES_MAX);
}

static void
trust_op_fini(struct trust_op *t)
{
    for (size_t i = 0; i < UPS_MAX; i++)
        gs_buf_fini(&t->pay[i]);
}

/* The next update's payload buffer; the caller fills it and calls up_add. */
static gs_buf *
up_buf(struct trust_op *t)
{
    return &t->pay[t->n_ups];
}

static void
up_add(struct trust_op *t, const char *field, uint8_t kind)
{
    gs_buf *b = &t->pay[t->n_ups];
    t->ups[t->n_ups++] =
        (gs_update){SLICE_STR(field), kind, {b->data, b->len}};
}

static gs_err
up_lww(struct trust_op *t, const gs_entity *cur, const char *field,
       const gs_vref *v)
{
    uint64_t base = 0;
    gs_vref old;
    gs_stamp at;
    const gs_field *f = cur ? gs_entity_field(cur, field, GS_KIND_LWW) : NULL;
    if (f && gs_field_lww_get(f, &old, &at))
        base = at.hlc;
    gs_err rc = gs_payload_lww(up_buf(t), base, v);
    if (rc == GS_OK)
        up_add(t, field, GS_KIND_LWW);
    return rc;
}

static gs_err
up_set_add(struct trust_op *t, const char *field, const char *const *elems,
           size_t n)
{
    gs_set_item items[GS_TRUST_SCOPES_MAX];
    if (n == 0)
        return GS_OK;
    if (n > GS_TRUST_SCOPES_MAX)
        return GS_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_set_item){GS_SET_ADD, SLICE_STR(elems[i]), 0, NULL};
    gs_err rc = gs_payload_set(up_buf(t), items, n);
    if (rc == GS_OK)
        up_add(t, field, GS_KIND_SET);
    return rc;
}

static gs_err
build(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
      const gs_entity *current, gs_buf *out, gs_store_built *built, void *ctx)
{
    (void)built;
    const struct trust_op *t = ctx;
    gs_op op;
    gs_hlc clk;
    (void)i;
    (void)current;
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, t->author, GS_KEY_BYTES);
    op.scope = SLICE_STR(GS_TRUST_SCOPE);
    op.seq = head->seq + 1;
    memcpy(op.prev, head->hash, GS_HASH_BYTES);
    op.type = t->type;
    op.id = t->id;
    op.n_updates = t->n_ups;
    memcpy(op.updates, t->ups, t->n_ups * sizeof *t->ups);
    gs_hlc_init(&clk, 0);
    gs_err rc = gs_hlc_recv(&clk, hlc_seen, gs_hlc_wall_ms());
    if (rc == GS_OK)
        rc = gs_hlc_now(&clk, gs_hlc_wall_ms(), &op.hlc);
    if (rc == GS_OK)
        rc = gs_op_encode(&op, out);
    return rc;
}

/* r's key, if r is its network's authority. */
static gs_err
authority_key(gs_replica *r, const gs_identity **id, char *why, size_t len)
{
    gs_err rc = gs_replica_key(r, NULL, 0, id, why, len);
    if (rc != GS_OK)
        return rc;
    if (memcmp((*id)->pk, gs_replica_network(r), GS_KEY_BYTES) != 0) {
        char net[65];
        gs_trust_id(gs_replica_network(r), net);
        return gs_why(why, len, GS_EDENIED,
                      "this replica's device is not the authority of its "
                      "network (%s); run authority commands on the "
                      "authority's replica ('gridsync authority init' made "
                      "it)",
                      net);
    }
    return GS_OK;
}

static gs_err
trust_write(gs_replica *r, const gs_identity *id, struct trust_op *t,
            char *why, size_t len)
{
    gs_store_target target = {t->type, t->id};
    gs_store_write_result res;
    gs_err rc = gs_store_write(gs_replica_store(r), id->pk, id->sk,
                               SLICE_STR(GS_TRUST_SCOPE),
                               gs_replica_network(r), &target, 1, build, t,
                               &res);
    if (rc != GS_OK)
        return gs_why(why, len, rc, "nothing was written: %s",
                      gs_strerror(rc));
    return GS_OK;
}

static gs_err
scopes_valid(const char *what, const char *const *v, size_t n, char *why,
             size_t len)
{
    if (n > GS_TRUST_SCOPES_MAX)
        return gs_why(why, len, GS_ETOOBIG, "more than %d %s scopes",
                      GS_TRUST_SCOPES_MAX, what);
    for (size_t i = 0; i < n; i++)
        if (!gs_scope_valid((const uint8_t *)v[i], strlen(v[i])) ||
            gs_scope_covers(SLICE_STR(GS_TRUST_SCOPE), SLICE_STR(v[i])))
            return gs_why(why, len, GS_EINVAL,
                          "'%s' is not a %s scope: give an org path such as "
                          "yc.yimei.g012 (lower-case letters, digits, _ and "
                          "-, joined by dots; never 'trust')",
                          v[i], what);
    return GS_OK;
}

gs_err
gs_authority_enroll(gs_replica *r, const char *device,
                    const gs_cert_opts *o, char *why, size_t why_len)
{
    uint8_t key[GS_KEY_BYTES];
    const gs_identity *id;
    gs_entity cur;
    bool have = false;
    gs_err rc;
    static const char *const roles[] = {"district", "station", "tablet"};

    if (!device || gs_identity_hex_decode(device, strlen(device), key) != GS_OK)
        return gs_why(why, why_len, GS_EINVAL,
                      "'%s' is not a device key: give the 64 hex digits "
                      "'gridsync init' printed",
                      device ? device : "");
    bool role_ok = false;
    for (size_t i = 0; o->role && i < 3; i++)
        role_ok |= strcmp(o->role, roles[i]) == 0;
    if (!role_ok)
        return gs_why(why, why_len, GS_EINVAL,
                      "role must be district, station or tablet");
    if (!o->name || !*o->name || strlen(o->name) > 200)
        return gs_why(why, why_len, GS_EINVAL,
                      "give the device a name (1-200 bytes), e.g. "
                      "--name '新新社区 station'");
    if (o->n_write == 0)
        return gs_why(why, why_len, GS_EINVAL,
                      "give at least one --write scope");
    if ((rc = scopes_valid("write", o->write, o->n_write, why, why_len)) ||
        (rc = scopes_valid("read", o->read, o->n_read, why, why_len)))
        return rc;
    if ((rc = authority_key(r, &id, why, why_len)) != GS_OK)
        return rc;
    char hex[65];
    gs_trust_id(key, hex);
    rc = gs_store_entity_get(gs_replica_store(r), SLICE_STR(GS_TRUST_CERT),
                             SLICE_STR(hex), &cur);
    if (rc == GS_OK)
        have = true;
    else if (rc != GS_ENOTFOUND)
        return gs_why(why, why_len, rc, "cannot read the certificate: %s",
                      gs_strerror(rc));
    if (have) {
        /* an op once valid must stay valid on every replica: validity
         * only grows (store/trust.h) */
        gs_cert_view v;
        gs_cert_view_read(&cur, &v);
        if (v.until && o->until_ms && o->until_ms < v.until)
            rc = gs_why(why, why_len, GS_EINVAL,
                        "the certificate is valid until %llu; it can only "
                        "be extended. To end a device's rights now, revoke "
                        "it",
                        (unsigned long long)v.until);
        else if (v.until == 0 && o->until_ms)
            rc = gs_why(why, why_len, GS_EINVAL,
                        "the certificate has no end; it cannot be given one "
                        "now. To end a device's rights, revoke it");
        if (rc != GS_OK) {
            gs_entity_fini(&cur);
            return rc;
        }
    }
    struct trust_op t;
    trust_op_init(&t, id->pk, GS_TRUST_CERT, hex);
    const gs_entity *c = have ? &cur : NULL;
    gs_vref name = {GS_V_STR, 0, SLICE_STR(o->name)};
    gs_vref role = {GS_V_STR, 0, SLICE_STR(o->role)};
    gs_vref shop = {o->shop ? GS_V_TRUE : GS_V_FALSE, 0, {NULL, 0}};
    gs_vref until = {GS_V_INT, (int64_t)o->until_ms, {NULL, 0}};
    rc = up_lww(&t, c, "name", &name);
    if (rc == GS_OK)
        rc = up_lww(&t, c, "role", &role);
    /* shop, like write and until, only grows: enrolling again without it
     * keeps it, or a redemption valid on a replica that had the first
     * certificate would be refused on one that got both at once */
    if (rc == GS_OK && (o->shop || !have))
        rc = up_lww(&t, c, "shop", &shop);
    if (rc == GS_OK && (o->until_ms || !have))
        rc = up_lww(&t, c, "until", &until);
    /* the admission token (store/trust.h): the same bytes every time
     * (Ed25519 is deterministic), written once */
    uint8_t tok[GS_TRUST_TOKEN_BYTES];
    char tok_hex[2 * GS_TRUST_TOKEN_BYTES + 1];
    gs_vref token = {GS_V_STR, 0, {NULL, 0}};
    gs_trust_token_sign(id->pk, id->sk, key, tok);
    sodium_bin2hex(tok_hex, sizeof tok_hex, tok, sizeof tok);
    token.s = gs_slice_of(tok_hex, 2 * GS_TRUST_TOKEN_BYTES);
    if (rc == GS_OK && !(have && gs_trust_token_get(gs_replica_store(r),
                                                    id->pk, key, tok)))
        rc = up_lww(&t, c, "token", &token);
    if (rc == GS_OK)
        rc = up_set_add(&t, "write", o->write, o->n_write);
    if (rc == GS_OK)
        rc = up_set_add(&t, "read", o->read, o->n_read);
    if (rc == GS_OK)
        rc = trust_write(r, id, &t, why, why_len);
    else
        rc = gs_why(why, why_len, rc, "cannot build the certificate: %s",
                    gs_strerror(rc));
    trust_op_fini(&t);
    if (have)
        gs_entity_fini(&cur);
    return rc;
}

/* Revocation: one cutoff per feed of the device, as this replica has it:
 * its head, and the head's signature (the store keeps one for every
 * head), so that a replica rolling the feed back to the cutoff can keep a
 * signed head there (docs/trust.md §2). */
#define CUTOFF_BYTES                                                         \
    (GS_SCOPE_BYTES_MAX + 2 * GS_HASH_BYTES + 2 * GS_SIGNATURE_BYTES + 24)

struct cutoff {
    uint8_t scope[GS_SCOPE_BYTES_MAX];
    size_t scope_n;
    gs_feed_head head;
    char text[CUTOFF_BYTES]; /* the set element */
};

struct cutoffs {
    const uint8_t *device;
    struct cutoff *at;
    size_t n;
};

static int
cutoff_one(const gs_store_feed_info *f, void *ctx)
{
    struct cutoffs *c = ctx;
    if (memcmp(f->author, c->device, GS_KEY_BYTES) != 0)
        return 0;
    if (c->n == GS_TRUST_SCOPES_MAX || f->scope.n > GS_SCOPE_BYTES_MAX)
        return 1;
    struct cutoff *e = &c->at[c->n++];
    memcpy(e->scope, f->scope.p, f->scope.n);
    e->scope_n = f->scope.n;
    e->head = f->head;
    return 0;
}

/* The signature of the head op, as gs_store_feed_read hands it. */
struct head_sig {
    const uint8_t *device, *network, *hash;
    bool found;
    uint8_t sig[GS_SIGNATURE_BYTES];
};

static int
head_sig_one(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct head_sig *h = ctx;
    uint8_t hash[GS_HASH_BYTES];
    if (sig == NULL)
        return 0;
    gs_op_hash(op, len, hash);
    /* the store verified it on the way in; checked again because a wrong
     * one in a revocation would only make replicas cut deeper */
    if (memcmp(hash, h->hash, GS_HASH_BYTES) == 0 &&
        gs_op_verify(hash, sig, h->network, h->device) == GS_OK) {
        memcpy(h->sig, sig->sig, GS_SIGNATURE_BYTES);
        h->found = true;
    }
    return 1;
}

/* The cutoff element for e: "SCOPE SEQ HASHHEX SIGHEX", or without SIGHEX
 * if the head's signature cannot be read. */
static void
cutoff_text(gs_replica *r, const uint8_t *device, struct cutoff *e)
{
    char hash[2 * GS_HASH_BYTES + 1], sig[2 * GS_SIGNATURE_BYTES + 1];
    struct head_sig h = {device, gs_replica_network(r), e->head.hash, false,
                         {0}};
    sodium_bin2hex(hash, sizeof hash, e->head.hash, GS_HASH_BYTES);
    if (e->head.seq > 0 &&
        gs_store_feed_read(gs_replica_store(r), device,
                           gs_slice_of(e->scope, e->scope_n), e->head.seq, 1,
                           head_sig_one, &h, NULL) == GS_OK &&
        h.found) {
        sodium_bin2hex(sig, sizeof sig, h.sig, GS_SIGNATURE_BYTES);
        snprintf(e->text, sizeof e->text, "%.*s %llu %s %s", (int)e->scope_n,
                 (const char *)e->scope, (unsigned long long)e->head.seq,
                 hash, sig);
    } else {
        snprintf(e->text, sizeof e->text, "%.*s %llu %s", (int)e->scope_n,
                 (const char *)e->scope, (unsigned long long)e->head.seq,
                 hash);
    }
}

gs_err
gs_authority_revoke(gs_replica *r, const char *device, char *why,
                    size_t why_len)
{
    uint8_t key[GS_KEY_BYTES];
    const gs_identity *id;
    gs_err rc;
    if (!device || gs_identity_hex_decode(device, strlen(device), key) != GS_OK)
        return gs_why(why, why_len, GS_EINVAL,
                      "'%s' is not a device key: give the 64 hex digits of "
                      "the device to revoke",
                      device ? device : "");
    if ((rc = authority_key(r, &id, why, why_len)) != GS_OK)
        return rc;
    if (memcmp(key, id->pk, GS_KEY_BYTES) == 0)
        return gs_why(why, why_len, GS_EINVAL,
                      "the authority cannot revoke itself");
    struct cutoffs c = {key, calloc(GS_TRUST_SCOPES_MAX, sizeof *c.at), 0};
    if (!c.at)
        return GS_ENOMEM;
    rc = gs_store_feeds_each(gs_replica_store(r), (gs_slice){NULL, 0},
                             cutoff_one, &c);
    const char *elems[GS_TRUST_SCOPES_MAX];
    for (size_t i = 0; i < c.n; i++) {
        cutoff_text(r, key, &c.at[i]);
        elems[i] = c.at[i].text;
    }
    char hex[65];
    gs_trust_id(key, hex);
    struct trust_op t;
    trust_op_init(&t, id->pk, GS_TRUST_REVOCATION, hex);
    gs_vref at = {GS_V_INT, (int64_t)gs_hlc_wall_ms(), {NULL, 0}};
    if (rc == GS_OK)
        rc = up_lww(&t, NULL, "at", &at);
    if (rc == GS_OK)
        rc = up_set_add(&t, "cutoff", elems, c.n);
    if (rc == GS_OK)
        rc = trust_write(r, id, &t, why, why_len);
    else
        rc = gs_why(why, why_len, rc, "cannot build the revocation: %s",
                    gs_strerror(rc));
    trust_op_fini(&t);
    free(c.at);
    return rc;
}

/* ---- listing ---- */

static json_t *
slices_json(const gs_slice *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n && i < GS_TRUST_SCOPES_MAX; i++)
        json_array_append_new(a, json_stringn((const char *)v[i].p, v[i].n));
    return a;
}

static int
cert_one(const gs_entity *e, void *ctx)
{
    json_t *certs = ctx;
    gs_cert_view v;
    gs_cert_view_read(e, &v);
    json_t *o = json_object();
    json_object_set_new(o, "device", json_stringn(e->id, e->id_n));
    json_object_set_new(o, "name",
                        json_stringn((const char *)v.name.p, v.name.n));
    json_object_set_new(o, "role",
                        json_stringn((const char *)v.role.p, v.role.n));
    json_object_set_new(o, "write", slices_json(v.write, v.n_write));
    json_object_set_new(o, "read", slices_json(v.read, v.n_read));
    json_object_set_new(o, "shop", json_boolean(v.shop));
    json_object_set_new(o, "until",
                        v.until ? json_integer((json_int_t)v.until)
                                : json_null());
    json_object_set_new(o, "revoked", json_false());
    json_array_append_new(certs, o);
    return 0;
}

static int
revocation_one(const gs_entity *e, void *ctx)
{
    json_t *out = ctx, *certs = json_object_get(out, "certs");
    gs_slice all[GS_TRUST_SCOPES_MAX];
    const gs_field *f = gs_entity_field(e, "cutoff", GS_KIND_SET);
    size_t n = f ? gs_field_set_members(f, all, GS_TRUST_SCOPES_MAX) : 0;
    json_t *cut = slices_json(all, n), *o = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(certs, i, c) {
        const char *dev = json_string_value(json_object_get(c, "device"));
        if (dev && strlen(dev) == e->id_n && !memcmp(dev, e->id, e->id_n))
            o = c;
    }
    if (!o) { /* revoked without a certificate this replica holds */
        o = json_object();
        json_object_set_new(o, "device", json_stringn(e->id, e->id_n));
        json_array_append_new(certs, o);
    }
    json_object_set_new(o, "revoked", json_true());
    json_object_set_new(o, "cutoff", cut);
    return 0;
}

gs_err
gs_trust_list(gs_replica *r, char **json)
{
    json_t *out = json_object(), *certs = json_array();
    gs_err rc = GS_ENOMEM;
    *json = NULL;
    if (out && certs && !json_object_set(out, "certs", certs)) {
        char net[65];
        gs_trust_id(gs_replica_network(r), net);
        json_object_set_new(out, "authority", json_string(net));
        rc = gs_store_entity_each(gs_replica_store(r),
                                  SLICE_STR(GS_TRUST_CERT), cert_one, certs);
        if (rc == GS_OK)
            rc = gs_store_entity_each(gs_replica_store(r),
                                      SLICE_STR(GS_TRUST_REVOCATION),
                                      revocation_one, out);
        if (rc == GS_OK && !(*json = json_dumps(out, JSON_COMPACT)))
            rc = GS_ENOMEM;
    }
    json_decref(certs);
    json_decref(out);
    return rc;
}
