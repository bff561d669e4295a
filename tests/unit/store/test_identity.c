/*
 * test_identity.c — the device key file: created 0600 and atomically,
 * never overwritten, refused when open to others, holding the seed and
 * nothing else; every damaged or foreign file is an error code, never a
 * crash; a sealed file holds the key in no readable form (issue 5, must
 * show 9). Each test works in its own mkdtemp directory, removed afterwards.
 */
#include "testutil.h"

#include "identity.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER "gridsync-key v1 plain\n"

typedef struct tdir {
    char dir[GS_TEST_DIR_BYTES]; /* first: gs_test_dir_new */
    char path[128];              /* dir/key */
} tdir;

static int
setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    tdir *t = gs_test_dir_new(sizeof *t, "/tmp/gs-test-identity-XXXXXX");
    snprintf(t->path, sizeof t->path, "%s/key", t->dir);
    *state = t;
    return 0;
}

static void
write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

static void
test_identity_save_load_round_trip(void **state)
{
    tdir *t = *state;
    gs_identity a, b;
    struct stat st;
    char hex[GS_IDENTITY_HEX_BYTES], want[GS_IDENTITY_HEX_BYTES];

    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_save(&a, t->path), GS_OK);
    assert_int_equal(stat(t->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    assert_int_equal(gs_identity_load(t->path, &b), GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    assert_int_equal(sodium_memcmp(a.sk, b.sk, GS_IDENTITY_SK_BYTES), 0);

    /* the loaded key signs for the saved public key */
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, b.sk);
    assert_int_equal(
        crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, a.pk), 0);

    gs_identity_hex(b.pk, hex);
    gs_hex(a.pk, sizeof a.pk, want);
    assert_string_equal(hex, want);
    assert_int_equal(strlen(hex), 64);

    /* no temp file left behind */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", t->path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    gs_identity_fini(&a);
    gs_identity_fini(&b);
    assert_null(a.sk);
    gs_identity_fini(&a); /* twice is harmless */
    gs_identity_fini(NULL);
}

static void
test_identity_generate_gives_distinct_keys(void **state)
{
    (void)state;
    gs_identity a, b;
    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_generate(&b), GS_OK);
    assert_memory_not_equal(a.pk, b.pk, sizeof a.pk);
    gs_identity_fini(&a);
    gs_identity_fini(&b);
    uint8_t zero[GS_IDENTITY_PK_BYTES] = {0};
    assert_memory_equal(a.pk, zero, sizeof zero);
}

static void
test_identity_save_refuses_overwrite(void **state)
{
    tdir *t = *state;
    gs_identity a, b, c;
    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_generate(&b), GS_OK);
    assert_int_equal(gs_identity_save(&a, t->path), GS_OK);
    assert_int_equal(gs_identity_save(&b, t->path), GS_EEXIST);
    assert_int_equal(gs_identity_load(t->path, &c), GS_OK);
    assert_memory_equal(a.pk, c.pk, sizeof a.pk); /* the first key stays */
    gs_identity_fini(&c);

    /* any file at the path is kept, key or not */
    char other[160];
    snprintf(other, sizeof other, "%s/notes", t->dir);
    write_file(other, "x", 1, 0644);
    assert_int_equal(gs_identity_save(&a, other), GS_EEXIST);

    /* a leftover temp file is not ours to remove */
    char p2[160], tmp[170];
    snprintf(p2, sizeof p2, "%s/key2", t->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p2);
    write_file(tmp, "y", 1, 0600);
    assert_int_equal(gs_identity_save(&a, p2), GS_EEXIST);
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_not_equal(access(p2, F_OK), 0);

    gs_identity_fini(&a);
    gs_identity_fini(&b);
}

static void
test_identity_save_refuses_bad_calls(void **state)
{
    tdir *t = *state;
    gs_identity a, empty = {{0}, NULL};
    char p[200];
    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_save(&empty, t->path), GS_EINVAL);
    assert_int_equal(gs_identity_save(&a, ""), GS_EINVAL);
    snprintf(p, sizeof p, "%s/no/such/dir/key", t->dir);
    assert_int_equal(gs_identity_save(&a, p), GS_ENOTFOUND);
    assert_int_not_equal(access(t->path, F_OK), 0);
    gs_identity_fini(&a);
}

