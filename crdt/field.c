/*
 * field.c — the six field kinds as state-based CRDTs: apply, join, the
 * canonical state encoding, and readers.
 *
 * Invariants every function keeps (and gs_field_state_decode demands):
 *  - every array is sorted strictly ascending by its record order, so a
 *    state has exactly one in-memory form and one encoding, and equal
 *    states encode to equal bytes (the state digest relies on it);
 *  - apply(s, u) == join(s, state_of(u)): gs_field_apply takes a direct
 *    path (a binary-searched insert, or a compare for lww and stage) that
 *    gives the same result as building the one-op state and joining it, so
 *    apply is idempotent, commutative and associative like join;
 *  - on GS_ENOMEM a field keeps a valid state below the intended join.
 *
 * Record orders: counter by author; set adds and removes by (element by
 * gs_slice_cmp, tag); log by (hlc, author, encoded value); claims and
 * withdrawals by (hlc, author, claimant by gs_slice_cmp).
 *
 * State encodings (integers u64be, varints minimal, str = varint length +
 * bytes):
 *   lww      u8 set (0/1); if set: u64be hlc, 32B author, varint base, value
 *   counter  varint n, n x (32B author, u64be hlc, svarint total)
 *   set      varint n_add, n_add x (str elem, 32B tag);
 *            varint n_rm, n_rm x (str elem, 32B tag)
 *   log      varint n, n x (u64be hlc, 32B author, value)
 *   stage    u8 set (0/1); if set: varint round, varint stage, u64be hlc,
 *            32B author
 *   claim    varint n_claim, n_claim x (u64be hlc, 32B author, str who);
 *            varint n_wd, the same for withdrawals
 *
 * SPEC: docs/op-format.md §4 (payloads), §6 (field state).
 */
#include "field.h"

#include <stdlib.h>
#include <string.h>

/* Smallest encoded records, to cap counts by the input left. */
#define CTR_REC_MIN (GS_KEY_BYTES + 8 + 1)
#define SET_REC_MIN (2 + GS_HASH_BYTES)
#define LOG_REC_MIN (8 + GS_KEY_BYTES + 1)
#define CLAIM_REC_MIN (8 + GS_KEY_BYTES + 2)

int
gs_stamp_cmp(const gs_stamp *a, const gs_stamp *b)
{
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    return memcmp(a->author, b->author, GS_KEY_BYTES);
}

static bool
kind_known(uint8_t kind)
{
    return kind >= GS_KIND_LWW && kind <= GS_KIND_KNOWN_MAX;
}

/* Room for need records in an array of cap; returns the (maybe moved)
 * array, or NULL with arr and *cap untouched. */
static void *
grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return arr;
    size_t c = *cap ? *cap : 1; /* most fields hold one or two records */
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return NULL;
        c *= 2;
    }
    if (c > SIZE_MAX / size)
        return NULL;
    void *p = realloc(arr, c * size);
    if (p != NULL)
        *cap = c;
    return p;
}

static char *
dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* ---- record orders ---- */

static int
ctr_cmp(const void *a, const void *b)
{
    const struct gs_ctr_entry *x = a, *y = b;
    return memcmp(x->author, y->author, GS_KEY_BYTES);
}

static int
sa_key_cmp(gs_slice elem, const uint8_t *tag, const struct gs_set_add *y)
{
    int c = gs_slice_cmp(elem, gs_slice_of(y->elem, y->elem_n));
    if (c != 0)
        return c;
    return memcmp(tag, y->tag, GS_HASH_BYTES);
}

static int
sa_cmp(const void *a, const void *b)
{
    const struct gs_set_add *x = a;
    return sa_key_cmp(gs_slice_of(x->elem, x->elem_n), x->tag, b);
}

static int
log_key_cmp(const gs_stamp *at, const gs_vref *v, const struct gs_log_entry *y)
{
    int c = gs_stamp_cmp(at, &y->at);
    if (c != 0)
        return c;
    gs_vref yv = gs_value_ref(&y->v);
    return gs_vref_cmp(v, &yv);
}

static int
log_cmp(const void *a, const void *b)
{
    const struct gs_log_entry *x = a;
    gs_vref xv = gs_value_ref(&x->v);
    return log_key_cmp(&x->at, &xv, b);
}

static int
cr_key_cmp(const gs_stamp *at, gs_slice who, const struct gs_claim_rec *y)
{
    int c = gs_stamp_cmp(at, &y->at);
    if (c != 0)
        return c;
    return gs_slice_cmp(who, gs_slice_of(y->who, y->who_n));
}

static int
cr_cmp(const void *a, const void *b)
{
    const struct gs_claim_rec *x = a;
    return cr_key_cmp(&x->at, gs_slice_of(x->who, x->who_n), b);
}

/* ---- deep copies and frees of records ---- */

static gs_err
sa_copy(void *dst, const void *src)
{
    const struct gs_set_add *s = src;
    struct gs_set_add *d = dst;
    char *e = dup_bytes((const uint8_t *)s->elem, s->elem_n);
    if (e == NULL)
        return GS_ENOMEM;
    *d = *s;
    d->elem = e;
    return GS_OK;
}

