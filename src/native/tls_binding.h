// Certificates from JavaScript values (tls_binding.c), for the fronts' setTls calls.
#ifndef SUPERVISE_TLS_BINDING_H
#define SUPERVISE_TLS_BINDING_H

#include <node_api.h>
#include <stdint.h>

#include "tls_ctx.h"

/** A new set (one reference, the caller's) from `certs` and `options` (its hsts into *hsts), or NULL with a one-line reason. */
tls_set_t* tls_binding_read(napi_env env, napi_value certs, napi_value options, uint32_t* hsts, char reason[TLS_REASON_SIZE]);

#endif
