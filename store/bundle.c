/*
 * bundle.c — bundle files: encoder, streaming decoder, export and import.
 *
 * The decoder reads one record at a time from a FILE or from memory, checks
 * every length against its limit and against the bytes left before it reads
 * or allocates, hashes every byte for the end checksum, and hands each
 * record to a callback. It never decodes an op: ops are verified where they
 * are used (the store's gs_run_verify on import, the fuzz target), so a
 * damaged op costs its run, not the file.
 *
 * The exporter walks gs_store_ops_each and cuts each feed into records:
 * unsigned parts of at most GS_RUN_MAX ops / GS_BUNDLE_REC_BYTES_MAX bytes,
 * closed by a run record carrying the head's signature. It writes path.tmp,
 * syncs it, renames it over path and syncs the directory.
 *
 * The importer joins a feed's parts and closing record into one store run
 * (the signature on the last op covers the whole chain), gathers runs into
 * batches of about GS_BUNDLE_BATCH_OPS ops and hands each batch to
 * gs_store_ingest, one transaction. When a batch had refusals, its runs are
 * ingested again one by one to say which run failed and why; that is
 * idempotent (applied ops are now known), and any op the second pass
 * applies is moved from rejected to applied.
 *
 * SPEC: docs/bundle.md.
 */
#include "bundle.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEADER_FIXED (GS_BUNDLE_MAGIC_BYTES + 1 + GS_KEY_BYTES + 8)

/* ---- encoder ---- */

gs_err
gs_bundle_header_encode(const gs_bundle_header *h, gs_buf *out)
{
    size_t on = strlen(h->origin), start = out->len;
    gs_err rc;

    if (on > GS_BUNDLE_ORIGIN_MAX ||
        !gs_utf8_valid((const uint8_t *)h->origin, on))
        return GS_EINVAL;
    rc = gs_buf_put(out, GS_BUNDLE_MAGIC, GS_BUNDLE_MAGIC_BYTES);
    if (rc == GS_OK)
        rc = gs_buf_put_u8(out, h->version);
    if (rc == GS_OK)
        rc = gs_buf_put(out, h->network, GS_KEY_BYTES);
    if (rc == GS_OK)
        rc = gs_buf_put_u64be(out, h->created_ms);
    if (rc == GS_OK)
        rc = gs_buf_put_str(out, h->origin, on);
    if (rc != GS_OK)
        out->len = start;
    return rc;
}

gs_err
gs_bundle_rec_encode(const gs_bundle_rec *r, gs_buf *out)
{
    size_t start = out->len, total = 0;
    uint8_t sig[GS_SIG_BYTES];
    gs_err rc;

    if (r->n == 0 || r->n > GS_BUNDLE_REC_OPS_MAX)
        return GS_EINVAL;
    if (r->closes && r->items[r->n - 1].sig == NULL)
        return GS_EINVAL;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].n > GS_OP_BYTES_MAX)
            return GS_EINVAL;
        total += r->items[i].n;
    }
    if (total > GS_BUNDLE_REC_BYTES_MAX)
        return GS_EINVAL;
    rc = gs_buf_put_u8(out, r->closes ? GS_BUNDLE_TAG_RUN : GS_BUNDLE_TAG_PART);
    if (rc == GS_OK)
        rc = gs_buf_put_varint(out, r->n);
    for (size_t i = 0; rc == GS_OK && i < r->n; i++)
        rc = gs_buf_put_str(out, r->items[i].bytes, r->items[i].n);
    if (rc == GS_OK && r->closes) {
        gs_sig_encode(r->items[r->n - 1].sig, sig);
        rc = gs_buf_put(out, sig, GS_SIG_BYTES);
    }
    if (rc != GS_OK)
        out->len = start;
    return rc;
}

gs_err
gs_bundle_end_encode(gs_buf *out)
{
    uint8_t hash[GS_HASH_BYTES];
    size_t start = out->len;
    gs_err rc = gs_buf_put_u8(out, GS_BUNDLE_TAG_END);
    if (rc != GS_OK)
        return rc;
    crypto_generichash(hash, GS_HASH_BYTES, out->data, out->len, NULL, 0);
    rc = gs_buf_put(out, hash, GS_HASH_BYTES);
    if (rc != GS_OK)
        out->len = start;
    return rc;
}

