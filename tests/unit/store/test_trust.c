/*
 * test_trust.c — who may write what (store/trust.h, DESIGN §5; issue 5's
 * must-show cases at the store level). Every refusal is checked the same
 * way (assert_refused): the run is refused whole with its reason
 * (stats.by_reason[reason] == its ops, first_bad_rc), the store's digest
 * is unchanged and still equals a rebuild from the op log, and the feed's
 * head is unchanged (the op was not stored).
 *
 *  - forged signature (GS_EBADSIG); no certificate (GS_ENOCERT); a
 *    certificate written by a key that is not the authority (GS_ESCOPE,
 *    its subject stays GS_ENOCERT) or signed for another network
 *    (GS_ENETWORK); an op signed for another network (GS_ENETWORK);
 *  - write scopes on '.' boundaries (GS_ESCOPE; "yc.g10" is not in
 *    "yc.g1"); `trust`, cert and revocation are the authority's alone
 *    (GS_ESCOPE); a redemption needs the shop flag (GS_ESHOP);
 *  - replayed ops are known, not applied; a certificate past its `until`
 *    (GS_EEXPIRED); revocation cutoffs (GS_EREVOKED, the pinned hash,
 *    malformed cutoffs meaning "nothing of the feed is valid", two
 *    cutoffs keeping the lower);
 *  - rolling back (must show 4): ops applied before the revocation came
 *    are taken back, to the digest of a store that never saw them (which
 *    equals its rebuild), with the head at the cutoff signed, the feed
 *    readable to it, history without them and entities only they touched
 *    gone; cutoff 0 (the feed as never seen), two cutoffs merged, the
 *    revocation in the same batch, cuts inside and at block boundaries,
 *    cutoffs without a usable signature (checkpoints, cutting deeper),
 *    and through replicas and bundles;
 *  - order independence: ops refused for want of a certificate are
 *    accepted once it has come, to the same digest as a store that had it
 *    first, also when the certificate comes later in the same batch;
 *  - local writes (gs_store_write) meet the rules once the writer's
 *    certificate is present, and wait for it when it is not;
 *  - the authority writes anything;
 *  - gs_authority_enroll / gs_authority_revoke (the 4-field cutoff) /
 *    gs_trust_list through replicas; gs_scope_covers and the cutoff
 *    parser (both forms) on their own.
 *
 * Writers are gs_test_writer devices; certificates and revocations are
 * written as the authority with gs_test_enroll_cert / gs_test_revoke
 * (tests/testutil.h), in the same order in every store of a test.
 */
#include "gridsync.h"
#include "testutil.h"

#include "field.h"
#include "replica_int.h"
#include "store.h"
#include "trust.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t net_pk[GS_KEY_BYTES], net_sk[GS_SECRETKEY_BYTES];
static uint8_t other_pk[GS_KEY_BYTES], other_sk[GS_SECRETKEY_BYTES];

#define WRITER_MS 1764000000000ull /* gs_test_writer_init's clock, in ms */

/* ---- fixture: one or more fresh stores ---- */

struct fixture {
    char dir[64];
    gs_store *s;
};

static gs_store *
store_new(char *dir)
{
    return gs_test_store_new(dir);
}

static void
store_rm(char *dir, gs_store *s)
{
    gs_store_close(s);
    gs_test_rmtree(dir);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/gs-trust-XXXXXX");
    f->s = store_new(f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    store_rm(f->dir, f->s);
    free(f);
    return 0;
}

/* ---- ops ---- */

/* Ingest ops[0..n) as one run signed at its end. */
static void
ingest(gs_store *s, const struct gs_test_op *ops, size_t n, gs_ingest_stats *st)
{
    gs_run_item items[16];
    assert_true(n >= 1 && n <= 16);
    for (size_t i = 0; i < n; i++)
        items[i] = (gs_run_item){ops[i].bytes, ops[i].n, NULL};
    items[n - 1].sig = &ops[n - 1].sig;
    gs_store_run run = {items, n};
    assert_int_equal(gs_store_ingest(s, &run, 1, net_pk, st), GS_OK);
}

/* The writer's next op: counter `field` of member id changed by delta. */
static void
writer_counter(struct gs_test_writer *w, const char *id, const char *field,
               int64_t delta, int64_t total, struct gs_test_op *out)
{
    gs_buf pay;
    gs_buf_init(&pay, 64);
    assert_int_equal(gs_payload_counter(&pay, delta, total), GS_OK);
    gs_test_writer_update(w, "member", id, field, GS_KIND_COUNTER, &pay, out);
    gs_buf_fini(&pay);
}

/* n lww ops of w on households H-0.. */
static void
writer_ops(struct gs_test_writer *w, struct gs_test_op *ops, size_t n)
{
    char id[16], text[16];
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof id, "H-%zu", i % 3);
        snprintf(text, sizeof text, "v%zu", (size_t)w->seq + 1);
        gs_test_writer_op(w, "household", id, "name", text, &ops[i]);
    }
}

/* Enroll w for the given write scope (as the authority, in s). */
static void
enroll(gs_store *s, const struct gs_test_writer *w, const char *write,
       bool shop)
{
    gs_test_enroll(s, net_pk, net_sk, w->pk, write, shop);
}

/* ---- what a refusal must leave ---- */

static void
digest_of(gs_store *s, uint8_t d[GS_HASH_BYTES])
{
    uint8_t rebuilt[GS_HASH_BYTES];
    assert_int_equal(gs_store_digest(s, d), GS_OK);
    assert_int_equal(gs_store_digest_rebuild(s, rebuilt), GS_OK);
    assert_memory_equal(d, rebuilt, GS_HASH_BYTES);
}

static gs_feed_head
head_of(gs_store *s, const uint8_t author[GS_KEY_BYTES], const char *scope)
{
    gs_feed_head h;
    assert_int_equal(
        gs_store_feed_head(s, author, gs_slice_of(scope, strlen(scope)), &h),
        GS_OK);
    return h;
}

/* ops[0..n) (one run of author in scope) is refused with `why`, and the
 * store is as it was. */
static void
assert_refused(gs_store *s, const struct gs_test_op *ops, size_t n,
               const uint8_t author[GS_KEY_BYTES], const char *scope,
               gs_err why)
{
    uint8_t d0[GS_HASH_BYTES], d1[GS_HASH_BYTES];
    gs_ingest_stats st;
    digest_of(s, d0);
    gs_feed_head h0 = head_of(s, author, scope);
    ingest(s, ops, n, &st);
    if (st.first_bad_rc != why)
        fail_msg("refused with %s, not %s", gs_errname(st.first_bad_rc),
                 gs_errname(why));
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.known, 0);
    assert_int_equal(st.rejected, n);
    assert_int_equal(st.by_reason[why], n);
    assert_int_equal(st.first_bad_run, 0);
    digest_of(s, d1);
    assert_memory_equal(d0, d1, GS_HASH_BYTES);
    gs_feed_head h1 = head_of(s, author, scope);
    assert_int_equal(h1.seq, h0.seq);
    assert_memory_equal(h1.hash, h0.hash, GS_HASH_BYTES);
}

/* The signature the store holds for the head of (author, scope), as
 * gs_store_feed_read hands it with the head op; it must verify for net. */
struct sig_read {
    size_t n;
    bool found;
    gs_sig sig;
    uint8_t hash[GS_HASH_BYTES];
};

static int
sig_read_one(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct sig_read *r = ctx;
    r->n++;
    if (sig) {
        r->found = true;
        r->sig = *sig;
        gs_op_hash(op, len, r->hash);
    }
    return 0;
}

static gs_sig
head_sig_for(gs_store *s, const uint8_t net[GS_KEY_BYTES],
             const uint8_t author[GS_KEY_BYTES], const char *scope)
{
    struct sig_read r = {0};
    gs_feed_head h = head_of(s, author, scope);
    uint64_t to = 0;
    assert_int_equal(gs_store_feed_read(s, author,
                                        gs_slice_of(scope, strlen(scope)),
                                        h.seq, 1, sig_read_one, &r, &to),
                     GS_OK);
    assert_int_equal(to, h.seq);
    assert_int_equal(r.n, 1);
    assert_true(r.found);
    assert_memory_equal(r.hash, h.hash, GS_HASH_BYTES);
    assert_int_equal(gs_op_verify(h.hash, &r.sig, net, author), GS_OK);
    return r.sig;
}

static gs_sig
head_sig(gs_store *s, const uint8_t author[GS_KEY_BYTES], const char *scope)
{
    return head_sig_for(s, net_pk, author, scope);
}

/* ops[0..n) are applied, every one. */
static void
assert_applied(gs_store *s, const struct gs_test_op *ops, size_t n)
{
    gs_ingest_stats st;
    ingest(s, ops, n, &st);
    if (st.rejected)
        fail_msg("refused: %s", gs_errname(st.first_bad_rc));
    assert_int_equal(st.applied, n);
}

/* "SCOPE SEQ HASHHEX SIGHEX" for op (its seq) of scope, with the op's
 * own signature (the device's, for the network: what gs_authority_revoke
 * writes), or the older "SCOPE SEQ HASHHEX" when !signed_. */
static void
cutoff_form(const char *scope, const struct gs_test_op *op, bool signed_,
            char *out, size_t len)
{
    uint8_t hash[GS_HASH_BYTES];
    gs_op o;
    assert_int_equal(gs_op_decode(op->bytes, op->n, &o), GS_OK);
    gs_op_hash(op->bytes, op->n, hash);
    gs_test_cutoff(scope, o.seq, hash, signed_ ? &op->sig : NULL, out, len);
}

static void
cutoff_of(const char *scope, const struct gs_test_op *op, char *out, size_t len)
{
    cutoff_form(scope, op, true, out, len);
}

/* ---- 1. signatures, certificates, networks ---- */

static void
test_trust_forged_signature_refused(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, k;
    struct gs_test_op ops[2];

    gs_test_writer_init(&d, 1, "yc.g1", net_pk);
    gs_test_writer_init(&k, 2, "yc.g1", net_pk);
    enroll(f->s, &d, "yc.g1", false); /* the signature is all that fails */
    writer_ops(&d, ops, 2);
    ops[1].sig.sig[7] ^= 1;
    assert_refused(f->s, ops, 2, d.pk, "yc.g1", GS_EBADSIG);
    /* the device's op signed with another key */
    uint8_t hash[GS_HASH_BYTES];
    ops[1].sig.sig[7] ^= 1;
    gs_op_hash(ops[1].bytes, ops[1].n, hash);
    gs_op_sign(hash, net_pk, k.sk, &ops[1].sig);
    assert_refused(f->s, ops, 2, d.pk, "yc.g1", GS_EBADSIG);
    gs_op_sign(hash, net_pk, d.sk, &ops[1].sig); /* really the device's */
    assert_applied(f->s, ops, 2);
}

static void
test_trust_no_certificate_refused(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, e;
    struct gs_test_op ops[3];

    gs_test_writer_init(&d, 3, "yc.g1", net_pk);
    gs_test_writer_init(&e, 4, "yc.g1", net_pk);
    enroll(f->s, &e, "yc.g1", false); /* someone else is enrolled */
    writer_ops(&d, ops, 3);
    assert_refused(f->s, ops, 3, d.pk, "yc.g1", GS_ENOCERT);
    assert_refused(f->s, ops, 1, d.pk, "yc.g1", GS_ENOCERT);
}

