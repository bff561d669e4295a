/*
 * test_buf.c — the primitives under every encoding: bounded buffers,
 * canonical varints, zigzag, and the strict UTF-8 check (whose eight-byte
 * ASCII fast path must refuse a bad byte wherever it sits in a block).
 */
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>

#include "buf.h"

#include <string.h>

static void
test_buf_cap_refuses_and_keeps_content(void **state)
{
    (void)state;
    gs_buf b;
    gs_buf_init(&b, 10);
    assert_int_equal(gs_buf_put(&b, "12345678", 8), GS_OK);
    assert_int_equal(gs_buf_put(&b, "abc", 3), GS_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_int_equal(gs_buf_put_str(&b, "ab", 2), GS_ETOOBIG); /* 1 + 2 */
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "12345678", 8);
    gs_buf_fini(&b);
}

static void
test_varint_round_trip_and_sizes(void **state)
{
    (void)state;
    const uint64_t vals[] = {
        0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX - 1, UINT64_MAX};
    const size_t sizes[] = {1, 1, 1, 2, 2, 3, 5, 10, 10};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        gs_buf b;
        gs_rd r;
        uint64_t v;
        gs_buf_init(&b, 64);
        assert_int_equal(gs_buf_put_varint(&b, vals[i]), GS_OK);
        assert_int_equal(b.len, sizes[i]);
        gs_rd_init(&r, b.data, b.len);
        assert_int_equal(gs_rd_varint(&r, &v), GS_OK);
        assert_true(v == vals[i]);
        assert_int_equal(gs_rd_left(&r), 0);
        gs_buf_fini(&b);
    }
}

static void
test_varint_refuses_padding_overflow_truncation(void **state)
{
    (void)state;
    const uint8_t padded[] = {0x81, 0x00};
    const uint8_t zero_padded[] = {0x80, 0x80, 0x00};
    const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                              0x80, 0x80, 0x80, 0x80, 0x01};
    const uint8_t cut[] = {0x80, 0x80};
    gs_rd r;
    uint64_t v;
    gs_rd_init(&r, padded, sizeof padded);
    assert_int_equal(gs_rd_varint(&r, &v), GS_ENONCANON);
    gs_rd_init(&r, zero_padded, sizeof zero_padded);
    assert_int_equal(gs_rd_varint(&r, &v), GS_ENONCANON);
    gs_rd_init(&r, over64, sizeof over64);
    assert_int_equal(gs_rd_varint(&r, &v), GS_EMALFORMED);
    gs_rd_init(&r, eleven, sizeof eleven);
    assert_int_equal(gs_rd_varint(&r, &v), GS_EMALFORMED);
    gs_rd_init(&r, cut, sizeof cut);
    assert_int_equal(gs_rd_varint(&r, &v), GS_ETRUNC);
    assert_int_equal(gs_rd_left(&r), 2); /* nothing consumed */
}

/* gs_varint_cmp must order integers as their encodings sort bytewise
 * (the canonical order of sorted records). */
static void
test_varint_cmp_matches_encodings(void **state)
{
    (void)state;
    gs_rng rng;
    gs_rng_seed(&rng, gs_test_seed());
    for (int i = 0; i < 20000; i++) {
        int bits_a = (int)gs_rng_below(&rng, 65),
            bits_b = (int)gs_rng_below(&rng, 65);
        uint64_t a = bits_a ? gs_rng_next(&rng) >> (64 - bits_a) : 0;
        uint64_t b =
            i % 7 == 0 ? a : (bits_b ? gs_rng_next(&rng) >> (64 - bits_b) : 0);
        gs_buf ea, eb;
        gs_buf_init(&ea, 16);
        gs_buf_init(&eb, 16);
        assert_int_equal(gs_buf_put_varint(&ea, a), GS_OK);
        assert_int_equal(gs_buf_put_varint(&eb, b), GS_OK);
        int want = gs_slice_cmp(gs_slice_of(ea.data, ea.len),
                                gs_slice_of(eb.data, eb.len));
        int got = gs_varint_cmp(a, b);
        assert_int_equal((got > 0) - (got < 0), (want > 0) - (want < 0));
        gs_buf_fini(&ea);
        gs_buf_fini(&eb);
    }
}

