/*
 * json.c — entities to JSON (get, list, export) and JSON or command-line
 * assignments to op updates (put, import), read through the schema.
 *
 * Invariants: an entity is always shown whole, whatever the schema says:
 * fields the schema does not know are shown by the kind they carry, and a
 * name held under two kinds never hides one value behind another. Personal
 * fields are masked unless the caller asks to reveal them. On the writing
 * side nothing is produced that gs_op_encode would refuse: every update is
 * built by the crdt payload builders, and every error names the field and
 * the form expected, since the reader is a person at a command line or a
 * person fixing line 4,711 of an import file. No JSON is parsed by hand.
 *
 * SPEC: docs/op-format.md §4 (payloads); DESIGN §3 (field kinds), §5
 * (personal data masked in listings).
 */
#include "json.h"
#include "err.h"

#include "hlc.h"

#include <sodium.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SET_ITEMS_MAX 4096 /* elements in one set write; payload caps too */

/* ---- text -> JSON values ---- */

json_t *
gs_json_load(const char *text, size_t n, char *why, size_t why_len)
{
    gs_jtape t;
    gs_jtape_init(&t);
    const gs_jval *v = gs_jtape_load(&t, text, n, why, why_len);
    json_t *j = v != NULL ? gs_jval_json(v) : NULL;
    if (v != NULL && j == NULL)
        snprintf(why, why_len, "out of memory");
    gs_jtape_fini(&t);
    return j;
}

/* ---- entity -> JSON ---- */

void
gs_json_time(uint64_t hlc, char out[GS_JSON_TIME_BYTES])
{
    uint64_t ms = gs_hlc_ms(hlc);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    /* the bounds only tell the compiler the text fits: 48-bit ms end in
     * the year 10889 */
    snprintf(out, GS_JSON_TIME_BYTES, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 100000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)(ms % 1000));
}

json_t *
gs_json_value(const gs_vref *v)
{
    switch (v->type) {
    case GS_V_FALSE:
        return json_false();
    case GS_V_TRUE:
        return json_true();
    case GS_V_INT:
        return json_integer((json_int_t)v->i);
    case GS_V_STR:
        return json_stringn(v->s.p ? (const char *)v->s.p : "", v->s.n);
    default:
        return json_null();
    }
}

/* {"at": ISO, "by": AUTHOR16} */
static json_t *
stamp_json(const gs_stamp *at)
{
    char iso[GS_JSON_TIME_BYTES], by[17];
    gs_json_time(at->hlc, iso);
    sodium_bin2hex(by, sizeof by, at->author, 8);
    return json_pack("{s:s, s:s}", "at", iso, "by", by);
}

static json_t *
set_json(const gs_field *f)
{
    size_t n = gs_field_set_members(f, NULL, 0);
    gs_slice *m = NULL;
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    if (n > 0) {
        m = calloc(n, sizeof *m);
        if (m == NULL)
            goto fail;
        gs_field_set_members(f, m, n);
    }
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(
                arr, json_stringn((const char *)m[i].p, m[i].n)) != 0)
            goto fail;
    free(m);
    return arr;
fail:
    free(m);
    json_decref(arr);
    return NULL;
}

