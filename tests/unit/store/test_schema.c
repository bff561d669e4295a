/*
 * test_schema.c — the schema: the compiled-in default (seeds/schema.json)
 * loads and says what the domain needs (kinds, personal fields, stages);
 * lookups and stage names; and every kind of malformed schema is refused
 * with a message naming the problem.
 */
#include "testutil.h"

#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gs_slice
S(const char *s)
{
    return gs_slice_of(s, strlen(s));
}

static const gs_schema_field *
field(const gs_schema *sc, const char *type, const char *name)
{
    const gs_schema_type *t = gs_schema_type_get(sc, S(type));
    assert_non_null(t);
    return gs_schema_field_get(t, S(name));
}

static void
test_schema_default_loads(void **state)
{
    (void)state;
    gs_schema *sc = NULL;
    assert_int_equal(gs_schema_load_default(&sc), GS_OK);
    assert_non_null(sc);
    assert_int_equal(strlen(gs_default_schema_json),
                     gs_default_schema_json_len);

    static const char *const types[] = {"household", "person",  "ticket",
                                        "visit",     "checkin", "wish",
                                        "rating",    "org",     "list_item"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const gs_schema_type *t = gs_schema_type_get(sc, S(types[i]));
        assert_non_null(t);
        assert_non_null(t->label);
        /* every type has the tombstone, as a system lww bool, last */
        const gs_schema_field *d = gs_schema_field_get(t, S("_deleted"));
        assert_non_null(d);
        assert_int_equal(d->kind, GS_KIND_LWW);
        assert_true(d->system);
        assert_int_equal(d->vtype, GS_SCHEMA_BOOL);
        assert_ptr_equal(d, &t->fields[t->n_fields - 1]);
        for (size_t j = 0; j + 1 < t->n_fields; j++)
            assert_false(t->fields[j].system);
    }
    assert_int_equal(gs_schema_type_count(sc), 9);
    assert_null(gs_schema_type_get(sc, S("spaceship")));
    assert_null(gs_schema_type_at(sc, 9));

    /* kinds and flags the domain relies on */
    assert_true(field(sc, "household", "phone")->personal);
    assert_int_equal(field(sc, "household", "tags")->kind, GS_KIND_SET);
    assert_int_equal(field(sc, "household", "diary")->kind, GS_KIND_LOG);
    assert_string_equal(field(sc, "household", "diary")->label, "民情日记");
    assert_true(field(sc, "person", "id_number")->personal);
    assert_true(field(sc, "person", "phone")->personal);
    assert_true(field(sc, "person", "health_notes")->personal);
    assert_int_equal(field(sc, "person", "health_notes")->kind, GS_KIND_LWW);
    assert_false(field(sc, "person", "name")->personal);
    assert_int_equal(field(sc, "person", "points")->kind, GS_KIND_COUNTER);
    assert_int_equal(field(sc, "person", "ledger")->kind, GS_KIND_LOG);
    assert_int_equal(field(sc, "person", "birth_year")->vtype, GS_SCHEMA_INT);
    assert_int_equal(field(sc, "wish", "claims")->kind, GS_KIND_CLAIM);
    assert_int_equal(field(sc, "ticket", "photos")->kind, GS_KIND_SET);
    assert_null(field(sc, "person", "nmae"));
    /* issue 6: org units, the three lists, ratings, grid on every record
     * a grid worker writes (the generator and "per grid" queries use it) */
    static const char *const org_fields[] = {"kind", "name", "parent", "scope"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(field(sc, "org", org_fields[i])->kind, GS_KIND_LWW);
    assert_true(field(sc, "org", "phone")->personal);
    assert_false(field(sc, "org", "name")->personal);
    assert_int_equal(field(sc, "list_item", "participants")->kind, GS_KIND_SET);
    assert_int_equal(field(sc, "list_item", "notes")->kind, GS_KIND_LOG);
    assert_non_null(field(sc, "list_item", "status"));
    assert_int_equal(field(sc, "rating", "stars")->vtype, GS_SCHEMA_INT);
    assert_non_null(field(sc, "rating", "kind"));
    assert_non_null(field(sc, "rating", "level"));
    static const char *const gridded[] = {"household", "person",   "ticket",
                                          "visit",     "checkin",  "wish",
                                          "rating",    "list_item"};
    for (size_t i = 0; i < sizeof gridded / sizeof gridded[0]; i++)
        assert_non_null(field(sc, gridded[i], "grid"));
    static const char *const ticket_fields[] = {
        "category", "reporter", "department", "deadline", "address", "source"};
    for (size_t i = 0; i < sizeof ticket_fields / sizeof ticket_fields[0]; i++)
        assert_non_null(field(sc, "ticket", ticket_fields[i]));

    /* ticket stages, in order, both ways */
    const gs_schema_field *st = field(sc, "ticket", "stage");
    assert_int_equal(st->kind, GS_KIND_STAGE);
    static const char *const stages[] = {"reported",   "accepted",
                                         "dispatched", "in_progress",
                                         "resolved",   "closed"};
    assert_int_equal(st->n_stages, 6);
    for (uint64_t i = 0; i < 6; i++) {
        uint64_t n = 99;
        assert_string_equal(gs_schema_stage_name(st, i), stages[i]);
        assert_true(gs_schema_stage_number(st, S(stages[i]), &n));
        assert_int_equal(n, i);
        assert_non_null(st->stages[i].label);
    }
    uint64_t n;
    assert_null(gs_schema_stage_name(st, 6));
    assert_false(gs_schema_stage_number(st, S("reopen"), &n));
    assert_false(gs_schema_stage_number(st, S("resolve"), &n));
    assert_null(gs_schema_stage_name(field(sc, "ticket", "title"), 0));

    /* messages list what would have been valid, system fields left out */
    char buf[256];
    gs_schema_names(NULL, gs_schema_type_get(sc, S("visit")), buf, sizeof buf);
    assert_string_equal(buf, "household, worker, note, at, grid");
    gs_schema_names(sc, NULL, buf, sizeof buf);
    assert_string_equal(buf, "household, person, ticket, visit, checkin, wish, "
                             "rating, org, list_item");
    gs_schema_names(sc, NULL, buf, 20);
    assert_true(strlen(buf) < 20);
    assert_non_null(strstr(buf, "..."));

    gs_schema_free(sc);
    gs_schema_free(NULL);
}

static void
test_schema_kind_names(void **state)
{
    (void)state;
    for (uint8_t k = 1; k <= GS_KIND_KNOWN_MAX; k++) {
        const char *name = gs_schema_kind_name(k);
        assert_non_null(name);
        assert_int_equal(gs_schema_kind_parse(S(name)), k);
    }
    assert_null(gs_schema_kind_name(0));
    assert_null(gs_schema_kind_name(7));
    assert_int_equal(gs_schema_kind_parse(S("blob")), 0);
    assert_int_equal(gs_schema_kind_parse(S("lw")), 0);
}

static void
test_schema_minimal_and_forms(void **state)
{
    (void)state;
    const char *js = "{\"version\":1,\"types\":{\"t\":{\"fields\":{"
                     "\"s\":{\"kind\":\"stage\",\"stages\":[\"a\","
                     "{\"name\":\"b\",\"label\":\"乙\"}]},"
                     "\"x\":{\"kind\":\"log\",\"type\":\"int\"}}}}}";
    char why[GS_SCHEMA_WHY_BYTES];
    gs_schema *sc = NULL;
    assert_int_equal(gs_schema_load_json(js, strlen(js), &sc, why, sizeof why),
                     GS_OK);
    const gs_schema_type *t = gs_schema_type_get(sc, S("t"));
    assert_non_null(t);
    assert_null(t->label);
    assert_null(gs_schema_label(sc));
    assert_int_equal(t->n_fields, 3);
    const gs_schema_field *s = gs_schema_field_get(t, S("s"));
    assert_int_equal(s->n_stages, 2);
    assert_null(s->stages[0].label);
    assert_string_equal(s->stages[1].label, "乙");
    assert_int_equal(gs_schema_field_get(t, S("x"))->vtype, GS_SCHEMA_INT);
    gs_schema_free(sc);

    /* 64 stages is the most a stage number can say */
    char big[4096];
    size_t k = (size_t)snprintf(big, sizeof big,
                                "{\"version\":1,\"types\":{\"t\":{\"fields\":"
                                "{\"s\":{\"kind\":\"stage\",\"stages\":[");
    for (int i = 0; i <= GS_STAGE_MAX; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%s\"s%d\"",
                              i ? "," : "", i);
    snprintf(big + k, sizeof big - k, "]}}}}}");
    assert_int_equal(
        gs_schema_load_json(big, strlen(big), &sc, why, sizeof why), GS_OK);
    const gs_schema_field *f =
        gs_schema_field_get(gs_schema_type_get(sc, S("t")), S("s"));
    assert_int_equal(f->n_stages, GS_STAGE_MAX + 1);
    assert_string_equal(gs_schema_stage_name(f, GS_STAGE_MAX), "s63");
    gs_schema_free(sc);
}

/* Each malformed schema is refused with rc, its message holding want. */
static void
refused(const char *js, gs_err rc, const char *want)
{
    char why[GS_SCHEMA_WHY_BYTES];
    gs_schema *sc = (gs_schema *)0x1; /* must stay untouched */
    gs_err got = gs_schema_load_json(js, strlen(js), &sc, why, sizeof why);
    if (got != rc || strstr(why, want) == NULL)
        fail_msg("schema %s\n  gave %s \"%s\"\n  want %s \"...%s...\"", js,
                 gs_errname(got), why, gs_errname(rc), want);
    assert_ptr_equal(sc, (gs_schema *)0x1);
}

#define T(fields) "{\"version\":1,\"types\":{\"t\":{\"fields\":{" fields "}}}}"

static void
test_schema_malformed_refused(void **state)
{
    (void)state;
    refused("{\"version\":1,", GS_EMALFORMED, "not valid JSON: line 1");
    refused("[]", GS_EMALFORMED, "JSON object");
    refused("{\"types\":{}}", GS_EMALFORMED, "\"version\" missing");
    refused("{\"version\":2,\"types\":{\"t\":{\"fields\":{}}}}", GS_EVERSION,
            "schema version 2");
    refused("{\"version\":1,\"types\":{}}", GS_EMALFORMED, "\"types\"");
    refused("{\"version\":1,\"typse\":{}}", GS_EMALFORMED,
            "unknown key \"typse\"");
    refused("{\"version\":1,\"label\":7,\"types\":{\"t\":{\"fields\":{}}}}",
            GS_EMALFORMED, "label must be a string");
    refused("{\"version\":1,\"types\":{\"House\":{\"fields\":{}}}}",
            GS_EMALFORMED, "type \"House\"");
    refused("{\"version\":1,\"types\":{\"t\":{\"fields\":{}},"
            "\"t\":{\"fields\":{}}}}",
            GS_EMALFORMED, "duplicate");
    refused("{\"version\":1,\"types\":{\"t\":{}}}", GS_EMALFORMED,
            "t: \"fields\" missing");
    refused("{\"version\":1,\"types\":{\"t\":[]}}", GS_EMALFORMED,
            "t: a type is an object");
    refused(T("\"9lives\":{\"kind\":\"lww\"}"), GS_EMALFORMED, "t.9lives");
    refused(T("\"_secret\":{\"kind\":\"lww\"}"), GS_EMALFORMED,
            "t._secret: names starting with _ are reserved");
    refused(T("\"a\":{\"kind\":\"blob\"}"), GS_EMALFORMED,
            "t.a: unknown kind \"blob\"");
    refused(T("\"a\":{}"), GS_EMALFORMED, "t.a: \"kind\" missing");
    refused(T("\"a\":\"lww\""), GS_EMALFORMED, "t.a: a field is an object");
    refused(T("\"a\":{\"kind\":\"lww\",\"persnal\":true}"), GS_EMALFORMED,
            "t.a: unknown key \"persnal\"");
    refused(T("\"a\":{\"kind\":\"lww\",\"personal\":\"yes\"}"), GS_EMALFORMED,
            "t.a: \"personal\" must be true or false");
    refused(T("\"a\":{\"kind\":\"lww\",\"type\":\"float\"}"), GS_EMALFORMED,
            "t.a: \"type\" must be");
    refused(T("\"a\":{\"kind\":\"set\",\"type\":\"int\"}"), GS_EMALFORMED,
            "t.a: \"type\" applies to lww and log fields only");
    refused(T("\"a\":{\"kind\":\"stage\"}"), GS_EMALFORMED,
            "t.a: \"stages\" must be a list of 1..64 stage names");
    refused(T("\"a\":{\"kind\":\"stage\",\"stages\":[]}"), GS_EMALFORMED,
            "t.a: \"stages\" must be a list of 1..64");
    refused(T("\"a\":{\"kind\":\"lww\",\"stages\":[\"x\"]}"), GS_EMALFORMED,
            "t.a: \"stages\" applies to stage fields only");
    refused(T("\"a\":{\"kind\":\"stage\",\"stages\":[\"x\",\"x\"]}"),
            GS_EMALFORMED, "t.a: stage \"x\" listed twice");
    refused(T("\"a\":{\"kind\":\"stage\",\"stages\":[\"x\",\"reopen\"]}"),
            GS_EMALFORMED, "t.a: \"reopen\" is reserved");
    refused(T("\"a\":{\"kind\":\"stage\",\"stages\":[\"x\",\"Bad Name\"]}"),
            GS_EMALFORMED, "t.a: stage 1 needs a name");
    refused(T("\"a\":{\"kind\":\"stage\",\"stages\":[{\"label\":\"x\"}]}"),
            GS_EMALFORMED, "t.a: stage 0 needs a name");
    refused(T("\"a\":{\"kind\":\"stage\",\"stages\":[{\"name\":\"x\","
              "\"colour\":1}]}"),
            GS_EMALFORMED, "t.a stage 0: unknown key \"colour\"");
    refused(T("\"a\":{\"kind\":\"lww\",\"label\":\"\\u0007\"}"), GS_EMALFORMED,
            "t.a: label holds a control character");

    /* 65 stages: one too many for a stage number */
    char big[4096];
    size_t k = (size_t)snprintf(big, sizeof big, "%s",
                                "{\"version\":1,\"types\":{\"t\":{\"fields\":"
                                "{\"s\":{\"kind\":\"stage\",\"stages\":[");
    for (int i = 0; i <= GS_STAGE_MAX + 1; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%s\"s%d\"",
                              i ? "," : "", i);
    snprintf(big + k, sizeof big - k, "]}}}}}");
    refused(big, GS_EMALFORMED, "t.s: \"stages\" must be a list of 1..64");

    /* over the size cap, before any parsing */
    size_t n = GS_SCHEMA_BYTES_MAX + 1;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, ' ', n);
    huge[n] = '\0';
    refused(huge, GS_ETOOBIG, "over");
    free(huge);

    /* without a message buffer too */
    gs_schema *sc = NULL;
    assert_int_equal(gs_schema_load_json("{", 1, &sc, NULL, 0), GS_EMALFORMED);
    assert_null(sc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_default_loads),
        cmocka_unit_test(test_schema_kind_names),
        cmocka_unit_test(test_schema_minimal_and_forms),
        cmocka_unit_test(test_schema_malformed_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
