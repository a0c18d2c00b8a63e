// The response side of the native http front, and the loop that drives one
// client: the response head as the client sees it, its body relayed by its
// framing, the byte pipe after a 101, the end of an exchange (pool or close,
// keep the client or linger), and drive(), which moves whatever can move.

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"

// ------------------------------------------------------------ the response

/** The response head for the client: hop-by-hop headers dropped, Connection as this hop needs (none on an `interim` one). */
static bool hf_build_response(client_t* cl, const char* d, const hp_head_t* h, uint32_t status_line_end, bool interim, buf_t* out) {
  bool listed = false, hsts = cl->hsts > 0 && cl->c.tls != NULL && !interim;
  bool decoded = cl->http10 && !interim && h->body == HP_BODY_CHUNKED;  // chunks are 1.1's: decoded for a 1.0 client
  for (uint32_t i = 0; i < h->count; i++) {
    if (hp_span_is(d, h->names[i], "connection")) listed = true;
    if (hp_span_is(d, h->names[i], "strict-transport-security")) hsts = false;  // the backend's own wins
  }
  bool ok = hf_buf_str(out, "HTTP/1.1") && hf_buf_append(out, d + 8, status_line_end - 8) && hf_buf_str(out, "\r\n");
  for (uint32_t i = 0; i < h->count && ok; i++) {
    if (hf_is_hop_by_hop(d, h->names[i])) continue;
    if (decoded && hp_span_is(d, h->names[i], "transfer-encoding")) continue;  // decoded: the close delimits it
    if (listed && hp_connection_lists(d, h, h->names[i])) continue;
    ok = hf_append_header(out, d, h->names[i], h->values[i]);
  }
  if (interim) return ok && hf_buf_str(out, "\r\n");
  if (hsts) {
    char line[64];
    snprintf(line, sizeof(line), "Strict-Transport-Security: max-age=%u\r\n", cl->hsts);
    ok = ok && hf_buf_str(out, line);
  }
  if (!cl->keep_alive) ok = ok && hf_buf_str(out, "Connection: close\r\n");
  else if (cl->http10) ok = ok && hf_buf_str(out, "Connection: keep-alive\r\n");
  return ok && hf_buf_str(out, "\r\n");
}

/** The response is complete: count it, pool the backend connection, ready the client for the next request. */
static void hf_response_done(client_t* cl, bool backend_keeps) {
  hf_release_upstream(cl, backend_keeps && cl->req_done);
  hf_end_exchange(cl, cl->status);
  if (!cl->keep_alive || !cl->req_done || cl->c.eof) {
    hf_linger(cl);
    return;
  }
  cl->state = S_HEAD;
  cl->phase_ms = hf_now_ms();
}

/** The backend's side ended or failed before the response was complete. */
static void hf_upstream_broke(client_t* cl) {
  upstream_t* up = cl->up;
  if (!cl->resp_head_done && hf_buf_len(&up->c.in) == 0 && up->reused && cl->idempotent && cl->req_body == HP_BODY_NONE &&
      cl->stale_retries < MAX_STALE_RETRIES) {
    // A pooled connection the backend had closed: send the request again on a new one.
    cl->stale_retries++;
    hf_release_upstream(cl, false);
    hf_request_ended(cl->front, cl->slot);
    cl->slot = -1;
    hf_attempt(cl);
    return;
  }
  if (!cl->resp_head_done && hf_buf_len(&up->c.in) == 0 && cl->idempotent && cl->req_body == HP_BODY_NONE && cl->resends < MAX_RESENDS &&
      cl->failed_count < MAX_TRIES) {
    // Reset (or closed) before any response byte: an idempotent request without a body goes to the next backend,
    // this one reported as failed (nginx's proxy_next_upstream error).
    cl->resends++;
    hf_connect_failed(cl, ECONNRESET);
    return;
  }
  if (!cl->resp_head_done) {
    hf_fail(cl, 502, HF_R_BACKEND_FAILED);
    return;
  }
  // Cut short: the client cannot get a whole response any more.
  hf_release_upstream(cl, false);
  hf_end_exchange(cl, 0);
  cl->dead = true;
}

