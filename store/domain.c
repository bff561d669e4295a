/*
 * domain.c — the grid's own workflows over the replica API: tickets moving
 * through their stages, points granted and redeemed, visits to households,
 * the daily check-in of elderly people living alone, and micro-wishes with
 * their claims (gridsync.h, "domain workflows"). The command line and a tablet
 * app both come here, so the rules are the same wherever a step is taken.
 *
 * Each step is one gs_replica_put_guarded: the fields of the step are
 * fixed first, and the rule (may this ticket move so? is the balance
 * enough?) is checked by a guard inside the write transaction, against the
 * entity as the op will be built on it. Checked any earlier, a step could
 * pass on a state that the agent or another process changes before the
 * write — two redemptions at one shop at once would both see the old
 * balance. A refusal writes nothing and leaves its sentence as the
 * replica's detail.
 *
 * The rules bind this writer only. Stage merges by (round, stage) maximum
 * and counters by sum (DESIGN §3), so a concurrent step elsewhere may win
 * when the replicas meet; that is the merge doing its job. Balances stay
 * non-negative everywhere because only a shop device redeems, against what
 * it sees, and grants it has not seen only raise the true balance.
 *
 * The stage names below are the ticket.stage stages of seeds/schema.json,
 * in order; tests/unit/store/test_domain.c walks them through the schema.
 *
 * A rule about another entity than the one written (the household of a
 * visit, the person of a check-in) is read just before the write: the
 * guard sees only the entity it writes. Records are registered once and
 * only ever tombstoned, so the worst a race can do is a visit or check-in
 * of a record deleted a moment before, which nothing lists.
 *
 * SPEC: DESIGN §1 (tickets, points, visits, check-ins, wishes), §3 (stage
 * lattice, points rule, claim kind).
 */
#include "gridsync.h"

#include "config.h"
#include "domain_int.h"
#include "field.h"
#include "identity.h"
#include "op.h"
#include "replica_int.h"
#include "store.h"
#include "trust.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A log line (a ticket's comments, a ledger line) is at most this long;
 * a note, a reason or a name that would make it longer is refused. */
#define LOG_TEXT_MAX 2000
#define TEXT_BAD                                                               \
    "a note, reason or name is too long (a line holds at most 2000 bytes) "   \
    "or not UTF-8 text; shorten it"

#define WHY_BYTES 512

enum {
    S_REPORTED,
    S_ACCEPTED,
    S_DISPATCHED,
    S_IN_PROGRESS,
    S_RESOLVED,
    S_CLOSED,
    N_STAGES
};

static const char *const stage_names[N_STAGES] = {
    "reported", "accepted", "dispatched", "in_progress", "resolved", "closed",
};

enum { TO_REOPEN = -1, TO_STAY = -2 };

/* A step: the stages it may start from (lo..hi) and where it leads. */
struct step {
    const char *name;
    const char *done; /* the comment's verb */
    int lo, hi, to;
};

static const struct step steps[] = {
    {"accept", "accepted", S_REPORTED, S_REPORTED, S_ACCEPTED},
    {"dispatch", "dispatched", S_ACCEPTED, S_DISPATCHED, S_DISPATCHED},
    {"progress", "in progress", S_DISPATCHED, S_IN_PROGRESS, S_IN_PROGRESS},
    {"resolve", "resolved", S_DISPATCHED, S_IN_PROGRESS, S_RESOLVED},
    {"close", "closed", S_RESOLVED, S_RESOLVED, S_CLOSED},
    {"reopen", "reopened", S_RESOLVED, S_CLOSED, TO_REOPEN},
    {"rate", "rated", S_RESOLVED, S_CLOSED, TO_STAY},
};

#define N_STEPS (sizeof steps / sizeof steps[0])

