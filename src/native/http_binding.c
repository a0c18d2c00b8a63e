// The native http front's JavaScript binding (N-API): the calls of
// src/proxy/http-native.ts into http_front.c, and http_front.c's one hook
// into JavaScript: onEvents(records), once per turn of the loop that had any
// (DP_EV_* records). No JavaScript runs per request: the front decides from
// the snapshot JavaScript publishes (httpPublish).

#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http_front.h"
#include "http_limits.h"
#include "id_table.h"
#include "napi_util.h"
#include "tls_binding.h"
#include "tls_conn.h"

/** A front, by the number JavaScript holds. */
typedef struct owner {
  hf_listener_t* front;
} owner_t;

static napi_env g_env;
static id_table_t g_owners = {NULL, NULL, -1, 0};  // fronts by the number JavaScript holds
static napi_ref g_on_events;
static napi_async_context g_async;
/** An exception thrown by a hook is an uncaught exception, as in any node callback. */
static void rethrow(napi_env env) {
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

static void events_hook(const int32_t* records, size_t count) {
  napi_env env = g_env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, buffer, array, result;
  void* data;
  if (napi_get_reference_value(env, g_on_events, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_arraybuffer(env, count * 4 * sizeof(int32_t), &data, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_int32_array, count * 4, buffer, 0, &array) == napi_ok) {
    if (count > 0) memcpy(data, records, count * 4 * sizeof(int32_t));
    // make_callback: microtasks queued by these events run at its end, as after any I/O callback.
    if (napi_make_callback(env, g_async, recv, fn, 1, &array, &result) != napi_ok) rethrow(env);
  }
  napi_close_handle_scope(env, scope);
}

static bool args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want;
}

/** The front a JavaScript number names, or NULL (destroyed, or never). */
static owner_t* owner_of(napi_env env, napi_value value) {
  int32_t id;
  if (napi_get_value_int32(env, value, &id) != napi_ok) return NULL;
  return id_table_get(&g_owners, id);
}

/** An IPv4 or IPv6 address and a port, with every bound checked. 0, or an errno. */
static int read_address(napi_env env, napi_value address_value, napi_value port_value, struct sockaddr_storage* storage, socklen_t* length) {
  char address[64];
  size_t address_length;
  int32_t port;
  if (napi_get_value_string_utf8(env, address_value, address, sizeof(address), &address_length) != napi_ok || address_length >= sizeof(address) - 1 ||
      napi_get_value_int32(env, port_value, &port) != napi_ok || port < 0 || port > 65535) {
    return EINVAL;
  }
  memset(storage, 0, sizeof(*storage));
  if (uv_ip4_addr(address, port, (struct sockaddr_in*)storage) == 0) {
    *length = sizeof(struct sockaddr_in);
    return 0;
  }
  if (uv_ip6_addr(address, port, (struct sockaddr_in6*)storage) == 0) {
    *length = sizeof(struct sockaddr_in6);
    return 0;
  }
  return EINVAL;
}

static napi_async_cleanup_hook_handle g_cleanup;

/** The module's libuv handle has closed: node may unload the module now (its code ran this callback). */
static void handle_closed(uv_handle_t* handle) {
  free(handle);
  napi_remove_async_cleanup_hook(g_cleanup);
}

static void handle_freed(uv_handle_t* handle) {
  free(handle);
}

/**
 * The environment ends (process exit, worker end): every front closed,
 * everything freed, no JavaScript called. Asynchronous: the libuv handle
 * closes on the next turn of the loop, with a callback of this module, which
 * node must not unload before.
 */
static void cleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  napi_env env = g_env;
  g_cleanup = hook;
  hf_shutdown(handle_closed);
  for (int32_t id = 0; id < g_owners.capacity; id++) {
    owner_t* owner = id_table_get(&g_owners, id);
    if (owner == NULL) continue;
    free(owner);
  }
  id_table_release(&g_owners);
  if (env != NULL) {
    napi_delete_reference(env, g_on_events);
    napi_async_destroy(env, g_async);
  }
  g_env = NULL;
}

