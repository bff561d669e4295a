/*
 * identity.c — the device's Ed25519 key pair and its key file.
 *
 * Invariants:
 * - Secret material (the 64-byte secret key, the seed, the seed's hex, the
 *   file image, the secretbox key) only ever sits in sodium_malloc
 *   memory, wiped by sodium_free (it zeroes before unmapping). Never on
 *   the stack, never in a malloc'd buffer. Salt, nonce and box are not
 *   secret.
 * - The key file holds the seed only; pk and sk are derived on load, so a
 *   file cannot carry a public key that does not match its secret.
 * - A key file open to group or others is refused, not "fixed": the key
 *   may already have leaked, and the operator must know.
 * - A key file is never overwritten with another key: a device that lost
 *   its state gets a new identity (DESIGN §3). gs_identity_seal replaces
 *   the file only to re-encode the same seed under a new passphrase.
 *
 * Sealing: the header's third word names how the seed is kept ("plain"
 * or "sealed"). A sealed seed is a crypto_secretbox under a key that
 * Argon2id (crypto_pwhash) derives from the passphrase; the salt, the
 * Argon2 costs and the nonce sit beside it in the file. Costs named by a
 * file are bounded before Argon2 runs.
 *
 * SPEC: DESIGN.md §5 (secret keys 0600, optionally sealed).
 */
#include "identity.h"

#include "file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_PREFIX "gridsync-key "
#define HDR_PLAIN "gridsync-key v1 plain"
#define HDR_SEALED "gridsync-key v1 sealed"
#define SEED_HEX_LEN (2 * GS_IDENTITY_SEED_BYTES)

/* Sealing: Argon2id at libsodium's "interactive" cost (64 MiB, ~0.1 s on
 * a PC, bearable on a tablet). Files may name other costs, bounded on
 * load by the _MAX values (libsodium's "moderate" memory, 256 MiB, and
 * "sensitive" ops): a key file cannot make a tablet spend a gigabyte. */
#define SEAL_ALG "argon2id13"
#define SEAL_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define SEAL_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE
#define SEAL_OPSLIMIT_MAX crypto_pwhash_OPSLIMIT_SENSITIVE
#define SEAL_MEMLIMIT_MAX crypto_pwhash_MEMLIMIT_MODERATE

