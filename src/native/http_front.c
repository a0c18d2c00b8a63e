// The http front's data path in C (Linux): accepts clients, frames their
// HTTP/1.x requests (http_parse.c), decides which backend takes each one from
// the snapshot JavaScript published (http_decide.c), and forwards the request
// over a keep-alive pool of connections per backend, then the response back.
// No JavaScript per request, per chunk or per connection: what JavaScript
// must act on (drains, --max-requests, failed connects, errors answered)
// comes in one batched call per turn of the loop.
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
// - closing: no new connection, queued requests get 502, idle ones end, busy
//   ones end after their response, with "Connection: close" on it.
// Framing is strict (http_parse.h): an ambiguous request is answered 400
// before any byte of it reaches a backend.
//
// Sockets are registered edge-triggered in an epoll set of our own (not the
// tunnel's), polled by node's loop through one uv_poll handle; events carry
// the connection's id and a generation, so that a stale event of a closed
// connection whose id was reused is dropped.
//
// Re-entry (what C may do while JavaScript runs, and the reverse). C calls
// JavaScript at one point only: the batch of events (hf_flush_events);
// hf_depth counts how deep C is in it. While it is above 0, C frames up the
// stack hold clients, fronts and the batch, so:
// - a call from JavaScript changes state only and frees nothing: hf_publish
//   (which retries the queued clients) and hf_close mark clients (answered,
//   dead, started) and hand them to the loop's next turn (hf_defer_drive)
//   instead of driving or freeing them (hf_kick);
// - hf_destroy stops the front at once (no listener, its batched events
//   dropped) and puts it in the graveyard; it is freed when the outermost
//   call returns to the loop (hf_reap, from hf_flush_events at depth 0),
//   never under a caller that still holds it;
// - events raised meanwhile stay in the batch: the outermost flush delivers
//   them (none inside another events call).
// Destroy is thus in three steps: stop (the listener closes, the front leaves
// the list the timer walks), drop its pending events WITHOUT calling
// JavaScript (JavaScript has let go of the front: its handle is dead, its
// number may name the next front), then free its clients, pools, backends
// and snapshot.
//
// Its files (http_internal.h lists what they share): http_io.c, http_decide.c, http_exchange.c,
// http_relay.c, and this one — accepting, the epoll and timer events, the
// interface of http_front.h.

#define _GNU_SOURCE  // accept4
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "fd_budget.h"
#include "http_internal.h"

hf_hooks_t hf_hooks;
int hf_epoll = -1;
uv_poll_t hf_poll;
uv_timer_t hf_timer;
uint32_t hf_generation;
int32_t hf_alive;
hf_front_t* hf_fronts;
int32_t hf_depth;
static hf_front_t* graveyard;  // destroyed, not yet freed (see the re-entry rules above)

// ------------------------------------------------------------ accepting

bool hf_peer_trusted(const hf_options_t* options, const struct sockaddr_storage* address) {
  if (options->trust_all) return true;
  uint8_t bytes[16] = {0};
  if (address->ss_family == AF_INET6) {
    memcpy(bytes, &((const struct sockaddr_in6*)address)->sin6_addr, 16);
  } else if (address->ss_family == AF_INET) {
    bytes[10] = bytes[11] = 0xff;  // as core/edge.ts has it: IPv4 mapped
    memcpy(bytes + 12, &((const struct sockaddr_in*)address)->sin_addr, 4);
  } else {
    return false;
  }
  for (uint32_t i = 0; i < options->trusted_count; i++) {
    const uint8_t* range = options->trusted + (size_t)i * 17;
    uint32_t bits = range[16], whole = bits / 8, rest = bits % 8;
    if (whole > 16 || memcmp(range, bytes, whole) != 0) continue;
    if (rest == 0 || whole == 16) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    if ((range[whole] & mask) == (bytes[whole] & mask)) return true;
  }
  return false;
}

/** The descriptors the fronts may hold (fd_budget.h): read once per listen (the supervisor raised the soft limit at start). */
static int64_t fd_budget = INT64_MAX;

