/*
 * fuzz_blake2b.c — libFuzzer target: gs_blake2b (crdt/blake2b.c, every
 * op's content hash) gives libsodium's crypto_generichash bytes for any
 * message, at an output length the first byte picks (16..64, the lengths
 * libsodium takes).
 */
#include "blake2b.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    uint8_t ours[64], theirs[64];
    if (size == 0)
        return 0;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    size_t ol = crypto_generichash_BYTES_MIN +
                data[0] % (crypto_generichash_BYTES_MAX -
                           crypto_generichash_BYTES_MIN + 1);
    gs_blake2b(ours, ol, data + 1, size - 1);
    if (crypto_generichash(theirs, ol, data + 1, size - 1, NULL, 0) != 0 ||
        memcmp(ours, theirs, ol) != 0)
        abort();
    return 0;
}
