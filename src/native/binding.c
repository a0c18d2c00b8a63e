// The native tunnel's JavaScript binding (N-API): init, connect, destroy,
// activity, and the events of tunnel.c as calls of onEvent(id, what, errno).
// Used by src/proxy/native-tunnel.ts only.

#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>

#include "notify.h"
#include "prctl.h"
#include "tunnel.h"

static napi_env g_env;
static napi_ref g_on_event;
static napi_async_context g_async;

/** onEvent(id, what, detail) in JavaScript; a throwing listener is an uncaught exception, as in any node callback. */
static void notify(int32_t id, int what, int detail) {
  napi_env env = g_env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[3], result;
  if (napi_get_reference_value(env, g_on_event, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_int32(env, id, &argv[0]) == napi_ok && napi_create_int32(env, what, &argv[1]) == napi_ok &&
      napi_create_int32(env, detail, &argv[2]) == napi_ok) {
    bool pending = false;
    if (napi_make_callback(env, g_async, recv, fn, 3, argv, &result) != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value throw_error(napi_env env, const char* message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value make_int(napi_env env, int32_t value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

/** init(onEvent): once per process (a second init, e.g. from a worker thread, throws). */
static napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[1], name;
  size_t argc = 1;
  napi_valuetype type;
  uv_loop_t* loop;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok ||
      type != napi_function) {
    return throw_error(env, "init(onEvent): onEvent must be a function");
  }
  if (g_env != NULL) return throw_error(env, "init(): already initialised in this process");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[0], 1, &g_on_event) != napi_ok ||
      napi_create_string_utf8(env, "supervise:tunnel", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &g_async) != napi_ok) {
    return throw_error(env, "init(): could not set up the callback");
  }
  if (tunnels_init(loop, notify) != 0) return throw_error(env, "init(): could not set up the epoll set");
  g_env = env;
  return NULL;
}

/** connect(clientFd, address, port, family): the tunnel's id, or a negative errno (tunnel.h). */
static napi_value Connect(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4;
  int32_t client_fd, port, family;
  char address[64];
  size_t address_length;
  if (g_env == NULL) return throw_error(env, "connect(): init() first");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &client_fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], address, sizeof(address), &address_length) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || napi_get_value_int32(env, argv[3], &family) != napi_ok) {
    return throw_error(env, "connect(clientFd, address, port, family): bad arguments");
  }
  struct sockaddr_storage storage;
  int status = family == 6 ? uv_ip6_addr(address, port, (struct sockaddr_in6*)&storage) : uv_ip4_addr(address, port, (struct sockaddr_in*)&storage);
  if (status != 0) return make_int(env, status);
  socklen_t length = family == 6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  return make_int(env, tunnel_connect(client_fd, (struct sockaddr*)&storage, length));
}

static bool get_id(napi_env env, napi_callback_info info, int32_t* id) {
  napi_value argv[1];
  size_t argc = 1;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && napi_get_value_int32(env, argv[0], id) == napi_ok;
}

/** destroy(id): the EV_ bits of the sides it closed; not reported through onEvent. */
static napi_value Destroy(napi_env env, napi_callback_info info) {
  int32_t id;
  if (!get_id(env, info, &id)) return throw_error(env, "destroy(id): an id expected");
  return make_int(env, tunnel_destroy(id));
}

/** activity(id): chunks moved so far (-1: no such tunnel). */
static napi_value Activity(napi_env env, napi_callback_info info) {
  int32_t id;
  if (!get_id(env, info, &id)) return throw_error(env, "activity(id): an id expected");
  napi_value result;
  napi_create_double(env, tunnel_activity(id), &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor methods[] = {
      {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, Connect, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, Destroy, NULL, NULL, NULL, napi_default, NULL},
      {"activity", NULL, Activity, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods) != napi_ok) return NULL;
  if (init_notify(env, exports) != napi_ok) return NULL;
  if (init_prctl(env, exports) != napi_ok) return NULL;
  return exports;
}
