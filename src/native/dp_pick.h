// Which backend takes a request, decided in C from a snapshot (dp_snapshot.h)
// and a thread's own mutable state: the route (longest prefix on segment
// boundaries, a host's routes first, exactly as src/core/router.ts), the app's
// policy (round-robin and weighted round-robin by a cursor over the snapshot's
// member list and schedule; least-conn and p2c over this thread's live
// in-flight counts), `exclude` for retries after failed connects, and
// "wait" when the matched app has no backend in rotation.
//
// The snapshot is shared and immutable; dp_state_t is one thread's alone (no
// atomics on the request path). Counts are per thread, as Envoy's
// least-request is per worker: with several threads each balances its own.

#ifndef SUPERVISE_DP_PICK_H
#define SUPERVISE_DP_PICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_snapshot.h"

/** What a thread knows of one backend slot: its own counts, and where the current snapshot has it. */
typedef struct dp_slot {
  int32_t active;   // requests in flight on this thread
  uint32_t handed;  // requests handed to the slot's backend since it took the slot (--max-requests)
  int32_t backend;  // its index in the current snapshot, -1 when it is not in it
  bool drained_told;  // DP_EV_DRAINED was reported for its draining (reset when it is back in rotation)
} dp_slot_t;

typedef struct dp_state {
  uint32_t* app_cursors;  // round-robin / schedule position, by app index
  uint32_t app_capacity;
  uint32_t* group_cursors;  // schedule position between a group's apps, by group index
  uint32_t group_capacity;
  dp_slot_t* slots;  // by backend slot
  uint32_t slot_capacity;
  uint64_t random;  // p2c's generator (xorshift64*): never 0
} dp_state_t;

typedef struct dp_choice {
  int kind;         // DP_PICK_*
  int32_t backend;  // DP_PICK_BACKEND: its index in the snapshot
  int32_t slot;     // and its slot
  int32_t app;      // the app chosen (-1 before one is)
  int32_t series;   // the counters' series the request is counted under
  uint32_t strip;   // bytes of the target to drop (the route's prefix, when it strips)...
  bool slash;       // ...then '/' put before what is left
} dp_choice_t;

/** A zeroed state with its generator seeded (`seed` 0: a fixed seed). */
void dp_state_init(dp_state_t* state, uint64_t seed);

/**
 * Readies the state for `snapshot` (before picking from it): grown to its apps,
 * groups and slots, each slot told where the snapshot has it. Cursors and counts
 * carry over (by index, by slot). 0, or ENOMEM (then the state is unchanged for
 * the snapshot it had).
 */
int dp_state_prepare(dp_state_t* state, const dp_snapshot_t* snapshot);

void dp_state_release(dp_state_t* state);

/**
 * Decides a request for `host` (the Host header as sent; NULL or empty: none)
 * and `path` (the target: path and query), skipping the backends whose slots
 * are in `exclude`. Always fills *choice; returns choice->kind. The state must
 * have been prepared for this snapshot.
 */
int dp_pick(const dp_snapshot_t* snapshot, dp_state_t* state, const char* host, size_t host_len, const char* path, size_t path_len,
            const int32_t* exclude, int exclude_count, dp_choice_t* choice);

/** A request to `slot` (of `snapshot`) begins: counted in flight and handed. True when that reached its budget (report DP_EV_BUDGET once). */
bool dp_acquire(dp_state_t* state, const dp_snapshot_t* snapshot, int32_t slot);

/** It ended; the count left in flight (0: none). */
int32_t dp_release(dp_state_t* state, int32_t slot);

/** A connect to `slot` failed: not a request it was handed (balancer.ts's releaseFailed). */
void dp_release_failed(dp_state_t* state, int32_t slot);

/** A new backend took `slot`: its handed count starts over. */
void dp_slot_reset(dp_state_t* state, int32_t slot);

/** Requests in flight to `slot` on this thread. */
int32_t dp_active(const dp_state_t* state, int32_t slot);

/**
 * Whether `slot` is draining in `snapshot` with nothing in flight here, not
 * reported yet: then it is marked reported, and the caller reports DP_EV_DRAINED.
 */
bool dp_take_drained(dp_state_t* state, const dp_snapshot_t* snapshot, int32_t slot);

#endif
