/*
 * jtape.c — JSON text to a tape of values (jtape.h), by yajl's tokenizer
 * and jansson's rules.
 *
 * jansson's own parser reads a byte at a time through a stream layer, and
 * its values cost a hash table per object and a malloc per value; yajl's
 * tokenizer is several times faster, and a tape is one array reused from
 * line to line. Where yajl is looser than jansson its rules are kept here
 * (fuzz_json_load compares gs_json_load, made from a tape, with jansson
 * on every input):
 *  - yajl takes \v and \f for whitespace, and jansson a NUL after a
 *    token for the end of the text: a text holding one is refused;
 *  - yajl ends a text at a token begun after the value ("[1] \""): a
 *    newline is fed after the text, which ends every token;
 *  - yajl decodes a surrogate escape that is not half of a pair into '?'
 *    or into invalid UTF-8: a text with a surrogate escape goes to jansson;
 *  - yajl passes \u0000 and encoded surrogates: every string and key is
 *    checked for NUL and for well-formed UTF-8 (or the whole text, once);
 *  - numbers: an integer unless it has a fraction or an exponent, one out
 *    of range refused; the top value an object or an array; nesting at
 *    most jansson's depth; no key twice in an object.
 */
#include "jtape.h"

#include "buf.h"

#include <yajl/yajl_parse.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_DEPTH_MAX 2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define LOAD_STACK 32       /* depths held without an allocation */
#define DUP_LINEAR                                                             \
    32 /* members checked for a repeated key one by                            \
          one as each comes; past it, all at the end */

void
gs_jtape_init(gs_jtape *t)
{
    memset(t, 0, sizeof *t);
}

#define KEEP_VALS 4096            /* values a tape keeps room for */
#define KEEP_STR ((size_t)1 << 18) /* string bytes a tape keeps */

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
    if (t->str_cap > KEEP_STR) {
        free(t->str);
        t->str = NULL;
        t->str_cap = 0;
    }
}

void
gs_jtape_fini(gs_jtape *t)
{
    reset(t);
    free(t->v);
    free(t->str);
    memset(t, 0, sizeof *t);
}

/* A new value at the tape's end (skip 1, the rest zero); its index, or
 * SIZE_MAX if out of memory. */
static size_t
push(gs_jtape *t, uint8_t type)
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

/* ---- from yajl's events ---- */

struct load {
    gs_jtape *t;
    size_t *stack; /* the open objects' and arrays' indices, innermost last */
    size_t depth, cap;
    size_t first[LOAD_STACK];
    size_t str_used; /* of t->str, big enough for every string of the text */
    bool texts_ok;   /* every string and key passes text_ok */
    bool plain;      /* and is text (the line is, and has no escape) */
    char why[160];   /* our refusal (yajl then says "client canceled") */
};

static int
load_fail(struct load *l, const char *why)
{
    snprintf(l->why, sizeof l->why, "%s", why);
    return 0;
}

/* A string or key as jansson takes it: no NUL, well-formed UTF-8. */
static int
text_ok(struct load *l, const unsigned char *s, size_t n)
{
    if (l->texts_ok)
        return 1;
    if (memchr(s, 0, n) != NULL)
        return load_fail(l, "\\u0000 is not allowed");
    if (!gs_utf8_wellformed(s, n))
        return load_fail(l, "invalid UTF-8");
    return 1;
}

/* A value of type where the parse stands: its index, or SIZE_MAX (the
 * reason in l->why). */
static size_t
load_value(struct load *l, uint8_t type)
{
    gs_jtape *t = l->t;
    if (l->depth == 0 && type != GS_J_OBJ && type != GS_J_ARR) {
        load_fail(l, "'[' or '{' expected");
        return SIZE_MAX;
    }
    size_t at = push(t, type);
    if (at == SIZE_MAX) {
        load_fail(l, "out of memory");
        return SIZE_MAX;
    }
    if (l->depth > 0) {
        gs_jval *top = &t->v[l->stack[l->depth - 1]];
        if (top->type == GS_J_ARR)
            top->n++; /* an object's members count at their keys */
    }
    return at;
}

