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

#include <stddef.h>
#include <signal.h>

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
    GS_EBADPASS,   /* passphrase missing or wrong (sealed key file) */
    GS_ESCHEMA,    /* a record does not fit the schema (field, kind, form) */
    GS_EPROTO,     /* a peer broke the sync protocol (message out of order) */
    GS_ETIMEOUT,   /* a peer or the network did not answer in time */
    GS_EDENIED,    /* a peer's key is not admitted (handshake refused) */
    GS_ECLOSED,    /* the connection or session was closed */
    GS_ENOCERT,    /* the author holds no certificate of this network */
    GS_ESCOPE,     /* an op outside its author's write scopes */
    GS_ESHOP,      /* a redemption by a device without the shop flag */
    GS_EEXPIRED,   /* an op stamped after its author's certificate ended */
    GS_EREVOKED,   /* an op of a revoked device past its feed's cutoff */
    GS_ESTAGE,     /* a step the ticket's stage or wish's state refuses */
    GS_EBALANCE,   /* a redemption over the balance this replica sees */
    GS_ERR_COUNT_  /* number of codes; not an error */
} gs_err;

/* Fixed English message for rc; never NULL, also for unknown codes. */
const char *gs_strerror(gs_err rc);

/* Short stable name of rc ("GS_EBADSIG"), for logs and --json output. */
const char *gs_errname(gs_err rc);

/* Library version, "MAJOR.MINOR.PATCH". */
const char *gs_version(void);

/* ---- the replica ----
 *
 * A replica is a directory: data.mdb (the LMDB store), device.key (this
 * device's Ed25519 secret key, mode 0600, in clear or sealed with a
 * passphrase) and gridsync.conf (INI, every key written out with its
 * default).
 *
 * Errors carry a fixed message (gs_strerror) and, for what a person must
 * act on, a detail: gs_replica_detail() after a call on a handle, or the
 * why buffer of gs_replica_init and gs_replica_open. Details say what went
 * wrong and what to do.
 *
 * JSON: records and entities travel as JSON text (UTF-8). An entity is
 * {"type", "id", "deleted", "fields": {...}} as docs/cli.md shows; personal
 * fields are masked unless GS_REVEAL is given.
 *
 * Thread safety: one gs_replica per thread, except that the agent thread of
 * gs_agent_start shares the app's handle; several handles in several
 * processes may use one directory at once (one per process: LMDB).
 */
typedef struct gs_replica gs_replica;

typedef struct gs_replica_init_opts {
    const char *authority; /* network id, 64 hex digits; NULL: a network of
                              this replica's own (standalone) */
    const char *scope;     /* where this device writes by default, e.g.
                              "yc.yimei.nanjun.xinxin.g012"; required */
    const char *name;      /* shown to peers; NULL: the directory name */
} gs_replica_init_opts;

#define GS_REVEAL 1u /* show personal-data fields */
#define GS_META 2u   /* show who wrote each field and when */

/* Create a replica in dir (created if missing; must hold no replica).
 * device_hex receives this device's public key (64 hex digits + NUL),
 * which an authority enrolls. GS_EEXIST if dir holds a replica already. */
GS_MUST_CHECK gs_err gs_replica_init(const char *dir,
                                     const gs_replica_init_opts *opts,
                                     char device_hex[65], char *why,
                                     size_t why_len);
/* gs_replica_init with the new device key sealed by the passphrase pass
 * (passlen bytes, borrowed for the call, need not be NUL-terminated): the
 * key never touches the disk in clear. pass NULL is gs_replica_init; an
 * empty passphrase is GS_EINVAL. Sealing costs Argon2id's ~64 MiB and
 * ~0.1 s, as does every gs_replica_unlock. */
GS_MUST_CHECK gs_err gs_replica_init_pass(const char *dir,
                                          const gs_replica_init_opts *opts,
                                          const char *pass, size_t passlen,
                                          char device_hex[65], char *why,
                                          size_t why_len);
/* Open the replica in dir. A device key sealed with a passphrase is not
 * asked for: the replica opens locked (see the device key, below). */
GS_MUST_CHECK gs_err gs_replica_open(const char *dir, gs_replica **out,
                                     char *why, size_t why_len);
void gs_replica_close(gs_replica *r);
/* What went wrong in the last failed call on r, for a person. */
const char *gs_replica_detail(const gs_replica *r);