/* Say why (a sentence for gs_replica_detail) and return rc. */
static gs_err
refuse(gs_replica *r, gs_err rc, const char *fmt, ...)
{
    char why[WHY_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    gs_replica_detail_set(r, why);
    return rc;
}

static int
stage_index(const char *name)
{
    for (int i = 0; name && i < N_STAGES; i++)
        if (strcmp(name, stage_names[i]) == 0)
            return i;
    return -1;
}

static const struct step *
step_find(const char *name)
{
    for (size_t i = 0; name && i < N_STEPS; i++)
        if (strcmp(name, steps[i].name) == 0)
            return &steps[i];
    return NULL;
}

/* Who takes a step: by, or this device's replica.name. */
static const char *
who(gs_replica *r, const char *by)
{
    if (by && *by)
        return by;
    const char *name = gs_config_get(gs_replica_cfg(r), "replica.name");
    if (name && *name)
        return name;
    /* unnamed: the directory's name, as peers are shown it */
    const char *dir = gs_replica_dir(r), *slash = strrchr(dir, '/');
    return slash && slash[1] ? slash + 1 : dir;
}

/* The grid of (type, id): the one fields set, else the one it holds;
 * NULL if neither says. A new reference in *held if read from it. */
static const char *
grid_of(gs_replica *r, const char *type, const char *id, const json_t *fields,
        json_t **held)
{
    char *text = NULL;
    *held = NULL;
    const char *g = json_string_value(json_object_get(fields, "grid"));
    if (g)
        return g;
    if (gs_replica_get(r, type, id, 0, &text) != GS_OK)
        return NULL;
    *held = json_loads(text, 0, NULL);
    free(text);
    return json_string_value(
        json_object_get(json_object_get(*held, "fields"), "grid"));
}

/* A new record's grid: an org path in this device's scope. Anywhere else
 * the record would go under the device's own scope, where the grid's own
 * devices never read it. */
static gs_err
grid_check(gs_replica *r, const char *what, const char *grid)
{
    const char *own = gs_config_get(gs_replica_cfg(r), "replica.scope");
    size_t n = strlen(grid);
    if (!gs_scope_valid((const uint8_t *)grid, n))
        return refuse(r, GS_EINVAL,
                      "'%s' is not a grid: give the grid's org path, e.g. "
                      "yc.s01.c03.g012",
                      grid);
    if (own && !gs_scope_covers(gs_slice_of(own, strlen(own)),
                                gs_slice_of(grid, n)))
        return refuse(r, GS_ESCOPE,
                      "grid %s is outside this device's scope %s: the %s "
                      "would never reach that grid's devices; enter it on a "
                      "device of that grid, its station or the district",
                      grid, own, what);
    return GS_OK;
}

/* Write fields (a JSON object, whose reference this takes) to (type, id)
 * under guard. When the entity's grid is an org path inside this
 * replica's scope, the op goes under the grid's scope: a station's step
 * on a ticket of one of its grids must reach the grid's tablets, which
 * read only their grid. */
static gs_err
put_fields(gs_replica *r, const char *type, const char *id, json_t *fields,
           gs_replica_guard_fn guard, void *ctx)
{
    char own[GS_SCOPE_BYTES_MAX + 1];
    json_t *held = NULL;
    if (fields == NULL) /* a json_pack of ours failed: a text it took */
        return refuse(r, GS_EINVAL, TEXT_BAD);
    char *text = json_dumps(fields, JSON_COMPACT);
    const char *grid = fields ? grid_of(r, type, id, fields, &held) : NULL;
    snprintf(own, sizeof own, "%s", gs_replica_scope(r));
    bool moved = grid && strcmp(grid, own) != 0 &&
                 gs_replica_scope_use(r, grid) == GS_OK;
    json_decref(fields);
    json_decref(held);
    gs_err rc = text ? gs_replica_put_guarded(r, type, id, text, guard, ctx)
                     : GS_ENOMEM;
    if (moved) {
        /* going back clears the detail: keep the write's reason */
        char why[WHY_BYTES];
        snprintf(why, sizeof why, "%s", gs_replica_detail(r));
        if (gs_replica_scope_use(r, own) != GS_OK)
            rc = rc == GS_OK ? GS_EINVAL : rc; /* cannot be: own was in use */
        gs_replica_detail_set(r, why);
    }
    free(text);
    return rc;
}

static bool local_now(char *buf, size_t len, const char *fmt);

/* "STAMP WHAT by WHO" or "STAMP WHAT by WHO: NOTE", a ticket history
 * line, STAMP the writer's local "YYYY-MM-DD HH:MM" (as the generator and
 * a paper register write it): the report reads a step's time from it, in
 * the zone the deadline was written in, whatever zone the machine that
 * runs the report is set to. NULL if it would not fit LOG_TEXT_MAX or is
 * not UTF-8 (never cut: a cut can split a character, and a silently
 * shortened record is worse than a refusal). */
static json_t *
comment(const char *what, const char *by, const char *note)
{
    char buf[LOG_TEXT_MAX + 1], at[32];
    if (!local_now(at, sizeof at, "%Y-%m-%d %H:%M"))
        return NULL;
    int n = snprintf(buf, sizeof buf, "%s %s by %s%s%s", at, what, by,
                     note && *note ? ": " : "", note && *note ? note : "");
    return n >= 0 && (size_t)n < sizeof buf ? json_string(buf) : NULL;
}

/* ---- tickets ---- */

struct ticket_guard {
    const char *id;
    const struct step *step; /* NULL: report */
    long long round;         /* where the ticket stands after the step */
    int stage;
};

/* The entity's field as current shows it, or NULL. */
static json_t *
field_of(const json_t *current, const char *name)
{
    return json_object_get(json_object_get(current, "fields"), name);
}

static bool
live(const json_t *current)
{
    return current && !json_is_true(json_object_get(current, "deleted"));
}

/* No such entity here (a guard's GS_ENOTFOUND, its sentence in why). */
static gs_err
not_here(char *why, size_t len, const char *type, const char *id,
         const char *made)
{
    snprintf(why, len,
             "no %s %s in this replica; check the id, or sync first if %s "
             "on another device",
             type, id, made);
    return GS_ENOTFOUND;
}

static gs_err
ticket_guard(const json_t *current, void *ctx, char *why, size_t len)
{
    struct ticket_guard *g = ctx;
    const struct step *s = g->step;
    if (s == NULL) {
        if (current == NULL) {
            g->round = 0;
            g->stage = S_REPORTED;
            return GS_OK;
        }
        snprintf(why, len,
                 "ticket %s exists already%s; choose another id, or show "
                 "it with 'gridsync ticket show %s'",
                 g->id, live(current) ? "" : " (deleted)", g->id);
        return GS_EEXIST;
    }
    if (!live(current))
        return not_here(why, len, "ticket", g->id, "it was reported");
    json_t *st = field_of(current, "stage");
    const char *name = json_string_value(json_object_get(st, "stage"));
    int at = stage_index(name);
    long long round = json_integer_value(json_object_get(st, "round"));
    if (at < 0) {
        snprintf(why, len,
                 "ticket %s has no workflow stage; %s needs it %s (it was "
                 "not made with 'ticket report')",
                 g->id, s->name, stage_names[s->lo]);
        return GS_ESTAGE;
    }
    if (at < s->lo) {
        snprintf(why, len, "ticket %s is at %s; %s needs it %s first", g->id,
                 name, s->name, stage_names[s->lo]);
        return GS_ESTAGE;
    }
    if (at > s->hi) {
        snprintf(why, len,
                 "ticket %s is at %s; %s needs it at %s%s%s, and a stage "
                 "never goes back%s",
                 g->id, name, s->name, stage_names[s->lo],
                 s->hi > s->lo ? " to " : "",
                 s->hi > s->lo ? stage_names[s->hi] : "",
                 at >= S_RESOLVED ? "; reopen it to start a new round" : "");
        return GS_ESTAGE;
    }
    g->round = s->to == TO_REOPEN ? round + 1 : round;
    g->stage = s->to == TO_REOPEN ? S_REPORTED : s->to == TO_STAY ? at : s->to;
    return GS_OK;
}

/* The category's department and deadline_hours from the catalog; false
 * (with the valid names in why) if there is no such category. */
static bool
catalog_category(const char *name, char *dept, size_t dept_len, int *hours,
                 char *why, size_t why_len)
{
    json_error_t err;
    json_t *cat = json_loadb(gs_default_catalog_json,
                             gs_default_catalog_json_len, 0, &err);
    json_t *c;
    size_t i;
    bool found = false;
    int used = snprintf(why, why_len,
                        "'%s' is not a ticket category; categories:", name);
    json_array_foreach(json_object_get(cat, "categories"), i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n && strcmp(n, name) == 0) {
            snprintf(dept, dept_len, "%s",
                     json_string_value(json_object_get(c, "department"))
                         ? json_string_value(json_object_get(c, "department"))
                         : "");
            *hours =
                (int)json_integer_value(json_object_get(c, "deadline_hours"));
            found = true;
            break;
        }
        if (n && used > 0 && (size_t)used < why_len)
            used += snprintf(why + used, why_len - (size_t)used, "%s %s",
                             i ? "," : "", n);
    }
    json_decref(cat);
    return found;
}

