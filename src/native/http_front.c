// The http front's data path in C (Linux): accepts clients, frames their
// HTTP/1.x requests (http_parse.c), decides which backend takes each one from
// the snapshot JavaScript published (http_decide.c), and forwards the request
// over a keep-alive pool of connections per backend, then the response back.
// No JavaScript per request, per chunk or per connection: what JavaScript
// must act on (drains, --max-requests, failed connects, errors answered)
// comes in batches, delivered by the main thread in one call per wake-up.
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
// It runs on data-plane threads of its own (--front-threads; http_loop.c),
// never on node's: each thread has its epoll set, its share of every front
// (its clients, upstream pools, cursors and counters) and takes connections
// from the one listening socket, registered EPOLLEXCLUSIVE in every set.
// Client and upstream sockets are registered edge-triggered; events carry
// the connection's id and a generation, so that a stale event of a closed
// connection whose id was reused is dropped.
//
// Threads and JavaScript (what may run at the same time). JavaScript runs on
// the main thread only, and C calls it at one point: the main thread's drain
// of the threads' batches (http_threads.c), one call per wake-up. Its calls
// into C (publish, add/remove backend, close, destroy) change no connection:
// they post commands to each thread's queue (http_loop.c), which the thread
// runs between epoll events, never under a caller that holds a client. So a
// thread never waits for JavaScript, JavaScript never re-enters the data path,
// and destroy is in two phases: (1) the main thread marks the front's shares
// destroyed and drops their batched records (under each loop's lock: nothing
// more of it is reported, its number may name the next front) and posts
// C_DESTROY; each thread then closes the share's connections and frees it;
// (2) when every thread has, the main thread frees what they shared (the
// listener, its options, its --max-requests counts). A snapshot is freed by
// whichever thread drops its last reference.
//
// Its files (http_internal.h lists what they share): http_io.c, http_decide.c, http_exchange.c,
// http_relay.c, http_loop.c, http_threads.c, and this one — accepting, the
// epoll events, the timeouts, a share's side of the commands.

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

/** Stops accepting for ACCEPT_PAUSE_MS (out of descriptors, or at the budget): what waits stays in the backlog. */
static void pause_accepting(hf_front_t* front) {
  front->accept_paused = true;
  front->paused_until = hf_now_ms() + ACCEPT_PAUSE_MS;
  // Level-triggered: a listener left in the set would wake this thread again at once.
  epoll_ctl(hf_self->epoll, EPOLL_CTL_DEL, front->listen.fd, NULL);
}

#define BALANCE_SLACK 2  // clients a thread may hold above the least busy thread of the front before it hands new ones over

void hf_count_clients(hf_front_t* front) {
  atomic_store_explicit(&front->live, front->client_count, memory_order_relaxed);
}

/**
 * Connection balancing (Envoy's exact balancer, without its lock): the kernel
 * wakes the first waiting thread of an EPOLLEXCLUSIVE listener, so one thread
 * can take a whole burst of keep-alive connections while another idles for
 * their lifetime. A thread holding more than BALANCE_SLACK clients above the
 * least busy one gives it the new connection (a command: a mutex and an
 * eventfd write, only while they are unbalanced). Safe against a destroy: the
 * main thread marks every share destroyed (under each loop's lock) before it
 * posts any C_DESTROY, so a hand-off seen undestroyed here is queued ahead of it.
 */
static bool hand_off(hf_front_t* front, int fd, const struct sockaddr_storage* address) {
  if (front->listener_threads < 2 || front->destroyed || front->closing) return false;
  uint32_t least = front->client_count, target = UINT32_MAX;
  for (uint32_t t = 0; t < front->listener_threads; t++) {
    hf_front_t* other = hf_share_at(front->listener, t);
    if (other == front || other == NULL) continue;
    uint32_t live = atomic_load_explicit(&other->live, memory_order_relaxed);
    if (live + BALANCE_SLACK < least) {
      least = live;
      target = t;
    }
  }
  if (target == UINT32_MAX) return false;
  hf_command_t* command = calloc(1, sizeof(*command));
  if (command == NULL) return false;
  command->type = HF_C_ADOPT;
  command->share = hf_share_at(front->listener, target);
  command->fd = fd;
  memcpy(&command->address, address, sizeof(*address));
  atomic_fetch_add_explicit(&command->share->live, 1, memory_order_relaxed);  // counted at once: the next connections see it
  hf_post(command->share->loop, command);
  return true;
}

