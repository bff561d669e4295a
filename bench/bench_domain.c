/*
 * bench_domain.c — `scripts/bench domain`: a generated district on a
 * district node, then one community to a new station and one grid to a
 * new tablet, each a real agent session on loopback (issue 6, must-show 5).
 *
 * Seeding. seeds/gen_district.py writes the district at --scale S (default
 * 1: the articles' district, ~850 grids, ~120,000 households) with --days
 * D of history for every grid (default 30), and once more, with --only,
 * the replicated community's grids with --community-days C (default 365,
 * never fewer than D): the same grids, people and seeds, a longer history.
 * A year for the whole district (~6.5 million ops) costs minutes of
 * generation and import on a small machine, which the two cases measured
 * here do not need: they move one community and one grid, which get their
 * full year either way. `--days 365` seeds the whole district for a year.
 * The district node (a replica in the network of an authority made here,
 * enrolled to write and read "yc") imports org.jsonl under "yc" and each
 * grid's file under the grid's scope (gs_replica_scope_use, then
 * gs_replica_import: one op per line).
 *
 * Cases. The community is the district's first community (not a village);
 * the grid, its grid with the most households. The authority enrolls a
 * station (writes and reads the community) and a tablet (writes and reads
 * the grid), and its certificates reach every replica as a bundle (the
 * USB stick of scripts/demo). Then, each a session between two processes
 * (bench_common.h: the district's agent serving on 127.0.0.1, the new
 * replica dialing with gs_sync_once):
 *   station  new and empty: receives every op of the community
 *   tablet   new and empty: receives every op of its grid
 * The new replica must receive exactly the ops the district holds there.
 *
 * Figures: seconds of the gs_sync_once call (open, connect, session); ops
 * moved; session message bytes both ways (ZMTP, CURVE and TCP framing not
 * counted); each process's peak RSS (VmHWM; each side a fresh process,
 * fork and exec, as a station in the field is), and the receiving
 * process's resident set split into anonymous memory (its heap, stacks,
 * buffers) and file-backed pages (its data.mdb as LMDB maps it, the
 * libraries) when it was largest (bench_common.h). Seeding: generation
 * seconds, import seconds and ops/s, the district's data.mdb on disk.
 * Floors, same run: libsodium Ed25519 verify of an 82-byte message, one
 * core (best of 5 x 4,000, before the sessions and after); raw LMDB puts
 * of values the size of an average record in one transaction and a
 * durable one-put commit (bench_common.h). Targets (issue 6): the grid
 * reaches the tablet in under 10 s; the station's peak RSS under 64 MiB.
 */
#include "bench_common.h"
#include "gridsync.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bench_domain(int argc, char **argv);

#define WHO "gs-bench domain"
#define GEN "seeds/gen_district.py"
#define GEN_LIMIT_S 3600.0
#define TABLET_MAX_S 10.0
#define RSS_MAX_MIB 64.0
#define DIR_BYTES 4200  /* the temporary directory and a name */
#define PATH_BYTES 4400 /* and a file in it */

struct grid {
    char scope[64];
    char file[PATH_BYTES]; /* the file imported */
    unsigned long ops, households, persons;
    bool focus; /* in the replicated community */
};

/* What every step knows: forked children get a copy. */
static struct {
    const char *base;
    double scale;
    int days, cdays;
    char gen_dir[DIR_BYTES], year_dir[DIR_BYTES];
    char auth[DIR_BYTES], district[DIR_BYTES], station[DIR_BYTES],
        tablet[DIR_BYTES];
    char org[PATH_BYTES];
    unsigned long org_ops;
    struct grid *grids;
    size_t n_grids, tablet_grid;
    char community[64];
    unsigned long community_ops, community_households, community_grids;
    unsigned long households, persons, units;
} dx;

static unsigned long
json_ulong(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0
               ? (unsigned long)json_integer_value(v)
               : 0;
}

/* The generator's manifest: its grids, as (scope, file under dir, lines,
 * households, persons), through fn. */