static bool
digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Is s "YYYY-MM-DD" (its first 10 bytes) with a month and day in range? */
bool
gs_domain_date_ok(const char *s)
{
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    int mo = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}

/* Does s start with "YYYY-MM-DD HH:MM"? */
bool
gs_domain_stamp_ok(const char *s)
{
    return strlen(s) >= 16 && gs_domain_date_ok(s) && s[10] == ' ' &&
           digits(s + 11, 2) && s[13] == ':' && digits(s + 14, 2) &&
           (s[11] - '0') * 10 + (s[12] - '0') < 24 &&
           (s[14] - '0') * 10 + (s[15] - '0') < 60;
}

int
gs_comment_stamped(const char *line)
{
    return line != NULL && gs_domain_stamp_ok(line);
}

/* A time as the generator writes it (deadlines, visits, days):
 * "YYYY-MM-DD" or "YYYY-MM-DD HH:MM", digits only, in range: the one rule
 * for the dates and times the workflows take and the report reads. */
static bool
when_valid(const char *s)
{
    size_t len = strlen(s);
    return (len == 10 && gs_domain_date_ok(s)) ||
           (len == 16 && gs_domain_stamp_ok(s));
}

gs_err
gs_ticket_report(gs_replica *r, const char *id, const gs_ticket_report_opts *o)
{
    char dept[256] = "", why[WHY_BYTES], deadline[32];
    int hours = 0;
    if (r == NULL || id == NULL || o == NULL)
        return GS_EINVAL;
    if (o->category == NULL || !*o->category)
        return refuse(r, GS_EINVAL, "a ticket needs a category");
    if (o->grid == NULL || !*o->grid)
        return refuse(r, GS_EINVAL,
                      "a ticket needs its grid (the grid's org path, "
                      "e.g. yc.s01.c03.g012)");
    gs_err rc = grid_check(r, "ticket", o->grid);
    if (rc != GS_OK)
        return rc;
    if (!catalog_category(o->category, dept, sizeof dept, &hours, why,
                          sizeof why))
        return refuse(r, GS_EINVAL, "%s", why);
    if (o->deadline) {
        if (!when_valid(o->deadline))
            return refuse(r, GS_EINVAL,
                          "deadline '%s' is not a date; give YYYY-MM-DD or "
                          "'YYYY-MM-DD HH:MM'",
                          o->deadline);
        snprintf(deadline, sizeof deadline, "%s", o->deadline);
    } else {
        /* the category's time limit from now, on the local clock as the
         * people who work to it read it */
        time_t t = time(NULL) + (time_t)hours * 3600;
        struct tm tm;
        if (localtime_r(&t, &tm) == NULL ||
            strftime(deadline, sizeof deadline, "%Y-%m-%d %H:%M", &tm) == 0)
            return refuse(r, GS_EINVAL,
                          "cannot read the clock for the "
                          "deadline; give --deadline");
    }
    const char *by = who(r, o->by);
    json_t *f =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "category", o->category,
                  "grid", o->grid, "stage", "reported", "department",
                  o->department ? o->department : dept, "deadline", deadline,
                  "comments", comment("reported", by, o->note));
    if (f && o->title)
        json_object_set_new(f, "title", json_string(o->title));
    if (f && o->reporter)
        json_object_set_new(f, "reporter", json_string(o->reporter));
    if (f && o->address)
        json_object_set_new(f, "address", json_string(o->address));
    struct ticket_guard g = {id, NULL, 0, 0};
    return put_fields(r, "ticket", id, f, ticket_guard, &g);
}

