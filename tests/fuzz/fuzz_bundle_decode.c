/*
 * fuzz_bundle_decode.c — libFuzzer target for the bundle decoder
 * (docs/bundle.md), on memory: parsing is separate from ingest, so no store
 * is opened.
 *
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 *  - every record handed on has 1..GS_BUNDLE_REC_OPS_MAX ops, each of at
 *    most GS_OP_BYTES_MAX bytes, a signature exactly on the last op of a
 *    run record, and its offset inside the input;
 *  - a bundle accepted whole re-encodes to exactly the input bytes (one
 *    encoding per bundle), and the offset reported is its length;
 *  - a record's ops go through gs_run_verify without harm.
 * Without libFuzzer, tests/fuzz/replay.c runs this over the corpus in ctest.
 */
#include "bundle.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    size_t size;
    gs_buf out; /* the input, encoded again */
    size_t recs;
    uint8_t network[GS_KEY_BYTES];
};

static gs_err
on_header(const gs_bundle_header *h, void *ctx)
{
    struct fz *z = ctx;
    if (h->version != GS_BUNDLE_VERSION ||
        strlen(h->origin) > GS_BUNDLE_ORIGIN_MAX)
        abort();
    memcpy(z->network, h->network, GS_KEY_BYTES);
    if (gs_bundle_header_encode(h, &z->out) != GS_OK)
        abort();
    return GS_OK;
}

static gs_err
on_rec(const gs_bundle_rec *r, void *ctx)
{
    struct fz *z = ctx;
    if (r->n == 0 || r->n > GS_BUNDLE_REC_OPS_MAX || r->index != z->recs ||
        r->offset >= z->size)
        abort();
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].n > GS_OP_BYTES_MAX)
            abort();
        if ((r->items[i].sig != NULL) != (r->closes && i == r->n - 1))
            abort();
    }
    z->recs++;
    if (gs_bundle_rec_encode(r, &z->out) != GS_OK)
        abort();
    gs_err rc =
        gs_run_verify(r->items, r->n, NULL, z->network, NULL, NULL, NULL);
    if (rc == GS_OK && !r->closes)
        abort(); /* a part has no signature */
    return GS_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz z = {.size = size};
    uint64_t off = 0;

    gs_buf_init(&z.out, (size_t)1 << 30);
    gs_err rc = gs_bundle_decode_mem(data, size, on_header, on_rec, &z, &off);
    if (off > size)
        abort();
    if (rc == GS_OK) {
        if (off != size || gs_bundle_end_encode(&z.out) != GS_OK ||
            z.out.len != size || memcmp(z.out.data, data, size) != 0)
            abort();
    }
    gs_buf_fini(&z.out);
    return 0;
}
