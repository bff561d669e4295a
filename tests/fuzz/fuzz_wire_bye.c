/*
 * fuzz_wire_bye.c — libFuzzer target for the body of one message type, BYE:
 * an empty body; any byte must be refused (docs/protocol.md §3). Each input
 * is a body behind a valid header (version 1, type BYE); the properties are
 * fuzz_wire_msg.c's (wire_check.h). Corpus: see
 * tests/fuzz/corpus/README.md.
 */
#include "wire_check.h"

GS_FUZZ_WIRE_BODY_TARGET(GS_WIRE_BYE)