/* ---- the device key and its passphrase ----
 *
 * device.key may be sealed with a passphrase (crypto_pwhash Argon2id and
 * secretbox, DESIGN §5; gs_replica_init_pass). Such a replica opens
 * locked: every read works (get, list, history, digest, export, bundles,
 * config), but what signs with the key — put, import, the agent, sync —
 * fails with GS_EBADPASS and a detail saying so until gs_replica_unlock.
 * A replica whose key is not sealed is unlocked from the start.
 * Passphrases are borrowed for the call and never kept or logged: the
 * caller wipes its copy (sodium_memzero) once the call returns. The
 * unlocked key lives in sodium_malloc memory, wiped by gs_replica_close.
 */

/* Nonzero while r's device key is sealed and not unlocked yet. */
int gs_replica_locked(const gs_replica *r);

/* Unlock r's sealed device key with pass (passlen bytes). GS_OK at once
 * if r is not locked. Errors: GS_EBADPASS — pass is missing, empty or
 * wrong (a key file altered since it was sealed looks the same); the
 * detail names the key file; r stays locked and nothing is changed.
 * GS_EPERM, GS_EMALFORMED, GS_ENOTFOUND: the key file was changed under
 * the open replica. Not thread-safe on r: unlock before gs_agent_start
 * shares it. */
GS_MUST_CHECK gs_err gs_replica_unlock(gs_replica *r, const char *pass,
                                       size_t passlen);

/* Seal r's device key with pass: adds a passphrase to a key kept in clear
 * or replaces the one it has, rewriting device.key atomically (a crash
 * leaves the old file or the new one). r must be unlocked (GS_EBADPASS).
 * Other processes that have the replica open keep working; they ask for
 * the new passphrase when they next unlock. The old file's bytes may
 * linger in free disk blocks: a key that must never be on disk in clear
 * is sealed at init. Errors: GS_EINVAL (empty pass), GS_EEXIST
 * (device.key.tmp exists: a change cut short), the file's. */
GS_MUST_CHECK gs_err gs_replica_passphrase_set(gs_replica *r, const char *pass,
                                               size_t passlen);

/* Write the next ops of this handle under scope, a dotted org path at or
 * below the replica's replica.scope: a station writing about one of its
 * grids does so in the grid's scope, so that the grid's tablets (which
 * read only their grid) receive it. Lasts as long as the handle. Errors:
 * GS_EINVAL (not a scope), GS_ESCOPE (outside replica.scope); detail
 * says which. */
GS_MUST_CHECK gs_err gs_replica_scope_use(gs_replica *r, const char *scope);

/* Set fields of an entity: fields_json is an object of field -> value in
 * the forms docs/cli.md gives per kind. One signed op, durable on return. */
GS_MUST_CHECK gs_err gs_replica_put(gs_replica *r, const char *type,
                                    const char *id, const char *fields_json);
/* The same from command-line assignments: "name=张三", "points+=10",
 * "tags+=elderly-alone", "tags-=low-income", "diary+=text",
 * "stage=resolved", "stage=reopen" (docs/cli.md), read by the schema. */
GS_MUST_CHECK gs_err gs_replica_put_assign(gs_replica *r, const char *type,
                                           const char *id,
                                           const char *const *assign,
                                           size_t n);
/* The entity as JSON (*json malloc'd; caller frees). GS_ENOTFOUND. */
GS_MUST_CHECK gs_err gs_replica_get(gs_replica *r, const char *type,
                                    const char *id, unsigned flags,
                                    char **json);

/* Receives one JSON text at a time (valid during the call); return
 * non-zero to stop. */
typedef int (*gs_replica_json_fn)(const char *json, void *ctx);

/* Entities of type (NULL: all), optionally only those whose field
 * where_field shows as where_value (lww fields and set members). */
GS_MUST_CHECK gs_err gs_replica_list(gs_replica *r, const char *type,
                                     const char *where_field,
                                     const char *where_value, unsigned flags,
                                     gs_replica_json_fn fn, void *ctx);
/* Every op that touched the entity, oldest first: {"seq", "author",
 * "scope", "at", "hlc", "hash", "type", "id", "updates": {field: {"kind",
 * "value"}}}. */
GS_MUST_CHECK gs_err gs_replica_history(gs_replica *r, const char *type,
                                        const char *id, gs_replica_json_fn fn,
                                        void *ctx);

