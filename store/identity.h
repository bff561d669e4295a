/*
 * identity.h — the device identity: one Ed25519 key pair per replica.
 *
 * The public key names the device everywhere (op author, certificate,
 * CURVE transport key). The secret key lives only in sodium_malloc memory
 * (guard pages, locked, zeroed on free) and is read-only once written.
 *
 * Key file (DESIGN §5): mode 0600, created atomically, never overwritten
 * with another key (a reinstall is a new identity, DESIGN §3; only
 * gs_identity_seal replaces it, with the same seed). Format, text:
 *
 *     gridsync-key v1 plain\n
 *     <64 lowercase hex digits: the 32-byte Ed25519 seed>\n
 *
 * Only the seed is stored; the public key and the 64-byte secret key are
 * derived from it on load. Optionally the seed is sealed by a passphrase
 * (DESIGN §5):
 *
 *     gridsync-key v1 sealed\n
 *     argon2id13 <opslimit> <memlimit> <salt, 32 hex>\n
 *     <secretbox nonce, 48 hex> <secretbox of the seed, 96 hex>\n
 *
 * The secretbox key is crypto_pwhash (Argon2id) of the passphrase.
 *
 * Thread safety: a gs_identity has one owner; its sk may be read (signed
 * with) from several threads at once, since it is read-only.
 */
#ifndef GS_IDENTITY_H
#define GS_IDENTITY_H

#include "gridsync.h"

#include <stddef.h>
#include <stdint.h>

#define GS_IDENTITY_PK_BYTES 32
#define GS_IDENTITY_SK_BYTES 64 /* libsodium Ed25519 secret key */
#define GS_IDENTITY_SEED_BYTES 32
#define GS_IDENTITY_HEX_BYTES 65  /* 64 hex digits and a NUL */
#define GS_IDENTITY_FILE_MAX 4096 /* larger key files are refused */

typedef struct gs_identity {
    uint8_t pk[GS_IDENTITY_PK_BYTES];
    uint8_t *sk; /* GS_IDENTITY_SK_BYTES in sodium_malloc memory, read-only;
                    NULL when the identity is empty */
} gs_identity;

/* Make a fresh key pair from the OS random source. *id is written only on
 * success (then the caller owns it and ends it with gs_identity_fini).
 * Errors: GS_ENOMEM (sodium_malloc failed), GS_EIO (libsodium could not
 * initialise, e.g. no random source). */
GS_MUST_CHECK gs_err gs_identity_generate(gs_identity *id);

/* Wipe and free the secret key, zero the public key. NULL-safe, and safe
 * on an identity already ended or never filled if it was zeroed. */
void gs_identity_fini(gs_identity *id);

/* Write id's seed to a new key file at path (format above), mode 0600,
 * atomically (path.tmp, fsync, link/rename, fsync of the directory).
 * Borrows id. Errors: GS_EEXIST (path, or path.tmp, exists — never
 * overwritten), GS_EINVAL (id empty), GS_ENOTFOUND (directory missing),
 * GS_EPERM (no permission), GS_EFULL (disk full), GS_EIO, GS_ENOMEM.
 * On failure nothing is left at path or path.tmp. */
GS_MUST_CHECK gs_err gs_identity_save(const gs_identity *id, const char *path);

/* Write id's seed sealed by passphrase pass (passlen bytes, borrowed,
 * need not be NUL-terminated; must not be empty) to a new key file at
 * path, as gs_identity_save does. Costs about 64 MiB and ~0.1 s (Argon2id
 * at libsodium's interactive limits). Errors: as gs_identity_save, and
 * GS_EINVAL for an empty passphrase, GS_ENOMEM if Argon2 lacks memory. */
GS_MUST_CHECK gs_err gs_identity_save_sealed(const gs_identity *id,
                                             const char *path, const char *pass,
                                             size_t passlen);

/* Replace the key file at path — which must exist and hold id, loaded
 * from it — by id's seed sealed with pass (passlen bytes, borrowed, not
 * empty): adds a passphrase to a plain key file or changes the one of a
 * sealed file. Atomic (path.tmp, fsync, rename, fsync of the directory):
 * a crash leaves the old file or the new one. The old file's bytes may
 * linger in free disk blocks; a key that must never be on disk in clear
 * is sealed when it is made (gs_identity_save_sealed). Borrows id.
 * Errors: GS_ENOTFOUND (no file at path), GS_EMALFORMED (not a regular
 * file), GS_EINVAL (id empty, pass empty), and those of
 * gs_identity_save but GS_EEXIST only for a leftover path.tmp. */
GS_MUST_CHECK gs_err gs_identity_seal(const gs_identity *id, const char *path,
                                      const char *pass, size_t passlen);

/* Read the key file at path and derive the key pair; a sealed file is
 * opened with pass (passlen bytes; pass NULL = no passphrase), a plain
 * file ignores pass. *id is written only on success (caller ends it with
 * gs_identity_fini).
 * Errors:
 *   GS_ENOTFOUND  no file at path
 *   GS_EPERM      the file is open to group or others (any of mode 077):
 *                 the caller should say "key file is readable by others;
 *                 chmod 600 it" — or the file cannot be read at all
 *   GS_EBADPASS   the file is sealed and pass is NULL, empty or wrong (or
 *                 the sealed box was altered: secretbox cannot tell)
 *   GS_EMALFORMED not a key file: wrong header, bad hex, truncated, extra
 *                 bytes, Argon2 costs out of bounds, not a regular file,
 *                 or over GS_IDENTITY_FILE_MAX
 *   GS_EVERSION   a gridsync key file of another kind or version
 *   GS_EIO, GS_ENOMEM */
GS_MUST_CHECK gs_err gs_identity_load_pass(const char *path, const char *pass,
                                           size_t passlen, gs_identity *id);

/* gs_identity_load_pass(path, NULL, 0, id): a sealed file gives
 * GS_EBADPASS, so the caller knows to ask for the passphrase. */
GS_MUST_CHECK gs_err gs_identity_load(const char *path, gs_identity *id);

/* Lowercase hex of a public key, for printing the device key. */
void gs_identity_hex(const uint8_t pk[GS_IDENTITY_PK_BYTES],
                     char out[GS_IDENTITY_HEX_BYTES]);

/* The public key whose hex is hex (len bytes, borrowed, need not be
 * NUL-terminated): exactly 64 hex digits, either case, nothing around
 * them — a device key as a person, a config file or an entity id gives
 * it. pk is written only on success. Errors: GS_EINVAL (hex NULL, another
 * length, or a byte that is not a hex digit). */
GS_MUST_CHECK gs_err gs_identity_hex_decode(const char *hex, size_t len,
                                            uint8_t pk[GS_IDENTITY_PK_BYTES]);

#endif
