/*
 * jtape.c — JSON text to a tape of values (jtape.h), by simdjson's parser
 * and jansson's rules.
 *
 * jansson's own parser reads a byte at a time through a stream layer, and
 * its values cost a hash table per object and a malloc per value;
 * simdjson (jsimd.cpp) validates a text in a few SIMD passes, and a tape
 * is one array reused from text to text. Where simdjson takes what
 * jansson does not, the rule is kept here (fuzz_json_load compares
 * gs_json_load, made from a tape, with jansson on every input):
 *  - the top value an object or an array; no key twice in an object;
 *  - simdjson decodes \u0000 into a NUL, and this version some escaped
 *    surrogates into invalid UTF-8: a text with such an escape goes to
 *    jansson;
 *  - an integer past long long is refused (jsimd.cpp).
 * Every text simdjson refuses goes to jansson too, which says why, and
 * whose answer stands where the two differ (simdjson's nesting stops at
 * 1024, jansson's at 2048). A NUL, \v or \f outside a string is refused
 * before either is asked: jansson takes some NULs for the end of a text.
 */
#include "jtape.h"

#include "buf.h"
#include "jsimd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUP_LINEAR 32 /* members an object may have to be checked for a \
                         repeated key one by one; past it, sorted */

void
gs_jtape_init(gs_jtape *t)
{
    memset(t, 0, sizeof *t);
}

#define KEEP_VALS 4096              /* values a tape keeps room for */
#define KEEP_TEXT ((size_t)1 << 18) /* text bytes its parser keeps room for */

/* Empty t for its next text; the memory of a huge one (a line may be a
 * MiB, and each parser thread has a tape) goes. */
static void
reset(gs_jtape *t)
{
    t->n = 0;
    json_decref(t->held);
    t->held = NULL;
    if (t->cap > KEEP_VALS) {
        free(t->v);
        t->v = NULL;
        t->cap = 0;
    }
    if (t->simd != NULL && gs_jsimd_room(t->simd) > KEEP_TEXT) {
        gs_jsimd_free(t->simd);
        t->simd = NULL;
    }
}

void
gs_jtape_fini(gs_jtape *t)
{
    reset(t);
    free(t->v);
    gs_jsimd_free(t->simd);
    memset(t, 0, sizeof *t);
}

/* A new value at the tape's end (skip 1, the rest zero); its index, or
 * SIZE_MAX if out of memory. */
size_t
gs_jtape_push(gs_jtape *t, uint8_t type)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        gs_jval *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return SIZE_MAX;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n] = (gs_jval){.type = type, .skip = 1};
    return t->n++;
}

/* ---- the rules simdjson does not keep ---- */

static bool
key_eq(const gs_jval *a, const gs_jval *b)
{
    return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
}

static int
keys_cmp(const void *a, const void *b)
{
    const gs_jval *x = *(const gs_jval *const *)a;
    const gs_jval *y = *(const gs_jval *const *)b;
    int c = memcmp(x->u.s, y->u.s, x->n < y->n ? x->n : y->n);
    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

/* Whether object o holds a key twice: key by key for a few members,
 * sorted for more. -1: out of memory. */
static int
dup_keys(const gs_jval *o)
{
    const gs_jval *first = o + 1;
    if (o->n <= DUP_LINEAR) {
        for (const gs_jval *k = first, *end = o + o->skip; k < end;
             k += 1 + k[1].skip)
            for (const gs_jval *m = first; m < k; m += 1 + m[1].skip)
                if (key_eq(m, k))
                    return 1;
        return 0;
    }
    const gs_jval **keys = malloc(o->n * sizeof *keys);
    if (keys == NULL)
        return -1;
    const gs_jval *m = first;
    for (size_t i = 0; i < o->n; i++, m += 1 + m[1].skip)
        keys[i] = m;
    qsort(keys, o->n, sizeof *keys, keys_cmp);
    int dup = 0;
    for (size_t i = 1; i < o->n && !dup; i++)
        dup = key_eq(keys[i - 1], keys[i]);
    free(keys);
    return dup;
}

/* What text's escapes may decode to (a false alarm only costs speed): a
 * surrogate ("\u" and a surrogate's first two hex digits), a NUL
 * ("\u0000"); either perhaps after an even number of backslashes. *none:
 * it has no escape. */
static void
escapes_of(const char *text, size_t n, bool *surrogate, bool *nul, bool *none)
{
    const char *p = text, *end = text + n;
    *surrogate = *nul = false;
    *none = true;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        *none = false;
        if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
            strchr("89abcdefABCDEF", p[3]) != NULL && p[3] != 0)
            *surrogate = true;
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
            *nul = true;
        p += 2; /* an escape is two bytes at least */
        if (p >= end)
            break;
    }
}

