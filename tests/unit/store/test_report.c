/*
 * test_report.c — gs_report_get (store/report.c; issue 6): a scope with no
 * tickets gives null rates, not 0/0; a reopened ticket counts once, its
 * latest rating and stage; the acceptance time read from a comment's
 * stamp, else the op's clock, against deadlines with and without a time;
 * overdue at the end of the report day; an elderly resident with no
 * check-in that day, and two check-ins of one resident counted once;
 * points split into granted and redeemed; the scope filter (at dot
 * boundaries only) and bad arguments.
 * Each test works in its own mkdtemp directory, removed afterwards.
 */
#include "gridsync.h"
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef gs_test_rdir tdir;

#define G1 "yc.s01.c01.g001"
#define G2 "yc.s01.c01.g002"
#define G3 "yc.s02.c02.g001"

/* A standalone replica in scope yc (its own authority: it may redeem). */
static int
setup(void **state)
{
    *state = gs_test_rdir_new("/tmp/gs-test-report-XXXXXX", "yc", "tester");
    return 0;
}

static void
put(gs_replica *r, const char *type, const char *id, const char *fields)
{
    gs_err rc = gs_replica_put(r, type, id, fields);
    if (rc != GS_OK)
        fail_msg("put %s %s: %s (%s)", type, id, gs_errname(rc),
                 gs_replica_detail(r));
}

/* The org units: a community with two grids, another with one. */
static void
org(gs_replica *r)
{
    put(r, "org", "O-c01",
        "{\"kind\":\"community\",\"name\":\"勤政社区\",\"scope\":"
        "\"yc.s01.c01\"}");
    put(r, "org", "O-g1",
        "{\"kind\":\"grid\",\"name\":\"第1网格\",\"scope\":\"" G1 "\"}");
    put(r, "org", "O-g2",
        "{\"kind\":\"grid\",\"name\":\"第2网格\",\"scope\":\"" G2 "\"}");
    /* a building shares its grid's scope: it must not rename the grid */
    put(r, "org", "O-b1",
        "{\"kind\":\"building\",\"name\":\"1栋\",\"scope\":\"" G1 "\"}");
    put(r, "org", "O-c02",
        "{\"kind\":\"village\",\"name\":\"新新村\",\"scope\":"
        "\"yc.s02.c02\"}");
    put(r, "org", "O-g3",
        "{\"kind\":\"grid\",\"name\":\"新新村第1网格\",\"scope\":\"" G3 "\"}");
}

/* The report as JSON (the caller decrefs it). */
static json_t *
report(gs_replica *r, const char *scope, const char *day)
{
    char *text = NULL;
    gs_err rc = gs_report_get(r, scope, day, &text);
    if (rc != GS_OK)
        fail_msg("report: %s (%s)", gs_errname(rc), gs_replica_detail(r));
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static json_t *
totals(json_t *unit)
{
    return json_object_get(unit, "totals");
}

static long long
n(json_t *t, const char *key)
{
    json_t *v = json_object_get(t, key);
    if (!json_is_integer(v))
        fail_msg("%s is not a count", key);
    return json_integer_value(v);
}

static double
x(json_t *t, const char *key)
{
    json_t *v = json_object_get(t, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

/* The unit (community or grid) of scope in the report, or NULL. */
static json_t *
unit(json_t *rep, const char *scope)
{
    json_t *c, *g;
    size_t i, j;
    json_array_foreach(json_object_get(rep, "communities"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "scope")), scope) == 0)
            return c;
        json_array_foreach(json_object_get(c, "grids"), j, g)
        {
            if (strcmp(json_string_value(json_object_get(g, "scope")), scope) ==
                0)
                return g;
        }
    }
    return NULL;
}

static void
test_report_no_tickets_rates_are_null(void **state)
{
    tdir *t = *state;
    org(t->r);
    json_t *rep = report(t->r, NULL, "2024-12-31");
    assert_string_equal(json_string_value(json_object_get(rep, "scope")), "yc");
    assert_string_equal(json_string_value(json_object_get(rep, "day")),
                        "2024-12-31");
    json_t *tot = totals(rep);
    assert_int_equal(n(tot, "tickets"), 0);
    const char *rates[] = {"response_rate", "closure_rate", "satisfaction_mean",
                           "satisfied_share", "checkin_coverage"};
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (!json_is_null(json_object_get(tot, rates[i])))
            fail_msg("%s is not null with nothing to count", rates[i]);
    /* the org tree is there all the same, named by the org units */
    assert_int_equal(json_array_size(json_object_get(rep, "communities")), 2);
    json_t *g1 = unit(rep, G1);
    assert_non_null(g1);
    assert_string_equal(json_string_value(json_object_get(g1, "name")),
                        "第1网格");
    assert_string_equal(
        json_string_value(json_object_get(unit(rep, "yc.s01.c01"), "name")),
        "勤政社区");
    assert_true(json_is_null(json_object_get(totals(g1), "response_rate")));
    json_decref(rep);
}

