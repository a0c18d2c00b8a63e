// The native http front as the main thread holds it (http_front.h's
// interface): a listener is the listening socket and one share per data-plane
// thread (http_loop.c). JavaScript's calls become commands to the threads'
// queues; the main thread never touches a connection. What comes back:
// - the threads' batches of records, drained at once when any thread wakes
//   the one uv_async_t, and delivered in ONE call into JavaScript; a drain
//   (DP_EV_DRAINED) is reported when every thread has drained the slot in the
//   same rotation, a close (DP_EV_CLOSED) when every thread's share has closed;
// - counters (stats, loads, requests per thread), read under each loop's lock
//   and summed (http_counters.c, through the struct in http_listener.h).
// Destroy is in two phases (see http_front.c): the shares are marked and
// their records dropped, then each thread frees its share, and the last one's
// ack lets the main thread free the listener — never while JavaScript runs a
// callback of ours (it may be the caller).

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fd_budget.h"
#include "http_internal.h"
#include "http_listener.h"

/** The listeners' certificates: swapped by the main thread, referenced by the threads as they accept (briefly held). */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

static hf_hooks_t hooks;
// Allocated, freed by its close callback: after an environment ends (a worker thread), its loop closes the handle
// later, while the module may already be initialised again on another loop with a new one.
static uv_async_t* wake_handle;

static void free_handle(uv_handle_t* handle) {
  free(handle);
}

static bool initialised;
static hf_listener_t* listeners;  // alive (not destroyed)
static hf_listener_t* graveyard;  // destroyed: freed once every thread acked
static int32_t delivering;        // inside the call into JavaScript
static int32_t *drained, *out;    // the records drained from the threads, and those delivered
static size_t drained_cap, out_count, out_cap;

static void wake(void) {
  uv_async_send(wake_handle);
}

void hf_destroy_acked(hf_listener_t* listener) {
  if (atomic_fetch_sub_explicit(&listener->pending, 1, memory_order_acq_rel) == 1) wake();
}

atomic_uint* hf_handed(hf_listener_t* listener, int32_t slot) {
  atomic_uint* chunk = slot >= 0 && slot <= 1 << 20 ? listener->handed[slot >> 10] : NULL;
  return chunk != NULL ? &chunk[slot & 1023] : NULL;
}

hf_front_t* hf_share_at(hf_listener_t* listener, uint32_t t) {
  return t < listener->thread_count ? listener->shares[t] : NULL;
}

void hf_set_tls(hf_listener_t* listener, tls_set_t* set, uint32_t hsts) {
  pthread_mutex_lock(&tls_lock);
  tls_set_t* old = listener->tls;
  listener->tls = set;
  listener->hsts = hsts;
  pthread_mutex_unlock(&tls_lock);
  tls_set_release(old);  // each client took its own reference at accept: the old set lives while they do
}

tls_set_t* hf_listener_tls(hf_listener_t* listener, uint32_t* hsts) {
  pthread_mutex_lock(&tls_lock);
  tls_set_t* set = listener->tls;
  if (set != NULL) tls_set_retain(set);
  *hsts = listener->hsts;
  pthread_mutex_unlock(&tls_lock);
  return set;
}

bool hf_listener_has_tls(hf_listener_t* listener) {
  return __atomic_load_n(&listener->tls, __ATOMIC_RELAXED) != NULL;  // a hint: which set is the lock's business
}

static void listener_free(hf_listener_t* listener) {
  tls_set_release(listener->tls);
  for (size_t i = 0; i < sizeof(listener->handed) / sizeof(listener->handed[0]); i++) free(listener->handed[i]);
  free((void*)listener->options.trusted);
  free(listener->known);
  free(listener);
}

static hf_listener_t* listener_of(int32_t index) {
  for (hf_listener_t* listener = listeners; listener != NULL; listener = listener->next) {
    if (listener->index == index) return listener;
  }
  return NULL;
}

/** `known` grown to hold `slot`. */
static known_t* known_at(hf_listener_t* listener, int32_t slot) {
  if (slot < 0 || slot > 1 << 20) return NULL;
  if (slot >= listener->known_count) {
    int32_t count = listener->known_count == 0 ? 16 : listener->known_count;
    while (count <= slot) count *= 2;
    known_t* known = realloc(listener->known, sizeof(*known) * count);
    if (known == NULL) return NULL;
    memset(known + listener->known_count, 0, sizeof(*known) * (count - listener->known_count));
    listener->known = known;
    listener->known_count = count;
  }
  return &listener->known[slot];
}

