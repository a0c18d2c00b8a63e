// The native tcp front's interface between its data plane (tunnel.c) and its
// JavaScript binding (tunnel-napi.c). See tunnel.c for what it does.

#ifndef SUPERVISE_TUNNEL_H
#define SUPERVISE_TUNNEL_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/**
 * The events, as (id, what, detail) triples in the batch buffer:
 * - sides closed (EV_CLIENT_CLOSED | EV_UPSTREAM_CLOSED), detail: the EV_ bits
 *   of the sides still open (0: the tunnel is gone, its id free);
 * - EV_CONNECTED, with the sides that closed at once, detail as above;
 * - EV_CONNECT_FAILED, detail: the errno; the tunnel waits for another connect
 *   (its client is still held, unread);
 * - EV_ACCEPTED, detail: the listener's id; the tunnel waits for a connect;
 * - EV_ACCEPT_FAILED (id: the listener's), detail: the errno; on a lack of
 *   descriptors or memory the listener pauses for a moment rather than spin.
 */
#define EV_CLIENT_CLOSED 1
#define EV_UPSTREAM_CLOSED 2
#define EV_CONNECTED 4
#define EV_CONNECT_FAILED 8
#define EV_ACCEPTED 16
#define EV_ACCEPT_FAILED 32

/** Called with the number of triples in the batch buffer; JavaScript may call back into this module from it. */
typedef void (*tunnel_flush_cb)(int32_t count);

/**
 * Once per process (until tunnels_shutdown): the epoll set, polled by `loop`;
 * events are written to `batch` (room for `capacity` triples) and flushed once
 * per turn of the loop, or when it is full. 0, or an errno.
 */
int tunnels_init(uv_loop_t* loop, int32_t* batch, int32_t capacity, tunnel_flush_cb flush);

/**
 * Closes every socket and frees everything (the environment is going away).
 * Its two libuv handles close asynchronously: `closed` is called for each
 * (it frees the handle), then the module may be initialised again.
 */
void tunnels_shutdown(uv_close_cb closed);

/** Binds and listens: the listener's id, or a negative errno. */
int32_t listener_open(const struct sockaddr* address, socklen_t length, int backlog);

/** The port listener `id` is bound to, or a negative errno. */
int32_t listener_port(int32_t id);

/** Stops accepting; the tunnels it accepted go on. */
void listener_close(int32_t id);

struct tls_set;
/** The listener terminates TLS with `set` from now on (it takes the caller's reference): new clients handshake with it, open tunnels keep theirs. 0, or -EBADF. */
int listener_set_tls(int32_t id, struct tls_set* set);

/**
 * Connects the waiting tunnel `id` to `address`: 0, or a negative errno when
 * it failed at once (the tunnel still waits). Then EV_CONNECTED or
 * EV_CONNECT_FAILED.
 */
int tunnel_connect(int32_t id, const struct sockaddr* address, socklen_t length);

/** Gives up the connect in progress of tunnel `id`, unreported: it waits for another. */
void tunnel_abort_connect(int32_t id);

/** Ends tunnel `id` at once; the EV_ bits of the sides it closed (0: no such tunnel). Not reported as an event. */
int tunnel_destroy(int32_t id);

/**
 * The backend of tunnel `id` is draining: on HTTP/1.x, the connection ends at
 * the next response boundary, that response saying `Connection: close`; other
 * protocols are left alone. 0, or -1: no such tunnel.
 */
int tunnel_drain(int32_t id);

/** Chunks tunnel `id` has moved so far in either direction (-1: no such tunnel). */
double tunnel_activity(int32_t id);

#endif