static gs_err
log_copy(void *dst, const void *src)
{
    const struct gs_log_entry *s = src;
    struct gs_log_entry *d = dst;
    gs_value v = {GS_V_NULL, 0, NULL, 0};
    gs_vref r = gs_value_ref(&s->v);
    gs_err rc = gs_value_set(&v, &r);
    if (rc != GS_OK)
        return rc;
    d->at = s->at;
    d->v = v;
    return GS_OK;
}

static gs_err
cr_copy(void *dst, const void *src)
{
    const struct gs_claim_rec *s = src;
    struct gs_claim_rec *d = dst;
    char *w = dup_bytes((const uint8_t *)s->who, s->who_n);
    if (w == NULL)
        return GS_ENOMEM;
    *d = *s;
    d->who = w;
    return GS_OK;
}

/* Equal counter keys: keep the greater (hlc, total). */
static void
ctr_same(void *dst, const void *src)
{
    struct gs_ctr_entry *d = dst;
    const struct gs_ctr_entry *s = src;
    if (s->hlc > d->hlc || (s->hlc == d->hlc && s->total > d->total)) {
        d->hlc = s->hlc;
        d->total = s->total;
    }
}

struct rec_ops {
    size_t size;
    int (*cmp)(const void *, const void *);
    gs_err (*copy)(void *, const void *); /* NULL: plain copy */
    void (*same)(void *, const void *);   /* NULL: keep dst's */
};

static const struct rec_ops CTR_OPS = {sizeof(struct gs_ctr_entry), ctr_cmp,
                                       NULL, ctr_same};
static const struct rec_ops SA_OPS = {sizeof(struct gs_set_add), sa_cmp,
                                      sa_copy, NULL};
static const struct rec_ops LOG_OPS = {sizeof(struct gs_log_entry), log_cmp,
                                       log_copy, NULL};
static const struct rec_ops CR_OPS = {sizeof(struct gs_claim_rec), cr_cmp,
                                      cr_copy, NULL};

/*
 * Merge sorted src[0..sn) into sorted dst[0..*dn) (both strictly
 * ascending), copying src records deeply. The result replaces dst through
 * *out. If a deep copy fails, the records of src not yet taken are left
 * out: the result is still a sorted subset of the union, and GS_ENOMEM is
 * returned.
 */
static gs_err
merge(void *dst, size_t *dn, size_t *dcap, const void *src, size_t sn,
      const struct rec_ops *m, void **out)
{
    *out = dst;
    if (sn == 0)
        return GS_OK;
    size_t total = *dn + sn;
    if (total < sn || total > SIZE_MAX / m->size)
        return GS_ENOMEM;
    char *o = malloc(total * m->size);
    if (o == NULL)
        return GS_ENOMEM;
    const char *d = dst, *s = src;
    size_t i = 0, j = 0, k = 0, sz = m->size;
    gs_err rc = GS_OK;
    while (i < *dn || (j < sn && rc == GS_OK)) {
        int c;
        if (i == *dn)
            c = 1;
        else if (j == sn || rc != GS_OK)
            c = -1;
        else
            c = m->cmp(d + i * sz, s + j * sz);
        if (c <= 0) {
            memcpy(o + k * sz, d + i * sz, sz);
            if (c == 0) {
                if (m->same != NULL)
                    m->same(o + k * sz, s + j * sz);
                j++;
            }
            i++;
            k++;
            continue;
        }
        if (m->copy == NULL) {
            memcpy(o + k * sz, s + j * sz, sz);
            k++;
        } else if (m->copy(o + k * sz, s + j * sz) == GS_OK) {
            k++;
        } else {
            rc = GS_ENOMEM;
        }
        j++;
    }
    free(dst);
    *dn = k;
    *dcap = total;
    *out = o;
    return rc;
}

/* Index of the first record not less than key (cmp(key, rec)), and
 * whether it is equal. */
static size_t
lower(const void *arr, size_t n, size_t size, const void *key,
      int (*cmp)(const void *, const void *), bool *found)
{
    size_t lo = 0, hi = n;
    const char *a = arr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(key, a + mid * size) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && cmp(key, a + lo * size) == 0;
    return lo;
}

/* Put rec (already owned by the caller) at index at; on failure the
 * caller still owns it. */
static gs_err
insert_at(void **arr, size_t *n, size_t *cap, size_t size, size_t at,
          const void *rec)
{
    char *a = grow(*arr, cap, *n + 1, size);
    if (a == NULL)
        return GS_ENOMEM;
    memmove(a + (at + 1) * size, a + at * size, (*n - at) * size);
    memcpy(a + at * size, rec, size);
    *arr = a;
    (*n)++;
    return GS_OK;
}

/* ---- lifecycle ---- */

gs_err
gs_field_init(gs_field *f, gs_slice name, uint8_t kind)
{
    if (!kind_known(kind))
        return GS_EKIND;
    if (name.n == 0 || name.n > GS_NAME_BYTES_MAX ||
        !gs_name_valid(name.p, name.n))
        return GS_EINVAL;
    memset(f, 0, sizeof *f);
    memcpy(f->name, name.p, name.n);
    f->name_n = name.n;
    f->kind = kind;
    return GS_OK;
}

static void
free_sa(struct gs_set_add *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].elem);
    free(a);
}

static void
free_cr(struct gs_claim_rec *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].who);
    free(a);
}