/* Every feed r holds whose scope lies in under (NULL or "": all), one JSON
 * object each, in no set order: {"author": HEX, "scope", "seq" (its
 * newest op), "head" (that op's hash, HEX), "frozen" (a fork was seen)}.
 * A nonzero return from fn stops the walk (GS_OK). */
GS_MUST_CHECK gs_err gs_replica_feeds(gs_replica *r, const char *under,
                                      gs_replica_json_fn fn, void *ctx);

/* The fork evidence r holds (docs/trust.md §4), one JSON object per forked
 * feed: {"author": HEX, "scope", "seq" (where the two branches part),
 * "frozen" (the feed stands frozen at seq - 1), "branches": two of
 * {"ops" (how many), "signed" (the author's signature verifies), "first"
 * (the branch's op at seq, as gs_replica_history shows an op)}}. A
 * nonzero return from fn stops the walk (GS_OK). */
GS_MUST_CHECK gs_err gs_replica_forks(gs_replica *r, gs_replica_json_fn fn,
                                      void *ctx);

/* The conflicts queue: every write r holds that lost to a concurrent one
 * (its writer had not seen it), one JSON object each, in (type, id) order:
 * {"type", "id", "field", "kind" ("lww", "stage" or "claim"), "grid" (if
 * the entity or its household names one), "lost" and "won": each {"value"
 * (a stage as {"round", "stage"}; a claim: the claimant), "at" (ISO
 * time), "hlc", "author" (HEX), "device" (its certificate's name, else 16
 * hex digits)}, "why" ("written without seeing it", or for claims
 * "claimed later")}. Each write is held against the one that took its
 * place: overwritten by a writer that had seen it, it is no conflict. grid (NULL: all) keeps the entities whose grid lies at or
 * below it. GS_EINVAL if grid is not an org path. A nonzero return from
 * fn stops the walk (GS_OK). Reads the op history of every entity more
 * than one op touched. */
GS_MUST_CHECK gs_err gs_replica_conflicts(gs_replica *r, const char *grid,
                                          gs_replica_json_fn fn, void *ctx);

/* State digest (32 bytes), from the materialised state or, with rebuild,
 * recomputed from the op log alone. */
GS_MUST_CHECK gs_err gs_replica_digest(gs_replica *r, int rebuild,
                                       unsigned char out[32]);

typedef struct gs_import_stats {
    unsigned long lines, records, skipped, ops;
    unsigned long bad_line; /* first bad line (1-based), 0 if none */
} gs_import_stats;

/* Progress and complaints of long jobs: line is 0 for progress reports. */
typedef void (*gs_replica_report_fn)(unsigned long line, gs_err rc,
                                     const char *msg, void *ctx);

/* Import records from a JSON Lines file, one {"type","id","fields"[,
 * "scope"]} per line. Every line is checked first; a bad line is named
 * with its reason and nothing is written, unless skip_bad, which writes
 * the good lines and reports each bad one. */
GS_MUST_CHECK gs_err gs_replica_import(gs_replica *r, const char *path,
                                       int skip_bad, gs_replica_report_fn fn,
                                       void *ctx, gs_import_stats *stats);
/* Write every entity as one JSON line (personal fields included: an
 * export is a backup, not a listing). path "-" is standard output. */
GS_MUST_CHECK gs_err gs_replica_export(gs_replica *r, const char *path,
                                       unsigned long *records);

