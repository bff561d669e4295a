/*
 * main.c — the `gridsync` command line: git-style subcommands over the
 * public API in gridsync.h (the command line reaches the store only through
 * it, as a tablet app does).
 *
 * Conventions: every command takes --help; reads take --json; exit status
 * 0 ok, 1 failed, 2 usage; messages are "gridsync: what: why; what to do".
 * The replica is -r DIR (or --replica DIR, or $GRIDSYNC_REPLICA, or ".").
 *
 * A device key sealed with a passphrase is unlocked only by the commands
 * that sign (put, import, agent, sync, key passphrase), with the
 * passphrase from --passphrase-file, $GRIDSYNC_PASSPHRASE or the terminal
 * (passphrase.h); reads never ask for it.
 */
#include "gridsync.h"

#include "cli.h"
#include "passphrase.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

const char *gs_cli_replica_dir = NULL;

void
gs_cli_fail(const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gridsync: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
gs_cli_usage_error(const struct cmd *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "gridsync %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\nusage: gridsync %s %s\nrun 'gridsync %s --help' for "
            "more\n",
            c->name, c->usage, c->name);
    return EXIT_USAGE;
}

static bool
wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* Is word one of the words of list? (Not a part of one: "at" is inside
 * "category".) */
static bool
word_in(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* The options of the domain commands (domain_cmd.c): --NAME VALUE, each
 * allowed where `allowed` names it; NULL if s is none of them. */
static const char **
domain_option(struct args *a, const char *s, const char *allowed)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"category", offsetof(struct args, category)},
        {"grid", offsetof(struct args, grid)},
        {"title", offsetof(struct args, title)},
        {"reporter", offsetof(struct args, reporter)},
        {"deadline", offsetof(struct args, deadline)},
        {"address", offsetof(struct args, address)},
        {"note", offsetof(struct args, note)},
        {"by", offsetof(struct args, by)},
        {"reason", offsetof(struct args, reason)},
        {"stage", offsetof(struct args, stage)},
        {"worker", offsetof(struct args, worker)},
        {"at", offsetof(struct args, at)},
        {"day", offsetof(struct args, day)},
        {"poster", offsetof(struct args, poster)},
        {"reward", offsetof(struct args, reward)},
    };
    if (strncmp(s, "--", 2) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(s + 2, opts[i].name) && word_in(allowed, opts[i].name))
            return (const char **)((char *)a + opts[i].off);
    return NULL;
}

int
gs_cli_parse_args(const struct cmd *c, int argc, char **argv, struct args *a,
                  const char *allowed)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char **val = NULL;
        bool *flag = NULL;
        if (!strcmp(s, "--json") && strstr(allowed, "json"))
            flag = &a->json;
        else if (!strcmp(s, "--reveal") && strstr(allowed, "reveal"))
            flag = &a->reveal;
        else if (!strcmp(s, "--meta") && strstr(allowed, "meta"))
            flag = &a->meta;
        else if (!strcmp(s, "--rebuild") && strstr(allowed, "rebuild"))
            flag = &a->rebuild;
        else if (!strcmp(s, "--skip-bad") && strstr(allowed, "skip"))
            flag = &a->skip_bad;
        else if (!strcmp(s, "--where") && strstr(allowed, "where"))
            val = &a->where;
        else if (!strcmp(s, "--scope") && strstr(allowed, "scope"))
            val = &a->scope;
        else if (!strcmp(s, "--authority") && strstr(allowed, "authority"))
            val = &a->authority;
        else if (!strcmp(s, "--name") && strstr(allowed, "name"))
            val = &a->name;
        else if (!strcmp(s, "--fields") && strstr(allowed, "fields"))
            val = &a->fields_json;
        else if (!strcmp(s, "--timeout") && strstr(allowed, "timeout"))
            val = &a->timeout;
        else if (!strcmp(s, "--endpoint") && strstr(allowed, "endpoint"))
            val = &a->endpoint;
        else if (!strcmp(s, "--passphrase") && strstr(allowed, "seal"))
            flag = &a->passphrase;
        else if (!strcmp(s, "--passphrase-file") &&
                 strstr(allowed, "passphrase"))
            val = &a->pass_file;
        else if (!strcmp(s, "--new-passphrase-file") &&
                 strstr(allowed, "newpass"))
            val = &a->new_pass_file;
        else if (!strcmp(s, "--role") && strstr(allowed, "role"))
            val = &a->role;
        else if (!strcmp(s, "--write") && strstr(allowed, "write"))
            val = &a->write;
        else if (!strcmp(s, "--read") && strstr(allowed, "read"))
            val = &a->read;
        else if (!strcmp(s, "--until") && strstr(allowed, "until"))
            val = &a->until;
        else if (!strcmp(s, "--shop") && strstr(allowed, "shop"))
            flag = &a->shop;
        else if (!strcmp(s, "--for") && strstr(allowed, "for"))
            val = &a->for_device;
        else if ((val = domain_option(a, s, allowed)) != NULL)
            ;
        else if (s[0] == '-' && s[1] == '-')
            return gs_cli_usage_error(c, "unknown option '%s'", s);
        if (flag) {
            *flag = true;
        } else if (val) {
            if (i + 1 >= argc)
                return gs_cli_usage_error(c, "%s needs a value", s);
            *val = argv[++i];
        } else {
            if (a->npos == 16)
                return gs_cli_usage_error(c, "too many arguments");
            a->pos[a->npos++] = s;
        }
    }
    return -1;
}

#define SEALED_NO_SOURCE                                                       \
    "the device key is sealed with a passphrase; give it with "                \
    "--passphrase-file FILE or " GS_CLI_PASS_ENV ", or run from a terminal"

/* The passphrase of the replica's sealed device key, from pass_file, the
 * environment or the terminal; NULL after saying why. */
static char *
ask_passphrase(const char *pass_file, size_t *len)
{
    char what[4200], prompt[4200], why[512] = "";
    char *pass = NULL;
    snprintf(what, sizeof what, "open %s", gs_cli_replica_dir);
    snprintf(prompt, sizeof prompt,
             "passphrase of the device key of %s: ", gs_cli_replica_dir);
    gs_err rc = gs_cli_pass_get(pass_file, true, prompt, false, &pass, len, why,
                                sizeof why);
    if (rc == GS_ENOTFOUND && !why[0])
        gs_cli_fail(what, "%s", SEALED_NO_SOURCE);
    else if (rc != GS_OK)
        gs_cli_fail(what, "%s", why[0] ? why : gs_strerror(rc));
    return rc == GS_OK ? pass : NULL;
}

/* Unlock r's device key if it is sealed; false after saying why. */
static bool
unlock_replica(gs_replica *r, const char *pass_file)
{
    size_t len = 0;
    char what[4200];
    if (!gs_replica_locked(r))
        return true;
    char *pass = ask_passphrase(pass_file, &len);
    if (pass == NULL)
        return false;
    gs_err rc = gs_replica_unlock(r, pass, len);
    gs_cli_pass_free(pass);
    if (rc != GS_OK) {
        snprintf(what, sizeof what, "open %s", gs_cli_replica_dir);
        const char *d = gs_replica_detail(r);
        gs_cli_fail(what, "%s", d && d[0] ? d : gs_strerror(rc));
        return false;
    }
    return true;
}

/* Open the replica; with key, also unlock a sealed device key (asking for
 * the passphrase), for commands that sign. */
gs_replica *
gs_cli_open_key(bool key, const char *pass_file)
{
    gs_replica *r;
    char why[512] = "";
    gs_err rc = gs_replica_open(gs_cli_replica_dir, &r, why, sizeof why);
    if (rc != GS_OK) {
        gs_cli_fail("cannot open the replica", "%s",
                    why[0] ? why : gs_strerror(rc));
        return NULL;
    }
    if (key && !unlock_replica(r, pass_file)) {
        gs_replica_close(r);
        return NULL;
    }
    return r;
}

/* Open the replica for reading: a sealed key is not asked for. */
gs_replica *
gs_cli_open(void)
{
    return gs_cli_open_key(false, NULL);
}

/* The start of a command that takes options but no arguments: parse them
 * into a, refuse arguments, open the replica. NULL when the command is
 * over, its exit code in *ret. */
static gs_replica *
open_plain(int argc, char **argv, const char *opts, struct args *a, int *ret)
{
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, a, opts);
    if (u >= 0) {
        *ret = u;
        return NULL;
    }
    if (a->npos) {
        *ret = gs_cli_usage_error(gs_cli_current, "takes no arguments");
        return NULL;
    }
    gs_replica *r = gs_cli_open();
    *ret = EXIT_FAIL;
    return r;
}