static void deliver(const int32_t* record) {
  if (out_count + 4 > out_cap) {
    size_t cap = out_cap == 0 ? 256 : out_cap * 2;
    int32_t* grown = realloc(out, cap * sizeof(*out));
    if (grown == NULL) return;  // out of memory: the record is lost (as in hf_emit)
    out = grown;
    out_cap = cap;
  }
  memcpy(out + out_count, record, 4 * sizeof(*out));
  out_count += 4;
}

/** A record of thread `thread`: passed on, or counted until every thread said the same. */
static void take(uint32_t thread, int32_t* record) {
  hf_listener_t* listener = listener_of(record[0]);
  if (listener == NULL) return;  // destroyed meanwhile
  if (record[1] == DP_EV_DRAINED) {
    known_t* known = known_at(listener, record[2]);
    if (known == NULL || record[3] < known->rotation_serial) return;  // reported for a rotation that is over
    known->drained |= 1ull << thread;
    uint64_t every = listener->thread_count == 64 ? UINT64_MAX : (1ull << listener->thread_count) - 1;
    if (known->drained != every) return;
    known->drained = 0;
    record[3] = 0;
  } else if (record[1] == DP_EV_CLOSED) {
    if (++listener->closed_count < listener->thread_count || listener->closed_told) return;
    listener->closed_told = true;
  }
  deliver(record);
}

static void reap(void) {
  for (hf_listener_t** at = &graveyard; *at != NULL;) {
    hf_listener_t* listener = *at;
    if (atomic_load_explicit(&listener->pending, memory_order_acquire) != 0) {
      at = &listener->next;
      continue;
    }
    *at = listener->next;
    listener_free(listener);
  }
}

/** A thread has records (or acked a destroy): every thread's batch drained, one call into JavaScript. */
static void on_wake(uv_async_t* handle) {
  if (delivering > 0) return;  // not reentered (JavaScript does not run the loop); the next wake delivers
  for (uint32_t t = 0; t < hf_loop_count(); t++) {
    hf_loop_t* loop = hf_loop_at(t);
    pthread_mutex_lock(&loop->lock);
    size_t count = loop->event_count;
    if (count > drained_cap) {
      int32_t* grown = realloc(drained, count * sizeof(*drained));
      if (grown == NULL) count = 0;  // out of memory: left for the next wake
      else {
        drained = grown;
        drained_cap = count;
      }
    }
    if (count > 0) memcpy(drained, loop->events, count * sizeof(*drained));
    if (count > 0) loop->event_count = 0;
    pthread_mutex_unlock(&loop->lock);
    for (size_t i = 0; i < count; i += 4) take(t, drained + i);
  }
  if (out_count > 0 && hooks.events != NULL) {
    size_t count = out_count / 4;
    out_count = 0;
    delivering++;
    hooks.events(out, count);  // the binding copies the records before JavaScript sees them
    delivering--;
  }
  out_count = 0;
  reap();
}

int hf_init(uv_loop_t* loop, const hf_hooks_t* given) {
  if (initialised) return EEXIST;
  wake_handle = malloc(sizeof(*wake_handle));
  if (wake_handle == NULL) return ENOMEM;
  if (uv_async_init(loop, wake_handle, on_wake) != 0) {
    free(wake_handle);
    wake_handle = NULL;
    return EIO;
  }
  uv_unref((uv_handle_t*)wake_handle);  // referenced only while a front lives
  // The first thread now, with the module (its epoll set and eventfd are the module's, as its one set was); more as fronts ask.
  int error = hf_loops_start(1, wake);
  if (error != 0) {
    uv_close((uv_handle_t*)wake_handle, free_handle);
    wake_handle = NULL;
    return error;
  }
  hooks = *given;
  initialised = true;
  return 0;
}

/** A share of `listener` for thread `t`, with its duplicate of the listening socket. NULL when out of memory or descriptors. */
static hf_front_t* share_new(hf_listener_t* listener, uint32_t t) {
  hf_front_t* share = calloc(1, sizeof(*share));
  if (share == NULL) return NULL;
  share->listen.fd = fcntl(listener->fd, F_DUPFD_CLOEXEC, 0);
  if (share->listen.fd < 0) {
    free(share);
    return NULL;
  }
  share->listen.kind = K_LISTEN;
  share->index = listener->index;
  share->listener = listener;
  share->options = listener->options;
  dp_state_init(&share->pick, ((uint64_t)time(NULL) << 8) ^ (t + 1));
  share->fd_budget = fd_budget_read();
  share->listener_threads = listener->thread_count;
  share->loop = hf_loop_at(t);  // the supervisor raised the soft limit at start
  return share;
}