/* ---- decoder ---- */

struct src {
    FILE *f;          /* or NULL: memory */
    const uint8_t *p; /* memory input */
    uint64_t size;    /* bytes in the input; UINT64_MAX if unknown */
    uint64_t pos;
    bool hashing;
    crypto_generichash_state h;
};

static uint64_t
src_left(const struct src *s)
{
    return s->size == UINT64_MAX ? UINT64_MAX : s->size - s->pos;
}

static gs_err
src_read(struct src *s, void *buf, size_t n)
{
    if (n == 0)
        return GS_OK;
    if (src_left(s) < n)
        return GS_ETRUNC;
    if (s->f) {
        if (fread(buf, 1, n, s->f) != n)
            return ferror(s->f) ? GS_EIO : GS_ETRUNC;
    } else {
        memcpy(buf, s->p + s->pos, n);
    }
    if (s->hashing)
        crypto_generichash_update(&s->h, buf, n);
    s->pos += n;
    return GS_OK;
}

/* A varint read byte by byte, then checked by gs_rd_varint (minimal, at
 * most 64 bits). */
static gs_err
src_varint(struct src *s, uint64_t *out)
{
    uint8_t b[10];
    size_t n = 0;
    gs_rd r;
    do {
        gs_err rc = src_read(s, &b[n], 1);
        if (rc != GS_OK)
            return rc;
    } while ((b[n++] & 0x80) && n < sizeof b);
    gs_rd_init(&r, b, n);
    return gs_rd_varint(&r, out);
}

static gs_err
src_u8(struct src *s, uint8_t *out)
{
    return src_read(s, out, 1);
}

/* Is the input at its end? */
static gs_err
src_at_end(struct src *s)
{
    if (s->size != UINT64_MAX)
        return s->pos == s->size ? GS_OK : GS_EMALFORMED;
    int c = fgetc(s->f);
    if (c != EOF)
        return GS_EMALFORMED;
    return ferror(s->f) ? GS_EIO : GS_OK;
}

static gs_err
read_header(struct src *s, gs_bundle_header *h)
{
    uint8_t magic[GS_BUNDLE_MAGIC_BYTES], be[8];
    uint64_t on;
    gs_err rc;

    memset(h, 0, sizeof *h);
    rc = src_read(s, magic, sizeof magic);
    if (rc != GS_OK)
        return rc;
    if (memcmp(magic, GS_BUNDLE_MAGIC, GS_BUNDLE_MAGIC_BYTES) != 0)
        return GS_EMALFORMED;
    rc = src_u8(s, &h->version);
    if (rc != GS_OK)
        return rc;
    if (h->version != GS_BUNDLE_VERSION)
        return GS_EVERSION;
    rc = src_read(s, h->network, GS_KEY_BYTES);
    if (rc == GS_OK)
        rc = src_read(s, be, 8);
    if (rc == GS_OK)
        rc = src_varint(s, &on);
    if (rc != GS_OK)
        return rc;
    for (int i = 0; i < 8; i++)
        h->created_ms = h->created_ms << 8 | be[i];
    if (on > GS_BUNDLE_ORIGIN_MAX)
        return GS_ETOOBIG;
    rc = src_read(s, h->origin, (size_t)on);
    if (rc != GS_OK)
        return rc;
    h->origin[on] = 0;
    if (!gs_utf8_valid((const uint8_t *)h->origin, (size_t)on))
        return GS_EUTF8;
    return GS_OK;
}

/* The decoder's buffers: one record's op bytes and items. */
struct dec {
    uint8_t *data;
    size_t cap;
    gs_run_item *items;
    size_t items_cap;
    gs_sig sig;
};

static gs_err
dec_reserve(struct dec *d, size_t need)
{
    if (need <= d->cap)
        return GS_OK;
    size_t cap = d->cap ? d->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > GS_BUNDLE_REC_BYTES_MAX)
        cap = GS_BUNDLE_REC_BYTES_MAX;
    uint8_t *p = realloc(d->data, cap);
    if (!p)
        return GS_ENOMEM;
    d->data = p;
    d->cap = cap;
    return GS_OK;
}