static void
test_trust_certificate_by_another_authority_refused(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer e, k;
    struct gs_test_op cert, ops[2];
    const char *yc[] = {"yc"};
    struct gs_test_cert c = {yc, 1, true, 0};
    gs_feed_head none = {0, {0}};

    gs_test_writer_init(&e, 5, "yc.g1", net_pk);
    gs_test_writer_init(&k, 6, "yc.g1", net_pk);
    writer_ops(&e, ops, 2);
    /* k, not the authority, certifies e for this network */
    gs_test_cert_op(&none, k.pk, k.sk, net_pk, e.pk, &c, &cert);
    assert_refused(f->s, &cert, 1, k.pk, "trust", GS_ESCOPE);
    assert_refused(f->s, ops, 2, e.pk, "yc.g1", GS_ENOCERT);
    /* nor may an enrolled device certify anyone, itself included */
    enroll(f->s, &k, "yc", false);
    gs_test_cert_op(&none, k.pk, k.sk, net_pk, k.pk, &c, &cert);
    assert_refused(f->s, &cert, 1, k.pk, "trust", GS_ESCOPE);
    /* another network's authority certifies e for its own network */
    gs_test_cert_op(&none, other_pk, other_sk, other_pk, e.pk, &c, &cert);
    assert_refused(f->s, &cert, 1, other_pk, "trust", GS_ENETWORK);
    /* ... or signs it for ours: it is not our authority */
    gs_test_cert_op(&none, other_pk, other_sk, net_pk, e.pk, &c, &cert);
    assert_refused(f->s, &cert, 1, other_pk, "trust", GS_ESCOPE);
    assert_refused(f->s, ops, 2, e.pk, "yc.g1", GS_ENOCERT);
    /* the authority's own certificate admits them */
    enroll(f->s, &e, "yc.g1", false);
    assert_applied(f->s, ops, 2);
}

static void
test_trust_other_network_refused(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d;
    struct gs_test_op ops[2];

    gs_test_writer_init(&d, 7, "yc.g1", other_pk); /* signs for another */
    enroll(f->s, &d, "yc.g1", false);
    writer_ops(&d, ops, 2);
    assert_refused(f->s, ops, 2, d.pk, "yc.g1", GS_ENETWORK);
}

/* ---- 2. write scopes, trust, shop ---- */

static void
test_trust_tablet_writes_only_in_its_grid(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer g1, g1b3, g2, g10, yc;
    struct gs_test_op op;

    gs_test_writer_init(&g1, 8, "yc.g1", net_pk);
    gs_test_writer_init(&g1b3, 8, "yc.g1.b3", net_pk);
    gs_test_writer_init(&g2, 8, "yc.g2", net_pk);
    gs_test_writer_init(&g10, 8, "yc.g10", net_pk);
    gs_test_writer_init(&yc, 8, "yc", net_pk);
    enroll(f->s, &g1, "yc.g1", false);

    writer_ops(&g2, &op, 1);
    assert_refused(f->s, &op, 1, g2.pk, "yc.g2", GS_ESCOPE);
    writer_ops(&g10, &op, 1); /* "yc.g10" is not inside "yc.g1" */
    assert_refused(f->s, &op, 1, g10.pk, "yc.g10", GS_ESCOPE);
    writer_ops(&yc, &op, 1); /* nor is the district above it */
    assert_refused(f->s, &op, 1, yc.pk, "yc", GS_ESCOPE);
    writer_ops(&g1b3, &op, 1);
    assert_applied(f->s, &op, 1);
    writer_ops(&g1, &op, 1);
    assert_applied(f->s, &op, 1);
}

static void
test_trust_devices_never_touch_trust(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer in_trust, below_trust, g1;
    struct gs_test_op op;
    char hex[65];
    gs_buf pay;
    gs_set_item it = {GS_SET_ADD, gs_slice_of("yc", 2), 0, NULL};

    gs_test_writer_init(&in_trust, 9, "trust", net_pk);
    gs_test_writer_init(&below_trust, 9, "trust.x", net_pk);
    gs_test_writer_init(&g1, 9, "yc.g1", net_pk);
    enroll(f->s, &g1, "yc.g1", false);
    gs_hex(g1.pk, GS_KEY_BYTES, hex);

    writer_ops(&in_trust, &op, 1);
    assert_refused(f->s, &op, 1, in_trust.pk, "trust", GS_ESCOPE);
    writer_ops(&below_trust, &op, 1);
    assert_refused(f->s, &op, 1, below_trust.pk, "trust.x", GS_ESCOPE);
    /* widening its own certificate, from inside its grid */
    gs_buf_init(&pay, 256);
    assert_int_equal(gs_payload_set(&pay, &it, 1), GS_OK);
    struct gs_test_writer save = g1;
    gs_test_writer_update(&g1, "cert", hex, "write", GS_KIND_SET, &pay, &op);
    assert_refused(f->s, &op, 1, g1.pk, "yc.g1", GS_ESCOPE);
    g1 = save;
    gs_test_writer_update(&g1, "revocation", hex, "cutoff", GS_KIND_SET, &pay,
                          &op);
    assert_refused(f->s, &op, 1, g1.pk, "yc.g1", GS_ESCOPE);
    gs_buf_fini(&pay);
    /* a certificate that names `trust` among its write scopes (the
     * authority's mistake) still does not open it */
    struct gs_test_writer t2;
    gs_test_writer_init(&t2, 10, "trust", net_pk);
    const char *bad[] = {"trust", "yc"};
    struct gs_test_cert c = {bad, 2, false, 0};
    gs_test_enroll_cert(f->s, net_pk, net_sk, t2.pk, &c);
    writer_ops(&t2, &op, 1);
    assert_refused(f->s, &op, 1, t2.pk, "trust", GS_ESCOPE);
}

static void
test_trust_redemption_needs_shop(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer plain, shop;
    struct gs_test_op op;

    gs_test_writer_init(&plain, 11, "yc.g1", net_pk);
    gs_test_writer_init(&shop, 12, "yc.g1", net_pk);
    enroll(f->s, &plain, "yc.g1", false);
    enroll(f->s, &shop, "yc.g1", true);

    /* granting points: anyone who may write there */
    writer_counter(&plain, "M-1", "points", 10, 10, &op);
    assert_applied(f->s, &op, 1);
    /* redeeming them: a shop only */
    struct gs_test_writer save = plain;
    writer_counter(&plain, "M-1", "points", -5, 5, &op);
    assert_refused(f->s, &op, 1, plain.pk, "yc.g1", GS_ESHOP);
    writer_counter(&shop, "M-1", "points", -5, -5, &op);
    assert_applied(f->s, &op, 1);
    /* other counters may go down */
    plain = save;
    writer_counter(&plain, "M-1", "stock", -3, -3, &op);
    assert_applied(f->s, &op, 1);
    gs_entity e;
    assert_int_equal(gs_store_entity_get(f->s, gs_slice_of("member", 6),
                                         gs_slice_of("M-1", 3), &e),
                     GS_OK);
    assert_int_equal(
        gs_field_counter_value(gs_entity_field(&e, "points", GS_KIND_COUNTER)),
        5);
    gs_entity_fini(&e);
}

/* ---- 3. replay ---- */

static void
test_trust_replay_is_a_no_op(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d;
    struct gs_test_op ops[4];
    gs_ingest_stats st;
    uint8_t d0[GS_HASH_BYTES], d1[GS_HASH_BYTES];
    char cut[400];
    const char *cuts[] = {cut};

    gs_test_writer_init(&d, 13, "yc.g1", net_pk);
    enroll(f->s, &d, "yc.g1", false);
    writer_ops(&d, ops, 4);
    assert_applied(f->s, ops, 4);
    digest_of(f->s, d0);
    ingest(f->s, ops, 4, &st);
    assert_int_equal(st.known, 4);
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.rejected, 0);
    digest_of(f->s, d1);
    assert_memory_equal(d0, d1, GS_HASH_BYTES);
    /* and after a revocation at its head: still known, not refused */
    cutoff_of("yc.g1", &ops[3], cut, sizeof cut);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts, 1);
    digest_of(f->s, d0);
    ingest(f->s, ops, 4, &st);
    assert_int_equal(st.known, 4);
    assert_int_equal(st.rejected, 0);
    digest_of(f->s, d1);
    assert_memory_equal(d0, d1, GS_HASH_BYTES);
}

/* ---- 4. revocation and expiry ---- */

static void
test_trust_revocation_cuts_the_feed(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, twin;
    struct gs_test_op ops[5], fork3;
    gs_ingest_stats st;
    uint8_t d0[GS_HASH_BYTES], d1[GS_HASH_BYTES];
    char cut[400];
    const char *cuts[] = {cut};

    /* the authority's replica: D enrolled, D's 5 ops, then the revocation
     * naming op 3 as D's last valid op in yc.g1 */
    gs_test_writer_init(&d, 14, "yc.g1", net_pk);
    enroll(f->s, &d, "yc.g1", false);
    writer_ops(&d, ops, 2);
    twin = d; /* a second op 3 of D: another history from op 2 on */
    gs_test_writer_op(&twin, "household", "H-9", "name", "other", &fork3);
    writer_ops(&d, ops + 2, 3);
    assert_applied(f->s, ops, 5);
    cutoff_of("yc.g1", &ops[2], cut, sizeof cut);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts, 1);

    /* a fresh replica: the certificate, the revocation, then D's ops */
    char dir[] = "/tmp/gs-trust-fresh-XXXXXX";
    gs_store *s = store_new(dir);
    enroll(s, &d, "yc.g1", false);
    gs_test_revoke(s, net_pk, net_sk, d.pk, cuts, 1);
    /* one run signed at op 5: the store cannot cut a run below the
     * signature that vouches for it, so all of it is refused */
    assert_refused(s, ops, 5, d.pk, "yc.g1", GS_EREVOKED);
    /* up to the cutoff, signed there: valid */
    assert_applied(s, ops, 3);
    assert_refused(s, &ops[3], 1, d.pk, "yc.g1", GS_EREVOKED);
    assert_refused(s, &ops[3], 2, d.pk, "yc.g1", GS_EREVOKED);
    /* another op at the cutoff's seq is not the pinned one: refused, and
     * no evidence against the part the revocation keeps */
    digest_of(s, d0);
    ingest(s, &fork3, 1, &st);
    assert_int_equal(st.forks, 0);
    assert_int_equal(st.by_reason[GS_EREVOKED], 1);
    assert_int_equal(st.applied, 0);
    digest_of(s, d1);
    assert_memory_equal(d0, d1, GS_HASH_BYTES);
    assert_int_equal(head_of(s, d.pk, "yc.g1").seq, 3);
    store_rm(dir, s);

    /* where only ops 1..2 are held, the other op 3 is not the pinned one */
    char dir2[] = "/tmp/gs-trust-fresh-XXXXXX";
    s = store_new(dir2);
    enroll(s, &d, "yc.g1", false);
    gs_test_revoke(s, net_pk, net_sk, d.pk, cuts, 1);
    assert_applied(s, ops, 2);
    assert_refused(s, &fork3, 1, d.pk, "yc.g1", GS_EREVOKED);
    assert_applied(s, &ops[2], 1);
    store_rm(dir2, s);
}