hf_listener_t* hf_listen(const struct sockaddr* address, socklen_t length, const hf_options_t* options, uint32_t threads, void* owner, int32_t id, int* error) {
  if (!initialised || threads < 1 || threads > HF_THREADS_MAX) {
    *error = EINVAL;
    return NULL;
  }
  if ((*error = hf_loops_start(threads, wake)) != 0) return NULL;
  hf_listener_t* listener = calloc(1, sizeof(*listener));
  if (listener == NULL) {
    *error = ENOMEM;
    return NULL;
  }
  int one = 1;
  int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 || bind(fd, address, length) != 0 || listen(fd, 511) != 0) {
    *error = errno;
    if (fd >= 0) close(fd);
    free(listener);
    return NULL;
  }
  listener->fd = fd;
  listener->index = id;
  listener->owner = owner;
  listener->thread_count = threads;
  listener->options = *options;
  listener->options.trusted = NULL;
  if (options->trusted_count > 0) {
    uint8_t* trusted = malloc((size_t)options->trusted_count * 17);
    if (trusted == NULL) {
      *error = ENOMEM;
      close(fd);
      free(listener);
      return NULL;
    }
    memcpy(trusted, options->trusted, (size_t)options->trusted_count * 17);
    listener->options.trusted = trusted;
  }
  for (uint32_t t = 0; t < threads; t++) {
    if ((listener->shares[t] = share_new(listener, t)) != NULL) continue;
    *error = errno != 0 ? errno : ENOMEM;
    for (uint32_t u = 0; u < t; u++) {
      close(listener->shares[u]->listen.fd);
      free(listener->shares[u]);
    }
    close(fd);
    listener_free(listener);
    return NULL;
  }
  for (uint32_t t = 0; t < threads; t++) {
    hf_command_t* command = calloc(1, sizeof(*command));
    if (command == NULL) continue;  // out of memory: that thread does not serve this front (the others do)
    command->type = HF_C_ADD_FRONT;
    command->share = listener->shares[t];
    hf_post(hf_loop_at(t), command);
  }
  if (listeners == NULL) uv_ref((uv_handle_t*)wake_handle);
  listener->next = listeners;
  listeners = listener;
  return listener;
}

int32_t hf_id(const hf_listener_t* listener) {
  return listener->index;
}

int hf_port(const hf_listener_t* listener) {
  struct sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (listener->fd < 0 || getsockname(listener->fd, (struct sockaddr*)&address, &length) != 0) return -1;
  return ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&address)->sin6_port : ((struct sockaddr_in*)&address)->sin_port);
}

/** `type` for `slot` posted to every thread of `listener` (address: HF_C_ADD_BACKEND's). 0, or ENOMEM. */
static int post_all(hf_listener_t* listener, int type, int32_t slot, const struct sockaddr* address, socklen_t length, hf_snap_t* snap) {
  hf_command_t* commands[HF_THREADS_MAX];
  for (uint32_t t = 0; t < listener->thread_count; t++) {
    if ((commands[t] = calloc(1, sizeof(hf_command_t))) != NULL) continue;
    while (t-- > 0) free(commands[t]);
    return ENOMEM;  // all or none: the threads never disagree on what they were told
  }
  for (uint32_t t = 0; t < listener->thread_count; t++) {
    hf_command_t* command = commands[t];
    command->type = type;
    command->share = listener->shares[t];
    command->slot = slot;
    command->snap = snap;
    if (address != NULL) memcpy(&command->address, address, length);
    command->length = length;
    hf_post(hf_loop_at(t), command);
  }
  return 0;
}

int hf_backend_add(hf_listener_t* listener, int32_t slot, const struct sockaddr* address, socklen_t length) {
  if (slot < 0 || slot > 1 << 20 || length > sizeof(struct sockaddr_storage)) return EINVAL;
  if (listener->destroyed) return ENOENT;
  known_t* known = known_at(listener, slot);
  if (known == NULL) return ENOMEM;
  bool same = known->used && known->length == length && memcmp(&known->address, address, length) == 0;
  if (listener->handed[slot >> 10] == NULL && (listener->handed[slot >> 10] = calloc(1024, sizeof(atomic_uint))) == NULL) return ENOMEM;
  atomic_store(hf_handed(listener, slot), 0);  // a backend (again) in the slot: --max-requests counts from 0
  int error = post_all(listener, HF_C_ADD_BACKEND, slot, address, length, NULL);
  if (error != 0) return error;
  if (!same) {
    // A new backend in the slot: its counters start from 0 now, as JavaScript reads them next (the threads drop the pool when they take the command).
    for (uint32_t t = 0; t < listener->thread_count; t++) {
      hf_loop_t* loop = hf_loop_at(t);
      hf_front_t* share = listener->shares[t];
      pthread_mutex_lock(&loop->lock);
      if (slot < share->backend_count) {
        free(share->backends[slot].stats);
        share->backends[slot].stats = NULL;
        share->backends[slot].stats_count = 0;
      }
      pthread_mutex_unlock(&loop->lock);
    }
    memcpy(&known->address, address, length);
    known->length = length;
  }
  known->used = true;
  return 0;
}

