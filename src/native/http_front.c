// The http front's data path in C (Linux): accepts clients, frames their
// HTTP/1.x requests (http_parse.c), asks JavaScript once per request which
// backend takes it (the pick hook), and forwards the request over a
// keep-alive pool of connections per backend, then the response back. No
// JavaScript per chunk, no JavaScript per connection; what JavaScript learns
// of the requests' ends comes in one batched call per turn of the loop.
//
// The rules are the JavaScript front's (http-proxy.ts):
// - a request whose backend refuses the connection (or does not accept within
//   the connect timeout) goes to the next one, body included: the body is
//   read from the client only once a backend has accepted;
// - a request sent on a pooled connection the backend had closed meanwhile is
//   sent again on a new one when that is safe (idempotent, no body);
// - 502 when no backend works, 504 when the response head does not come
//   within the response timeout (from the end of the upload); the bodies name
//   no internal address;
// - hop-by-hop headers stay on their hop, X-Forwarded-For/-Proto/-Host are
//   added as http-headers.ts does;
// - Upgrade: on a connection of its own, piped both ways after a 101;
// - closing: no new connection, idle ones end, busy ones end after their
//   response, with "Connection: close" on it.
// Framing is strict (http_parse.h): an ambiguous request is answered 400
// before any byte of it reaches a backend.
//
// Sockets are registered edge-triggered in an epoll set of our own (not the
// tunnel's), polled by node's loop through one uv_poll handle; events carry
// the connection's id and a generation, so that a stale event of a closed
// connection whose id was reused is dropped.

#define _GNU_SOURCE  // accept4
#include "http_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "http_parse.h"
#include "id_table.h"

#define MAX_EVENTS 256
#define MAX_HEAD (32 * 1024)            // a request head beyond this is a 400 (nginx: 1k + 4×8k)
#define MAX_RESPONSE_HEAD (64 * 1024)   // a response head beyond this is a 502
#define READ_SIZE (16 * 1024)
#define HIGH_WATER (256 * 1024)         // bytes queued for a side before its source is no longer read
#define MAX_TRIES 16                    // connect attempts of one request
#define MAX_STALE_RETRIES 2
#define MAX_IDLE_PER_BACKEND 128
#define TURNS_PER_EVENT 64              // fairness: then the connection waits for the loop's next turn
#define KEEP_ALIVE_TIMEOUT_MS 5000      // an idle client connection (node's server default)
#define HEADERS_TIMEOUT_MS 60000        // a request head started but not finished (node's default)
#define LINGER_MS 2000                  // after a final response: how long the client may still send

enum kind { K_LISTEN, K_CLIENT, K_UPSTREAM };

/** Client states: the exchange in progress. */
enum state {
  S_HEAD,     // waiting for a request head
  S_ROUTE,    // the pick hook runs (the client must not be freed under it)
  S_QUEUE,    // no backend in rotation: waiting for hf_resume or hf_respond
  S_CONNECT,  // connecting to the chosen backend
  S_SEND,     // head sent or queued; the body flows
  S_TUNNEL,   // after a 101: bytes both ways
  S_LINGER,   // the last response queued: flush, shut down, drain what the client still sends
};

typedef struct buf {
  char* data;
  uint32_t start, end, cap;
} buf_t;

typedef struct conn {
  int fd;
  int32_t id;
  uint32_t generation;
  uint8_t kind;
  bool readable, writable, eof, shut, hangup;
  buf_t in, out;
} conn_t;

typedef struct hf_backend hf_backend_t;
typedef struct client client_t;

typedef struct upstream {
  conn_t c;
  hf_front_t* front;
  int32_t slot;
  client_t* owner;  // NULL while idle in the pool
  struct upstream* next_idle;
  bool connecting, reused;
} upstream_t;

struct client {
  conn_t c;
  hf_front_t* front;
  client_t *prev, *next;
  enum state state;
  upstream_t* up;
  int32_t slot;  // of the exchange in progress, -1 if none
  // the request
  char* head;  // its head as the client sent it, kept for a retry
  uint32_t head_len;
  hp_body_t req_body;
  uint64_t req_left;
  hp_chunked_t req_chunked;
  bool req_done, keep_alive, http10, head_method, upgrade, idempotent;
  // the response
  bool resp_head_done;
  hp_body_t resp_body;
  uint64_t resp_left;
  hp_chunked_t resp_chunked;
  int status;
  int32_t failed[MAX_TRIES];
  int failed_count, last_error, stale_retries;
  uint64_t started_ns, phase_ms;
  char address[INET6_ADDRSTRLEN];
  bool counted;  // the response is in the counters already (a 101, counted when it came)
  bool dead;
};

struct hf_backend {
  bool used, removed;
  struct sockaddr_storage address;
  socklen_t length;
  upstream_t* idle;
  int idle_count;
  hf_stats_t stats;
};

struct hf_front {
  conn_t listen;
  int32_t index;
  void* owner;
  hf_options_t options;
  hf_backend_t* backends;
  int32_t backend_count;
  client_t* clients;
  uint32_t client_count;
  bool closing, closed_told;
  hf_front_t* next;
};

static hf_hooks_t g_hooks;
static uv_loop_t* g_loop;
static int g_epoll = -1;
static uv_poll_t g_poll;
static uv_timer_t g_timer;
static uint32_t g_generation;
static int32_t g_live;  // listeners and connections: while there are any, they keep node's loop alive
static hf_front_t* g_fronts;
static hp_head_t g_head;  // scratch: one head is parsed at a time

static id_table_t g_conns = {NULL, NULL, -1, 0};  // connections by id

// Batched event records.
static int32_t* g_events;
static size_t g_event_count, g_event_cap;

static const char* const REASONS[] = {
    "", "bad request", "no backend available", "", "the backend failed", "the backend sent an invalid response", "",
};

// ------------------------------------------------------------ small things

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void live(int delta) {
  int32_t before = g_live;
  g_live += delta;
  if (before == 0 && g_live > 0) uv_ref((uv_handle_t*)&g_poll);
  if (before > 0 && g_live == 0) uv_unref((uv_handle_t*)&g_poll);
}

