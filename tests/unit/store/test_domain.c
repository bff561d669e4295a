/*
 * test_domain.c — the domain workflows of gridsync.h (store/domain.c;
 * issue 6): tickets through every valid step of the stage lattice, each
 * refused step with its reason and the replica's digest unchanged, reopen
 * starting round 1, the stage names the schema gives; points granted and
 * redeemed with their ledger lines and balance, a redemption over the
 * balance refused, and the shop rule as a device meets it (no certificate
 * here yet, a certificate without the shop flag, one with it).
 * Each test works in its own mkdtemp directory, removed afterwards.
 */
#include "gridsync.h"
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef gs_test_rdir tdir;

/* A standalone replica (its own authority, so it may redeem) named
 * "tester". */
static int
setup(void **state)
{
    *state = gs_test_rdir_new("/tmp/gs-test-domain-XXXXXX", "yc.g1", "tester");
    return 0;
}

static int
teardown(void **state)
{
    return gs_test_rdir_teardown(state);
}

static void
digest_of(gs_replica *r, unsigned char d[32])
{
    assert_int_equal(gs_replica_digest(r, 0, d), GS_OK);
}

/* The entity (type, id) as JSON; the caller decrefs it. */
static json_t *
entity(gs_replica *r, const char *type, const char *id)
{
    char *text = NULL;
    assert_int_equal(gs_replica_get(r, type, id, GS_REVEAL, &text), GS_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static json_t *
field(json_t *e, const char *name)
{
    return json_object_get(json_object_get(e, "fields"), name);
}

/* Assert the ticket stands at (round, stage) and has n comments, the
 * last containing last (NULL: not checked). */
static void
assert_ticket(gs_replica *r, const char *id, long long round, const char *stage,
              size_t n, const char *last)
{
    json_t *t = entity(r, "ticket", id);
    json_t *st = field(t, "stage");
    assert_string_equal(json_string_value(json_object_get(st, "stage")), stage);
    assert_int_equal(json_integer_value(json_object_get(st, "round")), round);
    json_t *c = field(t, "comments");
    assert_int_equal(json_array_size(c), n);
    if (last) {
        const char *v = json_string_value(
            json_object_get(json_array_get(c, n - 1), "value"));
        assert_non_null(v);
        if (strstr(v, last) == NULL)
            fail_msg("last comment '%s' lacks '%s'", v, last);
    }
    json_decref(t);
}

static void
report(gs_replica *r, const char *id)
{
    gs_ticket_report_opts o = {.category = "市政设施",
                               .grid = "yc.g1",
                               .title = "路灯不亮",
                               .reporter = "张三",
                               .deadline = "2024-05-03 18:00"};
    assert_int_equal(gs_ticket_report(r, id, &o), GS_OK);
}

/* Take step and assert where it leads. */
static void
step_ok(gs_replica *r, const char *id, const char *step, const char *arg,
        long long want_round, const char *want_stage)
{
    long long round = -1;
    const char *stage = NULL;
    gs_err rc = gs_ticket_step(r, id, step, arg, NULL, NULL, &round, &stage);
    if (rc != GS_OK)
        fail_msg("%s %s: %s (%s)", step, id, gs_errname(rc),
                 gs_replica_detail(r));
    assert_int_equal(round, want_round);
    assert_string_equal(stage, want_stage);
}

/* Step must be refused with rc, detail containing why, nothing written. */
static void
step_refused(gs_replica *r, const char *id, const char *step, const char *arg,
             gs_err want, const char *why)
{
    unsigned char before[32], after[32];
    digest_of(r, before);
    gs_err rc = gs_ticket_step(r, id, step, arg, "note", NULL, NULL, NULL);
    assert_int_equal(rc, want);
    if (strstr(gs_replica_detail(r), why) == NULL)
        fail_msg("%s %s: detail '%s' lacks '%s'", step, id,
                 gs_replica_detail(r), why);
    digest_of(r, after);
    assert_memory_equal(before, after, 32);
}

/* ---- tickets ---- */

static void
test_ticket_every_valid_step(void **state)
{
    tdir *t = *state;
    report(t->r, "T-1");
    assert_ticket(t->r, "T-1", 0, "reported", 1, "reported by tester");
    json_t *e = entity(t->r, "ticket", "T-1");
    assert_string_equal(json_string_value(field(e, "department")), "城管局");
    assert_string_equal(json_string_value(field(e, "category")), "市政设施");
    assert_string_equal(json_string_value(field(e, "grid")), "yc.g1");
    assert_string_equal(json_string_value(field(e, "deadline")),
                        "2024-05-03 18:00");
    assert_string_equal(json_string_value(field(e, "reporter")), "张三");
    json_decref(e);

    step_ok(t->r, "T-1", "accept", NULL, 0, "accepted");
    assert_ticket(t->r, "T-1", 0, "accepted", 2, "accepted by tester");
    step_ok(t->r, "T-1", "dispatch", "环卫所", 0, "dispatched");
    /* handed on to another department: still dispatched */
    step_ok(t->r, "T-1", "dispatch", "城管局", 0, "dispatched");
    assert_ticket(t->r, "T-1", 0, "dispatched", 4,
                  "dispatched to 城管局 by tester");
    e = entity(t->r, "ticket", "T-1");
    assert_string_equal(json_string_value(field(e, "department")), "城管局");
    json_decref(e);
    step_ok(t->r, "T-1", "progress", NULL, 0, "in_progress");
    /* a second progress note keeps the stage and adds a line */
    assert_int_equal(gs_ticket_step(t->r, "T-1", "progress", NULL, "换灯泡",
                                    "李师傅", NULL, NULL),
                     GS_OK);
    assert_ticket(t->r, "T-1", 0, "in_progress", 6,
                  "in progress by 李师傅: 换灯泡");
    step_ok(t->r, "T-1", "resolve", NULL, 0, "resolved");
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 4, NULL, NULL), GS_OK);
    step_ok(t->r, "T-1", "close", NULL, 0, "closed");
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 5, "很满意", NULL), GS_OK);
    assert_ticket(t->r, "T-1", 0, "closed", 10, "rated 5/5 by tester: 很满意");
    e = entity(t->r, "ticket", "T-1");
    assert_int_equal(json_integer_value(field(e, "satisfaction")), 5);
    json_decref(e);

    /* resolve straight from dispatched is a valid step too */
    report(t->r, "T-2");
    step_ok(t->r, "T-2", "accept", NULL, 0, "accepted");
    step_ok(t->r, "T-2", "dispatch", "司法所", 0, "dispatched");
    step_ok(t->r, "T-2", "resolve", NULL, 0, "resolved");
}