/* Whether text, UTF-8, holds no DEL and no C1 control (U+0080..U+009F,
 * encoded 0xc2 0x80..0x9f): JSON takes both raw in a string, and
 * gs_utf8_valid refuses both in text. */
static bool
no_controls_past_ascii(const char *text, size_t n)
{
    if (memchr(text, 0x7f, n) != NULL)
        return false;
    const char *p = text, *end = text + n;
    while ((p = memchr(p, 0xc2, (size_t)(end - p))) != NULL) {
        if (end - p >= 2 && (uint8_t)p[1] >= 0x80 && (uint8_t)p[1] <= 0x9f)
            return false;
        p++;
    }
    return true;
}

/* jansson's answer for text: its values on t, or NULL and why. */
static const gs_jval *
by_jansson(gs_jtape *t, const char *text, size_t n, char *why,
           size_t why_len)
{
    /* JSON holds no NUL, \v or \f raw, and jansson takes some NULs for
     * the end of the text: a text holding one is refused first */
    static const char raw_bad[] = {'\0', '\v', '\f'};
    const char *bad = NULL;
    for (size_t i = 0; i < sizeof raw_bad; i++) {
        const char *at =
            memchr(text, raw_bad[i], bad ? (size_t)(bad - text) : n);
        if (at != NULL)
            bad = at;
    }
    if (bad != NULL) {
        snprintf(why, why_len, "invalid character (column %zu)",
                 (size_t)(bad - text) + 1);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        bool utf8 = strncmp(jerr.text, "unable to decode byte", 21) == 0;
        snprintf(why, why_len, "%s%s (column %d)", utf8 ? "invalid UTF-8: " : "",
                 jerr.text, jerr.column);
        return NULL;
    }
    const gs_jval *v = gs_jtape_of(t, j);
    if (v == NULL) {
        json_decref(j);
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    t->held = j; /* the tape's strings are its */
    return v;
}

const gs_jval *
gs_jtape_load(gs_jtape *t, const char *text, size_t n, char *why,
              size_t why_len)
{
    reset(t);
    /* simdjson decodes \u0000 into a NUL (jansson refuses it) and, in the
     * version Debian has, some escaped surrogates into invalid UTF-8:
     * such texts (rare) are jansson's */
    bool surrogate, nul, none;
    escapes_of(text, n, &surrogate, &nul, &none);
    if (surrogate || nul)
        return by_jansson(t, text, n, why, why_len);
    if (t->simd == NULL && (t->simd = gs_jsimd_new()) == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    /* A string with no escape is a piece of the text: if simdjson takes
     * the text, it is UTF-8 and, JSON's rule, holds no byte below 0x20;
     * with no other control character in the text either (DEL, C1), it
     * is text (gs_utf8_valid). */
    bool plain = none && no_controls_past_ascii(text, n);
    int rc = gs_jsimd_tape(t->simd, t, text, n, plain);
    if (rc < 0) {
        t->n = 0;
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    const gs_jval *root = rc == 1 ? &t->v[0] : NULL;
    if (root == NULL || (root->type != GS_J_OBJ && root->type != GS_J_ARR)) {
        /* refused, or not sure: jansson says (with its reason) */
        t->n = 0;
        return by_jansson(t, text, n, why, why_len);
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].type != GS_J_OBJ || t->v[i].n < 2)
            continue;
        int dup = dup_keys(&t->v[i]);
        if (dup != 0) {
            t->n = 0;
            /* the column of jansson's message is where the object ends */
            if (dup > 0)
                return by_jansson(t, text, n, why, why_len);
            snprintf(why, why_len, "out of memory");
            return NULL;
        }
    }
    return root;
}

/* ---- from jansson's values, and back ---- */

/* Append j and what it holds; false if out of memory. */
static bool
of_add(gs_jtape *t, const json_t *j)
{
    static const uint8_t types[] = {
        [JSON_OBJECT] = GS_J_OBJ,  [JSON_ARRAY] = GS_J_ARR,
        [JSON_STRING] = GS_J_STR,  [JSON_INTEGER] = GS_J_INT,
        [JSON_REAL] = GS_J_REAL,   [JSON_TRUE] = GS_J_TRUE,
        [JSON_FALSE] = GS_J_FALSE, [JSON_NULL] = GS_J_NULL};
    size_t at = gs_jtape_push(t, types[json_typeof(j)]);
    if (at == SIZE_MAX)
        return false;
    switch (json_typeof(j)) {
    case JSON_STRING:
        t->v[at].u.s = json_string_value(j);
        t->v[at].n = json_string_length(j);
        break;
    case JSON_INTEGER:
        t->v[at].u.i = json_integer_value(j);
        break;
    case JSON_REAL:
        t->v[at].u.d = json_real_value(j);
        break;
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        t->v[at].n = json_array_size(j);
        json_array_foreach(j, i, e) if (!of_add(t, e)) return false;
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *e;
        t->v[at].n = json_object_size(j);
        json_object_foreach((json_t *)j, key, e)
        {
            size_t k = gs_jtape_push(t, GS_J_STR);
            if (k == SIZE_MAX)
                return false;
            t->v[k].u.s = key;
            t->v[k].n = strlen(key);
            if (!of_add(t, e))
                return false;
        }
        break;
    }
    default:
        break;
    }
    t->v[at].skip = (uint32_t)(t->n - at);
    return true;
}

