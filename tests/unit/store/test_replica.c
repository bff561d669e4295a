/*
 * test_replica.c — the public replica API around a device key sealed with
 * a passphrase (issue 5, must show 9), as a tablet app uses it: a sealed
 * replica opens locked, reads work, writes and the agent refuse with
 * GS_EBADPASS and a detail until gs_replica_unlock; a wrong passphrase
 * leaves everything as it was; gs_replica_passphrase_set seals a key kept
 * in clear or changes the passphrase; the embedded agent and
 * gs_sync_once_pass run on sealed keys (127.0.0.1 only). Also
 * gs_replica_import of stages within one file, applied line after line as
 * puts are: a reopen after a stage of the file, the stage after it in the
 * new round, a stage going back named by its line with nothing written.
 * Each test works in its own mkdtemp directory, removed afterwards.
 */
#include "gridsync.h"
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char pass[] = "station pass";
#define PASS pass, sizeof pass - 1

typedef struct tdir {
    char base[GS_TEST_DIR_BYTES]; /* first: gs_test_dir_new */
    char a[96], b[96];
    char key_a[65], key_b[65];
} tdir;

static int
setup(void **state)
{
    tdir *t = gs_test_dir_new(sizeof *t, "/tmp/gs-test-replica-XXXXXX");
    snprintf(t->a, sizeof t->a, "%s/a", t->base);
    snprintf(t->b, sizeof t->b, "%s/b", t->base);
    *state = t;
    return 0;
}

static void
digest_of(gs_replica *r, unsigned char d[32])
{
    assert_int_equal(gs_replica_digest(r, 0, d), GS_OK);
}

static int
count_one(const char *json, void *ctx)
{
    (void)json;
    ++*(int *)ctx;
    return 0;
}

/* Whether every op that touched the entity is by device key (hex). */
struct by_ctx {
    const char *key;
    int ops, theirs;
};

static int
by_one(const char *json, void *ctx)
{
    struct by_ctx *c = ctx;
    char want[100];
    snprintf(want, sizeof want, "\"author\":\"%s\"", c->key);
    c->ops++;
    c->theirs += strstr(json, want) != NULL;
    return 0;
}

static void
assert_written_by(gs_replica *r, const char *id, const char *key)
{
    struct by_ctx c = {key, 0, 0};
    assert_int_equal(gs_replica_history(r, "person", id, by_one, &c), GS_OK);
    assert_true(c.ops > 0);
    assert_int_equal(c.theirs, c.ops);
}

