/*
 * session.c — the sync session state machine (docs/protocol.md §4).
 *
 * Flow, per side:
 *   hello     dialer: HELLO + SUMMARY; listener: WELCOME after a HELLO
 *   recon     per wanted scope, range reconciliation of feed ids (recon.c)
 *             until nothing is open; the listener answers an all-equal
 *             SUMMARY with its own SUMMARY (one round trip in all)
 *   wants     when its recon is done a side sends its WANTs; the last WANT
 *             holds fewer than GS_WIRE_WANTS_MAX feeds (maybe none)
 *   serve     for the peer's wants, OPS batches of about batch_ops ops,
 *             at most `window` unacknowledged; each received batch is
 *             applied in one store transaction, then ACKed
 *   bye       a side says BYE once the peer's last WANT is in, everything
 *             it served is ACKed and its own WANTs are out; it is over
 *             when it has said BYE and heard BYE (or wanted nothing)
 *
 * Feed ids. Recon items are (feed id, wanted scope, seq) where the feed id
 * is BLAKE2b-256(author || str scope): a wanted scope holds feeds of many
 * scopes, and recon reconciles one scope string at a time. Hashed ids also
 * spread one author's many feeds across the key space. A WANT names feeds
 * the same way; the side serving it maps the id back to its own feed,
 * which it listed to the peer, so an unknown id is a protocol error. Runs
 * in OPS carry the real author and scope.
 *
 * Invariants: nothing from the peer is trusted — every message is decoded
 * by net/wire.c, every run verified by the store; every failure queues an
 * ERROR and ends the session; a batch is ACKed only after its transaction
 * committed.
 */
#include "session.h"
#include "trust.h"

#include "recon.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES ((size_t)1 << 20) /* raw ops per batch (tunable) */
#define EXPAND_MAX ((size_t)64 << 20) /* rebuilt ops of one batch */

struct feed {
    uint8_t id[GS_KEY_BYTES];
    uint8_t author[GS_KEY_BYTES];
    size_t scope_off, scope_n; /* in the scope's arena */
    uint64_t seq;  /* as recon lists it (a frozen feed's is encoded) */
    uint64_t head; /* the real head */
    bool frozen, suspect;
    uint8_t tag[GS_RECON_TAG_BYTES];
};

struct sc {
    char *name; /* wanted scope, NUL-terminated */
    gs_slice slice;
    struct feed *feeds; /* sorted by id */
    size_t n_feeds, cap_feeds;
    gs_wire_head *items; /* (id, name, seq) in feed order */
    gs_recon_meta *meta; /* per item */
    gs_buf arena;        /* feed scopes */
    struct gs_recon r;
    bool ready; /* r initialised */
};

struct serve {
    size_t sc, feed;
    uint64_t from, next, end; /* asked from, next to send, last */
    size_t ord; /* arrival order, for a stable sort */
    bool second; /* a frozen feed: its first branch went, the second next */
};

enum phase { P_HELLO, P_RECON, P_SYNC, P_OVER };

struct gs_session {
    gs_session_opts o;
    enum phase phase;
    bool got_hello, got_summary, started, wants_sent, peer_wants_final;
    bool we_wanted, sent_bye, got_bye;
    gs_err result;
    struct sc sc[GS_WIRE_SCOPES_MAX];
    size_t n_sc;
    const char *names[GS_WIRE_SCOPES_MAX];
    /* read scoping: the scopes the peer may be served (read_fn) */
    bool read_asked, read_limited;
    char (*read_v)[GS_SCOPE_BYTES_MAX + 1];
    gs_slice read_sl[GS_SESSION_READ_MAX]; /* read_v as slices */
    size_t n_read;
    struct serve *serve;
    size_t n_serve, cap_serve, serve_pos;
    uint64_t next_batch, inflight;
    uint64_t inflight_ids[8];
    /* round trips (gs_session_stats.round_trips): the depth of the message
     * being handled, which what we queue inherits; the depths of what we
     * queued: the greatest, the latest HELLO/SUMMARY/RANGES, our first
     * and latest WANT, latest ACK, our OPS batches (beside inflight_ids)
     * and our ACKs by batch number mod 16 (> the largest window, 8) */
    uint64_t depth, sent_depth, recon_depth, want_depth, want_last_depth;
    uint64_t ack_last_depth;
    bool want_queued;
    uint64_t inflight_depth[8];
    uint64_t ack_depth[16];
    gs_buf *q; /* queued messages */
    size_t q_n, q_head, q_cap;
    gs_wire_msg *m, *rx;
    gs_session_stats st;
};

