// The native http front's counters as JavaScript reads them (http_front.h):
// each thread's share read under its loop's lock (a batch is seen whole) and
// summed over the threads — requests in flight and pooled per backend, the
// responses by status class and latency bucket per route, and the requests
// and connections per thread.

#include <stdlib.h>
#include <string.h>

#include "http_internal.h"
#include "http_listener.h"

void hf_backend_load(const hf_listener_t* listener, int32_t slot, int32_t load[3]) {
  load[0] = load[1] = load[2] = 0;
  if (listener->destroyed) return;
  for (uint32_t t = 0; t < listener->thread_count; t++) {
    hf_loop_t* loop = hf_loop_at(t);
    const hf_front_t* share = listener->shares[t];
    pthread_mutex_lock(&loop->lock);
    load[0] += dp_active(&share->pick, slot);
    load[1] += slot >= 0 && slot < share->backend_count ? share->backends[slot].idle_count : 0;
    load[2] += slot >= 0 && (uint32_t)slot < share->pick.slot_capacity ? (int32_t)share->pick.slots[slot].handed : 0;
    pthread_mutex_unlock(&loop->lock);
  }
}

int32_t hf_backend_stats(const hf_listener_t* listener, int32_t slot, hf_stats_t** out_stats) {
  *out_stats = NULL;
  if (listener->destroyed || slot < 0 || slot >= listener->known_count || !listener->known[slot].used) return -1;
  hf_stats_t* sum = NULL;
  int32_t routes = 0;
  for (uint32_t t = 0; t < listener->thread_count; t++) {
    hf_loop_t* loop = hf_loop_at(t);
    const hf_front_t* share = listener->shares[t];
    pthread_mutex_lock(&loop->lock);
    const hf_backend_t* backend = slot < share->backend_count ? &share->backends[slot] : NULL;
    int32_t count = backend != NULL ? backend->stats_count : 0;
    if (count > routes) {
      hf_stats_t* grown = realloc(sum, sizeof(*sum) * (size_t)count);
      if (grown == NULL) {
        pthread_mutex_unlock(&loop->lock);
        free(sum);
        return -1;
      }
      memset(grown + routes, 0, sizeof(*grown) * (size_t)(count - routes));
      sum = grown;
      routes = count;
    }
    for (int32_t r = 0; r < count; r++) {
      const hf_stats_t* from = &backend->stats[r];
      for (int i = 0; i < HF_STATUS_CLASSES; i++) sum[r].classes[i] += from->classes[i];
      for (int i = 0; i < HF_BUCKETS; i++) sum[r].buckets[i] += from->buckets[i];
      sum[r].sum_ms += from->sum_ms;
      sum[r].count += from->count;
    }
    pthread_mutex_unlock(&loop->lock);
  }
  *out_stats = sum;
  return routes;
}

uint32_t hf_thread_counts(const hf_listener_t* listener, double* counts, uint32_t capacity) {
  if (listener->destroyed) return 0;
  uint32_t n = listener->thread_count < capacity ? listener->thread_count : capacity;
  for (uint32_t t = 0; t < n; t++) {
    hf_loop_t* loop = hf_loop_at(t);
    pthread_mutex_lock(&loop->lock);
    counts[2 * t] = (double)listener->shares[t]->requests;
    counts[2 * t + 1] = (double)listener->shares[t]->accepted;
    pthread_mutex_unlock(&loop->lock);
  }
  return n;
}
