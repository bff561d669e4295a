/*
 * bench_common.h — what several `scripts/bench` programs share: the clock,
 * the generated records (households and persons of one grid, as the store
 * and sync benchmarks import them), the raw Ed25519 verify floor and the
 * removal of a benchmark's temporary directory.
 *
 * Everything here is deterministic except the clock and the floor: the
 * same arguments write the same records byte for byte.
 */
#ifndef GS_BENCH_COMMON_H
#define GS_BENCH_COMMON_H

#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double gs_bench_now(void);

/* Write records first..first+n-1 of the benchmark's record sequence to
 * path as JSON Lines: even indexes are households "H-%07zu", odd ones
 * persons "P-%07zu" of the household before them, with realistic field
 * sizes. A record's bytes depend only on its index, so slices written to
 * several files are the same records as one file of them all. Returns the
 * JSON bytes written, newlines not counted; exits the process with a
 * message if the file cannot be written. */
size_t gs_bench_records_write(const char *path, size_t first, size_t n);

/* Raw libsodium Ed25519 verifications of one 82-byte message (the size of
 * what an op's signature covers) per second, n of them, one core. */
double gs_bench_raw_verify_rate(size_t n);

/* rm -rf dir, unless GS_BENCH_KEEP is set (to inspect the replicas
 * afterwards): then say that it was kept. who prefixes the messages. */
void gs_bench_rmrf(const char *dir, const char *who);

#endif /* GS_BENCH_COMMON_H */
