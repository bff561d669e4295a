/*
 * state.c — an in-memory replica state: every entity, found by (type, id)
 * through an open-addressing hash table, and its canonical digest.
 *
 * Layout: entities live in one dense array (so the digest can list them
 * without walking the table); the table holds (hash, index + 1) slots with
 * linear probing, at most 3/4 full, doubling when needed. Entities are never
 * removed (a deletion is a tombstone field), so the table needs no
 * tombstones of its own. Entity pointers move when the array grows: a
 * pointer from gs_state_get lives until the state next changes.
 *
 * An entity enters the table only once an op or a join gave it its first
 * state, and an op refused before any change leaves no entity behind: two
 * replicas that saw the same valid ops hold the same entities.
 *
 * SPEC: docs/op-format.md §6 (entity encoding, state digest).
 */
#include "field.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t h;
    size_t idx; /* index + 1 into ents; 0: empty */
};

struct gs_state {
    gs_entity *ents;
    size_t n, cap;
    struct slot *slots;
    size_t mask; /* slots - 1; slots is a power of two or 0 */
    uint64_t seed; /* random per state: ids come from other devices */
};

/* A fast 64-bit hash (wyhash-style multiply-fold), keyed with a random
 * seed per state so that a device cannot choose ids that collide and turn
 * lookups quadratic. Nothing outside the table depends on the hash. */
static inline uint64_t
fold(uint64_t a, uint64_t b)
{
    __uint128_t m = (__uint128_t)a * b;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static uint64_t
hash_bytes(const char *p, size_t n, uint64_t h)
{
    const uint64_t k1 = 0xa0761d6478bd642fULL, k2 = 0xe7037ed1a0b428dbULL;
    h = fold(h ^ k1, n ^ k2);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = fold(h ^ v ^ k1, k2);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = fold(h ^ v ^ k2, k1);
    }
    return h;
}

static uint64_t
key_hash(const gs_state *s, gs_slice type, gs_slice id)
{
    /* the type's length is folded in first, so (type, id) is unambiguous */
    return hash_bytes((const char *)id.p, id.n,
                      hash_bytes((const char *)type.p, type.n, s->seed));
}

/* Slot holding (type, id), or the empty slot where it would go. */
static size_t
probe(const gs_state *s, uint64_t h, gs_slice type, gs_slice id)
{
    size_t i = (size_t)h & s->mask;
    for (;;) {
        const struct slot *sl = &s->slots[i];
        if (sl->idx == 0)
            return i;
        if (sl->h == h) {
            const gs_entity *e = &s->ents[sl->idx - 1];
            __builtin_prefetch(e->fields);
            if (e->type_n == type.n && e->id_n == id.n &&
                memcmp(e->type, type.p, type.n) == 0 &&
                memcmp(e->id, id.p, id.n) == 0)
                return i;
        }
        i = (i + 1) & s->mask;
    }
}

gs_err
gs_state_new(gs_state **out)
{
    gs_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return GS_ENOMEM;
    if (sodium_init() < 0) {
        free(s);
        return GS_ENOMEM; /* no randomness to be had */
    }
    randombytes_buf(&s->seed, sizeof s->seed);
    *out = s;
    return GS_OK;
}

void
gs_state_free(gs_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        gs_entity_fini(&s->ents[i]);
    free(s->ents);
    free(s->slots);
    free(s);
}

/* Room for one more entity in the array and the table, so that adding it
 * afterwards cannot fail. */