/** hp_data_fn: a decoded span of chunk data into the client's queue. */
static bool append_to(void* out, const char* data, size_t len) {
  return hf_buf_append(out, data, len);
}

/** Reads the response head and relays it and the body, as far as the client's queue allows. */
static bool hf_relay_response(client_t* cl) {
  upstream_t* up = cl->up;
  if (!cl->resp_head_done) {
    uint32_t avail = hf_buf_len(&up->c.in);
    if (avail == 0) return false;
    const char* d = up->c.in.data + up->c.in.start;
    hp_head_t* h = &cl->resp_parser.head;
    int len = hp_parse(&cl->resp_parser, d, avail);  // incremental, as the request's; too large is invalid
    if (len == HP_INCOMPLETE) return false;
    if (len < 0 || (h->status == 101 && !cl->upgrade)) {
      hf_fail(cl, 502, HF_R_BAD_RESPONSE);
      return true;
    }
    if (h->status == 101) {
      // Switching protocols: the head as the backend sent it, then bytes both ways.
      if (!hf_buf_append(&cl->c.out, d, (size_t)len)) cl->dead = true;
      hf_buf_consume(&up->c.in, (uint32_t)len);
      cl->status = 101;
      cl->resp_head_done = true;
      cl->state = S_TUNNEL;
      hf_count_response(cl, 101);  // now: its latency is the handshake's, not the tunnel's life
      cl->counted = true;
      return true;
    }
    const char* line_end = memchr(d, '\r', (size_t)len);
    if (h->status < 200) {
      // Interim (100 Continue, 103): passed on without its hop-by-hop headers, unless the client speaks 1.0, which knows none.
      if (!cl->http10 && !hf_build_response(cl, d, h, (uint32_t)(line_end - d), true, &cl->c.out)) cl->dead = true;
      hf_buf_consume(&up->c.in, (uint32_t)len);
      hp_parser_init(&cl->resp_parser, true, cl->head_method, HP_MAX_RESPONSE_HEAD);  // the next head starts here
      return true;
    }
    bool backend_closes = h->conn_close || (h->minor == 0 && !h->conn_keep_alive);
    // A body delimited by the end of the connection, or a declined upgrade: this connection ends after it.
    if (h->body == HP_BODY_UNTIL_CLOSE || cl->upgrade || cl->front->closing) cl->keep_alive = false;
    // Chunks are HTTP/1.1's: a 1.0 client gets the body decoded, ended by the close (the backend's connection is kept).
    if (cl->http10 && h->body == HP_BODY_CHUNKED) cl->keep_alive = false;
    if (!hf_build_response(cl, d, h, (uint32_t)(line_end - d), false, &cl->c.out)) {
      cl->dead = true;
      return true;
    }
    cl->status = h->status;
    cl->resp_head_done = true;
    cl->resp_body = h->body;
    cl->resp_left = h->length;
    memset(&cl->resp_chunked, 0, sizeof(cl->resp_chunked));
    hf_buf_consume(&up->c.in, (uint32_t)len);
    up->reused = !backend_closes;  // from here on: whether the connection may be pooled again
    if (h->body == HP_BODY_NONE) hf_response_done(cl, !backend_closes);
    return true;
  }
  uint32_t avail = hf_buf_len(&up->c.in);
  if (avail == 0 || hf_buf_len(&cl->c.out) >= HIGH_WATER) return false;
  bool decoded = cl->http10 && cl->resp_body == HP_BODY_CHUNKED;  // appended span by span as it is decoded
  const char* d = up->c.in.data + up->c.in.start;
  uint32_t take = avail;
  bool done = false;
  if (cl->resp_body == HP_BODY_LENGTH) {
    if (cl->resp_left < take) take = (uint32_t)cl->resp_left;
    cl->resp_left -= take;
    done = cl->resp_left == 0;
  } else if (cl->resp_body == HP_BODY_CHUNKED) {
    long n = decoded ? hp_chunked_decode(&cl->resp_chunked, d, avail, append_to, &cl->c.out) : hp_chunked_feed(&cl->resp_chunked, d, avail);
    if (n < 0) {
      hf_release_upstream(cl, false);
      hf_end_exchange(cl, 0);
      cl->dead = true;
      return true;
    }
    take = (uint32_t)n;
    done = cl->resp_chunked.done;
  }
  if (!decoded && !hf_buf_append(&cl->c.out, d, take)) {
    cl->dead = true;
    return true;
  }
  hf_buf_consume(&up->c.in, take);
  if (done) hf_response_done(cl, up->reused);
  return true;
}

