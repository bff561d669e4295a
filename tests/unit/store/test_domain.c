/*
 * test_domain.c — the domain workflows of gridsync.h (store/domain.c;
 * issue 6): tickets through every valid step of the stage lattice, each
 * refused step with its reason and the replica's digest unchanged, reopen
 * starting round 1, the stage names the schema gives; points granted and
 * redeemed with their ledger lines and balance, a redemption over the
 * balance refused, and the shop rule as a device meets it (no certificate
 * here yet, a certificate without the shop flag, one with it); visits,
 * the daily check-in (one record a day, the missing list of a grid) and
 * wishes with their claims (every refusal, the winner moving on
 * withdrawal, two devices claiming offline ending with one winner).
 * Each test works in its own mkdtemp directory, removed afterwards.
 */
#include "gridsync.h"
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef gs_test_rdir tdir;

/* A standalone replica (its own authority, so it may redeem) named
 * "tester". */
static int
setup(void **state)
{
    /* a station's scope: its grids yc.g1 and yc.g2 lie in it */
    *state = gs_test_rdir_new("/tmp/gs-test-domain-XXXXXX", "yc", "tester");
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
/* A replica in t->base/dir named name, under authority (NULL: its own),
 * open; key gets its device key. */
static gs_replica *
device(tdir *t, const char *dir, const char *name, const char *authority,
       const char *scope, char key[65])
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", t->base, dir);
    gs_test_replica_init(path, authority, scope, name, NULL, 0, key);
    return gs_test_replica_open(path);
}

static void
test_points_redeem_needs_the_shop_flag(void **state)
{
    tdir *t = *state;
    char key_auth[65], key_tab[65], key_shop[65], why[512] = "";
    unsigned char before[32], after[32];
    long long bal = -1;
    gs_replica *ra = device(t, "auth", "district", NULL, "trust", key_auth),
               *rt = device(t, "tab", "tablet", key_auth, "yc.c1.g1", key_tab),
               *rs = device(t, "shop", "shop", key_auth, "yc.c1", key_shop);

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

/* ---- visits, check-ins, wishes ---- */

static void
put_assign(gs_replica *r, const char *type, const char *id, const char *a0,
           const char *a1, const char *a2)
{
    const char *a[] = {a0, a1, a2};
    size_t n = a2 ? 3 : a1 ? 2 : 1;
    assert_int_equal(gs_replica_put_assign(r, type, id, a, n), GS_OK);
}

/* A new record's grid must lie in the device's scope (else its op would
 * go under the device's scope, where the grid's devices never read it),
 * and be an org path; refused with the reason, nothing written. */
static void
test_new_records_grid_must_be_ours(void **state)
{
    tdir *t = *state;
    unsigned char before[32], after[32];
    char id[GS_ENTITY_ID_BYTES];
    gs_ticket_report_opts o = {.category = "环境卫生", .grid = "zz.g1"};
    gs_wish_post_opts w = {"修收音机", "P-9", "zz.g1", NULL, 10};
    gs_visit_opts v = {"身体不错", NULL, "2024-12-30 10:05", "zz.g1"};
    put_assign(t->r, "household", "H-1", "grid=yc.g1", NULL, NULL);
    digest_of(t->r, before);
    assert_int_equal(gs_ticket_report(t->r, "T-1", &o), GS_ESCOPE);
    assert_non_null(strstr(gs_replica_detail(t->r),
                           "grid zz.g1 is outside this device's scope yc"));
    assert_int_equal(gs_wish_post(t->r, "W-1", &w), GS_ESCOPE);
    assert_non_null(strstr(gs_replica_detail(t->r), "the wish would never"));
    assert_int_equal(gs_visit_add(t->r, "H-1", &v, id), GS_ESCOPE);
    assert_non_null(strstr(gs_replica_detail(t->r), "the visit would never"));
    o.grid = "yc..g1";
    assert_int_equal(gs_ticket_report(t->r, "T-1", &o), GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "is not a grid"));
    digest_of(t->r, after);
    assert_memory_equal(before, after, 32);
}


/* The detail must contain why, the digest be as before. */
static void
assert_refused(gs_replica *r, gs_err rc, gs_err want, const char *why,
               const unsigned char before[32])
{
    unsigned char after[32];
    assert_int_equal(rc, want);
    if (strstr(gs_replica_detail(r), why) == NULL)
        fail_msg("detail '%s' lacks '%s'", gs_replica_detail(r), why);
    digest_of(r, after);
    assert_memory_equal(before, after, 32);
}

