// The constants the data plane (C) and the control plane (TypeScript) both
// read, in one place: the snapshot's layout, its limits, the policies, what a
// pick answers, the events and the reasons. src/core/dp-constants.ts is
// generated from this file (node scripts/gen-dp-constants.mjs);
// test/unit/dp-constants.test.ts fails when that copy is stale, so a value is
// changed here and nowhere else.
//
// The generator reads only lines of the form `#define DP_NAME value  // text`,
// value a decimal (possibly negative) or 0x hexadecimal integer; the comment
// becomes the TypeScript constant's doc. Keep it that way.

#ifndef SUPERVISE_DP_CONSTANTS_H
#define SUPERVISE_DP_CONSTANTS_H

// ---- the snapshot: one buffer, int32 words (little-endian, the host's order) then a string area
#define DP_SNAPSHOT_MAGIC 0x31535044  // "DPS1": the first word of every snapshot
#define DP_SNAPSHOT_VERSION 1         // the layout below; a decoder refuses another

// Header words (indexes into the word area).
#define DP_H_MAGIC 0
#define DP_H_VERSION 1
#define DP_H_WORDS 2            // int32 words in the buffer, header included
#define DP_H_STRING_BYTES 3     // bytes of the string area, right after the words
#define DP_H_SERIAL 4           // the control plane's number for this snapshot (increasing)
#define DP_H_BACKEND_AT 5       // word index of the backend table
#define DP_H_BACKEND_COUNT 6
#define DP_H_APP_AT 7           // word index of the app table
#define DP_H_APP_COUNT 8
#define DP_H_GROUP_AT 9         // word index of the route-group table (same host and path)
#define DP_H_GROUP_COUNT 10
#define DP_H_ROUTE_AT 11        // word index of the route table (one app of a group each)
#define DP_H_ROUTE_COUNT 12
#define DP_H_LIST_AT 13         // word index of the list area (members and schedules)
#define DP_H_LIST_COUNT 14
#define DP_H_DEFAULT_SERIES 15  // the counters' series of a front without routes (its one app)
#define DP_H_QUEUE_TIMEOUT_MS 16
#define DP_H_CONNECT_TIMEOUT_MS 17
#define DP_H_RESPONSE_TIMEOUT_MS 18
#define DP_H_FLAGS 19           // DP_S_*
#define DP_HEADER_WORDS 24      // words 20..23 are reserved (zero)

#define DP_S_ROUTED 1  // a routing front: requests are matched against the groups (none matches: 404), apps may be several

// A backend: 8 words.
#define DP_B_SLOT 0       // C's stable number for it (counters, pools): unique in a snapshot
#define DP_B_ADDR_AT 1    // its IP address, as text in the string area (byte offset)
#define DP_B_ADDR_LEN 2
#define DP_B_PORT 3
#define DP_B_WEIGHT 4
#define DP_B_FLAGS 5      // DP_F_*
#define DP_B_BUDGET 6     // --max-requests: requests it may be handed in all (0: no limit)
#define DP_B_APP 7        // index of its app
#define DP_BACKEND_WORDS 8

#define DP_F_DRAINING 1   // out of rotation: keeps its in-flight requests, takes no new one
#define DP_F_BACKUP 2     // used only when no other backend of its app can take the request

// An app: 8 words.
#define DP_A_NAME_AT 0
#define DP_A_NAME_LEN 1
#define DP_A_POLICY 2         // DP_P_*
#define DP_A_MEMBER_FIRST 3   // list index of its backends in rotation (backend indexes), in rotation order
#define DP_A_MEMBER_COUNT 4
#define DP_A_SCHEDULE_FIRST 5 // weighted round-robin: list index of its schedule (member indexes)
#define DP_A_SCHEDULE_LEN 6   // 0 for the other policies
#define DP_APP_WORDS 8        // word 7 is reserved

// A route group (the routes that share a host and a path prefix): 8 words.
#define DP_G_HOST_AT 0
#define DP_G_HOST_LEN 1        // 0: any host; otherwise lower case, without a port
#define DP_G_PATH_AT 2
#define DP_G_PATH_LEN 3        // starts with '/', no trailing '/' (but '/' itself)
#define DP_G_ROUTE_FIRST 4     // index of its first route in the route table
#define DP_G_ROUTE_COUNT 5
#define DP_G_SCHEDULE_FIRST 6  // list index of its smooth-WRR schedule (indexes into its routes)
#define DP_G_SCHEDULE_LEN 7
#define DP_GROUP_WORDS 8

