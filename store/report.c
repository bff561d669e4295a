/*
 * report.c — the command centre's figures (issue 6, DESIGN §1: response
 * rate, closure rate, satisfaction), per grid, per community and for the
 * whole scope, read from this replica's materialised state and, where a
 * figure needs a time, its op history (gridsync.h, gs_report_get).
 *
 * What each figure counts (docs/cli.md "Report" says the same for users):
 * - tickets: every ticket the replica holds whose `grid` lies under the
 *   scope; a reopened ticket is one ticket, whatever its round.
 * - responded: the ticket's stage reached accepted or later (any round),
 *   and the first op that moved it there was taken at or before its
 *   `deadline` (minute precision). The time of that op is the time its
 *   own comment starts with ("2024-12-30 09:24 ..."): the workflow
 *   (domain.c) writes its steps so, in the writer's local time, the zone
 *   the deadline was written in, so the figure does not depend on the
 *   zone of the machine that runs the report; records carried over from
 *   registers, and the generated districts, say when the step was taken,
 *   while an import stamps its ops with the time of the import. A comment
 *   without that prefix (a raw put) leaves the op's clock stamp (HLC, in
 *   this machine's local time). A ticket with no readable deadline counts as responded once
 *   accepted: it had no limit to miss.
 * - closed: the stage is closed now. Closure rate = closed / tickets.
 * - satisfaction: over tickets with a `satisfaction` of 1..5: the mean,
 *   and the share with 4 or more.
 * - overdue: not resolved or closed and the deadline before the end of
 *   the report day ("YYYY-MM-DD" deadlines run to the end of that day).
 * - check-in coverage: residents tagged elderly-alone under the scope,
 *   and of them those with a check-in whose `day` is the report day (any
 *   status; "concern" ones also counted apart). A check-in counts for
 *   its resident's grid.
 * - points: per person under the scope, every counter delta of `points`
 *   in the op history: positive ones summed as granted, negative ones as
 *   redeemed. The ledger's text is free (its format differs between the
 *   workflow and imported registers); the deltas are what the balance is.
 * A rate with nothing to divide by is null (shown n/a), never 0.
 *
 * Tickets, check-ins and points are counted as the replica holds them
 * now; the report day decides only check-ins and overdue (the state of a
 * past day is not rebuilt). Grids come from the org units (kind grid)
 * under the scope and from the `grid` paths the records name; a grid's
 * community is its path's parent, named by the org unit of that scope.
 *
 * Reads only; the history of an entity is read after the listing ends
 * (one read transaction at a time per thread: LMDB).
 *
 * SPEC: DESIGN §1 (command centre), docs/cli.md "Report".
 */
#include "gridsync.h"

#include "domain_int.h"

#include "hlc.h"
#include "op.h"
#include "replica_int.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STAMP_BYTES 17             /* "YYYY-MM-DD HH:MM" + NUL */
#define REPORT_ITEMS_MAX 50000000u /* pending histories, grids: a cap */

enum { ST_ACCEPTED = 1, ST_RESOLVED = 4, ST_CLOSED = 5 };

static const char *const stage_names[] = {
    "reported", "accepted", "dispatched", "in_progress", "resolved", "closed",
};

struct tally {
    long long tickets, responded, closed, rated, sat_sum, satisfied, overdue;
    long long elderly, checked, concern, granted, redeemed;
};

struct grid {
    char *scope;
    struct tally t;
};

/* An entity whose history is read once the listing is over. */
struct pending {
    char *id;
    size_t grid;
    char deadline[STAMP_BYTES + 1]; /* tickets: normalised */
    char accepted[STAMP_BYTES + 1]; /* tickets: first accepted, or "" */
};

/* What an op of a pending entity's history is read with. */
struct hist {
    struct report *rp;
    struct pending *p;
};

