/*
 * test_json.c — the JSON layer: entities shown as JSON for every field
 * kind (masking, --reveal, meta, fields unknown to the schema), JSON
 * records and command-line assignments turned into updates for every kind
 * (lww base, counter totals, set removes carrying observed tags, stage
 * reopen, claim and withdraw), the refusals and their messages, import's
 * check before any state (a reopen left for later, stages followed by
 * gs_json_stage_next), and round trips: updates applied to an entity
 * through real encoded ops, then shown.
 */
#include "testutil.h"

#include "field.h"
#include "hlc.h"
#include "jsimd.h"
#include "json.h"
#include "schema.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gs_schema *SC;
static gs_jtape tape; /* fields as the decode reads them (tv) */
static uint8_t A[GS_KEY_BYTES], B[GS_KEY_BYTES];

static int
setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    memset(A, 0xa1, sizeof A);
    memset(B, 0xb2, sizeof B);
    return gs_schema_load_default(&SC) == GS_OK ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    gs_schema_free(SC);
    gs_jtape_fini(&tape);
    return 0;
}

static gs_slice
S(const char *s)
{
    return gs_slice_of(s, strlen(s));
}


/* fields on the tape, as the decode reads them (until the next call) */
static const gs_jval *
tv(json_t *fields)
{
    return gs_jtape_of(&tape, fields);
}

/* A real op from u: encoded, decoded and hashed as the store would, then
 * applied to e. */
static void
apply_updates(gs_entity *e, const uint8_t *author, uint64_t hlc,
              const gs_json_updates *u)
{
    gs_op op, dec;
    gs_buf enc;
    uint8_t hash[GS_HASH_BYTES];

    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, author, GS_KEY_BYTES);
    op.scope = S("yc.g001");
    op.seq = 1;
    op.hlc = hlc;
    op.type = gs_slice_of(e->type, e->type_n);
    op.id = gs_slice_of(e->id, e->id_n);
    gs_json_updates_fill(u, &op);
    gs_buf_init(&enc, GS_OP_BYTES_MAX);
    assert_int_equal(gs_op_encode(&op, &enc), GS_OK);
    assert_int_equal(gs_op_decode(enc.data, enc.len, &dec), GS_OK);
    gs_op_hash(enc.data, enc.len, hash);
    assert_int_equal(gs_entity_apply(e, &dec, hash), GS_OK);
    gs_buf_fini(&enc);
}

/* Write the JSON object text to e as author at hlc; returns how many
 * updates it made. */
static size_t
put(gs_entity *e, const uint8_t *author, uint64_t hlc, const char *text)
{
    json_error_t jerr;
    json_t *fields = json_loads(text, 0, &jerr);
    gs_json_updates u;
    char why[GS_JSON_WHY_BYTES];
    assert_non_null(fields);
    gs_err rc = gs_json_updates_decode(SC, gs_slice_of(e->type, e->type_n), e,
                                       author, tv(fields), &u, why, sizeof why);
    if (rc != GS_OK)
        fail_msg("put %s: %s: %s", text, gs_errname(rc), why);
    size_t n = u.n;
    if (n > 0)
        apply_updates(e, author, hlc, &u);
    gs_json_updates_fini(&u);
    json_decref(fields);
    return n;
}

/* Writing text to e (type as given) fails with rc and a message holding
 * want. */
static void
put_refused(const gs_entity *e, const char *type, const char *text, gs_err rc,
            const char *want)
{
    json_error_t jerr;
    json_t *fields = json_loads(text, JSON_DECODE_ANY, &jerr);
    gs_json_updates u;
    char why[GS_JSON_WHY_BYTES] = "";
    assert_non_null(fields);
    gs_err got =
        gs_json_updates_decode(SC, S(type), e, A, tv(fields), &u, why,
                               sizeof why);
    if (got != rc || strstr(why, want) == NULL)
        fail_msg("put %s %s\n  gave %s \"%s\"\n  want %s \"...%s...\"", type,
                 text, gs_errname(got), why, gs_errname(rc), want);
    assert_int_equal(u.n, 0);
    gs_json_updates_fini(&u); /* harmless after an error */
    json_decref(fields);
}

/* The entity as compact JSON with sorted keys (caller frees). */
static char *
show(const gs_entity *e, unsigned flags)
{
    json_t *j = gs_json_entity(SC, e, flags);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(s);
    json_decref(j);
    return s;
}

static void
assert_shows(const gs_entity *e, unsigned flags, const char *want)
{
    char *s = show(e, flags);
    if (strstr(s, want) == NULL)
        fail_msg("entity %s\n  lacks %s", s, want);
    free(s);
}

static void
assert_hides(const gs_entity *e, unsigned flags, const char *unwanted)
{
    char *s = show(e, flags);
    if (strstr(s, unwanted) != NULL)
        fail_msg("entity %s\n  shows %s", s, unwanted);
    free(s);
}

static void
entity(gs_entity *e, const char *type, const char *id)
{
    assert_int_equal(gs_entity_init(e, S(type), S(id)), GS_OK);
}

/* The payload of the one update of fields written to e. */
static void
one_payload(const gs_entity *e, const uint8_t *author, const char *text,
            gs_payload *pl, gs_json_updates *u)
{
    json_error_t jerr;
    json_t *fields = json_loads(text, 0, &jerr);
    assert_non_null(fields);
    assert_int_equal(gs_json_updates_decode(SC, gs_slice_of(e->type, e->type_n),
                                            e, author, tv(fields), u, NULL, 0),
                     GS_OK);
    assert_int_equal(u->n, 1);
    assert_int_equal(
        gs_payload_parse(u->u[0].kind, gs_json_updates_payload(u, 0), pl),
        GS_OK);
    json_decref(fields);
}

#define MS(x) gs_hlc_pack((x), 0)
#define T0 UINT64_C(1714552200123) /* 2024-05-01T08:30:00.123Z */

/* ---- reading ---- */

