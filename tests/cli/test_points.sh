#!/usr/bin/env bash
# Points on the command line (issue 6): grants from any enrolled device,
# redemptions only at the shop (certificate with the shop flag) and only
# within the balance it sees, each with a ledger line; refusals exit 1
# with the reason and write nothing; bad arguments exit 2; --json shapes;
# --help. Devices meet by bundles.
. "$(dirname "$0")/lib.sh" "$@"

A=$TMP/auth T=$TMP/tablet S=$TMP/shop
KA=$(new_authority "$A") || fail "authority init"
KT=$(new_device "$T" --scope yc.c1.g1 --authority "$KA" --name tablet)
KS=$(new_device "$S" --scope yc.c1 --authority "$KA" --name 积分超市)
"$GS" -r "$A" authority enroll "$KT" --name tablet --role tablet \
    --write yc.c1.g1 >/dev/null || fail "enroll tablet"
"$GS" -r "$A" authority enroll "$KS" --name shop --role station \
    --write yc.c1 --shop >/dev/null || fail "enroll shop"
carry "$A" "$T"
carry "$A" "$S"
field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

expect_rc "help" 0 "$GS" points --help
expect_grep "help: shop" "shop flag" "$TMP/out"
expect_rc "listed in gridsync help" 0 "$GS" help
expect_grep "points in the command list" "^  points " "$TMP/out"

"$GS" -r "$T" put person P-1 name=王芳 >/dev/null || fail "put person"
expect_rc "grant" 0 "$GS" -r "$T" points grant P-1 30 --reason 清扫楼道 --json
expect_eq "grant --json" "$(field "$TMP/out" '(j["ok"], j["person"], j["granted"], j["balance"])')" \
    "(True, 'P-1', 30, 30)"
expect_rc "grant again" 0 "$GS" -r "$T" points grant P-1 12 --reason 巡逻 --by 书记
expect_grep "grant: says the balance" "balance here now 42" "$TMP/out"

d0=$("$GS" -r "$T" digest)
expect_rc "redeem on the tablet" 1 "$GS" -r "$T" points redeem P-1 5 --reason 兑换
expect_grep "redeem on the tablet: why" \
    "gridsync: points redeem: this device is not the points shop: its certificate lacks the shop flag; ask the authority" "$TMP/err"
expect_rc "grant 0" 2 "$GS" -r "$T" points grant P-1 0 --reason x
expect_grep "grant 0: why" "from 1 to 100000" "$TMP/err"
expect_rc "grant too many" 2 "$GS" -r "$T" points grant P-1 100001 --reason x
expect_rc "grant to nobody" 1 "$GS" -r "$T" points grant P-9 5 --reason x
expect_grep "grant to nobody: why" "no person P-9 in this replica" "$TMP/err"
expect_eq "refusals wrote nothing" "$("$GS" -r "$T" digest)" "$d0"
expect_rc "grant without reason" 2 "$GS" -r "$T" points grant P-1 5
expect_rc "grant of x" 2 "$GS" -r "$T" points grant P-1 x --reason y
expect_rc "grant without N" 2 "$GS" -r "$T" points grant P-1 --reason y
expect_rc "unknown sub-command" 2 "$GS" -r "$T" points give P-1 5 --reason y
expect_rc "balance --reason" 2 "$GS" -r "$T" points balance P-1 --reason y

# the shop has not seen the grants yet: nothing to redeem
"$GS" -r "$S" put person P-2 name=李四 >/dev/null
expect_rc "redeem unseen person" 1 "$GS" -r "$S" points redeem P-1 5 --reason 兑换
carry "$T" "$S"
d0=$("$GS" -r "$S" digest)
expect_rc "redeem over balance" 1 "$GS" -r "$S" points redeem P-1 43 --reason 兑换
expect_grep "redeem over balance: why" \
    "gridsync: points redeem: the balance of P-1 is 42; cannot redeem 43" "$TMP/err"
expect_eq "over balance wrote nothing" "$("$GS" -r "$S" digest)" "$d0"
expect_rc "redeem" 0 "$GS" -r "$S" points redeem P-1 40 --reason 兑换大米 --json
expect_eq "redeem --json" "$(field "$TMP/out" '(j["ok"], j["redeemed"], j["balance"])')" \
    "(True, 40, 2)"

# the tablet grants meanwhile; after both syncs every side sees 30+12-40+8
expect_rc "grant meanwhile" 0 "$GS" -r "$T" points grant P-1 8 --reason 志愿
carry "$S" "$T"
carry "$T" "$S"
for R in "$T" "$S"; do
    expect_rc "balance at $R" 0 "$GS" -r "$R" points balance P-1 --json
    expect_eq "balance at $R" "$(field "$TMP/out" 'j["balance"]')" 10
    expect_eq "ledger at $R" "$(field "$TMP/out" '[e["value"] for e in j["ledger"]]')" \
        "['+30 清扫楼道 (by tablet)', '+12 巡逻 (by 书记)', '-40 兑换大米 (by 积分超市)', '+8 志愿 (by tablet)']"
done
expect_rc "balance for people" 0 "$GS" -r "$S" points balance P-1
expect_grep "balance: total" "P-1: 10 points" "$TMP/out"
expect_grep "balance: ledger line" "\-40 兑换大米 (by 积分超市)" "$TMP/out"
expect_rc "balance of nobody" 1 "$GS" -r "$S" points balance P-9

# at the shop, a raw put keeps the balance rule; an import takes no
# redemption at all (it could be refused only after earlier batches)
d0=$("$GS" -r "$S" digest)
expect_rc "raw put over the balance" 1 "$GS" -r "$S" put person P-1 points-=11
expect_grep "raw put over the balance: why" "the balance of P-1 is 10; cannot take 11" "$TMP/err"
printf '%s\n' '{"type":"person","id":"P-7","fields":{"name":"赵六"}}' \
    '{"type":"person","id":"P-1","fields":{"points":-1}}' >"$TMP/r.jsonl"
expect_rc "import of a redemption" 1 "$GS" -r "$S" import "$TMP/r.jsonl"
expect_grep "import of a redemption: why" "line 2: a points decrease (a redemption) is not imported" "$TMP/err"
expect_eq "refusals at the shop wrote nothing" "$("$GS" -r "$S" digest)" "$d0"
expect_rc "raw put within the balance" 0 "$GS" -r "$S" put person P-1 points-=10
finish
