/*
 * test_hlc.c — the hybrid logical clock's guarantees G1–G4 (crdt/hlc.h),
 * one test each, plus the edges: counter roll-over and the end of the
 * 48-bit millisecond range. docs/clock.md names these tests beside the
 * statements they check; keep the two in step.
 *
 * The wall clock is always played by the test, never read, so every run
 * is reproducible from its seed (GS_SEED=).
 */
#include "testutil.h"

#include "hlc.h"

#include <stdio.h>
#include <time.h>

#define DAY_MS (UINT64_C(24) * 60 * 60 * 1000)
#define T0_MS UINT64_C(1718000000000) /* 2024-06-10, a plausible "now" */

static uint64_t
now_ok(gs_hlc *c, uint64_t wall)
{
    uint64_t s = 0;
    assert_int_equal(gs_hlc_now(c, wall, &s), GS_OK);
    return s;
}

static uint64_t
max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* G1: 100,000 stamps under a wall clock that jumps back and forth by up to
 * a day (NTP steps, a user fiddling with the date, a dead RTC battery),
 * with stamps of other devices received in between — some far ahead, some
 * far behind. Every stamp beats everything issued or received before. */
static void
test_hlc_monotonic_under_wall_jumps(void **state)
{
    (void)state;
    gs_rng rng;
    gs_rng_seed(&rng, gs_test_seed());
    gs_hlc c;
    gs_hlc_init(&c, 0);
    uint64_t wall = T0_MS, hi = 0;

    for (int i = 0; i < 100000; i++) {
        switch (gs_rng_below(&rng, 8)) {
        case 0: /* jump anywhere within a day either way */
            wall = T0_MS - DAY_MS + gs_rng_below(&rng, 2 * DAY_MS);
            break;
        case 1: { /* a stamp from another device */
            uint64_t r =
                gs_hlc_pack(T0_MS - DAY_MS + gs_rng_below(&rng, 2 * DAY_MS),
                            gs_rng_below(&rng, 0x10000));
            assert_int_equal(gs_hlc_recv(&c, r, wall), GS_OK);
            hi = max_u64(hi, r);
            break;
        }
        case 2: /* a burst within the same millisecond */
            break;
        default: /* ordinary time passing */
            wall += gs_rng_below(&rng, 50);
            break;
        }
        uint64_t s = now_ok(&c, wall);
        if (s <= hi)
            fail_msg("step %d: stamp %llu not above %llu", i,
                     (unsigned long long)s, (unsigned long long)hi);
        hi = s;
    }
}

/* G2: a tablet whose clock is a day behind still issues increasing
 * stamps, and once it has applied an op from a station PC a day ahead,
 * whatever it writes next carries a greater stamp than that op — so it
 * wins last-writer-wins over the op it saw. */
static void
test_hlc_causal_clock_day_behind(void **state)
{
    (void)state;
    gs_hlc tablet, station;
    gs_hlc_init(&tablet, 0);
    gs_hlc_init(&station, 0);
    uint64_t now = T0_MS;

    uint64_t prev = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t s = now_ok(&tablet, now - DAY_MS + (uint64_t)(i / 10));
        assert_true(s > prev);
        prev = s;
    }

    uint64_t seen = now_ok(&station, now + DAY_MS);
    assert_true(seen > prev);
    assert_int_equal(gs_hlc_recv(&tablet, seen, now - DAY_MS), GS_OK);

    /* An hour later in real time the tablet's wall is still a day behind
     * the station's stamp; its edits still come after what it saw. */
    now += 60 * 60 * 1000;
    for (int i = 0; i < 1000; i++) {
        uint64_t s = now_ok(&tablet, now - DAY_MS);
        assert_true(s > seen);
        assert_true(s > prev);
        prev = s;
    }
    /* ... and it stays on the seen millisecond, not further ahead (G3). */
    assert_int_equal(gs_hlc_ms(prev), gs_hlc_ms(seen));
}

/* 65,536 stamps within one wall millisecond spend the counter; the next
 * one moves the millisecond forward by 1 with counter 0, and so on. The
 * stamps stay consecutive integers, and when the wall clock passes them
 * the clock goes back to plain wall time. */