static void
test_replica_sealed_opens_locked_and_reads(void **state)
{
    tdir *t = *state;
    char path[160], why[512] = "";
    struct stat st;
    unsigned char d0[32], d1[32];
    int n = 0;

    gs_test_replica_init(t->a, NULL, "yc.t.g1", NULL, PASS, t->key_a);
    snprintf(path, sizeof path, "%s/device.key", t->a);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    size_t len = 0;
    char *img = gs_read_file(path, &len);
    assert_non_null(img);
    assert_true(!strncmp(img, "gridsync-key v1 sealed\n", 23));
    free(img);

    gs_replica *r = gs_test_replica_open(t->a);
    assert_true(gs_replica_locked(r));
    /* reads need no key */
    digest_of(r, d0);
    assert_int_equal(gs_replica_list(r, NULL, NULL, NULL, 0, count_one, &n),
                     GS_OK);
    assert_int_equal(n, 0);
    gs_bundle_result br;
    snprintf(path, sizeof path, "%s/x.bundle", t->base);
    assert_int_equal(gs_replica_bundle_export(r, path, NULL, NULL, NULL, &br),
                     GS_OK);

    /* writes refuse, say why, and write nothing */
    assert_int_equal(gs_replica_put(r, "person", "P-1", "{\"name\":\"A\"}"),
                     GS_EBADPASS);
    assert_non_null(strstr(gs_replica_detail(r), "sealed with a passphrase"));
    const char *assign[] = {"name=A"};
    assert_int_equal(gs_replica_put_assign(r, "person", "P-1", assign, 1),
                     GS_EBADPASS);
    snprintf(path, sizeof path, "%s/one.jsonl", t->base);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"type\":\"person\",\"id\":\"P-9\",\"fields\":{\"name\":\"I\"}}\n",
          f);
    fclose(f);
    gs_import_stats is;
    assert_int_not_equal(gs_replica_import(r, path, 0, NULL, NULL, &is), GS_OK);
    digest_of(r, d1);
    assert_memory_equal(d0, d1, 32);

    /* the embedded agent refuses a locked key (before any socket) */
    gs_agent *ag = NULL;
    assert_int_equal(gs_agent_start(r, NULL, &ag, why, sizeof why),
                     GS_EBADPASS);
    assert_null(ag);
    assert_non_null(strstr(why, "sealed with a passphrase"));

    /* no passphrase, an empty one, a wrong one: still locked, unchanged */
    assert_int_equal(gs_replica_unlock(r, NULL, 0), GS_EBADPASS);
    assert_int_equal(gs_replica_unlock(r, "", 0), GS_EBADPASS);
    assert_int_equal(gs_replica_unlock(r, "not-it-9", 8), GS_EBADPASS);
    assert_non_null(
        strstr(gs_replica_detail(r), "wrong passphrase for the device key"));
    assert_non_null(strstr(gs_replica_detail(r), t->a));
    assert_null(strstr(gs_replica_detail(r), "not-it-9")); /* never shown */
    assert_true(gs_replica_locked(r));
    digest_of(r, d1);
    assert_memory_equal(d0, d1, 32);

    /* the right one: writes work, signed by the key init printed */
    assert_int_equal(gs_replica_unlock(r, PASS), GS_OK);
    assert_false(gs_replica_locked(r));
    assert_int_equal(gs_replica_unlock(r, NULL, 0), GS_OK); /* no-op now */
    assert_int_equal(gs_replica_put(r, "person", "P-1", "{\"name\":\"A\"}"),
                     GS_OK);
    assert_int_equal(gs_replica_import(r, path, 0, NULL, NULL, &is), GS_OK);
    assert_written_by(r, "P-1", t->key_a);
    assert_written_by(r, "P-9", t->key_a);
    gs_replica_close(r);
}

static void
test_replica_init_refuses_empty_passphrase(void **state)
{
    tdir *t = *state;
    char why[512] = "", key[65];
    gs_replica_init_opts o = {NULL, "yc.t", NULL};
    assert_int_equal(
        gs_replica_init_pass(t->a, &o, "", 0, key, why, sizeof why), GS_EINVAL);
    assert_non_null(strstr(why, "empty"));
    assert_int_not_equal(access(t->a, F_OK), 0); /* nothing made */

    /* pass NULL is a key in clear, unlocked from the start */
    assert_int_equal(
        gs_replica_init_pass(t->a, &o, NULL, 0, key, why, sizeof why), GS_OK);
    gs_replica *r = gs_test_replica_open(t->a);
    assert_false(gs_replica_locked(r));
    assert_int_equal(gs_replica_unlock(r, NULL, 0), GS_OK);
    assert_int_equal(gs_replica_put(r, "person", "P-1", "{\"name\":\"A\"}"),
                     GS_OK);
    gs_replica_close(r);
}

