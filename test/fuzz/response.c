// libFuzzer harness: the response head parser (the framer's first half) and
// the chunked decoder after it, as http_relay.c runs them. Properties: one
// call and split reads agree (result, spans, framing); spans inside the head;
// no body for 1xx, 204, 304 and HEAD; the body bytes a chunked decoder takes
// are the same whatever the split.

#include <string.h>

#include "split.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  bool head_request = data[0] & 1;  // the first byte chooses: the request was HEAD
  const char* bytes = (const char*)data + 1;
  size--;
  hp_parser_t whole = {0}, split = {0};
  hp_parser_init(&whole, true, head_request, HP_MAX_RESPONSE_HEAD);
  hp_parser_init(&split, true, head_request, HP_MAX_RESPONSE_HEAD);
  int expected = hp_parse(&whole, bytes, size);
  uint64_t seed = split_seed(data, size + 1);
  int got = split_parse(&split, bytes, size, &seed);
  FUZZ_CHECK(got == expected);
  if (expected > 0) {
    const hp_head_t *a = &whole.head, *b = &split.head;
    FUZZ_CHECK(expected <= HP_MAX_RESPONSE_HEAD);
    FUZZ_CHECK(a->status >= 100 && a->status <= 999 && a->status == b->status);
    FUZZ_CHECK(a->body == b->body && a->length == b->length && a->count == b->count);
    FUZZ_CHECK(a->target.off + a->target.len <= (uint32_t)expected);
    for (uint32_t i = 0; i < a->count; i++) {
      FUZZ_CHECK(a->values[i].off + a->values[i].len <= (uint32_t)expected);
      FUZZ_CHECK(memcmp(&a->values[i], &b->values[i], sizeof(hp_span_t)) == 0);
    }
    if (head_request || a->status < 200 || a->status == 204 || a->status == 304) FUZZ_CHECK(a->body == HP_BODY_NONE);
    if (a->body == HP_BODY_CHUNKED) {
      const char* body = bytes + expected;
      size_t body_len = size - (size_t)expected;
      hp_chunked_t one = {0}, many = {0};
      long taken = hp_chunked_feed(&one, body, body_len);
      long total = split_chunked(&many, body, body_len, &seed);
      bool failed = total < 0;
      FUZZ_CHECK(failed == (taken < 0));
      if (!failed) FUZZ_CHECK(total == taken && one.done == many.done);
    }
  }
  hp_parser_free(&whole);
  hp_parser_free(&split);
  return 0;
}
