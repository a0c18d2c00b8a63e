// libFuzzer harness: the chunked body decoder alone. Properties: it never
// takes more than it is given, stops exactly at the end of the body, agrees
// with itself over any split, and holds its bounds (extensions, trailers);
// decoding (the data handed out, for HTTP/1.0 clients) frames exactly as the
// plain feed does, and hands out only bytes of the input, in order.

#include <string.h>

#include "split.h"

typedef struct decoded {
  const char *input, *next;  // the input, and where the next span may start (spans are in order, never overlapping)
  size_t size, bytes;
} decoded_t;

static bool take_span(void* arg, const char* data, size_t len) {
  decoded_t* d = arg;
  FUZZ_CHECK(data >= d->next && data + len <= d->input + d->size);
  d->next = data + len;
  d->bytes += len;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = (const char*)data;
  hp_chunked_t one = {0};
  long taken = hp_chunked_feed(&one, bytes, size);
  FUZZ_CHECK(taken < 0 || (size_t)taken <= size);
  if (taken >= 0 && (size_t)taken < size) FUZZ_CHECK(one.done);  // it stops early only at the end of the body
  if (taken >= 0) FUZZ_CHECK(one.line <= HP_MAX_TRAILERS + 1 && one.digits <= 15);

  hp_chunked_t decoder = {0};
  decoded_t spans = {bytes, bytes, size, 0};
  long decoded = hp_chunked_decode(&decoder, bytes, size, take_span, &spans);
  FUZZ_CHECK(decoded == taken && decoder.done == one.done);
  if (decoded >= 0) FUZZ_CHECK(spans.bytes <= (size_t)decoded);

  hp_chunked_t many = {0};
  uint64_t seed = split_seed(data, size);
  long total = split_chunked(&many, bytes, size, &seed);
  bool failed = total < 0;
  FUZZ_CHECK(failed == (taken < 0));
  if (!failed) FUZZ_CHECK(total == taken && one.done == many.done);
  return 0;
}
