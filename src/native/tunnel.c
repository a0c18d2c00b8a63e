// The tcp front's data plane in C (Linux): it owns the listening sockets
// (accept4 in its own epoll set), holds each accepted client unread until
// JavaScript names a backend (once per connection, through batched events),
// connects, and moves bytes both ways with no JavaScript per chunk.
// JavaScript (tcp-proxy-native.ts) keeps the control plane: which backend,
// retries on the next one, the queue, connect and idle timeouts, accounting,
// and when a backend drains.
//
// The rules are the portable front's (tcp-proxy-sockets.ts):
// - the client is read only once the backend has accepted (a failed connect
//   is reported, the client still held, and JavaScript names the next backend);
// - half-close: an end read from one side is passed on as a shutdown of the
//   other, which may keep sending; a side is closed once it has ended and
//   been ended;
// - backpressure: what a side does not take at once is kept (one chunk at
//   most), and its peer is not read until it has all been taken;
// - an error on either side (a reset) closes both;
// - HTTP/1.x (h1frame.c): when the backend drains, the connection ends after
//   the response to its last request, which says `Connection: close`, so that
//   the client's next request goes, on a new connection, to a ready backend.
//
// The sockets are registered in an epoll set of our own (edge-triggered, the
// listeners level-triggered), which node's loop polls through one uv_poll
// handle. Events go into a buffer JavaScript reads, flushed once per turn.

#define _GNU_SOURCE  // accept4
#include "tunnel.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h1frame.h"

#define READ_SIZE 65536
#define MAX_EVENTS 256
/** Chunks moved for one tunnel per event before others get their turn (then it is re-armed). */
#define CHUNKS_PER_TURN 16
/** Connections accepted per listener per turn: the rest waits for the next (the listener is level-triggered). */
#define ACCEPTS_PER_TURN 64
/** Out of descriptors or memory: the listener pauses this long instead of spinning on accept. */
#define ACCEPT_PAUSE_MS 100

#define CLIENT 0
#define UPSTREAM 1
#define LISTENER 2

typedef struct side {
  int fd;              // -1: none (the upstream, before a connect)
  char* pending;       // bytes from the peer that this side has not taken yet
  size_t pending_off;
  size_t pending_len;
  unsigned readable : 1;    // recv() may find something (edge seen, not drained)
  unsigned writable : 1;    // send() may take something
  unsigned peer_ended : 1;  // EPOLLRDHUP seen: read until the end, not just until a short read
  unsigned read_done : 1;   // the end (or an error) was read: nothing more comes from this side
  unsigned write_done : 1;  // the peer's end was passed on: nothing more goes to this side
  unsigned closed : 1;
} side_t;

typedef enum { WAITING, CONNECTING, OPEN } state_t;

typedef struct tunnel {
  side_t sides[2];
  int32_t id;
  uint32_t generation;  // tells a stale epoll event of an earlier tunnel with the same id
  state_t state;
  bool draining;        // the backend drains: end at the next HTTP/1.x response boundary
  bool ended;           // ended there: the upstream is closed, the client's bytes are dropped
  double activity;      // chunks moved, for the idle sweep of the JavaScript front
  h1_t h1;
} tunnel_t;

typedef struct listener {
  int fd;  // -1: a free slot
  uint32_t generation;
  bool paused;
} listener_t;

static tunnel_flush_cb g_flush;
static int32_t* g_batch;
static int32_t g_batch_capacity;
static int32_t g_batch_len;
static int g_epoll = -1;
static uv_poll_t* g_epoll_poll;
static uv_timer_t* g_accept_timer;
static uint32_t g_generation;
static int32_t g_alive;  // tunnels and listeners: while there are any, they keep node's loop alive, as sockets would
static char g_read_buf[READ_SIZE];

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

