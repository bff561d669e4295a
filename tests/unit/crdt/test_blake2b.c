/*
 * test_blake2b.c — gs_blake2b is BLAKE2b: the RFC 7693 vector, and the
 * very bytes libsodium's crypto_generichash gives for every message
 * length from 0 to 1,030 (every block boundary of the first eight, where
 * a padding or counter mistake would show) at the lengths ops use (32)
 * and the longest (64), and for op-sized messages at every output length.
 * Every op's content hash is made by it (gs_op_hash), and every peer's
 * must agree with it byte for byte.
 */
#include "testutil.h"

#include "blake2b.h"

#include <sodium.h>
#include <string.h>

/* RFC 7693, Appendix A: BLAKE2b-512("abc") */
static const uint8_t abc512[64] = {
    0xba, 0x80, 0xa5, 0x3f, 0x98, 0x1c, 0x4d, 0x0d, 0x6a, 0x27, 0x97,
    0xb6, 0x9f, 0x12, 0xf6, 0xe9, 0x4c, 0x21, 0x2f, 0x14, 0x68, 0x5a,
    0xc4, 0xb7, 0x4b, 0x12, 0xbb, 0x6f, 0xdb, 0xff, 0xa2, 0xd1, 0x7d,
    0x87, 0xc5, 0x39, 0x2a, 0xab, 0x79, 0x2d, 0xc2, 0x52, 0xd5, 0xde,
    0x45, 0x33, 0xcc, 0x95, 0x18, 0xd3, 0x8a, 0xa8, 0xdb, 0xf1, 0x92,
    0x5a, 0xb9, 0x23, 0x86, 0xed, 0xd4, 0x00, 0x99, 0x23};

static void
test_blake2b_rfc7693_vector(void **state)
{
    (void)state;
    uint8_t out[64];
    gs_blake2b(out, sizeof out, (const uint8_t *)"abc", 3);
    assert_memory_equal(out, abc512, sizeof out);
}

static void
test_blake2b_matches_libsodium_every_length(void **state)
{
    (void)state;
    enum { MAX = 1030 };
    uint8_t msg[MAX], ours[64], theirs[64];
    gs_rng rng;
    gs_rng_seed(&rng, gs_test_seed());
    for (size_t i = 0; i < MAX; i++)
        msg[i] = (uint8_t)gs_rng_next(&rng);
    static const size_t outs[] = {32, 64};
    for (size_t o = 0; o < 2; o++)
        for (size_t n = 0; n <= MAX; n++) {
            size_t ol = outs[o];
            gs_blake2b(ours, ol, msg, n);
            assert_int_equal(crypto_generichash(theirs, ol, msg, n, NULL, 0),
                             0);
            if (memcmp(ours, theirs, ol) != 0)
                fail_msg("length %zu, output %zu: differs from libsodium", n,
                         ol);
        }
    /* every output length libsodium takes (16..64), an op-sized message */
    for (size_t ol = crypto_generichash_BYTES_MIN;
         ol <= crypto_generichash_BYTES_MAX; ol++) {
        gs_blake2b(ours, ol, msg, 230);
        assert_int_equal(crypto_generichash(theirs, ol, msg, 230, NULL, 0), 0);
        if (memcmp(ours, theirs, ol) != 0)
            fail_msg("output %zu: differs from libsodium", ol);
    }
}

/* An output length out of range writes nothing. */
static void
test_blake2b_refuses_out_of_range(void **state)
{
    (void)state;
    uint8_t out[66];
    memset(out, 0xa5, sizeof out);
    gs_blake2b(out, 0, (const uint8_t *)"abc", 3);
    gs_blake2b(out, 65, (const uint8_t *)"abc", 3);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xa5);
}

int
main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blake2b_rfc7693_vector),
        cmocka_unit_test(test_blake2b_matches_libsodium_every_length),
        cmocka_unit_test(test_blake2b_refuses_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