/* Read the body of a record whose tag was tag: n, the ops, the sig. */
static gs_err
read_rec(struct src *s, struct dec *d, uint8_t tag, gs_bundle_rec *r)
{
    uint64_t n, len;
    size_t used = 0;
    gs_err rc = src_varint(s, &n);
    if (rc != GS_OK)
        return rc;
    if (n == 0)
        return GS_EMALFORMED;
    if (n > GS_BUNDLE_REC_OPS_MAX)
        return GS_ETOOBIG;
    if (n > src_left(s))
        return GS_ETRUNC;   /* each op takes at least its length byte */
    rc = dec_reserve(d, 1); /* ops may all be empty: still a buffer */
    if (rc != GS_OK)
        return rc;
    if (n > d->items_cap) {
        gs_run_item *it = realloc(d->items, (size_t)n * sizeof *it);
        if (!it)
            return GS_ENOMEM;
        d->items = it;
        d->items_cap = (size_t)n;
    }
    for (size_t i = 0; i < n; i++) {
        rc = src_varint(s, &len);
        if (rc != GS_OK)
            return rc;
        if (len > GS_OP_BYTES_MAX || len > GS_BUNDLE_REC_BYTES_MAX - used)
            return GS_ETOOBIG;
        if (len > src_left(s))
            return GS_ETRUNC;
        rc = dec_reserve(d, used + (size_t)len);
        if (rc == GS_OK)
            rc = src_read(s, d->data + used, (size_t)len);
        if (rc != GS_OK)
            return rc;
        d->items[i].n = (size_t)len;
        d->items[i].sig = NULL;
        used += (size_t)len;
    }
    /* pointers only now: the buffer may have moved while it grew */
    used = 0;
    for (size_t i = 0; i < n; i++) {
        d->items[i].bytes = d->data + used;
        used += d->items[i].n;
    }
    r->closes = tag == GS_BUNDLE_TAG_RUN;
    if (r->closes) {
        uint8_t sig[GS_SIG_BYTES];
        rc = src_read(s, sig, GS_SIG_BYTES);
        if (rc != GS_OK)
            return rc;
        gs_sig_decode(sig, &d->sig);
        d->items[n - 1].sig = &d->sig;
    }
    r->items = d->items;
    r->n = (size_t)n;
    return GS_OK;
}

static gs_err
decode(struct src *s, gs_bundle_header_fn hfn, gs_bundle_rec_fn rfn, void *ctx,
       uint64_t *err_offset)
{
    struct dec d = {0};
    gs_bundle_header h;
    gs_bundle_rec r;
    uint8_t want[GS_HASH_BYTES], got[GS_HASH_BYTES];
    uint64_t at = s->pos;
    bool part_open = false;
    gs_err rc;

    s->hashing = true;
    crypto_generichash_init(&s->h, NULL, 0, GS_HASH_BYTES);
    rc = read_header(s, &h);
    if (rc == GS_OK && hfn)
        rc = hfn(&h, ctx);
    for (size_t index = 0; rc == GS_OK; index++) {
        uint8_t tag;
        at = s->pos;
        rc = src_u8(s, &tag);
        if (rc != GS_OK)
            break;
        if (tag == GS_BUNDLE_TAG_END) {
            if (part_open) {
                rc = GS_EMALFORMED; /* parts with no run to close them */
                break;
            }
            crypto_generichash_final(&s->h, want, GS_HASH_BYTES);
            s->hashing = false;
            rc = src_read(s, got, GS_HASH_BYTES);
            if (rc == GS_OK && sodium_memcmp(want, got, GS_HASH_BYTES) != 0)
                rc = GS_EMALFORMED;
            if (rc == GS_OK) {
                at = s->pos;
                rc = src_at_end(s);
            }
            if (rc == GS_OK)
                at = s->pos;
            break;
        }
        if (tag != GS_BUNDLE_TAG_RUN && tag != GS_BUNDLE_TAG_PART) {
            rc = GS_EMALFORMED;
            break;
        }
        rc = read_rec(s, &d, tag, &r);
        if (rc != GS_OK)
            break;
        part_open = !r.closes;
        r.index = index;
        r.offset = at;
        if (rfn)
            rc = rfn(&r, ctx);
    }
    if (err_offset)
        *err_offset = at;
    free(d.data);
    free(d.items);
    return rc;
}