static void
test_replica_passphrase_set_seals_and_changes(void **state)
{
    tdir *t = *state;
    char why[512] = "", path[160];
    gs_replica_init_opts o = {NULL, "yc.t", NULL};
    assert_int_equal(gs_replica_init(t->a, &o, t->key_a, why, sizeof why),
                     GS_OK);
    snprintf(path, sizeof path, "%s/device.key", t->a);

    gs_replica *r = gs_test_replica_open(t->a);
    assert_int_equal(gs_replica_passphrase_set(r, "", 0), GS_EINVAL);
    assert_int_equal(gs_replica_passphrase_set(r, PASS), GS_OK);
    /* this handle keeps its unlocked key and writes on */
    assert_false(gs_replica_locked(r));
    assert_int_equal(gs_replica_put(r, "person", "P-1", "{\"name\":\"A\"}"),
                     GS_OK);
    gs_replica_close(r);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    r = gs_test_replica_open(t->a);
    assert_true(gs_replica_locked(r));
    /* locked: cannot change what it cannot read */
    assert_int_equal(gs_replica_passphrase_set(r, "new", 3), GS_EBADPASS);
    assert_int_equal(gs_replica_unlock(r, PASS), GS_OK);
    assert_int_equal(gs_replica_passphrase_set(r, "new", 3), GS_OK);
    gs_replica_close(r);

    r = gs_test_replica_open(t->a);
    assert_int_equal(gs_replica_unlock(r, PASS), GS_EBADPASS);
    assert_int_equal(gs_replica_unlock(r, "new", 3), GS_OK);
    assert_int_equal(gs_replica_put(r, "person", "P-2", "{\"name\":\"B\"}"),
                     GS_OK);
    assert_written_by(r, "P-2", t->key_a); /* still the same device */
    gs_replica_close(r);
}

static void
test_replica_sealed_agent_and_sync(void **state)
{
    tdir *t = *state;
    static const char pass_b[] = "tablet pass";
    char why[512] = "", ep[64], peer[200];
    gs_sync_result res;
    gs_agent *ag = NULL;

    gs_test_replica_init(t->a, NULL, "yc.s1", NULL, PASS, t->key_a);
    gs_test_replica_init(t->b, t->key_a, "yc.s1.g1", NULL, pass_b,
                         sizeof pass_b - 1, t->key_b);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", gs_test_free_port());
    snprintf(peer, sizeof peer, "%s@%s", t->key_a, ep);

    /* the app opens, unlocks and starts the agent on its handle */
    gs_replica *ra = gs_test_replica_open(t->a);
    assert_int_equal(gs_replica_config_set(ra, "agent.endpoint", ep), GS_OK);
    assert_int_equal(gs_replica_config_set(ra, "agent.accept", t->key_b),
                     GS_OK);
    gs_replica_close(ra);
    ra = gs_test_replica_open(t->a);
    assert_int_equal(gs_replica_unlock(ra, PASS), GS_OK);
    gs_err rc = gs_agent_start(ra, NULL, &ag, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("agent: %s: %s", gs_errname(rc), why);

    /* gs_agent_run opens the directory itself: a sealed key is refused */
    volatile sig_atomic_t stop = 1;
    rc = gs_agent_run(t->b, NULL, &stop, why, sizeof why);
    assert_int_equal(rc, GS_EBADPASS);
    assert_non_null(strstr(why, "sealed with a passphrase"));

    /* the tablet syncs with its passphrase; without it or with a wrong
     * one it says so before it dials */
    rc = gs_sync_once(t->b, peer, 5000, &res, why, sizeof why);
    assert_int_equal(rc, GS_EBADPASS);
    assert_non_null(strstr(why, "sealed with a passphrase"));
    rc = gs_sync_once_pass(t->b, peer, PASS, 5000, &res, why, sizeof why);
    assert_int_equal(rc, GS_EBADPASS);
    assert_non_null(strstr(why, "wrong passphrase for the device key"));
    rc = gs_sync_once_pass(t->b, peer, pass_b, sizeof pass_b - 1, 10000, &res,
                           why, sizeof why);
    if (rc != GS_OK)
        fail_msg("sync: %s: %s", gs_errname(rc), why);
    /* CURVE: the station proved it holds key_a's secret */
    assert_string_equal(res.peer_device, t->key_a);
    gs_agent_stop(ag);
    gs_replica_close(ra);
}

/* ---- import: stages within one file ----
 * An import is applied as if its lines were put one after the other: a
 * line's stage sees the stages the lines before it set. */

/* One import line about ticket id; fields is JSON text. */
#define TICKET(id, fields)                                                     \
    "{\"type\":\"ticket\",\"id\":\"" id "\",\"fields\":" fields "}"

/* Write head, then filler households, then tail (NULL-ended) to path. */
static void
imp_write(const char *path, const char *const *head, size_t filler,
          const char *const *tail)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (; head && *head; head++)
        fprintf(f, "%s\n", *head);
    for (size_t i = 0; i < filler; i++)
        fprintf(f,
                "{\"type\":\"household\",\"id\":\"H-%zu\","
                "\"fields\":{\"address\":\"%zu\"}}\n",
                i, i);
    for (; tail && *tail; tail++)
        fprintf(f, "%s\n", *tail);
    assert_int_equal(fclose(f), 0);
}

