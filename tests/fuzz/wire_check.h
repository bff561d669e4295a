/*
 * wire_check.h — the properties every wire fuzz target checks, shared by
 * fuzz_wire_msg.c (whole messages) and the per-type targets
 * fuzz_wire_<type>.c (a valid header of one type + the fuzzer's bytes as
 * the body, so that every input reaches that type's body decoder).
 *
 * Beyond "no crash, no sanitizer report", for an accepted message:
 *  - it re-encodes to exactly the input bytes;
 *  - for OPS and PUSH, the run list re-encodes to exactly the decompressed
 *    bytes, every run expands to canonical ops (from a zero head for seq 1,
 *    else an arbitrary one), and those ops compact back to the run's own
 *    compact bytes.
 * A violation aborts, which libFuzzer and the ctest replay both report.
 */
#ifndef GS_TESTS_FUZZ_WIRE_CHECK_H
#define GS_TESTS_FUZZ_WIRE_CHECK_H

#include "wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GS_FUZZ_SESSION_NUMBER 0x2a2b2c2du /* any: decoding ignores it */

static inline void
gs_fuzz_check_batch(gs_slice frame)
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

/* Decode data[0..size) as one message; check the properties if accepted. */
static inline void
gs_fuzz_check_msg(const uint8_t *data, size_t size)
{
    static gs_wire_msg *m; /* ~350 KB: not on the stack, kept across runs */
    gs_buf b;

    if (!m && !(m = malloc(sizeof *m)))
        abort();
    if (gs_wire_decode(data, size, m) != GS_OK)
        return;
    gs_buf_init(&b, GS_WIRE_MSG_MAX);
    if (gs_wire_encode(m, &b) != GS_OK || b.len != size ||
        memcmp(b.data, data, size) != 0)
        abort();
    gs_buf_fini(&b);
    if (m->type == GS_WIRE_OPS || m->type == GS_WIRE_PUSH)
        gs_fuzz_check_batch(m->u.ops.frame);
}

/* A valid header (version 1, type, a session number), then body. */
static inline void
gs_fuzz_check_body(uint8_t type, const uint8_t *body, size_t n)
{
    uint8_t *p;
    if (n > GS_WIRE_MSG_MAX - GS_WIRE_HEADER_BYTES)
        return; /* the decoder's own limit; nothing more to learn */
    if (!(p = malloc(GS_WIRE_HEADER_BYTES + n)))
        abort();
    p[0] = GS_WIRE_VERSION;
    p[1] = type;
    p[2] = (uint8_t)(GS_FUZZ_SESSION_NUMBER >> 24);
    p[3] = (uint8_t)(GS_FUZZ_SESSION_NUMBER >> 16);
    p[4] = (uint8_t)(GS_FUZZ_SESSION_NUMBER >> 8);
    p[5] = (uint8_t)GS_FUZZ_SESSION_NUMBER;
    if (n)
        memcpy(p + GS_WIRE_HEADER_BYTES, body, n);
    gs_fuzz_check_msg(p, GS_WIRE_HEADER_BYTES + n);
    free(p);
}

/* The whole of a per-type target: GS_FUZZ_WIRE_BODY_TARGET(GS_WIRE_ACK) */
#define GS_FUZZ_WIRE_BODY_TARGET(type)                                         \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)               \
    {                                                                          \
        gs_fuzz_check_body((type), data, size);                                \
        return 0;                                                              \
    }

#endif /* GS_TESTS_FUZZ_WIRE_CHECK_H */