void hf_backend_remove(hf_listener_t* listener, int32_t slot) {
  if (!listener->destroyed) post_all(listener, HF_C_REMOVE_BACKEND, slot, NULL, 0, NULL);
}

int hf_publish(hf_listener_t* listener, const void* data, size_t length) {
  if (listener->destroyed) return ENOENT;
  dp_snapshot_t* snapshot;
  int error = dp_snapshot_decode(data, length, &snapshot);
  if (error != 0) return error;
  hf_snap_t* snap = malloc(sizeof(*snap));
  if (snap == NULL) {
    dp_snapshot_free(snapshot);
    return ENOMEM;
  }
  snap->snapshot = snapshot;
  atomic_init(&snap->refs, (int)listener->thread_count);  // one per thread: each drops it when the next one replaces it
  if ((error = post_all(listener, HF_C_PUBLISH, -1, NULL, 0, snap)) != 0) {
    free(snap);
    dp_snapshot_free(snapshot);
    return error;
  }
  // Slots in rotation again: drain reports from before are stale.
  for (uint32_t i = 0; i < snapshot->backend_count; i++) {
    const dp_backend_t* backend = &snapshot->backends[i];
    known_t* known = (backend->flags & DP_F_DRAINING) == 0 ? known_at(listener, backend->slot) : NULL;
    if (known == NULL) continue;
    known->drained = 0;
    known->rotation_serial = snapshot->serial;
  }
  return 0;
}

/** The port freed now (a new front may bind it at once): a shut-down listener takes no connection, though the threads' duplicates are open until they take the command. */
static void stop_listening(hf_listener_t* listener) {
  if (listener->fd < 0) return;
  shutdown(listener->fd, SHUT_RDWR);
  close(listener->fd);
  listener->fd = -1;
}

void hf_close(hf_listener_t* listener) {
  if (listener->closing || listener->destroyed) return;
  listener->closing = true;
  stop_listening(listener);
  // Out of memory: the threads keep serving until the close deadline's destroy.
  post_all(listener, HF_C_CLOSE, -1, NULL, 0, NULL);
}

void hf_destroy(hf_listener_t* listener) {
  if (listener->destroyed) return;
  listener->destroyed = true;
  listener->closing = true;
  stop_listening(listener);
  for (hf_listener_t** at = &listeners; *at != NULL; at = &(*at)->next) {
    if (*at == listener) {
      *at = listener->next;
      break;
    }
  }
  if (listeners == NULL) uv_unref((uv_handle_t*)wake_handle);
  // 1. Nothing more of it is reported: its shares marked, their batched records dropped (its number may name the next front).
  atomic_store(&listener->pending, listener->thread_count);
  for (uint32_t t = 0; t < listener->thread_count; t++) {
    hf_loop_t* loop = hf_loop_at(t);
    pthread_mutex_lock(&loop->lock);
    listener->shares[t]->destroyed = true;
    hf_drop_events(loop, listener->index);
    pthread_mutex_unlock(&loop->lock);
  }
  // 2. Each thread frees its share; the last ack frees the listener (reap, never under a JavaScript callback).
  for (uint32_t t = 0; t < listener->thread_count; t++) {
    hf_command_t* command;
    while ((command = calloc(1, sizeof(*command))) == NULL) {
      struct timespec pause = {0, 1000000};  // a destroy cannot be refused: wait for memory
      nanosleep(&pause, NULL);
    }
    command->type = HF_C_DESTROY;
    command->share = listener->shares[t];
    hf_post(hf_loop_at(t), command);
  }
  listener->next = graveyard;
  graveyard = listener;
}

void hf_shutdown(uv_close_cb closed) {
  if (!initialised) return;
  hooks.events = NULL;
  while (listeners != NULL) hf_destroy(listeners);
  hf_loops_stop();  // each thread frees its shares (the destroys queued first), then ends
  while (graveyard != NULL) {
    hf_listener_t* listener = graveyard;
    graveyard = listener->next;
    listener_free(listener);
  }
  uv_close((uv_handle_t*)wake_handle, closed);
  wake_handle = NULL;
  free(drained);
  free(out);
  drained = out = NULL;
  drained_cap = out_count = out_cap = 0;
  initialised = false;
}