static void emit(hf_front_t* front, int32_t type, int32_t slot, int32_t detail) {
  if (g_event_count + 4 > g_event_cap) {
    size_t cap = g_event_cap == 0 ? 256 : g_event_cap * 2;
    int32_t* events = realloc(g_events, cap * sizeof(*events));
    if (events == NULL) return;  // out of memory: a release is lost, the registry over-counts; nothing unsafe
    g_events = events;
    g_event_cap = cap;
  }
  int32_t* record = g_events + g_event_count;
  record[0] = front->index;
  record[1] = type;
  record[2] = slot;
  record[3] = detail;
  g_event_count += 4;
}

static void flush_events(void) {
  if (g_hooks.events == NULL) {
    g_event_count = 0;  // shutting down: nobody to tell
    return;
  }
  size_t count = g_event_count / 4;
  g_event_count = 0;
  g_hooks.events(g_events, count);  // count 0: the binding still runs microtasks queued by picks
}

static bool buf_reserve(buf_t* b, uint32_t want) {
  if (b->cap - b->end >= want) return true;
  if (b->start > 0) {
    memmove(b->data, b->data + b->start, b->end - b->start);
    b->end -= b->start;
    b->start = 0;
    if (b->cap - b->end >= want) return true;
  }
  uint32_t cap = b->cap == 0 ? 4096 : b->cap;
  while (cap - b->end < want) cap *= 2;
  char* data = realloc(b->data, cap);
  if (data == NULL) return false;
  b->data = data;
  b->cap = cap;
  return true;
}

static uint32_t buf_len(const buf_t* b) {
  return b->end - b->start;
}

static bool buf_append(buf_t* b, const char* data, size_t len) {
  if (!buf_reserve(b, (uint32_t)len)) return false;
  memcpy(b->data + b->end, data, len);
  b->end += (uint32_t)len;
  return true;
}

static bool buf_str(buf_t* b, const char* text) {
  return buf_append(b, text, strlen(text));
}

static void buf_consume(buf_t* b, uint32_t n) {
  b->start += n;
  if (b->start == b->end) b->start = b->end = 0;
}

static void buf_free(buf_t* b) {
  free(b->data);
  b->data = NULL;
  b->start = b->end = b->cap = 0;
}

// ------------------------------------------------------------ the id table

static int32_t table_add(conn_t* c) {
  int32_t id = id_table_add(&g_conns, c);
  if (id < 0) return -1;
  c->id = id;
  c->generation = ++g_generation;
  live(1);
  return id;
}

static void table_remove(conn_t* c) {
  id_table_remove(&g_conns, c->id);
  live(-1);
}

/** Registers `c` edge-triggered for both directions; the event carries its id and generation. */
static int watch(conn_t* c, int op) {
  struct epoll_event event;
  event.events = (c->kind == K_LISTEN ? EPOLLIN : EPOLLIN | EPOLLOUT | EPOLLRDHUP) | EPOLLET;
  event.data.u64 = ((uint64_t)c->generation << 32) | (uint32_t)c->id;
  return epoll_ctl(g_epoll, op, c->fd, &event) == 0 ? 0 : errno;
}

/** Closes `c`'s socket and frees its id and buffers (the struct is the caller's). */
static void conn_close(conn_t* c) {
  if (c->fd >= 0) close(c->fd);  // the last descriptor: that also takes it out of the epoll set
  c->fd = -1;
  table_remove(c);
  buf_free(&c->in);
  buf_free(&c->out);
}

static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/** Sends what `c` has queued; 0, or an errno. */
static int flush_out(conn_t* c) {
  while (buf_len(&c->out) > 0 && c->writable) {
    ssize_t sent = send(c->fd, c->out.data + c->out.start, buf_len(&c->out), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->writable = false;
        return 0;
      }
      return errno;
    }
    buf_consume(&c->out, (uint32_t)sent);
  }
  if (buf_len(&c->out) == 0 && c->out.cap > 4 * READ_SIZE) buf_free(&c->out);  // a big body went through: give the memory back
  return 0;
}

/** Reads what `c` has into its input buffer; *got: bytes read (or the end seen). 0, or an errno. */
static int fill_in(conn_t* c, bool* got) {
  while (c->readable && !c->eof) {
    if (!buf_reserve(&c->in, READ_SIZE)) return ENOMEM;
    uint32_t room = c->in.cap - c->in.end;
    ssize_t n = recv(c->fd, c->in.data + c->in.end, room, 0);
    if (n > 0) {
      c->in.end += (uint32_t)n;
      *got = true;
      // Drained: the next arrival is a new edge. After a hang-up, read on: the end itself gives no further edge.
      if ((uint32_t)n < room && !c->hangup) c->readable = false;
      return 0;
    }
    if (n == 0) {
      c->eof = true;
      *got = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->readable = false;
      return 0;
    }
    return errno;
  }
  return 0;
}

// ------------------------------------------------------------ backends and their pools

static hf_backend_t* backend_of(hf_front_t* front, int32_t slot) {
  return slot >= 0 && slot < front->backend_count && front->backends[slot].used ? &front->backends[slot] : NULL;
}

static void upstream_free(upstream_t* up) {
  conn_close(&up->c);
  free(up);
}

static void pool_unlink(hf_backend_t* backend, upstream_t* up) {
  for (upstream_t** at = &backend->idle; *at != NULL; at = &(*at)->next_idle) {
    if (*at == up) {
      *at = up->next_idle;
      backend->idle_count--;
      return;
    }
  }
}

static void pool_close_all(hf_backend_t* backend) {
  while (backend->idle != NULL) {
    upstream_t* up = backend->idle;
    backend->idle = up->next_idle;
    upstream_free(up);
  }
  backend->idle_count = 0;
}

/** A connection to `slot`: the most recently pooled one (the rest may expire), or a new connect. */
static upstream_t* upstream_get(hf_front_t* front, int32_t slot, int* error) {
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
  no_delay(up->c.fd);
  if (table_add(&up->c) < 0) {
    *error = ENOMEM;
    close(up->c.fd);
    free(up);
    return NULL;
  }
  if (connect(up->c.fd, (struct sockaddr*)&backend->address, backend->length) != 0 && errno != EINPROGRESS) {
    *error = errno;
    upstream_free(up);
    return NULL;
  }
  // Edge-triggered: a connect that completed already is still reported once registered.
  if ((*error = watch(&up->c, EPOLL_CTL_ADD)) != 0) {
    upstream_free(up);
    return NULL;
  }
  up->connecting = true;
  return up;
}

// ------------------------------------------------------------ clients

