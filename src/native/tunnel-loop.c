// The native tcp front's event loop: one epoll set of its own, polled by
// node's loop through one uv_poll handle; the table of tunnels by id (ids are
// reused, so they stay small; a generation tells a stale event of an earlier
// tunnel with the same id); the batch of events JavaScript reads, flushed once
// per turn; and the listening sockets, level-triggered, accepting up to
// ACCEPTS_PER_TURN clients per turn and pausing for a moment rather than
// spinning when descriptors run out. What a tunnel does is tunnel.c's.

#define _GNU_SOURCE  // accept4
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_budget.h"
#include "tunnel-internal.h"

#define MAX_EVENTS 256
/** Connections accepted per listener per turn: the rest waits for the next (the listener is level-triggered). */
#define ACCEPTS_PER_TURN 64
/** Out of descriptors or memory: the listener pauses this long instead of spinning on accept. */
#define ACCEPT_PAUSE_MS 100

typedef struct listener {
  int fd;  // -1: a free slot
  uint32_t generation;
  bool paused;
  tls_set_t* tls;  // its certificates when it terminates TLS (tunnelSetTls), else NULL
} listener_t;

static tunnel_flush_cb g_flush;
static int32_t* g_batch;
static int32_t g_batch_capacity;
static int32_t g_batch_len;
int g_epoll = -1;
static uv_poll_t* g_epoll_poll;
static uv_timer_t* g_accept_timer;
static uint32_t g_generation;
static int32_t g_alive;  // tunnels and listeners: while there are any, they keep node's loop alive, as sockets would

// Tunnels by id; free ids are chained through g_free_next (reused, so ids stay small).
static tunnel_t** g_table;
static int32_t* g_free_next;
static int32_t g_free = -1;
static int32_t g_capacity;

static listener_t* g_listeners;
static int32_t g_listener_count;

// ------------------------------------------------------------ bookkeeping

static void hold(void) {
  if (g_alive++ == 0) uv_ref((uv_handle_t*)g_epoll_poll);
}

static void unhold(void) {
  if (--g_alive == 0) uv_unref((uv_handle_t*)g_epoll_poll);
}

void emit(int32_t id, int what, int detail) {
  if (g_batch_len == g_batch_capacity) {
    // Full: JavaScript reads it now. Safe between events: each is looked up by id and generation.
    int32_t count = g_batch_len;
    g_batch_len = 0;
    g_flush(count);
  }
  int32_t* slot = g_batch + 3 * g_batch_len++;
  slot[0] = id;
  slot[1] = what;
  slot[2] = detail;
}

int32_t table_add(tunnel_t* t) {
  if (g_free < 0) {
    int32_t capacity = g_capacity == 0 ? 256 : g_capacity * 2;
    tunnel_t** table = realloc(g_table, sizeof(*table) * capacity);
    if (table == NULL) return -1;
    g_table = table;
    int32_t* next = realloc(g_free_next, sizeof(*next) * capacity);
    if (next == NULL) return -1;
    g_free_next = next;
    for (int32_t i = capacity - 1; i >= g_capacity; i--) {
      g_table[i] = NULL;
      g_free_next[i] = g_free;
      g_free = i;
    }
    g_capacity = capacity;
  }
  int32_t id = g_free;
  g_free = g_free_next[id];
  g_table[id] = t;
  hold();
  return id;
}

tunnel_t* table_get(int32_t id) {
  return id >= 0 && id < g_capacity ? g_table[id] : NULL;
}

static listener_t* listener_get(int32_t id) {
  return id >= 0 && id < g_listener_count && g_listeners[id].fd >= 0 ? &g_listeners[id] : NULL;
}

/** Frees `t` and its id. */
void tunnel_free(tunnel_t* t) {
  g_table[t->id] = NULL;
  g_free_next[t->id] = g_free;
  g_free = t->id;
  free(t);
  unhold();
}