/* ---- domain workflows: tickets and points (DESIGN §1, §3; issue 6) ----
 *
 * The rules of the grid's own work, the same for the command line and for
 * a tablet app. Each step is one signed op (one gs_replica_put), durable on
 * return, checked inside the write transaction against this replica's
 * state at that instant; a refused step writes nothing and says why in
 * gs_replica_detail ("ticket T-1 is at accepted; close needs it resolved
 * first"). The rules bind the writer, not the merge: a concurrent step on
 * another device can still win when the replicas meet (a stage merges by
 * (round, stage) maximum), and that is the CRDT's job, not an error.
 *
 * Tickets (type "ticket") move through the stages of seeds/schema.json:
 * reported < accepted < dispatched < in_progress < resolved < closed.
 *   report     creates it at reported; category must be in the compiled-in
 *              catalog (seeds/catalog.json), whose department and deadline
 *              the ticket takes unless given
 *   accept     reported -> accepted
 *   dispatch   accepted or dispatched -> dispatched, to a department
 *              (again at dispatched: handed to another department)
 *   progress   dispatched or in_progress -> in_progress (a progress note)
 *   resolve    dispatched or in_progress -> resolved
 *   close      resolved -> closed
 *   reopen     resolved or closed -> a new round, at reported
 *   rate       at resolved or closed: satisfaction 1..5
 * Every step appends "WHAT by WHO[: NOTE]" to the ticket's comments log;
 * WHO is the by argument, or NULL for this replica's replica.name.
 *
 * Points (type "person"): grants add to the `points` counter and
 * redemptions take from it, each with a line in `ledger` ("+N REASON (by
 * WHO)", "-N ..."). A redemption is refused if the balance this replica
 * sees is below it; only a device whose certificate has the shop flag may
 * write one (DESIGN §3: unseen grants only raise the true balance, so it
 * never goes below zero anywhere).
 *
 * Errors common to these calls: GS_EINVAL (a bad or missing argument:
 * empty id, unknown category, amount out of range; detail says which),
 * GS_ENOTFOUND (no such ticket or person here), GS_EEXIST (report of an id
 * already used), GS_ESTAGE (the step does not fit the ticket's stage),
 * GS_EBALANCE (redemption over the balance), GS_ESHOP (this device may not
 * redeem), GS_EBADPASS (the device key is sealed and locked), and the
 * store's (GS_EFULL ...). Arguments are borrowed for the call. */

#define GS_POINTS_MAX 100000 /* one grant or redemption, in points */

/* Whether a line of a ticket's comments begins with the local time of its
 * step, "YYYY-MM-DD HH:MM" in range, as every step writes it and carried
 * over registers carry it: the time a history shows and the report's
 * response rate reads, rather than the op's clock stamp. */
int gs_comment_stamped(const char *line);

typedef struct gs_ticket_report_opts {
    const char *category; /* required: a category of the catalog */
    const char *grid;     /* required: the grid's org path */
    const char *title, *reporter, *address; /* NULL: not set */
    const char *deadline;   /* "YYYY-MM-DD" or "YYYY-MM-DD HH:MM"; NULL:
                               now plus the category's deadline_hours */
    const char *department; /* NULL: the category's department */
    const char *by;         /* who reports; NULL: replica.name */
    const char *note;       /* added to the history line; NULL: none */
} gs_ticket_report_opts;

/* Report ticket id at stage reported. */
GS_MUST_CHECK gs_err gs_ticket_report(gs_replica *r, const char *id,
                                      const gs_ticket_report_opts *o);

/* Move ticket id by step: "accept", "dispatch", "progress", "resolve",
 * "close" or "reopen". arg is the department for "dispatch" (required)
 * and must be NULL otherwise; note (NULL: none) goes into the comment.
 * *round and *stage (may be NULL) get where the ticket stands after the
 * step; stage is a name of the schema (static storage). */
GS_MUST_CHECK gs_err gs_ticket_step(gs_replica *r, const char *id,
                                    const char *step, const char *arg,
                                    const char *note, const char *by,
                                    long long *round, const char **stage);

/* Rate ticket id's handling, stars 1..5: satisfaction, and a comment. */
GS_MUST_CHECK gs_err gs_ticket_rate(gs_replica *r, const char *id, int stars,
                                    const char *note, const char *by);

/* Tickets of grid (NULL: any) at stage (a stage name; NULL: any), as
 * gs_replica_list shows them. GS_EINVAL for an unknown stage name. */
GS_MUST_CHECK gs_err gs_ticket_list(gs_replica *r, const char *grid,
                                    const char *stage, unsigned flags,
                                    gs_replica_json_fn fn, void *ctx);

/* Grant n (1..GS_POINTS_MAX) points to person for reason (required).
 * *balance (may be NULL) gets the balance this replica then sees. */
GS_MUST_CHECK gs_err gs_points_grant(gs_replica *r, const char *person,
                                     long long n, const char *reason,
                                     const char *by, long long *balance);

/* Redeem n points of person, for reason: refused with GS_EBALANCE if the
 * balance here is below n, with GS_ESHOP if this device's certificate, as
 * this replica holds it, lacks the shop flag (or is not here yet). */
GS_MUST_CHECK gs_err gs_points_redeem(gs_replica *r, const char *person,
                                      long long n, const char *reason,
                                      const char *by, long long *balance);