static void client_free(client_t* cl) {
  hf_front_t* front = cl->front;
  if (cl->up != NULL) {
    upstream_free(cl->up);
    cl->up = NULL;
  }
  if (cl->slot >= 0) emit(front, HF_EV_DONE, cl->slot, 0);
  if (cl->state == S_QUEUE) emit(front, HF_EV_GONE, cl->c.id, (int32_t)cl->c.generation);
  if (cl->prev != NULL) cl->prev->next = cl->next;
  else front->clients = cl->next;
  if (cl->next != NULL) cl->next->prev = cl->prev;
  front->client_count--;
  conn_close(&cl->c);
  free(cl->head);
  free(cl);
  if (front->closing && front->client_count == 0 && !front->closed_told) {
    front->closed_told = true;
    emit(front, HF_EV_CLOSED, -1, 0);
  }
}

/** Ends the exchange's upstream side: back to the pool when it can carry another request, else closed. */
static void release_upstream(client_t* cl, bool reusable) {
  upstream_t* up = cl->up;
  if (up == NULL) return;
  cl->up = NULL;
  hf_backend_t* backend = backend_of(cl->front, up->slot);
  if (reusable && backend != NULL && !backend->removed && !cl->front->closing && backend->idle_count < MAX_IDLE_PER_BACKEND &&
      buf_len(&up->c.in) == 0 && buf_len(&up->c.out) == 0 && !up->c.eof) {
    up->owner = NULL;
    up->next_idle = backend->idle;
    backend->idle = up;
    backend->idle_count++;
    return;
  }
  upstream_free(up);
}

static void count_response(client_t* cl, int status) {
  hf_backend_t* backend = backend_of(cl->front, cl->slot);
  if (backend == NULL || status < 100) return;
  static const double LIMITS[HF_BUCKETS] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
  hf_stats_t* stats = &backend->stats;
  int class = status / 100 - 1;
  if (class >= 0 && class < HF_STATUS_CLASSES) stats->classes[class]++;
  double ms = (double)(now_ns() - cl->started_ns) / 1e6;
  for (int i = 0; i < HF_BUCKETS; i++) {
    if (ms <= LIMITS[i]) stats->buckets[i]++;
  }
  stats->sum_ms += ms;
  stats->count++;
}

/** The exchange is over (`status` sent, 0 if none): JavaScript releases the backend. */
static void end_exchange(client_t* cl, int status) {
  if (cl->slot >= 0) {
    if (!cl->counted) count_response(cl, status);
    emit(cl->front, HF_EV_DONE, cl->slot, status);
    cl->slot = -1;
  }
  cl->resp_head_done = false;
  cl->counted = false;
  free(cl->head);
  cl->head = NULL;
}

/** After the last response: flush it, then shut down and drain (a close with unread input would reset it away). */
static void linger(client_t* cl) {
  cl->state = S_LINGER;
  cl->keep_alive = false;
  cl->phase_ms = now_ms();
  buf_consume(&cl->c.in, buf_len(&cl->c.in));
}

