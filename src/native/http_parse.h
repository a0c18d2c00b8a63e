// Strict, incremental HTTP/1.x framing for the native http front
// (http_front.c): request and response heads, and chunked bodies. No I/O.
//
// Incremental as nginx's ngx_http_parse.c: a parser's state lives with the
// connection between reads, each byte is scanned once, and the head's spans
// (offsets from the head's first byte) are kept; the limits hold as bytes
// arrive, however the head is split across reads. The header spans are
// allocated while a head is parsed, grown on demand, and handed over or
// freed after it: an idle connection holds no array.
//
// Strict means: what nginx and HAProxy reject, and what lets two parsers
// disagree on where a request ends (request smuggling), is an error here —
// bare LF, obs-fold, whitespace before a colon, control bytes, a
// Content-Length that is not digits or comes twice, Transfer-Encoding with
// Content-Length, a request Transfer-Encoding whose final coding is not
// chunked, chunk sizes that are not plain hex.
//
// The rules both directions follow (which bytes are token and value bytes,
// which headers frame a message or belong to one hop, the status texts) are
// one table, declared here and defined in http_rules.c: the request parser,
// the response framer, the chunked decoder, the relay and the tcp tunnel's
// follower (h1frame.c) all read it. The limits are in http_limits.h.

#ifndef SUPERVISE_HTTP_PARSE_H
#define SUPERVISE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_limits.h"

/** Results of hp_parse: > 0 the head's length in bytes; these otherwise. */
#define HP_INCOMPLETE 0
#define HP_INVALID (-1)

typedef struct hp_span {
  uint32_t off;  // from the first byte of the head
  uint32_t len;
} hp_span_t;

/** How a message body is delimited. */
typedef enum { HP_BODY_NONE, HP_BODY_LENGTH, HP_BODY_CHUNKED, HP_BODY_UNTIL_CLOSE } hp_body_t;

/** The form of a request target (RFC 9112 §3.2). */
typedef enum { HP_FORM_ORIGIN, HP_FORM_ABSOLUTE, HP_FORM_ASTERISK } hp_form_t;

typedef struct hp_head {
  // request: method, target; response: status, reason (in `target`)
  hp_span_t method, target;
  int status;
  int minor;  // HTTP/1.<minor>: 0 or 1
  uint32_t count, cap;
  hp_span_t *names, *values;  // `cap` of each, one allocation (NULL until the first header)
  // what the head says
  hp_form_t form;
  hp_span_t path;       // the origin-form target (absolute-form: its path and query, empty for "http://host")
  hp_span_t authority;  // absolute-form: the target's host[:port], which replaces Host (RFC 9112 §3.2.2)
  hp_body_t body;
  uint64_t length;  // HP_BODY_LENGTH
  bool conn_close, conn_keep_alive, conn_upgrade;
  int host;     // index of Host, -1 if none
  int upgrade;  // index of Upgrade, -1 if none
} hp_head_t;

/** A head being parsed: its state between reads. */
typedef struct hp_parser {
  hp_head_t head;
  uint32_t pos;    // bytes scanned so far
  uint32_t mark;   // start of the token being scanned
  hp_span_t name;  // of the header line being scanned
  uint32_t value_end;  // a header value: just past its last byte that is not white space
  uint32_t limit;  // the largest head accepted
  uint16_t state;
  bool response, head_request;
  int error;  // after HP_INVALID: the status to answer (400, 405, 431, 500)
  const char* reason;  // after HP_INVALID: what was wrong, for the answer's body
} hp_parser_t;

/**
 * Ready to parse a request head (`response` false) or a response head (to a
 * HEAD request if `head_request`), of at most `limit` bytes (0: HP_MAX_HEAD or
 * HP_MAX_RESPONSE_HEAD). `p` is zeroed or was used before (its header array
 * is kept). A zeroed parser is a request parser with the default limit.
 */
void hp_parser_init(hp_parser_t* p, bool response, bool head_request, uint32_t limit);

/**
 * Goes on parsing the head that starts at data[0]; `len` is every byte there
 * is so far (those scanned before included: they must not have changed).
 * Returns the head's length when complete (leading empty lines of a request
 * included), HP_INCOMPLETE, or HP_INVALID (p->error, p->reason say why).
 */
