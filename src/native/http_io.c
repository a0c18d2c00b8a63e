// The native http front's plumbing: growable buffers, connection ids (with a
// generation for stale epoll events), non-blocking sockets registered
// edge-triggered, and the thread's batch of event records (drained by the
// main thread, which delivers every thread's in one call into JavaScript).

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

__thread hf_loop_t* hf_self;
atomic_int_fast64_t hf_open_fds;

uint64_t hf_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t hf_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hf_emit(hf_front_t* front, int32_t type, int32_t slot, int32_t detail) {
  if (front->destroyed) return;  // JavaScript let go of it: nobody to tell
  hf_loop_t* loop = hf_self;  // the caller holds its lock (it is handling events or commands)
  if (loop->event_count + 4 > loop->event_cap) {
    size_t cap = loop->event_cap == 0 ? 256 : loop->event_cap * 2;
    int32_t* events = realloc(loop->events, cap * sizeof(*events));
    if (events == NULL) return;  // out of memory: an event is lost (a drain or a failure unreported); nothing unsafe
    loop->events = events;
    loop->event_cap = cap;
  }
  int32_t* record = loop->events + loop->event_count;
  record[0] = front->index;
  record[1] = type;
  record[2] = slot;
  record[3] = detail;
  loop->event_count += 4;
}

void hf_drop_events(hf_loop_t* loop, int32_t index) {
  size_t kept = 0;
  for (size_t i = 0; i < loop->event_count; i += 4) {
    if (loop->events[i] == index) continue;
    if (kept != i) memmove(loop->events + kept, loop->events + i, 4 * sizeof(*loop->events));
    kept += 4;
  }
  loop->event_count = kept;
}

static bool hf_buf_reserve(buf_t* b, uint32_t want) {
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

uint32_t hf_buf_len(const buf_t* b) {
  return b->end - b->start;
}

bool hf_buf_append(buf_t* b, const char* data, size_t len) {
  if (!hf_buf_reserve(b, (uint32_t)len)) return false;
  memcpy(b->data + b->end, data, len);
  b->end += (uint32_t)len;
  return true;
}

bool hf_buf_str(buf_t* b, const char* text) {
  return hf_buf_append(b, text, strlen(text));
}

void hf_buf_consume(buf_t* b, uint32_t n) {
  b->start += n;
  if (b->start == b->end) b->start = b->end = 0;
}

static void hf_buf_free(buf_t* b) {
  free(b->data);
  b->data = NULL;
  b->start = b->end = b->cap = 0;
}

// ------------------------------------------------------------ the id table

int32_t hf_table_add(conn_t* c) {
  int32_t id = id_table_add(&hf_self->conns, c);
  if (id < 0) return -1;
  c->id = id;
  c->generation = ++hf_self->generation;
  atomic_fetch_add_explicit(&hf_open_fds, 1, memory_order_relaxed);
  return id;
}

static void hf_table_remove(conn_t* c) {
  id_table_remove(&hf_self->conns, c->id);
  atomic_fetch_sub_explicit(&hf_open_fds, 1, memory_order_relaxed);
}

/** Registers `c` edge-triggered for both directions; the event carries its id and generation. */
int hf_watch(conn_t* c, int op) {
  struct epoll_event event;
  // A listener is shared by every thread's set: level-triggered and exclusive (one thread woken per connection; EPOLL_CTL_MOD is refused for it).
  event.events = c->kind == K_LISTEN ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = ((uint64_t)c->generation << 32) | (uint32_t)c->id;
  return epoll_ctl(hf_self->epoll, op, c->fd, &event) == 0 ? 0 : errno;
}

/** Closes `c`'s socket and frees its id and buffers (the struct is the caller's). */
void hf_conn_close(conn_t* c) {
  tls_conn_free(c->tls);
  c->tls = NULL;
  // A listener's duplicates are in other threads' sets: closing this one alone would leave it registered here.
  if (c->fd >= 0 && c->kind == K_LISTEN) epoll_ctl(hf_self->epoll, EPOLL_CTL_DEL, c->fd, NULL);
  if (c->fd >= 0) close(c->fd);  // the last descriptor: that also takes it out of the epoll set
  c->fd = -1;
  hf_table_remove(c);
  hf_buf_free(&c->in);
  hf_buf_free(&c->out);
}

void hf_no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/** Sends what `c` has queued; 0, or an errno. */
int hf_flush_out(conn_t* c) {
  while (hf_buf_len(&c->out) > 0 && c->writable) {
    const char* data = c->out.data + c->out.start;
    ssize_t sent = c->tls != NULL ? tls_conn_send(c->tls, data, hf_buf_len(&c->out), &c->readable, &c->writable)
                                  : send(c->fd, data, hf_buf_len(&c->out), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (c->tls == NULL) c->writable = false;  // TLS: cleared by what OpenSSL waits for (the read side, during a handshake)
        if (!c->blocked) {
          c->blocked = true;  // the send timeout counts from here
          c->sent_ms = hf_now_ms();
        }
        return 0;
      }
      return errno;
    }
    hf_buf_consume(&c->out, (uint32_t)sent);
    if (c->blocked) c->sent_ms = hf_now_ms();  // it takes bytes again
  }
  if (hf_buf_len(&c->out) == 0) c->blocked = false;
  if (hf_buf_len(&c->out) == 0 && c->out.cap > 4 * READ_SIZE) hf_buf_free(&c->out);  // a big body went through: give the memory back
  return 0;
}

/** Reads what `c` has into its input buffer; *got: bytes read (or the end seen). 0, or an errno. */
int hf_fill_in(conn_t* c, bool* got) {
  while (c->readable && !c->eof) {
    if (!hf_buf_reserve(&c->in, READ_SIZE)) return ENOMEM;
    uint32_t room = c->in.cap - c->in.end;
    char* into = c->in.data + c->in.end;
    ssize_t n = c->tls != NULL ? tls_conn_recv(c->tls, into, room, &c->readable, &c->writable) : recv(c->fd, into, room, 0);
    if (n > 0) {
      c->in.end += (uint32_t)n;
      c->read_ms = hf_now_ms();
      *got = true;
      // Drained: the next arrival is a new edge. After a hang-up, read on: the end itself gives no further edge.
      // (TLS reads a record at a time and may hold more: read on until OpenSSL wants more bytes.)
      if ((uint32_t)n < room && !c->hangup && c->tls == NULL) c->readable = false;
      return 0;
    }
    if (n == 0) {
      c->eof = true;
      c->read_ms = hf_now_ms();
      *got = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (c->tls == NULL) c->readable = false;  // TLS: cleared by what OpenSSL waits for
      return 0;
    }
    return errno;
  }
  return 0;
}

void hf_shut_write(conn_t* c) {
  if (c->tls != NULL) tls_conn_shutdown(c->tls);
  shutdown(c->fd, SHUT_WR);
}
