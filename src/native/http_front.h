// The native http front's interface between its data path (http_front.c) and
// its JavaScript binding (http_binding.c). See http_front.c for what it does.

#ifndef SUPERVISE_HTTP_FRONT_H
#define SUPERVISE_HTTP_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dp_constants.h"

typedef struct hf_front hf_front_t;        // a front's share on one data-plane thread (http_internal.h)
typedef struct hf_listener hf_listener_t;  // a front as the main thread holds it: its listening socket, one share per thread
struct tls_set;

/**
 * Records of the batched event callback: four int32 each, [front, type, a, b];
 * the types (DP_EV_*) and the reasons of the errors the front answers itself
 * (DP_R_*) are dp_constants.h's, which JavaScript reads too.
 */
#define HF_EV_ERROR DP_EV_ERROR
#define HF_EV_CLOSED DP_EV_CLOSED
#define HF_R_BAD_REQUEST DP_R_BAD_REQUEST
#define HF_R_NO_BACKEND DP_R_NO_BACKEND
#define HF_R_BACKEND_FAILED DP_R_BACKEND_FAILED
#define HF_R_BAD_RESPONSE DP_R_BAD_RESPONSE
#define HF_R_TIMEOUT DP_R_TIMEOUT
#define HF_R_CLIENT_TIMEOUT DP_R_CLIENT_TIMEOUT

#define HF_STATUS_CLASSES 5
#define HF_BUCKETS 11
/** Routes are JavaScript's numbers for the (app, route) a request matched, 0..HF_MAX_ROUTES-1; a larger one is not counted. */
#define HF_MAX_ROUTES (1 << 16)
/** --front-threads' bound. */
#define HF_THREADS_MAX 64

/** Request counters of one backend and one route, read on scrape. */
typedef struct hf_stats {
  double classes[HF_STATUS_CLASSES];  // responses by status class 1xx..5xx
  double buckets[HF_BUCKETS];         // latencies <= 5,10,25,50,100,250,500,1000,2500,5000,10000 ms (cumulative)
  double sum_ms;
  double count;
} hf_stats_t;

typedef struct hf_hooks {
  /** The batched records (DP_EV_*), `count` of them: the only call from the data path into JavaScript. */
  void (*events)(const int32_t* records, size_t count);
} hf_hooks_t;

/** The edge's timeouts (SPEC §12), in ms; HF_T_* index them in hf_options_t's array and in httpListen's. */
#define HF_T_CONNECT 0        // a backend's connect → the next backend, then 502
#define HF_T_RESPONSE 1       // no response head after the request was sent → 504 (0: none)
#define HF_T_CLIENT_HEADER 2  // a request head not complete → 408, close
#define HF_T_CLIENT_BODY 3    // no request body byte for this long → 408, close; the backend connection released
#define HF_T_BACKEND_READ 4   // no response byte mid-body → both closed
#define HF_T_CLIENT_SEND 5    // a client that takes no response byte → both closed
#define HF_T_KEEPALIVE 6      // an idle client connection between requests
#define HF_T_TUNNEL 7         // an upgraded connection with no byte either way
#define HF_TIMEOUTS 8

typedef struct hf_options {
  uint32_t timeouts_ms[HF_TIMEOUTS];
  /** Peers whose X-Forwarded-* headers are kept: `trusted_count` ranges of 17 bytes (16 of address, IPv4 mapped, then the prefix's bits). */
  const uint8_t* trusted;
  uint32_t trusted_count;
  bool trust_all;
  uint32_t max_head;  // the largest request head (--max-header-size): above it, 431
  bool raw;           // DP_KIND_TCP: each connection decided once and piped whole (http_tcp.c)
} hf_options_t;

/** Once per process (on the main thread, which alone calls what follows). 0, or an errno. */
int hf_init(uv_loop_t* loop, const hf_hooks_t* hooks);

/** A front listening on `address` (owner: its binding's; id: its number in the event records). It holds requests until its first snapshot (hf_publish). NULL and *error set on failure. */
hf_listener_t* hf_listen(const struct sockaddr* address, socklen_t length, const hf_options_t* options, uint32_t threads, void* owner, int32_t id, int* error);

/** Its small id, as in the event records. */
int32_t hf_id(const hf_listener_t* front);

/** The port it listens on. */
int hf_port(const hf_listener_t* front);

/** Puts backend `slot` at `address` into the table (again), counters reset unless it comes back. */
int hf_backend_add(hf_listener_t* front, int32_t slot, const struct sockaddr* address, socklen_t length);

/** Takes backend `slot` out: its idle pooled connections close, busy ones close after their response. */
void hf_backend_remove(hf_listener_t* front, int32_t slot);

/** The counters of `slot` summed over the threads, one per route (*stats[route], allocated: the caller frees it): how many (0 before its first response), or -1 when there is no such backend or no memory. */
int32_t hf_backend_stats(const hf_listener_t* front, int32_t slot, hf_stats_t** stats);

/** Its data-plane threads' counters, [requests answered, connections accepted] per thread into `counts` (2 × threads): how many threads. */
uint32_t hf_thread_counts(const hf_listener_t* front, double* counts, uint32_t capacity);

/**
 * The decisions from now on: a snapshot (dp_snapshot.h's buffer, copied and
 * validated) replaces the front's; requests waiting in its queue try again.
 * 0, or an errno (refused: the front keeps the snapshot it has).
 */
int hf_publish(hf_listener_t* front, const void* snapshot, size_t length);

/** Requests in flight to `slot`, its idle pooled connections, and the requests handed to its backend since it took the slot. */
void hf_backend_load(const hf_listener_t* front, int32_t slot, int32_t load[3]);

/** Serves TLS from now on with `set` (the front takes the caller's reference; NULL: plain HTTP again): new handshakes use it at once, open connections keep theirs. `hsts`: max-age of Strict-Transport-Security on responses (0: none). */
void hf_set_tls(hf_listener_t* front, struct tls_set* set, uint32_t hsts);

/** Stops accepting; queued requests get 502, idle client connections close, busy ones after their response (DP_EV_CLOSED when none is left). */
void hf_close(hf_listener_t* front);

/** Closes every connection of a closing front now (on its threads), then frees it: its handle is dead, none of its events is delivered. */
void hf_destroy(hf_listener_t* front);

/**
 * The environment ends: every front and connection closed and freed, the
 * threads stopped; no hook is called. The main thread's libuv handle closes
 * asynchronously: `closed` frees it (code that must still be loaded then).
 */
void hf_shutdown(uv_close_cb closed);

#endif
