/*
 * test_converge.c — property tests for convergence (DESIGN §3, §8): any set
 * of ops, delivered in any order, any number of times, through any
 * partition, yields byte-identical state.
 *
 * Each schedule simulates five devices (authors, keys gs_test_keypair(1..5))
 * writing ops on 20-28 entities of four types (household, person, ticket,
 * wish) that together use every field kind: lww (with "_deleted"
 * tombstones), counter, set (adds and removes of observed tags), log, stage
 * (with reopen rounds) and claim (with withdrawals). A device has its own
 * hybrid logical clock (wall clock off by up to a day), its own gs_state
 * replica, one feed per scope (seq 1, 2, 3 ..., prev = content hash of the
 * op before), and writes from what it has seen: counter totals from its own
 * running total, set removes with the tags it observed, reopen = its seen
 * round + 1, lww base = the stamp of the value it saw. Devices exchange ops
 * mid-schedule, so there is both causality and concurrency.
 *
 * Every op goes through the real codec: gs_op_encode -> bytes -> gs_op_hash,
 * and every replica receives gs_op_decode(bytes). Signatures are left out
 * (too slow for 10,000 schedules; tests/unit covers them).
 *
 * Then three observers receive all ops, each in its own random order, with
 * duplicates (1-3 re-deliveries of about one op in six), first a partial
 * delivery (digest taken), then the rest. Even-numbered schedules use fully
 * random order, ignoring feeds; odd ones respect each feed's seq order, as
 * the real store does. After full delivery every observer, the authors
 * (caught up) and a reference replica (ops applied once, in creation order)
 * must have the same gs_state_digest. On half the schedules the partial
 * states are also joined (gs_state_join) and must equal a replica given the
 * union of their ops. The reference is further checked against an oracle
 * of each kind's rule (lww winner, counter sum, set membership, log count,
 * stage max and stamp, claim survivors and winner), so a merge that is a
 * lattice but the wrong one is caught too.
 *
 * test_digest_differs_when_state_differs drops one op whose loss must show
 * and expects another digest, so the property cannot pass vacuously;
 * test_converge_feed_order_only_points checks the counter's promise under
 * feed-order delivery after every single delivery.
 *
 * Everything random flows from one gs_rng seeded by gs_test_seed() (each
 * schedule from its own generator, seeded by the next number of a master
 * generator): the run replays with GS_SEED=N; GS_PROP_ONLY=K replays only
 * schedule K of that run; GS_PROP_SCHEDULES=N changes the number of
 * schedules for a quick local run (default GS_PROP_SCHEDULES = 10000; the
 * two smaller tests run a tenth and a fifth of it, at least 100).
 */
#include "testutil.h"

#include "field.h"
#include "hlc.h"
#include "op.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GS_PROP_SCHEDULES
#define GS_PROP_SCHEDULES 10000
#endif

#define N_AUTHORS 5
#define N_SCOPES 2
#define N_FEEDS (N_AUTHORS * N_SCOPES)
#define N_OBSERVERS 3
#define ENT_MIN 20
#define ENT_MAX 28
#define OPS_MIN 20
#define OPS_MAX 60
#define OPS_CAP 128 /* OPS_MAX plus forced ops */
#define DELIV_CAP (OPS_CAP * 8)
#define TAGS_MAX 64
#define DAY_MS INT64_C(86400000)
#define T0_MS UINT64_C(1700000000000) /* Nov 2023 */
#define FUTURE_KIND 9                 /* a kind this version does not know */

/* ---- failure context: every failure names the schedule and the seed ---- */

static struct {
    const char *test;
    uint64_t seed;
    long sched;
    const char *step;
} ctx;

static void
fail_here(int line, const char *cond)
{
    print_error("FAILED %s (line %d): %s\n"
                "  schedule %ld, step \"%s\", seed %llu\n"
                "  replay: GS_SEED=%llu GS_PROP_ONLY=%ld\n",
                ctx.test, line, cond, ctx.sched, ctx.step ? ctx.step : "-",
                (unsigned long long)ctx.seed, (unsigned long long)ctx.seed,
                ctx.sched);
    fail();
}

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            print_error(__VA_ARGS__);                                          \
            print_error("\n");                                                 \
            fail_here(__LINE__, #cond);                                        \
        }                                                                      \
    } while (0)