void
gs_field_fini(gs_field *f)
{
    if (f == NULL)
        return;
    switch (f->kind) {
    case GS_KIND_LWW:
        gs_value_fini(&f->u.lww.v);
        break;
    case GS_KIND_COUNTER:
        free(f->u.counter.e);
        break;
    case GS_KIND_SET:
        free_sa(f->u.set.add, f->u.set.n_add);
        free_sa(f->u.set.rm, f->u.set.n_rm);
        break;
    case GS_KIND_LOG:
        for (size_t i = 0; i < f->u.log.n; i++)
            gs_value_fini(&f->u.log.e[i].v);
        free(f->u.log.e);
        break;
    case GS_KIND_CLAIM:
        free_cr(f->u.claim.claim, f->u.claim.n_claim);
        free_cr(f->u.claim.wd, f->u.claim.n_wd);
        break;
    default:
        break;
    }
    memset(f, 0, sizeof *f);
}

bool
gs_field_empty(const gs_field *f)
{
    switch (f->kind) {
    case GS_KIND_LWW:
        return !f->u.lww.set;
    case GS_KIND_COUNTER:
        return f->u.counter.n == 0;
    case GS_KIND_SET:
        return f->u.set.n_add == 0 && f->u.set.n_rm == 0;
    case GS_KIND_LOG:
        return f->u.log.n == 0;
    case GS_KIND_STAGE:
        return !f->u.stage.set;
    case GS_KIND_CLAIM:
        return f->u.claim.n_claim == 0 && f->u.claim.n_wd == 0;
    default:
        return true;
    }
}

/* ---- the join of one record (apply's direct paths) ---- */

int
gs_lww_cmp(const gs_stamp *a_at, uint64_t a_base, const gs_vref *a,
           const gs_stamp *b_at, uint64_t b_base, const gs_vref *b)
{
    int c = gs_stamp_cmp(a_at, b_at);
    if (c != 0)
        return c;
    c = gs_varint_cmp(a_base, b_base);
    if (c != 0)
        return c;
    return gs_vref_cmp(a, b);
}

static int
lww_order(const gs_stamp *at, uint64_t base, const gs_vref *v,
          const gs_field *f)
{
    gs_vref cur = gs_value_ref(&f->u.lww.v);
    return gs_lww_cmp(at, base, v, &f->u.lww.at, f->u.lww.base, &cur);
}

static gs_err
lww_put(gs_field *f, const gs_stamp *at, uint64_t base, const gs_vref *v)
{
    if (f->u.lww.set && lww_order(at, base, v, f) <= 0)
        return GS_OK; /* the losing write costs no allocation */
    gs_err rc = gs_value_set(&f->u.lww.v, v);
    if (rc != GS_OK)
        return rc;
    f->u.lww.set = true;
    f->u.lww.at = *at;
    f->u.lww.base = base;
    return GS_OK;
}

static gs_err
ctr_put(gs_field *f, const struct gs_ctr_entry *rec)
{
    bool found;
    size_t i = lower(f->u.counter.e, f->u.counter.n, sizeof *rec, rec, ctr_cmp,
                     &found);
    if (found) {
        ctr_same(&f->u.counter.e[i], rec);
        return GS_OK;
    }
    void *a = f->u.counter.e;
    gs_err rc =
        insert_at(&a, &f->u.counter.n, &f->u.counter.cap, sizeof *rec, i, rec);
    f->u.counter.e = a;
    return rc;
}

