/*
 * domain_cmd.c — `gridsync ticket`, `points`, `visit`, `checkin` and
 * `wish`: the command line of the domain workflows in gridsync.h
 * (gs_ticket_*, gs_points_*, gs_visit_*, gs_checkin_*, gs_wish_*). The
 * rules live in the library (store/domain.c), so a tablet app keeps them
 * too; this file only reads arguments and prints results.
 *
 * A refused step exits 1 with the library's sentence ("gridsync: ticket
 * close: ticket T-1 is at accepted; close needs it resolved first");
 * arguments that do not parse exit 2. Writes poke the agent so the peers
 * hear at once, as put does.
 */
#include "gridsync.h"

#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A whole number in s, or false. */
static bool
parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

/* Print o (a new reference, which this takes) as one line of JSON; ids
 * and texts come from the user, so they are escaped by jansson. */
static void
put_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    puts(s ? s : "{}");
    free(s);
    json_decref(o);
}

/* Open the replica to sign, do nothing more; NULL after saying why. */
static gs_replica *
open_write(const struct args *a)
{
    return gs_cli_open_key(true, a->pass_file);
}

/* End a write on r (closing it) as `what`: -1 if it went through (the
 * agent is poked so the peers hear at once), else the exit status after
 * saying why. */
static int
write_end(gs_replica *r, const char *what, gs_err rc)
{
    int ret = rc == GS_OK ? -1 : gs_cli_api_fail(r, what, rc);
    gs_replica_close(r);
    if (rc == GS_OK)
        gs_agent_poke(gs_cli_replica_dir);
    return ret;
}

/* ---- tickets ---- */

static int
ticket_done(gs_replica *r, const struct args *a, const char *step,
            const char *what, gs_err rc, long long round, const char *stage)
{
    char label[64];
    const char *id = a->pos[1];
    snprintf(label, sizeof label, "ticket %s", step);
    int ret = write_end(r, label, rc);
    if (ret >= 0)
        return ret;
    if (a->json)
        put_json(json_pack("{s:b, s:s, s:s, s:s, s:I}", "ok", 1, "ticket", id,
                           "step", step, "stage", stage, "round",
                           (json_int_t)round));
    else
        printf("ok: ticket %s %s; now at %s (round %lld)\n", id, what, stage,
               round);
    return EXIT_OK;
}

static int
ticket_report(const struct args *a)
{
    if (a->npos != 2)
        return gs_cli_usage_error(gs_cli_current, "name the ticket ID to "
                                                  "report");
    if (!a->category || !a->grid)
        return gs_cli_usage_error(gs_cli_current,
                                  "report needs --category CAT and --grid G");
    gs_replica *r = open_write(a);
    if (!r)
        return EXIT_FAIL;
    gs_ticket_report_opts o = {a->category, a->grid,     a->title, a->reporter,
                               a->address,  a->deadline, NULL,     a->by,
                               a->note};
    gs_err rc = gs_ticket_report(r, a->pos[1], &o);
    return ticket_done(r, a, "report", "reported", rc, 0, "reported");
}

/* accept, dispatch, progress, resolve, close, reopen */
static int
ticket_step(const struct args *a, const char *step)
{
    bool dispatch = !strcmp(step, "dispatch");
    if (a->npos < 2)
        return gs_cli_usage_error(gs_cli_current, "name the ticket ID");
    if (dispatch && a->npos != 3)
        return gs_cli_usage_error(gs_cli_current,
                                  "dispatch needs the department: ticket "
                                  "dispatch ID DEPT");
    if (!dispatch && a->npos != 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "%s takes only the ticket "
                                  "ID",
                                  step);
    gs_replica *r = open_write(a);
    if (!r)
        return EXIT_FAIL;
    long long round = 0;
    const char *stage = "";
    gs_err rc = gs_ticket_step(r, a->pos[1], step, dispatch ? a->pos[2] : NULL,
                               a->note, a->by, &round, &stage);
    static const char *const done[][2] = {{"accept", "accepted"},
                                          {"dispatch", "dispatched"},
                                          {"progress", "progress noted"},
                                          {"resolve", "resolved"},
                                          {"close", "closed"},
                                          {"reopen", "reopened"}};
    const char *verb = step;
    for (size_t i = 0; i < sizeof done / sizeof done[0]; i++)
        if (!strcmp(step, done[i][0]))
            verb = done[i][1];
    char what[300];
    snprintf(what, sizeof what, "%s%s%s", verb, dispatch ? " to " : "",
             dispatch ? a->pos[2] : "");
    return ticket_done(r, a, step, what, rc, round, stage);
}

