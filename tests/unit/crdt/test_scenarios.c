/*
 * test_scenarios.c — what grid workers, residents and volunteers see when
 * their devices edit the same records offline and later meet.
 *
 * Each test plays a small district: devices with their own key, HLC, wall
 * clock error and in-memory replica (gs_state). A device writes the way an
 * agent does — stamp with its HLC at its own (possibly wrong) wall time,
 * encode the op canonically, hash it, apply it locally — and "delivering"
 * an op is what a sync session does: decode the bytes, feed the stamp to the
 * receiver's HLC, apply. True time is a number the test moves forward.
 *
 * Every scenario asserts what each replica shows and that all replicas end
 * with the same state digest. docs/clock.md cites these tests for its
 * statements about clocks and conflicts; keep the two in step.
 */
#include "testutil.h"

#include "field.h"
#include "hlc.h"
#include "op.h"

#include <stdio.h>
#include <string.h>

#define SCOPE "yc.yimei.nanjun.xinxin.g012"
#define T0_MS UINT64_C(1718000000000) /* 2024-06-10, true time at start */
#define MIN_MS INT64_C(60000)
#define DAY_MS (INT64_C(24) * 60 * MIN_MS)
#define MAX_DEV 4
#define MAX_SENT 32

/* Ticket workflow stages, in order (DESIGN §3). */
enum { REPORTED, ACCEPTED, DISPATCHED, IN_PROGRESS, RESOLVED, CLOSED };

typedef struct device {
    const char *name;
    uint8_t pk[GS_KEY_BYTES];
    uint8_t sk[GS_SECRETKEY_BYTES];
    gs_hlc clock;
    int64_t offset_ms; /* how far this device's wall clock is off */
    gs_state *st;
    uint64_t seq;
    uint8_t head[GS_HASH_BYTES]; /* hash of this device's newest op */
} device;

typedef struct sent {
    gs_buf bytes; /* canonical encoding, as a sync session carries it */
    uint8_t hash[GS_HASH_BYTES];
    uint64_t hlc;
} sent;

typedef struct world {
    uint64_t now_ms; /* true time */
    size_t n_dev;
    device dev[MAX_DEV];
    size_t n_sent;
    sent ops[MAX_SENT]; /* every op written, in writing order */
} world;

static gs_slice
str(const char *s)
{
    return gs_slice_of(s, strlen(s));
}

static void
world_init(world *w, size_t n, const char *const *names, const int64_t *offsets)
{
    memset(w, 0, sizeof *w);
    assert_true(n <= MAX_DEV);
    w->now_ms = T0_MS;
    w->n_dev = n;
    for (size_t i = 0; i < n; i++) {
        device *d = &w->dev[i];
        d->name = names[i];
        gs_test_keypair((uint8_t)(0x10 * (i + 1)), d->pk, d->sk);
        gs_hlc_init(&d->clock, 0);
        d->offset_ms = offsets ? offsets[i] : 0;
        assert_int_equal(gs_state_new(&d->st), GS_OK);
    }
}

static void
world_fini(world *w)
{
    for (size_t i = 0; i < w->n_dev; i++)
        gs_state_free(w->dev[i].st);
    for (size_t i = 0; i < w->n_sent; i++)
        gs_buf_fini(&w->ops[i].bytes);
}

static void
later(world *w, int64_t ms)
{
    w->now_ms += (uint64_t)ms;
}

static uint64_t
wall_of(const world *w, const device *d)
{
    return (uint64_t)((int64_t)w->now_ms + d->offset_ms);
}

/* Write one update as device d and apply it locally; returns the op's index
 * in w->ops. */
