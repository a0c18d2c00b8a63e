// Picks a backend per request from a snapshot (see dp_pick.h). Each step is
// the TypeScript policy's, walked over tables it computed: router.ts's match
// and strip, balancer.ts's round-robin cursor, least-conn scan and p2c; its
// smooth weighted round-robin arrives as a precomputed schedule. A test
// (test/unit/dp-pick.test.ts) runs both on the same snapshot and the same
// requests and expects the same choices.
//
// Where C and TypeScript may differ, on purpose: after a backend was excluded
// (a failed connect), weighted round-robin skips it in the schedule, where
// the stateful TypeScript balancer re-weighs; cursors survive a new snapshot
// by index (taken modulo the new length) rather than by backend.

#include "dp_pick.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dp_state_init(dp_state_t* state, uint64_t seed) {
  memset(state, 0, sizeof(*state));
  state->random = seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
}

/** `array` (of `size`-byte entries) grown to `wanted` entries, the new ones zero; NULL when out of memory (`array` is kept). */
static void* grow(void* array, uint32_t* capacity, uint32_t wanted, size_t size) {
  if (wanted == 0) wanted = 1;  // so that NULL always means out of memory
  if (wanted <= *capacity) return array;
  uint32_t count = *capacity == 0 ? 16 : *capacity;
  while (count < wanted) count *= 2;
  char* grown = realloc(array, (size_t)count * size);
  if (grown == NULL) return NULL;
  memset(grown + (size_t)*capacity * size, 0, (size_t)(count - *capacity) * size);
  *capacity = count;
  return grown;
}

int dp_state_prepare(dp_state_t* state, const dp_snapshot_t* snapshot) {
  uint32_t* apps = grow(state->app_cursors, &state->app_capacity, snapshot->app_count, sizeof(uint32_t));
  if (apps == NULL) return ENOMEM;
  state->app_cursors = apps;
  uint32_t* groups = grow(state->group_cursors, &state->group_capacity, snapshot->group_count, sizeof(uint32_t));
  if (groups == NULL) return ENOMEM;
  state->group_cursors = groups;
  dp_slot_t* slots = grow(state->slots, &state->slot_capacity, (uint32_t)(snapshot->max_slot + 1), sizeof(dp_slot_t));
  if (slots == NULL) return ENOMEM;
  state->slots = slots;
  // Nothing fails from here: where the new snapshot has each slot.
  for (uint32_t i = 0; i < state->slot_capacity; i++) slots[i].backend = -1;
  for (uint32_t i = 0; i < snapshot->backend_count; i++) {
    const dp_backend_t* b = &snapshot->backends[i];
    slots[b->slot].backend = (int32_t)i;
    if ((b->flags & DP_F_DRAINING) == 0) slots[b->slot].drained_told = false;
  }
  return 0;
}

void dp_state_release(dp_state_t* state) {
  free(state->app_cursors);
  free(state->group_cursors);
  free(state->slots);
  memset(state, 0, sizeof(*state));
}

static dp_slot_t* slot_of(const dp_state_t* state, int32_t slot) {
  return slot >= 0 && (uint32_t)slot < state->slot_capacity ? &state->slots[slot] : NULL;
}

bool dp_acquire(dp_state_t* state, const dp_snapshot_t* snapshot, int32_t slot) {
  dp_slot_t* s = slot_of(state, slot);
  if (s == NULL) return false;
  s->active++;
  s->handed++;
  if (s->backend < 0 || (uint32_t)s->backend >= snapshot->backend_count) return false;
  int32_t budget = snapshot->backends[s->backend].budget;
  return budget > 0 && s->handed == (uint32_t)budget;
}

int32_t dp_release(dp_state_t* state, int32_t slot) {
  dp_slot_t* s = slot_of(state, slot);
  if (s == NULL) return 0;
  if (s->active > 0) s->active--;
  return s->active;
}

void dp_release_failed(dp_state_t* state, int32_t slot) {
  dp_slot_t* s = slot_of(state, slot);
  if (s == NULL) return;
  if (s->active > 0) s->active--;
  if (s->handed > 0) s->handed--;
}

void dp_slot_reset(dp_state_t* state, int32_t slot) {
  dp_slot_t* s = slot_of(state, slot);
  if (s != NULL) s->handed = 0;
}

int32_t dp_active(const dp_state_t* state, int32_t slot) {
  const dp_slot_t* s = slot_of(state, slot);
  return s == NULL ? 0 : s->active;
}

bool dp_take_drained(dp_state_t* state, const dp_snapshot_t* snapshot, int32_t slot) {
  dp_slot_t* s = slot_of(state, slot);
  if (s == NULL || s->backend < 0 || (uint32_t)s->backend >= snapshot->backend_count || s->active > 0 || s->drained_told) return false;
  if ((snapshot->backends[s->backend].flags & DP_F_DRAINING) == 0) return false;
  s->drained_told = true;
  return true;
}