/* The bad lines an import reported (progress reports left out). */
struct imp_bad {
    unsigned long line[8];
    size_t n;
    char why[512];
};

static void
imp_bad_one(unsigned long line, gs_err rc, const char *msg, void *ctx)
{
    struct imp_bad *b = ctx;
    (void)rc;
    if (line == 0)
        return;
    if (b->n < sizeof b->line / sizeof b->line[0])
        b->line[b->n] = line;
    b->n++;
    snprintf(b->why, sizeof b->why, "%s", msg);
}

/* Ticket id's stage shows as want, e.g. {"round":1,"stage":"accepted"}. */
static void
assert_stage(gs_replica *r, const char *id, const char *want)
{
    char *json = NULL, field[128];
    assert_int_equal(gs_replica_get(r, "ticket", id, 0, &json), GS_OK);
    snprintf(field, sizeof field, "\"stage\":%s", want);
    if (strstr(json, field) == NULL)
        fail_msg("ticket %s is %s; want %s", id, json, field);
    free(json);
}

static void
test_import_stage_within_file_reopen(void **state)
{
    tdir *t = *state;
    char path[128];
    gs_import_stats st;
    gs_test_replica_init(t->a, NULL, "yc.test.g1", NULL, NULL, 0, t->key_a);
    gs_replica *r = gs_test_replica_open(t->a);
    snprintf(path, sizeof path, "%s/reopen.jsonl", t->base);
    /* T-1 is made, resolved, reopened and moved on in one file; T-2 is
     * made and reopened with lines of T-1 between (the replica holds
     * neither before the file) */
    imp_write(path,
              (const char *const[]){
                  TICKET("T-1", "{\"title\":\"lamp\",\"stage\":\"reported\"}"),
                  TICKET("T-2", "{\"title\":\"bench\",\"stage\":\"accepted\"}"),
                  TICKET("T-1", "{\"stage\":\"resolved\"}"),
                  TICKET("T-1", "{\"stage\":\"reopen\"}"),
                  TICKET("T-2", "{\"stage\":\"reopen\"}"), NULL},
              0,
              (const char *const[]){TICKET("T-1", "{\"stage\":\"dispatched\"}"),
                                    NULL});
    if (gs_replica_import(r, path, 0, NULL, NULL, &st) != GS_OK)
        fail_msg("import: %s", gs_replica_detail(r));
    assert_int_equal(st.records, 6);
    assert_int_equal(st.ops, 6);
    /* the stage after the reopen lands in the reopened round */
    assert_stage(r, "T-1", "{\"round\":1,\"stage\":\"dispatched\"}");
    assert_stage(r, "T-2", "{\"round\":1,\"stage\":\"reported\"}");
    gs_replica_close(r);
}

/* Replica a, new and open, holding entity (type, id) put as json. */
static gs_replica *
replica_holding(tdir *t, const char *type, const char *id, const char *json)
{
    gs_test_replica_init(t->a, NULL, "yc.test.g1", NULL, NULL, 0, t->key_a);
    gs_replica *r = gs_test_replica_open(t->a);
    assert_int_equal(gs_replica_put(r, type, id, json), GS_OK);
    return r;
}

