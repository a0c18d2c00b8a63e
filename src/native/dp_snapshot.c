// Decodes a data-plane snapshot (see dp_snapshot.h; the layout is
// dp_constants.h's, the encoder src/core/dp-snapshot.ts). The buffer comes
// from JavaScript, so it is treated as hostile: every count is bounded, every
// offset and index is checked against the area it points into (in 64-bit
// arithmetic, so that no sum wraps), every string against the string area,
// before anything is read through it. A bad buffer is refused whole: the
// threads keep the snapshot they have.

#include "dp_snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/** The buffer being decoded: its words and its string area. */
typedef struct reader {
  const int32_t* words;
  uint64_t word_count;
  const char* strings;
  uint64_t string_bytes;
} reader_t;

/** A table of `count` records of `size` words at word `at`: within the words, after the header. */
static bool table_fits(const reader_t* r, int32_t at, int32_t count, int32_t size) {
  return at >= DP_HEADER_WORDS && count >= 0 && (uint64_t)at + (uint64_t)count * (uint64_t)size <= r->word_count;
}

/** A string of the string area: its start, or NULL when out of bounds (or longer than `max`). */
static const char* string_at(const reader_t* r, int32_t at, int32_t length, int32_t max) {
  if (at < 0 || length < 0 || length > max || (uint64_t)at + (uint64_t)length > r->string_bytes) return NULL;
  return r->strings + at;
}

/** `count` entries of the list area from `first`, or NULL when out of bounds. */
static const int32_t* list_at(const reader_t* r, const int32_t* list, uint64_t list_count, int32_t first, int32_t count) {
  if (first < 0 || count < 0 || (uint64_t)first + (uint64_t)count > list_count) return NULL;
  return list + first;
}

