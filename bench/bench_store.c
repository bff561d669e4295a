/*
 * bench_store.c — `scripts/bench store`: the replica's write path beside
 * the machine's floor measured in the same run.
 *
 *   import        gs_replica_import of N generated records (JSON Lines),
 *                 one op each, one signature per feed per batch of 1,000
 *   floor         raw LMDB: N puts of op-sized values in one transaction
 *   put latency   gs_replica_put, each op signed and committed durably
 *   floor         raw Ed25519 sign; raw LMDB commit of one put (the fsync)
 *   disk          bytes allocated to data.mdb per op, beside the records'
 *                 JSON size per record
 * Targets (issue 3): import >= 25% of the raw LMDB put rate; put latency
 * dominated by the commit, not our code; disk per op <= 1.5x JSON per
 * record; peak RSS under 64 MiB.
 */
#include "bench_common.h"
#include "gridsync.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int bench_store(int argc, char **argv);

static _Noreturn void
die(const char *what, const char *why)
{
    fprintf(stderr, "gs-bench store: %s: %s\n", what, why);
    exit(1);
}

int
bench_store(int argc, char **argv)
{
    int json = 0;
    size_t n = 100000, puts_n = 200;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "gs-bench store: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (n < 1000 || n > 10000000) {
        fprintf(stderr, "gs-bench store: --ops must be 1000..10000000\n");
        return 2;
    }
    if (sodium_init() < 0)
        die("sodium", "init failed");
    char base[] = "/tmp/gs-bench-store-XXXXXX";
    if (!mkdtemp(base))
        die("temp", "mkdtemp failed");
    char rdir[256], ldir[256], recs[256], why[512], device[65];
    snprintf(rdir, sizeof rdir, "%s/replica", base);
    snprintf(ldir, sizeof ldir, "%s/raw", base);
    snprintf(recs, sizeof recs, "%s/records.jsonl", base);
    if (mkdir(ldir, 0755) != 0)
        die("temp", "mkdir failed");

    if (!json)
        fprintf(stderr, "generating %zu records...\n", n);
    size_t json_bytes = gs_bench_records_write(recs, 0, n);

    gs_replica_init_opts o = {NULL, "yc.yimei.nanjun.xinxin.g012", "bench"};
    gs_replica *r;
    if (gs_replica_init(rdir, &o, device, why, sizeof why) != GS_OK ||
        gs_replica_open(rdir, &r, why, sizeof why) != GS_OK)
        die("replica", why);

    if (!json)
        fprintf(stderr, "importing...\n");
    gs_import_stats st;
    double t = gs_bench_now();
    if (gs_replica_import(r, recs, 0, NULL, NULL, &st) != GS_OK)
        die("import", gs_replica_detail(r));
    double import_s = gs_bench_now() - t;
    double import_rate = (double)st.ops / import_s;

    struct stat sb;
    char path[300];
    snprintf(path, sizeof path, "%s/data.mdb", rdir);
    if (stat(path, &sb) != 0)
        die("stat", "data.mdb");
    double disk_per_op = (double)sb.st_blocks * 512.0 / (double)st.ops;
    double json_per_rec = (double)json_bytes / (double)n;

    if (!json)
        fprintf(stderr, "timing %zu durable puts...\n", puts_n);
    double *lat = calloc(puts_n, sizeof *lat);
    char id[32];
    for (size_t i = 0; i < puts_n; i++) {
        snprintf(id, sizeof id, "H-9%06zu", i);
        double s = gs_bench_now();
        if (gs_replica_put(r, "household", id,
                           "{\"address\":\"新新社区9栋1单元101室\","
                           "\"head\":\"王秀英\"}") != GS_OK)
            die("put", gs_replica_detail(r));
        lat[i] = (gs_bench_now() - s) * 1e3;
    }
    qsort(lat, puts_n, sizeof *lat, gs_bench_cmp_double);
    double p50 = lat[puts_n / 2], p99 = lat[puts_n * 99 / 100];
    gs_replica_close(r);

    /* floors, same run */
    uint8_t pk[32], sk[64], msg[82], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof msg);
    double sign_samples[200];
    for (int i = 0; i < 200; i++) {
        double s = gs_bench_now();
        crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
        sign_samples[i] = (gs_bench_now() - s) * 1e3;
    }
    qsort(sign_samples, 200, sizeof sign_samples[0], gs_bench_cmp_double);
    double sign_ms = sign_samples[100];
    double commit_ms;
    double op_bytes = (double)json_bytes / (double)n; /* a value of op size */
    double raw_rate =
        gs_bench_raw_lmdb_rate(ldir, n, (size_t)op_bytes, &commit_ms);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024.0;
    double ratio = import_rate / raw_rate,
           disk_ratio = disk_per_op / json_per_rec;
    bool m_import = ratio >= 0.25, m_disk = disk_ratio <= 1.5,
         m_rss = rss < 64.0, m_lat = p50 <= 2.0 * commit_ms + sign_ms;

    if (json) {
        printf("{\"bench\":\"store\",\"records\":%zu,\"ops\":%lu,"
               "\"import_ops_per_s\":%.0f,\"raw_lmdb_puts_per_s\":%.0f,"
               "\"import_vs_raw\":%.3f,\"put_ms_p50\":%.3f,"
               "\"put_ms_p99\":%.3f,\"raw_sign_ms\":%.4f,"
               "\"raw_commit_ms\":%.3f,\"disk_bytes_per_op\":%.1f,"
               "\"json_bytes_per_record\":%.1f,\"disk_vs_json\":%.2f,"
               "\"peak_rss_mib\":%.1f,\"targets\":{\"import_vs_raw\":0.25,"
               "\"disk_vs_json\":1.5,\"peak_rss_mib\":64},"
               "\"met\":{\"import\":%s,\"put_latency\":%s,\"disk\":%s,"
               "\"rss\":%s}}\n",
               n, st.ops, import_rate, raw_rate, ratio, p50, p99, sign_ms,
               commit_ms, disk_per_op, json_per_rec, disk_ratio, rss,
               m_import ? "true" : "false", m_lat ? "true" : "false",
               m_disk ? "true" : "false", m_rss ? "true" : "false");
    } else {
        printf("gridsync store benchmark: %zu records, %lu ops\n\n", n, st.ops);
        printf("%-30s %12s %14s %8s %8s\n", "", "ours", "floor", "ratio",
               "target");
        printf("%-30s %12.0f %14.0f %8.3f %8s %s\n", "import (ops/s)",
               import_rate, raw_rate, ratio, ">=0.25",
               m_import ? "met" : "MISSED");
        printf("%-30s %12.3f %14.3f %8s %8s %s\n", "put, durable, p50 (ms)",
               p50, commit_ms + sign_ms, "-", "~floor",
               m_lat ? "met" : "MISSED");
        printf("%-30s %12.3f %14s\n", "put, durable, p99 (ms)", p99, "-");
        printf("%-30s %12.1f %14.1f %8.2f %8s %s\n",
               "disk bytes/op vs JSON/record", disk_per_op, json_per_rec,
               disk_ratio, "<=1.5", m_disk ? "met" : "MISSED");
        printf("%-30s %12.1f %14s %8s %8s %s\n", "peak RSS (MiB)", rss, "-",
               "-", "<64", m_rss ? "met" : "MISSED");
        printf("\nfloors, same run: raw LMDB %zu puts in one transaction; "
               "one synced\nLMDB commit (%.3f ms) + one Ed25519 sign "
               "(%.4f ms)\n",
               n, commit_ms, sign_ms);
    }
    free(lat);
    gs_bench_rmrf(base, "gs-bench store");
    return 0;
}