/* The balance of person this replica sees (the sum of every grant and
 * redemption it holds). GS_ENOTFOUND if it holds no such person. */
GS_MUST_CHECK gs_err gs_points_balance(gs_replica *r, const char *person,
                                       long long *balance);

/* ---- domain workflows: visits, check-ins, wishes (DESIGN §1, §3;
 * issue 6) ----
 *
 * The same rules as tickets and points: one signed op per step, under the
 * grid's scope when the grid lies in this replica's; a refused step
 * writes nothing and says why in gs_replica_detail. Records take the
 * shape seeds/gen_district.py gives them.
 *
 * Visits (type "visit", the people's diary): household, worker, note, at
 * ("YYYY-MM-DD HH:MM"), grid. The household must be in this replica; the
 * grid is its grid unless given. The id is V-<household>-<YYYYMMDDHHMM of
 * at>-<first 8 hex digits of this device's key>, then -2, -3 ... for more
 * visits in the same minute: one device never reuses one, and two devices
 * never share one, so no visit overwrites another when replicas meet.
 *
 * Check-ins (type "checkin", the daily check on an elderly person living
 * alone): one record per person per day, id C-<person>-<YYYYMMDD> as the
 * generator makes it, fields person, day ("YYYY-MM-DD"), status ("ok" or
 * "concern"), worker, grid (the person's, else the household's), note. A
 * second check-in of the day writes the same record: each field is lww,
 * so the later check-in's status (and note, if it gives one) stands
 * everywhere; the entity's history keeps both.
 *
 * Wishes (type "wish"): post makes one at status open; claim adds a claim
 * (the claims field, kind claim: the earliest surviving claim wins the
 * same way everywhere, the later ones are listed as losing) and sets
 * status claimed; withdraw takes a claimant's claim back (status open
 * again when no claim remains); fulfil sets status done. Refused: a claim
 * or withdrawal on a fulfilled wish (GS_ESTAGE), a second claim by one
 * claimant (GS_EEXIST), a withdrawal by someone without a claim
 * (GS_ENOTFOUND), fulfilling a wish nobody claims (GS_ESTAGE).
 * winner (may be NULL) gets the claimant who wins after the step as this
 * replica sees it, "" if none; a claim made offline elsewhere earlier may
 * still win when the replicas meet. */

#define GS_ENTITY_ID_BYTES 129 /* an entity id (at most 128 bytes) and NUL */
#define GS_DAY_BYTES 11        /* "YYYY-MM-DD" and NUL */

typedef struct gs_visit_opts {
    const char *note;   /* required: what the visit found */
    const char *worker; /* NULL: replica.name */
    const char *at;     /* "YYYY-MM-DD HH:MM"; NULL: now, local time */
    const char *grid;   /* NULL: the household's grid */
} gs_visit_opts;

/* Record a visit to household; id (may be NULL) gets the visit's id.
 * GS_ENOTFOUND if the household is not here, GS_EINVAL for a bad time or
 * a household without a grid and no grid given. */
GS_MUST_CHECK gs_err gs_visit_add(gs_replica *r, const char *household,
                                  const gs_visit_opts *o,
                                  char id[GS_ENTITY_ID_BYTES]);

typedef struct gs_checkin_opts {
    const char *day;    /* "YYYY-MM-DD"; NULL: today, local date */
    const char *note;   /* NULL: none (the day's note, if any, stays) */
    const char *worker; /* NULL: replica.name */
} gs_checkin_opts;

/* Check in person for a day with status "ok" or "concern". id (may be
 * NULL) gets the record's id, *updated (may be NULL) whether that day's
 * record was here already. GS_ENOTFOUND if the person is not here,
 * GS_EINVAL for a bad status or day, or a person without a grid. */
GS_MUST_CHECK gs_err gs_checkin_put(gs_replica *r, const char *person,
                                    const char *status,
                                    const gs_checkin_opts *o,
                                    char id[GS_ENTITY_ID_BYTES], int *updated);

/* The residents tagged elderly-alone whose grid (the person's, else the
 * household's) is grid and who have no check-in record for day
 * ("YYYY-MM-DD"), in id order: fn gets each person's entity JSON, as
 * gs_replica_list shows it with flags. */