static void
test_trust_revocation_without_cutoff_refuses_everything(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, g2;
    struct gs_test_op ops[2], other;
    char good[400], h[2 * GS_HASH_BYTES + 1], m[6][200];
    uint8_t hash[GS_HASH_BYTES];

    gs_test_writer_init(&d, 15, "yc.g1", net_pk);
    gs_test_writer_init(&g2, 15, "yc.g2", net_pk);
    enroll(f->s, &d, "yc", false);
    writer_ops(&d, ops, 2);
    writer_ops(&g2, &other, 1);
    gs_op_hash(ops[1].bytes, ops[1].n, hash);
    gs_hex(hash, GS_HASH_BYTES, h);
    /* every element malformed, or about another feed: yc.g1's cutoff is
     * 0, nothing of it valid */
    snprintf(m[0], sizeof m[0], "yc.g1 2");
    snprintf(m[1], sizeof m[1], "yc.g1 two %s", h);
    snprintf(m[2], sizeof m[2], "yc.g1 2 %.*s", 62, h);
    snprintf(m[3], sizeof m[3], "yc.g1  2 %s", h);
    snprintf(m[4], sizeof m[4], "yc.g1 2 %s x", h);
    snprintf(m[5], sizeof m[5], "yc.g1 99999999999999999999 %s", h);
    const char *bad[] = {m[0], m[1], m[2]};
    const char *bad2[] = {m[3], m[4], m[5]};
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, bad, 3);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, bad2, 3);
    assert_refused(f->s, ops, 2, d.pk, "yc.g1", GS_EREVOKED);
    assert_refused(f->s, ops, 1, d.pk, "yc.g1", GS_EREVOKED);
    /* a revocation naming only yc.g1 ends yc.g2 at once */
    cutoff_of("yc.g1", &ops[1], good, sizeof good);
    const char *ok[] = {good};
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, ok, 1);
    assert_applied(f->s, ops, 2);
    assert_refused(f->s, &other, 1, g2.pk, "yc.g2", GS_EREVOKED);
}

/* A device that learns it is revoked lets go of what it may no longer
 * read: every feed but its own and the certificates, with the entities
 * they touched rebuilt from what remains (issue 5: "a device that loses
 * read rights to a scope purges that scope's data"). */
static void
test_trust_revoked_device_purges_what_it_read(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer t, o;
    struct gs_test_op tops[2], oops[3];
    gs_store_purge_result pr;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES], d3[GS_HASH_BYTES];
    char cut[400];
    const char *cuts[] = {cut};

    gs_test_writer_init(&t, 31, "yc.g1", net_pk);
    gs_test_writer_init(&o, 32, "yc.g2", net_pk);
    enroll(f->s, &t, "yc.g1", false);
    enroll(f->s, &o, "yc.g2", false);
    writer_ops(&t, tops, 2);
    writer_ops(&o, oops, 3);
    assert_applied(f->s, tops, 2);
    assert_applied(f->s, oops, 3);

    /* not revoked: nothing goes */
    assert_int_equal(gs_trust_purge(f->s, net_pk, t.pk, &pr), GS_OK);
    assert_int_equal(pr.feeds, 0);
    assert_int_equal(head_of(f->s, o.pk, "yc.g2").seq, 3);

    cutoff_of("yc.g1", &tops[1], cut, sizeof cut);
    gs_test_revoke(f->s, net_pk, net_sk, t.pk, cuts, 1);
    assert_int_equal(gs_trust_purge(f->s, net_pk, t.pk, &pr), GS_OK);
    assert_int_equal(pr.feeds, 1);
    assert_int_equal(pr.ops, 3);
    assert_int_equal(head_of(f->s, o.pk, "yc.g2").seq, 0);
    assert_int_equal(head_of(f->s, t.pk, "yc.g1").seq, 2); /* its own */
    digest_of(f->s, d1);
    assert_int_equal(gs_store_digest_rebuild(f->s, d2), GS_OK);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    gs_entity e;
    assert_int_equal(gs_store_entity_get(f->s, gs_slice_of("household", 9),
                                         gs_slice_of("H-2", 3), &e),
                     GS_ENOTFOUND); /* only o wrote it */

    /* the same as a replica that only ever held its own ops */
    char dir[] = "/tmp/gs-trust-own-XXXXXX";
    gs_store *s = store_new(dir);
    enroll(s, &t, "yc.g1", false);
    enroll(s, &o, "yc.g2", false);
    assert_applied(s, tops, 2);
    gs_test_revoke(s, net_pk, net_sk, t.pk, cuts, 1);
    digest_of(s, d3);
    assert_memory_equal(d1, d3, GS_HASH_BYTES);
    /* and again: nothing more to let go of */
    assert_int_equal(gs_trust_purge(f->s, net_pk, t.pk, &pr), GS_OK);
    assert_int_equal(pr.feeds, 0);
    store_rm(dir, s);
}

/* docs/trust.md §4 "After": the authority revokes a forked device at the
 * frozen head. A replica frozen there and one that never froze (it held
 * one branch on) end identical: unfrozen, no evidence, cut alike. */
static void
test_trust_revocation_at_frozen_head_converges(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, twin;
    struct gs_test_op a[3], b2;
    gs_ingest_stats st;
    uint8_t d1[GS_HASH_BYTES], d2[GS_HASH_BYTES];
    char cut[400];
    const char *cuts[] = {cut};
    gs_store_feed_info fi;

    gs_test_writer_init(&d, 41, "yc.g1", net_pk);
    writer_ops(&d, a, 1);
    twin = d;
    writer_ops(&d, a + 1, 2);
    gs_test_writer_op(&twin, "household", "H-9", "name", "other", &b2);
    /* f->s: a1 a2 a3, then b2: frozen at 1 */
    enroll(f->s, &d, "yc.g1", false);
    assert_applied(f->s, a, 3);
    ingest(f->s, &b2, 1, &st);
    assert_int_equal(st.forks, 1);
    /* s2 never saw b2: a1 a2 a3 */
    char dir[] = "/tmp/gs-trust-after-XXXXXX";
    gs_store *s2 = store_new(dir);
    enroll(s2, &d, "yc.g1", false);
    assert_applied(s2, a, 3);
    /* the authority, frozen at 1 too, names op 1 with no signature */
    cutoff_form("yc.g1", &a[0], false, cut, sizeof cut);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts, 1);
    gs_test_revoke(s2, net_pk, net_sk, d.pk, cuts, 1);
    digest_of(f->s, d1);
    digest_of(s2, d2);
    assert_memory_equal(d1, d2, GS_HASH_BYTES);
    assert_int_equal(gs_store_feed_info_get(f->s, d.pk,
                                            gs_slice_of("yc.g1", 5), &fi),
                     GS_OK);
    assert_false(fi.frozen);
    gs_store_counts c;
    assert_int_equal(gs_store_counts_get(f->s, &c), GS_OK);
    assert_int_equal(c.forks, 0);
    assert_int_equal(head_of(f->s, d.pk, "yc.g1").seq,
                     head_of(s2, d.pk, "yc.g1").seq);
    store_rm(dir, s2);
}

/* The admission token a newcomer shows in HELLO: the authority's
 * signature over (network, device), checkable with the network id alone. */
static void
test_trust_admission_token(void **state)
{
    (void)state;
    uint8_t dev[GS_KEY_BYTES], dev_sk[GS_SECRETKEY_BYTES];
    uint8_t tok[GS_TRUST_TOKEN_BYTES], other_tok[GS_TRUST_TOKEN_BYTES];
    gs_test_keypair(0x51, dev, dev_sk);
    gs_trust_token_sign(net_pk, net_sk, dev, tok);
    assert_true(gs_trust_token_verify(net_pk, dev, tok, sizeof tok));
    /* another device, another network, a short or altered token: no */
    assert_false(gs_trust_token_verify(net_pk, other_pk, tok, sizeof tok));
    assert_false(gs_trust_token_verify(other_pk, dev, tok, sizeof tok));
    assert_false(gs_trust_token_verify(net_pk, dev, tok, sizeof tok - 1));
    gs_trust_token_sign(other_pk, other_sk, dev, other_tok);
    assert_false(gs_trust_token_verify(net_pk, dev, other_tok,
                                       sizeof other_tok));
    tok[10] ^= 1;
    assert_false(gs_trust_token_verify(net_pk, dev, tok, sizeof tok));
    /* a device signing its own token proves nothing */
    gs_trust_token_sign(dev, dev_sk, dev, tok);
    assert_false(gs_trust_token_verify(net_pk, dev, tok, sizeof tok));
}

static void
test_trust_expired_certificate_refused(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, late;
    struct gs_test_op ops[3];
    const char *g1[] = {"yc.g1"};
    struct gs_test_cert c = {g1, 1, false, WRITER_MS + 10};
    struct gs_test_cert past = {g1, 1, false, WRITER_MS - 1};

    gs_test_writer_init(&d, 16, "yc.g1", net_pk);
    gs_test_enroll_cert(f->s, net_pk, net_sk, d.pk, &c);
    writer_ops(&d, ops, 2); /* stamped before until */
    assert_applied(f->s, ops, 2);
    d.hlc = (WRITER_MS + 10) << 16; /* at until: over */
    writer_ops(&d, &ops[2], 1);
    assert_refused(f->s, &ops[2], 1, d.pk, "yc.g1", GS_EEXPIRED);
    /* a certificate that ended before the device ever wrote */
    gs_test_writer_init(&late, 17, "yc.g1", net_pk);
    gs_test_enroll_cert(f->s, net_pk, net_sk, late.pk, &past);
    writer_ops(&late, ops, 2);
    assert_refused(f->s, ops, 2, late.pk, "yc.g1", GS_EEXPIRED);
}

/* ---- 4b. rolling back what a revocation took back (must show 4) ----
 *
 * A replica that applied a device's ops before the revocation reached it
 * ends where one that never saw the ops past the cutoff is: same digest
 * (each equal to a rebuild from its op log), same counts, the feed's
 * head at the cutoff with a signature that verifies, the feed readable
 * up to it, history without the removed ops, entities only they touched
 * gone. */

/* ops[0..n) applied in runs of up to 16, each signed at its end. */
static void
apply_all(gs_store *s, const struct gs_test_op *ops, size_t n)
{
    for (size_t at = 0; at < n; at += 16)
        assert_applied(s, ops + at, n - at < 16 ? n - at : 16);
}

/* a and b hold the same state. */
static void
same_state(gs_store *a, gs_store *b)
{
    uint8_t da[GS_HASH_BYTES], db[GS_HASH_BYTES];
    gs_store_counts ca, cb;
    digest_of(a, da); /* each equal to its own rebuild */
    digest_of(b, db);
    assert_memory_equal(da, db, GS_HASH_BYTES);
    assert_int_equal(gs_store_counts_get(a, &ca), GS_OK);
    assert_int_equal(gs_store_counts_get(b, &cb), GS_OK);
    assert_int_equal(ca.feeds, cb.feeds);
    assert_int_equal(ca.ops, cb.ops);
    assert_int_equal(ca.entities, cb.entities);
}

struct feed_check {
    const struct gs_test_op *ops;
    size_t n, i;
};