static int
ticket_rate(const struct args *a)
{
    long long stars;
    if (a->npos != 3)
        return gs_cli_usage_error(gs_cli_current, "rate needs the ticket ID "
                                                  "and 1..5 stars");
    if (!parse_int(a->pos[2], &stars) || stars < 1 || stars > 5)
        return gs_cli_usage_error(gs_cli_current,
                                  "a rating is a whole number of stars, 1 to "
                                  "5; got '%s'",
                                  a->pos[2]);
    gs_replica *r = open_write(a);
    if (!r)
        return EXIT_FAIL;
    gs_err rc = gs_ticket_rate(r, a->pos[1], (int)stars, a->note, a->by);
    int ret = write_end(r, "ticket rate", rc);
    if (ret >= 0)
        return ret;
    if (a->json)
        put_json(json_pack("{s:b, s:s, s:s, s:I}", "ok", 1, "ticket", a->pos[1],
                           "step", "rate", "satisfaction", (json_int_t)stars));
    else
        printf("ok: ticket %s rated %lld/5\n", a->pos[1], stars);
    return EXIT_OK;
}

/* A text field of a ticket's JSON, or "-". */
static const char *
text_of(json_t *fields, const char *name)
{
    const char *s = json_string_value(json_object_get(fields, name));
    return s ? s : "-";
}

static void
ticket_print(json_t *t)
{
    json_t *f = json_object_get(t, "fields"), *st = json_object_get(f, "stage");
    json_t *sat = json_object_get(f, "satisfaction"), *c;
    size_t i;
    printf("ticket %s: %s\n", json_string_value(json_object_get(t, "id")),
           text_of(f, "title"));
    printf("  stage        %s (round %lld)\n",
           json_string_value(json_object_get(st, "stage"))
               ? json_string_value(json_object_get(st, "stage"))
               : "-",
           (long long)json_integer_value(json_object_get(st, "round")));
    printf("  category     %s\n  grid         %s\n", text_of(f, "category"),
           text_of(f, "grid"));
    printf("  department   %s\n  deadline     %s\n", text_of(f, "department"),
           text_of(f, "deadline"));
    printf("  reporter     %s\n  address      %s\n", text_of(f, "reporter"),
           text_of(f, "address"));
    if (json_is_integer(sat))
        printf("  satisfaction %lld/5\n", (long long)json_integer_value(sat));
    json_array_foreach(json_object_get(f, "comments"), i, c)
    {
        if (i == 0)
            printf("  history:\n");
        /* a line with its own local stamp (the step's) shows that one */
        const char *v = json_string_value(json_object_get(c, "value"));
        if (gs_comment_stamped(v))
            printf("    %s\n", v);
        else
            printf("    %s  %s\n",
                   json_string_value(json_object_get(c, "at")),
                   v ? v : "?");
    }
}

/* Read entity (type, a->pos[1]) into *out (a new reference); the exit
 * status, after saying what failed as what. */