static bool parse_address(const char* text, int32_t length, int32_t port, dp_backend_t* backend) {
  char copy[INET6_ADDRSTRLEN];
  if (length <= 0 || length >= (int32_t)sizeof(copy) || port < 1 || port > 65535) return false;
  memcpy(copy, text, (size_t)length);
  copy[length] = '\0';
  memset(&backend->address, 0, sizeof(backend->address));
  struct sockaddr_in* v4 = (struct sockaddr_in*)&backend->address;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)&backend->address;
  if (inet_pton(AF_INET, copy, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    backend->address_len = sizeof(*v4);
    return true;
  }
  if (inet_pton(AF_INET6, copy, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    backend->address_len = sizeof(*v6);
    return true;
  }
  return false;
}

static int decode_backends(const reader_t* r, const int32_t* h, dp_snapshot_t* s, dp_backend_t* backends) {
  const int32_t count = h[DP_H_BACKEND_COUNT];
  const int32_t* table = r->words + h[DP_H_BACKEND_AT];
  // Slots must be unique: a bitmap of the slots seen (at most 128 KiB, freed before returning).
  uint8_t* seen = count == 0 ? NULL : calloc(DP_MAX_SLOT / 8 + 1, 1);
  if (count > 0 && seen == NULL) return ENOMEM;
  int error = 0;
  s->max_slot = -1;
  for (int32_t i = 0; i < count && error == 0; i++) {
    const int32_t* w = table + (size_t)i * DP_BACKEND_WORDS;
    dp_backend_t* b = &backends[i];
    b->slot = w[DP_B_SLOT];
    b->app = w[DP_B_APP];
    b->weight = w[DP_B_WEIGHT];
    b->flags = w[DP_B_FLAGS];
    b->budget = w[DP_B_BUDGET];
    const char* address = string_at(r, w[DP_B_ADDR_AT], w[DP_B_ADDR_LEN], INET6_ADDRSTRLEN - 1);
    if (b->slot < 0 || b->slot > DP_MAX_SLOT || (seen[b->slot / 8] & (1u << (b->slot % 8))) != 0 || b->app < 0 ||
        (uint32_t)b->app >= (uint32_t)h[DP_H_APP_COUNT] || b->weight < 1 || b->weight > DP_MAX_WEIGHT ||
        (b->flags & ~(DP_F_DRAINING | DP_F_BACKUP)) != 0 || b->budget < 0 || address == NULL ||
        !parse_address(address, w[DP_B_ADDR_LEN], w[DP_B_PORT], b)) {
      error = EINVAL;
      break;
    }
    seen[b->slot / 8] |= (uint8_t)(1u << (b->slot % 8));
    if (b->slot > s->max_slot) s->max_slot = b->slot;
  }
  free(seen);
  return error;
}

static int decode_apps(const reader_t* r, const int32_t* h, const int32_t* list, uint64_t list_count, const dp_backend_t* backends,
                       dp_app_t* apps) {
  const int32_t count = h[DP_H_APP_COUNT];
  const int32_t* table = r->words + h[DP_H_APP_AT];
  for (int32_t i = 0; i < count; i++) {
    const int32_t* w = table + (size_t)i * DP_APP_WORDS;
    dp_app_t* a = &apps[i];
    a->name = string_at(r, w[DP_A_NAME_AT], w[DP_A_NAME_LEN], DP_MAX_NAME);
    a->name_len = (uint32_t)w[DP_A_NAME_LEN];
    a->policy = w[DP_A_POLICY];
    a->members = list_at(r, list, list_count, w[DP_A_MEMBER_FIRST], w[DP_A_MEMBER_COUNT]);
    a->member_count = (uint32_t)w[DP_A_MEMBER_COUNT];
    a->schedule = list_at(r, list, list_count, w[DP_A_SCHEDULE_FIRST], w[DP_A_SCHEDULE_LEN]);
    a->schedule_len = (uint32_t)w[DP_A_SCHEDULE_LEN];
    if (a->name == NULL || a->name_len == 0 || a->policy < DP_P_ROUND_ROBIN || a->policy > DP_P_P2C || a->members == NULL ||
        a->schedule == NULL || w[7] != 0) {
      return EINVAL;
    }
    if (a->schedule_len > DP_MAX_SCHEDULE) return E2BIG;
    // A schedule exactly where it is walked: weighted round-robin with backends in rotation.
    bool scheduled = a->policy == DP_P_WEIGHTED_ROUND_ROBIN && a->member_count > 0;
    if (scheduled != (a->schedule_len > 0)) return EINVAL;
    a->primary_count = 0;
    for (uint32_t m = 0; m < a->member_count; m++) {
      int32_t b = a->members[m];
      // A member is a backend of this app, in rotation.
      if (b < 0 || (uint32_t)b >= (uint32_t)h[DP_H_BACKEND_COUNT] || backends[b].app != i || (backends[b].flags & DP_F_DRAINING) != 0) {
        return EINVAL;
      }
      if ((backends[b].flags & DP_F_BACKUP) == 0) a->primary_count++;
    }
    for (uint32_t k = 0; k < a->schedule_len; k++) {
      if (a->schedule[k] < 0 || (uint32_t)a->schedule[k] >= a->member_count) return EINVAL;
    }
  }
  return 0;
}

/** A prefix as router.ts keeps it: '/', or '/...' without a trailing '/'. */
static bool valid_prefix(const char* path, uint32_t length) {
  if (length == 0 || path[0] != '/') return false;
  if (length > 1 && path[length - 1] == '/') return false;
  return memchr(path, '?', length) == NULL;
}

/** A host as router.ts compares it: lower case, without a port (0 bytes: any host). */
static bool valid_host(const char* host, uint32_t length) {
  for (uint32_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)host[i];
    if (c <= ' ' || c == 0x7f || (c >= 'A' && c <= 'Z')) return false;
  }
  return true;
}

