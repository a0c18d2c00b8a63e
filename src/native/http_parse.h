// Strict HTTP/1.x framing for the native http front (http_front.c): request
// and response heads, and chunked bodies. Pure functions over a byte range, no
// I/O, no allocation: a head is parsed again from the start when more bytes
// arrive (heads are small; a complete one usually comes in one read).
//
// Strict means: what nginx and HAProxy reject, and what lets two parsers
// disagree on where a request ends (request smuggling), is an error here —
// bare LF, obs-fold, whitespace before a colon, control bytes, a
// Content-Length that is not digits or comes twice, Transfer-Encoding with
// Content-Length, a Transfer-Encoding other than "chunked", chunk sizes that
// are not plain hex.

#ifndef SUPERVISE_HTTP_PARSE_H
#define SUPERVISE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HP_MAX_HEADERS 100

/** Results of the head parsers: > 0 the head's length in bytes; these otherwise. */
#define HP_INCOMPLETE 0
#define HP_INVALID (-1)

typedef struct hp_span {
  uint32_t off;  // from the start of the parsed range
  uint32_t len;
} hp_span_t;

/** How a message body is delimited. */
typedef enum { HP_BODY_NONE, HP_BODY_LENGTH, HP_BODY_CHUNKED, HP_BODY_UNTIL_CLOSE } hp_body_t;

typedef struct hp_head {
  // request: method, target; response: status, reason
  hp_span_t method, target;
  int status;
  int minor;  // HTTP/1.<minor>: 0 or 1
  uint32_t count;
  hp_span_t names[HP_MAX_HEADERS], values[HP_MAX_HEADERS];
  // what the headers say
  hp_body_t body;
  uint64_t length;  // HP_BODY_LENGTH
  bool conn_close, conn_keep_alive, conn_upgrade;
  int host;     // index of Host, -1 if none
  int upgrade;  // index of Upgrade, -1 if none
} hp_head_t;

/** Parses a request head at the start of data[0..len); leading empty lines are skipped (counted in the result). */
int hp_parse_request(const char* data, size_t len, hp_head_t* head);

/** Parses a response head; `head_request`: the request was HEAD (no body follows). */
int hp_parse_response(const char* data, size_t len, bool head_request, hp_head_t* head);

/** Case-insensitive comparison of a span of `data` with a lower-case literal. */
bool hp_span_is(const char* data, hp_span_t span, const char* lower);

/** Whether the header at index `i` is listed in a Connection header of `head` (hop-by-hop by name). */
bool hp_connection_lists(const char* data, const hp_head_t* head, hp_span_t name);

/** The state of a chunked body being read. */
typedef struct hp_chunked {
  int state;
  uint64_t size;      // of the current chunk, and what is left of it
  uint32_t digits;
  uint32_t line;      // length of the current trailer line (bounded)
  bool done;
} hp_chunked_t;

/**
 * Advances over `len` bytes of a chunked body. Returns how many bytes belong
 * to the body (== len unless it ended inside this range: then `done` is set),
 * or -1 when the framing is invalid.
 */
long hp_chunked_feed(hp_chunked_t* state, const char* data, size_t len);

#endif
