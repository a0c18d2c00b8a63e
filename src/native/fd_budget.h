// The descriptors a front's data plane may hold (connections both ways and
// listeners): the soft RLIMIT_NOFILE less a reserve for the master's other
// duties — the control socket, spawns, pipes, health probes, logs — which must
// not starve when clients take every descriptor (issue 17: the control socket
// unreachable, spawns failing with EMFILE). One rule for every data-plane
// loop and both kinds of front, http and tcp (http_front.c).

#ifndef SUPERVISE_FD_BUDGET_H
#define SUPERVISE_FD_BUDGET_H

#include <stdint.h>

/** The budget under the current soft limit (1/8 of it, at least 64, kept in reserve); INT64_MAX when unlimited or unknown. */
int64_t fd_budget_read(void);

#endif