static void
manifest_each(const char *dir, void (*fn)(const struct grid *g))
{
    char path[PATH_BYTES];
    json_error_t err;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_t *m = json_load_file(path, 0, &err);
    json_t *grids = json_object_get(m, "grids"), *g;
    size_t i;
    if (!json_is_array(grids))
        gs_bench_die("manifest", m ? "no grids" : err.text);
    json_array_foreach(grids, i, g)
    {
        struct grid x;
        const char *scope = json_string_value(json_object_get(g, "scope"));
        const char *file = json_string_value(json_object_get(g, "file"));
        json_t *ent = json_object_get(g, "entities");
        memset(&x, 0, sizeof x);
        if (!scope || !file || strlen(scope) >= sizeof x.scope)
            gs_bench_die("manifest", "a grid without scope or file");
        snprintf(x.scope, sizeof x.scope, "%s", scope);
        snprintf(x.file, sizeof x.file, "%s/%s", dir, file);
        x.ops = json_ulong(g, "lines");
        x.households = json_ulong(ent, "household");
        x.persons = json_ulong(ent, "person");
        fn(&x);
    }
    json_decref(m);
}

static void
grid_add(const struct grid *g)
{
    struct grid *p = realloc(dx.grids, (dx.n_grids + 1) * sizeof *p);
    if (!p)
        gs_bench_die("manifest", "out of memory");
    dx.grids = p;
    dx.grids[dx.n_grids++] = *g;
}

/* A grid of the community with its longer history: takes the place of
 * the district's file for it. */
static void
grid_year(const struct grid *g)
{
    for (size_t i = 0; i < dx.n_grids; i++)
        if (!strcmp(dx.grids[i].scope, g->scope)) {
            dx.grids[i] = *g;
            dx.grids[i].focus = true;
            return;
        }
    gs_bench_die("manifest", "the community's grids differ from the "
                             "district's");
}

/* "yc.s01.c01.g001" -> "yc.s01.c01" in out (the grid's community). */
static void
unit_of(const char *scope, char *out, size_t n)
{
    const char *dot = strrchr(scope, '.');
    size_t len = dot ? (size_t)(dot - scope) : strlen(scope);
    snprintf(out, n, "%.*s", (int)len, scope);
}

static void
generate(const char *out, int days, const char *only, const char *log)
{
    char scale[32], d[16];
    snprintf(scale, sizeof scale, "%g", dx.scale);
    snprintf(d, sizeof d, "%d", days);
    char *argv[] = {"python3",    GEN,         "--scale",
                    scale,        "--days",    d,
                    "--out",      (char *)out, only ? "--only" : NULL,
                    (char *)only, NULL};
    gs_bench_run(argv, GEN_LIMIT_S, log);
}

/* data.mdb's bytes on disk. */
static unsigned long long
disk_bytes(const char *dir)
{
    char path[PATH_BYTES];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    return stat(path, &sb) == 0 ? (unsigned long long)sb.st_blocks * 512 : 0;
}

/* ---- the heavy steps, each in a child of its own ---- */

struct enroll_io {
    char district[65], station[65], tablet[65];
};

static void
enroll(gs_replica *au, const char *dev, const char *name, const char *role,
       const char *scope)
{
    char why[512];
    const char *scopes[1] = {scope};
    gs_cert_opts o = {name, role, scopes, 1, scopes, 1, 0, 0};
    if (gs_authority_enroll(au, dev, &o, why, sizeof why) != GS_OK)
        gs_bench_die("enroll", why);
}

/* The authority, the district node, the station and the tablet, enrolled;
 * the certificates to every replica as a bundle. */
static void
enroll_step(void *p)
{
    struct enroll_io *io = p;
    char auth_hex[65], bundle[PATH_BYTES];
    const struct grid *g = &dx.grids[dx.tablet_grid];
    gs_bench_replica_make(dx.auth, NULL, "trust", "authority", auth_hex);
    gs_bench_replica_make(dx.district, auth_hex, "yc", "district",
                          io->district);
    gs_bench_replica_make(dx.station, auth_hex, dx.community, "station",
                          io->station);
    gs_bench_replica_make(dx.tablet, auth_hex, g->scope, "tablet", io->tablet);
    gs_replica *au = gs_bench_replica_open(dx.auth);
    enroll(au, io->district, "district", "district", "yc");
    enroll(au, io->station, "station", "station", dx.community);
    enroll(au, io->tablet, "tablet", "tablet", g->scope);
    gs_bundle_result br;
    snprintf(bundle, sizeof bundle, "%s/certificates.bundle", dx.base);
    if (gs_replica_bundle_export(au, bundle, "authority", NULL, NULL, &br) !=
        GS_OK)
        gs_bench_die("certificates", gs_replica_detail(au));
    gs_replica_close(au);
    const char *dirs[3] = {dx.district, dx.station, dx.tablet};
    for (int i = 0; i < 3; i++) {
        gs_replica *r = gs_bench_replica_open(dirs[i]);
        if (gs_replica_bundle_import(r, bundle, NULL, NULL, &br) != GS_OK)
            gs_bench_die("certificates", gs_replica_detail(r));
        if (br.rejected || br.runs_refused)
            gs_bench_die("certificates", "a replica refused them");
        gs_replica_close(r);
    }
}

