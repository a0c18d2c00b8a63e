// What the harnesses share: split points drawn from the input itself (so that
// libFuzzer's mutations also explore the splits), reproducible for a crash.

#ifndef SUPERVISE_FUZZ_SPLIT_H
#define SUPERVISE_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

#define FUZZ_CHECK(condition)                                                   \
  do {                                                                          \
    if (!(condition)) {                                                         \
      fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #condition); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

#endif
