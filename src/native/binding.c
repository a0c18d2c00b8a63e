// The one native addon's module init: each native module under src/native/
// exports an init_<thing>(env, exports) that adds its functions; one line
// each here, so that branches adding modules merge cleanly.

#define NAPI_VERSION 8
#include <node_api.h>

#include "notify.h"
#include "prctl.h"

napi_value init_http(napi_env env, napi_value exports);
napi_value init_dp(napi_env env, napi_value exports);
napi_status init_probe(napi_env env, napi_value exports);
napi_status init_listen_diag(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  if (init_http(env, exports) == NULL) return NULL;
  if (init_dp(env, exports) == NULL) return NULL;
  if (init_notify(env, exports) != napi_ok) return NULL;
  if (init_prctl(env, exports) != napi_ok) return NULL;
  if (init_probe(env, exports) != napi_ok) return NULL;
  if (init_listen_diag(env, exports) != napi_ok) return NULL;
  return exports;
}
