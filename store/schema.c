/*
 * schema.c — loading and checking the schema JSON, and lookups.
 *
 * The parsed JSON tree is kept for the schema's lifetime: every name and
 * label handed out borrows from it, so loading copies nothing but the
 * arrays of types, fields and stages. Everything is checked before a
 * schema is returned; a loaded schema is immutable. The file format is in
 * schema.h; errors name the place ("ticket.stage: ...") because the
 * person reading them is editing seeds/schema.json.
 *
 * SPEC: DESIGN §3 (schema, field kinds), §5 (personal data).
 */
#include "schema.h"
#include "err.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gs_schema {
    json_t *root; /* owns every string below */
    const char *label;
    size_t n_types;
    gs_schema_type *types;
};

static const char *const kind_names[] = {
    [GS_KIND_LWW] = "lww",     [GS_KIND_COUNTER] = "counter",
    [GS_KIND_SET] = "set",     [GS_KIND_LOG] = "log",
    [GS_KIND_STAGE] = "stage", [GS_KIND_CLAIM] = "claim",
};

const char *
gs_schema_kind_name(uint8_t kind)
{
    if (kind == 0 || kind > GS_KIND_KNOWN_MAX)
        return NULL;
    return kind_names[kind];
}

uint8_t
gs_schema_kind_parse(gs_slice name)
{
    for (uint8_t k = 1; k <= GS_KIND_KNOWN_MAX; k++)
        if (strlen(kind_names[k]) == name.n &&
            memcmp(kind_names[k], name.p, name.n) == 0)
            return k;
    return 0;
}


static void
types_free(gs_schema_type *types, size_t n)
{
    if (types == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        gs_schema_field *f = (gs_schema_field *)types[i].fields;
        if (f == NULL)
            continue;
        for (size_t j = 0; j < types[i].n_fields; j++)
            free((void *)f[j].stages);
        free(f);
    }
    free(types);
}

void
gs_schema_free(gs_schema *sc)
{
    if (sc == NULL)
        return;
    types_free(sc->types, sc->n_types);
    json_decref(sc->root);
    free(sc);
}

/* Loader state: where we are, for messages. */
typedef struct ld {
    char *why;
    size_t why_len;
} ld;

static bool
name_ok(const char *s)
{
    return gs_name_valid((const uint8_t *)s, strlen(s));
}

/* Every key of obj must be one of allowed (NULL-terminated list). */
static gs_err
keys_check(ld *L, json_t *obj, const char *const *allowed, const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = true;
        if (!ok)
            return gs_why(L->why, L->why_len, GS_EMALFORMED,
                        "%s: unknown key \"%s\"", where, key);
    }
    return GS_OK;
}

/* Optional label: absent (NULL) or a string of bounded length. */
static gs_err
label_get(ld *L, json_t *obj, const char *where, const char **out)
{
    json_t *v = json_object_get(obj, "label");
    *out = NULL;
    if (v == NULL)
        return GS_OK;
    if (!json_is_string(v))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: label must be a string", where);
    if (json_string_length(v) > GS_SCHEMA_LABEL_BYTES_MAX)
        return gs_why(L->why, L->why_len, GS_ETOOBIG,
                    "%s: label longer than %u bytes", where,
                    GS_SCHEMA_LABEL_BYTES_MAX);
    if (!gs_utf8_valid((const uint8_t *)json_string_value(v),
                       json_string_length(v)))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: label holds a control character", where);
    *out = json_string_value(v);
    return GS_OK;
}

