/*
 * test_points.c — property test for the points rule (DESIGN §3; issue 6,
 * must show 3): concurrent grants on several devices and redemptions at
 * the shop device never produce a negative balance anywhere.
 *
 * Each schedule builds a small district network of real replicas in a
 * scratch directory: an authority, N_GRANTERS tablets enrolled without the
 * shop flag, and one shop device enrolled with it, each holding every
 * certificate; N_PEOPLE persons registered on tablet 0 and carried to all.
 * Then STEPS random steps:
 *   - a grant of 1..50 points to a random person on a random device (the
 *     shop too), through gs_points_grant: always accepted;
 *   - a redemption of 1..60 at the shop through gs_points_redeem: accepted
 *     exactly when the shop's own view of the balance covers it, else
 *     GS_EBALANCE with the shop's digest unchanged;
 *   - a redemption on a tablet, through the domain layer (GS_ESHOP) or
 *     around it with a raw counter put (the store's GS_ESHOP): refused,
 *     nothing written;
 *   - a sync from one random device to another, one way or both, by a
 *     bundle of everything the sender holds (what a USB stick carries and
 *     what a full session sends).
 * After every step every replica's balance of every person is >= 0. At the
 * end every replica is brought up to date (all to one, that one to all):
 * then every balance equals sum(grants) - sum(redemptions) for its person
 * on every replica, and the replicas' digests are equal.
 *
 * test_points_oracle_can_fail runs one schedule in which the shop ignores
 * its own view (it writes redemption ops past the balance rule, straight
 * to the store) and expects a negative balance to show, so the property
 * cannot pass vacuously. A raw counter put at the shop keeps the rule
 * (test_points_raw_put_at_the_shop_keeps_the_balance).
 *
 * Seeded from gs_test_seed() (printed; replay with GS_SEED=N); each
 * schedule draws from its own generator seeded by the master one, and
 * GS_PROP_ONLY=K replays schedule K alone. GS_PROP_SCHEDULES=N sets the
 * number of schedules (default 100).
 */
#include "testutil.h"

#include "replica_int.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_GRANTERS 3
#define SHOP N_GRANTERS /* the shop's index among the devices */
#define N_DEV (N_GRANTERS + 1)
#define N_PEOPLE 3
#define STEPS 60
#define SCHEDULES_DEFAULT 100

static struct {
    uint64_t seed;
    long sched;
    int step;
} ctx;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            print_error(__VA_ARGS__);                                          \
            print_error("\n  %s (line %d), schedule %ld, step %d\n"            \
                        "  replay: GS_SEED=%llu GS_PROP_ONLY=%ld\n",           \
                        #cond, __LINE__, ctx.sched, ctx.step,                  \
                        (unsigned long long)ctx.seed, ctx.sched);              \
            fail();                                                            \
        }                                                                      \
    } while (0)

struct world {
    char base[GS_TEST_DIR_BYTES];
    char dir[N_DEV][128];
    gs_replica *r[N_DEV];
    long long granted[N_PEOPLE], redeemed[N_PEOPLE];
    unsigned long grants, redemptions, refused, syncs;
};

static const char *const people[N_PEOPLE] = {"P-1", "P-2", "P-3"};

static long
env_long(const char *name, long def)
{
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : def;
}

/* Every op of from into to, by a bundle file. */
static void
carry(struct world *w, int from, int to)
{
    char path[160];
    gs_bundle_result ex, im;
    snprintf(path, sizeof path, "%s/b.gsb", w->base);
    gs_err rc =
        gs_replica_bundle_export(w->r[from], path, "prop", NULL, NULL, &ex);
    CHECK(rc == GS_OK, "bundle export %d: %s", from, gs_errname(rc));
    rc = gs_replica_bundle_import(w->r[to], path, NULL, NULL, &im);
    CHECK(rc == GS_OK, "bundle import %d -> %d: %s", from, to, gs_errname(rc));
    CHECK(im.rejected == 0, "%llu ops refused carrying %d -> %d", im.rejected,
          from, to);
    unlink(path);
    w->syncs++;
}

