// Strict, incremental HTTP/1.x framing (see http_parse.h for what "strict"
// rejects and what "incremental" keeps between reads).

#include "http_parse.h"

#include <stdlib.h>
#include <string.h>

static inline bool is(unsigned char c, uint8_t class) {
  return hp_is(c, class);
}

static void connection_token(const char* data, hp_span_t token, void* context) {
  hp_head_t* head = context;
  if (hp_span_is(data, token, "close")) head->conn_close = true;
  else if (hp_span_is(data, token, "keep-alive")) head->conn_keep_alive = true;
  else if (hp_span_is(data, token, "upgrade")) head->conn_upgrade = true;
}

// ------------------------------------------------------------ heads

enum {
  ST_START,       // a request: before the method (empty lines skipped)
  ST_START_LF,    // a request: the LF of a leading empty line
  ST_METHOD,
  ST_TARGET_START,
  ST_TARGET,
  ST_VERSION,     // request: "HTTP/1.x" then CR; response: "HTTP/1.x" then SP
  ST_STATUS,      // response: three digits
  ST_REASON,      // response: the reason phrase up to CR
  ST_LINE_LF,     // the LF of the start line
  ST_FIELD_START,
  ST_NAME,
  ST_VALUE_START,
  ST_VALUE,
  ST_VALUE_LF,
  ST_HEAD_LF,     // the LF of the empty line: the head ends
  ST_ERROR,
};

static int fail(hp_parser_t* p, int status, const char* reason) {
  p->state = ST_ERROR;
  p->error = status;
  p->reason = reason;
  return HP_INVALID;
}

static void clear(hp_parser_t* p, bool head_request) {
  hp_head_t* h = &p->head;
  hp_span_t *names = h->names, *values = h->values;
  uint32_t cap = h->cap;
  memset(h, 0, sizeof(*h));
  h->names = names;
  h->values = values;
  h->cap = cap;
  h->host = -1;
  h->upgrade = -1;
  p->pos = p->mark = p->value_end = 0;
  p->name = (hp_span_t){0, 0};
  p->head_request = head_request;
  p->state = p->response ? ST_VERSION : ST_START;
  p->error = 0;
  p->reason = NULL;
}

void hp_parser_init(hp_parser_t* p, bool response, bool head_request, uint32_t limit) {
  p->response = response;
  p->limit = limit;
  clear(p, head_request);
}

void hp_head_free(hp_head_t* head) {
  free(head->names);
  head->names = head->values = NULL;
  head->cap = head->count = 0;
}

void hp_parser_free(hp_parser_t* p) {
  hp_head_free(&p->head);
}

hp_head_t hp_parser_take(hp_parser_t* p) {
  hp_head_t head = p->head;
  p->head.names = p->head.values = NULL;
  p->head.cap = p->head.count = 0;
  return head;
}

