// Active TCP health probes in batches: one call from JavaScript starts a
// non-blocking connect to each port of a list, one callback delivers every
// result. At 1,024 workers the default --health-interval means 512 connects a
// second; as net.Sockets each cost 60–200 µs of JavaScript (a handle, a
// request object, the connect, afterConnect, destroy); here a connect is a few
// system calls and JavaScript runs once per batch. Used by src/health/native-probe.ts.
//
// The sockets wait on an epoll set of their own, which node's loop polls through
// one uv_poll handle; one uv_timer enforces the batches' time limits. A probe
// passes when the connection opens, and the socket is closed at once (a FIN, as
// net.Socket's destroy() sends). Results, one int32 per port:
//   0                     the connection opened
//   > 0                   the errno the connection failed with (ECONNREFUSED …)
//   < 0                   -errno of a local failure (out of descriptors …): says nothing of the worker
//   PROBE_TIMED_OUT       no answer within the time limit
// Pending batches keep node's loop alive until their time limit at most, as
// JavaScript's connecting sockets would; nothing does between rounds.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "napi_util.h"

/** A result: the probe timed out (not an errno: errnos are small). */
#define PROBE_TIMED_OUT 0x40000000
/** Ports in one batch at most (a checker sends one slice of an interval: far fewer). */
#define MAX_BATCH 65536
#define MAX_EVENTS 256

struct batch;

typedef struct {
  struct batch* batch;
  int fd;  // -1: settled
} probe_t;

typedef struct batch {
  struct batch* next;
  napi_ref callback;
  uint64_t deadline;  // now_ms()
  uint32_t count;
  uint32_t pending;
  int32_t* results;
  probe_t* probes;
} batch_t;

static napi_env g_env;
static napi_async_context g_async;
static int g_epoll = -1;
static uv_poll_t* g_poll;
static uv_timer_t* g_timer;
static batch_t* g_batches;
static napi_async_cleanup_hook_handle g_cleanup;
static int g_handles_closing;

/** Milliseconds of a monotonic clock, read now (the loop's cached time may be a turn old). */
static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000;
}

static void settle(probe_t* probe, int32_t result) {
  if (probe->fd < 0) return;
  close(probe->fd);  // also leaves the epoll set
  probe->fd = -1;
  probe->batch->results[probe - probe->batch->probes] = result;
  probe->batch->pending--;
}

static void free_batch(batch_t* batch) {
  for (uint32_t i = 0; i < batch->count; i++) settle(&batch->probes[i], PROBE_TIMED_OUT);
  if (g_env != NULL && batch->callback != NULL) napi_delete_reference(g_env, batch->callback);
  free(batch->results);
  free(batch->probes);
  free(batch);
}

