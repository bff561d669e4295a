/* testutil.c — see testutil.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include "field.h"

#include <ftw.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
gs_test_mkdtemp(char *dir, size_t cap, const char *tmpl)
{
    assert_true(strlen(tmpl) < cap);
    strcpy(dir, tmpl);
    if (!mkdtemp(dir))
        fail_msg("mkdtemp %s: %s", tmpl, strerror(errno));
}

gs_store *
gs_test_store_new(char *dir)
{
    gs_store *s;
    gs_store_opts o = {0, 0, true};
    if (!mkdtemp(dir))
        fail_msg("mkdtemp %s: %s", dir, strerror(errno));
    assert_int_equal(gs_store_open(dir, &o, &s), GS_OK);
    return s;
}

void *
gs_test_dir_new(size_t size, const char *tmpl)
{
    assert_true(size >= GS_TEST_DIR_BYTES);
    char *dir = calloc(1, size); /* the state's first member */
    assert_non_null(dir);
    gs_test_mkdtemp(dir, GS_TEST_DIR_BYTES, tmpl);
    return dir;
}

int
gs_test_dir_teardown(void **state)
{
    char *dir = *state; /* a struct's first member is at its address */
    gs_test_rmtree(dir);
    free(dir);
    return 0;
}

gs_test_rdir *
gs_test_rdir_new(const char *tmpl, const char *scope, const char *name)
{
    gs_test_rdir *t = gs_test_dir_new(sizeof *t, tmpl);
    snprintf(t->dir, sizeof t->dir, "%s/r", t->base);
    gs_test_replica_init(t->dir, NULL, scope, name, NULL, 0, t->key);
    t->r = gs_test_replica_open(t->dir);
    return t;
}

int
gs_test_rdir_teardown(void **state)
{
    gs_test_rdir *t = *state;
    gs_replica_close(t->r);
    return gs_test_dir_teardown(state);
}

void
gs_test_replica_init(const char *dir, const char *authority, const char *scope,
                     const char *name, const char *pass, size_t passlen,
                     char key[65])
{
    char why[512] = "";
    gs_replica_init_opts o = {authority, scope, name};
    gs_err rc =
        gs_replica_init_pass(dir, &o, pass, passlen, key, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("init %s: %s: %s", dir, gs_errname(rc), why);
}

gs_replica *
gs_test_replica_open(const char *dir)
{
    gs_replica *r = NULL;
    char why[512] = "";
    gs_err rc = gs_replica_open(dir, &r, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("open %s: %s: %s", dir, gs_errname(rc), why);
    return r;
}

int
gs_test_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
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
    gs_buf pay;
    gs_vref v = {GS_V_STR, 0, gs_slice_of(text, strlen(text))};

    gs_buf_init(&pay, 1024);
    assert_int_equal(gs_payload_lww(&pay, 0, &v), GS_OK);
    gs_test_writer_update(w, type, id, field, GS_KIND_LWW, &pay, out);
    gs_buf_fini(&pay);
}

void
gs_test_writer_update(struct gs_test_writer *w, const char *type,
                      const char *id, const char *field, uint8_t kind,
                      const gs_buf *pay, struct gs_test_op *out)
{
    gs_buf enc;
    gs_op op;
    uint8_t hash[GS_HASH_BYTES];

    gs_buf_init(&enc, sizeof out->bytes);
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
    op.updates[0] = (gs_update){gs_slice_of(field, strlen(field)), kind,
                                gs_slice_of(pay->data, pay->len)};
    assert_int_equal(gs_op_encode(&op, &enc), GS_OK);
    memcpy(out->bytes, enc.data, enc.len);
    out->n = enc.len;
    gs_op_hash(out->bytes, out->n, hash);
    gs_op_sign(hash, w->network, w->sk, &out->sig);
    memcpy(w->prev, hash, GS_HASH_BYTES);
    gs_buf_fini(&enc);
}

/* The next op of author's `trust` feed after head, about (type, HEX(dev)),
 * with the n updates given; hlc as gs_test_enroll documents. */
static void
trust_op(const gs_feed_head *head, const uint8_t author[GS_KEY_BYTES],
         const uint8_t sk[GS_SECRETKEY_BYTES], const uint8_t net[GS_KEY_BYTES],
         const char *type, const uint8_t dev[GS_KEY_BYTES],
         const gs_update *ups, size_t n, struct gs_test_op *out)
{
    gs_buf enc;
    gs_op op;
    char id[65];
    uint8_t hash[GS_HASH_BYTES];

    gs_hex(dev, GS_KEY_BYTES, id);
    gs_buf_init(&enc, sizeof out->bytes);
    assert_true(n <= GS_OP_UPDATES_MAX);
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, author, GS_KEY_BYTES);
    op.scope = gs_slice_of("trust", 5);
    op.seq = head->seq + 1;
    memcpy(op.prev, head->hash, GS_HASH_BYTES);
    op.hlc = ((uint64_t)1700000000000 + op.seq) << 16;
    op.type = gs_slice_of(type, strlen(type));
    op.id = gs_slice_of(id, 64);
    op.n_updates = n;
    memcpy(op.updates, ups, n * sizeof *ups);
    assert_int_equal(gs_op_encode(&op, &enc), GS_OK); /* fits out->bytes */
    memcpy(out->bytes, enc.data, enc.len);
    out->n = enc.len;
    gs_op_hash(out->bytes, out->n, hash);
    gs_op_sign(hash, net, sk, &out->sig);
    gs_buf_fini(&enc);
}