static void
step(gs_replica *r, const char *id, const char *s, const char *arg)
{
    gs_err rc = gs_ticket_step(r, id, s, arg, NULL, NULL, NULL, NULL);
    if (rc != GS_OK)
        fail_msg("%s %s: %s (%s)", s, id, gs_errname(rc), gs_replica_detail(r));
}

static void
test_report_reopened_ticket_counts_once(void **state)
{
    tdir *t = *state;
    gs_ticket_report_opts o = {
        .category = "市政设施", .grid = G1, .deadline = "2099-01-01 00:00"};
    assert_int_equal(gs_ticket_report(t->r, "T-1", &o), GS_OK);
    step(t->r, "T-1", "accept", NULL);
    step(t->r, "T-1", "dispatch", "城管局");
    step(t->r, "T-1", "resolve", NULL);
    step(t->r, "T-1", "close", NULL);
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 2, NULL, NULL), GS_OK);
    step(t->r, "T-1", "reopen", NULL); /* round 1, at reported */

    json_t *rep = report(t->r, NULL, "2024-12-31");
    json_t *tot = totals(rep);
    assert_int_equal(n(tot, "tickets"), 1);
    assert_int_equal(n(tot, "responded"), 1); /* round 0's acceptance */
    assert_int_equal(n(tot, "closed"), 0);    /* open again */
    /* its rating rated round 0's outcome: not while it is open again */
    assert_int_equal(n(tot, "rated"), 0);
    assert_int_equal(n(tot, "satisfied"), 0);
    json_decref(rep);

    step(t->r, "T-1", "accept", NULL);
    step(t->r, "T-1", "dispatch", "城管局");
    step(t->r, "T-1", "resolve", NULL);
    step(t->r, "T-1", "close", NULL);
    assert_int_equal(gs_ticket_rate(t->r, "T-1", 5, NULL, NULL), GS_OK);
    rep = report(t->r, NULL, "2024-12-31");
    tot = totals(rep);
    assert_int_equal(n(tot, "tickets"), 1);
    assert_int_equal(n(tot, "responded"), 1);
    assert_int_equal(n(tot, "closed"), 1);
    assert_int_equal(n(tot, "rated"), 1);
    assert_int_equal(n(tot, "satisfied"), 1);
    assert_true(x(tot, "satisfaction_mean") == 5.0);
    assert_true(x(tot, "closure_rate") == 1.0);
    json_decref(rep);
}

static void
test_report_response_time_and_overdue(void **state)
{
    tdir *t = *state;
    /* an imported register: the comment says when it was accepted */
    put(t->r, "ticket", "T-late",
        "{\"grid\":\"" G1 "\",\"deadline\":\"2024-12-30 08:00\","
        "\"stage\":\"reported\"}");
    put(t->r, "ticket", "T-late",
        "{\"stage\":\"accepted\",\"comments\":\"2024-12-30 09:00 受理\"}");
    /* a date-only deadline runs to the end of its day */
    put(t->r, "ticket", "T-eod",
        "{\"grid\":\"" G1 "\",\"deadline\":\"2024-12-30\","
        "\"stage\":\"reported\"}");
    put(t->r, "ticket", "T-eod",
        "{\"stage\":\"accepted\",\"comments\":\"2024-12-30 23:59 受理\"}");
    /* accepted exactly at its deadline: in time */
    put(t->r, "ticket", "T-edge",
        "{\"grid\":\"" G1 "\",\"deadline\":\"2024-12-29 10:00\","
        "\"stage\":\"accepted\",\"comments\":\"2024-12-29 10:00 受理\"}");
    put(t->r, "ticket", "T-edge", "{\"stage\":\"resolved\"}");
    /* no stamp in the comment: the op's clock, which is past 2024 */
    gs_ticket_report_opts o = {
        .category = "环境卫生", .grid = G1, .deadline = "2024-01-01"};
    assert_int_equal(gs_ticket_report(t->r, "T-clock", &o), GS_OK);
    step(t->r, "T-clock", "accept", NULL);
    /* never accepted */
    put(t->r, "ticket", "T-new",
        "{\"grid\":\"" G1 "\",\"deadline\":\"2025-01-05 12:00\","
        "\"stage\":\"reported\"}");

    json_t *rep = report(t->r, NULL, "2024-12-30");
    json_t *tot = totals(rep);
    assert_int_equal(n(tot, "tickets"), 5);
    assert_int_equal(n(tot, "responded"), 2); /* T-eod, T-edge */
    assert_true(x(tot, "response_rate") == 2.0 / 5.0);
    /* open and past the deadline by the end of 2024-12-30: T-late (08:00
     * that day) and T-clock; T-eod's runs to the day's end exactly */
    assert_int_equal(n(tot, "overdue"), 2);
    json_decref(rep);
    rep = report(t->r, NULL, "2024-12-29");
    assert_int_equal(n(totals(rep), "overdue"), 1); /* T-clock only */
    json_decref(rep);
    rep = report(t->r, NULL, "2024-12-31");
    assert_int_equal(n(totals(rep), "overdue"), 3); /* T-eod too */
    json_decref(rep);
}