static gs_err
ticket_write(gs_replica *r, const char *id, const struct step *s,
             json_t *fields, const char *by, const char *what, const char *note,
             long long *round, const char **stage)
{
    json_t *line = comment(what, who(r, by), note);
    if (fields == NULL || line == NULL) {
        json_decref(fields);
        json_decref(line);
        return refuse(r, GS_EINVAL, TEXT_BAD);
    }
    if (s->to == TO_REOPEN)
        json_object_set_new(fields, "stage", json_string("reopen"));
    else if (s->to != TO_STAY)
        json_object_set_new(fields, "stage", json_string(stage_names[s->to]));
    json_object_set_new(fields, "comments", line);
    struct ticket_guard g = {id, s, 0, 0};
    gs_err rc = put_fields(r, "ticket", id, fields, ticket_guard, &g);
    if (rc == GS_OK && round)
        *round = g.round;
    if (rc == GS_OK && stage)
        *stage = stage_names[g.stage];
    return rc;
}

gs_err
gs_ticket_step(gs_replica *r, const char *id, const char *step, const char *arg,
               const char *note, const char *by, long long *round,
               const char **stage)
{
    char what[512];
    if (r == NULL || id == NULL)
        return GS_EINVAL;
    const struct step *s = step_find(step);
    if (s == NULL || s->to == TO_STAY)
        return refuse(r, GS_EINVAL,
                      "'%s' is not a ticket step; steps: accept, dispatch, "
                      "progress, resolve, close, reopen",
                      step ? step : "");
    bool dispatch = strcmp(s->name, "dispatch") == 0;
    if (dispatch && (arg == NULL || !*arg))
        return refuse(r, GS_EINVAL,
                      "dispatch needs a department: the one that reports "
                      "for duty (e.g. 城管局)");
    if (!dispatch && arg)
        return refuse(r, GS_EINVAL, "%s takes no department", s->name);
    json_t *f = json_object();
    if (dispatch) {
        json_object_set_new(f, "department", json_string(arg));
        snprintf(what, sizeof what, "dispatched to %s", arg);
    } else {
        snprintf(what, sizeof what, "%s", s->done);
    }
    return ticket_write(r, id, s, f, by, what, note, round, stage);
}

gs_err
gs_ticket_rate(gs_replica *r, const char *id, int stars, const char *note,
               const char *by)
{
    char what[64];
    if (r == NULL || id == NULL)
        return GS_EINVAL;
    if (stars < 1 || stars > 5)
        return refuse(r, GS_EINVAL, "a rating is 1 to 5 stars, not %d", stars);
    snprintf(what, sizeof what, "rated %d/5", stars);
    return ticket_write(r, id, step_find("rate"),
                        json_pack("{s:i}", "satisfaction", stars), by, what,
                        note, NULL, NULL);
}

struct list_filter {
    const char *stage;
    gs_replica_json_fn fn;
    void *ctx;
};

static int
list_filter_one(const char *json, void *ctx)
{
    struct list_filter *f = ctx;
    if (f->stage) {
        json_t *t = json_loads(json, 0, NULL);
        const char *s =
            json_string_value(json_object_get(field_of(t, "stage"), "stage"));
        bool keep = s && strcmp(s, f->stage) == 0;
        json_decref(t);
        if (!keep)
            return 0;
    }
    return f->fn(json, f->ctx);
}

gs_err
gs_ticket_list(gs_replica *r, const char *grid, const char *stage,
               unsigned flags, gs_replica_json_fn fn, void *ctx)
{
    if (r == NULL || fn == NULL)
        return GS_EINVAL;
    if (stage && stage_index(stage) < 0)
        return refuse(r, GS_EINVAL,
                      "'%s' is not a stage; stages: reported, accepted, "
                      "dispatched, in_progress, resolved, closed",
                      stage);
    struct list_filter f = {stage, fn, ctx};
    return gs_replica_list(r, "ticket", grid ? "grid" : NULL, grid, flags,
                           list_filter_one, &f);
}

/* ---- points ---- */

struct points_guard {
    const char *person;
    long long delta;   /* + grant, - redemption */
    long long balance; /* after the write */
};

static gs_err
points_guard(const json_t *current, void *ctx, char *why, size_t len)
{
    struct points_guard *g = ctx;
    if (!live(current))
        return not_here(why, len, "person", g->person,
                        "the person was registered");
    long long have = json_integer_value(field_of(current, "points"));
    if (g->delta < 0 && have < -g->delta) {
        snprintf(why, len,
                 "the balance of %s is %lld; cannot redeem %lld (grants "
                 "not yet synced here do not count until they arrive)",
                 g->person, have, -g->delta);
        return GS_EBALANCE;
    }
    g->balance = have + g->delta;
    return GS_OK;
}

#define NOT_SHOP                                                               \
    "this device is not the points shop: its certificate lacks the shop "      \
    "flag; ask the authority ('gridsync authority enroll KEY ... --shop')"

/* May this device write redemptions? Certificates only grow, so what the
 * replica holds now is safe to read before the write. */
