// Kernel-enforced process lifetime (prctl.c): child subreaper, parent-death
// signal, reaping adopted orphans.

#ifndef SUPERVISE_PRCTL_H
#define SUPERVISE_PRCTL_H

#define NAPI_VERSION 8
#include <node_api.h>

/** Adds setChildSubreaper, setParentDeathSignal and reap to the addon's exports. */
napi_status init_prctl(napi_env env, napi_value exports);

#endif
