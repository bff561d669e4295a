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

gs_store *gs_replica_store(gs_replica *r);
const gs_identity *gs_replica_identity(const gs_replica *r);
const uint8_t *gs_replica_network(const gs_replica *r);
const gs_config *gs_replica_cfg(const gs_replica *r);
const char *gs_replica_dir(const gs_replica *r);

#endif /* GS_STORE_REPLICA_INT_H */