static gs_err
shop_check(gs_replica *r)
{
    gs_err rc = gs_replica_shop(r);
    if (rc == GS_ENOTFOUND)
        return refuse(r, GS_ESHOP,
                      "this device's certificate is not in this replica "
                      "yet, so it cannot redeem points; sync with the "
                      "station (or import its bundle) first");
    return rc == GS_ESHOP ? refuse(r, GS_ESHOP, NOT_SHOP) : rc;
}

/* Grant (redeem false) or redeem n points of person. */
static gs_err
points_write(gs_replica *r, const char *person, long long n, bool redeem,
             const char *reason, const char *by, long long *balance)
{
    char line[LOG_TEXT_MAX + 1];
    if (r == NULL || person == NULL)
        return GS_EINVAL;
    if (n < 1 || n > GS_POINTS_MAX)
        return refuse(r, GS_EINVAL,
                      "%s takes a whole number of points from 1 to %d, not "
                      "%lld",
                      redeem ? "a redemption" : "a grant", GS_POINTS_MAX, n);
    if (reason == NULL || !*reason)
        return refuse(r, GS_EINVAL,
                      "give the reason: it goes into %s's "
                      "ledger",
                      person);
    gs_err rc = redeem ? shop_check(r) : GS_OK;
    if (rc != GS_OK)
        return rc;
    long long delta = redeem ? -n : n;
    int len = snprintf(line, sizeof line, "%+lld %s (by %s)", delta, reason,
                       who(r, by));
    if (len < 0 || (size_t)len >= sizeof line)
        return refuse(r, GS_EINVAL, TEXT_BAD);
    struct points_guard g = {person, delta, 0};
    rc = put_fields(
        r, "person", person,
        json_pack("{s:I, s:s}", "points", (json_int_t)delta, "ledger", line),
        points_guard, &g);
    if (rc == GS_ESHOP) /* the store's own rule, should the check miss */
        gs_replica_detail_set(r, NOT_SHOP);
    if (rc == GS_OK && balance)
        *balance = g.balance;
    return rc;
}

gs_err
gs_points_grant(gs_replica *r, const char *person, long long n,
                const char *reason, const char *by, long long *balance)
{
    return points_write(r, person, n, false, reason, by, balance);
}

gs_err
gs_points_redeem(gs_replica *r, const char *person, long long n,
                 const char *reason, const char *by, long long *balance)
{
    return points_write(r, person, n, true, reason, by, balance);
}

gs_err
gs_points_balance(gs_replica *r, const char *person, long long *balance)
{
    char *text = NULL;
    if (r == NULL || person == NULL || balance == NULL)
        return GS_EINVAL;
    gs_err rc = gs_replica_get(r, "person", person, GS_REVEAL, &text);
    if (rc != GS_OK)
        return rc;
    json_t *p = json_loads(text, 0, NULL);
    free(text);
    if (p == NULL)
        return GS_ENOMEM;
    *balance = json_integer_value(field_of(p, "points"));
    json_decref(p);
    return GS_OK;
}

/* ---- visits, check-ins, wishes ---- */

static_assert(GS_ENTITY_ID_BYTES == GS_ID_BYTES_MAX + 1, "entity id bytes");

#define VISITS_SAME_MINUTE_MAX 99 /* -2 .. -99 after the first */

/* The live entity (type, id) as gs_replica_get shows it with GS_REVEAL,
 * in *out (a new reference): GS_ENOTFOUND (with the sentence set) if it
 * is not here or deleted. */
static gs_err
live_get(gs_replica *r, const char *type, const char *id, const char *made,
         json_t **out)
{
    char *text = NULL, why[WHY_BYTES];
    *out = NULL;
    gs_err rc = gs_replica_get(r, type, id, GS_REVEAL, &text);
    if (rc == GS_OK) {
        *out = json_loads(text, 0, NULL);
        free(text);
        if (*out == NULL)
            return GS_ENOMEM;
        if (live(*out))
            return GS_OK;
        json_decref(*out);
        *out = NULL;
        rc = GS_ENOTFOUND;
    }
    if (rc == GS_ENOTFOUND)
        return refuse(r, not_here(why, sizeof why, type, id, made), "%s", why);
    return rc;
}

/* A text field of an entity's JSON, or NULL. */
static const char *
text_field(const json_t *e, const char *name)
{
    return json_string_value(field_of(e, name));
}

/* Now (or now's date, len 11) on the local clock, as people read it. */
static bool
local_now(char *buf, size_t len, const char *fmt)
{
    time_t t = time(NULL);
    struct tm tm;
    return localtime_r(&t, &tm) != NULL && strftime(buf, len, fmt, &tm) > 0;
}

/* The digits of a "YYYY-MM-DD[ HH:MM]" time: "YYYYMMDD[HHMM]". */
static void
digits_of(const char *when, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = when; *p && n + 1 < len; p++)
        if (*p >= '0' && *p <= '9')
            out[n++] = *p;
    out[n] = '\0';
}

/* Refuses an id already used (a visit's next minute-suffix, a wish). */
struct fresh_guard {
    const char *type, *id, *show; /* show: the command that shows it */
};

static gs_err
fresh_guard(const json_t *current, void *ctx, char *why, size_t len)
{
    struct fresh_guard *g = ctx;
    if (current == NULL)
        return GS_OK;
    snprintf(why, len,
             "%s %s exists already%s; choose another id, or show it "
             "with '%s %s'",
             g->type, g->id, live(current) ? "" : " (deleted)", g->show, g->id);
    return GS_EEXIST;
}

