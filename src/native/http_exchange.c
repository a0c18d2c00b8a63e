// One request through the native http front: the backends' keep-alive pools,
// starting it on the backend http_decide.c chose, the request head as
// the backend sees it, the body forwarded by its framing, and the answers the
// front gives itself (400, 502, 503, 504).

#include <arpa/inet.h>
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

const char* const hf_reasons[] = {
    "", "bad request", "no backend available", "", "the backend failed", "the backend sent an invalid response", "", "",
};

// ------------------------------------------------------------ backends and their pools

hf_backend_t* hf_backend_of(hf_front_t* front, int32_t slot) {
  return slot >= 0 && slot < front->backend_count && front->backends[slot].used ? &front->backends[slot] : NULL;
}

void hf_upstream_free(upstream_t* up) {
  hf_conn_close(&up->c);
  free(up);
}

void hf_pool_unlink(hf_backend_t* backend, upstream_t* up) {
  for (upstream_t** at = &backend->idle; *at != NULL; at = &(*at)->next_idle) {
    if (*at == up) {
      *at = up->next_idle;
      backend->idle_count--;
      return;
    }
  }
}

void hf_pool_close_all(hf_backend_t* backend) {
  while (backend->idle != NULL) {
    upstream_t* up = backend->idle;
    backend->idle = up->next_idle;
    hf_upstream_free(up);
  }
  backend->idle_count = 0;
}

void hf_backend_release(hf_backend_t* backend) {
  hf_pool_close_all(backend);
  free(backend->stats);
  backend->stats = NULL;
  backend->stats_count = 0;
}

