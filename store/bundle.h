/*
 * bundle.h — bundles: the signed ops of a replica in one file, carried on a
 * USB stick between replicas that never meet on a network (DESIGN §6).
 *
 * A bundle holds, feed by feed, the ops a replica has and the signature of
 * each feed's head: exactly what gs_store_ops_each yields. Nothing in it is
 * trusted: on import every run is verified by the store like a run from the
 * wire (chain links, one signature on its last op), so a bundle can be
 * carried by anyone. A feed longer than one record (GS_RUN_MAX ops or
 * GS_BUNDLE_REC_BYTES_MAX bytes) is cut into unsigned parts closed by one
 * signed record; the parts are verified through the hash chain up to that
 * one signature, never on their own.
 *
 * Parsing is separate from ingest: gs_bundle_decode_file / _mem read the
 * format with bounded memory and hand each record to a callback, so the
 * decoder is fuzzed on memory and the importer only batches records into
 * gs_store_ingest.
 *
 * Threads: no global state; a gs_store handle is used by one thread at a
 * time (store.h).
 *
 * SPEC: docs/bundle.md.
 */
#ifndef GS_STORE_BUNDLE_H
#define GS_STORE_BUNDLE_H

#include "buf.h"
#include "gridsync.h"
#include "op.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GS_BUNDLE_MAGIC "GSBUNDLE"
#define GS_BUNDLE_MAGIC_BYTES 8
#define GS_BUNDLE_VERSION 1
#define GS_BUNDLE_ORIGIN_MAX 128 /* bytes of UTF-8 */

/* Record tags (docs/bundle.md §3). */
#define GS_BUNDLE_TAG_END 0
#define GS_BUNDLE_TAG_RUN 1  /* closes a run: signature on its last op */
#define GS_BUNDLE_TAG_PART 2 /* an unsigned part; a run of its feed follows */

/* Limits (docs/bundle.md §4). */
#define GS_BUNDLE_REC_OPS_MAX GS_RUN_MAX     /* ops in one record */
#define GS_BUNDLE_REC_BYTES_MAX (4u << 20)   /* op bytes in a record */
#define GS_BUNDLE_FEED_OPS_MAX (1u << 20)    /* ops in a parted run */
#define GS_BUNDLE_FEED_BYTES_MAX (64u << 20) /* op bytes in a parted run */
#define GS_BUNDLE_BATCH_OPS 1024             /* ops per transaction */
#define GS_BUNDLE_BATCH_BYTES (8u << 20)     /* op bytes per batch */
#define GS_BUNDLE_PROGRESS_OPS 1000          /* ops between calls */

typedef struct gs_bundle_header {
    uint8_t version;
    uint8_t network[GS_KEY_BYTES];
    uint64_t created_ms;                   /* Unix time, ms */
    char origin[GS_BUNDLE_ORIGIN_MAX + 1]; /* NUL-terminated UTF-8 */
} gs_bundle_header;

/* One decoded record: n ops of one run (tag 1) or of a part (tag 2). The
 * decoder does not decode the ops: items are byte strings of at most
 * GS_OP_BYTES_MAX, checked by gs_run_verify on ingest. Borrowed: valid
 * during the callback only. */
typedef struct gs_bundle_rec {
    size_t index;    /* record number in the file, from 0 */
    uint64_t offset; /* byte offset of its tag */
    bool closes;     /* tag 1: items[n - 1].sig is set, the others NULL */
    const gs_run_item *items;
    size_t n; /* 1..GS_BUNDLE_REC_OPS_MAX */
} gs_bundle_rec;

/* Called once, after the header is read whole; a non-OK return stops the
 * decoder, which returns that code. */
typedef gs_err (*gs_bundle_header_fn)(const gs_bundle_header *h, void *ctx);
/* Called for every record read whole; a non-OK return stops the decoder,
 * which returns that code. */
typedef gs_err (*gs_bundle_rec_fn)(const gs_bundle_rec *r, void *ctx);

/* Decode a bundle from f (read from its current position; size is the
 * number of bytes left in it, or UINT64_MAX if unknown) or from p[0..n).
 * Every length is checked against its limit and the bytes left before
 * anything is read or allocated; memory stays under one record. Returns
 * GS_OK only if the file ends with a valid end record and checksum and
 * nothing after it. Errors: GS_EMALFORMED (not a bundle, bad tag, empty
 * record, part not followed by a run, checksum mismatch, bytes after the
 * end), GS_EVERSION, GS_ETRUNC, GS_ETOOBIG, GS_ENONCANON, GS_EUTF8,
 * GS_ENOMEM, GS_EIO, or a callback's code. *err_offset (if not NULL) gets
 * the byte offset of the item that failed (the header, a record, or the end
 * record): every byte before it was read and handed on intact. hfn and rfn
 * may be NULL. */
GS_MUST_CHECK gs_err gs_bundle_decode_file(FILE *f, uint64_t size,
                                           gs_bundle_header_fn hfn,
                                           gs_bundle_rec_fn rfn, void *ctx,
                                           uint64_t *err_offset);
GS_MUST_CHECK gs_err gs_bundle_decode_mem(const uint8_t *p, size_t n,
                                          gs_bundle_header_fn hfn,
                                          gs_bundle_rec_fn rfn, void *ctx,
                                          uint64_t *err_offset);

