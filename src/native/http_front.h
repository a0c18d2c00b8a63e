// The native http front's interface between its data path (http_front.c) and
// its JavaScript binding (http_binding.c). See http_front.c for what it does.

#ifndef SUPERVISE_HTTP_FRONT_H
#define SUPERVISE_HTTP_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct hf_front hf_front_t;

/** Records of the batched event callback: four int32 each, [front, type, slot, detail]. */
#define HF_EV_DONE 1    // a request to `slot` is over (detail: the status sent, 0 if none): release it
#define HF_EV_ERROR 2   // the front answered an error itself (slot: -1 if none; detail: status*100 + reason)
#define HF_EV_CLOSED 3  // a closing front has no connection left
#define HF_EV_GONE 4    // a queued client left (slot: its id, detail: its generation): JavaScript forgets it

/** What the pick hook returns besides a slot. */
#define HF_PICK_NONE (-1)    // no backend: answer *status_out with *reason_out
#define HF_PICK_QUEUED (-2)  // none in rotation: the client waits for hf_resume or hf_respond

/** Why the front answered an error itself (HF_EV_ERROR's detail % 100). */
#define HF_R_BAD_REQUEST 1
#define HF_R_NO_BACKEND 2   // the pick hook's reason
#define HF_R_BACKEND_FAILED 4
#define HF_R_BAD_RESPONSE 5
#define HF_R_TIMEOUT 6          // the backend's response did not come in time
#define HF_R_CLIENT_TIMEOUT 7   // the client's head or body did not come in time (408)

#define HF_STATUS_CLASSES 5
#define HF_BUCKETS 11
/** Routes are JavaScript's numbers for the (app, route) a request matched, 0..HF_MAX_ROUTES-1; a larger one is not counted. */
#define HF_MAX_ROUTES (1 << 16)

/** Request counters of one backend and one route, read on scrape. */
typedef struct hf_stats {
  double classes[HF_STATUS_CLASSES];  // responses by status class 1xx..5xx
  double buckets[HF_BUCKETS];         // latencies <= 5,10,25,50,100,250,500,1000,2500,5000,10000 ms (cumulative)
  double sum_ms;
  double count;
} hf_stats_t;

typedef struct hf_hooks {
  /**
   * Chooses the backend of a request (the client `id`, `generation`): its
   * slot, HF_PICK_NONE (then *status_out and *reason_out say what to answer)
   * or HF_PICK_QUEUED. `failed` lists the slots whose connect failed for this
   * request so far (the last one with errno `error`; ETIMEDOUT after the
   * connect timeout); with `path` NULL the hook is only told of the last
   * failure. The hook may point *path_out at a replacement request target;
   * it and the reason stay valid until the hook's next call. *route_out: the
   * route the request matched, which its response is counted under.
   */
  int (*pick)(void* owner, int32_t id, uint32_t generation, const char* host, size_t host_len, const char* path, size_t path_len,
              const int32_t* failed, int failed_count, int error, const char** path_out, size_t* path_out_len, int32_t* route_out,
              int* status_out, const char** reason_out);
  /** The batched records (HF_EV_*), `count` of them. */
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
} hf_options_t;

/** Once per process. 0, or an errno. */
int hf_init(uv_loop_t* loop, const hf_hooks_t* hooks);

/** A front listening on `address` (owner: passed back to the pick hook; id: its number in the event records). NULL and *error set on failure. */
hf_front_t* hf_listen(const struct sockaddr* address, socklen_t length, const hf_options_t* options, void* owner, int32_t id, int* error);

/** Its small id, as in the event records. */
int32_t hf_id(const hf_front_t* front);

/** The port it listens on. */
int hf_port(const hf_front_t* front);

/** Puts backend `slot` at `address` into the table (again), counters reset unless it comes back. */
int hf_backend_add(hf_front_t* front, int32_t slot, const struct sockaddr* address, socklen_t length);

/** Takes backend `slot` out: its idle pooled connections close, busy ones close after their response. */
void hf_backend_remove(hf_front_t* front, int32_t slot);

/** Idle pooled connections to `slot`. */
int hf_backend_idle(const hf_front_t* front, int32_t slot);

/** The counters of `slot`, one per route (*stats[route]): how many (0 before its first response), or -1 when there is no such backend. */
int32_t hf_backend_stats(const hf_front_t* front, int32_t slot, const hf_stats_t** stats);

/** A queued client goes to `slot` (acquired by the caller) for `route`; `path`: a replacement target, or NULL. 0, or ENOENT when it is gone. */
int hf_resume(hf_front_t* front, int32_t id, uint32_t generation, int32_t slot, int32_t route, const char* path, size_t path_len);

/** A queued client is answered `status` with `reason` (503 after the queue timeout). 0, or ENOENT when it is gone. */
int hf_respond(hf_front_t* front, int32_t id, uint32_t generation, int status, const char* reason);

/** Stops accepting; idle client connections close, busy ones after their response (HF_EV_CLOSED when none is left). */
void hf_close(hf_front_t* front);

/** Closes every connection of a closing front now, then frees it. */
void hf_destroy(hf_front_t* front);

/** The environment ends: every front and connection closed and freed, the epoll set too; no hook is called. */
void hf_shutdown(void);

#endif