static void
test_zigzag_round_trip(void **state)
{
    (void)state;
    const int64_t vals[] = {0, -1, 1, -2, INT64_MAX, INT64_MIN};
    const uint64_t enc[] = {0, 1, 2, 3, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < 6; i++) {
        assert_true(gs_zigzag(vals[i]) == enc[i]);
        assert_true(gs_unzigzag(enc[i]) == vals[i]);
    }
}

static void
test_rd_str_checks_limit_before_reading(void **state)
{
    (void)state;
    const uint8_t in[] = {0x05, 'a', 'b'};
    gs_rd r;
    gs_slice s;
    gs_rd_init(&r, in, sizeof in);
    assert_int_equal(gs_rd_str(&r, 4, &s), GS_ETOOBIG);
    assert_int_equal(gs_rd_left(&r), 3); /* reader unmoved on error */
    assert_int_equal(gs_rd_str(&r, 100, &s), GS_ETRUNC);
    assert_int_equal(gs_rd_left(&r), 3);
}

static bool
valid(const char *s)
{
    return gs_utf8_valid((const uint8_t *)s, strlen(s));
}

static void
test_utf8_accepts_text(void **state)
{
    (void)state;
    assert_true(valid(""));
    assert_true(valid("H-000123 yc.yimei.nanjun"));
    assert_true(valid("居民反映路灯坏了\n第二行\t制表"));
    assert_true(valid("\xf0\x9f\x98\x80 emoji"));       /* U+1F600 */
    assert_true(valid("\xef\xbf\xbd\xf4\x8f\xbf\xbf")); /* FFFD, 10FFFF */
}

static void
test_utf8_refuses_bad_sequences(void **state)
{
    (void)state;
    assert_false(valid("\xc0\x80"));         /* overlong NUL */
    assert_false(valid("\xe0\x80\xaf"));     /* overlong '/' */
    assert_false(valid("\xed\xa0\x80"));     /* surrogate */
    assert_false(valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_false(valid("\x80"));             /* lone continuation */
    assert_false(valid("\xe5\xbc"));         /* cut short */
    assert_false(valid("\xc2\x85"));         /* C1 control NEL */
    assert_false(valid("a\rb"));             /* carriage return */
}

static void
test_utf8_fast_path_catches_every_position(void **state)
{
    (void)state;
    const uint8_t bad[] = {0x00, 0x01, 0x1f, 0x7f, 0x80, 0xff, '\r'};
    uint8_t buf[40]; /* two 16-byte steps and a tail */
    /* every length: a string's last bytes, fewer than 8, take the fast
     * path padded */
    for (size_t n = 1; n <= sizeof buf; n++) {
        for (size_t b = 0; b < sizeof bad; b++) {
            for (size_t pos = 0; pos < n; pos++) {
                memset(buf, 'a', sizeof buf);
                buf[pos] = bad[b];
                assert_false(gs_utf8_valid(buf, n));
            }
        }
        /* tab, newline, space and '~' pass in every position */
        const uint8_t good[] = {'\t', '\n', ' ', '~'};
        for (size_t g = 0; g < sizeof good; g++) {
            for (size_t pos = 0; pos < n; pos++) {
                memset(buf, 'z', sizeof buf);
                buf[pos] = good[g];
                assert_true(gs_utf8_valid(buf, n));
            }
        }
        /* a string ending before a bad byte is good */
        memset(buf, 'a', sizeof buf);
        buf[n - 1] = 0x01;
        assert_true(gs_utf8_valid(buf, n - 1));
    }
}

/* Every three bytes, against the definition (Unicode 3.9, table 3-7):
 * E0 A0..BF, E1..EC 80..BF, ED 80..9F, EE..EF 80..BF, each then 80..BF;
 * the fast path for Chinese text must agree with it everywhere. Three
 * bytes that are not one sequence are checked as one- and two-byte ones
 * the same way. */
static bool
ref_valid3(const uint8_t b[3], bool text)
{
    size_t i = 0;
    while (i < 3) {
        uint8_t c = b[i];
        if (c < 0x80) {
            if (text && ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f))
                return false;
            i++;
        } else if (c >= 0xc2 && c <= 0xdf) {
            if (i + 1 >= 3 || (b[i + 1] & 0xc0) != 0x80 ||
                (text && c == 0xc2 && b[i + 1] < 0xa0))
                return false;
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            if (i != 0 || b[1] < lo || b[1] > hi || (b[2] & 0xc0) != 0x80)
                return false;
            i += 3;
        } else {
            return false; /* a continuation, C0, C1, F0.. (four bytes) */
        }
    }
    return true;
}