static_assert(GS_IDENTITY_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk");
static_assert(GS_IDENTITY_SK_BYTES == crypto_sign_SECRETKEYBYTES, "sk");
static_assert(GS_IDENTITY_SEED_BYTES == crypto_sign_SEEDBYTES, "seed");

static gs_err
sodium_ready(void)
{
    /* Idempotent and thread-safe; -1 means no usable random source. */
    return sodium_init() < 0 ? GS_EIO : GS_OK;
}

gs_err
gs_identity_generate(gs_identity *id)
{
    uint8_t pk[GS_IDENTITY_PK_BYTES];
    uint8_t *sk = NULL;
    gs_err rc;

    if (!id)
        return GS_EINVAL;
    rc = sodium_ready();
    if (rc != GS_OK)
        goto out;
    sk = sodium_malloc(GS_IDENTITY_SK_BYTES);
    if (!sk) {
        rc = GS_ENOMEM;
        goto out;
    }
    if (crypto_sign_keypair(pk, sk) != 0 || sodium_mprotect_readonly(sk)) {
        rc = GS_EIO;
        goto out;
    }
    memcpy(id->pk, pk, sizeof pk);
    id->sk = sk;
    sk = NULL;
out:
    sodium_free(sk); /* NULL-safe; zeroes before unmapping */
    return rc;
}

void
gs_identity_fini(gs_identity *id)
{
    if (!id)
        return;
    /* sodium_free makes the region writable again, zeroes and frees it. */
    sodium_free(id->sk);
    id->sk = NULL;
    sodium_memzero(id->pk, sizeof id->pk);
}

void
gs_identity_hex(const uint8_t pk[GS_IDENTITY_PK_BYTES],
                char out[GS_IDENTITY_HEX_BYTES])
{
    sodium_bin2hex(out, GS_IDENTITY_HEX_BYTES, pk, GS_IDENTITY_PK_BYTES);
}

gs_err
gs_identity_hex_decode(const char *hex, size_t len,
                       uint8_t pk[GS_IDENTITY_PK_BYTES])
{
    uint8_t key[GS_IDENTITY_PK_BYTES];
    size_t got = 0;
    if (hex == NULL || len != 2 * GS_IDENTITY_PK_BYTES)
        return GS_EINVAL;
    /* no ignore set, no end pointer: a byte that is not a hex digit fails */
    if (sodium_hex2bin(key, sizeof key, hex, len, NULL, &got, NULL) != 0 ||
        got != sizeof key)
        return GS_EINVAL;
    memcpy(pk, key, sizeof key);
    return GS_OK;
}

gs_err
gs_identity_save(const gs_identity *id, const char *path)
{
    /* header, newline, seed hex, newline */
    enum { IMG_LEN = sizeof HDR_PLAIN - 1 + 1 + SEED_HEX_LEN + 1 };
    uint8_t *seed = NULL;
    char *img = NULL;
    gs_err rc;

    if (!id || !id->sk || !path || !*path)
        return GS_EINVAL;
    rc = sodium_ready();
    if (rc != GS_OK)
        goto out;
    seed = sodium_malloc(GS_IDENTITY_SEED_BYTES);
    img = sodium_malloc(IMG_LEN + 1); /* + NUL written by bin2hex */
    if (!seed || !img) {
        rc = GS_ENOMEM;
        goto out;
    }
    crypto_sign_ed25519_sk_to_seed(seed, id->sk);
    memcpy(img, HDR_PLAIN "\n", sizeof HDR_PLAIN);
    sodium_bin2hex(img + sizeof HDR_PLAIN, SEED_HEX_LEN + 1, seed,
                   GS_IDENTITY_SEED_BYTES);
    img[IMG_LEN - 1] = '\n';
    rc = gs_file_write_atomic(path, img, IMG_LEN, 0600,
                              GS_FILE_NOREPLACE | GS_FILE_EXACT_MODE);
out:
    sodium_free(seed);
    sodium_free(img);
    return rc;
}

/* The sealed image of id's seed under pass, written to path with flags
 * (gs_file_write_atomic's). */
static gs_err
save_sealed(const gs_identity *id, const char *path, const char *pass,
            size_t passlen, unsigned flags)
{
    enum { IMG_MAX = 512 };
    uint8_t salt[crypto_pwhash_SALTBYTES];
    uint8_t nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[GS_IDENTITY_SEED_BYTES + crypto_secretbox_MACBYTES];
    char salt_hex[2 * sizeof salt + 1], nonce_hex[2 * sizeof nonce + 1];
    char box_hex[2 * sizeof box + 1];
    uint8_t *seed = NULL, *key = NULL;
    char *img = NULL;
    int n;
    gs_err rc;

    if (!id || !id->sk || !path || !*path || !pass || passlen == 0 ||
        passlen > crypto_pwhash_PASSWD_MAX)
        return GS_EINVAL;
    rc = sodium_ready();
    if (rc != GS_OK)
        goto out;
    seed = sodium_malloc(GS_IDENTITY_SEED_BYTES);
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    img = sodium_malloc(IMG_MAX);
    if (!seed || !key || !img) {
        rc = GS_ENOMEM;
        goto out;
    }
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, passlen, salt,
                      SEAL_OPSLIMIT, SEAL_MEMLIMIT,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        rc = GS_ENOMEM; /* Argon2 could not get its memory */
        goto out;
    }
    crypto_sign_ed25519_sk_to_seed(seed, id->sk);
    crypto_secretbox_easy(box, seed, GS_IDENTITY_SEED_BYTES, nonce, key);
    /* salt, nonce and box are not secret: plain buffers are fine */
    sodium_bin2hex(salt_hex, sizeof salt_hex, salt, sizeof salt);
    sodium_bin2hex(nonce_hex, sizeof nonce_hex, nonce, sizeof nonce);
    sodium_bin2hex(box_hex, sizeof box_hex, box, sizeof box);
    n = snprintf(
        img, IMG_MAX, HDR_SEALED "\n" SEAL_ALG " %llu %llu %s\n%s %s\n",
        (unsigned long long)SEAL_OPSLIMIT, (unsigned long long)SEAL_MEMLIMIT,
        salt_hex, nonce_hex, box_hex);
    if (n < 0 || n >= IMG_MAX) {
        rc = GS_EIO; /* cannot happen: the image has a fixed shape */
        goto out;
    }
    rc = gs_file_write_atomic(path, img, (size_t)n, 0600,
                              flags | GS_FILE_EXACT_MODE);
out:
    sodium_free(seed);
    sodium_free(key);
    sodium_free(img);
    return rc;
}

