/*
 * buf.h — bounded byte buffers and a checked reader: the primitives of every
 * canonical encoding in gridsync (ops, field states, later wire messages).
 *
 * Writer (gs_buf): a growable buffer with a hard cap, curl's dynbuf habit.
 * Appending past the cap fails with GS_ETOOBIG and leaves the buffer as it
 * was; a failed allocation gives GS_ENOMEM. A buffer owns its memory: free it
 * with gs_buf_fini.
 *
 * Reader (gs_rd): a cursor over borrowed bytes. Every getter checks the
 * remaining length before it reads and never allocates; slices it returns
 * point into the input and live as long as the input. Varints are LEB128
 * (7 bits a byte, little-endian groups) of at most 10 bytes and must be
 * minimal: a padded varint is GS_ENONCANON, so each value has exactly one
 * encoding. Integers that can be negative use zigzag.
 *
 * SPEC: docs/op-format.md §2 (primitives).
 */
#ifndef GS_CRDT_BUF_H
#define GS_CRDT_BUF_H

#include "gridsync.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct gs_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
} gs_buf;

/* A borrowed byte string (not NUL-terminated). */
typedef struct gs_slice {
    const uint8_t *p;
    size_t n;
} gs_slice;

/* Make the array *p (*cap items of size bytes each, from realloc) hold at
 * least need items, doubling from 16; allocate if *p is NULL. GS_OK, or
 * GS_ENOMEM with *p and *cap as they were. The one growth rule of the
 * library's arrays; a caller bounds need itself where it must. */
GS_MUST_CHECK gs_err gs_grow(void **p, size_t *cap, size_t need, size_t size);

void gs_buf_init(gs_buf *b, size_t max);
void gs_buf_fini(gs_buf *b);
/* Forget the content, keep the memory. */
static inline void
gs_buf_reset(gs_buf *b)
{
    b->len = 0;
}

/* The out-of-line half of gs_buf_put: grow (within max), then copy. */
GS_MUST_CHECK gs_err gs_buf_put_grow(gs_buf *b, const void *p, size_t n);

/* Every encoder in the store's write path is made of these small puts, a
 * few bytes each: the case that fits the memory held is inline, so that
 * it costs a copy, not a call (cap <= max always, so fitting in cap is
 * within the cap on len). */
GS_MUST_CHECK static inline gs_err
gs_buf_put(gs_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return GS_OK;
    if (n <= b->cap - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return GS_OK;
    }
    return gs_buf_put_grow(b, p, n);
}

GS_MUST_CHECK static inline gs_err
gs_buf_put_u8(gs_buf *b, uint8_t v)
{
    if (b->len < b->cap) {
        b->data[b->len++] = v;
        return GS_OK;
    }
    return gs_buf_put_grow(b, &v, 1);
}

GS_MUST_CHECK static inline gs_err
gs_buf_put_varint(gs_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        t[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return gs_buf_put(b, t, n);
}

GS_MUST_CHECK gs_err gs_buf_put_u64be(gs_buf *b, uint64_t v);
GS_MUST_CHECK gs_err gs_buf_put_svarint(gs_buf *b, int64_t v); /* zigzag */

/* varint length, then the bytes */
GS_MUST_CHECK static inline gs_err
gs_buf_put_str(gs_buf *b, const void *p, size_t n)
{
    size_t old = b->len;
    gs_err rc = gs_buf_put_varint(b, n);
    if (rc == GS_OK)
        rc = gs_buf_put(b, p, n);
    if (rc != GS_OK)
        b->len = old;
    return rc;
}

typedef struct gs_rd {
    const uint8_t *p;
    const uint8_t *end;
} gs_rd;

static inline void
gs_rd_init(gs_rd *r, const void *p, size_t n)
{
    r->p = (const uint8_t *)p;
    /* an empty buffer may have no memory (NULL): p + 0 is undefined then */
    r->end = n ? r->p + n : r->p;
}

static inline size_t
gs_rd_left(const gs_rd *r)
{
    return (size_t)(r->end - r->p);
}

/* The readers' common cases (a byte, a one-byte varint, a short string)
 * are inline, as the puts are; gs_rd_varint_long reads any varint. */
GS_MUST_CHECK gs_err gs_rd_varint_long(gs_rd *r, uint64_t *out);

GS_MUST_CHECK static inline gs_err
gs_rd_u8(gs_rd *r, uint8_t *out)
{
    if (r->p >= r->end)
        return GS_ETRUNC;
    *out = *r->p++;
    return GS_OK;
}

GS_MUST_CHECK gs_err gs_rd_u64be(gs_rd *r, uint64_t *out);

GS_MUST_CHECK static inline gs_err
gs_rd_varint(gs_rd *r, uint64_t *out)
{
    /* one byte below 0x80 is a whole varint, and minimal (0 included) */
    if (r->p < r->end && *r->p < 0x80) {
        *out = *r->p++;
        return GS_OK;
    }
    return gs_rd_varint_long(r, out);
}

GS_MUST_CHECK gs_err gs_rd_svarint(gs_rd *r, int64_t *out);

/* n raw bytes, borrowed */
GS_MUST_CHECK static inline gs_err
gs_rd_bytes(gs_rd *r, size_t n, gs_slice *out)
{
    if (gs_rd_left(r) < n)
        return GS_ETRUNC;
    out->p = r->p;
    out->n = n;
    r->p += n;
    return GS_OK;
}

/* varint length (checked against max before anything else), then bytes */
GS_MUST_CHECK static inline gs_err
gs_rd_str(gs_rd *r, size_t max, gs_slice *out)
{
    uint64_t n;
    gs_rd save = *r;
    gs_err rc = gs_rd_varint(r, &n);
    if (rc == GS_OK && n > max)
        rc = GS_ETOOBIG;
    if (rc == GS_OK)
        rc = gs_rd_bytes(r, (size_t)n, out);
    if (rc != GS_OK)
        *r = save;
    return rc;
}

/* A string of 1..max bytes of strict UTF-8: GS_EMALFORMED if empty,
 * GS_EUTF8 if not UTF-8, else as gs_rd_str. */
GS_MUST_CHECK gs_err gs_rd_text(gs_rd *r, size_t max, gs_slice *out);

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF,
 * no control characters but tab and newline (so no NUL either). */
bool gs_utf8_valid(const uint8_t *p, size_t n);

/* UTF-8 as the JSON standard takes it: gs_utf8_valid's rules but for the
 * control characters, which are allowed (NUL too). */
bool gs_utf8_wellformed(const uint8_t *p, size_t n);

/* Zigzag helpers. */
static inline uint64_t
gs_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t
gs_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Compare two integers as their varint encodings compare bytewise (the
 * order canonical encodings sort in). */
int gs_varint_cmp(uint64_t a, uint64_t b);

/* Lexicographic compare of two slices, shorter first on a common prefix. */
int gs_slice_cmp(gs_slice a, gs_slice b);

static inline gs_slice
gs_slice_of(const void *p, size_t n)
{
    gs_slice s = {(const uint8_t *)p, n};
    return s;
}

#endif /* GS_CRDT_BUF_H */
