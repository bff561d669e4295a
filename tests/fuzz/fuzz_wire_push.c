/*
 * fuzz_wire_push.c — libFuzzer target for the body of one message type,
 * PUSH: the body of OPS, unsolicited; an accepted run list gets the batch
 * checks too (docs/protocol.md §3, §5). Each input is a body behind a valid
 * header (version 1, type PUSH); the properties are fuzz_wire_msg.c's
 * (wire_check.h). Corpus: see tests/fuzz/corpus/README.md.
 */
#include "wire_check.h"

GS_FUZZ_WIRE_BODY_TARGET(GS_WIRE_PUSH)