/** Calls back every finished batch with its results (an Int32Array) and frees it. */
static void deliver_finished(void) {
  batch_t** link = &g_batches;
  while (*link != NULL) {
    batch_t* batch = *link;
    if (batch->pending > 0) {
      link = &batch->next;
      continue;
    }
    *link = batch->next;
    napi_env env = g_env;
    napi_handle_scope scope;
    if (env != NULL && napi_open_handle_scope(env, &scope) == napi_ok) {
      napi_value fn, recv, arraybuffer, array, result;
      void* data;
      if (napi_get_reference_value(env, batch->callback, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
          napi_create_arraybuffer(env, batch->count * sizeof(int32_t), &data, &arraybuffer) == napi_ok) {
        memcpy(data, batch->results, batch->count * sizeof(int32_t));
        if (napi_create_typedarray(env, napi_int32_array, batch->count, arraybuffer, 0, &array) == napi_ok) {
          bool pending = false;
          // An exception thrown by the callback is node's to report (uncaughtException), as for any callback.
          if (napi_make_callback(env, g_async, recv, fn, 1, &array, &result) != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
            napi_value exception;
            if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
          }
        }
      }
      napi_close_handle_scope(env, scope);
    }
    free_batch(batch);
    // The callback may have started batches (a new link at the head): start over; finished ones are gone.
    link = &g_batches;
  }
}

static void on_timer(uv_timer_t* timer);

static void schedule(void) {
  uint64_t earliest = UINT64_MAX;
  for (batch_t* batch = g_batches; batch != NULL; batch = batch->next)
    if (batch->deadline < earliest) earliest = batch->deadline;
  if (earliest == UINT64_MAX) {
    uv_timer_stop(g_timer);
    return;
  }
  uint64_t now = now_ms();
  uv_timer_start(g_timer, on_timer, earliest > now ? earliest - now : 0, 0);
}

static int settle_completed(void);

static void on_timer(uv_timer_t* timer) {
  // Connects that completed while the loop was busy elsewhere are not timeouts:
  // libuv runs timers before it polls, so after a stall of the main thread
  // (GC, a loaded machine) this timer would otherwise fail healthy workers.
  while (settle_completed() == MAX_EVENTS) {
  }
  uint64_t now = now_ms();
  for (batch_t* batch = g_batches; batch != NULL; batch = batch->next) {
    if (batch->deadline > now) continue;
    for (uint32_t i = 0; i < batch->count; i++) settle(&batch->probes[i], PROBE_TIMED_OUT);
  }
  deliver_finished();
  if (g_timer != NULL) schedule();
}

/** Settles the probes whose connects have completed: how many epoll reported (MAX_EVENTS: there may be more). */
static int settle_completed(void) {
  struct epoll_event ready[MAX_EVENTS];
  int count = epoll_wait(g_epoll, ready, MAX_EVENTS, 0);
  for (int i = 0; i < count; i++) {
    probe_t* probe = ready[i].data.ptr;
    if (probe->fd < 0) continue;
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    settle(probe, error);
  }
  return count;
}

static void on_epoll(uv_poll_t* handle, int status, int events) {
  if (settle_completed() > 0) {
    deliver_finished();
    if (g_timer != NULL) schedule();
  }
}

/** Whether a failure is this process's (descriptors, memory, ephemeral ports), not the worker's. */
static bool is_local(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM || error == EADDRNOTAVAIL;
}

/** Starts one connect; settles the probe at once when it cannot wait (refused on the spot, a local failure). */
static void start(probe_t* probe, struct sockaddr_storage* address, socklen_t length) {
  int fd = socket(address->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    probe->fd = -2;  // not -1: settle() must count it
    probe->batch->results[probe - probe->batch->probes] = -errno;
    probe->batch->pending--;
    return;
  }
  probe->fd = fd;
  if (connect(fd, (struct sockaddr*)address, length) == 0) return settle(probe, 0);
  int error = errno;
  if (error != EINPROGRESS) return settle(probe, is_local(error) ? -error : error);
  struct epoll_event event = {.events = EPOLLOUT, .data.ptr = probe};
  if (epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &event) != 0) settle(probe, -errno);
}

static void handle_freed(uv_handle_t* handle) {
  free(handle);
}

static void handle_closed(uv_handle_t* handle) {
  free(handle);
  if (--g_handles_closing == 0) napi_remove_async_cleanup_hook(g_cleanup);
}

static void shutdown_prober(uv_close_cb closed) {
  while (g_batches != NULL) {
    batch_t* batch = g_batches;
    g_batches = batch->next;
    free_batch(batch);
  }
  if (g_poll != NULL) uv_close((uv_handle_t*)g_poll, closed);
  if (g_timer != NULL) uv_close((uv_handle_t*)g_timer, closed);
  g_poll = NULL;
  g_timer = NULL;
  if (g_epoll >= 0) close(g_epoll);
  g_epoll = -1;
}

/** The environment is going away: every socket closes; the handles close on the loop's next turn (see http_binding.c). */
static void cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  g_cleanup = handle;
  g_handles_closing = 2;
  shutdown_prober(handle_closed);
  if (g_env != NULL) napi_async_destroy(g_env, g_async);
  g_env = NULL;
}

/** The epoll set, its poll handle and the timer, at the first batch; false with an exception pending. */
static bool ensure_started(napi_env env) {
  if (g_env == env) return true;
  if (g_env != NULL) {
    throw_error(env, "probeConnect(): the prober runs in the thread that first used it");
    return false;
  }
  uv_loop_t* loop;
  napi_value name;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw_error(env, "probeConnect(): no event loop");
    return false;
  }
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  g_poll = malloc(sizeof(*g_poll));
  g_timer = malloc(sizeof(*g_timer));
  if (g_epoll < 0 || g_poll == NULL || g_timer == NULL || uv_poll_init(loop, g_poll, g_epoll) != 0) {
    if (g_epoll >= 0) close(g_epoll);
    free(g_poll);
    free(g_timer);
    g_epoll = -1;
    g_poll = NULL;
    g_timer = NULL;
    throw_error(env, "probeConnect(): could not set up the epoll set");
    return false;
  }
  uv_timer_init(loop, g_timer);
  // The poll handle never holds the loop; the timer runs only while batches are pending, and holds it
  // until their time limit at most, as the connecting sockets of JavaScript probes would.
  uv_unref((uv_handle_t*)g_poll);
  if (uv_poll_start(g_poll, UV_READABLE, on_epoll) != 0 || napi_create_string_utf8(env, "supervise:probe", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &g_async) != napi_ok) {
    shutdown_prober(handle_freed);
    throw_error(env, "probeConnect(): could not start polling");
    return false;
  }
  if (napi_add_async_cleanup_hook(env, cleanup, NULL, NULL) != napi_ok) {
    napi_async_destroy(env, g_async);
    shutdown_prober(handle_freed);
    throw_error(env, "probeConnect(): could not register the cleanup hook");
    return false;
  }
  g_env = env;
  return true;
}