gs_err
gs_bundle_decode_file(FILE *f, uint64_t size, gs_bundle_header_fn hfn,
                      gs_bundle_rec_fn rfn, void *ctx, uint64_t *err_offset)
{
    struct src s = {.f = f, .size = size};
    return decode(&s, hfn, rfn, ctx, err_offset);
}

gs_err
gs_bundle_decode_mem(const uint8_t *p, size_t n, gs_bundle_header_fn hfn,
                     gs_bundle_rec_fn rfn, void *ctx, uint64_t *err_offset)
{
    struct src s = {.p = p, .size = n};
    return decode(&s, hfn, rfn, ctx, err_offset);
}

/* ---- export ---- */

struct exp {
    FILE *f;
    crypto_generichash_state h;
    gs_buf rec;         /* the encoded record */
    gs_buf ops;         /* op bytes of the record being gathered */
    size_t *lens;       /* their lengths, GS_BUNDLE_REC_OPS_MAX */
    gs_run_item *items; /* GS_BUNDLE_REC_OPS_MAX */
    size_t n;
    bool in_feed; /* a feed's ops are being written; its run not closed */
    uint8_t author[GS_KEY_BYTES];
    uint8_t scope[GS_SCOPE_BYTES_MAX];
    size_t scope_n;
    gs_bundle_progress_fn progress;
    void *ctx;
    gs_bundle_stats st;
    gs_err err;
    const gs_slice *read; /* read scoping: NULL = every feed */
    size_t n_read;
    bool skipping; /* in a feed the reader may not be served */
};

static gs_err
io_err(int e)
{
    return e == ENOSPC || e == EDQUOT ? GS_EFULL : GS_EIO;
}

static gs_err
exp_write(struct exp *e, const void *p, size_t n)
{
    if (fwrite(p, 1, n, e->f) != n)
        return io_err(errno);
    crypto_generichash_update(&e->h, p, n);
    e->st.bytes += n;
    return GS_OK;
}

/* Write the gathered ops as a part, or as the run closed by sig. */
static gs_err
exp_flush(struct exp *e, const gs_sig *sig)
{
    size_t off = 0;
    for (size_t i = 0; i < e->n; i++) {
        e->items[i] = (gs_run_item){e->ops.data + off, e->lens[i], NULL};
        off += e->lens[i];
    }
    e->items[e->n - 1].sig = sig;
    gs_bundle_rec r = {0, 0, sig != NULL, e->items, e->n};
    gs_buf_reset(&e->rec);
    gs_err rc = gs_bundle_rec_encode(&r, &e->rec);
    if (rc == GS_OK)
        rc = exp_write(e, e->rec.data, e->rec.len);
    gs_buf_reset(&e->ops);
    e->n = 0;
    return rc;
}

static gs_err
exp_op(struct exp *e, const uint8_t *bytes, size_t len, const gs_sig *sig)
{
    gs_op op;
    gs_err rc = gs_op_decode(bytes, len, &op);
    if (rc != GS_OK)
        return rc; /* the store holds only ops that decode */
    if (!e->in_feed && !e->skipping && e->read &&
        !gs_trust_may_read(e->read, e->n_read, op.scope))
        e->skipping = true; /* until this feed's last op (its sig) */
    if (e->skipping) {
        e->skipping = sig == NULL;
        return GS_OK;
    }
    if (e->in_feed) {
        if (memcmp(op.author, e->author, GS_KEY_BYTES) != 0 ||
            op.scope.n != e->scope_n ||
            memcmp(op.scope.p, e->scope, e->scope_n) != 0)
            return GS_ENOSIG; /* the feed before ended with no signature */
    } else {
        memcpy(e->author, op.author, GS_KEY_BYTES);
        memcpy(e->scope, op.scope.p, op.scope.n);
        e->scope_n = op.scope.n;
        e->in_feed = true;
    }
    if (e->n == GS_BUNDLE_REC_OPS_MAX ||
        e->ops.len + len > GS_BUNDLE_REC_BYTES_MAX) {
        rc = exp_flush(e, NULL);
        if (rc != GS_OK)
            return rc;
    }
    rc = gs_buf_put(&e->ops, bytes, len);
    if (rc != GS_OK)
        return rc;
    e->lens[e->n++] = len;
    e->st.ops++;
    if (sig) {
        rc = exp_flush(e, sig);
        if (rc != GS_OK)
            return rc;
        e->in_feed = false;
        e->st.runs++;
    }
    if (e->progress && e->st.ops % GS_BUNDLE_PROGRESS_OPS == 0)
        e->progress(e->st.ops, e->st.bytes, e->ctx);
    return GS_OK;
}