int
gs_cli_api_fail(gs_replica *r, const char *what, gs_err rc)
{
    const char *d = gs_replica_detail(r);
    gs_cli_fail(what, "%s", d && d[0] ? d : gs_strerror(rc));
    /* the library's GS_EINVAL is an argument the user gave (a date that
     * is none, a grid that is no org path): a usage error */
    return rc == GS_EINVAL ? EXIT_USAGE : EXIT_FAIL;
}

static void
hex32(const unsigned char *p, char out[65])
{
    static const char dig[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = dig[p[i] >> 4];
        out[2 * i + 1] = dig[p[i] & 15];
    }
    out[64] = 0;
}

/* Print an entity's JSON: compact for --json, indented for people. */
int
gs_cli_print_json(const char *json, bool compact)
{
    if (compact) {
        puts(json);
        return 0;
    }
    json_t *j = json_loads(json, 0, NULL);
    char *pretty = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    puts(pretty ? pretty : json);
    free(pretty);
    json_decref(j);
    return 0;
}

/* ---- commands ---- */

const struct cmd *gs_cli_current;

static int
cmd_init(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json scope authority name seal passphrase");
    if (u >= 0)
        return u;
    if (a.npos != 1)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the directory of the new replica");
    if (a.scope == NULL)
        return gs_cli_usage_error(gs_cli_current,
                                  "--scope is required: the org path this "
                                  "device writes in");
    bool seal = a.passphrase || a.pass_file;
    char *pass = NULL;
    size_t passlen = 0;
    char device[65], why[512] = "";
    if (seal) {
        gs_err prc = gs_cli_pass_get(
            a.pass_file, true, "passphrase for the new device key: ", true,
            &pass, &passlen, why, sizeof why);
        if (prc == GS_ENOTFOUND && !why[0])
            snprintf(why, sizeof why,
                     "--passphrase needs the passphrase: give it with "
                     "--passphrase-file FILE or " GS_CLI_PASS_ENV
                     ", or run from a terminal");
        if (prc != GS_OK) {
            gs_cli_fail("init", "%s; nothing was created", why);
            return EXIT_FAIL;
        }
    } else if (getenv(GS_CLI_PASS_ENV)) {
        fprintf(stderr, "gridsync init: note: " GS_CLI_PASS_ENV
                        " is set, but without --passphrase the device key "
                        "is not sealed\n");
    }
    gs_replica_init_opts o = {a.authority, a.scope, a.name};
    gs_err rc = gs_replica_init_pass(a.pos[0], &o, pass, passlen, device, why,
                                     sizeof why);
    gs_cli_pass_free(pass);
    if (rc != GS_OK) {
        gs_cli_fail("cannot create the replica", "%s",
                    why[0] ? why : gs_strerror(rc));
        return EXIT_FAIL;
    }
    if (a.json) {
        printf("{\"replica\":\"%s\",\"device\":\"%s\",\"scope\":\"%s\","
               "\"sealed\":%s}\n",
               a.pos[0], device, a.scope, seal ? "true" : "false");
    } else {
        printf("created replica %s\n", a.pos[0]);
        printf("device key: %s\n", device);
        printf("write scope: %s\n", a.scope);
        if (seal)
            printf("the device key is sealed with the passphrase: put, "
                   "import, agent and sync ask for it; keep it safe, a lost "
                   "passphrase is a lost key\n");
        if (!a.authority && !strcmp(a.scope, "trust")) {
            printf("this replica is the authority of network %s\n", device);
            printf("next: make each device's replica with 'gridsync init "
                   "DIR --scope ORG.PATH --authority %s', then enroll its "
                   "key here with 'gridsync -r %s authority enroll KEY "
                   "--name NAME --role ROLE --write SCOPES'\n",
                   device, a.pos[0]);
            return EXIT_OK;
        }
        if (!a.authority)
            printf("network: standalone (this device's own); to join a "
                   "district, give --authority KEY at init\n");
        printf("next: enroll the device key with the district authority; "
               "then 'gridsync -r %s put TYPE ID field=value'\n",
               a.pos[0]);
    }
    return EXIT_OK;
}

static int
cmd_put(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "fields json passphrase scope");
    if (u >= 0)
        return u;
    if (a.npos < 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the TYPE and ID to write");
    if (a.npos == 2 && !a.fields_json)
        return gs_cli_usage_error(gs_cli_current,
                                  "give at least one field=value, or "
                                  "--fields JSON");
    if (a.fields_json && a.npos > 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "give fields either as field=value or "
                                  "as --fields JSON, not both");
    gs_replica *r = gs_cli_open_key(true, a.pass_file);
    if (!r)
        return EXIT_FAIL;
    int ret = EXIT_OK;
    gs_err rc = a.scope ? gs_replica_scope_use(r, a.scope) : GS_OK;
    if (rc == GS_OK && a.fields_json)
        rc = gs_replica_put(r, a.pos[0], a.pos[1], a.fields_json);
    else if (rc == GS_OK)
        rc = gs_replica_put_assign(r, a.pos[0], a.pos[1],
                                   (const char *const *)a.pos + 2,
                                   (size_t)a.npos - 2);
    if (rc == GS_OK)
        gs_agent_poke(gs_cli_replica_dir); /* the agent tells the peers */
    if (rc != GS_OK)
        ret = gs_cli_api_fail(r, "cannot write", rc);
    else if (a.json)
        printf("{\"ok\":true,\"type\":\"%s\",\"id\":\"%s\"}\n", a.pos[0],
               a.pos[1]);
    else
        printf("ok: %s %s written\n", a.pos[0], a.pos[1]);
    gs_replica_close(r);
    return ret;
}

static int
cmd_get(int argc, char **argv)
{
    struct args a;
    int u =
        gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json reveal meta");
    if (u >= 0)
        return u;
    if (a.npos != 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the TYPE and ID to read");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    char *json = NULL;
    gs_err rc = gs_replica_get(
        r, a.pos[0], a.pos[1],
        (a.reveal ? GS_REVEAL : 0) | (a.meta ? GS_META : 0), &json);
    int ret = EXIT_OK;
    if (rc != GS_OK)
        ret = gs_cli_api_fail(r, "cannot read", rc);
    else
        gs_cli_print_json(json, a.json);
    free(json);
    gs_replica_close(r);
    return ret;
}

static int
print_line(const char *json, void *ctx)
{
    bool compact = *(bool *)ctx;
    gs_cli_print_json(json, compact);
    return 0;
}

static int
cmd_list(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json reveal meta where");
    if (u >= 0)
        return u;
    if (a.npos > 1)
        return gs_cli_usage_error(gs_cli_current, "give at most one TYPE");
    char field[128] = "";
    const char *value = NULL;
    if (a.where) {
        const char *eq = strchr(a.where, '=');
        if (!eq || eq == a.where || (size_t)(eq - a.where) >= sizeof field)
            return gs_cli_usage_error(gs_cli_current,
                                      "--where takes field=value");
        memcpy(field, a.where, (size_t)(eq - a.where));
        field[eq - a.where] = 0;
        value = eq + 1;
    }
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    bool compact = true; /* one entity per line, also for people */
    gs_err rc = gs_replica_list(
        r, a.npos ? a.pos[0] : NULL, value ? field : NULL, value,
        (a.reveal ? GS_REVEAL : 0) | (a.meta ? GS_META : 0), print_line,
        &compact);
    int ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "cannot list", rc);
    gs_replica_close(r);
    return ret;
}

static int
cmd_history(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json");
    if (u >= 0)
        return u;
    if (a.npos != 2)
        return gs_cli_usage_error(gs_cli_current, "name the TYPE and ID");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    bool compact = true;
    gs_err rc = gs_replica_history(r, a.pos[0], a.pos[1], print_line, &compact);
    int ret =
        rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "cannot read history", rc);
    gs_replica_close(r);
    return ret;
}

static int
cmd_digest(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json rebuild");
    if (u >= 0)
        return u;
    if (a.npos)
        return gs_cli_usage_error(gs_cli_current, "digest takes no arguments");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    unsigned char d[32];
    char hex[65];
    gs_err rc = gs_replica_digest(r, a.rebuild, d);
    int ret = EXIT_OK;
    if (rc != GS_OK) {
        ret = gs_cli_api_fail(r, "cannot compute the digest", rc);
    } else {
        hex32(d, hex);
        if (a.json)
            printf("{\"digest\":\"%s\",\"from\":\"%s\"}\n", hex,
                   a.rebuild ? "op log" : "state");
        else
            puts(hex);
    }
    gs_replica_close(r);
    return ret;
}