static void
assert_text(gs_replica *r, const char *type, const char *id, const char *name,
            const char *want)
{
    json_t *e = entity(r, type, id);
    const char *got = json_string_value(field(e, name));
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s %s %s: '%s', want '%s'", type, id, name,
                 got ? got : "(none)", want);
    json_decref(e);
}

static void
test_visit_add_and_refusals(void **state)
{
    tdir *t = *state;
    char id[GS_ENTITY_ID_BYTES], id2[GS_ENTITY_ID_BYTES], tag[16];
    unsigned char d[32];
    put_assign(t->r, "household", "H-1", "grid=yc.g1.x", "address=1号", NULL);
    put_assign(t->r, "household", "H-2", "address=2号", NULL, NULL);
    digest_of(t->r, d);
    gs_visit_opts o = {"身体好", NULL, "2024-12-30 10:05", NULL};
    assert_refused(t->r, gs_visit_add(t->r, "H-9", &o, id), GS_ENOTFOUND,
                   "no household H-9 in this replica", d);
    assert_refused(t->r, gs_visit_add(t->r, "H-2", &o, id), GS_EINVAL,
                   "household H-2 has no grid; give the visit's grid", d);
    gs_visit_opts bad = {"x", NULL, "tomorrow", NULL};
    gs_visit_opts none = {NULL, NULL, NULL, NULL};
    assert_refused(t->r, gs_visit_add(t->r, "H-1", &bad, id), GS_EINVAL,
                   "'tomorrow' is not a time", d);
    assert_refused(t->r, gs_visit_add(t->r, "H-1", &none, id), GS_EINVAL,
                   "a visit needs a note", d);

    assert_int_equal(gs_visit_add(t->r, "H-1", &o, id), GS_OK);
    snprintf(tag, sizeof tag, "%.8s", t->key);
    char want[64];
    snprintf(want, sizeof want, "V-H-1-202412301005-%s", tag);
    assert_string_equal(id, want);
    assert_text(t->r, "visit", id, "household", "H-1");
    assert_text(t->r, "visit", id, "note", "身体好");
    assert_text(t->r, "visit", id, "at", "2024-12-30 10:05");
    assert_text(t->r, "visit", id, "worker", "tester");
    assert_text(t->r, "visit", id, "grid", "yc.g1.x");
    /* the same minute again: a second record, not the first overwritten */
    gs_visit_opts o2 = {"又来", "王五", "2024-12-30 10:05", "yc.g1"};
    assert_int_equal(gs_visit_add(t->r, "H-1", &o2, id2), GS_OK);
    strcat(want, "-2");
    assert_string_equal(id2, want);
    assert_text(t->r, "visit", id, "note", "身体好");
    assert_text(t->r, "visit", id2, "worker", "王五");
    assert_text(t->r, "visit", id2, "grid", "yc.g1");
    /* and a household without a grid takes one given */
    assert_int_equal(gs_visit_add(t->r, "H-2", &o2, id2), GS_OK);
    /* no time given: now, in the generator's form */
    gs_visit_opts now = {"今天", NULL, NULL, NULL};
    assert_int_equal(gs_visit_add(t->r, "H-1", &now, id2), GS_OK);
    json_t *v = entity(t->r, "visit", id2);
    const char *at = json_string_value(field(v, "at"));
    assert_non_null(at);
    assert_int_equal(strlen(at), 16);
    json_decref(v);
}

/* Check in and assert the record's id and whether it was there already. */
static void
checkin_ok(gs_replica *r, const char *person, const char *status,
           const gs_checkin_opts *o, const char *want_id, int want_updated)
{
    char id[GS_ENTITY_ID_BYTES] = "";
    int updated = -1;
    gs_err rc = gs_checkin_put(r, person, status, o, id, &updated);
    if (rc != GS_OK)
        fail_msg("checkin %s: %s (%s)", person, gs_errname(rc),
                 gs_replica_detail(r));
    assert_string_equal(id, want_id);
    assert_int_equal(updated, want_updated);
}

