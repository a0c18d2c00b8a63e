// What tunnel.c (a connection: its two sockets, moving bytes, its events) and
// tunnel-loop.c (the epoll set, the id table, the batch of events, the
// listeners) share. Internal to src/native/.

#ifndef SUPERVISE_TUNNEL_INTERNAL_H
#define SUPERVISE_TUNNEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h1frame.h"
#include "tls_conn.h"
#include "tunnel.h"

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
  tls_conn_t* tls;  // the client's side of a listener that terminates TLS (tunnelSetTls): its bytes go through it
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

// ---- tunnel-loop.c

extern int g_epoll;

/** Appends an event to the batch (flushing it to JavaScript first when full). */
void emit(int32_t id, int what, int detail);
/** A new id for `t` (-1: out of memory); it keeps node's loop alive until tunnel_free. */
int32_t table_add(tunnel_t* t);
tunnel_t* table_get(int32_t id);
/** Frees `t` and its id. */
void tunnel_free(tunnel_t* t);
/** The epoll data of a socket: generation, id and kind (CLIENT, UPSTREAM, LISTENER). */
uint64_t tag(uint32_t generation, int32_t id, int kind);
uint32_t next_generation(void);

// ---- tunnel.c

/** A client accepted as `fd` (TLS with `tls`'s certificates when not NULL): a tunnel waiting for its backend; its id, or a negative errno (`fd` then closed). */
int32_t tunnel_accept(int fd, tls_set_t* tls);
/** An epoll event for side `index` of tunnel `id`. */
void on_tunnel_event(int32_t id, uint32_t generation, int index, uint32_t events);
/** Closes both sides of `t` (the environment goes away). */
int close_both(tunnel_t* t);

#endif