GS_MUST_CHECK gs_err gs_checkin_missing(gs_replica *r, const char *grid,
                                        const char *day, unsigned flags,
                                        gs_replica_json_fn fn, void *ctx);

typedef struct gs_wish_post_opts {
    const char *title;       /* required */
    const char *poster;      /* required: the person who wishes */
    const char *grid;        /* required: the grid's org path */
    const char *description; /* NULL: none */
    long long reward;        /* points for the claimant, 0..GS_POINTS_MAX;
                                negative: none */
} gs_wish_post_opts;

/* Post wish id at status open; GS_EEXIST if the id is taken. */
GS_MUST_CHECK gs_err gs_wish_post(gs_replica *r, const char *id,
                                  const gs_wish_post_opts *o);
/* person claims wish id. */
GS_MUST_CHECK gs_err gs_wish_claim(gs_replica *r, const char *id,
                                   const char *person,
                                   char winner[GS_ENTITY_ID_BYTES]);
/* person withdraws their claim on wish id. */
GS_MUST_CHECK gs_err gs_wish_withdraw(gs_replica *r, const char *id,
                                      const char *person,
                                      char winner[GS_ENTITY_ID_BYTES]);
/* Wish id is fulfilled (by its winner). */
GS_MUST_CHECK gs_err gs_wish_fulfil(gs_replica *r, const char *id,
                                    char winner[GS_ENTITY_ID_BYTES]);
/* ---- the command centre's report (DESIGN §1; issue 6) ----
 *
 * Per grid, per community (the grid path's parent) and for the whole
 * scope: tickets, responded within the deadline, closed, satisfaction,
 * overdue, check-in coverage of elderly residents living alone, points
 * granted and redeemed. docs/cli.md "Report" defines every figure; in
 * short: a ticket is responded if its stage reached accepted and the first
 * op that moved it there was taken at or before its deadline (the time a
 * comment of that op starts with, "YYYY-MM-DD HH:MM ...", as imported
 * registers carry it; else the op's clock stamp); closure = closed /
 * tickets; satisfaction over tickets rated 1..5; overdue = not resolved
 * or closed and the deadline before the end of day; coverage = residents
 * tagged elderly-alone with a check-in whose day is day / all of them;
 * points = the positive and the negative deltas of the `points` counter.
 * Counts are of the state r holds now; day decides check-ins and overdue.
 *
 * scope: an org path (NULL: replica.scope); day: "YYYY-MM-DD" (NULL:
 * today, local time). *json (malloc'd; the caller frees; written only on
 * success) gets one object:
 *   {"scope", "name", "day", "totals": T, "communities": [{"scope",
 *    "name", "kind", "totals": T, "grids": [{"scope", "name", "kind",
 *    "totals": T}]}]}
 * sorted by scope, where T is {"tickets", "responded", "response_rate",
 * "closed", "closure_rate", "rated", "satisfaction_mean", "satisfied",
 * "satisfied_share", "overdue", "elderly_alone", "checked_in",
 * "checkin_coverage", "checkin_concern", "points_granted",
 * "points_redeemed"}: counts are integers, rates fractions 0..1 (the mean
 * 1..5), and a rate with nothing to divide by is null. Reads only; works
 * on a locked replica. Errors: GS_EINVAL (bad scope or day; the detail
 * says which), GS_ENOMEM, the store's. Cost: one pass over the org units,
 * tickets, persons and the day's check-ins, plus the history of every
 * accepted ticket and of every person with points. */
GS_MUST_CHECK gs_err gs_report_get(gs_replica *r, const char *scope,
                                   const char *day, char **json);

/* ---- config ---- */

/* One config key: its value in force, its default, one line of help. */
typedef void (*gs_replica_config_fn)(const char *key, const char *value,
                                     const char *def, const char *help,
                                     void *ctx);
void gs_replica_config_each(gs_replica *r, gs_replica_config_fn fn,
                            void *ctx);
/* Set key to value (NULL: back to the default) and rewrite gridsync.conf.
 * GS_ENOTFOUND for an unknown key, GS_EINVAL for a bad value (the detail
 * says what the key takes). Takes effect at the next open. */
GS_MUST_CHECK gs_err gs_replica_config_set(gs_replica *r, const char *key,
                                           const char *value);

/* ---- bundles: the signed ops themselves, on a USB stick ---- */

