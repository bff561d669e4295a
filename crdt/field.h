/*
 * field.h — the field kinds (DESIGN §3), entities, and an in-memory replica
 * state with its canonical digest.
 *
 * Every field kind is a state-based CRDT: its state is a join-semilattice
 * and applying an op's update is joining the state with the update's own
 * one-op state. So every merge is commutative, associative and idempotent
 * by construction, whatever order, grouping or repetition ops arrive in.
 *
 *   lww     (stamp, base, value), greatest (hlc, author, encoded value)
 *           wins. base is the hlc of the value the writer saw (0: none); it
 *           lets the conflicts queue tell an overruled concurrent write from
 *           an ordinary overwrite.
 *   counter per author, the author's own running total after its newest
 *           op (greatest (hlc, total)); value = sum over authors. Since an
 *           author's ops reach a replica in feed order, this is the sum of
 *           the deltas of the distinct ops seen, without keeping op ids.
 *   set     observed-remove, add wins: adds are (element, tag = content hash
 *           of the adding op); a remove lists the tags it observed of its
 *           element and is kept as (element, tag) pairs, so removing one
 *           element never removes another added by the same op; an element
 *           is present while one of its (element, tag) adds is not removed.
 *   log     union of entries (stamp, value), ordered by (hlc, author, value).
 *   stage   lexicographic max of (round, stage); stamp = earliest write of
 *           that exact (round, stage). Reopen writes (round + 1, first stage).
 *           An update carries, like lww, the base the writer saw (the hlc
 *           of the stage's stamp); the state does not keep it.
 *   claim   claims and withdrawals of claimants; a claim survives unless
 *           the same claimant withdrew later; the winner is the surviving
 *           claim with the least (hlc, author, claimant), the rest lose.
 * An entity's tombstone is the lww field "_deleted" holding true.
 *
 * Payload formats (what an op's update carries) and state encodings are in
 * docs/op-format.md §4 and §6. Every decoder here bounds every length.
 *
 * Ownership: gs_field, gs_entity and gs_state own their memory; _fini/_free
 * release it. Slices returned by accessors borrow from the object and live
 * until it next changes. Not thread-safe; one owner at a time.
 */
#ifndef GS_CRDT_FIELD_H
#define GS_CRDT_FIELD_H

#include "buf.h"
#include "gridsync.h"
#include "op.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_STR_BYTES_MAX 4096  /* string values, set elements, claimants */
#define GS_STAGE_MAX 63        /* stage numbers 0..63 */
#define GS_ROUND_MAX 0xffffffu /* reopen rounds */
#define GS_DELETED_FIELD "_deleted"
#define GS_COUNTER_ABS_MAX (INT64_C(1) << 62) /* |delta|, |total| */
#define GS_FIELD_STATE_BYTES_MAX (64u << 20)   /* one encoded field state */
#define GS_ENTITY_BYTES_MAX (256u << 20)       /* one encoded entity */

/* ---- values (lww fields, log entries) ---- */

enum gs_vtype {
    GS_V_NULL = 0,
    GS_V_FALSE = 1,
    GS_V_TRUE = 2,
    GS_V_INT = 3, /* zigzag varint */
    GS_V_STR = 4, /* varint length, UTF-8 */
};

/* A value that borrows its string. */
typedef struct gs_vref {
    uint8_t type;
    int64_t i;  /* GS_V_INT */
    gs_slice s; /* GS_V_STR */
} gs_vref;

GS_MUST_CHECK gs_err gs_value_read(gs_rd *r, gs_vref *out);
GS_MUST_CHECK gs_err gs_value_write(gs_buf *b, const gs_vref *v);
int gs_vref_cmp(const gs_vref *a, const gs_vref *b); /* by encoding */

/* ---- payload builders and checker ---- */

enum gs_set_action { GS_SET_ADD = 1, GS_SET_REMOVE = 2 };
enum gs_claim_action { GS_CLAIM = 1, GS_WITHDRAW = 2 };

typedef struct gs_set_item {
    uint8_t action; /* gs_set_action */
    gs_slice elem;
    size_t n_tags; /* remove: tags observed */
    const uint8_t (*tags)[GS_HASH_BYTES];
} gs_set_item;

GS_MUST_CHECK gs_err gs_payload_lww(gs_buf *b, uint64_t base,
                                    const gs_vref *v);
/* gs_payload_lww of a value whose text the caller knows to pass
 * gs_utf8_valid (the import's, from a line checked whole): not checked
 * again. */
GS_MUST_CHECK gs_err gs_payload_lww_known(gs_buf *b, uint64_t base,
                                          const gs_vref *v);