gs_err
gs_identity_save_sealed(const gs_identity *id, const char *path,
                        const char *pass, size_t passlen)
{
    return save_sealed(id, path, pass, passlen, GS_FILE_NOREPLACE);
}

gs_err
gs_identity_seal(const gs_identity *id, const char *path, const char *pass,
                 size_t passlen)
{
    struct stat st;

    if (!path || !*path)
        return GS_EINVAL;
    /* Only a key file that is there is re-encoded: this never makes a
     * key file where there was none. */
    if (lstat(path, &st) != 0)
        return gs_file_errno(errno);
    if (!S_ISREG(st.st_mode))
        return GS_EMALFORMED;
    return save_sealed(id, path, pass, passlen, 0);
}

/* Read the whole key file into sodium memory (*img, caller sodium_free's
 * it) after checking its type and mode. */
static gs_err
read_key_file(const char *path, char **img, size_t *len)
{
    gs_err rc = GS_OK;
    char *buf = NULL;
    size_t n = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        rc = gs_file_errno(errno);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = gs_file_errno(errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = GS_EMALFORMED;
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = GS_EPERM;
        goto out;
    }
    if (st.st_size > GS_IDENTITY_FILE_MAX) {
        rc = GS_EMALFORMED;
        goto out;
    }
    /* One byte more than the cap, so a file that grew after fstat is
     * still caught. */
    buf = sodium_malloc(GS_IDENTITY_FILE_MAX + 1);
    if (!buf) {
        rc = GS_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, GS_IDENTITY_FILE_MAX + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = gs_file_errno(errno);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > GS_IDENTITY_FILE_MAX) {
            rc = GS_EMALFORMED;
            goto out;
        }
    }
    *img = buf;
    *len = n;
    buf = NULL;
out:
    sodium_free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Body of a "plain" key file: the seed's hex and an optional final
 * newline, nothing else. */
static gs_err
seed_from_plain(const char *body, size_t n, uint8_t *seed)
{
    size_t bin_len = 0;
    const char *end = NULL;

    if (n == SEED_HEX_LEN + 1 && body[SEED_HEX_LEN] == '\n')
        n--;
    if (n != SEED_HEX_LEN)
        return GS_EMALFORMED;
    if (sodium_hex2bin(seed, GS_IDENTITY_SEED_BYTES, body, n, NULL, &bin_len,
                       &end) != 0 ||
        bin_len != GS_IDENTITY_SEED_BYTES || end != body + n)
        return GS_EMALFORMED;
    return GS_OK;
}

/* Strict cursor over a sealed body: each take_* consumes exactly what it
 * names or fails. */
static bool
take_lit(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n))
        return false;
    *p += n;
    return true;
}

