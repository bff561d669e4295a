#!/usr/bin/env bash
# tests/fuzz/gen_corpus.sh — make the seed corpora of fuzz_session and of
# the per-type wire targets fuzz_wire_<type> (tests/fuzz/corpus/README.md).
#
# usage: tests/fuzz/gen_corpus.sh [BUILD_DIR]
#   BUILD_DIR  a configured and built tree whose libgridsync.a to link
#              gen_session_corpus.c against (default: build)
#
# Adds, named by their SHA-1 (files already there are kept):
#  - corpus/fuzz_session/: the recordings of gen_session_corpus.c;
#  - corpus/fuzz_wire_<type>/: the bodies of every message those
#    conversations sent, and of every message of that type in
#    corpus/fuzz_wire_msg/ (byte 1 is the type; the 6-byte header cut off).
# Then minimise with libFuzzer's -merge=1 (README.md) before checking in.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -f "$build/libgridsync.a" ] || {
    echo "gen_corpus.sh: no $build/libgridsync.a; build first" >&2
    exit 2
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2046 # pkg-config's words are separate flags
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -Wall -Wextra -Werror \
    -Iinclude -Icrdt -Istore -Inet -c tests/fuzz/gen_session_corpus.c \
    -o "$tmp/gen.o"
# linked as C++: the library holds one C++ file (store/jsimd.cpp)
c++ "$tmp/gen.o" "$build/libgridsync.a" \
    $(pkg-config --libs libsodium lmdb jansson simdjson libzstd libzmq) \
    -lpthread -o "$tmp/gen"
mkdir "$tmp/out"
"$tmp/gen" "$tmp/out"

# put SRC_FILE [STRIP] DEST_DIR: copy (less STRIP leading bytes) as SHA-1
put() {
    local src=$1 strip=$2 dest=$3
    tail -c +"$((strip + 1))" "$src" >"$tmp/one"
    mkdir -p "$dest"
    cp "$tmp/one" "$dest/$(sha1sum "$tmp/one" | cut -d' ' -f1)"
}

corpus=tests/fuzz/corpus
for f in "$tmp"/out/session/*; do
    put "$f" 0 "$corpus/fuzz_session"
done
types=(- hello welcome summary ranges want ops ack push error bye)
for t in $(seq 1 10); do
    name=${types[$t]}
    for f in "$tmp/out/wire_$name"/*; do
        [ -e "$f" ] && put "$f" 0 "$corpus/fuzz_wire_$name"
    done
    for f in "$corpus"/fuzz_wire_msg/*; do
        [ "$(stat -c %s "$f")" -ge 6 ] || continue
        [ "$(od -An -tu1 -j1 -N1 "$f" | tr -d ' ')" = "$t" ] || continue
        put "$f" 6 "$corpus/fuzz_wire_$name"
    done
done
for d in "$corpus"/fuzz_session "$corpus"/fuzz_wire_*; do
    echo "$d: $(find "$d" -type f | wc -l) files"
done
