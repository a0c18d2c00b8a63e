// The native tcp front's JavaScript binding (N-API), used by
// src/proxy/native-tunnel.ts only: init, listeners, connect, abortConnect,
// destroy, drain, activity; the events of tunnel.c as triples in an
// Int32Array JavaScript gave to init(), read by onEvents(count).

#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel.h"
#include "napi_util.h"
#include "tls_binding.h"

static napi_env g_env;
static napi_ref g_on_events;
static napi_ref g_batch_ref;
static napi_async_context g_async;

/**
 * onEvents(count) in JavaScript. It contains its own errors (native-tunnel.ts
 * handles each event in a try/catch, as the supervisor does each task); one
 * that still escapes is node's uncaught exception, as in any callback.
 */
static void flush_events(int32_t count) {
  napi_env env = g_env;
  napi_handle_scope scope;
  if (env == NULL || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[1], result;
  if (napi_get_reference_value(env, g_on_events, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_int32(env, count, &argv[0]) == napi_ok) {
    bool pending = false;
    if (napi_make_callback(env, g_async, recv, fn, 1, argv, &result) != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
}

/** Frees a closed libuv handle of the module (while the module is surely loaded). */
static void handle_freed(uv_handle_t* handle) {
  free(handle);
}

static napi_async_cleanup_hook_handle g_cleanup;
static int g_handles_closing;

/** One of the module's libuv handles has closed; after the last, node may unload the module (its code ran the callback). */
static void handle_closed(uv_handle_t* handle) {
  free(handle);
  if (--g_handles_closing == 0) napi_remove_async_cleanup_hook(g_cleanup);
}

/**
 * The environment is going away (process exit, worker termination): every
 * socket closes, the module may be initialised again. Asynchronous, because
 * libuv handles close on the next turn of the loop, and their close callback
 * is code of this module: node must not unload it before.
 */
static void cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  napi_env env = g_env;
  g_cleanup = handle;
  g_handles_closing = 2;  // tunnel-loop.c's poll handle and timer
  tunnels_shutdown(handle_closed);
  if (env != NULL) {
    napi_delete_reference(env, g_on_events);
    napi_delete_reference(env, g_batch_ref);
    napi_async_destroy(env, g_async);
  }
  g_env = NULL;
}

/** init(batch: Int32Array, onEvents): once per process (a second init, e.g. from a worker thread, throws). */
static napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[2], name, arraybuffer;
  size_t argc = 2, length, offset;
  napi_valuetype type;
  napi_typedarray_type array_type;
  bool is_typed = false;
  void* data;
  uv_loop_t* loop;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &array_type, &length, &data, &arraybuffer, &offset) != napi_ok || array_type != napi_int32_array ||
      length < 3 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    return throw_error(env, "init(batch, onEvents): an Int32Array of at least 3 and a function expected");
  }
  if (g_env != NULL) return throw_error(env, "init(): already initialised in this process");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[1], 1, &g_on_events) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &g_batch_ref) != napi_ok ||
      napi_create_string_utf8(env, "supervise:tunnel", NAPI_AUTO_LENGTH, &name) != napi_ok || napi_async_init(env, NULL, name, &g_async) != napi_ok) {
    return throw_error(env, "init(): could not set up the callback");
  }
  int status = tunnels_init(loop, (int32_t*)data, (int32_t)(length / 3 > INT32_MAX ? INT32_MAX : length / 3), flush_events);
  if (status != 0) return throw_error(env, "init(): could not set up the epoll set");
  if (napi_add_async_cleanup_hook(env, cleanup, NULL, NULL) != napi_ok) {
    tunnels_shutdown(handle_freed);
    return throw_error(env, "init(): could not register the cleanup hook");
  }
  g_env = env;
  return NULL;
}

/**
 * Reads (address, port, family) from argv[first…]: an IPv4 or IPv6 literal
 * (family 4 or 6), a port in 0…65535. False (and a thrown error) otherwise.
 */
static bool get_address(napi_env env, napi_value* argv, struct sockaddr_storage* storage, socklen_t* length, const char* usage) {
  char address[INET6_ADDRSTRLEN + 1];
  size_t address_length = 0;
  int32_t port, family;
  if (napi_get_value_string_utf8(env, argv[0], address, sizeof(address), &address_length) != napi_ok || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &family) != napi_ok) {
    throw_error(env, usage);
    return false;
  }
  // A longer string was cut to fit: not an address, whatever its prefix says.
  if (address_length >= sizeof(address) - 1 || (family != 4 && family != 6) || port < 0 || port > 65535) {
    throw_error(env, "address: an IPv4 or IPv6 literal (family 4 or 6) and a port in 0…65535 expected");
    return false;
  }
  memset(storage, 0, sizeof(*storage));
  int status = family == 6 ? uv_ip6_addr(address, port, (struct sockaddr_in6*)storage) : uv_ip4_addr(address, port, (struct sockaddr_in*)storage);
  if (status != 0) {
    throw_error(env, "address: not an IP literal of the given family");
    return false;
  }
  *length = family == 6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  return true;
}