/** Stores the header line just scanned; the array grows on demand, up to HP_MAX_HEADERS. */
static bool add_field(hp_parser_t* p, hp_span_t value) {
  hp_head_t* h = &p->head;
  if (h->count == HP_MAX_HEADERS) {
    fail(p, 431, "the request has more than " HP_STR(HP_MAX_HEADERS) " header lines");
    return false;
  }
  if (h->count == h->cap) {
    uint32_t cap = h->cap == 0 ? 16 : h->cap * 2;
    if (cap > HP_MAX_HEADERS) cap = HP_MAX_HEADERS;
    hp_span_t* spans = realloc(h->names, sizeof(hp_span_t) * 2 * cap);
    if (spans == NULL) {
      fail(p, 503, "the front is out of memory");
      return false;
    }
    memmove(spans + cap, spans + h->cap, sizeof(hp_span_t) * h->count);  // the values, after the names
    h->names = spans;
    h->values = spans + cap;
    h->cap = cap;
  }
  h->names[h->count] = p->name;
  h->values[h->count] = value;
  h->count++;
  return true;
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

/** The request target's form; absolute-form's authority and path. */
static int request_target(hp_parser_t* p, const char* d) {
  hp_head_t* h = &p->head;
  const char* t = d + h->target.off;
  uint32_t len = h->target.len;
  if (h->method.len == 7 && memcmp(d + h->method.off, "CONNECT", 7) == 0) {
    return fail(p, 405, "CONNECT is not served here: the front is a reverse proxy, not a tunnel");
  }
  if (t[0] == '/') {
    h->form = HP_FORM_ORIGIN;
    h->path = h->target;
    return 0;
  }
  if (len == 1 && t[0] == '*') {
    if (!(h->method.len == 7 && memcmp(d + h->method.off, "OPTIONS", 7) == 0)) return fail(p, 400, "the target * is for OPTIONS only");
    h->form = HP_FORM_ASTERISK;
    h->path = h->target;
    return 0;
  }
  // absolute-form (RFC 9112 §3.2.2): http or https, an authority, then the path and query
  uint32_t scheme = (len > 7 && hp_bytes_are(t, 7, "http://")) ? 7 : (len > 8 && hp_bytes_are(t, 8, "https://")) ? 8 : 0;
  if (scheme == 0) return fail(p, 400, "the request target is not a path, an http(s) URL, or * for OPTIONS");
  uint32_t a = scheme;
  while (a < len && t[a] != '/' && t[a] != '?') a++;
  h->form = HP_FORM_ABSOLUTE;
  h->authority = (hp_span_t){h->target.off + scheme, a - scheme};
  h->path = (hp_span_t){h->target.off + a, len - a};
  if (!hp_valid_host(d, h->authority, false)) return fail(p, 400, "the request target's host is not a valid host[:port]");
  return 0;
}

/**
 * What the headers say about the connection and the body. Requests: no
 * body unless Content-Length or Transfer-Encoding says so; responses: until
 * the connection closes.
 */
static int interpret(hp_parser_t* p, const char* data) {
  hp_head_t* head = &p->head;
  bool request = !p->response;
  int length_at = -1, encoding_at = -1;
  head->host = head->upgrade = -1;
  for (uint32_t i = 0; i < head->count; i++) {
    switch (hp_header_kind(data + head->names[i].off, head->names[i].len)) {
      case HP_H_HOST:
        if (head->host >= 0 && request) return fail(p, 400, "the request has two Host headers");
        head->host = (int)i;
        break;
      case HP_H_UPGRADE:
        head->upgrade = (int)i;
        break;
      case HP_H_CONNECTION:
        hp_for_each_token(data, head->values[i], connection_token, head);
        break;
      case HP_H_CONTENT_LENGTH:
        // duplicates, even equal ones, as nginx
        if (length_at >= 0) return fail(p, 400, "the request has two Content-Length headers");
        length_at = (int)i;
        break;
      case HP_H_TRANSFER_ENCODING:
        if (encoding_at >= 0) return fail(p, 400, "the request has two Transfer-Encoding headers");
        encoding_at = (int)i;
        break;
      default:
        break;
    }
  }
  if (request) {
    if (head->host >= 0 && !hp_valid_host(data, head->values[head->host], true)) return fail(p, 400, "the Host header is not a valid host[:port]");
    // RFC 9112 §3.2: a 1.1 request without Host is a 400
    if (head->minor == 1 && head->host < 0) return fail(p, 400, "an HTTP/1.1 request needs a Host header");
  }
  if (encoding_at >= 0) {
    // With Content-Length too, the two framings could disagree: the classic smuggling.
    if (length_at >= 0) return fail(p, 400, "the request has both Content-Length and Transfer-Encoding");
    if (request && head->minor == 0) return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    int chunked = hp_final_chunked(data + head->values[encoding_at].off, head->values[encoding_at].len);
    if (chunked < 0) return fail(p, 400, "the Transfer-Encoding header is not a list of codings");
    if (chunked == 0) {
      // RFC 9112 §6.3: a request whose final coding is not chunked cannot be framed; a response is read until close
      if (request) return fail(p, 400, "the final Transfer-Encoding of a request must be chunked");
      head->body = HP_BODY_UNTIL_CLOSE;
      return 0;
    }
    head->body = HP_BODY_CHUNKED;
    return 0;
  }
  if (length_at >= 0) {
    if (!parse_length(data, head->values[length_at], &head->length)) return fail(p, 400, "Content-Length is not a number");
    head->body = head->length > 0 ? HP_BODY_LENGTH : HP_BODY_NONE;
    return 0;
  }
  head->body = request ? HP_BODY_NONE : HP_BODY_UNTIL_CLOSE;
  return 0;
}

static int finish(hp_parser_t* p, const char* data, uint32_t len) {
  p->pos = len;
  hp_head_t* h = &p->head;
  if (!p->response && request_target(p, data) < 0) return HP_INVALID;
  if (interpret(p, data) < 0) return HP_INVALID;
  // RFC 9112 §6.3: these never have a body, whatever the headers say.
  if (p->response && (p->head_request || h->status < 200 || h->status == 204 || h->status == 304)) h->body = HP_BODY_NONE;
  p->state = ST_ERROR;  // done: a further call is a caller's mistake
  p->error = 0;
  return (int)len;
}

int hp_parse(hp_parser_t* p, const char* data, size_t len) {
  if (p->state == ST_ERROR) return p->error != 0 ? HP_INVALID : (int)p->pos;
  hp_head_t* h = &p->head;
  uint32_t limit = p->limit != 0 ? p->limit : p->response ? HP_MAX_RESPONSE_HEAD : HP_MAX_HEAD;
  size_t stop = len < limit ? len : limit;
  const char* bad = p->response ? "the response head is malformed" : "the request head is malformed";
  for (uint32_t i = p->pos; i < stop; i++) {
    unsigned char c = (unsigned char)data[i];
    switch (p->state) {
      case ST_START:  // RFC 9112 §2.2: empty lines before a request are ignored
        if (c == '\r') {
          p->state = ST_START_LF;
        } else if (is(c, HP_C_TOKEN)) {
          p->mark = i;
          p->state = ST_METHOD;
        } else {
          return fail(p, 400, bad);
        }
        break;
      case ST_START_LF:
        if (c != '\n') return fail(p, 400, bad);
        p->state = ST_START;
        break;
      case ST_METHOD:
        if (c == ' ') {
          h->method = (hp_span_t){p->mark, i - p->mark};
          p->state = ST_TARGET_START;
        } else if (!is(c, HP_C_TOKEN)) {
          return fail(p, 400, bad);
        }
        break;
      case ST_TARGET_START:
        if (!is(c, HP_C_TARGET)) return fail(p, 400, bad);
        p->mark = i;
        p->state = ST_TARGET;
        break;
      case ST_TARGET:
        while (i < stop && is((unsigned char)data[i], HP_C_TARGET)) i++;
        if (i == stop) break;
        if (data[i] != ' ') return fail(p, 400, bad);
        h->target = (hp_span_t){p->mark, i - p->mark};
        p->mark = i + 1;
        p->state = ST_VERSION;
        break;
      case ST_VERSION: {
        uint32_t k = i - p->mark;
        if (k < 7) {
          if (c != (unsigned char)"HTTP/1."[k]) return fail(p, p->response ? 502 : 400, bad);
        } else if (k == 7) {
          if (c != '0' && c != '1') return fail(p, p->response ? 502 : 400, "only HTTP/1.0 and HTTP/1.1 are served");
          h->minor = c - '0';
        } else if (p->response) {
          if (c != ' ') return fail(p, 502, bad);
          p->mark = i + 1;
          p->state = ST_STATUS;
        } else {
          if (c != '\r') return fail(p, 400, bad);
          p->state = ST_LINE_LF;
        }
        break;
      }
      case ST_STATUS:
        if (i - p->mark < 3) {
          if (c < '0' || c > '9') return fail(p, 502, bad);
          h->status = h->status * 10 + (c - '0');
        } else if (h->status < 100) {
          return fail(p, 502, bad);
        } else if (c == ' ') {
          p->mark = i + 1;
          p->state = ST_REASON;
        } else if (c == '\r') {
          h->target = (hp_span_t){i, 0};
          p->state = ST_LINE_LF;
        } else {
          return fail(p, 502, bad);
        }
        break;
      case ST_REASON:
        if (c == '\r') {
          h->target = (hp_span_t){p->mark, i - p->mark};
          p->state = ST_LINE_LF;
        } else if (!is(c, HP_C_VALUE)) {
          return fail(p, 502, bad);
        }
        break;
      case ST_LINE_LF:
      case ST_VALUE_LF:
        if (c != '\n') return fail(p, 400, bad);
        if (p->state == ST_VALUE_LF && !add_field(p, (hp_span_t){p->mark, p->value_end - p->mark})) return HP_INVALID;
        p->state = ST_FIELD_START;
        break;
      case ST_FIELD_START:
        if (c == '\r') {
          p->state = ST_HEAD_LF;
        } else if (is(c, HP_C_TOKEN)) {
          p->mark = i;
          p->state = ST_NAME;
        } else {
          // obs-fold (a line starting with white space) is rejected, as RFC 9112 allows a server to
          return fail(p, 400, bad);
        }
        break;
      case ST_NAME:
        while (i < stop && is((unsigned char)data[i], HP_C_TOKEN)) i++;
        if (i == stop) break;
        if (data[i] != ':') return fail(p, 400, bad);  // white space before the colon, or a byte no name has
        p->name = (hp_span_t){p->mark, i - p->mark};
        p->state = ST_VALUE_START;
        break;
      case ST_VALUE_START:
        if (c == ' ' || c == '\t') break;
        p->mark = p->value_end = i;
        if (c == '\r') {
          p->state = ST_VALUE_LF;
          break;
        }
        if (!is(c, HP_C_VALUE)) return fail(p, 400, bad);
        p->state = ST_VALUE;
        p->value_end = i + 1;
        break;
      case ST_VALUE:
        for (; i < stop; i++) {
          c = (unsigned char)data[i];
          if (c == ' ' || c == '\t') continue;
          if (!is(c, HP_C_VALUE)) break;
          p->value_end = i + 1;
        }
        if (i == stop) break;
        if (c != '\r') return fail(p, 400, bad);  // a bare LF, a NUL or another control byte
        p->state = ST_VALUE_LF;
        break;
      case ST_HEAD_LF:
        if (c != '\n') return fail(p, 400, bad);
        return finish(p, data, i + 1);
      default:
        return fail(p, 400, bad);
    }
    if (i == stop) break;  // an inner scan reached the end of what there is
  }
  p->pos = (uint32_t)stop;
  if (stop == limit) {
    return fail(p, p->response ? 502 : 431, p->response ? "the response head is too large" : "the request head is over --max-header-size");
  }
  return HP_INCOMPLETE;
}

// ------------------------------------------------------------ chunked bodies

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TR_NAME, CH_TR_VALUE, CH_TRAILER_LF, CH_LAST_LF };

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long hp_chunked_feed(hp_chunked_t* s, const char* data, size_t len) {
  return hp_chunked_decode(s, data, len, NULL, NULL);
}

