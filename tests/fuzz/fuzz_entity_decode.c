/*
 * fuzz_entity_decode.c — libFuzzer target for the entity state decoder,
 * which reads materialised state back from disk (a corrupted file must give
 * an error, never a crash). An accepted input must re-encode to itself.
 */
#include "field.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gs_entity e;
    gs_buf b;
    if (gs_entity_decode(&e, data, size) != GS_OK)
        return 0;
    gs_buf_init(&b, (size_t)1 << 26);
    if (gs_entity_encode(&e, &b) != GS_OK || b.len != size ||
        memcmp(b.data, data, size) != 0)
        abort();
    gs_buf_fini(&b);
    gs_entity_fini(&e);
    return 0;
}
