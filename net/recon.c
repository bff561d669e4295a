/*
 * recon.c — range reconciliation of feed heads: fingerprints, and the step
 * functions that answer a SUMMARY or RANGES message for one scope.
 *
 * State per scope is the list of intervals we last sent (struct
 * gs_recon_open), sorted and disjoint, each either a count + fingerprint
 * range or a listing. An answer walks the other side's entries and our
 * open intervals together (both ascending), plans one action per entry,
 * fits the plan into what the outgoing message can still hold, then emits
 * it and replaces the open list. Since items never change during a session,
 * prefix XORs of the item hashes give any range's fingerprint in O(1); a
 * bound is located by binary search on the author (every item has the
 * reconciled scope, and (a, "") and (a, scope) partition items alike).
 *
 * SPEC: docs/protocol.md §4.1 (the rules are spelled out in recon.h).
 */
#include "recon.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct gs_recon_open {
    uint8_t lo[GS_KEY_BYTES], hi[GS_KEY_BYTES];
    bool lo_full, hi_full; /* bound (author, scope) rather than (author, "") */
    bool hi_end;           /* interval runs to the end of the key space */
    bool listed;           /* we listed our heads in it */
};

enum act { ACT_NONE, ACT_DIFFLIST, ACT_LIST, ACT_ZERO, ACT_SPLIT };

struct plan {
    const gs_wire_range *in;
    const struct gs_recon_open *parent;
    uint8_t hi[GS_KEY_BYTES]; /* the entry's upper bound */
    bool hi_full, hi_end;
    size_t a, b;       /* our items in the entry */
    size_t heads_at;   /* the entry's listed heads, index into heads[] */
    enum act act;
    size_t n_heads, s; /* heads to send; sub-ranges for a split */
};

int
gs_recon_feed_cmp(const gs_wire_feed *a, const gs_wire_feed *b)
{
    int c = memcmp(a->author, b->author, GS_KEY_BYTES);
    return c ? c : gs_slice_cmp(a->scope, b->scope);
}

static void
item_hash(const gs_wire_head *h, const gs_recon_meta *m,
          uint8_t out[GS_WIRE_FP_BYTES])
{
    uint8_t buf[GS_KEY_BYTES + 2 + GS_SCOPE_BYTES_MAX + 10 +
                GS_RECON_TAG_BYTES];
    size_t n = GS_KEY_BYTES, len = h->feed.scope.n;
    uint64_t v;

    if (len > GS_SCOPE_BYTES_MAX)
        len = GS_SCOPE_BYTES_MAX; /* never for a valid item */
    memcpy(buf, h->feed.author, GS_KEY_BYTES);
    for (v = len; v >= 0x80; v >>= 7)
        buf[n++] = (uint8_t)(v | 0x80);
    buf[n++] = (uint8_t)v;
    if (len)
        memcpy(buf + n, h->feed.scope.p, len);
    n += len;
    for (v = h->seq; v >= 0x80; v >>= 7)
        buf[n++] = (uint8_t)(v | 0x80);
    buf[n++] = (uint8_t)v;
    if (m)
        memcpy(buf + n, m->tag, GS_RECON_TAG_BYTES);
    else
        memset(buf + n, 0, GS_RECON_TAG_BYTES);
    n += GS_RECON_TAG_BYTES;
    crypto_generichash(out, GS_WIRE_FP_BYTES, buf, n, NULL, 0);
}

static void
fp_xor(uint8_t *acc, const uint8_t *x)
{
    for (size_t i = 0; i < GS_WIRE_FP_BYTES; i++)
        acc[i] ^= x[i];
}

void
gs_recon_fingerprint(const gs_wire_head *items, const gs_recon_meta *meta,
                     size_t n, uint8_t out[GS_WIRE_FP_BYTES])
{
    uint8_t h[GS_WIRE_FP_BYTES];
    memset(out, 0, GS_WIRE_FP_BYTES);
    for (size_t i = 0; i < n; i++) {
        item_hash(&items[i], meta ? &meta[i] : NULL, h);
        fp_xor(out, h);
    }
}

