// The data plane's decision code as JavaScript can call it directly: decode a
// snapshot and pick from it, with a state of its own. The fronts do not go
// through here (they pick inside C); this is how the differential test
// (test/unit/dp-pick.test.ts) runs C's pick beside TypeScript's policy on the
// same snapshot, and how a snapshot is checked before it is published.
//
//   dpDecode(buffer, seed?)        -> a handle (>= 0), or a negative errno (the buffer was refused)
//   dpSwap(handle, buffer)         -> 0, or a negative errno: the state keeps its cursors and counts
//   dpPick(handle, host, path, exclude?) -> Int32Array [kind, slot, app, series, strip, slash]
//   dpAcquire(handle, slot) / dpRelease(handle, slot)
//   dpFree(handle)

#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_pick.h"
#include "id_table.h"
#include "napi_util.h"

typedef struct picker {
  dp_snapshot_t* snapshot;
  dp_state_t state;
} picker_t;

/** Per environment (node's main thread, each worker thread): the pickers by handle. */
typedef struct instance {
  id_table_t pickers;
} instance_t;

static void picker_free(picker_t* picker) {
  dp_snapshot_free(picker->snapshot);
  dp_state_release(&picker->state);
  free(picker);
}

static void instance_finalize(napi_env env, void* data, void* hint) {
  instance_t* instance = data;
  for (int32_t id = 0; id < instance->pickers.capacity; id++) {
    picker_t* picker = id_table_get(&instance->pickers, id);
    if (picker != NULL) picker_free(picker);
  }
  id_table_release(&instance->pickers);
  free(instance);
}

static instance_t* instance_of(napi_env env) {
  void* data = NULL;
  return napi_get_instance_data(env, &data) == napi_ok ? data : NULL;
}

/** The bytes of a Buffer or any TypedArray / DataView argument. */
static bool bytes_of(napi_env env, napi_value value, void** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_value buffer;
    if (napi_get_typedarray_info(env, value, &type, &count, data, &buffer, &offset) != napi_ok) return false;
    size_t unit = type == napi_int8_array || type == napi_uint8_array || type == napi_uint8_clamped_array ? 1
                  : type == napi_int16_array || type == napi_uint16_array                                  ? 2
                  : type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                                                                                                             : 4;
    *length = count * unit;
    return true;
  }
  return false;
}

static picker_t* picker_of(napi_env env, napi_value value) {
  instance_t* instance = instance_of(env);
  int32_t handle;
  if (instance == NULL || napi_get_value_int32(env, value, &handle) != napi_ok) return NULL;
  return id_table_get(&instance->pickers, handle);
}

static size_t get_args(napi_env env, napi_callback_info info, size_t max, napi_value* argv) {
  size_t argc = max;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  return argc;
}

static napi_value Decode(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = get_args(env, info, 2, argv);
  void* data;
  size_t length;
  instance_t* instance = instance_of(env);
  if (argc < 1 || instance == NULL || !bytes_of(env, argv[0], &data, &length)) return throw_error(env, "dpDecode(buffer, seed?): bad arguments");
  int64_t seed = 0;
  if (argc >= 2) napi_get_value_int64(env, argv[1], &seed);
  picker_t* picker = calloc(1, sizeof(*picker));
  if (picker == NULL) return make_int(env, -ENOMEM);
  dp_state_init(&picker->state, (uint64_t)seed);
  int error = dp_snapshot_decode(data, length, &picker->snapshot);
  if (error == 0) error = dp_state_prepare(&picker->state, picker->snapshot);
  int32_t handle = error == 0 ? id_table_add(&instance->pickers, picker) : -1;
  if (error != 0 || handle < 0) {
    picker_free(picker);
    return make_int(env, -(error != 0 ? error : ENOMEM));
  }
  return make_int(env, handle);
}

static napi_value Swap(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void* data;
  size_t length;
  picker_t* picker;
  if (get_args(env, info, 2, argv) < 2 || (picker = picker_of(env, argv[0])) == NULL || !bytes_of(env, argv[1], &data, &length)) {
    return throw_error(env, "dpSwap(handle, buffer): bad arguments");
  }
  dp_snapshot_t* next;
  int error = dp_snapshot_decode(data, length, &next);
  if (error == 0 && (error = dp_state_prepare(&picker->state, next)) != 0) dp_snapshot_free(next);
  if (error != 0) return make_int(env, -error);
  dp_snapshot_free(picker->snapshot);
  picker->snapshot = next;
  return make_int(env, 0);
}

