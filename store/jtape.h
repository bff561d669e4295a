/*
 * jtape.h — a JSON text as a tape: its values in document order, each
 * followed by what it holds, made by simdjson's parser by jansson's rules.
 * The import reads every record through one (no jansson value is made
 * for a line), and gs_json_load makes jansson's values from one.
 *
 * A value is a gs_jval; an array's elements follow it, an object's
 * members follow it as key (a string) then value. skip is how many
 * gs_jvals the value takes, itself included, so the next sibling of v is
 * v + v->skip and the first thing it holds is v + 1. Strings are
 * NUL-terminated (no string holds a NUL: jansson's rules refuse \u0000).
 *
 * The rules (those of jansson's json_loadb with JSON_REJECT_DUPLICATES,
 * which fuzz_json_load holds gs_json_load to): the top value is an object
 * or an array; no duplicate key in an object; strings and keys are
 * well-formed UTF-8 without NUL; a number is an integer unless it has a
 * fraction or an exponent, and one out of range is refused; nesting at
 * most jansson's depth; \v and \f are not whitespace, and no NUL is
 * taken outside a string either.
 *
 * A tape is reused from text to text (its memory stays, but for a huge
 * text's, let go at the next) and is one thread's at a time. What
 * gs_jtape_load or gs_jtape_of returns is valid until the tape's next
 * load, of or fini.
 */
#ifndef GS_JTAPE_H
#define GS_JTAPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    GS_J_NULL,
    GS_J_FALSE,
    GS_J_TRUE,
    GS_J_INT,
    GS_J_REAL,
    GS_J_STR,
    GS_J_ARR,
    GS_J_OBJ
};

typedef struct gs_jval {
    uint8_t type;  /* GS_J_* */
    bool text;     /* a string known to be text (gs_utf8_valid): from a
                      line that is text and has no escape */
    uint32_t skip; /* gs_jvals this value takes, itself included */
    size_t n;      /* a string's bytes; an array's elements; an object's
                      members */
    union {
        const char *s; /* GS_J_STR */
        long long i;   /* GS_J_INT */
        double d;      /* GS_J_REAL */
    } u;
} gs_jval;

typedef struct gs_jtape {
    gs_jval *v;
    size_t n, cap;
    struct gs_jsimd *simd; /* the parser whose memory strings point into */
    json_t *held; /* or the value of jansson's they point into */
} gs_jtape;

void gs_jtape_init(gs_jtape *t);
void gs_jtape_fini(gs_jtape *t);

/* Parse text[0, n) by the rules above: its top value, or NULL where it
 * is refused (why gets the reason and the byte column, 1-based, as
 * gs_json_load's) or memory ran out ("out of memory"). */
const gs_jval *gs_jtape_load(gs_jtape *t, const char *text, size_t n, char *why,
                             size_t why_len);

/* The tape of jansson's value j (borrowed: it must outlive what is
 * returned, which points into its strings); NULL if out of memory. */
const gs_jval *gs_jtape_of(gs_jtape *t, const json_t *j);

/* jansson's value of v (a new reference); NULL if out of memory. */
json_t *gs_jval_json(const gs_jval *v);

/* The value of obj's member key (NULL: none, or obj is no object). */
const gs_jval *gs_jval_get(const gs_jval *obj, const char *key);

/* What v is, for messages: "an object", "a string", "true/false"... */
const char *gs_jval_kind(const gs_jval *v);

#endif
