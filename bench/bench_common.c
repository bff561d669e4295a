/*
 * bench_common.c — the clock, the record generator, the raw verify floor
 * and temporary-directory removal shared by the benchmarks
 * (bench_common.h).
 *
 * The records keep the generator bench_store.c started with: one linear
 * congruential state stepped once per record from 12345, so `scripts/bench
 * store` imports the same bytes as before the generator moved here; a
 * slice that starts later steps the state over the records before it.
 */
#include "bench_common.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