/** A string argument as latin1 bytes into `buffer` (undefined/null: none). False when it is no string or too long. */
static bool text_of(napi_env env, napi_value value, char* buffer, size_t size, size_t* length, bool* present) {
  napi_valuetype type;
  *present = false;
  *length = 0;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_undefined || type == napi_null) return true;
  if (type != napi_string || napi_get_value_string_latin1(env, value, NULL, 0, length) != napi_ok || *length >= size) return false;
  *present = true;
  return napi_get_value_string_latin1(env, value, buffer, size, length) == napi_ok;
}

static napi_value Pick(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = get_args(env, info, 4, argv);
  picker_t* picker;
  static char host[1024], path[16384];
  size_t host_len, path_len;
  bool has_host, has_path;
  int32_t* exclude = NULL;
  size_t exclude_bytes = 0;
  if (argc < 3 || (picker = picker_of(env, argv[0])) == NULL || !text_of(env, argv[1], host, sizeof(host), &host_len, &has_host) ||
      !text_of(env, argv[2], path, sizeof(path), &path_len, &has_path) || !has_path) {
    return throw_error(env, "dpPick(handle, host, path, exclude?): bad arguments");
  }
  if (argc >= 4) {
    napi_valuetype type;
    void* data;
    if (napi_typeof(env, argv[3], &type) != napi_ok) return NULL;
    if (type != napi_undefined && !bytes_of(env, argv[3], &data, &exclude_bytes)) return throw_error(env, "dpPick: exclude must be an Int32Array");
    if (type != napi_undefined) exclude = data;
  }
  dp_choice_t choice;
  dp_pick(picker->snapshot, &picker->state, has_host ? host : NULL, host_len, path, path_len, exclude, (int)(exclude_bytes / 4), &choice);
  napi_value buffer, result;
  int32_t* out;
  if (napi_create_arraybuffer(env, 6 * sizeof(int32_t), (void**)&out, &buffer) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, 6, buffer, 0, &result) != napi_ok) {
    return NULL;
  }
  out[0] = choice.kind;
  out[1] = choice.slot;
  out[2] = choice.app;
  out[3] = choice.series;
  out[4] = (int32_t)choice.strip;
  out[5] = choice.slash ? 1 : 0;
  return result;
}

static napi_value Count(napi_env env, napi_callback_info info, bool acquire) {
  napi_value argv[2];
  picker_t* picker;
  int32_t slot;
  if (get_args(env, info, 2, argv) < 2 || (picker = picker_of(env, argv[0])) == NULL || napi_get_value_int32(env, argv[1], &slot) != napi_ok) {
    return throw_error(env, "dpAcquire/dpRelease(handle, slot): bad arguments");
  }
  if (acquire) dp_acquire(&picker->state, picker->snapshot, slot);
  return make_int(env, acquire ? dp_active(&picker->state, slot) : dp_release(&picker->state, slot));
}

static napi_value Acquire(napi_env env, napi_callback_info info) {
  return Count(env, info, true);
}

static napi_value Release(napi_env env, napi_callback_info info) {
  return Count(env, info, false);
}

static napi_value Free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  instance_t* instance = instance_of(env);
  int32_t handle;
  if (get_args(env, info, 1, argv) < 1 || instance == NULL || napi_get_value_int32(env, argv[0], &handle) != napi_ok) return NULL;
  picker_t* picker = id_table_get(&instance->pickers, handle);
  if (picker == NULL) return NULL;
  id_table_remove(&instance->pickers, handle);
  picker_free(picker);
  return NULL;
}

napi_value init_dp(napi_env env, napi_value exports) {
  instance_t* instance = calloc(1, sizeof(*instance));
  if (instance == NULL) return throw_error(env, "out of memory");
  id_table_init(&instance->pickers);
  if (napi_set_instance_data(env, instance, instance_finalize, NULL) != napi_ok) {
    free(instance);
    return NULL;
  }
  napi_property_descriptor methods[] = {
      {"dpDecode", NULL, Decode, NULL, NULL, NULL, napi_default, NULL},
      {"dpSwap", NULL, Swap, NULL, NULL, NULL, napi_default, NULL},
      {"dpPick", NULL, Pick, NULL, NULL, NULL, napi_default, NULL},
      {"dpAcquire", NULL, Acquire, NULL, NULL, NULL, napi_default, NULL},
      {"dpRelease", NULL, Release, NULL, NULL, NULL, napi_default, NULL},
      {"dpFree", NULL, Free, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods) == napi_ok ? exports : NULL;
}