/** httpInit(onEvents): once per process (a second call, e.g. from a worker thread, throws). */
static napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[1], name;
  napi_valuetype type;
  uv_loop_t* loop;
  if (!args(env, info, 1, argv) || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    return throw_error(env, "httpInit(onEvents): onEvents must be a function");
  }
  if (g_env != NULL) return throw_error(env, "httpInit(): already initialised in this process");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[0], 1, &g_on_events) != napi_ok ||
      napi_create_string_utf8(env, "supervise:http", NAPI_AUTO_LENGTH, &name) != napi_ok || napi_async_init(env, NULL, name, &g_async) != napi_ok) {
    return throw_error(env, "httpInit(): could not set up the callbacks");
  }
  hf_hooks_t hooks = {events_hook};
  if (hf_init(loop, &hooks) != 0) return throw_error(env, "httpInit(): could not set up the epoll set");
  if (napi_add_async_cleanup_hook(env, cleanup, NULL, NULL) != napi_ok) {
    hf_shutdown(handle_freed);
    return throw_error(env, "httpInit(): could not register the cleanup hook");
  }
  g_env = env;
  return NULL;
}

/** A typed array argument's bytes, checked to be of `type` with `count` elements (count 0: any). */
static bool typed_bytes(napi_env env, napi_value value, napi_typedarray_type type, size_t count, void** data, size_t* length) {
  bool is = false;
  napi_typedarray_type got;
  napi_value buffer;
  size_t offset;
  return napi_is_typedarray(env, value, &is) == napi_ok && is &&
         napi_get_typedarray_info(env, value, &got, length, data, &buffer, &offset) == napi_ok && got == type && (count == 0 || *length == count);
}

/**
 * httpListen(address, port, timeouts, trusted, maxHead, threads, kind?): [front, port]
 * (front: its number, as in the event records), or a negative errno. timeouts: a
 * Uint32Array of HF_TIMEOUTS ms in HF_T_* order; trusted: a Uint8Array of
 * 17-byte ranges (core/edge.ts's trustedPeerBytes), or the one byte 255 for all;
 * threads: its data-plane threads (1..HF_THREADS_MAX); kind: DP_KIND_HTTP (the
 * default) or DP_KIND_TCP (L4: each connection piped whole to one backend).
 * The front holds its requests until its first snapshot (httpPublish).
 */
static napi_value Listen(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  struct sockaddr_storage storage;
  socklen_t length;
  void *timeouts, *trusted;
  size_t timeout_count, trusted_length;
  if (g_env == NULL) return throw_error(env, "httpListen(): httpInit() first");
  uint32_t max_head = 0, threads = 0, kind = DP_KIND_HTTP;
  napi_valuetype kind_type = napi_undefined;
  size_t argc = 7;  // the kind is optional: napi fills what was not passed with undefined
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || napi_typeof(env, argv[6], &kind_type) != napi_ok ||
      (kind_type != napi_undefined && (napi_get_value_uint32(env, argv[6], &kind) != napi_ok || (kind != DP_KIND_HTTP && kind != DP_KIND_TCP))) || napi_get_value_uint32(env, argv[5], &threads) != napi_ok || threads < 1 || threads > HF_THREADS_MAX || !typed_bytes(env, argv[2], napi_uint32_array, HF_TIMEOUTS, &timeouts, &timeout_count) ||
      !typed_bytes(env, argv[3], napi_uint8_array, 0, &trusted, &trusted_length) || (trusted_length % 17 != 0 && trusted_length != 1) ||
      napi_get_value_uint32(env, argv[4], &max_head) != napi_ok || max_head < 1024 || max_head > HP_MAX_HEAD_LIMIT) {
    return throw_error(env, "httpListen(address, port, timeouts: Uint32Array(8), trusted: Uint8Array, maxHead: 1024..1 MiB, threads: 1..64, kind?: 0 http | 1 tcp): bad arguments");
  }
  hf_options_t options;
  memset(&options, 0, sizeof(options));
  options.max_head = max_head;
  options.raw = kind == DP_KIND_TCP;
  memcpy(options.timeouts_ms, timeouts, sizeof(options.timeouts_ms));
  for (int i = 0; i < HF_TIMEOUTS; i++) {
    if (options.timeouts_ms[i] == 0 && i != HF_T_RESPONSE) options.timeouts_ms[i] = 1;  // 0 is "none" for the response timeout only
  }
  options.trust_all = trusted_length == 1 && ((uint8_t*)trusted)[0] == 255;
  options.trusted = options.trust_all ? NULL : trusted;
  options.trusted_count = options.trust_all ? 0 : (uint32_t)(trusted_length / 17);
  int error = read_address(env, argv[0], argv[1], &storage, &length);
  if (error != 0) return make_int(env, -error);
  owner_t* owner = calloc(1, sizeof(*owner));
  if (owner == NULL) return make_int(env, -ENOMEM);
  int32_t id = id_table_add(&g_owners, owner);
  if (id >= 0) owner->front = hf_listen((struct sockaddr*)&storage, length, &options, threads, owner, id, &error);
  if (owner->front == NULL) {
    if (id >= 0) id_table_remove(&g_owners, id);
    else error = ENOMEM;
    free(owner);
    return make_int(env, -error);
  }
  napi_value result;
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, make_int(env, id));
  napi_set_element(env, result, 1, make_int(env, hf_port(owner->front)));
  return result;
}