const gs_jval *
gs_jtape_of(gs_jtape *t, const json_t *j)
{
    reset(t);
    if (j == NULL || !of_add(t, j)) {
        t->n = 0;
        return NULL;
    }
    return &t->v[0];
}

json_t *
gs_jval_json(const gs_jval *v)
{
    json_t *j = NULL;
    const gs_jval *c = v + 1;
    switch (v->type) {
    case GS_J_NULL:
        return json_null();
    case GS_J_FALSE:
        return json_false();
    case GS_J_TRUE:
        return json_true();
    case GS_J_INT:
        return json_integer(v->u.i);
    case GS_J_REAL:
        return json_real(v->u.d);
    case GS_J_STR:
        return json_stringn_nocheck(v->u.s, v->n);
    case GS_J_ARR:
        j = json_array();
        for (size_t i = 0; j != NULL && i < v->n; i++, c += c->skip)
            if (json_array_append_new(j, gs_jval_json(c)) != 0) {
                json_decref(j);
                j = NULL;
            }
        return j;
    case GS_J_OBJ:
        j = json_object();
        for (size_t i = 0; j != NULL && i < v->n; i++, c += 1 + c[1].skip)
            if (json_object_setn_new_nocheck(j, c->u.s, c->n,
                                             gs_jval_json(c + 1)) != 0) {
                json_decref(j);
                j = NULL;
            }
        return j;
    default:
        return NULL;
    }
}

const gs_jval *
gs_jval_get(const gs_jval *obj, const char *key)
{
    if (obj == NULL || obj->type != GS_J_OBJ)
        return NULL;
    size_t kn = strlen(key);
    const gs_jval *m = obj + 1;
    for (size_t i = 0; i < obj->n; i++, m += 1 + m[1].skip)
        if (m->n == kn && memcmp(m->u.s, key, kn) == 0)
            return m + 1;
    return NULL;
}

const char *
gs_jval_kind(const gs_jval *v)
{
    switch (v->type) {
    case GS_J_OBJ:
        return "an object";
    case GS_J_ARR:
        return "an array";
    case GS_J_STR:
        return "a string";
    case GS_J_INT:
        return "an integer";
    case GS_J_REAL:
        return "a real number";
    case GS_J_TRUE:
    case GS_J_FALSE:
        return "true/false";
    default:
        return "null";
    }
}