static void
test_import_stage_within_file_reopen_held(void **state)
{
    tdir *t = *state;
    char path[128];
    gs_import_stats st;
    gs_replica *r = replica_holding(t, "ticket", "T-1",
                                    "{\"title\":\"lamp\",\"stage\":"
                                    "\"resolved\"}");
    snprintf(path, sizeof path, "%s/held.jsonl", t->base);
    imp_write(path,
              (const char *const[]){TICKET("T-1", "{\"stage\":\"reopen\"}"),
                                    TICKET("T-1", "{\"stage\":\"accepted\"}"),
                                    NULL},
              0, NULL);
    if (gs_replica_import(r, path, 0, NULL, NULL, &st) != GS_OK)
        fail_msg("import: %s", gs_replica_detail(r));
    assert_int_equal(st.ops, 2);
    assert_stage(r, "T-1", "{\"round\":1,\"stage\":\"accepted\"}");
    gs_replica_close(r);
}

static void
test_import_stage_within_file_backwards(void **state)
{
    tdir *t = *state;
    char path[128];
    unsigned char d0[32], d1[32];
    gs_import_stats st;
    struct imp_bad bad = {{0}, 0, ""};
    gs_test_replica_init(t->a, NULL, "yc.test.g1", NULL, NULL, 0, t->key_a);
    gs_replica *r = gs_test_replica_open(t->a);
    digest_of(r, d0);
    snprintf(path, sizeof path, "%s/back.jsonl", t->base);
    /* more lines between than one write batch holds (1,000), so that a
     * refusal only when its batch is written would leave the first batch
     * written; a later round is no step back */
    imp_write(
        path,
        (const char *const[]){
            TICKET("T-1", "{\"title\":\"lamp\",\"stage\":\"dispatched\"}"),
            TICKET("T-2", "{\"title\":\"bench\",\"stage\":\"closed\"}"),
            TICKET("T-2", "{\"stage\":{\"round\":1,\"stage\":\"reported\"}}"),
            NULL},
        1200,
        (const char *const[]){TICKET("T-2", "{\"stage\":\"accepted\"}"),
                              TICKET("T-1", "{\"stage\":\"accepted\"}"), NULL});
    /* line 1205: T-1 going back from dispatched to accepted */
    assert_int_equal(gs_replica_import(r, path, 0, imp_bad_one, &bad, &st),
                     GS_ESCHEMA);
    if (strstr(gs_replica_detail(r), "line 1205: ") == NULL ||
        strstr(gs_replica_detail(r), "already at dispatched") == NULL)
        fail_msg("detail: %s", gs_replica_detail(r));
    assert_int_equal(st.bad_line, 1205);
    assert_int_equal(bad.n, 1);
    assert_int_equal(bad.line[0], 1205);
    digest_of(r, d1);
    assert_memory_equal(d0, d1, 32); /* nothing written */

    /* --skip-bad: every other line, the bad one named once */
    bad.n = 0;
    assert_int_equal(gs_replica_import(r, path, 1, imp_bad_one, &bad, &st),
                     GS_OK);
    assert_int_equal(bad.n, 1);
    assert_int_equal(bad.line[0], 1205);
    assert_int_equal(st.records, 1204);
    assert_int_equal(st.skipped, 1);
    assert_stage(r, "T-1", "{\"round\":0,\"stage\":\"dispatched\"}");
    assert_stage(r, "T-2", "{\"round\":1,\"stage\":\"accepted\"}");
    gs_replica_close(r);
}

/* A new replica of a's network (a's authority) takes a's bundle whole:
 * it hashes every op again and checks every run's signature, so an op
 * stored with a hash or prev other than its own would be refused; both
 * then hold the same state. */