static int
read_entity(const struct args *a, const char *type, const char *what,
            json_t **out)
{
    if (a->npos != 2)
        return gs_cli_usage_error(gs_cli_current, "name the %s ID", type);
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    char *json = NULL;
    gs_err rc = gs_replica_get(r, type, a->pos[1], 0, &json);
    int ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, what, rc);
    gs_replica_close(r);
    *out = json ? json_loads(json, 0, NULL) : NULL;
    free(json);
    if (ret == EXIT_OK && *out == NULL)
        ret = EXIT_FAIL;
    return ret;
}

/* `TYPE show ID`: the entity as JSON, or by print for people. */
static int
show_entity(const struct args *a, const char *type, void (*print)(json_t *))
{
    char what[32];
    json_t *e = NULL;
    snprintf(what, sizeof what, "%s show", type);
    int ret = read_entity(a, type, what, &e);
    if (ret == EXIT_OK && a->json)
        put_json(json_incref(e));
    else if (ret == EXIT_OK)
        print(e);
    json_decref(e);
    return ret;
}

struct list_out {
    bool json;
    unsigned long n;
};

static int
list_one(const char *json, void *ctx)
{
    struct list_out *o = ctx;
    o->n++;
    if (o->json) {
        puts(json);
        return 0;
    }
    json_t *t = json_loads(json, 0, NULL);
    json_t *f = json_object_get(t, "fields"), *st = json_object_get(f, "stage");
    const char *stage = json_string_value(json_object_get(st, "stage"));
    printf("%-20s %-11s r%lld  %-8s %-24s %s\n",
           json_string_value(json_object_get(t, "id")), stage ? stage : "-",
           (long long)json_integer_value(json_object_get(st, "round")),
           text_of(f, "category"), text_of(f, "grid"), text_of(f, "title"));
    json_decref(t);
    return 0;
}

static int
ticket_list(const struct args *a)
{
    if (a->npos != 1)
        return gs_cli_usage_error(gs_cli_current, "list takes no ID; filter "
                                                  "with --grid and --stage");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    struct list_out o = {a->json, 0};
    gs_err rc = gs_ticket_list(r, a->grid, a->stage, 0, list_one, &o);
    int ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "ticket list", rc);
    gs_replica_close(r);
    if (rc == GS_OK && !a->json)
        printf("%lu ticket(s)\n", o.n);
    return ret;
}

int
gs_cli_ticket(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json passphrase category grid title reporter "
                              "deadline address note by stage");
    if (u >= 0)
        return u;
    const char *sub = a.npos ? a.pos[0] : "";
    bool is_report = !strcmp(sub, "report"), is_list = !strcmp(sub, "list");
    if (!is_report &&
        (a.category || a.title || a.reporter || a.deadline || a.address))
        return gs_cli_usage_error(gs_cli_current, "--category, --title, "
                                                  "--reporter, --deadline and "
                                                  "--address go with report");
    if (!is_list && a.stage)
        return gs_cli_usage_error(gs_cli_current, "--stage goes with list");
    if (!is_report && !is_list && a.grid)
        return gs_cli_usage_error(gs_cli_current,
                                  "--grid goes with report and list");
    if (is_report)
        return ticket_report(&a);
    if (is_list)
        return ticket_list(&a);
    if (!strcmp(sub, "show"))
        return show_entity(&a, "ticket", ticket_print);
    if (!strcmp(sub, "rate"))
        return ticket_rate(&a);
    static const char *const steps[] = {"accept",  "dispatch", "progress",
                                        "resolve", "close",    "reopen"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (!strcmp(sub, steps[i]))
            return ticket_step(&a, steps[i]);
    return gs_cli_usage_error(gs_cli_current,
                              "say report, accept, dispatch, progress, "
                              "resolve, close, reopen, rate, show or list");
}

/* ---- points ---- */

