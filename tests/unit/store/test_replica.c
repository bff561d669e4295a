/*
 * test_replica.c — the public replica API around a device key sealed with
 * a passphrase (issue 5, must show 9), as a tablet app uses it: a sealed
 * replica opens locked, reads work, writes and the agent refuse with
 * GS_EBADPASS and a detail until gs_replica_unlock; a wrong passphrase
 * leaves everything as it was; gs_replica_passphrase_set seals a key kept
 * in clear or changes the passphrase; the embedded agent and
 * gs_sync_once_pass run on sealed keys (127.0.0.1 only). Each test works
 * in its own mkdtemp directory, removed afterwards.
 */
#include "gridsync.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char pass[] = "station pass";
#define PASS pass, sizeof pass - 1

typedef struct tdir {
    char base[64], a[96], b[96];
    char key_a[65], key_b[65];
} tdir;

static int
setup(void **state)
{
    tdir *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    strcpy(t->base, "/tmp/gs-test-replica-XXXXXX");
    if (!mkdtemp(t->base))
        return -1;
    snprintf(t->a, sizeof t->a, "%s/a", t->base);
    snprintf(t->b, sizeof t->b, "%s/b", t->base);
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    tdir *t = *state;
    gs_test_rmtree(t->base);
    free(t);
    return 0;
}

static void
init_sealed(const char *dir, const char *authority, const char *scope,
            const char *p, size_t n, char key[65])
{
    char why[512] = "";
    gs_replica_init_opts o = {authority, scope, NULL};
    gs_err rc = gs_replica_init_pass(dir, &o, p, n, key, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("init %s: %s: %s", dir, gs_errname(rc), why);
}

static gs_replica *
open_ok(const char *dir)
{
    gs_replica *r = NULL;
    char why[512] = "";
    gs_err rc = gs_replica_open(dir, &r, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("open %s: %s: %s", dir, gs_errname(rc), why);
    return r;
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

    init_sealed(t->a, NULL, "yc.t.g1", PASS, t->key_a);
    snprintf(path, sizeof path, "%s/device.key", t->a);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    size_t len = 0;
    char *img = gs_read_file(path, &len);
    assert_non_null(img);
    assert_true(!strncmp(img, "gridsync-key v1 sealed\n", 23));
    free(img);

    gs_replica *r = open_ok(t->a);
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
    gs_replica *r = open_ok(t->a);
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

    gs_replica *r = open_ok(t->a);
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
    r = open_ok(t->a);
    assert_true(gs_replica_locked(r));
    /* locked: cannot change what it cannot read */
    assert_int_equal(gs_replica_passphrase_set(r, "new", 3), GS_EBADPASS);
    assert_int_equal(gs_replica_unlock(r, PASS), GS_OK);
    assert_int_equal(gs_replica_passphrase_set(r, "new", 3), GS_OK);
    gs_replica_close(r);

    r = open_ok(t->a);
    assert_int_equal(gs_replica_unlock(r, PASS), GS_EBADPASS);
    assert_int_equal(gs_replica_unlock(r, "new", 3), GS_OK);
    assert_int_equal(gs_replica_put(r, "person", "P-2", "{\"name\":\"B\"}"),
                     GS_OK);
    assert_written_by(r, "P-2", t->key_a); /* still the same device */
    gs_replica_close(r);
}

static int
free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void
test_replica_sealed_agent_and_sync(void **state)
{
    tdir *t = *state;
    static const char pass_b[] = "tablet pass";
    char why[512] = "", ep[64], peer[200];
    gs_sync_result res;
    gs_agent *ag = NULL;

    init_sealed(t->a, NULL, "yc.s1", PASS, t->key_a);
    init_sealed(t->b, t->key_a, "yc.s1.g1", pass_b, sizeof pass_b - 1,
                t->key_b);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", free_port());
    snprintf(peer, sizeof peer, "%s@%s", t->key_a, ep);

    /* the app opens, unlocks and starts the agent on its handle */
    gs_replica *ra = open_ok(t->a);
    assert_int_equal(gs_replica_config_set(ra, "agent.endpoint", ep), GS_OK);
    assert_int_equal(gs_replica_config_set(ra, "agent.accept", t->key_b),
                     GS_OK);
    gs_replica_close(ra);
    ra = open_ok(t->a);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_replica_sealed_opens_locked_and_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_replica_init_refuses_empty_passphrase, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_replica_passphrase_set_seals_and_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_sealed_agent_and_sync,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
