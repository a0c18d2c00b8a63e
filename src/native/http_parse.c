// Strict HTTP/1.x framing (see http_parse.h for what "strict" rejects).

#include "http_parse.h"

#include <string.h>

/** RFC 9110 tchar: the bytes of a method or a header name. */
static bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/** A byte of a header value: visible, obs-text, space or tab; never CR, LF, NUL or another control. */
static bool is_value_byte(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool hp_span_is(const char* data, hp_span_t span, const char* literal) {
  size_t n = strlen(literal);
  if (span.len != n) return false;
  for (size_t i = 0; i < n; i++) {
    if (lower((unsigned char)data[span.off + i]) != (unsigned char)literal[i]) return false;
  }
  return true;
}

static bool spans_equal(const char* data, hp_span_t a, hp_span_t b) {
  if (a.len != b.len) return false;
  for (uint32_t i = 0; i < a.len; i++) {
    if (lower((unsigned char)data[a.off + i]) != lower((unsigned char)data[b.off + i])) return false;
  }
  return true;
}

/** Calls `each` for every comma-separated token of a span, trimmed; false when `each` says so. */
static void for_each_token(const char* data, hp_span_t value, void (*each)(const char*, hp_span_t, void*), void* context) {
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

static void connection_token(const char* data, hp_span_t token, void* context) {
  hp_head_t* head = context;
  if (hp_span_is(data, token, "close")) head->conn_close = true;
  else if (hp_span_is(data, token, "keep-alive")) head->conn_keep_alive = true;
  else if (hp_span_is(data, token, "upgrade")) head->conn_upgrade = true;
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
    if (hp_span_is(data, head->names[i], "connection")) for_each_token(data, head->values[i], listed_token, &search);
  }
  return search.found;
}

/** Finds the CRLF ending the line at `i`: its offset, -1 if not there yet, -2 on a bare CR or LF or a NUL. */
static long line_end(const char* data, size_t len, size_t i) {
  for (; i < len; i++) {
    char c = data[i];
    if (c == '\r') {
      if (i + 1 >= len) return -1;
      return data[i + 1] == '\n' ? (long)i : -2;
    }
    if (c == '\n' || c == '\0') return -2;
  }
  return -1;
}

/** "HTTP/1.0" or "HTTP/1.1" at data[i..i+8): the minor version, or -1. */
static int version(const char* data, size_t i) {
  if (memcmp(data + i, "HTTP/1.", 7) != 0) return -1;
  char minor = data[i + 7];
  return minor == '0' ? 0 : minor == '1' ? 1 : -1;
}

/** Parses header lines from `i` up to the empty line; the head's length, or HP_INCOMPLETE / HP_INVALID. */
static int parse_headers(const char* data, size_t len, size_t i, hp_head_t* head) {
  head->count = 0;
  for (;;) {
    long end = line_end(data, len, i);
    if (end == -1) return HP_INCOMPLETE;
    if (end == -2) return HP_INVALID;
    if ((size_t)end == i) return (int)(end + 2);  // the empty line
    // obs-fold (a line starting with white space) is rejected, as RFC 9112 allows a server to.
    size_t colon = i;
    while (colon < (size_t)end && is_tchar((unsigned char)data[colon])) colon++;
    if (colon == i || colon == (size_t)end || data[colon] != ':') return HP_INVALID;
    size_t v = colon + 1;
    while (v < (size_t)end && (data[v] == ' ' || data[v] == '\t')) v++;
    size_t stop = (size_t)end;
    while (stop > v && (data[stop - 1] == ' ' || data[stop - 1] == '\t')) stop--;
    for (size_t k = v; k < stop; k++) {
      if (!is_value_byte((unsigned char)data[k])) return HP_INVALID;
    }
    if (head->count == HP_MAX_HEADERS) return HP_INVALID;
    head->names[head->count] = (hp_span_t){(uint32_t)i, (uint32_t)(colon - i)};
    head->values[head->count] = (hp_span_t){(uint32_t)v, (uint32_t)(stop - v)};
    head->count++;
    i = (size_t)end + 2;
  }
}

/** Parses 1*DIGIT; false when empty, not digits, or beyond 2^53. */
static bool parse_length(const char* data, hp_span_t value, uint64_t* out) {
  if (value.len == 0 || value.len > 15) return false;
  uint64_t n = 0;
  for (uint32_t k = 0; k < value.len; k++) {
    char c = data[value.off + k];
    if (c < '0' || c > '9') return false;
    n = n * 10 + (uint64_t)(c - '0');
  }
  *out = n;
  return true;
}

/**
 * What the headers say about the connection and the body. Requests
 * (`request`): no body unless Content-Length or Transfer-Encoding says so;
 * responses: until the connection closes.
 */
static bool interpret(const char* data, hp_head_t* head, bool request) {
  int length_at = -1, encoding_at = -1;
  for (uint32_t i = 0; i < head->count; i++) {
    hp_span_t name = head->names[i];
    switch (name.len) {
      case 4:
        if (hp_span_is(data, name, "host")) {
          if (head->host >= 0 && request) return false;  // two Hosts: which one is the backend's?
          head->host = (int)i;
        }
        break;
      case 7:
        if (hp_span_is(data, name, "upgrade")) head->upgrade = (int)i;
        break;
      case 10:
        if (hp_span_is(data, name, "connection")) for_each_token(data, head->values[i], connection_token, head);
        break;
      case 14:
        if (hp_span_is(data, name, "content-length")) {
          if (length_at >= 0) return false;  // duplicates, even equal ones, as nginx
          length_at = (int)i;
        }
        break;
      case 17:
        if (hp_span_is(data, name, "transfer-encoding")) {
          if (encoding_at >= 0) return false;
          encoding_at = (int)i;
        }
        break;
      default:
        break;
    }
  }
  if (encoding_at >= 0) {
    // With Content-Length too, the two framings could disagree: the classic smuggling.
    if (length_at >= 0) return false;
    if (request && head->minor == 0) return false;
    if (!hp_span_is(data, head->values[encoding_at], "chunked")) {
      if (request) return false;  // nginx answers 501; anything but chunked cannot be framed
      head->body = HP_BODY_UNTIL_CLOSE;
      return true;
    }
    head->body = HP_BODY_CHUNKED;
    return true;
  }
  if (length_at >= 0) {
    if (!parse_length(data, head->values[length_at], &head->length)) return false;
    head->body = head->length > 0 ? HP_BODY_LENGTH : HP_BODY_NONE;
    return true;
  }
  head->body = request ? HP_BODY_NONE : HP_BODY_UNTIL_CLOSE;
  return true;
}

/** Everything but the header spans (only `count` of them are valid). */
static void reset(hp_head_t* head) {
  memset(head, 0, offsetof(hp_head_t, names));
  head->body = HP_BODY_NONE;
  head->length = 0;
  head->conn_close = head->conn_keep_alive = head->conn_upgrade = false;
  head->host = -1;
  head->upgrade = -1;
}

int hp_parse_request(const char* data, size_t len, hp_head_t* head) {
  reset(head);
  size_t i = 0;
  while (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n') i += 2;  // RFC 9112 §2.2: ignore leading empty lines
  long end = line_end(data, len, i);
  if (end == -1) return HP_INCOMPLETE;
  if (end == -2) return HP_INVALID;
  // method SP request-target SP HTTP-version, single spaces.
  size_t m = i;
  while (m < (size_t)end && is_tchar((unsigned char)data[m])) m++;
  if (m == i || m >= (size_t)end || data[m] != ' ') return HP_INVALID;
  size_t t = m + 1;
  while (t < (size_t)end && (unsigned char)data[t] > 0x20 && (unsigned char)data[t] < 0x7f) t++;
  if (t == m + 1 || t >= (size_t)end || data[t] != ' ' || (size_t)end - (t + 1) != 8) return HP_INVALID;
  head->minor = version(data, t + 1);
  if (head->minor < 0) return HP_INVALID;
  head->method = (hp_span_t){(uint32_t)i, (uint32_t)(m - i)};
  head->target = (hp_span_t){(uint32_t)(m + 1), (uint32_t)(t - m - 1)};
  // origin-form, or "*" for OPTIONS; a reverse proxy is not asked for absolute-form or CONNECT's authority-form.
  char first = data[m + 1];
  if (first != '/' && !(first == '*' && t == m + 2)) return HP_INVALID;
  int result = parse_headers(data, len, (size_t)end + 2, head);
  if (result <= 0) return result;
  if (!interpret(data, head, true)) return HP_INVALID;
  if (head->minor == 1 && head->host < 0) return HP_INVALID;  // RFC 9112 §3.2: a 1.1 request without Host is a 400
  return result;
}

int hp_parse_response(const char* data, size_t len, bool head_request, hp_head_t* head) {
  reset(head);
  long end = line_end(data, len, 0);
  if (end == -1) return HP_INCOMPLETE;
  if (end == -2 || end < 12) return HP_INVALID;
  // HTTP-version SP 3DIGIT SP reason-phrase
  head->minor = version(data, 0);
  if (head->minor < 0 || data[8] != ' ' || (end > 12 && data[12] != ' ')) return HP_INVALID;
  int status = 0;
  for (int k = 9; k < 12; k++) {
    if (data[k] < '0' || data[k] > '9') return HP_INVALID;
    status = status * 10 + (data[k] - '0');
  }
  if (status < 100) return HP_INVALID;
  head->status = status;
  head->target = (hp_span_t){end > 12 ? 13 : 12, end > 12 ? (uint32_t)(end - 13) : 0};
  int result = parse_headers(data, len, (size_t)end + 2, head);
  if (result <= 0) return result;
  if (!interpret(data, head, false)) return HP_INVALID;
  // RFC 9112 §6.3: these never have a body, whatever the headers say.
  if (head_request || status < 200 || status == 204 || status == 304) head->body = HP_BODY_NONE;
  return result;
}

// ------------------------------------------------------------ chunked bodies

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF, CH_LAST_LF };

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long hp_chunked_feed(hp_chunked_t* s, const char* data, size_t len) {
  size_t i = 0;
  while (i < len && !s->done) {
    char c = data[i];
    switch (s->state) {
      case CH_SIZE: {
        int digit = hex(c);
        if (digit >= 0) {
          if (++s->digits > 15) return -1;  // beyond 2^60: no real body, and overflow
          s->size = s->size * 16 + (uint64_t)digit;
        } else if (s->digits == 0) {
          return -1;  // no size, or white space before it
        } else if (c == ';') {
          s->state = CH_EXT;
        } else if (c == '\r') {
          s->state = CH_SIZE_LF;
        } else {
          return -1;
        }
        i++;
        break;
      }
      case CH_EXT:
        // chunk extensions are passed on, but never a bare LF or a control byte in them
        if (c == '\r') s->state = CH_SIZE_LF;
        else if (!is_value_byte((unsigned char)c)) return -1;
        i++;
        break;
      case CH_SIZE_LF:
        if (c != '\n') return -1;
        i++;
        s->digits = 0;
        if (s->size == 0) {
          s->state = CH_TRAILER;
          s->line = 0;
        } else {
          s->state = CH_DATA;
        }
        break;
      case CH_DATA: {
        size_t take = len - i < s->size ? len - i : (size_t)s->size;
        s->size -= take;
        i += take;
        if (s->size == 0) s->state = CH_DATA_CR;
        break;
      }
      case CH_DATA_CR:
        if (c != '\r') return -1;
        s->state = CH_DATA_LF;
        i++;
        break;
      case CH_DATA_LF:
        if (c != '\n') return -1;
        s->state = CH_SIZE;
        i++;
        break;
      case CH_TRAILER:
        // trailer fields (rare): lines up to an empty one; bounded, and no bare LF
        if (c == '\r') {
          s->state = s->line == 0 ? CH_LAST_LF : CH_TRAILER_LF;
        } else {
          if (!is_value_byte((unsigned char)c) || ++s->line > 8192) return -1;
        }
        i++;
        break;
      case CH_TRAILER_LF:
        if (c != '\n') return -1;
        s->state = CH_TRAILER;
        s->line = 0;
        i++;
        break;
      case CH_LAST_LF:
        if (c != '\n') return -1;
        s->done = true;
        i++;
        break;
      default:
        return -1;
    }
  }
  return (long)i;
}