/* Add (elem, tag) to one of the set's arrays. */
static gs_err
sa_put(struct gs_set_add **arr, size_t *n, size_t *cap, gs_slice elem,
       const uint8_t tag[GS_HASH_BYTES])
{
    /* binary search on the borrowed key: no allocation when present */
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sa_key_cmp(elem, tag, &(*arr)[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && sa_key_cmp(elem, tag, &(*arr)[lo]) == 0)
        return GS_OK;
    struct gs_set_add rec;
    rec.elem = dup_bytes(elem.p, elem.n);
    if (rec.elem == NULL)
        return GS_ENOMEM;
    rec.elem_n = elem.n;
    memcpy(rec.tag, tag, GS_HASH_BYTES);
    void *a = *arr;
    gs_err rc = insert_at(&a, n, cap, sizeof rec, lo, &rec);
    *arr = a;
    if (rc != GS_OK)
        free(rec.elem);
    return rc;
}

static gs_err
log_put(gs_field *f, const gs_stamp *at, const gs_vref *v)
{
    size_t n = f->u.log.n, lo = 0, hi = n;
    /* entries mostly arrive in order: try the end first */
    if (n > 0 && log_key_cmp(at, v, &f->u.log.e[n - 1]) > 0) {
        lo = n;
    } else {
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (log_key_cmp(at, v, &f->u.log.e[mid]) > 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n && log_key_cmp(at, v, &f->u.log.e[lo]) == 0)
            return GS_OK;
    }
    struct gs_log_entry rec = {*at, {GS_V_NULL, 0, NULL, 0}};
    gs_err rc = gs_value_set(&rec.v, v);
    if (rc != GS_OK)
        return rc;
    void *a = f->u.log.e;
    rc = insert_at(&a, &f->u.log.n, &f->u.log.cap, sizeof rec, lo, &rec);
    f->u.log.e = a;
    if (rc != GS_OK)
        gs_value_fini(&rec.v);
    return rc;
}

static void
stage_put(gs_field *f, uint64_t round, uint64_t stage, const gs_stamp *at)
{
    if (f->u.stage.set) {
        if (round < f->u.stage.round ||
            (round == f->u.stage.round && stage < f->u.stage.stage))
            return;
        if (round == f->u.stage.round && stage == f->u.stage.stage) {
            if (gs_stamp_cmp(at, &f->u.stage.at) < 0)
                f->u.stage.at = *at; /* earliest write of this stage */
            return;
        }
    }
    f->u.stage.set = true;
    f->u.stage.round = round;
    f->u.stage.stage = stage;
    f->u.stage.at = *at;
}

static gs_err
cr_put(struct gs_claim_rec **arr, size_t *n, size_t *cap, const gs_stamp *at,
       gs_slice who)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cr_key_cmp(at, who, &(*arr)[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < *n && cr_key_cmp(at, who, &(*arr)[lo]) == 0)
        return GS_OK;
    struct gs_claim_rec rec;
    rec.at = *at;
    rec.who = dup_bytes(who.p, who.n);
    if (rec.who == NULL)
        return GS_ENOMEM;
    rec.who_n = who.n;
    void *a = *arr;
    gs_err rc = insert_at(&a, n, cap, sizeof rec, lo, &rec);
    *arr = a;
    if (rc != GS_OK)
        free(rec.who);
    return rc;
}

/* ---- apply ---- */

gs_err
gs_field_apply_parsed(gs_field *f, const gs_payload *pl, const gs_op *op,
                      const uint8_t hash[GS_HASH_BYTES])
{
    if (pl->kind != f->kind)
        return GS_EINVAL;
    gs_stamp at;
    at.hlc = op->hlc;
    memcpy(at.author, op->author, GS_KEY_BYTES);
    switch (f->kind) {
    case GS_KIND_LWW:
        return lww_put(f, &at, pl->u.lww.base, &pl->u.lww.v);
    case GS_KIND_COUNTER: {
        struct gs_ctr_entry rec;
        memcpy(rec.author, op->author, GS_KEY_BYTES);
        rec.hlc = op->hlc;
        rec.total = pl->u.counter.total;
        return ctr_put(f, &rec);
    }
    case GS_KIND_SET: {
        gs_rd r;
        gs_rd_init(&r, pl->u.set.items.p, pl->u.set.items.n);
        for (size_t i = 0; i < pl->u.set.n; i++) {
            gs_set_item it;
            gs_err rc = gs_payload_set_next(&r, &it);
            if (rc != GS_OK)
                return rc;
            if (it.action == GS_SET_ADD) {
                rc = sa_put(&f->u.set.add, &f->u.set.n_add, &f->u.set.cap_add,
                            it.elem, hash);
                if (rc != GS_OK)
                    return rc;
                continue;
            }
            for (size_t k = 0; k < it.n_tags; k++) {
                rc = sa_put(&f->u.set.rm, &f->u.set.n_rm, &f->u.set.cap_rm,
                            it.elem, it.tags[k]);
                if (rc != GS_OK)
                    return rc;
            }
        }
        return GS_OK;
    }
    case GS_KIND_LOG:
        return log_put(f, &at, &pl->u.log);
    case GS_KIND_STAGE:
        stage_put(f, pl->u.stage.round, pl->u.stage.stage, &at);
        return GS_OK;
    case GS_KIND_CLAIM:
        if (pl->u.claim.action == GS_CLAIM)
            return cr_put(&f->u.claim.claim, &f->u.claim.n_claim,
                          &f->u.claim.cap_claim, &at, pl->u.claim.who);
        return cr_put(&f->u.claim.wd, &f->u.claim.n_wd, &f->u.claim.cap_wd, &at,
                      pl->u.claim.who);
    default:
        return GS_EKIND;
    }
}

gs_err
gs_field_apply(gs_field *f, const gs_update *u, const gs_op *op,
               const uint8_t hash[GS_HASH_BYTES])
{
    if (u->kind != f->kind ||
        gs_slice_cmp(u->field, gs_slice_of(f->name, f->name_n)) != 0)
        return GS_EINVAL;
    gs_payload pl;
    gs_err rc = gs_payload_parse(u->kind, u->payload, &pl);
    if (rc != GS_OK)
        return rc;
    return gs_field_apply_parsed(f, &pl, op, hash);
}

/* ---- join ---- */

gs_err
gs_field_join(gs_field *dst, const gs_field *src)
{
    if (dst->kind != src->kind ||
        gs_slice_cmp(gs_slice_of(dst->name, dst->name_n),
                     gs_slice_of(src->name, src->name_n)) != 0)
        return GS_EINVAL;
    if (dst == src)
        return GS_OK;
    gs_err rc = GS_OK;
    void *out;
    switch (dst->kind) {
    case GS_KIND_LWW:
        if (src->u.lww.set) {
            gs_vref v = gs_value_ref(&src->u.lww.v);
            rc = lww_put(dst, &src->u.lww.at, src->u.lww.base, &v);
        }
        break;
    case GS_KIND_COUNTER:
        rc = merge(dst->u.counter.e, &dst->u.counter.n, &dst->u.counter.cap,
                   src->u.counter.e, src->u.counter.n, &CTR_OPS, &out);
        dst->u.counter.e = out;
        break;
    case GS_KIND_SET:
        rc = merge(dst->u.set.add, &dst->u.set.n_add, &dst->u.set.cap_add,
                   src->u.set.add, src->u.set.n_add, &SA_OPS, &out);
        dst->u.set.add = out;
        if (rc != GS_OK)
            break;
        rc = merge(dst->u.set.rm, &dst->u.set.n_rm, &dst->u.set.cap_rm,
                   src->u.set.rm, src->u.set.n_rm, &SA_OPS, &out);
        dst->u.set.rm = out;
        break;
    case GS_KIND_LOG:
        rc = merge(dst->u.log.e, &dst->u.log.n, &dst->u.log.cap, src->u.log.e,
                   src->u.log.n, &LOG_OPS, &out);
        dst->u.log.e = out;
        break;
    case GS_KIND_STAGE:
        if (src->u.stage.set)
            stage_put(dst, src->u.stage.round, src->u.stage.stage,
                      &src->u.stage.at);
        break;
    case GS_KIND_CLAIM:
        rc = merge(dst->u.claim.claim, &dst->u.claim.n_claim,
                   &dst->u.claim.cap_claim, src->u.claim.claim,
                   src->u.claim.n_claim, &CR_OPS, &out);
        dst->u.claim.claim = out;
        if (rc != GS_OK)
            break;
        rc = merge(dst->u.claim.wd, &dst->u.claim.n_wd, &dst->u.claim.cap_wd,
                   src->u.claim.wd, src->u.claim.n_wd, &CR_OPS, &out);
        dst->u.claim.wd = out;
        break;
    default:
        rc = GS_EKIND;
        break;
    }
    return rc;
}

/* ---- state encoding ---- */

static gs_err
put_stamp(gs_buf *b, const gs_stamp *at)
{
    gs_err rc = gs_buf_put_u64be(b, at->hlc);
    if (rc == GS_OK)
        rc = gs_buf_put(b, at->author, GS_KEY_BYTES);
    return rc;
}

static gs_err
put_sa(gs_buf *b, const struct gs_set_add *a, size_t n)
{
    gs_err rc = gs_buf_put_varint(b, n);
    for (size_t i = 0; i < n && rc == GS_OK; i++) {
        rc = gs_buf_put_str(b, a[i].elem, a[i].elem_n);
        if (rc == GS_OK)
            rc = gs_buf_put(b, a[i].tag, GS_HASH_BYTES);
    }
    return rc;
}

static gs_err
put_cr(gs_buf *b, const struct gs_claim_rec *a, size_t n)
{
    gs_err rc = gs_buf_put_varint(b, n);
    for (size_t i = 0; i < n && rc == GS_OK; i++) {
        rc = put_stamp(b, &a[i].at);
        if (rc == GS_OK)
            rc = gs_buf_put_str(b, a[i].who, a[i].who_n);
    }
    return rc;
}

gs_err
gs_field_state_encode(const gs_field *f, gs_buf *b)
{
    size_t old = b->len;
    gs_err rc = GS_OK;
    switch (f->kind) {
    case GS_KIND_LWW: {
        rc = gs_buf_put_u8(b, f->u.lww.set ? 1 : 0);
        if (rc != GS_OK || !f->u.lww.set)
            break;
        rc = put_stamp(b, &f->u.lww.at);
        if (rc == GS_OK)
            rc = gs_buf_put_varint(b, f->u.lww.base);
        gs_vref v = gs_value_ref(&f->u.lww.v);
        if (rc == GS_OK)
            rc = gs_value_write(b, &v);
        break;
    }
    case GS_KIND_COUNTER:
        rc = gs_buf_put_varint(b, f->u.counter.n);
        for (size_t i = 0; i < f->u.counter.n && rc == GS_OK; i++) {
            const struct gs_ctr_entry *e = &f->u.counter.e[i];
            rc = gs_buf_put(b, e->author, GS_KEY_BYTES);
            if (rc == GS_OK)
                rc = gs_buf_put_u64be(b, e->hlc);
            if (rc == GS_OK)
                rc = gs_buf_put_svarint(b, e->total);
        }
        break;
    case GS_KIND_SET:
        rc = put_sa(b, f->u.set.add, f->u.set.n_add);
        if (rc == GS_OK)
            rc = put_sa(b, f->u.set.rm, f->u.set.n_rm);
        break;
    case GS_KIND_LOG:
        rc = gs_buf_put_varint(b, f->u.log.n);
        for (size_t i = 0; i < f->u.log.n && rc == GS_OK; i++) {
            rc = put_stamp(b, &f->u.log.e[i].at);
            gs_vref v = gs_value_ref(&f->u.log.e[i].v);
            if (rc == GS_OK)
                rc = gs_value_write(b, &v);
        }
        break;
    case GS_KIND_STAGE:
        rc = gs_buf_put_u8(b, f->u.stage.set ? 1 : 0);
        if (rc != GS_OK || !f->u.stage.set)
            break;
        rc = gs_buf_put_varint(b, f->u.stage.round);
        if (rc == GS_OK)
            rc = gs_buf_put_varint(b, f->u.stage.stage);
        if (rc == GS_OK)
            rc = put_stamp(b, &f->u.stage.at);
        break;
    case GS_KIND_CLAIM:
        rc = put_cr(b, f->u.claim.claim, f->u.claim.n_claim);
        if (rc == GS_OK)
            rc = put_cr(b, f->u.claim.wd, f->u.claim.n_wd);
        break;
    default:
        rc = GS_EKIND;
        break;
    }
    if (rc != GS_OK)
        b->len = old;
    return rc;
}

/* ---- state decoding ---- */

static gs_err
rd_stamp(gs_rd *r, gs_stamp *at)
{
    gs_slice a;
    gs_err rc = gs_rd_u64be(r, &at->hlc);
    if (rc == GS_OK)
        rc = gs_rd_bytes(r, GS_KEY_BYTES, &a);
    if (rc == GS_OK)
        memcpy(at->author, a.p, GS_KEY_BYTES);
    return rc;
}

static gs_err
rd_bool(gs_rd *r, bool *out)
{
    uint8_t v;
    gs_err rc = gs_rd_u8(r, &v);
    if (rc != GS_OK)
        return rc;
    if (v > 1)
        return GS_EMALFORMED;
    *out = v == 1;
    return GS_OK;
}

/* A record count, capped by what the input left could hold, so a forged
 * count never drives an allocation. */
static gs_err
rd_count(gs_rd *r, size_t rec_min, size_t *out)
{
    uint64_t n;
    gs_err rc = gs_rd_varint(r, &n);
    if (rc != GS_OK)
        return rc;
    if (n > gs_rd_left(r) / rec_min)
        return GS_ETRUNC;
    *out = (size_t)n;
    return GS_OK;
}

static gs_err
dec_sa(gs_rd *r, struct gs_set_add **arr, size_t *n, size_t *cap)
{
    size_t cnt;
    gs_err rc = rd_count(r, SET_REC_MIN, &cnt);
    if (rc != GS_OK || cnt == 0)
        return rc;
    struct gs_set_add *a = calloc(cnt, sizeof *a);
    if (a == NULL)
        return GS_ENOMEM;
    *arr = a;
    *cap = cnt;
    for (size_t i = 0; i < cnt; i++) {
        gs_slice e, t;
        rc = gs_rd_text(r, GS_STR_BYTES_MAX, &e);
        if (rc == GS_OK)
            rc = gs_rd_bytes(r, GS_HASH_BYTES, &t);
        if (rc != GS_OK)
            return rc;
        if (i > 0 && sa_key_cmp(e, t.p, &a[i - 1]) <= 0)
            return GS_ENONCANON;
        a[i].elem = dup_bytes(e.p, e.n);
        if (a[i].elem == NULL)
            return GS_ENOMEM;
        a[i].elem_n = e.n;
        memcpy(a[i].tag, t.p, GS_HASH_BYTES);
        (*n)++;
    }
    return GS_OK;
}

static gs_err
dec_cr(gs_rd *r, struct gs_claim_rec **arr, size_t *n, size_t *cap)
{
    size_t cnt;
    gs_err rc = rd_count(r, CLAIM_REC_MIN, &cnt);
    if (rc != GS_OK || cnt == 0)
        return rc;
    struct gs_claim_rec *a = calloc(cnt, sizeof *a);
    if (a == NULL)
        return GS_ENOMEM;
    *arr = a;
    *cap = cnt;
    for (size_t i = 0; i < cnt; i++) {
        gs_stamp at;
        gs_slice who;
        rc = rd_stamp(r, &at);
        if (rc == GS_OK)
            rc = gs_rd_text(r, GS_ID_BYTES_MAX, &who);
        if (rc != GS_OK)
            return rc;
        if (i > 0 && cr_key_cmp(&at, who, &a[i - 1]) <= 0)
            return GS_ENONCANON;
        a[i].at = at;
        a[i].who = dup_bytes(who.p, who.n);
        if (a[i].who == NULL)
            return GS_ENOMEM;
        a[i].who_n = who.n;
        (*n)++;
    }
    return GS_OK;
}

static gs_err
dec_counter(gs_rd *r, gs_field *f)
{
    size_t cnt;
    gs_err rc = rd_count(r, CTR_REC_MIN, &cnt);
    if (rc != GS_OK || cnt == 0)
        return rc;
    f->u.counter.e = calloc(cnt, sizeof *f->u.counter.e);
    if (f->u.counter.e == NULL)
        return GS_ENOMEM;
    f->u.counter.cap = cnt;
    for (size_t i = 0; i < cnt; i++) {
        struct gs_ctr_entry *e = &f->u.counter.e[i];
        gs_slice a;
        rc = gs_rd_bytes(r, GS_KEY_BYTES, &a);
        if (rc == GS_OK)
            rc = gs_rd_u64be(r, &e->hlc);
        if (rc == GS_OK)
            rc = gs_rd_svarint(r, &e->total);
        if (rc != GS_OK)
            return rc;
        if (e->total > GS_COUNTER_ABS_MAX || e->total < -GS_COUNTER_ABS_MAX)
            return GS_ETOOBIG;
        memcpy(e->author, a.p, GS_KEY_BYTES);
        if (i > 0 && ctr_cmp(&e[-1], e) >= 0)
            return GS_ENONCANON;
        f->u.counter.n++;
    }
    return GS_OK;
}

static gs_err
dec_log(gs_rd *r, gs_field *f)
{
    size_t cnt;
    gs_err rc = rd_count(r, LOG_REC_MIN, &cnt);
    if (rc != GS_OK || cnt == 0)
        return rc;
    f->u.log.e = calloc(cnt, sizeof *f->u.log.e);
    if (f->u.log.e == NULL)
        return GS_ENOMEM;
    f->u.log.cap = cnt;
    for (size_t i = 0; i < cnt; i++) {
        gs_stamp at;
        gs_vref v;
        rc = rd_stamp(r, &at);
        if (rc == GS_OK)
            rc = gs_value_read(r, &v);
        if (rc != GS_OK)
            return rc;
        if (i > 0 && log_key_cmp(&at, &v, &f->u.log.e[i - 1]) <= 0)
            return GS_ENONCANON;
        struct gs_log_entry *e = &f->u.log.e[i];
        rc = gs_value_set(&e->v, &v);
        if (rc != GS_OK)
            return rc;
        e->at = at;
        f->u.log.n++;
    }
    return GS_OK;
}

static gs_err
dec_kind(gs_rd *r, gs_field *f)
{
    gs_err rc;
    switch (f->kind) {
    case GS_KIND_LWW: {
        rc = rd_bool(r, &f->u.lww.set);
        if (rc != GS_OK || !f->u.lww.set)
            return rc;
        gs_vref v;
        rc = rd_stamp(r, &f->u.lww.at);
        if (rc == GS_OK)
            rc = gs_rd_varint(r, &f->u.lww.base);
        if (rc == GS_OK)
            rc = gs_value_read(r, &v);
        if (rc == GS_OK)
            rc = gs_value_set(&f->u.lww.v, &v);
        return rc;
    }
    case GS_KIND_COUNTER:
        return dec_counter(r, f);
    case GS_KIND_SET:
        rc = dec_sa(r, &f->u.set.add, &f->u.set.n_add, &f->u.set.cap_add);
        if (rc == GS_OK)
            rc = dec_sa(r, &f->u.set.rm, &f->u.set.n_rm, &f->u.set.cap_rm);
        return rc;
    case GS_KIND_LOG:
        return dec_log(r, f);
    case GS_KIND_STAGE:
        rc = rd_bool(r, &f->u.stage.set);
        if (rc != GS_OK || !f->u.stage.set)
            return rc;
        rc = gs_rd_varint(r, &f->u.stage.round);
        if (rc == GS_OK && f->u.stage.round > GS_ROUND_MAX)
            rc = GS_ETOOBIG;
        if (rc == GS_OK)
            rc = gs_rd_varint(r, &f->u.stage.stage);
        if (rc == GS_OK && f->u.stage.stage > GS_STAGE_MAX)
            rc = GS_ETOOBIG;
        if (rc == GS_OK)
            rc = rd_stamp(r, &f->u.stage.at);
        return rc;
    case GS_KIND_CLAIM:
        rc = dec_cr(r, &f->u.claim.claim, &f->u.claim.n_claim,
                    &f->u.claim.cap_claim);
        if (rc == GS_OK)
            rc =
                dec_cr(r, &f->u.claim.wd, &f->u.claim.n_wd, &f->u.claim.cap_wd);
        return rc;
    default:
        return GS_EKIND;
    }
}

gs_err
gs_field_state_decode(gs_field *f, gs_slice name, uint8_t kind,
                      const uint8_t *p, size_t n)
{
    if (n > GS_FIELD_STATE_BYTES_MAX)
        return GS_ETOOBIG;
    if (p == NULL && n > 0)
        return GS_EINVAL;
    gs_field tmp;
    gs_err rc = gs_field_init(&tmp, name, kind);
    if (rc != GS_OK)
        return rc;
    gs_rd r;
    gs_rd_init(&r, p, n);
    rc = dec_kind(&r, &tmp);
    if (rc == GS_OK && gs_rd_left(&r) != 0)
        rc = GS_EMALFORMED;
    if (rc != GS_OK) {
        gs_field_fini(&tmp);
        return rc;
    }
    *f = tmp;
    return GS_OK;
}

/* ---- readers ---- */

bool
gs_field_lww_get(const gs_field *f, gs_vref *v, gs_stamp *at)
{
    if (f->kind != GS_KIND_LWW || !f->u.lww.set)
        return false;
    if (v != NULL)
        *v = gs_value_ref(&f->u.lww.v);
    if (at != NULL)
        *at = f->u.lww.at;
    return true;
}

int64_t
gs_field_counter_value(const gs_field *f)
{
    if (f->kind != GS_KIND_COUNTER)
        return 0;
    /* Each total is within +-2^62 and authors are far fewer than 2^64, so
     * a 128-bit sum cannot overflow; clamp once, at the end, so the result
     * does not depend on the order of the authors. */
    __int128 sum = 0;
    for (size_t i = 0; i < f->u.counter.n; i++)
        sum += f->u.counter.e[i].total;
    if (sum > INT64_MAX)
        return INT64_MAX;
    if (sum < INT64_MIN)
        return INT64_MIN;
    return (int64_t)sum;
}

int64_t
gs_field_counter_author_total(const gs_field *f,
                              const uint8_t author[GS_KEY_BYTES])
{
    if (f->kind != GS_KIND_COUNTER)
        return 0;
    struct gs_ctr_entry key;
    memcpy(key.author, author, GS_KEY_BYTES);
    bool found;
    size_t i = lower(f->u.counter.e, f->u.counter.n, sizeof key, &key, ctr_cmp,
                     &found);
    return found ? f->u.counter.e[i].total : 0;
}

/* Index of the first add of elem (adds are sorted by elem first). */
static size_t
set_first(const gs_field *f, gs_slice elem)
{
    size_t lo = 0, hi = f->u.set.n_add;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct gs_set_add *a = &f->u.set.add[mid];
        if (gs_slice_cmp(gs_slice_of(a->elem, a->elem_n), elem) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool
set_removed(const gs_field *f, const struct gs_set_add *a)
{
    bool found;
    lower(f->u.set.rm, f->u.set.n_rm, sizeof *a, a, sa_cmp, &found);
    return found;
}

static bool
same_elem(const struct gs_set_add *a, gs_slice elem)
{
    return gs_slice_cmp(gs_slice_of(a->elem, a->elem_n), elem) == 0;
}

size_t
gs_field_set_tags(const gs_field *f, gs_slice elem,
                  uint8_t (*out)[GS_HASH_BYTES], size_t max)
{
    if (f->kind != GS_KIND_SET)
        return 0;
    size_t cnt = 0;
    for (size_t i = set_first(f, elem);
         i < f->u.set.n_add && same_elem(&f->u.set.add[i], elem); i++) {
        if (set_removed(f, &f->u.set.add[i]))
            continue;
        if (cnt < max && out != NULL)
            memcpy(out[cnt], f->u.set.add[i].tag, GS_HASH_BYTES);
        cnt++;
    }
    return cnt;
}

bool
gs_field_set_has(const gs_field *f, gs_slice elem)
{
    if (f->kind != GS_KIND_SET)
        return false;
    for (size_t i = set_first(f, elem);
         i < f->u.set.n_add && same_elem(&f->u.set.add[i], elem); i++) {
        if (!set_removed(f, &f->u.set.add[i]))
            return true;
    }
    return false;
}

size_t
gs_field_set_members(const gs_field *f, gs_slice *out, size_t max)
{
    if (f->kind != GS_KIND_SET)
        return 0;
    size_t cnt = 0, i = 0, n = f->u.set.n_add;
    while (i < n) {
        const struct gs_set_add *a = &f->u.set.add[i];
        gs_slice elem = gs_slice_of(a->elem, a->elem_n);
        bool live = false;
        for (; i < n && same_elem(&f->u.set.add[i], elem); i++) {
            if (!live && !set_removed(f, &f->u.set.add[i]))
                live = true;
        }
        if (!live)
            continue;
        if (cnt < max && out != NULL)
            out[cnt] = elem;
        cnt++;
    }
    return cnt;
}

size_t
gs_field_log_count(const gs_field *f)
{
    return f->kind == GS_KIND_LOG ? f->u.log.n : 0;
}

const struct gs_log_entry *
gs_field_log_at(const gs_field *f, size_t i)
{
    if (f->kind != GS_KIND_LOG || i >= f->u.log.n)
        return NULL;
    return &f->u.log.e[i];
}

bool
gs_field_stage_get(const gs_field *f, uint64_t *round, uint64_t *stage,
                   gs_stamp *at)
{
    if (f->kind != GS_KIND_STAGE || !f->u.stage.set)
        return false;
    if (round != NULL)
        *round = f->u.stage.round;
    if (stage != NULL)
        *stage = f->u.stage.stage;
    if (at != NULL)
        *at = f->u.stage.at;
    return true;
}

/* A claim survives unless its claimant withdrew at a later stamp. */
static bool
claim_survives(const gs_field *f, const struct gs_claim_rec *c)
{
    gs_slice who = gs_slice_of(c->who, c->who_n);
    /* withdrawals are sorted by stamp: walk back from the latest */
    for (size_t k = f->u.claim.n_wd; k-- > 0;) {
        const struct gs_claim_rec *w = &f->u.claim.wd[k];
        if (gs_stamp_cmp(&w->at, &c->at) <= 0)
            break;
        if (gs_slice_cmp(gs_slice_of(w->who, w->who_n), who) == 0)
            return false;
    }
    return true;
}

/*
 * Claims are few per field (a wish, a task), so this is quadratic in them
 * rather than allocating: a survivor is listed unless an earlier claim of
 * the same claimant also survives.
 */
size_t
gs_field_claims(const gs_field *f, const struct gs_claim_rec **out, size_t max)
{
    if (f->kind != GS_KIND_CLAIM)
        return 0;
    size_t cnt = 0;
    const struct gs_claim_rec *c = f->u.claim.claim;
    for (size_t i = 0; i < f->u.claim.n_claim; i++) {
        if (!claim_survives(f, &c[i]))
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            if (c[k].who_n == c[i].who_n &&
                memcmp(c[k].who, c[i].who, c[i].who_n) == 0 &&
                claim_survives(f, &c[k]))
                seen = true;
        }
        if (seen)
            continue;
        if (cnt < max && out != NULL)
            out[cnt] = &c[i];
        cnt++;
    }
    return cnt;
}