static int
exp_each(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct exp *e = ctx;
    e->err = exp_op(e, op, len, sig);
    return e->err != GS_OK;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sync the directory holding path, so the rename is on disk. Best effort:
 * some file systems (FAT on USB sticks among them) refuse it. */
static void
sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

gs_err
gs_bundle_export(gs_store *s, const uint8_t network[GS_KEY_BYTES],
                 const char *origin, const char *path,
                 gs_bundle_progress_fn progress, void *ctx,
                 gs_bundle_stats *out)
{
    return gs_bundle_export_scoped(s, network, origin, path, NULL, 0,
                                   progress, ctx, out);
}

gs_err
gs_bundle_export_scoped(gs_store *s, const uint8_t network[GS_KEY_BYTES],
                        const char *origin, const char *path,
                        const gs_slice *read, size_t n_read,
                        gs_bundle_progress_fn progress, void *ctx,
                        gs_bundle_stats *out)
{
    struct exp e;
    gs_bundle_header h = {GS_BUNDLE_VERSION, {0}, now_ms(), {0}};
    uint8_t hash[GS_HASH_BYTES], end = GS_BUNDLE_TAG_END;
    char *tmp = NULL;
    bool made = false; /* path.tmp exists */
    gs_err rc;

    if (!origin)
        origin = "";
    if (!path || strlen(origin) > GS_BUNDLE_ORIGIN_MAX)
        return GS_EINVAL;
    memcpy(h.network, network, GS_KEY_BYTES);
    strcpy(h.origin, origin);

    memset(&e, 0, sizeof e);
    e.progress = progress;
    e.ctx = ctx;
    e.read = read;
    e.n_read = n_read;
    gs_buf_init(&e.rec, GS_BUNDLE_REC_BYTES_MAX + 64 * 1024);
    gs_buf_init(&e.ops, GS_BUNDLE_REC_BYTES_MAX);
    e.lens = malloc(GS_BUNDLE_REC_OPS_MAX * sizeof *e.lens);
    e.items = malloc(GS_BUNDLE_REC_OPS_MAX * sizeof *e.items);
    tmp = malloc(strlen(path) + 5);
    if (!e.lens || !e.items || !tmp) {
        rc = GS_ENOMEM;
        goto out;
    }
    rc = gs_bundle_header_encode(&h, &e.rec);
    if (rc != GS_OK)
        goto out;
    strcpy(tmp, path);
    strcat(tmp, ".tmp");
    /* The bundle holds personal data: owner-only, created fresh (a stale
     * tmp from a crash is removed; unlink never follows a planted link). */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = io_err(errno);
        goto out;
    }
    int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    e.f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!e.f) {
        rc = io_err(errno);
        if (fd >= 0)
            close(fd);
        goto out;
    }
    made = true;
    crypto_generichash_init(&e.h, NULL, 0, GS_HASH_BYTES);
    rc = exp_write(&e, e.rec.data, e.rec.len);
    if (rc != GS_OK)
        goto out;
    rc = gs_store_ops_each(s, exp_each, &e);
    if (rc == GS_OK)
        rc = e.err;
    if (rc == GS_OK && e.in_feed)
        rc = GS_ENOSIG; /* the last feed ended with no signature */
    if (rc != GS_OK)
        goto out;
    rc = exp_write(&e, &end, 1);
    if (rc != GS_OK)
        goto out;
    crypto_generichash_final(&e.h, hash, GS_HASH_BYTES);
    if (fwrite(hash, 1, GS_HASH_BYTES, e.f) != GS_HASH_BYTES ||
        fflush(e.f) != 0 || fsync(fileno(e.f)) != 0) {
        rc = io_err(errno);
        goto out;
    }
    e.st.bytes += GS_HASH_BYTES;
    FILE *f = e.f;
    e.f = NULL;
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        rc = io_err(errno);
        goto out;
    }
    sync_dir(path);
    if (progress)
        progress(e.st.ops, e.st.bytes, ctx);
    if (out)
        *out = e.st;
