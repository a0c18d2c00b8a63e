// See fd_budget.h.

#include "fd_budget.h"

#include <sys/resource.h>

int64_t fd_budget_read(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return INT64_MAX;
  int64_t soft = (int64_t)limit.rlim_cur, reserve = soft / 8 > 64 ? soft / 8 : 64;
  return soft - reserve > 16 ? soft - reserve : 16;
}