/** Answers an error of the front's own (`text` after the status); cuts the connection when a response had begun. */
static void respond(client_t* cl, int status, int reason, const char* text) {
  int32_t slot = cl->slot;
  release_upstream(cl, false);
  if (cl->resp_head_done) {
    end_exchange(cl, 0);
    cl->dead = true;
    return;
  }
  emit(cl->front, HF_EV_ERROR, slot, status * 100 + reason);
  end_exchange(cl, status);
  const char* title = status == 400 ? "Bad Request" : status == 503 ? "Service Unavailable" : status == 504 ? "Gateway Timeout" : "Bad Gateway";
  char body[320], head[256];
  int body_len = snprintf(body, sizeof(body), "%d %s: %s\n", status, title, text);
  if (body_len >= (int)sizeof(body)) body_len = sizeof(body) - 1;
  // The body was not read (or not all of it): the connection cannot carry another request.
  bool keep = cl->keep_alive && cl->req_done && status != 400 && !cl->front->closing;
  int head_len = snprintf(head, sizeof(head),
                          "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s\r\n", status, title,
                          body_len, keep ? (cl->http10 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n");
  if (!buf_append(&cl->c.out, head, (size_t)head_len) || !buf_append(&cl->c.out, body, (size_t)body_len)) {
    cl->dead = true;
    return;
  }
  if (keep) {
    cl->state = S_HEAD;
    cl->phase_ms = now_ms();
  } else {
    linger(cl);
  }
}

static void fail(client_t* cl, int status, int reason) {
  char text[96];
  if (reason == HF_R_TIMEOUT) snprintf(text, sizeof(text), "the backend sent no response within %ums", cl->front->options.response_timeout_ms);
  else snprintf(text, sizeof(text), "%s", REASONS[reason]);
  respond(cl, status, reason, text);
}

// ------------------------------------------------------------ the request

static bool is_hop_by_hop(const char* data, hp_span_t name) {
  switch (name.len) {
    case 2:
      return hp_span_is(data, name, "te");
    case 7:
      return hp_span_is(data, name, "trailer") || hp_span_is(data, name, "upgrade");
    case 10:
      return hp_span_is(data, name, "connection") || hp_span_is(data, name, "keep-alive");
    case 16:
      return hp_span_is(data, name, "proxy-connection");
    default:
      return false;
  }
}

static bool append_header(buf_t* out, const char* data, hp_span_t name, hp_span_t value) {
  return buf_append(out, data + name.off, name.len) && buf_append(out, ": ", 2) && buf_append(out, data + value.off, value.len) &&
         buf_append(out, "\r\n", 2);
}

/**
 * The request head as the backend sees it (http-headers.ts's rules), into
 * `out`: the path the pick hook chose, hop-by-hop headers dropped (Upgrade
 * kept for an upgrade), the X-Forwarded-For headers joined and the client's
 * address appended, X-Forwarded-Proto and -Host set unless a proxy before
 * this one set them.
 */
static bool build_request(client_t* cl, const hp_head_t* h, const char* path, size_t path_len, buf_t* out) {
  const char* d = cl->head;
  // An HTTP/1.0 client's request goes as 1.0: the backend then answers without chunks, which 1.0 does not know.
  bool ok = buf_append(out, d + h->method.off, h->method.len) && buf_append(out, " ", 1) && buf_append(out, path, path_len) &&
            buf_str(out, cl->http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  bool listed = false;
  for (uint32_t i = 0; i < h->count; i++) {
    if (hp_span_is(d, h->names[i], "connection")) listed = true;
  }
  int proto = -1, fhost = -1;
  for (uint32_t i = 0; i < h->count && ok; i++) {
    hp_span_t name = h->names[i];
    if ((name.len == 15 || name.len == 16 || name.len == 17) && (d[name.off] | 0x20) == 'x') {
      if (hp_span_is(d, name, "x-forwarded-for")) continue;  // written below, joined
      if (hp_span_is(d, name, "x-forwarded-proto")) {
        if (proto < 0) proto = (int)i;
        continue;
      }
      if (hp_span_is(d, name, "x-forwarded-host")) {
        if (fhost < 0) fhost = (int)i;
        continue;
      }
    }
    bool kept_upgrade = cl->upgrade && hp_span_is(d, name, "upgrade");
    if (!kept_upgrade && (is_hop_by_hop(d, name) || (listed && hp_connection_lists(d, h, name)))) continue;
    ok = append_header(out, d, name, h->values[i]);
  }
  if (cl->upgrade) ok = ok && buf_str(out, "Connection: upgrade\r\n");
  ok = ok && buf_str(out, "X-Forwarded-For: ");
  for (uint32_t i = 0; i < h->count && ok; i++) {
    if (hp_span_is(d, h->names[i], "x-forwarded-for")) ok = buf_append(out, d + h->values[i].off, h->values[i].len) && buf_str(out, ", ");
  }
  ok = ok && buf_str(out, cl->address) && buf_str(out, "\r\nX-Forwarded-Proto: ");
  ok = ok && (proto >= 0 ? buf_append(out, d + h->values[proto].off, h->values[proto].len) : buf_str(out, "http"));
  ok = ok && buf_str(out, "\r\n");
  int host = fhost >= 0 ? fhost : h->host;
  if (ok && host >= 0) ok = buf_str(out, "X-Forwarded-Host: ") && buf_append(out, d + h->values[host].off, h->values[host].len) && buf_str(out, "\r\n");
  return ok && buf_str(out, "\r\n");
}

/** Starts the request on backend `slot` (acquired); false when the connect failed at once (recorded as failed). */
static bool start(client_t* cl, int32_t slot, const char* path, size_t path_len) {
  hf_front_t* front = cl->front;
  hp_head_t* h = &g_head;
  if (hp_parse_request(cl->head, cl->head_len, h) <= 0) return false;  // cannot happen: it parsed before
  if (path == NULL) {
    path = cl->head + h->target.off;
    path_len = h->target.len;
  }
  cl->slot = slot;
  cl->resp_head_done = false;
  int error = 0;
  upstream_t* up = upstream_get(front, slot, &error);
  if (up == NULL || !build_request(cl, h, path, path_len, &up->c.out)) {
    if (up != NULL || error == 0) error = ENOMEM;
    if (up != NULL) upstream_free(up);
    // Refused at once: the same as a connect that fails later.
    cl->slot = -1;  // the pick hook releases a failed attempt itself
    cl->failed[cl->failed_count++] = slot;
    cl->last_error = error;
    return false;
  }
  up->owner = cl;
  cl->up = up;
  cl->state = up->connecting ? S_CONNECT : S_SEND;
  if (!up->connecting) up->c.writable = true;
  cl->phase_ms = now_ms();
  return true;
}

/** Chooses a backend (the pick hook) and starts the request on it; tries the next one while connects fail at once. */
static void attempt(client_t* cl) {
  hf_front_t* front = cl->front;
  for (;;) {
    const char* reason = NULL;
    int status = 502;
    if (cl->failed_count == MAX_TRIES) {
      // Enough: the hook only learns of the last failure (no path: nothing to pick).
      g_hooks.pick(front->owner, cl->c.id, cl->c.generation, NULL, 0, NULL, 0, cl->failed, cl->failed_count, cl->last_error, NULL, NULL, &status, &reason);
      respond(cl, 502, HF_R_NO_BACKEND, "no backend accepted the connection");
      return;
    }
    hp_head_t* h = &g_head;
    if (hp_parse_request(cl->head, cl->head_len, h) <= 0) {
      fail(cl, 400, HF_R_BAD_REQUEST);  // cannot happen: it parsed before
      return;
    }
    const char* host = h->host >= 0 ? cl->head + h->values[h->host].off : "";
    size_t host_len = h->host >= 0 ? h->values[h->host].len : 0;
    const char* path = cl->head + h->target.off;
    size_t path_len = h->target.len;
    cl->state = S_ROUTE;
    int32_t slot = g_hooks.pick(front->owner, cl->c.id, cl->c.generation, host, host_len, path, path_len, cl->failed, cl->failed_count,
                                cl->last_error, &path, &path_len, &status, &reason);
    if (slot == HF_PICK_QUEUED) {
      cl->state = S_QUEUE;
      cl->phase_ms = now_ms();
      return;
    }
    if (slot < 0 || backend_of(front, slot) == NULL) {
      respond(cl, status, HF_R_NO_BACKEND, reason != NULL ? reason : REASONS[HF_R_NO_BACKEND]);
      return;
    }
    if (start(cl, slot, path, path_len)) return;
  }
}

/** The connect to the chosen backend failed (`error`; ETIMEDOUT after the connect timeout): the next one. */
static void connect_failed(client_t* cl, int error) {
  upstream_t* up = cl->up;
  cl->up = NULL;
  if (up != NULL) upstream_free(up);
  cl->failed[cl->failed_count++] = cl->slot;
  cl->last_error = error;
  cl->slot = -1;  // released by the pick hook, which learns of the failure
  attempt(cl);
}

/** A request head is complete in the client's buffer (`len` bytes): set the exchange up and route it. */
static void begin(client_t* cl, const hp_head_t* h, uint32_t len) {
  const char* d = cl->c.in.data + cl->c.in.start;
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
    if (hp_chunked_feed(&probe, d + len, buf_len(&cl->c.in) - len) < 0) {
      fail(cl, 400, HF_R_BAD_REQUEST);
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
  buf_consume(&cl->c.in, len);
  cl->failed_count = 0;
  cl->last_error = 0;
  cl->stale_retries = 0;
  cl->status = 0;
  cl->started_ns = now_ns();
  attempt(cl);
}

/** Moves body bytes from the client to the backend, as far as the framing and the backend's queue allow. */
static bool send_body(client_t* cl) {
  upstream_t* up = cl->up;
  uint32_t avail = buf_len(&cl->c.in);
  if (cl->req_done || avail == 0 || buf_len(&up->c.out) >= HIGH_WATER) return false;
  const char* data = cl->c.in.data + cl->c.in.start;
  uint32_t take;
  if (cl->req_body == HP_BODY_LENGTH) {
    take = cl->req_left < avail ? (uint32_t)cl->req_left : avail;
    cl->req_left -= take;
    cl->req_done = cl->req_left == 0;
  } else {
    long n = hp_chunked_feed(&cl->req_chunked, data, avail);
    if (n < 0) {
      fail(cl, 400, HF_R_BAD_REQUEST);  // the backend gets a truncated request, which it drops
      return true;
    }
    take = (uint32_t)n;
    cl->req_done = cl->req_chunked.done;
  }
  if (!buf_append(&up->c.out, data, take)) {
    cl->dead = true;
    return true;
  }
  buf_consume(&cl->c.in, take);
  if (cl->req_done) cl->phase_ms = now_ms();  // the response timeout counts from the end of the upload
  return true;
}

// ------------------------------------------------------------ the response

/** The response head for the client: hop-by-hop headers dropped, Connection as this hop needs. */
static bool build_response(client_t* cl, const char* d, const hp_head_t* h, uint32_t status_line_end, buf_t* out) {
  bool listed = false;
  for (uint32_t i = 0; i < h->count; i++) {
    if (hp_span_is(d, h->names[i], "connection")) listed = true;
  }
  bool ok = buf_str(out, "HTTP/1.1") && buf_append(out, d + 8, status_line_end - 8) && buf_str(out, "\r\n");
  for (uint32_t i = 0; i < h->count && ok; i++) {
    if (is_hop_by_hop(d, h->names[i])) continue;
    if (listed && hp_connection_lists(d, h, h->names[i])) continue;
    ok = append_header(out, d, h->names[i], h->values[i]);
  }
  if (!cl->keep_alive) ok = ok && buf_str(out, "Connection: close\r\n");
  else if (cl->http10) ok = ok && buf_str(out, "Connection: keep-alive\r\n");
  return ok && buf_str(out, "\r\n");
}

/** The response is complete: count it, pool the backend connection, ready the client for the next request. */
static void response_done(client_t* cl, bool backend_keeps) {
  release_upstream(cl, backend_keeps && cl->req_done);
  end_exchange(cl, cl->status);
  if (!cl->keep_alive || !cl->req_done || cl->c.eof) {
    linger(cl);
    return;
  }
  cl->state = S_HEAD;
  cl->phase_ms = now_ms();
}

/** The backend's side ended or failed before the response was complete. */
static void upstream_broke(client_t* cl) {
  upstream_t* up = cl->up;
  if (!cl->resp_head_done && buf_len(&up->c.in) == 0 && up->reused && cl->idempotent && cl->req_body == HP_BODY_NONE &&
      cl->stale_retries < MAX_STALE_RETRIES) {
    // A pooled connection the backend had closed: send the request again on a new one.
    cl->stale_retries++;
    release_upstream(cl, false);
    emit(cl->front, HF_EV_DONE, cl->slot, 0);
    cl->slot = -1;
    attempt(cl);
    return;
  }
  if (!cl->resp_head_done) {
    fail(cl, 502, HF_R_BACKEND_FAILED);
    return;
  }
  // Cut short: the client cannot get a whole response any more.
  release_upstream(cl, false);
  end_exchange(cl, 0);
  cl->dead = true;
}

/** Reads the response head and relays it and the body, as far as the client's queue allows. */
static bool relay_response(client_t* cl) {
  upstream_t* up = cl->up;
  if (!cl->resp_head_done) {
    uint32_t avail = buf_len(&up->c.in);
    if (avail == 0) return false;
    const char* d = up->c.in.data + up->c.in.start;
    hp_head_t* h = &g_head;
    int len = hp_parse_response(d, avail, cl->head_method, h);
    if (len == HP_INCOMPLETE) {
      if (avail >= MAX_RESPONSE_HEAD) fail(cl, 502, HF_R_BAD_RESPONSE);
      return avail >= MAX_RESPONSE_HEAD;
    }
    if (len < 0 || (h->status == 101 && !cl->upgrade)) {
      fail(cl, 502, HF_R_BAD_RESPONSE);
      return true;
    }
    if (h->status == 101) {
      // Switching protocols: the head as the backend sent it, then bytes both ways.
      if (!buf_append(&cl->c.out, d, (size_t)len)) cl->dead = true;
      buf_consume(&up->c.in, (uint32_t)len);
      cl->status = 101;
      cl->resp_head_done = true;
      cl->state = S_TUNNEL;
      count_response(cl, 101);  // now: its latency is the handshake's, not the tunnel's life
      cl->counted = true;
      return true;
    }
    if (h->status < 200) {
      // Interim (100 Continue, 103): passed on, unless the client speaks 1.0, which knows none.
      if (!cl->http10 && !buf_append(&cl->c.out, d, (size_t)len)) cl->dead = true;
      buf_consume(&up->c.in, (uint32_t)len);
      return true;
    }
    const char* line_end = memchr(d, '\r', (size_t)len);
    bool backend_closes = h->conn_close || (h->minor == 0 && !h->conn_keep_alive);
    // A body delimited by the end of the connection, or a declined upgrade: this connection ends after it.
    if (h->body == HP_BODY_UNTIL_CLOSE || cl->upgrade || cl->front->closing) cl->keep_alive = false;
    if (!build_response(cl, d, h, (uint32_t)(line_end - d), &cl->c.out)) {
      cl->dead = true;
      return true;
    }
    cl->status = h->status;
    cl->resp_head_done = true;
    cl->resp_body = h->body;
    cl->resp_left = h->length;
    memset(&cl->resp_chunked, 0, sizeof(cl->resp_chunked));
    buf_consume(&up->c.in, (uint32_t)len);
    up->reused = !backend_closes;  // from here on: whether the connection may be pooled again
    if (h->body == HP_BODY_NONE) response_done(cl, !backend_closes);
    return true;
  }
  uint32_t avail = buf_len(&up->c.in);
  if (avail == 0 || buf_len(&cl->c.out) >= HIGH_WATER) return false;
  const char* d = up->c.in.data + up->c.in.start;
  uint32_t take = avail;
  bool done = false;
  if (cl->resp_body == HP_BODY_LENGTH) {
    if (cl->resp_left < take) take = (uint32_t)cl->resp_left;
    cl->resp_left -= take;
    done = cl->resp_left == 0;
  } else if (cl->resp_body == HP_BODY_CHUNKED) {
    long n = hp_chunked_feed(&cl->resp_chunked, d, avail);
    if (n < 0) {
      release_upstream(cl, false);
      end_exchange(cl, 0);
      cl->dead = true;
      return true;
    }
    take = (uint32_t)n;
    done = cl->resp_chunked.done;
  }
  if (!buf_append(&cl->c.out, d, take)) {
    cl->dead = true;
    return true;
  }
  buf_consume(&up->c.in, take);
  if (done) response_done(cl, up->reused);
  return true;
}

/** Upgraded: bytes both ways; an end is passed on as a shutdown; both ended, or an error, ends both. */
static bool tunnel(client_t* cl) {
  upstream_t* up = cl->up;
  bool moved = false;
  conn_t* sides[2] = {&cl->c, &up->c};
  for (int i = 0; i < 2; i++) {
    conn_t* from = sides[i];
    conn_t* to = sides[1 - i];
    uint32_t avail = buf_len(&from->in);
    if (avail > 0 && buf_len(&to->out) < HIGH_WATER) {
      if (!buf_append(&to->out, from->in.data + from->in.start, avail)) {
        cl->dead = true;
        return true;
      }
      buf_consume(&from->in, avail);
      moved = true;
    }
    if (from->eof && buf_len(&from->in) == 0 && buf_len(&to->out) == 0 && !to->shut) {
      to->shut = true;
      shutdown(to->fd, SHUT_WR);
      moved = true;
    }
  }
  if (cl->c.shut && up->c.shut) {
    release_upstream(cl, false);
    end_exchange(cl, 101);
    cl->dead = true;
    return true;
  }
  return moved;
}

// ------------------------------------------------------------ driving a client

static bool wants_client_input(const client_t* cl) {
  switch (cl->state) {
    case S_HEAD:
      return buf_len(&cl->c.in) < MAX_HEAD;
    case S_SEND:
      return !cl->req_done && buf_len(&cl->c.in) == 0 && buf_len(&cl->up->c.out) < HIGH_WATER;
    case S_TUNNEL:
      return buf_len(&cl->c.in) == 0 && buf_len(&cl->up->c.out) < HIGH_WATER;
    case S_LINGER:
      return true;
    default:
      return false;
  }
}

static bool wants_upstream_input(const client_t* cl) {
  return (cl->state == S_SEND || cl->state == S_TUNNEL) && buf_len(&cl->up->c.in) < MAX_RESPONSE_HEAD && buf_len(&cl->c.out) < HIGH_WATER;
}

/** One step of the exchange from what the buffers hold; whether anything changed. */
static bool step(client_t* cl) {
  switch (cl->state) {
    case S_HEAD: {
      uint32_t avail = buf_len(&cl->c.in);
      if (avail == 0) {
        if (cl->c.eof) cl->dead = true;
        return false;
      }
      int len = hp_parse_request(cl->c.in.data + cl->c.in.start, avail, &g_head);
      if (len == HP_INCOMPLETE) {
        if (avail >= MAX_HEAD) {
          fail(cl, 400, HF_R_BAD_REQUEST);
          return true;
        }
        if (cl->c.eof) cl->dead = true;
        return cl->c.eof;
      }
      if (len < 0) {
        fail(cl, 400, HF_R_BAD_REQUEST);
        return true;
      }
      begin(cl, &g_head, (uint32_t)len);
      return true;
    }
    case S_SEND: {
      bool changed = send_body(cl);
      if (cl->state != S_SEND || cl->dead) return true;
      if (relay_response(cl)) return true;
      if (cl->state != S_SEND || cl->dead) return true;
      if (cl->up->c.eof) {
        if (cl->resp_head_done && cl->resp_body == HP_BODY_UNTIL_CLOSE) response_done(cl, false);
        else upstream_broke(cl);
        return true;
      }
      if (cl->c.eof && !cl->req_done && buf_len(&cl->c.in) == 0) {
        // The client left in the middle of its body.
        release_upstream(cl, false);
        end_exchange(cl, 0);
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
      return tunnel(cl);
    case S_LINGER:
      if (buf_len(&cl->c.out) > 0) return false;
      if (!cl->c.shut) {
        cl->c.shut = true;
        shutdown(cl->c.fd, SHUT_WR);
      }
      buf_consume(&cl->c.in, buf_len(&cl->c.in));  // drained, not read
      if (cl->c.eof) cl->dead = true;
      return cl->c.eof;
    default:
      return false;
  }
}

/** Moves whatever can move for `cl` and its backend connection; frees it when it is done. */
static void drive(client_t* cl) {
  int turns = 0;
  for (; turns < TURNS_PER_EVENT && !cl->dead; turns++) {
    bool progress = false;
    int error = flush_out(&cl->c);
    if (error != 0) {
      if (cl->up != NULL) release_upstream(cl, false);
      end_exchange(cl, 0);
      cl->dead = true;
      break;
    }
    upstream_t* up = cl->up;
    if (up != NULL && !up->connecting && (error = flush_out(&up->c)) != 0) {
      up->c.eof = true;  // a write failed: as broken as a reset
      up->c.readable = false;
      upstream_broke(cl);
      continue;
    }
    if (wants_client_input(cl) && cl->c.readable && (error = fill_in(&cl->c, &progress)) != 0) {
      if (cl->up != NULL) release_upstream(cl, false);
      end_exchange(cl, 0);
      cl->dead = true;
      break;
    }
    up = cl->up;
    if (up != NULL && wants_upstream_input(cl) && up->c.readable && (error = fill_in(&up->c, &progress)) != 0) {
      up->c.eof = true;
      up->c.readable = false;
      if (cl->state == S_TUNNEL) {
        release_upstream(cl, false);
        end_exchange(cl, 101);
        cl->dead = true;
        break;
      }
      upstream_broke(cl);
      continue;
    }
    if (step(cl)) progress = true;
    if (!progress) break;
  }
  if (cl->dead) {
    client_free(cl);
    return;
  }
  if (turns == TURNS_PER_EVENT) {
    // Fairness: re-registering an edge-triggered socket reports it again on the next turn if still ready.
    watch(&cl->c, EPOLL_CTL_MOD);
    if (cl->up != NULL && !cl->up->connecting) watch(&cl->up->c, EPOLL_CTL_MOD);
  }
}

static void connect_done(client_t* cl) {
  upstream_t* up = cl->up;
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(up->c.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) {
    connect_failed(cl, error);
    return;
  }
  up->connecting = false;
  cl->state = S_SEND;
  cl->phase_ms = now_ms();
}

// ------------------------------------------------------------ accepting

static void accept_clients(hf_front_t* front) {
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    int fd = accept4(front->listen.fd, (struct sockaddr*)&address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: all taken; EMFILE and the like: the next connection tries again
    }
    client_t* cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
      close(fd);
      continue;
    }
    cl->c.fd = fd;
    cl->c.kind = K_CLIENT;
    cl->front = front;
    cl->slot = -1;
    if (table_add(&cl->c) < 0) {
      close(fd);
      free(cl);
      continue;
    }
    if (watch(&cl->c, EPOLL_CTL_ADD) != 0) {
      conn_close(&cl->c);
      free(cl);
      continue;
    }
    no_delay(fd);
    if (address.ss_family == AF_INET6) {
      struct in6_addr* a6 = &((struct sockaddr_in6*)&address)->sin6_addr;
      if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, &a6->s6_addr[12], cl->address, sizeof(cl->address));
      else inet_ntop(AF_INET6, a6, cl->address, sizeof(cl->address));
    } else {
      inet_ntop(AF_INET, &((struct sockaddr_in*)&address)->sin_addr, cl->address, sizeof(cl->address));
    }
    cl->next = front->clients;
    if (front->clients != NULL) front->clients->prev = cl;
    front->clients = cl;
    front->client_count++;
    cl->phase_ms = now_ms();
    // The request usually came with the connection: read it without waiting for epoll.
    cl->c.readable = true;
    cl->c.writable = true;
    drive(cl);
  }
  watch(&front->listen, EPOLL_CTL_MOD);  // more may be waiting: report the listener again next turn
}

// ------------------------------------------------------------ events

static void on_event(uint64_t data, uint32_t events) {
  int32_t id = (int32_t)(data & 0xffffffffu);
  conn_t* c = id_table_get(&g_conns, id);
  if (c == NULL || c->generation != (uint32_t)(data >> 32)) return;  // stale: closed by an earlier event of this batch
  if (c->kind == K_LISTEN) {
    accept_clients((hf_front_t*)((char*)c - offsetof(hf_front_t, listen)));
    return;
  }
  if (events & (EPOLLERR | EPOLLHUP)) events |= EPOLLIN | EPOLLOUT;  // recv/send will say what
  if (events & (EPOLLIN | EPOLLRDHUP)) c->readable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->hangup = true;
  if (events & EPOLLOUT) c->writable = true;
  if (c->kind == K_CLIENT) {
    drive((client_t*)c);
    return;
  }
  upstream_t* up = (upstream_t*)c;
  if (up->owner == NULL) {
    // Idle in the pool: the backend closed it (or sent what nobody asked for).
    if (events & (EPOLLIN | EPOLLRDHUP)) {
      hf_backend_t* backend = backend_of(up->front, up->slot);
      if (backend != NULL) pool_unlink(backend, up);
      upstream_free(up);
    }
    return;
  }
  client_t* cl = up->owner;
  if (up->connecting) {
    if (!(events & EPOLLOUT)) return;
    connect_done(cl);
    if (cl->dead) {
      client_free(cl);
      return;
    }
  }
  drive(cl);
}

static void on_epoll(uv_poll_t* handle, int status, int events) {
  struct epoll_event ready[MAX_EVENTS];
  int count;
  do count = epoll_wait(g_epoll, ready, MAX_EVENTS, 0);
  while (count < 0 && errno == EINTR);
  for (int i = 0; i < count; i++) on_event(ready[i].data.u64, ready[i].events);
  flush_events();
}

/** The timeouts: connects, responses, idle and slow clients, lingering closes. */
static void on_timer(uv_timer_t* timer) {
  uint64_t now = now_ms();
  for (hf_front_t* front = g_fronts; front != NULL; front = front->next) {
    client_t* next;
    for (client_t* cl = front->clients; cl != NULL; cl = next) {
      next = cl->next;
      uint64_t elapsed = now - cl->phase_ms;
      bool acted = false;
      switch (cl->state) {
        case S_CONNECT:
          if ((acted = elapsed >= front->options.connect_timeout_ms)) connect_failed(cl, ETIMEDOUT);
          break;
        case S_SEND:
          acted = cl->req_done && !cl->resp_head_done && front->options.response_timeout_ms > 0 && elapsed >= front->options.response_timeout_ms;
          if (acted) fail(cl, 504, HF_R_TIMEOUT);
          break;
        case S_HEAD:
          if (elapsed >= (buf_len(&cl->c.in) == 0 ? KEEP_ALIVE_TIMEOUT_MS : HEADERS_TIMEOUT_MS)) cl->dead = true;
          break;
        case S_LINGER:
          if (elapsed >= LINGER_MS) cl->dead = true;
          break;
        default:
          break;
      }
      // A fresh 504 or retry may have queued output or started a connect: move it on.
      if (cl->dead) client_free(cl);
      else if (acted) drive(cl);
    }
  }
  flush_events();
}

// ------------------------------------------------------------ the interface (http_front.h)

int hf_init(uv_loop_t* loop, const hf_hooks_t* hooks) {
  if (g_epoll >= 0) return EEXIST;
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (g_epoll < 0) return errno;
  if (uv_poll_init(loop, &g_poll, g_epoll) != 0 || uv_poll_start(&g_poll, UV_READABLE, on_epoll) != 0) {
    close(g_epoll);
    g_epoll = -1;
    return EIO;
  }
  uv_unref((uv_handle_t*)&g_poll);  // referenced only while there are listeners or connections (live())
  uv_timer_init(loop, &g_timer);
  uv_unref((uv_handle_t*)&g_timer);
  g_loop = loop;
  g_hooks = *hooks;
  return 0;
}

/** The sweep's period: a quarter of the shortest timeout, 10 ms to 1 s. */
static void schedule_timer(void) {
  uint64_t period = 1000;
  for (hf_front_t* front = g_fronts; front != NULL; front = front->next) {
    uint64_t shortest = front->options.connect_timeout_ms;
    if (front->options.response_timeout_ms > 0 && front->options.response_timeout_ms < shortest) shortest = front->options.response_timeout_ms;
    if (shortest / 4 < period) period = shortest / 4;
  }
  if (period < 10) period = 10;
  uv_timer_start(&g_timer, on_timer, period, period);
}

hf_front_t* hf_listen(const struct sockaddr* address, socklen_t length, const hf_options_t* options, void* owner, int32_t id, int* error) {
  hf_front_t* front = calloc(1, sizeof(*front));
  if (front == NULL) {
    *error = ENOMEM;
    return NULL;
  }
  int one = 1;
  int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 || bind(fd, address, length) != 0 || listen(fd, 511) != 0) {
    *error = errno;
    if (fd >= 0) close(fd);
    free(front);
    return NULL;
  }
  front->listen.fd = fd;
  front->listen.kind = K_LISTEN;
  if (table_add(&front->listen) < 0) {
    *error = ENOMEM;
    close(fd);
    free(front);
    return NULL;
  }
  if ((*error = watch(&front->listen, EPOLL_CTL_ADD)) != 0) {
    conn_close(&front->listen);
    free(front);
    return NULL;
  }
  front->options = *options;
  front->owner = owner;
  front->index = id;
  front->next = g_fronts;
  g_fronts = front;
  schedule_timer();
  return front;
}

int32_t hf_id(const hf_front_t* front) {
  return front->index;
}

int hf_port(const hf_front_t* front) {
  struct sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (front->listen.fd < 0 || getsockname(front->listen.fd, (struct sockaddr*)&address, &length) != 0) return -1;
  return ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&address)->sin6_port : ((struct sockaddr_in*)&address)->sin_port);
}