/* s[0, n) copied behind the strings already held, NUL-terminated. */
static const char *
load_str(struct load *l, const unsigned char *s, size_t n)
{
    char *p = l->t->str + l->str_used;
    memcpy(p, s, n);
    p[n] = 0;
    l->str_used += n + 1;
    return p;
}

static int
load_null(void *ctx)
{
    return load_value(ctx, GS_J_NULL) != SIZE_MAX;
}

static int
load_bool(void *ctx, int b)
{
    return load_value(ctx, b ? GS_J_TRUE : GS_J_FALSE) != SIZE_MAX;
}

static int
load_number(void *ctx, const char *s, size_t n)
{
    struct load *l = ctx;
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    const char *bad = NULL;
    long long i = 0;
    double d = 0;
    bool real = false;
    if (buf == NULL)
        return load_fail(l, "out of memory");
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    if (strpbrk(buf, ".eE") == NULL) {
        i = strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            bad = i < 0 ? "too big negative integer" : "too big integer";
    } else {
        /* strtod reads the locale's decimal point ('.' in the C locale,
         * which nothing here changes); no field kind takes a real, so
         * another locale could only change a value refused anyway */
        d = strtod(buf, NULL);
        real = true;
        if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
            bad = "real number overflow";
    }
    if (buf != small)
        free(buf);
    if (bad)
        return load_fail(l, bad);
    size_t at = load_value(l, real ? GS_J_REAL : GS_J_INT);
    if (at == SIZE_MAX)
        return 0;
    if (real)
        l->t->v[at].u.d = d;
    else
        l->t->v[at].u.i = i;
    return 1;
}

static int
load_string(void *ctx, const unsigned char *s, size_t n)
{
    struct load *l = ctx;
    if (!text_ok(l, s, n))
        return 0;
    size_t at = load_value(l, GS_J_STR);
    if (at == SIZE_MAX)
        return 0;
    l->t->v[at].u.s = load_str(l, s, n);
    l->t->v[at].n = n;
    l->t->v[at].text = l->plain;
    return 1;
}

static bool
key_eq(const gs_jval *a, const gs_jval *b)
{
    return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
}

static int
load_key(void *ctx, const unsigned char *s, size_t n)
{
    struct load *l = ctx;
    if (!text_ok(l, s, n))
        return 0;
    gs_jtape *t = l->t;
    size_t obj = l->stack[l->depth - 1]; /* yajl: keys are an object's */
    size_t at = push(t, GS_J_STR);
    if (at == SIZE_MAX)
        return load_fail(l, "out of memory");
    gs_jval *k = &t->v[at];
    k->u.s = load_str(l, s, n);
    k->n = n;
    /* the members so far are whole: key, then value and what it holds */
    if (t->v[obj].n < DUP_LINEAR)
        for (const gs_jval *m = &t->v[obj + 1]; m < k; m += 1 + m[1].skip)
            if (key_eq(m, k))
                return load_fail(l, "duplicate object key");
    t->v[obj].n++;
    return 1;
}

static int
load_open(struct load *l, uint8_t type)
{
    if (l->depth == LOAD_DEPTH_MAX)
        return load_fail(l, "maximum parsing depth reached");
    if (l->depth == l->cap) {
        size_t cap = l->cap * 4 > LOAD_DEPTH_MAX ? LOAD_DEPTH_MAX : l->cap * 4;
        size_t *st = malloc(cap * sizeof *st);
        if (st == NULL)
            return load_fail(l, "out of memory");
        memcpy(st, l->stack, l->depth * sizeof *st);
        if (l->stack != l->first)
            free(l->stack);
        l->stack = st;
        l->cap = cap;
    }
    size_t at = load_value(l, type);
    if (at == SIZE_MAX)
        return 0;
    l->stack[l->depth++] = at;
    return 1;
}