/* Encoders, for the exporter and for tests and fuzzing: append the header,
 * a record (its index and offset are ignored), or the end record (tag 0 and
 * the BLAKE2b-256 of everything in out before it) to out. GS_EINVAL for an
 * origin that is too long or not UTF-8, a record of 0 or too many ops, an op
 * too long, or a run whose last op has no signature; GS_ETOOBIG /
 * GS_ENOMEM from out. */
GS_MUST_CHECK gs_err gs_bundle_header_encode(const gs_bundle_header *h,
                                             gs_buf *out);
GS_MUST_CHECK gs_err gs_bundle_rec_encode(const gs_bundle_rec *r, gs_buf *out);
GS_MUST_CHECK gs_err gs_bundle_end_encode(gs_buf *out);

/* Counts of an export or an import. */
typedef struct gs_bundle_stats {
    uint64_t runs;           /* runs written / read whole (parts count once) */
    uint64_t ops;            /* ops written / read in whole runs */
    uint64_t bytes;          /* file size written / bytes read */
    uint64_t applied;        /* import: new ops stored */
    uint64_t known;          /* import: ops the replica held already */
    uint64_t rejected;       /* import: ops refused (in refused runs) */
    uint64_t forks;          /* import: second ops kept as fork evidence */
    uint64_t runs_refused;   /* import: runs reported to the report callback */
    uint64_t runs_forked;    /* import: of those, refused with GS_EFORK */
    uint64_t err_offset;     /* import: where reading stopped on error */
    gs_bundle_header header; /* import: the bundle's header */
} gs_bundle_stats;

/* Export progress: ops and bytes written so far. Called every
 * GS_BUNDLE_PROGRESS_OPS ops and once at the end. */
typedef void (*gs_bundle_progress_fn)(uint64_t ops, uint64_t bytes, void *ctx);

/* A run the importer refused. */
typedef struct gs_bundle_refusal {
    size_t run;         /* run number in the bundle, from 0 */
    uint64_t offset;    /* byte offset of its first record */
    uint64_t first_seq; /* seq of its first op; 0 if it does not decode */
    size_t n_ops;
    uint8_t author[GS_KEY_BYTES]; /* zeros if the first op does not decode */
    char scope[GS_SCOPE_BYTES_MAX + 1];
    gs_err reason; /* GS_EBADSIG, GS_ECHAIN, GS_EFORK, GS_ETOOBIG ... */
} gs_bundle_refusal;
typedef void (*gs_bundle_report_fn)(const gs_bundle_refusal *r, void *ctx);

/* Write every op of s to path: the header (network, now, origin — NULL
 * for none, at most GS_BUNDLE_ORIGIN_MAX bytes of UTF-8), each feed as one
 * run (cut into parts if long), the end record. The file is written as
 * path.tmp, synced and renamed over path, so a half-written bundle never
 * has the final name. progress and out may be NULL. Errors: GS_EINVAL
 * (origin), GS_ENOSIG (a feed whose head has no signature: the store is
 * damaged), GS_EIO / GS_EFULL (writing), GS_ENOMEM, store errors. On error
 * path is as it was and no path.tmp is left. */
GS_MUST_CHECK gs_err gs_bundle_export(gs_store *s,
                                      const uint8_t network[GS_KEY_BYTES],
                                      const char *origin, const char *path,
                                      gs_bundle_progress_fn progress, void *ctx,
                                      gs_bundle_stats *out);

/* gs_bundle_export of only the feeds a reader may be served (DESIGN §5
 * read scoping): those in `trust` or in one of read[0..n_read) (scopes
 * and everything below them). read NULL: every feed. */
GS_MUST_CHECK gs_err gs_bundle_export_scoped(
    gs_store *s, const uint8_t network[GS_KEY_BYTES], const char *origin,
    const char *path, const gs_slice *read, size_t n_read,
    gs_bundle_progress_fn progress, void *ctx, gs_bundle_stats *out);

/* Import the bundle at path into s (whose network id is network), in
 * batches of about GS_BUNDLE_BATCH_OPS ops, each one store transaction.
 * Every run is verified by the store; a refused run is passed to report
 * (may be NULL) and counted, and the others are applied. Importing a
 * bundle again changes nothing (its ops count as known). Returns GS_OK if
 * the whole file was read (even if runs were refused: see out). Errors:
 * GS_ENETWORK (the bundle is for another network: nothing imported),
 * GS_EMALFORMED / GS_EVERSION (not a bundle, or of an unknown version:
 * nothing imported), GS_ETRUNC / GS_EMALFORMED / GS_ETOOBIG ... for a file
 * damaged part way: the runs read whole before out->err_offset are
 * imported; GS_EIO, GS_EFULL, GS_ENOMEM and store errors (the batch in
 * hand is not applied; earlier batches are). out may be NULL. */
GS_MUST_CHECK gs_err gs_bundle_import(gs_store *s,
                                      const uint8_t network[GS_KEY_BYTES],
                                      const char *path,
                                      gs_bundle_report_fn report, void *ctx,
                                      gs_bundle_stats *out);

#endif /* GS_STORE_BUNDLE_H */