/* From reported to resolved in round, by way of in_progress or not. */
static void
to_resolved(gs_replica *r, const char *id, long long round, bool progress)
{
    step_ok(r, id, "accept", NULL, round, "accepted");
    step_ok(r, id, "dispatch", "城管局", round, "dispatched");
    if (progress)
        step_ok(r, id, "progress", NULL, round, "in_progress");
    step_ok(r, id, "resolve", NULL, round, "resolved");
}

static void
test_ticket_reopen_starts_round_1(void **state)
{
    tdir *t = *state;
    report(t->r, "T-1");
    to_resolved(t->r, "T-1", 0, false);
    step_ok(t->r, "T-1", "close", NULL, 0, "closed");
    step_ok(t->r, "T-1", "reopen", NULL, 1, "reported");
    assert_ticket(t->r, "T-1", 1, "reported", 6, "reopened by tester");
    /* the new round runs the same lattice */
    step_refused(t->r, "T-1", "close", NULL, GS_ESTAGE,
                 "ticket T-1 is at reported; close needs it resolved first");
    to_resolved(t->r, "T-1", 1, true);
    /* reopen from resolved, too */
    step_ok(t->r, "T-1", "reopen", NULL, 2, "reported");
    assert_ticket(t->r, "T-1", 2, "reported", 11, "reopened");
}