static int decode_routes(const reader_t* r, const int32_t* h, const int32_t* list, uint64_t list_count, dp_route_t* routes,
                         dp_group_t* groups) {
  const int32_t route_count = h[DP_H_ROUTE_COUNT];
  const int32_t* route_table = r->words + h[DP_H_ROUTE_AT];
  for (int32_t i = 0; i < route_count; i++) {
    const int32_t* w = route_table + (size_t)i * DP_ROUTE_WORDS;
    dp_route_t* route = &routes[i];
    route->app = w[DP_R_APP];
    route->weight = w[DP_R_WEIGHT];
    route->strip = w[DP_R_STRIP];
    route->series = w[DP_R_SERIES];
    if (route->app < 0 || route->app >= h[DP_H_APP_COUNT] || route->weight < 1 || route->weight > DP_MAX_WEIGHT ||
        (route->strip != 0 && route->strip != 1) || route->series < 0 || route->series > DP_MAX_SERIES) {
      return EINVAL;
    }
  }
  const int32_t group_count = h[DP_H_GROUP_COUNT];
  const int32_t* group_table = r->words + h[DP_H_GROUP_AT];
  int32_t next_route = 0;  // the groups' routes tile the route table, in order: each route in one group
  for (int32_t i = 0; i < group_count; i++) {
    const int32_t* w = group_table + (size_t)i * DP_GROUP_WORDS;
    dp_group_t* g = &groups[i];
    g->host = w[DP_G_HOST_LEN] == 0 ? "" : string_at(r, w[DP_G_HOST_AT], w[DP_G_HOST_LEN], DP_MAX_NAME);
    g->host_len = (uint32_t)w[DP_G_HOST_LEN];
    g->path = string_at(r, w[DP_G_PATH_AT], w[DP_G_PATH_LEN], DP_MAX_PATH);
    g->path_len = (uint32_t)w[DP_G_PATH_LEN];
    g->schedule = list_at(r, list, list_count, w[DP_G_SCHEDULE_FIRST], w[DP_G_SCHEDULE_LEN]);
    g->schedule_len = (uint32_t)w[DP_G_SCHEDULE_LEN];
    if (g->host == NULL || g->path == NULL || g->schedule == NULL || !valid_host(g->host, g->host_len) || !valid_prefix(g->path, g->path_len) ||
        w[DP_G_ROUTE_FIRST] != next_route || w[DP_G_ROUTE_COUNT] < 1 || w[DP_G_ROUTE_COUNT] > route_count - next_route ||
        g->schedule_len < 1) {
      return EINVAL;
    }
    if (g->schedule_len > DP_MAX_SCHEDULE) return E2BIG;
    g->routes = routes + next_route;
    g->route_count = (uint32_t)w[DP_G_ROUTE_COUNT];
    next_route += w[DP_G_ROUTE_COUNT];
    for (uint32_t k = 0; k < g->schedule_len; k++) {
      if (g->schedule[k] < 0 || (uint32_t)g->schedule[k] >= g->route_count) return EINVAL;
    }
    // Match order (router.ts's routeGroups): longer prefixes first; for the same length, a host's first.
    if (i > 0) {
      const dp_group_t* before = &groups[i - 1];
      if (before->path_len < g->path_len || (before->path_len == g->path_len && before->host_len == 0 && g->host_len > 0)) return EINVAL;
    }
  }
  if (next_route != route_count) return EINVAL;
  // Not a routing front: every request goes to its one app.
  if ((h[DP_H_FLAGS] & DP_S_ROUTED) == 0 && (group_count > 0 || h[DP_H_APP_COUNT] > 1)) return EINVAL;
  return 0;
}

/** The header's counts and tables against the limits and the buffer. */
static int check_header(const reader_t* r, const int32_t* h) {
  if (h[DP_H_BACKEND_COUNT] > DP_MAX_BACKENDS || h[DP_H_APP_COUNT] > DP_MAX_APPS || h[DP_H_GROUP_COUNT] > DP_MAX_GROUPS ||
      h[DP_H_ROUTE_COUNT] > DP_MAX_ROUTES) {
    return E2BIG;
  }
  if (!table_fits(r, h[DP_H_BACKEND_AT], h[DP_H_BACKEND_COUNT], DP_BACKEND_WORDS) || !table_fits(r, h[DP_H_APP_AT], h[DP_H_APP_COUNT], DP_APP_WORDS) ||
      !table_fits(r, h[DP_H_GROUP_AT], h[DP_H_GROUP_COUNT], DP_GROUP_WORDS) || !table_fits(r, h[DP_H_ROUTE_AT], h[DP_H_ROUTE_COUNT], DP_ROUTE_WORDS) ||
      !table_fits(r, h[DP_H_LIST_AT], h[DP_H_LIST_COUNT], 1)) {
    return EINVAL;
  }
  if (h[DP_H_DEFAULT_SERIES] < 0 || h[DP_H_DEFAULT_SERIES] > DP_MAX_SERIES || h[DP_H_QUEUE_TIMEOUT_MS] < 0 || h[DP_H_CONNECT_TIMEOUT_MS] < 0 ||
      h[DP_H_RESPONSE_TIMEOUT_MS] < 0) {
    return EINVAL;
  }
  if ((h[DP_H_FLAGS] & ~DP_S_ROUTED) != 0) return EINVAL;
  for (int i = DP_H_FLAGS + 1; i < DP_HEADER_WORDS; i++) {
    if (h[i] != 0) return EINVAL;
  }
  return 0;
}