static int
feed_check_one(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    struct feed_check *c = ctx;
    assert_true(c->i < c->n);
    assert_int_equal(len, c->ops[c->i].n);
    assert_memory_equal(op, c->ops[c->i].bytes, len);
    assert_int_equal(sig != NULL, c->i == c->n - 1);
    c->i++;
    return 0;
}

/* The feed (author, scope) holds exactly ops[0..n): read from seq 1 it
 * gives them, signed at the last with a signature that verifies; n == 0:
 * the feed is unknown (as never seen). */
static void
feed_is(gs_store *s, const uint8_t author[GS_KEY_BYTES], const char *scope,
        const struct gs_test_op *ops, size_t n)
{
    struct feed_check c = {ops, n, 0};
    uint64_t to = 0;
    gs_err rc = gs_store_feed_read(s, author, gs_slice_of(scope, strlen(scope)),
                                   1, 100000, feed_check_one, &c, &to);
    gs_feed_head h = head_of(s, author, scope);
    assert_int_equal(h.seq, n);
    if (n == 0) {
        assert_int_equal(rc, GS_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, GS_OK);
    assert_int_equal(to, n);
    assert_int_equal(c.i, n);
    uint8_t hash[GS_HASH_BYTES];
    gs_op_hash(ops[n - 1].bytes, ops[n - 1].n, hash);
    assert_memory_equal(h.hash, hash, GS_HASH_BYTES);
    head_sig(s, author, scope); /* verifies */
}

struct hist_check {
    const struct gs_test_op *const *want;
    size_t n, seen;
};

static int
hist_check_one(const uint8_t *op, size_t len, const uint8_t hash[GS_HASH_BYTES],
               void *ctx)
{
    struct hist_check *c = ctx;
    uint8_t h[GS_HASH_BYTES];
    bool found = false;
    gs_op_hash(op, len, h);
    assert_memory_equal(h, hash, GS_HASH_BYTES);
    for (size_t i = 0; i < c->n && !found; i++)
        found = c->want[i]->n == len &&
                memcmp(c->want[i]->bytes, op, len) == 0;
    if (!found)
        fail_msg("history lists an op it should not");
    c->seen++;
    return 0;
}

/* The history of household id lists exactly the n ops of want. */
static void
history_is(gs_store *s, const char *id, const struct gs_test_op *const *want,
           size_t n)
{
    struct hist_check c = {want, n, 0};
    assert_int_equal(gs_store_history(s, gs_slice_of("household", 9),
                                      gs_slice_of(id, strlen(id)),
                                      hist_check_one, &c),
                     GS_OK);
    assert_int_equal(c.seen, n);
}

static gs_err
household_get(gs_store *s, const char *id)
{
    gs_entity e;
    gs_err rc = gs_store_entity_get(s, gs_slice_of("household", 9),
                                    gs_slice_of(id, strlen(id)), &e);
    if (rc == GS_OK)
        gs_entity_fini(&e);
    return rc;
}

/* (a) D's 6 ops on several entities (H-2 written by E too, H-3 only by
 * D's ops past the cutoff), then a revocation at 3. */
static void
test_trust_revocation_rolls_back_applied_ops(void **state)
{
    struct fixture *f = *state; /* A: D's ops first, then the revocation */
    struct gs_test_writer d, e;
    struct gs_test_op dops[6], eops[2];
    gs_ingest_stats st;
    char cut[400];
    const char *cuts[] = {cut};
    char dir[] = "/tmp/gs-trust-b-XXXXXX";
    gs_store *b = store_new(dir); /* B: never sees D's ops past 3 */

    gs_test_writer_init(&d, 40, "yc.g1", net_pk);
    gs_test_writer_init(&e, 41, "yc.g1", net_pk);
    gs_test_writer_op(&d, "household", "H-1", "name", "d1", &dops[0]);
    gs_test_writer_op(&d, "household", "H-2", "name", "d2", &dops[1]);
    gs_test_writer_op(&d, "household", "H-1", "phone", "d3", &dops[2]);
    gs_test_writer_op(&d, "household", "H-3", "name", "d4", &dops[3]);
    gs_test_writer_op(&d, "household", "H-2", "phone", "d5", &dops[4]);
    gs_test_writer_op(&d, "household", "H-1", "name", "d6", &dops[5]);
    gs_test_writer_op(&e, "household", "H-2", "name", "e1", &eops[0]);
    gs_test_writer_op(&e, "household", "H-4", "name", "e2", &eops[1]);
    cutoff_of("yc.g1", &dops[2], cut, sizeof cut);

    enroll(f->s, &d, "yc.g1", false);
    enroll(f->s, &e, "yc.g1", false);
    assert_applied(f->s, dops, 6);
    assert_applied(f->s, eops, 2);
    assert_int_equal(household_get(f->s, "H-3"), GS_OK);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts, 1);

    enroll(b, &d, "yc.g1", false);
    enroll(b, &e, "yc.g1", false);
    gs_test_revoke(b, net_pk, net_sk, d.pk, cuts, 1);
    assert_applied(b, dops, 3);
    assert_applied(b, eops, 2);

    same_state(f->s, b);
    feed_is(f->s, d.pk, "yc.g1", dops, 3);
    feed_is(f->s, e.pk, "yc.g1", eops, 2);
    const struct gs_test_op *h1[] = {&dops[0], &dops[2]};
    const struct gs_test_op *h2[] = {&dops[1], &eops[0]};
    const struct gs_test_op *h4[] = {&eops[1]};
    history_is(f->s, "H-1", h1, 2);
    history_is(f->s, "H-2", h2, 2);
    history_is(f->s, "H-4", h4, 1);
    history_is(f->s, "H-3", NULL, 0);
    assert_int_equal(household_get(f->s, "H-3"), GS_ENOTFOUND);
    /* from now on A decides as B does: past the cutoff refused, up to it
     * known */
    assert_refused(f->s, &dops[3], 3, d.pk, "yc.g1", GS_EREVOKED);
    assert_refused(b, &dops[3], 3, d.pk, "yc.g1", GS_EREVOKED);
    ingest(f->s, dops, 3, &st);
    assert_int_equal(st.known, 3);
    assert_int_equal(st.rejected, 0);
    same_state(f->s, b);
    store_rm(dir, b);
}

static int
count_feeds_of(const gs_store_feed_info *fi, void *ctx)
{
    const uint8_t *author = ((const void *const *)ctx)[0];
    size_t *n = ((void *const *)ctx)[1];
    if (memcmp(fi->author, author, GS_KEY_BYTES) == 0)
        (*n)++;
    return 0;
}

static size_t
feeds_of(gs_store *s, const uint8_t author[GS_KEY_BYTES])
{
    size_t n = 0;
    const void *ctx[2] = {author, &n};
    assert_int_equal(
        gs_store_feeds_each(s, gs_slice_of("", 0), count_feeds_of, ctx),
        GS_OK);
    return n;
}

static int
count_op(const uint8_t *op, size_t len, const gs_sig *sig, void *ctx)
{
    (void)op;
    (void)len;
    (void)sig;
    (*(size_t *)ctx)++;
    return 0;
}

/* (b) A revocation naming no feed of D in yc.g1 (cutoff 0): all of that
 * feed goes, and the feed looks never seen. D's feed in yc.g2 is named
 * at its head and stays; H-7, written there by D and then by E, is
 * stored naming D by the number of D's first feed (yc.g1's), which is
 * gone, and must still read. */
static void
test_trust_revocation_cutoff_zero_removes_the_feed(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d, d2, e;
    struct gs_test_op dops[3], d2op, eops[3];
    char cut[400];
    const char *cuts[] = {cut};
    char dir[] = "/tmp/gs-trust-b-XXXXXX";
    gs_store *b = store_new(dir);

    gs_test_writer_init(&d, 42, "yc.g1", net_pk);
    gs_test_writer_init(&d2, 42, "yc.g2", net_pk);
    gs_test_writer_init(&e, 43, "yc.g1", net_pk);
    writer_ops(&d, dops, 3); /* H-0, H-1, H-2 */
    gs_test_writer_op(&d2, "household", "H-7", "name", "d2", &d2op);
    gs_test_writer_op(&e, "household", "H-0", "phone", "e1", &eops[0]);
    gs_test_writer_op(&e, "household", "H-7", "phone", "e2", &eops[1]);
    cutoff_of("yc.g2", &d2op, cut, sizeof cut);

    enroll(f->s, &d, "yc", false);
    enroll(f->s, &e, "yc.g1", false);
    assert_applied(f->s, dops, 3);
    assert_applied(f->s, &d2op, 1);
    assert_applied(f->s, eops, 2);
    assert_int_equal(feeds_of(f->s, d.pk), 2);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts, 1);

    enroll(b, &d, "yc", false);
    enroll(b, &e, "yc.g1", false);
    gs_test_revoke(b, net_pk, net_sk, d.pk, cuts, 1);
    assert_applied(b, &d2op, 1);
    assert_applied(b, eops, 2);

    same_state(f->s, b);
    feed_is(f->s, d.pk, "yc.g1", NULL, 0);
    feed_is(f->s, d2.pk, "yc.g2", &d2op, 1);
    assert_int_equal(feeds_of(f->s, d.pk), 1);
    assert_int_equal(household_get(f->s, "H-1"), GS_ENOTFOUND);
    assert_int_equal(household_get(f->s, "H-2"), GS_ENOTFOUND);
    assert_int_equal(household_get(f->s, "H-7"), GS_OK);
    const struct gs_test_op *h0[] = {&eops[0]};
    history_is(f->s, "H-0", h0, 1);
    /* every op of every feed, as a bundle sends them: none of yc.g1 */
    size_t na = 0, nb = 0;
    assert_int_equal(gs_store_ops_each(f->s, count_op, &na), GS_OK);
    assert_int_equal(gs_store_ops_each(b, count_op, &nb), GS_OK);
    assert_int_equal(na, nb);
    assert_int_equal(na, 3 + 1 + 2);
    /* nothing of yc.g1 is valid now, on either */
    assert_refused(f->s, dops, 3, d.pk, "yc.g1", GS_EREVOKED);
    assert_refused(b, dops, 3, d.pk, "yc.g1", GS_EREVOKED);
    /* and both go on alike */
    gs_test_writer_op(&e, "household", "H-7", "name", "e3", &eops[2]);
    assert_applied(f->s, &eops[2], 1);
    assert_applied(b, &eops[2], 1);
    same_state(f->s, b);
    store_rm(dir, b);
}

/* (c) Two revocations merged, cutoffs 4 then 2: the lower wins, in the
 * store as in the decision. */
static void
test_trust_revocation_merged_cutoffs_roll_back_to_the_lower(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d;
    struct gs_test_op ops[6];
    char c4[400], c2[400];
    const char *cuts4[] = {c4}, *cuts2[] = {c2};
    char dir[] = "/tmp/gs-trust-b-XXXXXX";
    gs_store *b = store_new(dir);

    gs_test_writer_init(&d, 44, "yc.g1", net_pk);
    writer_ops(&d, ops, 6);
    cutoff_of("yc.g1", &ops[3], c4, sizeof c4);
    cutoff_of("yc.g1", &ops[1], c2, sizeof c2);

    enroll(f->s, &d, "yc.g1", false);
    assert_applied(f->s, ops, 6);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts4, 1);
    feed_is(f->s, d.pk, "yc.g1", ops, 4);
    gs_test_revoke(f->s, net_pk, net_sk, d.pk, cuts2, 1);
    feed_is(f->s, d.pk, "yc.g1", ops, 2);

    enroll(b, &d, "yc.g1", false);
    gs_test_revoke(b, net_pk, net_sk, d.pk, cuts4, 1);
    gs_test_revoke(b, net_pk, net_sk, d.pk, cuts2, 1);
    assert_applied(b, ops, 2);
    assert_refused(b, &ops[2], 2, d.pk, "yc.g1", GS_EREVOKED);
    same_state(f->s, b);
    const struct gs_test_op *h0[] = {&ops[0]}, *h1[] = {&ops[1]};
    history_is(f->s, "H-0", h0, 1);
    history_is(f->s, "H-1", h1, 1);
    assert_int_equal(household_get(f->s, "H-2"), GS_ENOTFOUND);
    store_rm(dir, b);
}

