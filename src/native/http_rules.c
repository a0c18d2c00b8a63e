// The HTTP/1 rules both directions follow (see http_parse.h): byte classes,
// the headers that frame a message or belong to one hop, comma lists and
// transfer codings, Host syntax, status texts. Read by the request parser and
// the response framer (http_parse.c), the relay (http_exchange.c,
// http_relay.c) and the tcp tunnel's follower (h1frame.c).

#include <string.h>

#include "http_parse.h"

#define T HP_C_TOKEN
#define V HP_C_VALUE
#define G HP_C_TARGET
#define H HP_C_HOST
#define X HP_C_HEX

const uint8_t hp_class[256] = {
    ['\t'] = V,
    [' '] = V,
    ['!'] = T | V | G | H,
    ['"'] = V | G,
    ['#'] = T | V | G,
    ['$'] = T | V | G | H,
    ['%'] = T | V | G | H,
    ['&'] = T | V | G | H,
    ['\''] = T | V | G | H,
    ['('] = V | G | H,
    [')'] = V | G | H,
    ['*'] = T | V | G | H,
    ['+'] = T | V | G | H,
    [','] = V | G | H,
    ['-'] = T | V | G | H,
    ['.'] = T | V | G | H,
    ['/'] = V | G,
    ['0' ... '9'] = T | V | G | H | X,
    [':'] = V | G | H,
    [';'] = V | G | H,
    ['<'] = V | G,
    ['='] = V | G | H,
    ['>'] = V | G,
    ['?'] = V | G,
    ['@'] = V | G,
    ['A' ... 'F'] = T | V | G | H | X,
    ['G' ... 'Z'] = T | V | G | H,
    ['['] = V | G | H,
    ['\\'] = V | G,
    [']'] = V | G | H,
    ['^'] = T | V | G,
    ['_'] = T | V | G | H,
    ['`'] = T | V | G,
    ['a' ... 'f'] = T | V | G | H | X,
    ['g' ... 'z'] = T | V | G | H,
    ['{'] = V | G,
    ['|'] = T | V | G,
    ['}'] = V | G,
    ['~'] = T | V | G | H,
    [0x80 ... 0xff] = V,  // obs-text: passed on in values, never in tokens
};

#undef T
#undef V
#undef G
#undef H
#undef X

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool hp_bytes_are(const char* data, size_t len, const char* literal) {
  for (size_t i = 0; i < len; i++) {
    if (literal[i] == 0 || lower((unsigned char)data[i]) != (unsigned char)literal[i]) return false;
  }
  return literal[len] == 0;
}

bool hp_span_is(const char* data, hp_span_t span, const char* literal) {
  return hp_bytes_are(data + span.off, span.len, literal);
}

hp_header_t hp_header_kind(const char* n, size_t len) {
  switch (len) {
    case 2:
      return hp_bytes_are(n, len, "te") ? HP_H_TE : HP_H_OTHER;
    case 4:
      return hp_bytes_are(n, len, "host") ? HP_H_HOST : HP_H_OTHER;
    case 7:
      return hp_bytes_are(n, len, "upgrade") ? HP_H_UPGRADE : hp_bytes_are(n, len, "trailer") ? HP_H_TRAILER : HP_H_OTHER;
    case 10:
      return hp_bytes_are(n, len, "connection") ? HP_H_CONNECTION : hp_bytes_are(n, len, "keep-alive") ? HP_H_KEEP_ALIVE : HP_H_OTHER;
    case 14:
      return hp_bytes_are(n, len, "content-length") ? HP_H_CONTENT_LENGTH : HP_H_OTHER;
    case 15:
      return hp_bytes_are(n, len, "x-forwarded-for") ? HP_H_X_FORWARDED_FOR : HP_H_OTHER;
    case 16:
      return hp_bytes_are(n, len, "x-forwarded-host") ? HP_H_X_FORWARDED_HOST
             : hp_bytes_are(n, len, "proxy-connection") ? HP_H_PROXY_CONNECTION
                                                        : HP_H_OTHER;
    case 17:
      return hp_bytes_are(n, len, "transfer-encoding") ? HP_H_TRANSFER_ENCODING
             : hp_bytes_are(n, len, "x-forwarded-proto") ? HP_H_X_FORWARDED_PROTO
                                                         : HP_H_OTHER;
    default:
      return HP_H_OTHER;
  }
}

