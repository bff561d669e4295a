/*
 * json.h — entities as JSON for people and scripts, and JSON records (or
 * command-line assignments) as the updates of an op: the layer under the
 * command line's get, list, export, put and import.
 *
 * Reading (gs_json_entity):
 *   {"type": T, "id": I, "deleted": bool, "fields": {NAME: VALUE, ...},
 *    "masked": [NAME, ...],               only if personal data was masked
 *    "meta": {NAME: {"at": ISO, "by": AUTHOR16}, ...}   only with META}
 * VALUE by kind:
 *   lww      null, true/false, integer or string
 *   counter  integer (the sum over authors)
 *   set      sorted array of strings
 *   log      [{"at": ISO, "by": AUTHOR16, "value": scalar}, ...] in log order
 *   stage    {"round": n, "stage": NAME}; the stage's number if the schema
 *            has no name for it
 *   claim    {"winner": CLAIMANT or null, "losing": [CLAIMANT, ...]}
 * ISO is UTC with milliseconds ("2024-05-01T08:30:00.123Z", from the hlc's
 * ms part), AUTHOR16 the first 16 hex digits of the author key. Fields the
 * schema does not know, or holds under another kind, are shown by the kind
 * they carry; a field whose name the schema gives another kind is keyed
 * "NAME:KIND" so no value hides another. "_deleted" shows as "deleted".
 * Empty fields (never written) are left out. Personal fields are "***"
 * unless GS_JSON_REVEAL. "meta" lists, per field, the stamp of the write in
 * force: lww (the winning write), stage (the first write of the current
 * (round, stage)), counter (the newest author entry), claim (the winning
 * claim); set and log have none (log entries carry their own).
 *
 * Writing (gs_json_updates_decode): a JSON object {NAME: INPUT, ...} of
 * fields to write, checked against the schema, becomes updates ready for
 * one op. INPUT by kind:
 *   lww      a scalar (null, bool, integer, string; no reals), of the
 *            schema's "type" if it names one. base = hlc of the value in
 *            force in current (0 if none).
 *   counter  an integer delta; total = the author's own total in current
 *            plus delta. 0 writes nothing.
 *   set      {"add": [..], "remove": [..]} or an array (= add); a remove
 *            carries the live tags of the element in current, and removing
 *            an element not present is an error. Nothing to do writes
 *            nothing.
 *   log      one scalar, or {"value": scalar} (an exported entry), appended
 *   stage    a stage name or number (same round as current), {"round": n,
 *            "stage": name|number}, or "reopen" (round + 1, first stage).
 *            A stage below the current one is refused: it could never win.
 *   claim    {"claim": ID} or {"withdraw": ID}; withdrawing needs a
 *            surviving claim of ID in current.
 * "_deleted" takes true or false. Field order does not matter; gs_op_encode
 * sorts the updates.
 *
 * Ownership: gs_json_entity returns a new reference (json_decref it).
 * A gs_json_updates owns its payloads' buffer until gs_json_updates_fini; ops
 * filled by gs_json_updates_fill borrow them. Arguments are borrowed.
 * Nothing here keeps state; distinct objects may be used from distinct
 * threads.
 *
 * SPEC: docs/op-format.md §4 (payloads); DESIGN §3 (kinds), §5 (masking).
 */
#ifndef GS_STORE_JSON_H
#define GS_STORE_JSON_H

#include "field.h"
#include "gridsync.h"
#include "jtape.h"
#include "op.h"
#include "schema.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

enum gs_json_flags {
    GS_JSON_REVEAL = 1 << 0, /* show personal fields */
    GS_JSON_META = 1 << 1,   /* add "meta": who wrote each field, when */
};

#define GS_JSON_MASK "***"
#define GS_JSON_WHY_BYTES 512 /* fits every message with a field list cut */
#define GS_JSON_TIME_BYTES 32 /* gs_json_time's text with its NUL */

/* Parse text[0, n) as one JSON object or array: what jansson's
 * json_loadb(text, n, JSON_REJECT_DUPLICATES, ...) returns, and NULL where
 * it fails (why gets the reason and the byte column, 1-based), made from
 * gs_jtape_load's tape (jtape.h: simdjson reads the text). */
json_t *gs_json_load(const char *text, size_t n, char *why, size_t why_len);

/* e as JSON (shape above). sc may be NULL: then nothing is masked and
 * stages show as numbers. NULL only when out of memory. */
json_t *gs_json_entity(const gs_schema *sc, const gs_entity *e, unsigned flags);

/* A value as JSON: null, false, true, an integer or a string; NULL only
 * when out of memory. */
json_t *gs_json_value(const gs_vref *v);

/* "2024-05-01T08:30:00.123Z": an hlc stamp's ms part in UTC. */
void gs_json_time(uint64_t hlc, char out[GS_JSON_TIME_BYTES]);

typedef struct gs_json_update {
    char field[GS_NAME_BYTES_MAX + 1]; /* NUL-terminated */
    uint8_t field_n;                   /* its length */
    uint8_t kind;
    size_t at, len; /* its payload: bytes[at, at + len) of its updates */
} gs_json_update;

/* A stage field's input as written, before the entity's state gives it a
 * round: a stage of the current round, a stage of a given round, or
 * "reopen". t and sf are borrowed from the schema. */