static bool get_ints(napi_env env, napi_callback_info info, size_t want, napi_value* argv, int32_t* first) {
  size_t argc = want;
  if (g_env == NULL || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return false;
  return first == NULL || napi_get_value_int32(env, argv[0], first) == napi_ok;
}

/** listen(address, port, family, backlog): the listener's id, or a negative errno. */
static napi_value Listen(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t backlog;
  struct sockaddr_storage storage;
  socklen_t length;
  if (!get_ints(env, info, 4, argv, NULL) || napi_get_value_int32(env, argv[3], &backlog) != napi_ok) {
    return throw_error(env, "listen(address, port, family, backlog): after init()");
  }
  if (!get_address(env, argv, &storage, &length, "listen(address, port, family, backlog)")) return NULL;
  return make_int(env, listener_open((struct sockaddr*)&storage, length, backlog > 0 ? backlog : 511));
}

/** The id argument of a one-argument call, or false (an error thrown, naming the call). */
static bool get_id(napi_env env, napi_callback_info info, const char* usage, int32_t* id) {
  napi_value argv[1];
  if (get_ints(env, info, 1, argv, id)) return true;
  throw_error(env, usage);
  return false;
}

/** listenerPort(id): the bound port, or a negative errno. */
static napi_value ListenerPort(napi_env env, napi_callback_info info) {
  int32_t id;
  return get_id(env, info, "listenerPort(id): an id expected", &id) ? make_int(env, listener_port(id)) : NULL;
}

/** closeListener(id). */
static napi_value CloseListener(napi_env env, napi_callback_info info) {
  int32_t id;
  if (get_id(env, info, "closeListener(id): an id expected", &id)) listener_close(id);
  return NULL;
}

/**
 * tunnelSetTls(listener, certs, options): the listener terminates TLS and
 * passes the plaintext on (undefined), or a one-line reason and nothing
 * changed. certs and options as httpSetTls's (tls_binding.c; hsts is an HTTP
 * header: accepted, not used here).
 */
static napi_value SetTls(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  size_t argc = 3;
  int32_t id = -1;
  uint32_t hsts = 0;
  char reason[TLS_REASON_SIZE] = "tunnelSetTls(listener, certs, options): bad arguments";
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 3 && napi_get_value_int32(env, argv[0], &id) == napi_ok) {
    tls_set_t* set = tls_binding_read(env, argv[1], argv[2], &hsts, reason);
    if (set != NULL && listener_set_tls(id, set) == 0) {
      napi_get_undefined(env, &result);
      return result;
    }
    if (set != NULL) {
      tls_set_release(set);
      snprintf(reason, sizeof(reason), "tunnelSetTls(): no listener %d", id);
    }
  }
  if (napi_create_string_utf8(env, reason, NAPI_AUTO_LENGTH, &result) != napi_ok) return NULL;
  return result;
}

/** connect(id, address, port, family): 0, or a negative errno (tunnel.h). */
static napi_value Connect(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t id;
  struct sockaddr_storage storage;
  socklen_t length;
  if (!get_ints(env, info, 4, argv, &id)) return throw_error(env, "connect(id, address, port, family): after init()");
  if (!get_address(env, argv + 1, &storage, &length, "connect(id, address, port, family)")) return NULL;
  return make_int(env, tunnel_connect(id, (struct sockaddr*)&storage, length));
}

/** abortConnect(id). */
static napi_value AbortConnect(napi_env env, napi_callback_info info) {
  int32_t id;
  if (get_id(env, info, "abortConnect(id): an id expected", &id)) tunnel_abort_connect(id);
  return NULL;
}

/** destroy(id): the EV_ bits of the sides it closed; not reported through onEvents. */
static napi_value Destroy(napi_env env, napi_callback_info info) {
  int32_t id;
  return get_id(env, info, "destroy(id): an id expected", &id) ? make_int(env, tunnel_destroy(id)) : NULL;
}

/** drain(id): 0, or -1 (no such tunnel). */
static napi_value Drain(napi_env env, napi_callback_info info) {
  int32_t id;
  return get_id(env, info, "drain(id): an id expected", &id) ? make_int(env, tunnel_drain(id)) : NULL;
}

/** activity(id): chunks moved so far (-1: no such tunnel). */
static napi_value Activity(napi_env env, napi_callback_info info) {
  int32_t id;
  napi_value result;
  if (!get_id(env, info, "activity(id): an id expected", &id) || napi_create_double(env, tunnel_activity(id), &result) != napi_ok) return NULL;
  return result;
}

napi_value init_tunnel(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, Listen, NULL, NULL, NULL, napi_default, NULL},
      {"listenerPort", NULL, ListenerPort, NULL, NULL, NULL, napi_default, NULL},
      {"closeListener", NULL, CloseListener, NULL, NULL, NULL, napi_default, NULL},
      {"tunnelSetTls", NULL, SetTls, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, Connect, NULL, NULL, NULL, napi_default, NULL},
      {"abortConnect", NULL, AbortConnect, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, Destroy, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, Drain, NULL, NULL, NULL, napi_default, NULL},
      {"activity", NULL, Activity, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods) != napi_ok) return NULL;
  return exports;
}