/* (d) The revocation in the same batch as D's ops past the cutoff, after
 * them: the authority's runs go first, so those ops are refused, and
 * what was applied before is rolled back in the same transaction. */
static void
test_trust_revocation_in_the_same_batch(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d;
    struct gs_test_op ops[6], rev;
    gs_ingest_stats st;
    char cut[400];
    const char *cuts[] = {cut};
    char dir[] = "/tmp/gs-trust-b-XXXXXX";
    gs_store *b = store_new(dir);

    gs_test_writer_init(&d, 45, "yc.g1", net_pk);
    writer_ops(&d, ops, 6);
    cutoff_of("yc.g1", &ops[2], cut, sizeof cut);
    enroll(f->s, &d, "yc.g1", false);
    assert_applied(f->s, ops, 4);

    gs_feed_head th = head_of(f->s, net_pk, "trust");
    gs_test_revocation_op(&th, net_pk, net_sk, net_pk, d.pk, cuts, 1, &rev);
    gs_run_item items[3] = {{ops[4].bytes, ops[4].n, NULL},
                            {ops[5].bytes, ops[5].n, &ops[5].sig},
                            {rev.bytes, rev.n, &rev.sig}};
    gs_store_run runs[2] = {{items, 2}, {items + 2, 1}};
    assert_int_equal(gs_store_ingest(f->s, runs, 2, net_pk, &st), GS_OK);
    assert_int_equal(st.applied, 1);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(st.by_reason[GS_EREVOKED], 2);
    assert_int_equal(st.first_bad_run, 0);

    enroll(b, &d, "yc.g1", false);
    gs_test_revoke(b, net_pk, net_sk, d.pk, cuts, 1);
    assert_applied(b, ops, 3);
    same_state(f->s, b);
    feed_is(f->s, d.pk, "yc.g1", ops, 3);
    store_rm(dir, b);
}

/* (e) Blocks: a feed of 150 ops (blocks 1-64 and 65-128 sealed, 129-150
 * open), cut inside the second block (its prefix rewritten, the third
 * deleted) and at each block boundary. H-0..H-2 each get 50 ops: their
 * history lives in hist, whose removed entries must go. */
#define LONG_OPS 150
static void
test_trust_revocation_cuts_blocks(void **state)
{
    (void)state;
    static struct gs_test_op ops[LONG_OPS];
    static const size_t cutoffs[] = {80, 64, 128, 1};
    struct gs_test_writer d;
    char cut[400];
    const char *cuts[] = {cut};

    gs_test_writer_init(&d, 46, "yc.g1", net_pk);
    writer_ops(&d, ops, LONG_OPS);
    for (size_t k = 0; k < sizeof cutoffs / sizeof cutoffs[0]; k++) {
        size_t c = cutoffs[k];
        char da[] = "/tmp/gs-trust-a-XXXXXX", db[] = "/tmp/gs-trust-b-XXXXXX";
        gs_store *a = store_new(da), *b = store_new(db);
        cutoff_of("yc.g1", &ops[c - 1], cut, sizeof cut);
        enroll(a, &d, "yc.g1", false);
        apply_all(a, ops, LONG_OPS);
        gs_test_revoke(a, net_pk, net_sk, d.pk, cuts, 1);
        enroll(b, &d, "yc.g1", false);
        gs_test_revoke(b, net_pk, net_sk, d.pk, cuts, 1);
        apply_all(b, ops, c);
        same_state(a, b);
        feed_is(a, d.pk, "yc.g1", ops, c);
        /* H-0 got ops 1, 4, 7, ...: those up to the cutoff remain */
        const struct gs_test_op *h0[LONG_OPS];
        size_t n = 0;
        for (size_t i = 0; i < c; i += 3)
            h0[n++] = &ops[i];
        history_is(a, "H-0", h0, n);
        if (c == 1)
            assert_int_equal(household_get(a, "H-1"), GS_ENOTFOUND);
        store_rm(da, a);
        store_rm(db, b);
    }
}

/* (g) A cutoff without a usable signature: the 3-field form, or a
 * signature that does not verify. A checkpoint at exactly the cutoff
 * serves; else the feed is cut to its greatest checkpoint below (none:
 * to nothing), and the valid ops past that come back when sent again in
 * a run signed at the cutoff. 1040 ops ingested in runs of 16 leave one
 * checkpoint, at 1024 (GS_STORE_SIG_SPACING). */
#define CKPT_OPS 1040
static void
test_trust_revocation_without_signature(void **state)
{
    (void)state;
    static struct gs_test_op ops[CKPT_OPS];
    struct gs_test_writer d;
    struct gs_test_op wrong;
    char cut[400];
    const char *cuts[] = {cut};
    uint8_t hash[GS_HASH_BYTES];
    gs_op o;

    gs_test_writer_init(&d, 47, "yc.g1", net_pk);
    writer_ops(&d, ops, CKPT_OPS);
    /* cutoff, then what the feed holds after the revocation */
    static const struct {
        size_t cut, kept;
        bool signed_, bad_sig;
    } cases[] = {
        {1024, 1024, false, false}, /* the checkpoint at the cutoff */
        {1030, 1024, false, false}, /* the checkpoint below it */
        {1030, 1024, true, true},   /* a signature that does not verify */
        {1030, 1030, true, false},  /* signed: exactly the cutoff */
        {5, 0, false, false},       /* no checkpoint below: nothing */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t c = cases[k].cut;
        char da[] = "/tmp/gs-trust-a-XXXXXX", db[] = "/tmp/gs-trust-b-XXXXXX";
        gs_store *a = store_new(da), *b = store_new(db);
        assert_int_equal(gs_op_decode(ops[c - 1].bytes, ops[c - 1].n, &o),
                         GS_OK);
        gs_op_hash(ops[c - 1].bytes, ops[c - 1].n, hash);
        wrong = ops[c - 1];
        wrong.sig = ops[c - 2].sig; /* another op's */
        gs_test_cutoff("yc.g1", o.seq, hash,
                       !cases[k].signed_  ? NULL
                       : cases[k].bad_sig ? &wrong.sig
                                          : &ops[c - 1].sig,
                       cut, sizeof cut);
        enroll(a, &d, "yc.g1", false);
        apply_all(a, ops, CKPT_OPS);
        gs_test_revoke(a, net_pk, net_sk, d.pk, cuts, 1);
        feed_is(a, d.pk, "yc.g1", ops, cases[k].kept);
        enroll(b, &d, "yc.g1", false);
        gs_test_revoke(b, net_pk, net_sk, d.pk, cuts, 1);
        if (cases[k].kept)
            apply_all(b, ops, cases[k].kept);
        same_state(a, b);
        /* what lies between is valid: sent again, signed at the cutoff,
         * it is taken on both */
        if (cases[k].kept < c) {
            assert_applied(a, ops + cases[k].kept, c - cases[k].kept);
            assert_applied(b, ops + cases[k].kept, c - cases[k].kept);
            feed_is(a, d.pk, "yc.g1", ops, c);
            same_state(a, b);
        }
        store_rm(da, a);
        store_rm(db, b);
    }
}

/* ---- 5. order independence ---- */

static void
test_trust_certificate_after_ops_same_state(void **state)
{
    struct fixture *f = *state; /* gets the certificate first */
    struct gs_test_writer d, e;
    struct gs_test_op ops[4], eops[2], cert;
    gs_feed_head none = {0, {0}};
    const char *g1[] = {"yc.g1"};
    struct gs_test_cert c = {g1, 1, false, 0};
    uint8_t da[GS_HASH_BYTES], db[GS_HASH_BYTES], dc[GS_HASH_BYTES];
    char dir_b[] = "/tmp/gs-trust-b-XXXXXX", dir_c[] = "/tmp/gs-trust-c-XXXXXX";
    gs_store *b = store_new(dir_b), *sc = store_new(dir_c);

    gs_test_writer_init(&d, 18, "yc.g1", net_pk);
    gs_test_writer_init(&e, 19, "yc.g1", net_pk);
    writer_ops(&d, ops, 4);
    writer_ops(&e, eops, 2);

    /* a: certificate, then ops */
    enroll(f->s, &d, "yc.g1", false);
    assert_applied(f->s, ops, 4);
    digest_of(f->s, da);

    /* b: ops (refused), certificate, the same ops again (accepted) */
    assert_refused(b, ops, 4, d.pk, "yc.g1", GS_ENOCERT);
    enroll(b, &d, "yc.g1", false);
    assert_applied(b, ops, 4);
    digest_of(b, db);
    assert_memory_equal(da, db, GS_HASH_BYTES);

    /* c: one batch, the ops' run before the certificate's */
    gs_test_cert_op(&none, net_pk, net_sk, net_pk, d.pk, &c, &cert);
    gs_run_item items[5];
    for (size_t i = 0; i < 4; i++)
        items[i] = (gs_run_item){ops[i].bytes, ops[i].n, NULL};
    items[3].sig = &ops[3].sig;
    items[4] = (gs_run_item){cert.bytes, cert.n, &cert.sig};
    gs_store_run runs[2] = {{items, 4}, {items + 4, 1}};
    gs_ingest_stats st;
    assert_int_equal(gs_store_ingest(sc, runs, 2, net_pk, &st), GS_OK);
    assert_int_equal(st.applied, 5);
    assert_int_equal(st.rejected, 0);
    digest_of(sc, dc);
    assert_memory_equal(da, dc, GS_HASH_BYTES);

    /* a refusal in such a batch names the least refused run */
    items[4] = (gs_run_item){eops[0].bytes, eops[0].n, &eops[0].sig};
    assert_int_equal(gs_store_ingest(sc, runs, 2, net_pk, &st), GS_OK);
    assert_int_equal(st.known, 4);
    assert_int_equal(st.by_reason[GS_ENOCERT], 1);
    assert_int_equal(st.first_bad_run, 1);
    /* ... also when a later run, the authority's, is refused too (and
     * was looked at first) */
    items[0] = (gs_run_item){eops[0].bytes, eops[0].n, &eops[0].sig};
    runs[0].n = 1;
    gs_feed_head th = head_of(sc, net_pk, "trust");
    gs_test_cert_op(&th, net_pk, net_sk, net_pk, e.pk, &c, &cert);
    cert.sig.sig[0] ^= 1;
    items[4] = (gs_run_item){cert.bytes, cert.n, &cert.sig};
    assert_int_equal(gs_store_ingest(sc, runs, 2, net_pk, &st), GS_OK);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(st.by_reason[GS_ENOCERT], 1);
    assert_int_equal(st.by_reason[GS_EBADSIG], 1);
    assert_int_equal(st.first_bad_run, 0);
    assert_int_equal(st.first_bad_rc, GS_ENOCERT);
    store_rm(dir_b, b);
    store_rm(dir_c, sc);
}