static void
assert_bundle_whole(tdir *t, gs_replica *ra, int round)
{
    char path[160], dir[160], key[65];
    unsigned char da[32], db[32];
    gs_bundle_result out, in;
    snprintf(path, sizeof path, "%s/chain%d.bundle", t->base, round);
    snprintf(dir, sizeof dir, "%s/b%d", t->base, round);
    assert_int_equal(gs_replica_bundle_export(ra, path, NULL, NULL, NULL, &out),
                     GS_OK);
    gs_test_replica_init(dir, t->key_a, "yc.test.g2", NULL, NULL, 0, key);
    gs_replica *rb = gs_test_replica_open(dir);
    if (gs_replica_bundle_import(rb, path, NULL, NULL, &in) != GS_OK)
        fail_msg("bundle import: %s", gs_replica_detail(rb));
    assert_int_equal(in.rejected, 0);
    assert_int_equal(in.runs_refused, 0);
    assert_int_equal(in.applied, out.ops);
    digest_of(ra, da);
    digest_of(rb, db);
    assert_memory_equal(da, db, 32);
    gs_replica_close(rb);
}

/* Write n people P-<from + i> to path, but P-<i - again> from line again
 * on (0-based), household H-held at line k, and a line the schema
 * refuses every 97th if bad. */
static void
people_write(const char *path, size_t from, size_t n, size_t k, size_t again,
             bool bad)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        if (i >= again)
            from = 0 - again; /* (unsigned) from + i is i - again */
        if (i == k)
            fprintf(f, "{\"type\":\"household\",\"id\":\"H-held\","
                       "\"fields\":{\"address\":\"line %zu\"}}\n",
                    i);
        else if (bad && i % 97 == 5)
            fprintf(f, "{\"type\":\"person\",\"id\":\"P-%zu\","
                       "\"fields\":{\"birth_year\":\"old\"}}\n",
                    from + i);
        else
            fprintf(f,
                    "{\"type\":\"person\",\"id\":\"P-%zu\",\"fields\":"
                    "{\"name\":\"%zu\",\"tags\":[\"elderly-alone\"]}}\n",
                    from + i, i);
    }
    assert_int_equal(fclose(f), 0);
}

/* A one-pass import takes the ops its parsers made and hashed ahead
 * (store/replica.c "the chain ahead") while its lines are about new
 * entities, and makes its own from the first that is not: an entity
 * held before the file, one an earlier line of the file wrote, lines
 * skipped as bad. Every import leaves a feed another replica takes
 * whole, and the ops it counts. */
static void
test_import_chain_ahead(void **state)
{
    tdir *t = *state;
    char path[128];
    gs_import_stats st;
    gs_replica *r =
        replica_holding(t, "household", "H-held", "{\"address\":\"before\"}");
    snprintf(path, sizeof path, "%s/people.jsonl", t->base);
    /* new people only, over several chunks of lines */
    people_write(path, 0, 1500, SIZE_MAX, SIZE_MAX, false);
    if (gs_replica_import(r, path, 0, NULL, NULL, &st) != GS_OK)
        fail_msg("import: %s", gs_replica_detail(r));
    assert_int_equal(st.ops, 1500);
    assert_bundle_whole(t, r, 0);
    /* the held household at line 700: the writer's own op from there */
    people_write(path, 1500, 1500, 700, SIZE_MAX, false);
    if (gs_replica_import(r, path, 0, NULL, NULL, &st) != GS_OK)
        fail_msg("import: %s", gs_replica_detail(r));
    assert_int_equal(st.ops, 1500);
    assert_bundle_whole(t, r, 1);
    /* new people, then those of the first file again from line 1000 on
     * (held; each line changes the name), bad lines skipped throughout */
    people_write(path, 3000, 1500, SIZE_MAX, 1000, true);
    if (gs_replica_import(r, path, 1, NULL, NULL, &st) != GS_OK)
        fail_msg("import: %s", gs_replica_detail(r));
    assert_int_equal(st.skipped, 16);
    assert_int_equal(st.ops, 1500 - 16);
    assert_bundle_whole(t, r, 2);
    gs_replica_close(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_replica_sealed_opens_locked_and_reads, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_replica_init_refuses_empty_passphrase, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_replica_passphrase_set_seals_and_changes, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_replica_sealed_agent_and_sync,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_import_stage_within_file_reopen,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_import_stage_within_file_reopen_held, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_import_chain_ahead, setup,
                                        gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_import_stage_within_file_backwards,
                                        setup, gs_test_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