static bool
scope_eq(gs_slice a, gs_slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

gs_err
gs_recon_init(struct gs_recon *r, gs_slice scope, const gs_wire_head *items,
              const gs_recon_meta *meta, size_t n)
{
    memset(r, 0, sizeof *r);
    if (scope.n == 0 || scope.n > GS_SCOPE_BYTES_MAX)
        return GS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (items[i].seq == 0 || !scope_eq(items[i].feed.scope, scope))
            return GS_EINVAL;
        if (i > 0 && memcmp(items[i - 1].feed.author, items[i].feed.author,
                            GS_KEY_BYTES) >= 0)
            return GS_EINVAL;
    }
    r->prefix = malloc((n + 1) * sizeof *r->prefix);
    r->open = malloc(sizeof *r->open);
    if (!r->prefix || !r->open) {
        gs_recon_fini(r);
        return GS_ENOMEM;
    }
    memset(r->prefix[0], 0, GS_WIRE_FP_BYTES);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[GS_WIRE_FP_BYTES];
        item_hash(&items[i], meta ? &meta[i] : NULL, h);
        memcpy(r->prefix[i + 1], r->prefix[i], GS_WIRE_FP_BYTES);
        fp_xor(r->prefix[i + 1], h);
    }
    r->scope = scope;
    r->items = items;
    r->meta = meta;
    r->n = n;
    /* as if we had sent our SUMMARY: the whole key space, open */
    memset(r->open, 0, sizeof *r->open);
    r->open[0].hi_end = true;
    r->n_open = r->cap_open = 1;
    r->split = GS_RECON_SPLIT;
    r->list_max = GS_RECON_LIST_MAX;
    return GS_OK;
}

void
gs_recon_fini(struct gs_recon *r)
{
    free(r->prefix);
    free(r->open);
    free(r->wants);
    memset(r, 0, sizeof *r);
}

void
gs_recon_summary(const struct gs_recon *r, gs_wire_sum *out)
{
    out->scope = r->scope;
    out->feeds = r->n;
    memcpy(out->fp, r->prefix[r->n], GS_WIRE_FP_BYTES);
}

bool
gs_recon_done(const struct gs_recon *r)
{
    return r->n_open == 0;
}

static int
want_cmp(const void *x, const void *y)
{
    const gs_wire_want *a = x, *b = y;
    return memcmp(a->feed.author, b->feed.author, GS_KEY_BYTES);
}

const gs_wire_want *
gs_recon_wants(struct gs_recon *r, size_t *n)
{
    if (r->n_wants > 1)
        qsort(r->wants, r->n_wants, sizeof *r->wants, want_cmp);
    *n = r->n_wants;
    return r->wants;
}

/* ---- helpers over our items ---- */

/* First item whose author is >= author. */
static size_t
lower_bound(const struct gs_recon *r, const uint8_t *author)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(r->items[mid].feed.author, author, GS_KEY_BYTES) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
range_fp(const struct gs_recon *r, size_t a, size_t b,
         uint8_t out[GS_WIRE_FP_BYTES])
{
    memcpy(out, r->prefix[b], GS_WIRE_FP_BYTES);
    fp_xor(out, r->prefix[a]);
}

/* Bound order: author, then (a, "") before (a, scope). */
static int
bound_cmp(const uint8_t *a, bool a_full, const uint8_t *b, bool b_full)
{
    int c = memcmp(a, b, GS_KEY_BYTES);
    return c ? c : (int)a_full - (int)b_full;
}

static gs_err
want_push(struct gs_recon *r, const uint8_t *author, uint64_t from)
{
    if (r->n_wants == r->cap_wants) {
        size_t cap = r->cap_wants ? 2 * r->cap_wants : 16;
        gs_wire_want *w = realloc(r->wants, cap * sizeof *w);
        if (!w)
            return GS_ENOMEM;
        r->wants = w;
        r->cap_wants = cap;
    }
    gs_wire_want *w = &r->wants[r->n_wants++];
    memcpy(w->feed.author, author, GS_KEY_BYTES);
    w->feed.scope = r->scope;
    w->from = from;
    return GS_OK;
}

static bool
suspect(const struct gs_recon *r, size_t i)
{
    return r->meta && r->meta[i].suspect;
}

/* A full listing that explains nothing (header: "Forks"): want every
 * listed feed from its seq, or from 1 if suspect. */
static gs_err
probe(struct gs_recon *r, const struct plan *p, const gs_wire_head *h)
{
    gs_err rc = GS_OK;
    size_t j = p->a;
    for (size_t i = 0; rc == GS_OK && i < p->in->n_heads; i++) {
        while (j < p->b && memcmp(r->items[j].feed.author, h[i].feed.author,
                                  GS_KEY_BYTES) < 0)
            j++;
        if (h[i].seq < GS_RECON_FROZEN)
            rc = want_push(r, h[i].feed.author,
                           j < p->b && suspect(r, j) ? 1 : h[i].seq);
    }
    return rc;
}