static int
points_move(const struct args *a, bool redeem)
{
    long long n, balance = 0;
    const char *verb = redeem ? "redeem" : "grant";
    if (a->npos != 3)
        return gs_cli_usage_error(gs_cli_current,
                                  "%s needs the PERSON and the number of "
                                  "points",
                                  verb);
    if (!parse_int(a->pos[2], &n))
        return gs_cli_usage_error(gs_cli_current,
                                  "the number of points must be a whole "
                                  "number; got '%s'",
                                  a->pos[2]);
    if (!a->reason)
        return gs_cli_usage_error(gs_cli_current,
                                  "--reason TEXT is required: it goes into "
                                  "the ledger");
    gs_replica *r = open_write(a);
    if (!r)
        return EXIT_FAIL;
    gs_err rc =
        redeem ? gs_points_redeem(r, a->pos[1], n, a->reason, a->by, &balance)
               : gs_points_grant(r, a->pos[1], n, a->reason, a->by, &balance);
    char what[32];
    snprintf(what, sizeof what, "points %s", verb);
    int ret = write_end(r, what, rc);
    if (ret >= 0)
        return ret;
    if (a->json)
        put_json(json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "person", a->pos[1],
                           redeem ? "redeemed" : "granted", (json_int_t)n,
                           "balance", (json_int_t)balance));
    else
        printf("ok: %s %lld points %s %s; balance here now %lld\n",
               redeem ? "redeemed" : "granted", n, redeem ? "of" : "to",
               a->pos[1], balance);
    return EXIT_OK;
}

static int
points_balance(const struct args *a)
{
    json_t *p = NULL;
    int ret = read_entity(a, "person", "points balance", &p);
    if (ret != EXIT_OK)
        return ret;
    json_t *f = json_object_get(p, "fields");
    /* the counter as gs_points_balance reads it: the sum over devices */
    long long balance = json_integer_value(json_object_get(f, "points"));
    json_t *ledger = json_object_get(f, "ledger");
    if (a->json) {
        put_json(json_pack("{s:s, s:I, s:o}", "person", a->pos[1], "balance",
                           (json_int_t)balance, "ledger",
                           ledger ? json_incref(ledger) : json_array()));
    } else {
        size_t i;
        json_t *e;
        printf("%s: %lld points (as this replica sees them)\n", a->pos[1],
               balance);
        json_array_foreach(ledger, i, e)
        {
            json_t *v = json_object_get(e, "value");
            printf("  %s  %s\n", json_string_value(json_object_get(e, "at")),
                   json_is_string(v) ? json_string_value(v) : "?");
        }
    }
    json_decref(p);
    return EXIT_OK;
}

int
gs_cli_points(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json passphrase reason by");
    if (u >= 0)
        return u;
    const char *sub = a.npos ? a.pos[0] : "";
    if (!strcmp(sub, "grant"))
        return points_move(&a, false);
    if (!strcmp(sub, "redeem"))
        return points_move(&a, true);
    if (!strcmp(sub, "balance")) {
        if (a.reason || a.by)
            return gs_cli_usage_error(gs_cli_current,
                                      "--reason and --by go with grant and "
                                      "redeem");
        return points_balance(&a);
    }
    return gs_cli_usage_error(gs_cli_current, "say grant, redeem or balance");
}

/* ---- visits ---- */

int
gs_cli_visit(int argc, char **argv)
{
    struct args a;
    char id[GS_ENTITY_ID_BYTES] = "";
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json passphrase note worker at grid");
    if (u >= 0)
        return u;
    if (a.npos < 1 || strcmp(a.pos[0], "add") != 0)
        return gs_cli_usage_error(gs_cli_current, "say add");
    if (a.npos != 2)
        return gs_cli_usage_error(gs_cli_current, "name the HOUSEHOLD visited");
    if (!a.note)
        return gs_cli_usage_error(gs_cli_current,
                                  "--note TEXT is required: what the visit "
                                  "found");
    gs_replica *r = open_write(&a);
    if (!r)
        return EXIT_FAIL;
    gs_visit_opts o = {a.note, a.worker, a.at, a.grid};
    gs_err rc = gs_visit_add(r, a.pos[1], &o, id);
    int ret = write_end(r, "visit add", rc);
    if (ret >= 0)
        return ret;
    if (a.json)
        put_json(json_pack("{s:b, s:s, s:s}", "ok", 1, "visit", id, "household",
                           a.pos[1]));
    else
        printf("ok: visit %s to %s recorded\n", id, a.pos[1]);
    return EXIT_OK;
}