static gs_err
stages_load(ld *L, json_t *arr, const char *where, gs_schema_field *f)
{
    gs_schema_stage *st = NULL;
    gs_err rc = GS_OK;
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;

    if (n == 0 || n > GS_STAGE_MAX + 1) {
        rc = gs_why(L->why, L->why_len, GS_EMALFORMED,
                  "%s: \"stages\" must be a list of 1..%d stage names", where,
                  GS_STAGE_MAX + 1);
        goto out;
    }
    st = calloc(n, sizeof *st);
    if (st == NULL) {
        rc = GS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        json_t *name = e;
        if (json_is_object(e)) {
            static const char *const keys[] = {"name", "label", NULL};
            char w[160];
            snprintf(w, sizeof w, "%s stage %zu", where, i);
            if ((rc = keys_check(L, e, keys, w)) != GS_OK)
                goto out;
            if ((rc = label_get(L, e, w, &st[i].label)) != GS_OK)
                goto out;
            name = json_object_get(e, "name");
        }
        if (!json_is_string(name) || !name_ok(json_string_value(name))) {
            rc = gs_why(L->why, L->why_len, GS_EMALFORMED,
                      "%s: stage %zu needs a name of a-z, 0-9 and _ "
                      "(not starting with a digit, at most %d bytes)",
                      where, i, GS_NAME_BYTES_MAX);
            goto out;
        }
        st[i].name = json_string_value(name);
        if (strcmp(st[i].name, "reopen") == 0) {
            rc = gs_why(L->why, L->why_len, GS_EMALFORMED,
                      "%s: \"reopen\" is reserved and cannot name a stage",
                      where);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(st[j].name, st[i].name) == 0) {
                rc = gs_why(L->why, L->why_len, GS_EMALFORMED,
                          "%s: stage \"%s\" listed twice", where, st[i].name);
                goto out;
            }
    }
    f->stages = st;
    f->n_stages = n;
    st = NULL;
out:
    free(st);
    return rc;
}

static gs_err
field_load(ld *L, const char *tname, const char *fname, json_t *spec,
           gs_schema_field *f)
{
    static const char *const keys[] = {"kind", "label",  "personal",
                                       "type", "stages", NULL};
    char where[2 * GS_NAME_BYTES_MAX + 8];
    gs_err rc;

    snprintf(where, sizeof where, "%s.%s", tname, fname);
    if (!name_ok(fname))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: field names are a-z, 0-9 and _, not starting with "
                    "a digit, at most %d bytes",
                    where, GS_NAME_BYTES_MAX);
    if (fname[0] == '_')
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: names starting with _ are reserved for system "
                    "fields",
                    where);
    if (!json_is_object(spec))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: a field is an object like {\"kind\": \"lww\"}", where);
    if ((rc = keys_check(L, spec, keys, where)) != GS_OK)
        return rc;

    f->name = fname;
    f->name_n = strlen(fname);
    json_t *kind = json_object_get(spec, "kind");
    if (!json_is_string(kind))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: \"kind\" missing (lww, counter, set, log, stage or "
                    "claim)",
                    where);
    f->kind = gs_schema_kind_parse(
        gs_slice_of(json_string_value(kind), json_string_length(kind)));
    if (f->kind == 0)
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: unknown kind \"%s\" (lww, counter, set, log, stage "
                    "or claim)",
                    where, json_string_value(kind));
    if ((rc = label_get(L, spec, where, &f->label)) != GS_OK)
        return rc;

    json_t *personal = json_object_get(spec, "personal");
    if (personal != NULL && !json_is_boolean(personal))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: \"personal\" must be true or false", where);
    f->personal = json_is_true(personal);

    json_t *vt = json_object_get(spec, "type");
    if (vt != NULL) {
        const char *s = json_string_value(vt); /* NULL if not a string */
        if (f->kind != GS_KIND_LWW && f->kind != GS_KIND_LOG)
            return gs_why(L->why, L->why_len, GS_EMALFORMED,
                        "%s: \"type\" applies to lww and log fields only",
                        where);
        if (s != NULL && strcmp(s, "text") == 0)
            f->vtype = GS_SCHEMA_TEXT;
        else if (s != NULL && strcmp(s, "int") == 0)
            f->vtype = GS_SCHEMA_INT;
        else if (s != NULL && strcmp(s, "bool") == 0)
            f->vtype = GS_SCHEMA_BOOL;
        else
            return gs_why(L->why, L->why_len, GS_EMALFORMED,
                        "%s: \"type\" must be \"text\", \"int\" or \"bool\"",
                        where);
    }

    json_t *stages = json_object_get(spec, "stages");
    if (f->kind == GS_KIND_STAGE)
        return stages_load(L, stages, where, f);
    if (stages != NULL)
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: \"stages\" applies to stage fields only", where);
    return GS_OK;
}