int hf_backend_add(hf_front_t* front, int32_t slot, const struct sockaddr* address, socklen_t length) {
  if (slot < 0 || slot > 1 << 20 || length > sizeof(struct sockaddr_storage)) return EINVAL;
  if (slot >= front->backend_count) {
    int32_t count = front->backend_count == 0 ? 16 : front->backend_count;
    while (count <= slot) count *= 2;
    hf_backend_t* backends = realloc(front->backends, sizeof(*backends) * count);
    if (backends == NULL) return ENOMEM;
    memset(backends + front->backend_count, 0, sizeof(*backends) * (count - front->backend_count));
    front->backends = backends;
    front->backend_count = count;
  }
  hf_backend_t* backend = &front->backends[slot];
  bool same = backend->used && backend->length == length && memcmp(&backend->address, address, length) == 0;
  if (!same) {
    pool_close_all(backend);
    memset(backend, 0, sizeof(*backend));
    memcpy(&backend->address, address, length);
    backend->length = length;
  }
  backend->used = true;
  backend->removed = false;
  return 0;
}

void hf_backend_remove(hf_front_t* front, int32_t slot) {
  hf_backend_t* backend = backend_of(front, slot);
  if (backend == NULL) return;
  backend->removed = true;
  // Idle pooled connections would only keep the backend's server from closing.
  pool_close_all(backend);
}