void hf_accept_clients(hf_front_t* front) {
  if (front->accept_paused || front->listen.fd < 0 || front->closing) return;
  int64_t budget = front->fd_budget;
  // With other threads, one connection per wake-up (nginx's multi_accept off): the next is the kernel's to give to a thread
  // that is waiting, so a burst of connections (every keep-alive client opening its pool at once) spreads over the threads.
  // With TLS too: each accepted client's handshake runs at once (its ClientHello came with it), ≈ 0.3 ms of CPU, and 50 of
  // them back to back kept every other connection waiting — resumed-handshake p99 15–17 ms, 10 ms one a wake-up.
  int batch = front->listener_threads > 1 || hf_listener_has_tls(front->listener) ? 1 : 64;
  for (int i = 0; i < batch; i++) {
    // Two descriptors per client (its own and its backend's), counted over every thread.
    if (atomic_load_explicit(&hf_open_fds, memory_order_relaxed) + 2 > budget) {
      pause_accepting(front);
      return;
    }
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    int fd = accept4(front->listen.fd, (struct sockaddr*)&address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting(front);
      else if (errno != EAGAIN && errno != EWOULDBLOCK) epoll_ctl(hf_self->epoll, EPOLL_CTL_DEL, front->listen.fd, NULL);  // shut down (closing): not reported again
      return;  // EAGAIN: all taken (another thread may have been quicker)
    }
    if (!hand_off(front, fd, &address)) hf_adopt(front, fd, &address);
  }
  // More may be waiting: the level-triggered listener is reported again on the next turn (other connections get theirs first).
}

void hf_adopt(hf_front_t* front, int fd, const struct sockaddr_storage* address) {
  client_t* cl = front->closing ? NULL : calloc(1, sizeof(*cl));  // handed over as the front began to close: refused like the rest
  if (cl == NULL) {
    close(fd);
    return;
  }
  cl->c.fd = fd;
  cl->c.kind = K_CLIENT;
  cl->c.id = -1;
  hp_parser_init(&cl->parser, false, false, front->options.max_head);  // --max-header-size from the first head on
  cl->front = front;
  cl->slot = -1;
  if (hf_table_add(&cl->c) < 0) {
    close(fd);
    free(cl);
    return;
  }
  if (hf_watch(&cl->c, EPOLL_CTL_ADD) != 0) {
    hf_conn_close(&cl->c);
    free(cl);
    return;
  }
  hf_no_delay(fd);
  tls_set_t* tls = hf_listener_tls(front->listener, &cl->hsts);
  if (tls != NULL) {
    cl->c.tls = tls_conn_new(tls, fd);  // holds its own reference
    tls_set_release(tls);
    if (cl->c.tls == NULL) {
      hf_conn_close(&cl->c);
      free(cl);
      return;
    }
  }
  if (address->ss_family == AF_INET6) {
    const struct in6_addr* a6 = &((const struct sockaddr_in6*)address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, &a6->s6_addr[12], cl->address, sizeof(cl->address));
    else inet_ntop(AF_INET6, a6, cl->address, sizeof(cl->address));
  } else {
    inet_ntop(AF_INET, &((const struct sockaddr_in*)address)->sin_addr, cl->address, sizeof(cl->address));
  }
  cl->next = front->clients;
  if (front->clients != NULL) front->clients->prev = cl;
  front->clients = cl;
  front->client_count++;
  front->accepted++;
  hf_count_clients(front);
  cl->phase_ms = hf_now_ms();
  cl->c.read_ms = cl->phase_ms;
  cl->trusted = hf_peer_trusted(&front->options, address);
  // The request usually came with the connection: read it without waiting for epoll.
  cl->c.readable = true;
  cl->c.writable = true;
  if (front->options.raw) {
    // L4: decided now, the client held unread until its backend accepted (http_tcp.c).
    if (hf_tcp_begin(cl)) hf_attempt(cl);
    else cl->dead = true;
  }
  hf_drive(cl);
}

