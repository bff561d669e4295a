/*
 * jsimd.h — simdjson's parser behind a C face, for jtape.c alone: a JSON
 * text's values onto a tape (jtape.h) in document order.
 *
 * simdjson is a C++ library; jsimd.cpp is the one C++ file of the project
 * and keeps no rule of its own. It takes what simdjson takes and says
 * "not sure" for the rest: jtape.c then keeps its rules (the top value,
 * duplicate keys) and sends every text simdjson refuses or is unsure of
 * to jansson, whose answer stands.
 *
 * A gs_jsimd is one thread's at a time.
 */
#ifndef GS_JSIMD_H
#define GS_JSIMD_H

#include "jtape.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gs_jsimd gs_jsimd;

/* NULL if out of memory. */
gs_jsimd *gs_jsimd_new(void);
void gs_jsimd_free(gs_jsimd *p);

/* Bytes of text p holds memory for (it keeps what its largest text took). */
size_t gs_jsimd_room(const gs_jsimd *p);

/* Put text[0, n)'s values on t (empty): 1 done; 0 simdjson refused the
 * text, or it holds an integer past long long (t holds anything); -1 out
 * of memory. Strings and keys point into p's memory, NUL-terminated,
 * until p's next parse or free; strings (not keys) are marked text if
 * plain. */
int gs_jsimd_tape(gs_jsimd *p, gs_jtape *t, const char *text, size_t n,
                  bool plain);

/* jtape.c's: a new value at t's end (skip 1, the rest zero); its index,
 * or SIZE_MAX if out of memory. */
size_t gs_jtape_push(gs_jtape *t, uint8_t type);

#ifdef __cplusplus
}
#endif

#endif