static void
test_json_time_is_iso_utc(void **state)
{
    (void)state;
    char t[GS_JSON_TIME_BYTES];
    gs_json_time(gs_hlc_pack(T0, 7), t);
    assert_string_equal(t, "2024-05-01T08:30:00.123Z");
    gs_json_time(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000Z");
}

static void
test_json_entity_every_kind(void **state)
{
    (void)state;
    gs_entity p, t, w;
    entity(&p, "person", "P-0001");
    put(&p, A, MS(T0),
        "{\"name\":\"王秀兰\",\"birth_year\":1941,\"tags\":[\"low-income\","
        "\"elderly-alone\"],\"points\":10,\"ledger\":\"志愿服务 +10\"}");
    assert_shows(&p, 0,
                 "{\"deleted\":false,\"fields\":{\"birth_year\":1941,"
                 "\"ledger\":[{\"at\":\"2024-05-01T08:30:00.123Z\","
                 "\"by\":\"a1a1a1a1a1a1a1a1\",\"value\":\"志愿服务 +10\"}],"
                 "\"name\":\"王秀兰\",\"points\":10,"
                 "\"tags\":[\"elderly-alone\",\"low-income\"]},"
                 "\"id\":\"P-0001\",\"type\":\"person\"}");
    assert_hides(&p, 0, "masked");
    assert_hides(&p, 0, "meta");

    entity(&t, "ticket", "T-0001");
    put(&t, A, MS(T0), "{\"title\":\"路灯不亮\",\"stage\":\"reported\"}");
    put(&t, B, MS(T0 + 1000), "{\"stage\":\"dispatched\"}");
    assert_shows(&t, 0, "\"stage\":{\"round\":0,\"stage\":\"dispatched\"}");

    entity(&w, "wish", "W-0001");
    put(&w, A, MS(T0), "{\"claims\":{\"claim\":\"P-0007\"}}");
    put(&w, B, MS(T0 + 5), "{\"claims\":{\"claim\":\"P-0003\"}}");
    assert_shows(&w, 0,
                 "\"claims\":{\"losing\":[\"P-0003\"],\"winner\":\"P-0007\"}");
    put(&w, A, MS(T0 + 9), "{\"claims\":{\"withdraw\":\"P-0007\"}}");
    assert_shows(&w, 0, "\"claims\":{\"losing\":[],\"winner\":\"P-0003\"}");

    /* meta: who wrote the value in force, and when */
    assert_shows(&t, GS_JSON_META,
                 "\"meta\":{\"stage\":{\"at\":\"2024-05-01T08:30:01.123Z\","
                 "\"by\":\"b2b2b2b2b2b2b2b2\"},\"title\":{\"at\":"
                 "\"2024-05-01T08:30:00.123Z\",\"by\":\"a1a1a1a1a1a1a1a1\"}}");
    assert_shows(&w, GS_JSON_META,
                 "\"meta\":{\"claims\":{\"at\":\"2024-05-01T08:30:00.128Z\","
                 "\"by\":\"b2b2b2b2b2b2b2b2\"}}");
    assert_shows(&p, GS_JSON_META, "\"points\":{\"at\":");

    /* the tombstone is "deleted", not a field */
    put(&t, A, MS(T0 + 2000), "{\"_deleted\":true}");
    assert_shows(&t, 0, "\"deleted\":true");
    assert_hides(&t, 0, "_deleted");

    gs_entity_fini(&p);
    gs_entity_fini(&t);
    gs_entity_fini(&w);
}

static void
test_json_entity_masks_personal_unless_revealed(void **state)
{
    (void)state;
    gs_entity p;
    entity(&p, "person", "P-0002");
    put(&p, A, MS(T0),
        "{\"name\":\"李建国\",\"id_number\":\"110105194106120018\","
        "\"phone\":\"13800138000\",\"health_notes\":\"高血压\"}");
    char *s = show(&p, 0);
    assert_null(strstr(s, "110105194106120018"));
    assert_null(strstr(s, "13800138000"));
    assert_null(strstr(s, "高血压"));
    assert_non_null(strstr(s, "\"id_number\":\"***\""));
    assert_non_null(strstr(s, "\"phone\":\"***\""));
    assert_non_null(strstr(s, "\"name\":\"李建国\""));
    assert_non_null(
        strstr(s, "\"masked\":[\"health_notes\",\"id_number\",\"phone\"]"));
    free(s);

    s = show(&p, GS_JSON_REVEAL);
    assert_non_null(strstr(s, "\"id_number\":\"110105194106120018\""));
    assert_non_null(strstr(s, "\"phone\":\"13800138000\""));
    assert_non_null(strstr(s, "\"health_notes\":\"高血压\""));
    assert_null(strstr(s, "masked"));
    free(s);

    /* who and when are not personal data: meta stays with masking */
    assert_shows(&p, GS_JSON_META, "\"phone\":{\"at\":");

    /* a schema-less view masks nothing */
    json_t *j = gs_json_entity(NULL, &p, 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "fields"), "phone")),
                        "13800138000");
    json_decref(j);
    gs_entity_fini(&p);
}

/* Fields the schema does not know, or under another kind, still show. */
static void
test_json_entity_fields_unknown_to_schema(void **state)
{
    (void)state;
    gs_entity e;
    gs_json_updates u;
    gs_vref v = {GS_V_STR, 0, S("小王")};
    entity(&e, "person", "P-0003");
    memset(&u, 0, sizeof u);
    u.n = 4;
    snprintf(u.u[0].field, sizeof u.u[0].field, "nickname");
    u.u[0].kind = GS_KIND_LWW;
    snprintf(u.u[1].field, sizeof u.u[1].field, "points");
    u.u[1].kind = GS_KIND_LWW; /* the schema says counter */
    snprintf(u.u[2].field, sizeof u.u[2].field, "phase");
    u.u[2].kind = GS_KIND_STAGE;
    snprintf(u.u[3].field, sizeof u.u[3].field, "phone");
    u.u[3].kind = GS_KIND_LOG; /* personal, whatever its kind */
    for (size_t i = 0; i < u.n; i++)
        u.u[i].field_n = (uint8_t)strlen(u.u[i].field);
    gs_buf_init(&u.bytes, GS_OP_BYTES_MAX);
    assert_int_equal(gs_payload_lww(&u.bytes, 0, &v), GS_OK);
    u.u[0].len = u.bytes.len;
    u.u[1].at = u.bytes.len;
    assert_int_equal(gs_payload_lww(&u.bytes, 0, &v), GS_OK);
    u.u[1].len = u.bytes.len - u.u[1].at;
    u.u[2].at = u.bytes.len;
    assert_int_equal(gs_payload_stage(&u.bytes, 0, 2, 5), GS_OK);
    u.u[2].len = u.bytes.len - u.u[2].at;
    u.u[3].at = u.bytes.len;
    assert_int_equal(gs_payload_log(&u.bytes, &v), GS_OK);
    u.u[3].len = u.bytes.len - u.u[3].at;
    apply_updates(&e, A, MS(T0), &u);
    gs_json_updates_fini(&u);
    put(&e, A, MS(T0 + 1), "{\"points\":4}");

    assert_shows(&e, 0, "\"nickname\":\"小王\"");
    assert_shows(&e, 0, "\"phase\":{\"round\":2,\"stage\":5}");
    assert_shows(&e, 0, "\"points\":4,\"points:lww\":\"小王\"");
    assert_shows(&e, 0, "\"phone:log\":\"***\"");
    assert_shows(&e, GS_JSON_REVEAL, "\"phone:log\":[{\"at\":");

    /* an unknown type: everything by its kind */
    gs_entity x;
    entity(&x, "spaceship", "S-1");
    memset(&u, 0, sizeof u);
    u.n = 1;
    snprintf(u.u[0].field, sizeof u.u[0].field, "name");
    u.u[0].field_n = 4;
    u.u[0].kind = GS_KIND_LWW;
    gs_buf_init(&u.bytes, GS_OP_BYTES_MAX);
    assert_int_equal(gs_payload_lww(&u.bytes, 0, &v), GS_OK);
    u.u[0].len = u.bytes.len;
    apply_updates(&x, A, MS(T0), &u);
    gs_json_updates_fini(&u);
    assert_shows(&x, 0, "\"fields\":{\"name\":\"小王\"}");
    gs_entity_fini(&x);
    gs_entity_fini(&e);
}

