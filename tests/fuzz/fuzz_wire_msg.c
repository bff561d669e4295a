/*
 * fuzz_wire_msg.c — libFuzzer target for the wire decoder (net/wire.h).
 *
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 *  - an accepted message re-encodes to exactly the input bytes;
 *  - for OPS and PUSH, an accepted run list re-encodes to exactly the
 *    decompressed bytes, every run expands to canonical ops (from a zero
 *    head for seq 1, else an arbitrary one), and those ops compact back to
 *    the run's own compact bytes.
 * Without libFuzzer, tests/fuzz/replay.c runs this over the corpus in ctest.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_batch(gs_slice frame)
{
    gs_wire_batch batch;
    gs_buf raw, out, ops;

    if (gs_wire_batch_decode(frame, &batch) != GS_OK)
        return;
    gs_buf_init(&raw, GS_WIRE_BATCH_MAX);
    if (gs_wire_runs_encode(batch.runs, batch.n_runs, &raw) != GS_OK ||
        raw.len != batch.raw_len || memcmp(raw.data, batch.raw, raw.len) != 0)
        abort();
    gs_buf_fini(&raw);
    gs_buf_init(&out, (size_t)1 << 30);
    gs_buf_init(&ops, GS_WIRE_BATCH_MAX);
    for (size_t i = 0; i < batch.n_runs; i++) {
        const gs_wire_run *run = &batch.runs[i];
        uint8_t prev[GS_HASH_BYTES];
        gs_run_item *items = calloc(run->n, sizeof *items);
        gs_wire_run back;
        if (!items)
            abort();
        memset(prev, run->first_seq == 1 ? 0 : 0x5a, sizeof prev);
        gs_buf_reset(&out);
        gs_buf_reset(&ops);
        if (gs_wire_run_expand(run, prev, &out, items, NULL) != GS_OK)
            abort();
        if (gs_wire_run_compact(items, run->n, &back, &ops) != GS_OK ||
            back.ops.n != run->ops.n ||
            memcmp(back.ops.p, run->ops.p, run->ops.n) != 0 ||
            back.first_seq != run->first_seq)
            abort();
        free(items);
    }
    gs_buf_fini(&ops);
    gs_buf_fini(&out);
    gs_wire_batch_fini(&batch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gs_wire_msg *m;
    gs_buf b;

    if (!m && !(m = malloc(sizeof *m)))
        abort();
    if (gs_wire_decode(data, size, m) != GS_OK)
        return 0;
    gs_buf_init(&b, GS_WIRE_MSG_MAX);
    if (gs_wire_encode(m, &b) != GS_OK || b.len != size ||
        memcmp(b.data, data, size) != 0)
        abort();
    gs_buf_fini(&b);
    if (m->type == GS_WIRE_OPS || m->type == GS_WIRE_PUSH)
        check_batch(m->u.ops.frame);
    return 0;
}
