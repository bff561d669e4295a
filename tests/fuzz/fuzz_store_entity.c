/*
 * fuzz_store_entity.c — libFuzzer target for the store's decoder of entity
 * values as they lie on disk (store format 6: the entity's own list of
 * ops, author table, stamp table, fields named by number with stamps as
 * indexes, lww fields compact and their strings maybe interned). A
 * damaged replica must give an error, never a crash. An accepted value
 * must decode to an entity that encodes canonically (gs_entity_decode
 * checked that already; we re-encode it).
 *
 * The decoder resolves authors through the store's feed table, field
 * names through its names table and interned strings through strs, so the
 * target keeps one scratch replica (created on first use: two feeds, and
 * an op of each known kind, so that author numbers 1 and 2, field numbers
 * 1..6 and string number 1 resolve: after P-1's two ops the authority
 * names P-2..P-5 alike, and the fourth writing of that 30-byte name
 * interns it) and decodes every input against it.
 *
 * Trust (store/trust.h): feed 0's author is the network's authority (its
 * key is the network id, as for a replica made without --authority), so
 * its op needs no certificate; feed 1's author is the device of this
 * replica, not enrolled yet, and its op is a local write (gs_store_write),
 * which the store keeps while the enrolment is pending. Neither needs a
 * certificate op, so the feeds and field names are numbered as they were
 * before trust existed and the stored value of P-1, hence the corpus,
 * means what it did.
 *
 * GS_FUZZ_SEEDS=DIR (replay builds too): write the values the setup
 * stored into DIR, seeds for the corpus in the current format.
 */
#include "field.h"
#include "store.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gs_store *store;
static uint8_t auth_prev[32]; /* the hash of the authority's last op */
static char dir[] = "/tmp/gs-fuzz-store-XXXXXX";