static void
test_hlc_counter_overflow_rolls_ms(void **state)
{
    (void)state;
    gs_hlc c;
    gs_hlc_init(&c, 0);
    const uint64_t w = T0_MS;
    const uint64_t n = 3 * 65536 + 17;

    uint64_t first = now_ok(&c, w);
    assert_int_equal(first, gs_hlc_pack(w, 0));
    for (uint64_t i = 1; i < n; i++) {
        uint64_t s = now_ok(&c, w);
        assert_int_equal(s, first + i);
        assert_int_equal(gs_hlc_ms(s), w + i / 65536);
        assert_int_equal(gs_hlc_counter(s), i % 65536);
    }
    /* wall catches up: 3 ms borrowed, so w + 3 is still ours ... */
    assert_int_equal(now_ok(&c, w + 3), gs_hlc_pack(w + 3, 17));
    /* ... and w + 4 is fresh wall time again. */
    assert_int_equal(now_ok(&c, w + 4), gs_hlc_pack(w + 4, 0));

    /* Roll-over from a received stamp with its counter spent. */
    gs_hlc d;
    gs_hlc_init(&d, 0);
    assert_int_equal(gs_hlc_recv(&d, gs_hlc_pack(w, 0xffff), w), GS_OK);
    assert_int_equal(now_ok(&d, w), gs_hlc_pack(w + 1, 0));
}

/* G3: a stamp's ms is never below the wall clock, and it is ahead of the
 * wall clock only as far as the newest wall time or received stamp the
 * clock has seen, plus 1 ms per 65,536 stamps. Checked step by step on a
 * random mix of bursts, slow time, jumps back and received stamps; then
 * exactly on a fresh clock. */
static void
test_hlc_close_to_wall(void **state)
{
    (void)state;
    gs_rng rng;
    gs_rng_seed(&rng, gs_test_seed() ^ 0x6733);
    gs_hlc c;
    gs_hlc_init(&c, 0);
    uint64_t wall = T0_MS;
    uint64_t ref = 0; /* max(pack(newest wall, 0), newest received) */
    uint64_t issued = 0;

    for (int i = 0; i < 100000; i++) {
        uint64_t k = gs_rng_below(&rng, 100);
        if (k < 2) {
            wall -= gs_rng_below(&rng, 10000); /* set back a little */
        } else if (k < 4) {
            uint64_t r = gs_hlc_pack(wall + gs_rng_below(&rng, 5000),
                                     gs_rng_below(&rng, 0x10000));
            assert_int_equal(gs_hlc_recv(&c, r, wall), GS_OK);
            ref = max_u64(ref, r);
        } else if (k < 60) {
            wall += gs_rng_below(&rng, 3);
        } /* else: another stamp in the same millisecond */
        ref = max_u64(ref, gs_hlc_pack(wall, 0));

        uint64_t s = now_ok(&c, wall);
        issued++;
        assert_true(gs_hlc_ms(s) >= wall);
        /* Each stamp is either a wall time or the previous stamp + 1, so
         * it is at most ref + stamps issued; in ms that is the allowance
         * of 1 ms per 65,536 stamps. */
        assert_true(s <= ref + issued);
        assert_true(gs_hlc_ms(s) <= gs_hlc_ms(ref) + (issued + 65535) / 65536);
    }

    /* Exact: a fresh clock at wall w stamps w; given a stamp ahead, it
     * stamps just after it; once the wall passes it, the wall again. */
    gs_hlc d;
    gs_hlc_init(&d, 0);
    assert_int_equal(now_ok(&d, T0_MS), gs_hlc_pack(T0_MS, 0));
    uint64_t ahead = gs_hlc_pack(T0_MS + 5000, 7);
    assert_int_equal(gs_hlc_recv(&d, ahead, T0_MS), GS_OK);
    assert_int_equal(now_ok(&d, T0_MS + 1), ahead + 1);
    assert_int_equal(now_ok(&d, T0_MS + 5001), gs_hlc_pack(T0_MS + 5001, 0));
}

/* G4: with a drift limit, a stamp more than max_drift_ms ahead of the wall
 * clock is refused with GS_ECLOCK and the clock does not move; one at the
 * limit, or behind, is taken. Without a limit (0) anything is taken. */
