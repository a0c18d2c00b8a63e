// libFuzzer harness: the request head parser (src/native/http_parse.c).
// Properties: parsing the bytes in one call and the same bytes split at
// pseudo-random points (one byte per read included) gives the same result,
// the same spans and the same framing; every span lies inside the head; a
// head is never longer than the limit; the framing is one of the legal ones.

#include <string.h>

#include "split.h"

static void check_head(const hp_head_t* h, int len) {
  FUZZ_CHECK(len <= HP_MAX_HEAD);
  FUZZ_CHECK(h->count <= HP_MAX_HEADERS);
  FUZZ_CHECK(h->method.len > 0 && h->method.off + h->method.len <= (uint32_t)len);
  FUZZ_CHECK(h->target.len > 0 && h->target.off + h->target.len <= (uint32_t)len);
  FUZZ_CHECK(h->path.off + h->path.len <= (uint32_t)len);
  for (uint32_t i = 0; i < h->count; i++) {
    FUZZ_CHECK(h->names[i].len > 0 && h->names[i].off + h->names[i].len <= (uint32_t)len);
    FUZZ_CHECK(h->values[i].off + h->values[i].len <= (uint32_t)len);
  }
  FUZZ_CHECK(h->body != HP_BODY_UNTIL_CLOSE);  // a request is never read until close
  FUZZ_CHECK(h->body != HP_BODY_LENGTH || h->length > 0);
  FUZZ_CHECK(h->minor == 1 ? h->host >= 0 : 1);
}

static void same_head(const hp_head_t* a, const hp_head_t* b) {
  FUZZ_CHECK(memcmp(&a->method, &b->method, sizeof(a->method)) == 0);
  FUZZ_CHECK(memcmp(&a->target, &b->target, sizeof(a->target)) == 0);
  FUZZ_CHECK(a->minor == b->minor && a->count == b->count && a->body == b->body && a->length == b->length);
  FUZZ_CHECK(a->host == b->host && a->upgrade == b->upgrade && a->form == b->form);
  FUZZ_CHECK(a->conn_close == b->conn_close && a->conn_keep_alive == b->conn_keep_alive && a->conn_upgrade == b->conn_upgrade);
  for (uint32_t i = 0; i < a->count; i++) {
    FUZZ_CHECK(memcmp(&a->names[i], &b->names[i], sizeof(hp_span_t)) == 0);
    FUZZ_CHECK(memcmp(&a->values[i], &b->values[i], sizeof(hp_span_t)) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = (const char*)data;
  hp_parser_t whole = {0};
  hp_parser_init(&whole, false, false, HP_MAX_HEAD);
  int expected = hp_parse(&whole, bytes, size);
  if (expected > 0) check_head(&whole.head, expected);
  if (expected < 0) FUZZ_CHECK(whole.error >= 400 && whole.error < 600 && whole.reason != NULL);

  hp_parser_t split = {0};
  hp_parser_init(&split, false, false, HP_MAX_HEAD);
  uint64_t seed = split_seed(data, size);
  int got = split_parse(&split, bytes, size, &seed);
  FUZZ_CHECK(got == expected);
  if (got < 0) FUZZ_CHECK(split.error == whole.error);
  if (got > 0) same_head(&whole.head, &split.head);

  // The parser is reusable for the next head (pipelining): same result after a reset.
  hp_parser_init(&split, false, false, HP_MAX_HEAD);
  FUZZ_CHECK(hp_parse(&split, bytes, size) == expected);
  hp_parser_free(&whole);
  hp_parser_free(&split);
  return 0;
}
