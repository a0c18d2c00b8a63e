// libFuzzer harness: the chunked body decoder alone. Properties: it never
// takes more than it is given, stops exactly at the end of the body, agrees
// with itself over any split, and holds its bounds (extensions, trailers).

#include <string.h>

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
  long total = split_chunked(&many, bytes, size, &seed);
  bool failed = total < 0;
  FUZZ_CHECK(failed == (taken < 0));
  if (!failed) FUZZ_CHECK(total == taken && one.done == many.done);
  return 0;
}