static void
test_identity_load_refuses_file_open_to_others(void **state)
{
    tdir *t = *state;
    gs_identity a, b;
    const mode_t open_modes[] = {0644, 0640, 0604, 0660, 0602,
                                 0620, 0601, 0610, 0666};
    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_save(&a, t->path), GS_OK);
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        assert_int_equal(chmod(t->path, open_modes[i]), 0);
        b.sk = (uint8_t *)"untouched";
        assert_int_equal(gs_identity_load(t->path, &b), GS_EPERM);
        assert_string_equal((char *)b.sk, "untouched"); /* *out unwritten */
    }
    /* owner-only modes are fine, read-only included */
    assert_int_equal(chmod(t->path, 0400), 0);
    assert_int_equal(gs_identity_load(t->path, &b), GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    gs_identity_fini(&b);
    gs_identity_fini(&a);
}

static void
test_identity_load_refuses_garbage(void **state)
{
    tdir *t = *state;
    static const char hex64[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    static const struct {
        const char *text;
        gs_err want;
    } cases[] = {
        {"", GS_EMALFORMED},
        {"hello\n", GS_EMALFORMED},
        {"gridsync-key v1 plain", GS_EMALFORMED}, /* no newline */
        {HEADER, GS_EMALFORMED},
        {HEADER "\n", GS_EMALFORMED},
        {HEADER "0001020304050607", GS_EMALFORMED},
        {HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1"
                "e1\n",
         GS_EMALFORMED}, /* 63 digits */
        {HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1"
                "e1f00\n",
         GS_EMALFORMED}, /* 66 digits */
        {HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1"
                "e1g\n",
         GS_EMALFORMED}, /* not hex */
        {HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1"
                "e1f\n\n",
         GS_EMALFORMED}, /* trailing line */
        {HEADER "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1"
                "e1f\r\n",
         GS_EMALFORMED},
        {"gridsync-key v1 plain \n"
         "000102030405060708090a0b0c0d0e0f10111213"
         "1415161718191a1b1c1d1e1f\n",
         GS_EVERSION}, /* our prefix, unknown kind */
        {"GRIDSYNC-KEY v1 plain\n"
         "000102030405060708090a0b0c0d0e0f10111213"
         "1415161718191a1b1c1d1e1f\n",
         GS_EMALFORMED},
        {"gridsync-key v2 plain\n"
         "000102030405060708090a0b0c0d0e0f10111213"
         "1415161718191a1b1c1d1e1f\n",
         GS_EVERSION},
        {"gridsync-key v1 sealed\nsalt ...\n", GS_EMALFORMED},
        {"gridsync-key v1 sealed\n", GS_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gs_identity id = {{0}, NULL};
        unlink(t->path);
        write_file(t->path, cases[i].text, strlen(cases[i].text), 0600);
        gs_err rc = gs_identity_load(t->path, &id);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, gs_errname(rc),
                     gs_errname(cases[i].want));
        assert_null(id.sk);
    }

    /* the well-formed file, with and without its final newline, loads */
    char good[128];
    snprintf(good, sizeof good, HEADER "%s\n", hex64);
    for (size_t cut = 0; cut <= 1; cut++) {
        gs_identity id;
        unlink(t->path);
        write_file(t->path, good, strlen(good) - cut, 0600);
        assert_int_equal(gs_identity_load(t->path, &id), GS_OK);
        gs_identity_fini(&id);
    }
    /* every shorter prefix is refused */
    for (size_t n = 0; n + 1 < strlen(good); n++) {
        gs_identity id = {{0}, NULL};
        unlink(t->path);
        write_file(t->path, good, n, 0600);
        assert_int_equal(gs_identity_load(t->path, &id), GS_EMALFORMED);
    }
    /* a big file is refused before it is parsed */
    size_t big = GS_IDENTITY_FILE_MAX + 1;
    char *junk = malloc(big);
    assert_non_null(junk);
    memcpy(junk, good, strlen(good));
    memset(junk + strlen(good), 'a', big - strlen(good));
    unlink(t->path);
    write_file(t->path, junk, big, 0600);
    gs_identity id = {{0}, NULL};
    assert_int_equal(gs_identity_load(t->path, &id), GS_EMALFORMED);
    free(junk);

    /* a directory is not a key file */
    assert_int_equal(gs_identity_load(t->dir, &id), GS_EMALFORMED);
}

static void
test_identity_load_missing_file(void **state)
{
    tdir *t = *state;
    gs_identity id = {{0}, NULL};
    char p[200];
    assert_int_equal(gs_identity_load(t->path, &id), GS_ENOTFOUND);
    snprintf(p, sizeof p, "%s/nodir/key", t->dir);
    assert_int_equal(gs_identity_load(p, &id), GS_ENOTFOUND);
    assert_null(id.sk);
}

static void
test_identity_file_holds_the_seed_only(void **state)
{
    tdir *t = *state;
    gs_identity a;
    uint8_t seed[crypto_sign_SEEDBYTES];
    char seed_hex[65], pk_hex[65], want[128];
    size_t len = 0;

    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_save(&a, t->path), GS_OK);
    crypto_sign_ed25519_sk_to_seed(seed, a.sk);
    gs_hex(seed, sizeof seed, seed_hex);
    gs_hex(a.pk, sizeof a.pk, pk_hex);
    snprintf(want, sizeof want, HEADER "%s\n", seed_hex);

    char *got = gs_read_file(t->path, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    assert_null(strstr(got, pk_hex)); /* no public key, no second half */
    sodium_memzero(got, len);
    free(got);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(seed_hex, sizeof seed_hex);
    gs_identity_fini(&a);
}

static void
test_identity_sealed_round_trip_and_bad_passphrase(void **state)
{
    tdir *t = *state;
    static const char pass[] = "correct horse battery staple";
    gs_identity a, b = {{0}, NULL};
    struct stat st;
    size_t len = 0;
    char seed_hex[65];
    uint8_t seed[crypto_sign_SEEDBYTES];

    assert_int_equal(gs_identity_generate(&a), GS_OK);
    assert_int_equal(gs_identity_save_sealed(&a, t->path, "", 0), GS_EINVAL);
    assert_int_equal(
        gs_identity_save_sealed(&a, t->path, pass, sizeof pass - 1), GS_OK);
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(
        gs_identity_save_sealed(&a, t->path, pass, sizeof pass - 1), GS_EEXIST);

    /* the file holds neither the seed nor the public key in clear */
    char *img = gs_read_file(t->path, &len);
    assert_non_null(img);
    crypto_sign_ed25519_sk_to_seed(seed, a.sk);
    gs_hex(seed, sizeof seed, seed_hex);
    assert_null(strstr(img, seed_hex));
    assert_true(!strncmp(img, "gridsync-key v1 sealed\nargon2id13 ", 34));

    assert_int_equal(gs_identity_load(t->path, &b), GS_EBADPASS);
    assert_null(b.sk);
    assert_int_equal(gs_identity_load_pass(t->path, "wrong", 5, &b),
                     GS_EBADPASS);
    assert_null(b.sk);
    assert_int_equal(gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
                     GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    gs_identity_fini(&b);

    /* a flipped bit in the box reads as a bad passphrase, never as a key */
    char *box = strrchr(img, ' ') + 1;
    box[0] = box[0] == '0' ? '1' : '0';
    unlink(t->path);
    write_file(t->path, img, len, 0600);
    assert_int_equal(gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
                     GS_EBADPASS);
    assert_null(b.sk);

    /* Argon2 costs out of bounds are refused before Argon2 runs */
    /* "argon2id13 OPS MEM SALT": mem points at " SALT..." */
    char *mem = strchr(strchr(img + 34, ' ') + 1, ' ');
    assert_non_null(mem);
    char bad[600];
    snprintf(bad, sizeof bad,
             "gridsync-key v1 sealed\nargon2id13 2 99999999999%s", mem);
    unlink(t->path);
    write_file(t->path, bad, strlen(bad), 0600);
    assert_int_equal(gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
                     GS_EMALFORMED);
    snprintf(bad, sizeof bad, "gridsync-key v1 sealed\nargon2id13 1000%s",
             strchr(img + 34, ' '));
    unlink(t->path);
    write_file(t->path, bad, strlen(bad), 0600);
    assert_int_equal(gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
                     GS_EMALFORMED);
    /* every shorter prefix of a sealed file is refused */
    for (size_t n = 23; n + 1 < len; n += 7) {
        unlink(t->path);
        write_file(t->path, img, n, 0600);
        assert_int_equal(
            gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
            GS_EMALFORMED);
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(seed_hex, sizeof seed_hex);
    free(img);
    gs_identity_fini(&a);
}

/* A key known to the test: the seed is bytes 0xa0 + i, so the test can
 * look for it. The secret key sits in sodium_malloc memory, as
 * gs_identity_fini expects. */
static void
known_identity(gs_identity *id, uint8_t seed[crypto_sign_SEEDBYTES])
{
    for (size_t i = 0; i < crypto_sign_SEEDBYTES; i++)
        seed[i] = (uint8_t)(0xa0 + i);
    id->sk = sodium_malloc(GS_IDENTITY_SK_BYTES);
    assert_non_null(id->sk);
    assert_int_equal(crypto_sign_seed_keypair(id->pk, id->sk, seed), 0);
}

static bool
holds(const char *img, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; n > 0 && i + n <= len; i++)
        if (memcmp(img + i, needle, n) == 0)
            return true;
    return false;
}

/* Whether img holds the n bytes of secret p in any form a careless
 * writer might leave: raw; hex, lower or upper case; base64, standard or
 * URL-safe, at each of the three alignments it can take inside a longer
 * base64 text (only the whole 4-character groups, which do not depend on
 * the bytes around it). */
static const char *
leaks(const char *img, size_t len, const uint8_t *p, size_t n)
{
    char hex[2 * GS_IDENTITY_SK_BYTES + 1], b64[2 * GS_IDENTITY_SK_BYTES];
    assert_true(n <= GS_IDENTITY_SK_BYTES);
    if (holds(img, len, p, n))
        return "raw";
    gs_hex(p, n, hex);
    if (holds(img, len, hex, 2 * n))
        return "hex";
    for (size_t i = 0; i < 2 * n; i++)
        hex[i] = (char)toupper((unsigned char)hex[i]);
    if (holds(img, len, hex, 2 * n))
        return "HEX";
    const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
                            sodium_base64_VARIANT_URLSAFE};
    for (size_t v = 0; v < 2; v++) {
        for (size_t skip = 0; skip < 3; skip++) {
            size_t m = n - skip;
            sodium_bin2base64(b64, sizeof b64, p + skip, m, variants[v]);
            size_t whole = (m / 3) * 4; /* characters of whole groups */
            if (holds(img, len, b64, whole))
                return "base64";
        }
    }
    return NULL;
}

static void
test_identity_sealed_file_holds_no_plaintext_key(void **state)
{
    tdir *t = *state;
    static const char pass[] = "issue 5 must show 9";
    uint8_t seed[crypto_sign_SEEDBYTES];
    gs_identity a = {{0}, NULL}, b = {{0}, NULL};
    size_t len = 0;
    char *img;
    const char *how;

    known_identity(&a, seed);

    /* The check itself works: a plain key file holds the seed (in hex). */
    assert_int_equal(gs_identity_save(&a, t->path), GS_OK);
    img = gs_read_file(t->path, &len);
    assert_non_null(img);
    assert_string_equal(leaks(img, len, seed, sizeof seed), "hex");
    sodium_memzero(img, len);
    free(img);

    /* Sealed at birth: no seed, no secret key, no passphrase. */
    char sealed[160];
    snprintf(sealed, sizeof sealed, "%s/sealed", t->dir);
    assert_int_equal(gs_identity_save_sealed(&a, sealed, pass, sizeof pass - 1),
                     GS_OK);
    img = gs_read_file(sealed, &len);
    assert_non_null(img);
    if ((how = leaks(img, len, seed, sizeof seed)) != NULL)
        fail_msg("the sealed file holds the seed (%s)", how);
    if ((how = leaks(img, len, a.sk, GS_IDENTITY_SK_BYTES)) != NULL)
        fail_msg("the sealed file holds the secret key (%s)", how);
    assert_false(holds(img, len, pass, sizeof pass - 1));
    free(img);
    assert_int_equal(gs_identity_load_pass(sealed, pass, sizeof pass - 1, &b),
                     GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    assert_int_equal(sodium_memcmp(a.sk, b.sk, GS_IDENTITY_SK_BYTES), 0);
    gs_identity_fini(&b);

    /* Sealed afterwards (gs_identity_seal over the plain file): the same. */
    assert_int_equal(gs_identity_seal(&a, t->path, pass, sizeof pass - 1),
                     GS_OK);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    img = gs_read_file(t->path, &len);
    assert_non_null(img);
    assert_true(!strncmp(img, "gridsync-key v1 sealed\n", 23));
    if ((how = leaks(img, len, seed, sizeof seed)) != NULL)
        fail_msg("the resealed file holds the seed (%s)", how);
    if ((how = leaks(img, len, a.sk, GS_IDENTITY_SK_BYTES)) != NULL)
        fail_msg("the resealed file holds the secret key (%s)", how);
    free(img);
    assert_int_equal(gs_identity_load(t->path, &b), GS_EBADPASS);
    assert_int_equal(gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
                     GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    gs_identity_fini(&b);

    /* a new passphrase replaces the old one */
    assert_int_equal(gs_identity_seal(&a, t->path, "other", 5), GS_OK);
    assert_int_equal(gs_identity_load_pass(t->path, pass, sizeof pass - 1, &b),
                     GS_EBADPASS);
    assert_int_equal(gs_identity_load_pass(t->path, "other", 5, &b), GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    gs_identity_fini(&b);
    char tmp[170];
    snprintf(tmp, sizeof tmp, "%s.tmp", t->path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    sodium_memzero(seed, sizeof seed);
    gs_identity_fini(&a);
}

static void
test_identity_seal_refuses_bad_calls(void **state)
{
    tdir *t = *state;
    gs_identity a, empty = {{0}, NULL};
    char p[200];
    assert_int_equal(gs_identity_generate(&a), GS_OK);
    /* never makes a key file where there was none */
    assert_int_equal(gs_identity_seal(&a, t->path, "pw", 2), GS_ENOTFOUND);
    assert_int_not_equal(access(t->path, F_OK), 0);
    assert_int_equal(gs_identity_save(&a, t->path), GS_OK);
    assert_int_equal(gs_identity_seal(&a, t->path, "", 0), GS_EINVAL);
    assert_int_equal(gs_identity_seal(&a, t->path, NULL, 2), GS_EINVAL);
    assert_int_equal(gs_identity_seal(&empty, t->path, "pw", 2), GS_EINVAL);
    assert_int_equal(gs_identity_seal(&a, t->dir, "pw", 2), GS_EMALFORMED);
    /* a leftover temp file stops it, and the key file stays as it was */
    snprintf(p, sizeof p, "%s.tmp", t->path);
    write_file(p, "y", 1, 0600);
    assert_int_equal(gs_identity_seal(&a, t->path, "pw", 2), GS_EEXIST);
    gs_identity b;
    assert_int_equal(gs_identity_load(t->path, &b), GS_OK); /* still plain */
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    gs_identity_fini(&b);
    gs_identity_fini(&a);
}

/* gs_identity_hex_decode: what the command line, the config and the
 * certificates' entity ids give as a device key. */
static void
test_identity_hex_decode(void **state)
{
    (void)state;
    gs_identity a;
    char hex[GS_IDENTITY_HEX_BYTES], bad[GS_IDENTITY_HEX_BYTES + 2];
    uint8_t pk[GS_IDENTITY_PK_BYTES], was[GS_IDENTITY_PK_BYTES];
    assert_int_equal(gs_identity_generate(&a), GS_OK);
    gs_identity_hex(a.pk, hex);
    assert_int_equal(gs_identity_hex_decode(hex, 64, pk), GS_OK);
    assert_memory_equal(pk, a.pk, sizeof pk);
    for (size_t i = 0; i < 64; i++) /* either case */
        bad[i] = (char)toupper((unsigned char)hex[i]);
    assert_int_equal(gs_identity_hex_decode(bad, 64, pk), GS_OK);
    assert_memory_equal(pk, a.pk, sizeof pk);

    /* refused, and pk left as it was */
    memset(pk, 0xa5, sizeof pk);
    memcpy(was, pk, sizeof pk);
    assert_int_equal(gs_identity_hex_decode(NULL, 64, pk), GS_EINVAL);
    assert_int_equal(gs_identity_hex_decode(hex, 63, pk), GS_EINVAL);
    assert_int_equal(gs_identity_hex_decode(hex, 62, pk), GS_EINVAL);
    snprintf(bad, sizeof bad, "%s00", hex);
    assert_int_equal(gs_identity_hex_decode(bad, 66, pk), GS_EINVAL);
    memcpy(bad, hex, 64);
    bad[63] = 'g';
    assert_int_equal(gs_identity_hex_decode(bad, 64, pk), GS_EINVAL);
    bad[63] = hex[63];
    bad[10] = ' ';
    assert_int_equal(gs_identity_hex_decode(bad, 64, pk), GS_EINVAL);
    assert_memory_equal(pk, was, sizeof pk);
    gs_identity_fini(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_hex_decode),
        cmocka_unit_test_setup_teardown(test_identity_save_load_round_trip,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_identity_generate_gives_distinct_keys, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_identity_save_refuses_overwrite,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_identity_save_refuses_bad_calls,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_identity_load_refuses_file_open_to_others, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_identity_load_refuses_garbage,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_identity_load_missing_file, setup,
                                        gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_identity_file_holds_the_seed_only,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_identity_sealed_round_trip_and_bad_passphrase, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_identity_sealed_file_holds_no_plaintext_key, setup,
            gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_identity_seal_refuses_bad_calls,
                                        setup, gs_test_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
