/*
 * entity.c — an entity (type, id) as a sorted set of fields, its canonical
 * encoding, and the streaming state digest.
 *
 * Invariants:
 *  - fields are sorted strictly ascending by (name bytes by gs_slice_cmp,
 *    kind); a name written under two kinds keeps one field per kind;
 *  - no field is empty (bottom): fields are created only by an apply or a
 *    join that gave them content, so equal entity states have equal field
 *    lists, equal encodings and equal digests;
 *  - gs_entity_apply checks every update of an op before it changes
 *    anything, so a bad op is refused whole (an op applies atomically); only
 *    GS_ENOMEM can leave part of an op applied, which is still a state below
 *    the full apply.
 *
 * Encoding: str type, str id, varint n_fields, then per field: str name,
 * u8 kind, str(field state, see field.c).
 * Digest: BLAKE2b-256 over "gridsync/state/v1" then the encodings of all
 * entities in strictly ascending (type bytes, id bytes) order.
 *
 * SPEC: docs/op-format.md §6 (field state, entity encoding, state digest).
 */
#include "field.h"

#include <stdlib.h>
#include <string.h>

#define DIGEST_TAG "gridsync/state/v1"
#define FIELD_REC_MIN 5 /* str name (2) + kind (1) + str(state) (2) */

static bool
slice_eq(gs_slice a, const char *p, size_t n)
{
    return a.n == n && (n == 0 || memcmp(a.p, p, n) == 0);
}

gs_err
gs_entity_init(gs_entity *e, gs_slice type, gs_slice id)
{
    if (type.n == 0 || type.n > GS_NAME_BYTES_MAX ||
        !gs_name_valid(type.p, type.n))
        return GS_EINVAL;
    if (id.n == 0 || id.n > GS_ID_BYTES_MAX || !gs_id_valid(id.p, id.n))
        return GS_EINVAL;
    e->type_n = type.n;
    e->id_n = id.n;
    e->n_fields = e->cap_fields = 0;
    e->fields = NULL;
    memcpy(e->type, type.p, type.n);
    e->type[type.n] = '\0';
    memcpy(e->id, id.p, id.n);
    e->id[id.n] = '\0';
    return GS_OK;
}

void
gs_entity_fini(gs_entity *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_fields; i++)
        gs_field_fini(&e->fields[i]);
    free(e->fields);
    e->fields = NULL;
    e->n_fields = e->cap_fields = 0;
}

static int
field_key_cmp(gs_slice name, uint8_t kind, const gs_field *f)
{
    int c = gs_slice_cmp(name, gs_slice_of(f->name, f->name_n));
    if (c != 0)
        return c;
    return (kind > f->kind) - (kind < f->kind);
}

