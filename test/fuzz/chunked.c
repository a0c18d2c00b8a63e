// libFuzzer harness: the chunked body decoder alone. Properties: it never
// takes more than it is given, stops exactly at the end of the body, agrees
// with itself over any split, and holds its bounds (extensions, trailers).

#include <string.h>

#include "../../src/native/http_parse.h"
#include "split.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = (const char*)data;
  hp_chunked_t one = {0};
  long taken = hp_chunked_feed(&one, bytes, size);
  FUZZ_CHECK(taken < 0 || (size_t)taken <= size);
  if (taken >= 0 && (size_t)taken < size) FUZZ_CHECK(one.done);  // it stops early only at the end of the body
  if (taken >= 0) FUZZ_CHECK(one.line <= HP_MAX_TRAILERS + 1 && one.digits <= 15);

  hp_chunked_t many = {0};
  uint64_t seed = split_seed(data, size);
  size_t at = 0;
  long total = 0;
  bool failed = false;
  while (at < size && !many.done) {
    size_t piece = split_next(&seed, size - at);
    long n = hp_chunked_feed(&many, bytes + at, piece);
    if (n < 0) {
      failed = true;
      break;
    }
    FUZZ_CHECK((size_t)n <= piece);
    if ((size_t)n < piece) FUZZ_CHECK(many.done);
    total += n;
    at += (size_t)n;
  }
  FUZZ_CHECK(failed == (taken < 0));
  if (!failed) FUZZ_CHECK(total == taken && one.done == many.done);
  return 0;
}