static void
world_init(struct world *w)
{
    char auth[128], key_auth[65], key[N_DEV][65], scope[64], why[512] = "";
    memset(w, 0, sizeof *w);
    gs_test_mkdtemp(w->base, sizeof w->base, "/tmp/gs-prop-points-XXXXXX");
    snprintf(auth, sizeof auth, "%s/auth", w->base);
    gs_test_replica_init(auth, NULL, "trust", "district", NULL, 0, key_auth);
    gs_replica *ra = gs_test_replica_open(auth);
    for (int d = 0; d < N_DEV; d++) {
        if (d == SHOP)
            snprintf(scope, sizeof scope, "yc.c1");
        else
            snprintf(scope, sizeof scope, "yc.c1.g%d", d + 1);
        snprintf(w->dir[d], sizeof w->dir[d], "%s/dev%d", w->base, d);
        gs_test_replica_init(w->dir[d], key_auth, scope,
                             d == SHOP ? "shop" : "tablet", NULL, 0, key[d]);
        const char *sc[] = {scope};
        gs_cert_opts o = {d == SHOP ? "shop" : "tablet",
                          d == SHOP ? "station" : "tablet",
                          sc,
                          1,
                          sc,
                          1,
                          d == SHOP,
                          0};
        gs_err rc = gs_authority_enroll(ra, key[d], &o, why, sizeof why);
        CHECK(rc == GS_OK, "enroll %d: %s", d, why);
        w->r[d] = gs_test_replica_open(w->dir[d]);
    }
    /* every device holds every certificate: the authority's bundle */
    char path[160];
    gs_bundle_result ex, im;
    snprintf(path, sizeof path, "%s/trust.gsb", w->base);
    CHECK(gs_replica_bundle_export(ra, path, "auth", NULL, NULL, &ex) == GS_OK,
          "authority bundle");
    for (int d = 0; d < N_DEV; d++)
        CHECK(gs_replica_bundle_import(w->r[d], path, NULL, NULL, &im) == GS_OK,
              "trust into %d", d);
    unlink(path);
    gs_replica_close(ra);
    for (int p = 0; p < N_PEOPLE; p++) {
        const char *a[] = {"name=居民"};
        CHECK(gs_replica_put_assign(w->r[0], "person", people[p], a, 1) ==
                  GS_OK,
              "register %s", people[p]);
    }
    for (int d = 1; d < N_DEV; d++)
        carry(w, 0, d);
}

static void
world_fini(struct world *w)
{
    for (int d = 0; d < N_DEV; d++)
        gs_replica_close(w->r[d]);
    gs_test_rmtree(w->base);
}

static long long
balance(struct world *w, int d, int p)
{
    long long b = 0;
    gs_err rc = gs_points_balance(w->r[d], people[p], &b);
    CHECK(rc == GS_OK, "balance of %s on %d: %s", people[p], d, gs_errname(rc));
    return b;
}

static void
digest(struct world *w, int d, unsigned char out[32])
{
    CHECK(gs_replica_digest(w->r[d], 0, out) == GS_OK, "digest of %d", d);
}

/* The property after every step. */
static void
check_nonnegative(struct world *w)
{
    for (int d = 0; d < N_DEV; d++)
        for (int p = 0; p < N_PEOPLE; p++) {
            long long b = balance(w, d, p);
            CHECK(b >= 0, "device %d sees %s at %lld", d, people[p], b);
        }
}

/* A redemption on a tablet: refused by the domain layer or, around it,
 * by the store; nothing written either way. */
static void
tablet_redeem(struct world *w, gs_rng *rng)
{
    int d = (int)gs_rng_below(rng, N_GRANTERS),
        p = (int)gs_rng_below(rng, N_PEOPLE);
    unsigned char before[32], after[32];
    digest(w, d, before);
    gs_err rc;
    if (gs_rng_below(rng, 2)) {
        rc = gs_points_redeem(w->r[d], people[p], 1, "兑换", NULL, NULL);
    } else {
        const char *a[] = {"points-=1"};
        rc = gs_replica_put_assign(w->r[d], "person", people[p], a, 1);
    }
    CHECK(rc == GS_ESHOP, "tablet %d redeemed: %s", d, gs_errname(rc));
    digest(w, d, after);
    CHECK(memcmp(before, after, 32) == 0, "a refused redemption wrote");
    w->refused++;
}

/* The vacuity test's shop ignores its own view: a redemption op built
 * here and written by gs_store_write, past the balance rule every write
 * through the replica keeps (replica.c balance_check). */
struct raw_redeem {
    gs_replica *r;
    const char *person;
    long long n;
};

