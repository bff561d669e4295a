/*
 * err.h — internal helper for the error details the store and command line
 * give people ("what: why; what to do"), next to the codes of gridsync.h.
 */
#ifndef GS_CRDT_ERR_H
#define GS_CRDT_ERR_H

#include "gridsync.h"

#include <stddef.h>

/* Format a detail into why (if not NULL) and return rc, so a failing path
 * reads: return gs_why(why, len, GS_ESCHEMA, "no field '%s'", name); */
gs_err gs_why(char *why, size_t why_len, gs_err rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* GS_CRDT_ERR_H */
