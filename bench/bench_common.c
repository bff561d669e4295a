/*
 * bench_common.c — the clock, the record generator, the floors,
 * temporary-directory removal and agent sessions on loopback shared by the
 * benchmarks (bench_common.h).
 *
 * The records keep the generator bench_store.c started with: one linear
 * congruential state stepped once per record from 12345, so `scripts/bench
 * store` imports the same bytes as before the generator moved here; a
 * slice that starts later steps the state over the records before it.
 *
 * Sessions: at most two children run at once, the serving agent and the
 * dialing sync (kids[]); every way out of the benchmark kills both. Each
 * is a fresh image of this program (fork, then exec of /proc/self/exe
 * with a hidden first argument, gs_bench_child_main): a child that was
 * only forked counts in its peak RSS (wait4's ru_maxrss) every page it
 * shared with this process at the fork, which a station in the field, a
 * fresh gridsync process, does not have. While the dialing child runs,
 * its /proc/PID/status is sampled every SAMPLE_MS for the split of its
 * resident set (anonymous, file-backed, shared memory).
 */
#define _DEFAULT_SOURCE /* wait4: each child's own rusage */

#include "bench_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYNC_TIMEOUT_MS (20 * 60 * 1000)
#define AGENT_READY_S 20.0
#define AGENT_STOP_S 10.0
#define SAMPLE_MS 10                  /* the dialing child's /proc/PID/status */
#define CHILD_AGENT "--session-agent" /* argv[1] of a re-executed child */
#define CHILD_SYNC "--session-sync"

double
gs_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *surnames[] = {"王", "李", "张", "刘", "陈", "杨", "赵",
                                 "黄", "周", "吴", "徐", "孙", "胡", "朱"};
static const char *given[] = {"秀英", "桂英", "建国", "志强", "丽", "伟",
                              "芳",   "敏",   "静",   "军",   "洋", "勇"};

size_t
gs_bench_records_write(const char *path, size_t first, size_t n)
{
    FILE *f = fopen(path, "w");
    size_t bytes = 0;
    unsigned s = 12345;
    if (!f) {
        fprintf(stderr, "gs-bench: cannot write the records file %s\n", path);
        exit(1);
    }
    for (size_t i = 0; i < first; i++)
        s = s * 1103515245u + 12345u;
    for (size_t i = first; i < first + n; i++) {
        s = s * 1103515245u + 12345u;
        const char *sn = surnames[(s >> 8) % 14], *gn = given[(s >> 16) % 12];
        int len;
        if (i % 2 == 0)
            len = fprintf(f,
                          "{\"type\":\"household\",\"id\":\"H-%07zu\","
                          "\"fields\":{\"address\":\"新新社区%zu栋%u单元%u室\","
                          "\"head\":\"%s%s\",\"phone\":\"139%08u\","
                          "\"grid\":\"g012\"}}\n",
                          i, i / 120 + 1, (s >> 4) % 6 + 1, (s >> 9) % 30 + 101,
                          sn, gn, s % 100000000u);
        else
            len = fprintf(f,
                          "{\"type\":\"person\",\"id\":\"P-%07zu\","
                          "\"fields\":{\"name\":\"%s%s\",\"birth_year\":%u,"
                          "\"household\":\"H-%07zu\",\"tags\":[\"%s\"]}}\n",
                          i, sn, gn, 1930 + (s >> 5) % 80, i - 1,
                          (s & 1) ? "elderly-alone" : "low-income");
        if (len < 0) {
            fprintf(stderr, "gs-bench: writing %s failed\n", path);
            exit(1);
        }
        bytes += (size_t)len - 1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "gs-bench: writing %s failed\n", path);
        exit(1);
    }
    return bytes;
}

double
gs_bench_raw_verify_rate(size_t n)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t msg[82], sig[crypto_sign_BYTES];
    int bad = 0;
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    double t = gs_bench_now();
    for (size_t i = 0; i < n; i++)
        bad |= crypto_sign_verify_detached(sig, msg, sizeof msg, pk);
    double rate = (double)n / (gs_bench_now() - t);
    sodium_memzero(sk, sizeof sk);
    if (bad) {
        fprintf(stderr, "gs-bench: raw Ed25519 verification failed\n");
        exit(1);
    }
    return rate;
}

void
gs_bench_rmrf(const char *dir, const char *who)
{
    char cmd[4200];
    if (getenv("GS_BENCH_KEEP")) { /* to inspect the replicas afterwards */
        fprintf(stderr, "%s: kept %s\n", who, dir);
        return;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "%s: could not remove %s\n", who, dir);
}

