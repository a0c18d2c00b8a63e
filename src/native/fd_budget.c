// See fd_budget.h.

#include "fd_budget.h"

#include <sys/resource.h>

#include "dp_constants.h"

int64_t fd_budget_read(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return INT64_MAX;
  int64_t soft = (int64_t)limit.rlim_cur, share = soft / DP_FD_RESERVE_SHARE;
  int64_t reserve = share > DP_FD_RESERVE_MIN ? share : DP_FD_RESERVE_MIN;
  return soft - reserve > DP_FD_BUDGET_MIN ? soft - reserve : DP_FD_BUDGET_MIN;
}