int hf_backend_idle(const hf_front_t* front, int32_t slot) {
  return slot >= 0 && slot < front->backend_count ? front->backends[slot].idle_count : 0;
}

const hf_stats_t* hf_backend_stats(const hf_front_t* front, int32_t slot) {
  return slot >= 0 && slot < front->backend_count && front->backends[slot].used ? &front->backends[slot].stats : NULL;
}

/** The queued client `id`/`generation` of `front`, or NULL. */
static client_t* queued(hf_front_t* front, int32_t id, uint32_t generation) {
  conn_t* c = id_table_get(&g_conns, id);
  if (c == NULL || c->generation != generation || c->kind != K_CLIENT) return NULL;
  client_t* cl = (client_t*)c;
  return cl->front == front && cl->state == S_QUEUE ? cl : NULL;
}

int hf_resume(hf_front_t* front, int32_t id, uint32_t generation, int32_t slot, const char* path, size_t path_len) {
  client_t* cl = queued(front, id, generation);
  if (cl == NULL) return ENOENT;
  cl->state = S_ROUTE;
  if (backend_of(front, slot) == NULL) {
    emit(front, HF_EV_DONE, slot, 0);
    respond(cl, 502, HF_R_NO_BACKEND, REASONS[HF_R_NO_BACKEND]);
  } else if (!start(cl, slot, path, path_len)) {
    attempt(cl);
  }
  if (cl->dead) client_free(cl);
  else drive(cl);
  flush_events();
  return 0;
}