enum gs_json_stage_form {
    GS_JSON_STAGE_AT = 0,   /* stage (in the current round) */
    GS_JSON_STAGE_IN_ROUND, /* {"round": round, "stage": stage} */
    GS_JSON_STAGE_REOPEN,   /* round + 1, first stage */
};

typedef struct gs_json_stage {
    const gs_schema_type *t;
    const gs_schema_field *sf;
    uint8_t form;          /* enum gs_json_stage_form */
    uint64_t round, stage; /* as given; 0 where the form has none */
} gs_json_stage;

typedef struct gs_json_updates {
    size_t n;
    gs_json_update u[GS_OP_UPDATES_MAX];
    gs_buf bytes;    /* the payloads one after another (owned): one buffer
                        for a record's updates, not one each */
    size_t n_stages; /* the stage inputs, as given, writing or not */
    gs_json_stage stages[GS_OP_UPDATES_MAX];
    bool later; /* gs_json_updates_check: an update waits for the state */
} gs_json_updates;

/* The updates for writing fields (a JSON object on a tape, jtape.h,
 * borrowed: gs_jtape_of makes one of jansson's values) to entity
 * (type, ...) as author, given the entity's current state (NULL: none).
 * out is initialised here; on success it holds 0..GS_OP_UPDATES_MAX updates
 * (0 when every input writes nothing: the caller then has no op to write)
 * and must be finished with gs_json_updates_fini; on error it holds
 * nothing (fini is harmless). why (may be NULL) gets a message on failure
 * naming the field and what was expected, e.g. 'ticket has no field
 * "stag"; its fields: title, category, ...'.
 * Errors: GS_ESCHEMA (unknown type or field, wrong JSON type or form, real
 * number, unknown stage, stage going backwards, invalid claimant id),
 * GS_ENOTFOUND (remove of an element not present, withdraw without a
 * claim, reopen with no stage yet), GS_ETOOBIG (string over GS_STR_BYTES_MAX,
 * more than GS_OP_UPDATES_MAX fields, counter over its range), GS_EUTF8 (a
 * control character in a value), GS_EINVAL (NULL arguments), GS_ENOMEM. */
GS_MUST_CHECK gs_err gs_json_updates_decode(const gs_schema *sc, gs_slice type,
                                            const gs_entity *current,
                                            const uint8_t author[GS_KEY_BYTES],
                                            const gs_jval *fields,
                                            gs_json_updates *out, char *why,
                                            size_t why_len);

/* The check of fields (a JSON object on a tape, borrowed) for entity
 * (type, ...) before its state is known — import checks every line of a
 * file before it writes any. As gs_json_updates_decode with current NULL, but a stage
 * "reopen" is not refused for want of a stage: it is left out of out->u
 * and out->later is set, so the updates are those of a fresh entity only
 * if !out->later (else decode again with the state). Either way
 * out->stages lists every stage input, for the caller to follow the
 * stages through a sequence of writes (gs_json_stage_next). Inputs that
 * need other state (a set remove, a withdraw) are refused as with NULL.
 * Errors and ownership as gs_json_updates_decode. */
GS_MUST_CHECK gs_err gs_json_updates_check(const gs_schema *sc, gs_slice type,
                                           const uint8_t author[GS_KEY_BYTES],
                                           const gs_jval *fields,
                                           gs_json_updates *out, char *why,
                                           size_t why_len);

/* Move a stage field's state (*have: ever written; then *round, *stage)
 * by a write of in, by the rule gs_json_updates_decode applies: *wrote
 * false if in writes nothing (the field is there already). On error the
 * state is unchanged and why says why: GS_ENOTFOUND (reopen with no stage
 * yet), GS_ETOOBIG (reopened GS_ROUND_MAX times), GS_ESCHEMA (a stage
 * below the current one), GS_EINVAL (NULL arguments). */
GS_MUST_CHECK gs_err gs_json_stage_next(const gs_json_stage *in, bool *have,
                                        uint64_t *round, uint64_t *stage,
                                        bool *wrote, char *why, size_t why_len);

void gs_json_updates_fini(gs_json_updates *u);

/* Point op's updates at u's (op->n_updates = u->n); op then borrows u. The
 * caller sets everything else (author, scope, seq, prev, hlc, type, id). */
void gs_json_updates_fill(const gs_json_updates *u, gs_op *op);

/* Update i's payload, borrowed from u. */
gs_slice gs_json_updates_payload(const gs_json_updates *u, size_t i);

/* One command-line assignment into fields (a JSON object, changed in
 * place) in gs_json_updates_decode's input form, by the kind the schema
 * gives the field:
 *   lww      name=text; an "int" field takes a decimal integer, a "bool"
 *            field true or false; name= (empty) writes null
 *   counter  name+=N, name-=N
 *   set      name+=elem, name-=elem (several add to the same lists)
 *   log      name+=text (or name=text): one entry
 *   stage    name=stage_name, name=number, name=reopen
 *   claim    name+=ID (claim), name-=ID (withdraw)
 * Errors: GS_ESCHEMA (unknown type or field, operator the kind does not
 * take, a field given twice, a value of the wrong form), GS_EINVAL (no
 * "=" or a bad name), GS_EUTF8 (a control character), GS_ENOMEM; why says
 * which. */
GS_MUST_CHECK gs_err gs_json_parse_assignment(const gs_schema *sc,
                                              gs_slice type, const char *arg,
                                              json_t *fields, char *why,
                                              size_t why_len);

#endif /* GS_STORE_JSON_H */