static size_t
write_op(world *w, device *d, const char *type, const char *id,
         const char *field, uint8_t kind, const gs_buf *payload)
{
    assert_true(w->n_sent < MAX_SENT);
    gs_op op;
    memset(&op, 0, sizeof op);
    op.version = GS_OP_VERSION;
    memcpy(op.author, d->pk, GS_KEY_BYTES);
    op.scope = str(SCOPE);
    op.seq = ++d->seq;
    memcpy(op.prev, d->head, GS_HASH_BYTES);
    assert_int_equal(gs_hlc_now(&d->clock, wall_of(w, d), &op.hlc), GS_OK);
    op.type = str(type);
    op.id = str(id);
    op.n_updates = 1;
    op.updates[0].field = str(field);
    op.updates[0].kind = kind;
    op.updates[0].payload = gs_slice_of(payload->data, payload->len);

    sent *s = &w->ops[w->n_sent];
    gs_buf_init(&s->bytes, GS_OP_BYTES_MAX);
    assert_int_equal(gs_op_encode(&op, &s->bytes), GS_OK);
    gs_op_hash(s->bytes.data, s->bytes.len, s->hash);
    s->hlc = op.hlc;
    memcpy(d->head, s->hash, GS_HASH_BYTES);
    assert_int_equal(gs_state_apply(d->st, &op, s->hash), GS_OK);
    return w->n_sent++;
}

/* A sync session handing op i to device d. */
static void
deliver(world *w, device *d, size_t i)
{
    gs_op op;
    const sent *s = &w->ops[i];
    assert_int_equal(gs_op_decode(s->bytes.data, s->bytes.len, &op), GS_OK);
    assert_int_equal(gs_hlc_recv(&d->clock, op.hlc, wall_of(w, d)), GS_OK);
    assert_int_equal(gs_state_apply(d->st, &op, s->hash), GS_OK);
}

/* Everyone meets everyone: every op written so far reaches every device,
 * each author's ops in feed order (the order they were written). A device
 * getting its own ops back is harmless: merges are idempotent. */
static void
sync_all(world *w)
{
    for (size_t d = 0; d < w->n_dev; d++)
        for (size_t i = 0; i < w->n_sent; i++)
            deliver(w, &w->dev[d], i);
}

static void
assert_converged(const world *w)
{
    uint8_t first[GS_HASH_BYTES], other[GS_HASH_BYTES];
    assert_int_equal(gs_state_digest(w->dev[0].st, first), GS_OK);
    for (size_t i = 1; i < w->n_dev; i++) {
        assert_int_equal(gs_state_digest(w->dev[i].st, other), GS_OK);
        if (memcmp(first, other, GS_HASH_BYTES) != 0)
            fail_msg("%s and %s differ", w->dev[0].name, w->dev[i].name);
    }
}

/* ---- reading a replica ---- */

static const gs_entity *
entity(const device *d, const char *type, const char *id)
{
    return gs_state_get(d->st, str(type), str(id));
}

static const gs_field *
field(const device *d, const char *type, const char *id, const char *name,
      uint8_t kind)
{
    const gs_entity *e = entity(d, type, id);
    return e ? gs_entity_field(e, name, kind) : NULL;
}

/* The lww string a device shows, and who wrote it. */
static void
assert_lww_str(const device *d, const char *type, const char *id,
               const char *name, const char *want, const device *by)
{
    const gs_field *f = field(d, type, id, name, GS_KIND_LWW);
    gs_vref v;
    gs_stamp at;
    assert_non_null(f);
    assert_true(gs_field_lww_get(f, &v, &at));
    assert_int_equal(v.type, GS_V_STR);
    if (v.s.n != strlen(want) || memcmp(v.s.p, want, v.s.n) != 0)
        fail_msg("%s shows %s.%s = \"%.*s\", want \"%s\"", d->name, id, name,
                 (int)v.s.n, (const char *)v.s.p, want);
    assert_memory_equal(at.author, by->pk, GS_KEY_BYTES);
}

static uint64_t
lww_hlc(const device *d, const char *type, const char *id, const char *name)
{
    const gs_field *f = field(d, type, id, name, GS_KIND_LWW);
    gs_vref v;
    gs_stamp at;
    if (f == NULL || !gs_field_lww_get(f, &v, &at))
        return 0;
    return at.hlc;
}

static void
assert_stage(const device *d, const char *id, uint64_t round, uint64_t stage)
{
    const gs_field *f = field(d, "ticket", id, "stage", GS_KIND_STAGE);
    uint64_t r, s;
    gs_stamp at;
    assert_non_null(f);
    assert_true(gs_field_stage_get(f, &r, &s, &at));
    if (r != round || s != stage)
        fail_msg("%s shows %s at (%llu, %llu), want (%llu, %llu)", d->name, id,
                 (unsigned long long)r, (unsigned long long)s,
                 (unsigned long long)round, (unsigned long long)stage);
}

