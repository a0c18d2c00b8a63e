// The tcp front's data path in C (Linux): connects an accepted client to the
// backend JavaScript chose, then moves bytes both ways with no JavaScript per
// chunk. tcp-proxy-raw.ts keeps everything else: accepting, balancing, retries
// on the next backend, connect and idle timeouts, accounting. Per chunk,
// JavaScript would cost a callback into V8 and back, and node's streams use
// read()/write() and re-register sockets with epoll; here a chunk is one recv()
// and one send(), and a connection two epoll_ctl() calls (docs/benchmarks.md,
// "Native tunnel").
//
// The rules are the JavaScript front's:
// - the client is read only once the backend has accepted (a failed connect
//   is reported, and JavaScript tries the next backend);
// - half-close: an end read from one side is passed on as a shutdown of the
//   other, which may keep sending; a side is closed once it has ended and
//   been ended;
// - backpressure: what a side does not take at once is kept (one chunk at
//   most), and its peer is not read until it has all been taken;
// - an error on either side (a reset) closes both.
//
// The sockets are registered edge-triggered in an epoll set of our own, which
// node's loop polls through one uv_poll handle. Connects and closes are told
// through the callback given to tunnels_init() (binding.c makes it a call into
// JavaScript), once the tunnel's state is settled, so that it may call back
// into this module.

#include "tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE 65536
#define MAX_EVENTS 256
/** Chunks moved for one tunnel per event before others get their turn (then it is re-armed). */
#define CHUNKS_PER_TURN 16

#define CLIENT 0
#define UPSTREAM 1

typedef struct side {
  int fd;              // -1 while not ours yet (the client, before the connect completes)
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

typedef struct tunnel {
  side_t sides[2];
  int32_t id;
  uint32_t generation;  // tells a stale epoll event of an earlier tunnel with the same id
  int client_fd;        // JavaScript's descriptor of the client, dup()ed once connected
  bool connecting;
  double activity;      // chunks moved, for the idle sweep of the JavaScript front
} tunnel_t;

static tunnel_event_cb g_on_event;
static int g_epoll = -1;
static uv_poll_t g_epoll_poll;
static uint32_t g_generation;
static int32_t g_count;  // tunnels alive: while there are any, they keep node's loop alive, as sockets would
static char g_read_buf[READ_SIZE];

// Tunnels by id; free ids are chained through g_free_next (reused, so ids stay small).
static tunnel_t** g_table;
static int32_t* g_free_next;
static int32_t g_free = -1;
static int32_t g_capacity;

// ------------------------------------------------------------ the id table

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
  if (g_count++ == 0) uv_ref((uv_handle_t*)&g_epoll_poll);
  return id;
}

static tunnel_t* table_get(int32_t id) {
  return id >= 0 && id < g_capacity ? g_table[id] : NULL;
}

/** Frees `t` and its id. */
static void tunnel_free(tunnel_t* t) {
  g_table[t->id] = NULL;
  g_free_next[t->id] = g_free;
  g_free = t->id;
  free(t);
  if (--g_count == 0) uv_unref((uv_handle_t*)&g_epoll_poll);
}

// ------------------------------------------------------------ sockets

/** Responses are small and request-sized: never let Nagle hold one back. */
static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/** Registers `fd` for both directions, edge-triggered; the event carries the tunnel's id, generation and side. */
static int watch(tunnel_t* t, int side, int op) {
  struct epoll_event event;
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = ((uint64_t)t->generation << 32) | ((uint64_t)t->id << 1) | (uint64_t)side;
  return epoll_ctl(g_epoll, op, t->sides[side].fd, &event) == 0 ? 0 : errno;
}

/** Closes `s` (the last descriptor of its socket: that also takes it out of the epoll set); returns its EV_ bit. */
static int close_side(tunnel_t* t, side_t* s) {
  if (s->closed) return 0;
  s->closed = 1;
  free(s->pending);
  s->pending = NULL;
  if (s->fd >= 0) close(s->fd);
  return s == &t->sides[CLIENT] ? EV_CLIENT_CLOSED : EV_UPSTREAM_CLOSED;
}

