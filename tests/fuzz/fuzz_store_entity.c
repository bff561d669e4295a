/*
 * fuzz_store_entity.c — libFuzzer target for the store's decoder of entity
 * values as they lie on disk (store format 2: author table, stamp table,
 * fields with stamps as indexes). A damaged replica must give an error,
 * never a crash. An accepted value must decode to an entity that encodes
 * canonically (gs_entity_decode checked that already; we re-encode it).
 *
 * The decoder resolves authors through the store's feed table, so the
 * target keeps one scratch replica (created on first use, with two feeds)
 * and decodes every input against it.
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

/* Two feeds, so that author numbers 1 and 2 resolve. */
static void
setup(void)
{
    gs_store_opts o = {1 << 20, 0, true};
    uint8_t pk[32], sk[64], net[32] = {0};
    if (!mkdtemp(dir) || gs_store_open(dir, &o, &store) != GS_OK)
        abort();
    atexit(cleanup);
    for (int f = 0; f < 2; f++) {
        uint8_t seed[32];
        gs_buf pay, enc;
        gs_op op;
        uint8_t hash[32];
        gs_sig sig;
        gs_vref v = {GS_V_STR, 0, gs_slice_of("x", 1)};
        memset(seed, f + 1, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        gs_buf_init(&pay, 64);
        gs_buf_init(&enc, 1024);
        if (gs_payload_lww(&pay, 0, &v) != GS_OK)
            abort();
        memset(&op, 0, sizeof op);
        op.version = GS_OP_VERSION;
        memcpy(op.author, pk, 32);
        op.scope = gs_slice_of("yc.g1", 5);
        op.seq = 1;
        op.hlc = 1;
        op.type = gs_slice_of("person", 6);
        op.id = gs_slice_of("P-1", 3);
        op.n_updates = 1;
        op.updates[0] = (gs_update){gs_slice_of("name", 4), GS_KIND_LWW,
                                    gs_slice_of(pay.data, pay.len)};
        if (gs_op_encode(&op, &enc) != GS_OK)
            abort();
        gs_op_hash(enc.data, enc.len, hash);
        gs_op_sign(hash, net, sk, &sig);
        gs_run_item item = {enc.data, enc.len, &sig};
        gs_store_run run = {&item, 1};
        gs_ingest_stats st;
        if (gs_store_ingest(store, &run, 1, net, &st) != GS_OK ||
            st.applied != 1)
            abort();
        gs_buf_fini(&pay);
        gs_buf_fini(&enc);
    }
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
