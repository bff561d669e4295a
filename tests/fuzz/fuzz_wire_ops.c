/*
 * fuzz_wire_ops.c — libFuzzer target for the body of one message type, OPS:
 * a batch number and a zstd frame of runs of compact ops; an accepted run
 * list gets the batch checks too (docs/protocol.md §3, §5). Each input is a
 * body behind a valid header (version 1, type OPS); the properties are
 * fuzz_wire_msg.c's (wire_check.h). Corpus: see
 * tests/fuzz/corpus/README.md.
 */
#include "wire_check.h"

GS_FUZZ_WIRE_BODY_TARGET(GS_WIRE_OPS)