gs_err
gs_visit_add(gs_replica *r, const char *household, const gs_visit_opts *o,
             char id[GS_ENTITY_ID_BYTES])
{
    char at[32], digits[16], base[GS_ENTITY_ID_BYTES];
    char vid[GS_ENTITY_ID_BYTES + 8]; /* base fits its -NN: checked below */
    if (r == NULL || household == NULL || o == NULL)
        return GS_EINVAL;
    if (o->note == NULL || !*o->note)
        return refuse(r, GS_EINVAL,
                      "a visit needs a note: what the visit found");
    if (o->at && !when_valid(o->at))
        return refuse(r, GS_EINVAL,
                      "'%s' is not a time; give 'YYYY-MM-DD HH:MM' or "
                      "YYYY-MM-DD",
                      o->at);
    if (o->at)
        snprintf(at, sizeof at, "%s", o->at);
    else if (!local_now(at, sizeof at, "%Y-%m-%d %H:%M"))
        return refuse(r, GS_EINVAL, "cannot read the clock; give --at");
    json_t *hh = NULL;
    gs_err rc = live_get(r, "household", household, "it was registered", &hh);
    if (rc != GS_OK)
        return rc;
    const char *grid = o->grid ? o->grid : text_field(hh, "grid");
    if (grid == NULL || !*grid) {
        json_decref(hh);
        return refuse(r, GS_EINVAL,
                      "household %s has no grid; give the visit's grid "
                      "(--grid G)",
                      household);
    }
    if ((rc = grid_check(r, "visit", grid)) != GS_OK) {
        json_decref(hh);
        return rc;
    }
    json_t *f =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "household", household, "worker",
                  who(r, o->worker), "note", o->note, "at", at, "grid", grid);
    json_decref(hh);
    if (f == NULL)
        return GS_ENOMEM;
    /* the device's tag keeps two devices' visits of one minute apart */
    const unsigned char *pk = gs_replica_identity(r)->pk;
    digits_of(at, digits, sizeof digits);
    int n = snprintf(base, sizeof base, "V-%s-%s-%02x%02x%02x%02x", household,
                     digits, pk[0], pk[1], pk[2], pk[3]);
    if (n < 0 || (size_t)n + 3 >= sizeof base) {
        json_decref(f);
        return refuse(r, GS_EINVAL,
                      "household id %s is too long to name a visit by",
                      household);
    }
    rc = GS_EEXIST;
    for (int k = 1; rc == GS_EEXIST && k <= VISITS_SAME_MINUTE_MAX; k++) {
        if (k == 1)
            snprintf(vid, sizeof vid, "%s", base);
        else
            snprintf(vid, sizeof vid, "%s-%d", base, k);
        struct fresh_guard g = {"visit", vid, "gridsync get visit"};
        rc = put_fields(r, "visit", vid, json_incref(f), fresh_guard, &g);
    }
    json_decref(f);
    if (rc == GS_EEXIST)
        return refuse(r, rc, "%d visits to %s at %s already; give another --at",
                      VISITS_SAME_MINUTE_MAX, household, at);
    if (rc == GS_OK && id)
        memcpy(id, vid, strlen(vid) + 1); /* fits: put took it as an id */
    return rc;
}

/* A person's grid: their own, else their household's; NULL if neither.
 * A new reference in *held if read from the household. */
static const char *
person_grid(gs_replica *r, const json_t *person, json_t **held)
{
    char *text = NULL;
    const char *g = text_field(person, "grid"), *hid;
    *held = NULL;
    if (g && *g)
        return g;
    hid = text_field(person, "household");
    if (hid == NULL || gs_replica_get(r, "household", hid, 0, &text) != GS_OK)
        return NULL;
    *held = json_loads(text, 0, NULL);
    free(text);
    return live(*held) ? text_field(*held, "grid") : NULL;
}

static gs_err
checkin_guard(const json_t *current, void *ctx, char *why, size_t len)
{
    (void)why;
    (void)len;
    *(int *)ctx = current != NULL;
    return GS_OK;
}

/* "C-<person>-<YYYYMMDD>", the generator's check-in id; false if too long. */
static bool
checkin_id(const char *person, const char *day, char id[GS_ENTITY_ID_BYTES])
{
    char digits[16];
    digits_of(day, digits, sizeof digits);
    int n = snprintf(id, GS_ENTITY_ID_BYTES, "C-%s-%s", person, digits);
    return n > 0 && n < GS_ENTITY_ID_BYTES;
}

static bool
day_valid(const char *day)
{
    return strlen(day) == 10 && when_valid(day);
}