static void emit(int32_t id, int what, int detail) {
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

static int32_t table_add(tunnel_t* t) {
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

static tunnel_t* table_get(int32_t id) {
  return id >= 0 && id < g_capacity ? g_table[id] : NULL;
}

static listener_t* listener_get(int32_t id) {
  return id >= 0 && id < g_listener_count && g_listeners[id].fd >= 0 ? &g_listeners[id] : NULL;
}

/** Frees `t` and its id. */
static void tunnel_free(tunnel_t* t) {
  g_table[t->id] = NULL;
  g_free_next[t->id] = g_free;
  g_free = t->id;
  free(t);
  unhold();
}

// ------------------------------------------------------------ sockets

/** Responses are small and request-sized: never let Nagle hold one back. */
static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static uint64_t tag(uint32_t generation, int32_t id, int kind) {
  return ((uint64_t)generation << 32) | ((uint64_t)(uint32_t)id << 2) | (uint64_t)kind;
}

/** Registers a side of `t` for both directions, edge-triggered. */
static int watch(tunnel_t* t, int side, int op) {
  struct epoll_event event;
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = tag(t->generation, t->id, side);
  return epoll_ctl(g_epoll, op, t->sides[side].fd, &event) == 0 ? 0 : errno;
}

/** Closes `s` (the last descriptor of its socket: that also takes it out of the epoll set); returns its EV_ bit (0: it had no socket). */
static int close_side(tunnel_t* t, side_t* s) {
  if (s->closed) return 0;
  s->closed = 1;
  free(s->pending);
  s->pending = NULL;
  if (s->fd < 0) return 0;  // an upstream never connected
  close(s->fd);
  s->fd = -1;
  return s == &t->sides[CLIENT] ? EV_CLIENT_CLOSED : EV_UPSTREAM_CLOSED;
}

static int close_both(tunnel_t* t) {
  return close_side(t, &t->sides[CLIENT]) | close_side(t, &t->sides[UPSTREAM]);
}

/** Drops the upstream of a waiting or connecting tunnel: it may connect again. */
static void reset_upstream(tunnel_t* t) {
  side_t* upstream = &t->sides[UPSTREAM];
  if (upstream->fd >= 0) close(upstream->fd);
  memset(upstream, 0, sizeof(*upstream));
  upstream->fd = -1;
  t->state = WAITING;
}

// ------------------------------------------------------------ moving bytes

/** Sends `len` bytes to `to`, keeping what it does not take; 0, or an errno that ends the tunnel. */
static int deliver(side_t* to, const char* data, size_t len) {
  ssize_t sent;
  do sent = send(to->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    sent = 0;
  }
  if ((size_t)sent == len) return 0;
  to->writable = 0;
  to->pending = malloc(len - sent);
  if (to->pending == NULL) return ENOMEM;
  memcpy(to->pending, data + sent, len - sent);
  to->pending_off = 0;
  to->pending_len = len - sent;
  return 0;
}

/** Sends what `to` still has to take; 0, or an errno. */
static int flush(side_t* to) {
  size_t left = to->pending_len - to->pending_off;
  ssize_t sent;
  do sent = send(to->fd, to->pending + to->pending_off, left, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    sent = 0;
  }
  if ((size_t)sent < left) {
    to->writable = 0;
    to->pending_off += sent;
    return 0;
  }
  free(to->pending);
  to->pending = NULL;
  return 0;
}

/**
 * A response chunk while HTTP/1.x is followed: delivered with Connection:
 * close inserted where h1frame.c says, and cut after the response that ends
 * the connection (then the upstream closes: the backend has one connection
 * fewer, and the client gets its end once it has everything).
 */
static int deliver_response(tunnel_t* t, char* data, size_t len, int* closed) {
  h1_cut_t cut;
  h1_response(&t->h1, data, len, t->draining, &cut);
  if (cut.insert_at < 0 && cut.end_at < 0) return deliver(&t->sides[CLIENT], data, len);
  size_t keep = cut.end_at >= 0 ? (size_t)cut.end_at : len;
  int error = 0;
  if (cut.insert_at < 0) {
    error = deliver(&t->sides[CLIENT], data, keep);
  } else {
    size_t at = (size_t)cut.insert_at, extra = sizeof(H1_CONNECTION_CLOSE) - 1;
    char* joined = malloc(keep + extra);
    if (joined == NULL) return ENOMEM;
    memcpy(joined, data, at);
    memcpy(joined + at, H1_CONNECTION_CLOSE, extra);
    memcpy(joined + at + extra, data + at, keep - at);
    error = deliver(&t->sides[CLIENT], joined, keep + extra);
    free(joined);
  }
  if (error == 0 && cut.end_at >= 0) {
    t->ended = true;
    *closed |= close_side(t, &t->sides[UPSTREAM]);
    t->sides[UPSTREAM].read_done = 1;  // for the client: its peer has ended
  }
  return error;
}

/** Reads one chunk from side `i` and sends it to the other; *moved is set when something happened. 0, or an errno. */
static int pump(tunnel_t* t, int i, bool* moved, int* closed) {
  side_t* from = &t->sides[i];
  ssize_t got;
  do got = recv(from->fd, g_read_buf, READ_SIZE, 0);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    *moved = true;
    t->activity++;
    // A short read drained the socket; the next arrival is a new edge. After
    // EPOLLRDHUP, read on: the end itself gives no further edge.
    if (got < READ_SIZE && !from->peer_ended) from->readable = 0;
    if (t->ended) return 0;  // a client's bytes after the last response of an ended connection: dropped
    if (t->h1.off) return deliver(&t->sides[1 - i], g_read_buf, (size_t)got);
    if (i == CLIENT) {
      h1_request(&t->h1, g_read_buf, (size_t)got);
      return deliver(&t->sides[UPSTREAM], g_read_buf, (size_t)got);
    }
    return deliver_response(t, g_read_buf, (size_t)got, closed);
  }
  if (got == 0) {
    *moved = true;
    from->read_done = 1;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    from->readable = 0;
    return 0;
  }
  return errno;
}

/**
 * Moves what can be moved, passes ends on, closes the sides done both ways
 * (adding their EV_ bits to *closed). Returns 0, or an errno that ends the
 * tunnel. Moves at most CHUNKS_PER_TURN chunks, then re-arms the sockets so
 * that epoll reports them again on the next turn.
 */
static int process(tunnel_t* t, int* closed) {
  int turns = 0;
  bool moved = true;
  while (moved) {
    moved = false;
    for (int i = 0; i < 2; i++) {
      side_t* from = &t->sides[i];
      side_t* to = &t->sides[1 - i];
      if (to->closed && !(t->ended && i == CLIENT)) continue;
      int error = 0;
      if (!to->closed && to->pending != NULL && to->writable) {
        error = flush(to);
        if (to->pending == NULL) moved = true;
      }
      if (error == 0 && !from->closed && (to->closed || to->pending == NULL) && from->readable && !from->read_done) error = pump(t, i, &moved, closed);
      if (error != 0) return error;
    }
    for (int i = 0; i < 2; i++) {
      side_t* s = &t->sides[i];
      side_t* peer = &t->sides[1 - i];
      if (s->closed) continue;
      if (peer->read_done && s->pending == NULL && !s->write_done) {
        s->write_done = 1;
        // A side that has ended too gets its FIN from close(), one syscall fewer.
        if (!s->read_done && shutdown(s->fd, SHUT_WR) != 0 && errno != ENOTCONN) return errno;
      }
      if (s->read_done && s->write_done) *closed |= close_side(t, s);
    }
    if (moved && ++turns == CHUNKS_PER_TURN) {
      // Fairness: the rest waits for the next turn of the loop. Re-registering
      // an edge-triggered socket reports it again if it is still ready.
      for (int i = 0; i < 2; i++) {
        int error = t->sides[i].closed ? 0 : watch(t, i, EPOLL_CTL_MOD);
        if (error != 0) return error;
      }
      return 0;
    }
  }
  return 0;
}

// ------------------------------------------------------------ events

/** The EV_ bits of the sides of `t` still open; frees `t` when none is. */
static int settle_open(tunnel_t* t) {
  int open = (t->sides[CLIENT].closed ? 0 : EV_CLIENT_CLOSED) | (t->sides[UPSTREAM].closed ? 0 : EV_UPSTREAM_CLOSED);
  if (open == 0) tunnel_free(t);
  return open;
}

/** The upstream's connect completed: report it; on success start moving bytes. */
static void connect_done(tunnel_t* t) {
  int32_t id = t->id;
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(t->sides[UPSTREAM].fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) {
    reset_upstream(t);
    emit(id, EV_CONNECT_FAILED, error);
    return;
  }
  t->state = OPEN;
  // The client has usually sent its request by now: read it without waiting for epoll.
  t->sides[CLIENT].readable = 1;
  t->sides[CLIENT].writable = 1;
  int closed = 0;
  error = process(t, &closed);
  if (error != 0) closed |= close_both(t);
  int open = settle_open(t);
  emit(id, EV_CONNECTED | closed, open);
}

static void on_tunnel_event(int32_t id, uint32_t generation, int index, uint32_t events) {
  tunnel_t* t = table_get(id);
  if (t == NULL || t->generation != generation || t->sides[index].closed) return;  // stale
  side_t* s = &t->sides[index];
  bool gone = (events & (EPOLLERR | EPOLLHUP)) != 0;
  if (gone) events |= EPOLLIN | EPOLLOUT | EPOLLRDHUP;  // recv/send will say what
  if (events & EPOLLRDHUP) s->peer_ended = 1;
  if (events & EPOLLIN) s->readable = 1;
  if (events & EPOLLOUT) s->writable = 1;
  if (t->state != OPEN) {
    if (index == UPSTREAM) {
      if (events & EPOLLOUT) connect_done(t);
    } else if (gone) {
      // The client is gone both ways while it waited: nothing to wait for.
      int closed = close_both(t);
      tunnel_free(t);
      emit(id, closed, 0);
    }
    return;
  }
  int closed = 0;
  int error = process(t, &closed);
  if (error != 0) closed |= close_both(t);  // a reset: routine, not reported
  int open = settle_open(t);
  if (closed != 0) emit(id, closed, open);
}

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

/** Accepts what the listener has (up to a limit): each client a tunnel waiting for its backend. */
static void on_listener_event(int32_t id, uint32_t generation) {
  for (int n = 0; n < ACCEPTS_PER_TURN; n++) {
    // Looked up each time: a flush of the events (emit) may have closed it, or moved the table.
    listener_t* l = listener_get(id);
    if (l == NULL || l->generation != generation) return;
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK) return;
      if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) pause_listener(id, l);
      emit(id, EV_ACCEPT_FAILED, error);
      return;
    }
    tunnel_t* t = calloc(1, sizeof(*t));
    int32_t tid = t == NULL ? -1 : table_add(t);
    if (tid < 0) {
      free(t);
      close(fd);
      pause_listener(id, l);
      emit(id, EV_ACCEPT_FAILED, ENOMEM);
      return;
    }
    t->id = tid;
    t->generation = ++g_generation;
    t->sides[CLIENT].fd = fd;
    t->sides[UPSTREAM].fd = -1;
    t->state = WAITING;
    h1_init(&t->h1);
    int error = watch(t, CLIENT, EPOLL_CTL_ADD);
    if (error != 0) {
      close(fd);
      tunnel_free(t);
      emit(id, EV_ACCEPT_FAILED, error);
      return;
    }
    no_delay(fd);
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