static bool progress_shown;

/* Reports of long jobs: progress (line 0) overwrites itself on a terminal
 * and is left out of logs; complaints get a line each. ctx names the
 * command. */
static void
report(unsigned long line, gs_err rc, const char *msg, void *ctx)
{
    if (line == 0) {
        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "\r%s ", msg);
            progress_shown = true;
        }
        return;
    }
    if (progress_shown)
        fputc('\n', stderr);
    progress_shown = false;
    /* import names a line of its file; bundle's message names its run */
    if (!strcmp((const char *)ctx, "import"))
        fprintf(stderr, "gridsync import: line %lu: %s (%s)\n", line, msg,
                gs_errname(rc));
    else
        fprintf(stderr, "gridsync %s: %s\n", (const char *)ctx, msg);
}

/* End a progress line before the summary. */
static void
report_done(void)
{
    if (progress_shown)
        fputc('\n', stderr);
    progress_shown = false;
}

static int
cmd_import(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json skip passphrase scope");
    if (u >= 0)
        return u;
    if (a.npos != 1)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the JSON Lines file to import");
    gs_replica *r = gs_cli_open_key(true, a.pass_file);
    if (!r)
        return EXIT_FAIL;
    gs_import_stats st = {0};
    gs_err rc = a.scope ? gs_replica_scope_use(r, a.scope) : GS_OK;
    if (rc == GS_OK)
        rc = gs_replica_import(r, a.pos[0], a.skip_bad, report, "import",
                               &st);
    report_done();
    if (st.ops)
        gs_agent_poke(gs_cli_replica_dir);
    int ret = EXIT_OK;
    if (rc != GS_OK) {
        ret = gs_cli_api_fail(r, "import failed; nothing was written", rc);
        if (!a.skip_bad && st.bad_line)
            fprintf(stderr, "to import the good lines and skip bad ones, "
                            "add --skip-bad\n");
    } else if (a.json) {
        printf("{\"records\":%lu,\"ops\":%lu,\"skipped\":%lu}\n", st.records,
               st.ops, st.skipped);
    } else {
        printf("imported %lu records (%lu ops), skipped %lu\n", st.records,
               st.ops, st.skipped);
    }
    gs_replica_close(r);
    return ret;
}

static int
cmd_export(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "");
    if (u >= 0)
        return u;
    if (a.npos > 1)
        return gs_cli_usage_error(gs_cli_current, "give at most one FILE");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    unsigned long n = 0;
    const char *path = a.npos ? a.pos[0] : "-";
    gs_err rc = gs_replica_export(r, path, &n);
    int ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "export failed", rc);
    if (rc == GS_OK && strcmp(path, "-") != 0)
        fprintf(stderr, "exported %lu records to %s\n", n, path);
    gs_replica_close(r);
    return ret;
}

struct config_print {
    bool json;
    json_t *obj;
};

static void
config_print(const char *key, const char *value, const char *def,
             const char *help, void *ctx)
{
    struct config_print *c = ctx;
    if (c->json) {
        json_object_set_new(c->obj, key,
                            json_pack("{ssssss}", "value", value, "default",
                                      def, "help", help));
        return;
    }
    printf("%-22s = %-28s # %s%s%s%s\n", key, value, help,
           strcmp(value, def) ? " (default: " : "",
           strcmp(value, def) ? (*def ? def : "empty") : "",
           strcmp(value, def) ? ")" : "");
}

static int
cmd_config(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json");
    if (u >= 0)
        return u;
    bool set = a.npos >= 1 && !strcmp(a.pos[0], "set");
    if ((set && a.npos != 3) || (!set && a.npos != 0))
        return gs_cli_usage_error(gs_cli_current,
                                  "say 'config' or 'config set KEY VALUE'");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    int ret = EXIT_OK;
    if (set) {
        gs_err rc = gs_replica_config_set(r, a.pos[1], a.pos[2]);
        if (rc != GS_OK)
            ret = gs_cli_api_fail(r, "cannot set", rc);
        else
            printf("%s = %s (takes effect when the replica is next "
                   "opened)\n",
                   a.pos[1], a.pos[2]);
    } else {
        struct config_print c = {a.json, a.json ? json_object() : NULL};
        gs_replica_config_each(r, config_print, &c);
        if (a.json) {
            char *text = json_dumps(c.obj, JSON_COMPACT);
            puts(text ? text : "{}");
            free(text);
            json_decref(c.obj);
        }
    }
    gs_replica_close(r);
    return ret;
}

static int
cmd_bundle(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json name for");
    if (u >= 0)
        return u;
    if (a.npos != 2 ||
        (strcmp(a.pos[0], "export") && strcmp(a.pos[0], "import")))
        return gs_cli_usage_error(gs_cli_current,
                                  "say 'bundle export FILE' or 'bundle "
                                  "import FILE'");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    gs_bundle_result br = {0};
    gs_err rc;
    bool exp = !strcmp(a.pos[0], "export");
    if (!exp && a.for_device) {
        gs_replica_close(r);
        return gs_cli_usage_error(gs_cli_current,
                                  "--for goes with 'bundle export'");
    }
    if (exp && a.for_device)
        rc = gs_replica_bundle_export_for(r, a.pos[1], a.name, a.for_device,
                                          report, "bundle", &br);
    else if (exp)
        rc = gs_replica_bundle_export(r, a.pos[1], a.name, report, "bundle",
                                      &br);
    else
        rc = gs_replica_bundle_import(r, a.pos[1], report, "bundle", &br);
    report_done();
    if (!exp && (br.applied || br.forks))
        gs_agent_poke(gs_cli_replica_dir);
    int ret = EXIT_OK;
    if (rc != GS_OK)
        ret = gs_cli_api_fail(
            r, exp ? "bundle export failed" : "bundle import failed", rc);
    if (exp && rc == GS_OK) {
        if (a.json)
            printf("{\"runs\":%llu,\"ops\":%llu,\"bytes\":%llu}\n", br.runs,
                   br.ops, br.bytes);
        else
            printf("wrote %llu ops in %llu runs (%llu bytes) to %s\n", br.ops,
                   br.runs, br.bytes, a.pos[1]);
    } else if (!exp && (rc == GS_OK || br.runs > 0)) {
        if (a.json)
            printf("{\"runs\":%llu,\"ops\":%llu,\"applied\":%llu,"
                   "\"known\":%llu,\"rejected\":%llu,\"forks\":%llu,"
                   "\"runs_refused\":%llu,\"purged_ops\":%llu}\n",
                   br.runs, br.ops, br.applied, br.known, br.rejected, br.forks,
                   br.runs_refused, br.purged_ops);
        else
            printf("read %llu ops in %llu runs: %llu new, %llu already "
                   "here, %llu refused (%llu runs), %llu fork evidence%s\n",
                   br.ops, br.runs, br.applied, br.known, br.rejected,
                   br.runs_refused, br.forks,
                   br.forks ? " (a device signed two histories: see "
                              "'gridsync forks')"
                            : "");
        if (!a.json && br.purged_feeds)
            printf("this device is revoked: removed %llu ops of %llu feeds "
                   "it may no longer read (its own writes and the "
                   "certificates stay)\n",
                   br.purged_ops, br.purged_feeds);
    }
    /* the good runs are in; say that some were not. A forked feed's runs
     * are no failure of the import: the fork is what status shows. */
    if (ret == EXIT_OK && br.runs_refused > br.runs_forked)
        ret = EXIT_FAIL;
    gs_replica_close(r);
    return ret;
}

/* ---- sync ---- */

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int
cmd_agent(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "endpoint passphrase");
    if (u >= 0)
        return u;
    if (a.npos)
        return gs_cli_usage_error(gs_cli_current, "takes no arguments");
    /* The agent runs on this process's handle, unlocked here, so that the
     * passphrase is wiped before the agent starts rather than kept for
     * its whole run (gs_agent_run would open the directory itself). */
    gs_replica *r = gs_cli_open_key(true, a.pass_file);
    if (!r)
        return EXIT_FAIL;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The agent's thread blocks SIGTERM and SIGINT (it inherits this
     * mask), so they reach this thread, which waits for them. */
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    gs_agent_opts o = {a.endpoint, NULL, NULL};
    gs_agent *ag = NULL;
    char why[512] = "";
    gs_err rc = gs_agent_start(r, &o, &ag, why, sizeof why);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != GS_OK) {
        gs_cli_fail("cannot start the agent", "%s",
                    why[0] ? why : gs_strerror(rc));
        gs_replica_close(r);
        return EXIT_FAIL;
    }
    while (!stop_flag) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL); /* a signal cuts it short */
    }
    gs_agent_stop(ag);
    gs_replica_close(r);
    return EXIT_OK;
}

