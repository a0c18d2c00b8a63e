// The HTTP/1 parser alone (src/native/http_parse.c): a ~32 KiB request head
// parsed in one read, and fed a byte per read (the slow-header attack: the
// parser goes on from where it stopped, so the cost is the same), and the
// heads per second of an ordinary browser-sized head.
//
//   cc -O2 -Isrc/native -o /tmp/http-parse bench/http-parse.c src/native/http_parse.c src/native/http_rules.c && /tmp/http-parse

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http_parse.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
  static char big[40000];
  int n = sprintf(big, "GET / HTTP/1.1\r\nHost: example.test\r\n");
  while (n < 32000) n += sprintf(big + n, "X-Pad-%d: %0340d\r\n", n, 7);
  n += sprintf(big + n, "\r\n");

  hp_parser_t p = {0};
  double start = now_ms();
  int whole = hp_parse(&p, big, (size_t)n);
  double one_read = now_ms() - start;

  hp_parser_init(&p, false, false, 0);
  int split = HP_INCOMPLETE;
  start = now_ms();
  for (int i = 1; i <= n && split == HP_INCOMPLETE; i++) split = hp_parse(&p, big, (size_t)i);
  double byte_reads = now_ms() - start;
  printf("a %d-byte head (%u headers): one read %.3f ms, a byte per read %.3f ms (results %d, %d)\n", n, p.head.count, one_read, byte_reads, whole, split);

  const char* typical =
      "GET /api/items?page=2 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n"
      "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
      "Cookie: session=0123456789abcdef0123456789abcdef\r\nConnection: keep-alive\r\n\r\n";
  size_t len = strlen(typical);
  int heads = 1000000;
  start = now_ms();
  for (int i = 0; i < heads; i++) {
    hp_parser_init(&p, false, false, 0);
    if (hp_parse(&p, typical, len) <= 0) return 1;
  }
  double ms = now_ms() - start;
  printf("a %zu-byte head: %.0f ns each (%.1f M heads/s)\n", len, ms * 1e6 / heads, heads / ms / 1e3);
  hp_parser_free(&p);
  return 0;
}