typedef struct gs_bundle_result {
    unsigned long long runs, ops, bytes;
    unsigned long long applied, known, rejected, forks, runs_refused;
    unsigned long long runs_forked; /* of runs_refused: GS_EFORK only (a
                                       forked feed, frozen; not a failure) */
    unsigned long long purged_feeds, purged_ops; /* import: this device is
                                       revoked; what it let go of */
    unsigned long long err_offset; /* import: where reading stopped */
} gs_bundle_result;

/* Write every op this replica holds to path (atomically: a half-written
 * bundle never has the final name). progress, if given, is called as ops
 * are written (line 0, msg "N ops"). */
GS_MUST_CHECK gs_err gs_replica_bundle_export(gs_replica *r, const char *path,
                                              const char *origin,
                                              gs_replica_report_fn progress,
                                              void *ctx,
                                              gs_bundle_result *out);
/* gs_replica_bundle_export for one device (64 hex digits): only what its
 * certificate lets it read (DESIGN §5 read scoping) and the certificates;
 * a device whose certificate r does not hold gets the certificates only,
 * the authority everything. GS_EINVAL for a bad key. */
GS_MUST_CHECK gs_err gs_replica_bundle_export_for(
    gs_replica *r, const char *path, const char *origin, const char *device,
    gs_replica_report_fn progress, void *ctx, gs_bundle_result *out);
/* Import a bundle: every intact, valid run is applied; each refused run is
 * reported (line = run number + 1, msg naming the feed, rc the reason).
 * Importing a bundle twice changes nothing. GS_ENETWORK: the bundle is for
 * another network, nothing imported; GS_ETRUNC / GS_EMALFORMED: the file
 * is damaged at out->err_offset, the runs before it are imported. */
GS_MUST_CHECK gs_err gs_replica_bundle_import(gs_replica *r, const char *path,
                                              gs_replica_report_fn report,
                                              void *ctx,
                                              gs_bundle_result *out);

/* ---- trust: certificates and revocations (DESIGN §5, docs/trust.md) ----
 *
 * The authority is the replica whose device key is its network id (made
 * without an authority: `gridsync authority init`). It writes certificates
 * and revocations as ops in the `trust` scope, which every replica follows
 * and syncs first. An op is stored only if its author holds a certificate
 * whose write scopes cover the op's scope (and, for a redemption, the shop
 * flag), before `until`, and not past a revocation's cutoff; refusals are
 * counted by reason (GS_ENOCERT, GS_ESCOPE, GS_ESHOP, GS_EEXPIRED,
 * GS_EREVOKED). Validity only grows: enrolling again adds scopes or moves
 * `until` later, never takes away; to take rights away, revoke the key. */

typedef struct gs_cert_opts {
    const char *name; /* shown in listings, 1..200 bytes */
    const char *role; /* "district", "station" or "tablet" */
    const char *const *write; /* org paths the device may write under */
    size_t n_write;           /* 1..64 */
    const char *const *read;  /* org paths it may be served (and trust) */
    size_t n_read;            /* 0..64 */
    int shop;                 /* may write redemptions (points taken);
                                 0 keeps what the certificate has */
    unsigned long long until_ms; /* ms since the epoch; 0: no end */
} gs_cert_opts;

/* Enroll the device (64 hex digits) in r's network, or widen its
 * certificate. r must be the authority (else GS_EDENIED) and unlocked
 * (GS_EBADPASS). GS_EINVAL, with why, for a bad key, role, name or scope,
 * or an `until` that would shrink a certificate. */
GS_MUST_CHECK gs_err gs_authority_enroll(gs_replica *r, const char *device,
                                         const gs_cert_opts *opts, char *why,
                                         size_t why_len);

/* Revoke the device: a revocation naming, per feed of the device that r
 * holds, its head seq, hash and signature as the last valid op. Every
 * replica then refuses the device's later ops, and one that had applied
 * some rolls them back (docs/trust.md §2). Errors as
 * gs_authority_enroll. */
GS_MUST_CHECK gs_err gs_authority_revoke(gs_replica *r, const char *device,
                                         char *why, size_t why_len);

/* Certificates and revocations r holds, as one JSON object (*json
 * malloc'd; caller frees): {"authority": HEX, "certs": [{"device", "name",
 * "role", "write": [..], "read": [..], "shop", "until" (ms or null),
 * "revoked", "cutoff": ["SCOPE SEQ HASH SIG", ..] (if revoked; SIG is
 * missing from cutoffs written before it was added)}]}. */