struct report {
    gs_replica *r;
    const char *scope;
    char day[11];
    char day_end[STAMP_BYTES + 1]; /* "DAY 24:00": after every minute */
    json_t *names;                 /* org scope -> name */
    json_t *kinds;                 /* org scope -> kind */
    json_t *grid_ix;               /* grid scope -> index in grids */
    json_t *elderly;               /* person id -> grid index */
    json_t *checked;               /* person id -> true, once counted */
    struct grid *grids;
    size_t n_grids, cap_grids;
    struct pending *pend;
    size_t n_pend, cap_pend;
    gs_err rc;
};

/* Does path lie at or under scope ("" holds everything)? */
static bool
under(const char *scope, const char *path)
{
    size_t n = strlen(scope);
    return n == 0 ||
           (strncmp(scope, path, n) == 0 && (path[n] == 0 || path[n] == '.'));
}

/* The index of grid scope g, added if new; SIZE_MAX on failure (rc set). */
static size_t
grid_index(struct report *rp, const char *g)
{
    json_t *ix = json_object_get(rp->grid_ix, g);
    if (ix)
        return (size_t)json_integer_value(ix);
    if (rp->n_grids >= REPORT_ITEMS_MAX ||
        gs_grow((void **)&rp->grids, &rp->cap_grids, rp->n_grids + 1,
                sizeof *rp->grids) != GS_OK) {
        rp->rc = GS_ENOMEM;
        return SIZE_MAX;
    }
    struct grid *gr = &rp->grids[rp->n_grids];
    memset(gr, 0, sizeof *gr);
    if ((gr->scope = strdup(g)) == NULL) {
        rp->rc = GS_ENOMEM;
        return SIZE_MAX;
    }
    json_object_set_new(rp->grid_ix, g, json_integer((json_int_t)rp->n_grids));
    return rp->n_grids++;
}

static bool
pending_add(struct report *rp, const char *id, size_t grid,
            const char *deadline)
{
    if (rp->n_pend >= REPORT_ITEMS_MAX ||
        gs_grow((void **)&rp->pend, &rp->cap_pend, rp->n_pend + 1,
                sizeof *rp->pend) != GS_OK)
        return false;
    struct pending *p = &rp->pend[rp->n_pend];
    p->grid = grid;
    snprintf(p->deadline, sizeof p->deadline, "%s", deadline ? deadline : "");
    p->accepted[0] = 0;
    if ((p->id = strdup(id)) == NULL)
        return false;
    rp->n_pend++;
    return true;
}

static void
pending_clear(struct report *rp)
{
    for (size_t i = 0; i < rp->n_pend; i++)
        free(rp->pend[i].id);
    rp->n_pend = 0;
}

/* A deadline as a comparable stamp: "YYYY-MM-DD HH:MM" as is,
 * "YYYY-MM-DD" as the end of that day ("... 24:00"); false if neither. */
static bool
deadline_norm(const char *s, char out[STAMP_BYTES + 1])
{
    if (s && strlen(s) == 16 && gs_domain_stamp_ok(s)) {
        memcpy(out, s, 17);
        return true;
    }
    if (s && strlen(s) == 10 && gs_domain_date_ok(s)) {
        snprintf(out, STAMP_BYTES + 1, "%.10s 24:00", s);
        return true;
    }
    return false;
}

static json_t *
field_of(const json_t *e, const char *name)
{
    return json_object_get(json_object_get(e, "fields"), name);
}

/* Parse one listed entity; its grid's index if under the scope (the
 * entity in *e, which the caller decrefs), else SIZE_MAX. */
static size_t
entity_grid(struct report *rp, const char *json, json_t **e)
{
    *e = json_loads(json, 0, NULL);
    const char *g = json_string_value(field_of(*e, "grid"));
    if (g == NULL || !under(rp->scope, g))
        return SIZE_MAX;
    return grid_index(rp, g);
}

/* ---- org units ---- */