static bool
take_u64(const char **p, const char *end, uint64_t *v)
{
    const char *q = *p;
    uint64_t x = 0;
    while (q < end && *q >= '0' && *q <= '9' && q - *p < 20) {
        unsigned d = (unsigned)(*q - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
        q++;
    }
    if (q == *p)
        return false;
    *p = q;
    *v = x;
    return true;
}

static bool
take_hex(const char **p, const char *end, uint8_t *out, size_t n)
{
    size_t bin_len = 0;
    const char *stop = NULL;
    if ((size_t)(end - *p) < 2 * n ||
        sodium_hex2bin(out, n, *p, 2 * n, NULL, &bin_len, &stop) != 0 ||
        bin_len != n || stop != *p + 2 * n)
        return false;
    *p += 2 * n;
    return true;
}

/* Body of a "sealed" key file (format in identity.h). Limits are bounded
 * before Argon2 runs, so a hostile file cannot make us allocate gigabytes
 * or spin for minutes. A wrong passphrase and a tampered box look alike
 * to secretbox: both are GS_EBADPASS. */
static gs_err
seed_from_sealed(const char *body, size_t n, const char *pass, size_t passlen,
                 uint8_t *seed)
{
    uint8_t salt[crypto_pwhash_SALTBYTES];
    uint8_t nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[GS_IDENTITY_SEED_BYTES + crypto_secretbox_MACBYTES];
    const char *p = body, *end = body + n;
    uint64_t ops = 0, mem = 0;
    uint8_t *key = NULL;
    gs_err rc = GS_OK;

    if (!take_lit(&p, end, SEAL_ALG " ") || !take_u64(&p, end, &ops) ||
        !take_lit(&p, end, " ") || !take_u64(&p, end, &mem) ||
        !take_lit(&p, end, " ") || !take_hex(&p, end, salt, sizeof salt) ||
        !take_lit(&p, end, "\n") || !take_hex(&p, end, nonce, sizeof nonce) ||
        !take_lit(&p, end, " ") || !take_hex(&p, end, box, sizeof box)) {
        rc = GS_EMALFORMED;
        goto out;
    }
    if (p < end && *p == '\n')
        p++;
    if (p != end || ops < crypto_pwhash_OPSLIMIT_MIN ||
        ops > SEAL_OPSLIMIT_MAX || mem < crypto_pwhash_MEMLIMIT_MIN ||
        mem > SEAL_MEMLIMIT_MAX) {
        rc = GS_EMALFORMED;
        goto out;
    }
    if (!pass || passlen == 0 || passlen > crypto_pwhash_PASSWD_MAX) {
        rc = GS_EBADPASS; /* sealed: the caller must ask for it */
        goto out;
    }
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    if (!key) {
        rc = GS_ENOMEM;
        goto out;
    }
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, passlen, salt,
                      (unsigned long long)ops, (size_t)mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        rc = GS_ENOMEM;
        goto out;
    }
    if (crypto_secretbox_open_easy(seed, box, sizeof box, nonce, key) != 0)
        rc = GS_EBADPASS;
out:
    sodium_free(key);
    return rc;
}

/* Split the header line off img and decode the seed it announces. */
static gs_err
load_seed(const char *img, size_t len, const char *pass, size_t passlen,
          uint8_t *seed)
{
    const char *nl = memchr(img, '\n', len);
    size_t hlen;

    if (!nl)
        return GS_EMALFORMED;
    hlen = (size_t)(nl - img);
    if (hlen == sizeof HDR_PLAIN - 1 && !memcmp(img, HDR_PLAIN, hlen))
        return seed_from_plain(nl + 1, len - hlen - 1, seed);
    if (hlen == sizeof HDR_SEALED - 1 && !memcmp(img, HDR_SEALED, hlen))
        return seed_from_sealed(nl + 1, len - hlen - 1, pass, passlen, seed);
    if (hlen >= sizeof HDR_PREFIX - 1 &&
        !memcmp(img, HDR_PREFIX, sizeof HDR_PREFIX - 1))
        return GS_EVERSION; /* ours, but a version we do not know */
    return GS_EMALFORMED;
}

gs_err
gs_identity_load(const char *path, gs_identity *id)
{
    return gs_identity_load_pass(path, NULL, 0, id);
}

gs_err
gs_identity_load_pass(const char *path, const char *pass, size_t passlen,
                      gs_identity *id)
{
    uint8_t pk[GS_IDENTITY_PK_BYTES];
    uint8_t *seed = NULL, *sk = NULL;
    char *img = NULL;
    size_t len = 0;
    gs_err rc;

    if (!path || !*path || !id)
        return GS_EINVAL;
    rc = sodium_ready();
    if (rc != GS_OK)
        goto out;
    rc = read_key_file(path, &img, &len);
    if (rc != GS_OK)
        goto out;
    seed = sodium_malloc(GS_IDENTITY_SEED_BYTES);
    sk = sodium_malloc(GS_IDENTITY_SK_BYTES);
    if (!seed || !sk) {
        rc = GS_ENOMEM;
        goto out;
    }
    rc = load_seed(img, len, pass, passlen, seed);
    if (rc != GS_OK)
        goto out;
    if (crypto_sign_seed_keypair(pk, sk, seed) != 0 ||
        sodium_mprotect_readonly(sk) != 0) {
        rc = GS_EIO;
        goto out;
    }
    memcpy(id->pk, pk, sizeof pk);
    id->sk = sk;
    sk = NULL;
out:
    sodium_free(img);
    sodium_free(seed);
    sodium_free(sk);
    return rc;
}