static gs_err
raw_build(size_t i, const gs_feed_head *head, uint64_t hlc_seen,
          const gs_entity *current, gs_buf *out, gs_store_built *built, void *arg)
{
    (void)built;
    const struct raw_redeem *x = arg;
    const gs_identity *id = gs_replica_identity(x->r);
    const gs_field *f =
        current ? gs_entity_field(current, "points", GS_KIND_COUNTER) : NULL;
    int64_t total = f ? gs_field_counter_author_total(f, id->pk) : 0;
    const char *scope = gs_replica_scope(x->r);
    gs_buf pay;
    gs_op op;
    (void)i;
    gs_buf_init(&pay, GS_PAYLOAD_BYTES_MAX);
    gs_err rc = gs_payload_counter(&pay, -x->n, total - x->n);
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, id->pk, GS_KEY_BYTES);
    op.scope = gs_slice_of(scope, strlen(scope));
    op.seq = head->seq + 1;
    memcpy(op.prev, head->hash, GS_HASH_BYTES);
    op.hlc = hlc_seen + 1;
    op.type = gs_slice_of("person", 6);
    op.id = gs_slice_of(x->person, strlen(x->person));
    op.n_updates = 1;
    op.updates[0].field = gs_slice_of("points", 6);
    op.updates[0].kind = GS_KIND_COUNTER;
    op.updates[0].payload = gs_slice_of(pay.data, pay.len);
    if (rc == GS_OK)
        rc = gs_op_encode(&op, out);
    gs_buf_fini(&pay);
    return rc;
}

static gs_err
raw_redeem(gs_replica *r, const char *person, long long n)
{
    struct raw_redeem x = {r, person, n};
    const gs_identity *id = gs_replica_identity(r);
    const char *scope = gs_replica_scope(r);
    gs_store_target t = {gs_slice_of("person", 6),
                         gs_slice_of(person, strlen(person))};
    gs_store_write_result res;
    return gs_store_write(gs_replica_store(r), id->pk, id->sk,
                          gs_slice_of(scope, strlen(scope)),
                          gs_replica_network(r), &t, 1, raw_build, &x, &res);
}

/* A redemption at the shop: through the domain layer, or (raw, for the
 * vacuity test) one that skips the balance rule. */
static void
shop_redeem(struct world *w, gs_rng *rng, bool raw)
{
    int p = (int)gs_rng_below(rng, N_PEOPLE);
    long long n = 1 + (long long)gs_rng_below(rng, 60);
    long long seen = balance(w, SHOP, p), after = -1;
    unsigned char before[32], now[32];
    if (raw) {
        CHECK(raw_redeem(w->r[SHOP], people[p], n) == GS_OK, "raw redemption");
        w->redeemed[p] += n;
        return;
    }
    digest(w, SHOP, before);
    gs_err rc =
        gs_points_redeem(w->r[SHOP], people[p], n, "兑换", NULL, &after);
    if (n <= seen) {
        CHECK(rc == GS_OK, "shop redeem %lld of %lld: %s (%s)", n, seen,
              gs_errname(rc), gs_replica_detail(w->r[SHOP]));
        CHECK(after == seen - n, "balance after %lld, want %lld", after,
              seen - n);
        w->redeemed[p] += n;
        w->redemptions++;
    } else {
        CHECK(rc == GS_EBALANCE, "shop redeem %lld of %lld: %s", n, seen,
              gs_errname(rc));
        digest(w, SHOP, now);
        CHECK(memcmp(before, now, 32) == 0, "a refused redemption wrote");
        w->refused++;
    }
}

static void
grant(struct world *w, gs_rng *rng)
{
    int d = (int)gs_rng_below(rng, N_DEV), p = (int)gs_rng_below(rng, N_PEOPLE);
    long long n = 1 + (long long)gs_rng_below(rng, 50);
    gs_err rc = gs_points_grant(w->r[d], people[p], n, "服务", NULL, NULL);
    CHECK(rc == GS_OK, "grant on %d: %s (%s)", d, gs_errname(rc),
          gs_replica_detail(w->r[d]));
    w->granted[p] += n;
    w->grants++;
}

/* One schedule; with raw_shop, redemptions skip the balance check and the
 * result says whether a negative balance showed (else asserts none). */