static int
org_one(const char *json, void *ctx)
{
    struct report *rp = ctx;
    json_t *e = json_loads(json, 0, NULL);
    const char *scope = json_string_value(field_of(e, "scope"));
    const char *kind = json_string_value(field_of(e, "kind"));
    const char *name = json_string_value(field_of(e, "name"));
    /* a building's scope is its grid's (the data's place), not its own */
    if (kind && strcmp(kind, "building") == 0)
        scope = NULL;
    if (scope && name)
        json_object_set_new(rp->names, scope, json_string(name));
    if (scope && kind)
        json_object_set_new(rp->kinds, scope, json_string(kind));
    if (scope && kind && strcmp(kind, "grid") == 0 && under(rp->scope, scope))
        grid_index(rp, scope);
    json_decref(e);
    return rp->rc != GS_OK;
}

/* ---- tickets ---- */

static int
stage_of(const json_t *st, long long *round)
{
    *round = json_integer_value(json_object_get(st, "round"));
    json_t *s = json_object_get(st, "stage");
    if (json_is_integer(s))
        return (int)json_integer_value(s);
    for (int i = 0; json_is_string(s) && i <= ST_CLOSED; i++)
        if (strcmp(json_string_value(s), stage_names[i]) == 0)
            return i;
    return -1;
}

static int
ticket_one(const char *json, void *ctx)
{
    struct report *rp = ctx;
    json_t *e;
    size_t g = entity_grid(rp, json, &e);
    if (g != SIZE_MAX) {
        struct tally *t = &rp->grids[g].t;
        long long round;
        int st = stage_of(field_of(e, "stage"), &round);
        char dl[STAMP_BYTES + 1];
        bool has_dl =
            deadline_norm(json_string_value(field_of(e, "deadline")), dl);
        json_t *sat = field_of(e, "satisfaction");
        t->tickets++;
        t->closed += st == ST_CLOSED;
        /* a rating counts while it rates the ticket's outcome: not once
         * the ticket is reopened and not yet resolved again */
        if (st >= ST_RESOLVED && json_is_integer(sat) &&
            json_integer_value(sat) >= 1 && json_integer_value(sat) <= 5) {
            t->rated++;
            t->sat_sum += json_integer_value(sat);
            t->satisfied += json_integer_value(sat) >= 4;
        }
        if (st < ST_RESOLVED && has_dl && strcmp(dl, rp->day_end) < 0)
            t->overdue++;
        if (st >= ST_ACCEPTED || round > 0) {
            if (!has_dl)
                t->responded++;
            else if (!pending_add(rp,
                                  json_string_value(json_object_get(e, "id")),
                                  g, dl))
                rp->rc = GS_ENOMEM;
        }
    }
    json_decref(e);
    return rp->rc != GS_OK;
}

/* The time an op was taken: its comment's leading stamp, else its clock
 * stamp in local time. */