GS_MUST_CHECK gs_err gs_payload_counter(gs_buf *b, int64_t delta,
                                        int64_t total);
/* items in any order; written sorted by element, tags sorted; an element
 * may appear once */
GS_MUST_CHECK gs_err gs_payload_set(gs_buf *b, const gs_set_item *items,
                                    size_t n);
GS_MUST_CHECK gs_err gs_payload_log(gs_buf *b, const gs_vref *v);
GS_MUST_CHECK gs_err gs_payload_stage(gs_buf *b, uint64_t base,
                                      uint64_t round, uint64_t stage);
GS_MUST_CHECK gs_err gs_payload_claim(gs_buf *b, uint8_t action,
                                      gs_slice claimant);

/* Check that p is the canonical payload of a known kind (kinds above
 * GS_KIND_KNOWN_MAX pass unread). GS_ETRUNC, GS_ETOOBIG, GS_EUTF8,
 * GS_ENONCANON, GS_EMALFORMED, GS_EKIND (kind 0). */
GS_MUST_CHECK gs_err gs_payload_check(uint8_t kind, gs_slice p);

/* A checked payload of a known kind, borrowing its bytes. */
typedef struct gs_payload {
    uint8_t kind;
    union {
        struct {
            uint64_t base;
            gs_vref v;
        } lww;
        struct {
            int64_t delta, total;
        } counter;
        struct {
            size_t n;       /* items, >= 1 */
            gs_slice items; /* the checked item bytes; gs_payload_set_next */
        } set;
        gs_vref log;
        struct {
            uint64_t base; /* hlc of the stage the writer saw; 0: none */
            uint64_t round, stage;
        } stage;
        struct {
            uint8_t action; /* gs_claim_action */
            gs_slice who;
        } claim;
    } u;
} gs_payload;

/* Parse and check p as gs_payload_check does, for a known kind only
 * (GS_EKIND otherwise). out borrows p. */
GS_MUST_CHECK gs_err gs_payload_parse(uint8_t kind, gs_slice p,
                                      gs_payload *out);
/* gs_payload_parse of a payload checked by it before (the same bytes):
 * an lww value's text and a set's elements are not checked again (their
 * form, and the other kinds, are). */
GS_MUST_CHECK gs_err gs_payload_parse_known(uint8_t kind, gs_slice p,
                                            gs_payload *out);
/* Whether a and b are the same parse of a known kind's payload: the same
 * values, their slices at the same bytes (padding aside, which a parse
 * leaves as it falls). For checks that two ways of reading agree. */
bool gs_payload_same(const gs_payload *a, const gs_payload *b);
/* Read the next item of a set payload (start a reader on u.set.items);
 * it->tags then points into the payload. */
GS_MUST_CHECK gs_err gs_payload_set_next(gs_rd *r, gs_set_item *it);
/* gs_payload_set_next of a payload its parse checked already: the
 * element's text is not checked again. */
GS_MUST_CHECK gs_err gs_payload_set_next_known(gs_rd *r, gs_set_item *it);

/* ---- field state ---- */

typedef struct gs_stamp {
    uint64_t hlc;
    uint8_t author[GS_KEY_BYTES];
} gs_stamp;

int gs_stamp_cmp(const gs_stamp *a, const gs_stamp *b); /* hlc, then author */

/* The order in which lww writes win: by (stamp, base, value encoding);
 * the greater wins. <0, 0, >0 as a is below, equal to, above b. */
int gs_lww_cmp(const gs_stamp *a_at, uint64_t a_base, const gs_vref *a,
               const gs_stamp *b_at, uint64_t b_base, const gs_vref *b);

/* An owned value. s is NUL-terminated for convenience (n excludes it). */
typedef struct gs_value {
    uint8_t type;
    int64_t i;
    char *s;
    size_t n;
} gs_value;

/* Replace dst's value with a copy of src (checked as gs_value_write does);
 * on error dst is unchanged. A zeroed gs_value is a valid null. */
GS_MUST_CHECK gs_err gs_value_set(gs_value *dst, const gs_vref *src);
void gs_value_fini(gs_value *v);
/* A gs_vref borrowing v. */
gs_vref gs_value_ref(const gs_value *v);

struct gs_ctr_entry {
    uint8_t author[GS_KEY_BYTES];
    uint64_t hlc;
    int64_t total;
};
struct gs_set_add {
    char *elem;
    size_t elem_n;
    uint8_t tag[GS_HASH_BYTES];
};
struct gs_log_entry {
    gs_stamp at;
    gs_value v;
};
struct gs_claim_rec {
    gs_stamp at;
    char *who;
    size_t who_n;
};