int hp_parse(hp_parser_t* p, const char* data, size_t len);

/** The parsed head, handed over: the parser no longer owns its header array. */
hp_head_t hp_parser_take(hp_parser_t* p);

/** Frees the header array of a head. */
void hp_head_free(hp_head_t* head);

/** Frees what the parser holds. */
void hp_parser_free(hp_parser_t* p);

// ------------------------------------------------------------ the rule table (http_rules.c)

/** Byte classes. */
enum {
  HP_C_TOKEN = 1,   // RFC 9110 tchar: methods, header names, codings
  HP_C_VALUE = 2,   // a header value byte: visible, obs-text, SP, HTAB
  HP_C_TARGET = 4,  // a request-target byte: visible ASCII
  HP_C_HOST = 8,    // reg-name, IPv4 and IP-literal bytes of a Host (RFC 3986), ':' included
  HP_C_HEX = 16,
};
extern const uint8_t hp_class[256];

/** Headers the framing and the relay care about. */
typedef enum {
  HP_H_OTHER,
  HP_H_HOST,
  HP_H_CONTENT_LENGTH,
  HP_H_TRANSFER_ENCODING,
  HP_H_CONNECTION,
  HP_H_UPGRADE,
  HP_H_KEEP_ALIVE,
  HP_H_TE,
  HP_H_TRAILER,
  HP_H_PROXY_CONNECTION,
  HP_H_X_FORWARDED_FOR,
  HP_H_X_FORWARDED_PROTO,
  HP_H_X_FORWARDED_HOST,
} hp_header_t;

/** The kind of the header named `name[0..len)`, case-insensitively. */
hp_header_t hp_header_kind(const char* name, size_t len);

/** Whether a header of this kind is for one hop only (RFC 9110 §7.6.1; Transfer-Encoding is re-framed by the front). */
bool hp_hop_by_hop(hp_header_t kind);

/** The status's reason phrase ("Not Found"), "Unknown" for one without. */
const char* hp_status_text(int status);

static inline bool hp_is(unsigned char c, uint8_t class) {
  return (hp_class[c] & class) != 0;
}

/** Case-insensitive comparison of data[0..len) with a lower-case literal. */
bool hp_bytes_are(const char* data, size_t len, const char* lower);

/** Calls `each` for every comma-separated element of a span of `data`, trimmed of white space; empty ones skipped. */
void hp_for_each_token(const char* data, hp_span_t value, void (*each)(const char*, hp_span_t, void*), void* context);

/** host[:port] (RFC 3986 reg-name, IPv4 or IP-literal; a port of up to 5 digits); empty only when `may_be_empty`. */
bool hp_valid_host(const char* data, hp_span_t span, bool may_be_empty);

/** Case-insensitive comparison of a span of `data` with a lower-case literal. */
bool hp_span_is(const char* data, hp_span_t span, const char* lower);

/** Whether the header `name` is listed in a Connection header of `head` (hop-by-hop by name). */
bool hp_connection_lists(const char* data, const hp_head_t* head, hp_span_t name);

/** Whether a Transfer-Encoding value's final coding is chunked (and chunked is not applied twice); -1 when it is no list of codings. */
int hp_final_chunked(const char* value, size_t len);

// ------------------------------------------------------------ chunked bodies

/** The state of a chunked body being read. */
typedef struct hp_chunked {
  int state;
  uint64_t size;   // of the current chunk, and what is left of it
  uint32_t digits;
  uint32_t line;   // bytes of the current extension, or of the trailer section (bounded)
  bool done;
} hp_chunked_t;

/**
 * Advances over `len` bytes of a chunked body. Returns how many bytes belong
 * to the body (== len unless it ended inside this range: then `done` is set),
 * or -1 when the framing is invalid.
 */
long hp_chunked_feed(hp_chunked_t* state, const char* data, size_t len);

/** hp_chunked_feed that also hands each span of chunk data to `data_fn` (a chunked body decoded, for an HTTP/1.0 client). */
typedef bool (*hp_data_fn)(void* arg, const char* data, size_t len);
long hp_chunked_decode(hp_chunked_t* state, const char* data, size_t len, hp_data_fn data_fn, void* arg);

#endif