static void
cleanup(void)
{
    char path[64];
    gs_store_close(store);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* Write the stored value of person id into seeds/name, and a copy whose
 * list of ops says "in hist" (a leading 0 instead of the list). */
static void
seed_write(const char *seeds, const char *id, const char *name)
{
    char path[4200];
    gs_buf b;
    gs_buf_init(&b, GS_ENTITY_BYTES_MAX);
    if (gs_store_entity_stored(store, gs_slice_of("person", 6),
                               gs_slice_of(id, strlen(id)), &b) != GS_OK)
        abort();
    for (int spilled = 0; spilled < 2; spilled++) {
        const uint8_t *p = b.data;
        size_t n = b.len, skip = 0;
        snprintf(path, sizeof path, "%s/%s%s", seeds, name,
                 spilled ? "-spilled" : "");
        FILE *f = fopen(path, "wb");
        if (f == NULL)
            abort();
        if (spilled) { /* n refs of (feed, seq), all one-byte varints here */
            skip = 1 + 2 * (size_t)p[0];
            fputc(0, f);
        }
        if (fwrite(p + skip, 1, n - skip, f) != n - skip)
            abort();
        fclose(f);
    }
    gs_buf_fini(&b);
}

static void
keypair(int f, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, f + 1, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

/* gs_store_write's builder: the op already encoded, in ctx. */
static gs_err
built(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
      const gs_entity *current, gs_buf *op, gs_store_built *decoded, void *ctx)
{
    (void)decoded;
    const gs_buf *enc = ctx;
    (void)i;
    (void)head;
    (void)hlc_seen;
    (void)current;
    return gs_buf_put(op, enc->data, enc->len);
}

/* Feed f's op 1 on person P-1: lww "name" for both feeds; the first also
 * writes a field of every other known kind. Feed 0 (the authority's) is
 * ingested, feed 1 (this device's) written locally. */
static void
ingest_op(int f)
{
    uint8_t pk[32], sk[64], net[32], net_sk[64], hash[32];
    gs_buf pay[6], enc;
    gs_op op;
    gs_sig sig;
    gs_vref v = {GS_V_STR, 0, gs_slice_of("x", 1)};
    gs_vref n = {GS_V_INT, 7, {0}};
    gs_set_item it = {GS_SET_ADD, gs_slice_of("elderly", 7), 0, NULL};
    keypair(0, net, net_sk);
    keypair(f, pk, sk);
    for (int i = 0; i < 6; i++)
        gs_buf_init(&pay[i], 256);
    gs_buf_init(&enc, 4096);
    if (gs_payload_claim(&pay[0], GS_CLAIM, gs_slice_of("P-2", 3)) ||
        gs_payload_log(&pay[1], &n) || gs_payload_lww(&pay[2], 0, &v) ||
        gs_payload_counter(&pay[3], 3, 3) || gs_payload_stage(&pay[4], 0, 1, 2) ||
        gs_payload_set(&pay[5], &it, 1))
        abort();
    static const char *const names[] = {"claims", "diary", "name",
                                        "points", "stage", "tags"};
    static const uint8_t kinds[] = {GS_KIND_CLAIM, GS_KIND_LOG,
                                    GS_KIND_LWW,   GS_KIND_COUNTER,
                                    GS_KIND_STAGE, GS_KIND_SET};
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, pk, 32);
    op.scope = gs_slice_of("yc.g1", 5);
    op.seq = 1;
    op.hlc = 1 + (uint64_t)f;
    op.type = gs_slice_of("person", 6);
    op.id = gs_slice_of("P-1", 3);
    for (int i = 0; i < 6; i++) {
        if (f == 1 && i != 2)
            continue;
        op.updates[op.n_updates++] =
            (gs_update){gs_slice_of(names[i], strlen(names[i])), kinds[i],
                        gs_slice_of(pay[i].data, pay[i].len)};
    }
    if (gs_op_encode(&op, &enc) != GS_OK)
        abort();
    if (f == 0) {
        gs_op_hash(enc.data, enc.len, hash);
        memcpy(auth_prev, hash, sizeof hash);
        gs_op_sign(hash, net, sk, &sig);
        gs_run_item item = {enc.data, enc.len, &sig};
        gs_store_run run = {&item, 1};
        gs_ingest_stats st;
        if (gs_store_ingest(store, &run, 1, net, &st) != GS_OK ||
            st.applied != 1)
            abort();
    } else {
        gs_store_target t = {op.type, op.id};
        gs_store_write_result res;
        if (gs_store_write(store, pk, sk, op.scope, net, &t, 1, built, &enc,
                           &res) != GS_OK ||
            res.written != 1)
            abort();
    }
    for (int i = 0; i < 6; i++)
        gs_buf_fini(&pay[i]);
    gs_buf_fini(&enc);
}

/* The authority's op seq (2..5) on person P-seq: lww "name", alike for
 * all four. */
static void
name_op(uint64_t seq, uint8_t prev[GS_HASH_BYTES])
{
    static const char name[] = "Wang Xiaoming of grid yc.g1.b3"; /* 30 */
    uint8_t net[32], net_sk[64];
    char id[8];
    gs_buf pay, enc;
    gs_op op;
    gs_sig sig;
    gs_vref v = {GS_V_STR, 0, gs_slice_of(name, sizeof name - 1)};
    keypair(0, net, net_sk);
    snprintf(id, sizeof id, "P-%llu", (unsigned long long)seq);
    gs_buf_init(&pay, 256);
    gs_buf_init(&enc, 4096);
    if (gs_payload_lww(&pay, 0, &v) != GS_OK)
        abort();
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, net, 32);
    op.scope = gs_slice_of("yc.g1", 5);
    op.seq = seq;
    memcpy(op.prev, prev, GS_HASH_BYTES);
    op.hlc = 10 + seq;
    op.type = gs_slice_of("person", 6);
    op.id = gs_slice_of(id, strlen(id));
    op.n_updates = 1;
    op.updates[0] = (gs_update){gs_slice_of("name", 4), GS_KIND_LWW,
                                gs_slice_of(pay.data, pay.len)};
    if (gs_op_encode(&op, &enc) != GS_OK)
        abort();
    gs_op_hash(enc.data, enc.len, prev);
    gs_op_sign(prev, net, net_sk, &sig);
    gs_run_item item = {enc.data, enc.len, &sig};
    gs_store_run run = {&item, 1};
    gs_ingest_stats st;
    if (gs_store_ingest(store, &run, 1, net, &st) != GS_OK || st.applied != 1)
        abort();
    gs_buf_fini(&pay);
    gs_buf_fini(&enc);
}

static void
setup(void)
{
    gs_store_opts o = {1 << 20, 0, true};
    const char *seeds = getenv("GS_FUZZ_SEEDS");
    if (!mkdtemp(dir) || gs_store_open(dir, &o, &store) != GS_OK)
        abort();
    atexit(cleanup);
    for (int f = 0; f < 2; f++) {
        ingest_op(f);
        if (seeds)
            seed_write(seeds, "P-1",
                       f == 0 ? "seed-one-author" : "seed-two-authors");
    }
    for (uint64_t seq = 2; seq <= 5; seq++)
        name_op(seq, auth_prev);
    if (seeds)
        seed_write(seeds, "P-5", "seed-interned");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gs_entity e;
    gs_buf b;
    if (store == NULL)
        setup();
    if (gs_store_entity_from_stored(store, gs_slice_of("person", 6),
                                    gs_slice_of("P-1", 3), data, size,
                                    &e) != GS_OK)
        return 0;
    gs_buf_init(&b, (size_t)1 << 26);
    if (gs_entity_encode(&e, &b) != GS_OK)
        abort();
    gs_buf_fini(&b);
    gs_entity_fini(&e);
    return 0;
}
