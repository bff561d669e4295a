/*
 * crashwriter.c — a writer for the crash test: puts household records
 * START, START+1, ... into a replica through the public API and prints
 * "ack N" after each put has returned (committed and synced), until killed.
 * usage: gs-crashwriter DIR START
 */
#include "gridsync.h"

#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
    gs_replica *r;
    char why[512], id[32], fields[96];
    if (argc != 3) {
        fprintf(stderr, "usage: gs-crashwriter DIR START\n");
        return 2;
    }
    if (gs_replica_open(argv[1], &r, why, sizeof why) != GS_OK) {
        fprintf(stderr, "gs-crashwriter: %s\n", why);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (long n = atol(argv[2]);; n++) {
        snprintf(id, sizeof id, "H-%06ld", n);
        snprintf(fields, sizeof fields,
                 "{\"address\":\"新新社区%ld号\",\"building\":\"%ld\"}", n, n % 7);
        gs_err rc = gs_replica_put(r, "household", id, fields);
        if (rc != GS_OK) {
            fprintf(stderr, "gs-crashwriter: %s\n", gs_replica_detail(r));
            gs_replica_close(r);
            return 1;
        }
        printf("ack %s\n", id);
    }
}