/* ---- writing, the way an app would ---- */

static size_t
write_lww(world *w, device *d, const char *type, const char *id,
          const char *name, const gs_vref *v)
{
    gs_buf p;
    gs_buf_init(&p, GS_PAYLOAD_BYTES_MAX);
    /* base: the stamp of the value this device saw, for the conflicts
     * queue */
    assert_int_equal(gs_payload_lww(&p, lww_hlc(d, type, id, name), v), GS_OK);
    size_t i = write_op(w, d, type, id, name, GS_KIND_LWW, &p);
    gs_buf_fini(&p);
    return i;
}

static size_t
write_str(world *w, device *d, const char *type, const char *id,
          const char *name, const char *value)
{
    gs_vref v = {.type = GS_V_STR, .s = str(value)};
    return write_lww(w, d, type, id, name, &v);
}

static size_t
write_stage(world *w, device *d, const char *id, uint64_t round, uint64_t stage)
{
    gs_buf p;
    gs_buf_init(&p, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_stage(&p, 0, round, stage), GS_OK);
    size_t i = write_op(w, d, "ticket", id, "stage", GS_KIND_STAGE, &p);
    gs_buf_fini(&p);
    return i;
}

/* ---- scenarios ---- */

/* A ticket stands resolved on the grid worker's tablet (A) and on the
 * resident-facing station (B). Offline, the worker closes it while the
 * resident, not satisfied, reopens it. The reopen starts round 1, which
 * beats anything in round 0: everyone sees the ticket reported again, so a
 * complaint is never closed over. Variant: the worker resolves a ticket
 * that was in progress while the resident reopens it — same outcome. */
static void
test_ticket_resolve_vs_reopen_offline(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"tablet A", "station B"};
    world_init(&w, 2, names, NULL);
    device *a = &w.dev[0], *b = &w.dev[1];

    write_stage(&w, a, "T-0001", 0, RESOLVED);
    write_stage(&w, a, "T-0002", 0, IN_PROGRESS);
    sync_all(&w);
    assert_stage(b, "T-0001", 0, RESOLVED);
    assert_stage(b, "T-0002", 0, IN_PROGRESS);

    /* offline */
    later(&w, 10 * MIN_MS);
    write_stage(&w, a, "T-0001", 0, CLOSED);
    write_stage(&w, a, "T-0002", 0, RESOLVED);
    later(&w, 5 * MIN_MS);
    write_stage(&w, b, "T-0001", 1, REPORTED);
    write_stage(&w, b, "T-0002", 1, REPORTED);
    assert_stage(a, "T-0001", 0, CLOSED);
    assert_stage(b, "T-0001", 1, REPORTED);

    later(&w, 60 * MIN_MS);
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++) {
        assert_stage(&w.dev[i], "T-0001", 1, REPORTED);
        assert_stage(&w.dev[i], "T-0002", 1, REPORTED);
    }
    assert_converged(&w);
    world_fini(&w);
}

/* The surviving claims a device lists, winner first. */
static void
assert_claims(const device *d, const char *id, const char *const *want,
              size_t n_want)
{
    const gs_field *f = field(d, "wish", id, "claimed_by", GS_KIND_CLAIM);
    const struct gs_claim_rec *c[4];
    assert_non_null(f);
    assert_int_equal(gs_field_claims(f, c, 4), n_want);
    for (size_t i = 0; i < n_want; i++) {
        if (c[i]->who_n != strlen(want[i]) ||
            memcmp(c[i]->who, want[i], c[i]->who_n) != 0)
            fail_msg("%s lists %s claim %zu as %.*s, want %s", d->name, id, i,
                     (int)c[i]->who_n, c[i]->who, want[i]);
        if (i > 0)
            assert_true(gs_stamp_cmp(&c[i - 1]->at, &c[i]->at) < 0);
    }
}

static size_t
write_claim(world *w, device *d, const char *id, const char *who)
{
    gs_buf p;
    gs_buf_init(&p, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_claim(&p, GS_CLAIM, str(who)), GS_OK);
    size_t i = write_op(w, d, "wish", id, "claimed_by", GS_KIND_CLAIM, &p);
    gs_buf_fini(&p);
    return i;
}