static int
cmd_sync(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                              "json timeout passphrase");
    if (u >= 0)
        return u;
    if (a.npos != 1)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the peer as DEVICE_KEY@ENDPOINT");
    long secs = 60;
    if (a.timeout) {
        char *end;
        secs = strtol(a.timeout, &end, 10);
        if (*end || secs < 1 || secs > 86400)
            return gs_cli_usage_error(gs_cli_current,
                                      "--timeout takes seconds, 1..86400");
    }
    /* gs_sync_once opens the directory itself: ask for the passphrase
     * first if the key is sealed (one open more, without the key) */
    gs_replica *r = NULL;
    bool sealed = false;
    char why[512] = "";
    if (gs_replica_open(gs_cli_replica_dir, &r, why, sizeof why) == GS_OK)
        sealed = gs_replica_locked(r); /* else gs_sync_once says why */
    gs_replica_close(r);
    char *pass = NULL;
    size_t passlen = 0;
    if (sealed && (pass = ask_passphrase(a.pass_file, &passlen)) == NULL)
        return EXIT_FAIL;
    gs_sync_result res;
    why[0] = 0;
    gs_err rc = gs_sync_once_pass(gs_cli_replica_dir, a.pos[0], pass, passlen,
                                  (int)secs * 1000, &res, why, sizeof why);
    gs_cli_pass_free(pass);
    if (a.json) {
        printf("{\"ok\":%s,\"error\":%s%s%s,\"peer\":\"%s\","
               "\"ops_in\":%llu,\"ops_known\":%llu,\"ops_out\":%llu,"
               "\"rejected\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
               "\"messages_in\":%llu,\"messages_out\":%llu,"
               "\"purged_ops\":%llu,\"seconds\":%.3f}\n",
               rc == GS_OK ? "true" : "false", rc ? "\"" : "",
               rc ? gs_errname(rc) : "null", rc ? "\"" : "", res.peer_device,
               res.ops_in, res.ops_known, res.ops_out, res.rejected,
               res.bytes_in, res.bytes_out, res.msgs_in, res.msgs_out,
               res.purged_ops, res.seconds);
    }
    if (rc != GS_OK) {
        gs_cli_fail("sync failed", "%s", why[0] ? why : gs_strerror(rc));
        return EXIT_FAIL;
    }
    if (!a.json)
        printf("synced with %.16s…: %llu ops in (%llu already here, %llu "
               "refused), %llu ops out; %llu bytes in, %llu out; %.2f s\n",
               res.peer_device, res.ops_in, res.ops_known, res.rejected,
               res.ops_out, res.bytes_in, res.bytes_out, res.seconds);
    if (!a.json && res.purged_ops)
        printf("this device is revoked: removed %llu ops it may no longer "
               "read (its own writes and the certificates stay)\n",
               res.purged_ops);
    return EXIT_OK;
}

/* ---- the device key ---- */

static int
cmd_key(int argc, char **argv)
{
    struct args a;
    int u =
        gs_cli_parse_args(gs_cli_current, argc, argv, &a, "passphrase newpass");
    if (u >= 0)
        return u;
    if (a.npos != 1 || strcmp(a.pos[0], "passphrase"))
        return gs_cli_usage_error(gs_cli_current, "say 'key passphrase'");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    bool was_sealed = gs_replica_locked(r);
    if (!unlock_replica(r, a.pass_file)) {
        gs_replica_close(r);
        return EXIT_FAIL;
    }
    char *pass = NULL, why[512] = "";
    size_t len = 0;
    /* never the environment: it may hold the old passphrase */
    gs_err rc = gs_cli_pass_get(a.new_pass_file, false,
                                "new passphrase for the device key: ", true,
                                &pass, &len, why, sizeof why);
    if (rc == GS_ENOTFOUND && !why[0])
        snprintf(why, sizeof why,
                 "the new passphrase is needed: give it with "
                 "--new-passphrase-file FILE, or run from a terminal");
    if (rc == GS_OK)
        rc = gs_replica_passphrase_set(r, pass, len);
    else
        gs_cli_fail("key passphrase", "%s; the key file is as it was", why);
    gs_cli_pass_free(pass);
    int ret = EXIT_OK;
    if (rc != GS_OK && !why[0])
        ret = gs_cli_api_fail(r, "key passphrase", rc);
    else if (rc != GS_OK)
        ret = EXIT_FAIL;
    else if (was_sealed)
        printf("the device key of %s is sealed with the new passphrase; "
               "copies of the old key file still open with the old one\n",
               gs_cli_replica_dir);
    else
        printf("the device key of %s is now sealed with a passphrase: put, "
               "import, agent and sync ask for it; copies of the old key "
               "file (backups) still hold it in clear\n",
               gs_cli_replica_dir);
    gs_replica_close(r);
    return ret;
}

/* Whether an agent holds the replica's agent lock. */
static bool
agent_running(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/agent.lock", gs_cli_replica_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0;
    close(fd);
    return held;
}

/* ---- forks ---- */

struct forks_out {
    bool json;
    unsigned long long n;
    json_t *alarms; /* status: {author, scope, seq} per frozen feed */
};

static void
branch_print(int i, json_t *b)
{
    json_t *f = json_object_get(b, "first");
    printf("  branch %d: %lld op(s), signature %s; first: %s %s at %s:", i,
           (long long)json_integer_value(json_object_get(b, "ops")),
           json_is_true(json_object_get(b, "signed")) ? "verifies"
                                                      : "DOES NOT VERIFY",
           json_string_value(json_object_get(f, "type")),
           json_string_value(json_object_get(f, "id")),
           json_string_value(json_object_get(f, "at")));
    const char *k;
    json_t *u;
    json_object_foreach(json_object_get(f, "updates"), k, u)
    {
        char *v = json_dumps(json_object_get(u, "value"),
                             JSON_COMPACT | JSON_ENCODE_ANY);
        printf(" %s=%s", k, v ? v : "?");
        free(v);
    }
    printf("\n");
}

static int
forks_one(const char *json, void *ctx)
{
    struct forks_out *o = ctx;
    json_t *f = json_loads(json, 0, NULL);
    o->n++;
    const char *author = json_string_value(json_object_get(f, "author"));
    const char *scope = json_string_value(json_object_get(f, "scope"));
    long long seq = json_integer_value(json_object_get(f, "seq"));
    if (o->alarms) {
        json_array_append_new(o->alarms,
                              json_pack("{s:s, s:s, s:I}", "author", author,
                                        "scope", scope, "seq", seq));
    } else if (o->json) {
        puts(json);
    } else {
        printf("device %s, feed %s: two different ops signed at seq %lld; "
               "%s\n",
               author, scope, seq,
               json_is_true(json_object_get(f, "frozen"))
                   ? "the feed is frozen at the op before"
                   : "kept as evidence");
        size_t i;
        json_t *b;
        json_array_foreach(json_object_get(f, "branches"), i, b)
            branch_print((int)i + 1, b);
    }
    json_decref(f);
    return 0;
}