/** httpPublish(front, snapshot): the front decides from this snapshot (a Uint8Array, core/dp-snapshot.ts) on. 0, or a negative errno (refused). */
static napi_value Publish(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  owner_t* owner;
  bool is = false;
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value buffer;
  if (!args(env, info, 2, argv) || (owner = owner_of(env, argv[0])) == NULL || napi_is_typedarray(env, argv[1], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array) {
    return throw_error(env, "httpPublish(front, snapshot): bad arguments (snapshot: a Uint8Array)");
  }
  return make_int(env, -hf_publish(owner->front, data, length));
}

/** httpAddBackend(front, slot, address, port): 0, or a negative errno. */
static napi_value AddBackend(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t slot;
  struct sockaddr_storage storage;
  socklen_t length;
  owner_t* owner;
  if (!args(env, info, 4, argv) || (owner = owner_of(env, argv[0])) == NULL || napi_get_value_int32(env, argv[1], &slot) != napi_ok) {
    return throw_error(env, "httpAddBackend(front, slot, address, port): bad arguments");
  }
  int error = read_address(env, argv[2], argv[3], &storage, &length);
  if (error == 0) error = hf_backend_add(owner->front, slot, (struct sockaddr*)&storage, length);
  return make_int(env, -error);
}

/** httpSlotCall(front, slot): the owner and slot of calls that take just these. */
static owner_t* front_and_slot(napi_env env, napi_callback_info info, int32_t* slot) {
  napi_value argv[2];
  owner_t* owner;
  if (!args(env, info, 2, argv) || (owner = owner_of(env, argv[0])) == NULL || napi_get_value_int32(env, argv[1], slot) != napi_ok) return NULL;
  return owner;
}

/** httpRemoveBackend(front, slot). */
static napi_value RemoveBackend(napi_env env, napi_callback_info info) {
  int32_t slot;
  owner_t* owner = front_and_slot(env, info, &slot);
  if (owner == NULL) return throw_error(env, "httpRemoveBackend(front, slot): bad arguments");
  hf_backend_remove(owner->front, slot);
  return NULL;
}

/** httpLoad(front, slot): Int32Array [in flight, idle pooled connections, requests handed since the backend took the slot]. */
static napi_value Load(napi_env env, napi_callback_info info) {
  int32_t slot;
  owner_t* owner = front_and_slot(env, info, &slot);
  if (owner == NULL) return throw_error(env, "httpLoad(front, slot): bad arguments");
  napi_value buffer, result;
  int32_t* load;
  if (napi_create_arraybuffer(env, 3 * sizeof(int32_t), (void**)&load, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, 3, buffer, 0, &result) != napi_ok) {
    return throw_error(env, "httpLoad(): out of memory");
  }
  hf_backend_load(owner->front, slot, load);
  return result;
}

/** httpStats(front, slot): Float64Array of [classes×5, buckets×11, sum, count] per route (route r at r×18), or undefined. */
static napi_value Stats(napi_env env, napi_callback_info info) {
  int32_t slot;
  owner_t* owner = front_and_slot(env, info, &slot);
  if (owner == NULL) return throw_error(env, "httpStats(front, slot): bad arguments");
  hf_stats_t* stats = NULL;
  int32_t routes = hf_backend_stats(owner->front, slot, &stats);  // summed over the front's threads
  napi_value result, buffer;
  if (routes < 0) {
    napi_get_undefined(env, &result);
    return result;
  }
  const size_t each = HF_STATUS_CLASSES + HF_BUCKETS + 2;
  double* data = NULL;
  if (napi_create_arraybuffer(env, (size_t)routes * each * sizeof(double), (void**)&data, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, (size_t)routes * each, buffer, 0, &result) != napi_ok) {
    free(stats);
    return throw_error(env, "httpStats(): out of memory");
  }
  for (int32_t r = 0; r < routes; r++, data += each) {
    memcpy(data, stats[r].classes, sizeof(stats[r].classes));
    memcpy(data + HF_STATUS_CLASSES, stats[r].buckets, sizeof(stats[r].buckets));
    data[each - 2] = stats[r].sum_ms;
    data[each - 1] = stats[r].count;
  }
  free(stats);
  return result;
}

/** httpThreads(front): Float64Array [requests answered, connections accepted] per data-plane thread of the front. */
static napi_value Threads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  owner_t* owner;
  if (!args(env, info, 1, argv) || (owner = owner_of(env, argv[0])) == NULL) return throw_error(env, "httpThreads(front): bad arguments");
  double counts[2 * HF_THREADS_MAX];
  uint32_t threads = hf_thread_counts(owner->front, counts, HF_THREADS_MAX);
  napi_value buffer, result;
  double* data;
  if (napi_create_arraybuffer(env, 2 * threads * sizeof(double), (void**)&data, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, 2 * threads, buffer, 0, &result) != napi_ok) {
    return throw_error(env, "httpThreads(): out of memory");
  }
  if (threads > 0) memcpy(data, counts, 2 * threads * sizeof(double));
  return result;
}

