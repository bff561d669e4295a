/*
 * fuzz_wire_summary.c — libFuzzer target for the body of one message type,
 * SUMMARY: per scope, its feed count and fingerprint (docs/protocol.md §3,
 * §4.1). Each input is a body behind a valid header (version 1, type
 * SUMMARY); the properties are fuzz_wire_msg.c's (wire_check.h). Corpus:
 * see tests/fuzz/corpus/README.md.
 */
#include "wire_check.h"

GS_FUZZ_WIRE_BODY_TARGET(GS_WIRE_SUMMARY)