/* Names and keys are held inline (not behind pointers): finding an entity
 * and its fields then costs no pointer chase and no allocation. */
typedef struct gs_field {
    size_t name_n;
    uint8_t kind;
    char name[GS_NAME_BYTES_MAX + 1]; /* NUL-terminated */
    union {
        struct {
            bool set; /* false: never written */
            gs_stamp at;
            uint64_t base;
            gs_value v;
        } lww;
        struct {
            size_t n, cap; /* sorted by author */
            struct gs_ctr_entry *e;
        } counter;
        struct {
            size_t n_add, cap_add; /* sorted by (elem, tag) */
            struct gs_set_add *add;
            size_t n_rm, cap_rm; /* removed (elem, tag), sorted likewise */
            struct gs_set_add *rm;
        } set;
        struct {
            size_t n, cap; /* sorted by (hlc, author, value) */
            struct gs_log_entry *e;
        } log;
        struct {
            bool set;
            uint64_t round, stage;
            gs_stamp at;
        } stage;
        struct {
            size_t n_claim, cap_claim; /* sorted by (at, who) */
            struct gs_claim_rec *claim;
            size_t n_wd, cap_wd; /* sorted by (at, who) */
            struct gs_claim_rec *wd;
        } claim;
    } u;
} gs_field;

/* An empty field of a known kind. GS_EKIND for unknown kinds. */
GS_MUST_CHECK gs_err gs_field_init(gs_field *f, gs_slice name, uint8_t kind);
void gs_field_fini(gs_field *f);

/* Join one update of op (whose content hash is hash) into f. The update's
 * field name and kind must be f's (else GS_EINVAL); its payload must pass
 * gs_payload_check. */
GS_MUST_CHECK gs_err gs_field_apply(gs_field *f, const gs_update *u,
                                    const gs_op *op,
                                    const uint8_t hash[GS_HASH_BYTES]);
/* The same with a payload already parsed (of f's kind, else GS_EINVAL);
 * the entity uses it to check every update before applying any. */
GS_MUST_CHECK gs_err gs_field_apply_parsed(gs_field *f, const gs_payload *pl,
                                           const gs_op *op,
                                           const uint8_t hash[GS_HASH_BYTES]);
/* True while f holds nothing (bottom of its lattice). */
bool gs_field_empty(const gs_field *f);

/* dst = join(dst, src); same name and kind (else GS_EINVAL). On GS_ENOMEM
 * dst may hold part of src: still a valid state below the join. */
GS_MUST_CHECK gs_err gs_field_join(gs_field *dst, const gs_field *src);

/* Canonical encoding of the kind-specific state (not name or kind). */
GS_MUST_CHECK gs_err gs_field_state_encode(const gs_field *f, gs_buf *b);
/* Decode a state written by gs_field_state_encode into a fresh field; every
 * length bounded, canonical form required. */
GS_MUST_CHECK gs_err gs_field_state_decode(gs_field *f, gs_slice name,
                                           uint8_t kind, const uint8_t *p,
                                           size_t n);

/* Readers. */
bool gs_field_lww_get(const gs_field *f, gs_vref *v, gs_stamp *at);
int64_t gs_field_counter_value(const gs_field *f);
int64_t gs_field_counter_author_total(const gs_field *f,
                                      const uint8_t author[GS_KEY_BYTES]);
bool gs_field_set_has(const gs_field *f, gs_slice elem);
/* Present elements in order; returns how many there are, fills up to max. */
size_t gs_field_set_members(const gs_field *f, gs_slice *out, size_t max);
/* Live (unremoved) tags of elem, for writing a remove; returns the count,
 * fills up to max. */
size_t gs_field_set_tags(const gs_field *f, gs_slice elem,
                         uint8_t (*out)[GS_HASH_BYTES], size_t max);
size_t gs_field_log_count(const gs_field *f);
const struct gs_log_entry *gs_field_log_at(const gs_field *f, size_t i);
bool gs_field_stage_get(const gs_field *f, uint64_t *round, uint64_t *stage,
                        gs_stamp *at);
/* Surviving claims, one per claimant at its earliest surviving claim,
 * winner first. Returns how many, fills up to max. */
size_t gs_field_claims(const gs_field *f, const struct gs_claim_rec **out,
                       size_t max);

/* ---- entity ---- */