static void
test_ticket_refusals_say_why_and_write_nothing(void **state)
{
    tdir *t = *state;
    unsigned char before[32], after[32];
    report(t->r, "T-1");
    step_ok(t->r, "T-1", "accept", NULL, 0, "accepted");

    static const struct {
        const char *id, *step, *arg;
        gs_err rc;
        const char *why;
    } at_accepted[] = {
        {"T-1", "close", NULL, GS_ESTAGE,
         "ticket T-1 is at accepted; close needs it resolved first"},
        {"T-1", "reopen", NULL, GS_ESTAGE,
         "ticket T-1 is at accepted; reopen needs it resolved first"},
        {"T-1", "resolve", NULL, GS_ESTAGE,
         "resolve needs it dispatched first"},
        {"T-1", "progress", NULL, GS_ESTAGE,
         "progress needs it dispatched first"},
        {"T-1", "accept", NULL, GS_ESTAGE,
         "ticket T-1 is at accepted; accept needs it at reported, and a stage "
         "never goes back"},
        {"T-1", "dispatch", NULL, GS_EINVAL, "dispatch needs a department"},
        {"T-1", "dispatch", "", GS_EINVAL, "dispatch needs a department"},
        {"T-1", "close", "城管局", GS_EINVAL, "close takes no department"},
        {"T-1", "fly", NULL, GS_EINVAL, "'fly' is not a ticket step"},
        {"T-9", "accept", NULL, GS_ENOTFOUND, "no ticket T-9 in this replica"},
    };
    for (size_t i = 0; i < sizeof at_accepted / sizeof at_accepted[0]; i++)
        step_refused(t->r, at_accepted[i].id, at_accepted[i].step,
                     at_accepted[i].arg, at_accepted[i].rc, at_accepted[i].why);

    /* rating before resolved */
    digest_of(t->r, before);
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 5, NULL, NULL), GS_ESTAGE);
    assert_non_null(strstr(gs_replica_detail(t->r),
                           "ticket T-1 is at accepted; rate needs it "
                           "resolved first"));
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 0, NULL, NULL), GS_EINVAL);
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 6, NULL, NULL), GS_EINVAL);

    /* reports: a used id, a category not in the catalog, a bad deadline,
     * no grid */
    gs_ticket_report_opts o = {.category = "市政设施", .grid = "yc.g1"};
    assert_int_equal(gs_ticket_report(t->r, "T-1", &o), GS_EEXIST);
    assert_non_null(
        strstr(gs_replica_detail(t->r), "ticket T-1 exists already"));
    o.category = "飞碟降落";
    assert_int_equal(gs_ticket_report(t->r, "T-2", &o), GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r),
                           "'飞碟降落' is not a ticket category; "
                           "categories: 市政设施, 环境卫生"));
    o.category = "环境卫生";
    o.deadline = "tomorrow";
    assert_int_equal(gs_ticket_report(t->r, "T-2", &o), GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "is not a date"));
    o.deadline = "2024-13-01";
    assert_int_equal(gs_ticket_report(t->r, "T-2", &o), GS_EINVAL);
    o.deadline = NULL;
    o.grid = NULL;
    assert_int_equal(gs_ticket_report(t->r, "T-2", &o), GS_EINVAL);
    digest_of(t->r, after);
    assert_memory_equal(before, after, 32);

    /* to closed: accept of a closed ticket says to reopen it */
    step_ok(t->r, "T-1", "dispatch", "城管局", 0, "dispatched");
    step_ok(t->r, "T-1", "resolve", NULL, 0, "resolved");
    step_ok(t->r, "T-1", "close", NULL, 0, "closed");
    step_refused(t->r, "T-1", "accept", NULL, GS_ESTAGE,
                 "ticket T-1 is at closed; accept needs it at reported, and "
                 "a stage never goes back; reopen it to start a new round");
    step_refused(t->r, "T-1", "close", NULL, GS_ESTAGE,
                 "ticket T-1 is at closed; close needs it at resolved");
    step_refused(t->r, "T-1", "dispatch", "城管局", GS_ESTAGE,
                 "dispatch needs it at accepted to dispatched");
}

