/*
 * testutil.h — helpers shared by the cmocka tests: a seeded PRNG that
 * prints its seed and replays with GS_SEED=, hex conversion, deterministic
 * keys, reading files from the source tree, scratch directories and
 * replicas in them, and ops and certificates written as a test's devices
 * and authority.
 *
 * cmocka needs <stdarg.h>, <stddef.h>, <setjmp.h> before <cmocka.h>; this
 * header includes them in that order, so tests include only testutil.h.
 */
#ifndef GS_TESTUTIL_H
#define GS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gridsync.h"
#include "op.h"
#include "store.h"

/* xoshiro256** seeded by splitmix64: fast, reproducible. */
typedef struct gs_rng {
    uint64_t s[4];
} gs_rng;

void gs_rng_seed(gs_rng *r, uint64_t seed);
uint64_t gs_rng_next(gs_rng *r);
/* uniform in [0, n), n > 0 */
uint64_t gs_rng_below(gs_rng *r, uint64_t n);

/* The run's seed: GS_SEED from the environment if set, else from the
 * clock; printed once as "seed: N (replay with GS_SEED=N)". */
uint64_t gs_test_seed(void);

/* Hex of n bytes into out (2n+1 bytes). */
void gs_hex(const uint8_t *p, size_t n, char *out);
/* Parse hex into out (max bytes); returns bytes written or -1. */
long gs_unhex(const char *hex, uint8_t *out, size_t max);

/* Ed25519 key pair from a one-byte seed pattern: seed bytes are
 * (b + i) & 0xff for i in 0..31. Deterministic across runs. */
void gs_test_keypair(uint8_t b, uint8_t pk[GS_KEY_BYTES],
                     uint8_t sk[GS_SECRETKEY_BYTES]);

/* Whole file into a malloc'd, NUL-terminated buffer (NULL on error). */
char *gs_read_file(const char *path, size_t *len);

/* Remove dir and everything below it (test scratch directories). */
void gs_test_rmtree(const char *dir);

/* ---- scratch directories, replicas, ports ---- */

/* mkdtemp of the template tmpl (e.g. "/tmp/gs-test-NAME-XXXXXX") into dir
 * (cap bytes). Fails the test if it does not fit or cannot be made; the
 * test removes it with gs_test_rmtree. */
void gs_test_mkdtemp(char *dir, size_t cap, const char *tmpl);

/* A new store (gs_store_open, created) in a new scratch directory made
 * from the template dir ("/tmp/gs-...-XXXXXX", rewritten in place). Fails
 * the test on any error; close it and gs_test_rmtree(dir) after. */
gs_store *gs_test_store_new(char *dir);

/* A cmocka state with a scratch directory: size bytes, zeroed, of a struct
 * whose first member is char dir[GS_TEST_DIR_BYTES], made there by
 * gs_test_mkdtemp from tmpl. Being first lets gs_test_dir_teardown end any
 * such struct. Fails the test on any error. */
#define GS_TEST_DIR_BYTES 64
void *gs_test_dir_new(size_t size, const char *tmpl);
/* cmocka teardown of a gs_test_dir_new state: removes the directory and
 * everything below it and frees the state. */
int gs_test_dir_teardown(void **state);

/* gs_replica_init_pass of dir: a device of the network whose authority has
 * the key authority (hex; NULL: the replica is its own network's
 * authority), writing in scope, named name (NULL: unnamed), its key sealed
 * with pass (passlen bytes; NULL: kept in clear). The device key's hex
 * goes to key. Fails the test with init's reason on any error. */
void gs_test_replica_init(const char *dir, const char *authority,
                          const char *scope, const char *name, const char *pass,
                          size_t passlen, char key[65]);

/* gs_replica_open of dir (the caller closes it); fails the test with the
 * reason on any error. */
gs_replica *gs_test_replica_open(const char *dir);

/* A cmocka state: a standalone replica (its own authority, so it may
 * redeem points) at base/r in a fresh mkdtemp directory made from tmpl,
 * with replica.scope scope and replica.name name, open in r. */
typedef struct gs_test_rdir {
    char base[GS_TEST_DIR_BYTES]; /* first: gs_test_dir_new */
    char dir[96];
    char key[65];
    gs_replica *r;
} gs_test_rdir;
gs_test_rdir *gs_test_rdir_new(const char *tmpl, const char *scope,
                               const char *name);
/* Close the replica and remove the directory (a cmocka teardown). */
int gs_test_rdir_teardown(void **state);

/* A TCP port free on 127.0.0.1 now: bound, read and closed again, for the
 * test's agent to bind next. */
int gs_test_free_port(void);

/* A writer for store tests: one feed of one device in one scope, writing
 * lww text fields, each op signed for network. */