/* ---- writing ---- */

static void
test_json_updates_lww_base_and_values(void **state)
{
    (void)state;
    gs_entity p;
    gs_payload pl;
    gs_json_updates u;
    entity(&p, "person", "P-0004");

    one_payload(&p, A, "{\"name\":\"张三\"}", &pl, &u);
    assert_int_equal(pl.kind, GS_KIND_LWW);
    assert_int_equal(pl.u.lww.base, 0);
    assert_int_equal(pl.u.lww.v.type, GS_V_STR);
    gs_json_updates_fini(&u);

    put(&p, A, MS(T0), "{\"name\":\"张三\",\"birth_year\":1950}");
    one_payload(&p, B, "{\"name\":\"张叁\"}", &pl, &u);
    assert_int_equal(pl.u.lww.base, MS(T0)); /* the value B saw */
    gs_json_updates_fini(&u);

    put(&p, B, MS(T0 + 1), "{\"name\":\"张叁\",\"birth_year\":null}");
    assert_shows(&p, 0, "\"birth_year\":null");
    assert_shows(&p, 0, "\"name\":\"张叁\"");
    gs_entity_fini(&p);
}

static void
test_json_updates_counter_totals(void **state)
{
    (void)state;
    gs_entity p;
    gs_payload pl;
    gs_json_updates u;
    entity(&p, "person", "P-0005");

    put(&p, A, MS(T0), "{\"points\":10}");
    put(&p, A, MS(T0 + 1), "{\"points\":5}");
    one_payload(&p, A, "{\"points\":-3}", &pl, &u);
    assert_int_equal(pl.u.counter.delta, -3);
    assert_int_equal(pl.u.counter.total, 12); /* A's own 15 - 3 */
    gs_json_updates_fini(&u);
    one_payload(&p, B, "{\"points\":7}", &pl, &u);
    assert_int_equal(pl.u.counter.total, 7); /* B's own, not the sum */
    gs_json_updates_fini(&u);

    put(&p, B, MS(T0 + 2), "{\"points\":-4}");
    assert_shows(&p, 0, "\"points\":11");
    assert_int_equal(put(&p, A, MS(T0 + 3), "{\"points\":0}"), 0);

    put_refused(&p, "person", "{\"points\":\"10\"}", GS_ESCHEMA,
                "person.points: a counter takes an integer");
    put_refused(&p, "person", "{\"points\":1.5}", GS_ESCHEMA,
                "got a real number");
    put_refused(&p, "person", "{\"points\":4611686018427387905}", GS_ETOOBIG,
                "beyond the counter's range");
    gs_entity_fini(&p);
}

static void
test_json_updates_set_remove_carries_observed_tags(void **state)
{
    (void)state;
    gs_entity h, other;
    gs_payload pl;
    gs_json_updates u;
    entity(&h, "household", "H-0001");
    entity(&other, "household", "H-0001");

    put(&h, A, MS(T0), "{\"tags\":[\"elderly-alone\",\"low-income\"]}");
    /* B, offline, adds low-income again: A never sees that add */
    put(&other, B, MS(T0 + 1), "{\"tags\":{\"add\":[\"low-income\"]}}");

    one_payload(&h, A, "{\"tags\":{\"remove\":[\"low-income\"]}}", &pl, &u);
    assert_int_equal(pl.u.set.n, 1);
    gs_rd r;
    gs_set_item it;
    gs_rd_init(&r, pl.u.set.items.p, pl.u.set.items.n);
    assert_int_equal(gs_payload_set_next(&r, &it), GS_OK);
    assert_int_equal(it.action, GS_SET_REMOVE);
    assert_int_equal(it.n_tags, 1); /* the one add A observed */
    uint8_t tag[GS_HASH_BYTES];
    assert_int_equal(gs_field_set_tags(gs_entity_field(&h, "tags", GS_KIND_SET),
                                       S("low-income"), &tag, 1),
                     1);
    assert_memory_equal(it.tags[0], tag, GS_HASH_BYTES);
    gs_json_updates_fini(&u);

    put(&h, A, MS(T0 + 2), "{\"tags\":{\"remove\":[\"low-income\"]}}");
    assert_shows(&h, 0, "\"tags\":[\"elderly-alone\"]");
    /* B's unseen add survives the merge: add wins */
    assert_int_equal(gs_entity_join(&h, &other), GS_OK);
    assert_shows(&h, 0, "\"tags\":[\"elderly-alone\",\"low-income\"]");

    /* add and remove in one write, repeats folded */
    put(&h, A, MS(T0 + 3),
        "{\"tags\":{\"add\":[\"disabled\",\"disabled\"],"
        "\"remove\":[\"elderly-alone\"]}}");
    assert_shows(&h, 0, "\"tags\":[\"disabled\",\"low-income\"]");
    assert_int_equal(put(&h, A, MS(T0 + 4), "{\"tags\":[]}"), 0);
    assert_int_equal(put(&h, A, MS(T0 + 4), "{\"tags\":{}}"), 0);

    put_refused(&h, "household", "{\"tags\":{\"remove\":[\"elderly-alone\"]}}",
                GS_ENOTFOUND,
                "household.tags: cannot remove \"elderly-alone\": not "
                "present");
    put_refused(NULL, "household", "{\"tags\":{\"remove\":[\"x\"]}}",
                GS_ENOTFOUND, "not present");
    put_refused(&h, "household",
                "{\"tags\":{\"add\":[\"x\"],\"remove\":[\"x\"]}}", GS_ESCHEMA,
                "\"x\" is both added and removed");
    put_refused(&h, "household", "{\"tags\":\"x\"}", GS_ESCHEMA,
                "a set takes an array of strings");
    put_refused(&h, "household", "{\"tags\":[1]}", GS_ESCHEMA,
                "element 0 to add is an integer");
    put_refused(&h, "household", "{\"tags\":{\"put\":[]}}", GS_ESCHEMA,
                "unknown key \"put\"");
    put_refused(&h, "household", "{\"tags\":[\"\"]}", GS_ESCHEMA,
                "cannot be empty");
    gs_entity_fini(&h);
    gs_entity_fini(&other);
}

