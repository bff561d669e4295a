/*
 * replica_int.h — what the sync agent (net/agent.c) needs of an open
 * replica beyond the public API: its store, identity, network id, config
 * and directory. Everything is borrowed from r and valid until
 * gs_replica_close. Not for applications: they use gridsync.h.
 */
#ifndef GS_STORE_REPLICA_INT_H
#define GS_STORE_REPLICA_INT_H

#include "config.h"
#include "gridsync.h"
#include "identity.h"
#include "schema.h"
#include "store.h"

#include <jansson.h>

gs_store *gs_replica_store(gs_replica *r);
const gs_schema *gs_replica_schema(const gs_replica *r);
/* May this device redeem points: GS_OK (its certificate here has the
 * shop flag, or it is the authority), GS_ESHOP (it has not), GS_ENOTFOUND
 * (its certificate is not in this replica yet), or a read error.
 * Certificates only grow, so the answer holds for a write that follows. */
GS_MUST_CHECK gs_err gs_replica_shop(gs_replica *r);
/* The identity as it is: sk NULL while a sealed key is locked. */
const gs_identity *gs_replica_identity(const gs_replica *r);
const uint8_t *gs_replica_network(const gs_replica *r);
const gs_config *gs_replica_cfg(const gs_replica *r);
const char *gs_replica_dir(const gs_replica *r);
/* The scope this handle writes under (replica.scope, or what
 * gs_replica_scope_use set). */
const char *gs_replica_scope(const gs_replica *r);
/* The device key of r, to sign and to derive the transport key from;
 * *id is borrowed from r. A sealed key still locked is unlocked with pass
 * (passlen bytes; NULL: none) first. GS_EBADPASS, with a sentence in why,
 * if the key is sealed and pass is missing or wrong. The agent and sync
 * take the key through this, never gs_replica_identity, so that a locked
 * key is an error and not a NULL secret key. */
GS_MUST_CHECK gs_err gs_replica_key(gs_replica *r, const char *pass,
                                    size_t passlen, const gs_identity **id,
                                    char *why, size_t why_len);

/* Set what gs_replica_detail tells next (msg is copied, cut to fit). */
void gs_replica_detail_set(gs_replica *r, const char *msg);

/* A rule a write must keep, checked inside the write transaction against
 * the entity's state there: current is the entity as gs_replica_get shows
 * it with GS_REVEAL (borrowed for the call), NULL if the replica holds
 * none. Return GS_OK to write, or a code with a sentence in why (why_len
 * bytes) to write nothing: the sentence becomes the replica's detail. It
 * may run more than once for one write (a retried transaction), so it
 * must only read current and record into ctx. */
typedef gs_err (*gs_replica_guard_fn)(const json_t *current, void *ctx,
                                      char *why, size_t why_len);

/* gs_replica_put with guard (NULL: none) deciding, inside the write
 * transaction, whether the write may go ahead: a rule checked against a
 * state read before the transaction could be broken by a write that
 * lands in between (another process, the agent ingesting). */
GS_MUST_CHECK gs_err gs_replica_put_guarded(gs_replica *r, const char *type,
                                            const char *id,
                                            const char *fields_json,
                                            gs_replica_guard_fn guard,
                                            void *ctx);

/* An op as history shows it: {"author", "scope", "seq", "at", "hlc",
 * "hash", "type", "id", "updates"}; a new reference, NULL if the bytes
 * are not an op. */
json_t *gs_replica_op_json(const uint8_t *bytes, size_t len,
                           const uint8_t hash[GS_HASH_BYTES]);

#endif /* GS_STORE_REPLICA_INT_H */
