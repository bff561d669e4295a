/*
 * fuzz_wire_ack.c — libFuzzer target for the body of one message type, ACK:
 * batch, applied, known, rejected and the refused runs with their reasons
 * (docs/protocol.md §3). Each input is a body behind a valid header
 * (version 1, type ACK); the properties are fuzz_wire_msg.c's
 * (wire_check.h). Corpus: see tests/fuzz/corpus/README.md.
 */
#include "wire_check.h"

GS_FUZZ_WIRE_BODY_TARGET(GS_WIRE_ACK)
