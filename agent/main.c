/*
 * main.c — the `gridsync` command line: git-style subcommands, --help
 * everywhere, exit codes 0 ok, 1 failed, 2 usage.
 *
 * Only `version` and `help` exist until the replica lands (issue 3); every
 * other command word is a usage error that says so.
 */
#include "gridsync.h"

#include <stdio.h>
#include <string.h>

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: gridsync COMMAND [ARGS]\n"
            "\n"
            "gridsync keeps grid-governance data in step between a district\n"
            "node, village stations and field tablets.\n"
            "\n"
            "commands:\n"
            "  version    print the version\n"
            "  help       print this help\n"
            "\n"
            "Run 'gridsync COMMAND --help' for a command's options.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        if (argc > 2 && !strcmp(argv[2], "--help")) {
            printf("usage: gridsync version\n\nPrint the version of "
                   "gridsync.\n");
            return 0;
        }
        printf("gridsync %s\n", gs_version());
        return 0;
    }
    fprintf(stderr,
            "gridsync: unknown command '%s'; run 'gridsync help' for the "
            "list\n",
            cmd);
    return 2;
}