/** Stops accepting for ACCEPT_PAUSE_MS (out of descriptors, or at the budget): what waits stays in the backlog. */
static void pause_accepting(hf_front_t* front) {
  front->accept_paused = true;
  front->paused_until = hf_now_ms() + ACCEPT_PAUSE_MS;
}

static void accept_clients(hf_front_t* front) {
  if (front->accept_paused || front->listen.fd < 0) return;
  for (int i = 0; i < 64; i++) {
    // Two descriptors per client (its own and its backend's).
    if (hf_alive + 2 > fd_budget) {
      pause_accepting(front);
      return;
    }
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    int fd = accept4(front->listen.fd, (struct sockaddr*)&address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting(front);
      return;  // EAGAIN: all taken
    }
    client_t* cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
      close(fd);
      continue;
    }
    cl->c.fd = fd;
    cl->c.kind = K_CLIENT;
    hp_parser_init(&cl->parser, false, false, front->options.max_head);  // --max-header-size from the first head on
    cl->front = front;
    cl->slot = -1;
    if (hf_table_add(&cl->c) < 0) {
      close(fd);
      free(cl);
      continue;
    }
    if (hf_watch(&cl->c, EPOLL_CTL_ADD) != 0) {
      hf_conn_close(&cl->c);
      free(cl);
      continue;
    }
    hf_no_delay(fd);
    if (front->tls != NULL && (cl->c.tls = tls_conn_new(front->tls, fd)) == NULL) {
      hf_conn_close(&cl->c);
      free(cl);
      continue;
    }
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
    cl->phase_ms = hf_now_ms();
    cl->c.read_ms = cl->phase_ms;
    cl->trusted = hf_peer_trusted(&front->options, &address);
    // The request usually came with the connection: read it without waiting for epoll.
    cl->c.readable = true;
    cl->c.writable = true;
    hf_drive(cl);
  }
  hf_watch(&front->listen, EPOLL_CTL_MOD);  // more may be waiting: report the listener again next turn
}

// ------------------------------------------------------------ events

static void on_event(uint64_t data, uint32_t events) {
  int32_t id = (int32_t)(data & 0xffffffffu);
  conn_t* c = id_table_get(&hf_conns, id);
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
    hf_drive((client_t*)c);
    return;
  }
  upstream_t* up = (upstream_t*)c;
  if (up->owner == NULL) {
    // Idle in the pool: the backend closed it (or sent what nobody asked for).
    if (events & (EPOLLIN | EPOLLRDHUP)) {
      hf_backend_t* backend = hf_backend_of(up->front, up->slot);
      if (backend != NULL) hf_pool_unlink(backend, up);
      hf_upstream_free(up);
    }
    return;
  }
  client_t* cl = up->owner;
  if (up->connecting) {
    if (!(events & EPOLLOUT)) return;
    hf_connect_done(cl);
    if (cl->dead) {
      hf_client_free(cl);
      return;
    }
  }
  hf_drive(cl);
}

static void on_epoll(uv_poll_t* handle, int status, int events) {
  struct epoll_event ready[MAX_EVENTS];
  int count;
  do count = epoll_wait(hf_epoll, ready, MAX_EVENTS, 0);
  while (count < 0 && errno == EINTR);
  for (int i = 0; i < count; i++) on_event(ready[i].data.u64, ready[i].events);
  hf_flush_events();
}

/** Ends the exchange and the client: a timeout in the middle of a response, or of a tunnel (nothing can be answered any more). */
static void cut(client_t* cl, int status) {
  hf_release_upstream(cl, false);
  hf_end_exchange(cl, status);
  cl->dead = true;
}

/** A 408 of the front's own (the client was too slow), then a close. */
static void client_too_slow(client_t* cl, const char* what, uint32_t ms) {
  char text[96];
  snprintf(text, sizeof(text), "the request %s did not come within %ums", what, ms);
  cl->keep_alive = false;
  hf_answer(cl, 408, HF_R_CLIENT_TIMEOUT, text);
}

