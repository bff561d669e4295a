/*
 * blake2b.c — BLAKE2b as RFC 7693 §3 defines it, unkeyed (see blake2b.h
 * for why it is here and not libsodium's).
 *
 * The state is eight 64-bit words; each 128-byte block is mixed into it
 * by twelve rounds of the G function over a 16-word working vector, the
 * message words taken in the order SIGMA gives per round. The rounds are
 * written out, so every message index is a constant and the words stay
 * in registers. Words are read and written little-endian byte by byte,
 * which compilers turn into plain loads on a little-endian host.
 */
#include "blake2b.h"

#include <string.h>

#define BLOCK 128

static const uint64_t iv[8] = {
    0x6a09e667f3bcc908u, 0xbb67ae8584caa73bu, 0x3c6ef372fe94f82bu,
    0xa54ff53a5f1d36f1u, 0x510e527fade682d1u, 0x9b05688c2b3e6c1fu,
    0x1f83d9abfb41bd6bu, 0x5be0cd19137e2179u};

/* Message word order per round (RFC 7693 §2.7); rounds 10 and 11 reuse
 * the rows of rounds 0 and 1. */
static const uint8_t sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static inline uint64_t
rotr(uint64_t x, unsigned n)
{
    return x >> n | x << (64 - n);
}

static inline uint64_t
load64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
           (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
           (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* G (RFC 7693 §3.1): mixes two message words into four state words. */
#define G(a, b, c, d, x, y)                                                    \
    do {                                                                       \
        a = a + b + (x);                                                       \
        d = rotr(d ^ a, 32);                                                   \
        c = c + d;                                                             \
        b = rotr(b ^ c, 24);                                                   \
        a = a + b + (y);                                                       \
        d = rotr(d ^ a, 16);                                                   \
        c = c + d;                                                             \
        b = rotr(b ^ c, 63);                                                   \
    } while (0)

/* One round: the columns, then the diagonals. */
#define ROUND(r)                                                               \
    do {                                                                       \
        const uint8_t *s = sigma[r];                                           \
        G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);                          \
        G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);                          \
        G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);                         \
        G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);                         \
        G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);                         \
        G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);                       \
        G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);                        \
        G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);                        \
    } while (0)

/* F (RFC 7693 §3.2): block into h, t bytes hashed so far (this block's
 * included; messages here are far below 2^64 bytes, so the counter's high
 * word stays 0), last: the final block. */
static void
compress(uint64_t h[8], const uint8_t block[BLOCK], uint64_t t, int last)
{
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++)
        m[i] = load64(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = iv[i];
    }
    v[12] ^= t;
    if (last)
        v[14] = ~v[14];
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

void
gs_blake2b(uint8_t *out, size_t outlen, const uint8_t *in, size_t n)
{
    if (outlen == 0 || outlen > GS_BLAKE2B_OUT_MAX)
        return;
    uint64_t h[8];
    memcpy(h, iv, sizeof h);
    h[0] ^= 0x01010000u ^ (uint64_t)outlen; /* depth 1, fanout 1, no key */
    uint64_t t = 0;
    /* every full block but the last; the last (perhaps empty: the empty
     * message is one block of zeros) is padded with zeros */
    for (; n > BLOCK; in += BLOCK, n -= BLOCK) {
        t += BLOCK;
        compress(h, in, t, 0);
    }
    uint8_t last[BLOCK] = {0};
    if (n > 0)
        memcpy(last, in, n);
    t += n;
    compress(h, last, t, 1);
    for (size_t i = 0; i < outlen; i++)
        out[i] = (uint8_t)(h[i / 8] >> (8 * (i % 8)));
}