/** Upgraded: bytes both ways; an end is passed on as a shutdown; both ended, or an error, ends both. */
static bool hf_tunnel(client_t* cl) {
  upstream_t* up = cl->up;
  bool moved = false;
  conn_t* sides[2] = {&cl->c, &up->c};
  for (int i = 0; i < 2; i++) {
    conn_t* from = sides[i];
    conn_t* to = sides[1 - i];
    uint32_t avail = hf_buf_len(&from->in);
    if (avail > 0 && hf_buf_len(&to->out) < HIGH_WATER) {
      const char* data = from->in.data + from->in.start;
      // The tcp kind follows its bytes as HTTP/1.x (http_tcp.c): a response may end the connection.
      if (i == 0) hf_tcp_request_bytes(cl, data, avail);
      bool ok = i == 1 && cl->h1 != NULL ? hf_tcp_response_bytes(cl, data, avail) : hf_buf_append(&to->out, data, avail);
      if (!ok) {
        cl->dead = true;
        return true;
      }
      if (cl->up == NULL) return true;  // ended at a response boundary (draining; its buffers are gone): lingers
      hf_buf_consume(&from->in, avail);
      moved = true;
    }
    if (from->eof && hf_buf_len(&from->in) == 0 && hf_buf_len(&to->out) == 0 && !to->shut) {
      to->shut = true;
      hf_shut_write(to);
      moved = true;
    }
  }
  if (cl->c.shut && up->c.shut) {
    hf_release_upstream(cl, false);
    hf_end_exchange(cl, 101);
    cl->dead = true;
    return true;
  }
  return moved;
}

// ------------------------------------------------------------ driving a client

static bool hf_wants_client_input(const client_t* cl) {
  switch (cl->state) {
    case S_HEAD:
      return hf_buf_len(&cl->c.in) < cl->front->options.max_head;
    case S_SEND:
      return !cl->req_done && hf_buf_len(&cl->c.in) == 0 && hf_buf_len(&cl->up->c.out) < HIGH_WATER;
    case S_TUNNEL:
      return hf_buf_len(&cl->c.in) == 0 && hf_buf_len(&cl->up->c.out) < HIGH_WATER;
    case S_LINGER:
      return true;
    default:
      return false;
  }
}

static bool hf_wants_upstream_input(const client_t* cl) {
  return (cl->state == S_SEND || cl->state == S_TUNNEL) && hf_buf_len(&cl->up->c.in) < MAX_RESPONSE_HEAD && hf_buf_len(&cl->c.out) < HIGH_WATER;
}