static void
test_checkin_one_record_a_day(void **state)
{
    tdir *t = *state;
    const char *id = "C-P-1-20241230";
    char out[GS_ENTITY_ID_BYTES];
    unsigned char d[32];
    int updated = -1;
    put_assign(t->r, "household", "H-1", "grid=yc.g1", NULL, NULL);
    put_assign(t->r, "person", "P-1", "household=H-1", "tags+=elderly-alone",
               NULL);
    put_assign(t->r, "person", "P-2", "name=无网格", NULL, NULL);
    digest_of(t->r, d);
    gs_checkin_opts o = {"2024-12-30", NULL, NULL};
    assert_refused(t->r, gs_checkin_put(t->r, "P-9", "ok", &o, out, &updated),
                   GS_ENOTFOUND, "no person P-9 in this replica", d);
    assert_refused(t->r, gs_checkin_put(t->r, "P-1", "fine", &o, out, NULL),
                   GS_EINVAL, "a check-in is ok or concern, not 'fine'", d);
    gs_checkin_opts bad = {"2024-12-30 09:00", NULL, NULL};
    assert_refused(t->r, gs_checkin_put(t->r, "P-1", "ok", &bad, out, NULL),
                   GS_EINVAL, "is not a day; give YYYY-MM-DD", d);
    assert_refused(t->r, gs_checkin_put(t->r, "P-2", "ok", &o, out, NULL),
                   GS_EINVAL, "person P-2 has no grid, nor a household", d);

    checkin_ok(t->r, "P-1", "ok", &o, "C-P-1-20241230", 0);
    assert_text(t->r, "checkin", id, "person", "P-1");
    assert_text(t->r, "checkin", id, "day", "2024-12-30");
    assert_text(t->r, "checkin", id, "status", "ok");
    assert_text(t->r, "checkin", id, "worker", "tester");
    assert_text(t->r, "checkin", id, "grid", "yc.g1"); /* the household's */
    /* the same day again: that day's record, the later status standing */
    gs_checkin_opts o2 = {"2024-12-30", "窗帘未拉开", "李四"};
    checkin_ok(t->r, "P-1", "concern", &o2, "C-P-1-20241230", 1);
    assert_text(t->r, "checkin", id, "status", "concern");
    assert_text(t->r, "checkin", id, "note", "窗帘未拉开");
    assert_text(t->r, "checkin", id, "worker", "李四");
    /* another day, another record */
    gs_checkin_opts o3 = {"2024-12-31", NULL, NULL};
    checkin_ok(t->r, "P-1", "ok", &o3, "C-P-1-20241231", 0);
}

static void
test_checkin_missing_lists_the_grid(void **state)
{
    tdir *t = *state;
    char ids[256] = "";
    put_assign(t->r, "household", "H-1", "grid=yc.g1", NULL, NULL);
    /* own grid; grid by household; another grid; not alone; deleted */
    put_assign(t->r, "person", "P-1", "grid=yc.g1", "tags+=elderly-alone",
               NULL);
    put_assign(t->r, "person", "P-2", "household=H-1", "tags+=elderly-alone",
               NULL);
    put_assign(t->r, "person", "P-3", "grid=yc.g2", "tags+=elderly-alone",
               NULL);
    put_assign(t->r, "person", "P-4", "grid=yc.g1", "tags+=low-income", NULL);
    put_assign(t->r, "person", "P-5", "grid=yc.g1", "tags+=elderly-alone",
               NULL);
    put_assign(t->r, "person", "P-5", "_deleted=true", NULL, NULL);
    assert_int_equal(
        gs_checkin_missing(t->r, "yc.g1", "2024-12-30", 0, collect_id, ids),
        GS_OK);
    assert_string_equal(ids, "P-1 P-2 ");
    gs_checkin_opts o = {"2024-12-30", NULL, NULL};
    assert_int_equal(gs_checkin_put(t->r, "P-2", "concern", &o, NULL, NULL),
                     GS_OK);
    ids[0] = 0;
    assert_int_equal(
        gs_checkin_missing(t->r, "yc.g1", "2024-12-30", 0, collect_id, ids),
        GS_OK);
    assert_string_equal(ids, "P-1 ");
    ids[0] = 0; /* a check-in counts for its day only */
    assert_int_equal(
        gs_checkin_missing(t->r, "yc.g1", "2024-12-31", 0, collect_id, ids),
        GS_OK);
    assert_string_equal(ids, "P-1 P-2 ");
    ids[0] = 0;
    assert_int_equal(
        gs_checkin_missing(t->r, "yc.g2", "2024-12-30", 0, collect_id, ids),
        GS_OK);
    assert_string_equal(ids, "P-3 ");
    assert_int_equal(
        gs_checkin_missing(t->r, "yc.g1", "30/12", 0, collect_id, ids),
        GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "'30/12' is not a day"));
}