int dp_snapshot_decode(const void* data, size_t length, dp_snapshot_t** out) {
  *out = NULL;
  if (data == NULL || length < DP_HEADER_WORDS * sizeof(int32_t)) return EINVAL;
  if (length > DP_MAX_BYTES) return E2BIG;
  int32_t head[DP_HEADER_WORDS];
  memcpy(head, data, sizeof(head));  // the caller's buffer may not be aligned
  if (head[DP_H_MAGIC] != (int32_t)DP_SNAPSHOT_MAGIC) return EINVAL;
  if (head[DP_H_VERSION] != DP_SNAPSHOT_VERSION) return EPROTO;
  if (head[DP_H_WORDS] < DP_HEADER_WORDS || head[DP_H_STRING_BYTES] < 0 ||
      (uint64_t)head[DP_H_WORDS] * 4 + (uint64_t)head[DP_H_STRING_BYTES] != (uint64_t)length) {
    return EINVAL;
  }
  dp_snapshot_t* s = calloc(1, sizeof(*s));
  if (s == NULL) return ENOMEM;
  // The copy keeps the strings the structs point into; +1 so that an empty buffer tail still allocates.
  s->words = malloc(length + 1);
  if (s->words == NULL) {
    free(s);
    return ENOMEM;
  }
  memcpy(s->words, data, length);
  const int32_t* h = s->words;
  reader_t r = {s->words, (uint64_t)h[DP_H_WORDS], (const char*)(s->words + h[DP_H_WORDS]), (uint64_t)h[DP_H_STRING_BYTES]};
  int error = check_header(&r, h);
  if (error != 0) goto fail;
  const size_t backends_size = (size_t)h[DP_H_BACKEND_COUNT] * sizeof(dp_backend_t);
  const size_t apps_size = (size_t)h[DP_H_APP_COUNT] * sizeof(dp_app_t);
  const size_t groups_size = (size_t)h[DP_H_GROUP_COUNT] * sizeof(dp_group_t);
  const size_t routes_size = (size_t)h[DP_H_ROUTE_COUNT] * sizeof(dp_route_t);
  // One block for the decoded tables, in decreasing alignment (each size is a multiple of its struct's).
  s->memory = calloc(1, backends_size + apps_size + groups_size + routes_size + 1);
  if (s->memory == NULL) {
    error = ENOMEM;
    goto fail;
  }
  dp_backend_t* backends = s->memory;
  dp_app_t* apps = (dp_app_t*)((char*)s->memory + backends_size);
  dp_group_t* groups = (dp_group_t*)((char*)apps + apps_size);
  dp_route_t* routes = (dp_route_t*)((char*)groups + groups_size);
  const int32_t* list = r.words + h[DP_H_LIST_AT];
  const uint64_t list_count = (uint64_t)h[DP_H_LIST_COUNT];
  if ((error = decode_backends(&r, h, s, backends)) != 0 || (error = decode_apps(&r, h, list, list_count, backends, apps)) != 0 ||
      (error = decode_routes(&r, h, list, list_count, routes, groups)) != 0) {
    goto fail;
  }
  s->serial = h[DP_H_SERIAL];
  s->routed = (h[DP_H_FLAGS] & DP_S_ROUTED) != 0;
  s->default_series = h[DP_H_DEFAULT_SERIES];
  s->queue_timeout_ms = (uint32_t)h[DP_H_QUEUE_TIMEOUT_MS];
  s->connect_timeout_ms = (uint32_t)h[DP_H_CONNECT_TIMEOUT_MS];
  s->response_timeout_ms = (uint32_t)h[DP_H_RESPONSE_TIMEOUT_MS];
  s->backends = backends;
  s->backend_count = (uint32_t)h[DP_H_BACKEND_COUNT];
  s->apps = apps;
  s->app_count = (uint32_t)h[DP_H_APP_COUNT];
  s->groups = groups;
  s->group_count = (uint32_t)h[DP_H_GROUP_COUNT];
  *out = s;
  return 0;
fail:
  dp_snapshot_free(s);
  return error;
}

void dp_snapshot_free(dp_snapshot_t* snapshot) {
  if (snapshot == NULL) return;
  free(snapshot->memory);
  free(snapshot->words);
  free(snapshot);
}