/** One step of the exchange from what the buffers hold; whether anything changed. */
static bool hf_step(client_t* cl) {
  switch (cl->state) {
    case S_HEAD: {
      uint32_t avail = hf_buf_len(&cl->c.in);
      if (avail == 0) {
        if (cl->c.eof) cl->dead = true;
        return false;
      }
      if (cl->head_ms == 0) cl->head_ms = hf_now_ms();
      // Incremental: the parser goes on from where the last read left it (its limits hold however the head is split).
      int len = hp_parse(&cl->parser, cl->c.in.data + cl->c.in.start, avail);
      if (len == HP_INCOMPLETE) {
        if (cl->c.eof) cl->dead = true;
        return cl->c.eof;
      }
      if (len < 0) {
        cl->keep_alive = false;
        hf_answer(cl, cl->parser.error, HF_R_BAD_REQUEST, cl->parser.reason);
        return true;
      }
      hf_begin(cl, (uint32_t)len);
      return true;
    }
    case S_SEND: {
      bool changed = hf_send_body(cl);
      if (cl->state != S_SEND || cl->dead) return true;
      if (hf_relay_response(cl)) return true;
      if (cl->state != S_SEND || cl->dead) return true;
      if (cl->up->c.eof) {
        if (cl->resp_head_done && cl->resp_body == HP_BODY_UNTIL_CLOSE) hf_response_done(cl, false);
        else hf_upstream_broke(cl);
        return true;
      }
      if (cl->c.eof && !cl->req_done && hf_buf_len(&cl->c.in) == 0) {
        // The client left in the middle of its body.
        hf_release_upstream(cl, false);
        hf_end_exchange(cl, 0);
        cl->dead = true;
        return true;
      }
      return changed;
    }
    case S_QUEUE:
      // Not read while it waits (its body stays in the kernel); a hang-up ends the wait.
      if (cl->c.hangup) cl->dead = true;
      return false;
    case S_TUNNEL:
      return hf_tunnel(cl);
    case S_LINGER:
      if (hf_buf_len(&cl->c.out) > 0) return false;
      if (!cl->c.shut) {
        cl->c.shut = true;
        hf_shut_write(&cl->c);
        cl->phase_ms = hf_now_ms();  // the linger counts from the response's last byte out
      }
      hf_buf_consume(&cl->c.in, hf_buf_len(&cl->c.in));  // drained, not read
      if (cl->c.eof) cl->dead = true;
      return cl->c.eof;
    default:
      return false;
  }
}

/** Moves whatever can move for `cl` and its backend connection; frees it when it is done. */
void hf_drive(client_t* cl) {
  int turns = 0;
  for (; turns < TURNS_PER_EVENT && !cl->dead; turns++) {
    bool progress = false;
    int error = hf_flush_out(&cl->c);
    if (error != 0) {
      if (cl->up != NULL) hf_release_upstream(cl, false);
      hf_end_exchange(cl, 0);
      cl->dead = true;
      break;
    }
    upstream_t* up = cl->up;
    if (up != NULL && !up->connecting && (error = hf_flush_out(&up->c)) != 0) {
      up->c.eof = true;  // a write failed: as broken as a reset
      up->c.readable = false;
      hf_upstream_broke(cl);
      continue;
    }
    if (hf_wants_client_input(cl) && cl->c.readable && (error = hf_fill_in(&cl->c, &progress)) != 0) {
      if (cl->up != NULL) hf_release_upstream(cl, false);
      hf_end_exchange(cl, 0);
      cl->dead = true;
      break;
    }
    up = cl->up;
    if (up != NULL && hf_wants_upstream_input(cl) && up->c.readable && (error = hf_fill_in(&up->c, &progress)) != 0) {
      up->c.eof = true;
      up->c.readable = false;
      if (cl->state == S_TUNNEL) {
        hf_release_upstream(cl, false);
        hf_end_exchange(cl, 101);
        cl->dead = true;
        break;
      }
      hf_upstream_broke(cl);
      continue;
    }
    // Step until the buffers settle, then flush once: a response head and the body that came with it
    // (or a request head and its body) leave in one send, not a send each (one segment, one wake-up less).
    for (int steps = 0; steps < STEPS_PER_TURN && !cl->dead && hf_step(cl); steps++) progress = true;
    if (!progress) break;
  }
  if (cl->dead) {
    hf_client_free(cl);
    return;
  }
  if (turns == TURNS_PER_EVENT) {
    // Fairness: re-registering an edge-triggered socket reports it again on the next turn if still ready.
    hf_watch(&cl->c, EPOLL_CTL_MOD);
    if (cl->up != NULL && !cl->up->connecting) hf_watch(&cl->up->c, EPOLL_CTL_MOD);
  }
}

void hf_connect_done(client_t* cl) {
  upstream_t* up = cl->up;
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(up->c.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) {
    hf_connect_failed(cl, error);
    return;
  }
  up->connecting = false;
  if (cl->front->options.raw) {
    hf_tcp_open(cl);
    return;
  }
  cl->state = S_SEND;
  cl->phase_ms = hf_now_ms();
  cl->c.read_ms = cl->phase_ms;  // the body is wanted from now: its timeout counts from here
}
