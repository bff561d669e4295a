/*
 * schema.h — the schema: which entity types exist, their fields, each
 * field's kind, which fields hold personal data, and the names of a stage
 * field's stages (DESIGN §3 "Schema", §5 personal data).
 *
 * The schema decides how records are read and written by people (put, get,
 * list, import, export); it never decides what is stored or merged. Ops
 * carrying types or fields the schema does not know are stored, relayed
 * and materialised all the same (a newer app in the field must not break
 * an older agent), so lookups here return NULL and each caller decides:
 * the command line refuses an unknown field on put, listing the valid
 * ones; materialisation keeps whatever ops carry.
 *
 * The default schema is seeds/schema.json, compiled into the library as
 * gs_default_schema_json (the build turns the file into a C array).
 *
 * Schema JSON (version 1):
 *   { "version": 1, "label": "...",
 *     "types": { TYPE: { "label": "...",
 *                        "fields": { FIELD: FIELDSPEC, ... } }, ... } }
 *   FIELDSPEC = { "kind": "lww"|"counter"|"set"|"log"|"stage"|"claim",
 *                 "label": "...",            optional, display text
 *                 "personal": true|false,    optional, masked unless revealed
 *                 "type": "text"|"int"|"bool"  optional, lww and log only:
 *                                            the value's JSON type
 *                 "stages": [ NAME | {"name": NAME, "label": "..."}, ... ]
 *                                            stage fields only (required),
 *                                            1..GS_STAGE_MAX+1, in order }
 * TYPE and FIELD names and stage names are valid names (gs_name_valid:
 * [a-z_][a-z0-9_]*, at most GS_NAME_BYTES_MAX bytes); stage names are
 * unique within their field and never "reopen" (the word that starts a new
 * round). Keys are checked strictly: an unknown key, a duplicate key or a
 * wrong JSON type is an error naming where it is, since a typo silently
 * ignored ("persnal") would leave personal data unmasked. Every type gets
 * the system field "_deleted" (lww, bool; the tombstone) whether or not
 * the JSON lists it.
 *
 * Ownership: a gs_schema is created by gs_schema_load_* and freed with
 * gs_schema_free; the gs_schema_type and gs_schema_field pointers and all
 * strings it hands out borrow from it. A loaded schema is never changed,
 * so several threads may read one at once.
 */
#ifndef GS_STORE_SCHEMA_H
#define GS_STORE_SCHEMA_H

#include "buf.h"
#include "field.h"
#include "gridsync.h"
#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_SCHEMA_VERSION 1
#define GS_SCHEMA_BYTES_MAX (1u << 20) /* schema JSON text */
#define GS_SCHEMA_TYPES_MAX 256        /* types in a schema */
#define GS_SCHEMA_FIELDS_MAX 256       /* fields in a type, with _deleted */
#define GS_SCHEMA_LABEL_BYTES_MAX 256  /* one label, UTF-8 */
#define GS_SCHEMA_WHY_BYTES 256        /* a useful size for error messages */

/* The compiled-in default (seeds/schema.json), NUL-terminated; the length
 * excludes the NUL. */
extern const char gs_default_schema_json[];
extern const size_t gs_default_schema_json_len;

/* The JSON type an lww or log value takes, "type" in the schema. */
enum gs_schema_vtype {
    GS_SCHEMA_ANY = 0, /* any scalar: null, bool, integer, text */
    GS_SCHEMA_TEXT = 1,
    GS_SCHEMA_INT = 2,
    GS_SCHEMA_BOOL = 3,
};

typedef struct gs_schema_stage {
    const char *name;  /* valid name */
    const char *label; /* NULL if none */
} gs_schema_stage;

typedef struct gs_schema_field {
    const char *name; /* NUL-terminated, name_n bytes */
    size_t name_n;
    uint8_t kind;                  /* enum gs_kind, a known kind */
    uint8_t vtype;                 /* enum gs_schema_vtype; lww and log */
    bool personal;                 /* personal data: masked unless revealed */
    bool system;                   /* written by gridsync itself ("_deleted") */
    const char *label;             /* NULL if none */
    size_t n_stages;               /* stage fields: 1..GS_STAGE_MAX+1; else 0 */
    const gs_schema_stage *stages; /* stage number i is stages[i] */
} gs_schema_field;

typedef struct gs_schema_type {
    const char *name; /* NUL-terminated, name_n bytes */
    size_t name_n;
    const char *label; /* NULL if none */
    size_t n_fields;
    const gs_schema_field *fields; /* in schema order, "_deleted" last */
} gs_schema_type;

typedef struct gs_schema gs_schema;

/* Load the compiled-in default schema. *out written only on success;
 * caller frees with gs_schema_free. Errors: GS_ENOMEM (the default itself
 * is checked by the tests, so nothing else in practice; any other code
 * means a broken build). */
GS_MUST_CHECK gs_err gs_schema_load_default(gs_schema **out);

/* Parse and check n bytes of schema JSON (borrowed; need not be
 * NUL-terminated). *out written only on success. why (may be NULL) gets a
 * message naming the problem on failure, e.g. "ticket.stage: stages must
 * be a list of 1..64 stage names".
 * Errors: GS_EMALFORMED (not JSON, or JSON of the wrong shape: unknown or
 * missing key, wrong type, invalid name, unknown kind, bad stage list),
 * GS_EVERSION (version other than GS_SCHEMA_VERSION), GS_ETOOBIG (over
 * GS_SCHEMA_BYTES_MAX or another limit above), GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_schema_load_json(const char *text, size_t n,
                                         gs_schema **out, char *why,
                                         size_t why_len);

/* NULL-safe. */
void gs_schema_free(gs_schema *sc);

/* The schema's own label (NULL if none). */
const char *gs_schema_label(const gs_schema *sc);

/* Types, in schema order. */
size_t gs_schema_type_count(const gs_schema *sc);
const gs_schema_type *gs_schema_type_at(const gs_schema *sc, size_t i);

/* NULL if the schema has no such type / field. */
const gs_schema_type *gs_schema_type_get(const gs_schema *sc, gs_slice type);
const gs_schema_field *gs_schema_field_get(const gs_schema_type *t,
                                           gs_slice field);

/* Stage number of a stage name: true and *out on success, false if the
 * field has no such stage (or is no stage field). */
bool gs_schema_stage_number(const gs_schema_field *f, gs_slice name,
                            uint64_t *out);
/* Stage name of a stage number; NULL if the field has no such stage. */
const char *gs_schema_stage_name(const gs_schema_field *f, uint64_t stage);

/* "lww", "counter", ...; NULL for kinds unknown to this version. */
const char *gs_schema_kind_name(uint8_t kind);
/* Kind of a kind name; 0 if unknown. */
uint8_t gs_schema_kind_parse(gs_slice name);

/* Comma-separated names ("address, building, ...") into out (always
 * NUL-terminated, cut with "..." if it does not fit): the type's fields
 * without system fields, or with sc and t == NULL, the schema's types. For
 * messages that list what would have been valid. */
void gs_schema_names(const gs_schema *sc, const gs_schema_type *t, char *out,
                     size_t out_len);

#endif /* GS_STORE_SCHEMA_H */
