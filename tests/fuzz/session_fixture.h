/*
 * session_fixture.h — what fuzz_session.c and its corpus generator
 * gen_session_corpus.c must agree on, so that a recorded conversation
 * replays in the fuzz target exactly as it ran: the keys, the store the
 * fuzzed session runs over (gs_fuzz_fixture, 20 feeds below "yc.t"), the
 * session's options, and the input format.
 *
 * Input format: byte 0 picks the mode by its low bit (0: the fuzzed
 * session is the LISTENER, 1: the DIALER, started first); then up to
 * GS_FUZZ_MSGS_MAX messages, each a u16be length and that many bytes (a
 * last message cut short takes what is left).
 *
 * Ops are deterministic: feed (key, scope) op i is the same bytes in every
 * store and every run (fixed keys, fixed hlc, Ed25519 signs
 * deterministically), so two stores built from overlapping specs hold the
 * same ops where they overlap.
 *
 * Trust (store/trust.h): every store first gets the network authority's
 * certificates for the writers of gs_fuzz_certs, in that order, so that
 * their ops are accepted and every store's trust feed is the same (a store
 * may have more certificates after those: gen_session_corpus.c's
 * "trust-first" peer). The sessions want "yc" (and "zz"), so the trust
 * feed is not reconciled unless a peer asks for it.
 *
 * Not cmocka: failures abort (the fuzz target has no test framework).
 */
#ifndef GS_TESTS_FUZZ_SESSION_FIXTURE_H
#define GS_TESTS_FUZZ_SESSION_FIXTURE_H

#include "field.h"
#include "session.h"
#include "store.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GS_FUZZ_MSGS_MAX 16
#define GS_FUZZ_DIALER_ID 7u /* the fuzzed dialer's session number */
#define GS_FUZZ_BATCH_OPS 4  /* small: several batches, the window */
#define GS_FUZZ_MAP_MAX ((uint64_t)8 << 20) /* a runaway is GS_ETOOBIG */
#define GS_FUZZ_NET_SEED 0xa0    /* the network key (as test_session) */
#define GS_FUZZ_DEVICE_SEED 0x30 /* the fuzzed session's device */

/* One feed of a store: ops 1..n_ops of writer `key` in `scope`. */
struct gs_fuzz_feed {
    uint8_t key;
    const char *scope;
    unsigned n_ops;
};

/* The fuzzed session's store: 4 authors x 5 scopes, 1..3 ops each. More
 * than GS_RECON_LIST_MAX feeds, so a difference makes recon split. */
#define GS_FUZZ_FIXTURE_FEEDS 20
static inline struct gs_fuzz_feed
gs_fuzz_fixture(size_t i)
{
    static const char *const scopes[] = {"yc.t", "yc.t.g1", "yc.t.g2",
                                         "yc.t.g3", "yc.t.g4"};
    return (struct gs_fuzz_feed){(uint8_t)(0x10 + i / 5), scopes[i % 5],
                                 (unsigned)(1 + i % 3)};
}

static inline void
gs_fuzz_keypair(uint8_t b, uint8_t pk[GS_KEY_BYTES],
                uint8_t sk[GS_SECRETKEY_BYTES])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(b + i);
    if (sodium_init() < 0)
        abort();
    crypto_sign_seed_keypair(pk, sk, seed);
}

/* The devices the authority enrolls in every store, in this order, and the
 * scope each may write under: the fixture's writers, then the peer
 * writers of gen_session_corpus.c. */
struct gs_fuzz_cert {
    uint8_t key;
    const char *write;
};
#define GS_FUZZ_CERTS 9
static const struct gs_fuzz_cert gs_fuzz_certs[GS_FUZZ_CERTS] = {
    {0x10, "yc.t"}, {0x11, "yc.t"}, {0x12, "yc.t"},
    {0x13, "yc.t"}, {0x20, "yc.t"}, {0x21, "yc.t"},
    {0x22, "yc.b"}, {0x23, "zz"},   {0x28, "yc.t"}};

/* The certificate of device key `key` (seed) for `write`: op `seq` of the
 * authority's trust feed (authority key pair from seed auth), with prev
 * as gs_fuzz_op has it. The cert fields as store/trust.h names them. */
