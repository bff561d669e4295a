/*
 * test_agent.c — the agent as an app embeds it: gs_agent_start on the
 * app's open replica, the app writing through the same handle while the
 * agent serves, gs_sync_once from another replica against it (127.0.0.1
 * only), a device the agent does not accept refused at the handshake with
 * a reason, and gs_agent_stop returning promptly.
 *
 * The network: replica a is made without an authority, so its device is
 * the authority (its key is the network id); a enrolls tablet b
 * (gs_authority_enroll: writing in its grid, reading a's community) and
 * accepts it at the handshake; c is of the same network but neither
 * enrolled nor accepted.
 */
#include "gridsync.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fix {
    char base[64], a[96], b[96], c[96];
    char key_a[65], key_b[65], key_c[65];
    char peer_a[200];
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
setup(struct fix *f)
{
    char why[512];
    gs_test_mkdtemp(f->base, sizeof f->base, "/tmp/gs-agent-XXXXXX");
    snprintf(f->a, sizeof f->a, "%s/a", f->base);
    snprintf(f->b, sizeof f->b, "%s/b", f->base);
    snprintf(f->c, sizeof f->c, "%s/c", f->base);
    gs_test_replica_init(f->a, NULL, "yc.s1", "station", NULL, 0, f->key_a);
    gs_test_replica_init(f->b, f->key_a, "yc.s1.g1", "tablet", NULL, 0,
                         f->key_b);
    gs_test_replica_init(f->c, f->key_a, "yc.s1.g2", "stranger", NULL, 0,
                         f->key_c);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", gs_test_free_port());
    snprintf(f->peer_a, sizeof f->peer_a, "%s@%s", f->key_a, ep);
    gs_replica *r = gs_test_replica_open(f->a);
    assert_int_equal(gs_replica_config_set(r, "agent.endpoint", ep), GS_OK);
    assert_int_equal(gs_replica_config_set(r, "agent.accept", f->key_b),
                     GS_OK);
    /* b writes in its grid and reads the station's community, where a's
     * app writes */
    const char *grid[] = {"yc.s1.g1"}, *community[] = {"yc.s1"};
    gs_cert_opts cert = {"tablet g1", "tablet", grid, 1, community, 1, 0, 0};
    assert_int_equal(gs_authority_enroll(r, f->key_b, &cert, why, sizeof why),
                     GS_OK);
    gs_replica_close(r);
}

static void
put_n(gs_replica *r, const char *prefix, int n)
{
    char id[32], head[64];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%s-%04d", prefix, i);
        snprintf(head, sizeof head, "head=王%d", i);
        const char *assign[] = {head};
        assert_int_equal(gs_replica_put_assign(r, "household", id, assign, 1),
                         GS_OK);
    }
}

static void
test_agent_embedded_serves_while_app_writes(void **state)
{
    (void)state;
    struct fix f;
    char why[512] = "";
    gs_replica *ra, *rb;
    gs_agent *ag;
    gs_sync_result res;
    setup(&f);

    assert_int_equal(gs_replica_open(f.a, &ra, why, sizeof why), GS_OK);
    put_n(ra, "A", 20);
    gs_agent_opts o = {NULL, NULL, NULL};
    assert_int_equal(gs_agent_start(ra, &o, &ag, why, sizeof why), GS_OK);

    /* a tablet syncs against the running agent */
    gs_err rc = gs_sync_once(f.b, f.peer_a, 10000, &res, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("sync: %s: %s", gs_errname(rc), why);
    assert_int_equal(res.ops_in, 1 + 20); /* b's certificate, a's puts */
    assert_int_equal(res.ops_out, 0);
    assert_string_equal(res.peer_device, f.key_a);

    /* the app keeps writing through the handle the agent shares */
    put_n(ra, "B", 5);
    assert_int_equal(gs_replica_open(f.b, &rb, why, sizeof why), GS_OK);
    put_n(rb, "T", 3);
    gs_replica_close(rb);
    rc = gs_sync_once(f.b, f.peer_a, 10000, &res, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("second sync: %s: %s", gs_errname(rc), why);
    assert_int_equal(res.ops_in, 5);
    assert_int_equal(res.ops_out, 3);
    assert_int_equal(res.rejected, 0); /* b's certificate admits them */

    /* a device the agent does not accept learns why */
    rc = gs_sync_once(f.c, f.peer_a, 5000, &res, why, sizeof why);
    assert_int_equal(rc, GS_EDENIED);
    assert_non_null(strstr(why, "refused"));

    double t = now();
    gs_agent_stop(ag);
    assert_true(now() - t < 2.0);

    unsigned char da[32], db[32];
    assert_int_equal(gs_replica_digest(ra, 0, da), GS_OK);
    assert_int_equal(gs_replica_open(f.b, &rb, why, sizeof why), GS_OK);
    assert_int_equal(gs_replica_digest(rb, 0, db), GS_OK);
    assert_memory_equal(da, db, 32);
    gs_replica_close(rb);
    gs_replica_close(ra);
    gs_test_rmtree(f.base);
}

static void
test_agent_sync_once_refuses_bad_peer_text(void **state)
{
    (void)state;
    struct fix f;
    char why[512] = "";
    gs_sync_result res;
    setup(&f);
    assert_int_equal(gs_sync_once(f.b, "tcp://127.0.0.1:1", 1000, &res, why,
                                  sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "DEVICE_KEY@ENDPOINT"));
    /* nobody listens: a timeout that says what to check */
    char peer[200];
    snprintf(peer, sizeof peer, "%s@tcp://127.0.0.1:%d", f.key_a,
             gs_test_free_port());
    assert_int_equal(gs_sync_once(f.b, peer, 1000, &res, why, sizeof why),
                     GS_ETIMEOUT);
    assert_non_null(strstr(why, "did not answer"));
    gs_test_rmtree(f.base);
}

static void
test_agent_second_agent_on_replica_refused(void **state)
{
    (void)state;
    struct fix f;
    char why[512] = "";
    gs_replica *ra;
    gs_agent *ag;
    setup(&f);
    assert_int_equal(gs_replica_open(f.a, &ra, why, sizeof why), GS_OK);
    assert_int_equal(gs_agent_start(ra, NULL, &ag, why, sizeof why), GS_OK);
    volatile sig_atomic_t stop = 1;
    gs_err rc = gs_agent_run(f.a, NULL, &stop, why, sizeof why);
    assert_int_equal(rc, GS_EEXIST);
    assert_non_null(strstr(why, "another agent"));
    gs_agent_stop(ag);
    gs_replica_close(ra);
    gs_test_rmtree(f.base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_embedded_serves_while_app_writes),
        cmocka_unit_test(test_agent_sync_once_refuses_bad_peer_text),
        cmocka_unit_test(test_agent_second_agent_on_replica_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