/**
 * One client's timeouts (SPEC §12): whether one acted. Every deadline is a
 * time kept on the connection (its phase's start, its last byte read, when its
 * output stalled), compared here, a few times per shortest timeout: no timer
 * per connection, no syscall per byte.
 */
static bool check_timeouts(client_t* cl, const uint32_t* t, uint64_t now) {
  uint64_t elapsed = now - cl->phase_ms;
  upstream_t* up = cl->up;
  // A client that takes no byte of what it was sent (its response, or the tunnel's bytes).
  if (cl->c.blocked && hf_buf_len(&cl->c.out) > 0 && now - cl->c.sent_ms >= t[HF_T_CLIENT_SEND] && cl->state != S_LINGER) {
    if (cl->state == S_SEND || cl->state == S_TUNNEL) cut(cl, 0);
    else cl->dead = true;
    return true;
  }
  switch (cl->state) {
    case S_CONNECT:
      if (elapsed < t[HF_T_CONNECT]) return false;
      hf_connect_failed(cl, ETIMEDOUT);
      return true;
    case S_SEND:
      if (!cl->req_done && hf_buf_len(&cl->c.in) == 0 && hf_buf_len(&up->c.out) < HIGH_WATER && now - cl->c.read_ms >= t[HF_T_CLIENT_BODY]) {
        // The body stalled: its backend connection is released (closed: it holds part of a request).
        if (cl->resp_head_done) cut(cl, 0);
        else client_too_slow(cl, "body", t[HF_T_CLIENT_BODY]);
        return true;
      }
      if (cl->req_done && !cl->resp_head_done && t[HF_T_RESPONSE] > 0 && elapsed >= t[HF_T_RESPONSE]) {
        // Nothing reached the client yet: an idempotent request without a body goes to the next backend (nginx's proxy_next_upstream timeout).
        if (cl->idempotent && cl->req_body == HP_BODY_NONE && hf_buf_len(&up->c.in) == 0 && cl->resends < MAX_RESENDS && cl->failed_count < MAX_TRIES) {
          cl->resends++;
          hf_connect_failed(cl, ETIMEDOUT);
        } else {
          hf_fail(cl, 504, HF_R_TIMEOUT);
        }
        return true;
      }
      if (cl->resp_head_done && hf_buf_len(&cl->c.out) < HIGH_WATER && hf_buf_len(&up->c.in) == 0 && now - up->c.read_ms >= t[HF_T_BACKEND_READ]) {
        cut(cl, 0);  // the backend stalled mid-response
        return true;
      }
      return false;
    case S_HEAD:
      if (cl->c.tls != NULL && !tls_conn_ready(cl->c.tls)) {
        if (elapsed >= t[HF_T_CLIENT_HEADER]) cl->dead = true;  // the handshake is bounded as a head is; nothing can be answered
      } else if (hf_buf_len(&cl->c.in) == 0) {
        if (elapsed >= t[HF_T_KEEPALIVE]) cl->dead = true;
      } else if (cl->head_ms != 0 && now - cl->head_ms >= t[HF_T_CLIENT_HEADER]) {
        client_too_slow(cl, "head", t[HF_T_CLIENT_HEADER]);
        return true;
      }
      return false;
    case S_TUNNEL: {
      uint64_t last = cl->c.read_ms > up->c.read_ms ? cl->c.read_ms : up->c.read_ms;
      if (now - last < t[HF_T_TUNNEL]) return false;
      cut(cl, 101);
      return true;
    }
    case S_LINGER:
      // phase_ms: since the last response went out (hf_step); a client that does not take it is the send timeout's.
      if (hf_buf_len(&cl->c.out) > 0) {
        if (cl->c.blocked && now - cl->c.sent_ms >= t[HF_T_CLIENT_SEND]) cl->dead = true;
      } else if (elapsed >= LINGER_MS) {
        cl->dead = true;
      }
      return false;
    case S_QUEUE:
      return hf_queue_expired(cl, now);  // --queue-timeout: 503
    default:
      return false;
  }
}

