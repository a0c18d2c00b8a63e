// Light HTTP/1.x framing for the tcp tunnel (see h1frame.h). Per direction, a
// byte-driven state machine: start line, header lines (looked at through a
// 256-byte window: only Content-Length and Transfer-Encoding matter, and the
// method and status), then the body by Content-Length, chunked, or until the
// close (RFC 9112 §6.3). Requests remember whether they were HEAD, so that its
// response is known to have no body. Whatever it does not follow (another
// protocol, an upgrade, CONNECT, obs-fold, a bad length, deep pipelining)
// turns it off for the connection: framing only ever adds the chance to end a
// connection cleanly, never a way to break one. Which bytes make a header
// name, which headers frame a message and what a transfer coding list means
// are the http front's rules (http_parse.h's table), so that the two
// followers of HTTP/1 in this module never disagree on where a message ends.

#include "h1frame.h"

#include "http_parse.h"

#include <string.h>

enum {
  S_START,
  S_HEADERS,
  S_BODY_LENGTH,
  S_CHUNK_SIZE,
  S_CHUNK_DATA,
  S_CHUNK_CRLF,
  S_TRAILERS,
  S_UNTIL_CLOSE,
};

// Per message being read (h1_dir_t.flags).
#define F_LENGTH 1
#define F_CHUNKED 2
#define F_TE_OTHER 4
#define F_INTERIM 8   // a 1xx response: another follows for the same request
#define F_NO_BODY 16  // a response to HEAD
// Per request waiting for its response (h1_t.pending).
#define R_HEAD 1

void h1_init(h1_t* h) {
  memset(h, 0, sizeof(*h));
}

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/** Case-insensitive: does `s` (length n) equal the lower-case `word`? */
static bool equals(const char* s, size_t n, const char* word) {
  if (strlen(word) != n) return false;
  for (size_t i = 0; i < n; i++) {
    if (lower((unsigned char)s[i]) != word[i]) return false;
  }
  return true;
}

static bool is_digit(int c) {
  return c >= '0' && c <= '9';
}

/** A header line: a Content-Length or Transfer-Encoding is noted; false when framing must stop. */
static bool header_line(h1_dir_t* d, bool is_request, bool truncated) {
  const char* line = d->line;
  size_t len = d->line_len;
  if (line[0] == ' ' || line[0] == '\t') return false;  // obs-fold
  const char* colon = memchr(line, ':', len);
  if (colon == NULL) return false;
  size_t name_len = (size_t)(colon - line);
  if (name_len == 0) return false;
  for (size_t i = 0; i < name_len; i++) {
    if (!(hp_class[(unsigned char)line[i]] & HP_C_TOKEN)) return false;  // white space before the colon, or no header at all
  }
  hp_header_t kind = hp_header_kind(line, name_len);
  bool length = kind == HP_H_CONTENT_LENGTH;
  bool encoding = kind == HP_H_TRANSFER_ENCODING;
  if (is_request && (kind == HP_H_UPGRADE || equals(line, name_len, "http2-settings"))) return false;
  if (!length && !encoding) return true;
  if (truncated) return false;
  const char* value = colon + 1;
  const char* end = line + len;
  while (value < end && (*value == ' ' || *value == '\t')) value++;
  while (end > value && (end[-1] == ' ' || end[-1] == '\t')) end--;
  if (length) {
    if (value == end) return false;
    uint64_t n = 0;
    for (const char* p = value; p < end; p++) {
      if (!is_digit((unsigned char)*p) || n > (UINT64_MAX - 9) / 10) return false;
      n = n * 10 + (uint64_t)(*p - '0');
    }
    if ((d->flags & F_LENGTH) && d->remaining != n) return false;  // two different lengths
    d->flags |= F_LENGTH;
    d->remaining = n;
    return true;
  }
  // Transfer-Encoding: chunked only if it is the final coding (of the last such header), as the http front reads it.
  int final_chunked = hp_final_chunked(value, (size_t)(end - value));
  if (final_chunked < 0) return false;
  bool chunked = final_chunked == 1;
  d->flags = (uint16_t)((d->flags & ~(F_CHUNKED | F_TE_OTHER)) | (chunked ? F_CHUNKED : F_TE_OTHER));
  return true;
}