/**
 * probeConnect(address: string, family: 4 | 6, ports: Int32Array, timeoutMs: number, callback: (results: Int32Array) => void):
 * connects to every port of an IP literal; calls back once, when all have settled or the time limit passed.
 */
static napi_value ProbeConnect(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  size_t argc = 5;
  char text[64];
  size_t text_length = 0;
  int32_t family, timeout_ms;
  napi_valuetype type;
  napi_typedarray_type array_type;
  bool is_typed = false;
  size_t count, offset;
  void* data;
  napi_value arraybuffer;
  const char* usage = "probeConnect(address, family, ports: Int32Array, timeoutMs, callback) expected";
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_string_utf8(env, argv[0], text, sizeof(text), &text_length) != napi_ok || napi_get_value_int32(env, argv[1], &family) != napi_ok ||
      napi_is_typedarray(env, argv[2], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[2], &array_type, &count, &data, &arraybuffer, &offset) != napi_ok || array_type != napi_int32_array ||
      napi_get_value_int32(env, argv[3], &timeout_ms) != napi_ok || napi_typeof(env, argv[4], &type) != napi_ok || type != napi_function) {
    return throw_error(env, usage);
  }
  if (count == 0 || count > MAX_BATCH || timeout_ms < 1) return throw_error(env, "probeConnect(): 1…65536 ports and a time limit of at least 1 ms expected");
  struct sockaddr_storage address;
  memset(&address, 0, sizeof(address));
  // A longer string was cut to fit: not an address, whatever its prefix says.
  int status = text_length >= sizeof(text) - 1 ? UV_EINVAL
               : family == 6                   ? uv_ip6_addr(text, 0, (struct sockaddr_in6*)&address)
               : family == 4                   ? uv_ip4_addr(text, 0, (struct sockaddr_in*)&address)
                                               : UV_EINVAL;
  if (status != 0) return throw_error(env, "probeConnect(): the address must be an IP literal of the given family (4 or 6)");
  const int32_t* ports = data;
  for (size_t i = 0; i < count; i++)
    if (ports[i] < 1 || ports[i] > 65535) return throw_error(env, "probeConnect(): ports must be in 1…65535");
  if (!ensure_started(env)) return NULL;

  batch_t* batch = calloc(1, sizeof(*batch));
  if (batch != NULL) {
    batch->results = calloc(count, sizeof(int32_t));
    batch->probes = calloc(count, sizeof(probe_t));
  }
  if (batch == NULL || batch->results == NULL || batch->probes == NULL || napi_create_reference(env, argv[4], 1, &batch->callback) != napi_ok) {
    if (batch != NULL) {
      free(batch->results);
      free(batch->probes);
    }
    free(batch);
    return throw_error(env, "probeConnect(): out of memory");
  }
  batch->count = (uint32_t)count;
  batch->pending = (uint32_t)count;
  batch->deadline = now_ms() + (uint64_t)timeout_ms;
  socklen_t length = family == 6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  for (uint32_t i = 0; i < batch->count; i++) {
    probe_t* probe = &batch->probes[i];
    probe->batch = batch;
    uint16_t port = htons((uint16_t)ports[i]);
    if (family == 6)
      ((struct sockaddr_in6*)&address)->sin6_port = port;
    else
      ((struct sockaddr_in*)&address)->sin_port = port;
    start(probe, &address, length);
  }
  batch->next = g_batches;
  g_batches = batch;
  // Results known on the spot (refused, local failures) are still delivered asynchronously, as a promise would be:
  // a batch with nothing pending is called back from the timer, at once.
  if (batch->pending == 0) batch->deadline = 0;
  schedule();
  return NULL;
}

napi_status init_probe(napi_env env, napi_value exports) {
  napi_value fn, timed_out;
  napi_status status = napi_create_function(env, "probeConnect", NAPI_AUTO_LENGTH, ProbeConnect, NULL, &fn);
  if (status == napi_ok) status = napi_set_named_property(env, exports, "probeConnect", fn);
  if (status == napi_ok) status = napi_create_int32(env, PROBE_TIMED_OUT, &timed_out);
  if (status == napi_ok) status = napi_set_named_property(env, exports, "PROBE_TIMED_OUT", timed_out);
  return status;
}