uint64_t tag(uint32_t generation, int32_t id, int kind) {
  return ((uint64_t)generation << 32) | ((uint64_t)(uint32_t)id << 2) | (uint64_t)kind;
}


uint32_t next_generation(void) {
  return ++g_generation;
}

// ------------------------------------------------------------ listeners

static void on_accept_timer(uv_timer_t* timer) {
  for (int32_t id = 0; id < g_listener_count; id++) {
    listener_t* l = &g_listeners[id];
    if (l->fd < 0 || !l->paused) continue;
    struct epoll_event event = {.events = EPOLLIN, .data.u64 = tag(l->generation, id, LISTENER)};
    if (epoll_ctl(g_epoll, EPOLL_CTL_MOD, l->fd, &event) == 0) l->paused = false;
  }
}

static void pause_listener(int32_t id, listener_t* l) {
  struct epoll_event event = {.events = 0, .data.u64 = tag(l->generation, id, LISTENER)};
  if (epoll_ctl(g_epoll, EPOLL_CTL_MOD, l->fd, &event) == 0) {
    l->paused = true;
    uv_timer_start(g_accept_timer, on_accept_timer, ACCEPT_PAUSE_MS, 0);
  }
}

/** The descriptors the tunnels may hold (fd_budget.h): read at each listen (the supervisor raised the limit at start). */
static int64_t g_fd_budget = INT64_MAX;

/** Accepts what the listener has (up to a limit): each client a tunnel waiting for its backend. */
static void on_listener_event(int32_t id, uint32_t generation) {
  for (int n = 0; n < ACCEPTS_PER_TURN; n++) {
    // Looked up each time: a flush of the events (emit) may have closed it, or moved the table.
    listener_t* l = listener_get(id);
    if (l == NULL || l->generation != generation) return;
    // At the budget (two descriptors per tunnel): the clients wait in the backlog, the reserve stays free.
    if (2 * (int64_t)g_alive + 2 > g_fd_budget) {
      pause_listener(id, l);
      return;
    }
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK) return;
      if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) pause_listener(id, l);
      emit(id, EV_ACCEPT_FAILED, error);
      return;
    }
    int32_t tid = tunnel_accept(fd, l->tls);
    if (tid < 0) {
      if (tid == -ENOMEM) pause_listener(id, l);
      emit(id, EV_ACCEPT_FAILED, -tid);
      return;
    }
    emit(tid, EV_ACCEPTED, id);
  }
}

static void on_epoll(uv_poll_t* handle, int status, int events) {
  struct epoll_event ready[MAX_EVENTS];
  int count;
  do count = epoll_wait(g_epoll, ready, MAX_EVENTS, 0);
  while (count < 0 && errno == EINTR);
  for (int i = 0; i < count; i++) {
    uint64_t data = ready[i].data.u64;
    int32_t id = (int32_t)((data & 0xffffffffu) >> 2);
    int kind = (int)(data & 3);
    if (kind == LISTENER) on_listener_event(id, (uint32_t)(data >> 32));
    else on_tunnel_event(id, (uint32_t)(data >> 32), kind, ready[i].events);
  }
  if (g_batch_len > 0) {
    int32_t n = g_batch_len;
    g_batch_len = 0;
    g_flush(n);
  }
}

// ------------------------------------------------------------ the interface (tunnel.h)

static void handle_freed(uv_handle_t* handle) {
  free(handle);
}