static void
op_time(const json_t *op, char out[STAMP_BYTES + 1])
{
    const json_t *up = json_object_get(op, "updates");
    const char *c = json_string_value(
        json_object_get(json_object_get(up, "comments"), "value"));
    if (gs_comment_stamped(c)) {
        snprintf(out, STAMP_BYTES + 1, "%.16s", c);
        return;
    }
    time_t s = (time_t)(gs_hlc_ms((uint64_t)json_integer_value(
                            json_object_get(op, "hlc"))) /
                        1000);
    struct tm tm;
    if (localtime_r(&s, &tm) == NULL ||
        strftime(out, STAMP_BYTES + 1, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, STAMP_BYTES + 1, "9999-12-31 23:59"); /* never in time */
}

/* The earliest time an op moved the ticket to accepted or later. */
static int
accepted_one(const char *json, void *ctx)
{
    struct hist *h = ctx;
    char *first = h->p->accepted, at[STAMP_BYTES + 1];
    json_t *op = json_loads(json, 0, NULL);
    const json_t *st = json_object_get(
        json_object_get(json_object_get(op, "updates"), "stage"), "value");
    long long round;
    int s = st ? stage_of(st, &round) : -1;
    if (st && (s >= ST_ACCEPTED || round > 0)) {
        op_time(op, at);
        if (!first[0] || strcmp(at, first) < 0)
            memcpy(first, at, sizeof at);
    }
    json_decref(op);
    return 0;
}

/* Read the history of every pending entity of type, op by op, with fn
 * (whose ctx is a struct hist). */
static gs_err
histories(struct report *rp, const char *type, gs_replica_json_fn fn)
{
    for (size_t i = 0; i < rp->n_pend; i++) {
        struct hist h = {rp, &rp->pend[i]};
        gs_err rc = gs_replica_history(rp->r, type, rp->pend[i].id, fn, &h);
        if (rc != GS_OK)
            return rc;
    }
    return GS_OK;
}

static gs_err
tickets_responded(struct report *rp)
{
    gs_err rc = histories(rp, "ticket", accepted_one);
    for (size_t i = 0; rc == GS_OK && i < rp->n_pend; i++) {
        const struct pending *p = &rp->pend[i];
        if (p->accepted[0] && strcmp(p->accepted, p->deadline) <= 0)
            rp->grids[p->grid].t.responded++;
    }
    return rc;
}

/* ---- residents: elderly living alone, points ---- */

/* A resident without a grid of its own is in its household's, as the
 * check-in workflow and `checkin missing` count it. */
static size_t
household_grid(struct report *rp, const json_t *person)
{
    const char *hid = json_string_value(field_of(person, "household"));
    char *text = NULL;
    size_t g = SIZE_MAX;
    if (hid == NULL || field_of(person, "grid") ||
        gs_replica_get(rp->r, "household", hid, 0, &text) != GS_OK)
        return SIZE_MAX;
    json_t *h = json_loads(text, 0, NULL);
    free(text);
    const char *hg = json_string_value(field_of(h, "grid"));
    if (hg && under(rp->scope, hg))
        g = grid_index(rp, hg);
    json_decref(h);
    return g;
}

static int
person_one(const char *json, void *ctx)
{
    struct report *rp = ctx;
    json_t *e, *tag;
    size_t g = entity_grid(rp, json, &e), i;
    if (g == SIZE_MAX && e)
        g = household_grid(rp, e);
    const char *id = json_string_value(json_object_get(e, "id"));
    if (g != SIZE_MAX && id) {
        json_array_foreach(field_of(e, "tags"), i, tag)
        {
            if (json_is_string(tag) &&
                strcmp(json_string_value(tag), "elderly-alone") == 0) {
                rp->grids[g].t.elderly++;
                json_object_set_new(rp->elderly, id,
                                    json_integer((json_int_t)g));
                break;
            }
        }
        if (field_of(e, "points") && !pending_add(rp, id, g, NULL))
            rp->rc = GS_ENOMEM;
    }
    json_decref(e);
    return rp->rc != GS_OK;
}

static int
points_one(const char *json, void *ctx)
{
    struct hist *h = ctx;
    struct tally *t = &h->rp->grids[h->p->grid].t;
    json_t *op = json_loads(json, 0, NULL);
    json_t *p = json_object_get(
        json_object_get(json_object_get(op, "updates"), "points"), "value");
    long long d = json_integer_value(json_object_get(p, "delta"));
    if (d > 0)
        t->granted += d;
    else
        t->redeemed -= d;
    json_decref(op);
    return 0;
}

/* rp->checked holds, per resident, 1 once counted checked in, | 2 once
 * counted with a concern: two check-ins of one day count once. */
static int
checkin_one(const char *json, void *ctx)
{
    struct report *rp = ctx;
    json_t *e = json_loads(json, 0, NULL);
    const char *who = json_string_value(field_of(e, "person"));
    const char *status = json_string_value(field_of(e, "status"));
    json_t *g = who ? json_object_get(rp->elderly, who) : NULL;
    if (g) {
        struct tally *t = &rp->grids[json_integer_value(g)].t;
        json_int_t bits = json_integer_value(json_object_get(rp->checked, who));
        if (!(bits & 1)) {
            t->checked++;
            bits |= 1;
        }
        if (status && strcmp(status, "concern") == 0 && !(bits & 2)) {
            t->concern++;
            bits |= 2;
        }
        json_object_set_new(rp->checked, who, json_integer(bits));
    }
    json_decref(e);
    return 0;
}

/* ---- the result ---- */

static json_t *
rate(long long n, long long of)
{
    return of ? json_real((double)n / (double)of) : json_null();
}

/* Every member of struct tally is a long long: add them one by one. */
static void
tally_add(struct tally *a, const struct tally *b)
{
    long long *x = (long long *)a;
    const long long *y = (const long long *)b;
    for (size_t i = 0; i < sizeof *a / sizeof *x; i++)
        x[i] += y[i];
}

static json_t *
tally_json(const struct tally *t)
{
    json_t *o = json_object();
#define I(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
    I("tickets", t->tickets);
    I("responded", t->responded);
    json_object_set_new(o, "response_rate", rate(t->responded, t->tickets));
    I("closed", t->closed);
    json_object_set_new(o, "closure_rate", rate(t->closed, t->tickets));
    I("rated", t->rated);
    json_object_set_new(o, "satisfaction_mean", rate(t->sat_sum, t->rated));
    I("satisfied", t->satisfied);
    json_object_set_new(o, "satisfied_share", rate(t->satisfied, t->rated));
    I("overdue", t->overdue);
    I("elderly_alone", t->elderly);
    I("checked_in", t->checked);
    json_object_set_new(o, "checkin_coverage", rate(t->checked, t->elderly));
    I("checkin_concern", t->concern);
    I("points_granted", t->granted);
    I("points_redeemed", t->redeemed);
#undef I
    return o;
}

/* {"scope", "name", "kind", "totals"} for an org scope. */
static json_t *
unit_json(const struct report *rp, const char *scope, const struct tally *t)
{
    const char *name = json_string_value(json_object_get(rp->names, scope));
    const char *kind = json_string_value(json_object_get(rp->kinds, scope));
    return json_pack("{s:s, s:s, s:s, s:o}", "scope", scope, "name",
                     name ? name : scope, "kind", kind ? kind : "", "totals",
                     tally_json(t));
}

static int
grid_cmp(const void *a, const void *b)
{
    return strcmp(((const struct grid *)a)->scope,
                  ((const struct grid *)b)->scope);
}

/* A grid's community: its path's parent ("" for a one-word path). */
static size_t
parent_len(const char *scope)
{
    const char *dot = strrchr(scope, '.');
    return dot ? (size_t)(dot - scope) : 0;
}

static json_t *
result(struct report *rp)
{
    struct tally all = {0};
    json_t *comms = json_array();
    if (rp->n_grids) /* grids is NULL then: qsort may not take it */
        qsort(rp->grids, rp->n_grids, sizeof *rp->grids, grid_cmp);
    for (size_t i = 0; i < rp->n_grids;) {
        size_t n = parent_len(rp->grids[i].scope), j;
        char comm[GS_SCOPE_BYTES_MAX + 1];
        snprintf(comm, sizeof comm, "%.*s", (int)n, rp->grids[i].scope);
        struct tally ct = {0};
        json_t *grids = json_array();
        for (j = i; j < rp->n_grids && parent_len(rp->grids[j].scope) == n &&
                    strncmp(rp->grids[j].scope, comm, n) == 0;
             j++) {
            tally_add(&ct, &rp->grids[j].t);
            json_array_append_new(
                grids, unit_json(rp, rp->grids[j].scope, &rp->grids[j].t));
        }
        tally_add(&all, &ct);
        json_t *c = unit_json(rp, comm, &ct);
        json_object_set_new(c, "grids", grids);
        json_array_append_new(comms, c);
        i = j;
    }
    const char *name = json_string_value(json_object_get(rp->names, rp->scope));
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "scope", rp->scope, "name",
                     name ? name : rp->scope, "day", rp->day, "totals",
                     tally_json(&all), "communities", comms);
}

