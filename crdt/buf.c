/*
 * buf.c — bounded buffers, the checked reader, canonical varints, UTF-8.
 *
 * Invariants: a gs_buf never holds more than its max bytes; a failed put
 * leaves len unchanged. The reader never reads past end and rejects
 * non-minimal varints, so decode(encode(x)) == x and encode(decode(b)) == b
 * for every b the reader accepts.
 *
 * SPEC: docs/op-format.md §2.
 */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

gs_err
gs_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (*p && need <= *cap)
        return GS_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return GS_ENOMEM;
        c *= 2;
    }
    if (size == 0 || c > SIZE_MAX / size)
        return GS_ENOMEM;
    void *q = realloc(*p, c * size);
    if (q == NULL)
        return GS_ENOMEM;
    *p = q;
    *cap = c;
    return GS_OK;
}

void
gs_buf_init(gs_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
gs_buf_fini(gs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static gs_err
reserve(gs_buf *b, size_t n)
{
    if (n > b->max - b->len || b->len > b->max)
        return GS_ETOOBIG;
    size_t need = b->len + n;
    if (need <= b->cap)
        return GS_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max)
        cap = b->max;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return GS_ENOMEM;
    b->data = p;
    b->cap = cap;
    return GS_OK;
}

gs_err
gs_buf_put_grow(gs_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return GS_OK;
    gs_err rc = reserve(b, n);
    if (rc != GS_OK)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return GS_OK;
}

gs_err
gs_buf_put_u64be(gs_buf *b, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v); /* one instruction, where a loop was 30 */
#endif
    return gs_buf_put(b, &v, 8);
}

gs_err
gs_buf_put_svarint(gs_buf *b, int64_t v)
{
    return gs_buf_put_varint(b, gs_zigzag(v));
}

gs_err
gs_rd_u64be(gs_rd *r, uint64_t *out)
{
    if (gs_rd_left(r) < 8)
        return GS_ETRUNC;
    uint64_t v;
    memcpy(&v, r->p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    r->p += 8;
    *out = v;
    return GS_OK;
}

gs_err
gs_rd_varint_long(gs_rd *r, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *p = r->p;
    for (unsigned i = 0; i < 10; i++) {
        if (p >= r->end)
            return GS_ETRUNC;
        uint8_t byte = *p++;
        if (i == 9 && byte > 1)
            return GS_EMALFORMED; /* more than 64 bits */
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            /* a zero last byte after the first is padding */
            if (byte == 0 && i > 0)
                return GS_ENONCANON;
            r->p = p;
            *out = v;
            return GS_OK;
        }
    }
    return GS_EMALFORMED;
}

gs_err
gs_rd_svarint(gs_rd *r, int64_t *out)
{
    uint64_t v;
    gs_err rc = gs_rd_varint(r, &v);
    if (rc == GS_OK)
        *out = gs_unzigzag(v);
    return rc;
}

gs_err
gs_rd_text(gs_rd *r, size_t max, gs_slice *out)
{
    gs_err rc = gs_rd_str(r, max, out);
    if (rc != GS_OK)
        return rc;
    if (out->n == 0)
        return GS_EMALFORMED;
    if (!gs_utf8_valid(out->p, out->n))
        return GS_EUTF8;
    return GS_OK;
}

/* UTF-8 without overlong forms, surrogates or anything above U+10FFFF;
 * text: also no control character but tab and newline. */
/* Lead bytes of three-byte sequences whose every continuation pair is
 * valid: not E0 (overlong below A0) nor ED (surrogates from A0). */
static bool
lead3_any(uint8_t c)
{
    return c >= 0xe1 && c <= 0xef && c != 0xed;
}

/* Whether p[0, 3) is a three-byte character of such a lead. */
static bool
char3_plain(const uint8_t *p)
{
    uint16_t cc;
    memcpy(&cc, p + 1, 2);
    return lead3_any(p[0]) && (cc & 0xc0c0) == 0x8080;
}

static bool
utf8_check(const uint8_t *p, size_t n, bool text)
{
    size_t i = 0;
    while (i < n) {
        /* Many ASCII bytes at a time: ids, names, scopes and numbers are
         * ASCII, and this check runs on every string of every op. A byte
         * is flagged if its high bit is set, or (text) if it is below
         * 0x20 or is 0x7f; the bytes before the first flagged are plain
         * ASCII, and the slow path below starts at that one (it sorts
         * out tab and newline), not at every byte of ASCII between
         * Chinese characters. */
        bool found = false; /* a flagged byte: i is at it */
#if defined(__SSE2__)
        if (n - i >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            /* signed: a byte from 0x80 is below 0x20 too */
            __m128i bad =
                text ? _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)))
                     : v;
            unsigned flagged = (unsigned)_mm_movemask_epi8(bad);
            if (flagged == 0) {
                i += 16;
                continue;
            }
            i += (size_t)__builtin_ctz(flagged);
            found = true;
        }
#endif
        if (!found && n - i >= 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            const uint64_t ones = 0x0101010101010101ULL;
            uint64_t high = v & (ones * 0x80);
            uint64_t low = (v - ones * 0x20) & ~v & (ones * 0x80);
            uint64_t del = ((v ^ (ones * 0x7f)) - ones) & ~(v ^ (ones * 0x7f)) &
                           (ones * 0x80);
            uint64_t flagged = high | (text ? low | del : 0);
            if (flagged == 0) {
                i += 8;
                continue;
            }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* each test above is exact up to its first flag: a borrow
             * only runs upwards */
            i += (size_t)__builtin_ctzll(flagged) >> 3;
#endif
        }
        uint8_t c = p[i];
        if (c < 0x80) {
            if (text && ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f))
                return false;
            i++;
            continue;
        }
        /* Chinese text is three-byte sequences: those of a lead byte
         * whose every continuation pair is valid need no decoding, nor
         * the characters after it while they are such (without trying
         * many ASCII bytes before each) */
        if (n - i >= 3 && char3_plain(p + i)) {
            for (i += 3; n - i >= 3 && char3_plain(p + i); i += 3)
                ;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead, or > F4 */
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            uint8_t cc = p[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (text && cp >= 0x80 && cp < 0xa0)) /* C1 controls */
            return false;
        i += len;
    }
    return true;
}

bool
gs_utf8_valid(const uint8_t *p, size_t n)
{
    return utf8_check(p, n, true);
}

bool
gs_utf8_wellformed(const uint8_t *p, size_t n)
{
    return utf8_check(p, n, false);
}

int
gs_varint_cmp(uint64_t a, uint64_t b)
{
    /* LEB128 is prefix-free, so the first differing byte lies within both
     * encodings: walk the common low groups, then compare one byte each. */
    if (a == b)
        return 0;
    while (a > 0x7f && b > 0x7f && (a & 0x7f) == (b & 0x7f)) {
        a >>= 7;
        b >>= 7;
    }
    unsigned ca = (unsigned)(a & 0x7f) | (a > 0x7f ? 0x80u : 0u);
    unsigned cb = (unsigned)(b & 0x7f) | (b > 0x7f ? 0x80u : 0u);
    return ca < cb ? -1 : ca > cb ? 1 : 0;
}

int
gs_slice_cmp(gs_slice a, gs_slice b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c != 0)
        return c;
    return (a.n > b.n) - (a.n < b.n);
}
