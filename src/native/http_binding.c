// The native http front's JavaScript binding (N-API): the calls of
// src/proxy/http-native.ts into http_front.c, and http_front.c's hooks as
// calls into JavaScript — pick(client, host, path, failed, errno) once per
// request, onEvents(records) once per turn of the loop. A client is named by
// one number, generation × 2^32 + id, unique for the process's life. A backend
// chosen for a request is one number too, route × 2^21 + slot (slots stay below
// 2^20, hf_backend_add): the route its response is counted under travels with
// the slot, so the common pick still returns a plain number, not an object.

#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http_front.h"
#include "id_table.h"
#include "napi_util.h"

/** What the data path calls the owner of a front: its pick function. */
typedef struct owner {
  napi_ref pick;
  hf_front_t* front;
} owner_t;

static napi_env g_env;
static id_table_t g_owners = {NULL, NULL, -1, 0};  // fronts by the number JavaScript holds
static napi_ref g_on_events;
static napi_async_context g_async;
static bool g_dirty;  // JavaScript ran (a pick): the next turn ends with a callback, which runs its microtasks
static char* g_path;  // a rewritten request target, grown to the longest one (a head is at most MAX_HEAD, so is its target)
static size_t g_path_cap;
static char g_reason[256];

#define SLOT_SPAN ((int64_t)1 << 21)

/** A JavaScript string as the rewritten target (latin1, any length up to 1 MiB): into g_path; false when not a non-empty string. */
static bool read_path(napi_env env, napi_value value, size_t* length) {
  size_t need = 0;
  if (napi_get_value_string_latin1(env, value, NULL, 0, &need) != napi_ok || need == 0 || need > (1u << 20)) return false;
  if (need + 1 > g_path_cap) {
    char* grown = realloc(g_path, need + 1);
    if (grown == NULL) return false;
    g_path = grown;
    g_path_cap = need + 1;
  }
  return napi_get_value_string_latin1(env, value, g_path, g_path_cap, length) == napi_ok && *length == need;
}

/** A chosen backend's number from JavaScript: its slot, and the route (0 for a negative slot: none or queued). */
static int32_t unpack_slot(int64_t value, int32_t* route) {
  if (value < 0) return value < INT32_MIN ? HF_PICK_NONE : (int32_t)value;
  int64_t high = value / SLOT_SPAN;
  // Past HF_MAX_ROUTES: hf_count_response leaves it uncounted.
  *route = high > INT32_MAX ? INT32_MAX : (int32_t)high;
  return (int32_t)(value % SLOT_SPAN);
}

