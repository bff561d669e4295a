#!/usr/bin/env bash
# Issue 5, must show 5: equivocation. A tablet's replica is copied to a
# second machine, so one device key signs two histories: on each copy it
# writes two different ops at seq 2 and 3, and each copy's ops reach one
# side of a partition by USB stick (a bundle): station A (linked to the
# district, which relays) and station B (its agent off). When B comes up
# (the partition heals):
#   - every replica holds the evidence (`gridsync forks`: both branches,
#     signatures verify), and the feed is frozen at seq 1, the last op
#     both histories share, on all three, with equal digests — whichever
#     branch each held, and although the two branches are equally long
#     (so recon sees one seq on both sides, and the fork lies below the
#     head: the first probe fails its signature, the feed is marked
#     suspect and asked for again from seq 1);
#   - `gridsync status` raises the alarm;
#   - the copied tablet, once it has the district's bundle, cannot write.
# Usage: test_fork.sh GRIDSYNC
. "$(dirname "$0")/lib.sh" "$@"

node district yc yc
node sa yc.s1 yc.s1
node sb yc.s1 yc.s1
node tab yc.s1.g1 yc.s1.g1
link sa district
link sb district
for n in district sa sb; do
    gsr "$n" config set agent.sync_interval 1 >/dev/null
done

# the tablet's first op reaches both stations: the history they share
expect_rc "tablet writes" 0 gsr tab put household H-1 head=王芳
expect_rc "export it" 0 gsr tab bundle export "$TMP/common.bundle"
for n in sa sb; do
    expect_rc "$n takes it" 0 gsr "$n" bundle import "$TMP/common.bundle"
done

# the key is copied; each copy goes on writing on its own
cp -a "$TMP/tab" "$TMP/tab2"
expect_rc "copy 1 op 2" 0 gsr tab put household H-1 head=张三
expect_rc "copy 1 op 3" 0 gsr tab put household H-2 head=赵六
expect_rc "copy 2 op 2" 0 gsr tab2 put household H-1 head=李四
expect_rc "copy 2 op 3" 0 gsr tab2 put household H-3 head=钱七
expect_rc "export copy 1" 0 gsr tab bundle export "$TMP/one.bundle"
expect_rc "export copy 2" 0 gsr tab2 bundle export "$TMP/two.bundle"

# one side of the partition: A and the district, running
start_agent district
start_agent sa
expect_rc "A takes copy 1's ops" 0 gsr sa bundle import "$TMP/one.bundle"
# the other side: B, its agent off
expect_rc "B takes copy 2's ops" 0 gsr sb bundle import "$TMP/two.bundle"

tab_seq() { # tab_seq NAME: "seq frozen" of the tablet's feed in NAME
    gsr "$1" feeds --json | python3 -c '
import json, sys
for f in map(json.loads, sys.stdin):
    if f["author"] == sys.argv[1]:
        print(f["seq"], "frozen" if f["frozen"] else "open")' "${KEY[tab]}"
}
wait_tab() { # wait_tab SECONDS NAME WANT
    local t0=$SECONDS
    while [ "$(tab_seq "$2")" != "$3" ]; do
        [ $((SECONDS - t0)) -ge "$1" ] && return 1
        sleep 0.3
    done
}
if wait_tab 30 district "3 open"; then ok; else
    fail "the district never got copy 1's ops (has $(tab_seq district))"
fi
expect_eq "B holds copy 2's branch" "$(tab_seq sb)" "3 open"

# heal
start_agent sb
for n in district sa sb; do
    if wait_tab 60 "$n" "1 frozen"; then ok; else
        fail "$n: the tablet's feed is '$(tab_seq "$n")', want frozen at 1"
    fi
done
if wait_equal 30 district sa sb; then ok; else
    fail "digests differ: district $(digest district) sa $(digest sa) sb $(digest sb)"
fi
# the frozen state is the shared history: H-1 as the first op wrote it
for n in district sa sb; do
    got=$(gsr "$n" get household H-1 --json | python3 -c '
import json, sys; print(json.load(sys.stdin)["fields"]["head"])')
    expect_eq "$n: H-1 as before the fork" "$got" "王芳"
    expect_rc "$n: H-2 rolled back" 1 gsr "$n" get household H-2
    expect_rc "$n: H-3 rolled back" 1 gsr "$n" get household H-3
    gsr "$n" forks --json >"$TMP/forks.$n"
    expect_eq "$n: the evidence" "$(python3 -c '
import json, sys
fs = [json.loads(l) for l in open(sys.argv[1])]
f = fs[0] if len(fs) == 1 else {}
b = f.get("branches", [])
heads = sorted(x["first"]["updates"]["head"]["value"] for x in b)
print(f.get("author") == sys.argv[2], f.get("seq"), f.get("frozen"),
      [x["ops"] for x in b], all(x["signed"] for x in b), heads)' \
        "$TMP/forks.$n" "${KEY[tab]}")" \
        "True 2 True [2, 2] True ['张三', '李四']"
    gsr "$n" status >"$TMP/status.$n"
    expect_grep "$n: status raises the alarm" "ALARM: device ${KEY[tab]:0:16}" \
        "$TMP/status.$n"
    expect_eq "$n: status --json lists it" "$(gsr "$n" status --json |
        python3 -c 'import json,sys; print([f["seq"] for f in json.load(sys.stdin)["forks"]])')" "[2]"
done
gsr district forks >"$TMP/forks.txt"
expect_grep "forks: readable" "two different ops signed at seq 2" "$TMP/forks.txt"

# the copied device learns of it and can write no more
expect_rc "district bundle" 0 gsr district bundle export "$TMP/district.bundle"
expect_rc "tablet takes it" 0 gsr tab bundle import "$TMP/district.bundle"
expect_eq "the tablet's own feed is frozen" "$(tab_seq tab)" "1 frozen"
expect_rc "the tablet cannot write" 1 gsr tab put household H-1 head=x
expect_grep "it says why" "signed two different histories" "$TMP/err"
finish