gs_err
gs_checkin_put(gs_replica *r, const char *person, const char *status,
               const gs_checkin_opts *o, char id[GS_ENTITY_ID_BYTES],
               int *updated)
{
    char day[GS_DAY_BYTES], cid[GS_ENTITY_ID_BYTES];
    if (r == NULL || person == NULL || o == NULL)
        return GS_EINVAL;
    if (status == NULL || (strcmp(status, "ok") && strcmp(status, "concern")))
        return refuse(r, GS_EINVAL, "a check-in is ok or concern, not '%s'",
                      status ? status : "");
    if (o->day && !day_valid(o->day))
        return refuse(r, GS_EINVAL, "'%s' is not a day; give YYYY-MM-DD",
                      o->day);
    if (o->day)
        snprintf(day, sizeof day, "%s", o->day);
    else if (!local_now(day, sizeof day, "%Y-%m-%d"))
        return refuse(r, GS_EINVAL, "cannot read the clock; give --day");
    if (!checkin_id(person, day, cid))
        return refuse(r, GS_EINVAL,
                      "person id %s is too long to name a check-in by", person);
    json_t *p = NULL, *held = NULL;
    gs_err rc = live_get(r, "person", person, "the person was registered", &p);
    if (rc != GS_OK)
        return rc;
    const char *grid = person_grid(r, p, &held);
    bool gridless = grid == NULL || !*grid; /* grid dies with held and p */
    json_t *f = gridless ? NULL
                         : json_pack("{s:s, s:s, s:s, s:s, s:s}", "person",
                                     person, "day", day, "status", status,
                                     "worker", who(r, o->worker), "grid", grid);
    json_decref(held);
    json_decref(p);
    if (gridless)
        return refuse(r, GS_EINVAL,
                      "person %s has no grid, nor a household with one; set "
                      "it ('gridsync put person %s grid=G')",
                      person, person);
    if (f && o->note)
        json_object_set_new(f, "note", json_string(o->note));
    int was = 0;
    rc = put_fields(r, "checkin", cid, f, checkin_guard, &was);
    if (rc == GS_OK && id)
        snprintf(id, GS_ENTITY_ID_BYTES, "%s", cid);
    if (rc == GS_OK && updated)
        *updated = was;
    return rc;
}

/* Collects the persons gs_checkin_missing then looks at: a list's
 * callback may not read the replica itself. */
struct collected {
    json_t *all;
    bool oom;
};

static int
collect(const char *json, void *ctx)
{
    struct collected *c = ctx;
    json_t *e = json_loads(json, 0, NULL);
    c->oom = e == NULL || json_array_append_new(c->all, e) != 0;
    return c->oom;
}

/* Does person pid have a live check-in record for day? */
static bool
checked_in(gs_replica *r, const char *pid, const char *day)
{
    char cid[GS_ENTITY_ID_BYTES], *text = NULL;
    bool seen = false;
    if (checkin_id(pid, day, cid) &&
        gs_replica_get(r, "checkin", cid, 0, &text) == GS_OK) {
        json_t *c = json_loads(text, 0, NULL);
        seen = live(c);
        json_decref(c);
    }
    free(text);
    return seen;
}

gs_err
gs_checkin_missing(gs_replica *r, const char *grid, const char *day,
                   unsigned flags, gs_replica_json_fn fn, void *ctx)
{
    if (r == NULL || fn == NULL)
        return GS_EINVAL;
    if (grid == NULL || !*grid)
        return refuse(r, GS_EINVAL, "name the grid (its org path)");
    if (day == NULL || !day_valid(day))
        return refuse(r, GS_EINVAL, "'%s' is not a day; give YYYY-MM-DD",
                      day ? day : "");
    struct collected c = {json_array(), false};
    if (c.all == NULL)
        return GS_ENOMEM;
    gs_err rc = gs_replica_list(r, "person", "tags", "elderly-alone", flags,
                                collect, &c);
    if (rc == GS_OK && c.oom)
        rc = GS_ENOMEM;
    size_t i;
    json_t *p;
    bool stop = false;
    json_array_foreach(c.all, i, p)
    {
        if (rc != GS_OK || stop)
            break;
        const char *pid = json_string_value(json_object_get(p, "id"));
        json_t *held = NULL;
        const char *g = live(p) && pid ? person_grid(r, p, &held) : NULL;
        bool mine = g && strcmp(g, grid) == 0;
        json_decref(held);
        if (!mine || checked_in(r, pid, day))
            continue;
        char *out = json_dumps(p, JSON_COMPACT);
        if (out == NULL)
            rc = GS_ENOMEM;
        else
            stop = fn(out, ctx) != 0;
        free(out);
    }
    json_decref(c.all);
    return rc;
}

/* ---- wishes ---- */

enum wish_act { W_CLAIM, W_WITHDRAW, W_FULFIL };

struct wish_guard {
    const char *id, *person;
    enum wish_act act;
    size_t expect;                   /* withdraw: the claimants read before */
    char winner[GS_ENTITY_ID_BYTES]; /* after the step, "" if none */
};

/* Is who among the claims (a claim field's {"winner", "losing"})? */
static bool
claims_has(const json_t *claims, const char *who)
{
    const char *w = json_string_value(json_object_get(claims, "winner"));
    size_t i;
    json_t *l;
    if (w && strcmp(w, who) == 0)
        return true;
    json_array_foreach(json_object_get(claims, "losing"), i,
                       l) if (json_string_value(l) &&
                              strcmp(json_string_value(l), who) ==
                                  0) return true;
    return false;
}

static size_t
claims_count(const json_t *claims)
{
    return (json_string_value(json_object_get(claims, "winner")) ? 1 : 0) +
           json_array_size(json_object_get(claims, "losing"));
}