static void free_handle(uv_handle_t* handle) {
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
    tunnels_shutdown();
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

void tunnels_shutdown(void) {
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
  }
  free(g_listeners);
  g_listeners = NULL;
  g_listener_count = 0;
  uv_close((uv_handle_t*)g_epoll_poll, free_handle);
  uv_close((uv_handle_t*)g_accept_timer, free_handle);
  g_epoll_poll = NULL;
  g_accept_timer = NULL;
  close(g_epoll);
  g_epoll = -1;
  g_alive = 0;
  g_batch = NULL;
  g_batch_len = 0;
}

int32_t listener_open(const struct sockaddr* address, socklen_t length, int backlog) {
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
  unhold();
}

int tunnel_connect(int32_t id, const struct sockaddr* address, socklen_t length) {
  tunnel_t* t = table_get(id);
  if (t == NULL) return -EBADF;
  if (t->state != WAITING) return -EALREADY;
  int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  no_delay(fd);
  if (connect(fd, address, length) != 0 && errno != EINPROGRESS) {
    int error = errno;
    close(fd);
    return -error;
  }
  t->sides[UPSTREAM].fd = fd;
  int error = watch(t, UPSTREAM, EPOLL_CTL_ADD);
  if (error != 0) {
    reset_upstream(t);
    return -error;
  }
  // Edge-triggered: a connect that completed already is still reported once registered.
  t->state = CONNECTING;
  return 0;
}

void tunnel_abort_connect(int32_t id) {
  tunnel_t* t = table_get(id);
  if (t != NULL && t->state == CONNECTING) reset_upstream(t);
}

int tunnel_destroy(int32_t id) {
  tunnel_t* t = table_get(id);
  if (t == NULL) return 0;
  int closed = close_both(t);
  tunnel_free(t);
  return closed;
}

int tunnel_drain(int32_t id) {
  tunnel_t* t = table_get(id);
  if (t == NULL) return -1;
  t->draining = true;
  return 0;
}

double tunnel_activity(int32_t id) {
  tunnel_t* t = table_get(id);
  return t == NULL ? -1 : t->activity;
}