/* A ticket written with put, never reported, has no stage: steps refuse. */
static void
test_ticket_without_stage_refused(void **state)
{
    tdir *t = *state;
    const char *a[] = {"title=x"};
    assert_int_equal(gs_replica_put_assign(t->r, "ticket", "T-1", a, 1), GS_OK);
    step_refused(t->r, "T-1", "accept", NULL, GS_ESTAGE,
                 "ticket T-1 has no workflow stage");
}

/* The stage names the library leads to are the schema's, in its order. */
static void
test_ticket_stages_are_the_schemas(void **state)
{
    tdir *t = *state;
    char *schema = gs_read_file("seeds/schema.json", NULL);
    assert_non_null(schema);
    json_t *s = json_loads(schema, 0, NULL);
    free(schema);
    json_t *stages = json_object_get(
        json_object_get(
            json_object_get(
                json_object_get(json_object_get(s, "types"), "ticket"),
                "fields"),
            "stage"),
        "stages");
    assert_int_equal(json_array_size(stages), 6);
    const char *walk[][2] = {{"accept", NULL},
                             {"dispatch", "城管局"},
                             {"progress", NULL},
                             {"resolve", NULL},
                             {"close", NULL}};
    report(t->r, "T-1");
    assert_ticket(
        t->r, "T-1", 0,
        json_string_value(json_object_get(json_array_get(stages, 0), "name")),
        1, NULL);
    for (size_t i = 0; i < 5; i++)
        step_ok(t->r, "T-1", walk[i][0], walk[i][1], 0,
                json_string_value(
                    json_object_get(json_array_get(stages, i + 1), "name")));
    json_decref(s);
}

static int
collect_id(const char *json, void *ctx)
{
    json_t *j = json_loads(json, 0, NULL);
    strcat((char *)ctx, json_string_value(json_object_get(j, "id")));
    strcat((char *)ctx, " ");
    json_decref(j);
    return 0;
}

static void
test_ticket_list_by_grid_and_stage(void **state)
{
    tdir *t = *state;
    char ids[256] = "";
    gs_ticket_report_opts o = {.category = "环境卫生", .grid = "yc.g2"};
    report(t->r, "T-1");
    report(t->r, "T-2");
    assert_int_equal(gs_ticket_report(t->r, "T-3", &o), GS_OK);
    step_ok(t->r, "T-2", "accept", NULL, 0, "accepted");
    assert_int_equal(gs_ticket_list(t->r, "yc.g1", NULL, 0, collect_id, ids),
                     GS_OK);
    assert_string_equal(ids, "T-1 T-2 ");
    ids[0] = 0;
    assert_int_equal(gs_ticket_list(t->r, NULL, "reported", 0, collect_id, ids),
                     GS_OK);
    assert_string_equal(ids, "T-1 T-3 ");
    ids[0] = 0;
    assert_int_equal(
        gs_ticket_list(t->r, "yc.g1", "accepted", 0, collect_id, ids), GS_OK);
    assert_string_equal(ids, "T-2 ");
    assert_int_equal(gs_ticket_list(t->r, NULL, "done", 0, collect_id, ids),
                     GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "'done' is not a stage"));
}

/* ---- points ---- */

static void
person(gs_replica *r, const char *id)
{
    const char *a[] = {"name=王芳"};
    assert_int_equal(gs_replica_put_assign(r, "person", id, a, 1), GS_OK);
}

