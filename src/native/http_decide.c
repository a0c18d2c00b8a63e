// The http front's decisions, made in C from the snapshot JavaScript publishes
// (dp_snapshot.h, dp_pick.h): which backend takes a request, retries on the
// next one after a failed connect, the queue while the request's app has no
// backend in rotation, and what is reported back in the batch — a draining
// backend whose last request ended (DP_EV_DRAINED), a backend handed its
// --max-requests-th request (DP_EV_BUDGET), a failed connect (passive health
// checks: DP_EV_CONNECT_FAILED). No call into JavaScript on the request path.
//
// The snapshot is immutable and owned by the front; a new one replaces it
// whole between events (hf_publish, called by JavaScript), and nothing keeps a
// pointer into the old one: a client holds its backend's slot and its series,
// numbers that outlive snapshots.

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/** Whether a failed connect says something about the backend, not about us (out of fds, memory, ports): only then is it reported. */
static bool backend_fault(int error) {
  return error != EMFILE && error != ENFILE && error != ENOMEM && error != ENOBUFS && error != EADDRNOTAVAIL;
}

/** The record carries the snapshot's serial: the main thread counts a drain only when every thread saw it in the same rotation. */
static void hf_slot_released(hf_front_t* front, int32_t slot) {
  if (front->snapshot != NULL && dp_take_drained(&front->pick, front->snapshot, slot)) hf_emit(front, DP_EV_DRAINED, slot, front->snapshot->serial);
}

void hf_request_ended(hf_front_t* front, int32_t slot) {
  dp_release(&front->pick, slot);
  hf_slot_released(front, slot);
}

/** The count of requests handed to `slot`'s backend over every thread, when it has a --max-requests budget (else NULL: nothing counted). */
static atomic_uint* budget_count(hf_front_t* front, int32_t slot, int32_t* budget) {
  int32_t backend = slot >= 0 && (uint32_t)slot < front->pick.slot_capacity ? front->pick.slots[slot].backend : -1;
  *budget = front->snapshot != NULL && backend >= 0 && (uint32_t)backend < front->snapshot->backend_count ? front->snapshot->backends[backend].budget : 0;
  return *budget > 0 ? hf_handed(front->listener, slot) : NULL;
}

void hf_attempt_failed(client_t* cl, int32_t slot, int error) {
  hf_front_t* front = cl->front;
  cl->failed[cl->failed_count++] = slot;
  cl->last_error = error;
  int32_t budget;
  atomic_uint* handed = budget_count(front, slot, &budget);
  // Not a request it was handed (balancer.ts's releaseFailed); never below 0 (the slot may have been reset meanwhile).
  for (unsigned count = handed != NULL ? atomic_load_explicit(handed, memory_order_relaxed) : 0; count > 0;) {
    if (atomic_compare_exchange_weak_explicit(handed, &count, count - 1, memory_order_relaxed, memory_order_relaxed)) break;
  }
  dp_release_failed(&front->pick, slot);
  if (backend_fault(error)) hf_emit(front, DP_EV_CONNECT_FAILED, slot, error);
  hf_slot_released(front, slot);
}

/**
 * The target a stripping route forwards: the prefix's `strip` bytes dropped,
 * '/' before the rest when it does not start with one (router.ts's
 * stripPrefix). Allocated (the caller frees it); NULL when out of memory.
 */
static char* stripped(const char* path, size_t path_len, const dp_choice_t* choice, size_t* length) {
  size_t rest = path_len > choice->strip ? path_len - choice->strip : 0;
  char* target = malloc(rest + 2);
  if (target == NULL) return NULL;
  size_t at = 0;
  if (choice->slash) target[at++] = '/';
  memcpy(target + at, path + (path_len - rest), rest);
  *length = at + rest;
  target[*length] = '\0';
  return target;
}

/** No backend for the request: the answer, from what the pick said and what was tried. */
static void give_up(client_t* cl, int kind) {
  if (cl->resends > 0) {
    // A request resent after a timeout or a reset found no other backend: the answer is that failure's.
    if (cl->last_error == ETIMEDOUT) hf_fail(cl, 504, DP_R_TIMEOUT);
    else hf_fail(cl, 502, DP_R_BACKEND_FAILED);
    return;
  }
  if (kind == DP_PICK_NO_ROUTE) {
    hf_answer(cl, 404, DP_R_NO_ROUTE, "no route for this path");
    return;
  }
  char text[96];
  if (cl->failed_count > 0) snprintf(text, sizeof(text), "no backend accepted the connection (%d tried)", cl->failed_count);
  else snprintf(text, sizeof(text), "no backend available");
  hf_answer(cl, 502, DP_R_NO_BACKEND, text);
}