static int
cmd_status(int argc, char **argv)
{
    struct args a;
    int ret;
    gs_replica *r = open_plain(argc, argv, "json", &a, &ret);
    if (!r)
        return ret;
    struct forks_out fo = {false, 0, json_array()};
    gs_err rc = gs_replica_forks(r, forks_one, &fo);
    if (rc != GS_OK) {
        json_decref(fo.alarms);
        ret = gs_cli_api_fail(r, "status", rc);
        gs_replica_close(r);
        return ret;
    }
    gs_replica_close(r);
    char path[4200];
    snprintf(path, sizeof path, "%s/agent.status", gs_cli_replica_dir);
    bool running = agent_running();
    json_error_t err;
    json_t *st = json_load_file(path, 0, &err);
    if (!json_is_object(st)) { /* none yet, or damaged: the agent rewrites it */
        json_decref(st);
        st = json_pack("{s:b,s:[]}", "running", 0, "peers");
    }
    json_object_set_new(st, "running", json_boolean(running));
    json_object_set(st, "forks", fo.alarms); /* alarms stays ours */
    if (a.json) {
        char *s = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
        puts(s ? s : "{}");
        free(s);
        json_decref(st);
        json_decref(fo.alarms);
        return EXIT_OK;
    }
    size_t i;
    json_t *p;
    json_array_foreach(fo.alarms, i, p)
        printf("ALARM: device %.16s… signed two different ops at seq %lld "
               "of %s; that feed is frozen. See 'gridsync forks'.\n",
               json_string_value(json_object_get(p, "author")),
               (long long)json_integer_value(json_object_get(p, "seq")),
               json_string_value(json_object_get(p, "scope")));
    printf("agent: %s", running ? "running" : "not running");
    const char *ep = json_string_value(json_object_get(st, "endpoint"));
    if (running && ep)
        printf(" on %s", ep);
    const char *dev = json_string_value(json_object_get(st, "device"));
    if (dev)
        printf("\ndevice: %s", dev);
    const char *upd = json_string_value(json_object_get(st, "updated"));
    if (upd)
        printf("\nstatus as of %s", upd);
    printf("\n");
    json_array_foreach(json_object_get(st, "peers"), i, p)
    {
        const char *d = json_string_value(json_object_get(p, "device"));
        const char *e = json_string_value(json_object_get(p, "endpoint"));
        const char *lc = json_string_value(json_object_get(p, "last_contact"));
        const char *le = json_string_value(json_object_get(p, "last_error"));
        const char *ru = json_string_value(json_object_get(p, "refused_us"));
        printf("peer %.16s%s %s%s: %s, %s; last contact %s\n",
               d ? d : "(unknown)", d ? "…" : "",
               e ? "at " : "(dialed us)", e ? e : "",
               json_is_true(json_object_get(p, "connected")) ? "connected"
                                                             : "not connected",
               json_is_true(json_object_get(p, "in_sync")) ? "in sync"
               : json_is_true(json_object_get(p, "syncing")) ? "syncing"
                                                             : "not in sync",
               lc ? lc : "never");
        json_int_t owes = json_integer_value(json_object_get(p, "ops_it_owes_us")),
                   owe = json_integer_value(json_object_get(p, "ops_we_owe_it"));
        if (owes || owe)
            printf("  it owes us %lld ops, we owe it %lld\n", (long long)owes,
                   (long long)owe);
        printf("  ops in %lld, out %lld; bytes in %lld, out %lld; sessions "
               "ok %lld, failed %lld%s%s\n",
               json_integer_value(json_object_get(p, "ops_in")),
               json_integer_value(json_object_get(p, "ops_out")),
               json_integer_value(json_object_get(p, "bytes_in")),
               json_integer_value(json_object_get(p, "bytes_out")),
               json_integer_value(json_object_get(p, "sessions_ok")),
               json_integer_value(json_object_get(p, "sessions_failed")),
               le ? "; last error " : "", le ? le : "");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(p, "rejected"), k, v)
            printf("  refused from it: %lld ops, %s\n", json_integer_value(v),
                   k);
        if (ru)
            printf("  it refused us: %s\n", ru);
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(st, "hostile"), k, v)
        printf("hostile peers disconnected: %lld for %s\n",
               json_integer_value(v), k);
    json_int_t refused =
        json_integer_value(json_object_get(st, "refused_handshakes"));
    if (refused)
        printf("handshakes refused (key not in agent.peers or agent.accept): "
               "%lld\n",
               (long long)refused);
    json_decref(st);
    json_decref(fo.alarms);
    return EXIT_OK;
}

/* ---- trust ---- */

/* Split a comma list in place into v (at most max); the count, or -1. */
static int
split_list(char *list, const char **v, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return -1;
        v[n++] = t;
    }
    return n;
}

/* --until: YYYY-MM-DD (valid through the end of that day, UTC) or ms
 * since the epoch; 0 on a bad date. */
static unsigned long long
parse_until(const char *s)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && y >= 1970 &&
        m >= 1 && m <= 12 && d >= 1 && d <= 31) {
        /* days since the epoch (civil calendar, Howard Hinnant's method) */
        long yy = y - (m <= 2);
        long era = yy / 400, yoe = yy - era * 400;
        long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        long days = era * 146097 + doe - 719468;
        return (unsigned long long)(days + 1) * 86400000ULL;
    }
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return *s && !*end ? v : 0;
}

/* Enroll (o given) or revoke (o NULL) the device a->pos[1] on the
 * authority's replica, its key unlocked; false after saying why. On
 * success a running agent is poked, so the new trust op reaches the
 * peers without waiting for the next sync. */
static bool
authority_write(const struct args *a, const gs_cert_opts *o)
{
    char why[512] = "";
    gs_replica *r = gs_cli_open_key(true, a->pass_file);
    if (!r)
        return false;
    gs_err rc = o ? gs_authority_enroll(r, a->pos[1], o, why, sizeof why)
                  : gs_authority_revoke(r, a->pos[1], why, sizeof why);
    gs_replica_close(r);
    if (rc != GS_OK) {
        gs_cli_fail(o ? "enroll" : "revoke", "%s",
                    why[0] ? why : gs_strerror(rc));
        return false;
    }
    gs_agent_poke(gs_cli_replica_dir);
    return true;
}

static int
authority_enroll(struct args *a)
{
    char wbuf[4096], rbuf[4096];
    const char *w[64], *rd[64];
    if (a->npos != 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the device key to enroll");
    if (!a->write)
        return gs_cli_usage_error(gs_cli_current,
                                  "--write SCOPES is required: the org "
                                  "paths the device may write under");
    snprintf(wbuf, sizeof wbuf, "%s", a->write);
    snprintf(rbuf, sizeof rbuf, "%s", a->read ? a->read : "");
    int nw = split_list(wbuf, w, 64), nr = split_list(rbuf, rd, 64);
    if (nw <= 0 || nr < 0)
        return gs_cli_usage_error(gs_cli_current,
                                  "give 1 to 64 scopes, separated by "
                                  "commas, to --write and --read");
    unsigned long long until = a->until ? parse_until(a->until) : 0;
    if (a->until && until == 0)
        return gs_cli_usage_error(gs_cli_current,
                                  "--until takes a date, YYYY-MM-DD");
    gs_cert_opts o = {a->name, a->role ? a->role : "tablet", w, (size_t)nw,
                      rd, (size_t)nr, a->shop, until};
    if (!authority_write(a, &o))
        return EXIT_FAIL;
    if (a->json)
        printf("{\"enrolled\":\"%s\"}\n", a->pos[1]);
    else
        printf("enrolled %s (%s, %s): it may write under %s; the "
               "certificate travels with the trust scope in every sync, or "
               "on a stick with 'gridsync -r %s bundle export FILE'\n",
               a->pos[1], a->name, o.role, a->write, gs_cli_replica_dir);
    return EXIT_OK;
}

static int
authority_revoke(struct args *a)
{
    if (a->npos != 2)
        return gs_cli_usage_error(gs_cli_current,
                                  "name the device key to revoke");
    if (!authority_write(a, NULL))
        return EXIT_FAIL;
    if (a->json)
        printf("{\"revoked\":\"%s\"}\n", a->pos[1]);
    else
        printf("revoked %s: every replica that learns of it refuses the "
               "device's later ops and its connections\n",
               a->pos[1]);
    return EXIT_OK;
}

static int
cmd_authority(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "init")) {
        /* an authority is a replica of its own network that writes only
         * in the trust scope: init with --scope trust */
        char *v[40];
        int n = 0;
        v[n++] = "init";
        for (int i = 2; i < argc && n < 36; i++) {
            if (!strcmp(argv[i], "--authority") || !strcmp(argv[i], "--scope"))
                return gs_cli_usage_error(gs_cli_current,
                                          "an authority is its own "
                                          "network and writes in the "
                                          "trust scope: no %s",
                                          argv[i]);
            v[n++] = argv[i];
        }
        v[n++] = "--scope";
        v[n++] = "trust";
        return cmd_init(n, v);
    }
    struct args a;
    int u =
        gs_cli_parse_args(gs_cli_current, argc, argv, &a,
                          "json name role write read shop until passphrase");
    if (u >= 0)
        return u;
    if (a.npos >= 1 && !strcmp(a.pos[0], "enroll"))
        return authority_enroll(&a);
    if (a.npos >= 1 && !strcmp(a.pos[0], "revoke"))
        return authority_revoke(&a);
    return gs_cli_usage_error(gs_cli_current,
                              "say 'authority init DIR', 'authority "
                              "enroll KEY ...' or 'authority revoke KEY'");
}