/** The timeouts of every client of every front. */
static void on_timer(uv_timer_t* timer) {
  uint64_t now = hf_now_ms();
  for (hf_front_t* front = hf_fronts; front != NULL; front = front->next) {
    if (front->accept_paused && now >= front->paused_until && !front->closing) {
      front->accept_paused = false;
      accept_clients(front);  // edge-triggered: what waited in the backlog gives no new edge
    }
    client_t* next;
    for (client_t* cl = front->clients; cl != NULL; cl = next) {
      next = cl->next;
      bool acted = !cl->dead && check_timeouts(cl, front->options.timeouts_ms, now);
      // A fresh 408, 504 or retry may have queued output or started a connect: move it on.
      if (cl->dead) hf_client_free(cl);
      else if (acted) hf_drive(cl);
    }
  }
  hf_flush_events();
}

// ------------------------------------------------------------ the interface (http_front.h)

int hf_init(uv_loop_t* loop, const hf_hooks_t* hooks) {
  if (hf_epoll >= 0) return EEXIST;
  hf_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (hf_epoll < 0) return errno;
  if (uv_poll_init(loop, &hf_poll, hf_epoll) != 0 || uv_poll_start(&hf_poll, UV_READABLE, on_epoll) != 0) {
    close(hf_epoll);
    hf_epoll = -1;
    return EIO;
  }
  uv_unref((uv_handle_t*)&hf_poll);  // referenced only while there are listeners or connections (hf_live())
  uv_timer_init(loop, &hf_timer);
  uv_unref((uv_handle_t*)&hf_timer);
  hf_hooks = *hooks;
  return 0;
}

/** The sweep's period: a quarter of the shortest timeout (the queue's included), 10 ms to 1 s. */
void hf_schedule_timer(void) {
  uint64_t period = ACCEPT_PAUSE_MS;  // a paused listener resumes within about this
  for (hf_front_t* front = hf_fronts; front != NULL; front = front->next) {
    for (int i = 0; i < HF_TIMEOUTS; i++) {
      uint32_t ms = front->options.timeouts_ms[i];
      if (ms > 0 && ms / 4 < period) period = ms / 4;
    }
    uint32_t queue_ms = front->snapshot != NULL ? front->snapshot->queue_timeout_ms : 0;
    if (queue_ms > 0 && queue_ms / 4 < period) period = queue_ms / 4;
  }
  if (period < 10) period = 10;
  uv_timer_start(&hf_timer, on_timer, period, period);
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
  if (hf_table_add(&front->listen) < 0) {
    *error = ENOMEM;
    close(fd);
    free(front);
    return NULL;
  }
  if ((*error = hf_watch(&front->listen, EPOLL_CTL_ADD)) != 0) {
    hf_conn_close(&front->listen);
    free(front);
    return NULL;
  }
  fd_budget = fd_budget_read();
  front->options = *options;
  front->options.trusted = NULL;
  if (options->trusted_count > 0) {
    uint8_t* trusted = malloc((size_t)options->trusted_count * 17);
    if (trusted == NULL) {
      *error = ENOMEM;
      hf_conn_close(&front->listen);
      free(front);
      return NULL;
    }
    memcpy(trusted, options->trusted, (size_t)options->trusted_count * 17);
    front->options.trusted = trusted;
  }
  front->owner = owner;
  front->index = id;
  front->next = hf_fronts;
  hf_fronts = front;
  hf_schedule_timer();
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
    hf_backend_release(backend);
    memset(backend, 0, sizeof(*backend));
    memcpy(&backend->address, address, length);
    backend->length = length;
  }
  backend->used = true;
  backend->removed = false;
  dp_slot_reset(&front->pick, slot);  // a new backend in the slot: --max-requests counts from 0
  return 0;
}

void hf_backend_remove(hf_front_t* front, int32_t slot) {
  hf_backend_t* backend = hf_backend_of(front, slot);
  if (backend == NULL) return;
  backend->removed = true;
  // Idle pooled connections would only keep the backend's server from closing.
  hf_pool_close_all(backend);
}

