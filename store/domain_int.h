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

#include <stdbool.h>

/* Is s "YYYY-MM-DD" (its first 10 bytes), digits only, month and day in
 * range? Does s start with "YYYY-MM-DD HH:MM" so? The one rule for the
 * dates the workflows take (domain.c) and the report reads (report.c). */
bool gs_domain_date_ok(const char *s);
bool gs_domain_stamp_ok(const char *s);

#endif /* GS_STORE_DOMAIN_INT_H */
