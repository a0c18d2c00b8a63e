// Light HTTP/1.x framing for the tcp tunnel (h1frame.c): where each message
// of a connection ends, in both directions, so that a tunnel whose backend
// drains can end its connection at a response boundary. Not a validating
// parser: anything it does not follow turns it off for that connection (the
// tunnel then behaves as for any other protocol).

#ifndef SUPERVISE_H1FRAME_H
#define SUPERVISE_H1FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Start and header lines are looked at through this window: a longer line that matters turns framing off. */
#define H1_LINE_MAX 256
/** Requests sent and not yet answered that it can follow (pipelining deeper than this turns framing off). */
#define H1_MAX_PENDING 16

typedef struct h1_dir {
  uint8_t state;
  uint8_t line_len;
  uint16_t flags;        // of the message being read (H1F_)
  uint32_t line_total;   // bytes of the current line, beyond the window too
  uint64_t remaining;    // body or chunk bytes still to come
  char line[H1_LINE_MAX];
} h1_dir_t;

typedef struct h1 {
  h1_dir_t request;
  h1_dir_t response;
  uint8_t pending[H1_MAX_PENDING];  // per request sent, oldest first: H1R_ bits
  uint8_t pending_head;
  uint8_t pending_count;
  uint16_t status;                  // of the response being read
  bool off;                         // not (or no longer) HTTP/1.x: bytes pass untouched
  bool close_after;                 // the response being read got Connection: close: end after it
} h1_t;

/** What h1_response found in a chunk. */
typedef struct h1_cut {
  /** Offset where "Connection: close\r\n" goes (after a status line), or -1. */
  long insert_at;
  /** Offset just past the end of the response that ends the connection, or -1. */
  long end_at;
} h1_cut_t;

#define H1_CONNECTION_CLOSE "Connection: close\r\n"

void h1_init(h1_t* h);

/** Follows bytes going client -> backend. */
void h1_request(h1_t* h, const char* data, size_t len);

/**
 * Follows bytes going backend -> client. With `draining`, the response that
 * answers the last request sent gets Connection: close and ends the
 * connection: where, is told in *cut.
 */
void h1_response(h1_t* h, const char* data, size_t len, bool draining, h1_cut_t* cut);

#endif
