/*
 * domain_int.h — what store/domain.c keeps to itself: the compiled-in
 * catalog of ticket categories (seeds/catalog.json, turned into a C array
 * by the build like the schema). Not for applications: they use the
 * gs_ticket_* and gs_points_* calls of gridsync.h.
 */
#ifndef GS_STORE_DOMAIN_INT_H
#define GS_STORE_DOMAIN_INT_H

#include <stddef.h>

/* seeds/catalog.json, NUL-terminated; the length excludes the NUL. Its
 * "categories" give each ticket category's name, department and
 * deadline_hours. */
extern const char gs_default_catalog_json[];
extern const size_t gs_default_catalog_json_len;

#endif /* GS_STORE_DOMAIN_INT_H */