/** A request line: "METHOD target HTTP/1.x"; false when it is not one. */
static bool request_line(h1_t* h, h1_dir_t* d, bool truncated) {
  const char* space = memchr(d->line, ' ', d->line_len);
  if (space == NULL || space == d->line) return false;
  size_t method_len = (size_t)(space - d->line);
  for (size_t i = 0; i < method_len; i++) {
    if (d->line[i] < 'A' || d->line[i] > 'Z') return false;
  }
  if (method_len == 7 && memcmp(d->line, "CONNECT", 7) == 0) return false;  // a tunnel follows
  if (!truncated && (d->line_len < 9 || memcmp(d->line + d->line_len - 9, " HTTP/1.", 8) != 0)) return false;
  d->flags = (method_len == 4 && memcmp(d->line, "HEAD", 4) == 0) ? F_NO_BODY : 0;
  (void)h;
  return true;
}

/** A status line: "HTTP/1.x NNN reason". Takes the request it answers when final; may ask for Connection: close after it. */
static bool status_line(h1_t* h, h1_dir_t* d, bool draining, size_t offset, h1_cut_t* cut) {
  const char* l = d->line;
  if (d->line_len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || !is_digit((unsigned char)l[7]) || l[8] != ' ' || !is_digit((unsigned char)l[9]) ||
      !is_digit((unsigned char)l[10]) || !is_digit((unsigned char)l[11]) || (d->line_len > 12 && l[12] != ' ')) {
    return false;
  }
  h->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
  if (h->pending_count == 0 || h->status == 101) return false;  // unasked for, or a switch of protocol
  if (h->status < 200) {
    d->flags = F_INTERIM;
    return true;
  }
  uint8_t request = h->pending[h->pending_head];
  h->pending_head = (uint8_t)((h->pending_head + 1) % H1_MAX_PENDING);
  h->pending_count--;
  d->flags = (request & R_HEAD) ? F_NO_BODY : 0;
  if (draining && h->pending_count == 0 && cut->insert_at < 0) {
    cut->insert_at = (long)offset;
    h->close_after = true;
  }
  return true;
}

/** The message of `d` ended just before `offset`. */
static void message_end(h1_t* h, h1_dir_t* d, bool is_request, size_t offset, h1_cut_t* cut) {
  d->state = S_START;
  if (is_request) {
    if (h->pending_count == H1_MAX_PENDING) {
      h->off = true;
      return;
    }
    h->pending[(h->pending_head + h->pending_count) % H1_MAX_PENDING] = (d->flags & F_NO_BODY) ? R_HEAD : 0;
    h->pending_count++;
  } else if (h->close_after) {
    cut->end_at = (long)offset;
    h->off = true;  // nothing after it is forwarded
  }
}

/** The head of `d` ended (its empty line) just before `offset`: where its body ends. */
static bool head_end(h1_t* h, h1_dir_t* d, bool is_request, size_t offset, h1_cut_t* cut) {
  uint16_t f = d->flags;
  if (!is_request) {
    if (f & F_INTERIM) {
      d->state = S_START;
      return true;
    }
    if ((f & F_NO_BODY) || h->status == 204 || h->status == 304) {
      message_end(h, d, false, offset, cut);
      return true;
    }
  }
  if (f & F_CHUNKED) {
    d->state = S_CHUNK_SIZE;
  } else if (f & F_TE_OTHER) {
    if (is_request) return false;  // RFC 9112 §6.3: a server answers 400
    d->state = S_UNTIL_CLOSE;
  } else if ((f & F_LENGTH) && d->remaining > 0) {
    d->state = S_BODY_LENGTH;
  } else if ((f & F_LENGTH) || is_request) {
    message_end(h, d, is_request, offset, cut);
  } else {
    d->state = S_UNTIL_CLOSE;
  }
  return true;
}