static int close_both(tunnel_t* t) {
  return close_side(t, &t->sides[CLIENT]) | close_side(t, &t->sides[UPSTREAM]);
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

/** Reads one chunk from `from` and sends it to `to`; *moved is set when something happened. 0, or an errno. */
static int pump(tunnel_t* t, side_t* from, side_t* to, bool* moved) {
  ssize_t got;
  do got = recv(from->fd, g_read_buf, READ_SIZE, 0);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    *moved = true;
    t->activity++;
    // A short read drained the socket; the next arrival is a new edge. After
    // EPOLLRDHUP, read on: the end itself gives no further edge.
    if (got < READ_SIZE && !from->peer_ended) from->readable = 0;
    return deliver(to, g_read_buf, (size_t)got);
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
      if (to->closed || from->closed) continue;
      int error = 0;
      if (to->pending != NULL && to->writable) {
        error = flush(to);
        if (to->pending == NULL) moved = true;
      }
      if (error == 0 && to->pending == NULL && from->readable && !from->read_done) error = pump(t, from, to, &moved);
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

/** The upstream's connect completed: report it; on success take the client and start moving bytes. */
static void connect_done(tunnel_t* t) {
  int32_t id = t->id;
  side_t* upstream = &t->sides[UPSTREAM];
  side_t* client = &t->sides[CLIENT];
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(upstream->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  t->connecting = false;
  if (error == 0) {
    client->fd = fcntl(t->client_fd, F_DUPFD_CLOEXEC, 0);
    if (client->fd < 0) error = errno;
    else if ((error = watch(t, CLIENT, EPOLL_CTL_ADD)) != 0) close(client->fd);
    else no_delay(client->fd);
  }
  if (error != 0) {
    client->closed = 1;  // never ours
    close_side(t, upstream);
    tunnel_free(t);
    g_on_event(id, EV_CONNECT_FAILED, error);
    return;
  }
  // The client has usually sent its request by now: read it without waiting for epoll.
  client->readable = 1;
  client->writable = 1;
  int closed = 0;
  error = process(t, &closed);
  if (error != 0) closed |= close_both(t);
  int open = settle_open(t);
  // One event: after the callback, `id` may already belong to another tunnel.
  g_on_event(id, EV_CONNECTED | closed, open);
}

static void on_event(uint64_t data, uint32_t events) {
  int32_t id = (int32_t)((data & 0xffffffffu) >> 1);
  int index = (int)(data & 1);
  tunnel_t* t = table_get(id);
  if (t == NULL || t->generation != (uint32_t)(data >> 32) || t->sides[index].closed) return;  // stale
  side_t* s = &t->sides[index];
  if (events & (EPOLLERR | EPOLLHUP)) events |= EPOLLIN | EPOLLOUT | EPOLLRDHUP;  // recv/send will say what
  if (events & EPOLLRDHUP) s->peer_ended = 1;
  if (events & EPOLLIN) s->readable = 1;
  if (events & EPOLLOUT) s->writable = 1;
  if (t->connecting) {
    if (index == UPSTREAM && (events & EPOLLOUT)) connect_done(t);
    return;
  }
  int closed = 0;
  int error = process(t, &closed);
  if (error != 0) closed |= close_both(t);  // a reset: routine, not reported
  int open = settle_open(t);
  if (closed != 0) g_on_event(id, closed, open);
}

static void on_epoll(uv_poll_t* handle, int status, int events) {
  struct epoll_event ready[MAX_EVENTS];
  int count;
  do count = epoll_wait(g_epoll, ready, MAX_EVENTS, 0);
  while (count < 0 && errno == EINTR);
  // Each event is looked up by id and generation: a callback into JavaScript
  // may have ended a tunnel that has more events further down this batch.
  for (int i = 0; i < count; i++) on_event(ready[i].data.u64, ready[i].events);
}

// ------------------------------------------------------------ the interface (tunnel.h)

int tunnels_init(uv_loop_t* loop, tunnel_event_cb on_event) {
  if (g_epoll >= 0) return EEXIST;
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (g_epoll < 0) return errno;
  if (uv_poll_init(loop, &g_epoll_poll, g_epoll) != 0 || uv_poll_start(&g_epoll_poll, UV_READABLE, on_epoll) != 0) {
    close(g_epoll);
    g_epoll = -1;
    return EIO;
  }
  // Referenced only while tunnels exist (table_add, tunnel_free): they keep node's loop alive, as sockets would.
  uv_unref((uv_handle_t*)&g_epoll_poll);
  g_on_event = on_event;
  return 0;
}

int32_t tunnel_connect(int client_fd, const struct sockaddr* address, socklen_t length) {
  int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  no_delay(fd);
  if (connect(fd, address, length) != 0 && errno != EINPROGRESS) {
    int error = errno;
    close(fd);
    return -error;
  }
  tunnel_t* t = calloc(1, sizeof(*t));
  if (t == NULL) {
    close(fd);
    return -ENOMEM;
  }
  t->sides[CLIENT].fd = -1;
  t->sides[UPSTREAM].fd = fd;
  t->client_fd = client_fd;
  t->connecting = true;
  t->generation = ++g_generation;
  t->id = table_add(t);
  int error = t->id < 0 ? ENOMEM : watch(t, UPSTREAM, EPOLL_CTL_ADD);
  if (error != 0) {
    close(fd);
    if (t->id >= 0) tunnel_free(t);
    else free(t);
    return -error;
  }
  // Edge-triggered: a connect that completed already is still reported once registered.
  return t->id;
}

int tunnel_destroy(int32_t id) {
  tunnel_t* t = table_get(id);
  if (t == NULL) return 0;
  if (t->connecting) t->sides[CLIENT].closed = 1;  // still the caller's
  int closed = close_both(t);
  tunnel_free(t);
  return closed;
}

double tunnel_activity(int32_t id) {
  tunnel_t* t = table_get(id);
  return t == NULL ? -1 : t->activity;
}
