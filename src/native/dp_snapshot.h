// The data plane's view of the control plane's decisions: a snapshot, decoded
// from the flat buffer src/core/dp-snapshot.ts encodes (layout:
// dp_constants.h), validated as hostile input, then immutable. A thread picks
// from the snapshot it holds (dp_pick.h) and swaps it for a newer one between
// events; nothing in it changes while it is shared, so reading it needs no lock.

#ifndef SUPERVISE_DP_SNAPSHOT_H
#define SUPERVISE_DP_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dp_constants.h"

typedef struct dp_backend {
  int32_t slot;
  int32_t app;
  int32_t weight;
  int32_t flags;   // DP_F_*
  int32_t budget;  // requests it may be handed in all; 0: no limit
  struct sockaddr_storage address;
  socklen_t address_len;
} dp_backend_t;

typedef struct dp_app {
  const char* name;  // not NUL-terminated
  uint32_t name_len;
  int32_t policy;            // DP_P_*
  const int32_t* members;    // backend indexes in rotation, in rotation order
  uint32_t member_count;
  const int32_t* schedule;   // weighted round-robin: member indexes
  uint32_t schedule_len;
  uint32_t primary_count;    // members without DP_F_BACKUP
} dp_app_t;

typedef struct dp_route {
  int32_t app;
  int32_t weight;
  int32_t strip;
  int32_t series;
} dp_route_t;

typedef struct dp_group {
  const char* host;  // lower case, no port; host_len 0: any host
  uint32_t host_len;
  const char* path;  // the prefix: starts with '/'
  uint32_t path_len;
  const dp_route_t* routes;
  uint32_t route_count;
  const int32_t* schedule;  // smooth WRR over `routes` (indexes)
  uint32_t schedule_len;
} dp_group_t;

typedef struct dp_snapshot {
  int32_t serial;
  int32_t default_series;
  bool routed;  // DP_S_ROUTED: match the groups (an empty table matches nothing); else every request is app 0's
  uint32_t queue_timeout_ms, connect_timeout_ms, response_timeout_ms;
  const dp_backend_t* backends;
  uint32_t backend_count;
  const dp_app_t* apps;
  uint32_t app_count;
  const dp_group_t* groups;  // in match order: longest prefix first, a host's before any host's
  uint32_t group_count;
  int32_t max_slot;  // the highest backend slot, -1 without backends
  // What the pointers above point into (owned).
  void* memory;
  int32_t* words;
} dp_snapshot_t;

/**
 * Decodes and validates `length` bytes at `data` (copied: the caller keeps its
 * buffer). 0 and *out set, or an errno: EINVAL (malformed: a bad magic, an
 * offset or index out of bounds, a bad address, an unsorted route table…),
 * EPROTO (another layout version), E2BIG (past a DP_MAX_* limit), ENOMEM.
 */
int dp_snapshot_decode(const void* data, size_t length, dp_snapshot_t** out);

/** Frees a decoded snapshot (NULL is fine). */
void dp_snapshot_free(dp_snapshot_t* snapshot);

#endif