static int
cmd_trust(int argc, char **argv)
{
    struct args a;
    int u = gs_cli_parse_args(gs_cli_current, argc, argv, &a, "json");
    if (u >= 0)
        return u;
    if (a.npos != 1 || strcmp(a.pos[0], "list"))
        return gs_cli_usage_error(gs_cli_current, "say 'trust list'");
    gs_replica *r = gs_cli_open();
    if (!r)
        return EXIT_FAIL;
    char *json = NULL;
    gs_err rc = gs_trust_list(r, &json);
    int ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "trust list", rc);
    gs_replica_close(r);
    if (rc != GS_OK)
        return ret;
    if (a.json) {
        puts(json);
        free(json);
        return EXIT_OK;
    }
    json_t *t = json_loads(json, 0, NULL), *c;
    free(json);
    size_t i;
    printf("authority: %s\n",
           json_string_value(json_object_get(t, "authority")));
    json_array_foreach(json_object_get(t, "certs"), i, c) {
        json_t *v;
        size_t k;
        printf("%s  %s  %s%s%s\n",
               json_string_value(json_object_get(c, "device")),
               json_string_value(json_object_get(c, "role"))
                   ? json_string_value(json_object_get(c, "role"))
                   : "-",
               json_string_value(json_object_get(c, "name"))
                   ? json_string_value(json_object_get(c, "name"))
                   : "(no certificate here)",
               json_is_true(json_object_get(c, "shop")) ? "  shop" : "",
               json_is_true(json_object_get(c, "revoked")) ? "  REVOKED"
                                                            : "");
        printf("    write:");
        json_array_foreach(json_object_get(c, "write"), k, v)
            printf(" %s", json_string_value(v));
        printf("\n    read:");
        json_array_foreach(json_object_get(c, "read"), k, v)
            printf(" %s", json_string_value(v));
        printf("\n");
        if (json_is_integer(json_object_get(c, "until")))
            printf("    until: %lld ms\n",
                   (long long)json_integer_value(json_object_get(c, "until")));
        json_array_foreach(json_object_get(c, "cutoff"), k, v)
            printf("    cutoff: %s\n", json_string_value(v));
    }
    json_decref(t);
    return EXIT_OK;
}

struct feeds_out {
    bool json;
    unsigned long long feeds, ops;
};

static int
feeds_one(const char *json, void *ctx)
{
    struct feeds_out *o = ctx;
    json_t *f = json_loads(json, 0, NULL);
    long long seq = json_integer_value(json_object_get(f, "seq"));
    o->feeds++;
    o->ops += (unsigned long long)seq;
    if (o->json)
        puts(json);
    else
        printf("%.16s…  %-32s %8lld ops%s\n",
               json_string_value(json_object_get(f, "author")),
               json_string_value(json_object_get(f, "scope")), seq,
               json_is_true(json_object_get(f, "frozen")) ? "  FROZEN (fork)"
                                                         : "");
    json_decref(f);
    return 0;
}

static int
cmd_feeds(int argc, char **argv)
{
    struct args a;
    int ret;
    gs_replica *r = open_plain(argc, argv, "json scope", &a, &ret);
    if (!r)
        return ret;
    struct feeds_out o = {a.json, 0, 0};
    gs_err rc = gs_replica_feeds(r, a.scope, feeds_one, &o);
    ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "feeds", rc);
    gs_replica_close(r);
    if (rc == GS_OK && !a.json)
        printf("%llu feeds, %llu ops\n", o.feeds, o.ops);
    return ret;
}

static int
cmd_forks(int argc, char **argv)
{
    struct args a;
    int ret;
    gs_replica *r = open_plain(argc, argv, "json", &a, &ret);
    if (!r)
        return ret;
    struct forks_out o = {a.json, 0, NULL};
    gs_err rc = gs_replica_forks(r, forks_one, &o);
    ret = rc == GS_OK ? EXIT_OK : gs_cli_api_fail(r, "forks", rc);
    gs_replica_close(r);
    if (rc == GS_OK && !a.json) {
        if (o.n)
            printf("%llu forked feed(s). A device that signs two histories "
                   "has its key in two places: have the authority revoke it "
                   "('gridsync authority revoke KEY') and enroll a new key "
                   "for the device that should keep working.\n",
                   o.n);
        else
            printf("no forks\n");
    }
    return ret;
}