static void
test_json_updates_log_entries(void **state)
{
    (void)state;
    gs_entity h;
    entity(&h, "household", "H-0002");
    put(&h, A, MS(T0), "{\"diary\":\"走访，一切正常\"}");
    put(&h, B, MS(T0 + 60000),
        "{\"diary\":{\"value\":\"送米送油\",\"at\":\"x\",\"by\":\"y\"}}");
    assert_shows(&h, 0,
                 "\"diary\":[{\"at\":\"2024-05-01T08:30:00.123Z\",\"by\":"
                 "\"a1a1a1a1a1a1a1a1\",\"value\":\"走访，一切正常\"},"
                 "{\"at\":\"2024-05-01T08:31:00.123Z\",\"by\":"
                 "\"b2b2b2b2b2b2b2b2\",\"value\":\"送米送油\"}]");
    put_refused(&h, "household", "{\"diary\":[\"a\",\"b\"]}", GS_ESCHEMA,
                "one entry per write");
    put_refused(&h, "household", "{\"diary\":7}", GS_ESCHEMA,
                "household.diary: expected a string (or null), got an "
                "integer");
    put_refused(&h, "household", "{\"diary\":{\"text\":\"x\"}}", GS_ESCHEMA,
                "unknown key \"text\"");
    put_refused(&h, "household", "{\"diary\":\"a\\u0001b\"}", GS_EUTF8,
                "control character");
    gs_entity_fini(&h);
}

static void
test_json_updates_stage_and_reopen(void **state)
{
    (void)state;
    gs_entity t;
    gs_payload pl;
    gs_json_updates u;
    entity(&t, "ticket", "T-0002");

    put_refused(&t, "ticket", "{\"stage\":\"reopen\"}", GS_ENOTFOUND,
                "nothing to reopen");
    put(&t, A, MS(T0), "{\"stage\":\"reported\"}");
    put(&t, A, MS(T0 + 1), "{\"stage\":1}");
    assert_shows(&t, 0, "\"stage\":{\"round\":0,\"stage\":\"accepted\"}");
    put(&t, B, MS(T0 + 2), "{\"stage\":\"resolved\"}");
    put_refused(&t, "ticket", "{\"stage\":\"accepted\"}", GS_ESCHEMA,
                "ticket.stage: already at resolved (round 0)");
    assert_int_equal(put(&t, A, MS(T0 + 3), "{\"stage\":\"resolved\"}"), 0);

    one_payload(&t, A, "{\"stage\":\"reopen\"}", &pl, &u);
    assert_int_equal(pl.u.stage.round, 1);
    assert_int_equal(pl.u.stage.stage, 0);
    /* the base is the stamp of the stage seen: resolved, first by B */
    assert_int_equal(pl.u.stage.base, MS(T0 + 2));
    gs_json_updates_fini(&u);
    put(&t, A, MS(T0 + 4), "{\"stage\":\"reopen\"}");
    assert_shows(&t, 0, "\"stage\":{\"round\":1,\"stage\":\"reported\"}");
    /* in the new round, stages count from the start again */
    put(&t, A, MS(T0 + 5), "{\"stage\":\"in_progress\"}");
    assert_shows(&t, 0, "\"stage\":{\"round\":1,\"stage\":\"in_progress\"}");
    put(&t, A, MS(T0 + 6), "{\"stage\":{\"round\":3,\"stage\":\"closed\"}}");
    assert_shows(&t, 0, "\"stage\":{\"round\":3,\"stage\":\"closed\"}");

    put_refused(&t, "ticket", "{\"stage\":\"resolve\"}", GS_ESCHEMA,
                "unknown stage \"resolve\"; stages: reported, accepted, "
                "dispatched, in_progress, resolved, closed, reopen");
    put_refused(&t, "ticket", "{\"stage\":6}", GS_ESCHEMA, "no stage 6");
    put_refused(&t, "ticket", "{\"stage\":true}", GS_ESCHEMA, "got true/false");
    put_refused(&t, "ticket", "{\"stage\":{\"round\":-1,\"stage\":0}}",
                GS_ESCHEMA, "round must be");
    gs_entity_fini(&t);
}

/* gs_json_updates_check (import's check, before any state is known)
 * leaves a reopen for later and lists every stage input; gs_json_stage_next
 * follows a stage field through writes by put's rule. */
