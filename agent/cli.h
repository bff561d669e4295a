/*
 * cli.h — what the command's source files share: the command table's
 * entry, argument parsing, opening the replica, and the messages every
 * command prints alike (main.c defines them; domain_cmd.c uses them).
 *
 * Conventions (main.c has them in full): exit 0 ok, 1 failed, 2 usage;
 * failures print "gridsync: what: why; what to do" on stderr.
 */
#ifndef GS_AGENT_CLI_H
#define GS_AGENT_CLI_H

#include "gridsync.h"

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* after "usage: gridsync NAME " */
    const char *help;  /* options and notes */
};

/* Simple flag parsing: flags may come anywhere; the rest are positional. */
struct args {
    const char *pos[16];
    int npos;
    bool json, reveal, meta, rebuild, skip_bad, passphrase;
    const char *where, *scope, *authority, *name, *fields_json;
    const char *timeout, *endpoint, *pass_file, *new_pass_file;
    const char *role, *write, *read, *until, *for_device;
    bool shop;
    /* tickets and points (domain_cmd.c) */
    const char *category, *grid, *title, *reporter, *deadline, *address;
    const char *note, *by, *reason, *stage;
    /* visits, check-ins, wishes (domain_cmd.c) */
    const char *worker, *at, *day, *poster, *reward;
};

/* The replica directory (-r) and the command being run. */
extern const char *gs_cli_replica_dir;
extern const struct cmd *gs_cli_current;

/* "gridsync: what: ..." on stderr. */
void gs_cli_fail(const char *what, const char *fmt, ...);
/* Say what is wrong with c's arguments and its usage; EXIT_USAGE. */
int gs_cli_usage_error(const struct cmd *c, const char *fmt, ...);
/* Parse argv into *a, accepting the options `allowed` names (a list of
 * words: "json passphrase ..."). -1 when fine, else the exit status of
 * the usage error it printed. */
int gs_cli_parse_args(const struct cmd *c, int argc, char **argv,
                      struct args *a, const char *allowed);
/* Open the replica for reading (a sealed key is not asked for), or, with
 * gs_cli_open_key(true, ...), for signing; NULL after saying why. The
 * caller closes it. */
gs_replica *gs_cli_open(void);
gs_replica *gs_cli_open_key(bool key, const char *pass_file);
/* Say that what failed, with r's detail; EXIT_FAIL. */
int gs_cli_api_fail(gs_replica *r, const char *what, gs_err rc);
/* An entity's JSON: as is (compact) or indented for people. */
int gs_cli_print_json(const char *json, bool compact);

/* The domain commands (domain_cmd.c). */
int gs_cli_ticket(int argc, char **argv);
int gs_cli_points(int argc, char **argv);
int gs_cli_visit(int argc, char **argv);
int gs_cli_checkin(int argc, char **argv);
int gs_cli_wish(int argc, char **argv);
int gs_cli_conflicts(int argc, char **argv);
/* The command centre's report (report_cmd.c). */
int gs_cli_report(int argc, char **argv);

#endif /* GS_AGENT_CLI_H */
