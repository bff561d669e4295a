/*
 * hlc.h — hybrid logical clock.
 *
 * A stamp is 64 bits: the high 48 are milliseconds since the Unix epoch,
 * the low 16 a counter. Stamps compare as plain unsigned integers.
 *
 * Guarantees (docs/clock.md states them for users, tests check each):
 *  G1 monotonic: every stamp a clock issues is greater than every stamp it
 *     issued before and every stamp it was given to gs_hlc_recv, whatever
 *     the wall clock does (a clock set back still yields increasing stamps).
 *  G2 causal: so an op written by a device that had applied op A carries a
 *     greater stamp than A; last-writer-wins then follows causality, not
 *     wall time.
 *  G3 close to wall time: an issued stamp's ms part is at least the wall
 *     clock's; it runs ahead of the wall clock only as far as the newest
 *     wall time or received stamp the clock has seen, plus 1 ms per 65,536
 *     stamps issued within one millisecond.
 *  G4 bounded drift: gs_hlc_recv refuses (GS_ECLOCK, clock unchanged) a
 *     stamp whose ms part is more than max_drift_ms ahead of the wall clock,
 *     when max_drift_ms is not 0. What to do with such an op is the caller's
 *     choice; the clock is never dragged into a far future.
 *
 * G1 holds across restarts only if the owner restores the clock: pass the
 * newest stamp in its store to gs_hlc_recv after gs_hlc_init.
 *
 * The clock is a plain value: no I/O, no locking. The caller passes the wall
 * time (gs_hlc_wall_ms() reads CLOCK_REALTIME) so tests can play any clock.
 * Not thread-safe: one writer owns one clock.
 *
 * SPEC: docs/clock.md.
 */
#ifndef GS_CRDT_HLC_H
#define GS_CRDT_HLC_H

#include "gridsync.h"

#include <stdint.h>

#define GS_HLC_MS_MAX ((UINT64_C(1) << 48) - 1)
#define GS_HLC_COUNTER_MAX UINT64_C(0xffff)

typedef struct gs_hlc {
    uint64_t last;         /* greatest stamp issued or received */
    uint64_t max_drift_ms; /* 0: accept any stamp in gs_hlc_recv */
} gs_hlc;

static inline uint64_t
gs_hlc_pack(uint64_t ms, uint64_t counter)
{
    return (ms << 16) | (counter & 0xffff);
}

static inline uint64_t
gs_hlc_ms(uint64_t stamp)
{
    return stamp >> 16;
}

static inline uint64_t
gs_hlc_counter(uint64_t stamp)
{
    return stamp & 0xffff;
}

/* A fresh clock that has seen nothing. */
void gs_hlc_init(gs_hlc *c, uint64_t max_drift_ms);

/* Issue a stamp for a local write at wall time wall_ms (G1, G3).
 * GS_ECLOCK only when the 48-bit ms range is exhausted; GS_EINVAL for NULL
 * arguments. On error the clock is unchanged. */
GS_MUST_CHECK gs_err gs_hlc_now(gs_hlc *c, uint64_t wall_ms, uint64_t *out);

/* Take a stamp seen on an applied op (G1, G4). GS_ECLOCK as G4 says;
 * GS_EINVAL for NULL c. On error the clock is unchanged. */
GS_MUST_CHECK gs_err gs_hlc_recv(gs_hlc *c, uint64_t remote, uint64_t wall_ms);

/* -1, 0, 1 as a < b, a == b, a > b. */
static inline int
gs_hlc_cmp(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

/* Wall clock in ms since the epoch (CLOCK_REALTIME). */
uint64_t gs_hlc_wall_ms(void);

#endif /* GS_CRDT_HLC_H */
