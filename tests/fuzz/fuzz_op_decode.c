/*
 * fuzz_op_decode.c — libFuzzer target for the op decoder.
 *
 * Properties checked on every input, beyond "no crash, no sanitizer report":
 *  - an accepted op re-encodes to exactly the input bytes (one encoding per
 *    op: the content hash names the op);
 *  - an accepted op merges into an entity without error, and the entity's
 *    state encoding decodes back to the same bytes;
 *  - a run made of the input alone is refused for want of a signature;
 *  - an accepted op's updates section, read on its own
 *    (gs_op_updates_parse), gives the updates the decode gives, and each
 *    payload read as the import's writer reads it (gs_payload_parse_known)
 *    what the full parse gives; any input's tail read as a section is
 *    read without a fault.
 * Without libFuzzer, tests/fuzz/replay.c runs this over the corpus in ctest.
 */
#include "field.h"
#include "op.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gs_op op;
    gs_buf b, st;
    gs_entity e, back;
    uint8_t hash[GS_HASH_BYTES];

    gs_op kop;
    gs_payload kpl, pl[GS_OP_UPDATES_MAX];
    /* any input: its bytes past the first as a section (no fault) */
    if (size > 1 && gs_op_updates_parse(data + 1, size - 1, &kop) ==
                        GS_OK &&
        kop.n_updates == 0)
        abort(); /* a section read holds an update at least */
    if (gs_op_decode_parsed(data, size, &op, pl) != GS_OK)
        return 0;
    size_t at = (size_t)(op.id.p + op.id.n - data); /* the section */
    if (gs_op_updates_parse(data + at, size - at, &kop) != GS_OK ||
        kop.n_updates != op.n_updates)
        abort();
    for (size_t i = 0; i < op.n_updates; i++) {
        const gs_update *a = &kop.updates[i], *u = &op.updates[i];
        if (a->kind != u->kind || a->field.p != u->field.p ||
            a->field.n != u->field.n || a->payload.p != u->payload.p ||
            a->payload.n != u->payload.n)
            abort();
        if (u->kind >= 1 && u->kind <= GS_KIND_KNOWN_MAX &&
            (gs_payload_parse_known(u->kind, u->payload, &kpl) != GS_OK ||
             !gs_payload_same(&kpl, &pl[i])))
            abort();
    }
    gs_buf_init(&b, GS_OP_BYTES_MAX);
    if (gs_op_encode(&op, &b) != GS_OK || b.len != size ||
        memcmp(b.data, data, size) != 0)
        abort();
    gs_buf_fini(&b);

    gs_op_hash(data, size, hash);
    if (gs_entity_init(&e, op.type, op.id) != GS_OK)
        abort();
    if (gs_entity_apply(&e, &op, hash) != GS_OK)
        abort();
    gs_buf_init(&st, (size_t)1 << 26);
    if (gs_entity_encode(&e, &st) != GS_OK)
        abort();
    if (gs_entity_decode(&back, st.data, st.len) != GS_OK)
        abort();
    gs_buf b2;
    gs_buf_init(&b2, (size_t)1 << 26);
    if (gs_entity_encode(&back, &b2) != GS_OK || b2.len != st.len ||
        memcmp(b2.data, st.data, st.len) != 0)
        abort();
    gs_buf_fini(&b2);
    gs_buf_fini(&st);
    gs_entity_fini(&back);
    gs_entity_fini(&e);

    gs_run_item item = {data, size, NULL};
    uint8_t net[GS_KEY_BYTES] = {0};
    if (gs_run_verify(&item, 1, NULL, net, NULL, NULL, NULL) != GS_ENOSIG)
        abort();
    return 0;
}