/* Index of (name, kind) or where it would go. */
static size_t
field_find(const gs_entity *e, gs_slice name, uint8_t kind, bool *found)
{
    size_t lo = 0, hi = e->n_fields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (field_key_cmp(name, kind, &e->fields[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < e->n_fields && field_key_cmp(name, kind, &e->fields[lo]) == 0;
    return lo;
}

/* Make room for extra more fields, so inserting cannot fail afterwards. A
 * new entity gets exactly what its first op needs: most entities are
 * written a few times, and their memory is most of a replica's. */
static gs_err
reserve_fields(gs_entity *e, size_t extra)
{
    size_t need = e->n_fields + extra;
    if (need <= e->cap_fields)
        return GS_OK;
    size_t cap = e->cap_fields ? e->cap_fields * 2 : need;
    if (cap < need)
        cap = need;
    if (cap > SIZE_MAX / sizeof(gs_field))
        return GS_ENOMEM;
    gs_field *p = realloc(e->fields, cap * sizeof *p);
    if (p == NULL)
        return GS_ENOMEM;
    e->fields = p;
    e->cap_fields = cap;
    return GS_OK;
}

static void
insert_field(gs_entity *e, size_t at, const gs_field *f)
{
    memmove(&e->fields[at + 1], &e->fields[at], (e->n_fields - at) * sizeof *f);
    e->fields[at] = *f;
    e->n_fields++;
}

/*
 * Join into the field (name, kind) of e, creating it if need be: src is a
 * parsed payload (pl) or a field (fsrc). A new field is kept if it got any
 * content, even on GS_ENOMEM, and dropped if it stayed empty.
 */
static gs_err
field_join_into(gs_entity *e, gs_slice name, uint8_t kind, const gs_payload *pl,
                const gs_op *op, const uint8_t *hash, const gs_field *fsrc)
{
    bool found;
    size_t at = field_find(e, name, kind, &found);
    if (found)
        return pl ? gs_field_apply_parsed(&e->fields[at], pl, op, hash)
                  : gs_field_join(&e->fields[at], fsrc);
    gs_err rc = reserve_fields(e, 1);
    if (rc != GS_OK)
        return rc;
    gs_field f;
    rc = gs_field_init(&f, name, kind);
    if (rc != GS_OK)
        return rc;
    rc = pl ? gs_field_apply_parsed(&f, pl, op, hash) : gs_field_join(&f, fsrc);
    if (gs_field_empty(&f)) {
        gs_field_fini(&f);
        return rc;
    }
    insert_field(e, at, &f);
    return rc;
}

gs_err
gs_update_parse(const gs_update *u, gs_payload *pl)
{
    if (u->kind == 0)
        return GS_EKIND;
    if (u->kind > GS_KIND_KNOWN_MAX)
        return GS_OK;
    if (u->field.n == 0 || u->field.n > GS_NAME_BYTES_MAX ||
        !gs_name_valid(u->field.p, u->field.n))
        return GS_EINVAL;
    return gs_payload_parse(u->kind, u->payload, pl);
}

gs_err
gs_op_parse_updates(const gs_op *op, gs_payload *pl)
{
    if (op->n_updates > GS_OP_UPDATES_MAX)
        return GS_EINVAL;
    for (size_t i = 0; i < op->n_updates; i++) {
        gs_err rc = gs_update_parse(&op->updates[i], &pl[i]);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

gs_err
gs_entity_apply_parsed(gs_entity *e, const gs_op *op, const gs_payload *pl,
                       const uint8_t hash[GS_HASH_BYTES])
{
    if (!slice_eq(op->type, e->type, e->type_n) ||
        !slice_eq(op->id, e->id, e->id_n))
        return GS_EINVAL;
    if (e->n_fields == 0) {
        size_t known = 0;
        for (size_t i = 0; i < op->n_updates; i++)
            known += op->updates[i].kind <= GS_KIND_KNOWN_MAX;
        if (known > 0 && reserve_fields(e, known) != GS_OK)
            return GS_ENOMEM;
    }
    for (size_t i = 0; i < op->n_updates; i++) {
        const gs_update *u = &op->updates[i];
        if (u->kind > GS_KIND_KNOWN_MAX)
            continue; /* stored and relayed elsewhere, not merged */
        gs_err rc =
            field_join_into(e, u->field, u->kind, &pl[i], op, hash, NULL);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

gs_err
gs_entity_apply(gs_entity *e, const gs_op *op,
                const uint8_t hash[GS_HASH_BYTES])
{
    if (!slice_eq(op->type, e->type, e->type_n) ||
        !slice_eq(op->id, e->id, e->id_n))
        return GS_EINVAL;
    /* check every update first: an op applies whole or not at all */
    gs_payload pl[GS_OP_UPDATES_MAX];
    gs_err rc = gs_op_parse_updates(op, pl);
    if (rc != GS_OK)
        return rc;
    return gs_entity_apply_parsed(e, op, pl, hash);
}

gs_err
gs_entity_join(gs_entity *dst, const gs_entity *src)
{
    if (dst == src)
        return GS_OK;
    if (!slice_eq(gs_slice_of(src->type, src->type_n), dst->type,
                  dst->type_n) ||
        !slice_eq(gs_slice_of(src->id, src->id_n), dst->id, dst->id_n))
        return GS_EINVAL;
    for (size_t i = 0; i < src->n_fields; i++) {
        const gs_field *f = &src->fields[i];
        if (gs_field_empty(f))
            continue;
        gs_err rc = field_join_into(dst, gs_slice_of(f->name, f->name_n),
                                    f->kind, NULL, NULL, NULL, f);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

const gs_field *
gs_entity_field(const gs_entity *e, const char *name, uint8_t kind)
{
    bool found;
    size_t at = field_find(e, gs_slice_of(name, strlen(name)), kind, &found);
    return found ? &e->fields[at] : NULL;
}

bool
gs_entity_deleted(const gs_entity *e)
{
    const gs_field *f = gs_entity_field(e, GS_DELETED_FIELD, GS_KIND_LWW);
    gs_vref v;
    return f != NULL && gs_field_lww_get(f, &v, NULL) && v.type == GS_V_TRUE;
}

/* Encode f's state into b as str(state): the state is written in place,
 * then moved right to make room for its length. */
static gs_err
put_state(gs_buf *b, const gs_field *f)
{
    size_t pos = b->len;
    gs_err rc = gs_field_state_encode(f, b);
    if (rc != GS_OK)
        return rc;
    size_t n = b->len - pos;
    if (n > GS_FIELD_STATE_BYTES_MAX) { /* decode would refuse it */
        b->len = pos;
        return GS_ETOOBIG;
    }
    uint8_t v[10];
    size_t k = 0;
    uint64_t x = n;
    do {
        uint8_t byte = x & 0x7f;
        x >>= 7;
        v[k++] = byte | (x ? 0x80 : 0);
    } while (x);
    rc = gs_buf_put(b, v, k); /* grow by k; the bytes are overwritten */
    if (rc != GS_OK) {
        b->len = pos;
        return rc;
    }
    memmove(b->data + pos + k, b->data + pos, n);
    memcpy(b->data + pos, v, k);
    return GS_OK;
}

gs_err
gs_entity_encode(const gs_entity *e, gs_buf *b)
{
    size_t old = b->len, n = 0;
    for (size_t i = 0; i < e->n_fields; i++)
        n += !gs_field_empty(&e->fields[i]);
    gs_err rc = gs_buf_put_str(b, e->type, e->type_n);
    if (rc == GS_OK)
        rc = gs_buf_put_str(b, e->id, e->id_n);
    if (rc == GS_OK)
        rc = gs_buf_put_varint(b, n);
    for (size_t i = 0; i < e->n_fields && rc == GS_OK; i++) {
        const gs_field *f = &e->fields[i];
        if (gs_field_empty(f))
            continue;
        rc = gs_buf_put_str(b, f->name, f->name_n);
        if (rc == GS_OK)
            rc = gs_buf_put_u8(b, f->kind);
        if (rc == GS_OK)
            rc = put_state(b, f);
    }
    if (rc != GS_OK)
        b->len = old;
    return rc;
}

gs_err
gs_entity_decode(gs_entity *e, const uint8_t *p, size_t n)
{
    if (n > GS_ENTITY_BYTES_MAX)
        return GS_ETOOBIG;
    if (p == NULL && n > 0)
        return GS_EINVAL;
    gs_rd r;
    gs_rd_init(&r, p, n);
    gs_slice type, id;
    gs_err rc = gs_rd_str(&r, GS_NAME_BYTES_MAX, &type);
    if (rc != GS_OK)
        return rc;
    if (type.n == 0 || !gs_name_valid(type.p, type.n))
        return GS_EMALFORMED;
    rc = gs_rd_str(&r, GS_ID_BYTES_MAX, &id);
    if (rc != GS_OK)
        return rc;
    if (id.n == 0 || !gs_id_valid(id.p, id.n))
        return GS_EMALFORMED;
    uint64_t nf;
    rc = gs_rd_varint(&r, &nf);
    if (rc != GS_OK)
        return rc;
    if (nf > gs_rd_left(&r) / FIELD_REC_MIN)
        return GS_ETRUNC;

    gs_entity tmp;
    rc = gs_entity_init(&tmp, type, id);
    if (rc != GS_OK)
        return rc;
    /* The array grows as fields decode: a count read from disk is a claim,
     * and each field costs far more memory than its 5 bytes of input. */
    for (uint64_t i = 0; i < nf; i++) {
        if (reserve_fields(&tmp, 1) != GS_OK) {
            rc = GS_ENOMEM;
            goto out;
        }
        gs_slice name, st;
        uint8_t kind;
        rc = gs_rd_str(&r, GS_NAME_BYTES_MAX, &name);
        if (rc != GS_OK)
            goto out;
        if (name.n == 0 || !gs_name_valid(name.p, name.n)) {
            rc = GS_EMALFORMED;
            goto out;
        }
        rc = gs_rd_u8(&r, &kind);
        if (rc != GS_OK)
            goto out;
        if (kind == 0 || kind > GS_KIND_KNOWN_MAX) {
            rc = GS_EKIND; /* unknown kinds are never materialised */
            goto out;
        }
        if (i > 0 && field_key_cmp(name, kind, &tmp.fields[i - 1]) <= 0) {
            rc = GS_ENONCANON;
            goto out;
        }
        rc = gs_rd_str(&r, GS_FIELD_STATE_BYTES_MAX, &st);
        if (rc != GS_OK)
            goto out;
        gs_field *f = &tmp.fields[i];
        rc = gs_field_state_decode(f, name, kind, st.p, st.n);
        if (rc != GS_OK)
            goto out;
        tmp.n_fields++;
        if (gs_field_empty(f)) {
            rc = GS_ENONCANON; /* encode never writes an empty field */
            goto out;
        }
    }
    if (gs_rd_left(&r) != 0) {
        rc = GS_EMALFORMED;
        goto out;
    }
    *e = tmp;
    return GS_OK;
out:
    gs_entity_fini(&tmp);
    return rc;
}

/* ---- digest ---- */

gs_err
gs_digest_init(gs_digest *d)
{
    if (crypto_generichash_init(&d->st, NULL, 0, GS_HASH_BYTES) != 0)
        return GS_EINVAL;
    crypto_generichash_update(&d->st, (const unsigned char *)DIGEST_TAG,
                              sizeof DIGEST_TAG - 1);
    d->have_last = false;
    gs_buf_init(&d->last_key, 16 + GS_NAME_BYTES_MAX + GS_ID_BYTES_MAX);
    gs_buf_init(&d->scratch, GS_ENTITY_BYTES_MAX);
    return GS_OK;
}

gs_err
gs_digest_add(gs_digest *d, const gs_entity *e)
{
    gs_slice type = gs_slice_of(e->type, e->type_n);
    gs_slice id = gs_slice_of(e->id, e->id_n);
    if (type.n > GS_NAME_BYTES_MAX || id.n > GS_ID_BYTES_MAX)
        return GS_EINVAL;
    if (d->have_last) {
        /* last_key holds str(type) then the id bytes */
        gs_rd r;
        gs_slice lt;
        gs_rd_init(&r, d->last_key.data, d->last_key.len);
        if (gs_rd_str(&r, GS_NAME_BYTES_MAX, &lt) != GS_OK)
            return GS_EINVAL;
        gs_slice li = gs_slice_of(r.p, gs_rd_left(&r));
        int c = gs_slice_cmp(type, lt);
        if (c == 0)
            c = gs_slice_cmp(id, li);
        if (c <= 0)
            return GS_EINVAL;
    }
    gs_buf_reset(&d->scratch);
    gs_err rc = gs_entity_encode(e, &d->scratch);
    if (rc != GS_OK)
        return rc;
    gs_buf_reset(&d->last_key);
    rc = gs_buf_put_str(&d->last_key, type.p, type.n);
    if (rc == GS_OK)
        rc = gs_buf_put(&d->last_key, id.p, id.n);
    if (rc != GS_OK) {
        d->have_last = false;
        return rc;
    }
    crypto_generichash_update(&d->st, d->scratch.data, d->scratch.len);
    d->have_last = true;
    return GS_OK;
}

void
gs_digest_final(gs_digest *d, uint8_t out[GS_HASH_BYTES])
{
    uint8_t tmp[GS_HASH_BYTES];
    crypto_generichash_final(&d->st, out ? out : tmp, GS_HASH_BYTES);
    gs_buf_fini(&d->last_key);
    gs_buf_fini(&d->scratch);
    d->have_last = false;
}
