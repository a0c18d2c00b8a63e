// The tcp front's data plane in C (Linux): it owns the listening sockets
// (accept4 in its own epoll set), holds each accepted client unread until
// JavaScript names a backend (once per connection, through batched events),
// connects, and moves bytes both ways with no JavaScript per chunk. This file
// is one connection (its two sockets, the bytes, its events); the epoll set,
// the ids, the batch of events and the listeners are tunnel-loop.c's.
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

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tunnel-internal.h"

#define READ_SIZE 65536
/** Chunks moved for one tunnel per event before others get their turn (then it is re-armed). */
#define CHUNKS_PER_TURN 16

static char g_read_buf[READ_SIZE];

// ------------------------------------------------------------ sockets

/** Responses are small and request-sized: never let Nagle hold one back. */
static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/** Registers a side of `t` for both directions, edge-triggered. */
static int watch(tunnel_t* t, int side, int op) {
  struct epoll_event event;
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = tag(t->generation, t->id, side);
  return epoll_ctl(g_epoll, op, t->sides[side].fd, &event) == 0 ? 0 : errno;
}

/**
 * send(2) on a side, through its TLS connection when it has one (which says,
 * in the side's flags, what it waits for). TLS writes a record at a time: it
 * goes on until all is sent or OpenSSL waits, so that a short count means
 * "wait for an event", as a plain socket's does.
 */
static ssize_t side_send(side_t* s, const char* data, size_t len) {
  if (s->tls == NULL) return send(s->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  bool readable = s->readable, writable = s->writable;
  size_t done = 0;
  while (done < len) {
    ssize_t sent = tls_conn_send(s->tls, data + done, len - done, &readable, &writable);
    if (sent < 0) {
      if (done == 0) done = (size_t)-1;  // the error (errno) as it is; after some bytes, the next call meets it
      break;
    }
    done += (size_t)sent;
  }
  s->readable = readable;
  s->writable = writable;
  return (ssize_t)done;
}

/** recv(2) on a side, likewise. */
static ssize_t side_recv(side_t* s, char* data, size_t len) {
  if (s->tls == NULL) return recv(s->fd, data, len, 0);
  bool readable = s->readable, writable = s->writable;
  ssize_t got = tls_conn_recv(s->tls, data, len, &readable, &writable);
  s->readable = readable;
  s->writable = writable;
  return got;
}

/** Closes `s` (the last descriptor of its socket: that also takes it out of the epoll set); returns its EV_ bit (0: it had no socket). */
static int close_side(tunnel_t* t, side_t* s) {
  if (s->closed) return 0;
  s->closed = 1;
  free(s->pending);
  s->pending = NULL;
  tls_conn_free(s->tls);
  s->tls = NULL;
  if (s->fd < 0) return 0;  // an upstream never connected
  close(s->fd);
  s->fd = -1;
  return s == &t->sides[CLIENT] ? EV_CLIENT_CLOSED : EV_UPSTREAM_CLOSED;
}

int close_both(tunnel_t* t) {
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
  do sent = side_send(to, data, len);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    sent = 0;
  }
  if ((size_t)sent == len) return 0;
  if (to->tls == NULL) to->writable = 0;  // TLS: its flags say what it waits for (a handshake may wait for a read)
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
  do sent = side_send(to, to->pending + to->pending_off, left);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    sent = 0;
  }
  if ((size_t)sent < left) {
    if (to->tls == NULL) to->writable = 0;
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
  do got = side_recv(from, g_read_buf, READ_SIZE);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    *moved = true;
    t->activity++;
    // A short read drained the socket; the next arrival is a new edge. After
    // EPOLLRDHUP the peer's FIN is already queued behind these bytes, and a
    // short read took everything before it: that is the end, without a
    // recv() that returns 0 (one syscall per connection that closes).
    // (TLS reads a record at a time and may hold more: it reads on until OpenSSL wants bytes, and its end is a read of 0.)
    if (got < READ_SIZE && from->tls == NULL) {
      if (from->peer_ended) from->read_done = 1;
      else from->readable = 0;
    }
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
    if (from->tls == NULL) from->readable = 0;  // TLS: cleared by what OpenSSL waits for
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
        if (s->tls != NULL) tls_conn_shutdown(s->tls);  // close_notify: the stream's end, as TLS says it
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

/**
 * The upstream's connect completed: report it; on success start moving bytes.
 * A connect that failed says EPOLLERR; only then is SO_ERROR read (a syscall
 * fewer per connection, as HAProxy does). A hang-up with no pending error was
 * a connection: moving bytes finds what became of it.
 */
static void connect_done(tunnel_t* t, bool failed) {
  int32_t id = t->id;
  int error = 0;
  socklen_t length = sizeof(error);
  if (failed) {
    if (getsockopt(t->sides[UPSTREAM].fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  }
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

void on_tunnel_event(int32_t id, uint32_t generation, int index, uint32_t events) {
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
      if (events & EPOLLOUT) connect_done(t, gone);
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

int32_t tunnel_accept(int fd, tls_set_t* tls) {
  tunnel_t* t = calloc(1, sizeof(*t));
  int32_t id = t == NULL ? -1 : table_add(t);
  if (id < 0) {
    free(t);
    close(fd);
    return -ENOMEM;
  }
  t->id = id;
  t->generation = next_generation();
  t->sides[CLIENT].fd = fd;
  t->sides[UPSTREAM].fd = -1;
  t->state = WAITING;
  h1_init(&t->h1);
  if (tls != NULL && (t->sides[CLIENT].tls = tls_conn_new(tls, fd)) == NULL) {
    close(fd);
    tunnel_free(t);
    return -ENOMEM;
  }
  int error = watch(t, CLIENT, EPOLL_CTL_ADD);
  if (error != 0) {
    tls_conn_free(t->sides[CLIENT].tls);
    close(fd);
    tunnel_free(t);
    return -error;
  }
  no_delay(fd);
  return id;
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