static gs_err
type_load(ld *L, const char *tname, json_t *spec, gs_schema_type *t)
{
    static const char *const keys[] = {"label", "fields", NULL};
    gs_schema_field *fields = NULL;
    gs_err rc;

    if (!name_ok(tname))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "type \"%.64s\": type names are a-z, 0-9 and _, not "
                    "starting with a digit, at most %d bytes",
                    tname, GS_NAME_BYTES_MAX);
    if (!json_is_object(spec))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: a type is an object with \"fields\"", tname);
    if ((rc = keys_check(L, spec, keys, tname)) != GS_OK)
        return rc;
    t->name = tname;
    t->name_n = strlen(tname);
    if ((rc = label_get(L, spec, tname, &t->label)) != GS_OK)
        return rc;

    json_t *fobj = json_object_get(spec, "fields");
    if (!json_is_object(fobj))
        return gs_why(L->why, L->why_len, GS_EMALFORMED,
                    "%s: \"fields\" missing or not an object", tname);
    size_t n = json_object_size(fobj);
    if (n + 1 > GS_SCHEMA_FIELDS_MAX)
        return gs_why(L->why, L->why_len, GS_ETOOBIG, "%s: more than %d fields",
                    tname, GS_SCHEMA_FIELDS_MAX - 1);
    fields = calloc(n + 1, sizeof *fields);
    if (fields == NULL)
        return GS_ENOMEM;
    t->fields = fields;
    const char *fname;
    json_t *fspec;
    size_t i = 0;
    json_object_foreach(fobj, fname, fspec)
    {
        rc = field_load(L, tname, fname, fspec, &fields[i]);
        t->n_fields = ++i; /* so a failure frees what was loaded */
        if (rc != GS_OK)
            return rc;
    }
    fields[i].name = GS_DELETED_FIELD;
    fields[i].name_n = strlen(GS_DELETED_FIELD);
    fields[i].kind = GS_KIND_LWW;
    fields[i].vtype = GS_SCHEMA_BOOL;
    fields[i].system = true;
    t->n_fields = n + 1;
    return GS_OK;
}

gs_err
gs_schema_load_json(const char *text, size_t n, gs_schema **out, char *why,
                    size_t why_len)
{
    static const char *const keys[] = {"version", "label", "types", NULL};
    ld L = {why, why_len};
    gs_schema *sc = NULL;
    json_error_t jerr;
    gs_err rc = GS_OK;

    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (text == NULL || out == NULL) {
        rc = gs_why(why, why_len, GS_EINVAL, "no schema text");
        goto out;
    }
    if (n > GS_SCHEMA_BYTES_MAX) {
        rc = gs_why(why, why_len, GS_ETOOBIG, "schema over %u bytes",
                  GS_SCHEMA_BYTES_MAX);
        goto out;
    }
    sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        rc = GS_ENOMEM;
        goto out;
    }
    sc->root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (sc->root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            rc = GS_ENOMEM;
        else
            rc = gs_why(why, why_len, GS_EMALFORMED,
                      "schema is not valid JSON: line %d column %d: %s",
                      jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(sc->root)) {
        rc = gs_why(why, why_len, GS_EMALFORMED,
                  "schema must be a JSON object with \"version\" and "
                  "\"types\"");
        goto out;
    }
    if ((rc = keys_check(&L, sc->root, keys, "schema")) != GS_OK)
        goto out;
    json_t *ver = json_object_get(sc->root, "version");
    if (!json_is_integer(ver)) {
        rc = gs_why(why, why_len, GS_EMALFORMED,
                  "schema: \"version\" missing or not an integer");
        goto out;
    }
    if (json_integer_value(ver) != GS_SCHEMA_VERSION) {
        rc = gs_why(why, why_len, GS_EVERSION,
                  "schema version %lld; this gridsync reads version %d",
                  (long long)json_integer_value(ver), GS_SCHEMA_VERSION);
        goto out;
    }
    if ((rc = label_get(&L, sc->root, "schema", &sc->label)) != GS_OK)
        goto out;

    json_t *tobj = json_object_get(sc->root, "types");
    if (!json_is_object(tobj) || json_object_size(tobj) == 0) {
        rc = gs_why(why, why_len, GS_EMALFORMED,
                  "schema: \"types\" missing, empty or not an object");
        goto out;
    }
    size_t nt = json_object_size(tobj);
    if (nt > GS_SCHEMA_TYPES_MAX) {
        rc = gs_why(why, why_len, GS_ETOOBIG, "schema: more than %d types",
                  GS_SCHEMA_TYPES_MAX);
        goto out;
    }
    sc->types = calloc(nt, sizeof *sc->types);
    if (sc->types == NULL) {
        rc = GS_ENOMEM;
        goto out;
    }
    const char *tname;
    json_t *tspec;
    json_object_foreach(tobj, tname, tspec)
    {
        rc = type_load(&L, tname, tspec, &sc->types[sc->n_types++]);
        if (rc != GS_OK)
            goto out;
    }
    *out = sc;
    sc = NULL;
out:
    gs_schema_free(sc);
    return rc;
}

