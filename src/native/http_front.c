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
//
// Its files (http_internal.h lists what they share): http_io.c, http_exchange.c,
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

#include "http_internal.h"

hf_hooks_t hf_hooks;
int hf_epoll = -1;
uv_poll_t hf_poll;
uv_timer_t hf_timer;
uint32_t hf_generation;
int32_t hf_alive;
hf_front_t* hf_fronts;

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

/** The timeouts: connects, responses, idle and slow clients, lingering closes. */
static void on_timer(uv_timer_t* timer) {
  uint64_t now = hf_now_ms();
  for (hf_front_t* front = hf_fronts; front != NULL; front = front->next) {
    client_t* next;
    for (client_t* cl = front->clients; cl != NULL; cl = next) {
      next = cl->next;
      uint64_t elapsed = now - cl->phase_ms;
      bool acted = false;
      switch (cl->state) {
        case S_CONNECT:
          if ((acted = elapsed >= front->options.connect_timeout_ms)) hf_connect_failed(cl, ETIMEDOUT);
          break;
        case S_SEND:
          acted = cl->req_done && !cl->resp_head_done && front->options.response_timeout_ms > 0 && elapsed >= front->options.response_timeout_ms;
          if (acted) hf_fail(cl, 504, HF_R_TIMEOUT);
          break;
        case S_HEAD:
          if (elapsed >= (hf_buf_len(&cl->c.in) == 0 ? KEEP_ALIVE_TIMEOUT_MS : HEADERS_TIMEOUT_MS)) cl->dead = true;
          break;
        case S_LINGER:
          if (elapsed >= LINGER_MS) cl->dead = true;
          break;
        case S_QUEUE:
          acted = hf_queue_expired(cl, now);
          break;
        default:
          break;
      }
      // A fresh 504 or retry may have queued output or started a connect: move it on.
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
  uint64_t period = 1000;
  for (hf_front_t* front = hf_fronts; front != NULL; front = front->next) {
    uint64_t shortest = front->options.connect_timeout_ms;
    if (front->options.response_timeout_ms > 0 && front->options.response_timeout_ms < shortest) shortest = front->options.response_timeout_ms;
    if (front->snapshot != NULL && front->snapshot->queue_timeout_ms > 0 && front->snapshot->queue_timeout_ms < shortest) {
      shortest = front->snapshot->queue_timeout_ms;
    }
    if (shortest / 4 < period) period = shortest / 4;
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
  front->options = *options;
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

void hf_kick(client_t* cl) {
  if (cl->dead) hf_client_free(cl);
  else hf_drive(cl);
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
    if (cl->state == S_HEAD && hf_buf_len(&cl->c.in) == 0) hf_client_free(cl);
    else cl->keep_alive = false;
  }
  if (front->client_count == 0 && !front->closed_told) {
    front->closed_told = true;
    hf_emit(front, DP_EV_CLOSED, -1, 0);
  }
  hf_flush_events();
}

void hf_destroy(hf_front_t* front) {
  hf_close(front);
  while (front->clients != NULL) hf_client_free(front->clients);
  for (int32_t i = 0; i < front->backend_count; i++) hf_backend_release(&front->backends[i]);
  free(front->backends);
  hf_decide_release(front);
  for (hf_front_t** at = &hf_fronts; *at != NULL; at = &(*at)->next) {
    if (*at == front) {
      *at = front->next;
      break;
    }
  }
  if (hf_fronts == NULL) uv_timer_stop(&hf_timer);
  else hf_schedule_timer();
  hf_flush_events();
  free(front);
}

static void free_handle(uv_handle_t* handle) {
  (void)handle;  // static handles: nothing to free
}

void hf_shutdown(void) {
  if (hf_epoll < 0) return;
  hf_hooks.events = NULL;
  while (hf_fronts != NULL) hf_destroy(hf_fronts);
  uv_close((uv_handle_t*)&hf_poll, free_handle);
  uv_close((uv_handle_t*)&hf_timer, free_handle);
  close(hf_epoll);
  hf_epoll = -1;
  id_table_release(&hf_conns);
  hf_events_release();
  hf_alive = 0;
}