static void
test_json_updates_check_and_stage_next(void **state)
{
    (void)state;
    gs_json_updates u;
    char why[GS_JSON_WHY_BYTES];
    json_t *f = json_loads("{\"title\":\"x\",\"stage\":\"reopen\"}", 0, NULL);
    assert_int_equal(
        gs_json_updates_check(SC, S("ticket"), A, tv(f), &u, why, sizeof why),
        GS_OK);
    assert_true(u.later);
    assert_int_equal(u.n, 1); /* the title; the reopen waits for a state */
    assert_int_equal(u.n_stages, 1);
    assert_int_equal(u.stages[0].form, GS_JSON_STAGE_REOPEN);
    gs_json_updates_fini(&u);
    json_decref(f);
    f = json_loads("{\"stage\":\"resolved\"}", 0, NULL);
    assert_int_equal(
        gs_json_updates_check(SC, S("ticket"), A, tv(f), &u, why, sizeof why),
        GS_OK);
    assert_false(u.later);
    assert_int_equal(u.n, 1);
    gs_json_stage in = u.stages[0];
    assert_int_equal(in.form, GS_JSON_STAGE_AT);
    assert_int_equal(in.stage, 4);
    gs_json_updates_fini(&u);
    json_decref(f);

    bool have = false, wrote;
    uint64_t round = 0, stage = 0;
    gs_json_stage reopen = in;
    reopen.form = GS_JSON_STAGE_REOPEN;
    assert_int_equal(gs_json_stage_next(&reopen, &have, &round, &stage, &wrote,
                                        why, sizeof why),
                     GS_ENOTFOUND);
    assert_non_null(strstr(why, "nothing to reopen"));
    assert_int_equal(
        gs_json_stage_next(&in, &have, &round, &stage, &wrote, why, sizeof why),
        GS_OK);
    assert_true(have && wrote && round == 0 && stage == 4);
    assert_int_equal(
        gs_json_stage_next(&in, &have, &round, &stage, &wrote, why, sizeof why),
        GS_OK);
    assert_false(wrote); /* already there */
    gs_json_stage back = in;
    back.stage = 1;
    assert_int_equal(gs_json_stage_next(&back, &have, &round, &stage, &wrote,
                                        why, sizeof why),
                     GS_ESCHEMA);
    assert_non_null(strstr(why, "ticket.stage: already at resolved"));
    assert_true(round == 0 && stage == 4); /* unchanged */
    assert_int_equal(gs_json_stage_next(&reopen, &have, &round, &stage, &wrote,
                                        why, sizeof why),
                     GS_OK);
    assert_true(wrote && round == 1 && stage == 0);
    /* a plain stage now lands in round 1 */
    assert_int_equal(gs_json_stage_next(&back, &have, &round, &stage, &wrote,
                                        why, sizeof why),
                     GS_OK);
    assert_true(wrote && round == 1 && stage == 1);
}

static void
test_json_updates_claim_withdraw(void **state)
{
    (void)state;
    gs_entity w;
    gs_payload pl;
    gs_json_updates u;
    entity(&w, "wish", "W-0002");
    one_payload(&w, A, "{\"claims\":{\"claim\":\"P-0009\"}}", &pl, &u);
    assert_int_equal(pl.u.claim.action, GS_CLAIM);
    assert_int_equal(pl.u.claim.who.n, 6);
    gs_json_updates_fini(&u);

    put(&w, A, MS(T0), "{\"claims\":{\"claim\":\"P-0009\"}}");
    put_refused(&w, "wish", "{\"claims\":{\"withdraw\":\"P-0001\"}}",
                GS_ENOTFOUND, "P-0001 has no claim to withdraw");
    one_payload(&w, A, "{\"claims\":{\"withdraw\":\"P-0009\"}}", &pl, &u);
    assert_int_equal(pl.u.claim.action, GS_WITHDRAW);
    gs_json_updates_fini(&u);
    put(&w, A, MS(T0 + 1), "{\"claims\":{\"withdraw\":\"P-0009\"}}");
    assert_shows(&w, 0, "\"claims\":{\"losing\":[],\"winner\":null}");

    put_refused(&w, "wish", "{\"claims\":\"P-1\"}", GS_ESCHEMA,
                "{\"claim\": ID} or {\"withdraw\": ID}");
    put_refused(&w, "wish",
                "{\"claims\":{\"claim\":\"P-1\",\"withdraw\":\"P-2\"}}",
                GS_ESCHEMA, "{\"claim\": ID}");
    put_refused(&w, "wish", "{\"claims\":{\"claim\":\"P 1\"}}", GS_ESCHEMA,
                "not a valid id");
    gs_entity_fini(&w);
}

static void
test_json_updates_refusals(void **state)
{
    (void)state;
    put_refused(NULL, "ticket", "{\"stag\":\"resolved\"}", GS_ESCHEMA,
                "ticket has no field \"stag\"; its fields: title, category, "
                "description");
    put_refused(NULL, "spaceship", "{}", GS_ESCHEMA,
                "unknown type \"spaceship\"; types: household, person");
    put_refused(NULL, "person", "[]", GS_ESCHEMA,
                "fields must be a JSON object");
    put_refused(NULL, "person", "{\"name\":12.5}", GS_ESCHEMA,
                "person.name: real numbers are not stored");
    put_refused(NULL, "person", "{\"name\":7}", GS_ESCHEMA,
                "person.name: expected a string (or null), got an integer");
    put_refused(NULL, "person", "{\"birth_year\":\"1950\"}", GS_ESCHEMA,
                "person.birth_year: expected an integer (or null), got a "
                "string");
    put_refused(NULL, "person", "{\"name\":[\"a\"]}", GS_ESCHEMA,
                "got an array");
    put_refused(NULL, "person", "{\"_deleted\":\"yes\"}", GS_ESCHEMA,
                "expected true or false");

    /* over the text limit */
    char *big = malloc(GS_STR_BYTES_MAX + 64);
    assert_non_null(big);
    strcpy(big, "{\"name\":\"");
    memset(big + 9, 'x', GS_STR_BYTES_MAX + 1);
    strcpy(big + 9 + GS_STR_BYTES_MAX + 1, "\"}");
    put_refused(NULL, "person", big, GS_ETOOBIG, "over the 4096-byte limit");
    free(big);
    /* an lww value's text, checked by its builder, in the same words */
    put_refused(NULL, "person", "{\"name\":\"a\\u0001b\"}", GS_EUTF8,
                "person.name: the value holds a control character");

    /* a failure leaves nothing behind, even after good fields */
    json_t *f = json_pack("{s:s, s:s, s:f}", "name", "a", "phone", "b",
                          "birth_year", 1.5);
    gs_json_updates u;
    assert_int_equal(
        gs_json_updates_decode(SC, S("person"), NULL, A, tv(f), &u, NULL, 0),
        GS_ESCHEMA);
    assert_int_equal(u.n, 0);
    json_decref(f);
}

/* ---- command-line assignments ---- */

static json_t *
assign(const char *type, const char *const *args)
{
    json_t *fields = json_object();
    char why[GS_JSON_WHY_BYTES];
    for (size_t i = 0; args[i] != NULL; i++) {
        gs_err rc = gs_json_parse_assignment(SC, S(type), args[i], fields, why,
                                             sizeof why);
        if (rc != GS_OK)
            fail_msg("%s: %s: %s", args[i], gs_errname(rc), why);
    }
    return fields;
}

