/*
 * hlc.c — the hybrid logical clock of hlc.h.
 *
 * The whole state is one number, the greatest stamp this clock has issued or
 * been given. A new stamp is the larger of that stamp's millisecond and the
 * wall clock's: on the same millisecond the counter counts up (rolling the
 * millisecond forward by one when the 16-bit counter is spent), on a later
 * one it starts again at 0. So a stamp always exceeds everything the clock
 * has seen (G1, hence G2), never falls behind the wall clock, and runs ahead
 * of it only by what it was given plus the counter roll-overs (G3).
 * gs_hlc_recv is the one place a far-future stamp could drag the clock
 * forward for good; it refuses those past max_drift_ms (G4). Every failing
 * call leaves the clock as it was, so a caller may simply carry on.
 *
 * SPEC: docs/clock.md
 */
#include "hlc.h"

#include <time.h>

void
gs_hlc_init(gs_hlc *c, uint64_t max_drift_ms)
{
    c->last = 0;
    c->max_drift_ms = max_drift_ms;
}

gs_err
gs_hlc_now(gs_hlc *c, uint64_t wall_ms, uint64_t *out)
{
    uint64_t last_ms, ms, counter;

    if (c == NULL || out == NULL)
        return GS_EINVAL;
    last_ms = gs_hlc_ms(c->last);
    ms = wall_ms > last_ms ? wall_ms : last_ms;
    if (ms == last_ms) {
        counter = gs_hlc_counter(c->last) + 1;
        if (counter > GS_HLC_COUNTER_MAX) {
            /* 65,536 stamps in one millisecond: borrow the next one rather
             * than repeat a stamp. This is the only way the clock gets
             * ahead of both the wall and what it was given (G3). */
            ms++;
            counter = 0;
        }
    } else {
        counter = 0;
    }
    /* Checked after the roll-over too: a wall clock beyond 2^48 ms (year
     * 10889) or a clock given the very last stamp has nowhere to go, and
     * packing would silently wrap to a stamp below the others. */
    if (ms > GS_HLC_MS_MAX)
        return GS_ECLOCK;
    c->last = gs_hlc_pack(ms, counter);
    *out = c->last;
    return GS_OK;
}

gs_err
gs_hlc_recv(gs_hlc *c, uint64_t remote, uint64_t wall_ms)
{
    uint64_t remote_ms;

    if (c == NULL)
        return GS_EINVAL;
    remote_ms = gs_hlc_ms(remote);
    /* Written as a difference so that wall_ms + max_drift_ms cannot wrap. */
    if (c->max_drift_ms != 0 && remote_ms > wall_ms &&
        remote_ms - wall_ms > c->max_drift_ms)
        return GS_ECLOCK;
    if (remote > c->last)
        c->last = remote;
    return GS_OK;
}

uint64_t
gs_hlc_wall_ms(void)
{
    struct timespec ts;

    /* A clock before 1970 or a failing clock_gettime reads as 0: the HLC
     * then simply keeps counting up from what it has seen. */
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