static void
test_report_elderly_without_checkin(void **state)
{
    tdir *t = *state;
    put(t->r, "person", "P-1",
        "{\"grid\":\"" G1 "\",\"tags\":[\"elderly-alone\"]}");
    put(t->r, "person", "P-2",
        "{\"grid\":\"" G1 "\",\"tags\":[\"elderly-alone\",\"low-income\"]}");
    put(t->r, "person", "P-3", "{\"grid\":\"" G2 "\",\"tags\":[\"disabled\"]}");
    /* P-1 twice on the day (once with a concern), P-2 only the day
     * before, P-3 (not living alone) on the day */
    put(t->r, "checkin", "C-1a",
        "{\"person\":\"P-1\",\"day\":\"2024-12-31\",\"status\":\"ok\"}");
    put(t->r, "checkin", "C-1b",
        "{\"person\":\"P-1\",\"day\":\"2024-12-31\",\"status\":"
        "\"concern\"}");
    put(t->r, "checkin", "C-2",
        "{\"person\":\"P-2\",\"day\":\"2024-12-30\",\"status\":\"ok\"}");
    put(t->r, "checkin", "C-3",
        "{\"person\":\"P-3\",\"day\":\"2024-12-31\",\"status\":\"ok\"}");

    json_t *rep = report(t->r, NULL, "2024-12-31");
    json_t *tot = totals(rep);
    assert_int_equal(n(tot, "elderly_alone"), 2);
    assert_int_equal(n(tot, "checked_in"), 1);
    assert_int_equal(n(tot, "checkin_concern"), 1);
    assert_true(x(tot, "checkin_coverage") == 0.5);
    assert_true(json_is_null(
        json_object_get(totals(unit(rep, G2)), "checkin_coverage")));
    json_decref(rep);
    rep = report(t->r, NULL, "2024-12-30");
    assert_int_equal(n(totals(rep), "checked_in"), 1); /* P-2 */
    assert_int_equal(n(totals(rep), "checkin_concern"), 0);
    json_decref(rep);
    rep = report(t->r, NULL, "2024-12-29");
    assert_int_equal(n(totals(rep), "checked_in"), 0);
    assert_true(x(totals(rep), "checkin_coverage") == 0.0);
    json_decref(rep);

    /* a resident without a grid of its own is in its household's, as
     * `checkin missing` counts it (review finding) */
    put(t->r, "household", "H-4", "{\"grid\":\"" G2 "\"}");
    put(t->r, "person", "P-4",
        "{\"household\":\"H-4\",\"tags\":[\"elderly-alone\"]}");
    put(t->r, "checkin", "C-4",
        "{\"person\":\"P-4\",\"day\":\"2024-12-31\",\"status\":\"ok\"}");
    rep = report(t->r, NULL, "2024-12-31");
    json_t *g2 = totals(unit(rep, G2));
    assert_int_equal(n(g2, "elderly_alone"), 1);
    assert_int_equal(n(g2, "checked_in"), 1);
    json_decref(rep);
}