/* Check the listed heads of p against its bounds and want every feed the
 * other side is ahead on; count in p->n_heads our heads it lacks or is
 * behind on (used when the listing is a full one, which also probes when
 * it explains nothing). */
static gs_err
take_listing(struct gs_recon *r, struct plan *p, const gs_wire_head *heads,
             bool full)
{
    const gs_wire_head *h = heads + p->heads_at;
    size_t j = p->a, diff = 0, wants0 = r->n_wants;
    gs_err rc;

    for (size_t i = 0; i < p->in->n_heads; i++) {
        if (!scope_eq(h[i].feed.scope, r->scope))
            return GS_EMALFORMED;
        if (!p->hi_end &&
            memcmp(h[i].feed.author, p->hi, GS_KEY_BYTES) >= 0)
            return GS_EMALFORMED;
        /* merge: our heads before this one are absent from the listing */
        while (j < p->b && memcmp(r->items[j].feed.author, h[i].feed.author,
                                  GS_KEY_BYTES) < 0) {
            diff++;
            j++;
        }
        uint64_t ours = 0;
        bool sus = false;
        if (j < p->b && memcmp(r->items[j].feed.author, h[i].feed.author,
                               GS_KEY_BYTES) == 0) {
            ours = r->items[j].seq;
            sus = suspect(r, j);
            if (ours > h[i].seq)
                diff++;
            j++;
        }
        if (h[i].seq > ours) {
            if ((rc = want_push(r, h[i].feed.author, sus ? 1 : ours + 1)) !=
                GS_OK)
                return rc;
            if (h[i].seq < GS_RECON_FROZEN) /* else a few ops of evidence */
                r->owed += h[i].seq - ours;
        }
    }
    p->n_heads = diff + (p->b - j);
    if (full && p->n_heads == 0 && r->n_wants == wants0)
        return probe(r, p, h);
    return GS_OK;
}

/* Locate our scope in in: its first range, count, and first head. */
static void
find_scope(const struct gs_recon *r, const gs_wire_ranges *in, size_t *first,
           size_t *nr, size_t *head0)
{
    size_t ri = 0, hi = 0;
    *nr = 0;
    for (size_t i = 0; i < in->n_scopes; i++) {
        size_t n = in->scopes[i].n_ranges;
        if (scope_eq(in->scopes[i].scope, r->scope)) {
            *first = ri;
            *nr = n;
            *head0 = hi;
            return;
        }
        for (size_t k = 0; k < n; k++)
            hi += in->ranges[ri + k].n_heads;
        ri += n;
    }
}

static void
set_lower(const struct gs_recon *r, gs_wire_feed *f, const uint8_t *author,
          bool full)
{
    memcpy(f->author, author, GS_KEY_BYTES);
    f->scope = full ? r->scope : gs_slice_of(NULL, 0);
}

