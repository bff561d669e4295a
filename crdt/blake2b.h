/*
 * blake2b.h — BLAKE2b (RFC 7693), unkeyed, one message at a time: the
 * content hash of every op (gs_op_hash) is made here.
 *
 * libsodium's crypto_generichash is the same function, and stays the
 * hash of everything else (digests, bundle files, streams). Its x86-64
 * build picks an AVX2 compression that took 430-470 ns per op-sized
 * message (230 bytes, two blocks) on the machines this project is built
 * and benchmarked on (AMD EPYC), where this plain 64-bit code takes
 * 230-240 ns: the designers' own note is that on cores with four or more
 * integer ALUs (AMD Zen 3-5, Intel Alder Lake) the scalar code matches or
 * beats the vector one. An import hashes every op it writes, and a sync
 * every op it takes, once. tests/unit/crdt/test_blake2b.c holds it to the
 * RFC's vector and to libsodium for every length up to 1,030 bytes;
 * fuzz_blake2b to libsodium on any input.
 */
#ifndef GS_BLAKE2B_H
#define GS_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

#define GS_BLAKE2B_OUT_MAX 64

/* BLAKE2b of in[0, n), unkeyed, outlen bytes (1..GS_BLAKE2B_OUT_MAX; the
 * length is part of the function: BLAKE2b-256 is not a prefix of
 * BLAKE2b-512) into out. An outlen out of range writes nothing. */
void gs_blake2b(uint8_t *out, size_t outlen, const uint8_t *in, size_t n);

#endif