static bool
schedule(uint64_t seed, bool raw_shop)
{
    struct world w;
    gs_rng rng;
    bool negative = false;
    gs_rng_seed(&rng, seed);
    world_init(&w);
    for (ctx.step = 0; ctx.step < STEPS; ctx.step++) {
        uint64_t k = gs_rng_below(&rng, 100);
        if (k < 40) {
            grant(&w, &rng);
        } else if (k < 70) {
            shop_redeem(&w, &rng, raw_shop);
        } else if (k < 75) {
            tablet_redeem(&w, &rng);
        } else {
            int a = (int)gs_rng_below(&rng, N_DEV);
            int b = (int)(a + 1 + gs_rng_below(&rng, N_DEV - 1)) % N_DEV;
            carry(&w, a, b);
            if (gs_rng_below(&rng, 2))
                carry(&w, b, a);
        }
        if (!raw_shop) {
            check_nonnegative(&w);
            continue;
        }
        for (int d = 0; d < N_DEV; d++)
            for (int p = 0; p < N_PEOPLE; p++)
                negative |= balance(&w, d, p) < 0;
    }
    /* everything everywhere: all to device 0, then 0 to all */
    for (int d = 1; d < N_DEV; d++)
        carry(&w, d, 0);
    for (int d = 1; d < N_DEV; d++)
        carry(&w, 0, d);
    unsigned char d0[32], dn[32];
    digest(&w, 0, d0);
    for (int d = 0; d < N_DEV; d++) {
        digest(&w, d, dn);
        CHECK(memcmp(d0, dn, 32) == 0, "device %d's digest differs", d);
        for (int p = 0; p < N_PEOPLE; p++) {
            long long want = w.granted[p] - w.redeemed[p];
            long long b = balance(&w, d, p);
            CHECK(b == want, "device %d: %s at %lld, want %lld - %lld", d,
                  people[p], b, w.granted[p], w.redeemed[p]);
            CHECK(raw_shop || b >= 0, "final balance %lld", b);
        }
    }
    if (!raw_shop && ctx.sched == 0)
        print_message("schedule 0: %lu grants, %lu redemptions, %lu refused, "
                      "%lu syncs\n",
                      w.grants, w.redemptions, w.refused, w.syncs);
    world_fini(&w);
    return negative;
}

static void
test_points_never_negative(void **state)
{
    (void)state;
    gs_rng master;
    ctx.seed = gs_test_seed();
    gs_rng_seed(&master, ctx.seed);
    long n = env_long("GS_PROP_SCHEDULES", SCHEDULES_DEFAULT);
    long only = env_long("GS_PROP_ONLY", -1);
    for (ctx.sched = 0; ctx.sched < n; ctx.sched++) {
        uint64_t s = gs_rng_next(&master);
        if (only < 0 || only == ctx.sched)
            schedule(s, false);
    }
}

/* Without the shop's check the same schedules do go negative: the
 * property above is not vacuous. */
static void
test_points_oracle_can_fail(void **state)
{
    (void)state;
    gs_rng master;
    bool seen = false;
    ctx.seed = gs_test_seed();
    gs_rng_seed(&master, ctx.seed);
    for (ctx.sched = 0; ctx.sched < 20 && !seen; ctx.sched++)
        seen = schedule(gs_rng_next(&master), true);
    CHECK(seen, "no schedule went negative without the balance check");
}

/* A raw counter put at the shop keeps the balance rule too: refused with
 * GS_EBALANCE and nothing written above the balance, written up to it. */
static void
test_points_raw_put_at_the_shop_keeps_the_balance(void **state)
{
    struct world w;
    unsigned char before[32], after[32];
    const char *over[] = {"points-=13"}, *all[] = {"points-=12"};
    (void)state;
    world_init(&w);
    CHECK(gs_points_grant(w.r[0], people[0], 12, "扫雪", NULL, NULL) == GS_OK,
          "grant");
    carry(&w, 0, SHOP);
    digest(&w, SHOP, before);
    gs_err rc = gs_replica_put_assign(w.r[SHOP], "person", people[0], over, 1);
    CHECK(rc == GS_EBALANCE, "13 of 12 taken: %s", gs_errname(rc));
    CHECK(strstr(gs_replica_detail(w.r[SHOP]), "balance of P-1 is 12") != NULL,
          "why: %s", gs_replica_detail(w.r[SHOP]));
    digest(&w, SHOP, after);
    CHECK(memcmp(before, after, 32) == 0, "a refused put wrote");
    CHECK(gs_replica_put_assign(w.r[SHOP], "person", people[0], all, 1) ==
              GS_OK,
          "12 of 12: %s", gs_replica_detail(w.r[SHOP]));
    CHECK(balance(&w, SHOP, 0) == 0, "balance after");
    world_fini(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points_never_negative),
        cmocka_unit_test(test_points_oracle_can_fail),
        cmocka_unit_test(test_points_raw_put_at_the_shop_keeps_the_balance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