/* The core: answer entries rs[0..nr) (heads from heads[]) for our scope. */
static gs_err
answer(struct gs_recon *r, const gs_wire_range *rs, size_t nr,
       const gs_wire_head *heads, gs_wire_ranges *out, bool *reply)
{
    struct plan *plan = NULL;
    struct gs_recon_open *opens = NULL;
    size_t n_wants0 = r->n_wants, oi = 0, n_new = 0;
    size_t n_act = 0, n_split = 0, heads_need = 0, list_heads = 0;
    size_t head_at = 0;
    const struct gs_recon_open *last_parent = NULL;
    bool awaits = false;
    gs_err rc = GS_OK;

    if (nr && !(plan = calloc(nr, sizeof *plan))) {
        rc = GS_ENOMEM;
        goto out;
    }
    /* 1. plan one action per entry */
    for (size_t e = 0; e < nr; e++) {
        const gs_wire_range *in = &rs[e];
        struct plan *p = &plan[e];
        bool full = in->lower.scope.n != 0;

        if (full && !scope_eq(in->lower.scope, r->scope)) {
            rc = GS_EMALFORMED;
            goto out;
        }
        while (oi < r->n_open && !r->open[oi].hi_end &&
               bound_cmp(r->open[oi].hi, r->open[oi].hi_full,
                         in->lower.author, full) <= 0)
            oi++;
        if (oi == r->n_open) {
            rc = GS_EMALFORMED;
            goto out;
        }
        const struct gs_recon_open *o = &r->open[oi];
        int c = bound_cmp(in->lower.author, full, o->lo, o->lo_full);
        if (c < 0 || (o != last_parent && c != 0)) {
            rc = GS_EMALFORMED; /* outside, or not covering from its start */
            goto out;
        }
        last_parent = o;
        p->in = in;
        p->parent = o;
        p->heads_at = head_at;
        head_at += in->n_heads;
        bool next_inside =
            e + 1 < nr &&
            (o->hi_end || bound_cmp(rs[e + 1].lower.author,
                                    rs[e + 1].lower.scope.n != 0, o->hi,
                                    o->hi_full) < 0);
        if (next_inside) {
            memcpy(p->hi, rs[e + 1].lower.author, GS_KEY_BYTES);
            p->hi_full = rs[e + 1].lower.scope.n != 0;
            p->hi_end = false;
        } else {
            memcpy(p->hi, o->hi, GS_KEY_BYTES);
            p->hi_full = o->hi_full;
            p->hi_end = o->hi_end;
        }
        p->a = lower_bound(r, in->lower.author);
        p->b = p->hi_end ? r->n : lower_bound(r, p->hi);

        if (o->listed) { /* a difference listing answering ours */
            if (!in->listed) {
                rc = GS_EMALFORMED;
                goto out;
            }
            if ((rc = take_listing(r, p, heads, false)) != GS_OK)
                goto out;
            p->act = ACT_NONE;
            continue;
        }
        awaits = true;
        if (in->listed) { /* a full listing answering our fingerprint */
            if ((rc = take_listing(r, p, heads, true)) != GS_OK)
                goto out;
            p->act = p->n_heads ? ACT_DIFFLIST : ACT_NONE;
            heads_need += p->n_heads;
        } else {
            uint8_t fp[GS_WIRE_FP_BYTES];
            size_t ours = p->b - p->a;
            range_fp(r, p->a, p->b, fp);
            if (ours == in->count &&
                memcmp(fp, in->fp, GS_WIRE_FP_BYTES) == 0)
                p->act = ACT_NONE;
            else if (ours == 0)
                p->act = ACT_ZERO;
            else if ((ours <= r->list_max && in->count <= r->list_max) ||
                     (in->count == 0 && ours <= GS_RECON_BULK_MAX)) {
                p->act = ACT_LIST;
                p->n_heads = ours;
                list_heads += ours;
            } else {
                p->act = ACT_SPLIT;
                n_split++;
            }
        }
        if (p->act != ACT_NONE)
            n_act++;
    }

    /* 2. fit the plan into what out can still hold */
    size_t ranges_rem = GS_WIRE_RANGES_MAX - out->n_ranges;
    size_t heads_rem = GS_WIRE_HEADS_MAX - out->n_heads;
    if (n_act > ranges_rem || heads_need > heads_rem ||
        (n_act && out->n_scopes == GS_WIRE_SCOPES_MAX)) {
        rc = GS_ETOOBIG;
        goto out;
    }
    for (size_t e = nr; e-- > 0 && heads_need + list_heads > heads_rem;) {
        if (plan[e].act == ACT_LIST) {
            list_heads -= plan[e].n_heads;
            plan[e].act = ACT_SPLIT;
            n_split++;
        }
    }
    heads_need += list_heads;
    size_t extra = ranges_rem - n_act, per = 1;
    if (n_split) {
        per = 1 + extra / n_split;
        if (per == 1) {
            /* every split would echo: no progress, refuse rather than loop */
            rc = GS_ETOOBIG;
            goto out;
        }
    }
    for (size_t e = 0; e < nr; e++) {
        struct plan *p = &plan[e];
        if (p->act == ACT_SPLIT) {
            size_t ours = p->b - p->a;
            p->s = r->split < per ? r->split : per;
            if (p->s > ours)
                p->s = ours;
            n_new += p->s;
        } else if (p->act == ACT_ZERO || p->act == ACT_LIST) {
            n_new++;
        }
    }
    if (n_new && !(opens = malloc(n_new * sizeof *opens))) {
        rc = GS_ENOMEM;
        goto out;
    }

    /* 3. emit (nothing below fails) */
    size_t ri0 = out->n_ranges, k = 0;
    for (size_t e = 0; e < nr; e++) {
        struct plan *p = &plan[e];
        const uint8_t *lo = p->in->lower.author;
        bool lo_full = p->in->lower.scope.n != 0;
        gs_wire_range *g;

        switch (p->act) {
        case ACT_NONE:
            break;
        case ACT_DIFFLIST:
        case ACT_LIST: {
            const gs_wire_head *h = heads + p->heads_at;
            size_t nh = p->in->n_heads, i = 0;
            g = &out->ranges[out->n_ranges++];
            set_lower(r, &g->lower, lo, lo_full);
            g->listed = true;
            memset(g->fp, 0, sizeof g->fp);
            g->n_heads = 0;
            for (size_t j = p->a; j < p->b; j++) {
                const gs_wire_head *it = &r->items[j];
                uint64_t theirs = 0;
                if (p->act == ACT_DIFFLIST) {
                    while (i < nh && memcmp(h[i].feed.author, it->feed.author,
                                            GS_KEY_BYTES) < 0)
                        i++;
                    if (i < nh && memcmp(h[i].feed.author, it->feed.author,
                                         GS_KEY_BYTES) == 0)
                        theirs = h[i].seq;
                    if (theirs >= it->seq)
                        continue;
                }
                out->heads[out->n_heads++] = *it;
                g->n_heads++;
            }
            g->count = g->n_heads;
            if (p->act == ACT_LIST) {
                struct gs_recon_open *o = &opens[k++];
                memcpy(o->lo, lo, GS_KEY_BYTES);
                o->lo_full = lo_full;
                memcpy(o->hi, p->hi, GS_KEY_BYTES);
                o->hi_full = p->hi_full;
                o->hi_end = p->hi_end;
                o->listed = true;
            }
            break;
        }
        case ACT_ZERO:
        case ACT_SPLIT: {
            size_t s = p->act == ACT_ZERO ? 1 : p->s, ours = p->b - p->a;
            for (size_t j = 0; j < s; j++) {
                size_t a = p->a + (ours * j) / s;
                size_t b = p->a + (ours * (j + 1)) / s;
                struct gs_recon_open *o = &opens[k++];
                g = &out->ranges[out->n_ranges++];
                if (j == 0)
                    set_lower(r, &g->lower, lo, lo_full);
                else
                    set_lower(r, &g->lower, r->items[a].feed.author, false);
                g->listed = false;
                g->n_heads = 0;
                g->count = b - a;
                range_fp(r, a, b, g->fp);
                memcpy(o->lo, g->lower.author, GS_KEY_BYTES);
                o->lo_full = j == 0 && lo_full;
                o->listed = false;
                if (j + 1 < s) {
                    memcpy(o->hi, r->items[b].feed.author, GS_KEY_BYTES);
                    o->hi_full = false;
                    o->hi_end = false;
                } else {
                    memcpy(o->hi, p->hi, GS_KEY_BYTES);
                    o->hi_full = p->hi_full;
                    o->hi_end = p->hi_end;
                }
            }
            break;
        }
        }
    }
    if (out->n_ranges > ri0) {
        out->scopes[out->n_scopes].scope = r->scope;
        out->scopes[out->n_scopes].n_ranges = out->n_ranges - ri0;
        out->n_scopes++;
    }
    free(r->open);
    r->open = opens;
    r->n_open = r->cap_open = k;
    opens = NULL;
    *reply = awaits;
out:
    if (rc != GS_OK)
        r->n_wants = n_wants0;
    free(opens);
    free(plan);
    return rc;
}

gs_err
gs_recon_answer(struct gs_recon *r, const gs_wire_ranges *in,
                gs_wire_ranges *out, bool *reply)
{
    size_t first = 0, nr, head0 = 0;
    find_scope(r, in, &first, &nr, &head0);
    return answer(r, in->ranges + first, nr, in->heads + head0, out, reply);
}

gs_err
gs_recon_answer_summary(struct gs_recon *r, const gs_wire_sum *in,
                        gs_wire_ranges *out, bool *reply)
{
    gs_wire_range whole;
    gs_wire_head none = {0}; /* a SUMMARY lists no heads */
    size_t before = out->n_ranges;
    bool awaits;
    gs_err rc;

    if (!scope_eq(in->scope, r->scope))
        return GS_EINVAL;
    memset(&whole, 0, sizeof whole);
    whole.count = in->feeds;
    memcpy(whole.fp, in->fp, GS_WIRE_FP_BYTES);
    if ((rc = answer(r, &whole, 1, &none, out, &awaits)) != GS_OK)
        return rc;
    *reply = out->n_ranges > before;
    return GS_OK;
}