/* A set payload adding n strings. */
static void
set_add(gs_buf *b, const char *const *elems, size_t n)
{
    gs_set_item items[16];
    assert_true(n >= 1 && n <= 16);
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_set_item){
            GS_SET_ADD, gs_slice_of(elems[i], strlen(elems[i])), 0, NULL};
    assert_int_equal(gs_payload_set(b, items, n), GS_OK);
}

void
gs_test_cert_op(const gs_feed_head *head, const uint8_t author[GS_KEY_BYTES],
                const uint8_t sk[GS_SECRETKEY_BYTES],
                const uint8_t net[GS_KEY_BYTES],
                const uint8_t dev[GS_KEY_BYTES], const struct gs_test_cert *c,
                struct gs_test_op *out)
{
    gs_buf pw, ps, pu;
    gs_update ups[4];
    size_t n = 0;
    gs_vref shop = {c->shop ? GS_V_TRUE : GS_V_FALSE, 0, {NULL, 0}};
    gs_vref until = {GS_V_INT, (int64_t)c->until_ms, {NULL, 0}};

    gs_buf_init(&pw, 4096);
    gs_buf_init(&ps, 64);
    gs_buf_init(&pu, 64);
    set_add(&pw, c->write, c->n_write);
    assert_int_equal(gs_payload_lww(&ps, 0, &shop), GS_OK);
    ups[n++] = (gs_update){gs_slice_of("read", 4), GS_KIND_SET,
                           gs_slice_of(pw.data, pw.len)};
    ups[n++] = (gs_update){gs_slice_of("shop", 4), GS_KIND_LWW,
                           gs_slice_of(ps.data, ps.len)};
    ups[n++] = (gs_update){gs_slice_of("write", 5), GS_KIND_SET,
                           gs_slice_of(pw.data, pw.len)};
    if (c->until_ms) {
        assert_int_equal(gs_payload_lww(&pu, 0, &until), GS_OK);
        ups[n++] = (gs_update){gs_slice_of("until", 5), GS_KIND_LWW,
                               gs_slice_of(pu.data, pu.len)};
    }
    trust_op(head, author, sk, net, "cert", dev, ups, n, out);
    gs_buf_fini(&pw);
    gs_buf_fini(&ps);
    gs_buf_fini(&pu);
}