/* The wish's claims as "WINNER > LOSING LOSING" and its status. */
static void
assert_wish(gs_replica *r, const char *id, const char *claims,
            const char *status)
{
    char got[256] = "";
    json_t *w = entity(r, "wish", id), *c = field(w, "claims"), *l;
    size_t i;
    const char *win = json_string_value(json_object_get(c, "winner"));
    strcat(got, win ? win : "-");
    strcat(got, " >");
    json_array_foreach(json_object_get(c, "losing"), i, l)
    {
        strcat(got, " ");
        strcat(got, json_string_value(l));
    }
    assert_string_equal(got, claims);
    assert_string_equal(json_string_value(field(w, "status")), status);
    json_decref(w);
}

static void
test_wish_claims_and_refusals(void **state)
{
    tdir *t = *state;
    char win[GS_ENTITY_ID_BYTES];
    unsigned char d[32];
    gs_wish_post_opts o = {"修收音机", "P-9", "yc.g1", NULL, 10};
    assert_int_equal(gs_wish_post(t->r, "W-1", &o), GS_OK);
    assert_wish(t->r, "W-1", "- >", "open");
    digest_of(t->r, d);
    assert_refused(t->r, gs_wish_post(t->r, "W-1", &o), GS_EEXIST,
                   "wish W-1 exists already", d);
    gs_wish_post_opts no_grid = {"x", "P-9", NULL, NULL, -1};
    assert_refused(t->r, gs_wish_post(t->r, "W-2", &no_grid), GS_EINVAL,
                   "a wish needs its title, its poster", d);
    assert_refused(t->r, gs_wish_fulfil(t->r, "W-1", win), GS_ESTAGE,
                   "wish W-1 has no claim", d);
    assert_refused(t->r, gs_wish_withdraw(t->r, "W-1", "P-1", win),
                   GS_ENOTFOUND, "P-1 has no claim on wish W-1 to withdraw", d);
    assert_refused(t->r, gs_wish_claim(t->r, "W-9", "P-1", win), GS_ENOTFOUND,
                   "no wish W-9 in this replica", d);

    assert_int_equal(gs_wish_claim(t->r, "W-1", "P-1", win), GS_OK);
    assert_string_equal(win, "P-1");
    assert_int_equal(gs_wish_claim(t->r, "W-1", "P-2", win), GS_OK);
    assert_string_equal(win, "P-1"); /* the earlier claim wins */
    assert_int_equal(gs_wish_claim(t->r, "W-1", "P-3", win), GS_OK);
    assert_wish(t->r, "W-1", "P-1 > P-2 P-3", "claimed");
    digest_of(t->r, d);
    assert_refused(t->r, gs_wish_claim(t->r, "W-1", "P-2", win), GS_EEXIST,
                   "P-2 has claimed wish W-1 already", d);
    /* a loser withdraws: the winner stays */
    assert_int_equal(gs_wish_withdraw(t->r, "W-1", "P-3", win), GS_OK);
    assert_string_equal(win, "P-1");
    /* the winner withdraws: the next claim wins */
    assert_int_equal(gs_wish_withdraw(t->r, "W-1", "P-1", win), GS_OK);
    assert_string_equal(win, "P-2");
    assert_wish(t->r, "W-1", "P-2 >", "claimed");
    /* the last withdraws: open again, and fulfil is refused */
    assert_int_equal(gs_wish_withdraw(t->r, "W-1", "P-2", win), GS_OK);
    assert_string_equal(win, "");
    assert_wish(t->r, "W-1", "- >", "open");
    digest_of(t->r, d);
    assert_refused(t->r, gs_wish_fulfil(t->r, "W-1", win), GS_ESTAGE,
                   "wish W-1 has no claim", d);
    /* withdrawn, one may claim again */
    assert_int_equal(gs_wish_claim(t->r, "W-1", "P-1", win), GS_OK);
    assert_int_equal(gs_wish_claim(t->r, "W-1", "P-4", win), GS_OK);
    assert_int_equal(gs_wish_fulfil(t->r, "W-1", win), GS_OK);
    assert_string_equal(win, "P-1");
    assert_wish(t->r, "W-1", "P-1 > P-4", "done");
    digest_of(t->r, d);
    assert_refused(t->r, gs_wish_claim(t->r, "W-1", "P-5", win), GS_ESTAGE,
                   "wish W-1 is fulfilled already; it takes no more claims", d);
    assert_refused(t->r, gs_wish_withdraw(t->r, "W-1", "P-4", win), GS_ESTAGE,
                   "wish W-1 is fulfilled already", d);
    assert_refused(t->r, gs_wish_fulfil(t->r, "W-1", win), GS_EEXIST,
                   "wish W-1 is fulfilled already", d);
    json_t *w = entity(t->r, "wish", "W-1");
    assert_int_equal(json_integer_value(field(w, "reward")), 10);
    json_decref(w);
}