static void
test_utf8_every_three_bytes(void **state)
{
    (void)state;
    uint8_t b[3];
    for (uint32_t v = 0; v < (1u << 24); v++) {
        b[0] = (uint8_t)(v >> 16);
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)v;
        if (gs_utf8_valid(b, 3) != ref_valid3(b, true) ||
            gs_utf8_wellformed(b, 3) != ref_valid3(b, false))
            fail_msg("%02x %02x %02x", b[0], b[1], b[2]);
    }
}

/* The same after a Chinese character: every three bytes that follow one
 * go through the fast path's run of such characters first. */
static void
test_utf8_every_three_bytes_after_one(void **state)
{
    (void)state;
    uint8_t b[6] = {0xe4, 0xb8, 0xad}; /* U+4E2D */
    for (uint32_t v = 0; v < (1u << 24); v++) {
        b[3] = (uint8_t)(v >> 16);
        b[4] = (uint8_t)(v >> 8);
        b[5] = (uint8_t)v;
        if (gs_utf8_valid(b, 6) != ref_valid3(b + 3, true))
            fail_msg("e4 b8 ad %02x %02x %02x", b[3], b[4], b[5]);
    }
}

/* The definition (Unicode 3.9, table 3-7), plainly: any length. */
static bool
ref_valid(const uint8_t *b, size_t n, bool text)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = b[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2
                                 : c >= 0xe0 && c <= 0xef ? 3
                                 : c >= 0xf0 && c <= 0xf4 ? 4
                                                          : 0;
        if (len == 0 || n - i < len)
            return false;
        uint8_t lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        if (len > 1 && (b[i + 1] < lo || b[i + 1] > hi))
            return false;
        for (size_t k = 2; k < len; k++)
            if ((b[i + k] & 0xc0) != 0x80)
                return false;
        if (text && len == 1 && ((c < 0x20 && c != '\t' && c != '\n') ||
                                 c == 0x7f))
            return false;
        if (text && c == 0xc2 && b[i + 1] < 0xa0)
            return false; /* C1 controls */
        i += len;
    }
    return true;
}

/* Strings of up to 80 bytes made of pieces (ASCII, controls, Chinese
 * characters, two- and four-byte ones, broken ones, stray bytes): every
 * path of the check (sixteen, eight and one byte at a time, runs of
 * Chinese) against the definition. */