// A route: 4 words.
#define DP_R_APP 0
#define DP_R_WEIGHT 1
#define DP_R_STRIP 2   // 1: the prefix is removed before forwarding
#define DP_R_SERIES 3  // the counters' series (app, route) its requests are counted under
#define DP_ROUTE_WORDS 4

// ---- limits a decoder enforces (a snapshot beyond them is refused with E2BIG)
#define DP_MAX_BYTES 67108864   // a snapshot's whole buffer
#define DP_MAX_SLOT 1048575     // slots stay below 2^20
#define DP_MAX_BACKENDS 65536
#define DP_MAX_APPS 4096
#define DP_MAX_GROUPS 4096
#define DP_MAX_ROUTES 16384
#define DP_MAX_SCHEDULE 65536   // entries of one schedule (weights are scaled down past it)
#define DP_MAX_WEIGHT 1000000
#define DP_MAX_SERIES 65535     // the counters' series (HF_MAX_ROUTES - 1)
#define DP_MAX_NAME 255         // an app's name, a route's host (bytes)
#define DP_MAX_PATH 4096        // a route's path prefix (bytes)
#define DP_QUEUE_TIMEOUT_MS 10000  // how long a request waits before the front has any snapshot (--queue-timeout's default)

// ---- balancing policies (DP_A_POLICY)
#define DP_P_ROUND_ROBIN 0
#define DP_P_WEIGHTED_ROUND_ROBIN 1
#define DP_P_LEAST_CONN 2
#define DP_P_P2C 3

// ---- a front's kind (httpListen's last argument)
#define DP_KIND_HTTP 0  // requests framed and decided one by one
#define DP_KIND_TCP 1   // a connection decided once, then bytes both ways

// ---- what a pick answers
#define DP_PICK_BACKEND 0    // a backend was chosen
#define DP_PICK_NO_ROUTE 1   // no route matches: 404
#define DP_PICK_WAIT 2       // the matched app(s) have no backend in rotation: queue (then 503 at --queue-timeout)
#define DP_PICK_EXHAUSTED 3  // every backend in rotation was excluded (failed for this request): 502

// ---- events the data plane reports, in batches of records [front, type, a, b]
#define DP_EV_DONE 1      // a request to backend slot a is over (b: the status sent, 0 if none)
#define DP_EV_ERROR 2     // the front answered an error itself (a: slot or -1; b: status*100 + reason)
#define DP_EV_CLOSED 3    // a closing front has no connection left
#define DP_EV_GONE 4      // a queued client left (a: its id, b: its generation)
#define DP_EV_DRAINED 5   // backend slot a, out of the snapshot or draining, has no request left
#define DP_EV_BUDGET 6    // backend slot a was handed its DP_B_BUDGET-th request (--max-requests)
#define DP_EV_CONNECT_FAILED 7  // a connect to backend slot a failed (b: errno; ETIMEDOUT after the connect timeout)

// ---- why the front answered an error itself (DP_EV_ERROR's b % 100)
#define DP_R_BAD_REQUEST 1
#define DP_R_NO_BACKEND 2       // none in rotation, or every one failed
#define DP_R_NO_ROUTE 3         // 404
#define DP_R_BACKEND_FAILED 4
#define DP_R_BAD_RESPONSE 5
#define DP_R_TIMEOUT 6          // the backend's response did not come in time
#define DP_R_CLIENT_TIMEOUT 7   // the client's head or body did not come in time (408)
#define DP_R_QUEUE_TIMEOUT 8    // no backend came into rotation within --queue-timeout (503)
#define DP_R_CLOSING 9          // the front closed while the request waited for a backend

// ---- descriptors (fd_budget.c, proxy/fd-budget.ts): the soft RLIMIT_NOFILE less a reserve for the master's other duties
#define DP_FD_RESERVE_SHARE 8   // the reserve is 1/this of the soft limit
#define DP_FD_RESERVE_MIN 64    // and at least this many descriptors
#define DP_FD_BUDGET_MIN 16     // a front may hold at least this many, however low the limit

#endif
