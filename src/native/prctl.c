// Kernel-enforced process lifetime for supervise (Linux): the calls Node
// cannot make itself.
//  - setChildSubreaper(): the master becomes the "init" of its descendants, so a
//    worker's grandchild that daemonizes (setsid + double fork) is reparented to
//    the master, not to pid 1, and stays findable and killable.
//  - setParentDeathSignal(sig, expectedParent): called by a cluster worker at
//    start; the kernel sends `sig` when the *thread* that forked it dies (the
//    master's main thread, which runs libuv's spawn). The parent may have died
//    before the call: then the signal is raised at once.
//  - reap(pid): collect the exit status of a reparented orphan (never a pid that
//    libuv spawned: libuv reaps those itself, and a stolen status would lose an
//    exit event).
#include "prctl.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "napi_util.h"

static napi_value make_bool(napi_env env, bool value) {
  napi_value result;
  if (napi_get_boolean(env, value, &result) != napi_ok) return NULL;
  return result;
}

/** Reads up to `want` int32 arguments; false (with a JS exception) when one is missing or not a number. */
static bool int_args(napi_env env, napi_callback_info info, size_t want, int32_t* out, const char* usage) {
  napi_value argv[2];
  size_t argc = 2;
  if (want > 2 || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  for (size_t i = 0; i < want; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, usage);
      return false;
    }
  }
  return true;
}

/** setChildSubreaper(): true when this process is now a child subreaper. */
static napi_value SetChildSubreaper(napi_env env, napi_callback_info info) {
  (void)info;
  return make_bool(env, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
}

/** setParentDeathSignal(signal, expectedParentPid): true when armed (false: not supported). */
static napi_value SetParentDeathSignal(napi_env env, napi_callback_info info) {
  int32_t args[2];
  if (!int_args(env, info, 2, args, "setParentDeathSignal(signal, expectedParentPid): two integers expected")) return NULL;
  if (args[0] <= 0 || args[0] >= NSIG) {
    napi_throw_range_error(env, NULL, "setParentDeathSignal: not a signal number");
    return NULL;
  }
  if (prctl(PR_SET_PDEATHSIG, (unsigned long)args[0], 0, 0, 0) != 0) return make_bool(env, false);
  // The parent died between fork and the prctl: nobody will send the signal.
  if (args[1] > 0 && getppid() != (pid_t)args[1]) raise(args[0]);
  return make_bool(env, true);
}

/** reap(pid): the exit status if that child has exited (it is collected), -1 if it still runs, -errno on error. */
static napi_value Reap(napi_env env, napi_callback_info info) {
  int32_t pid;
  if (!int_args(env, info, 1, &pid, "reap(pid): an integer pid expected")) return NULL;
  if (pid <= 1) {
    napi_throw_range_error(env, NULL, "reap: pid must be above 1");
    return NULL;
  }
  int status = 0;
  pid_t done;
  do {
    done = waitpid((pid_t)pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done < 0) return make_int(env, -errno);
  if (done == 0) return make_int(env, -1);
  return make_int(env, status);
}

/**
 * raiseFileLimit(): the soft RLIMIT_NOFILE raised to the hard one (node has no
 * call for it; nginx's worker_rlimit_nofile): [soft, hard] after, or -errno.
 */
static napi_value RaiseFileLimit(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return make_int(env, -errno);
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = {limit.rlim_max, limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  napi_value result;
  double soft = limit.rlim_cur == RLIM_INFINITY ? -1 : (double)limit.rlim_cur;
  double hard = limit.rlim_max == RLIM_INFINITY ? -1 : (double)limit.rlim_max;
  napi_value a, b;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok || napi_create_double(env, soft, &a) != napi_ok ||
      napi_create_double(env, hard, &b) != napi_ok || napi_set_element(env, result, 0, a) != napi_ok || napi_set_element(env, result, 1, b) != napi_ok) {
    return NULL;
  }
  return result;
}

napi_status init_prctl(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"setChildSubreaper", NULL, SetChildSubreaper, NULL, NULL, NULL, napi_default, NULL},
      {"setParentDeathSignal", NULL, SetParentDeathSignal, NULL, NULL, NULL, napi_default, NULL},
      {"reap", NULL, Reap, NULL, NULL, NULL, napi_default, NULL},
      {"raiseFileLimit", NULL, RaiseFileLimit, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods);
}