static void
test_utf8_mixed_strings_by_definition(void **state)
{
    (void)state;
    static const char *const piece[] = {
        "a", "1", "Z", " ", "\t", "\n", "\r", "\x7f", "\x01",
        "孙", "社区", "\xe4\xb8", "\xe0\x80\x80", "\xed\xa0\x80",
        "\xc2\x85", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xf4\x90\x80\x80",
        "\x80", "\xff", "abcdefghijklmnop", "新新社区1栋2单元110室"};
    static const size_t good[] = {0, 1, 2, 3, 9, 10, 15, 20, 21};
    gs_rng rng;
    uint8_t buf[128];
    int valid_seen = 0;
    gs_rng_seed(&rng, gs_test_seed());
    for (int round = 0; round < 200000; round++) {
        size_t n = 0;
        size_t want = (size_t)gs_rng_below(&rng, 80);
        /* mostly good pieces, so that long valid runs reach the fast
         * paths; one in 64 any piece */
        while (n < want) {
            size_t k = gs_rng_below(&rng, 64)
                           ? good[gs_rng_below(&rng, sizeof good / sizeof *good)]
                           : (size_t)gs_rng_below(&rng, 22);
            size_t len = strlen(piece[k]);
            if (n + len > sizeof buf)
                break;
            memcpy(buf + n, piece[k], len);
            n += len;
        }
        if (gs_utf8_valid(buf, n) != ref_valid(buf, n, true) ||
            gs_utf8_wellformed(buf, n) != ref_valid(buf, n, false)) {
            fail_msg("round %d: %zu bytes disagree", round, n);
        }
        valid_seen += ref_valid(buf, n, true);
    }
    assert_true(valid_seen > 100000 && valid_seen < 199000); /* both */
}

static void
test_utf8_wellformed_allows_controls(void **state)
{
    (void)state;
    const uint8_t ok[] = {0x00, 0x01, '\r', 0x7f, 0xc2, 0x85, 'a'};
    assert_true(gs_utf8_wellformed(ok, sizeof ok));
    assert_false(gs_utf8_valid(ok, sizeof ok));
    assert_false(gs_utf8_wellformed((const uint8_t *)"\xed\xa0\x80", 3));
    assert_false(gs_utf8_wellformed((const uint8_t *)"\xc0\x80", 2));
    assert_false(gs_utf8_wellformed((const uint8_t *)"\xf4\x90\x80\x80", 4));
}

/* gs_grow: from nothing to at least need, the content kept, doubling; a
 * size past memory refused with *p and *cap as they were. */
static void
test_grow_keeps_content_and_refuses_overflow(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    void *p = a;
    assert_int_equal(gs_grow(&p, &cap, 1, sizeof *a), GS_OK);
    a = p;
    assert_non_null(a);
    assert_true(cap >= 1);
    for (int i = 0; i < 100; i++) {
        p = a;
        assert_int_equal(gs_grow(&p, &cap, (size_t)i + 1, sizeof *a), GS_OK);
        a = p;
        assert_true(cap >= (size_t)i + 1);
        a[i] = i * 7;
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(a[i], i * 7);
    size_t before = cap;
    p = a;
    assert_int_equal(gs_grow(&p, &cap, SIZE_MAX / 2, sizeof *a), GS_ENOMEM);
    assert_ptr_equal(p, a);
    assert_int_equal(cap, before);
    free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap_refuses_and_keeps_content),
        cmocka_unit_test(test_grow_keeps_content_and_refuses_overflow),
        cmocka_unit_test(test_varint_round_trip_and_sizes),
        cmocka_unit_test(test_varint_refuses_padding_overflow_truncation),
        cmocka_unit_test(test_varint_cmp_matches_encodings),
        cmocka_unit_test(test_zigzag_round_trip),
        cmocka_unit_test(test_rd_str_checks_limit_before_reading),
        cmocka_unit_test(test_utf8_accepts_text),
        cmocka_unit_test(test_utf8_refuses_bad_sequences),
        cmocka_unit_test(test_utf8_fast_path_catches_every_position),
        cmocka_unit_test(test_utf8_every_three_bytes),
        cmocka_unit_test(test_utf8_every_three_bytes_after_one),
        cmocka_unit_test(test_utf8_mixed_strings_by_definition),
        cmocka_unit_test(test_utf8_wellformed_allows_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