static int
keys_cmp(const void *a, const void *b)
{
    const gs_jval *x = *(const gs_jval *const *)a;
    const gs_jval *y = *(const gs_jval *const *)b;
    int c = memcmp(x->u.s, y->u.s, x->n < y->n ? x->n : y->n);
    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

/* Whether the object at index obj, closed, holds a key twice: sorted,
 * for an object too big to have been checked key by key. */
static int
dup_sorted(struct load *l, size_t obj)
{
    gs_jtape *t = l->t;
    size_t n = t->v[obj].n, k = 0;
    const gs_jval **keys = malloc(n * sizeof *keys);
    if (keys == NULL)
        return load_fail(l, "out of memory");
    for (const gs_jval *m = &t->v[obj + 1]; k < n; m += 1 + m[1].skip)
        keys[k++] = m;
    qsort(keys, n, sizeof *keys, keys_cmp);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = key_eq(keys[i - 1], keys[i]);
    free(keys);
    return dup ? load_fail(l, "duplicate object key") : 1;
}

static int
load_close(void *ctx)
{
    struct load *l = ctx;
    size_t at = l->stack[--l->depth];
    gs_jval *v = &l->t->v[at];
    v->skip = (uint32_t)(l->t->n - at);
    if (v->type == GS_J_OBJ && v->n > DUP_LINEAR)
        return dup_sorted(l, at);
    return 1;
}

static int
load_map(void *ctx)
{
    return load_open(ctx, GS_J_OBJ);
}

static int
load_array(void *ctx)
{
    return load_open(ctx, GS_J_ARR);
}

static const yajl_callbacks load_events = {
    load_null, load_bool, NULL,       NULL,       load_number, load_string,
    load_map,  load_key,  load_close, load_array, load_close};

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

/* yajl's memory for one text: its few blocks (the handle, the lexer,
 * their buffers and stack) come from a buffer on gs_jtape_load's stack
 * and go with it, so a line costs no malloc for them. glibc's malloc of
 * the lexer's buffer also gathered the thread's freed small blocks on
 * every line (malloc_consolidate: 4% of an import's time). Past the
 * buffer, blocks are malloc's. An arena block is preceded by its size. */
#define YA_BYTES 8192
#define YA_HEAD 16 /* keeps blocks 16-byte aligned */

struct yarena {
    _Alignas(16) unsigned char buf[YA_BYTES];
    size_t used;
};

static bool
ya_owns(const struct yarena *a, const void *p)
{
    const unsigned char *c = p;
    return c >= a->buf && c < a->buf + YA_BYTES;
}

static void *
ya_malloc(void *ctx, size_t n)
{
    struct yarena *a = ctx;
    size_t need = YA_HEAD + ((n + 15) & ~(size_t)15);
    if (n > YA_BYTES || YA_BYTES - a->used < need)
        return malloc(n);
    unsigned char *p = a->buf + a->used;
    memcpy(p, &n, sizeof n);
    a->used += need;
    return p + YA_HEAD;
}

static void
ya_free(void *ctx, void *p)
{
    if (!ya_owns(ctx, p))
        free(p); /* an arena block goes with the arena */
}

static void *
ya_realloc(void *ctx, void *p, size_t n)
{
    if (p == NULL)
        return ya_malloc(ctx, n);
    if (!ya_owns(ctx, p))
        return realloc(p, n);
    size_t old;
    memcpy(&old, (unsigned char *)p - YA_HEAD, sizeof old);
    void *q = ya_malloc(ctx, n);
    if (q != NULL)
        memcpy(q, p, old < n ? old : n);
    return q;
}

/* Room for every string of a text of n bytes: a string takes two bytes
 * of it at least (its quotes) and decodes to no more bytes than it takes
 * (an escape is longer than what it stands for), plus its NUL. */
static bool
str_room(gs_jtape *t, size_t n)
{
    size_t need = n + n / 2 + 2;
    if (need <= t->str_cap)
        return true;
    char *s = realloc(t->str, need);
    if (s == NULL)
        return false;
    t->str = s;
    t->str_cap = need;
    return true;
}

const gs_jval *
gs_jtape_load(gs_jtape *t, const char *text, size_t n, char *why,
              size_t why_len)
{
    reset(t);
    /* one pass over the text says whether it is text (well-formed, no
     * control character but tab and newline): most lines are */
    bool is_text = gs_utf8_valid((const uint8_t *)text, n);
    /* JSON holds no NUL, \v or \f raw: yajl takes \v and \f for
     * whitespace, and jansson (below, for a surrogate) some NULs for the
     * end of the text; a text has none */
    static const char raw_bad[] = {'\0', '\v', '\f'};
    const char *bad = NULL;
    for (size_t i = 0; !is_text && i < sizeof raw_bad; i++) {
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
    bool surrogate, nul, none;
    escapes_of(text, n, &surrogate, &nul, &none);
    if (surrogate) {
        json_error_t jerr;
        json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
        if (j == NULL) {
            snprintf(why, why_len, "%s (column %d)", jerr.text, jerr.column);
            return NULL;
        }
        const gs_jval *v = gs_jtape_of(t, j);
        if (v == NULL)
            snprintf(why, why_len, "out of memory");
        t->held = j; /* the tape's strings are its */
        return v;
    }
    if (!str_room(t, n)) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    struct load ls, *l = &ls;
    l->t = t;
    l->stack = l->first;
    l->depth = 0;
    l->cap = LOAD_STACK;
    l->str_used = 0;
    l->why[0] = 0;
    /* A string or key is a piece of the text between quotes, escapes
     * decoded: if the text is well-formed, has no NUL and no \u0000 (a
     * surrogate escape went to jansson above), so is every string and
     * key, and one check of the text saves one of each */
    l->texts_ok = !nul && is_text;
    l->plain = l->texts_ok && none;
    struct yarena arena;
    arena.used = 0;
    yajl_alloc_funcs af = {ya_malloc, ya_realloc, ya_free, &arena};
    yajl_handle h = yajl_alloc(&load_events, &af, l);
    if (h == NULL) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    /* every string and key is checked as jansson checks it (text_ok):
     * yajl's own, looser, check would only read them once more */
    yajl_config(h, yajl_dont_validate_strings, 1);
    yajl_status st = yajl_parse(h, (const unsigned char *)text, n);
    size_t col = yajl_get_bytes_consumed(h) + 1;
    /* After a whole value yajl keeps the start of a token it has not seen
     * the end of ("[1] \"") and then takes the end of input for the end
     * of the text: a newline ends every token, and is whitespace. */
    if (st == yajl_status_ok) {
        st = yajl_parse(h, (const unsigned char *)"\n", 1);
        col = n + 1;
    }
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    const gs_jval *root = t->n > 0 ? &t->v[0] : NULL;
    if (st != yajl_status_ok || root == NULL) {
        if (st == yajl_status_client_canceled) {
            snprintf(why, why_len, "%s (column %zu)", l->why, col);
        } else if (st != yajl_status_ok) {
            unsigned char *e =
                yajl_get_error(h, 0, (const unsigned char *)text, n);
            const char *msg = e ? (const char *)e : "parse error";
            snprintf(why, why_len, "%.*s (column %zu)", (int)strcspn(msg, "\n"),
                     msg, col);
            if (e)
                yajl_free_error(h, e);
        } else {
            snprintf(why, why_len, "'[' or '{' expected (column 1)");
        }
        root = NULL;
        t->n = 0;
    }
    yajl_free(h);
    if (l->stack != l->first)
        free(l->stack);
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
    size_t at = push(t, types[json_typeof(j)]);
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
            size_t k = push(t, GS_J_STR);
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