/* A resident's micro-wish reaches two volunteers' phones. Both claim it
 * offline. When they sync, the claim with the earlier stamp wins on every
 * device, and the other volunteer is still listed — as the losing claim —
 * so the app can tell them.
 *
 * "Earlier" is by stamp, not by real time: on a second wish, a volunteer
 * whose phone is a day behind claims a quarter of an hour after Li in real
 * time and still wins, because the two claims are concurrent and her
 * stamp is smaller. Once a phone has seen a claim, though, its own claim
 * is stamped after it and loses (G2): Wang, claiming the first wish after
 * the sync, is listed last although her clock is still a day behind. */
static void
test_wish_two_volunteers_claim_offline(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"station", "volunteer Li", "volunteer Zhang",
                           "volunteer Wang (a day behind)"};
    const int64_t offsets[] = {0, 0, 0, -DAY_MS};
    world_init(&w, 4, names, offsets);
    device *st = &w.dev[0], *li = &w.dev[1], *zhang = &w.dev[2],
           *wang = &w.dev[3];

    write_str(&w, st, "wish", "W-0042", "title",
              "Grandma Wang's window latch is broken");
    write_str(&w, st, "wish", "W-0043", "title",
              "Uncle Chen needs a lift to the clinic on Friday");
    sync_all(&w);

    /* offline */
    later(&w, 10 * MIN_MS);
    size_t first = write_claim(&w, li, "W-0042", "li-wei");
    write_claim(&w, li, "W-0043", "li-wei");
    later(&w, 15 * MIN_MS);
    size_t second = write_claim(&w, zhang, "W-0042", "zhang-min");
    write_claim(&w, wang, "W-0043", "wang-fang");
    assert_true(w.ops[first].hlc < w.ops[second].hlc);

    later(&w, 60 * MIN_MS);
    sync_all(&w);
    const char *w42[] = {"li-wei", "zhang-min"};
    const char *w43[] = {"wang-fang", "li-wei"};
    for (size_t i = 0; i < w.n_dev; i++) {
        assert_claims(&w.dev[i], "W-0042", w42, 2);
        assert_claims(&w.dev[i], "W-0043", w43, 2);
    }
    assert_converged(&w);

    later(&w, MIN_MS);
    write_claim(&w, wang, "W-0042", "wang-fang");
    sync_all(&w);
    const char *w42b[] = {"li-wei", "zhang-min", "wang-fang"};
    for (size_t i = 0; i < w.n_dev; i++)
        assert_claims(&w.dev[i], "W-0042", w42b, 3);
    assert_converged(&w);
    world_fini(&w);
}

static size_t
write_points(world *w, device *d, const char *id, int64_t delta)
{
    const gs_field *f = field(d, "person", id, "points", GS_KIND_COUNTER);
    int64_t total = (f ? gs_field_counter_author_total(f, d->pk) : 0) + delta;
    gs_buf p;
    gs_buf_init(&p, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_counter(&p, delta, total), GS_OK);
    size_t i = write_op(w, d, "person", id, "points", GS_KIND_COUNTER, &p);
    gs_buf_fini(&p);
    return i;
}

static int64_t
points(const device *d, const char *id)
{
    const gs_field *f = field(d, "person", id, "points", GS_KIND_COUNTER);
    assert_non_null(f);
    return gs_field_counter_value(f);
}

/* A party member earns 10 points for a visit (grid worker's tablet) and 5
 * for a clean-up (station), and spends 3 at the points shop — three devices,
 * all offline. Once synced every device shows 12; syncing the same ops again
 * (a session interrupted and resumed, a USB bundle imported twice) never
 * counts anything twice. */
static void
test_points_three_devices(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"tablet", "station", "points shop"};
    world_init(&w, 3, names, NULL);

    write_points(&w, &w.dev[0], "P-0007", 10);
    later(&w, MIN_MS);
    write_points(&w, &w.dev[1], "P-0007", 5);
    later(&w, MIN_MS);
    write_points(&w, &w.dev[2], "P-0007", -3);
    assert_int_equal(points(&w.dev[0], "P-0007"), 10);
    assert_int_equal(points(&w.dev[1], "P-0007"), 5);
    assert_int_equal(points(&w.dev[2], "P-0007"), -3);

    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_int_equal(points(&w.dev[i], "P-0007"), 12);
    assert_converged(&w);

    sync_all(&w);
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_int_equal(points(&w.dev[i], "P-0007"), 12);
    assert_converged(&w);
    world_fini(&w);
}