/** httpClose(front): stop accepting, end connections at their next response boundary. */
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  owner_t* owner;
  if (!args(env, info, 1, argv) || (owner = owner_of(env, argv[0])) == NULL) return NULL;  // destroyed already
  hf_close(owner->front);
  return NULL;
}

/** httpDestroy(front): every connection closed now, the front freed (its handle is dead after this). */
static napi_value Destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  owner_t* owner;
  if (!args(env, info, 1, argv) || (owner = owner_of(env, argv[0])) == NULL) return NULL;
  int32_t id = hf_id(owner->front);
  hf_destroy(owner->front);
  id_table_remove(&g_owners, id);
  free(owner);
  return NULL;
}

/**
 * httpSetTls(front, certs, options): undefined when applied (new handshakes
 * use it at once, open connections keep theirs), else a one-line reason and
 * nothing changed. certs[0] is the default certificate (tls_binding.c).
 */
static napi_value SetTls(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  owner_t* owner;
  char reason[TLS_REASON_SIZE] = "could not read the arguments";
  uint32_t hsts = 0;
  tls_set_t* set = NULL;
  if (!args(env, info, 3, argv) || (owner = owner_of(env, argv[0])) == NULL) {
    snprintf(reason, sizeof(reason), "httpSetTls(front, certs, options): no such front");
  } else if ((set = tls_binding_read(env, argv[1], argv[2], &hsts, reason)) != NULL) {
    hf_set_tls(owner->front, set, hsts);
    napi_get_undefined(env, &result);
    return result;
  }
  if (napi_create_string_utf8(env, reason, NAPI_AUTO_LENGTH, &result) != napi_ok) return NULL;
  return result;
}

/** tlsCounts(): [handshakes completed, connections that ended before their handshake did] over every front since start. */
static napi_value TlsCounts(napi_env env, napi_callback_info info) {
  uint64_t counts[2];
  tls_conn_counts(counts);
  napi_value result, value;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 2; i++) {
    if (napi_create_double(env, (double)counts[i], &value) != napi_ok || napi_set_element(env, result, i, value) != napi_ok) return NULL;
  }
  return result;
}

napi_value init_http(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"httpInit", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"httpListen", NULL, Listen, NULL, NULL, NULL, napi_default, NULL},
      {"httpAddBackend", NULL, AddBackend, NULL, NULL, NULL, napi_default, NULL},
      {"httpRemoveBackend", NULL, RemoveBackend, NULL, NULL, NULL, napi_default, NULL},
      {"httpPublish", NULL, Publish, NULL, NULL, NULL, napi_default, NULL},
      {"httpLoad", NULL, Load, NULL, NULL, NULL, napi_default, NULL},
      {"httpStats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
      {"httpThreads", NULL, Threads, NULL, NULL, NULL, napi_default, NULL},
      {"httpClose", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"httpDestroy", NULL, Destroy, NULL, NULL, NULL, napi_default, NULL},
      {"httpSetTls", NULL, SetTls, NULL, NULL, NULL, napi_default, NULL},
      {"tlsCounts", NULL, TlsCounts, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods) == napi_ok ? exports : NULL;
}