struct gs_test_writer {
    uint8_t pk[GS_KEY_BYTES], sk[GS_SECRETKEY_BYTES];
    const char *scope;
    const uint8_t *network;
    uint64_t seq, hlc;
    uint8_t prev[GS_HASH_BYTES];
};

struct gs_test_op {
    uint8_t bytes[512];
    size_t n;
    gs_sig sig;
};

void gs_test_writer_init(struct gs_test_writer *w, uint8_t key_seed,
                         const char *scope, const uint8_t *network);
/* The writer's next op: field = text on (type, id). */
void gs_test_writer_op(struct gs_test_writer *w, const char *type,
                       const char *id, const char *field, const char *text,
                       struct gs_test_op *out);
/* The writer's next op: one update of any kind, its payload pay
 * (borrowed), to field on (type, id). Tests use it for ops the rules
 * refuse, such as a certificate written by a device. */
void gs_test_writer_update(struct gs_test_writer *w, const char *type,
                           const char *id, const char *field, uint8_t kind,
                           const gs_buf *pay, struct gs_test_op *out);

/* A certificate as the tests write it (store/trust.h): the scopes dev may
 * write (given as its read scopes too), the shop flag, and until (ms since
 * the epoch; 0: no `until` field, no end). */
struct gs_test_cert {
    const char *const *write;
    size_t n_write;
    bool shop;
    uint64_t until_ms;
};

/* The op that follows head on author's `trust` feed: cert/HEX(dev) with
 * c's fields, hlc (1700000000000 + seq) ms, signed with sk for network
 * net. author is the authority when it is net; any other key makes a
 * certificate no store accepts (GS_ESCOPE). */
void gs_test_cert_op(const gs_feed_head *head,
                     const uint8_t author[GS_KEY_BYTES],
                     const uint8_t sk[GS_SECRETKEY_BYTES],
                     const uint8_t net[GS_KEY_BYTES],
                     const uint8_t dev[GS_KEY_BYTES],
                     const struct gs_test_cert *c, struct gs_test_op *out);

/* The same for revocation/HEX(dev): its `cutoff` set holds the n elements
 * given ("SCOPE SEQ HASHHEX" or "SCOPE SEQ HASHHEX SIGHEX", store/trust.h,
 * see gs_test_cutoff; tests may give malformed ones), its `at` the op's
 * ms. The op holds 512 bytes: one 4-field element fits, not two. */
void gs_test_revocation_op(const gs_feed_head *head,
                           const uint8_t author[GS_KEY_BYTES],
                           const uint8_t sk[GS_SECRETKEY_BYTES],
                           const uint8_t net[GS_KEY_BYTES],
                           const uint8_t dev[GS_KEY_BYTES],
                           const char *const *cutoff, size_t n,
                           struct gs_test_op *out);

/* A cutoff element (store/trust.h) into out (len bytes; 512 hold any):
 * "SCOPE SEQ HASHHEX" for the op of scope at seq with content hash hash,
 * then " SIGHEX" (the 4-field form gs_authority_revoke writes) with the
 * 64 signature bytes of sig when sig is not NULL. */
void gs_test_cutoff(const char *scope, uint64_t seq,
                    const uint8_t hash[GS_HASH_BYTES], const gs_sig *sig,
                    char *out, size_t len);

/* Enroll device dev in store s as the authority of network net (net_sk
 * its secret key: the network id is the authority's key, store/trust.h):
 * one certificate op in the `trust` scope letting dev write and read
 * under `write` (a scope and everything below it), with the shop flag if
 * shop. The op depends only on the arguments and the authority feed's
 * head in s, so stores enrolled in the same order hold the same ops and
 * never fork the authority's feed. Fails the test on any error. */
void gs_test_enroll(gs_store *s, const uint8_t net[GS_KEY_BYTES],
                    const uint8_t net_sk[GS_SECRETKEY_BYTES],
                    const uint8_t dev[GS_KEY_BYTES], const char *write,
                    bool shop);
/* gs_test_enroll with every field of the certificate given. */
void gs_test_enroll_cert(gs_store *s, const uint8_t net[GS_KEY_BYTES],
                         const uint8_t net_sk[GS_SECRETKEY_BYTES],
                         const uint8_t dev[GS_KEY_BYTES],
                         const struct gs_test_cert *c);
/* Revoke dev in s as the authority of net, with the cutoff elements given
 * (gs_test_revocation_op); the same ordering rule as gs_test_enroll. */
void gs_test_revoke(gs_store *s, const uint8_t net[GS_KEY_BYTES],
                    const uint8_t net_sk[GS_SECRETKEY_BYTES],
                    const uint8_t dev[GS_KEY_BYTES], const char *const *cutoff,
                    size_t n);

#endif