static void
assign_refused(const char *type, const char *first, const char *arg, gs_err rc,
               const char *want)
{
    json_t *fields = json_object();
    char why[GS_JSON_WHY_BYTES] = "";
    if (first != NULL)
        assert_int_equal(gs_json_parse_assignment(SC, S(type), first, fields,
                                                  why, sizeof why),
                         GS_OK);
    gs_err got =
        gs_json_parse_assignment(SC, S(type), arg, fields, why, sizeof why);
    if (got != rc || strstr(why, want) == NULL)
        fail_msg("%s\n  gave %s \"%s\"\n  want %s \"...%s...\"", arg,
                 gs_errname(got), why, gs_errname(rc), want);
    json_decref(fields);
}

static void
test_json_assignments_to_json(void **state)
{
    (void)state;
    static const char *const pa[] = {
        "name=张三",           "birth_year=1950", "points+=10",
        "tags+=elderly-alone", "tags+=disabled",  "tags-=low-income",
        "ledger+=志愿服务",    "phone=",          NULL};
    json_t *f = assign("person", pa);
    char *s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"birth_year\":1950,\"ledger\":\"志愿服务\","
                           "\"name\":\"张三\",\"phone\":null,\"points\":10,"
                           "\"tags\":{\"add\":[\"elderly-alone\",\"disabled\"],"
                           "\"remove\":[\"low-income\"]}}");
    free(s);
    json_decref(f);

    static const char *const ta[] = {"stage=resolved", "comments=已派单",
                                     "satisfaction=5", NULL};
    f = assign("ticket", ta);
    s = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"comments\":\"已派单\",\"satisfaction\":5,"
                           "\"stage\":\"resolved\"}");
    free(s);
    json_decref(f);

    static const char *const wa[] = {"claims-=P-1", NULL};
    f = assign("wish", wa);
    s = json_dumps(f, JSON_COMPACT);
    assert_string_equal(s, "{\"claims\":{\"withdraw\":\"P-1\"}}");
    free(s);
    json_decref(f);

    static const char *const xa[] = {"points-=3", "stage=2", NULL};
    f = assign("person", (const char *const[]){"points-=3", NULL});
    assert_int_equal(json_integer_value(json_object_get(f, "points")), -3);
    json_decref(f);
    f = assign("ticket", xa + 1);
    assert_int_equal(json_integer_value(json_object_get(f, "stage")), 2);
    json_decref(f);
}

static void
test_json_assignments_refused(void **state)
{
    (void)state;
    assign_refused("person", NULL, "points=5", GS_ESCHEMA,
                   "person.points: is a counter: use points+=N or points-=N");
    assign_refused("person", NULL, "points+=ten", GS_ESCHEMA,
                   "expected an integer, not \"ten\"");
    assign_refused("person", NULL, "nmae=x", GS_ESCHEMA,
                   "person has no field \"nmae\"; its fields: name, "
                   "id_number");
    assign_refused("person", NULL, "birth_year=1950年", GS_ESCHEMA,
                   "person.birth_year: expected an integer");
    assign_refused("person", NULL, "name+=x", GS_ESCHEMA,
                   "holds one value: use name=VALUE");
    assign_refused("person", NULL, "tags=x", GS_ESCHEMA,
                   "is a set: use tags+=ELEMENT or tags-=ELEMENT");
    assign_refused("person", NULL, "tags+=", GS_ESCHEMA, "cannot be empty");
    assign_refused("person", NULL, "ledger-=x", GS_ESCHEMA,
                   "entries are only added");
    assign_refused("ticket", NULL, "stage+=resolved", GS_ESCHEMA,
                   "use stage=STAGE or stage=reopen");
    assign_refused("wish", NULL, "claims=P-1", GS_ESCHEMA,
                   "use claims+=ID to claim");
    assign_refused("person", "name=a", "name=b", GS_ESCHEMA,
                   "person.name: given twice");
    assign_refused("person", "ledger+=a", "ledger+=b", GS_ESCHEMA,
                   "given twice");
    assign_refused("person", NULL, "name", GS_EINVAL, "expected FIELD=VALUE");
    assign_refused("person", NULL, "Name=x", GS_EINVAL,
                   "\"Name\" is not a field name");
    assign_refused("person", NULL, "=x", GS_EINVAL, "is not a field name");
    assign_refused("boat", NULL, "name=x", GS_ESCHEMA, "unknown type \"boat\"");
    assign_refused("person", NULL, "name=a\x01", GS_EUTF8, "control character");
}

/* The command line's path end to end: assignments -> JSON -> updates ->
 * signed-op-shaped bytes -> entity -> JSON. */
static void
test_json_assignments_round_trip(void **state)
{
    (void)state;
    gs_entity p, h, t;
    gs_json_updates u;
    char why[GS_JSON_WHY_BYTES];
    entity(&p, "person", "P-0100");
    entity(&h, "household", "H-0100");
    entity(&t, "ticket", "T-0100");

    struct {
        gs_entity *e;
        const char *const *args;
    } steps[] = {
        {&p,
         (const char *const[]){"name=张三", "points+=10", "tags+=elderly-alone",
                               "tags+=low-income", NULL}},
        {&p, (const char *const[]){"points-=3", "tags-=low-income", NULL}},
        {&h, (const char *const[]){"diary+=走访，一切正常", "phone=13912345678",
                                   NULL}},
        {&t, (const char *const[]){"stage=resolved", NULL}},
        {&t, (const char *const[]){"stage=reopen", NULL}},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        gs_entity *e = steps[i].e;
        json_t *f = assign(e->type, steps[i].args);
        gs_err rc = gs_json_updates_decode(SC, gs_slice_of(e->type, e->type_n),
                                           e, A, tv(f), &u, why, sizeof why);
        if (rc != GS_OK)
            fail_msg("step %zu: %s: %s", i, gs_errname(rc), why);
        apply_updates(e, A, MS(T0 + i), &u);
        gs_json_updates_fini(&u);
        json_decref(f);
    }
    assert_shows(&p, 0,
                 "\"fields\":{\"name\":\"张三\",\"points\":7,"
                 "\"tags\":[\"elderly-alone\"]}");
    assert_shows(&h, 0, "\"value\":\"走访，一切正常\"");
    assert_shows(&h, 0, "\"phone\":\"***\"");
    assert_shows(&h, GS_JSON_REVEAL, "\"phone\":\"13912345678\"");
    assert_shows(&t, 0, "\"stage\":{\"round\":1,\"stage\":\"reported\"}");

    /* what get shows, put takes back for lww, counter and set */
    char *s = show(&p, GS_JSON_REVEAL);
    json_t *j = json_loads(s, 0, NULL);
    gs_entity q;
    entity(&q, "person", "P-0100");
    assert_int_equal(gs_json_updates_decode(SC, S("person"), &q, B,
                                            tv(json_object_get(j, "fields")), &u,
                                            why, sizeof why),
                     GS_OK);
    apply_updates(&q, B, MS(T0), &u);
    gs_json_updates_fini(&u);
    char *s2 = show(&q, GS_JSON_REVEAL);
    assert_string_equal(s, s2);
    free(s);
    free(s2);
    json_decref(j);
    gs_entity_fini(&q);

    gs_entity_fini(&p);
    gs_entity_fini(&h);
    gs_entity_fini(&t);
}