double
gs_bench_raw_verify_best(void)
{
    double best = 0;
    for (int i = 0; i < 5; i++) {
        double r = gs_bench_raw_verify_rate(4000);
        if (r > best)
            best = r;
    }
    return best;
}

int
gs_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
gs_bench_raw_lmdb_rate(const char *dir, size_t n, size_t vlen,
                       double *commit_ms)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t key[16], *val = calloc(1, vlen);
    if (!val || mdb_env_create(&env) || mdb_env_set_mapsize(env, 1ull << 32) ||
        mdb_env_open(env, dir, 0, 0644))
        gs_bench_die("raw lmdb", "cannot open");
    randombytes_buf(val, vlen);
    double t = gs_bench_now();
    if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi))
        gs_bench_die("raw lmdb", "txn");
    for (size_t i = 0; i < n; i++) {
        /* keys in the order our ops use: feed number, then seq */
        memset(key, 0, 8);
        for (int b = 0; b < 8; b++)
            key[8 + b] = (uint8_t)(i >> (56 - 8 * b));
        MDB_val k = {16, key}, v = {vlen, val};
        if (mdb_put(txn, dbi, &k, &v, 0))
            gs_bench_die("raw lmdb", "put");
    }
    if (mdb_txn_commit(txn))
        gs_bench_die("raw lmdb", "commit");
    double rate = (double)n / (gs_bench_now() - t);
    /* the floor under one durable put: one small transaction, synced */
    double samples[50];
    for (int i = 0; i < 50; i++) {
        double s = gs_bench_now();
        memset(key, 0xff, 16);
        key[15] = (uint8_t)i;
        MDB_val k = {16, key}, v = {vlen, val};
        if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_put(txn, dbi, &k, &v, 0) ||
            mdb_txn_commit(txn))
            gs_bench_die("raw lmdb", "single commit");
        samples[i] = (gs_bench_now() - s) * 1e3;
    }
    qsort(samples, 50, sizeof samples[0], gs_bench_cmp_double);
    *commit_ms = samples[25];
    mdb_env_close(env);
    free(val);
    return rate;
}

/* ---- dying cleanly: no child outlives us ---- */

static const char *who = "gs-bench";
static char base[4096];      /* the temporary directory */
static char agent_log[4200]; /* of the agent (or command) running now */
static const char *log_label = "agent";   /* whose log that is */
static volatile pid_t kids[2] = {-1, -1}; /* the agent, the syncing child */
static bool in_step; /* in a step's child: dying leaves the cleanup */

static void
kids_kill(void)
{
    for (int i = 0; i < 2; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            (void)waitpid(kids[i], NULL, 0);
            kids[i] = -1;
        }
}

_Noreturn void
gs_bench_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", who, what, why);
    if (in_step)
        exit(1); /* the parent cleans up */
    kids_kill();
    if (agent_log[0]) { /* the agent's side of the story */
        char line[600];
        FILE *f = fopen(agent_log, "r");
        while (f && fgets(line, sizeof line, f))
            fprintf(stderr, "  %s: %s", log_label, line);
        if (f)
            fclose(f);
    }
    if (base[0])
        gs_bench_rmrf(base, who);
    exit(1);
}

static void
on_parent_signal(int sig)
{
    for (int i = 0; i < 2; i++) /* kill(2) is async-signal-safe */
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
    _exit(128 + sig);
}

const char *
gs_bench_begin(const char *name_who, const char *name)
{
    struct sigaction sa;
    who = name_who;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_parent_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/gs-bench-%s-XXXXXX",
             tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(base)) {
        base[0] = 0;
        gs_bench_die("temp", strerror(errno));
    }
    return base;
}

void
gs_bench_end(void)
{
    gs_bench_rmrf(base, who);
}

void
gs_bench_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", who);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- replicas through the public API ---- */

void
gs_bench_replica_make(const char *dir, const char *net_hex, const char *scope,
                      const char *name, char dev[65])
{
    char why[512];
    gs_replica_init_opts o = {net_hex, scope, name};
    if (gs_replica_init(dir, &o, dev, why, sizeof why) != GS_OK)
        gs_bench_die("init", why);
}

gs_replica *
gs_bench_replica_open(const char *dir)
{
    gs_replica *r;
    char why[512];
    if (gs_replica_open(dir, &r, why, sizeof why) != GS_OK)
        gs_bench_die("open", why);
    return r;
}

void
gs_bench_replica_import(gs_replica *r, const char *path, unsigned long ops)
{
    gs_import_stats st;
    if (gs_replica_import(r, path, 0, NULL, NULL, &st) != GS_OK)
        gs_bench_die("import", gs_replica_detail(r));
    if (st.ops != ops)
        gs_bench_die("import", "fewer ops written than records given");
}