static const struct cmd cmds[] = {
    {"init", cmd_init, "create a replica: a device key, a config, a store",
     "DIR --scope SCOPE [--authority KEY] [--name NAME] [--passphrase "
     "[--passphrase-file FILE]] [--json]",
     "  --scope SCOPE      org path this device writes in, e.g.\n"
     "                     yc.yimei.nanjun.xinxin.g012\n"
     "  --authority KEY    the district authority's public key (64 hex);\n"
     "                     without it the replica is a standalone network\n"
     "  --name NAME        name shown to peers (default: the directory)\n"
     "  --passphrase       seal the device key with a passphrase (Argon2id\n"
     "                     and secretbox): asked twice on the terminal,\n"
     "                     never echoed; then put, import, agent and sync\n"
     "                     ask for it, reads do not. A lost passphrase is a\n"
     "                     lost key: the device must be enrolled anew.\n"
     "  --passphrase-file F  read it from the first line of F instead (for\n"
     "                     scripts; implies --passphrase)\n"
     "Without a terminal the passphrase may come from $GRIDSYNC_PASSPHRASE.\n"
     "The terminal is the safe source: a file can be read by its readers\n"
     "and root, and stays on disk (keep it 0600, on a RAM disk, and delete\n"
     "it); a variable can be read by root and by processes of the same\n"
     "user (/proc/PID/environ) and is passed to every child process.\n"
     "To seal an existing replica's key: 'gridsync key passphrase'.\n"
     "Prints the device key, which the authority enrolls.\n"},
    {"put", cmd_put, "set fields of an entity (one signed op)",
     "TYPE ID field=value... | TYPE ID --fields JSON [--scope SCOPE] "
     "[--passphrase-file F] [--json]",
     "  --scope SCOPE      write under SCOPE, at or below replica.scope (a\n"
     "                     station writing about one of its grids, so the\n"
     "                     grid's tablets get it)\n"
     "  field=value        set a field (text, or a number for number "
     "fields)\n"
     "  field+=N, field-=N add to or take from a counter (points)\n"
     "  field+=x, field-=x add or remove x in a set (tags)\n"
     "  field+=text        append an entry to a log (diary, comments)\n"
     "  stage=NAME         move a workflow stage; stage=reopen starts a new "
     "round\n"
     "  --fields JSON      the fields as a JSON object instead\n"
     "  --passphrase-file F  the device key's passphrase is the first line of\n"
     "                     F, if the key is sealed (see 'gridsync init "
     "--help')\n"
     "The write is durable when the command returns.\n"},
    {"get", cmd_get, "show an entity", "TYPE ID [--json] [--reveal] [--meta]",
     "  --reveal           show personal fields (ID numbers, phones, health)\n"
     "  --meta             show who wrote each field and when\n"
     "  --json             one line of JSON\n"},
    {"list", cmd_list, "list entities, one JSON per line",
     "[TYPE] [--where field=value] [--reveal] [--json]",
     "  --where f=v        only entities whose field f is v (or holds v)\n"
     "  --reveal           show personal fields\n"},
    {"history", cmd_history,
     "every op that touched an entity: the audit "
     "trail",
     "TYPE ID [--json]",
     "One JSON line per op, oldest first: author, scope, seq, time, "
     "fields.\n"},
    {"digest", cmd_digest, "state digest of this replica",
     "[--rebuild] "
     "[--json]",
     "Equal digests mean equal state. --rebuild recomputes it from the op\n"
     "log alone (slow), to check the materialised state.\n"},
    {"import", cmd_import, "import records from a JSON Lines file",
     "FILE [--skip-bad] [--scope SCOPE] [--passphrase-file F] [--json]",
     "Each line: {\"type\": T, \"id\": I, \"fields\": {...}}. Every line is\n"
     "checked first: a bad line is named with its reason and nothing is\n"
     "written, unless --skip-bad, which writes the good lines.\n"
     "  --scope SCOPE      write under SCOPE, at or below replica.scope (the\n"
     "                     district loading one grid's records)\n"
     "  --passphrase-file F  the device key's passphrase is the first line of\n"
     "                     F, if the key is sealed (see 'gridsync init "
     "--help')\n"},
    {"bundle", cmd_bundle, "write or read the signed ops for a USB stick",
     "export FILE [--name ORIGIN] [--for DEVICE_KEY] | import FILE [--json]",
     "  export FILE        every op this replica holds, signed, in one file\n"
     "  import FILE        apply a bundle; importing twice changes nothing\n"
     "  --name ORIGIN      who made the bundle (default: replica.name)\n"
     "  --for DEVICE_KEY   only what that device's certificate lets it read,\n"
     "                     and the certificates (a tablet's stick)\n"
     "A run that fails its checks is named with its reason and the rest\n"
     "are imported; then the exit status is 1. docs/bundle.md has the "
     "format.\n"},
    {"config", cmd_config, "show every config key, or set one",
     "[--json] | set KEY VALUE",
     "Shows each key with its value, help and default. 'set' checks the\n"
     "value and rewrites gridsync.conf.\n"},
    {"export", cmd_export, "write every entity as JSON Lines", "[FILE|-]",
     "Personal fields are included: an export is a backup. Default: "
     "stdout.\n"},
    {"agent", cmd_agent, "run the sync agent (the daemon)",
     "[--endpoint ENDPOINT] [--passphrase-file F]",
     "Listens on agent.endpoint, dials agent.peers (DEVICE_KEY@ENDPOINT),\n"
     "syncs every agent.sync_interval seconds and pushes new writes at once.\n"
     "Devices in agent.accept (and agent.peers) may dial in. One line per\n"
     "session on stderr. Stops cleanly on SIGTERM or Ctrl-C.\n"
     "  --endpoint E       listen here instead of agent.endpoint\n"
     "  --passphrase-file F  the device key's passphrase is the first line of\n"
     "                     F, if the key is sealed (see 'gridsync init "
     "--help')\n"
     "A sealed key is unlocked once, at start; under systemd, hand the\n"
     "passphrase over as a credential (scripts/systemd has how).\n"},
    {"sync", cmd_sync, "one sync session with a peer, then exit",
     "DEVICE_KEY@ENDPOINT [--timeout SECONDS] [--passphrase-file F] "
     "[--json]",
     "For tablets and cron: both replicas end with what either had in the\n"
     "scopes synced. The peer must accept this device's key.\n"
     "  --timeout S        give up after S seconds (default 60)\n"
     "  --passphrase-file F  the device key's passphrase is the first line of\n"
     "                     F, if the key is sealed (see 'gridsync init "
     "--help')\n"},
    {"key", cmd_key, "seal the device key with a passphrase, or change it",
     "passphrase [--passphrase-file F] [--new-passphrase-file F]",
     "  passphrase         seal the device key with a new passphrase (asked\n"
     "                     twice on the terminal): adds one to a key kept\n"
     "                     in clear, or changes it (the current one is\n"
     "                     asked first). The key stays the same: nothing\n"
     "                     to enroll again.\n"
     "  --passphrase-file F  the current passphrase, if the key is sealed\n"
     "                     (or $GRIDSYNC_PASSPHRASE, or the terminal)\n"
     "  --new-passphrase-file F  the new one, from the first line of F\n"
     "                     (never from the environment)\n"
     "Copies of the old key file (backups, and free disk blocks for a key\n"
     "that was in clear) are not touched; to have a key never on disk in\n"
     "clear, seal it at 'gridsync init --passphrase'.\n"},
    {"authority", cmd_authority,
     "the district authority: make it, enroll and revoke devices",
     "init DIR [--name NAME] [--passphrase] | enroll KEY --name NAME --role "
     "district|station|tablet --write SCOPES [--read SCOPES] [--shop] "
     "[--until YYYY-MM-DD] | revoke KEY [--json]",
     "  init DIR           make the authority: a replica whose device key is\n"
     "                     the network id every replica names at init\n"
     "  enroll KEY         write a certificate for the device KEY (64 hex):\n"
     "    --name NAME      shown in listings\n"
     "    --role ROLE      district, station or tablet\n"
     "    --write SCOPES   org paths it may write under, comma-separated\n"
     "    --read SCOPES    org paths it is served (trust always)\n"
     "    --shop           it may write redemptions (points taken)\n"
     "    --until DATE     valid through DATE (UTC); default: no end\n"
     "  revoke KEY         refuse the device's ops past what this replica\n"
     "                     holds of it, and its connections, everywhere;\n"
     "                     import the district's bundle here first, or\n"
     "                     every op the device ever wrote is refused\n"
     "Run enroll and revoke on the authority's replica (-r DIR). Enrolling\n"
     "again only widens: scopes are added, --until moves later. The\n"
     "certificates reach devices in every sync (the trust scope goes\n"
     "first) or on a stick: 'bundle export' here, 'bundle import' there.\n"},
    {"ticket", gs_cli_ticket,
     "incident tickets: report, move through their stages, rate, show",
     "report ID --category CAT --grid G [--title T] [--reporter R] "
     "[--deadline DATE] [--address A] | accept ID | dispatch ID DEPT | "
     "progress ID | resolve ID | close ID | reopen ID | rate ID 1..5 | "
     "show ID | list [--grid G] [--stage S]  [--note TEXT] [--by WHO] "
     "[--passphrase-file F] [--json]",
     "  report ID          a new ticket at stage reported:\n"
     "    --category CAT   a category of seeds/catalog.json (市政设施,\n"
     "                     环境卫生, ...); its department and time limit\n"
     "                     come with it\n"
     "    --grid G         the grid's org path, e.g. yc.s01.c03.g012\n"
     "    --title, --reporter, --address  as they say\n"
     "    --deadline DATE  YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (default: now\n"
     "                     plus the category's time limit)\n"
     "  accept ID          reported -> accepted\n"
     "  dispatch ID DEPT   accepted -> dispatched to the department (again\n"
     "                     at dispatched: hand it to another department)\n"
     "  progress ID        dispatched -> in_progress, or a progress note\n"
     "  resolve ID         dispatched or in_progress -> resolved\n"
     "  close ID           resolved -> closed\n"
     "  reopen ID          resolved or closed -> a new round at reported\n"
     "  rate ID STARS      satisfaction 1..5, once resolved or closed\n"
     "  show ID            the ticket and its history\n"
     "  list               tickets, one a line; --grid G, --stage S filter\n"
     "  --note TEXT        added to the step's line in the history\n"
     "  --by WHO           who takes the step (default: replica.name)\n"
     "  --json             report and steps: {ok, ticket, step, stage,\n"
     "                     round}; show: the entity; list: one a line\n"
     "A step the stage does not allow is refused, exit 1, nothing written.\n"
     "The rules see this replica's state: a step taken at the same time on\n"
     "another device may still win when the replicas meet (stages merge to\n"
     "the later one), as the merge rules say.\n"},
    {"points", gs_cli_points,
     "red-pine points: grant, redeem at the points shop, balance",
     "grant PERSON N --reason TEXT | redeem PERSON N --reason TEXT | "
     "balance PERSON  [--by WHO] [--passphrase-file F] [--json]",
     "  grant PERSON N     add N points (1..100000) to the person's balance\n"
     "  redeem PERSON N    take N points: only on the points shop's device\n"
     "                     (its certificate has the shop flag), and only if\n"
     "                     the balance this replica sees covers N\n"
     "  balance PERSON     the balance here and the ledger\n"
     "  --reason TEXT      why: goes into the ledger line (required)\n"
     "  --by WHO           who grants or redeems (default: replica.name)\n"
     "  --json             grant/redeem: {ok, person, granted|redeemed,\n"
     "                     balance}; balance: {person, balance, ledger}\n"
     "Grants not yet synced to the shop only raise the true balance, so a\n"
     "balance never goes below zero anywhere.\n"},
    {"visit", gs_cli_visit, "the people's diary: record a visit to a household",
     "add HOUSEHOLD --note TEXT [--worker W] [--at TIME] [--grid G] "
     "[--passphrase-file F] [--json]",
     "  add HOUSEHOLD      a new visit record; the household must be in\n"
     "                     this replica\n"
     "  --note TEXT        what the visit found (required)\n"
     "  --worker W         the grid worker (default: replica.name)\n"
     "  --at TIME          'YYYY-MM-DD HH:MM' (default: now, local time)\n"
     "  --grid G           the visit's grid (default: the household's)\n"
     "  --json             {ok, visit, household}\n"
     "The id is V-HOUSEHOLD-YYYYMMDDHHMM-DEVICE (DEVICE: 8 hex digits of\n"
     "this device's key; -2, -3 ... for more in one minute), so visits from\n"
     "two devices never overwrite each other.\n"},
    {"checkin", gs_cli_checkin,
     "the daily check on elderly people living alone; who has none today",
     "PERSON ok|concern [--note TEXT] [--day DAY] [--worker W] | missing "
     "--grid G [--day DAY]  [--passphrase-file F] [--json]",
     "  PERSON ok|concern  the day's check-in of the person (who must be in\n"
     "                     this replica): one record per person per day,\n"
     "                     C-PERSON-YYYYMMDD; its grid is the person's, else\n"
     "                     the household's\n"
     "  missing --grid G   the residents of grid G tagged elderly-alone with\n"
     "                     no check-in for the day: the morning's round\n"
     "  --note TEXT        a remark (replaces the day's remark)\n"
     "  --day DAY          YYYY-MM-DD (default: today, local date)\n"
     "  --worker W         who checks (default: replica.name)\n"
     "  --json             check-in: {ok, checkin, person, day, status,\n"
     "                     updated}; missing: {grid, day, missing: [{person,\n"
     "                     name, household}]}\n"
     "A second check-in the same day writes the same record: field by field\n"
     "the later one stands everywhere (last writer wins); the record's\n"
     "history ('gridsync history checkin ID') keeps both.\n"},
    {"wish", gs_cli_wish,
     "micro-wishes: post, claim (one winner everywhere), withdraw, fulfil",
     "post ID --title T --poster PERSON --grid G [--reward N] | claim ID "
     "PERSON | withdraw ID PERSON | fulfil ID | show ID  "
     "[--passphrase-file F] [--json]",
     "  post ID            a new wish, status open\n"
     "    --title T, --poster PERSON, --grid G  required\n"
     "    --reward N       points for the claimant, 0..100000\n"
     "  claim ID PERSON    PERSON claims it (status claimed); refused once\n"
     "                     fulfilled, or if PERSON claims it already\n"
     "  withdraw ID PERSON PERSON takes their claim back (status open again\n"
     "                     when none remains); refused without a claim\n"
     "  fulfil ID          done (status done); refused while nobody claims it\n"
     "  show ID            the wish, its winner and who lost to whom\n"
     "  --json             steps: {ok, wish, step, winner}; show: the entity\n"
     "                     (claims: {winner, losing})\n"
     "The earliest surviving claim wins, the same on every device; a claim\n"
     "made offline elsewhere earlier may still win when replicas meet, and\n"
     "the later claimants are listed as losing.\n"},
    {"conflicts", gs_cli_conflicts,
     "every write that lost to a concurrent one: who lost to whom, when",
     "[--grid G] [--json]",
     "  --grid G           only entities in grid G (their own grid, or their\n"
     "                     household's), or below G: a community's path\n"
     "                     lists its grids\n"
     "  --json             one JSON object per conflict: type, id, field,\n"
     "                     kind, grid, lost and won (value, at, hlc, author,\n"
     "                     device), why\n"
     "A write is overruled when another write wins the field and its writer\n"
     "had not seen the first: a ticket closed at the station while the\n"
     "resident reopened it on a tablet cut off from it, a phone number\n"
     "changed on two devices. Claims list every claimant after the winner\n"
     "(the earliest claim wins). An edit made after seeing the old value is\n"
     "no conflict. Every replica that holds the same ops lists the same.\n"},
    {"report", gs_cli_report,
     "the command centre's figures per community and grid",
     "[--scope S] [--day YYYY-MM-DD] [--json]",
     "  --scope S          org path to report on (default: replica.scope)\n"
     "  --day DAY          the report day for check-ins and overdue\n"
     "                     (default: today)\n"
     "  --json             one object: scope, name, day, totals,\n"
     "                     communities[] with their totals and grids[]\n"
     "Per grid, per community (the grid path's parent) and in total, over\n"
     "the tickets, residents and check-ins this replica holds now:\n"
     "  tickets     tickets whose grid is under S (a reopened one once)\n"
     "  response    tickets whose stage reached accepted, the first op\n"
     "              that moved it there taken at or before the deadline,\n"
     "              / tickets. The op's time is the 'YYYY-MM-DD HH:MM' its\n"
     "              comment starts with (imported registers and generated\n"
     "              districts: an import stamps ops with the import time),\n"
     "              else its clock stamp; no deadline: accepted is in time\n"
     "  closure     tickets at closed / tickets\n"
     "  satisfaction  mean over tickets rated 1..5, and the share >= 4\n"
     "  overdue     not resolved or closed, deadline before the day's end\n"
     "  check-ins   residents tagged elderly-alone with a check-in of DAY\n"
     "              / all of them (a check-in counts for its resident's\n"
     "              grid; concern ones counted apart)\n"
     "  points      positive / negative deltas of the points counter\n"
     "A rate with nothing to count shows n/a (null in JSON), never 0.\n"
     "See docs/cli.md, Report.\n"},
    {"forks", cmd_forks,
     "devices that signed two histories: the evidence, and the frozen feeds",
     "[--json]",
     "  --json             one JSON object per forked feed: author, scope,\n"
     "                     seq, frozen, and both branches (ops, whether the\n"
     "                     signature verifies, the first op)\n"},
    {"feeds", cmd_feeds, "what this replica holds, feed by feed",
     "[--scope SCOPE] [--json]",
     "  --scope SCOPE      only feeds in SCOPE and below it\n"
     "  --json             one JSON object per feed: author, scope, seq,\n"
     "                     head (hash), frozen\n"
     "A feed is one device's ops in one scope; seq is how many it holds.\n"},
    {"trust", cmd_trust, "list certificates and revocations",
     "list [--json]",
     "Every device certificate this replica holds: role, write and read\n"
     "scopes, shop flag, end date, and revocations with their cutoffs.\n"},
    {"status", cmd_status, "the agent and its peers", "[--json]",
     "Per peer: connected, in sync, last contact, ops and bytes both ways,\n"
     "ops refused by reason. Works whether the agent runs or not.\n"},
};