/* ---- check-ins ---- */

/* Gathers the missing residents: {person, name, household} each. */
static int
missing_one(const char *json, void *ctx)
{
    json_t *p = json_loads(json, 0, NULL);
    json_t *f = json_object_get(p, "fields");
    const char *id = json_string_value(json_object_get(p, "id"));
    int stop = json_array_append_new(
        ctx,
        json_pack("{s:s, s:s?, s:s?}", "person", id ? id : "", "name",
                  json_string_value(json_object_get(f, "name")), "household",
                  json_string_value(json_object_get(f, "household"))));
    json_decref(p);
    return stop;
}

static int
checkin_missing(const struct args *a, const char *day)
{
    if (a->npos != 1)
        return gs_cli_usage_error(gs_cli_current, "missing takes no PERSON; "
                                                  "give --grid G");
    if (!a->grid)
        return gs_cli_usage_error(gs_cli_current, "missing needs --grid G");
    if (a->note || a->worker)
        return gs_cli_usage_error(gs_cli_current, "--note and --worker go "
                                                  "with a check-in");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    json_t *list = json_array(), *e;
    gs_err rc = gs_checkin_missing(r, a->grid, day, 0, missing_one, list);
    int ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "checkin missing", rc);
    gs_replica_close(r);
    size_t i;
    if (rc == GS_OK && a->json) {
        put_json(json_pack("{s:s, s:s, s:O}", "grid", a->grid, "day", day,
                           "missing", list));
    } else if (rc == GS_OK) {
        json_array_foreach(list, i, e) printf(
            "%-16s %-8s %s\n", json_string_value(json_object_get(e, "person")),
            text_of(e, "name"), text_of(e, "household"));
        printf("%zu elderly resident(s) living alone in %s without a "
               "check-in on %s\n",
               json_array_size(list), a->grid, day);
    }
    json_decref(list);
    return ret;
}

int
gs_cli_checkin(int argc, char **argv)
{
    struct args a;
    char today[GS_DAY_BYTES], id[GS_ENTITY_ID_BYTES] = "";
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json passphrase note day worker grid");
    if (u >= 0)
        return u;
    const char *day = a.day;
    time_t t = time(NULL);
    struct tm tm;
    if (!day && localtime_r(&t, &tm) &&
        strftime(today, sizeof today, "%Y-%m-%d", &tm) > 0)
        day = today;
    if (!day) {
        gs_cli_fail("checkin", "cannot read the clock; give --day");
        return EXIT_FAIL;
    }
    if (a.npos >= 1 && !strcmp(a.pos[0], "missing") && a.npos == 1)
        return checkin_missing(&a, day);
    if (a.npos != 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "say PERSON ok|concern, or missing --grid "
                                  "G");
    if (a.grid)
        return gs_cli_usage_error(gs_cli_current,
                                  "--grid goes with missing (a check-in "
                                  "takes the person's grid)");
    if (strcmp(a.pos[1], "ok") && strcmp(a.pos[1], "concern"))
        return gs_cli_usage_error(
            gs_cli_current, "a check-in is ok or concern, not '%s'", a.pos[1]);
    gs_replica *r = open_write(&a);
    if (!r)
        return EXIT_FAIL;
    gs_checkin_opts o = {day, a.note, a.worker};
    int updated = 0;
    gs_err rc = gs_checkin_put(r, a.pos[0], a.pos[1], &o, id, &updated);
    int ret = write_end(r, "checkin", rc);
    if (ret >= 0)
        return ret;
    if (a.json)
        put_json(json_pack("{s:b, s:s, s:s, s:s, s:s, s:b}", "ok", 1, "checkin",
                           id, "person", a.pos[0], "day", day, "status",
                           a.pos[1], "updated", updated));
    else
        printf("ok: %s checked in %s on %s (%s%s)\n", a.pos[0], a.pos[1], day,
               id, updated ? ", the day's record updated" : "");
    return EXIT_OK;
}

