// Small N-API helpers shared by the addon's modules (tunnel, http, prctl).
#ifndef SUPERVISE_NAPI_UTIL_H
#define SUPERVISE_NAPI_UTIL_H

#include <node_api.h>
#include <stdint.h>

/** Throws a JavaScript Error with the message; returns NULL for `return throw_error(...)`. */
static inline napi_value throw_error(napi_env env, const char* message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/** A JavaScript number for an int32, or NULL when N-API could not make one (an exception is pending). */
static inline napi_value make_int(napi_env env, int32_t value) {
  napi_value result;
  if (napi_create_int32(env, value, &result) != napi_ok) return NULL;
  return result;
}

#endif