static bool
has_tag(const device *d, const char *id, const char *tag)
{
    const gs_field *f = field(d, "household", id, "tags", GS_KIND_SET);
    return f != NULL && gs_field_set_has(f, str(tag));
}

/* A household is tagged "elderly-alone" and "low-income". Offline, the
 * station clears both tags (the son moved back in, the family's income was
 * re-assessed), while the grid worker, visiting, confirms "elderly-alone"
 * again. Add wins over a concurrent remove: "elderly-alone" stays on every
 * device, so nobody drops off the daily check by accident; "low-income",
 * which nobody re-added, is gone everywhere. */
static void
test_tag_add_vs_remove_concurrent(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"worker tablet", "station"};
    world_init(&w, 2, names, NULL);
    device *a = &w.dev[0], *b = &w.dev[1];
    gs_buf p;
    gs_buf_init(&p, GS_PAYLOAD_BYTES_MAX);

    gs_set_item both[2] = {
        {.action = GS_SET_ADD, .elem = str("elderly-alone")},
        {.action = GS_SET_ADD, .elem = str("low-income")},
    };
    assert_int_equal(gs_payload_set(&p, both, 2), GS_OK);
    write_op(&w, a, "household", "H-000123", "tags", GS_KIND_SET, &p);
    sync_all(&w);
    assert_true(has_tag(b, "H-000123", "elderly-alone"));

    /* offline: the station removes what it sees, naming the tags seen */
    later(&w, 30 * MIN_MS);
    const gs_field *f = field(b, "household", "H-000123", "tags", GS_KIND_SET);
    assert_non_null(f);
    uint8_t seen_ea[4][GS_HASH_BYTES], seen_li[4][GS_HASH_BYTES];
    size_t n_ea = gs_field_set_tags(f, str("elderly-alone"), seen_ea, 4);
    size_t n_li = gs_field_set_tags(f, str("low-income"), seen_li, 4);
    assert_int_equal(n_ea, 1);
    assert_int_equal(n_li, 1);
    gs_set_item rm[2] = {
        {.action = GS_SET_REMOVE,
         .elem = str("elderly-alone"),
         .n_tags = n_ea,
         .tags = (const uint8_t(*)[GS_HASH_BYTES])seen_ea},
        {.action = GS_SET_REMOVE,
         .elem = str("low-income"),
         .n_tags = n_li,
         .tags = (const uint8_t(*)[GS_HASH_BYTES])seen_li},
    };
    gs_buf_reset(&p);
    assert_int_equal(gs_payload_set(&p, rm, 2), GS_OK);
    write_op(&w, b, "household", "H-000123", "tags", GS_KIND_SET, &p);
    assert_false(has_tag(b, "H-000123", "elderly-alone"));

    /* offline, a little later: the worker confirms the tag on a visit */
    later(&w, 5 * MIN_MS);
    gs_set_item again = {.action = GS_SET_ADD, .elem = str("elderly-alone")};
    gs_buf_reset(&p);
    assert_int_equal(gs_payload_set(&p, &again, 1), GS_OK);
    write_op(&w, a, "household", "H-000123", "tags", GS_KIND_SET, &p);
    gs_buf_fini(&p);

    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++) {
        assert_true(has_tag(&w.dev[i], "H-000123", "elderly-alone"));
        assert_false(has_tag(&w.dev[i], "H-000123", "low-income"));
    }
    assert_converged(&w);
    world_fini(&w);
}

static void
write_visit(world *w, device *d, const char *id, const char *note)
{
    gs_vref v = {.type = GS_V_STR, .s = str(note)};
    gs_buf p;
    gs_buf_init(&p, GS_PAYLOAD_BYTES_MAX);
    assert_int_equal(gs_payload_log(&p, &v), GS_OK);
    write_op(w, d, "household", id, "visits", GS_KIND_LOG, &p);
    gs_buf_fini(&p);
}