static inline void
gs_fuzz_cert_op(uint8_t auth, uint8_t key, const char *write, uint64_t seq,
                uint8_t prev[GS_HASH_BYTES], gs_buf *out, gs_sig *sig)
{
    uint8_t net[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];
    uint8_t dev[GS_KEY_BYTES], dev_sk[GS_SECRETKEY_BYTES];
    char id[2 * GS_KEY_BYTES + 1];
    gs_buf pw, ps;
    gs_op op;
    gs_set_item it = {GS_SET_ADD, gs_slice_of(write, strlen(write)), 0, NULL};
    gs_vref no = {GS_V_FALSE, 0, {NULL, 0}};
    gs_fuzz_keypair(auth, net, net_sk);
    gs_fuzz_keypair(key, dev, dev_sk);
    sodium_bin2hex(id, sizeof id, dev, GS_KEY_BYTES);
    gs_buf_init(&pw, 256);
    gs_buf_init(&ps, 64);
    if (gs_payload_set(&pw, &it, 1) != GS_OK ||
        gs_payload_lww(&ps, 0, &no) != GS_OK)
        abort();
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, net, GS_KEY_BYTES);
    op.scope = gs_slice_of("trust", 5);
    op.seq = seq;
    memcpy(op.prev, prev, GS_HASH_BYTES);
    op.hlc = ((uint64_t)1700000000000 + seq) << 16;
    op.type = gs_slice_of("cert", 4);
    op.id = gs_slice_of(id, 2 * GS_KEY_BYTES);
    op.n_updates = 3;
    op.updates[0] = (gs_update){gs_slice_of("read", 4), GS_KIND_SET,
                                gs_slice_of(pw.data, pw.len)};
    op.updates[1] = (gs_update){gs_slice_of("shop", 4), GS_KIND_LWW,
                                gs_slice_of(ps.data, ps.len)};
    op.updates[2] = (gs_update){gs_slice_of("write", 5), GS_KIND_SET,
                                gs_slice_of(pw.data, pw.len)};
    if (gs_op_encode(&op, out) != GS_OK)
        abort();
    gs_op_hash(out->data, out->len, prev);
    gs_op_sign(prev, net, net_sk, sig);
    gs_buf_fini(&pw);
    gs_buf_fini(&ps);
}

/* Enroll, as the authority of key seed auth, the n devices of certs that
 * follow the first `from` of them (which st must hold already): one run,
 * signed at its end. */
static inline void
gs_fuzz_enroll(gs_store *st, uint8_t auth, const struct gs_fuzz_cert *certs,
               size_t from, size_t n)
{
    uint8_t net[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];
    uint8_t prev[GS_HASH_BYTES] = {0};
    gs_buf ops[16];
    gs_sig sigs[16];
    gs_run_item items[16];
    if (from + n > 16 || n == 0)
        abort();
    gs_fuzz_keypair(auth, net, net_sk);
    for (size_t i = 0; i < from + n; i++) {
        gs_buf_init(&ops[i], GS_OP_BYTES_MAX);
        gs_fuzz_cert_op(auth, certs[i].key, certs[i].write, i + 1, prev,
                        &ops[i], &sigs[i]);
        items[i] = (gs_run_item){ops[i].data, ops[i].len, NULL};
    }
    items[from + n - 1].sig = &sigs[from + n - 1];
    gs_store_run r = {items + from, n};
    gs_ingest_stats is;
    if (gs_store_ingest(st, &r, 1, net, &is) != GS_OK || is.applied != n)
        abort();
    for (size_t i = 0; i < from + n; i++)
        gs_buf_fini(&ops[i]);
}

/* Op `seq` of feed f, canonical, with its signature; prev is the content
 * hash of op seq - 1 (zeros for 1) and becomes this op's. */
static inline void
gs_fuzz_op(const uint8_t *net, const struct gs_fuzz_feed *f,
           const uint8_t sk[GS_SECRETKEY_BYTES], uint64_t seq,
           uint8_t prev[GS_HASH_BYTES], gs_buf *out, gs_sig *sig)
{
    char id[16], text[24];
    gs_buf pay;
    gs_op op;
    snprintf(id, sizeof id, "P-%02x-%u", f->key, (unsigned)(seq % 3));
    snprintf(text, sizeof text, "v%llu", (unsigned long long)seq);
    gs_vref v = {GS_V_STR, 0, gs_slice_of(text, strlen(text))};
    gs_buf_init(&pay, 64);
    if (gs_payload_lww(&pay, 0, &v) != GS_OK)
        abort();
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, sk + 32, GS_KEY_BYTES); /* libsodium: seed || pk */
    op.scope = gs_slice_of(f->scope, strlen(f->scope));
    op.seq = seq;
    memcpy(op.prev, prev, GS_HASH_BYTES);
    op.hlc = ((uint64_t)1764000000000 << 16) + seq;
    op.type = gs_slice_of("person", 6);
    op.id = gs_slice_of(id, strlen(id));
    op.n_updates = 1;
    op.updates[0] = (gs_update){gs_slice_of("name", 4), GS_KIND_LWW,
                                gs_slice_of(pay.data, pay.len)};
    if (gs_op_encode(&op, out) != GS_OK)
        abort();
    gs_op_hash(out->data, out->len, prev);
    gs_op_sign(prev, net, sk, sig);
    gs_buf_fini(&pay);
}