/** An exception thrown by a hook is an uncaught exception, as in any node callback. */
static void rethrow(napi_env env) {
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

/** Reads { slot, path } (a rewritten target) or { status, reason } (no backend) returned by pick. */
static int32_t pick_object(napi_env env, napi_value result, const char** path_out, size_t* path_out_len, int32_t* route_out, int* status_out,
                           const char** reason_out) {
  napi_value value;
  size_t length = 0;
  int64_t slot = HF_PICK_NONE;
  bool has = false;
  if (napi_has_named_property(env, result, "status", &has) == napi_ok && has) {
    if (napi_get_named_property(env, result, "status", &value) == napi_ok) napi_get_value_int32(env, value, status_out);
    if (napi_get_named_property(env, result, "reason", &value) == napi_ok &&
        napi_get_value_string_utf8(env, value, g_reason, sizeof(g_reason), &length) == napi_ok) {
      *reason_out = g_reason;
    }
    return HF_PICK_NONE;
  }
  if (napi_get_named_property(env, result, "slot", &value) == napi_ok) napi_get_value_int64(env, value, &slot);
  if (path_out != NULL && napi_get_named_property(env, result, "path", &value) == napi_ok && read_path(env, value, &length)) {
    *path_out = g_path;
    *path_out_len = length;
  }
  return unpack_slot(slot, route_out);
}

static int pick_hook(void* context, int32_t id, uint32_t generation, const char* host, size_t host_len, const char* path, size_t path_len,
                     const int32_t* failed, int failed_count, int error, const char** path_out, size_t* path_out_len, int32_t* route_out,
                     int* status_out, const char** reason_out) {
  owner_t* owner = context;
  napi_env env = g_env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return HF_PICK_NONE;
  g_dirty = true;
  int32_t slot = HF_PICK_NONE;
  napi_value fn, recv, argv[5], result;
  napi_get_undefined(env, &recv);
  argv[3] = recv;
  bool ok = napi_get_reference_value(env, owner->pick, &fn) == napi_ok && fn != NULL &&
            napi_create_double(env, (double)generation * 4294967296.0 + (double)id, &argv[0]) == napi_ok;
  if (ok && path == NULL) {
    argv[1] = argv[2] = recv;  // only told of the last failure: nothing to pick
  } else if (ok) {
    ok = napi_create_string_latin1(env, host, host_len, &argv[1]) == napi_ok && napi_create_string_latin1(env, path, path_len, &argv[2]) == napi_ok;
  }
  if (ok && failed_count > 0) {
    void* data;
    napi_value buffer;
    ok = napi_create_arraybuffer(env, sizeof(int32_t) * (size_t)failed_count, &data, &buffer) == napi_ok &&
         napi_create_typedarray(env, napi_int32_array, (size_t)failed_count, buffer, 0, &argv[3]) == napi_ok;
    if (ok) memcpy(data, failed, sizeof(int32_t) * (size_t)failed_count);
  }
  ok = ok && napi_create_int32(env, error, &argv[4]) == napi_ok;
  if (ok && napi_call_function(env, recv, fn, 5, argv, &result) != napi_ok) {
    rethrow(env);
    ok = false;
  }
  napi_valuetype type;
  int32_t route = 0;
  int64_t number;
  if (ok && napi_typeof(env, result, &type) == napi_ok) {
    if (type == napi_number && napi_get_value_int64(env, result, &number) == napi_ok) slot = unpack_slot(number, &route);
    else if (type == napi_object) slot = pick_object(env, result, path_out, path_out_len, &route, status_out, reason_out);
  }
  if (route_out != NULL) *route_out = route;
  napi_close_handle_scope(env, scope);
  return slot;
}

static void events_hook(const int32_t* records, size_t count) {
  if (count == 0 && !g_dirty) return;
  g_dirty = false;
  napi_env env = g_env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, buffer, array, result;
  void* data;
  if (napi_get_reference_value(env, g_on_events, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_arraybuffer(env, count * 4 * sizeof(int32_t), &data, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_int32_array, count * 4, buffer, 0, &array) == napi_ok) {
    if (count > 0) memcpy(data, records, count * 4 * sizeof(int32_t));
    // make_callback: microtasks queued by the picks and by these events run at its end, as after any I/O callback.
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

/** The environment ends (process exit, worker end): every front closed, everything freed, no JavaScript called. */
static void cleanup(void* arg) {
  napi_env env = g_env;
  hf_shutdown();
  for (int32_t id = 0; id < g_owners.capacity; id++) {
    owner_t* owner = id_table_get(&g_owners, id);
    if (owner == NULL) continue;
    if (env != NULL) napi_delete_reference(env, owner->pick);
    free(owner);
  }
  id_table_release(&g_owners);
  free(g_path);
  g_path = NULL;
  g_path_cap = 0;
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
  hf_hooks_t hooks = {pick_hook, events_hook};
  if (hf_init(loop, &hooks) != 0) return throw_error(env, "httpInit(): could not set up the epoll set");
  if (napi_add_env_cleanup_hook(env, cleanup, NULL) != napi_ok) {
    hf_shutdown();
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
 * httpListen(address, port, timeouts, trusted, pick): [front, port] (front: its
 * number, as in the event records), or a negative errno. timeouts: a
 * Uint32Array of HF_TIMEOUTS ms in HF_T_* order; trusted: a Uint8Array of
 * 17-byte ranges (core/edge.ts's trustedPeerBytes), or the one byte 255 for all.
 */
static napi_value Listen(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  napi_valuetype type;
  struct sockaddr_storage storage;
  socklen_t length;
  void *timeouts, *trusted;
  size_t timeout_count, trusted_length;
  if (g_env == NULL) return throw_error(env, "httpListen(): httpInit() first");
  if (!args(env, info, 5, argv) || !typed_bytes(env, argv[2], napi_uint32_array, HF_TIMEOUTS, &timeouts, &timeout_count) ||
      !typed_bytes(env, argv[3], napi_uint8_array, 0, &trusted, &trusted_length) || (trusted_length % 17 != 0 && trusted_length != 1) ||
      napi_typeof(env, argv[4], &type) != napi_ok || type != napi_function) {
    return throw_error(env, "httpListen(address, port, timeouts: Uint32Array(8), trusted: Uint8Array, pick): bad arguments");
  }
  hf_options_t options;
  memset(&options, 0, sizeof(options));
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
  if (napi_create_reference(env, argv[4], 1, &owner->pick) != napi_ok) {
    free(owner);
    return throw_error(env, "httpListen(): could not keep pick");
  }
  int32_t id = id_table_add(&g_owners, owner);
  if (id >= 0) owner->front = hf_listen((struct sockaddr*)&storage, length, &options, owner, id, &error);
  if (owner->front == NULL) {
    if (id >= 0) id_table_remove(&g_owners, id);
    else error = ENOMEM;
    napi_delete_reference(env, owner->pick);
    free(owner);
    return make_int(env, -error);
  }
  napi_value result;
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, make_int(env, id));
  napi_set_element(env, result, 1, make_int(env, hf_port(owner->front)));
  return result;
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

/** httpIdle(front, slot): idle pooled connections to the backend. */
static napi_value Idle(napi_env env, napi_callback_info info) {
  int32_t slot;
  owner_t* owner = front_and_slot(env, info, &slot);
  if (owner == NULL) return throw_error(env, "httpIdle(front, slot): bad arguments");
  return make_int(env, hf_backend_idle(owner->front, slot));
}

/** httpStats(front, slot): Float64Array of [classes×5, buckets×11, sum, count] per route (route r at r×18), or undefined. */
static napi_value Stats(napi_env env, napi_callback_info info) {
  int32_t slot;
  owner_t* owner = front_and_slot(env, info, &slot);
  if (owner == NULL) return throw_error(env, "httpStats(front, slot): bad arguments");
  const hf_stats_t* stats = NULL;
  int32_t routes = hf_backend_stats(owner->front, slot, &stats);
  napi_value result, buffer;
  if (routes < 0) {
    napi_get_undefined(env, &result);
    return result;
  }
  const size_t each = HF_STATUS_CLASSES + HF_BUCKETS + 2;
  double* data = NULL;
  if (napi_create_arraybuffer(env, (size_t)routes * each * sizeof(double), (void**)&data, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, (size_t)routes * each, buffer, 0, &result) != napi_ok) {
    return throw_error(env, "httpStats(): out of memory");
  }
  for (int32_t r = 0; r < routes; r++, data += each) {
    memcpy(data, stats[r].classes, sizeof(stats[r].classes));
    memcpy(data + HF_STATUS_CLASSES, stats[r].buckets, sizeof(stats[r].buckets));
    data[each - 2] = stats[r].sum_ms;
    data[each - 1] = stats[r].count;
  }
  return result;
}

/** A client's number from JavaScript: its id and generation. */
static bool read_client(napi_env env, napi_value value, int32_t* id, uint32_t* generation) {
  double token;
  if (napi_get_value_double(env, value, &token) != napi_ok || token < 0 || token >= 18446744073709551616.0) return false;
  uint64_t bits = (uint64_t)token;
  *id = (int32_t)(bits & 0xffffffffu);
  *generation = (uint32_t)(bits >> 32);
  return true;
}

/** httpResume(front, client, slot, path?): a queued client goes to `slot` (route × 2^21 + slot). 0, or a negative errno (gone). */
static napi_value Resume(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4;
  owner_t* owner;
  int32_t id, slot, route = 0;
  int64_t number;
  uint32_t generation;
  napi_valuetype type = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || (owner = owner_of(env, argv[0])) == NULL ||
      !read_client(env, argv[1], &id, &generation) || napi_get_value_int64(env, argv[2], &number) != napi_ok) {
    return throw_error(env, "httpResume(front, client, slot, path?): bad arguments");
  }
  slot = unpack_slot(number, &route);
  size_t length = 0;
  char* path = NULL;
  if (argc >= 4 && napi_typeof(env, argv[3], &type) == napi_ok && type == napi_string && read_path(env, argv[3], &length)) {
    path = g_path;
  }
  return make_int(env, -hf_resume(owner->front, id, generation, slot, route, path, length));
}

/** httpRespond(front, client, status, reason): a queued client is answered. 0, or a negative errno (gone). */
static napi_value Respond(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  owner_t* owner;
  int32_t id, status;
  uint32_t generation;
  size_t length;
  if (!args(env, info, 4, argv) || (owner = owner_of(env, argv[0])) == NULL || !read_client(env, argv[1], &id, &generation) ||
      napi_get_value_int32(env, argv[2], &status) != napi_ok || status < 100 || status > 599 ||
      napi_get_value_string_utf8(env, argv[3], g_reason, sizeof(g_reason), &length) != napi_ok) {
    return throw_error(env, "httpRespond(front, client, status, reason): bad arguments");
  }
  return make_int(env, -hf_respond(owner->front, id, generation, status, g_reason));
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
  napi_delete_reference(env, owner->pick);
  free(owner);
  return NULL;
}

napi_value init_http(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"httpInit", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"httpListen", NULL, Listen, NULL, NULL, NULL, napi_default, NULL},
      {"httpAddBackend", NULL, AddBackend, NULL, NULL, NULL, napi_default, NULL},
      {"httpRemoveBackend", NULL, RemoveBackend, NULL, NULL, NULL, napi_default, NULL},
      {"httpIdle", NULL, Idle, NULL, NULL, NULL, napi_default, NULL},
      {"httpStats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
      {"httpResume", NULL, Resume, NULL, NULL, NULL, napi_default, NULL},
      {"httpRespond", NULL, Respond, NULL, NULL, NULL, napi_default, NULL},
      {"httpClose", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"httpDestroy", NULL, Destroy, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods) == napi_ok ? exports : NULL;
}