static void
assert_visit(const device *d, const char *id, size_t i, const char *note)
{
    const gs_field *f = field(d, "household", id, "visits", GS_KIND_LOG);
    assert_non_null(f);
    const struct gs_log_entry *e = gs_field_log_at(f, i);
    assert_non_null(e);
    assert_int_equal(e->v.type, GS_V_STR);
    assert_int_equal(e->v.n, strlen(note));
    assert_memory_equal(e->v.s, note, e->v.n);
}

/* A tablet whose clock is a day behind (dead RTC battery, never synced
 * with NTP) receives the resident's phone number as the station entered
 * it, then corrects it during a visit. By its own wall clock the
 * correction is a day older than the station's value; by its HLC it comes
 * after what it saw, and it wins on every device. Likewise its visit
 * diary entry, written after it received the station's note, comes after
 * that note in the diary on every device. */
static void
test_clock_behind_edit_after_seeing_wins(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"station", "tablet (a day behind)"};
    const int64_t offsets[] = {0, -DAY_MS};
    world_init(&w, 2, names, offsets);
    device *st = &w.dev[0], *tab = &w.dev[1];

    size_t old =
        write_str(&w, st, "household", "H-000123", "phone", "13800000001");
    write_visit(&w, st, "H-000123", "Called: Mrs Liu asks for a visit");
    sync_all(&w);
    assert_lww_str(tab, "household", "H-000123", "phone", "13800000001", st);

    later(&w, 20 * MIN_MS);
    size_t fix =
        write_str(&w, tab, "household", "H-000123", "phone", "13900000002");
    /* the tablet's wall clock says yesterday; its stamp does not */
    assert_true(gs_hlc_ms(w.ops[old].hlc) > wall_of(&w, tab));
    assert_true(w.ops[fix].hlc > w.ops[old].hlc);
    write_visit(&w, tab, "H-000123", "Visited: new phone, all well");

    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++) {
        const device *d = &w.dev[i];
        assert_lww_str(d, "household", "H-000123", "phone", "13900000002", tab);
        assert_int_equal(gs_field_log_count(field(d, "household", "H-000123",
                                                  "visits", GS_KIND_LOG)),
                         2);
        assert_visit(d, "H-000123", 0, "Called: Mrs Liu asks for a visit");
        assert_visit(d, "H-000123", 1, "Visited: new phone, all well");
    }
    assert_converged(&w);
    world_fini(&w);
}

/* The station PC's clock is a day ahead. It rates a property company
 * "red" while, ten minutes later in real time and without having seen
 * that, a tablet with a correct clock rates it "yellow". The two edits are
 * truly concurrent, and last-writer-wins goes by stamps: the station's
 * "red" wins everywhere, though it was the earlier edit in real time. The
 * clock does not promise real-time order here. But the next edit by anyone
 * who has seen "red" — the district office, whose clock is right — wins
 * over it, on every device, and so does the tablet's after that. */
static void
test_clock_ahead_wins_concurrent_then_loses_to_next_edit(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"station (a day ahead)", "tablet", "district"};
    const int64_t offsets[] = {DAY_MS, 0, 0};
    world_init(&w, 3, names, offsets);
    device *st = &w.dev[0], *tab = &w.dev[1], *dist = &w.dev[2];

    write_str(&w, st, "property_co", "PC-0003", "rating", "red");
    later(&w, 10 * MIN_MS);
    write_str(&w, tab, "property_co", "PC-0003", "rating", "yellow");
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_lww_str(&w.dev[i], "property_co", "PC-0003", "rating", "red",
                       st);
    assert_converged(&w);

    later(&w, 10 * MIN_MS);
    write_str(&w, dist, "property_co", "PC-0003", "rating", "yellow");
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_lww_str(&w.dev[i], "property_co", "PC-0003", "rating", "yellow",
                       dist);
    assert_converged(&w);

    later(&w, 10 * MIN_MS);
    write_str(&w, tab, "property_co", "PC-0003", "rating", "black");
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_lww_str(&w.dev[i], "property_co", "PC-0003", "rating", "black",
                       tab);
    assert_converged(&w);
    world_fini(&w);
}

/* Two tablets with correct clocks save a phone number in the very same
 * millisecond: equal stamps. The tie goes to the greater author key (by
 * bytes) on every device. And if one key ever wrote two values with one
 * stamp — a tablet restored from a backup, a forked feed — the greater
 * encoded value wins, so even then every replica picks the same one. */