/** xorshift64* (Vigna): p2c needs speed and spread, not secrecy. */
static uint64_t next_random(dp_state_t* state) {
  uint64_t x = state->random;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  state->random = x;
  return x * 0x2545f4914f6cdd1dull;
}

// ------------------------------------------------------------------ routes

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/** router.ts's normalizeHost: `Example.com:8080` -> example.com, `[::1]:80` -> [::1] (compared case-insensitively). */
static size_t host_end(const char* host, size_t length) {
  const char* end;
  if (length > 0 && host[0] == '[') {
    end = memchr(host, ']', length);
    return end == NULL ? length : (size_t)(end - host) + 1;
  }
  end = memchr(host, ':', length);
  return end == NULL || end == host ? length : (size_t)(end - host);
}

static bool host_equals(const dp_group_t* group, const char* host, size_t length) {
  if (group->host_len != length) return false;
  for (size_t i = 0; i < length; i++) {
    if (lower(host[i]) != group->host[i]) return false;
  }
  return true;
}

/** router.ts's prefixMatches: `/users` matches `/users`, `/users/1` and `/users?x`, not `/usersfoo`. */
static bool prefix_matches(const dp_group_t* group, const char* path, size_t length) {
  if (group->path_len == 1) return true;  // '/'
  if (length < group->path_len || memcmp(path, group->path, group->path_len) != 0) return false;
  return length == group->path_len || path[group->path_len] == '/' || path[group->path_len] == '?';
}

/** router.ts's matchGroup: the first (longest) group naming this host, else the first any-host group. */
static const dp_group_t* match_group(const dp_snapshot_t* s, const char* host, size_t host_len, const char* path, size_t path_len) {
  const dp_group_t* any_host = NULL;
  for (uint32_t i = 0; i < s->group_count; i++) {
    const dp_group_t* group = &s->groups[i];
    if (!prefix_matches(group, path, path_len)) continue;
    if (group->host_len == 0) {
      if (any_host == NULL) any_host = group;
    } else if (host_len > 0 && host_equals(group, host, host_len)) {
      return group;
    }
  }
  return any_host;
}

static bool app_available(const dp_snapshot_t* s, int32_t app) {
  return s->apps[app].member_count > 0;
}

/** The group's route for this request among those whose app has a backend in rotation; -1 when none has. */
static int32_t pick_route(const dp_snapshot_t* s, dp_state_t* state, const dp_group_t* group) {
  if (group->route_count == 1) return app_available(s, group->routes[0].app) ? 0 : -1;
  uint32_t* cursor = &state->group_cursors[group - s->groups];
  for (uint32_t tried = 0; tried < group->schedule_len; tried++) {
    if (*cursor >= group->schedule_len) *cursor = 0;
    int32_t index = group->schedule[*cursor];
    *cursor = *cursor + 1;
    if (app_available(s, group->routes[index].app)) return index;
  }
  return -1;
}

// ------------------------------------------------------------------ balancing

/** A filter over an app's members: excluded slots, and primaries or backups. */
typedef struct filter {
  const dp_snapshot_t* s;
  const int32_t* exclude;
  int exclude_count;
  bool backups;  // this pass takes backups (the first takes the others)
} filter_t;

static bool eligible(const filter_t* f, int32_t backend) {
  const dp_backend_t* b = &f->s->backends[backend];
  if (((b->flags & DP_F_BACKUP) != 0) != f->backups) return false;
  for (int i = 0; i < f->exclude_count; i++) {
    if (f->exclude[i] == b->slot) return false;
  }
  return true;
}

/** balancer.ts's RoundRobin: the cursor's member, skipping ineligible ones (the cursor moves past them too). */
static int32_t round_robin(const dp_app_t* app, uint32_t* cursor, const filter_t* f) {
  for (uint32_t tried = 0; tried < app->member_count; tried++) {
    if (*cursor >= app->member_count) *cursor = 0;
    int32_t backend = app->members[*cursor];
    *cursor = *cursor + 1 == app->member_count ? 0 : *cursor + 1;
    if (eligible(f, backend)) return backend;
  }
  return -1;
}

/** balancer.ts's smooth weighted round-robin, as its precomputed schedule. */
static int32_t scheduled(const dp_app_t* app, uint32_t* cursor, const filter_t* f) {
  for (uint32_t tried = 0; tried < app->schedule_len; tried++) {
    if (*cursor >= app->schedule_len) *cursor = 0;
    int32_t backend = app->members[app->schedule[*cursor]];
    *cursor = *cursor + 1 == app->schedule_len ? 0 : *cursor + 1;
    if (eligible(f, backend)) return backend;
  }
  return -1;
}

/** active_a/weight_a < active_b/weight_b, without division (as balancer.ts). */
static int64_t load_of(const dp_state_t* state, const dp_backend_t* b) {
  return dp_active(state, b->slot);
}

