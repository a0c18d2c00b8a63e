// The certificates JavaScript hands a front (httpSetTls, and the tcp front's
// when it terminates TLS), read from N-API values with every input checked:
// hostile or mistaken input gets a one-line reason naming the certificate and
// what is wrong, and nothing changes.
//
//   certs:   Array<{ cert: string (PEM, chain included), key: string (PEM), hosts: string[] }>, certs[0] the default
//   options: { hsts: number } (seconds, 0 = none)

#define NAPI_VERSION 8
#include "tls_binding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HSTS 315360000  // ten years

/** A string property of `object` into a new buffer (*len its length), or false with `reason` set. */
static bool read_string(napi_env env, napi_value object, const char* property, size_t max, char** text, size_t* len, size_t index, char* reason) {
  napi_value value;
  napi_valuetype type;
  if (napi_get_named_property(env, object, property, &value) != napi_ok || napi_typeof(env, value, &type) != napi_ok || type != napi_string ||
      napi_get_value_string_utf8(env, value, NULL, 0, len) != napi_ok) {
    snprintf(reason, TLS_REASON_SIZE, "certificate %zu: `%s` must be a string", index + 1, property);
    return false;
  }
  if (*len == 0 || *len > max) {
    snprintf(reason, TLS_REASON_SIZE, "certificate %zu: `%s` is %s", index + 1, property, *len == 0 ? "empty" : "too long");
    return false;
  }
  *text = malloc(*len + 1);
  if (*text == NULL || napi_get_value_string_utf8(env, value, *text, *len + 1, len) != napi_ok) {
    free(*text);
    *text = NULL;
    snprintf(reason, TLS_REASON_SIZE, "out of memory");
    return false;
  }
  return true;
}

static void free_inputs(tls_cert_input_t* inputs, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free((void*)inputs[i].cert);
    free((void*)inputs[i].key);
    for (size_t j = 0; j < inputs[i].host_count; j++) free((void*)inputs[i].hosts[j]);
    free((void*)inputs[i].hosts);
  }
  free(inputs);
}

/** One entry of `certs`. */
static bool read_cert(napi_env env, napi_value entry, size_t index, tls_cert_input_t* in, size_t* hosts_left, char* reason) {
  napi_valuetype type;
  napi_value hosts;
  bool is_array = false;
  uint32_t count = 0;
  if (napi_typeof(env, entry, &type) != napi_ok || type != napi_object) {
    snprintf(reason, TLS_REASON_SIZE, "certificate %zu: must be an object { cert, key, hosts }", index + 1);
    return false;
  }
  char* text;
  size_t len;
  if (!read_string(env, entry, "cert", TLS_MAX_PEM, &text, &len, index, reason)) return false;
  in->cert = text;
  in->cert_len = len;
  if (!read_string(env, entry, "key", TLS_MAX_PEM, &text, &len, index, reason)) return false;
  in->key = text;
  in->key_len = len;
  if (napi_get_named_property(env, entry, "hosts", &hosts) != napi_ok || napi_is_array(env, hosts, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, hosts, &count) != napi_ok) {
    snprintf(reason, TLS_REASON_SIZE, "certificate %zu: `hosts` must be an array of names", index + 1);
    return false;
  }
  if (count > *hosts_left) {
    snprintf(reason, TLS_REASON_SIZE, "at most %d host names over all certificates", TLS_MAX_HOSTS);
    return false;
  }
  *hosts_left -= count;
  in->hosts = calloc(count > 0 ? count : 1, sizeof(char*));
  if (in->hosts == NULL) {
    snprintf(reason, TLS_REASON_SIZE, "out of memory");
    return false;
  }
  for (uint32_t j = 0; j < count; j++) {
    napi_value host;
    char name[256];
    size_t name_len = 0;
    if (napi_get_element(env, hosts, j, &host) != napi_ok || napi_typeof(env, host, &type) != napi_ok || type != napi_string ||
        napi_get_value_string_utf8(env, host, name, sizeof(name), &name_len) != napi_ok || !tls_host_valid(name, name_len) ||
        strlen(name) != name_len) {
      snprintf(reason, TLS_REASON_SIZE, "certificate %zu: host %u is not a DNS name or \"*.\" and one (e.g. api.example.com, *.example.com)", index + 1, j + 1);
      return false;
    }
    char* copy = strdup(name);
    if (copy == NULL) {
      snprintf(reason, TLS_REASON_SIZE, "out of memory");
      return false;
    }
    ((const char**)in->hosts)[in->host_count++] = copy;
  }
  return true;
}

tls_set_t* tls_binding_read(napi_env env, napi_value certs, napi_value options, uint32_t* hsts, char reason[TLS_REASON_SIZE]) {
  bool is_array = false;
  uint32_t count = 0;
  napi_valuetype type;
  napi_value value;
  double seconds = 0;
  if (napi_typeof(env, options, &type) != napi_ok || type != napi_object || napi_get_named_property(env, options, "hsts", &value) != napi_ok ||
      napi_typeof(env, value, &type) != napi_ok || (type != napi_undefined && (type != napi_number || napi_get_value_double(env, value, &seconds) != napi_ok)) ||
      !(seconds >= 0 && seconds <= MAX_HSTS) || seconds != (double)(uint32_t)seconds) {
    snprintf(reason, TLS_REASON_SIZE, "options.hsts must be a whole number of seconds from 0 to %d", MAX_HSTS);
    return NULL;
  }
  *hsts = (uint32_t)seconds;
  if (napi_is_array(env, certs, &is_array) != napi_ok || !is_array || napi_get_array_length(env, certs, &count) != napi_ok || count == 0 ||
      count > TLS_MAX_CERTS) {
    snprintf(reason, TLS_REASON_SIZE, "certs must be an array of 1 to %d certificates", TLS_MAX_CERTS);
    return NULL;
  }
  tls_cert_input_t* inputs = calloc(count, sizeof(*inputs));
  if (inputs == NULL) {
    snprintf(reason, TLS_REASON_SIZE, "out of memory");
    return NULL;
  }
  size_t hosts_left = TLS_MAX_HOSTS;
  tls_set_t* set = NULL;
  bool ok = true;
  snprintf(reason, TLS_REASON_SIZE, "certs: an entry could not be read");
  for (uint32_t i = 0; i < count && ok; i++) {
    napi_value entry;
    ok = napi_get_element(env, certs, i, &entry) == napi_ok && read_cert(env, entry, i, &inputs[i], &hosts_left, reason);
  }
  if (ok) set = tls_set_new(inputs, count, reason);
  free_inputs(inputs, count);
  return set;
}