#define OK(call)                                                               \
    do {                                                                       \
        gs_err rc_ = (call);                                                   \
        CHECK(rc_ == GS_OK, "%s returned %s", #call, gs_errname(rc_));         \
    } while (0)

/* ---- the schema of the simulation ---- */

struct fdef {
    const char *name;
    uint8_t kind;
};

struct tdef {
    const char *type;
    const char *prefix;
    int n;
    struct fdef f[8]; /* f[0] is "_deleted", f[1] an ordinary lww field */
};

static const struct tdef types[] = {
    {"household",
     "H-",
     5,
     {{GS_DELETED_FIELD, GS_KIND_LWW},
      {"address", GS_KIND_LWW},
      {"phone", GS_KIND_LWW},
      {"tags", GS_KIND_SET},
      {"visits", GS_KIND_LOG}}},
    {"person",
     "P-",
     6,
     {{GS_DELETED_FIELD, GS_KIND_LWW},
      {"name", GS_KIND_LWW},
      {"age", GS_KIND_LWW},
      {"points", GS_KIND_COUNTER},
      {"checkins", GS_KIND_LOG},
      {"tags", GS_KIND_SET}}},
    {"ticket",
     "T-",
     7,
     {{GS_DELETED_FIELD, GS_KIND_LWW},
      {"title", GS_KIND_LWW},
      {"stage", GS_KIND_STAGE},
      {"comments", GS_KIND_LOG},
      {"photos", GS_KIND_SET},
      {"rating", GS_KIND_LWW},
      {"handler", GS_KIND_CLAIM}}},
    {"wish",
     "W-",
     4,
     {{GS_DELETED_FIELD, GS_KIND_LWW},
      {"text", GS_KIND_LWW},
      {"claim", GS_KIND_CLAIM},
      {"donations", GS_KIND_COUNTER}}},
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

static const char *const scopes[N_SCOPES] = {"yc.yimei.nanjun.xinxin.g012",
                                             "yc.yimei.nanjun.xinxin.g013"};

static const char *const lww_strs[] = {"张三",           "李四",  "13800138000",
                                       "Xinxin Rd 12-3", "",      "red",
                                       "yellow",         "black", "★★★"};
static const char *const log_strs[] = {
    "visited, all well", "curtain open", "no answer",
    "电话回访",          "photo taken",  "dispatched to housing dept"};
static const char *const set_elems[] = {
    "elderly-alone", "low-income", "disabled",  "veteran",
    "独居",          "photo-3fa2", "photo-91bc"};
static const char *const claimants[] = {"vol-1", "vol-2",    "vol-3", "vol-4",
                                        "vol-5", "pm-zhang", "pm-li"};
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Features a schedule must exercise; every schedule covers all of them. */
enum {
    F_LWW = 1 << 0,
    F_TOMB = 1 << 1,
    F_CTR = 1 << 2,
    F_SET_ADD = 1 << 3,
    F_SET_RM = 1 << 4,
    F_LOG = 1 << 5,
    F_STAGE = 1 << 6,
    F_REOPEN = 1 << 7,
    F_CLAIM = 1 << 8,
    F_WITHDRAW = 1 << 9,
    F_ALL = (1 << 10) - 1,
};
static const char *const feat_names[] = {
    "lww", "tombstone", "counter", "set-add", "set-remove",
    "log", "stage",     "reopen",  "claim",   "withdraw"};

static uint8_t keys[N_AUTHORS][GS_KEY_BYTES];

/* ---- a schedule ---- */

struct ent {
    int type;
    int scope;
    char id[16];
};

struct rec {
    uint8_t *bytes;
    size_t n;
    uint8_t hash[GS_HASH_BYTES];
    int author, feed, ent;
    uint64_t seq, hlc;
    unsigned feats;
    bool has_ctr, has_log;
    int64_t ctr_delta;
    unsigned lww_mask; /* field indices of lww updates */
    /* what the op wrote, for the semantic oracle */
    int8_t del_val; /* "_deleted": -1 not written, 0 false, 1 true */
    bool has_stage;
    uint64_t round, stage;
    int8_t claim_action; /* 0: none */
    int claim_who;       /* index in claimants */
    int n_set;
    struct {
        int elem; /* index in set_elems */
        uint8_t action;
        uint64_t obs[OPS_CAP / 64]; /* remove: ops whose add tags it saw */
    } set[2];
};

struct author {
    gs_hlc clk;
    int64_t off; /* wall clock error, ms */
    gs_state *st;
    bool seen[OPS_CAP];
};

struct sched {
    gs_rng rng;
    long idx;
    int n_ent;
    struct ent ent[ENT_MAX];
    struct author au[N_AUTHORS];
    int n_ops;
    struct rec op[OPS_CAP];
    uint64_t sim_ms;
    uint64_t seq[N_FEEDS];
    uint8_t prev[N_FEEDS][GS_HASH_BYTES];
    unsigned feats;
    int exchanges;
};

static struct {
    unsigned long schedules, ops, entities, deliveries, dups, exchanges,
        random_order, feed_order, joins, forced;
    unsigned long feat[10];
} stats;

static int
rnd(struct sched *S, int n)
{
    return (int)gs_rng_below(&S->rng, (uint64_t)n);
}

static gs_slice
cs(const char *s)
{
    return gs_slice_of(s, strlen(s));
}

static uint64_t
wall(struct sched *S, int a)
{
    return (uint64_t)((int64_t)S->sim_ms + S->au[a].off);
}

static int
kind_field(int type, uint8_t kind)
{
    for (int i = 1; i < types[type].n; i++)
        if (types[type].f[i].kind == kind)
            return i;
    return -1;
}

/* Apply recorded op i to st the way every replica does: decode the bytes. */
static void
deliver(gs_state *st, const struct rec *r)
{
    gs_op op;
    OK(gs_op_decode(r->bytes, r->n, &op));
    OK(gs_state_apply(st, &op, r->hash));
    stats.deliveries++;
}

/* Author a receives op i from a peer. */
static void
receive(struct sched *S, int a, int i)
{
    struct author *au = &S->au[a];
    deliver(au->st, &S->op[i]);
    OK(gs_hlc_recv(&au->clk, S->op[i].hlc, wall(S, a)));
    au->seen[i] = true;
}

static int
pool_index(const char *const *pool, int n, gs_slice s)
{
    for (int i = 0; i < n; i++)
        if (gs_slice_cmp(cs(pool[i]), s) == 0)
            return i;
    CHECK(0, "a string not from the pool");
    return -1;
}

static const gs_field *
view_field(struct sched *S, int a, int e, int fi)
{
    const struct tdef *T = &types[S->ent[e].type];
    const gs_entity *ve =
        gs_state_get(S->au[a].st, cs(T->type), cs(S->ent[e].id));
    return ve ? gs_entity_field(ve, T->f[fi].name, T->f[fi].kind) : NULL;
}

/* Author a writes the payload of field fi of entity e into b, from what it
 * has seen. force is a feature the update must exercise, or 0. */
static void
gen_update(struct sched *S, int a, int e, int fi, unsigned force, gs_buf *b,
           struct rec *r)
{
    const struct tdef *T = &types[S->ent[e].type];
    const gs_field *vf = view_field(S, a, e, fi);
    char tmp[64];

    switch (T->f[fi].kind) {
    case GS_KIND_LWW: {
        gs_vref cur, v = {0};
        gs_stamp at;
        uint64_t base = 0;
        if (vf && gs_field_lww_get(vf, &cur, &at))
            base = at.hlc;
        if (fi == 0) {
            v.type = rnd(S, 7) ? GS_V_TRUE : GS_V_FALSE;
            r->del_val = v.type == GS_V_TRUE;
            r->feats |= F_TOMB;
        } else {
            int c = rnd(S, 12);
            if (c < 7) {
                v.type = GS_V_STR;
                v.s = cs(lww_strs[rnd(S, NELEM(lww_strs))]);
            } else if (c < 10) {
                int shift = rnd(S, 64); /* small and large magnitudes */
                v.type = GS_V_INT;
                v.i = (int64_t)gs_rng_next(&S->rng) >> shift;
            } else if (c < 11) {
                v.type = rnd(S, 2) ? GS_V_TRUE : GS_V_FALSE;
            } else {
                v.type = GS_V_NULL;
            }
            r->feats |= F_LWW;
        }
        OK(gs_payload_lww(b, base, &v));
        r->lww_mask |= 1u << fi;
        break;
    }
    case GS_KIND_COUNTER: {
        int64_t delta = 1 + rnd(S, 20);
        if (rnd(S, 4) == 0)
            delta = -delta; /* a redemption */
        int64_t total = vf ? gs_field_counter_author_total(vf, keys[a]) : 0;
        OK(gs_payload_counter(b, delta, total + delta));
        r->has_ctr = true;
        r->ctr_delta = delta;
        r->feats |= F_CTR;
        break;
    }
    case GS_KIND_SET: {
        static uint8_t tags[2][TAGS_MAX][GS_HASH_BYTES];
        gs_set_item items[2];
        gs_slice mem[NELEM(set_elems) + 4];
        size_t nm = vf ? gs_field_set_members(vf, mem, NELEM(mem)) : 0;
        if (nm > (size_t)NELEM(mem))
            nm = NELEM(mem);
        int n = force ? 1 : 1 + rnd(S, 2);
        int k = 0;
        for (int j = 0; j < n; j++) {
            bool rm = nm > 0 && (force == F_SET_RM ||
                                 (force != F_SET_ADD && rnd(S, 3) == 0));
            gs_slice el;
            if (rm) {
                el = mem[rnd(S, (int)nm)];
            } else {
                el = cs(set_elems[rnd(S, NELEM(set_elems))]);
            }
            bool dup = false;
            for (int m = 0; m < k; m++)
                dup |= gs_slice_cmp(items[m].elem, el) == 0;
            if (dup)
                continue;
            items[k].elem = el;
            items[k].n_tags = 0;
            items[k].tags = NULL;
            items[k].action = GS_SET_ADD;
            r->set[k].elem = pool_index(set_elems, NELEM(set_elems), el);
            r->set[k].action = GS_SET_ADD;
            memset(r->set[k].obs, 0, sizeof r->set[k].obs);
            if (rm) {
                size_t nt = gs_field_set_tags(vf, el, tags[k], TAGS_MAX);
                CHECK(nt > 0, "a present set element has no live tag");
                CHECK(nt <= TAGS_MAX, "more live tags than TAGS_MAX");
                items[k].action = GS_SET_REMOVE;
                items[k].n_tags = nt;
                items[k].tags = (const uint8_t(*)[GS_HASH_BYTES])tags[k];
                r->set[k].action = GS_SET_REMOVE;
                for (size_t t = 0; t < nt; t++) {
                    int o = 0;
                    while (o < S->n_ops &&
                           memcmp(S->op[o].hash, tags[k][t], GS_HASH_BYTES))
                        o++;
                    CHECK(o < S->n_ops, "a live tag is no op's hash");
                    r->set[k].obs[o / 64] |= UINT64_C(1) << (o % 64);
                }
                r->feats |= F_SET_RM;
            } else {
                r->feats |= F_SET_ADD;
            }
            k++;
        }
        OK(gs_payload_set(b, items, (size_t)k));
        r->n_set = k;
        break;
    }
    case GS_KIND_LOG: {
        gs_vref v = {0};
        if (rnd(S, 5)) {
            v.type = GS_V_STR;
            if (rnd(S, 2)) {
                v.s = cs(log_strs[rnd(S, NELEM(log_strs))]);
            } else {
                int len = snprintf(tmp, sizeof tmp, "visit %d by device %d",
                                   rnd(S, 1000), a + 1);
                v.s = gs_slice_of(tmp, (size_t)len);
            }
        } else {
            v.type = GS_V_INT;
            v.i = rnd(S, 200) - 100;
        }
        OK(gs_payload_log(b, &v));
        r->has_log = true;
        r->feats |= F_LOG;
        break;
    }
    case GS_KIND_STAGE: {
        uint64_t round = 0, stage = 0, nr, ns;
        gs_stamp at;
        bool have = vf && gs_field_stage_get(vf, &round, &stage, &at);
        if (force == F_REOPEN || (have && stage >= 4 && rnd(S, 3) == 0) ||
            (have && rnd(S, 12) == 0)) {
            nr = round + 1; /* the resident reopens */
            ns = 0;
            r->feats |= F_REOPEN;
        } else if (!have) {
            nr = 0;
            ns = (uint64_t)rnd(S, 2);
        } else if (stage < 5 && rnd(S, 8)) {
            nr = round;
            ns = stage + 1 + (uint64_t)rnd(S, 2);
            if (ns > 5)
                ns = 5;
        } else {
            nr = round; /* the same stage again, from another device */
            ns = stage;
        }
        OK(gs_payload_stage(b, 0, nr, ns));
        r->has_stage = true;
        r->round = nr;
        r->stage = ns;
        r->feats |= F_STAGE;
        break;
    }
    case GS_KIND_CLAIM: {
        const struct gs_claim_rec *cl[8];
        size_t nc = vf ? gs_field_claims(vf, cl, 8) : 0;
        if (nc > 8)
            nc = 8;
        gs_slice mine = cs(claimants[a]);
        bool mine_survives = false;
        for (size_t j = 0; j < nc; j++)
            mine_survives |=
                gs_slice_cmp(gs_slice_of(cl[j]->who, cl[j]->who_n), mine) == 0;
        uint8_t action = GS_CLAIM;
        gs_slice who = mine;
        if (force == F_WITHDRAW) {
            action = GS_WITHDRAW;
            if (!mine_survives && nc > 0) {
                size_t j = (size_t)rnd(S, (int)nc);
                who = gs_slice_of(cl[j]->who, cl[j]->who_n);
            }
        } else if (force != F_CLAIM && mine_survives && rnd(S, 2) == 0) {
            action = GS_WITHDRAW;
        } else if (force != F_CLAIM && rnd(S, 20) == 0) {
            action = GS_WITHDRAW; /* a withdrawal not (yet) seen claimed */
            who = cs(claimants[rnd(S, NELEM(claimants))]);
        } else if (rnd(S, 5) == 0) {
            who = cs(claimants[rnd(S, NELEM(claimants))]); /* on behalf */
        }
        OK(gs_payload_claim(b, action, who));
        r->claim_action = (int8_t)action;
        r->claim_who = pool_index(claimants, NELEM(claimants), who);
        r->feats |= action == GS_CLAIM ? F_CLAIM : F_WITHDRAW;
        break;
    }
    default:
        CHECK(0, "bad kind in the schema");
    }
}

/* Author a writes one op on entity e. ffi >= 0 forces field ffi to be
 * written, exercising feature ffeat. */
static void
gen_op(struct sched *S, int a, int e, int ffi, unsigned ffeat)
{
    CHECK(S->n_ops < OPS_CAP, "too many ops");
    int i = S->n_ops;
    struct rec *r = &S->op[i];
    const struct tdef *T = &types[S->ent[e].type];
    struct author *au = &S->au[a];
    int fis[GS_OP_UPDATES_MAX];
    int k = 0;

    memset(r, 0, sizeof *r);
    r->del_val = -1;
    if (ffi >= 0)
        fis[k++] = ffi;
    int want = k + (ffi >= 0 ? rnd(S, 2) : 1 + rnd(S, 3));
    if (want > T->n - 1)
        want = T->n - 1;
    while (k < want) {
        int fi = 1 + rnd(S, T->n - 1);
        bool dup = false;
        for (int j = 0; j < k; j++)
            dup |= fis[j] == fi;
        if (!dup)
            fis[k++] = fi;
    }
    if (ffi != 0 && rnd(S, 30) == 0)
        fis[k++] = 0; /* tombstone (or undelete) along with the edit */

    gs_buf pb[GS_OP_UPDATES_MAX];
    gs_op op;
    memset(&op, 0, sizeof op);
    for (int j = 0; j < k; j++) {
        gs_buf_init(&pb[j], GS_PAYLOAD_BYTES_MAX);
        gen_update(S, a, e, fis[j], fis[j] == ffi ? ffeat : 0, &pb[j], r);
    }
    int nu = k;
    uint8_t future[8];
    if (rnd(S, 40) == 0) {
        /* A kind from a newer version: stored and relayed, not merged. */
        size_t fn = (size_t)rnd(S, (int)sizeof future + 1);
        for (size_t j = 0; j < fn; j++)
            future[j] = (uint8_t)gs_rng_next(&S->rng);
        op.updates[nu].field = cs("zz_future");
        op.updates[nu].kind = FUTURE_KIND;
        op.updates[nu].payload = gs_slice_of(future, fn);
        nu++;
    }
    for (int j = 0; j < k; j++) {
        op.updates[j].field = cs(T->f[fis[j]].name);
        op.updates[j].kind = T->f[fis[j]].kind;
        op.updates[j].payload = gs_slice_of(pb[j].data, pb[j].len);
    }
    op.n_updates = (size_t)nu;

    int feed = a * N_SCOPES + S->ent[e].scope;
    op.version = GS_OP_VERSION;
    memcpy(op.author, keys[a], GS_KEY_BYTES);
    op.scope = cs(scopes[S->ent[e].scope]);
    op.seq = ++S->seq[feed];
    memcpy(op.prev, S->prev[feed], GS_HASH_BYTES);
    uint64_t last = au->clk.last;
    OK(gs_hlc_now(&au->clk, wall(S, a), &op.hlc));
    CHECK(op.hlc > last, "hlc G1: stamp %llu not above %llu (author %d)",
          (unsigned long long)op.hlc, (unsigned long long)last, a + 1);
    op.type = cs(T->type);
    op.id = cs(S->ent[e].id);

    gs_buf ob;
    gs_buf_init(&ob, GS_OP_BYTES_MAX);
    OK(gs_op_encode(&op, &ob));
    for (int j = 0; j < k; j++)
        gs_buf_fini(&pb[j]);

    r->n = ob.len;
    r->bytes = malloc(ob.len);
    CHECK(r->bytes != NULL, "out of memory");
    memcpy(r->bytes, ob.data, ob.len);
    gs_buf_fini(&ob);
    gs_op_hash(r->bytes, r->n, r->hash);
    memcpy(S->prev[feed], r->hash, GS_HASH_BYTES);
    r->author = a;
    r->feed = feed;
    r->ent = e;
    r->seq = op.seq;
    r->hlc = op.hlc;
    S->n_ops++;
    S->feats |= r->feats;

    /* The codec round trip: decode, check, encode again, same bytes. */
    gs_op dec;
    OK(gs_op_decode(r->bytes, r->n, &dec));
    CHECK(dec.seq == op.seq && dec.hlc == op.hlc &&
              dec.n_updates == op.n_updates &&
              memcmp(dec.author, op.author, GS_KEY_BYTES) == 0 &&
              memcmp(dec.prev, op.prev, GS_HASH_BYTES) == 0,
          "decoded op differs from the op encoded");
    gs_buf rb;
    gs_buf_init(&rb, GS_OP_BYTES_MAX);
    OK(gs_op_encode(&dec, &rb));
    CHECK(rb.len == r->n && memcmp(rb.data, r->bytes, r->n) == 0,
          "encode(decode(bytes)) != bytes");
    gs_buf_fini(&rb);

    /* The writer applies its own op, like every other replica. */
    deliver(au->st, r);
    au->seen[i] = true;
}

/* Author b pulls from author a what a has and b lacks, for all feeds or a
 * random few; in creation order, so each feed stays a prefix. */
static void
exchange(struct sched *S)
{
    int a = rnd(S, N_AUTHORS), b = rnd(S, N_AUTHORS - 1);
    if (b >= a)
        b++;
    int dirs = 1 + rnd(S, 2); /* one way or both ways */
    for (int dir = 0; dir < dirs; dir++) {
        bool full = rnd(S, 2), take[N_FEEDS];
        for (int f = 0; f < N_FEEDS; f++)
            take[f] = full || rnd(S, 2);
        for (int i = 0; i < S->n_ops; i++)
            if (S->au[a].seen[i] && !S->au[b].seen[i] && take[S->op[i].feed])
                receive(S, b, i);
        int t = a;
        a = b;
        b = t;
    }
    S->exchanges++;
    stats.exchanges++;
}

static int
feat_kind(unsigned feat)
{
    switch (feat) {
    case F_LWW:
    case F_TOMB:
        return GS_KIND_LWW;
    case F_CTR:
        return GS_KIND_COUNTER;
    case F_SET_ADD:
    case F_SET_RM:
        return GS_KIND_SET;
    case F_LOG:
        return GS_KIND_LOG;
    case F_STAGE:
    case F_REOPEN:
        return GS_KIND_STAGE;
    default:
        return GS_KIND_CLAIM;
    }
}

static int
rand_ent_with(struct sched *S, uint8_t kind)
{
    for (;;) {
        int e = rnd(S, S->n_ent);
        if (kind_field(S->ent[e].type, kind) >= 0)
            return e;
    }
}

/* Write one op that exercises feature feat. */
static void
gen_forced(struct sched *S, unsigned feat)
{
    uint8_t kind = (uint8_t)feat_kind(feat);
    stats.forced++;
    if (feat == F_SET_RM) {
        /* Someone must have seen an element to remove it. */
        int a0 = rnd(S, N_AUTHORS), e0 = rnd(S, S->n_ent);
        for (int x = 0; x < N_AUTHORS; x++) {
            for (int y = 0; y < S->n_ent; y++) {
                int a = (a0 + x) % N_AUTHORS, e = (e0 + y) % S->n_ent;
                int fi = kind_field(S->ent[e].type, GS_KIND_SET);
                const gs_field *vf = fi >= 0 ? view_field(S, a, e, fi) : NULL;
                gs_slice m;
                if (vf && gs_field_set_members(vf, &m, 1) > 0) {
                    gen_op(S, a, e, fi, F_SET_RM);
                    return;
                }
            }
        }
        feat = F_SET_ADD; /* nobody has: add now, remove next time */
    }
    int a = rnd(S, N_AUTHORS);
    int e = rand_ent_with(S, kind);
    int fi = feat == F_TOMB  ? 0
             : feat == F_LWW ? 1
                             : kind_field(S->ent[e].type, kind);
    gen_op(S, a, e, fi, feat);
}

static void
sched_free(struct sched *S)
{
    for (int a = 0; a < N_AUTHORS; a++)
        gs_state_free(S->au[a].st);
    for (int i = 0; i < S->n_ops; i++)
        free(S->op[i].bytes);
    free(S);
}

/* Simulate the devices: returns a schedule of ops, every feature used. */
static struct sched *
sched_gen(uint64_t sched_seed, long idx)
{
    struct sched *S = calloc(1, sizeof *S);
    CHECK(S != NULL, "out of memory");
    gs_rng_seed(&S->rng, sched_seed);
    S->idx = idx;
    ctx.step = "generate";

    S->n_ent = ENT_MIN + rnd(S, ENT_MAX - ENT_MIN + 1);
    for (int e = 0; e < S->n_ent; e++) {
        S->ent[e].type = e < N_TYPES ? e : rnd(S, N_TYPES);
        S->ent[e].scope = rnd(S, N_SCOPES);
        /* random-looking ids, unique by construction */
        snprintf(S->ent[e].id, sizeof S->ent[e].id, "%s%06d",
                 types[S->ent[e].type].prefix, rnd(S, 30000) * ENT_MAX + e);
    }
    S->sim_ms = T0_MS + gs_rng_below(&S->rng, UINT64_C(10000000000));
    for (int a = 0; a < N_AUTHORS; a++) {
        gs_hlc_init(&S->au[a].clk, 0);
        S->au[a].off = (int64_t)gs_rng_below(&S->rng, 2 * DAY_MS + 1) - DAY_MS;
        OK(gs_state_new(&S->au[a].st));
    }

    /* Who writes what: every author and every entity at least once, a few
     * hot entities written often (that is where concurrency shows). */
    int n_ops = S->n_ent + rnd(S, OPS_MAX - S->n_ent + 1);
    if (n_ops < OPS_MIN)
        n_ops = OPS_MIN;
    int who[OPS_MAX], what[OPS_MAX];
    int hot[4];
    for (int h = 0; h < 4; h++)
        hot[h] = rnd(S, S->n_ent);
    for (int i = 0; i < n_ops; i++) {
        who[i] = i < N_AUTHORS ? i : rnd(S, N_AUTHORS);
        what[i] = i < S->n_ent ? i
                  : rnd(S, 2)  ? hot[rnd(S, 4)]
                               : rnd(S, S->n_ent);
    }
    for (int i = n_ops - 1; i > 0; i--) {
        int j = rnd(S, i + 1), t = who[i];
        who[i] = who[j];
        who[j] = t;
        j = rnd(S, i + 1);
        t = what[i];
        what[i] = what[j];
        what[j] = t;
    }

    for (int i = 0; i < n_ops; i++) {
        S->sim_ms += (uint64_t)(rnd(S, 4) ? rnd(S, 5000) : 0);
        if (rnd(S, 50) == 0) /* somebody resets a device's clock */
            S->au[who[i]].off =
                (int64_t)gs_rng_below(&S->rng, 2 * DAY_MS + 1) - DAY_MS;
        gen_op(S, who[i], what[i], -1, 0);
        if (rnd(S, 5) == 0)
            exchange(S);
    }
    /* Every feature in every schedule: write what is still missing. */
    while (S->feats != F_ALL) {
        unsigned miss = F_ALL & ~S->feats;
        unsigned feat = miss & -miss;
        S->sim_ms += (uint64_t)rnd(S, 5000);
        gen_forced(S, feat);
    }
    for (int f = 0; f < 10; f++)
        for (int i = 0; i < S->n_ops; i++)
            if (S->op[i].feats & (1u << f)) {
                stats.feat[f]++;
                break;
            }
    stats.schedules++;
    stats.ops += (unsigned long)S->n_ops;
    stats.entities += (unsigned long)S->n_ent;
    return S;
}

/* ---- delivery ---- */

static void
shuffle(struct sched *S, int *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = rnd(S, i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* A delivery order of all ops with duplicates: fully random, or a random
 * interleaving of the feeds each in seq order (duplicates then come after
 * the first delivery, as a store that redelivers would). */
static int
delivery_list(struct sched *S, bool feed_order, int *list)
{
    int n = S->n_ops;
    for (int i = 0; i < n; i++)
        list[i] = i;
    shuffle(S, list, n);
    if (feed_order) {
        for (int f = 0; f < N_FEEDS; f++) {
            int next = 0; /* ops of f in creation (= seq) order */
            for (int p = 0; p < n; p++) {
                if (S->op[list[p]].feed != f)
                    continue;
                while (S->op[next].feed != f)
                    next++;
                list[p] = next++;
            }
        }
    }
    for (int i = 0; i < S->n_ops; i++) {
        if (rnd(S, 6))
            continue;
        int copies = 1 + rnd(S, 3);
        for (int c = 0; c < copies && n < DELIV_CAP; c++) {
            int lo = 0;
            if (feed_order) { /* after the first delivery */
                while (list[lo] != i)
                    lo++;
                lo++;
            }
            int p = lo + rnd(S, n - lo + 1);
            memmove(&list[p + 1], &list[p], (size_t)(n - p) * sizeof *list);
            list[p] = i;
            n++;
            stats.dups++;
        }
    }
    return n;
}

static void
digest_of(const gs_state *st, uint8_t out[GS_HASH_BYTES])
{
    OK(gs_state_digest(st, out));
}

/* On a digest mismatch, say which entity and field differ. */
static void
explain(struct sched *S, const gs_state *x, const gs_state *y, const char *xn,
        const char *yn)
{
    gs_buf bx, by;
    char hx[2 * 96 + 1], hy[2 * 96 + 1];
    gs_buf_init(&bx, 1u << 24);
    gs_buf_init(&by, 1u << 24);
    print_error("state %s: %zu entities, %s: %zu entities\n", xn,
                gs_state_count(x), yn, gs_state_count(y));
    for (int e = 0; e < S->n_ent; e++) {
        const struct tdef *T = &types[S->ent[e].type];
        const gs_entity *ex = gs_state_get(x, cs(T->type), cs(S->ent[e].id));
        const gs_entity *ey = gs_state_get(y, cs(T->type), cs(S->ent[e].id));
        if (!ex || !ey) {
            if (ex != ey)
                print_error("  %s %s: only in %s\n", T->type, S->ent[e].id,
                            ex ? xn : yn);
            continue;
        }
        gs_buf_reset(&bx);
        gs_buf_reset(&by);
        if (gs_entity_encode(ex, &bx) != GS_OK ||
            gs_entity_encode(ey, &by) != GS_OK)
            continue;
        if (bx.len == by.len && memcmp(bx.data, by.data, bx.len) == 0)
            continue;
        print_error("  %s %s differs\n", T->type, S->ent[e].id);
        for (int fi = 0; fi < T->n; fi++) {
            const gs_field *fx =
                gs_entity_field(ex, T->f[fi].name, T->f[fi].kind);
            const gs_field *fy =
                gs_entity_field(ey, T->f[fi].name, T->f[fi].kind);
            gs_buf_reset(&bx);
            gs_buf_reset(&by);
            if (fx && gs_field_state_encode(fx, &bx) != GS_OK)
                continue;
            if (fy && gs_field_state_encode(fy, &by) != GS_OK)
                continue;
            if (bx.len == by.len &&
                (bx.len == 0 || memcmp(bx.data, by.data, bx.len) == 0))
                continue;
            size_t nx = bx.len < 96 ? bx.len : 96;
            size_t ny = by.len < 96 ? by.len : 96;
            gs_hex(bx.data, nx, hx);
            gs_hex(by.data, ny, hy);
            print_error("    field %s (kind %d): %s=%s%s %s=%s%s\n",
                        T->f[fi].name, T->f[fi].kind, xn, fx ? hx : "absent",
                        bx.len > 96 ? "..." : "", yn, fy ? hy : "absent",
                        by.len > 96 ? "..." : "");
        }
    }
    gs_buf_fini(&bx);
    gs_buf_fini(&by);
}

/* x and y must have the same digest; dy, if not NULL, is y's digest. */
static void
same_digest(struct sched *S, const gs_state *x, const char *xn,
            const gs_state *y, const char *yn, const uint8_t *dy,
            const char *what)
{
    uint8_t dx[GS_HASH_BYTES], dyb[GS_HASH_BYTES];
    char hx[2 * GS_HASH_BYTES + 1], hy[2 * GS_HASH_BYTES + 1];
    digest_of(x, dx);
    if (!dy) {
        digest_of(y, dyb);
        dy = dyb;
    }
    if (memcmp(dx, dy, GS_HASH_BYTES) != 0) {
        gs_hex(dx, GS_HASH_BYTES, hx);
        gs_hex(dy, GS_HASH_BYTES, hy);
        print_error("digest %s %s\ndigest %s %s\n", xn, hx, yn, hy);
        explain(S, x, y, xn, yn);
    }
    CHECK(memcmp(dx, dy, GS_HASH_BYTES) == 0, "digests differ: %s", what);
}

#define SAME_DIGEST(S, x, y, xn, yn, what)                                     \
    same_digest((S), (x), (xn), (y), (yn), NULL, (what))

/* A fresh replica holding ops with mark[i] set, applied once, in creation
 * order. */
static gs_state *
replica_of(struct sched *S, const bool *mark)
{
    gs_state *st;
    OK(gs_state_new(&st));
    for (int i = 0; i < S->n_ops; i++)
        if (!mark || mark[i])
            deliver(st, &S->op[i]);
    return st;
}

/* ---- the oracle: what each field kind must hold after all ops ---- */

/* Compare the stamps (hlc, author) of ops i and j. */
static int
op_cmp(const struct sched *S, int i, int j)
{
    int c = gs_hlc_cmp(S->op[i].hlc, S->op[j].hlc);
    return c ? c
             : memcmp(keys[S->op[i].author], keys[S->op[j].author],
                      GS_KEY_BYTES);
}

static bool
same_stamp(const struct sched *S, int i, const gs_stamp *at)
{
    return at->hlc == S->op[i].hlc &&
           memcmp(at->author, keys[S->op[i].author], GS_KEY_BYTES) == 0;
}

/* Check every field of st, which holds all ops, against the rules of its
 * kind computed from what the ops wrote (DESIGN §3, field.h). */
static void
check_semantics(struct sched *S, const gs_state *st)
{
    for (int e = 0; e < S->n_ent; e++) {
        const struct tdef *T = &types[S->ent[e].type];
        const gs_entity *ge = gs_state_get(st, cs(T->type), cs(S->ent[e].id));
        CHECK(ge != NULL, "entity %s missing", S->ent[e].id);
        int eo[OPS_CAP + 1], ne = 0; /* the ops on e, then a sentinel */
        for (int i = 0; i < S->n_ops; i++)
            if (S->op[i].ent == e)
                eo[ne++] = i;
        eo[ne] = 0;
        for (int fi = 0; fi < T->n; fi++) {
            const char *fn = T->f[fi].name;
            const gs_field *f = gs_entity_field(ge, fn, T->f[fi].kind);
            int n_w = 0, best = -1;
            for (int q = 0, i = eo[0]; q < ne; i = eo[++q]) {
                const struct rec *r = &S->op[i];
                if (r->ent != e)
                    continue;
                bool w = false;
                switch (T->f[fi].kind) {
                case GS_KIND_LWW:
                    w = r->lww_mask & (1u << fi);
                    break;
                case GS_KIND_COUNTER:
                    w = r->has_ctr;
                    break;
                case GS_KIND_SET:
                    w = r->n_set > 0;
                    break;
                case GS_KIND_LOG:
                    w = r->has_log;
                    break;
                case GS_KIND_STAGE:
                    w = r->has_stage;
                    break;
                case GS_KIND_CLAIM:
                    w = r->claim_action != 0;
                    break;
                }
                if (!w)
                    continue;
                n_w++;
                if (best < 0 || op_cmp(S, i, best) > 0)
                    best = i;
            }
            if (n_w == 0)
                continue;
            CHECK(f != NULL, "%s.%s written but absent", S->ent[e].id, fn);
            switch (T->f[fi].kind) {
            case GS_KIND_LWW: {
                /* greatest (hlc, author) wins */
                gs_vref v;
                gs_stamp at;
                CHECK(gs_field_lww_get(f, &v, &at), "lww %s.%s unset",
                      S->ent[e].id, fn);
                CHECK(same_stamp(S, best, &at),
                      "lww %s.%s: winner is not the op with the greatest "
                      "(hlc, author) (op %d)",
                      S->ent[e].id, fn, best);
                if (fi == 0)
                    CHECK(gs_entity_deleted(ge) == (S->op[best].del_val == 1),
                          "tombstone of %s: deleted=%d, newest write %d",
                          S->ent[e].id, gs_entity_deleted(ge),
                          S->op[best].del_val);
                break;
            }
            case GS_KIND_COUNTER: {
                /* the sum of the deltas of the distinct ops */
                int64_t want = 0;
                for (int q = 0, i = eo[0]; q < ne; i = eo[++q])
                    if (S->op[i].ent == e && S->op[i].has_ctr)
                        want += S->op[i].ctr_delta;
                CHECK(gs_field_counter_value(f) == want,
                      "counter %s.%s = %lld, sum of deltas %lld", S->ent[e].id,
                      fn, (long long)gs_field_counter_value(f),
                      (long long)want);
                break;
            }
            case GS_KIND_SET: {
                /* present iff one add's tag was not seen by any remove */
                for (int x = 0; x < NELEM(set_elems); x++) {
                    uint64_t added[OPS_CAP / 64] = {0},
                                             gone[OPS_CAP / 64] = {0};
                    for (int q = 0, i = eo[0]; q < ne; i = eo[++q]) {
                        const struct rec *r = &S->op[i];
                        if (r->ent != e)
                            continue;
                        for (int k = 0; k < r->n_set; k++) {
                            if (r->set[k].elem != x)
                                continue;
                            if (r->set[k].action == GS_SET_ADD)
                                added[i / 64] |= UINT64_C(1) << (i % 64);
                            else
                                for (int w = 0; w < OPS_CAP / 64; w++)
                                    gone[w] |= r->set[k].obs[w];
                        }
                    }
                    bool want = false;
                    for (int w = 0; w < OPS_CAP / 64; w++)
                        want |= (added[w] & ~gone[w]) != 0;
                    CHECK(gs_field_set_has(f, cs(set_elems[x])) == want,
                          "set %s.%s: \"%s\" present=%d, expected %d",
                          S->ent[e].id, fn, set_elems[x],
                          gs_field_set_has(f, cs(set_elems[x])), want);
                }
                break;
            }
            case GS_KIND_LOG: {
                /* one entry per op, ordered by (hlc, author, value) */
                CHECK(gs_field_log_count(f) == (size_t)n_w,
                      "log %s.%s has %zu entries, %d ops wrote it",
                      S->ent[e].id, fn, gs_field_log_count(f), n_w);
                for (size_t k = 1; k < gs_field_log_count(f); k++)
                    CHECK(gs_stamp_cmp(&gs_field_log_at(f, k - 1)->at,
                                       &gs_field_log_at(f, k)->at) < 0,
                          "log %s.%s out of order at %zu", S->ent[e].id, fn, k);
                break;
            }
            case GS_KIND_STAGE: {
                /* lexicographic max of (round, stage), earliest write */
                int w = -1;
                for (int q = 0, i = eo[0]; q < ne; i = eo[++q]) {
                    const struct rec *r = &S->op[i];
                    if (r->ent != e || !r->has_stage)
                        continue;
                    if (w < 0 || r->round > S->op[w].round ||
                        (r->round == S->op[w].round &&
                         (r->stage > S->op[w].stage ||
                          (r->stage == S->op[w].stage && op_cmp(S, i, w) < 0))))
                        w = i;
                }
                uint64_t round, stage;
                gs_stamp at;
                CHECK(gs_field_stage_get(f, &round, &stage, &at),
                      "stage %s unset", S->ent[e].id);
                CHECK(round == S->op[w].round && stage == S->op[w].stage &&
                          same_stamp(S, w, &at),
                      "stage %s = (%llu, %llu), expected (%llu, %llu) "
                      "stamped by op %d",
                      S->ent[e].id, (unsigned long long)round,
                      (unsigned long long)stage,
                      (unsigned long long)S->op[w].round,
                      (unsigned long long)S->op[w].stage, w);
                break;
            }
            case GS_KIND_CLAIM: {
                /* a claim survives unless its claimant withdrew later; per
                 * claimant the earliest survivor; the least one wins */
                int surv[NELEM(claimants)];
                int n_surv = 0, win = -1;
                for (int c = 0; c < NELEM(claimants); c++) {
                    surv[c] = -1;
                    for (int q = 0, i = eo[0]; q < ne; i = eo[++q]) {
                        const struct rec *r = &S->op[i];
                        if (r->ent != e || r->claim_action != GS_CLAIM ||
                            r->claim_who != c)
                            continue;
                        bool wd = false;
                        for (int qj = 0, j = eo[0]; qj < ne; j = eo[++qj])
                            wd |= S->op[j].ent == e &&
                                  S->op[j].claim_action == GS_WITHDRAW &&
                                  S->op[j].claim_who == c &&
                                  op_cmp(S, j, i) > 0;
                        if (!wd && (surv[c] < 0 || op_cmp(S, i, surv[c]) < 0))
                            surv[c] = i;
                    }
                    if (surv[c] < 0)
                        continue;
                    n_surv++;
                    if (win < 0 || op_cmp(S, surv[c], surv[win]) < 0 ||
                        (op_cmp(S, surv[c], surv[win]) == 0 &&
                         strcmp(claimants[c], claimants[win]) < 0))
                        win = c;
                }
                const struct gs_claim_rec *cl[NELEM(claimants) + 1];
                size_t nc = gs_field_claims(f, cl, NELEM(cl));
                CHECK(nc == (size_t)n_surv,
                      "claim %s.%s: %zu surviving claimants, expected %d",
                      S->ent[e].id, fn, nc, n_surv);
                if (n_surv > 0)
                    CHECK(gs_slice_cmp(gs_slice_of(cl[0]->who, cl[0]->who_n),
                                       cs(claimants[win])) == 0 &&
                              same_stamp(S, surv[win], &cl[0]->at),
                          "claim %s.%s: winner %.*s, expected %s (op %d)",
                          S->ent[e].id, fn, (int)cl[0]->who_n, cl[0]->who,
                          claimants[win], surv[win]);
                break;
            }
            }
        }
    }
}

/* ---- the convergence property ---- */

static long
env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 ? dflt : x;
}

static void
setup_keys(void)
{
    uint8_t sk[GS_SECRETKEY_BYTES];
    for (int a = 0; a < N_AUTHORS; a++)
        gs_test_keypair((uint8_t)(a + 1), keys[a], sk);
}

static void
run_schedule(struct sched *S)
{
    static int list[N_OBSERVERS][DELIV_CAP];
    static bool got[N_OBSERVERS][OPS_CAP];
    int len[N_OBSERVERS], cut[N_OBSERVERS];
    gs_state *obs[N_OBSERVERS];
    uint8_t d[GS_HASH_BYTES];
    char name[32], oname[32];
    bool feed_order = S->idx % 2 == 1; /* exactly half fully random */

    if (feed_order)
        stats.feed_order++;
    else
        stats.random_order++;

    ctx.step = "reference";
    gs_state *ref = replica_of(S, NULL);
    uint8_t dref[GS_HASH_BYTES];
    digest_of(ref, dref);

    /* Not only the same state everywhere: the state the rules say. */
    ctx.step = "semantics of the reference";
    check_semantics(S, ref);

    /* Partial delivery: a random prefix of each observer's order. */
    ctx.step = "partial delivery";
    for (int o = 0; o < N_OBSERVERS; o++) {
        OK(gs_state_new(&obs[o]));
        len[o] = delivery_list(S, feed_order, list[o]);
        cut[o] = rnd(S, len[o] + 1);
        memset(got[o], 0, sizeof got[o]);
        for (int p = 0; p < cut[o]; p++) {
            deliver(obs[o], &S->op[list[o][p]]);
            got[o][list[o][p]] = true;
        }
        digest_of(obs[o], d);
    }

    /* State join agrees with op delivery: join(o1, o2) == ops(o1 u o2). */
    if (S->idx % 4 < 2) { /* half the schedules, both delivery modes */
        ctx.step = "join vs delivery";
        stats.joins++;
        int o1 = rnd(S, N_OBSERVERS), o2 = rnd(S, N_OBSERVERS - 1);
        if (o2 >= o1)
            o2++;
        bool uni[OPS_CAP];
        for (int i = 0; i < S->n_ops; i++)
            uni[i] = got[o1][i] || got[o2][i];
        gs_state *u = replica_of(S, uni);
        gs_state *j;
        OK(gs_state_new(&j));
        OK(gs_state_join(j, obs[o1]));
        SAME_DIGEST(S, j, obs[o1], "join(empty,o1)", "o1",
                    "join into an empty state copies it");
        OK(gs_state_join(j, obs[o2]));
        SAME_DIGEST(S, j, u, "join(o1,o2)", "ops(o1|o2)",
                    "state join vs op delivery of the union");
        OK(gs_state_join(j, obs[o2]));
        OK(gs_state_join(j, obs[o1]));
        SAME_DIGEST(S, j, u, "join again", "ops(o1|o2)", "join is idempotent");
        gs_state *k = replica_of(S, got[o2]);
        SAME_DIGEST(S, k, obs[o2], "ops(o2) in order", "o2",
                    "any subset converges, whatever the order");
        OK(gs_state_join(k, obs[o1]));
        SAME_DIGEST(S, k, u, "join(o2,o1)", "ops(o1|o2)",
                    "join into a non-empty state, other way round");
        gs_state_free(j);
        gs_state_free(k);
        gs_state_free(u);
    }

    /* Full delivery: the rest of each order. */
    ctx.step = "full delivery";
    for (int o = 0; o < N_OBSERVERS; o++) {
        for (int p = cut[o]; p < len[o]; p++)
            deliver(obs[o], &S->op[list[o][p]]);
        snprintf(name, sizeof name, "observer %d", o);
        same_digest(S, obs[o], name, ref, "reference", dref,
                    "observer after full delivery vs reference");
    }
    OK(gs_state_join(obs[0], obs[1]));
    same_digest(S, obs[0], "join(o0,o1)", ref, "reference", dref,
                "join of converged replicas");

    /* The devices catch up and agree too: all of them where no join check
     * ran, one at random elsewhere (to bound the run time). */
    ctx.step = "authors catch up";
    int a_lo = 0, a_hi = N_AUTHORS;
    if (S->idx % 4 < 2) {
        a_lo = rnd(S, N_AUTHORS);
        a_hi = a_lo + 1;
    }
    for (int a = a_lo; a < a_hi; a++) {
        for (int i = 0; i < S->n_ops; i++)
            if (!S->au[a].seen[i])
                receive(S, a, i);
        snprintf(oname, sizeof oname, "author %d", a + 1);
        same_digest(S, S->au[a].st, oname, ref, "reference", dref,
                    "author after catching up vs reference");
    }

    for (int o = 0; o < N_OBSERVERS; o++)
        gs_state_free(obs[o]);
    gs_state_free(ref);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_converge_random_schedules(void **state)
{
    (void)state;
    gs_rng master;
    long n = env_long("GS_PROP_SCHEDULES", GS_PROP_SCHEDULES);
    long only = env_long("GS_PROP_ONLY", -1);
    double t0 = now_s();

    ctx.test = __func__;
    ctx.seed = gs_test_seed();
    setup_keys();
    gs_rng_seed(&master, ctx.seed ^ UINT64_C(0x636f6e7665726765));
    memset(&stats, 0, sizeof stats);
    for (long s = 0; s < n; s++) {
        uint64_t sub = gs_rng_next(&master);
        if (only >= 0 && s != only)
            continue;
        ctx.sched = s;
        struct sched *S = sched_gen(sub, s);
        run_schedule(S);
        sched_free(S);
    }
    ctx.sched = -1;
    print_message("converge: %lu schedules (%lu fully random order, %lu "
                  "feed order), %lu ops, %lu entities, %lu deliveries, %lu "
                  "duplicates, %lu author exchanges, %lu join checks, %lu "
                  "forced ops, %.2f s\n",
                  stats.schedules, stats.random_order, stats.feed_order,
                  stats.ops, stats.entities, stats.deliveries, stats.dups,
                  stats.exchanges, stats.joins, stats.forced, now_s() - t0);
    for (int f = 0; f < 10; f++) {
        print_message("  schedules using %-10s %lu\n", feat_names[f],
                      stats.feat[f]);
        CHECK(stats.feat[f] == stats.schedules,
              "feature %s not in every "
              "schedule",
              feat_names[f]);
    }
}

/* ---- the digest is sensitive: one op less, another digest ---- */

/* Ops whose loss must show: a log entry (unique stamp), the winning write of
 * an lww field, an author's newest counter op on a field. */
static int
pick_visible_op(struct sched *S, int *cat)
{
    int cand[3][OPS_CAP], nc[3] = {0, 0, 0};
    for (int i = 0; i < S->n_ops; i++) {
        const struct rec *r = &S->op[i];
        if (r->has_log)
            cand[0][nc[0]++] = i;
        bool win = false;
        for (int fi = 0; fi < 8; fi++) {
            if (!(r->lww_mask & (1u << fi)))
                continue;
            bool beaten = false;
            for (int j = 0; j < S->n_ops; j++) {
                const struct rec *q = &S->op[j];
                if (j == i || q->ent != r->ent || !(q->lww_mask & (1u << fi)))
                    continue;
                int c = gs_hlc_cmp(q->hlc, r->hlc);
                if (c == 0)
                    c = memcmp(keys[q->author], keys[r->author], GS_KEY_BYTES);
                beaten |= c > 0;
            }
            win |= !beaten;
        }
        if (win)
            cand[1][nc[1]++] = i;
        if (r->has_ctr) {
            bool newest = true;
            for (int j = i + 1; j < S->n_ops; j++)
                newest &= !(S->op[j].ent == r->ent && S->op[j].has_ctr &&
                            S->op[j].author == r->author);
            if (newest)
                cand[2][nc[2]++] = i;
        }
    }
    for (;;) {
        int c = rnd(S, 3);
        if (nc[c]) {
            *cat = c;
            return cand[c][rnd(S, nc[c])];
        }
    }
}

static void
test_digest_differs_when_state_differs(void **state)
{
    (void)state;
    static const char *const cats[] = {"log entry", "lww winner",
                                       "newest counter op"};
    static int list[DELIV_CAP];
    gs_rng master;
    long n = env_long("GS_PROP_SCHEDULES", GS_PROP_SCHEDULES) / 10;
    long only = env_long("GS_PROP_ONLY", -1);
    uint8_t de[GS_HASH_BYTES], d0[GS_HASH_BYTES], d1[GS_HASH_BYTES];

    ctx.test = __func__;
    ctx.seed = gs_test_seed();
    setup_keys();
    gs_rng_seed(&master, ctx.seed ^ UINT64_C(0x6469676573742121));
    if (n < 100)
        n = 100;

    /* Nothing and something differ. */
    gs_state *empty;
    OK(gs_state_new(&empty));
    digest_of(empty, de);

    for (long s = 0; s < n; s++) {
        uint64_t sub = gs_rng_next(&master);
        if (only >= 0 && s != only)
            continue;
        ctx.sched = s;
        struct sched *S = sched_gen(sub, s);
        ctx.step = "drop one op";
        int cat, drop = pick_visible_op(S, &cat);
        bool keep[OPS_CAP];
        for (int i = 0; i < S->n_ops; i++)
            keep[i] = i != drop;

        gs_state *all = replica_of(S, NULL);
        gs_state *less = replica_of(S, keep);
        gs_state *x;
        OK(gs_state_new(&x)); /* less, in a random order, with duplicates */
        int len = delivery_list(S, s % 2 == 1, list);
        for (int p = 0; p < len; p++)
            if (list[p] != drop)
                deliver(x, &S->op[list[p]]);
        SAME_DIGEST(S, x, less, "shuffled without op", "in order without op",
                    "a subset converges");
        digest_of(all, d1);
        CHECK(memcmp(de, d1, GS_HASH_BYTES) != 0,
              "empty state digest equals "
              "a state of %d ops",
              S->n_ops);
        digest_of(less, d0);
        CHECK(memcmp(d0, d1, GS_HASH_BYTES) != 0,
              "dropping op %d (%s, author %d seq %llu) left the digest "
              "unchanged",
              drop, cats[cat], S->op[drop].author + 1,
              (unsigned long long)S->op[drop].seq);
        /* Delivering the missing op makes them equal again. */
        deliver(x, &S->op[drop]);
        SAME_DIGEST(S, x, all, "with the op", "all ops",
                    "the dropped op restores the state");
        gs_state_free(x);
        gs_state_free(less);
        gs_state_free(all);
        sched_free(S);
    }
    gs_state_free(empty);
    ctx.sched = -1;
}

/* ---- counters under feed-order delivery: the sum of the delivered ---- */

static void
test_converge_feed_order_only_points(void **state)
{
    (void)state;
    static int list[DELIV_CAP];
    gs_rng master;
    long n = env_long("GS_PROP_SCHEDULES", GS_PROP_SCHEDULES) / 5;
    long only = env_long("GS_PROP_ONLY", -1);

    ctx.test = __func__;
    ctx.seed = gs_test_seed();
    setup_keys();
    gs_rng_seed(&master, ctx.seed ^ UINT64_C(0x706f696e74732121));
    if (n < 100)
        n = 100;

    for (long s = 0; s < n; s++) {
        uint64_t sub = gs_rng_next(&master);
        if (only >= 0 && s != only)
            continue;
        ctx.sched = s;
        struct sched *S = sched_gen(sub, s);
        ctx.step = "feed-order delivery, counters";
        int len = delivery_list(S, true, list);
        int64_t want[ENT_MAX] = {0};
        bool got[OPS_CAP] = {false};
        gs_state *x;
        OK(gs_state_new(&x));
        for (int p = 0; p < len; p++) {
            const struct rec *r = &S->op[list[p]];
            deliver(x, r);
            if (!got[list[p]] && r->has_ctr)
                want[r->ent] += r->ctr_delta;
            got[list[p]] = true;
            if (!r->has_ctr)
                continue;
            const struct tdef *T = &types[S->ent[r->ent].type];
            int fi = kind_field(S->ent[r->ent].type, GS_KIND_COUNTER);
            const gs_entity *xe =
                gs_state_get(x, cs(T->type), cs(S->ent[r->ent].id));
            const gs_field *xf =
                xe ? gs_entity_field(xe, T->f[fi].name, GS_KIND_COUNTER) : NULL;
            CHECK(xf != NULL, "counter field missing after an op on it");
            CHECK(gs_field_counter_value(xf) == want[r->ent],
                  "after %d deliveries counter %s.%s = %lld, sum of the "
                  "delivered deltas %lld",
                  p + 1, S->ent[r->ent].id, T->f[fi].name,
                  (long long)gs_field_counter_value(xf),
                  (long long)want[r->ent]);
        }
        gs_state_free(x);
        sched_free(S);
    }
    ctx.sched = -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converge_random_schedules),
        cmocka_unit_test(test_digest_differs_when_state_differs),
        cmocka_unit_test(test_converge_feed_order_only_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