/* ---- 6. local writes ---- */

struct build {
    const struct gs_test_writer *w;
    const char *type, *field;
    uint8_t kind;
    int64_t delta; /* counters */
};

/* gs_store_write's builder: one update as ctx says, on targets[i]. */
static gs_err
build_op(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
         const gs_entity *current, gs_buf *out, gs_store_built *built, void *ctx)
{
    (void)built;
    const struct build *b = ctx;
    gs_buf pay;
    gs_op op;
    gs_vref v = {GS_V_STR, 0, gs_slice_of("x", 1)};
    char id[16];
    (void)current;
    snprintf(id, sizeof id, "H-%zu", i);
    gs_buf_init(&pay, 256);
    gs_err rc = b->kind == GS_KIND_COUNTER
                    ? gs_payload_counter(&pay, b->delta, b->delta)
                    : gs_payload_lww(&pay, 0, &v);
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, b->w->pk, GS_KEY_BYTES);
    op.scope = gs_slice_of(b->w->scope, strlen(b->w->scope));
    op.seq = head->seq + 1;
    memcpy(op.prev, head->hash, GS_HASH_BYTES);
    op.hlc = (hlc_seen > b->w->hlc ? hlc_seen : b->w->hlc) + 1;
    op.type = gs_slice_of(b->type, strlen(b->type));
    op.id = gs_slice_of(id, strlen(id));
    op.n_updates = 1;
    op.updates[0] = (gs_update){gs_slice_of(b->field, strlen(b->field)),
                                b->kind, gs_slice_of(pay.data, pay.len)};
    if (rc == GS_OK)
        rc = gs_op_encode(&op, out);
    gs_buf_fini(&pay);
    return rc;
}

/* Write n ops by w (as b says) locally; the store's answer. */
static gs_err
write_local(gs_store *s, const struct build *b, size_t n,
            gs_store_write_result *res)
{
    gs_store_target t[4];
    char ids[4][24];
    assert_true(n <= 4);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "H-%zu", i);
        t[i] = (gs_store_target){gs_slice_of(b->type, strlen(b->type)),
                                 gs_slice_of(ids[i], strlen(ids[i]))};
    }
    memset(res, 0, sizeof *res);
    return gs_store_write(s, b->w->pk, b->w->sk,
                          gs_slice_of(b->w->scope, strlen(b->w->scope)), net_pk,
                          t, n, build_op, (void *)b, res);
}

/* A local write by w that must fail with why and leave s as it was. */
static void
assert_write_refused(gs_store *s, const struct build *b, gs_err why)
{
    uint8_t d0[GS_HASH_BYTES], d1[GS_HASH_BYTES];
    gs_store_write_result res;
    digest_of(s, d0);
    gs_feed_head h0 = head_of(s, b->w->pk, b->w->scope);
    assert_int_equal(write_local(s, b, 2, &res), why);
    assert_int_equal(res.failed_at, 0);
    digest_of(s, d1);
    assert_memory_equal(d0, d1, GS_HASH_BYTES);
    gs_feed_head h1 = head_of(s, b->w->pk, b->w->scope);
    assert_int_equal(h1.seq, h0.seq);
    assert_memory_equal(h1.hash, h0.hash, GS_HASH_BYTES);
}

static void
test_trust_local_writes(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer d_g1, d_g2, pend, pend_g1;
    gs_store_write_result res;

    gs_test_writer_init(&d_g1, 20, "yc.g1", net_pk);
    gs_test_writer_init(&d_g2, 20, "yc.g2", net_pk);
    enroll(f->s, &d_g1, "yc.g1", false);

    /* a certificate is here: the rules hold for the device's own writes */
    struct build out_of_grid = {&d_g2, "household", "name", GS_KIND_LWW, 0};
    assert_write_refused(f->s, &out_of_grid, GS_ESCOPE);
    struct build cert = {&d_g1, "cert", "name", GS_KIND_LWW, 0};
    assert_write_refused(f->s, &cert, GS_ESCOPE);
    struct build redeem = {&d_g1, "member", "points", GS_KIND_COUNTER, -5};
    assert_write_refused(f->s, &redeem, GS_ESHOP);
    struct build in_grid = {&d_g1, "household", "name", GS_KIND_LWW, 0};
    assert_int_equal(write_local(f->s, &in_grid, 2, &res), GS_OK);
    assert_int_equal(res.written, 2);
    assert_int_equal(head_of(f->s, d_g1.pk, "yc.g1").seq, 2);

    /* no certificate yet: written, the enrolment pending, anywhere but
     * in `trust` */
    gs_test_writer_init(&pend, 21, "yc.g5", net_pk);
    struct build pending = {&pend, "household", "name", GS_KIND_LWW, 0};
    assert_int_equal(write_local(f->s, &pending, 2, &res), GS_OK);
    assert_int_equal(res.written, 2);
    assert_int_equal(head_of(f->s, pend.pk, "yc.g5").seq, 2);
    struct gs_test_writer pend_trust;
    gs_test_writer_init(&pend_trust, 21, "trust", net_pk);
    struct build into_trust = {&pend_trust, "household", "name", GS_KIND_LWW,
                               0};
    assert_write_refused(f->s, &into_trust, GS_ESCOPE);
    /* once enrolled (for yc.g1), yc.g5 is closed to it */
    gs_test_writer_init(&pend_g1, 21, "yc.g1", net_pk);
    enroll(f->s, &pend_g1, "yc.g1", false);
    assert_write_refused(f->s, &pending, GS_ESCOPE);
    struct build now_in = {&pend_g1, "household", "name", GS_KIND_LWW, 0};
    assert_int_equal(write_local(f->s, &now_in, 1, &res), GS_OK);
    assert_int_equal(res.written, 1);
}

/* ---- 7. the authority ---- */

static void
test_trust_authority_writes_anywhere(void **state)
{
    struct fixture *f = *state;
    struct gs_test_writer a;
    struct gs_test_op op;
    gs_buf pay;
    gs_vref v = {GS_V_STR, 0, gs_slice_of("district", 8)};
    static const char *const scopes[] = {"yc", "yc.g1.b3", "zz", "trust"};

    gs_buf_init(&pay, 64);
    assert_int_equal(gs_payload_lww(&pay, 0, &v), GS_OK);
    for (size_t i = 0; i < 4; i++) {
        memset(&a, 0, sizeof a);
        memcpy(a.pk, net_pk, GS_KEY_BYTES);
        memcpy(a.sk, net_sk, GS_SECRETKEY_BYTES);
        a.network = net_pk;
        a.scope = scopes[i];
        a.hlc = (WRITER_MS << 16) + 100 * i;
        writer_ops(&a, &op, 1);
        assert_applied(f->s, &op, 1);
        writer_counter(&a, "M-1", "points", -7, -7, &op); /* a redemption */
        assert_applied(f->s, &op, 1);
        gs_test_writer_update(&a, "cert", "not-a-device", "name", GS_KIND_LWW,
                              &pay, &op);
        assert_applied(f->s, &op, 1);
    }
    gs_buf_fini(&pay);
}

/* ---- gs_scope_covers and the cutoff parser ---- */

static bool
covers(const char *outer, const char *scope)
{
    return gs_scope_covers(gs_slice_of(outer, strlen(outer)),
                           gs_slice_of(scope, strlen(scope)));
}

static void
test_trust_scope_covers_on_dots(void **state)
{
    (void)state;
    assert_true(covers("yc.g1", "yc.g1"));
    assert_true(covers("yc.g1", "yc.g1.b3"));
    assert_true(covers("yc.g1", "yc.g1.b3.x"));
    assert_false(covers("yc.g1", "yc.g10"));
    assert_false(covers("yc.g1", "yc.g"));
    assert_false(covers("yc.g1", "yc"));
    assert_false(covers("yc.g1", "xyc.g1"));
    assert_false(covers("yc.g1", "yc-g1"));
    assert_true(covers("trust", "trust.x"));
    assert_false(covers("trust", "trusty"));
    assert_true(covers("", "anything.at.all"));
    assert_true(covers("", ""));
    assert_false(covers("a", ""));
}

/* The revocation entity of a device with the n cutoff elements given,
 * written by revocations of one element each (an op of the tests holds
 * 512 bytes: one 4-field element), merged as a store merges them. */
static void
revocation_entity(const char *const *cutoff, size_t n, gs_entity *e)
{
    gs_feed_head head = {0, {0}};
    struct gs_test_op op;
    uint8_t dev[GS_KEY_BYTES];
    gs_op o;
    memset(dev, 0x42, sizeof dev);
    for (size_t at = 0; at == 0 || at < n; at++) {
        size_t k = n - at < 1 ? n - at : 1;
        gs_test_revocation_op(&head, net_pk, net_sk, net_pk, dev,
                              k ? cutoff + at : NULL, k, &op);
        assert_int_equal(gs_op_decode(op.bytes, op.n, &o), GS_OK);
        if (at == 0)
            assert_int_equal(gs_entity_init(e, o.type, o.id), GS_OK);
        gs_op_hash(op.bytes, op.n, head.hash);
        assert_int_equal(gs_entity_apply(e, &o, head.hash), GS_OK);
        head.seq++;
    }
}

static void
cutoff_is(const gs_entity *e, const char *scope, uint64_t seq,
          const uint8_t hash[GS_HASH_BYTES])
{
    uint64_t got;
    uint8_t h[GS_HASH_BYTES], zero[GS_HASH_BYTES] = {0};
    memset(h, 0x77, sizeof h);
    gs_revocation_cutoff(e, gs_slice_of(scope, strlen(scope)), &got, h,
                         NULL);
    assert_int_equal(got, seq);
    assert_memory_equal(h, hash ? hash : zero, GS_HASH_BYTES);
}

/* The signature the cutoff of scope carries: sig, or none if NULL. */
static void
cutoff_sig_is(const gs_entity *e, const char *scope,
              const uint8_t sig[GS_SIGNATURE_BYTES])
{
    uint64_t seq;
    uint8_t h[GS_HASH_BYTES], got[GS_SIGNATURE_BYTES];
    bool has = gs_revocation_cutoff(e, gs_slice_of(scope, strlen(scope)),
                                    &seq, h, got);
    assert_int_equal(has, sig != NULL);
    if (sig)
        assert_memory_equal(got, sig, GS_SIGNATURE_BYTES);
    /* the sig is optional: NULL for it gives the same cutoff */
    assert_int_equal(gs_revocation_cutoff(
                         e, gs_slice_of(scope, strlen(scope)), &seq, h, NULL),
                     sig != NULL);
}