out:
    if (e.f)
        fclose(e.f);
    if (rc != GS_OK && made)
        (void)unlink(tmp);
    free(tmp);
    free(e.lens);
    free(e.items);
    gs_buf_fini(&e.rec);
    gs_buf_fini(&e.ops);
    return rc;
}

/* ---- import ---- */

struct pitem {
    size_t off, n;
};

struct prun {
    size_t first, n; /* items */
    gs_sig sig;
    gs_bundle_refusal ref; /* filled in but for the reason */
};

struct imp {
    gs_store *s;
    const uint8_t *network;
    gs_bundle_report_fn report;
    void *ctx;
    gs_bundle_stats *st;

    uint8_t *data; /* op bytes of the batch, then of the open run */
    size_t len, cap;
    struct pitem *items;
    size_t n_items, items_cap;
    struct prun *runs;
    size_t n_runs, runs_cap;

    /* the run being read: parts so far, its closing record to come */
    bool open;
    size_t open_item, open_data, open_ops;
    gs_err open_bad;
    gs_bundle_refusal open_ref;
    size_t next_run;
    bool store_failed; /* a callback error came from the store */
};

static void
refusal_fill(gs_bundle_refusal *ref, const gs_run_item *first)
{
    gs_op op;
    memset(ref->author, 0, GS_KEY_BYTES);
    ref->scope[0] = 0;
    ref->first_seq = 0;
    if (gs_op_decode(first->bytes, first->n, &op) != GS_OK)
        return;
    memcpy(ref->author, op.author, GS_KEY_BYTES);
    memcpy(ref->scope, op.scope.p, op.scope.n);
    ref->scope[op.scope.n] = 0;
    ref->first_seq = op.seq;
}

static void
imp_refuse(struct imp *m, gs_bundle_refusal *ref, gs_err why)
{
    ref->reason = why;
    m->st->runs_refused++;
    m->st->runs_forked += why == GS_EFORK;
    if (m->report)
        m->report(ref, m->ctx);
}

/* Ingest the closed runs gathered so far, one transaction. */
static gs_err
imp_flush(struct imp *m)
{
    gs_run_item *items = NULL;
    gs_store_run *runs = NULL;
    gs_ingest_stats ist, one;
    gs_err rc = GS_OK;

    if (m->n_runs == 0)
        goto out;
    items = malloc(m->n_items * sizeof *items);
    runs = malloc(m->n_runs * sizeof *runs);
    if (!items || !runs) {
        rc = GS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m->n_items; i++)
        items[i] =
            (gs_run_item){m->data + m->items[i].off, m->items[i].n, NULL};
    for (size_t r = 0; r < m->n_runs; r++) {
        struct prun *p = &m->runs[r];
        items[p->first + p->n - 1].sig = &p->sig;
        runs[r] = (gs_store_run){items + p->first, p->n};
    }
    rc = gs_store_ingest(m->s, runs, m->n_runs, m->network, &ist);
    if (rc != GS_OK)
        goto out;
    m->st->applied += ist.applied;
    m->st->known += ist.known;
    m->st->rejected += ist.rejected;
    m->st->forks += ist.forks;
    if (ist.rejected == 0 && ist.forks == 0)
        goto out;
    /* Say which runs were refused, and why: run them again one by one. */
    for (size_t r = 0; r < m->n_runs; r++) {
        rc = gs_store_ingest(m->s, &runs[r], 1, m->network, &one);
        if (rc != GS_OK)
            goto out;
        if (one.applied) {
            /* refused in the batch only for an order this pass undid */
            m->st->applied += one.applied;
            m->st->rejected -=
                one.applied < m->st->rejected ? one.applied : m->st->rejected;
        }
        if (one.rejected == 0 && one.forks == 0)
            continue;
        imp_refuse(m, &m->runs[r].ref, one.first_bad_rc);
    }
out:
    free(items);
    free(runs);
    m->len = m->n_items = m->n_runs = 0;
    return rc;
}

static gs_err
imp_header(const gs_bundle_header *h, void *ctx)
{
    struct imp *m = ctx;
    m->st->header = *h;
    if (memcmp(h->network, m->network, GS_KEY_BYTES) != 0)
        return GS_ENETWORK;
    return GS_OK;
}