static void
test_same_stamp_tie_breaks_by_author_then_value(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"tablet 1", "tablet 2", "tablet 1 (restored)"};
    world_init(&w, 3, names, NULL);
    device *t1 = &w.dev[0], *t2 = &w.dev[1], *clone = &w.dev[2];

    size_t a =
        write_str(&w, t1, "household", "H-000789", "phone", "13600000001");
    size_t b =
        write_str(&w, t2, "household", "H-000789", "phone", "13600000002");
    assert_int_equal(w.ops[a].hlc, w.ops[b].hlc);
    const device *hi = memcmp(t1->pk, t2->pk, GS_KEY_BYTES) > 0 ? t1 : t2;
    const char *hi_val = hi == t1 ? "13600000001" : "13600000002";
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_lww_str(&w.dev[i], "household", "H-000789", "phone", hi_val, hi);
    assert_converged(&w);

    /* the clone shares tablet 1's key and clock state */
    memcpy(clone->pk, t1->pk, GS_KEY_BYTES);
    memcpy(clone->sk, t1->sk, GS_SECRETKEY_BYTES);
    clone->clock = t1->clock;
    clone->seq = t1->seq;
    memcpy(clone->head, t1->head, GS_HASH_BYTES);
    later(&w, MIN_MS);
    size_t c =
        write_str(&w, t1, "household", "H-000789", "mobile", "13500000009");
    size_t d =
        write_str(&w, clone, "household", "H-000789", "mobile", "13500000001");
    assert_int_equal(w.ops[c].hlc, w.ops[d].hlc);
    sync_all(&w);
    for (size_t i = 0; i < w.n_dev; i++)
        assert_lww_str(&w.dev[i], "household", "H-000789", "mobile",
                       "13500000009", t1);
    assert_converged(&w);
    world_fini(&w);
}

/* A household record is deleted at the station (the family moved away)
 * while a tablet, offline, edits its phone number. The ops reach three
 * replicas in three different orders; all end the same: the entity is
 * deleted (its tombstone, the lww field "_deleted", holds true — an edit
 * of another field does not undelete), the edit is kept in its field, and
 * the digests are equal. */
static void
test_entity_delete_tombstone_concurrent_edit(void **state)
{
    (void)state;
    world w;
    const char *names[] = {"station", "tablet", "district"};
    world_init(&w, 3, names, NULL);
    device *st = &w.dev[0], *tab = &w.dev[1], *dist = &w.dev[2];

    size_t made =
        write_str(&w, st, "household", "H-000456", "phone", "13700000003");
    deliver(&w, tab, made);

    later(&w, 30 * MIN_MS);
    gs_vref yes = {.type = GS_V_TRUE};
    size_t del =
        write_lww(&w, st, "household", "H-000456", GS_DELETED_FIELD, &yes);
    later(&w, 2 * MIN_MS);
    size_t edit =
        write_str(&w, tab, "household", "H-000456", "phone", "13700000004");
    assert_true(gs_entity_deleted(entity(st, "household", "H-000456")));
    assert_false(gs_entity_deleted(entity(tab, "household", "H-000456")));

    /* three orders: edit then delete, delete then edit, all at once */
    deliver(&w, st, edit);
    deliver(&w, tab, del);
    deliver(&w, dist, edit);
    deliver(&w, dist, del);
    deliver(&w, dist, made);
    for (size_t i = 0; i < w.n_dev; i++) {
        const device *d = &w.dev[i];
        assert_true(gs_entity_deleted(entity(d, "household", "H-000456")));
        assert_lww_str(d, "household", "H-000456", "phone", "13700000004", tab);
    }
    assert_converged(&w);
    world_fini(&w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticket_resolve_vs_reopen_offline),
        cmocka_unit_test(test_wish_two_volunteers_claim_offline),
        cmocka_unit_test(test_points_three_devices),
        cmocka_unit_test(test_tag_add_vs_remove_concurrent),
        cmocka_unit_test(test_clock_behind_edit_after_seeing_wins),
        cmocka_unit_test(
            test_clock_ahead_wins_concurrent_then_loses_to_next_edit),
        cmocka_unit_test(test_same_stamp_tie_breaks_by_author_then_value),
        cmocka_unit_test(test_entity_delete_tombstone_concurrent_edit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