static void
test_points_ledger_and_balance(void **state)
{
    tdir *t = *state;
    long long bal = -1;
    person(t->r, "P-1");
    assert_int_equal(gs_points_balance(t->r, "P-1", &bal), GS_OK);
    assert_int_equal(bal, 0);
    assert_int_equal(gs_points_grant(t->r, "P-1", 10, "清扫楼道", NULL, &bal),
                     GS_OK);
    assert_int_equal(bal, 10);
    assert_int_equal(
        gs_points_grant(t->r, "P-1", 25, "志愿服务", "社区书记", &bal), GS_OK);
    assert_int_equal(bal, 35);
    assert_int_equal(gs_points_redeem(t->r, "P-1", 5, "兑换洗衣液", NULL, &bal),
                     GS_OK);
    assert_int_equal(bal, 30);
    /* down to zero exactly is allowed */
    assert_int_equal(gs_points_redeem(t->r, "P-1", 30, "兑换大米", NULL, &bal),
                     GS_OK);
    assert_int_equal(bal, 0);
    assert_int_equal(gs_points_balance(t->r, "P-1", &bal), GS_OK);
    assert_int_equal(bal, 0);
    assert_int_equal(
        gs_points_grant(t->r, "P-1", GS_POINTS_MAX, "大额", NULL, &bal), GS_OK);
    assert_int_equal(bal, GS_POINTS_MAX);

    json_t *p = entity(t->r, "person", "P-1");
    json_t *l = field(p, "ledger");
    const char *want[] = {
        "+10 清扫楼道 (by tester)", "+25 志愿服务 (by 社区书记)",
        "-5 兑换洗衣液 (by tester)", "-30 兑换大米 (by tester)",
        "+100000 大额 (by tester)"};
    assert_int_equal(json_array_size(l), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(l, i), "value")),
            want[i]);
    assert_int_equal(json_integer_value(field(p, "points")), GS_POINTS_MAX);
    json_decref(p);
}

static void
test_points_redeem_over_balance_refused(void **state)
{
    tdir *t = *state;
    unsigned char before[32], after[32];
    long long bal = -1;
    person(t->r, "P-1");
    assert_int_equal(gs_points_grant(t->r, "P-1", 30, "巡逻", NULL, &bal),
                     GS_OK);
    digest_of(t->r, before);
    assert_int_equal(gs_points_redeem(t->r, "P-1", 31, "兑换", NULL, &bal),
                     GS_EBALANCE);
    assert_non_null(strstr(gs_replica_detail(t->r),
                           "the balance of P-1 is 30; cannot redeem 31"));
    /* bounds, reason, person */
    assert_int_equal(gs_points_grant(t->r, "P-1", 0, "x", NULL, NULL),
                     GS_EINVAL);
    assert_int_equal(gs_points_grant(t->r, "P-1", -5, "x", NULL, NULL),
                     GS_EINVAL);
    assert_int_equal(
        gs_points_grant(t->r, "P-1", GS_POINTS_MAX + 1, "x", NULL, NULL),
        GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "from 1 to 100000"));
    assert_int_equal(gs_points_redeem(t->r, "P-1", -1, "x", NULL, NULL),
                     GS_EINVAL);
    assert_int_equal(gs_points_grant(t->r, "P-1", 5, "", NULL, NULL),
                     GS_EINVAL);
    assert_int_equal(gs_points_grant(t->r, "P-1", 5, NULL, NULL, NULL),
                     GS_EINVAL);
    assert_int_equal(gs_points_grant(t->r, "P-9", 5, "x", NULL, NULL),
                     GS_ENOTFOUND);
    assert_non_null(strstr(gs_replica_detail(t->r), "no person P-9"));
    assert_int_equal(gs_points_balance(t->r, "P-9", &bal), GS_ENOTFOUND);
    digest_of(t->r, after);
    assert_memory_equal(before, after, 32);
    assert_int_equal(gs_points_balance(t->r, "P-1", &bal), GS_OK);
    assert_int_equal(bal, 30);
}