typedef struct gs_entity {
    size_t type_n;
    size_t id_n;
    size_t n_fields, cap_fields;
    gs_field *fields;               /* sorted by (name, kind) */
    char type[GS_NAME_BYTES_MAX + 1]; /* NUL-terminated */
    char id[GS_ID_BYTES_MAX + 1];     /* NUL-terminated */
} gs_entity;

/* GS_EINVAL unless type is a valid name and id a valid entity id. */
GS_MUST_CHECK gs_err gs_entity_init(gs_entity *e, gs_slice type, gs_slice id);
void gs_entity_fini(gs_entity *e);
/* Apply every update of op (type and id must be e's, else GS_EINVAL).
 * Updates of unknown kinds are skipped: stored and relayed elsewhere, not
 * merged. A field written under two kinds keeps one state per kind. */
GS_MUST_CHECK gs_err gs_entity_apply(gs_entity *e, const gs_op *op,
                                     const uint8_t hash[GS_HASH_BYTES]);
/* The two halves of gs_entity_apply, for callers that overlap other work
 * (gs_state_apply parses while the entity's memory is being fetched):
 * check every update of op and parse those of known kinds into pl (an
 * array of op->n_updates), then apply them to e. */
GS_MUST_CHECK gs_err gs_op_parse_updates(const gs_op *op, gs_payload *pl);
/* gs_op_decode that also keeps what its check parsed: pl (an array of
 * GS_OP_UPDATES_MAX) gets each update's payload as gs_op_parse_updates
 * would, ready for gs_entity_apply_parsed; a caller that decodes and then
 * applies parses each payload once. pl is unspecified on error. */
GS_MUST_CHECK gs_err gs_op_decode_parsed(const uint8_t *bytes, size_t n,
                                         gs_op *op, gs_payload *pl);
/* One update of the above: GS_OK with *pl unset for unknown kinds. */
GS_MUST_CHECK gs_err gs_update_parse(const gs_update *u, gs_payload *pl);
GS_MUST_CHECK gs_err gs_entity_apply_parsed(gs_entity *e, const gs_op *op,
                                            const gs_payload *pl,
                                            const uint8_t hash[GS_HASH_BYTES]);
GS_MUST_CHECK gs_err gs_entity_join(gs_entity *dst, const gs_entity *src);
/* NULL if the entity has no such field of that kind. */
const gs_field *gs_entity_field(const gs_entity *e, const char *name,
                                uint8_t kind);
bool gs_entity_deleted(const gs_entity *e);
/* Canonical encoding: str type, str id, varint n_fields, then per field
 * str name, u8 kind, str(state). */
GS_MUST_CHECK gs_err gs_entity_encode(const gs_entity *e, gs_buf *b);
GS_MUST_CHECK gs_err gs_entity_decode(gs_entity *e, const uint8_t *p,
                                      size_t n);

/* ---- state digest ---- */

/* BLAKE2b-256 over "gridsync/state/v1" then the canonical encoding of each
 * entity, entities in ascending (type, id) order (by bytes). Streaming, so
 * the store can feed entities from a cursor. */
typedef struct gs_digest {
    crypto_generichash_state st;
    bool have_last;
    gs_buf last_key; /* (type, id) of the previous entity, for the order check */
    gs_buf scratch;
} gs_digest;

GS_MUST_CHECK gs_err gs_digest_init(gs_digest *d);
/* GS_EINVAL if entities are not given in strictly ascending order (the
 * digest is then unchanged). After GS_ENOMEM or GS_ETOOBIG the digest may
 * only be abandoned with gs_digest_final. */
GS_MUST_CHECK gs_err gs_digest_add(gs_digest *d, const gs_entity *e);
/* Write the digest (out may be NULL to abandon it) and release d's
 * buffers; call it once after gs_digest_init, also after an error. */
void gs_digest_final(gs_digest *d, uint8_t out[GS_HASH_BYTES]);

/* ---- in-memory replica state (tests, benchmarks, tablets' caches) ---- */

typedef struct gs_state gs_state;

GS_MUST_CHECK gs_err gs_state_new(gs_state **out);
void gs_state_free(gs_state *s);
GS_MUST_CHECK gs_err gs_state_apply(gs_state *s, const gs_op *op,
                                    const uint8_t hash[GS_HASH_BYTES]);
GS_MUST_CHECK gs_err gs_state_join(gs_state *dst, const gs_state *src);
const gs_entity *gs_state_get(const gs_state *s, gs_slice type, gs_slice id);
size_t gs_state_count(const gs_state *s);
GS_MUST_CHECK gs_err gs_state_digest(const gs_state *s,
                                     uint8_t out[GS_HASH_BYTES]);

#endif /* GS_CRDT_FIELD_H */