static void
test_trust_cutoff_parser(void **state)
{
    (void)state;
    uint8_t h1[GS_HASH_BYTES], h2[GS_HASH_BYTES];
    char x1[65], x2[65], e[8][200];
    gs_entity rev;
    memset(h1, 0xab, sizeof h1);
    memset(h2, 0x01, sizeof h2);
    gs_hex(h1, GS_HASH_BYTES, x1);
    gs_hex(h2, GS_HASH_BYTES, x2);

    /* well formed; a feed named twice keeps the lower cutoff */
    snprintf(e[0], sizeof e[0], "yc.g1 3 %s", x1);
    snprintf(e[1], sizeof e[1], "yc.g2 12 %s", x1);
    snprintf(e[2], sizeof e[2], "yc.g2 7 %s", x2);
    snprintf(e[3], sizeof e[3], "yc.g3 0 %s", x1);
    const char *good[] = {e[0], e[1], e[2], e[3]};
    revocation_entity(good, 4, &rev);
    cutoff_is(&rev, "yc.g1", 3, h1);
    cutoff_is(&rev, "yc.g2", 7, h2);
    cutoff_is(&rev, "yc.g3", 0, h1);
    cutoff_is(&rev, "yc.g4", 0, NULL); /* not named: nothing valid */
    cutoff_is(&rev, "yc", 0, NULL);    /* not a prefix match */
    gs_entity_fini(&rev);

    /* malformed: ignored, so the feed has cutoff 0 */
    snprintf(e[0], sizeof e[0], "yc.g1 3");                /* no hash */
    snprintf(e[1], sizeof e[1], "yc.g1 3 %.*s", 63, x1);   /* short */
    snprintf(e[2], sizeof e[2], "yc.g1 3 %sab", x1);       /* long */
    snprintf(e[3], sizeof e[3], "yc.g1 -3 %s", x1);        /* sign */
    snprintf(e[4], sizeof e[4], "yc.g1 3 %.*szz", 62, x1); /* not hex */
    snprintf(e[5], sizeof e[5], "yc.g1  3 %s", x1);        /* two spaces */
    snprintf(e[6], sizeof e[6], " 3 %s", x1);              /* no scope */
    snprintf(e[7], sizeof e[7], "yc.g1 18446744073709551616 %s", x1);
    const char *bad[] = {e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]};
    revocation_entity(bad, 8, &rev);
    cutoff_is(&rev, "yc.g1", 0, NULL);
    cutoff_is(&rev, "", 0, NULL);
    gs_entity_fini(&rev);

    /* the largest seq parses; a malformed element beside a good one
     * leaves the good one */
    snprintf(e[0], sizeof e[0], "yc.g1 18446744073709551609 %s", x2);
    snprintf(e[1], sizeof e[1], "yc.g1 1 %s trailing", x1);
    const char *mixed[] = {e[0], e[1]};
    revocation_entity(mixed, 2, &rev);
    cutoff_is(&rev, "yc.g1", 18446744073709551609ull, h2);
    gs_entity_fini(&rev);

    /* no cutoff field at all (a revocation of a device with no feeds) */
    revocation_entity(NULL, 0, &rev);
    cutoff_is(&rev, "yc.g1", 0, NULL);
    cutoff_sig_is(&rev, "yc.g1", NULL);
    gs_entity_fini(&rev);

    /* the 4-field form: the device's signature of the op at the cutoff */
    uint8_t g1[GS_SIGNATURE_BYTES], g2[GS_SIGNATURE_BYTES];
    char s1[2 * GS_SIGNATURE_BYTES + 1], s2[2 * GS_SIGNATURE_BYTES + 1];
    char f[10][400];
    memset(g1, 0x5a, sizeof g1);
    memset(g2, 0xc3, sizeof g2);
    gs_hex(g1, GS_SIGNATURE_BYTES, s1);
    gs_hex(g2, GS_SIGNATURE_BYTES, s2);
    snprintf(f[0], sizeof f[0], "yc.g1 3 %s %s", x1, s1);
    /* the same cutoff in both forms (an older revocation beside a newer
     * one): the signature is kept */
    snprintf(f[1], sizeof f[1], "yc.g2 4 %s", x1);
    snprintf(f[2], sizeof f[2], "yc.g2 4 %s %s", x1, s2);
    /* a lower 3-field cutoff wins over a signed higher one: no signature */
    snprintf(f[3], sizeof f[3], "yc.g3 9 %s %s", x1, s1);
    snprintf(f[4], sizeof f[4], "yc.g3 5 %s", x2);
    /* a signed lower one wins over a higher 3-field one */
    snprintf(f[5], sizeof f[5], "yc.g4 9 %s", x1);
    snprintf(f[6], sizeof f[6], "yc.g4 2 %s %s", x2, s2);
    /* another op pinned at the same seq brings no signature for this one */
    snprintf(f[7], sizeof f[7], "yc.g5 6 %s", x1);
    snprintf(f[8], sizeof f[8], "yc.g5 6 %s %s", x2, s1);
    const char *four[] = {f[0], f[1], f[2], f[3], f[4], f[5], f[6]};
    revocation_entity(four, 7, &rev);
    cutoff_is(&rev, "yc.g1", 3, h1);
    cutoff_sig_is(&rev, "yc.g1", g1);
    cutoff_is(&rev, "yc.g2", 4, h1);
    cutoff_sig_is(&rev, "yc.g2", g2);
    cutoff_is(&rev, "yc.g3", 5, h2);
    cutoff_sig_is(&rev, "yc.g3", NULL);
    cutoff_is(&rev, "yc.g4", 2, h2);
    cutoff_sig_is(&rev, "yc.g4", g2);
    cutoff_sig_is(&rev, "yc.g9", NULL);
    gs_entity_fini(&rev);
    const char *same_seq[] = {f[7], f[8]};
    revocation_entity(same_seq, 2, &rev);
    uint64_t q;
    uint8_t pin[GS_HASH_BYTES];
    bool has = gs_revocation_cutoff(&rev, gs_slice_of("yc.g5", 5), &q, pin,
                                    NULL);
    assert_int_equal(q, 6);
    /* whichever pin won (set order), a signature is kept only beside it */
    assert_int_equal(has, memcmp(pin, h2, GS_HASH_BYTES) == 0);
    gs_entity_fini(&rev);

    /* malformed 4-field elements: ignored */
    snprintf(f[0], sizeof f[0], "yc.g1 3 %s %.*s", x1, 127, s1); /* short */
    snprintf(f[1], sizeof f[1], "yc.g1 3 %s %sa", x1, s1);       /* long */
    snprintf(f[2], sizeof f[2], "yc.g1 3 %s %.*szz", x1, 126, s1);
    snprintf(f[3], sizeof f[3], "yc.g1 3 %s %s x", x1, s1); /* 5 fields */
    snprintf(f[4], sizeof f[4], "yc.g1 3 %s ", x1);         /* empty sig */
    snprintf(f[5], sizeof f[5], "yc.g1 3 %.*s %s", 62, x1, s1);
    const char *bad4[] = {f[0], f[1], f[2], f[3], f[4], f[5]};
    revocation_entity(bad4, 6, &rev);
    cutoff_is(&rev, "yc.g1", 0, NULL);
    cutoff_sig_is(&rev, "yc.g1", NULL);
    gs_entity_fini(&rev);
}

/* ---- 8. gs_authority_* and gs_trust_list through replicas ---- */

struct net3 {
    char base[64], auth[96], dev[96], other[96];
    char key_auth[65], key_dev[65], key_other[65];
};

static void
net3_init(struct net3 *n)
{
    gs_test_mkdtemp(n->base, sizeof n->base, "/tmp/gs-trust-rep-XXXXXX");
    snprintf(n->auth, sizeof n->auth, "%s/auth", n->base);
    snprintf(n->dev, sizeof n->dev, "%s/dev", n->base);
    snprintf(n->other, sizeof n->other, "%s/other", n->base);
    gs_test_replica_init(n->auth, NULL, "yc", "district", NULL, 0, n->key_auth);
    gs_test_replica_init(n->dev, n->key_auth, "yc.s1.g1", "tablet", NULL, 0,
                         n->key_dev);
    gs_test_replica_init(n->other, n->key_auth, "yc.s1", "station", NULL, 0,
                         n->key_other);
}

/* The certificate of device hex in r's trust list, or NULL; *root is the
 * whole list (the caller decrefs it; the certificate is borrowed). */
static json_t *
listed_cert(gs_replica *r, const char *hex, json_t **root)
{
    char *text;
    json_error_t err;
    assert_int_equal(gs_trust_list(r, &text), GS_OK);
    *root = json_loads(text, 0, &err);
    free(text);
    assert_non_null(*root);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(*root, "certs"), i, c)
    {
        const char *d = json_string_value(json_object_get(c, "device"));
        if (d && strcmp(d, hex) == 0)
            return c;
    }
    return NULL;
}

static bool
json_has(json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static void
test_trust_authority_enroll_refuses_bad_input(void **state)
{
    (void)state;
    struct net3 n;
    char why[512];
    const char *g1[] = {"yc.s1.g1"}, *trust[] = {"trust"},
               *below[] = {"trust.x"}, *ugly[] = {"Yc S1"};
    gs_cert_opts ok = {"tablet g1", "tablet", g1, 1, g1, 1, 0, 0};
    net3_init(&n);
    gs_replica *ra = gs_test_replica_open(n.auth),
               *ro = gs_test_replica_open(n.other);

    gs_cert_opts o = ok;
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, "abc", &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "device key"));
    char upper[65];
    strcpy(upper, n.key_dev);
    upper[63] = 0; /* 63 digits */
    assert_int_equal(gs_authority_enroll(ra, upper, &o, why, sizeof why),
                     GS_EINVAL);
    assert_int_equal(gs_authority_enroll(ra, NULL, &o, why, sizeof why),
                     GS_EINVAL);
    o.role = "king";
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "role"));
    o = ok;
    o.name = "";
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "name"));
    o = ok;
    o.n_write = 0;
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "--write"));
    o = ok;
    o.write = trust;
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "'trust'"));
    o.write = below;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    o = ok;
    o.read = ugly;
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "read scope"));
    /* nothing of that was written */
    json_t *root;
    assert_null(listed_cert(ra, n.key_dev, &root));
    json_decref(root);

    /* a replica whose device is not the authority */
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ro, n.key_dev, &ok, why, sizeof why),
                     GS_EDENIED);
    assert_non_null(strstr(why, "not the authority"));
    assert_int_equal(gs_authority_revoke(ro, n.key_dev, why, sizeof why),
                     GS_EDENIED);
    assert_int_equal(gs_authority_revoke(ra, "xyz", why, sizeof why),
                     GS_EINVAL);
    why[0] = 0;
    assert_int_equal(gs_authority_revoke(ra, n.key_auth, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "itself"));
    gs_replica_close(ro);
    gs_replica_close(ra);
    gs_test_rmtree(n.base);
}

