/*
 * fuzz_json_updates.c — libFuzzer target for what an import makes of a
 * line: its values (gs_jtape_load), the updates the default schema makes
 * of its "fields" for its "type" (gs_json_updates_check, as line_parse in
 * store/replica.c calls it), encoded as an op's updates section.
 *
 * Every section made must be one the op decoder takes (gs_op_updates_check,
 * the full check: names, UTF-8 and control characters of every text): the
 * import's parser does not read the sections it makes (entry_put: where
 * gs_op_encode_updates_at put each update is how it reads them), and this
 * target is why it may. Where each update went gives the updates the full
 * read (gs_op_updates_parse) gives.
 */
#include "json.h"
#include "schema.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gs_schema *sc;
    static gs_jtape tape;
    static const uint8_t author[GS_KEY_BYTES] = {7};
    char why[256];
    if (sc == NULL) {
        if (gs_schema_load_default(&sc) != GS_OK)
            abort();
        gs_jtape_init(&tape);
    }
    const gs_jval *v = gs_jtape_load(&tape, (const char *)data, size, why,
                                     sizeof why);
    const gs_jval *type = gs_jval_get(v, "type");
    const gs_jval *fields = gs_jval_get(v, "fields");
    if (type == NULL || type->type != GS_J_STR || fields == NULL)
        return 0;
    gs_json_updates u;
    gs_err rc = gs_json_updates_check(sc, gs_slice_of(type->u.s, type->n),
                                      author, fields, &u, why, sizeof why);
    if (rc == GS_OK && u.n > 0) {
        gs_op op, full;
        gs_update_at at[GS_OP_UPDATES_MAX];
        gs_buf sec;
        gs_buf_init(&sec, 4096);
        gs_json_updates_fill(&u, &op);
        if (gs_op_encode_updates_at(op.updates, op.n_updates, &sec, at) ==
            GS_OK) {
            if (gs_op_updates_check(sec.data, sec.len) != GS_OK ||
                gs_op_updates_parse(sec.data, sec.len, &full) != GS_OK)
                abort();
            if (full.n_updates != op.n_updates)
                abort();
            for (size_t i = 0; i < full.n_updates; i++) {
                const gs_update *f = &full.updates[i];
                if (at[i].u->kind != f->kind ||
                    sec.data + at[i].field != f->field.p ||
                    at[i].u->field.n != f->field.n ||
                    sec.data + at[i].payload != f->payload.p ||
                    at[i].u->payload.n != f->payload.n)
                    abort();
            }
        }
        gs_buf_fini(&sec);
    }
    gs_json_updates_fini(&u);
    return 0;
}