#define N_CMDS (sizeof cmds / sizeof cmds[0])

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: gridsync [-r DIR] COMMAND [ARGS]\n"
            "\n"
            "gridsync keeps grid-governance data in step between a district\n"
            "node, village stations and field tablets.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_CMDS; i++)
        fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "  %-10s %s\n", "version", "print the version");
    fprintf(out, "\n"
                 "  -r, --replica DIR  the replica to use (default: "
                 "$GRIDSYNC_REPLICA, or .)\n"
                 "\n"
                 "Run 'gridsync COMMAND --help' for a command's options.\n"
                 "Exit status: 0 ok, 1 failed, 2 usage error.\n");
}

int
main(int argc, char **argv)
{
    int i = 1;
    gs_cli_replica_dir = getenv("GRIDSYNC_REPLICA");
    while (i < argc && argv[i][0] == '-') {
        if ((!strcmp(argv[i], "-r") || !strcmp(argv[i], "--replica")) &&
            i + 1 < argc) {
            gs_cli_replica_dir = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--version")) {
            printf("gridsync %s\n", gs_version());
            return EXIT_OK;
        } else {
            fprintf(stderr, "gridsync: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (gs_cli_replica_dir == NULL || !*gs_cli_replica_dir)
        gs_cli_replica_dir = ".";
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i];
    if (!strcmp(name, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "version")) {
        if (wants_help(argc - i, argv + i)) {
            printf("usage: gridsync version\n\nPrint the version.\n");
            return EXIT_OK;
        }
        printf("gridsync %s\n", gs_version());
        return EXIT_OK;
    }
    for (size_t k = 0; k < N_CMDS; k++) {
        if (strcmp(name, cmds[k].name) != 0)
            continue;
        gs_cli_current = &cmds[k];
        if (wants_help(argc - i, argv + i)) {
            printf("usage: gridsync %s %s\n\n%s.\n\n%s", cmds[k].name,
                   cmds[k].usage, cmds[k].summary, cmds[k].help);
            return EXIT_OK;
        }
        return cmds[k].run(argc - i, argv + i);
    }
    fprintf(stderr,
            "gridsync: unknown command '%s'; run 'gridsync help' for the "
            "list\n",
            name);
    return EXIT_USAGE;
}