gs_err
gs_schema_load_default(gs_schema **out)
{
    return gs_schema_load_json(gs_default_schema_json,
                               gs_default_schema_json_len, out, NULL, 0);
}

const char *
gs_schema_label(const gs_schema *sc)
{
    return sc->label;
}

size_t
gs_schema_type_count(const gs_schema *sc)
{
    return sc->n_types;
}

const gs_schema_type *
gs_schema_type_at(const gs_schema *sc, size_t i)
{
    return i < sc->n_types ? &sc->types[i] : NULL;
}

const gs_schema_type *
gs_schema_type_get(const gs_schema *sc, gs_slice type)
{
    if (sc == NULL)
        return NULL;
    for (size_t i = 0; i < sc->n_types; i++)
        if (sc->types[i].name_n == type.n &&
            memcmp(sc->types[i].name, type.p, type.n) == 0)
            return &sc->types[i];
    return NULL;
}

const gs_schema_field *
gs_schema_field_get(const gs_schema_type *t, gs_slice field)
{
    if (t == NULL)
        return NULL;
    /* the first byte before memcmp: an import looks up each field of
     * each record here (memcmp's calls were 2% of its parser) */
    for (size_t i = 0; i < t->n_fields; i++)
        if (t->fields[i].name_n == field.n && field.n > 0 &&
            t->fields[i].name[0] == (char)field.p[0] &&
            memcmp(t->fields[i].name, field.p, field.n) == 0)
            return &t->fields[i];
    return NULL;
}

bool
gs_schema_stage_number(const gs_schema_field *f, gs_slice name, uint64_t *out)
{
    if (f == NULL)
        return false;
    for (size_t i = 0; i < f->n_stages; i++)
        if (strlen(f->stages[i].name) == name.n &&
            memcmp(f->stages[i].name, name.p, name.n) == 0) {
            *out = i;
            return true;
        }
    return false;
}

const char *
gs_schema_stage_name(const gs_schema_field *f, uint64_t stage)
{
    if (f == NULL || stage >= f->n_stages)
        return NULL;
    return f->stages[stage].name;
}

/* Append s to out (NUL-terminated, len bytes) after a separator; once it
 * no longer fits, end with "..." and report false. */
static bool
names_add(char *out, size_t len, size_t *used, const char *s)
{
    size_t sep = *used > 0 ? 2 : 0;
    size_t n = strlen(s);
    if (*used + sep + n + 4 >= len) { /* room for ", ..." */
        if (*used + sep + 3 < len)
            snprintf(out + *used, len - *used, "%s...", sep ? ", " : "");
        return false;
    }
    snprintf(out + *used, len - *used, "%s%s", sep ? ", " : "", s);
    *used += sep + n;
    return true;
}

void
gs_schema_names(const gs_schema *sc, const gs_schema_type *t, char *out,
                size_t out_len)
{
    size_t used = 0;
    if (out == NULL || out_len == 0)
        return;
    out[0] = '\0';
    if (t != NULL) {
        for (size_t i = 0; i < t->n_fields; i++)
            if (!t->fields[i].system &&
                !names_add(out, out_len, &used, t->fields[i].name))
                return;
    } else if (sc != NULL) {
        for (size_t i = 0; i < sc->n_types; i++)
            if (!names_add(out, out_len, &used, sc->types[i].name))
                return;
    }
}
