/*
 * jsimd.cpp — a JSON text onto a jtape by simdjson's DOM parser (see
 * jsimd.h). The parser validates the whole text (UTF-8 included) in a
 * few SIMD passes, several times faster than a tokenizer that reads a
 * byte at a time; the tape is then filled from its values in order.
 *
 * Where simdjson and jansson differ on what they take, simdjson is the
 * stricter (depth 1024 against 2048), but for two things it takes that
 * jansson does not: a top value that is no object or array (jtape.c
 * refuses it) and integers past long long, up to 2^64 - 1 (refused here,
 * as "not sure"). Duplicate keys are jtape.c's to find.
 *
 * Only simdjson's error-code interface is used: nothing here throws.
 */
#include "jsimd.h"

#include <simdjson.h>

#include <new>

struct gs_jsimd {
    simdjson::dom::parser parser;
};

extern "C" gs_jsimd *
gs_jsimd_new(void)
{
    return new (std::nothrow) gs_jsimd;
}

extern "C" void
gs_jsimd_free(gs_jsimd *p)
{
    delete p;
}

extern "C" size_t
gs_jsimd_room(const gs_jsimd *p)
{
    return p->parser.capacity();
}

namespace {

/* e and what it holds onto t: as gs_jsimd_tape. */
int
add(gs_jtape *t, simdjson::dom::element e, bool plain)
{
    using simdjson::dom::element_type;
    uint8_t type;
    switch (e.type()) {
    case element_type::ARRAY:
        type = GS_J_ARR;
        break;
    case element_type::OBJECT:
        type = GS_J_OBJ;
        break;
    case element_type::INT64:
        type = GS_J_INT;
        break;
    case element_type::DOUBLE:
        type = GS_J_REAL;
        break;
    case element_type::STRING:
        type = GS_J_STR;
        break;
    case element_type::BOOL:
        type = e.get_bool().value_unsafe() ? GS_J_TRUE : GS_J_FALSE;
        break;
    case element_type::NULL_VALUE:
        type = GS_J_NULL;
        break;
    default: /* UINT64: past long long, which jansson refuses */
        return 0;
    }
    size_t at = gs_jtape_push(t, type);
    if (at == SIZE_MAX)
        return -1;
    size_t n = 0;
    switch (type) {
    case GS_J_INT:
        t->v[at].u.i = e.get_int64().value_unsafe();
        break;
    case GS_J_REAL:
        t->v[at].u.d = e.get_double().value_unsafe();
        break;
    case GS_J_STR: {
        std::string_view s = e.get_string().value_unsafe();
        t->v[at].u.s = s.data();
        t->v[at].n = s.size();
        t->v[at].text = plain;
        break;
    }
    case GS_J_ARR: {
        simdjson::dom::array a = e.get_array().value_unsafe();
        for (simdjson::dom::element c : a) {
            int rc = add(t, c, plain);
            if (rc != 1)
                return rc;
            n++;
        }
        t->v[at].n = n;
        break;
    }
    case GS_J_OBJ: {
        simdjson::dom::object o = e.get_object().value_unsafe();
        for (simdjson::dom::key_value_pair m : o) {
            size_t k = gs_jtape_push(t, GS_J_STR);
            if (k == SIZE_MAX)
                return -1;
            t->v[k].u.s = m.key.data();
            t->v[k].n = m.key.size();
            int rc = add(t, m.value, plain);
            if (rc != 1)
                return rc;
            n++;
        }
        t->v[at].n = n;
        break;
    }
    default:
        break;
    }
    t->v[at].skip = static_cast<uint32_t>(t->n - at);
    return 1;
}

} // namespace

extern "C" int
gs_jsimd_tape(gs_jsimd *p, gs_jtape *t, const char *text, size_t n,
              bool plain)
{
    simdjson::dom::element root;
    /* the text is copied into the parser's padded buffer (simdjson reads
     * past a text's end): the caller's need not be padded */
    if (p->parser.parse(text, n, true).get(root) != simdjson::SUCCESS)
        return 0;
    return add(t, root, plain);
}