bool hp_hop_by_hop(hp_header_t kind) {
  return kind == HP_H_CONNECTION || kind == HP_H_KEEP_ALIVE || kind == HP_H_TE || kind == HP_H_TRAILER || kind == HP_H_UPGRADE ||
         kind == HP_H_PROXY_CONNECTION;
}

const char* hp_status_text(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

static bool spans_equal(const char* data, hp_span_t a, hp_span_t b) {
  if (a.len != b.len) return false;
  for (uint32_t i = 0; i < a.len; i++) {
    if (lower((unsigned char)data[a.off + i]) != lower((unsigned char)data[b.off + i])) return false;
  }
  return true;
}

/** Calls `each` for every comma-separated element of a span, trimmed of white space; empty ones skipped. */
void hp_for_each_token(const char* data, hp_span_t value, void (*each)(const char*, hp_span_t, void*), void* context) {
  uint32_t i = value.off, end = value.off + value.len;
  while (i < end) {
    while (i < end && (data[i] == ' ' || data[i] == '\t' || data[i] == ',')) i++;
    uint32_t start = i;
    while (i < end && data[i] != ',') i++;
    uint32_t stop = i;
    while (stop > start && (data[stop - 1] == ' ' || data[stop - 1] == '\t')) stop--;
    if (stop > start) each(data, (hp_span_t){start, stop - start}, context);
  }
}


typedef struct listed_search {
  hp_span_t name;
  bool found;
} listed_search_t;

static void listed_token(const char* data, hp_span_t token, void* context) {
  listed_search_t* search = context;
  if (spans_equal(data, token, search->name)) search->found = true;
}

bool hp_connection_lists(const char* data, const hp_head_t* head, hp_span_t name) {
  listed_search_t search = {name, false};
  for (uint32_t i = 0; i < head->count && !search.found; i++) {
    if (hp_span_is(data, head->names[i], "connection")) hp_for_each_token(data, head->values[i], listed_token, &search);
  }
  return search.found;
}

typedef struct codings {
  int count;
  bool bad, chunked_seen, last_chunked;
} codings_t;

static void coding_token(const char* data, hp_span_t token, void* context) {
  codings_t* codings = context;
  // transfer-coding = token *( OWS ";" OWS transfer-parameter ): the name, then parameters (chunked has none)
  uint32_t n = 0;
  while (n < token.len && hp_is((unsigned char)data[token.off + n], HP_C_TOKEN)) n++;
  if (n == 0 || (n < token.len && data[token.off + n] != ';' && data[token.off + n] != ' ' && data[token.off + n] != '\t')) {
    codings->bad = true;
    return;
  }
  bool chunked = hp_bytes_are(data + token.off, n, "chunked");
  if (chunked && (n != token.len || codings->chunked_seen)) codings->bad = true;  // parameters, or chunked twice
  codings->chunked_seen |= chunked;
  codings->last_chunked = chunked;
  codings->count++;
}

int hp_final_chunked(const char* value, size_t len) {
  codings_t codings = {0, false, false, false};
  hp_for_each_token(value, (hp_span_t){0, (uint32_t)len}, coding_token, &codings);
  if (codings.bad || codings.count == 0) return -1;
  return codings.last_chunked ? 1 : 0;
}

bool hp_valid_host(const char* d, hp_span_t span, bool may_be_empty) {
  uint32_t i = span.off, end = span.off + span.len;
  if (i == end) return may_be_empty;
  if (d[i] == '[') {
    for (i++; i < end && d[i] != ']'; i++) {
      if (!hp_is((unsigned char)d[i], HP_C_HEX) && d[i] != ':' && d[i] != '.') return false;
    }
    if (i == end || i == span.off + 1) return false;
    i++;  // ']'
  } else {
    uint32_t start = i;
    for (; i < end && d[i] != ':'; i++) {
      if (!hp_is((unsigned char)d[i], HP_C_HOST) || d[i] == '[' || d[i] == ']') return false;
    }
    if (i == start) return false;
  }
  if (i == end) return true;
  if (d[i] != ':' || end - i - 1 > 5) return false;
  for (i++; i < end; i++) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  return true;
}