int tunnels_init(uv_loop_t* loop, int32_t* batch, int32_t capacity, tunnel_flush_cb flush_cb) {
  if (g_epoll >= 0) return EEXIST;
  if (capacity < 1) return EINVAL;
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (g_epoll < 0) return errno;
  g_epoll_poll = malloc(sizeof(*g_epoll_poll));
  g_accept_timer = malloc(sizeof(*g_accept_timer));
  if (g_epoll_poll == NULL || g_accept_timer == NULL || uv_poll_init(loop, g_epoll_poll, g_epoll) != 0) {
    free(g_epoll_poll);
    free(g_accept_timer);
    close(g_epoll);
    g_epoll = -1;
    return ENOMEM;
  }
  uv_timer_init(loop, g_accept_timer);
  uv_unref((uv_handle_t*)g_accept_timer);
  if (uv_poll_start(g_epoll_poll, UV_READABLE, on_epoll) != 0) {
    // Synchronously, before anything ran: uv_close's callbacks come on the next turn of the loop.
    tunnels_shutdown(handle_freed);
    return EIO;
  }
  // Referenced only while tunnels or listeners exist: they keep node's loop alive, as sockets would.
  uv_unref((uv_handle_t*)g_epoll_poll);
  g_batch = batch;
  g_batch_capacity = capacity;
  g_batch_len = 0;
  g_flush = flush_cb;
  return 0;
}

void tunnels_shutdown(uv_close_cb closed) {
  if (g_epoll < 0) return;
  for (int32_t id = 0; id < g_capacity; id++) {
    tunnel_t* t = g_table[id];
    if (t == NULL) continue;
    close_both(t);
    free(t);
  }
  free(g_table);
  free(g_free_next);
  g_table = NULL;
  g_free_next = NULL;
  g_free = -1;
  g_capacity = 0;
  for (int32_t id = 0; id < g_listener_count; id++) {
    if (g_listeners[id].fd >= 0) close(g_listeners[id].fd);
    if (g_listeners[id].fd >= 0) tls_set_release(g_listeners[id].tls);
  }
  free(g_listeners);
  g_listeners = NULL;
  g_listener_count = 0;
  uv_close((uv_handle_t*)g_epoll_poll, closed);
  uv_close((uv_handle_t*)g_accept_timer, closed);
  g_epoll_poll = NULL;
  g_accept_timer = NULL;
  close(g_epoll);
  g_epoll = -1;
  g_alive = 0;
  g_batch = NULL;
  g_batch_len = 0;
}

int32_t listener_open(const struct sockaddr* address, socklen_t length, int backlog) {
  g_fd_budget = fd_budget_read();
  int32_t id = 0;
  while (id < g_listener_count && g_listeners[id].fd >= 0) id++;
  if (id == g_listener_count) {
    listener_t* grown = realloc(g_listeners, sizeof(*grown) * (g_listener_count + 8));
    if (grown == NULL) return -ENOMEM;
    g_listeners = grown;
    for (int32_t i = g_listener_count; i < g_listener_count + 8; i++) g_listeners[i].fd = -1;
    g_listener_count += 8;
  }
  int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;  // as node does: a restarted supervisor binds again at once, past TIME_WAIT
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 || bind(fd, address, length) != 0 || listen(fd, backlog) != 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  listener_t* l = &g_listeners[id];
  l->generation = ++g_generation;
  l->paused = false;
  l->tls = NULL;
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = tag(l->generation, id, LISTENER)};
  if (epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  l->fd = fd;
  hold();
  return id;
}

int32_t listener_port(int32_t id) {
  listener_t* l = listener_get(id);
  if (l == NULL) return -EBADF;
  struct sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getsockname(l->fd, (struct sockaddr*)&address, &length) != 0) return -errno;
  return ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&address)->sin6_port : ((struct sockaddr_in*)&address)->sin_port);
}

void listener_close(int32_t id) {
  listener_t* l = listener_get(id);
  if (l == NULL) return;
  close(l->fd);
  l->fd = -1;
  tls_set_release(l->tls);  // its tunnels hold their own references
  l->tls = NULL;
  unhold();
}

int listener_set_tls(int32_t id, tls_set_t* set) {
  listener_t* l = listener_get(id);
  if (l == NULL) return -EBADF;
  tls_set_t* old = l->tls;
  l->tls = set;
  tls_set_release(old);
  return 0;
}