/* Ingest ops from..f->n_ops of feed f (ops below `from` must be in st
 * already), in runs of `run` ops, one transaction per run. */
static inline void
gs_fuzz_feed_put(gs_store *st, const uint8_t *net, const struct gs_fuzz_feed *f,
                 unsigned from, unsigned run)
{
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
    uint8_t prev[GS_HASH_BYTES] = {0};
    gs_buf ops[64];
    gs_sig sigs[64];
    gs_run_item items[64];
    size_t k = 0;
    if (f->n_ops > 64 || run == 0 || run > 64)
        abort();
    gs_fuzz_keypair(f->key, pk, sk);
    for (unsigned seq = 1; seq <= f->n_ops; seq++) {
        gs_buf_init(&ops[seq - 1], GS_OP_BYTES_MAX);
        gs_fuzz_op(net, f, sk, seq, prev, &ops[seq - 1], &sigs[seq - 1]);
        if (seq < from)
            continue;
        items[k++] = (gs_run_item){ops[seq - 1].data, ops[seq - 1].len, NULL};
        if (k == run || seq == f->n_ops) {
            gs_store_run r = {items, k};
            gs_ingest_stats is;
            items[k - 1].sig = &sigs[seq - 1];
            if (gs_store_ingest(st, &r, 1, net, &is) != GS_OK ||
                is.rejected != 0)
                abort();
            k = 0;
        }
    }
    for (unsigned seq = 1; seq <= f->n_ops; seq++)
        gs_buf_fini(&ops[seq - 1]);
}

static inline void
gs_fuzz_fill_fixture(gs_store *st, const uint8_t *net)
{
    gs_fuzz_enroll(st, GS_FUZZ_NET_SEED, gs_fuzz_certs, 0, GS_FUZZ_CERTS);
    for (size_t i = 0; i < GS_FUZZ_FIXTURE_FEEDS; i++) {
        struct gs_fuzz_feed f = gs_fuzz_fixture(i);
        gs_fuzz_feed_put(st, net, &f, 1, 2);
    }
}

/* A new store in dir (a mkdtemp template, or a directory made already
 * when dir does not end in XXXXXX), capped at GS_FUZZ_MAP_MAX. */
static inline gs_store *
gs_fuzz_store_new(char *dir)
{
    gs_store_opts o = {(uint64_t)1 << 20, GS_FUZZ_MAP_MAX, true};
    gs_store *st;
    size_t n = strlen(dir);
    if (n >= 6 && !strcmp(dir + n - 6, "XXXXXX") && !mkdtemp(dir))
        abort();
    if (gs_store_open(dir, &o, &st) != GS_OK)
        abort();
    return st;
}

/* Close st and remove its files; rmdir too if rm_dir. */
static inline void
gs_fuzz_store_rm(char *dir, gs_store *st, int rm_dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char path[256];
    gs_store_close(st);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (rm_dir)
        rmdir(dir);
}

/* The fuzzed session's options (the generator's side that records). */
static inline void
gs_fuzz_session_opts(gs_session_opts *o, gs_store *st, const uint8_t *net,
                     const uint8_t *device, bool dialer)
{
    static const char *const wanted[] = {"yc"};
    memset(o, 0, sizeof *o);
    o->store = st;
    o->network = net;
    o->device = device;
    o->dialer = dialer;
    o->id = dialer ? GS_FUZZ_DIALER_ID : 0;
    o->scopes = dialer ? wanted : NULL;
    o->n_scopes = dialer ? 1 : 0;
    o->gossip = dialer;
    o->batch_ops = GS_FUZZ_BATCH_OPS;
}

#endif /* GS_TESTS_FUZZ_SESSION_FIXTURE_H */