// ------------------------------------------------------------ events

void hf_on_event(uint64_t data, uint32_t events) {
  int32_t id = (int32_t)(data & 0xffffffffu);
  conn_t* c = id_table_get(&hf_self->conns, id);
  if (c == NULL || c->generation != (uint32_t)(data >> 32)) return;  // stale: closed by an earlier event of this batch
  if (c->kind == K_LISTEN) {
    hf_accept_clients((hf_front_t*)((char*)c - offsetof(hf_front_t, listen)));
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

/** The timeouts of every client of every front of this thread. */
void hf_sweep(void) {
  uint64_t now = hf_now_ms();
  for (hf_front_t* front = hf_self->fronts; front != NULL; front = front->next) {
    if (front->accept_paused && now >= front->paused_until && !front->closing) {
      front->accept_paused = false;
      if (hf_watch(&front->listen, EPOLL_CTL_ADD) != 0) pause_accepting(front);  // back in the set; reported at once if a client waits
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
}

// ------------------------------------------------------------ a share's side of the commands (http_loop.c)

/** The sweep's period: a quarter of the shortest timeout of this thread's fronts (their queues' included), 10 ms to ACCEPT_PAUSE_MS. */
void hf_schedule_timer(void) {
  uint64_t period = ACCEPT_PAUSE_MS;  // a paused listener resumes within about this
  for (hf_front_t* front = hf_self->fronts; front != NULL; front = front->next) {
    for (int i = 0; i < HF_TIMEOUTS; i++) {
      uint32_t ms = front->options.timeouts_ms[i];
      if (ms > 0 && ms / 4 < period) period = ms / 4;
    }
    uint32_t queue_ms = front->snapshot != NULL ? front->snapshot->queue_timeout_ms : 0;
    if (queue_ms > 0 && queue_ms / 4 < period) period = queue_ms / 4;
  }
  if (period < 10) period = 10;
  uint64_t next = hf_now_ms() + period;
  hf_self->period_ms = period;
  if (hf_self->next_sweep == 0 || next < hf_self->next_sweep) hf_self->next_sweep = next;
}

void hf_share_add_backend(hf_front_t* front, int32_t slot, const struct sockaddr* address, socklen_t length) {
  if (slot >= front->backend_count) {
    int32_t count = front->backend_count == 0 ? 16 : front->backend_count;
    while (count <= slot) count *= 2;
    hf_backend_t* backends = realloc(front->backends, sizeof(*backends) * count);
    if (backends == NULL) return;  // out of memory: C has no address for it, a request picking it tries the next
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
}

void hf_share_remove_backend(hf_front_t* front, int32_t slot) {
  hf_backend_t* backend = hf_backend_of(front, slot);
  if (backend == NULL) return;
  backend->removed = true;
  // Idle pooled connections would only keep the backend's server from closing.
  hf_pool_close_all(backend);
}

void hf_kick(client_t* cl) {
  if (cl->dead) hf_client_free(cl);
  else hf_drive(cl);
}

void hf_share_close(hf_front_t* front) {
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
}

void hf_share_free(hf_front_t* front) {
  front->destroyed = true;  // its clients' ends report nothing
  front->closing = true;
  for (hf_front_t** at = &hf_self->fronts; *at != NULL; at = &(*at)->next) {
    if (*at == front) {
      *at = front->next;
      break;
    }
  }
  if (front->listen.fd >= 0) hf_conn_close(&front->listen);
  while (front->clients != NULL) hf_client_free(front->clients);
  for (int32_t i = 0; i < front->backend_count; i++) hf_backend_release(&front->backends[i]);
  free(front->backends);
  hf_decide_release(front);
  free(front);
}