GS_MUST_CHECK gs_err gs_trust_list(gs_replica *r, char **json);

/* ---- the sync agent (docs/protocol.md) ---- */

/* The agent of a replica: listens on agent.endpoint, dials agent.peers,
 * runs a sync session with each peer every agent.sync_interval seconds
 * and at once whenever this replica gets new ops (a local write pokes it;
 * ops from one peer are relayed to the others), reconnects with backoff,
 * logs one line per session and keeps a status file for `gridsync status`.
 * It holds an exclusive lock on the replica's agent (one agent per
 * replica). The agent opens its own handle on the directory. */
typedef struct gs_agent gs_agent;

/* Log sink: one line, no newline. NULL: stderr with a time stamp. */
typedef void (*gs_agent_log_fn)(const char *line, void *ctx);

typedef struct gs_agent_opts {
    const char *endpoint;  /* NULL: agent.endpoint from the config */
    gs_agent_log_fn log;   /* NULL: stderr */
    void *log_ctx;
} gs_agent_opts;

/* Run the agent of the replica in dir in the calling thread until *stop
 * becomes nonzero (checked at least every 200 ms; a signal handler may set
 * it). why gets a sentence on failure to start (bad config, endpoint in
 * use, another agent running: GS_EEXIST). */
GS_MUST_CHECK gs_err gs_agent_run(const char *dir, const gs_agent_opts *opts,
                                  volatile sig_atomic_t *stop, char *why,
                                  size_t why_len);

/* Start the agent of the open replica r in a thread of its own (how an
 * app embeds it); it runs until gs_agent_stop, which stops it, waits for
 * it and frees it. A sealed device key must be unlocked first
 * (gs_replica_unlock; GS_EBADPASS otherwise). gs_agent_run opens the
 * directory itself and so refuses a sealed key: open, unlock and use
 * gs_agent_start instead. r is borrowed: close it only after gs_agent_stop. The
 * app may go on using r from its own thread meanwhile — the agent touches
 * only r's store, which is safe to share, and reads its fixed identity and
 * config. After writing, call gs_agent_poke so the peers hear at once.
 * (An LMDB replica must not be opened twice in one process: that is why
 * this takes the app's handle rather than a directory.) */
GS_MUST_CHECK gs_err gs_agent_start(gs_replica *r, const gs_agent_opts *opts,
                                    gs_agent **out, char *why,
                                    size_t why_len);
void gs_agent_stop(gs_agent *a);

/* Poke the agent of the replica in dir (if one runs): there are new ops to
 * tell the peers. Never fails the caller's write. */
void gs_agent_poke(const char *dir);

typedef struct gs_sync_result {
    unsigned long long ops_in, ops_out, ops_known, rejected;
    unsigned long long bytes_in, bytes_out, msgs_in, msgs_out;
    /* times we sent and had to wait for the peer's answer before we could
     * go on: the longest such chain in the session (a batch the peer
     * streams within its window costs none; docs/protocol.md §4) */
    unsigned long long round_trips;
    double seconds;
    char peer_device[65]; /* hex */
    unsigned long long purged_ops; /* the session told us we are revoked:
                                      ops let go of (gs_trust_purge) */
} gs_sync_result;

/* One session with the peer "DEVICE_KEY@ENDPOINT" and return: for tablets
 * and cron. timeout_ms bounds the whole call (0: 60 s). Errors: GS_EDENIED
 * (the peer refused our key; why says so), GS_ETIMEOUT (no answer),
 * GS_ENETWORK / GS_EVERSION (the peer is of another network or protocol),
 * the store's. */
GS_MUST_CHECK gs_err gs_sync_once(const char *dir, const char *peer,
                                  int timeout_ms, gs_sync_result *res,
                                  char *why, size_t why_len);
/* gs_sync_once for a replica whose device key is sealed: pass (passlen
 * bytes, borrowed for the call; NULL: none) unlocks it. GS_EBADPASS, with
 * why naming the key file, if it is missing or wrong. gs_sync_once is
 * this with NULL. */
GS_MUST_CHECK gs_err gs_sync_once_pass(const char *dir, const char *peer,
                                       const char *pass, size_t passlen,
                                       int timeout_ms, gs_sync_result *res,
                                       char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDSYNC_H */