void
gs_bench_replica_accept(gs_replica *r, const char *peer_hex)
{
    if (gs_replica_config_set(r, "agent.accept", peer_hex) != GS_OK)
        gs_bench_die("config agent.accept", gs_replica_detail(r));
}

void
gs_bench_in_child(const char *what, void (*fn)(void *io), void *io, size_t n)
{
    int fd[2], st;
    size_t got = 0;
    if (pipe(fd) != 0)
        gs_bench_die(what, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        in_step = true;
        close(fd[0]);
        fn(io);
        for (size_t put = 0; put < n;) {
            ssize_t w = write(fd[1], (const char *)io + put, n - put);
            if (w <= 0 && errno != EINTR)
                _exit(1);
            put += w > 0 ? (size_t)w : 0;
        }
        _exit(0);
    }
    close(fd[1]);
    if (pid < 0)
        gs_bench_die("fork", strerror(errno));
    while (got < n) {
        ssize_t r = read(fd[0], (char *)io + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (got != n || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        gs_bench_die(what, "failed (see above)");
}

void
gs_bench_run(char *const argv[], double limit_s, const char *log)
{
    char why[300];
    int st;
    if (log) {
        snprintf(agent_log, sizeof agent_log, "%s", log);
        log_label = argv[0];
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "%s: %s: %s\n", who, argv[0], strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        gs_bench_die("fork", strerror(errno));
    kids[1] = pid; /* no session runs meanwhile: its slot is free */
    double end = gs_bench_now() + limit_s;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            gs_bench_die(argv[0], strerror(errno));
        if (gs_bench_now() > end) {
            snprintf(why, sizeof why, "still running after %.0f s: killed",
                     limit_s);
            gs_bench_die(argv[0], why); /* kills kids[1] */
        }
        sleep_ms(20);
    }
    kids[1] = -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        gs_bench_die(argv[0], "failed");
    agent_log[0] = 0;
    log_label = "agent";
}

/* ---- the two processes of a session ---- */

static volatile sig_atomic_t agent_stop_flag;

static void
on_agent_term(int sig)
{
    (void)sig;
    agent_stop_flag = 1;
}

static void
agent_log_line(const char *line, void *ctx)
{
    fprintf(ctx, "%s\n", line);
    fflush(ctx);
}

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) != 0)
        gs_bench_die("port", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* This program again, as a fresh process: argv[1] names the child's part
 * (gs_bench_child_main). Only returns in the parent. */
static void
reexec(char *const argv[])
{
    execv("/proc/self/exe", argv);
    fprintf(stderr, "%s: exec /proc/self/exe: %s\n", who, strerror(errno));
    _exit(127);
}

static pid_t
agent_spawn(const char *dir, const char *endpoint)
{
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    /* SIGTERM stays blocked until the child's handler is in place: the
     * mask survives exec, and agent_main unblocks it */
    sigprocmask(SIG_BLOCK, &term, &old);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"gs-bench",       CHILD_AGENT, (char *)dir,
                        (char *)endpoint, agent_log,   NULL};
        reexec(argv);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        gs_bench_die("fork", strerror(errno));
    return pid;
}

/* The serving agent's process: gs_agent_run until SIGTERM or SIGINT. */
static int
agent_main(const char *dir, const char *endpoint, const char *log_path)
{
    struct sigaction sa;
    sigset_t term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_agent_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &term, NULL);
    FILE *log = fopen(log_path, "w");
    gs_agent_opts o = {endpoint, log ? agent_log_line : NULL, log};
    char why[512];
    gs_err rc = gs_agent_run(dir, &o, &agent_stop_flag, why, sizeof why);
    if (rc != GS_OK)
        fprintf(stderr, "%s: agent: %s\n", who, why);
    return rc == GS_OK ? 0 : 1;
}

/* The agent writes its status file once it listens. */
static void
agent_wait_ready(const char *status)
{
    double end = gs_bench_now() + AGENT_READY_S;
    struct stat sb;
    while (stat(status, &sb) != 0) {
        int st;
        if (waitpid(kids[0], &st, WNOHANG) == kids[0]) {
            kids[0] = -1;
            gs_bench_die("agent", "it exited at start");
        }
        if (gs_bench_now() > end)
            gs_bench_die("agent", "not listening after 20 s");
        sleep_ms(5);
    }
}

/* From pid's /proc/PID/status ("self" for 0), in MiB: *hwm its peak
 * resident set (VmHWM: of this image, since its exec), *rss the resident
 * set now (VmRSS) and m its split. False if the process is gone or the
 * kernel does not say. */