/* ---- wishes ---- */

static int
wish_done(gs_replica *r, const struct args *a, const char *step, gs_err rc,
          const char *winner)
{
    char label[32];
    snprintf(label, sizeof label, "wish %s", step);
    int ret = write_end(r, label, rc);
    if (ret >= 0)
        return ret;
    if (a->json) {
        put_json(json_pack("{s:b, s:s, s:s, s:s?}", "ok", 1, "wish", a->pos[1],
                           "step", step, "winner",
                           winner && *winner ? winner : NULL));
        return EXIT_OK;
    }
    printf("ok: wish %s %s", a->pos[1],
           !strcmp(step, "post")     ? "posted"
           : !strcmp(step, "fulfil") ? "fulfilled"
           : !strcmp(step, "claim")  ? "claimed by"
                                     : "withdrawn by");
    if (a->npos == 3)
        printf(" %s", a->pos[2]);
    if (winner && *winner)
        printf("; %s wins it", winner);
    else if (strcmp(step, "post") != 0)
        printf("; nobody claims it now");
    putchar('\n');
    return EXIT_OK;
}

static int
wish_post(const struct args *a)
{
    long long reward = -1;
    if (a->npos != 2)
        return gs_cli_usage_error(gs_cli_current, "name the wish ID to post");
    if (!a->title || !a->poster || !a->grid)
        return gs_cli_usage_error(gs_cli_current,
                                  "post needs --title T, --poster PERSON and "
                                  "--grid G");
    if (a->reward && (!parse_int(a->reward, &reward) || reward < 0))
        return gs_cli_usage_error(gs_cli_current,
                                  "--reward is a whole number of points; got "
                                  "'%s'",
                                  a->reward);
    gs_replica *r = open_write(a);
    if (!r)
        return EXIT_FAIL;
    gs_wish_post_opts o = {a->title, a->poster, a->grid, NULL, reward};
    return wish_done(r, a, "post", gs_wish_post(r, a->pos[1], &o), NULL);
}

/* claim, withdraw, fulfil */
static int
wish_step(const struct args *a, const char *step)
{
    char winner[GS_ENTITY_ID_BYTES] = "";
    bool fulfil = !strcmp(step, "fulfil");
    if (fulfil && a->npos != 2)
        return gs_cli_usage_error(gs_cli_current, "fulfil takes the wish ID");
    if (!fulfil && a->npos != 3)
        return gs_cli_usage_error(gs_cli_current,
                                  "%s needs the wish ID and "
                                  "the PERSON",
                                  step);
    gs_replica *r = open_write(a);
    if (!r)
        return EXIT_FAIL;
    gs_err rc = fulfil ? gs_wish_fulfil(r, a->pos[1], winner)
                : !strcmp(step, "claim")
                    ? gs_wish_claim(r, a->pos[1], a->pos[2], winner)
                    : gs_wish_withdraw(r, a->pos[1], a->pos[2], winner);
    return wish_done(r, a, step, rc, winner);
}

static void
wish_print(json_t *w)
{
    json_t *f = json_object_get(w, "fields"), *c = json_object_get(f, "claims");
    json_t *reward = json_object_get(f, "reward"), *l;
    const char *winner = json_string_value(json_object_get(c, "winner"));
    size_t i;
    printf("wish %s: %s\n", json_string_value(json_object_get(w, "id")),
           text_of(f, "title"));
    printf("  status     %s\n  poster     %s\n  grid       %s\n",
           text_of(f, "status"), text_of(f, "poster"), text_of(f, "grid"));
    if (json_is_integer(reward))
        printf("  reward     %lld points\n",
               (long long)json_integer_value(reward));
    printf("  claimant   %s\n", winner ? winner : "- (nobody claims it)");
    json_array_foreach(json_object_get(c, "losing"), i, l)
        printf("  overruled  %s lost to %s (claimed later)\n",
               json_string_value(l), winner ? winner : "?");
}

