/*
 * fuzz_json_load.c — libFuzzer target for gs_json_load, the import's JSON
 * parser (simdjson's parser making jansson's values), differentially
 * against jansson's own parser, whose rules it promises: for every input
 * both accept or both refuse, and what they accept is equal. Except for a
 * NUL byte outside a string, which JSON never holds and gs_json_load
 * refuses, where jansson takes some ("[true\0]" as [true]).
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    json_error_t jerr;
    json_t *ours = gs_json_load((const char *)data, size, why, sizeof why);
    if (memchr(data, 0, size) != NULL) {
        if (ours != NULL)
            abort();
        return 0;
    }
    json_t *theirs =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if ((ours == NULL) != (theirs == NULL))
        abort();
    if (ours != NULL && !json_equal(ours, theirs))
        abort();
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