/* gs_json_load: jansson's values and rules, its own reasons. */
static void
expect_refused(const char *text, size_t n, const char *why_has)
{
    char why[256];
    json_error_t jerr;
    assert_null(gs_json_load(text, n, why, sizeof why));
    assert_non_null(strstr(why, why_has));
    /* jansson refuses it too */
    assert_null(json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr));
}

static void
test_json_load_as_jansson(void **state)
{
    (void)state;
    char why[256];
    const char *rec = "{\"type\":\"person\",\"id\":\"P-1\",\"fields\":"
                      "{\"name\":\"孙秀英\",\"birth_year\":1976,\"x\":null,"
                      "\"ok\":true,\"r\":1.5,\"tags\":[\"a\",\"b\"],"
                      "\"e\":\"\\u4e2d\\ud83d\\ude00\\t\"}}";
    json_error_t jerr;
    json_t *a = gs_json_load(rec, strlen(rec), why, sizeof why);
    json_t *b = json_loadb(rec, strlen(rec), JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    assert_true(json_is_integer(
        json_object_get(json_object_get(a, "fields"), "birth_year")));
    assert_true(
        json_is_real(json_object_get(json_object_get(a, "fields"), "r")));
    json_decref(a);
    json_decref(b);

    expect_refused("{\"a\":1,\"a\":2}", 13, "duplicate object key");
    expect_refused("[1] \"", 5, "premature end of input"); /* a string begun */
    expect_refused("[1] 2", 5, "end of file expected");   /* a second value */
    expect_refused("\v[1]", 4, "invalid character (column 1)");
    expect_refused("[\"a\\u0000b\"]", 12, "\\u0000 is not allowed");
    expect_refused("[\"\xed\xa0\x80\"]", 7, "invalid UTF-8");
    expect_refused("[\"\\ud800\"]", 10, "invalid Unicode"); /* jansson's */
    expect_refused("[9223372036854775808]", 21, "too big integer");
    expect_refused("[1e400]", 7, "real number overflow");
    expect_refused("\"x\"", 3, "'[' or '{' expected");
    expect_refused("{\"a\":", 5, "near end of file");
    char nul[] = "[1\0]";
    assert_null(gs_json_load(nul, 4, why, sizeof why));

    /* a long text: a long string with escapes, nesting deeper than
     * simdjson's 1024 (jansson's answer, 2048), and an error at the end
     * of such a text */
    size_t big = 64 * 1024;
    char *t = malloc(big + 4096);
    assert_non_null(t);
    size_t k = 0;
    k += (size_t)sprintf(t + k, "{\"s\":\"");
    while (k < big)
        k += (size_t)sprintf(t + k, "\\n\\u4e2d\\\"x");
    k += (size_t)sprintf(t + k, "\",\"d\":");
    for (int i = 0; i < 1500; i++)
        t[k++] = '[';
    for (int i = 0; i < 1500; i++)
        t[k++] = ']';
    t[k++] = '}';
    a = gs_json_load(t, k, why, sizeof why);
    b = json_loadb(t, k, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    t[k - 1] = ']'; /* the object closed by a bracket */
    expect_refused(t, k, "column");
    free(t);
}

/* The import's tape: a record's values found by key and in order, the
 * tape reused line after line (its strings those of the last load); a
 * repeated key found in an object too big to be checked key by key, at
 * any depth; jansson's values on a tape and back; a surrogate pair (the
 * text goes to jansson) decoded. */
static void
test_json_tape_holds_the_text(void **state)
{
    (void)state;
    char why[256];
    gs_jtape t;
    gs_jtape_init(&t);
    const char *rec = "{\"type\":\"person\",\"id\":\"P-1\",\"fields\":"
                      "{\"name\":\"孙秀英\",\"tags\":[\"a\",[1,{}],\"b\"],"
                      "\"age\":-7,\"r\":1.5,\"x\":null,\"ok\":true}}";
    for (int round = 0; round < 2; round++) {
        const gs_jval *v = gs_jtape_load(&t, rec, strlen(rec), why, sizeof why);
        assert_non_null(v);
        assert_int_equal(v->type, GS_J_OBJ);
        assert_int_equal(v->n, 3);
        assert_int_equal(v->skip, t.n);
        const gs_jval *f = gs_jval_get(v, "fields");
        assert_non_null(f);
        assert_int_equal(f->n, 6);
        assert_string_equal(gs_jval_get(f, "name")->u.s, "孙秀英");
        assert_int_equal(gs_jval_get(f, "name")->n, strlen("孙秀英"));
        const gs_jval *tags = gs_jval_get(f, "tags");
        assert_int_equal(tags->type, GS_J_ARR);
        assert_int_equal(tags->n, 3);
        const gs_jval *e = tags + 1; /* "a", [1, {}], "b" by their skips */
        assert_string_equal(e->u.s, "a");
        e += e->skip;
        assert_int_equal(e->type, GS_J_ARR);
        assert_int_equal(e->skip, 3);
        e += e->skip;
        assert_string_equal(e->u.s, "b");
        assert_int_equal(gs_jval_get(f, "age")->u.i, -7);
        assert_true(gs_jval_get(f, "r")->u.d == 1.5);
        assert_int_equal(gs_jval_get(f, "x")->type, GS_J_NULL);
        assert_int_equal(gs_jval_get(f, "ok")->type, GS_J_TRUE);
        assert_null(gs_jval_get(f, "nam"));
        assert_null(gs_jval_get(tags, "a")); /* not an object */
        assert_string_equal(gs_jval_kind(tags), "an array");
        /* jansson's values of it, and a tape of those, are the same */
        json_t *j = gs_jval_json(v);
        json_t *want = json_loads(rec, JSON_REJECT_DUPLICATES, NULL);
        assert_true(json_equal(j, want));
        gs_jtape o;
        gs_jtape_init(&o);
        json_t *back = gs_jval_json(gs_jtape_of(&o, j));
        assert_true(json_equal(back, want));
        json_decref(back);
        json_decref(want);
        json_decref(j);
        gs_jtape_fini(&o);
        /* another text between: the tape is the last load's */
        assert_null(gs_jtape_load(&t, "{\"a\":", 5, why, sizeof why));
    }
    /* 40 keys, one of them again: refused, in the object or nested */
    char big[2048];
    for (int dup = 0; dup < 3; dup++) {
        size_t k = 0;
        k += (size_t)sprintf(big + k, "%s", dup == 2 ? "{\"in\":[{" : "{");
        for (int i = 0; i < 40; i++)
            k += (size_t)sprintf(big + k, "%s\"k%d\":%d", i ? "," : "", i, i);
        if (dup > 0)
            k += (size_t)sprintf(big + k, ",\"k3\":0");
        k += (size_t)sprintf(big + k, "%s", dup == 2 ? "}]}" : "}");
        const gs_jval *v = gs_jtape_load(&t, big, k, why, sizeof why);
        if (dup == 0) {
            assert_non_null(v);
            assert_int_equal(v->n, 40);
            assert_int_equal(gs_jval_get(v, "k39")->u.i, 39);
        } else {
            assert_null(v);
            assert_non_null(strstr(why, "duplicate object key"));
        }
    }
    /* a line that is text and has no escape marks its strings as text
     * (their lww payloads are not checked again); an escape may make a
     * control character, and the value is checked, with its words */
    const char *plain = "{\"name\":\"孙秀英\"}";
    const gs_jval *pv = gs_jtape_load(&t, plain, strlen(plain), why, sizeof why);
    assert_true(pv != NULL && pv[2].text);
    /* a control character in a string makes its line no text: made by
     * an escape, or raw where JSON takes it (a DEL; a C1 control, U+0085
     * here); the value is checked, and refused with its words */
    static const char *const ctl[] = {"{\"name\":\"孙\\u0001英\"}",
                                      "{\"name\":\"孙\x7f\"}",
                                      "{\"name\":\"孙\xc2\x85\"}"};
    gs_json_updates u;
    for (size_t k = 0; k < sizeof ctl / sizeof ctl[0]; k++) {
        const gs_jval *cv =
            gs_jtape_load(&t, ctl[k], strlen(ctl[k]), why, sizeof why);
        assert_true(cv != NULL && !cv[2].text);
        assert_int_equal(gs_json_updates_check(SC, S("person"), A, cv, &u,
                                               why, sizeof why),
                         GS_EUTF8);
        assert_non_null(strstr(why, "control character"));
        gs_json_updates_fini(&u);
    }
    /* and a Latin-1 letter (U+00E9, also 0xc2/0xc3-led) is text */
    const char *l1 = "{\"name\":\"\xc3\xa9\xc2\xb7\"}";
    const gs_jval *l1v = gs_jtape_load(&t, l1, strlen(l1), why, sizeof why);
    assert_true(l1v != NULL && l1v[2].text);
    /* a line ended by CR LF is text all the same */
    const char *crlf = "{\"name\":\"孙秀英\"}\r\n";
    const gs_jval *cv = gs_jtape_load(&t, crlf, strlen(crlf), why, sizeof why);
    assert_true(cv != NULL && cv[2].text);
    const char *pair = "[\"\\ud83d\\ude00\"]"; /* U+1F600, escaped */
    const gs_jval *v = gs_jtape_load(&t, pair, strlen(pair), why, sizeof why);
    assert_non_null(v);
    assert_string_equal(v[1].u.s, "\xf0\x9f\x98\x80");
    /* a huge text's room goes with the next: 100,000 values, then one */
    size_t hn = 0, hcap = (size_t)1 << 20; /* 100,000 x at most 8 */
    char *huge = malloc(hcap);
    assert_non_null(huge);
    huge[hn++] = '[';
    for (int i = 0; i < 100000; i++)
        hn += (size_t)sprintf(huge + hn, "%s\"%d\"", i ? "," : "", i);
    huge[hn++] = ']';
    assert_non_null(gs_jtape_load(&t, huge, hn, why, sizeof why));
    assert_true(t.n > 100000 && gs_jsimd_room(t.simd) >= hn);
    assert_non_null(gs_jtape_load(&t, "[1]", 3, why, sizeof why));
    assert_true(t.cap <= 4096 && gs_jsimd_room(t.simd) <= hn / 2);
    free(huge);
    assert_null(gs_jtape_load(&t, "[\"\\u0000\"]", 10, why, sizeof why));
    assert_non_null(strstr(why, "\\u0000"));
    assert_null(gs_jtape_load(&t, "[\"\xc0\xaf\"]", 6, why, sizeof why));
    assert_non_null(strstr(why, "UTF-8"));
    gs_jtape_fini(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_time_is_iso_utc),
        cmocka_unit_test(test_json_load_as_jansson),
        cmocka_unit_test(test_json_tape_holds_the_text),
        cmocka_unit_test(test_json_entity_every_kind),
        cmocka_unit_test(test_json_entity_masks_personal_unless_revealed),
        cmocka_unit_test(test_json_entity_fields_unknown_to_schema),
        cmocka_unit_test(test_json_updates_lww_base_and_values),
        cmocka_unit_test(test_json_updates_counter_totals),
        cmocka_unit_test(test_json_updates_set_remove_carries_observed_tags),
        cmocka_unit_test(test_json_updates_log_entries),
        cmocka_unit_test(test_json_updates_stage_and_reopen),
        cmocka_unit_test(test_json_updates_check_and_stage_next),
        cmocka_unit_test(test_json_updates_claim_withdraw),
        cmocka_unit_test(test_json_updates_refusals),
        cmocka_unit_test(test_json_assignments_to_json),
        cmocka_unit_test(test_json_assignments_refused),
        cmocka_unit_test(test_json_assignments_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
