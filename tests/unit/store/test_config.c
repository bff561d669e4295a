/*
 * test_config.c — the per-replica INI config: defaults for every key, a
 * write → load round trip, and the strict parser naming the line of every
 * mistake (unknown section or key, bad number, key set twice), comments
 * and whitespace, the 64 KiB cap. Files live in a mkdtemp directory that
 * each test removes.
 */
#include "testutil.h"

#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct tdir {
    char dir[GS_TEST_DIR_BYTES]; /* first: gs_test_dir_new */
    char path[128];              /* dir/gridsync.ini */
} tdir;

static int
setup(void **state)
{
    tdir *t = gs_test_dir_new(sizeof *t, "/tmp/gs-test-config-XXXXXX");
    snprintf(t->path, sizeof t->path, "%s/gridsync.ini", t->dir);
    *state = t;
    return 0;
}

static void
write_text(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Parse text; expect rc and, on failure, the line and a word in the
 * message. */
static void
expect_parse(const char *text, gs_err want, size_t line, const char *word)
{
    gs_config *cfg = NULL;
    gs_config_diag d = {0, ""};
    gs_err rc = gs_config_parse(text, strlen(text), &d, &cfg);
    if (rc != want)
        fail_msg("%s: got %s, want %s (%s)", text, gs_errname(rc),
                 gs_errname(want), d.msg);
    if (want == GS_OK) {
        assert_non_null(cfg);
        gs_config_free(cfg);
        return;
    }
    assert_null(cfg);
    if (d.line != line)
        fail_msg("%s: line %zu, want %zu (%s)", text, d.line, line, d.msg);
    if (word && !strstr(d.msg, word))
        fail_msg("%s: message '%s' lacks '%s'", text, d.msg, word);
}

struct count {
    size_t n, set;
};

static void
count_cb(const gs_config_entry *e, void *ctx)
{
    struct count *c = ctx;
    c->n++;
    c->set += e->is_set;
    assert_non_null(e->help);
    assert_true(strlen(e->help) > 10);
    if (!e->is_set)
        assert_string_equal(e->value, e->def);
    char key[128];
    snprintf(key, sizeof key, "%s.%s", e->section, e->name);
    assert_string_equal(key, e->key);
}

static void
test_config_defaults(void **state)
{
    (void)state;
    gs_config *cfg;
    uint64_t v = 7;
    struct count c = {0, 0};

    assert_int_equal(gs_config_new_default(&cfg), GS_OK);
    assert_string_equal(gs_config_get(cfg, "replica.name"), "");
    assert_string_equal(gs_config_get(cfg, "network.authority"), "");
    assert_string_equal(gs_config_get(cfg, "agent.endpoint"),
                        "tcp://127.0.0.1:7420");
    assert_string_equal(gs_config_get(cfg, "agent.peers"), "");
    assert_string_equal(gs_config_get(cfg, "agent.accept"), "");
    assert_int_equal(gs_config_get_u64(cfg, "agent.sync_interval", &v), GS_OK);
    assert_int_equal(v, 30);
    assert_int_equal(gs_config_get_u64(cfg, "store.map_size_mib", &v), GS_OK);
    assert_int_equal(v, 64);
    assert_int_equal(gs_config_get_u64(cfg, "store.max_map_mib", &v), GS_OK);
    assert_int_equal(v, 0);

    assert_null(gs_config_get(cfg, "agent.nope"));
    assert_null(gs_config_get(cfg, "agent"));
    v = 7;
    assert_int_equal(gs_config_get_u64(cfg, "agent.nope", &v), GS_ENOTFOUND);
    assert_int_equal(gs_config_get_u64(cfg, "agent.endpoint", &v), GS_EINVAL);
    assert_int_equal(v, 7);

    gs_config_each(cfg, count_cb, &c);
    assert_int_equal(c.n, 9);
    assert_int_equal(c.set, 0);
    gs_config_free(cfg);
    gs_config_free(NULL);
}

static void
set_default_cb(const gs_config_entry *e, void *ctx)
{
    gs_config_diag d = {0, ""};
    if (gs_config_set(ctx, e->key, e->def, &d) != GS_OK)
        fail_msg("default of %s does not pass its check: %s", e->key, d.msg);
}

static void
test_config_every_default_passes_its_check(void **state)
{
    (void)state;
    gs_config *cfg, *scratch;
    assert_int_equal(gs_config_new_default(&cfg), GS_OK);
    assert_int_equal(gs_config_new_default(&scratch), GS_OK);
    gs_config_each(cfg, set_default_cb, scratch);
    assert_true(gs_config_equal(cfg, scratch));
    gs_config_free(scratch);
    gs_config_free(cfg);
}

static void
test_config_write_load_round_trip(void **state)
{
    tdir *t = *state;
    gs_config *a, *b, *dflt;
    gs_config_diag d = {0, ""};
    struct count c = {0, 0};

    assert_int_equal(gs_config_new_default(&a), GS_OK);
    assert_int_equal(gs_config_new_default(&dflt), GS_OK);
    assert_int_equal(
        gs_config_set(a, "replica.name", "Xinxin station 新新", NULL), GS_OK);
    assert_int_equal(
        gs_config_set(a, "network.authority",
                      "00112233445566778899AABBCCDDEEFF00112233445566778899aa"
                      "bbccddeeff",
                      NULL),
        GS_OK);
    assert_string_equal(
        gs_config_get(a, "network.authority"),
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(gs_config_set(a, "agent.endpoint", "tcp://*:7500", NULL),
                     GS_OK);
    assert_int_equal(gs_config_set(a, "agent.peers",
                                   "abababababababababababababababababababababababababababababababab@tcp://10.0.0.1:7420, abababababababababababababababababababababababababababababababab@tcp://[::1]:7420,"
                                   "abababababababababababababababababababababababababababababababab@ipc:///run/gridsync.sock",
                                   NULL),
                     GS_OK);
    assert_int_equal(gs_config_set(a, "agent.sync_interval", "600", NULL),
                     GS_OK);
    assert_int_equal(gs_config_set(a, "store.max_map_mib", "4096", NULL),
                     GS_OK);
    assert_false(gs_config_equal(a, dflt));

    assert_int_equal(gs_config_write(a, t->path), GS_OK);
    assert_int_equal(gs_config_load(t->path, &d, &b), GS_OK);
    assert_true(gs_config_equal(a, b));
    /* the file lists every key, so every key is set after loading */
    gs_config_each(b, count_cb, &c);
    assert_int_equal(c.set, c.n);

    /* a default config round-trips too, and the file shows each default
     * and help line */
    assert_int_equal(gs_config_write(dflt, t->path), GS_OK); /* replaces */
    gs_config_free(b);
    assert_int_equal(gs_config_load(t->path, &d, &b), GS_OK);
    assert_true(gs_config_equal(dflt, b));
    size_t len;
    char *text = gs_read_file(t->path, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "[replica]\n"));
    assert_non_null(strstr(text, "\nname =\n"));
    assert_non_null(strstr(text, "\nendpoint = tcp://127.0.0.1:7420\n"));
    assert_non_null(strstr(text, "\nsync_interval = 30\n"));
    assert_non_null(strstr(text, "(default: 30)\n"));
    assert_non_null(strstr(text, "\nmax_map_mib = 0\n"));
    assert_non_null(strstr(text, "grow until the disk is full"));
    free(text);

    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", t->path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    gs_config_free(a);
    gs_config_free(b);
    gs_config_free(dflt);
}

static void
test_config_unknown_names_report_their_line(void **state)
{
    (void)state;
    expect_parse("[agent]\n\n# comment\nendpoint = tcp://h:1\nbogus = 3\n",
                 GS_EMALFORMED, 5, "bogus");
    expect_parse("# x\n[agnet]\nsync_interval = 3\n", GS_EMALFORMED, 2,
                 "agnet");
    /* a known key under the wrong section is unknown there */
    expect_parse("[store]\nsync_interval = 3\n", GS_EMALFORMED, 2,
                 "sync_interval");
    expect_parse("\nsync_interval = 3\n", GS_EMALFORMED, 2, "section");
    expect_parse("[agent]\njust words\n", GS_EMALFORMED, 2, "name = value");
    expect_parse("[agent]\n= 3\n", GS_EMALFORMED, 2, NULL);
    expect_parse("[agent\n", GS_EMALFORMED, 1, "]");
    expect_parse("[]\n", GS_EMALFORMED, 1, "unknown section");
    expect_parse("[agent]\nsync_interval = 3\n\nsync_interval = 4\n",
                 GS_EMALFORMED, 4, "line 2");
    expect_parse("[agent]\nendpoint = tcp://h:1\n[agent]\nendpoint = x\n",
                 GS_EMALFORMED, 4, "twice");
    expect_parse("[agent]\nendpoint = tcp://h:1\0\n", GS_OK, 0, NULL);
    /* a NUL inside a line (strlen stops there, so parse explicitly) */
    {
        static const char nul[] = "[agent]\npeers = abababababababababababababababababababababababababababababababab@tcp://a:1\0x\n";
        gs_config *cfg = NULL;
        gs_config_diag d = {0, ""};
        assert_int_equal(gs_config_parse(nul, sizeof nul - 1, &d, &cfg),
                         GS_EMALFORMED);
        assert_int_equal(d.line, 2);
        assert_null(cfg);
    }
}

static void
test_config_bad_values_report_their_line(void **state)
{
    (void)state;
    static const char *const bad_numbers[] = {
        "3O",    "",    "-1",   "+5",           "0",
        "86401", "1.5", "0x10", "30 # seconds", "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad_numbers / sizeof bad_numbers[0]; i++) {
        char text[128];
        snprintf(text, sizeof text,
                 "[replica]\nname = a\n[agent]\nsync_interval = %s\n",
                 bad_numbers[i]);
        expect_parse(text, GS_EMALFORMED, 4, "agent.sync_interval");
    }
    expect_parse("[agent]\nsync_interval = 86400\n", GS_OK, 0, NULL);
    expect_parse("[store]\nmap_size_mib = 0\n", GS_EMALFORMED, 2,
                 "whole number");
    expect_parse("[store]\nmax_map_mib = 0\n", GS_OK, 0, NULL);
    expect_parse("[network]\nauthority = abc\n", GS_EMALFORMED, 2, "hex");
    expect_parse("[network]\nauthority = "
                 "zz112233445566778899aabbccddeeff00112233445566778899aabbccd"
                 "deeff\n",
                 GS_EMALFORMED, 2, "hex");
    static const char *const bad_endpoints[] = {
        "",
        "127.0.0.1:7420",
        "tcp://",
        "tcp://host",
        "tcp://host:",
        "tcp://:7420",
        "tcp://host:0",
        "tcp://host:65536",
        "tcp://h st:1",
        "udp://host:1",
        "ipc://",
        "tcp://[::1:1",
        "tcp://host:123456",
    };
    for (size_t i = 0; i < sizeof bad_endpoints / sizeof bad_endpoints[0];
         i++) {
        char text[128];
        snprintf(text, sizeof text, "[agent]\nendpoint = %s\n",
                 bad_endpoints[i]);
        expect_parse(text, GS_EMALFORMED, 2, "agent.endpoint");
    }
    expect_parse("[agent]\npeers = abababababababababababababababababababababababababababababababab@tcp://a:1,,abababababababababababababababababababababababababababababababab@tcp://b:2\n", GS_EMALFORMED, 2,
                 "agent.peers");
    expect_parse("[agent]\npeers = abababababababababababababababababababababababababababababababab@tcp://a:1,\n", GS_EMALFORMED, 2, NULL);
    expect_parse("[replica]\nname = tab\there\n", GS_EMALFORMED, 2,
                 "replica.name");
    expect_parse("[replica]\nname = \xff\xfe\n", GS_EMALFORMED, 2, "UTF-8");

    /* a value over GS_CONFIG_VALUE_MAX in a file is bad data */
    size_t n = GS_CONFIG_VALUE_MAX + 64;
    char *text = malloc(n);
    assert_non_null(text);
    int k = snprintf(text, n, "[agent]\npeers = ");
    memset(text + k, 'x', n - (size_t)k - 2);
    text[n - 2] = '\n';
    text[n - 1] = '\0';
    expect_parse(text, GS_EMALFORMED, 2, "longer");
    free(text);
}

static void
test_config_comments_and_whitespace(void **state)
{
    (void)state;
    static const char text[] = "\xef\xbb\xbf# a comment\n"
                               "  ; another comment = with [brackets]\n"
                               "\n"
                               "\t[ agent ]  \r\n"
                               "\tsync_interval\t=\t 45  \r\n"
                               "peers=abababababababababababababababababababababababababababababababab@tcp://a:1 , abababababababababababababababababababababababababababababababab@ipc:///tmp/x.sock\n"
                               "   # indented comment\n"
                               "[replica]\n"
                               "name =\n"
                               "[network]\n"
                               "authority =   \n"
                               "[store]\n"
                               "map_size_mib = 0128"; /* no final newline */
    gs_config *cfg = NULL;
    gs_config_diag d = {0, ""};
    uint64_t v;
    assert_int_equal(gs_config_parse(text, sizeof text - 1, &d, &cfg), GS_OK);
    assert_int_equal(gs_config_get_u64(cfg, "agent.sync_interval", &v), GS_OK);
    assert_int_equal(v, 45);
    assert_string_equal(gs_config_get(cfg, "agent.peers"),
                        "abababababababababababababababababababababababababababababababab@tcp://a:1 , abababababababababababababababababababababababababababababababab@ipc:///tmp/x.sock");
    assert_string_equal(gs_config_get(cfg, "replica.name"), "");
    assert_string_equal(gs_config_get(cfg, "network.authority"), "");
    assert_int_equal(gs_config_get_u64(cfg, "store.map_size_mib", &v), GS_OK);
    assert_int_equal(v, 128);
    /* untouched keys keep their defaults */
    assert_string_equal(gs_config_get(cfg, "agent.endpoint"),
                        "tcp://127.0.0.1:7420");
    gs_config_free(cfg);

    /* an empty file, or one of comments only, is all defaults */
    gs_config *dflt;
    assert_int_equal(gs_config_new_default(&dflt), GS_OK);
    assert_int_equal(gs_config_parse("", 0, &d, &cfg), GS_OK);
    assert_true(gs_config_equal(cfg, dflt));
    gs_config_free(cfg);
    assert_int_equal(gs_config_parse("#x\n;y\n\n", 6, &d, &cfg), GS_OK);
    assert_true(gs_config_equal(cfg, dflt));
    gs_config_free(cfg);
    gs_config_free(dflt);
}

static void
test_config_set_validates(void **state)
{
    (void)state;
    gs_config *cfg;
    gs_config_diag d = {0, ""};
    uint64_t v;

    assert_int_equal(gs_config_new_default(&cfg), GS_OK);
    assert_int_equal(gs_config_set(cfg, "agent.sync_interval", "abc", &d),
                     GS_EINVAL);
    assert_non_null(strstr(d.msg, "whole number"));
    assert_int_equal(gs_config_get_u64(cfg, "agent.sync_interval", &v), GS_OK);
    assert_int_equal(v, 30); /* unchanged */
    assert_int_equal(gs_config_set(cfg, "agent.endpoint", "nope", &d),
                     GS_EINVAL);
    assert_string_equal(gs_config_get(cfg, "agent.endpoint"),
                        "tcp://127.0.0.1:7420");
    assert_int_equal(gs_config_set(cfg, "agent.bogus", "1", &d), GS_ENOTFOUND);
    assert_non_null(strstr(d.msg, "agent.bogus"));

    assert_int_equal(gs_config_set(cfg, "agent.sync_interval", " 90 ", NULL),
                     GS_OK);
    assert_int_equal(gs_config_get_u64(cfg, "agent.sync_interval", &v), GS_OK);
    assert_int_equal(v, 90);
    assert_int_equal(gs_config_set(cfg, "agent.sync_interval", NULL, NULL),
                     GS_OK); /* back to the default */
    assert_int_equal(gs_config_get_u64(cfg, "agent.sync_interval", &v), GS_OK);
    assert_int_equal(v, 30);

    char *big = malloc(GS_CONFIG_VALUE_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', GS_CONFIG_VALUE_MAX + 1);
    big[GS_CONFIG_VALUE_MAX + 1] = '\0';
    assert_int_equal(gs_config_set(cfg, "agent.peers", big, NULL), GS_ETOOBIG);
    free(big);
    gs_config_free(cfg);
}

static void
test_config_oversize_file_is_refused(void **state)
{
    tdir *t = *state;
    gs_config *cfg = NULL;
    gs_config_diag d = {0, ""};
    size_t n = GS_CONFIG_FILE_MAX;
    char *text = malloc(n + 1);
    assert_non_null(text);
    /* comment lines of 64 bytes: exactly at the cap, it loads */
    for (size_t i = 0; i < n; i += 64) {
        memset(text + i, ' ', 64);
        text[i] = '#';
        text[i + 63] = '\n';
    }
    write_text(t->path, text, n);
    assert_int_equal(gs_config_load(t->path, &d, &cfg), GS_OK);
    gs_config_free(cfg);
    cfg = NULL;
    /* one byte over, it does not */
    text[n] = '\n';
    write_text(t->path, text, n + 1);
    assert_int_equal(gs_config_load(t->path, &d, &cfg), GS_ETOOBIG);
    assert_null(cfg);
    assert_int_equal(gs_config_parse(text, n + 1, &d, &cfg), GS_ETOOBIG);
    assert_null(cfg);
    free(text);
}

static void
test_config_load_missing_file(void **state)
{
    tdir *t = *state;
    gs_config *cfg = NULL;
    gs_config_diag d = {0, ""};
    assert_int_equal(gs_config_load(t->path, &d, &cfg), GS_ENOTFOUND);
    assert_null(cfg);
    assert_int_equal(gs_config_load(t->dir, &d, &cfg), GS_EMALFORMED);
    assert_null(cfg);
    /* a file with a bad line loads as an error; the diag names the line */
    static const char bad[] = "[agent]\n\nsync_interval = soon\n";
    write_text(t->path, bad, sizeof bad - 1);
    assert_int_equal(gs_config_load(t->path, &d, &cfg), GS_EMALFORMED);
    assert_int_equal(d.line, 3);
    assert_null(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_every_default_passes_its_check),
        cmocka_unit_test_setup_teardown(test_config_write_load_round_trip,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test(test_config_unknown_names_report_their_line),
        cmocka_unit_test(test_config_bad_values_report_their_line),
        cmocka_unit_test(test_config_comments_and_whitespace),
        cmocka_unit_test(test_config_set_validates),
        cmocka_unit_test_setup_teardown(test_config_oversize_file_is_refused,
                                        setup, gs_test_dir_teardown),
        cmocka_unit_test_setup_teardown(test_config_load_missing_file, setup,
                                        gs_test_dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
