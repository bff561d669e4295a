/*
 * bench_common.h — what several `scripts/bench` programs share: the clock,
 * the generated records (households and persons of one grid, as the store
 * and sync benchmarks import them), the floors (raw Ed25519 verify, raw
 * LMDB puts and commits), the removal of a benchmark's temporary directory,
 * and sessions between two real agents on loopback (the sync and domain
 * benchmarks): replicas through the public API, heavy steps in forked
 * children, and a serving agent and a dialing sync, each its own process.
 *
 * Everything here is deterministic except the clock and the floors: the
 * same arguments write the same records byte for byte. No child outlives
 * the benchmark: gs_bench_die and the signals gs_bench_begin catches kill
 * the agent and the syncing child first.
 */
#ifndef GS_BENCH_COMMON_H
#define GS_BENCH_COMMON_H

#include "gridsync.h"

#include <stdbool.h>
#include <stddef.h>

/* CLOCK_MONOTONIC in seconds. */
double gs_bench_now(void);

/* qsort comparison of doubles, ascending (for medians). */
int gs_bench_cmp_double(const void *a, const void *b);

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

/* The best of 5 x 4,000 raw verifications, so that a neighbour's burst of
 * work does not lower the floor (the figures held against it get no such
 * help). */
double gs_bench_raw_verify_best(void);

/* Raw LMDB in dir (an empty directory): n puts of vlen-byte values in one
 * transaction, per second, keys in the order our ops use; *commit_ms gets
 * the median of 50 durable one-put transactions (the fsync under every
 * put). Exits with a message if LMDB fails. */
double gs_bench_raw_lmdb_rate(const char *dir, size_t n, size_t vlen,
                              double *commit_ms);

/* rm -rf dir, unless GS_BENCH_KEEP is set (to inspect the replicas
 * afterwards): then say that it was kept. who prefixes the messages. */
void gs_bench_rmrf(const char *dir, const char *who);

/* ---- benchmarks with agents ---- */

/* Name messages after who ("gs-bench sync"), make the temporary directory
 * $TMPDIR/gs-bench-NAME-XXXXXX and kill the children on SIGINT, SIGTERM
 * and SIGHUP. Returns the directory (static storage, until the process
 * ends). Call once, before any other gs_bench_ call below. */
const char *gs_bench_begin(const char *who, const char *name);

/* Remove the temporary directory (gs_bench_rmrf). */
void gs_bench_end(void);

/* Say what failed and why, kill the children, show the serving agent's
 * log, remove the temporary directory, exit 1. In a gs_bench_in_child
 * step it only exits: the parent cleans up. */
_Noreturn void gs_bench_die(const char *what, const char *why);

/* One line of progress on stderr, after who. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
void
gs_bench_progress(const char *fmt, ...);

/* gs_replica_init of dir in the network net_hex (NULL: its own), writing
 * under scope; dev gets the device key. Dies on failure. */
void gs_bench_replica_make(const char *dir, const char *net_hex,
                           const char *scope, const char *name, char dev[65]);
/* gs_replica_open, or die. */
gs_replica *gs_bench_replica_open(const char *dir);
/* gs_replica_import of path; dies unless exactly ops ops were written. */
void gs_bench_replica_import(gs_replica *r, const char *path,
                             unsigned long ops);
/* agent.accept = peer_hex. */
void gs_bench_replica_accept(gs_replica *r, const char *peer_hex);

/* Run fn(io) in a forked child and take back *io (n bytes) as the child
 * left it. Imports and reading ops back grow a heap that is not given back
 * to the system: the benchmark's own process stays small, and so does
 * the floor each child's wait4 ru_maxrss keeps from before its exec.
 * Dies if the child fails. */
void gs_bench_in_child(const char *what, void (*fn)(void *io), void *io,
                       size_t n);

/* Run argv (execvp) with its stdout and stderr in the file log (NULL:
 * ours) and wait for it, at most limit_s seconds: then SIGKILL, and die.
 * Dies, showing the log, unless it exits 0. */
void gs_bench_run(char *const argv[], double limit_s, const char *log);

/* A resident set split as /proc/PID/status splits it, MiB. */
struct gs_bench_rss {
    double anon;  /* RssAnon: heap, stacks, buffers: the process's own */
    double file;  /* RssFile: mapped files (a replica's data.mdb, the
                     libraries), clean pages the kernel may take back */
    double shmem; /* RssShmem */
    double db;    /* of file: the replica's own data.mdb (smaps) */
};

/* One sync session between two processes, each a fresh image of this
 * program (fork and exec): their peak RSS counts nothing of this one. */
struct gs_bench_session {
    gs_sync_result res;
    double wall;      /* s: the gs_sync_once call (open, connect, session) */
    double rss_serve; /* MiB: the serving agent's peak RSS (VmHWM) */
    double rss_dial;  /* MiB: the dialing process's peak RSS (VmHWM) */
    struct gs_bench_rss dial_split; /* the dialing process's, when its
                                       VmRSS was the largest sampled */
    double dial_anon_max;           /* MiB: its largest RssAnon sampled */
};

/* The agent of adir (key akey) serves on a free 127.0.0.1 port
 * (gs_agent_run in a child; SIGTERM after the session, SIGKILL if it has
 * not stopped within 10 s); bdir dials it in another child (gs_sync_once,
 * 20 minutes at most), whose /proc/PID/status is read every 10 ms (and
 * smaps, for its data.mdb, each time its VmRSS grew by a MiB). tag
 * names the session in messages and the agent's log file. Dies if either
 * side fails. */
void gs_bench_session_run(const char *adir, const char *bdir, const char *akey,
                          const char *tag, struct gs_bench_session *out);

/* The children of gs_bench_session_run start here: call it first thing in
 * main(). Returns -1 unless argv is a child's (argv[1] "--session-..."),
 * else the child's exit status. */
int gs_bench_child_main(int argc, char **argv);

/* Session message bytes both ways; ops moved both ways. */
unsigned long long gs_bench_wire(const struct gs_bench_session *s);
unsigned long long gs_bench_moved(const struct gs_bench_session *s);

/* "true" or "false", for --json. */
const char *gs_bench_tf(bool b);

/* The session moved in ops in and out ops out, or die saying what it did
 * move. */
void gs_bench_moved_check(const char *tag, const struct gs_bench_session *s,
                          unsigned long long in, unsigned long long out);

#endif /* GS_BENCH_COMMON_H */