void
gs_session_feed_id(const uint8_t author[GS_KEY_BYTES], gs_slice scope,
                   uint8_t out[GS_KEY_BYTES])
{
    crypto_generichash_state h;
    uint8_t len[10];
    size_t ln = 0;
    uint64_t v = scope.n;
    do {
        len[ln++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    crypto_generichash_init(&h, NULL, 0, GS_KEY_BYTES);
    crypto_generichash_update(&h, author, GS_KEY_BYTES);
    crypto_generichash_update(&h, len, ln);
    crypto_generichash_update(&h, scope.p, scope.n);
    crypto_generichash_final(&h, out, GS_KEY_BYTES);
}

gs_err
gs_session_peek(const uint8_t *msg, size_t n, uint8_t *type, uint32_t *id)
{
    if (n < GS_WIRE_HEADER_BYTES)
        return GS_ETRUNC;
    if (msg[0] != GS_WIRE_VERSION)
        return GS_EVERSION;
    *type = msg[1];
    *id = (uint32_t)msg[2] << 24 | (uint32_t)msg[3] << 16 |
          (uint32_t)msg[4] << 8 | (uint32_t)msg[5];
    return GS_OK;
}

/* ---- scopes and their feeds ---- */


static gs_err
sc_add(gs_session *s, const char *name, size_t n)
{
    if (s->n_sc == GS_WIRE_SCOPES_MAX)
        return GS_ETOOBIG;
    if (n == 0 || !gs_scope_valid((const uint8_t *)name, n))
        return GS_EINVAL;
    for (size_t i = 0; i < s->n_sc; i++)
        if (s->sc[i].slice.n == n && !memcmp(s->sc[i].name, name, n))
            return GS_EINVAL;
    struct sc *c = &s->sc[s->n_sc];
    memset(c, 0, sizeof *c);
    if (!(c->name = malloc(n + 1)))
        return GS_ENOMEM;
    memcpy(c->name, name, n);
    c->name[n] = 0;
    c->slice = gs_slice_of(c->name, n);
    gs_buf_init(&c->arena, SIZE_MAX);
    s->names[s->n_sc++] = c->name;
    return GS_OK;
}

static void
sc_fini(struct sc *c)
{
    if (c->ready)
        gs_recon_fini(&c->r);
    free(c->name);
    free(c->feeds);
    free(c->items);
    free(c->meta);
    gs_buf_fini(&c->arena);
}

static int
feed_cmp(const void *a, const void *b)
{
    return memcmp(((const struct feed *)a)->id, ((const struct feed *)b)->id,
                  GS_KEY_BYTES);
}

/* The peer's read scopes, asked once (read_fn); false: no limit. */
static gs_err
read_scopes_get(gs_session *s, const uint8_t device[GS_KEY_BYTES])
{
    if (!s->o.read_fn || s->read_asked)
        return GS_OK;
    s->read_asked = true;
    s->read_v = calloc(GS_SESSION_READ_MAX, sizeof *s->read_v);
    if (!s->read_v)
        return GS_ENOMEM;
    int n = s->o.read_fn(device, s->read_v, GS_SESSION_READ_MAX,
                         s->o.read_ctx);
    s->read_limited = n >= 0;
    s->n_read = n > 0 ? (size_t)n : 0;
    if (s->n_read > GS_SESSION_READ_MAX)
        s->n_read = GS_SESSION_READ_MAX;
    for (size_t i = 0; i < s->n_read; i++) {
        s->read_v[i][GS_SCOPE_BYTES_MAX] = 0;
        s->read_sl[i] = gs_slice_of(s->read_v[i], strlen(s->read_v[i]));
    }
    return GS_OK;
}

/* May the peer be served feeds of scope? The trust rule (store/trust.h). */
static bool
may_read(const gs_session *s, gs_slice scope)
{
    return !s->read_limited || gs_trust_may_read(s->read_sl, s->n_read, scope);
}

struct collect {
    const gs_session *s;
    struct sc *c;
};

static int
collect_feed(const gs_store_feed_info *f, void *ctx)
{
    struct collect *k = ctx;
    struct sc *c = k->c;
    if ((f->head.seq == 0 && !f->frozen) || !may_read(k->s, f->scope))
        return 0;
    if (c->n_feeds == c->cap_feeds) {
        size_t cap = c->cap_feeds ? c->cap_feeds * 2 : 64;
        struct feed *p = realloc(c->feeds, cap * sizeof *p);
        if (!p)
            return -1;
        c->feeds = p;
        c->cap_feeds = cap;
    }
    struct feed *d = &c->feeds[c->n_feeds];
    d->scope_off = c->arena.len;
    d->scope_n = f->scope.n;
    if (gs_buf_put(&c->arena, f->scope.p, f->scope.n) != GS_OK)
        return -1;
    memcpy(d->author, f->author, GS_KEY_BYTES);
    gs_session_feed_id(f->author, f->scope, d->id);
    d->head = f->head.seq;
    d->frozen = f->frozen;
    d->suspect = f->suspect;
    d->seq = f->frozen ? gs_recon_frozen_seq(f->head.seq) : f->head.seq;
    if (f->frozen) /* the same on every replica frozen there */
        memset(d->tag, 0, sizeof d->tag);
    else
        memcpy(d->tag, f->head.hash, sizeof d->tag);
    c->n_feeds++;
    return 0;
}

static gs_slice
feed_scope(const struct sc *c, const struct feed *f)
{
    return gs_slice_of(c->arena.data + f->scope_off, f->scope_n);
}

/* Snapshot our feeds in the scope and start recon over them. */
static gs_err
sc_load(gs_session *s, struct sc *c)
{
    struct collect k = {s, c};
    gs_err rc = gs_store_feeds_each(s->o.store, c->slice, collect_feed, &k);
    if (rc != GS_OK)
        return rc;
    if (c->n_feeds && c->arena.len == 0 && c->feeds[0].scope_n)
        return GS_ENOMEM; /* collect_feed failed */
    /* feeds is NULL in a scope we hold nothing of, and qsort(NULL, 0) is
     * undefined behaviour (UBSan; found by tests/fuzz/fuzz_session) */
    if (c->n_feeds > 1)
        qsort(c->feeds, c->n_feeds, sizeof *c->feeds, feed_cmp);
    c->items = calloc(c->n_feeds ? c->n_feeds : 1, sizeof *c->items);
    c->meta = calloc(c->n_feeds ? c->n_feeds : 1, sizeof *c->meta);
    if (!c->items || !c->meta)
        return GS_ENOMEM;
    for (size_t i = 0; i < c->n_feeds; i++) {
        memcpy(c->items[i].feed.author, c->feeds[i].id, GS_KEY_BYTES);
        c->items[i].feed.scope = c->slice;
        c->items[i].seq = c->feeds[i].seq;
        memcpy(c->meta[i].tag, c->feeds[i].tag, GS_RECON_TAG_BYTES);
        c->meta[i].suspect = c->feeds[i].suspect;
    }
    if ((rc = gs_recon_init(&c->r, c->slice, c->items, c->meta,
                            c->n_feeds)) != GS_OK)
        return rc;
    c->ready = true;
    return GS_OK;
}

static struct sc *
sc_find(gs_session *s, gs_slice name)
{
    for (size_t i = 0; i < s->n_sc; i++)
        if (s->sc[i].slice.n == name.n &&
            !memcmp(s->sc[i].name, name.p, name.n))
            return &s->sc[i];
    return NULL;
}

/* ---- the outgoing queue ---- */

static gs_err
queue(gs_session *s, const gs_wire_msg *m)
{
    if (s->q_head == s->q_n && s->q_n) { /* all taken: recycle */
        for (size_t i = 0; i < s->q_n; i++)
            gs_buf_fini(&s->q[i]);
        s->q_n = s->q_head = 0;
    }
    if (s->q_n == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 8;
        gs_buf *p = realloc(s->q, cap * sizeof *p);
        if (!p)
            return GS_ENOMEM;
        s->q = p;
        s->q_cap = cap;
    }
    gs_buf *b = &s->q[s->q_n];
    gs_buf_init(b, GS_WIRE_MSG_MAX);
    gs_err rc = gs_wire_encode(m, b);
    if (rc != GS_OK) {
        gs_buf_fini(b);
        return rc;
    }
    s->q_n++;
    s->st.msgs_out++;
    s->st.bytes_out += b->len;
    if (s->depth > s->sent_depth)
        s->sent_depth = s->depth;
    switch (m->type) {
    case GS_WIRE_HELLO:
    case GS_WIRE_SUMMARY:
    case GS_WIRE_RANGES:
        s->recon_depth = s->depth;
        break;
    case GS_WIRE_WANT:
        if (!s->want_queued)
            s->want_depth = s->depth;
        s->want_queued = true;
        s->want_last_depth = s->depth;
        break;
    case GS_WIRE_ACK:
        s->ack_depth[m->u.ack.batch % 16] = s->ack_last_depth = s->depth;
        break;
    default:
        break;
    }
    return GS_OK;
}

bool
gs_session_next(gs_session *s, gs_slice *msg)
{
    if (s->q_head == s->q_n)
        return false;
    *msg = gs_slice_of(s->q[s->q_head].data, s->q[s->q_head].len);
    s->q_head++;
    return true;
}

static gs_wire_msg *
msg(gs_session *s, uint8_t type)
{
    gs_wire_msg *m = s->m;
    m->type = type;
    m->session = s->o.id;
    return m;
}

/* End the session with rc; tell the peer unless it told us. */
static gs_err
fail(gs_session *s, gs_err rc, bool tell)
{
    if (s->phase == P_OVER)
        return s->result;
    if (tell) {
        gs_wire_msg *m = msg(s, GS_WIRE_ERROR);
        const char *name = gs_errname(rc), *text = gs_strerror(rc);
        m->u.error.code = gs_slice_of(name, strlen(name));
        m->u.error.text = gs_slice_of(text, strlen(text));
        (void)queue(s, m); /* best effort: the session ends either way */
    }
    s->phase = P_OVER;
    s->result = rc;
    return rc;
}

/* ---- lifecycle ---- */

gs_err
gs_session_new(const gs_session_opts *o, gs_session **out)
{
    if (!o || !o->store || !o->network || !o->device || !out)
        return GS_EINVAL;
    if (o->n_scopes > GS_WIRE_SCOPES_MAX)
        return GS_ETOOBIG;
    gs_session *s = calloc(1, sizeof *s);
    if (!s)
        return GS_ENOMEM;
    s->o = *o;
    s->o.scopes = NULL;
    if (!s->o.batch_ops)
        s->o.batch_ops = GS_SESSION_BATCH_OPS;
    if (!s->o.window || s->o.window > 8)
        s->o.window = GS_SESSION_WINDOW;
    s->m = calloc(1, sizeof *s->m);
    s->rx = calloc(1, sizeof *s->rx);
    gs_err rc = s->m && s->rx ? GS_OK : GS_ENOMEM;
    if (rc == GS_OK && o->dialer) {
        if (!o->scopes || !o->n_scopes)
            rc = GS_EINVAL;
        for (size_t i = 0; rc == GS_OK && i < o->n_scopes; i++)
            rc = sc_add(s, o->scopes[i], strlen(o->scopes[i]));
    }
    if (rc != GS_OK) {
        gs_session_free(s);
        return rc;
    }
    *out = s;
    return GS_OK;
}

void
gs_session_free(gs_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_sc; i++)
        sc_fini(&s->sc[i]);
    for (size_t i = 0; i < s->q_n; i++)
        gs_buf_fini(&s->q[i]);
    free(s->q);
    free(s->serve);
    free(s->m);
    free(s->rx);
    free(s->read_v);
    free(s);
}

bool
gs_session_over(const gs_session *s)
{
    return s->phase == P_OVER;
}

gs_err
gs_session_result(const gs_session *s)
{
    return s->result;
}

const gs_session_stats *
gs_session_stats_get(const gs_session *s)
{
    return &s->st;
}

bool
gs_session_got_bye(const gs_session *s)
{
    return s->got_bye;
}

size_t
gs_session_scopes(const gs_session *s, const char *const **out)
{
    *out = s->names;
    return s->n_sc;
}

static void
fill_hello(gs_session *s, gs_wire_hello *h)
{
    memcpy(h->network, s->o.network, GS_KEY_BYTES);
    memcpy(h->device, s->o.device, GS_KEY_BYTES);
    h->cert = s->o.dialer ? s->o.cert : gs_slice_of(NULL, 0);
    h->n_scopes = s->n_sc;
    for (size_t i = 0; i < s->n_sc; i++)
        h->scopes[i] = s->sc[i].slice;
    h->max_msg = GS_WIRE_MSG_MAX;
    h->flags = s->o.gossip ? GS_WIRE_FLAG_GOSSIP : 0;
}

static gs_err
queue_summary(gs_session *s)
{
    gs_wire_msg *m = msg(s, GS_WIRE_SUMMARY);
    m->u.summary.n = s->n_sc;
    for (size_t i = 0; i < s->n_sc; i++)
        gs_recon_summary(&s->sc[i].r, &m->u.summary.scopes[i]);
    return queue(s, m);
}

gs_err
gs_session_start(gs_session *s)
{
    gs_err rc;
    if (!s->o.dialer || s->phase != P_HELLO || s->st.msgs_out)
        return GS_EINVAL;
    if (s->o.read_fn && !s->o.peer_device)
        return GS_EINVAL;
    if (s->o.read_fn && (rc = read_scopes_get(s, s->o.peer_device)))
        return fail(s, rc, false);
    for (size_t i = 0; i < s->n_sc; i++)
        if ((rc = sc_load(s, &s->sc[i])) != GS_OK)
            return fail(s, rc, false);
    fill_hello(s, &msg(s, GS_WIRE_HELLO)->u.hello);
    if ((rc = queue(s, s->m)) != GS_OK || (rc = queue_summary(s)) != GS_OK)
        return fail(s, rc, false);
    s->started = true;
    return GS_OK;
}

/* ---- handshake ---- */

static gs_err
check_hello(gs_session *s, const gs_wire_hello *h)
{
    if (memcmp(h->network, s->o.network, GS_KEY_BYTES) != 0)
        return GS_ENETWORK;
    if (s->o.peer_curve) {
        uint8_t c[32];
        if (crypto_sign_ed25519_pk_to_curve25519(c, h->device) != 0 ||
            sodium_memcmp(c, s->o.peer_curve, 32) != 0)
            return GS_EDENIED; /* HELLO names a key other than CURVE's */
    }
    memcpy(s->st.peer_device, h->device, GS_KEY_BYTES);
    s->st.peer_flags = h->flags;
    return GS_OK;
}

static gs_err
on_hello(gs_session *s, const gs_wire_msg *rx)
{
    gs_err rc;
    if (s->o.dialer || s->got_hello)
        return GS_EPROTO;
    s->o.id = rx->session; /* so an ERROR reaches the right session */
    if ((rc = check_hello(s, &rx->u.hello)) != GS_OK)
        return rc;
    if (s->o.hello_fn &&
        (rc = s->o.hello_fn(&rx->u.hello, s->o.hello_ctx)) != GS_OK)
        return rc;
    if ((rc = read_scopes_get(s, rx->u.hello.device)) != GS_OK)
        return rc;
    s->got_hello = true;
    fill_hello(s, &msg(s, GS_WIRE_WELCOME)->u.hello);
    /* the scopes of the session are the dialer's */
    gs_wire_hello *w = &s->m->u.hello;
    w->n_scopes = rx->u.hello.n_scopes;
    memcpy(w->scopes, rx->u.hello.scopes, w->n_scopes * sizeof *w->scopes);
    return queue(s, s->m);
}

static gs_err
on_welcome(gs_session *s, const gs_wire_msg *rx)
{
    if (!s->o.dialer || s->got_hello)
        return GS_EPROTO;
    s->got_hello = true;
    return check_hello(s, &rx->u.hello);
}

/* ---- recon ---- */

static int
want_cmp(const void *a, const void *b)
{
    const gs_wire_want *x = a, *y = b;
    return gs_recon_feed_cmp(&x->feed, &y->feed);
}

static gs_err pump(gs_session *s);

static bool
recon_done(const gs_session *s)
{
    for (size_t i = 0; i < s->n_sc; i++)
        if (!gs_recon_done(&s->sc[i].r))
            return false;
    return true;
}

/* Recon is over on our side: send every want, the last WANT short. */
static gs_err
send_wants(gs_session *s)
{
    size_t total = 0, k = 0;
    gs_err rc;
    if (s->wants_sent || !recon_done(s))
        return GS_OK;
    for (size_t i = 0; i < s->n_sc; i++) {
        size_t n;
        (void)gs_recon_wants(&s->sc[i].r, &n);
        total += n;
        s->st.ops_promised_in += s->sc[i].r.owed;
    }
    gs_wire_want *all = malloc((total ? total : 1) * sizeof *all);
    if (!all)
        return GS_ENOMEM;
    for (size_t i = 0; i < s->n_sc; i++) {
        size_t n;
        const gs_wire_want *w = gs_recon_wants(&s->sc[i].r, &n);
        /* w is NULL for a scope with no wants, and memcpy from NULL is
         * undefined even for 0 bytes (UBSan; tests/fuzz/fuzz_session) */
        if (n)
            memcpy(all + k, w, n * sizeof *w);
        k += n;
    }
    qsort(all, total, sizeof *all, want_cmp);
    size_t at = 0;
    do {
        size_t n = total - at < GS_WIRE_WANTS_MAX ? total - at
                                                  : GS_WIRE_WANTS_MAX;
        gs_wire_msg *m = msg(s, GS_WIRE_WANT);
        m->u.want.n = n;
        memcpy(m->u.want.feeds, all + at, n * sizeof *all);
        if ((rc = queue(s, m)) != GS_OK)
            break;
        at += n;
        if (n < GS_WIRE_WANTS_MAX)
            break;
    } while (1);
    free(all);
    if (rc != GS_OK)
        return rc;
    s->wants_sent = true;
    s->we_wanted = total > 0;
    s->st.feeds_wanted = total;
    s->phase = P_SYNC;
    return pump(s);
}

static gs_err
on_summary(gs_session *s, const gs_wire_msg *rx)
{
    const gs_wire_summary *in = &rx->u.summary;
    gs_wire_msg *m = msg(s, GS_WIRE_RANGES);
    gs_wire_ranges *out = &m->u.ranges;
    bool any = false;
    gs_err rc;

    if (!s->got_hello || s->got_summary || (s->o.dialer && s->wants_sent))
        return GS_EPROTO;
    s->got_summary = true;
    if (!s->o.dialer) { /* the dialer's scopes become the session's */
        if (in->n == 0)
            return GS_EPROTO;
        for (size_t i = 0; i < in->n; i++) {
            if ((rc = sc_add(s, (const char *)in->scopes[i].scope.p,
                             in->scopes[i].scope.n)) != GS_OK)
                return rc == GS_ENOMEM ? rc : GS_EPROTO;
            if ((rc = sc_load(s, &s->sc[s->n_sc - 1])) != GS_OK)
                return rc;
        }
    } else if (in->n != s->n_sc) {
        return GS_EPROTO;
    }
    out->n_scopes = out->n_ranges = out->n_heads = 0;
    for (size_t i = 0; i < in->n; i++) {
        struct sc *c = sc_find(s, in->scopes[i].scope);
        bool reply = false;
        if (!c)
            return GS_EPROTO;
        if ((rc = gs_recon_answer_summary(&c->r, &in->scopes[i], out,
                                          &reply)) != GS_OK)
            return rc;
        any |= reply;
    }
    if (any)
        rc = queue(s, s->m);
    else if (!s->o.dialer)
        rc = queue_summary(s); /* all equal: say so, one round trip */
    else
        rc = GS_OK;
    if (rc != GS_OK)
        return rc;
    s->phase = P_RECON;
    s->started = true;
    return send_wants(s);
}

static gs_err
on_ranges(gs_session *s, const gs_wire_msg *rx)
{
    gs_wire_msg *m = msg(s, GS_WIRE_RANGES);
    gs_wire_ranges *out = &m->u.ranges;
    bool any = false;
    gs_err rc;
    if (!s->started || s->wants_sent)
        return GS_EPROTO;
    for (size_t i = 0; i < rx->u.ranges.n_scopes; i++)
        if (!sc_find(s, rx->u.ranges.scopes[i].scope))
            return GS_EPROTO;
    out->n_scopes = out->n_ranges = out->n_heads = 0;
    for (size_t i = 0; i < s->n_sc; i++) {
        bool reply = false;
        if (gs_recon_done(&s->sc[i].r))
            continue;
        if ((rc = gs_recon_answer(&s->sc[i].r, &rx->u.ranges, out,
                                  &reply)) != GS_OK)
            return rc;
        any |= reply;
    }
    if (any && (rc = queue(s, s->m)) != GS_OK)
        return rc;
    return send_wants(s);
}

/* ---- serving the peer's wants ---- */

static struct feed *
feed_by_id(struct sc *c, const uint8_t id[GS_KEY_BYTES])
{
    struct feed key;
    /* feeds is NULL in a scope we hold nothing of, and bsearch on NULL is
     * undefined even for 0 items (UBSan; a WANT naming such a scope) */
    if (c->n_feeds == 0)
        return NULL;
    memcpy(key.id, id, GS_KEY_BYTES);
    return bsearch(&key, c->feeds, c->n_feeds, sizeof key, feed_cmp);
}

static int
serve_cmp(const void *a, const void *b)
{
    const struct serve *x = a, *y = b;
    if (x->sc != y->sc)
        return x->sc < y->sc ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static gs_err
on_want(gs_session *s, const gs_wire_msg *rx)
{
    if (!s->started || s->peer_wants_final)
        return GS_EPROTO;
    const gs_wire_wants *w = &rx->u.want;
    for (size_t i = 0; i < w->n; i++) {
        struct sc *c = sc_find(s, w->feeds[i].feed.scope);
        struct feed *f = c ? feed_by_id(c, w->feeds[i].feed.author) : NULL;
        if (!f || w->feeds[i].from == 0)
            return GS_EPROTO; /* we never listed such a feed */
        uint64_t from = w->feeds[i].from, end = f->seq;
        if (f->frozen) {
            /* up to the head, then both branches (docs/trust.md §4): a
             * peer past the head gets the branches alone */
            from = from <= f->head ? from : f->head + 1;
            end = f->head + 1;
        }
        if (from > end)
            continue;
        if (s->n_serve == s->cap_serve) {
            size_t cap = s->cap_serve ? s->cap_serve * 2 : 64;
            struct serve *p = realloc(s->serve, cap * sizeof *p);
            if (!p)
                return GS_ENOMEM;
            s->serve = p;
            s->cap_serve = cap;
        }
        s->serve[s->n_serve] = (struct serve){
            (size_t)(c - s->sc), (size_t)(f - c->feeds), from, from, end,
            s->n_serve, false};
        s->n_serve++;
        s->st.ops_promised_out += end - from + 1 + f->frozen;
    }
    /* Serve in the order of the wanted scopes, so `trust` (the dialer
     * names it first) goes before the ops its certificates admit; a feed
     * partly sent already stays where it is. */
    size_t at = s->serve_pos;
    if (at < s->n_serve && s->serve[at].next != s->serve[at].from)
        at++;
    if (s->n_serve > at + 1)
        qsort(s->serve + at, s->n_serve - at, sizeof *s->serve, serve_cmp);
    if (w->n < GS_WIRE_WANTS_MAX)
        s->peer_wants_final = true;
    return pump(s);
}

/* One segment being cut into wire runs. */
struct seg {
    gs_buf raw; /* op bytes back to back */
    size_t *len;
    size_t n, cap;
    gs_sig sig;
    bool signed_;
};

static int
seg_add(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct seg *g = ctx;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        size_t *p = realloc(g->len, cap * sizeof *p);
        if (!p)
            return -1;
        g->len = p;
        g->cap = cap;
    }
    if (gs_buf_put(&g->raw, op, len) != GS_OK)
        return -1;
    g->len[g->n++] = len;
    if (sig) {
        g->sig = *sig;
        g->signed_ = true;
    }
    return 0;
}

struct batch_out {
    gs_wire_run *runs;
    size_t *off; /* of each run's compact ops in compact */
    size_t n;
    gs_buf compact, frame;
    gs_run_item *items;
    size_t cap_items;
};

/* Append the segment as wire runs of <= GS_WIRE_RUN_OPS_MAX ops; all but
 * the last carry a zero signature (the receiver joins them). */
static gs_err
seg_to_runs(struct batch_out *b, struct seg *g, const struct sc *c,
            const struct feed *f, uint64_t first)
{
    static const gs_sig none;
    gs_err rc;
    if (g->n > b->cap_items) {
        gs_run_item *p = realloc(b->items, g->n * sizeof *p);
        if (!p)
            return GS_ENOMEM;
        b->items = p;
        b->cap_items = g->n;
    }
    size_t at = 0;
    for (size_t i = 0; i < g->n; i++) {
        b->items[i] = (gs_run_item){g->raw.data + at, g->len[i], NULL};
        at += g->len[i];
    }
    for (size_t i = 0; i < g->n; i += GS_WIRE_RUN_OPS_MAX) {
        size_t k = g->n - i < GS_WIRE_RUN_OPS_MAX ? g->n - i
                                                  : GS_WIRE_RUN_OPS_MAX;
        if (b->n == GS_WIRE_RUNS_MAX)
            return GS_ETOOBIG;
        b->items[i + k - 1].sig = i + k == g->n ? &g->sig : &none;
        gs_wire_run *r = &b->runs[b->n];
        b->off[b->n] = b->compact.len;
        if ((rc = gs_wire_run_compact(b->items + i, k, r, &b->compact)) !=
            GS_OK)
            return rc;
        r->scope = feed_scope(c, f); /* outlives the segment's bytes */
        r->first_seq = first + i;
        b->n++;
    }
    return GS_OK;
}

/* Build and queue one OPS batch from the serve list. */
static gs_err
send_batch(gs_session *s)
{
    struct batch_out b = {0};
    struct seg g = {0};
    size_t ops = 0;
    gs_err rc = GS_ENOMEM;

    gs_buf_init(&b.compact, GS_WIRE_BATCH_MAX);
    gs_buf_init(&b.frame, GS_WIRE_MSG_MAX);
    gs_buf_init(&g.raw, EXPAND_MAX);
    b.runs = malloc(GS_WIRE_RUNS_MAX * sizeof *b.runs);
    b.off = malloc(GS_WIRE_RUNS_MAX * sizeof *b.off);
    if (!b.runs || !b.off)
        goto out;
    rc = GS_OK;
    while (s->serve_pos < s->n_serve && ops < s->o.batch_ops &&
           b.compact.len < BATCH_BYTES && b.n < GS_WIRE_RUNS_MAX - 8) {
        struct serve *v = &s->serve[s->serve_pos];
        struct sc *c = &s->sc[v->sc];
        struct feed *f = &c->feeds[v->feed];
        uint64_t to = 0, first = v->second ? f->head + 1 : v->next;
        gs_buf_reset(&g.raw);
        g.n = 0;
        g.signed_ = false;
        if (v->second)
            rc = gs_store_feed_read_fork(s->o.store, f->author,
                                         feed_scope(c, f), seg_add, &g, &to);
        else
            rc = gs_store_feed_read(s->o.store, f->author, feed_scope(c, f),
                                    v->next, s->o.batch_ops - ops, seg_add,
                                    &g, &to);
        if (rc == GS_OK && (g.n == 0 || !g.signed_ || g.n != to - first + 1))
            rc = g.n ? GS_ENOSIG : GS_ENOTFOUND;
        if (rc == GS_ENOTFOUND || rc == GS_ENOSIG || rc == GS_EINVAL) {
            /* the feed changed since the session listed it (a revocation
             * cut it, a fork froze it or moved its freeze): it is no
             * fault of the peer's; skip it, the next session lists it as
             * it is then */
            s->serve_pos++;
            rc = GS_OK;
            continue;
        }
        size_t n0 = b.n, len0 = b.compact.len;
        if (rc == GS_OK)
            rc = seg_to_runs(&b, &g, c, f, first);
        if (rc == GS_ETOOBIG && n0) { /* full: this segment next time */
            b.n = n0;
            b.compact.len = len0;
            rc = GS_OK;
            break;
        }
        if (rc != GS_OK)
            goto out;
        ops += g.n;
        v->next = to + 1;
        if (f->frozen && !v->second && to > f->head) {
            /* the first branch went; the second must reach the peer in
             * a later batch, once this one is applied (its first op
             * chains on the head, which the peer may get only now) */
            v->second = true;
            break;
        }
        if (v->second || v->next > v->end)
            s->serve_pos++;
    }
    if (b.n == 0)
        goto out;
    for (size_t i = 0; i < b.n; i++)
        b.runs[i].ops.p = b.compact.data + b.off[i];
    if ((rc = gs_wire_batch_compress(b.runs, b.n, &b.frame)) != GS_OK)
        goto out;
    gs_wire_msg *m = msg(s, GS_WIRE_OPS);
    m->u.ops.batch = s->next_batch;
    m->u.ops.frame = gs_slice_of(b.frame.data, b.frame.len);
    if ((rc = queue(s, m)) != GS_OK)
        goto out;
    s->inflight_depth[s->inflight] = s->depth;
    s->inflight_ids[s->inflight++] = s->next_batch++;
    s->st.ops_out += ops;
out:
    gs_buf_fini(&b.compact);
    gs_buf_fini(&b.frame);
    gs_buf_fini(&g.raw);
    free(g.len);
    free(b.runs);
    free(b.off);
    free(b.items);
    return rc;
}

static void
maybe_over(gs_session *s)
{
    if (s->sent_bye && (s->got_bye || !s->we_wanted) && s->phase != P_OVER)
        s->phase = P_OVER;
}

static gs_err
pump(gs_session *s)
{
    gs_err rc;
    while (s->inflight < s->o.window && s->serve_pos < s->n_serve)
        if ((rc = send_batch(s)) != GS_OK)
            return rc;
    if (s->wants_sent && s->peer_wants_final && !s->sent_bye &&
        s->serve_pos == s->n_serve && s->inflight == 0) {
        if ((rc = queue(s, msg(s, GS_WIRE_BYE))) != GS_OK)
            return rc;
        s->sent_bye = true;
    }
    maybe_over(s);
    return GS_OK;
}

static gs_err
on_ack(gs_session *s, const gs_wire_msg *rx)
{
    const gs_wire_ack *a = &rx->u.ack;
    size_t i;
    for (i = 0; i < s->inflight; i++)
        if (s->inflight_ids[i] == a->batch)
            break;
    if (i == s->inflight)
        return GS_EPROTO; /* ACK for a batch we did not send */
    memmove(&s->inflight_ids[i], &s->inflight_ids[i + 1],
            (s->inflight - i - 1) * sizeof s->inflight_ids[0]);
    memmove(&s->inflight_depth[i], &s->inflight_depth[i + 1],
            (s->inflight - i - 1) * sizeof s->inflight_depth[0]);
    s->inflight--;
    s->st.ops_out_applied += a->applied;
    s->st.refused_by_peer += a->n_refused;
    return pump(s);
}

/* ---- applying ops from the peer ---- */

static int
hash_first(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    (void)sig;
    gs_op_hash(op, len, ctx);
    return 1;
}

/* The content hash of op `seq` of the feed, which we hold; *gap if we
 * do not hold it: GS_ECHAIN, or GS_EFORK past a frozen head. */
static gs_err
prev_hash(gs_store *st, const gs_wire_run *r, uint64_t seq,
          uint8_t out[GS_HASH_BYTES], gs_err *gap)
{
    gs_store_feed_info fi;
    gs_err rc;
    *gap = GS_OK;
    if (seq == 0) {
        memset(out, 0, GS_HASH_BYTES);
        return GS_OK;
    }
    if ((rc = gs_store_feed_info_get(st, r->author, r->scope, &fi)) != GS_OK)
        return rc;
    const gs_feed_head h = fi.head;
    if (h.seq == seq) {
        memcpy(out, h.hash, GS_HASH_BYTES);
        return GS_OK;
    }
    if (h.seq < seq) {
        *gap = fi.frozen ? GS_EFORK : GS_ECHAIN;
        return GS_OK;
    }
    return gs_store_feed_read(st, r->author, r->scope, seq, 1, hash_first,
                              out, NULL);
}

struct group {
    size_t first_run, n_runs, first_item, n_items;
    size_t n_ops; /* of all its runs, refused or not */
    gs_err refused; /* GS_OK unless refused before the store saw it */
};

/* A refused run that says the peer is broken or hostile: not one refused
 * by the trust rules, nor fork evidence, which honest peers relay. */
static bool
breaks_session(gs_err why)
{
    return why != GS_EFORK && !gs_trust_refusal(why);
}

gs_err
gs_session_apply(gs_store *st, const uint8_t *network, gs_slice frame,
                 const gs_slice *scopes, size_t n_scopes, gs_wire_ack *ack,
                 gs_session_stats *stats)
{
    gs_wire_batch b;
    gs_err rc = gs_wire_batch_decode(frame, &b);
    if (rc != GS_OK)
        return rc;
    size_t total = 0, ng = 0;
    for (size_t i = 0; i < b.n_runs; i++)
        total += b.runs[i].n;
    struct group *g = calloc(b.n_runs, sizeof *g);
    gs_run_item *items = calloc(total, sizeof *items);
    size_t *off = calloc(total, sizeof *off); /* ex moves as it grows */
    gs_store_run *runs = calloc(b.n_runs, sizeof *runs);
    gs_buf ex;
    gs_buf_init(&ex, EXPAND_MAX);
    if (!g || !items || !off || !runs) {
        rc = GS_ENOMEM;
        goto out;
    }
    size_t item = 0;
    for (size_t i = 0; i < b.n_runs; i++) {
        const gs_wire_run *r = &b.runs[i];
        const gs_wire_run *p = i ? &b.runs[i - 1] : NULL;
        bool joins = p && !memcmp(p->author, r->author, GS_KEY_BYTES) &&
                     gs_slice_cmp(p->scope, r->scope) == 0 &&
                     p->first_seq + p->n == r->first_seq &&
                     g[ng - 1].refused == GS_OK;
        uint8_t prev[GS_HASH_BYTES];
        gs_err gap = GS_OK;
        if (!joins) {
            g[ng++] = (struct group){i, 0, item, 0, 0, GS_OK};
            bool in_scope = !scopes;
            for (size_t k = 0; scopes && k < n_scopes; k++)
                in_scope |= gs_scope_covers(scopes[k], r->scope);
            if (!in_scope) {
                g[ng - 1].refused = GS_EPROTO;
            } else if ((rc = prev_hash(st, r, r->first_seq - 1, prev,
                                       &gap)) != GS_OK) {
                goto out;
            } else if (gap != GS_OK) {
                g[ng - 1].refused = gap;
            }
        } else {
            gs_op_hash(ex.data + off[item - 1], items[item - 1].n, prev);
            items[item - 1].sig = NULL; /* a part: the run's end signs */
        }
        struct group *cur = &g[ng - 1];
        cur->n_runs++;
        cur->n_ops += r->n;
        if (cur->refused != GS_OK)
            continue;
        rc = gs_wire_run_expand(r, prev, &ex, items + item, NULL);
        if (rc == GS_ENOMEM || rc == GS_ETOOBIG)
            goto out;
        if (rc != GS_OK) {
            cur->refused = rc;
            item = cur->first_item;
            cur->n_items = 0;
            continue;
        }
        for (size_t k = item; k < item + r->n; k++)
            off[k] = (size_t)(items[k].bytes - ex.data);
        item += r->n;
        cur->n_items += r->n;
    }
    for (size_t k = 0; k < item; k++)
        items[k].bytes = ex.data + off[k];
    /* One transaction for every group the store may see. */
    size_t nr = 0;
    for (size_t i = 0; i < ng; i++)
        if (g[i].refused == GS_OK)
            runs[nr++] = (gs_store_run){items + g[i].first_item, g[i].n_items};
    gs_ingest_stats is;
    memset(&is, 0, sizeof is);
    if (nr && (rc = gs_store_ingest(st, runs, nr, network, &is)) != GS_OK)
        goto out;
    memset(ack, 0, sizeof *ack);
    ack->applied = is.applied;
    ack->known = is.known;
    ack->rejected = is.rejected;
    size_t k = 0;
    for (size_t i = 0; i < ng; i++) {
        gs_err why = g[i].refused;
        if (why == GS_OK && is.rejected) { /* name it: re-ingest alone */
            gs_ingest_stats one;
            memset(&one, 0, sizeof one);
            if ((rc = gs_store_ingest(st, &runs[k], 1, network, &one)) !=
                GS_OK)
                goto out;
            if (one.rejected)
                why = one.first_bad_rc;
            /* refused in the batch, taken alone: count it as taken */
            size_t took = one.applied + one.known;
            took = took < ack->rejected ? took : ack->rejected;
            ack->applied += one.applied;
            ack->known += one.known;
            ack->rejected -= took;
            is.applied += one.applied;
            is.known += one.known;
        }
        bool forgiven = false;
        if (why == GS_EBADSIG && g[i].refused == GS_OK &&
            b.runs[g[i].first_run].first_seq > 1) {
            /* It should have chained on an op of ours: a peer on another
             * branch of a fork below it looks just so (the wire leaves
             * prev out). The next sync asks for the feed from seq 1. */
            const gs_wire_run *fr = &b.runs[g[i].first_run];
            if ((rc = gs_store_feed_suspect(st, fr->author, fr->scope)) !=
                GS_OK)
                goto out;
            /* the first such run of a session is no sign of a broken
             * peer (an honest one on the other branch sends it); more
             * count as any bad signature does */
            forgiven = !stats || stats->suspects == 0;
            if (stats)
                stats->suspects++;
        }
        if (g[i].refused == GS_OK)
            k++;
        else
            ack->rejected += g[i].n_ops;
        if (why != GS_OK && ack->n_refused < GS_WIRE_REFUSED_MAX) {
            const char *name = gs_errname(why);
            ack->refused[ack->n_refused].run = g[i].first_run;
            ack->refused[ack->n_refused].code = gs_slice_of(name, strlen(name));
            ack->n_refused++;
            if (stats) {
                stats->rejected_by_reason[why] += g[i].n_ops;
                if (breaks_session(why) && !forgiven)
                    stats->runs_broken++;
            }
        }
    }
    if (stats) {
        stats->forks += is.forks;
        stats->ops_in += is.applied;
        stats->ops_known += is.known;
        stats->rejected += ack->rejected;
        stats->runs_refused += ack->n_refused;
    }
    rc = GS_OK;
out:
    gs_buf_fini(&ex);
    free(g);
    free(off);
    free(items);
    free(runs);
    gs_wire_batch_fini(&b);
    return rc;
}

static gs_err
on_ops(gs_session *s, const gs_wire_msg *rx)
{
    gs_slice scopes[GS_WIRE_SCOPES_MAX];
    if (!s->started)
        return GS_EPROTO;
    for (size_t i = 0; i < s->n_sc; i++)
        scopes[i] = s->sc[i].slice;
    gs_wire_msg *m = msg(s, GS_WIRE_ACK);
    gs_err rc = gs_session_apply(s->o.store, s->o.network, rx->u.ops.frame,
                                 scopes, s->n_sc, &m->u.ack, &s->st);
    if (rc != GS_OK)
        return rc;
    m->u.ack.batch = rx->u.ops.batch;
    if ((rc = queue(s, m)) != GS_OK)
        return rc;
    /* Runs the trust rules refuse come from honest relays too (a device
     * not enrolled yet); runs that fail their signature, chain or form do
     * not: three of those end the session. */
    if (s->st.runs_broken >= GS_SESSION_REFUSED_MAX) {
        for (size_t i = 0; i < GS_ERR_COUNT_; i++)
            if (s->st.rejected_by_reason[i] && breaks_session((gs_err)i))
                return (gs_err)i;
        return GS_EPROTO;
    }
    return GS_OK;
}

static gs_err
code_of(gs_slice name)
{
    for (int i = 1; i < GS_ERR_COUNT_; i++) {
        const char *n = gs_errname((gs_err)i);
        if (strlen(n) == name.n && !memcmp(n, name.p, name.n))
            return (gs_err)i;
    }
    return GS_ECLOSED;
}

/* The depth of a message from the peer: 1 + that of the message of ours
 * it answers (gs_session_stats.round_trips). The peer's recon messages
 * and WANTs answer our latest recon message; its OPS batch b our first
 * WANT (b < window) or our ACK of batch b - window; its ACK our batch;
 * its BYE the last of our recon, WANTs and ACKs it waited for. */
static uint64_t
rx_depth(const gs_session *s, const gs_wire_msg *rx)
{
    uint64_t d = s->sent_depth, b;
    switch (rx->type) {
    case GS_WIRE_WELCOME:
    case GS_WIRE_SUMMARY:
    case GS_WIRE_RANGES:
    case GS_WIRE_WANT:
        d = s->recon_depth;
        break;
    case GS_WIRE_OPS:
        b = rx->u.ops.batch;
        d = b < s->o.window ? s->want_depth
                            : s->ack_depth[(b - s->o.window) % 16];
        break;
    case GS_WIRE_ACK:
        for (size_t i = 0; i < s->inflight; i++)
            if (s->inflight_ids[i] == rx->u.ack.batch)
                d = s->inflight_depth[i];
        break;
    case GS_WIRE_BYE:
        d = s->recon_depth;
        if (s->want_last_depth > d)
            d = s->want_last_depth;
        if (s->ack_last_depth > d)
            d = s->ack_last_depth;
        break;
    default:
        break;
    }
    return (d < s->sent_depth ? d : s->sent_depth) + 1;
}

gs_err
gs_session_recv(gs_session *s, const uint8_t *p, size_t n)
{
    gs_err rc;
    uint8_t type;
    uint32_t id;
    if (s->phase == P_OVER)
        return s->result;
    s->st.msgs_in++;
    s->st.bytes_in += n;
    if ((rc = gs_session_peek(p, n, &type, &id)) != GS_OK)
        return fail(s, rc == GS_ETRUNC ? GS_EMALFORMED : rc, true);
    if ((s->o.dialer || s->got_hello) && id != s->o.id)
        return GS_OK; /* a late message of another session */
    if (!s->got_hello && type != GS_WIRE_HELLO && type != GS_WIRE_WELCOME &&
        type != GS_WIRE_ERROR)
        return fail(s, GS_EPROTO, true);
    if ((rc = gs_wire_decode(p, n, s->rx)) != GS_OK)
        return fail(s, rc, true);
    const gs_wire_msg *rx = s->rx;
    if (s->o.dialer) {
        s->depth = rx_depth(s, rx);
        if (s->depth > s->st.round_trips)
            s->st.round_trips = s->depth;
    }
    switch (rx->type) {
    case GS_WIRE_HELLO:
        rc = on_hello(s, rx);
        break;
    case GS_WIRE_WELCOME:
        rc = on_welcome(s, rx);
        break;
    case GS_WIRE_SUMMARY:
        rc = on_summary(s, rx);
        break;
    case GS_WIRE_RANGES:
        rc = on_ranges(s, rx);
        break;
    case GS_WIRE_WANT:
        rc = on_want(s, rx);
        break;
    case GS_WIRE_OPS:
        rc = on_ops(s, rx);
        break;
    case GS_WIRE_ACK:
        rc = on_ack(s, rx);
        break;
    case GS_WIRE_ERROR:
        s->st.peer_error = code_of(rx->u.error.code);
        return fail(s, s->st.peer_error, false);
    case GS_WIRE_BYE:
        if (!s->wants_sent || s->got_bye)
            rc = GS_EPROTO;
        else
            s->got_bye = true;
        maybe_over(s);
        return s->result;
    default: /* PUSH belongs to the agent, not to a session */
        rc = GS_EPROTO;
        break;
    }
    if (rc != GS_OK)
        return fail(s, rc, true);
    return GS_OK;
}