struct import_io {
    double secs;
    unsigned long long ops, disk;
};

static void
import_step(void *p)
{
    struct import_io *io = p;
    gs_replica *r = gs_bench_replica_open(dx.district);
    double t = gs_bench_now();
    gs_bench_replica_import(r, dx.org, dx.org_ops);
    io->ops = dx.org_ops;
    for (size_t i = 0; i < dx.n_grids; i++) {
        const struct grid *g = &dx.grids[i];
        if (gs_replica_scope_use(r, g->scope) != GS_OK)
            gs_bench_die("scope", gs_replica_detail(r));
        gs_bench_replica_import(r, g->file, g->ops);
        io->ops += g->ops;
        if ((i + 1) % 100 == 0 || i + 1 == dx.n_grids)
            gs_bench_progress("  %zu/%zu grids, %llu ops, %.0f s", i + 1,
                              dx.n_grids, io->ops, gs_bench_now() - t);
    }
    io->secs = gs_bench_now() - t;
    gs_replica_close(r);
    io->disk = disk_bytes(dx.district);
}

/* ---- output ---- */

static const char *
met(bool b)
{
    return b ? "met" : "MISSED";
}

static void
json_case(const char *name, const struct gs_bench_session *s,
          unsigned long grids, unsigned long households, unsigned long ops,
          unsigned long long disk)
{
    printf("\"%s\":{\"scope\":\"%s\",\"grids\":%lu,\"households\":%lu,"
           "\"ops\":%lu,\"seconds\":%.4f,\"ops_moved\":%llu,"
           "\"ops_per_s\":%.0f,\"wire_bytes\":%llu,\"round_trips\":%llu,"
           "\"rss_receiving_mib\":%.1f,\"rss_receiving_anon_mib\":%.1f,"
           "\"rss_receiving_file_mib\":%.1f,"
           "\"rss_receiving_data_mdb_mib\":%.1f,"
           "\"rss_receiving_shmem_mib\":%.1f,"
           "\"rss_receiving_anon_max_mib\":%.1f,"
           "\"rss_serving_agent_mib\":%.1f,\"disk_bytes\":%llu},",
           name, grids == 1 ? dx.grids[dx.tablet_grid].scope : dx.community,
           grids, households, ops, s->wall, gs_bench_moved(s),
           (double)gs_bench_moved(s) / s->wall, gs_bench_wire(s),
           s->res.round_trips, s->rss_dial, s->dial_split.anon,
           s->dial_split.file, s->dial_split.db, s->dial_split.shmem,
           s->dial_anon_max, s->rss_serve, disk);
}