static void
test_hlc_drift_refused_unchanged(void **state)
{
    (void)state;
    const uint64_t drift = 5 * 60 * 1000;
    gs_hlc c;
    gs_hlc_init(&c, drift);
    uint64_t s1 = now_ok(&c, T0_MS);
    gs_hlc before = c;

    assert_int_equal(gs_hlc_recv(&c, gs_hlc_pack(T0_MS + drift + 1, 0), T0_MS),
                     GS_ECLOCK);
    assert_memory_equal(&c, &before, sizeof c);
    assert_int_equal(gs_hlc_recv(&c, gs_hlc_pack(T0_MS + DAY_MS, 0), T0_MS),
                     GS_ECLOCK);
    assert_memory_equal(&c, &before, sizeof c);
    /* refused stamps leave no trace: the next stamp is wall-based */
    uint64_t s2 = now_ok(&c, T0_MS + 1);
    assert_int_equal(s2, gs_hlc_pack(T0_MS + 1, 0));
    assert_true(s2 > s1);

    /* at the limit: taken (the counter is inside the limit's ms) */
    uint64_t edge = gs_hlc_pack(T0_MS + drift, 0xffff);
    assert_int_equal(gs_hlc_recv(&c, edge, T0_MS), GS_OK);
    assert_int_equal(c.last, edge);
    /* behind: taken, and changes nothing */
    assert_int_equal(gs_hlc_recv(&c, gs_hlc_pack(T0_MS - DAY_MS, 0), T0_MS),
                     GS_OK);
    assert_int_equal(c.last, edge);
    /* a wall clock near the end of time must not wrap the check */
    assert_int_equal(gs_hlc_recv(&c, gs_hlc_pack(GS_HLC_MS_MAX, 0), UINT64_MAX),
                     GS_OK);

    gs_hlc any;
    gs_hlc_init(&any, 0);
    uint64_t far = gs_hlc_pack(T0_MS + 365 * DAY_MS, 3);
    assert_int_equal(gs_hlc_recv(&any, far, T0_MS), GS_OK);
    assert_int_equal(any.last, far);
}

/* The 48-bit ms range (to the year 10889) can run out only through a
 * broken wall clock or a received stamp at the very end; then gs_hlc_now
 * says GS_ECLOCK and leaves the clock as it was, rather than wrapping to a
 * small stamp that would lose every last-writer-wins race. */
static void
test_hlc_ms_exhausted(void **state)
{
    (void)state;
    gs_hlc c;
    uint64_t s = 42;

    gs_hlc_init(&c, 0);
    assert_int_equal(gs_hlc_now(&c, GS_HLC_MS_MAX + 1, &s), GS_ECLOCK);
    assert_int_equal(c.last, 0);
    assert_int_equal(s, 42);
    assert_int_equal(now_ok(&c, GS_HLC_MS_MAX), gs_hlc_pack(GS_HLC_MS_MAX, 0));

    gs_hlc_init(&c, 0);
    uint64_t end = gs_hlc_pack(GS_HLC_MS_MAX, 0xfffe);
    assert_int_equal(gs_hlc_recv(&c, end, T0_MS), GS_OK);
    assert_int_equal(now_ok(&c, T0_MS), end + 1);
    assert_int_equal(end + 1, UINT64_MAX);
    assert_int_equal(gs_hlc_now(&c, T0_MS, &s), GS_ECLOCK);
    assert_int_equal(c.last, UINT64_MAX);
    assert_int_equal(gs_hlc_now(&c, UINT64_MAX, &s), GS_ECLOCK);
    assert_int_equal(c.last, UINT64_MAX);
}

/* gs_hlc_wall_ms reads the real clock in ms: between two time() reads. */
static void
test_hlc_wall_ms_reads_realtime(void **state)
{
    (void)state;
    uint64_t a = (uint64_t)time(NULL) * 1000;
    uint64_t w = gs_hlc_wall_ms();
    uint64_t b = (uint64_t)time(NULL) * 1000 + 1000;
    assert_true(w >= a && w <= b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hlc_monotonic_under_wall_jumps),
        cmocka_unit_test(test_hlc_causal_clock_day_behind),
        cmocka_unit_test(test_hlc_counter_overflow_rolls_ms),
        cmocka_unit_test(test_hlc_close_to_wall),
        cmocka_unit_test(test_hlc_drift_refused_unchanged),
        cmocka_unit_test(test_hlc_ms_exhausted),
        cmocka_unit_test(test_hlc_wall_ms_reads_realtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