void
gs_test_revocation_op(const gs_feed_head *head,
                      const uint8_t author[GS_KEY_BYTES],
                      const uint8_t sk[GS_SECRETKEY_BYTES],
                      const uint8_t net[GS_KEY_BYTES],
                      const uint8_t dev[GS_KEY_BYTES],
                      const char *const *cutoff, size_t n,
                      struct gs_test_op *out)
{
    gs_buf pa, pc;
    gs_update ups[2];
    size_t k = 0;
    gs_vref at = {
        GS_V_INT, (int64_t)(1700000000000 + head->seq + 1), {NULL, 0}};

    gs_buf_init(&pa, 64);
    gs_buf_init(&pc, 4096);
    assert_int_equal(gs_payload_lww(&pa, 0, &at), GS_OK);
    ups[k++] = (gs_update){gs_slice_of("at", 2), GS_KIND_LWW,
                           gs_slice_of(pa.data, pa.len)};
    if (n) {
        set_add(&pc, cutoff, n);
        ups[k++] = (gs_update){gs_slice_of("cutoff", 6), GS_KIND_SET,
                               gs_slice_of(pc.data, pc.len)};
    }
    trust_op(head, author, sk, net, "revocation", dev, ups, k, out);
    gs_buf_fini(&pa);
    gs_buf_fini(&pc);
}

void
gs_test_cutoff(const char *scope, uint64_t seq,
               const uint8_t hash[GS_HASH_BYTES], const gs_sig *sig,
               char *out, size_t len)
{
    char h[2 * GS_HASH_BYTES + 1], g[2 * GS_SIGNATURE_BYTES + 1];
    int n;
    gs_hex(hash, GS_HASH_BYTES, h);
    if (sig) {
        gs_hex(sig->sig, GS_SIGNATURE_BYTES, g);
        n = snprintf(out, len, "%s %llu %s %s", scope,
                     (unsigned long long)seq, h, g);
    } else {
        n = snprintf(out, len, "%s %llu %s", scope, (unsigned long long)seq,
                     h);
    }
    assert_true(n > 0 && (size_t)n < len);
}

/* Ingest op, the next of the authority's trust feed in s: it must apply. */
static void
authority_put(gs_store *s, const uint8_t net[GS_KEY_BYTES],
              const struct gs_test_op *op)
{
    gs_run_item it = {op->bytes, op->n, &op->sig};
    gs_store_run run = {&it, 1};
    gs_ingest_stats st;
    assert_int_equal(gs_store_ingest(s, &run, 1, net, &st), GS_OK);
    assert_int_equal(st.applied, 1);
}

void
gs_test_enroll_cert(gs_store *s, const uint8_t net[GS_KEY_BYTES],
                    const uint8_t net_sk[GS_SECRETKEY_BYTES],
                    const uint8_t dev[GS_KEY_BYTES],
                    const struct gs_test_cert *c)
{
    gs_feed_head head;
    struct gs_test_op op;
    assert_int_equal(gs_store_feed_head(s, net, gs_slice_of("trust", 5), &head),
                     GS_OK);
    gs_test_cert_op(&head, net, net_sk, net, dev, c, &op);
    authority_put(s, net, &op);
}

void
gs_test_enroll(gs_store *s, const uint8_t net[GS_KEY_BYTES],
               const uint8_t net_sk[GS_SECRETKEY_BYTES],
               const uint8_t dev[GS_KEY_BYTES], const char *write, bool shop)
{
    struct gs_test_cert c = {&write, 1, shop, 0};
    gs_test_enroll_cert(s, net, net_sk, dev, &c);
}

void
gs_test_revoke(gs_store *s, const uint8_t net[GS_KEY_BYTES],
               const uint8_t net_sk[GS_SECRETKEY_BYTES],
               const uint8_t dev[GS_KEY_BYTES], const char *const *cutoff,
               size_t n)
{
    gs_feed_head head;
    struct gs_test_op op;
    assert_int_equal(gs_store_feed_head(s, net, gs_slice_of("trust", 5), &head),
                     GS_OK);
    gs_test_revocation_op(&head, net, net_sk, net, dev, cutoff, n, &op);
    authority_put(s, net, &op);
}