int
gs_cli_wish(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json passphrase title poster grid reward");
    if (u >= 0)
        return u;
    const char *sub = a.npos ? a.pos[0] : "";
    bool is_post = !strcmp(sub, "post");
    if (!is_post && (a.title || a.poster || a.grid || a.reward))
        return gs_cli_usage_error(gs_cli_current, "--title, --poster, --grid "
                                                  "and --reward go with post");
    if (is_post)
        return wish_post(&a);
    if (!strcmp(sub, "show"))
        return show_entity(&a, "wish", wish_print);
    static const char *const steps[] = {"claim", "withdraw", "fulfil"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (!strcmp(sub, steps[i]))
            return wish_step(&a, steps[i]);
    return gs_cli_usage_error(gs_cli_current,
                              "say post, claim, withdraw, fulfil or show");
}

/* ---- conflicts ---- */

/* A conflict side's value for people: text, a number, "closed (round 0)". */
static void
value_text(json_t *v, char *out, size_t n)
{
    json_t *st = json_object_get(v, "stage");
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_object(v) && json_is_string(st))
        snprintf(out, n, "%s (round %lld)", json_string_value(st),
                 (long long)json_integer_value(json_object_get(v, "round")));
    else if (json_is_object(v))
        snprintf(out, n, "stage %lld (round %lld)",
                 (long long)json_integer_value(st),
                 (long long)json_integer_value(json_object_get(v, "round")));
    else
        snprintf(out, n, "(empty)");
}

struct conflicts_out {
    bool json;
    unsigned long n;
};

static int
conflict_one(const char *json, void *ctx)
{
    struct conflicts_out *o = ctx;
    o->n++;
    if (o->json) {
        puts(json);
        return 0;
    }
    json_t *c = json_loads(json, 0, NULL);
    const char *grid = json_string_value(json_object_get(c, "grid"));
    printf("%s %s  %s%s%s\n", text_of(c, "type"), text_of(c, "id"),
           text_of(c, "field"), grid ? "  in " : "", grid ? grid : "");
    static const char *const sides[] = {"lost", "won"};
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_object_get(c, sides[i]);
        char v[160];
        value_text(json_object_get(s, "value"), v, sizeof v);
        printf("  %-5s %-28s by %-16s at %s%s%s\n", sides[i], v,
               text_of(s, "device"), text_of(s, "at"), i ? "  — " : "",
               i ? text_of(c, "why") : "");
    }
    json_decref(c);
    return 0;
}

int
gs_cli_conflicts(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json grid");
    if (u >= 0)
        return u;
    if (a.npos)
        return gs_cli_usage_error(gs_cli_current,
                                  "takes no arguments; --grid G narrows it");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    struct conflicts_out o = {a.json, 0};
    gs_err rc = gs_replica_conflicts(r, a.grid, conflict_one, &o);
    int ret = rc == GS_OK       ? EXIT_OK
              : rc == GS_EINVAL ? gs_cli_usage_error(gs_cli_current, "%s",
                                                     gs_replica_detail(r))
                                : gs_cli_api_fail(r, "conflicts", rc);
    gs_replica_close(r);
    if (rc == GS_OK && !a.json) {
        if (o.n)
            printf("%lu overruled write(s). Nothing is gone: 'gridsync "
                   "history TYPE ID' keeps every write; to restore a lost "
                   "value, write it again.\n",
                   o.n);
        else
            printf("no conflicts%s%s\n", a.grid ? " in " : "",
                   a.grid ? a.grid : "");
    }
    return ret;
}