/** A chunk-size line: hex digits, then maybe extensions. */
static bool chunk_size(h1_t* h, h1_dir_t* d, bool is_request, size_t offset, h1_cut_t* cut) {
  uint64_t size = 0;
  size_t i = 0;
  for (; i < d->line_len; i++) {
    int c = lower((unsigned char)d->line[i]);
    int digit = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) break;
    if (size > (UINT64_MAX >> 4)) return false;
    size = (size << 4) | (uint64_t)digit;
  }
  if (i == 0 || (i < d->line_len && d->line[i] != ';' && d->line[i] != ' ' && d->line[i] != '\t')) return false;
  d->remaining = size;
  d->state = size == 0 ? S_TRAILERS : S_CHUNK_DATA;
  (void)h, (void)is_request, (void)offset, (void)cut;
  return true;
}

/** One whole line of `d` (in its window), ending just before `offset`. False: framing stops. */
static bool line_done(h1_t* h, h1_dir_t* d, bool is_request, bool draining, size_t offset, h1_cut_t* cut) {
  bool truncated = d->line_total > d->line_len;
  if (!truncated && d->line_len > 0 && d->line[d->line_len - 1] == '\r') d->line_len--;
  bool empty = d->line_len == 0 && !truncated;
  switch (d->state) {
    case S_START:
      if (empty) return is_request;  // a request may be preceded by empty lines (RFC 9112 §2.2)
      if (is_request ? !request_line(h, d, truncated) : !status_line(h, d, draining, offset, cut)) return false;
      d->state = S_HEADERS;
      d->remaining = 0;
      return true;
    case S_HEADERS:
      return empty ? head_end(h, d, is_request, offset, cut) : header_line(d, is_request, truncated);
    case S_CHUNK_SIZE:
      return !truncated && chunk_size(h, d, is_request, offset, cut);
    case S_CHUNK_CRLF:
      d->state = S_CHUNK_SIZE;
      return empty;
    case S_TRAILERS:
      if (empty) message_end(h, d, is_request, offset, cut);
      return true;
    default:
      return false;
  }
}

static void follow(h1_t* h, h1_dir_t* d, bool is_request, const char* data, size_t len, bool draining, h1_cut_t* cut) {
  size_t i = 0;
  while (i < len && !h->off) {
    if (d->state == S_UNTIL_CLOSE) return;
    if (d->state == S_BODY_LENGTH || d->state == S_CHUNK_DATA) {
      uint64_t take = d->remaining < len - i ? d->remaining : len - i;
      i += (size_t)take;
      d->remaining -= take;
      if (d->remaining == 0) {
        if (d->state == S_CHUNK_DATA) d->state = S_CHUNK_CRLF;
        else message_end(h, d, is_request, i, cut);
      }
      continue;
    }
    // A line: into the window, as far as it goes.
    const char* newline = memchr(data + i, '\n', len - i);
    size_t end = newline == NULL ? len : (size_t)(newline - data);
    size_t n = end - i;
    size_t room = (size_t)(H1_LINE_MAX - d->line_len);
    size_t copy = n < room ? n : room;
    memcpy(d->line + d->line_len, data + i, copy);
    d->line_len = (uint8_t)(d->line_len + copy == H1_LINE_MAX ? H1_LINE_MAX - 1 : d->line_len + copy);
    d->line_total += (uint32_t)n;
    if (d->line_total > 64 * 1024) {
      h->off = true;  // no line of a head is that long
      return;
    }
    if (newline == NULL) return;
    i = end + 1;
    if (!line_done(h, d, is_request, draining, i, cut)) h->off = true;
    d->line_len = 0;
    d->line_total = 0;
  }
}

void h1_request(h1_t* h, const char* data, size_t len) {
  h1_cut_t unused = {-1, -1};
  follow(h, &h->request, true, data, len, false, &unused);
}

void h1_response(h1_t* h, const char* data, size_t len, bool draining, h1_cut_t* cut) {
  cut->insert_at = -1;
  cut->end_at = -1;
  follow(h, &h->response, false, data, len, draining, cut);
}