static gs_err
reserve(gs_state *s)
{
    size_t nslots = s->slots ? s->mask + 1 : 0;
    if ((s->n + 1) * 4 > nslots * 3) {
        size_t ns = nslots ? nslots * 2 : 64;
        if (ns > SIZE_MAX / sizeof(struct slot))
            return GS_ENOMEM;
        struct slot *t = calloc(ns, sizeof *t);
        if (t == NULL)
            return GS_ENOMEM;
        for (size_t i = 0; i < nslots; i++) {
            if (s->slots[i].idx == 0)
                continue;
            size_t j = (size_t)s->slots[i].h & (ns - 1);
            while (t[j].idx != 0)
                j = (j + 1) & (ns - 1);
            t[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = t;
        s->mask = ns - 1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(gs_entity))
            return GS_ENOMEM;
        gs_entity *p = realloc(s->ents, cap * sizeof *p);
        if (p == NULL)
            return GS_ENOMEM;
        s->ents = p;
        s->cap = cap;
    }
    return GS_OK;
}

/* Add e (taking it) at empty slot i; reserve() was called before. */
static void
add(gs_state *s, size_t i, uint64_t h, const gs_entity *e)
{
    s->ents[s->n] = *e;
    s->n++;
    s->slots[i].h = h;
    s->slots[i].idx = s->n;
}

/* Prefetch the entity whose slot holds hash h, if any, without touching
 * the entity itself. */
static void
prefetch_entity(const gs_state *s, uint64_t h)
{
    size_t i = (size_t)h & s->mask;
    for (;;) {
        const struct slot *sl = &s->slots[i];
        if (sl->idx == 0)
            return;
        if (sl->h == h) {
            const char *e = (const char *)&s->ents[sl->idx - 1];
            __builtin_prefetch(e);
            __builtin_prefetch(e + 64);
            __builtin_prefetch(e + 128);
            return;
        }
        i = (i + 1) & s->mask;
    }
}

/*
 * Most of the cost of an apply is waiting for memory: the slot, then the
 * entity, then its fields, each address known only once the one before
 * has arrived. So each is prefetched as soon as its address is known, and
 * the op's payloads are checked and parsed meanwhile: the first update
 * while the slot arrives, the others while the entity does.
 */
gs_err
gs_state_apply(gs_state *s, const gs_op *op, const uint8_t hash[GS_HASH_BYTES])
{
    if (op->n_updates > GS_OP_UPDATES_MAX)
        return GS_EINVAL;
    uint64_t h = key_hash(s, op->type, op->id);
    if (s->slots != NULL)
        __builtin_prefetch(&s->slots[(size_t)h & s->mask]);
    gs_payload pl[GS_OP_UPDATES_MAX];
    gs_err rc;
    size_t k = 0;
    if (op->n_updates > 0) {
        rc = gs_update_parse(&op->updates[0], &pl[0]);
        if (rc != GS_OK)
            return rc;
        k = 1;
    }
    if (s->slots != NULL)
        prefetch_entity(s, h);
    for (; k < op->n_updates; k++) {
        rc = gs_update_parse(&op->updates[k], &pl[k]);
        if (rc != GS_OK)
            return rc;
    }
    if (s->slots != NULL) {
        size_t i = probe(s, h, op->type, op->id);
        if (s->slots[i].idx != 0)
            return gs_entity_apply_parsed(&s->ents[s->slots[i].idx - 1], op, pl,
                                          hash);
    }
    rc = reserve(s);
    if (rc != GS_OK)
        return rc;
    gs_entity e;
    rc = gs_entity_init(&e, op->type, op->id);
    if (rc != GS_OK)
        return rc;
    rc = gs_entity_apply_parsed(&e, op, pl, hash);
    /* a refused op changes nothing; a partly applied one (GS_ENOMEM) is
     * kept as the state below the full apply; an op of unknown kinds only
     * leaves no entity (such updates are not in the state, op-format §6) */
    if (e.n_fields == 0) {
        gs_entity_fini(&e);
        return rc;
    }
    add(s, probe(s, h, op->type, op->id), h, &e);
    return rc;
}

gs_err
gs_state_join(gs_state *dst, const gs_state *src)
{
    if (dst == src)
        return GS_OK;
    for (size_t k = 0; k < src->n; k++) {
        const gs_entity *se = &src->ents[k];
        gs_slice type = gs_slice_of(se->type, se->type_n);
        gs_slice id = gs_slice_of(se->id, se->id_n);
        uint64_t h = key_hash(dst, type, id);
        gs_err rc;
        if (dst->slots != NULL) {
            size_t i = probe(dst, h, type, id);
            if (dst->slots[i].idx != 0) {
                rc = gs_entity_join(&dst->ents[dst->slots[i].idx - 1], se);
                if (rc != GS_OK)
                    return rc;
                continue;
            }
        }
        rc = reserve(dst);
        if (rc != GS_OK)
            return rc;
        gs_entity e;
        rc = gs_entity_init(&e, type, id);
        if (rc != GS_OK)
            return rc;
        rc = gs_entity_join(&e, se);
        if (e.n_fields == 0) {
            gs_entity_fini(&e);
            if (rc != GS_OK)
                return rc;
            continue;
        }
        add(dst, probe(dst, h, type, id), h, &e);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

const gs_entity *
gs_state_get(const gs_state *s, gs_slice type, gs_slice id)
{
    if (s->slots == NULL)
        return NULL;
    size_t i = probe(s, key_hash(s, type, id), type, id);
    return s->slots[i].idx ? &s->ents[s->slots[i].idx - 1] : NULL;
}

size_t
gs_state_count(const gs_state *s)
{
    return s->n;
}

static int
entity_order(const void *a, const void *b)
{
    const gs_entity *x = *(const gs_entity *const *)a;
    const gs_entity *y = *(const gs_entity *const *)b;
    int c = gs_slice_cmp(gs_slice_of(x->type, x->type_n),
                         gs_slice_of(y->type, y->type_n));
    if (c != 0)
        return c;
    return gs_slice_cmp(gs_slice_of(x->id, x->id_n),
                        gs_slice_of(y->id, y->id_n));
}

gs_err
gs_state_digest(const gs_state *s, uint8_t out[GS_HASH_BYTES])
{
    const gs_entity **ord = NULL;
    gs_digest d;
    gs_err rc = gs_digest_init(&d);
    if (rc != GS_OK)
        return rc;
    if (s->n > 0) {
        ord = malloc(s->n * sizeof *ord);
        if (ord == NULL) {
            rc = GS_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < s->n; i++)
            ord[i] = &s->ents[i];
        qsort(ord, s->n, sizeof *ord, entity_order);
    }
    for (size_t i = 0; i < s->n; i++) {
        rc = gs_digest_add(&d, ord[i]);
        if (rc != GS_OK)
            goto out;
    }
out:
    gs_digest_final(&d, rc == GS_OK ? out : NULL);
    free(ord);
    return rc;
}