long hp_chunked_decode(hp_chunked_t* s, const char* data, size_t len, hp_data_fn data_fn, void* arg) {
  size_t i = 0;
  while (i < len && !s->done) {
    unsigned char c = (unsigned char)data[i];
    switch (s->state) {
      case CH_SIZE: {
        int digit = hex((char)c);
        if (digit >= 0) {
          if (++s->digits > 15) return -1;  // beyond 2^60: no real body, and overflow
          s->size = s->size * 16 + (uint64_t)digit;
        } else if (s->digits == 0) {
          return -1;  // no size, or white space before it
        } else if (c == ';') {
          s->state = CH_EXT;
          s->line = 0;
        } else if (c == '\r') {
          s->state = CH_SIZE_LF;
        } else {
          return -1;
        }
        i++;
        break;
      }
      case CH_EXT:
        // chunk extensions are passed on, bounded (CVE-2024-22019's class), never a bare LF or a control byte in them
        if (c == '\r') s->state = CH_SIZE_LF;
        else if (!is(c, HP_C_VALUE) || ++s->line > HP_MAX_CHUNK_EXT) return -1;
        i++;
        break;
      case CH_SIZE_LF:
        if (c != '\n') return -1;
        i++;
        s->digits = 0;
        s->line = 0;
        s->state = s->size == 0 ? CH_TRAILER : CH_DATA;
        break;
      case CH_DATA: {
        size_t take = len - i < s->size ? len - i : (size_t)s->size;
        if (data_fn != NULL && !data_fn(arg, data + i, take)) return -1;
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
      case CH_TRAILER:  // a trailer line starts, or the empty line ends the body
        if (c == '\r') s->state = CH_LAST_LF;
        else if (is(c, HP_C_TOKEN)) s->state = CH_TR_NAME;
        else return -1;
        i++;
        break;
      case CH_TR_NAME:
        if (c == ':') s->state = CH_TR_VALUE;
        else if (!is(c, HP_C_TOKEN)) return -1;
        i++;
        break;
      case CH_TR_VALUE:
        if (c == '\r') s->state = CH_TRAILER_LF;
        else if (!is(c, HP_C_VALUE)) return -1;
        i++;
        break;
      case CH_TRAILER_LF:
        if (c != '\n') return -1;
        s->state = CH_TRAILER;
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
    if (s->state >= CH_TRAILER && ++s->line > HP_MAX_TRAILERS) return -1;
  }
  return (long)i;
}
