// GENERATED from src/native/dp_constants.h and http_limits.h by scripts/gen-dp-constants.mjs: do not edit.
// Change the headers, then run `node scripts/gen-dp-constants.mjs`.
/* eslint-disable */

/** "DPS1": the first word of every snapshot */
export const DP_SNAPSHOT_MAGIC = 0x31535044;
/** the layout below; a decoder refuses another */
export const DP_SNAPSHOT_VERSION = 1;
export const DP_H_MAGIC = 0;
export const DP_H_VERSION = 1;
/** int32 words in the buffer, header included */
export const DP_H_WORDS = 2;
/** bytes of the string area, right after the words */
export const DP_H_STRING_BYTES = 3;
/** the control plane's number for this snapshot (increasing) */
export const DP_H_SERIAL = 4;
/** word index of the backend table */
export const DP_H_BACKEND_AT = 5;
export const DP_H_BACKEND_COUNT = 6;
/** word index of the app table */
export const DP_H_APP_AT = 7;
export const DP_H_APP_COUNT = 8;
/** word index of the route-group table (same host and path) */
export const DP_H_GROUP_AT = 9;
export const DP_H_GROUP_COUNT = 10;
/** word index of the route table (one app of a group each) */
export const DP_H_ROUTE_AT = 11;
export const DP_H_ROUTE_COUNT = 12;
/** word index of the list area (members and schedules) */
export const DP_H_LIST_AT = 13;
export const DP_H_LIST_COUNT = 14;
/** the counters' series of a front without routes (its one app) */
export const DP_H_DEFAULT_SERIES = 15;
export const DP_H_QUEUE_TIMEOUT_MS = 16;
export const DP_H_CONNECT_TIMEOUT_MS = 17;
export const DP_H_RESPONSE_TIMEOUT_MS = 18;
/** DP_S_* */
export const DP_H_FLAGS = 19;
/** words 20..23 are reserved (zero) */
export const DP_HEADER_WORDS = 24;
/** a routing front: requests are matched against the groups (none matches: 404), apps may be several */
export const DP_S_ROUTED = 1;
/** C's stable number for it (counters, pools): unique in a snapshot */
export const DP_B_SLOT = 0;
/** its IP address, as text in the string area (byte offset) */
export const DP_B_ADDR_AT = 1;
export const DP_B_ADDR_LEN = 2;
export const DP_B_PORT = 3;
export const DP_B_WEIGHT = 4;
/** DP_F_* */
export const DP_B_FLAGS = 5;
/** --max-requests: requests it may be handed in all (0: no limit) */
export const DP_B_BUDGET = 6;
/** index of its app */
export const DP_B_APP = 7;
export const DP_BACKEND_WORDS = 8;
/** out of rotation: keeps its in-flight requests, takes no new one */
export const DP_F_DRAINING = 1;
/** used only when no other backend of its app can take the request */
export const DP_F_BACKUP = 2;
export const DP_A_NAME_AT = 0;
export const DP_A_NAME_LEN = 1;
/** DP_P_* */
export const DP_A_POLICY = 2;
/** list index of its backends in rotation (backend indexes), in rotation order */
export const DP_A_MEMBER_FIRST = 3;
export const DP_A_MEMBER_COUNT = 4;
/** weighted round-robin: list index of its schedule (member indexes) */
export const DP_A_SCHEDULE_FIRST = 5;
/** 0 for the other policies */
export const DP_A_SCHEDULE_LEN = 6;
/** word 7 is reserved */
export const DP_APP_WORDS = 8;
export const DP_G_HOST_AT = 0;
/** 0: any host; otherwise lower case, without a port */
export const DP_G_HOST_LEN = 1;
export const DP_G_PATH_AT = 2;
/** starts with '/', no trailing '/' (but '/' itself) */
export const DP_G_PATH_LEN = 3;
/** index of its first route in the route table */
export const DP_G_ROUTE_FIRST = 4;
export const DP_G_ROUTE_COUNT = 5;
/** list index of its smooth-WRR schedule (indexes into its routes) */
export const DP_G_SCHEDULE_FIRST = 6;
export const DP_G_SCHEDULE_LEN = 7;
export const DP_GROUP_WORDS = 8;
export const DP_R_APP = 0;
export const DP_R_WEIGHT = 1;
/** 1: the prefix is removed before forwarding */
export const DP_R_STRIP = 2;
/** the counters' series (app, route) its requests are counted under */
export const DP_R_SERIES = 3;
export const DP_ROUTE_WORDS = 4;
/** a snapshot's whole buffer */
export const DP_MAX_BYTES = 67108864;
/** slots stay below 2^20 */
export const DP_MAX_SLOT = 1048575;
export const DP_MAX_BACKENDS = 65536;
export const DP_MAX_APPS = 4096;
export const DP_MAX_GROUPS = 4096;
export const DP_MAX_ROUTES = 16384;
/** entries of one schedule (weights are scaled down past it) */
export const DP_MAX_SCHEDULE = 65536;
export const DP_MAX_WEIGHT = 1000000;
/** the counters' series (HF_MAX_ROUTES - 1) */
export const DP_MAX_SERIES = 65535;
/** an app's name, a route's host (bytes) */
export const DP_MAX_NAME = 255;
/** a route's path prefix (bytes) */
export const DP_MAX_PATH = 4096;
/** how long a request waits before the front has any snapshot (--queue-timeout's default) */
export const DP_QUEUE_TIMEOUT_MS = 10000;
export const DP_P_ROUND_ROBIN = 0;
export const DP_P_WEIGHTED_ROUND_ROBIN = 1;
export const DP_P_LEAST_CONN = 2;
export const DP_P_P2C = 3;
/** requests framed and decided one by one */
export const DP_KIND_HTTP = 0;
/** a connection decided once, then bytes both ways */
export const DP_KIND_TCP = 1;
/** a backend was chosen */
export const DP_PICK_BACKEND = 0;
/** no route matches: 404 */
export const DP_PICK_NO_ROUTE = 1;
/** the matched app(s) have no backend in rotation: queue (then 503 at --queue-timeout) */
export const DP_PICK_WAIT = 2;
/** every backend in rotation was excluded (failed for this request): 502 */
export const DP_PICK_EXHAUSTED = 3;
/** a request to backend slot a is over (b: the status sent, 0 if none) */
export const DP_EV_DONE = 1;
/** the front answered an error itself (a: slot or -1; b: status*100 + reason) */
export const DP_EV_ERROR = 2;
/** a closing front has no connection left */
export const DP_EV_CLOSED = 3;
/** a queued client left (a: its id, b: its generation) */
export const DP_EV_GONE = 4;
/** backend slot a, out of the snapshot or draining, has no request left */
export const DP_EV_DRAINED = 5;
/** backend slot a was handed its DP_B_BUDGET-th request (--max-requests) */
export const DP_EV_BUDGET = 6;
/** a connect to backend slot a failed (b: errno; ETIMEDOUT after the connect timeout) */
export const DP_EV_CONNECT_FAILED = 7;
export const DP_R_BAD_REQUEST = 1;
/** none in rotation, or every one failed */
export const DP_R_NO_BACKEND = 2;
/** 404 */
export const DP_R_NO_ROUTE = 3;
export const DP_R_BACKEND_FAILED = 4;
export const DP_R_BAD_RESPONSE = 5;
/** the backend's response did not come in time */
export const DP_R_TIMEOUT = 6;
/** the client's head or body did not come in time (408) */
export const DP_R_CLIENT_TIMEOUT = 7;
/** no backend came into rotation within --queue-timeout (503) */
export const DP_R_QUEUE_TIMEOUT = 8;
/** the front closed while the request waited for a backend */
export const DP_R_CLOSING = 9;
/** the reserve is 1/this of the soft limit */
export const DP_FD_RESERVE_SHARE = 8;
/** and at least this many descriptors */
export const DP_FD_RESERVE_MIN = 64;
/** a front may hold at least this many, however low the limit */
export const DP_FD_BUDGET_MIN = 16;
/** a request head (every line, the empty one included): above it, 431 (--max-header-size's default) */
export const HP_MAX_HEAD = 32768;
/** the largest --max-header-size */
export const HP_MAX_HEAD_LIMIT = 1048576;
/** a response head: above it, 502 */
export const HP_MAX_RESPONSE_HEAD = 65536;
/** header lines of a head (node's default maxHeadersCount): above it, 431 */
export const HP_MAX_HEADERS = 2000;
/** a chunk's extensions (";name=value..."): above it, 400 */
export const HP_MAX_CHUNK_EXT = 4096;
/** the trailer section of a chunked body: above it, 400 */
export const HP_MAX_TRAILERS = 32768;