/** A connection to `slot`: the most recently pooled one (the rest may expire), or a new connect. */
static upstream_t* hf_upstream_get(hf_front_t* front, int32_t slot, int* error) {
  hf_backend_t* backend = &front->backends[slot];
  if (backend->idle != NULL) {
    upstream_t* up = backend->idle;
    backend->idle = up->next_idle;
    backend->idle_count--;
    up->next_idle = NULL;
    up->reused = true;
    return up;
  }
  upstream_t* up = calloc(1, sizeof(*up));
  if (up == NULL) {
    *error = ENOMEM;
    return NULL;
  }
  up->c.kind = K_UPSTREAM;
  up->front = front;
  up->slot = slot;
  up->c.fd = socket(backend->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (up->c.fd < 0) {
    *error = errno;
    free(up);
    return NULL;
  }
  hf_no_delay(up->c.fd);
  if (hf_table_add(&up->c) < 0) {
    *error = ENOMEM;
    close(up->c.fd);
    free(up);
    return NULL;
  }
  if (connect(up->c.fd, (struct sockaddr*)&backend->address, backend->length) != 0 && errno != EINPROGRESS) {
    *error = errno;
    hf_upstream_free(up);
    return NULL;
  }
  // Edge-triggered: a connect that completed already is still reported once registered.
  if ((*error = hf_watch(&up->c, EPOLL_CTL_ADD)) != 0) {
    hf_upstream_free(up);
    return NULL;
  }
  up->connecting = true;
  return up;
}

// ------------------------------------------------------------ clients

void hf_client_free(client_t* cl) {
  hf_front_t* front = cl->front;
  if (cl->up != NULL) {
    hf_upstream_free(cl->up);
    cl->up = NULL;
  }
  if (cl->slot >= 0) hf_request_ended(front, cl->slot);
  if (cl->prev != NULL) cl->prev->next = cl->next;
  else front->clients = cl->next;
  if (cl->next != NULL) cl->next->prev = cl->prev;
  front->client_count--;
  hf_count_clients(front);
  hf_conn_close(&cl->c);
  free(cl->head);
  free(cl->h1);
  hp_head_free(&cl->req);
  hp_parser_free(&cl->parser);
  hp_parser_free(&cl->resp_parser);
  free(cl);
  if (front->closing && front->client_count == 0 && !front->closed_told) {
    front->closed_told = true;
    hf_emit(front, HF_EV_CLOSED, -1, 0);
  }
}

/** Ends the exchange's upstream side: back to the pool when it can carry another request, else closed. */
void hf_release_upstream(client_t* cl, bool reusable) {
  upstream_t* up = cl->up;
  if (up == NULL) return;
  cl->up = NULL;
  hf_backend_t* backend = hf_backend_of(cl->front, up->slot);
  if (reusable && backend != NULL && !backend->removed && !cl->front->closing && backend->idle_count < MAX_IDLE_PER_BACKEND &&
      hf_buf_len(&up->c.in) == 0 && hf_buf_len(&up->c.out) == 0 && !up->c.eof) {
    up->owner = NULL;
    up->next_idle = backend->idle;
    backend->idle = up;
    backend->idle_count++;
    return;
  }
  hf_upstream_free(up);
}

/** The backend's counters for `route`, grown to it on its first response; NULL when out of range or out of memory (then not counted). */
static hf_stats_t* route_stats(hf_backend_t* backend, int32_t route) {
  if (route < 0 || route >= HF_MAX_ROUTES) return NULL;
  if (route >= backend->stats_count) {
    hf_stats_t* stats = realloc(backend->stats, sizeof(*stats) * ((size_t)route + 1));
    if (stats == NULL) return NULL;
    memset(stats + backend->stats_count, 0, sizeof(*stats) * (size_t)(route + 1 - backend->stats_count));
    backend->stats = stats;
    backend->stats_count = route + 1;
  }
  return &backend->stats[route];
}

void hf_count_response(client_t* cl, int status) {
  hf_backend_t* backend = hf_backend_of(cl->front, cl->slot);
  if (backend == NULL || status < 100) return;
  cl->front->requests++;
  static const double LIMITS[HF_BUCKETS] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
  hf_stats_t* stats = route_stats(backend, cl->route);
  if (stats == NULL) return;
  int class = status / 100 - 1;
  if (class >= 0 && class < HF_STATUS_CLASSES) stats->classes[class]++;
  double ms = (double)(hf_now_ns() - cl->started_ns) / 1e6;
  for (int i = 0; i < HF_BUCKETS; i++) {
    if (ms <= LIMITS[i]) stats->buckets[i]++;
  }
  stats->sum_ms += ms;
  stats->count++;
}

/** The exchange is over (`status` sent, 0 if none): JavaScript releases the backend. */
void hf_end_exchange(client_t* cl, int status) {
  if (cl->slot >= 0) {
    if (!cl->counted) hf_count_response(cl, status);
    hf_request_ended(cl->front, cl->slot);
    cl->slot = -1;
  }
  cl->resp_head_done = false;
  cl->counted = false;
  free(cl->head);
  cl->head = NULL;
  // An idle connection holds no header array: the next head's grows again as it is parsed.
  hp_head_free(&cl->req);
  hp_parser_free(&cl->resp_parser);
}

/** After the last response: flush it, then shut down and drain (a close with unread input would reset it away). */
void hf_linger(client_t* cl) {
  cl->state = S_LINGER;
  cl->keep_alive = false;
  cl->phase_ms = hf_now_ms();
  hf_buf_consume(&cl->c.in, hf_buf_len(&cl->c.in));
}

/** Answers an error of the front's own (`text` after the status); cuts the connection when a response had begun. */
void hf_answer(client_t* cl, int status, int reason, const char* text) {
  if (cl->front->options.raw) {
    hf_tcp_refuse(cl, status, reason);
    return;
  }
  int32_t slot = cl->slot;
  hf_release_upstream(cl, false);
  if (cl->resp_head_done) {
    hf_end_exchange(cl, 0);
    cl->dead = true;
    return;
  }
  hf_emit(cl->front, HF_EV_ERROR, slot, status * 100 + reason);
  hf_end_exchange(cl, status);
  const char* title = hp_status_text(status);
  char body[320], head[256];
  int body_len = snprintf(body, sizeof(body), "%d %s: %s\n", status, title, text);
  if (body_len >= (int)sizeof(body)) body_len = sizeof(body) - 1;
  // The body was not read (or not all of it): the connection cannot carry another request.
  bool keep = cl->keep_alive && cl->req_done && status != 400 && !cl->front->closing;
  int head_len = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s\r\n", status, title,
                          body_len, keep ? (cl->http10 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n");
  if (!hf_buf_append(&cl->c.out, head, (size_t)head_len) || !hf_buf_append(&cl->c.out, body, (size_t)body_len)) {
    cl->dead = true;
    return;
  }
  if (keep) {
    cl->state = S_HEAD;
    cl->phase_ms = hf_now_ms();
  } else {
    hf_linger(cl);
  }
}

void hf_fail(client_t* cl, int status, int reason) {
  char text[96];
  if (reason == HF_R_TIMEOUT) snprintf(text, sizeof(text), "the backend sent no response within %ums", cl->front->options.timeouts_ms[HF_T_RESPONSE]);
  else snprintf(text, sizeof(text), "%s", hf_reasons[reason]);
  hf_answer(cl, status, reason, text);
}

// ------------------------------------------------------------ the request

bool hf_is_hop_by_hop(const char* data, hp_span_t name) {
  return hp_hop_by_hop(hp_header_kind(data + name.off, name.len));
}

/** The host the request is for: the target's authority for absolute-form (RFC 9112 §3.2.2), else Host; len 0 if none. */
static hp_span_t request_host(const hp_head_t* h) {
  if (h->form == HP_FORM_ABSOLUTE) return h->authority;
  return h->host >= 0 ? h->values[h->host] : (hp_span_t){0, 0};
}

/** "Host: <the backend's address>", as the JavaScript path sends it, for a request that came without one. */
static bool backend_host(client_t* cl, buf_t* out) {
  hf_backend_t* backend = hf_backend_of(cl->front, cl->slot);
  char address[INET6_ADDRSTRLEN] = "localhost", line[INET6_ADDRSTRLEN + 32];
  int port = 0;
  if (backend != NULL && backend->address.ss_family == AF_INET6) {
    const struct sockaddr_in6* a6 = (const struct sockaddr_in6*)&backend->address;
    inet_ntop(AF_INET6, &a6->sin6_addr, address, sizeof(address));
    port = ntohs(a6->sin6_port);
    snprintf(line, sizeof(line), "Host: [%s]:%d\r\n", address, port);
    return hf_buf_str(out, line);
  }
  if (backend != NULL && backend->address.ss_family == AF_INET) {
    const struct sockaddr_in* a4 = (const struct sockaddr_in*)&backend->address;
    inet_ntop(AF_INET, &a4->sin_addr, address, sizeof(address));
    port = ntohs(a4->sin_port);
  }
  snprintf(line, sizeof(line), port > 0 ? "Host: %s:%d\r\n" : "Host: %s\r\n", address, port);
  return hf_buf_str(out, line);
}

bool hf_append_header(buf_t* out, const char* data, hp_span_t name, hp_span_t value) {
  return hf_buf_append(out, data + name.off, name.len) && hf_buf_append(out, ": ", 2) && hf_buf_append(out, data + value.off, value.len) &&
         hf_buf_append(out, "\r\n", 2);
}

/**
 * The request head as the backend sees it (http-headers.ts's rules), into
 * `out`: the path the route chose, hop-by-hop headers dropped (Upgrade
 * kept for an upgrade); from a trusted peer (--forwarded-allow-ips) the
 * X-Forwarded-For headers joined and the client's address appended,
 * X-Forwarded-Proto and -Host kept if that proxy set them; from any other
 * peer, theirs dropped and all three set from what the front saw.
 */
static bool hf_build_request(client_t* cl, const hp_head_t* h, const char* path, size_t path_len, buf_t* out) {
  const char* d = cl->head;
  // HTTP/1.1 to the backend, an HTTP/1.0 client's request too (nginx's proxy_http_version 1.1): its connection then
  // returns to the pool (a 1.0 request is answered with a close by many servers, node's among them); a chunked answer
  // is decoded for the 1.0 client (http_relay.c). Origin-form always (absolute-form's "http://host?q" becomes "/?q").
  bool ok = hf_buf_append(out, d + h->method.off, h->method.len) && hf_buf_append(out, " ", 1) &&
            (path_len > 0 && path[0] != '?' ? true : hf_buf_append(out, "/", 1)) && hf_buf_append(out, path, path_len) &&
            hf_buf_str(out, " HTTP/1.1\r\n");
  hp_span_t host = request_host(h);
  if (h->form == HP_FORM_ABSOLUTE) ok = ok && hf_buf_str(out, "Host: ") && hf_buf_append(out, d + host.off, host.len) && hf_buf_str(out, "\r\n");
  else if (h->host < 0) ok = ok && backend_host(cl, out);  // a 1.0 client may send none; 1.1 needs one
  bool listed = false;
  for (uint32_t i = 0; i < h->count; i++) {
    if (hp_span_is(d, h->names[i], "connection")) listed = true;
  }
  int proto = -1, fhost = -1;
  for (uint32_t i = 0; i < h->count && ok; i++) {
    hp_span_t name = h->names[i];
    hp_header_t kind = hp_header_kind(d + name.off, name.len);
    if (kind == HP_H_X_FORWARDED_FOR) continue;  // written below, joined
    if (kind == HP_H_X_FORWARDED_PROTO) {
      if (proto < 0) proto = (int)i;
      continue;
    }
    if (kind == HP_H_X_FORWARDED_HOST) {
      if (fhost < 0) fhost = (int)i;
      continue;
    }
    if (kind == HP_H_HOST && h->form == HP_FORM_ABSOLUTE) continue;  // the target's authority replaces it, written above
    bool kept_upgrade = cl->upgrade && kind == HP_H_UPGRADE;
    if (!kept_upgrade && (hp_hop_by_hop(kind) || (listed && hp_connection_lists(d, h, name)))) continue;
    ok = hf_append_header(out, d, name, h->values[i]);
  }
  if (cl->upgrade) ok = ok && hf_buf_str(out, "Connection: upgrade\r\n");
  // From a peer not in --forwarded-allow-ips, the client's own X-Forwarded-* are dropped: the front says what it saw.
  if (!cl->trusted) proto = fhost = -1;
  ok = ok && hf_buf_str(out, "X-Forwarded-For: ");
  for (uint32_t i = 0; i < h->count && ok && cl->trusted; i++) {
    if (hp_span_is(d, h->names[i], "x-forwarded-for")) ok = hf_buf_append(out, d + h->values[i].off, h->values[i].len) && hf_buf_str(out, ", ");
  }
  ok = ok && hf_buf_str(out, cl->address) && hf_buf_str(out, "\r\nX-Forwarded-Proto: ");
  ok = ok && (proto >= 0 ? hf_buf_append(out, d + h->values[proto].off, h->values[proto].len) : hf_buf_str(out, cl->c.tls != NULL ? "https" : "http"));
  ok = ok && hf_buf_str(out, "\r\n");
  if (fhost >= 0) host = h->values[fhost];
  if (ok && (fhost >= 0 || h->host >= 0 || h->form == HP_FORM_ABSOLUTE)) {
    ok = hf_buf_str(out, "X-Forwarded-Host: ") && hf_buf_append(out, d + host.off, host.len) && hf_buf_str(out, "\r\n");
  }
  return ok && hf_buf_str(out, "\r\n");
}

/** Starts the request on backend `slot` (acquired) for `route`; false when the connect failed at once (cl->last_error says why). */
bool hf_start(client_t* cl, int32_t slot, int32_t route, const char* path, size_t path_len) {
  hf_front_t* front = cl->front;
  hp_head_t* h = &cl->req;
  if (path == NULL) {
    path = cl->head + h->path.off;
    path_len = h->path.len;
  }
  hp_parser_init(&cl->resp_parser, true, cl->head_method, HP_MAX_RESPONSE_HEAD);
  cl->slot = slot;
  cl->route = route;
  cl->resp_head_done = false;
  int error = 0;
  upstream_t* up = hf_upstream_get(front, slot, &error);
  if (up == NULL || (!front->options.raw && !hf_build_request(cl, h, path, path_len, &up->c.out))) {
    if (up != NULL || error == 0) error = ENOMEM;
    if (up != NULL) hf_upstream_free(up);
    // Refused at once: the same as a connect that fails later (the caller records it: hf_attempt_failed).
    cl->slot = -1;
    cl->last_error = error;
    return false;
  }
  up->owner = cl;
  cl->up = up;
  cl->state = up->connecting ? S_CONNECT : S_SEND;
  if (!up->connecting) up->c.writable = true;
  cl->phase_ms = hf_now_ms();
  if (!up->connecting && front->options.raw) hf_tcp_open(cl);
  return true;
}

void hf_request_target(client_t* cl, const char** host, size_t* host_len, const char** path, size_t* path_len) {
  if (cl->front->options.raw) {
    // No request to route by: the front's one app.
    *host = NULL;
    *host_len = 0;
    *path = "/";
    *path_len = 1;
    return;
  }
  const hp_head_t* h = &cl->req;
  hp_span_t host_span = request_host(h);
  *host = cl->head + host_span.off;
  *host_len = host_span.len;
  *path = h->path.len > 0 ? cl->head + h->path.off : "/";  // "http://host" asks for "/"
  *path_len = h->path.len > 0 ? h->path.len : 1;
}

/** The connect to the chosen backend failed (`error`; ETIMEDOUT after the connect timeout): the next one. */
void hf_connect_failed(client_t* cl, int error) {
  upstream_t* up = cl->up;
  cl->up = NULL;
  if (up != NULL) hf_upstream_free(up);
  int32_t slot = cl->slot;
  cl->slot = -1;
  hf_attempt_failed(cl, slot, error);
  hf_attempt(cl);
}

/** A request head is complete in the client's buffer (`len` bytes): set the exchange up and route it. */
void hf_begin(client_t* cl, uint32_t len) {
  const char* d = cl->c.in.data + cl->c.in.start;
  // The head is the exchange's now (its spans point into the copy below); the parser is ready for the next one.
  hp_head_free(&cl->req);
  cl->req = hp_parser_take(&cl->parser);
  hp_parser_init(&cl->parser, false, false, cl->front->options.max_head);
  const hp_head_t* h = &cl->req;
  cl->http10 = h->minor == 0;
  cl->keep_alive = !cl->front->closing && (cl->http10 ? h->conn_keep_alive && !h->conn_close : !h->conn_close);
  cl->head_method = hp_span_is(d, h->method, "head");
  cl->upgrade = h->upgrade >= 0 && h->conn_upgrade;
  cl->idempotent = cl->head_method || hp_span_is(d, h->method, "get") || hp_span_is(d, h->method, "options") ||
                   hp_span_is(d, h->method, "trace") || hp_span_is(d, h->method, "put") || hp_span_is(d, h->method, "delete");
  cl->req_body = h->body;
  cl->req_left = h->length;
  memset(&cl->req_chunked, 0, sizeof(cl->req_chunked));
  cl->req_done = h->body == HP_BODY_NONE;
  if (h->body == HP_BODY_CHUNKED) {
    // What already came of a chunked body must frame well, or nothing of it is forwarded.
    hp_chunked_t probe = cl->req_chunked;
    if (hp_chunked_feed(&probe, d + len, hf_buf_len(&cl->c.in) - len) < 0) {
      hf_fail(cl, 400, HF_R_BAD_REQUEST);
      return;
    }
  }
  free(cl->head);
  cl->head = malloc(len);
  if (cl->head == NULL) {
    cl->dead = true;
    return;
  }
  memcpy(cl->head, d, len);
  cl->head_len = len;
  cl->head_ms = 0;
  hf_buf_consume(&cl->c.in, len);
  cl->failed_count = 0;
  cl->verdict = false;
  cl->last_error = 0;
  cl->stale_retries = 0;
  cl->resends = 0;
  cl->status = 0;
  cl->started_ns = hf_now_ns();
  hf_attempt(cl);
}

/** Moves body bytes from the client to the backend, as far as the framing and the backend's queue allow. */
bool hf_send_body(client_t* cl) {
  upstream_t* up = cl->up;
  uint32_t avail = hf_buf_len(&cl->c.in);
  if (cl->req_done || avail == 0 || hf_buf_len(&up->c.out) >= HIGH_WATER) return false;
  const char* data = cl->c.in.data + cl->c.in.start;
  uint32_t take;
  if (cl->req_body == HP_BODY_LENGTH) {
    take = cl->req_left < avail ? (uint32_t)cl->req_left : avail;
    cl->req_left -= take;
    cl->req_done = cl->req_left == 0;
  } else {
    long n = hp_chunked_feed(&cl->req_chunked, data, avail);
    if (n < 0) {
      hf_fail(cl, 400, HF_R_BAD_REQUEST);  // the backend gets a truncated request, which it drops
      return true;
    }
    take = (uint32_t)n;
    cl->req_done = cl->req_chunked.done;
  }
  if (!hf_buf_append(&up->c.out, data, take)) {
    cl->dead = true;
    return true;
  }
  hf_buf_consume(&cl->c.in, take);
  if (cl->req_done) cl->phase_ms = hf_now_ms();  // the response timeout counts from the end of the upload
  return true;
}
