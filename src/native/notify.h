// systemd's notify protocol over Unix datagram sockets (notify.c): sending,
// and a receiving socket that reports each sender's pid.

#ifndef SUPERVISE_NOTIFY_H
#define SUPERVISE_NOTIFY_H

#define NAPI_VERSION 8
#include <node_api.h>

/** Adds notifySend, notifyListen, notifyClose and notifyRef to the addon's exports. */
napi_status init_notify(napi_env env, napi_value exports);

#endif