/* Carry every op of from to to by a bundle. */
static void
carry(const char *base, gs_replica *from, gs_replica *to)
{
    char path[160];
    gs_bundle_result ex, im;
    snprintf(path, sizeof path, "%s/b.gsb", base);
    assert_int_equal(
        gs_replica_bundle_export(from, path, "test", NULL, NULL, &ex), GS_OK);
    assert_int_equal(gs_replica_bundle_import(to, path, NULL, NULL, &im),
                     GS_OK);
    unlink(path);
}

/* In a district network: a device whose certificate is not here yet, one
 * enrolled without the shop flag, and the shop. */
static void
test_points_redeem_needs_the_shop_flag(void **state)
{
    tdir *t = *state;
    char auth[128], tab[128], shop[128], key_auth[65], key_tab[65],
        key_shop[65], why[512] = "";
    unsigned char before[32], after[32];
    long long bal = -1;
    snprintf(auth, sizeof auth, "%s/auth", t->base);
    snprintf(tab, sizeof tab, "%s/tab", t->base);
    snprintf(shop, sizeof shop, "%s/shop", t->base);
    gs_test_replica_init(auth, NULL, "trust", "district", NULL, 0, key_auth);
    gs_test_replica_init(tab, key_auth, "yc.c1.g1", "tablet", NULL, 0, key_tab);
    gs_test_replica_init(shop, key_auth, "yc.c1", "shop", NULL, 0, key_shop);
    gs_replica *ra = gs_test_replica_open(auth),
               *rt = gs_test_replica_open(tab),
               *rs = gs_test_replica_open(shop);

    person(rt, "P-1");
    assert_int_equal(gs_points_grant(rt, "P-1", 20, "巡逻", NULL, &bal), GS_OK);
    /* no certificate here yet: the tablet may not redeem */
    digest_of(rt, before);
    assert_int_equal(gs_points_redeem(rt, "P-1", 5, "兑换", NULL, &bal),
                     GS_ESHOP);
    assert_non_null(strstr(gs_replica_detail(rt),
                           "certificate is not in this replica yet"));

    const char *g1[] = {"yc.c1.g1"}, *c1[] = {"yc.c1"};
    gs_cert_opts ot = {"tablet", "tablet", g1, 1, g1, 1, 0, 0};
    gs_cert_opts os = {"shop", "station", c1, 1, c1, 1, 1, 0};
    assert_int_equal(gs_authority_enroll(ra, key_tab, &ot, why, sizeof why),
                     GS_OK);
    assert_int_equal(gs_authority_enroll(ra, key_shop, &os, why, sizeof why),
                     GS_OK);
    carry(t->base, ra, rt);
    digest_of(rt, before);
    assert_int_equal(gs_points_redeem(rt, "P-1", 5, "兑换", NULL, &bal),
                     GS_ESHOP);
    assert_string_equal(gs_replica_detail(rt),
                        "this device is not the points shop: its certificate "
                        "lacks the shop flag; ask the authority ('gridsync "
                        "authority enroll KEY ... --shop')");
    digest_of(rt, after);
    assert_memory_equal(before, after, 32);

    /* the shop sees the grant once synced, and redeems within it */
    carry(t->base, ra, rs);
    carry(t->base, rt, rs);
    assert_int_equal(gs_points_redeem(rs, "P-1", 21, "兑换", NULL, &bal),
                     GS_EBALANCE);
    assert_int_equal(gs_points_redeem(rs, "P-1", 20, "兑换", "超市", &bal),
                     GS_OK);
    assert_int_equal(bal, 0);
    /* and the tablet takes the redemption when it syncs */
    carry(t->base, rs, rt);
    assert_int_equal(gs_points_balance(rt, "P-1", &bal), GS_OK);
    assert_int_equal(bal, 0);
    gs_replica_close(rs);
    gs_replica_close(rt);
    gs_replica_close(ra);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ticket_every_valid_step, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ticket_reopen_starts_round_1,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ticket_refusals_say_why_and_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticket_without_stage_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticket_stages_are_the_schemas,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticket_list_by_grid_and_stage,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_ledger_and_balance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_points_redeem_over_balance_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_redeem_needs_the_shop_flag,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