int hf_respond(hf_front_t* front, int32_t id, uint32_t generation, int status, const char* reason) {
  client_t* cl = queued(front, id, generation);
  if (cl == NULL) return ENOENT;
  cl->state = S_ROUTE;
  respond(cl, status, HF_R_NO_BACKEND, reason);
  if (cl->dead) client_free(cl);
  else drive(cl);
  flush_events();
  return 0;
}

void hf_close(hf_front_t* front) {
  if (front->closing) return;
  front->closing = true;
  if (front->listen.fd >= 0) conn_close(&front->listen);
  client_t* next;
  for (client_t* cl = front->clients; cl != NULL; cl = next) {
    next = cl->next;
    // Idle between requests: nothing to finish. Busy ones end after their response.
    if (cl->state == S_HEAD && buf_len(&cl->c.in) == 0) client_free(cl);
    else cl->keep_alive = false;
  }
  if (front->client_count == 0 && !front->closed_told) {
    front->closed_told = true;
    emit(front, HF_EV_CLOSED, -1, 0);
  }
  flush_events();
}

void hf_destroy(hf_front_t* front) {
  hf_close(front);
  while (front->clients != NULL) client_free(front->clients);
  for (int32_t i = 0; i < front->backend_count; i++) pool_close_all(&front->backends[i]);
  free(front->backends);
  for (hf_front_t** at = &g_fronts; *at != NULL; at = &(*at)->next) {
    if (*at == front) {
      *at = front->next;
      break;
    }
  }
  if (g_fronts == NULL) uv_timer_stop(&g_timer);
  else schedule_timer();
  flush_events();
  free(front);
}

static void free_handle(uv_handle_t* handle) {
  (void)handle;  // static handles: nothing to free
}

void hf_shutdown(void) {
  if (g_epoll < 0) return;
  g_hooks.events = NULL;
  while (g_fronts != NULL) hf_destroy(g_fronts);
  uv_close((uv_handle_t*)&g_poll, free_handle);
  uv_close((uv_handle_t*)&g_timer, free_handle);
  close(g_epoll);
  g_epoll = -1;
  id_table_release(&g_conns);
  free(g_events);
  g_events = NULL;
  g_event_count = g_event_cap = 0;
  g_live = 0;
}
