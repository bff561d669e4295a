/*
 * gridsync.h — the public C API of gridsync.
 *
 * This header is what a tablet app embeds. For now it carries the error
 * codes every module shares and the library version; the replica API
 * (gs_replica_open, gs_op_sign ...) joins it as the store lands.
 *
 * Errors: every fallible function returns enum gs_err; GS_OK is 0, every
 * failure is a named, negative-free positive code with a fixed message from
 * gs_strerror(). Foreign codes (MDB_*, errno from zmq, sodium's -1) are
 * mapped at the module edge and never reach a caller.
 *
 * Thread safety: gs_strerror and gs_version are safe from any thread.
 */
#ifndef GRIDSYNC_H
#define GRIDSYNC_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GS_MUST_CHECK __attribute__((warn_unused_result))
#else
#define GS_MUST_CHECK
#endif

#define GS_VERSION_STRING "0.1.0"

/* Keep in step with the table in gs_strerror (crdt/err.c). */
typedef enum gs_err {
    GS_OK = 0,
    GS_ENOMEM,     /* out of memory */
    GS_EINVAL,     /* a caller passed an invalid argument */
    GS_ETRUNC,     /* input ends before a complete item */
    GS_ETOOBIG,    /* a length or count exceeds its limit */
    GS_EUTF8,      /* a string is not valid UTF-8 or holds a forbidden char */
    GS_EVERSION,   /* unknown format or protocol version */
    GS_ENONCANON,  /* valid data in a non-canonical encoding */
    GS_EMALFORMED, /* structurally invalid data */
    GS_EBADSIG,    /* signature does not verify */
    GS_ENETWORK,   /* signed for another network */
    GS_ECHAIN,     /* op does not link to the previous op of its feed */
    GS_ENOSIG,     /* run of ops has no signature on its last op */
    GS_EFEED,      /* ops of different feeds where one feed was expected */
    GS_ECLOCK,     /* a clock stamp is out of range */
    GS_EKIND,      /* field kind unknown or not the kind expected */
    GS_ENOTFOUND,  /* no such item */
    GS_EFULL,      /* the disk is full: local writes refused, sync paused */
    GS_EIO,        /* a file or storage operation failed */
    GS_EFORK,      /* a second, different op at a known (feed, seq) */
    GS_EEXIST,     /* the file or item already exists; not replaced */
    GS_EPERM,      /* permission denied, or a key file open to others */
    GS_ERR_COUNT_  /* number of codes; not an error */
} gs_err;

/* Fixed English message for rc; never NULL, also for unknown codes. */
const char *gs_strerror(gs_err rc);

/* Short stable name of rc ("GS_EBADSIG"), for logs and --json output. */
const char *gs_errname(gs_err rc);

/* Library version, "MAJOR.MINOR.PATCH". */
const char *gs_version(void);

#ifdef __cplusplus
}
#endif
#endif /* GRIDSYNC_H */