static bool
mem_read(pid_t pid, double *hwm, double *rss, struct gs_bench_rss *m)
{
    char path[64], line[256];
    int got = 0;
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        unsigned long kb;
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
            *hwm = (double)kb / 1024.0, got++;
        else if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            *rss = (double)kb / 1024.0, got++;
        else if (sscanf(line, "RssAnon: %lu kB", &kb) == 1)
            m->anon = (double)kb / 1024.0, got++;
        else if (sscanf(line, "RssFile: %lu kB", &kb) == 1)
            m->file = (double)kb / 1024.0, got++;
        else if (sscanf(line, "RssShmem: %lu kB", &kb) == 1)
            m->shmem = (double)kb / 1024.0, got++;
    }
    fclose(f);
    return got == 5;
}

/* Resident MiB of pid's mappings of the file path (/proc/PID/smaps). */
static double
file_mapped(pid_t pid, const char *path)
{
    char smaps[64], line[4400];
    bool in = false;
    unsigned long kb, sum = 0;
    snprintf(smaps, sizeof smaps, "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(smaps, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) == 2 &&
            at > 0) { /* a mapping's first line: its path last */
            line[strcspn(line, "\n")] = 0;
            in = !strcmp(line + at, path);
        } else if (in && sscanf(line, "Rss: %lu kB", &kb) == 1)
            sum += kb;
    }
    fclose(f);
    return (double)sum / 1024.0;
}

/* Whether pid runs this program's part `part` yet: until its exec the
 * forked child holds this process's pages, which are not its own. */
static bool
execed(pid_t pid, const char *part)
{
    char path[64], arg[256];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(arg, 1, sizeof arg - 1, f);
    fclose(f);
    arg[n] = 0;
    size_t first = strlen(arg); /* argv[0], then argv[1] */
    return first + 1 < n && !strcmp(arg + first + 1, part);
}

/* SIGTERM, then wait up to AGENT_STOP_S; its peak RSS in MiB (VmHWM, read
 * until it exits). */
static double
agent_stop(void)
{
    struct rusage ru;
    int st;
    pid_t pid = kids[0];
    double end = gs_bench_now() + AGENT_STOP_S, peak = 0;
    struct gs_bench_rss split;
    double hwm, rss;
    /* its own peak, since its exec (see rss_dial); read until it is gone */
    if (mem_read(pid, &hwm, &rss, &split))
        peak = hwm;
    kill(pid, SIGTERM);
    for (;;) {
        if (mem_read(pid, &hwm, &rss, &split) && hwm > peak)
            peak = hwm;
        pid_t w = wait4(pid, &st, WNOHANG, &ru);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            gs_bench_die("agent", strerror(errno));
        if (gs_bench_now() > end)
            gs_bench_die("agent", "still running 10 s after SIGTERM");
        sleep_ms(10);
    }
    kids[0] = -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        gs_bench_die("agent", "it failed or was killed");
    return peak > 0 ? peak : (double)ru.ru_maxrss / 1024.0;
}

struct sync_msg { /* the syncing child's answer, through a pipe */
    gs_err rc;
    gs_sync_result res;
    double wall;
    double hwm; /* MiB: VmHWM as the session ends, 0 if unknown */
    char why[512];
};

static pid_t
sync_spawn(const char *dir, const char *peer, int fd[2])
{
    char wfd[16];
    snprintf(wfd, sizeof wfd, "%d", fd[1]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"gs-bench",   CHILD_SYNC, (char *)dir,
                        (char *)peer, wfd,        NULL};
        close(fd[0]);
        reexec(argv);
    }
    if (pid < 0)
        gs_bench_die("fork", strerror(errno));
    return pid;
}

/* The dialing process: gs_sync_once, its answer to the pipe fd. */
static int
sync_main(const char *dir, const char *peer, int fd)
{
    struct sync_msg m;
    memset(&m, 0, sizeof m);
    double t = gs_bench_now();
    m.rc =
        gs_sync_once(dir, peer, SYNC_TIMEOUT_MS, &m.res, m.why, sizeof m.why);
    m.wall = gs_bench_now() - t;
    struct gs_bench_rss split;
    double rss;
    if (!mem_read(0, &m.hwm, &rss, &split))
        m.hwm = 0; /* then the parent takes wait4's figure */
    ssize_t w = write(fd, &m, sizeof m); /* < PIPE_BUF: one piece */
    return w == (ssize_t)sizeof m ? 0 : 1;
}