static gs_err
wish_guard(const json_t *current, void *ctx, char *why, size_t len)
{
    struct wish_guard *g = ctx;
    if (!live(current))
        return not_here(why, len, "wish", g->id, "it was posted");
    const char *status = text_field(current, "status");
    json_t *claims = field_of(current, "claims");
    const char *winner = json_string_value(json_object_get(claims, "winner"));
    bool done = status && strcmp(status, "done") == 0;
    if (done) {
        snprintf(why, len, "wish %s is fulfilled already; %s", g->id,
                 g->act == W_CLAIM      ? "it takes no more claims"
                 : g->act == W_WITHDRAW ? "its claims stand as they were"
                                        : "nothing to do");
        return g->act == W_FULFIL ? GS_EEXIST : GS_ESTAGE;
    }
    snprintf(g->winner, sizeof g->winner, "%s", winner ? winner : "");
    if (g->act == W_FULFIL) {
        if (winner)
            return GS_OK;
        snprintf(why, len,
                 "wish %s has no claim; it is fulfilled by the one who "
                 "claims it ('gridsync wish claim %s PERSON' first)",
                 g->id, g->id);
        return GS_ESTAGE;
    }
    bool has = claims_has(claims, g->person);
    if (g->act == W_CLAIM) {
        if (!has) {
            if (!winner) /* a new claim is the latest: an earlier one wins */
                snprintf(g->winner, sizeof g->winner, "%s", g->person);
            return GS_OK;
        }
        snprintf(why, len, "%s has claimed wish %s already%s", g->person, g->id,
                 winner && strcmp(winner, g->person) == 0
                     ? " and is its claimant"
                     : "; an earlier claim wins it");
        return GS_EEXIST;
    }
    if (!has) {
        snprintf(why, len,
                 "%s has no claim on wish %s to withdraw; see its claimants "
                 "with 'gridsync wish show %s'",
                 g->person, g->id, g->id);
        return GS_ENOTFOUND;
    }
    if (claims_count(claims) != g->expect) {
        snprintf(why, len,
                 "the claims on wish %s changed while withdrawing; run it "
                 "again",
                 g->id);
        return GS_ESTAGE;
    }
    if (winner && strcmp(winner, g->person) == 0) {
        const char *next = json_string_value(
            json_array_get(json_object_get(claims, "losing"), 0));
        snprintf(g->winner, sizeof g->winner, "%s", next ? next : "");
    }
    return GS_OK;
}

gs_err
gs_wish_post(gs_replica *r, const char *id, const gs_wish_post_opts *o)
{
    if (r == NULL || id == NULL || o == NULL)
        return GS_EINVAL;
    if (!o->title || !*o->title || !o->poster || !*o->poster || !o->grid ||
        !*o->grid)
        return refuse(r, GS_EINVAL,
                      "a wish needs its title, its poster (the person who "
                      "wishes) and its grid");
    if (o->reward > GS_POINTS_MAX)
        return refuse(r, GS_EINVAL, "a reward is 0 to %d points, not %lld",
                      GS_POINTS_MAX, o->reward);
    gs_err rc = grid_check(r, "wish", o->grid);
    if (rc != GS_OK)
        return rc;
    json_t *f = json_pack("{s:s, s:s, s:s, s:s}", "title", o->title, "poster",
                          o->poster, "grid", o->grid, "status", "open");
    if (f && o->description)
        json_object_set_new(f, "description", json_string(o->description));
    if (f && o->reward >= 0)
        json_object_set_new(f, "reward", json_integer(o->reward));
    struct fresh_guard g = {"wish", id, "gridsync wish show"};
    return put_fields(r, "wish", id, f, fresh_guard, &g);
}

static gs_err
wish_write(gs_replica *r, struct wish_guard *g, json_t *f,
           char winner[GS_ENTITY_ID_BYTES])
{
    gs_err rc = put_fields(r, "wish", g->id, f, wish_guard, g);
    if (rc == GS_OK && winner)
        snprintf(winner, GS_ENTITY_ID_BYTES, "%s", g->winner);
    return rc;
}

gs_err
gs_wish_claim(gs_replica *r, const char *id, const char *person,
              char winner[GS_ENTITY_ID_BYTES])
{
    if (r == NULL || id == NULL || person == NULL || !*person)
        return GS_EINVAL;
    struct wish_guard g = {id, person, W_CLAIM, 0, ""};
    return wish_write(r, &g,
                      json_pack("{s:{s:s}, s:s}", "claims", "claim", person,
                                "status", "claimed"),
                      winner);
}

gs_err
gs_wish_withdraw(gs_replica *r, const char *id, const char *person,
                 char winner[GS_ENTITY_ID_BYTES])
{
    if (r == NULL || id == NULL || person == NULL || !*person)
        return GS_EINVAL;
    /* whether the wish is open again is fixed before the write, and the
     * guard checks the claims are still those it was fixed on */
    json_t *w = NULL;
    gs_err rc = live_get(r, "wish", id, "it was posted", &w);
    if (rc != GS_OK)
        return rc;
    json_t *claims = field_of(w, "claims");
    struct wish_guard g = {id, person, W_WITHDRAW, claims_count(claims), ""};
    bool last = g.expect == 1 && claims_has(claims, person);
    json_decref(w);
    json_t *f = json_pack("{s:{s:s}}", "claims", "withdraw", person);
    if (f && last)
        json_object_set_new(f, "status", json_string("open"));
    return wish_write(r, &g, f, winner);
}

gs_err
gs_wish_fulfil(gs_replica *r, const char *id, char winner[GS_ENTITY_ID_BYTES])
{
    if (r == NULL || id == NULL)
        return GS_EINVAL;
    struct wish_guard g = {id, NULL, W_FULFIL, 0, ""};
    return wish_write(r, &g, json_pack("{s:s}", "status", "done"), winner);
}