static void
test_report_points_granted_and_redeemed(void **state)
{
    tdir *t = *state;
    put(t->r, "person", "P-1", "{\"grid\":\"" G1 "\"}");
    put(t->r, "person", "P-2", "{\"grid\":\"" G3 "\"}");
    assert_int_equal(gs_points_grant(t->r, "P-1", 10, "清雪", NULL, NULL),
                     GS_OK);
    assert_int_equal(gs_points_grant(t->r, "P-1", 5, "调解", NULL, NULL),
                     GS_OK);
    assert_int_equal(gs_points_redeem(t->r, "P-1", 3, "毛巾", NULL, NULL),
                     GS_OK);
    assert_int_equal(gs_points_grant(t->r, "P-2", 7, "志愿", NULL, NULL),
                     GS_OK);
    json_t *rep = report(t->r, NULL, "2024-12-31");
    assert_int_equal(n(totals(unit(rep, G1)), "points_granted"), 15);
    assert_int_equal(n(totals(unit(rep, G1)), "points_redeemed"), 3);
    assert_int_equal(n(totals(rep), "points_granted"), 22);
    assert_int_equal(n(totals(rep), "points_redeemed"), 3);
    json_decref(rep);
}

static void
test_report_scope_filter(void **state)
{
    tdir *t = *state;
    org(t->r);
    put(t->r, "ticket", "T-1",
        "{\"grid\":\"" G1 "\",\"deadline\":\"2099-01-01\",\"stage\":"
        "\"closed\",\"satisfaction\":4}");
    put(t->r, "ticket", "T-2",
        "{\"grid\":\"" G3 "\",\"deadline\":\"2099-01-01\",\"stage\":"
        "\"reported\"}");
    /* a grid no org unit names is reported under its path */
    put(t->r, "ticket", "T-3",
        "{\"grid\":\"yc.s01.c09.g005\",\"deadline\":\"2099-01-01\","
        "\"stage\":\"reported\"}");

    json_t *rep = report(t->r, "yc.s01", "2024-12-31");
    assert_int_equal(n(totals(rep), "tickets"), 2);
    json_t *comms = json_object_get(rep, "communities");
    assert_int_equal(json_array_size(comms), 2);
    assert_null(unit(rep, G3));
    json_t *c09 = unit(rep, "yc.s01.c09");
    assert_non_null(c09);
    assert_string_equal(json_string_value(json_object_get(c09, "name")),
                        "yc.s01.c09");
    json_decref(rep);

    rep = report(t->r, G1, "2024-12-31");
    assert_int_equal(n(totals(rep), "tickets"), 1);
    assert_int_equal(n(totals(rep), "closed"), 1);
    assert_non_null(unit(rep, G1));
    assert_null(unit(rep, G2));
    json_decref(rep);

    /* yc.s0 is not a prefix of yc.s01 at a dot: nothing */
    rep = report(t->r, "yc.s0", "2024-12-31");
    assert_int_equal(n(totals(rep), "tickets"), 0);
    assert_int_equal(json_array_size(json_object_get(rep, "communities")), 0);
    json_decref(rep);

    rep = report(t->r, NULL, "2024-12-31");
    assert_int_equal(n(totals(rep), "tickets"), 3);
    json_decref(rep);
}

static void
test_report_bad_arguments(void **state)
{
    tdir *t = *state;
    char *text = NULL;
    assert_int_equal(gs_report_get(t->r, "yc..x", NULL, &text), GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "not an org path"));
    assert_int_equal(gs_report_get(t->r, NULL, "2024-02-30x", &text),
                     GS_EINVAL);
    assert_int_equal(gs_report_get(t->r, NULL, "2024-13-01", &text), GS_EINVAL);
    assert_non_null(strstr(gs_replica_detail(t->r), "YYYY-MM-DD"));
    assert_null(text);
    assert_int_equal(gs_report_get(NULL, NULL, NULL, &text), GS_EINVAL);
    /* no day: today, which parses */
    assert_int_equal(gs_report_get(t->r, NULL, NULL, &text), GS_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "day"))), 10);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_no_tickets_rates_are_null,
                                        setup, gs_test_rdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_reopened_ticket_counts_once,
                                        setup, gs_test_rdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_response_time_and_overdue,
                                        setup, gs_test_rdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_elderly_without_checkin,
                                        setup, gs_test_rdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_points_granted_and_redeemed,
                                        setup, gs_test_rdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_scope_filter, setup,
                                        gs_test_rdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_bad_arguments, setup,
                                        gs_test_rdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