void hf_attempt(client_t* cl) {
  hf_front_t* front = cl->front;
  for (;;) {
    if (cl->dead || front->destroyed) {
      cl->dead = true;
      return;
    }
    if (cl->failed_count == MAX_TRIES) {
      give_up(cl, DP_PICK_EXHAUSTED);
      return;
    }
    const char *host, *path;
    size_t host_len, path_len;
    hf_request_target(cl, &host, &host_len, &path, &path_len);
    dp_choice_t choice;
    int kind = DP_PICK_WAIT;
    if (front->snapshot != NULL) {
      kind = dp_pick(front->snapshot, &front->pick, host, host_len, path, path_len, cl->failed, cl->failed_count, &choice);
    }
    if (kind == DP_PICK_WAIT && front->snapshot != NULL && front->snapshot->queue_timeout_ms > 0 && !front->closing && cl->resends == 0) {
      // Nothing in rotation for its app yet (a worker booting): held until a snapshot brings one, or --queue-timeout.
      if (cl->state != S_QUEUE) cl->phase_ms = hf_now_ms();
      cl->state = S_QUEUE;
      return;
    }
    if (kind == DP_PICK_WAIT && front->snapshot == NULL && !front->closing) {
      cl->state = S_QUEUE;  // before the first snapshot (the front just started listening): held the same way
      cl->phase_ms = hf_now_ms();
      return;
    }
    if (kind == DP_PICK_EXHAUSTED && !cl->verdict && cl->resends == 0 && !front->closing && backend_fault(cl->last_error)) {
      // Every backend in rotation failed for it. JavaScript hears of the failures (passive health
      // checks) and may bring another in (a backup while every primary is down): the request waits
      // for the snapshot that answers them (JavaScript publishes one after any failure), then 502.
      cl->verdict = true;
      cl->state = S_QUEUE;
      cl->phase_ms = hf_now_ms();
      return;
    }
    if (kind != DP_PICK_BACKEND) {
      give_up(cl, kind);
      return;
    }
    int32_t slot = choice.slot;
    cl->state = S_ROUTE;
    if (hf_backend_of(front, slot) == NULL) {
      // C has no address for it (JavaScript failed to add it): as a connect that failed, not the backend's fault.
      cl->failed[cl->failed_count++] = slot;
      continue;
    }
    dp_acquire(&front->pick, front->snapshot, slot);  // this thread's counts (least-conn, p2c, the load JavaScript reads)
    int32_t budget;
    atomic_uint* handed = budget_count(front, slot, &budget);
    // The budget is counted over every thread (an atomic, only for a backend that has one): the request that reaches it is reported, once.
    if (handed != NULL && atomic_fetch_add_explicit(handed, 1, memory_order_relaxed) + 1 == (uint32_t)budget) hf_emit(front, DP_EV_BUDGET, slot, 0);
    char* target = NULL;
    size_t target_len = 0;
    if (choice.strip > 0 && (target = stripped(path, path_len, &choice, &target_len)) == NULL) {
      hf_request_ended(front, slot);
      hf_fail(cl, 502, DP_R_NO_BACKEND);  // out of memory
      return;
    }
    bool started = hf_start(cl, slot, choice.series, target, target_len);
    free(target);
    if (started) return;
    hf_attempt_failed(cl, slot, cl->last_error);
  }
}

/** The queued clients of `front`, oldest first (the list is newest first), tried again: a snapshot brought backends. */
static void requeue(hf_front_t* front) {
  uint32_t count = 0;
  for (client_t* cl = front->clients; cl != NULL; cl = cl->next) count += cl->state == S_QUEUE ? 1 : 0;
  if (count == 0) return;
  client_t** waiting = malloc(sizeof(*waiting) * count);
  if (waiting == NULL) return;  // they wait for the next snapshot, or their timeout
  uint32_t n = 0;
  for (client_t* cl = front->clients; cl != NULL && n < count; cl = cl->next) {
    if (cl->state == S_QUEUE) waiting[n++] = cl;
  }
  // Attempting a client changes no other client; driving it may free it, so each is driven right after its attempt.
  for (uint32_t i = n; i-- > 0;) {
    client_t* cl = waiting[i];
    hf_attempt(cl);
    if (cl->state != S_QUEUE) hf_kick(cl);
  }
  free(waiting);
}

void hf_snap_release(hf_snap_t* snap) {
  if (snap == NULL || atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1) return;
  dp_snapshot_free(snap->snapshot);
  free(snap);
}

void hf_share_publish(hf_front_t* front, hf_snap_t* snap) {
  if (front->destroyed || dp_state_prepare(&front->pick, snap->snapshot) != 0) {
    hf_snap_release(snap);  // out of memory: this thread keeps deciding from the snapshot it has
    return;
  }
  hf_snap_release(front->snap);
  front->snap = snap;
  front->snapshot = snap->snapshot;
  // Backends that are draining with nothing in flight are drained now.
  for (uint32_t i = 0; i < front->snapshot->backend_count; i++) hf_slot_released(front, front->snapshot->backends[i].slot);
  hf_tcp_drain(front);
  requeue(front);
  hf_schedule_timer();
}

bool hf_queue_expired(client_t* cl, uint64_t now) {
  if (cl->verdict) {
    // No snapshot came after its failures (JavaScript did not answer): what it would have got at once.
    if (now - cl->phase_ms < DP_QUEUE_TIMEOUT_MS) return false;
    give_up(cl, DP_PICK_EXHAUSTED);
    return true;
  }
  const dp_snapshot_t* snapshot = cl->front->snapshot;
  // No snapshot yet (or every one refused, a bug): --queue-timeout's default, rather than waiting forever.
  uint32_t limit = snapshot != NULL ? snapshot->queue_timeout_ms : DP_QUEUE_TIMEOUT_MS;
  if (now - cl->phase_ms < limit) return false;
  char text[96];
  snprintf(text, sizeof(text), "no backend became ready within %ums", limit);
  hf_answer(cl, 503, DP_R_QUEUE_TIMEOUT, text);
  return true;
}

void hf_queue_close(hf_front_t* front) {
  client_t* next;
  for (client_t* cl = front->clients; cl != NULL; cl = next) {
    next = cl->next;
    if (cl->state != S_QUEUE) continue;
    cl->state = S_ROUTE;
    cl->keep_alive = false;
    hf_answer(cl, 502, DP_R_CLOSING, "the front is closing");
    hf_kick(cl);
  }
}

void hf_decide_release(hf_front_t* front) {
  hf_snap_release(front->snap);
  front->snap = NULL;
  front->snapshot = NULL;
  dp_state_release(&front->pick);
}
