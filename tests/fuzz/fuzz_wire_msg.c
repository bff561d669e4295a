/*
 * fuzz_wire_msg.c — libFuzzer target for the wire decoder (net/wire.h):
 * each input is one whole message, header included, so the fuzzer also
 * tries other versions, unknown types and short headers.
 *
 * Properties (wire_check.h), beyond "no crash, no sanitizer report":
 *  - an accepted message re-encodes to exactly the input bytes;
 *  - for OPS and PUSH, an accepted run list re-encodes to exactly the
 *    decompressed bytes, every run expands to canonical ops (from a zero
 *    head for seq 1, else an arbitrary one), and those ops compact back to
 *    the run's own compact bytes.
 * The per-type targets fuzz_wire_<type>.c check the same with the header
 * fixed. Without libFuzzer, tests/fuzz/replay.c runs this over the corpus
 * in ctest.
 */
#include "wire_check.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gs_fuzz_check_msg(data, size);
    return 0;
}
