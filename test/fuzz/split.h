// What the harnesses share: split points drawn from the input itself (so that
// libFuzzer's mutations also explore the splits), reproducible for a crash.

#ifndef SUPERVISE_FUZZ_SPLIT_H
#define SUPERVISE_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/native/http_parse.h"

/** A PRNG seeded by the bytes (FNV-1a), then xorshift. */
static uint64_t split_seed(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ULL;
  return h | 1;
}

static size_t split_next(uint64_t* s, size_t left) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  // mostly small pieces (a byte per read is the attack), sometimes large ones
  size_t piece = (*s & 3) == 0 ? (size_t)(*s >> 8) % (left + 1) : (size_t)(*s >> 8) % 8 + 1;
  return piece == 0 ? 1 : piece > left ? left : piece;
}

/** Parses a head from `bytes` as reads ending at split points drawn from `seed`: the parser's answer once it has one, or HP_INCOMPLETE. */
static int split_parse(hp_parser_t* parser, const char* bytes, size_t size, uint64_t* seed) {
  size_t have = 0;
  int got = HP_INCOMPLETE;
  while (got == HP_INCOMPLETE && have < size) {
    have += split_next(seed, size - have);
    got = hp_parse(parser, bytes, have);
  }
  return got;
}

#define FUZZ_CHECK(condition)                                                   \
  do {                                                                          \
    if (!(condition)) {                                                         \
      fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #condition); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

/** Feeds a chunked body to `decoder` in pieces drawn from `seed`: the bytes it took in all, or -1 when it refused them. */
static long split_chunked(hp_chunked_t* decoder, const char* bytes, size_t size, uint64_t* seed) {
  size_t at = 0;
  long total = 0;
  while (at < size && !decoder->done) {
    size_t piece = split_next(seed, size - at);
    long n = hp_chunked_feed(decoder, bytes + at, piece);
    if (n < 0) return -1;
    FUZZ_CHECK((size_t)n <= piece);
    if ((size_t)n < piece) FUZZ_CHECK(decoder->done);  // it stops early only at the end of the body
    total += n;
    at += (size_t)n;
  }
  return total;
}

#endif