int
gs_bench_child_main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], CHILD_AGENT))
        return agent_main(argv[2], argv[3], argv[4]);
    if (argc == 5 && !strcmp(argv[1], CHILD_SYNC)) {
        char *end;
        long fd = strtol(argv[4], &end, 10);
        if (*end || fd < 0 || fd > 1000000)
            return 2;
        return sync_main(argv[2], argv[3], (int)fd);
    }
    return -1;
}

void
gs_bench_session_run(const char *adir, const char *bdir, const char *akey,
                     const char *tag, struct gs_bench_session *out)
{
    char endpoint[64], peer[160], status[4300];
    int fd[2];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", free_port());
    snprintf(peer, sizeof peer, "%s@%s", akey, endpoint);
    snprintf(status, sizeof status, "%s/agent.status", adir);
    snprintf(agent_log, sizeof agent_log, "%s/agent-%s.log", base, tag);
    (void)unlink(status);
    kids[0] = agent_spawn(adir, endpoint);
    agent_wait_ready(status);

    if (pipe(fd) != 0)
        gs_bench_die("pipe", strerror(errno));
    kids[1] = sync_spawn(bdir, peer, fd);
    close(fd[1]);
    struct sync_msg m;
    size_t got = 0;
    struct pollfd pf = {fd[0], POLLIN, 0};
    double end = gs_bench_now() + SYNC_TIMEOUT_MS / 1e3 + 30;
    double top = 0, db_at = -1; /* the largest VmRSS; at the last smaps */
    char db[PATH_MAX + 16], real[PATH_MAX];
    snprintf(db, sizeof db, "%s/data.mdb", realpath(bdir, real) ? real : bdir);
    memset(&out->dial_split, 0, sizeof out->dial_split);
    out->dial_anon_max = 0;
    bool own = false; /* the child has exec'd: its pages are its own */
    while (got < sizeof m) {
        struct gs_bench_rss now;
        double rss, hwm;
        if (!own)
            own = execed(kids[1], CHILD_SYNC);
        if (own && mem_read(kids[1], &hwm, &rss, &now)) {
            if (rss > top) {
                top = rss;
                /* smaps walks the page tables: read it per MiB grown */
                if (rss >= db_at + 1.0) {
                    now.db = file_mapped(kids[1], db);
                    db_at = rss;
                } else
                    now.db = out->dial_split.db;
                out->dial_split = now;
            }
            if (now.anon > out->dial_anon_max)
                out->dial_anon_max = now.anon;
        }
        int left = (int)((end - gs_bench_now()) * 1e3);
        if (left <= 0)
            gs_bench_die(tag, "the syncing child did not answer in time");
        int k = poll(&pf, 1, left < SAMPLE_MS ? left : SAMPLE_MS);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            gs_bench_die(tag, strerror(errno));
        if (k == 0)
            continue;
        ssize_t n = read(fd[0], (char *)&m + got, sizeof m - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            gs_bench_die(tag, "the syncing child died without an answer");
        got += (size_t)n;
    }
    close(fd[0]);
    struct rusage ru;
    int st;
    if (wait4(kids[1], &st, 0, &ru) != kids[1])
        gs_bench_die(tag, strerror(errno));
    kids[1] = -1;
    if (m.rc != GS_OK)
        gs_bench_die(tag, m.why[0] ? m.why : gs_strerror(m.rc));
    /* wait4's ru_maxrss is never below what the child had before its
     * exec (Linux keeps that peak): the child's own VmHWM is the figure */
    out->rss_dial = m.hwm > 0 ? m.hwm : (double)ru.ru_maxrss / 1024.0;
    out->rss_serve = agent_stop();
    out->res = m.res;
    out->wall = m.wall;
    agent_log[0] = 0;
}

void
gs_bench_moved_check(const char *tag, const struct gs_bench_session *s,
                     unsigned long long in, unsigned long long out)
{
    char why[200];
    if (s->res.ops_in == in && s->res.ops_out == out)
        return;
    snprintf(why, sizeof why,
             "expected %llu ops in and %llu out; got %llu in (%llu known, "
             "%llu refused) and %llu out",
             in, out, s->res.ops_in, s->res.ops_known, s->res.rejected,
             s->res.ops_out);
    gs_bench_die(tag, why);
}

unsigned long long
gs_bench_wire(const struct gs_bench_session *s)
{
    return s->res.bytes_in + s->res.bytes_out;
}

unsigned long long
gs_bench_moved(const struct gs_bench_session *s)
{
    return s->res.ops_in + s->res.ops_out;
}

const char *
gs_bench_tf(bool b)
{
    return b ? "true" : "false";
}