static gs_err
imp_rec(const gs_bundle_rec *r, void *ctx)
{
    struct imp *m = ctx;
    size_t bytes = 0;
    gs_err rc;

    for (size_t i = 0; i < r->n; i++)
        bytes += r->items[i].n;
    if (!m->open) {
        if (m->n_runs > 0 && (m->len + bytes > GS_BUNDLE_BATCH_BYTES ||
                              m->n_items + r->n > GS_BUNDLE_BATCH_OPS)) {
            rc = imp_flush(m);
            if (rc != GS_OK) {
                m->store_failed = true;
                return rc;
            }
        }
        m->open = true;
        m->open_item = m->n_items;
        m->open_data = m->len;
        m->open_ops = 0;
        m->open_bad = GS_OK;
        m->open_ref.run = m->next_run++;
        m->open_ref.offset = r->offset;
        refusal_fill(&m->open_ref, &r->items[0]);
    }
    m->open_ops += r->n;
    if (m->open_bad == GS_OK &&
        (m->open_ops > GS_BUNDLE_FEED_OPS_MAX ||
         m->len - m->open_data + bytes > GS_BUNDLE_FEED_BYTES_MAX)) {
        /* too long to hold until its signature: refuse it whole */
        m->open_bad = GS_ETOOBIG;
        m->len = m->open_data;
        m->n_items = m->open_item;
    }
    if (m->open_bad == GS_OK) {
        rc = gs_grow((void **)&m->data, &m->cap, m->len + bytes, 1);
        if (rc == GS_OK)
            rc = gs_grow((void **)&m->items, &m->items_cap, m->n_items + r->n,
                      sizeof *m->items);
        if (rc != GS_OK)
            return rc;
        for (size_t i = 0; i < r->n; i++) {
            memcpy(m->data + m->len, r->items[i].bytes, r->items[i].n);
            m->items[m->n_items++] = (struct pitem){m->len, r->items[i].n};
            m->len += r->items[i].n;
        }
    }
    if (!r->closes)
        return GS_OK;

    m->open = false;
    m->st->runs++;
    m->st->ops += m->open_ops;
    m->open_ref.n_ops = m->open_ops;
    if (m->open_bad != GS_OK) {
        m->st->rejected += m->open_ops;
        imp_refuse(m, &m->open_ref, m->open_bad);
        return GS_OK;
    }
    rc = gs_grow((void **)&m->runs, &m->runs_cap, m->n_runs + 1, sizeof *m->runs);
    if (rc != GS_OK)
        return rc;
    struct prun *p = &m->runs[m->n_runs++];
    p->first = m->open_item;
    p->n = m->n_items - m->open_item;
    p->sig = *r->items[r->n - 1].sig;
    p->ref = m->open_ref;
    if (m->len >= GS_BUNDLE_BATCH_BYTES || m->n_items >= GS_BUNDLE_BATCH_OPS) {
        rc = imp_flush(m);
        if (rc != GS_OK)
            m->store_failed = true;
    }
    return rc;
}

gs_err
gs_bundle_import(gs_store *s, const uint8_t network[GS_KEY_BYTES],
                 const char *path, gs_bundle_report_fn report, void *ctx,
                 gs_bundle_stats *out)
{
    gs_bundle_stats st;
    struct imp m;
    struct stat sb;
    uint64_t size = UINT64_MAX;
    gs_err rc, frc;

    memset(&st, 0, sizeof st);
    memset(&m, 0, sizeof m);
    m.s = s;
    m.network = network;
    m.report = report;
    m.ctx = ctx;
    m.st = &st;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = errno == ENOENT ? GS_ENOTFOUND : GS_EIO;
        goto out;
    }
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode))
        size = (uint64_t)sb.st_size;
    struct src src = {.f = f, .size = size};
    rc = decode(&src, imp_header, imp_rec, &m, &st.err_offset);
    st.bytes = src.pos;
    fclose(f);
    /* A run left open by damage cannot be verified: drop its parts. The
     * runs read whole before the damage are imported. */
    if (m.open) {
        m.len = m.open_data;
        m.n_items = m.open_item;
        m.open = false;
    }
    if (!m.store_failed) {
        frc = imp_flush(&m);
        if (frc != GS_OK)
            rc = frc;
    }
    if (rc == GS_OK)
        st.err_offset = 0;
out:
    free(m.data);
    free(m.items);
    free(m.runs);
    if (out)
        *out = st;
    return rc;
}