static json_t *
log_json(const gs_field *f)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < gs_field_log_count(f); i++) {
        const struct gs_log_entry *e = gs_field_log_at(f, i);
        gs_vref v = gs_value_ref(&e->v);
        json_t *ent = stamp_json(&e->at);
        if (ent == NULL ||
            json_object_set_new(ent, "value", gs_json_value(&v)) != 0 ||
            json_array_append_new(arr, ent) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *
claim_json(const gs_field *f, gs_stamp *win)
{
    size_t n = gs_field_claims(f, NULL, 0);
    const struct gs_claim_rec **c = NULL;
    json_t *o = NULL, *losing = NULL;

    if (n > 0 && (c = calloc(n, sizeof *c)) == NULL)
        return NULL;
    if (n > 0) {
        gs_field_claims(f, c, n);
        *win = c[0]->at;
    }
    losing = json_array();
    o = json_object();
    if (o == NULL || losing == NULL)
        goto fail;
    if (json_object_set_new(o, "winner",
                            n > 0 ? json_stringn(c[0]->who, c[0]->who_n)
                                  : json_null()) != 0)
        goto fail;
    for (size_t i = 1; i < n; i++)
        if (json_array_append_new(losing,
                                  json_stringn(c[i]->who, c[i]->who_n)) != 0)
            goto fail;
    if (json_object_set_new(o, "losing", losing) != 0) {
        losing = NULL; /* taken even on failure */
        goto fail;
    }
    free(c);
    return o;
fail:
    free(c);
    json_decref(losing);
    json_decref(o);
    return NULL;
}

/* One field's value; *has_at and *at say which write is in force, for
 * "meta". sf, if not NULL, is the schema's field of the same kind. */
static json_t *
field_json(const gs_schema_field *sf, const gs_field *f, bool *has_at,
           gs_stamp *at)
{
    *has_at = false;
    switch (f->kind) {
    case GS_KIND_LWW: {
        gs_vref v;
        *has_at = gs_field_lww_get(f, &v, at);
        return *has_at ? gs_json_value(&v) : json_null();
    }
    case GS_KIND_COUNTER:
        for (size_t i = 0; i < f->u.counter.n; i++) {
            const struct gs_ctr_entry *c = &f->u.counter.e[i];
            if (!*has_at || c->hlc > at->hlc) {
                at->hlc = c->hlc;
                memcpy(at->author, c->author, GS_KEY_BYTES);
                *has_at = true;
            }
        }
        return json_integer((json_int_t)gs_field_counter_value(f));
    case GS_KIND_SET:
        return set_json(f);
    case GS_KIND_LOG:
        return log_json(f);
    case GS_KIND_STAGE: {
        uint64_t round = 0, stage = 0;
        *has_at = gs_field_stage_get(f, &round, &stage, at);
        const char *name = gs_schema_stage_name(sf, stage);
        return json_pack("{s:I, s:o}", "round", (json_int_t)round, "stage",
                         name ? json_string(name)
                              : json_integer((json_int_t)stage));
    }
    case GS_KIND_CLAIM: {
        json_t *o = claim_json(f, at);
        *has_at = o != NULL && gs_field_claims(f, NULL, 0) > 0;
        return o;
    }
    default:
        return NULL;
    }
}

json_t *
gs_json_entity(const gs_schema *sc, const gs_entity *e, unsigned flags)
{
    const gs_schema_type *t =
        sc ? gs_schema_type_get(sc, gs_slice_of(e->type, e->type_n)) : NULL;
    json_t *root = json_object();
    json_t *fields = json_object();
    json_t *masked = json_array();
    json_t *meta = (flags & GS_JSON_META) ? json_object() : NULL;

    if (root == NULL || fields == NULL || masked == NULL ||
        ((flags & GS_JSON_META) && meta == NULL))
        goto fail;
    if (json_object_set_new(root, "type", json_stringn(e->type, e->type_n)) ||
        json_object_set_new(root, "id", json_stringn(e->id, e->id_n)) ||
        json_object_set_new(root, "deleted",
                            json_boolean(gs_entity_deleted(e))))
        goto fail;

    for (size_t i = 0; i < e->n_fields; i++) {
        const gs_field *f = &e->fields[i];
        const char *kname = gs_schema_kind_name(f->kind);
        if (kname == NULL || gs_field_empty(f))
            continue;
        if (f->kind == GS_KIND_LWW && strcmp(f->name, GS_DELETED_FIELD) == 0)
            continue; /* shown as "deleted" */
        gs_slice name = gs_slice_of(f->name, f->name_n);
        const gs_schema_field *sf = gs_schema_field_get(t, name);
        bool same_as_prev =
            i > 0 && e->fields[i - 1].name_n == f->name_n &&
            memcmp(e->fields[i - 1].name, f->name, f->name_n) == 0;
        char key[GS_NAME_BYTES_MAX + 16];
        if ((sf != NULL && sf->kind != f->kind) || (sf == NULL && same_as_prev))
            snprintf(key, sizeof key, "%s:%s", f->name, kname);
        else
            snprintf(key, sizeof key, "%s", f->name);

        bool has_at;
        gs_stamp at;
        json_t *v =
            field_json(sf && sf->kind == f->kind ? sf : NULL, f, &has_at, &at);
        if (v == NULL)
            goto fail;
        if (sf != NULL && sf->personal && !(flags & GS_JSON_REVEAL)) {
            json_decref(v);
            v = json_string(GS_JSON_MASK);
            if (json_array_append_new(masked, json_string(key)) != 0) {
                json_decref(v);
                goto fail;
            }
        }
        if (json_object_set_new(fields, key, v) != 0)
            goto fail;
        if (meta != NULL && has_at &&
            json_object_set_new(meta, key, stamp_json(&at)) != 0)
            goto fail;
    }

    if (json_object_set_new(root, "fields", fields) != 0) {
        fields = NULL;
        goto fail;
    }
    fields = NULL;
    if (json_array_size(masked) > 0) {
        if (json_object_set_new(root, "masked", masked) != 0) {
            masked = NULL;
            goto fail;
        }
        masked = NULL;
    }
    if (meta != NULL) {
        if (json_object_set_new(root, "meta", meta) != 0) {
            meta = NULL;
            goto fail;
        }
        meta = NULL;
    }
    json_decref(masked);
    return root;
fail:
    json_decref(meta);
    json_decref(masked);
    json_decref(fields);
    json_decref(root);
    return NULL;
}

/* ---- JSON -> updates ---- */

/* What a writer is working on, for messages. */
typedef struct wctx {
    const gs_schema_type *t;
    const gs_schema_field *sf;
    const gs_field *cur; /* current state of the field; NULL if none */
    const uint8_t *author;
    char *why;
    size_t why_len;
} wctx;

#define WFAIL(w, rc, ...) fail_at((w), (rc), __VA_ARGS__)

static gs_err fail_at(const wctx *w, gs_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "type.field: message" */
static gs_err
fail_at(const wctx *w, gs_err rc, const char *fmt, ...)
{
    if (w->why != NULL && w->why_len > 0) {
        int k =
            snprintf(w->why, w->why_len, "%s.%s: ", w->t->name, w->sf->name);
        if (k >= 0 && (size_t)k < w->why_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(w->why + k, w->why_len - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

/* JSON's types on a tape, as json_is_* reads them: NULL is none. */
#define J_IS(v, T) ((v) != NULL && (v)->type == (T))
#define J_IS_ARR(v) J_IS(v, GS_J_ARR)
#define J_IS_OBJ(v) J_IS(v, GS_J_OBJ)
#define J_IS_STR(v) J_IS(v, GS_J_STR)
#define J_IS_INT(v) J_IS(v, GS_J_INT)
#define J_ARR_N(v) (J_IS_ARR(v) ? (v)->n : 0) /* json_array_size */
#define jtype(v) gs_jval_kind(v)

/* The next member of an object after m (a key), or its first: m NULL. */
static const gs_jval *
j_member(const gs_jval *obj, const gs_jval *m)
{
    return m == NULL ? obj + 1 : m + 1 + m[1].skip;
}

static const char *
vtype_form(uint8_t vtype)
{
    switch (vtype) {
    case GS_SCHEMA_TEXT:
        return "a string (or null)";
    case GS_SCHEMA_INT:
        return "an integer (or null)";
    case GS_SCHEMA_BOOL:
        return "true or false (or null)";
    default:
        return "a string, an integer, true/false or null";
    }
}

/* A string's problems, in words; GS_OK if it may be stored as text. */
static gs_err
text_check(const wctx *w, const char *what, const char *s, size_t n)
{
    if (n > GS_STR_BYTES_MAX)
        return WFAIL(w, GS_ETOOBIG, "%s is %zu bytes, over the %d-byte limit",
                     what, n, GS_STR_BYTES_MAX);
    if (!gs_utf8_valid((const uint8_t *)s, n))
        return WFAIL(w, GS_EUTF8,
                     "%s holds a control character or a NUL (only tab and "
                     "newline are allowed)",
                     what);
    return GS_OK;
}

/* A JSON scalar as a value of the field's vtype; out borrows v. A string
 * is checked as text unless the caller's builder checks it (lww_in). */
static gs_err
scalar_in(const wctx *w, const gs_jval *v, gs_vref *out, bool check_text)
{
    uint8_t vt = w->sf->vtype;
    memset(out, 0, sizeof *out);
    switch (v->type) {
    case GS_J_NULL:
        out->type = GS_V_NULL;
        return GS_OK;
    case GS_J_TRUE:
    case GS_J_FALSE:
        if (vt != GS_SCHEMA_ANY && vt != GS_SCHEMA_BOOL)
            break;
        out->type = v->type == GS_J_TRUE ? GS_V_TRUE : GS_V_FALSE;
        return GS_OK;
    case GS_J_INT:
        if (vt != GS_SCHEMA_ANY && vt != GS_SCHEMA_INT)
            break;
        out->type = GS_V_INT;
        out->i = (int64_t)v->u.i;
        return GS_OK;
    case GS_J_STR: {
        if (vt != GS_SCHEMA_ANY && vt != GS_SCHEMA_TEXT)
            break;
        gs_err rc =
            check_text ? text_check(w, "the value", v->u.s, v->n) : GS_OK;
        if (rc != GS_OK)
            return rc;
        out->type = GS_V_STR;
        out->s = gs_slice_of(v->u.s, v->n);
        return GS_OK;
    }
    case GS_J_REAL:
        return WFAIL(w, GS_ESCHEMA,
                     "real numbers are not stored (they would not compare "
                     "alike everywhere); expected %s",
                     vtype_form(vt));
    default:
        break;
    }
    return WFAIL(w, GS_ESCHEMA, "expected %s, got %s", vtype_form(vt),
                 jtype(v));
}

static gs_err
lww_in(const wctx *w, const gs_jval *v, gs_buf *b, bool *wrote)
{
    gs_vref ref, cv;
    gs_stamp at;
    uint64_t base = 0;
    gs_err rc = scalar_in(w, v, &ref, false);
    if (rc != GS_OK)
        return rc;
    if (w->cur != NULL && gs_field_lww_get(w->cur, &cv, &at))
        base = at.hlc;
    /* the builder checks a string by text_check's rules, once: its
     * refusal gets text_check's words; one from a line that is text
     * (the tape says) is not checked again */
    rc = v->type == GS_J_STR && v->text ? gs_payload_lww_known(b, base, &ref)
                                        : gs_payload_lww(b, base, &ref);
    if (rc != GS_OK) {
        gs_err trc =
            ref.type == GS_V_STR
                ? text_check(w, "the value", (const char *)ref.s.p, ref.s.n)
                : GS_OK;
        return trc != GS_OK ? trc
                            : WFAIL(w, rc, "cannot encode the value: %s",
                                    gs_strerror(rc));
    }
    *wrote = true;
    return GS_OK;
}

static gs_err
counter_in(const wctx *w, const gs_jval *v, gs_buf *b, bool *wrote)
{
    if (!J_IS_INT(v))
        return WFAIL(w, GS_ESCHEMA,
                     "a counter takes an integer to add (negative to "
                     "subtract), got %s",
                     jtype(v));
    int64_t delta = (int64_t)v->u.i;
    if (delta == 0)
        return GS_OK;
    if (delta > GS_COUNTER_ABS_MAX || delta < -GS_COUNTER_ABS_MAX)
        return WFAIL(w, GS_ETOOBIG, "%lld is beyond the counter's range",
                     (long long)delta);
    int64_t total =
        w->cur ? gs_field_counter_author_total(w->cur, w->author) : 0;
    if ((delta > 0 && total > GS_COUNTER_ABS_MAX - delta) ||
        (delta < 0 && total < -GS_COUNTER_ABS_MAX - delta))
        return WFAIL(w, GS_ETOOBIG,
                     "this device's running total would leave the counter's "
                     "range (|total| <= 2^62)");
    gs_err rc = gs_payload_counter(b, delta, total + delta);
    if (rc != GS_OK)
        return WFAIL(w, rc, "cannot encode the change: %s", gs_strerror(rc));
    *wrote = true;
    return GS_OK;
}

static int
item_cmp(const void *a, const void *b)
{
    const gs_set_item *x = a, *y = b;
    int c = gs_slice_cmp(x->elem, y->elem);
    return c != 0 ? c : (int)x->action - (int)y->action;
}

/* Append the strings of arr to items as action. */
static gs_err
set_collect(const wctx *w, const gs_jval *arr, uint8_t action,
            gs_set_item *items, size_t *n)
{
    size_t i;
    const gs_jval *e;
    const char *form = action == GS_SET_ADD ? "add" : "remove";
    if (!J_IS_ARR(arr))
        return WFAIL(w, GS_ESCHEMA, "\"%s\" takes an array of strings, got %s",
                     form, jtype(arr));
    for (i = 0, e = arr + 1; i < arr->n; i++, e += e->skip) {
        if (!J_IS_STR(e))
            return WFAIL(w, GS_ESCHEMA,
                         "set elements are strings; element %zu to %s is %s", i,
                         form, jtype(e));
        if (e->n == 0)
            return WFAIL(w, GS_ESCHEMA, "set elements cannot be empty");
        gs_err rc = text_check(w, "a set element", e->u.s, e->n);
        if (rc != GS_OK)
            return rc;
        if (*n >= SET_ITEMS_MAX)
            return WFAIL(w, GS_ETOOBIG, "more than %d elements in one write",
                         SET_ITEMS_MAX);
        items[*n].action = action;
        items[*n].elem = gs_slice_of(e->u.s, e->n);
        items[*n].n_tags = 0;
        items[*n].tags = NULL;
        (*n)++;
    }
    return GS_OK;
}

static gs_err
set_in(const wctx *w, const gs_jval *v, gs_buf *b, bool *wrote)
{
    const gs_jval *add = NULL, *rm = NULL;
    gs_set_item *items = NULL, small[8]; /* most writes: a few elements */
    size_t n = 0, cap;
    gs_err rc = GS_OK;

    if (J_IS_ARR(v)) {
        add = v;
    } else if (J_IS_OBJ(v)) {
        const gs_jval *m = NULL;
        for (size_t i = 0; i < v->n; i++) {
            m = j_member(v, m);
            const char *key = m->u.s;
            if (strcmp(key, "add") == 0)
                add = m + 1;
            else if (strcmp(key, "remove") == 0)
                rm = m + 1;
            else
                return WFAIL(w, GS_ESCHEMA,
                             "unknown key \"%s\"; a set takes an array of "
                             "strings to add, or {\"add\": [...], "
                             "\"remove\": [...]}",
                             key);
        }
    } else {
        return WFAIL(w, GS_ESCHEMA,
                     "a set takes an array of strings to add, or {\"add\": "
                     "[...], \"remove\": [...]}; got %s",
                     jtype(v));
    }
    cap = J_ARR_N(add) + J_ARR_N(rm);
    if (cap == 0 && (add == NULL || J_IS_ARR(add)) &&
        (rm == NULL || J_IS_ARR(rm)))
        return GS_OK; /* nothing to do */
    if (cap > SET_ITEMS_MAX)
        return WFAIL(w, GS_ETOOBIG, "more than %d elements in one write",
                     SET_ITEMS_MAX);
    if (cap <= sizeof small / sizeof small[0]) {
        memset(small, 0, sizeof small);
        items = small;
    } else if ((items = calloc(cap, sizeof *items)) == NULL) {
        return GS_ENOMEM;
    }
    if (add != NULL && (rc = set_collect(w, add, GS_SET_ADD, items, &n)))
        goto out;
    if (rm != NULL && (rc = set_collect(w, rm, GS_SET_REMOVE, items, &n)))
        goto out;

    /* one item per element: drop repeats, refuse add-and-remove */
    qsort(items, n, sizeof *items, item_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && gs_slice_cmp(items[k - 1].elem, items[i].elem) == 0) {
            if (items[k - 1].action != items[i].action) {
                rc = WFAIL(w, GS_ESCHEMA, "\"%.*s\" is both added and removed",
                           (int)items[i].elem.n, (const char *)items[i].elem.p);
                goto out;
            }
            continue;
        }
        items[k++] = items[i];
    }
    n = k;

    /* a remove carries the tags of the adds it saw */
    for (size_t i = 0; i < n; i++) {
        if (items[i].action != GS_SET_REMOVE)
            continue;
        size_t nt =
            w->cur ? gs_field_set_tags(w->cur, items[i].elem, NULL, 0) : 0;
        if (nt == 0) {
            rc = WFAIL(w, GS_ENOTFOUND, "cannot remove \"%.*s\": not present",
                       (int)items[i].elem.n, (const char *)items[i].elem.p);
            goto out;
        }
        uint8_t(*tags)[GS_HASH_BYTES] = calloc(nt, GS_HASH_BYTES);
        if (tags == NULL) {
            rc = GS_ENOMEM;
            goto out;
        }
        gs_field_set_tags(w->cur, items[i].elem, tags, nt);
        items[i].tags = (const uint8_t(*)[GS_HASH_BYTES])tags;
        items[i].n_tags = nt;
    }
    if ((rc = gs_payload_set(b, items, n)) != GS_OK) {
        rc = WFAIL(w, rc, "cannot encode the change: %s", gs_strerror(rc));
        goto out;
    }
    *wrote = true;
out:
    for (size_t i = 0; i < cap; i++)
        free((void *)items[i].tags);
    if (items != small)
        free(items);
    return rc;
}

static gs_err
log_in(const wctx *w, const gs_jval *v, gs_buf *b, bool *wrote)
{
    const gs_jval *val = v;
    gs_vref ref;
    gs_err rc;

    if (J_IS_ARR(v))
        return WFAIL(w, GS_ESCHEMA,
                     "a log takes one entry per write (a value, or "
                     "{\"value\": ...}), got an array");
    if (J_IS_OBJ(v)) {
        const gs_jval *m = NULL;
        /* an exported entry: "at" and "by" are the writer's, not ours */
        for (size_t i = 0; i < v->n; i++) {
            m = j_member(v, m);
            const char *key = m->u.s;
            if (strcmp(key, "value") != 0 && strcmp(key, "at") != 0 &&
                strcmp(key, "by") != 0)
                return WFAIL(w, GS_ESCHEMA,
                             "unknown key \"%s\"; a log entry is a value "
                             "or {\"value\": ...}",
                             key);
        }
        val = gs_jval_get(v, "value");
        if (val == NULL)
            return WFAIL(w, GS_ESCHEMA, "log entry without \"value\"");
    }
    if ((rc = scalar_in(w, val, &ref, true)) != GS_OK)
        return rc;
    if ((rc = gs_payload_log(b, &ref)) != GS_OK)
        return WFAIL(w, rc, "cannot encode the entry: %s", gs_strerror(rc));
    *wrote = true;
    return GS_OK;
}

/* A stage given by name or number. */
static gs_err
stage_of(const wctx *w, const gs_jval *v, uint64_t *out)
{
    char names[GS_JSON_WHY_BYTES / 2];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < w->sf->n_stages && used + 1 < sizeof names; i++) {
        int k = snprintf(names + used, sizeof names - used, "%s%s",
                         i ? ", " : "", w->sf->stages[i].name);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (J_IS_STR(v)) {
        if (gs_schema_stage_number(w->sf, gs_slice_of(v->u.s, v->n), out))
            return GS_OK;
        return WFAIL(w, GS_ESCHEMA, "unknown stage \"%s\"; stages: %s, reopen",
                     v->u.s, names);
    }
    if (J_IS_INT(v)) {
        long long s = v->u.i;
        if (s >= 0 && (uint64_t)s < w->sf->n_stages) {
            *out = (uint64_t)s;
            return GS_OK;
        }
        return WFAIL(w, GS_ESCHEMA, "no stage %lld; stages 0..%zu: %s",
                     (long long)s, w->sf->n_stages - 1, names);
    }
    return WFAIL(w, GS_ESCHEMA,
                 "a stage takes a stage name (%s), its number, \"reopen\" or "
                 "{\"round\": n, \"stage\": name}; got %s",
                 names, jtype(v));
}

/* A stage input as written, before any state gives it a round. */
static gs_err
stage_read(const wctx *w, const gs_jval *v, gs_json_stage *in)
{
    *in = (gs_json_stage){w->t, w->sf, GS_JSON_STAGE_AT, 0, 0};
    if (J_IS_STR(v) && strcmp(v->u.s, "reopen") == 0) {
        in->form = GS_JSON_STAGE_REOPEN;
        return GS_OK;
    }
    if (J_IS_OBJ(v)) {
        const gs_jval *r = gs_jval_get(v, "round");
        const gs_jval *s = gs_jval_get(v, "stage");
        if (v->n != 2 || !J_IS_INT(r) || s == NULL)
            return WFAIL(w, GS_ESCHEMA,
                         "expected {\"round\": n, \"stage\": name}");
        if (r->u.i < 0 || (uint64_t)r->u.i > GS_ROUND_MAX)
            return WFAIL(w, GS_ESCHEMA, "round must be 0..%u", GS_ROUND_MAX);
        in->form = GS_JSON_STAGE_IN_ROUND;
        in->round = (uint64_t)r->u.i;
        return stage_of(w, s, &in->stage);
    }
    return stage_of(w, v, &in->stage);
}

/* The one rule of stage writes, for put and for import's check alike:
 * where in moves a field at (*have, *round, *stage). */
static gs_err
stage_next(const wctx *w, const gs_json_stage *in, bool *have, uint64_t *round,
           uint64_t *stage, bool *wrote)
{
    uint64_t cr = *have ? *round : 0, cs = *have ? *stage : 0;
    uint64_t nr = cr, ns = in->stage;

    *wrote = false;
    if (in->form == GS_JSON_STAGE_REOPEN) {
        if (!*have)
            return WFAIL(w, GS_ENOTFOUND, "nothing to reopen: no stage yet");
        if (cr >= GS_ROUND_MAX)
            return WFAIL(w, GS_ETOOBIG, "reopened too often (round %llu)",
                         (unsigned long long)cr);
        nr = cr + 1;
        ns = 0;
    } else if (in->form == GS_JSON_STAGE_IN_ROUND) {
        nr = in->round;
    }
    if (*have && (nr < cr || (nr == cr && ns < cs))) {
        const char *cname = gs_schema_stage_name(w->sf, cs);
        return WFAIL(w, GS_ESCHEMA,
                     "already at %s (round %llu); an earlier stage would "
                     "never take effect (use reopen to start a new round)",
                     cname ? cname : "a later stage", (unsigned long long)cr);
    }
    if (*have && nr == cr && ns == cs)
        return GS_OK; /* already there: nothing to write */
    *have = true;
    *round = nr;
    *stage = ns;
    *wrote = true;
    return GS_OK;
}

/* later (NULL: put) is set instead of refusing a reopen for want of a
 * stage when the state is not known yet (gs_json_updates_check). */
static gs_err
stage_in(const wctx *w, const gs_jval *v, gs_buf *b, bool *wrote,
         gs_json_stage *in, bool *later)
{
    uint64_t round = 0, stage = 0;
    gs_stamp at;
    bool have =
        w->cur != NULL && gs_field_stage_get(w->cur, &round, &stage, &at);
    bool have_at = have, moved;
    gs_err rc;

    if ((rc = stage_read(w, v, in)) != GS_OK)
        return rc;
    if (later != NULL && in->form == GS_JSON_STAGE_REOPEN && !have) {
        *later = true;
        return GS_OK;
    }
    if ((rc = stage_next(w, in, &have, &round, &stage, &moved)) != GS_OK ||
        !moved)
        return rc;
    /* base: the stamp of the stage this writer saw, for the conflicts
     * queue (store/conflicts.c) */
    if ((rc = gs_payload_stage(b, have_at ? at.hlc : 0, round, stage)) != GS_OK)
        return WFAIL(w, rc, "cannot encode the stage: %s", gs_strerror(rc));
    *wrote = true;
    return GS_OK;
}

gs_err
gs_json_stage_next(const gs_json_stage *in, bool *have, uint64_t *round,
                   uint64_t *stage, bool *wrote, char *why, size_t why_len)
{
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (in == NULL || in->t == NULL || in->sf == NULL || have == NULL ||
        round == NULL || stage == NULL || wrote == NULL)
        return gs_why(why, why_len, GS_EINVAL, "no stage input or state");
    wctx w = {in->t, in->sf, NULL, NULL, why, why_len};
    return stage_next(&w, in, have, round, stage, wrote);
}

static gs_err
claim_in(const wctx *w, const gs_jval *v, gs_buf *b, bool *wrote)
{
    const gs_jval *c = gs_jval_get(v, "claim");
    const gs_jval *d = gs_jval_get(v, "withdraw");
    const gs_jval *who = c ? c : d;
    gs_err rc;

    if (!J_IS_OBJ(v) || v->n != 1 || !J_IS_STR(who))
        return WFAIL(w, GS_ESCHEMA,
                     "a claim takes {\"claim\": ID} or {\"withdraw\": ID}");
    gs_slice id = gs_slice_of(who->u.s, who->n);
    if (!gs_id_valid(id.p, id.n))
        return WFAIL(w, GS_ESCHEMA,
                     "\"%s\" is not a valid id (1..%d bytes, no spaces or "
                     "control characters)",
                     who->u.s, GS_ID_BYTES_MAX);
    if (d != NULL) {
        size_t n = w->cur ? gs_field_claims(w->cur, NULL, 0) : 0;
        const struct gs_claim_rec **cl = NULL;
        bool found = false;
        if (n > 0) {
            cl = calloc(n, sizeof *cl);
            if (cl == NULL)
                return GS_ENOMEM;
            gs_field_claims(w->cur, cl, n);
            for (size_t i = 0; i < n && !found; i++)
                found =
                    cl[i]->who_n == id.n && memcmp(cl[i]->who, id.p, id.n) == 0;
            free(cl);
        }
        if (!found)
            return WFAIL(w, GS_ENOTFOUND, "%s has no claim to withdraw",
                         who->u.s);
    }
    rc = gs_payload_claim(b, c ? GS_CLAIM : GS_WITHDRAW, id);
    if (rc != GS_OK)
        return WFAIL(w, rc, "cannot encode the claim: %s", gs_strerror(rc));
    *wrote = true;
    return GS_OK;
}

void
gs_json_updates_fini(gs_json_updates *u)
{
    if (u == NULL)
        return;
    gs_buf_fini(&u->bytes);
    u->n = 0;
    u->n_stages = 0;
    u->later = false;
}

/* gs_json_updates_decode, or with check gs_json_updates_check. */
static gs_err
decode(const gs_schema *sc, gs_slice type, const gs_entity *current, bool check,
       const uint8_t author[GS_KEY_BYTES], const gs_jval *fields,
       gs_json_updates *out, char *why, size_t why_len)
{
    char list[GS_JSON_WHY_BYTES / 2];
    const gs_schema_type *t;
    gs_err rc = GS_OK;

    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (out == NULL)
        return GS_EINVAL;
    out->n = 0;
    out->n_stages = 0;
    out->later = false;
    gs_buf_init(&out->bytes, GS_PAYLOAD_BYTES_MAX);
    if (sc == NULL || author == NULL)
        return gs_why(why, why_len, GS_EINVAL, "no schema or author");
    t = gs_schema_type_get(sc, type);
    if (t == NULL) {
        gs_schema_names(sc, NULL, list, sizeof list);
        return gs_why(why, why_len, GS_ESCHEMA,
                      "unknown type \"%.*s\"; types: %s", (int)type.n,
                      (const char *)type.p, list);
    }
    if (!J_IS_OBJ(fields))
        return gs_why(why, why_len, GS_ESCHEMA,
                      "%s: fields must be a JSON object of field: value",
                      t->name);
    if (fields->n > GS_OP_UPDATES_MAX)
        return gs_why(why, why_len, GS_ETOOBIG,
                      "%s: %zu fields in one write; at most %d", t->name,
                      fields->n, GS_OP_UPDATES_MAX);

    const gs_jval *m = NULL;
    for (size_t i = 0; i < fields->n; i++) {
        m = j_member(fields, m);
        const char *key = m->u.s;
        const gs_jval *v = m + 1;
        gs_slice name = gs_slice_of(key, m->n);
        const gs_schema_field *sf = gs_schema_field_get(t, name);
        if (sf == NULL) {
            gs_schema_names(NULL, t, list, sizeof list);
            rc = gs_why(why, why_len, GS_ESCHEMA,
                        "%s has no field \"%.64s\"; its fields: %s", t->name,
                        key, list);
            goto out;
        }
        wctx w = {t,
                  sf,
                  current ? gs_entity_field(current, sf->name, sf->kind) : NULL,
                  author,
                  why,
                  why_len};
        gs_json_update *u = &out->u[out->n];
        bool wrote = false;
        memcpy(u->field, sf->name, sf->name_n + 1);
        u->field_n = (uint8_t)sf->name_n;
        u->kind = sf->kind;
        gs_buf *pb = &out->bytes;
        u->at = pb->len;
        pb->max = pb->len + GS_PAYLOAD_BYTES_MAX; /* each payload's cap,
                                                     as its own buffer had */
        switch (sf->kind) {
        case GS_KIND_LWW:
            rc = lww_in(&w, v, pb, &wrote);
            break;
        case GS_KIND_COUNTER:
            rc = counter_in(&w, v, pb, &wrote);
            break;
        case GS_KIND_SET:
            rc = set_in(&w, v, pb, &wrote);
            break;
        case GS_KIND_LOG:
            rc = log_in(&w, v, pb, &wrote);
            break;
        case GS_KIND_STAGE:
            rc = stage_in(&w, v, pb, &wrote, &out->stages[out->n_stages],
                          check ? &out->later : NULL);
            if (rc == GS_OK)
                out->n_stages++;
            break;
        case GS_KIND_CLAIM:
            rc = claim_in(&w, v, pb, &wrote);
            break;
        default:
            rc = GS_EKIND;
            break;
        }
        if (rc != GS_OK || !wrote) {
            pb->len = u->at; /* nothing of it stays */
            if (rc != GS_OK)
                goto out;
            continue;
        }
        u->len = pb->len - u->at;
        out->n++;
    }
out:
    if (rc != GS_OK)
        gs_json_updates_fini(out);
    return rc;
}

gs_err
gs_json_updates_decode(const gs_schema *sc, gs_slice type,
                       const gs_entity *current,
                       const uint8_t author[GS_KEY_BYTES],
                       const gs_jval *fields, gs_json_updates *out, char *why,
                       size_t why_len)
{
    return decode(sc, type, current, false, author, fields, out, why, why_len);
}

gs_err
gs_json_updates_check(const gs_schema *sc, gs_slice type,
                      const uint8_t author[GS_KEY_BYTES], const gs_jval *fields,
                      gs_json_updates *out, char *why, size_t why_len)
{
    return decode(sc, type, NULL, true, author, fields, out, why, why_len);
}

void
gs_json_updates_fill(const gs_json_updates *u, gs_op *op)
{
    op->n_updates = u->n;
    for (size_t i = 0; i < u->n; i++) {
        op->updates[i].field = gs_slice_of(u->u[i].field, u->u[i].field_n);
        op->updates[i].kind = u->u[i].kind;
        op->updates[i].payload = gs_json_updates_payload(u, i);
    }
}

gs_slice
gs_json_updates_payload(const gs_json_updates *u, size_t i)
{
    return gs_slice_of(u->bytes.data + u->u[i].at, u->u[i].len);
}

/* ---- command-line assignments ---- */

/* Decimal int64, whole string, optional sign. */
static bool
parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* The text of a value as the JSON the field's vtype wants. */
static gs_err
value_of_text(const wctx *w, const char *s, json_t **out)
{
    int64_t i;
    switch (w->sf->vtype) {
    case GS_SCHEMA_INT:
        if (!parse_i64(s, &i))
            return WFAIL(w, GS_ESCHEMA, "expected an integer, not \"%.64s\"",
                         s);
        *out = json_integer((json_int_t)i);
        break;
    case GS_SCHEMA_BOOL:
        if (strcmp(s, "true") == 0)
            *out = json_true();
        else if (strcmp(s, "false") == 0)
            *out = json_false();
        else
            return WFAIL(w, GS_ESCHEMA, "expected true or false, not \"%.64s\"",
                         s);
        break;
    default:
        if (!gs_utf8_valid((const uint8_t *)s, strlen(s)))
            return WFAIL(w, GS_EUTF8,
                         "the value is not UTF-8 or holds a control "
                         "character");
        *out = json_string(s);
        break;
    }
    return *out != NULL ? GS_OK : GS_ENOMEM;
}

gs_err
gs_json_parse_assignment(const gs_schema *sc, gs_slice type, const char *arg,
                         json_t *fields, char *why, size_t why_len)
{
    char list[GS_JSON_WHY_BYTES / 2];
    char name[GS_NAME_BYTES_MAX + 1];
    const char *eq, *val;
    char op = '=';
    json_t *nv = NULL;
    gs_err rc = GS_OK;

    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (sc == NULL || arg == NULL || !json_is_object(fields))
        return gs_why(why, why_len, GS_EINVAL, "no schema, argument or object");
    eq = strchr(arg, '=');
    if (eq == NULL)
        return gs_why(why, why_len, GS_EINVAL,
                      "\"%.64s\": expected FIELD=VALUE, FIELD+=VALUE or "
                      "FIELD-=VALUE",
                      arg);
    val = eq + 1;
    if (eq > arg && (eq[-1] == '+' || eq[-1] == '-')) {
        op = eq[-1];
        eq--;
    }
    size_t nn = (size_t)(eq - arg);
    if (!gs_name_valid((const uint8_t *)arg, nn))
        return gs_why(why, why_len, GS_EINVAL,
                      "\"%.64s\": \"%.*s\" is not a field name", arg,
                      (int)(nn < 64 ? nn : 64), arg);
    memcpy(name, arg, nn);
    name[nn] = '\0';

    const gs_schema_type *t = gs_schema_type_get(sc, type);
    if (t == NULL) {
        gs_schema_names(sc, NULL, list, sizeof list);
        return gs_why(why, why_len, GS_ESCHEMA,
                      "unknown type \"%.*s\"; types: %s", (int)type.n,
                      (const char *)type.p, list);
    }
    const gs_schema_field *sf = gs_schema_field_get(t, gs_slice_of(name, nn));
    if (sf == NULL) {
        gs_schema_names(NULL, t, list, sizeof list);
        return gs_why(why, why_len, GS_ESCHEMA,
                      "%s has no field \"%s\"; its fields: %s", t->name, name,
                      list);
    }
    wctx w = {t, sf, NULL, NULL, why, why_len};
    json_t *have = json_object_get(fields, name);
    if (have != NULL && sf->kind != GS_KIND_SET)
        return WFAIL(&w, GS_ESCHEMA, "given twice; one value per write");
    const char *kname = gs_schema_kind_name(sf->kind);

    switch (sf->kind) {
    case GS_KIND_LWW:
        if (op != '=')
            return WFAIL(&w, GS_ESCHEMA, "holds one value: use %s=VALUE", name);
        if (*val == '\0')
            nv = json_null();
        else if ((rc = value_of_text(&w, val, &nv)) != GS_OK)
            return rc;
        break;
    case GS_KIND_COUNTER: {
        int64_t d;
        if (op == '=')
            return WFAIL(&w, GS_ESCHEMA, "is a counter: use %s+=N or %s-=N",
                         name, name);
        if (!parse_i64(val, &d) || d == INT64_MIN)
            return WFAIL(&w, GS_ESCHEMA, "expected an integer, not \"%.64s\"",
                         val);
        nv = json_integer((json_int_t)(op == '-' ? -d : d));
        break;
    }
    case GS_KIND_SET: {
        if (op == '=')
            return WFAIL(&w, GS_ESCHEMA,
                         "is a set: use %s+=ELEMENT or %s-=ELEMENT", name,
                         name);
        if (*val == '\0')
            return WFAIL(&w, GS_ESCHEMA, "set elements cannot be empty");
        if (!gs_utf8_valid((const uint8_t *)val, strlen(val)))
            return WFAIL(&w, GS_EUTF8,
                         "the element is not UTF-8 or holds a control "
                         "character");
        const char *list_key = op == '+' ? "add" : "remove";
        if (have == NULL) {
            nv = json_pack("{s:[], s:[]}", "add", "remove");
            if (nv == NULL)
                return GS_ENOMEM;
            if (json_object_set_new(fields, name, nv) != 0)
                return GS_ENOMEM;
            have = nv;
            nv = NULL;
        }
        json_t *arr = json_object_get(have, list_key);
        if (!json_is_array(arr))
            return WFAIL(&w, GS_ESCHEMA, "given twice; one value per write");
        if (json_array_append_new(arr, json_string(val)) != 0)
            return GS_ENOMEM;
        return GS_OK;
    }
    case GS_KIND_LOG:
        if (op == '-')
            return WFAIL(&w, GS_ESCHEMA,
                         "is a log: entries are only added (%s+=TEXT)", name);
        if ((rc = value_of_text(&w, val, &nv)) != GS_OK)
            return rc;
        break;
    case GS_KIND_STAGE: {
        int64_t s;
        if (op != '=')
            return WFAIL(&w, GS_ESCHEMA,
                         "is a stage: use %s=STAGE or %s=reopen", name, name);
        if (parse_i64(val, &s))
            nv = json_integer((json_int_t)s);
        else
            nv = json_string(val);
        if (nv == NULL)
            return WFAIL(&w, GS_EUTF8, "the stage is not UTF-8");
        break;
    }
    case GS_KIND_CLAIM:
        if (op == '=')
            return WFAIL(&w, GS_ESCHEMA,
                         "is a claim: use %s+=ID to claim, %s-=ID to "
                         "withdraw",
                         name, name);
        if (!gs_utf8_valid((const uint8_t *)val, strlen(val)))
            return WFAIL(&w, GS_EUTF8, "the id is not UTF-8");
        nv = json_pack("{s:s}", op == '+' ? "claim" : "withdraw", val);
        break;
    default:
        return WFAIL(&w, GS_EKIND, "kind %s cannot be written here",
                     kname ? kname : "?");
    }
    if (nv == NULL)
        return GS_ENOMEM;
    if (json_object_set_new(fields, name, nv) != 0)
        return GS_ENOMEM;
    return GS_OK;
}