static gs_err
bad(gs_replica *r, const char *msg, const char *what)
{
    char why[600];
    snprintf(why, sizeof why, msg, what);
    gs_replica_detail_set(r, why);
    return GS_EINVAL;
}

gs_err
gs_report_get(gs_replica *r, const char *scope, const char *day, char **json)
{
    struct report rp;
    if (r == NULL || json == NULL)
        return GS_EINVAL;
    memset(&rp, 0, sizeof rp);
    rp.r = r;
    rp.scope = scope ? scope : gs_replica_scope(r);
    if (!gs_scope_valid((const uint8_t *)rp.scope, strlen(rp.scope)))
        return bad(r,
                   "'%s' is not an org path; give one such as yc or "
                   "yc.s01.c01",
                   rp.scope);
    if (day) {
        if (strlen(day) != 10 || !gs_domain_date_ok(day))
            return bad(r, "day '%s' is not a date; give YYYY-MM-DD", day);
        memcpy(rp.day, day, 11);
    }
    /* overdue: past the deadline by the end of the day, or for today by
     * now (a ticket due at 23:50 is not overdue at 11:00) */
    time_t now = time(NULL);
    struct tm tm;
    char today[11], now_stamp[STAMP_BYTES + 1];
    if (localtime_r(&now, &tm) == NULL ||
        strftime(today, sizeof today, "%Y-%m-%d", &tm) == 0 ||
        strftime(now_stamp, sizeof now_stamp, "%Y-%m-%d %H:%M", &tm) == 0)
        return bad(r, "%s", "cannot read the clock; give --day");
    if (!day)
        memcpy(rp.day, today, sizeof today);
    if (strcmp(rp.day, today) == 0)
        snprintf(rp.day_end, sizeof rp.day_end, "%s", now_stamp);
    else
        snprintf(rp.day_end, sizeof rp.day_end, "%s 24:00", rp.day);
    rp.names = json_object();
    rp.kinds = json_object();
    rp.grid_ix = json_object();
    rp.elderly = json_object();
    rp.checked = json_object();
    gs_err rc = GS_ENOMEM;
    if (!rp.names || !rp.kinds || !rp.grid_ix || !rp.elderly || !rp.checked)
        goto out;
    if ((rc = gs_replica_list(r, "org", NULL, NULL, 0, org_one, &rp)) !=
            GS_OK ||
        (rc = rp.rc) != GS_OK)
        goto out;
    if ((rc = gs_replica_list(r, "ticket", NULL, NULL, 0, ticket_one, &rp)) !=
            GS_OK ||
        (rc = rp.rc) != GS_OK || (rc = tickets_responded(&rp)) != GS_OK)
        goto out;
    pending_clear(&rp);
    if ((rc = gs_replica_list(r, "person", NULL, NULL, 0, person_one, &rp)) !=
            GS_OK ||
        (rc = rp.rc) != GS_OK ||
        (rc = histories(&rp, "person", points_one)) != GS_OK)
        goto out;
    if ((rc = gs_replica_list(r, "checkin", "day", rp.day, 0, checkin_one,
                              &rp)) != GS_OK)
        goto out;
    json_t *res = result(&rp);
    char *text =
        res ? json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(res);
    rc = text ? GS_OK : GS_ENOMEM;
    if (text)
        *json = text;
out:
    pending_clear(&rp);
    free(rp.pend);
    for (size_t i = 0; i < rp.n_grids; i++)
        free(rp.grids[i].scope);
    free(rp.grids);
    json_decref(rp.names);
    json_decref(rp.kinds);
    json_decref(rp.grid_ix);
    json_decref(rp.elderly);
    json_decref(rp.checked);
    return rc;
}