/* Two tablets of one grid claim one wish offline: each sees its own
 * claimant win; once they meet, the earlier claim wins on both and the
 * other is listed as losing. */
static void
test_wish_two_devices_one_winner(void **state)
{
    tdir *t = *state;
    char ka[65], k1[65], k2[65], why[512] = "";
    char win[GS_ENTITY_ID_BYTES];
    gs_replica *ra = device(t, "auth", "district", NULL, "trust", ka),
               *r1 = device(t, "a", "a", ka, "yc.c1.g1", k1),
               *r2 = device(t, "b", "b", ka, "yc.c1.g1", k2);
    const char *g1[] = {"yc.c1.g1"};
    gs_cert_opts o1 = {"a", "tablet", g1, 1, g1, 1, 0, 0};
    gs_cert_opts o2 = {"b", "tablet", g1, 1, g1, 1, 0, 0};
    assert_int_equal(gs_authority_enroll(ra, k1, &o1, why, sizeof why), GS_OK);
    assert_int_equal(gs_authority_enroll(ra, k2, &o2, why, sizeof why), GS_OK);
    carry(t->base, ra, r1);
    carry(t->base, ra, r2);
    gs_wish_post_opts o = {"陪同就医", "P-9", "yc.c1.g1", NULL, -1};
    assert_int_equal(gs_wish_post(r1, "W-1", &o), GS_OK);
    carry(t->base, r1, r2);
    assert_int_equal(gs_wish_claim(r2, "W-1", "P-2", win), GS_OK);
    assert_string_equal(win, "P-2");
    struct timespec ms = {0, 2000000}; /* a's claim comes later */
    nanosleep(&ms, NULL);
    assert_int_equal(gs_wish_claim(r1, "W-1", "P-1", win), GS_OK);
    assert_string_equal(win, "P-1"); /* as a sees it, offline */
    carry(t->base, r1, r2);
    carry(t->base, r2, r1);
    assert_wish(r1, "W-1", "P-2 > P-1", "claimed");
    assert_wish(r2, "W-1", "P-2 > P-1", "claimed");
    gs_replica_close(r2);
    gs_replica_close(r1);
    gs_replica_close(ra);
}

/* A comment's own time: the shape and the ranges the workflows write. */
static void
test_comment_stamped_reads_the_step_time(void **state)
{
    (void)state;
    assert_true(gs_comment_stamped("2024-05-01 08:30 accept by 王芳"));
    assert_true(gs_comment_stamped("2024-12-31 23:59"));
    assert_false(gs_comment_stamped("2024-05-01 24:00 accept by x"));
    assert_false(gs_comment_stamped("2024-05-01 08:60 accept by x"));
    assert_false(gs_comment_stamped("2024-13-01 08:30 accept by x"));
    assert_false(gs_comment_stamped("2024-05-01 8:30 accept by x"));
    assert_false(gs_comment_stamped("2024-05-01"));
    assert_false(gs_comment_stamped("accept by x"));
    assert_false(gs_comment_stamped(""));
    assert_false(gs_comment_stamped(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comment_stamped_reads_the_step_time),
        cmocka_unit_test_setup_teardown(test_ticket_every_valid_step, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ticket_reopen_starts_round_1,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ticket_refusals_say_why_and_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticket_without_stage_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_records_grid_must_be_ours,
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
        cmocka_unit_test_setup_teardown(test_visit_add_and_refusals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkin_one_record_a_day, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkin_missing_lists_the_grid,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_wish_claims_and_refusals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wish_two_devices_one_winner, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