/** balancer.ts's LeastConnections: the fewest in flight per weight, scanning from the cursor so that ties rotate. */
static int32_t least_conn(const dp_app_t* app, uint32_t* cursor, const filter_t* f, const dp_state_t* state) {
  const uint32_t count = app->member_count;
  if (*cursor >= count) *cursor = 0;
  int32_t best = -1;
  uint32_t best_index = 0;
  int64_t best_active = 0, best_weight = 1;
  for (uint32_t offset = 0; offset < count; offset++) {
    uint32_t index = (*cursor + offset) % count;
    int32_t backend = app->members[index];
    if (!eligible(f, backend)) continue;
    const dp_backend_t* b = &f->s->backends[backend];
    int64_t active = load_of(state, b), weight = b->weight;
    if (best < 0 || active * best_weight < best_active * weight) {
      best = backend;
      best_index = index;
      best_active = active;
      best_weight = weight;
    }
  }
  if (best >= 0) *cursor = best_index + 1 == count ? 0 : best_index + 1;
  return best;
}

/** The `k`-th eligible member (0-based). */
static int32_t nth_eligible(const dp_app_t* app, const filter_t* f, uint32_t k) {
  for (uint32_t m = 0; m < app->member_count; m++) {
    if (eligible(f, app->members[m]) && k-- == 0) return app->members[m];
  }
  return -1;
}

/** balancer.ts's PowerOfTwoChoices: two distinct eligible members at random, the lighter per weight (the first on a tie). */
static int32_t power_of_two(const dp_app_t* app, const filter_t* f, dp_state_t* state) {
  uint32_t count = 0;
  for (uint32_t m = 0; m < app->member_count; m++) count += eligible(f, app->members[m]) ? 1 : 0;
  if (count == 0) return -1;
  if (count == 1) return nth_eligible(app, f, 0);
  uint32_t first = (uint32_t)(next_random(state) % count);
  uint32_t second = (first + 1 + (uint32_t)(next_random(state) % (count - 1))) % count;
  int32_t a = nth_eligible(app, f, first), b = nth_eligible(app, f, second);
  const dp_backend_t *ba = &f->s->backends[a], *bb = &f->s->backends[b];
  return load_of(state, ba) * bb->weight <= load_of(state, bb) * ba->weight ? a : b;
}

static int32_t pick_in_app(const dp_snapshot_t* s, dp_state_t* state, int32_t app_index, const int32_t* exclude, int exclude_count) {
  const dp_app_t* app = &s->apps[app_index];
  uint32_t* cursor = &state->app_cursors[app_index];
  filter_t f = {s, exclude, exclude_count, false};
  // Primaries first; backups only when no primary can take it.
  for (int pass = 0; pass < 2; pass++) {
    f.backups = pass == 1;
    uint32_t in_pass = f.backups ? app->member_count - app->primary_count : app->primary_count;
    if (in_pass == 0) continue;
    int32_t backend;
    switch (app->policy) {
      case DP_P_WEIGHTED_ROUND_ROBIN:
        backend = scheduled(app, cursor, &f);
        break;
      case DP_P_LEAST_CONN:
        backend = least_conn(app, cursor, &f, state);
        break;
      case DP_P_P2C:
        backend = power_of_two(app, &f, state);
        break;
      default:
        backend = round_robin(app, cursor, &f);
        break;
    }
    if (backend >= 0) return backend;
  }
  return -1;
}

int dp_pick(const dp_snapshot_t* s, dp_state_t* state, const char* host, size_t host_len, const char* path, size_t path_len,
            const int32_t* exclude, int exclude_count, dp_choice_t* choice) {
  memset(choice, 0, sizeof(*choice));
  choice->backend = choice->slot = choice->app = -1;
  choice->series = s->default_series;
  if (path == NULL) path_len = 0;
  int32_t app;
  if (!s->routed) {
    // A front of its own: its one app (none yet: wait for one).
    if (s->app_count == 0) return choice->kind = DP_PICK_WAIT;
    app = 0;
  } else {
    size_t host_length = host == NULL ? 0 : host_end(host, host_len);
    const dp_group_t* group = match_group(s, host, host_length, path, path_len);
    if (group == NULL) return choice->kind = DP_PICK_NO_ROUTE;
    int32_t index = pick_route(s, state, group);
    // The route matched, but none of its apps has a backend in rotation: held until one has.
    if (index < 0) return choice->kind = DP_PICK_WAIT;
    const dp_route_t* route = &group->routes[index];
    app = route->app;
    choice->series = route->series;
    if (route->strip && group->path_len > 1) {
      choice->strip = group->path_len;
      choice->slash = !(path_len > group->path_len && path[group->path_len] == '/');
    }
  }
  choice->app = app;
  if (!app_available(s, app)) return choice->kind = DP_PICK_WAIT;
  int32_t backend = pick_in_app(s, state, app, exclude, exclude_count);
  if (backend < 0) return choice->kind = DP_PICK_EXHAUSTED;
  choice->backend = backend;
  choice->slot = s->backends[backend].slot;
  return choice->kind = DP_PICK_BACKEND;
}