void hf_backend_load(const hf_front_t* front, int32_t slot, int32_t load[3]) {
  load[0] = dp_active(&front->pick, slot);
  load[1] = slot >= 0 && slot < front->backend_count ? front->backends[slot].idle_count : 0;
  load[2] = slot >= 0 && (uint32_t)slot < front->pick.slot_capacity ? (int32_t)front->pick.slots[slot].handed : 0;
}

int32_t hf_backend_stats(const hf_front_t* front, int32_t slot, const hf_stats_t** stats) {
  if (slot < 0 || slot >= front->backend_count || !front->backends[slot].used) return -1;
  *stats = front->backends[slot].stats;
  return front->backends[slot].stats_count;
}

void hf_defer_drive(client_t* cl) {
  // Re-armed, an edge-triggered socket is reported again when ready (a client's is writable); the timer's sweep frees a dead one otherwise.
  if (hf_watch(&cl->c, EPOLL_CTL_MOD) != 0) cl->dead = true;
}

void hf_kick(client_t* cl) {
  if (hf_depth > 0) hf_defer_drive(cl);
  else if (cl->dead) hf_client_free(cl);
  else hf_drive(cl);
}

void hf_set_tls(hf_front_t* front, tls_set_t* set, uint32_t hsts) {
  tls_set_t* old = front->tls;
  front->tls = set;  // each client took its own reference at accept: the old set lives while they do
  front->hsts = hsts;
  tls_set_release(old);
}

void hf_close(hf_front_t* front) {
  if (front->closing) return;
  front->closing = true;
  if (front->listen.fd >= 0) hf_conn_close(&front->listen);
  hf_queue_close(front);
  client_t* next;
  for (client_t* cl = front->clients; cl != NULL; cl = next) {
    next = cl->next;
    // Idle between requests: nothing to finish. Busy ones end after their response.
    if (cl->state == S_HEAD && hf_buf_len(&cl->c.in) == 0) {
      cl->dead = true;
      hf_kick(cl);
    } else {
      cl->keep_alive = false;
    }
  }
  if (front->client_count == 0 && !front->closed_told) {
    front->closed_told = true;
    hf_emit(front, DP_EV_CLOSED, -1, 0);
  }
  hf_flush_events();
}

void hf_destroy(hf_front_t* front) {
  if (front->destroyed) return;
  // 1. Stop: no new client, no hook called for it from here on, out of the timer's list.
  front->destroyed = true;
  front->closing = true;
  if (front->listen.fd >= 0) hf_conn_close(&front->listen);
  for (hf_front_t** at = &hf_fronts; *at != NULL; at = &(*at)->next) {
    if (*at == front) {
      *at = front->next;
      break;
    }
  }
  if (hf_fronts == NULL) uv_timer_stop(&hf_timer);
  else hf_schedule_timer();
  // 2. Its pending events dropped, JavaScript not called: it has let go of the front.
  hf_drop_events(front);
  // 3. Freed: now, or when the outermost call into JavaScript has returned.
  front->next = graveyard;
  graveyard = front;
  if (hf_depth == 0) hf_reap();
}

void hf_reap(void) {
  if (hf_depth > 0) return;
  while (graveyard != NULL) {
    hf_front_t* front = graveyard;
    graveyard = front->next;
    while (front->clients != NULL) hf_client_free(front->clients);  // their events are dropped (destroyed)
    for (int32_t i = 0; i < front->backend_count; i++) hf_backend_release(&front->backends[i]);
    free(front->backends);
    hf_decide_release(front);
    free((void*)front->options.trusted);
    tls_set_release(front->tls);
    free(front);
  }
}

static void free_handle(uv_handle_t* handle) {
  (void)handle;  // static handles: nothing to free
}

void hf_shutdown(void) {
  if (hf_epoll < 0) return;
  hf_hooks.events = NULL;
  hf_depth = 0;
  while (hf_fronts != NULL) hf_destroy(hf_fronts);
  hf_reap();
  uv_close((uv_handle_t*)&hf_poll, free_handle);
  uv_close((uv_handle_t*)&hf_timer, free_handle);
  close(hf_epoll);
  hf_epoll = -1;
  id_table_release(&hf_conns);
  hf_events_release();
  hf_alive = 0;
}