int
bench_domain(int argc, char **argv)
{
    bool json = false;
    dx.scale = 1;
    dx.days = 30;
    dx.cdays = 365;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
            dx.scale = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            dx.days = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--community-days") && i + 1 < argc)
            dx.cdays = atoi(argv[++i]);
        else {
            fprintf(stderr, "%s: unknown argument '%s'\n", WHO, argv[i]);
            return 2;
        }
    }
    if (!(dx.scale > 0 && dx.scale <= 100) || dx.days < 1 || dx.days > 3660 ||
        dx.cdays < 1 || dx.cdays > 3660) {
        fprintf(stderr,
                "%s: --scale must be above 0 and at most 100, "
                "--days and --community-days 1..3660\n",
                WHO);
        return 2;
    }
    if (dx.cdays < dx.days)
        dx.cdays = dx.days;
    if (access(GEN, R_OK) != 0) {
        fprintf(stderr,
                "%s: %s not found: run from the source tree "
                "(scripts/bench does)\n",
                WHO, GEN);
        return 2;
    }
    if (sodium_init() < 0)
        gs_bench_die("sodium", "init failed");
    double t_start = gs_bench_now();
    dx.base = gs_bench_begin(WHO, "domain");
    snprintf(dx.gen_dir, sizeof dx.gen_dir, "%s/seed", dx.base);
    snprintf(dx.year_dir, sizeof dx.year_dir, "%s/seed-community", dx.base);
    snprintf(dx.auth, sizeof dx.auth, "%s/authority", dx.base);
    snprintf(dx.district, sizeof dx.district, "%s/district", dx.base);
    snprintf(dx.station, sizeof dx.station, "%s/station", dx.base);
    snprintf(dx.tablet, sizeof dx.tablet, "%s/tablet", dx.base);
    snprintf(dx.org, sizeof dx.org, "%s/org.jsonl", dx.gen_dir);

    /* seeding: the district, then the community with its longer history */
    char log[DIR_BYTES];
    snprintf(log, sizeof log, "%s/gen.log", dx.base);
    gs_bench_progress("generating the district: scale %g, %d days...", dx.scale,
                      dx.days);
    double t = gs_bench_now();
    generate(dx.gen_dir, dx.days, NULL, log);
    double gen_s = gs_bench_now() - t, gen_year_s = 0;
    manifest_each(dx.gen_dir, grid_add);
    {
        json_error_t err;
        char path[PATH_BYTES];
        snprintf(path, sizeof path, "%s/manifest.json", dx.gen_dir);
        json_t *m = json_load_file(path, 0, &err);
        dx.org_ops = json_ulong(json_object_get(m, "org"), "lines");
        json_decref(m);
    }
    if (!dx.n_grids || !dx.org_ops)
        gs_bench_die("manifest", "no grids or no org units");
    /* the first community (third label c..), else the first unit */
    size_t first = 0;
    for (size_t i = 0; i < dx.n_grids; i++) {
        const char *l3 = strchr(strchr(dx.grids[i].scope, '.') + 1, '.');
        if (l3 && l3[1] == 'c') {
            first = i;
            break;
        }
    }
    unit_of(dx.grids[first].scope, dx.community, sizeof dx.community);
    if (dx.cdays > dx.days) {
        gs_bench_progress("generating %s again with %d days...", dx.community,
                          dx.cdays);
        t = gs_bench_now();
        generate(dx.year_dir, dx.cdays, dx.community, log);
        gen_year_s = gs_bench_now() - t;
        manifest_each(dx.year_dir, grid_year);
    }
    char prev[64] = "";
    unsigned long long json_bytes = 0, lines = dx.org_ops;
    for (size_t i = 0; i < dx.n_grids; i++) {
        struct grid *g = &dx.grids[i];
        char unit[64];
        struct stat sb;
        unit_of(g->scope, unit, sizeof unit);
        g->focus = !strcmp(unit, dx.community);
        if (strcmp(unit, prev) != 0)
            dx.units++;
        snprintf(prev, sizeof prev, "%s", unit);
        dx.households += g->households;
        dx.persons += g->persons;
        lines += g->ops;
        if (stat(g->file, &sb) == 0)
            json_bytes += (unsigned long long)sb.st_size;
        if (!g->focus)
            continue;
        dx.community_grids++;
        dx.community_ops += g->ops;
        dx.community_households += g->households;
        if (g->households > dx.grids[dx.tablet_grid].households ||
            !dx.grids[dx.tablet_grid].focus)
            dx.tablet_grid = i;
    }
    const struct grid *tg = &dx.grids[dx.tablet_grid];

    gs_bench_progress("enrolling a district node, a station (%s) and a "
                      "tablet (%s)...",
                      dx.community, tg->scope);
    struct enroll_io keys;
    gs_bench_in_child("enroll", enroll_step, &keys, sizeof keys);

    gs_bench_progress("the district node imports %llu records (%zu grid "
                      "files and org.jsonl)...",
                      lines, dx.n_grids);
    struct import_io imp;
    gs_bench_in_child("import", import_step, &imp, sizeof imp);
    if (imp.ops != lines)
        gs_bench_die("import", "ops written differ from the records");
    double import_rate = (double)imp.ops / imp.secs;

    gs_bench_progress("floors: raw Ed25519 verify, raw LMDB...");
    double raw_verify = gs_bench_raw_verify_best();
    char lmdb_dir[DIR_BYTES];
    snprintf(lmdb_dir, sizeof lmdb_dir, "%s/raw-lmdb", dx.base);
    if (mkdir(lmdb_dir, 0755) != 0)
        gs_bench_die("raw lmdb", strerror(errno));
    size_t vlen = (size_t)(json_bytes / (lines - dx.org_ops));
    double commit_ms;
    double raw_lmdb =
        gs_bench_raw_lmdb_rate(lmdb_dir, 200000, vlen, &commit_ms);
    gs_bench_rmrf(lmdb_dir, WHO);

    struct gs_bench_session st, tb;
    gs_bench_progress("station: a new replica of %s receives %lu ops...",
                      dx.community, dx.community_ops);
    gs_bench_session_run(dx.district, dx.station, keys.district, "station",
                         &st);
    gs_bench_moved_check("station", &st, dx.community_ops, 0);
    gs_bench_progress("tablet: a new replica of %s receives %lu ops...",
                      tg->scope, tg->ops);
    gs_bench_session_run(dx.district, dx.tablet, keys.district, "tablet", &tb);
    gs_bench_moved_check("tablet", &tb, tg->ops, 0);
    double again = gs_bench_raw_verify_best();
    if (again > raw_verify)
        raw_verify = again;
    unsigned long long st_disk = disk_bytes(dx.station);
    unsigned long long tb_disk = disk_bytes(dx.tablet);

    bool m_time = tb.wall < TABLET_MAX_S, m_rss = st.rss_dial < RSS_MAX_MIB;
    double total_s = gs_bench_now() - t_start;
    if (json) {
        printf("{\"bench\":\"domain\",\"scale\":%g,\"days\":%d,"
               "\"community_days\":%d,\"grids\":%zu,\"units\":%lu,"
               "\"households\":%lu,\"persons\":%lu,\"ops\":%llu,"
               "\"json_bytes\":%llu,\"generate_seconds\":%.1f,"
               "\"generate_community_seconds\":%.1f,"
               "\"import_seconds\":%.1f,\"import_ops_per_s\":%.0f,"
               "\"district_disk_bytes\":%llu,\"raw_verify_per_s\":%.0f,"
               "\"raw_lmdb_put_per_s\":%.0f,\"raw_lmdb_value_bytes\":%zu,"
               "\"raw_lmdb_commit_ms\":%.3f,",
               dx.scale, dx.days, dx.cdays, dx.n_grids, dx.units, dx.households,
               dx.persons, imp.ops, json_bytes, gen_s, gen_year_s, imp.secs,
               import_rate, imp.disk, raw_verify, raw_lmdb, vlen, commit_ms);
        json_case("station", &st, dx.community_grids, dx.community_households,
                  dx.community_ops, st_disk);
        json_case("tablet", &tb, 1, tg->households, tg->ops, tb_disk);
        printf("\"total_seconds\":%.1f,"
               "\"targets\":{\"tablet_seconds\":%.0f,"
               "\"station_rss_mib\":%.0f},"
               "\"met\":{\"tablet_seconds\":%s,\"station_rss\":%s}}\n",
               total_s, TABLET_MAX_S, RSS_MAX_MIB, gs_bench_tf(m_time),
               gs_bench_tf(m_rss));
        gs_bench_end();
        return 0;
    }
    printf("gridsync domain benchmark: a generated district on a district "
           "node; a community\nto a new station and a grid to a new tablet, "
           "each a session between the\ndistrict's agent and the new "
           "replica, two processes on 127.0.0.1\n\n");
    printf("seeded (seeds/gen_district.py --scale %g, seed 1, history ending "
           "2024-12-31):\n",
           dx.scale);
    printf("  %zu grids in %lu communities/villages, %lu households, %lu "
           "residents\n",
           dx.n_grids, dx.units, dx.households, dx.persons);
    if (dx.cdays > dx.days)
        printf("  history: %d days for every grid, except the %lu grids of "
               "%s: %d days\n",
               dx.days, dx.community_grids, dx.community, dx.cdays);
    else
        printf("  history: %d days for every grid\n", dx.days);
    printf("  %llu records (%.0f MB of JSON Lines) -> %llu ops on the "
           "district node\n",
           lines, (double)json_bytes / 1e6, imp.ops);
    printf("  generation %.1f s", gen_s);
    if (dx.cdays > dx.days)
        printf(" + %.1f s (the community's %d days)", gen_year_s, dx.cdays);
    printf("; import %.1f s, %.0f ops/s; data.mdb %.0f MiB\n\n", imp.secs,
           import_rate, (double)imp.disk / 1048576.0);

    printf("%-34s %16s %16s\n", "", "station", "tablet");
    printf("%-34s %16s %16s\n", "replicates", dx.community, tg->scope);
    printf("%-34s %16lu %16d\n", "  grids", dx.community_grids, 1);
    printf("%-34s %16lu %16lu\n", "  households", dx.community_households,
           tg->households);
    printf("%-34s %16lu %16lu\n", "  ops the district holds there",
           dx.community_ops, tg->ops);
    printf("%-34s %16.3f %16.3f\n", "seconds", st.wall, tb.wall);
    printf("%-34s %16llu %16llu\n", "ops moved", gs_bench_moved(&st),
           gs_bench_moved(&tb));
    printf("%-34s %16.0f %16.0f\n", "  ops/s", (double)st.res.ops_in / st.wall,
           (double)tb.res.ops_in / tb.wall);
    printf("%-34s %16llu %16llu\n", "bytes on the wire", gs_bench_wire(&st),
           gs_bench_wire(&tb));
    printf("%-34s %16.1f %16.1f\n", "  per op",
           (double)gs_bench_wire(&st) / (double)st.res.ops_in,
           (double)gs_bench_wire(&tb) / (double)tb.res.ops_in);
    printf("%-34s %16llu %16llu\n", "round trips", st.res.round_trips,
           tb.res.round_trips);
    printf("%-34s %16.1f %16.1f\n", "peak RSS, receiving (MiB)", st.rss_dial,
           tb.rss_dial);
    printf("%-34s %16.1f %16.1f\n", "  anonymous (heap, stacks, buffers)",
           st.dial_split.anon, tb.dial_split.anon);
    printf("%-34s %16.1f %16.1f\n", "  file-backed (data.mdb, libraries)",
           st.dial_split.file, tb.dial_split.file);
    printf("%-34s %16.1f %16.1f\n", "    of which its data.mdb",
           st.dial_split.db, tb.dial_split.db);
    printf("%-34s %16.1f %16.1f\n", "  shared memory", st.dial_split.shmem,
           tb.dial_split.shmem);
    printf("%-34s %16.1f %16.1f\n", "  anonymous at its largest (MiB)",
           st.dial_anon_max, tb.dial_anon_max);
    printf("%-34s %16.1f %16.1f\n", "peak RSS, district's agent (MiB)",
           st.rss_serve, tb.rss_serve);
    printf("%-34s %16.1f %16.1f\n", "data.mdb after (MiB)",
           (double)st_disk / 1048576.0, (double)tb_disk / 1048576.0);

    printf("\n%-34s %12s %12s %8s\n", "", "ours", "target", "");
    printf("%-34s %12.3f %12s %8s\n", "tablet: its grid arrives (s)", tb.wall,
           "<10", met(m_time));
    printf("%-34s %12.1f %12s %8s\n", "station: peak RSS (MiB)", st.rss_dial,
           "<64", met(m_rss));
    printf("the target names a grid of ~300 households with a year of "
           "history; this grid has %lu\nhouseholds and %d days (the "
           "generator's grids average 141 households).\n",
           tg->households, dx.cdays);

    printf("\nfloors, same run, one core:\n");
    printf("  raw Ed25519 verify      %10.0f /s (82-byte message; best of 5 "
           "x 4,000, before and after)\n",
           raw_verify);
    printf("  raw LMDB put            %10.0f /s (%zu-byte values, one "
           "transaction; import: %.3f of it)\n",
           raw_lmdb, vlen, import_rate / raw_lmdb);
    printf("  raw LMDB durable commit %10.3f ms (one put, median of 50)\n",
           commit_ms);
    printf("wire: session messages both ways; ZMTP, CURVE and TCP framing "
           "not counted.\n"
           "RSS: each side a fresh process (fork, exec); peak = VmHWM; the "
           "split is\n/proc/PID/status of the receiving process when its "
           "VmRSS was the largest\nsampled (every 10 ms).\n"
           "total %.1f s\n",
           total_s);
    gs_bench_end();
    return 0;
}
