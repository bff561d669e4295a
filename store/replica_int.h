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
#include "store.h"

#include <jansson.h>

gs_store *gs_replica_store(gs_replica *r);
/* The identity as it is: sk NULL while a sealed key is locked. */
const gs_identity *gs_replica_identity(const gs_replica *r);
const uint8_t *gs_replica_network(const gs_replica *r);
const gs_config *gs_replica_cfg(const gs_replica *r);
const char *gs_replica_dir(const gs_replica *r);
/* The device key of r, to sign and to derive the transport key from;
 * *id is borrowed from r. A sealed key still locked is unlocked with pass
 * (passlen bytes; NULL: none) first. GS_EBADPASS, with a sentence in why,
 * if the key is sealed and pass is missing or wrong. The agent and sync
 * take the key through this, never gs_replica_identity, so that a locked
 * key is an error and not a NULL secret key. */
GS_MUST_CHECK gs_err gs_replica_key(gs_replica *r, const char *pass,
                                    size_t passlen, const gs_identity **id,
                                    char *why, size_t why_len);

/* An op as history shows it: {"author", "scope", "seq", "at", "hlc",
 * "hash", "type", "id", "updates"}; a new reference, NULL if the bytes
 * are not an op. */
json_t *gs_replica_op_json(const uint8_t *bytes, size_t len,
                           const uint8_t hash[GS_HASH_BYTES]);

#endif /* GS_STORE_REPLICA_INT_H */
