// A listener as the main thread holds it (http_threads.c makes and frees it,
// http_counters.c reads the threads' counters through it): private to those
// two, which see the same struct.

#ifndef SUPERVISE_HTTP_LISTENER_H
#define SUPERVISE_HTTP_LISTENER_H

#include "http_internal.h"

/** What the main thread knows of a backend slot: its address (to sum its counters), and which threads reported it drained. */
typedef struct known {
  bool used;
  struct sockaddr_storage address;
  socklen_t length;
  uint64_t drained;         // bit t: thread t reported it drained
  int32_t rotation_serial;  // the snapshot that last had it in rotation: older drain reports are stale
} known_t;

struct hf_listener {
  int fd;  // the listening socket (each share has a duplicate)
  int32_t index;
  void* owner;
  hf_options_t options;  // its `trusted` is owned here; the shares point into it
  uint32_t thread_count;
  hf_front_t* shares[HF_THREADS_MAX];  // share t lives on loop t (not to be touched once C_DESTROY is posted)
  known_t* known;
  int32_t known_count;
  // --max-requests: one count per slot shared by the threads (exact: the thread whose request reaches the budget reports it, once),
  // in chunks made by the main thread before a thread can use them and kept until the listener is freed.
  atomic_uint* handed[((1 << 20) >> 10) + 1];
  uint32_t closed_count;
  bool closing, closed_told, destroyed;
  atomic_uint pending;  // shares their threads have not freed yet (destroyed)
  hf_listener_t* next;
  tls_set_t* tls;  // its certificates (NULL: plain HTTP), under tls_lock: threads take a reference at accept
  uint32_t hsts;   // Strict-Transport-Security max-age (0: none), under tls_lock
};

#endif
