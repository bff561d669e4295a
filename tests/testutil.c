/* testutil.c — see testutil.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include "field.h"

#include <ftw.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void
gs_rng_seed(gs_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
gs_rng_next(gs_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t
gs_rng_below(gs_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant for tests. */
    return (uint64_t)(((__uint128_t)gs_rng_next(r) * n) >> 64);
}

uint64_t
gs_test_seed(void)
{
    static int printed;
    static uint64_t seed;
    if (!printed) {
        const char *env = getenv("GS_SEED");
        if (env && *env) {
            seed = strtoull(env, NULL, 10);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
        }
        printf("seed: %llu (replay with GS_SEED=%llu)\n",
               (unsigned long long)seed, (unsigned long long)seed);
        fflush(stdout);
        printed = 1;
    }
    return seed;
}

void
gs_hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int
nib(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long
gs_unhex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

void
gs_test_keypair(uint8_t b, uint8_t pk[GS_KEY_BYTES],
                uint8_t sk[GS_SECRETKEY_BYTES])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    for (int i = 0; i < (int)sizeof seed; i++)
        seed[i] = (uint8_t)(b + i);
    if (sodium_init() < 0)
        abort();
    crypto_sign_seed_keypair(pk, sk, seed);
}

char *
gs_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
gs_test_rmtree(const char *dir)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void
gs_test_writer_init(struct gs_test_writer *w, uint8_t key_seed,
                    const char *scope, const uint8_t *network)
{
    memset(w, 0, sizeof *w);
    gs_test_keypair(key_seed, w->pk, w->sk);
    w->scope = scope;
    w->network = network;
    w->hlc = (uint64_t)1764000000000 << 16;
}

void
gs_test_writer_op(struct gs_test_writer *w, const char *type, const char *id,
                  const char *field, const char *text, struct gs_test_op *out)
{
    gs_buf pay, enc;
    gs_op op;
    gs_vref v = {GS_V_STR, 0, gs_slice_of(text, strlen(text))};
    uint8_t hash[GS_HASH_BYTES];

    gs_buf_init(&pay, 1024);
    gs_buf_init(&enc, sizeof out->bytes);
    assert_int_equal(gs_payload_lww(&pay, 0, &v), GS_OK);
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, w->pk, GS_KEY_BYTES);
    op.scope = gs_slice_of(w->scope, strlen(w->scope));
    op.seq = ++w->seq;
    memcpy(op.prev, w->prev, GS_HASH_BYTES);
    op.hlc = ++w->hlc;
    op.type = gs_slice_of(type, strlen(type));
    op.id = gs_slice_of(id, strlen(id));
    op.n_updates = 1;
    op.updates[0].field = gs_slice_of(field, strlen(field));
    op.updates[0].kind = GS_KIND_LWW;
    op.updates[0].payload = gs_slice_of(pay.data, pay.len);
    assert_int_equal(gs_op_encode(&op, &enc), GS_OK);
    memcpy(out->bytes, enc.data, enc.len);
    out->n = enc.len;
    gs_op_hash(out->bytes, out->n, hash);
    gs_op_sign(hash, w->network, w->sk, &out->sig);
    memcpy(w->prev, hash, GS_HASH_BYTES);
    gs_buf_fini(&pay);
    gs_buf_fini(&enc);
}
