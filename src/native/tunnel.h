// The native tunnel's interface between its data path (tunnel.c) and its
// JavaScript binding (binding.c). See tunnel.c for what it does.

#ifndef SUPERVISE_TUNNEL_H
#define SUPERVISE_TUNNEL_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/** What the event callback reports: sides closed (bits 0–1), a connect's outcome, or both (EV_CONNECTED with the sides that closed at once). */
#define EV_CLIENT_CLOSED 1
#define EV_UPSTREAM_CLOSED 2
#define EV_CONNECTED 4
#define EV_CONNECT_FAILED 8

/**
 * Called once a tunnel's state is settled, so that it may call back into this
 * module. `detail`: the errno of EV_CONNECT_FAILED; with closed sides, the
 * EV_ bits of the sides still open (0: the tunnel is gone).
 */
typedef void (*tunnel_event_cb)(int32_t id, int what, int detail);

/** Once per process: the epoll set, polled by `loop`. 0, or an errno. */
int tunnels_init(uv_loop_t* loop, tunnel_event_cb on_event);

/**
 * Starts connecting to `address` for the client whose descriptor the caller
 * holds: the tunnel's id, or a negative errno when the connect failed at
 * once. Then EV_CONNECTED (the client was dup()ed: the caller closes its own
 * descriptor) or EV_CONNECT_FAILED (the tunnel is gone, the client still the
 * caller's).
 */
int32_t tunnel_connect(int client_fd, const struct sockaddr* address, socklen_t length);

/** Ends tunnel `id` at once, a connect in progress too; the EV_ bits of the sides it closed (0: no such tunnel). */
int tunnel_destroy(int32_t id);

/** Chunks tunnel `id` has moved so far in either direction (-1: no such tunnel). */
double tunnel_activity(int32_t id);

#endif