static void
test_trust_authority_enroll_only_widens(void **state)
{
    (void)state;
    struct net3 n;
    char why[512] = "";
    const char *g1[] = {"yc.s1.g1"}, *g2[] = {"yc.s1.g2"}, *s1[] = {"yc.s1"};
    const unsigned long long until = WRITER_MS + 86400000ull;
    net3_init(&n);
    gs_replica *ra = gs_test_replica_open(n.auth);

    gs_cert_opts o = {"tablet g1", "tablet", g1, 1, s1, 1, 1, until};
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_OK);
    /* again, for another grid and without the shop flag: both grids, and
     * the flag kept */
    gs_cert_opts wider = {"tablet g1+g2", "tablet", g2, 1, NULL, 0, 0, 0};
    assert_int_equal(
        gs_authority_enroll(ra, n.key_dev, &wider, why, sizeof why), GS_OK);
    json_t *root, *c = listed_cert(ra, n.key_dev, &root);
    assert_non_null(c);
    assert_true(json_has(json_object_get(c, "write"), "yc.s1.g1"));
    assert_true(json_has(json_object_get(c, "write"), "yc.s1.g2"));
    assert_true(json_has(json_object_get(c, "read"), "yc.s1"));
    assert_true(json_is_true(json_object_get(c, "shop")));
    assert_int_equal(json_integer_value(json_object_get(c, "until")), until);
    assert_string_equal(json_string_value(json_object_get(c, "name")),
                        "tablet g1+g2");
    assert_true(json_is_false(json_object_get(c, "revoked")));
    assert_string_equal(json_string_value(json_object_get(root, "authority")),
                        n.key_auth);
    json_decref(root);

    /* until only moves later */
    o.until_ms = until - 1;
    why[0] = 0;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_EINVAL);
    assert_non_null(strstr(why, "revoke"));
    o.until_ms = until + 1000;
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_OK);
    c = listed_cert(ra, n.key_dev, &root);
    assert_int_equal(json_integer_value(json_object_get(c, "until")),
                     until + 1000);
    json_decref(root);
    /* a certificate without an end cannot be given one */
    gs_cert_opts station = {"station", "station", s1, 1, s1, 1, 0, 0};
    assert_int_equal(
        gs_authority_enroll(ra, n.key_other, &station, why, sizeof why), GS_OK);
    station.until_ms = until;
    why[0] = 0;
    assert_int_equal(
        gs_authority_enroll(ra, n.key_other, &station, why, sizeof why),
        GS_EINVAL);
    assert_non_null(strstr(why, "no end"));
    c = listed_cert(ra, n.key_other, &root);
    assert_true(json_is_null(json_object_get(c, "until")));
    json_decref(root);
    gs_replica_close(ra);
    gs_test_rmtree(n.base);
}

/* Put one household on r; its scope is r's. */
static void
put_one(gs_replica *r, const char *id)
{
    const char *assign[] = {"head=王五"};
    assert_int_equal(gs_replica_put_assign(r, "household", id, assign, 1),
                     GS_OK);
}

/* Carry every op of from to to by a bundle; the import's result. */
static gs_bundle_result
carry(const struct net3 *n, gs_replica *from, gs_replica *to)
{
    char path[160];
    gs_bundle_result ex, im;
    snprintf(path, sizeof path, "%s/b.gsb", n->base);
    assert_int_equal(
        gs_replica_bundle_export(from, path, "test", NULL, NULL, &ex), GS_OK);
    assert_int_equal(gs_replica_bundle_import(to, path, NULL, NULL, &im),
                     GS_OK);
    unlink(path);
    return im;
}

static void
test_trust_authority_revoke_names_every_feed(void **state)
{
    (void)state;
    struct net3 n;
    char why[512] = "";
    const char *grids[] = {"yc.s1.g1", "yc.s1.g2"};
    net3_init(&n);
    gs_replica *ra = gs_test_replica_open(n.auth),
               *rd = gs_test_replica_open(n.dev);

    gs_cert_opts o = {"tablet", "tablet", grids, 2, grids, 2, 0, 0};
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_OK);
    /* the tablet writes in two grids, before its certificate reaches it */
    put_one(rd, "H-1");
    put_one(rd, "H-2");
    gs_replica_close(rd);
    rd = gs_test_replica_open(n.dev);
    assert_int_equal(gs_replica_config_set(rd, "replica.scope", "yc.s1.g2"),
                     GS_OK);
    gs_replica_close(rd);
    rd = gs_test_replica_open(n.dev);
    put_one(rd, "H-3");
    gs_bundle_result im = carry(&n, rd, ra);
    assert_int_equal(im.applied, 3);
    assert_int_equal(im.rejected, 0);

    assert_int_equal(gs_authority_revoke(ra, n.key_dev, why, sizeof why),
                     GS_OK);
    json_t *root, *c = listed_cert(ra, n.key_dev, &root);
    assert_non_null(c);
    assert_true(json_is_true(json_object_get(c, "revoked")));
    json_t *cut = json_object_get(c, "cutoff");
    assert_int_equal(json_array_size(cut), 2);
    uint8_t dev[GS_KEY_BYTES];
    assert_int_equal(gs_unhex(n.key_dev, dev, sizeof dev), GS_KEY_BYTES);
    for (size_t i = 0; i < 2; i++) {
        /* the 4-field form: the head and the head's signature */
        gs_feed_head h = head_of(gs_replica_store(ra), dev, grids[i]);
        gs_sig sig = head_sig_for(gs_replica_store(ra),
                                  gs_replica_network(ra), dev, grids[i]);
        char want[400];
        gs_test_cutoff(grids[i], h.seq, h.hash, &sig, want, sizeof want);
        assert_int_equal(h.seq, i == 0 ? 2 : 1);
        assert_true(json_has(cut, want));
    }
    json_decref(root);

    /* what the tablet writes next is refused everywhere */
    put_one(rd, "H-4");
    im = carry(&n, rd, ra);
    assert_int_equal(im.applied, 0);
    assert_int_equal(im.known, 3);
    assert_int_equal(im.rejected, 1);
    assert_int_equal(im.runs_refused, 1);
    /* and the revocation travels: the tablet's own replica now refuses
     * its writes past the cutoff too */
    carry(&n, ra, rd);
    assert_int_equal(gs_replica_put_assign(rd, "household", "H-5",
                                           (const char *[]){"head=x"}, 1),
                     GS_EREVOKED);
    gs_replica_close(rd);
    gs_replica_close(ra);
    gs_test_rmtree(n.base);
}

/* (f) Through replicas: gs_authority_revoke writes the 4-field form, and
 * a replica that held the device's op past it (and the device's own
 * replica) rolls back when it imports the authority's bundle. */
static void
test_trust_authority_revoke_rolls_back_by_bundle(void **state)
{
    (void)state;
    struct net3 n;
    char why[512] = "";
    const char *g1[] = {"yc.s1.g1"};
    uint8_t dev[GS_KEY_BYTES], net[GS_KEY_BYTES];
    uint8_t da[GS_HASH_BYTES], dd[GS_HASH_BYTES], dother[GS_HASH_BYTES];
    net3_init(&n);
    gs_replica *ra = gs_test_replica_open(n.auth),
               *rd = gs_test_replica_open(n.dev),
               *ro = gs_test_replica_open(n.other);
    assert_int_equal(gs_unhex(n.key_dev, dev, sizeof dev), GS_KEY_BYTES);
    assert_int_equal(gs_unhex(n.key_auth, net, sizeof net), GS_KEY_BYTES);
    gs_store *sa = gs_replica_store(ra), *sd = gs_replica_store(rd),
             *so = gs_replica_store(ro);

    gs_cert_opts o = {"tablet", "tablet", g1, 1, g1, 1, 0, 0};
    assert_int_equal(gs_authority_enroll(ra, n.key_dev, &o, why, sizeof why),
                     GS_OK);
    put_one(rd, "H-1");
    put_one(rd, "H-2");
    assert_int_equal(carry(&n, rd, ra).applied, 2);
    put_one(rd, "H-3"); /* the authority never sees this one */
    carry(&n, ra, ro);
    assert_int_equal(carry(&n, rd, ro).applied, 1);
    assert_int_equal(head_of(so, dev, "yc.s1.g1").seq, 3);
    assert_int_equal(household_get(so, "H-3"), GS_OK);

    assert_int_equal(gs_authority_revoke(ra, n.key_dev, why, sizeof why),
                     GS_OK);
    json_t *root, *c = listed_cert(ra, n.key_dev, &root);
    gs_feed_head h = head_of(sa, dev, "yc.s1.g1");
    gs_sig sig = head_sig_for(sa, net, dev, "yc.s1.g1");
    char want[400];
    gs_test_cutoff("yc.s1.g1", h.seq, h.hash, &sig, want, sizeof want);
    assert_int_equal(h.seq, 2);
    assert_int_equal(json_array_size(json_object_get(c, "cutoff")), 1);
    assert_true(json_has(json_object_get(c, "cutoff"), want));
    json_decref(root);

    /* the other replica and the device's own roll back to 2 */
    carry(&n, ra, ro);
    carry(&n, ra, rd);
    digest_of(sa, da);
    digest_of(so, dother);
    digest_of(sd, dd);
    assert_memory_equal(da, dother, GS_HASH_BYTES);
    assert_memory_equal(da, dd, GS_HASH_BYTES);
    for (size_t i = 0; i < 3; i++) {
        gs_store *s = i == 0 ? sa : i == 1 ? so : sd;
        gs_feed_head hs = head_of(s, dev, "yc.s1.g1");
        assert_int_equal(hs.seq, 2);
        assert_memory_equal(hs.hash, h.hash, GS_HASH_BYTES);
        head_sig_for(s, net, dev, "yc.s1.g1"); /* verifies */
        assert_int_equal(household_get(s, "H-3"), GS_ENOTFOUND);
        assert_int_equal(household_get(s, "H-2"), GS_OK);
    }
    /* the device's op 3 comes back from nowhere: refused everywhere */
    gs_bundle_result im = carry(&n, rd, ro);
    assert_int_equal(im.applied, 0);
    digest_of(so, dother);
    assert_memory_equal(da, dother, GS_HASH_BYTES);
    gs_replica_close(ro);
    gs_replica_close(rd);
    gs_replica_close(ra);
    gs_test_rmtree(n.base);
}

int
main(void)
{
    gs_test_keypair(0xa0, net_pk, net_sk);
    gs_test_keypair(0xb0, other_pk, other_sk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trust_scope_covers_on_dots),
        cmocka_unit_test(test_trust_cutoff_parser),
        cmocka_unit_test_setup_teardown(test_trust_forged_signature_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_no_certificate_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_trust_certificate_by_another_authority_refused, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_trust_other_network_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_trust_tablet_writes_only_in_its_grid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_devices_never_touch_trust,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_redemption_needs_shop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trust_replay_is_a_no_op, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trust_revocation_cuts_the_feed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_trust_revocation_without_cutoff_refuses_everything, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_trust_expired_certificate_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_trust_revocation_rolls_back_applied_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_trust_revocation_cutoff_zero_removes_the_feed, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_trust_revocation_merged_cutoffs_roll_back_to_the_lower, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_trust_revocation_in_the_same_batch,
                                        setup, teardown),
        cmocka_unit_test(test_trust_revocation_cuts_blocks),
        cmocka_unit_test(test_trust_revocation_without_signature),
        cmocka_unit_test_setup_teardown(
            test_trust_certificate_after_ops_same_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_local_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trust_authority_writes_anywhere,
                                        setup, teardown),
        cmocka_unit_test(test_trust_authority_enroll_refuses_bad_input),
        cmocka_unit_test(test_trust_authority_enroll_only_widens),
        cmocka_unit_test(test_trust_authority_revoke_names_every_feed),
        cmocka_unit_test(test_trust_authority_revoke_rolls_back_by_bundle),
        cmocka_unit_test_setup_teardown(
            test_trust_revoked_device_purges_what_it_read, setup, teardown),
        cmocka_unit_test(test_trust_admission_token),
        cmocka_unit_test_setup_teardown(
            test_trust_revocation_at_frozen_head_converges, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
