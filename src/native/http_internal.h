// The inside of the native http front, shared by its files (see http_front.c
// for what it does): the connections, clients, backends and fronts, and the
// functions one file of the data path calls in another.
//   http_io.c        buffers, ids, sockets, the batch of events for JavaScript
//   http_exchange.c  one request: pools, the pick, forwarding it, error answers
//   http_relay.c     the response, the tunnel after a 101, driving a client
//   http_front.c     accepting, epoll events, the timeouts' sweep (on a data-plane thread)
//   http_loop.c      a data-plane thread: its epoll loop and the commands it takes from the main thread
//   http_threads.c   the main thread's side: the interface (http_front.h), events back, counters summed

#ifndef SUPERVISE_HTTP_INTERNAL_H
#define SUPERVISE_HTTP_INTERNAL_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dp_pick.h"
#include "h1frame.h"
#include "http_front.h"
#include "http_parse.h"
#include "id_table.h"
#include "tls_conn.h"

#define MAX_EVENTS 256
#define MAX_RESPONSE_HEAD HP_MAX_RESPONSE_HEAD  // buffered while a response head is incomplete (http_limits.h)
#define READ_SIZE (16 * 1024)
#define HIGH_WATER (256 * 1024)         // bytes queued for a side before its source is no longer read
#define MAX_TRIES 16                    // connect attempts of one request
#define MAX_STALE_RETRIES 2
#define MAX_RESENDS 2                   // an idempotent request whose backend reset or timed out before any response byte: the next backends
#define MAX_IDLE_PER_BACKEND 128
#define TURNS_PER_EVENT 64              // fairness: then the connection waits for the loop's next turn
#define STEPS_PER_TURN 8                // parse and relay steps between two flushes (a bound: each step moves data)
#define LINGER_MS 2000                  // after a final response: how long the client may still send
#define ACCEPT_PAUSE_MS 100             // out of descriptors: accepting stops this long (nginx: a short pause, then again)

enum kind { K_LISTEN, K_CLIENT, K_UPSTREAM };

/** Client states: the exchange in progress. */
enum state {
  S_HEAD,     // waiting for a request head
  S_ROUTE,    // being decided (http_decide.c)
  S_QUEUE,    // no backend in rotation for its app: waiting for a snapshot that brings one, or the queue timeout
  S_CONNECT,  // connecting to the chosen backend
  S_SEND,     // head sent or queued; the body flows
  S_TUNNEL,   // after a 101: bytes both ways
  S_LINGER,   // the last response queued: flush, shut down, drain what the client still sends
};

typedef struct buf {
  char* data;
  uint32_t start, end, cap;
} buf_t;

typedef struct conn {
  int fd;
  int32_t id;
  uint32_t generation;
  uint8_t kind;
  bool readable, writable, eof, shut, hangup;
  bool blocked;      // output waits for the peer to read (since sent_ms)
  uint64_t read_ms;  // the last byte (or the end) read from it: the idle timeouts count from here
  uint64_t sent_ms;  // the last byte it took, or when it stopped taking them
  buf_t in, out;
  tls_conn_t* tls;  // a client of a front with TLS: its bytes go through it (backends stay plaintext)
} conn_t;

typedef struct hf_backend hf_backend_t;
typedef struct client client_t;

typedef struct upstream {
  conn_t c;
  hf_front_t* front;
  int32_t slot;
  client_t* owner;  // NULL while idle in the pool
  struct upstream* next_idle;
  bool connecting, reused;
} upstream_t;

struct client {
  conn_t c;
  hf_front_t* front;
  client_t *prev, *next;
  enum state state;
  upstream_t* up;
  int32_t slot;   // of the exchange in progress, -1 if none
  int32_t route;  // the route it matched (the pick's): its response is counted under it
  // the request
  hp_parser_t parser;  // the next request head, parsed as its bytes come (zeroed: ready)
  hp_head_t req;       // the head of the request in progress: spans into `head`
  char* head;  // its head as the client sent it, kept for a retry
  uint32_t head_len;
  hp_body_t req_body;
  uint64_t req_left;
  hp_chunked_t req_chunked;
  bool req_done, keep_alive, http10, head_method, upgrade, idempotent;
  // the response
  hp_parser_t resp_parser;
  bool resp_head_done;
  hp_body_t resp_body;
  uint64_t resp_left;
  hp_chunked_t resp_chunked;
  int status;
  int32_t failed[MAX_TRIES];
  int failed_count, last_error, stale_retries, resends;
  uint64_t started_ns, phase_ms;
  uint64_t head_ms;  // when the first byte of the request head in progress came (0: none yet): the header timeout counts from here
  char address[INET6_ADDRSTRLEN];
  bool counted;  // the response is in the counters already (a 101, counted when it came)
  bool verdict;  // queued after every backend failed: waits for the control plane's answer to the failures (the next snapshot)
  bool trusted;  // a peer of --forwarded-allow-ips: its X-Forwarded-* headers are kept
  uint32_t hsts;  // TLS: the Strict-Transport-Security max-age its responses get (0: none), as set when it was accepted
  bool dead;
  // the tcp kind (http_tcp.c)
  h1_t* h1;       // its bytes followed as HTTP/1.x, for draining
  bool draining;  // its backend left the rotation: it ends at its next response boundary
};

struct hf_backend {
  bool used, removed;
  struct sockaddr_storage address;
  socklen_t length;
  upstream_t* idle;
  int idle_count;
  hf_stats_t* stats;  // by route, grown to the highest route counted (a backend serves a few)
  int32_t stats_count;
};

/**
 * A snapshot shared by the threads: decoded once by the main thread, read by
 * every thread's share, freed by whoever drops the last reference (one atomic
 * per publish and thread, never per request).
 */
typedef struct hf_snap {
  atomic_int refs;
  dp_snapshot_t* snapshot;
} hf_snap_t;

void hf_snap_release(hf_snap_t* snap);

/** One front's share on one data-plane thread: that thread's alone (its connections, pools, cursors and counters). */
struct hf_front {
  conn_t listen;  // this thread's duplicate of the listening socket (EPOLLEXCLUSIVE in its epoll set)
  int32_t index;
  hf_listener_t* listener;  // the main thread's front (read only here: its options and thread count never change)
  struct hf_loop* loop;     // the thread it lives on
  hf_options_t options;  // its `trusted` points into the listener's copy (freed after every share is)
  hf_backend_t* backends;
  int32_t backend_count;
  client_t* clients;
  uint32_t client_count;
  hf_snap_t* snap;          // the decisions (NULL before the first hf_publish): immutable, replaced whole
  dp_snapshot_t* snapshot;  // snap's
  dp_state_t pick;          // this thread's cursors and per-slot counts (in flight, handed)
  bool closing, closed_told;
  bool accept_paused;     // out of descriptors (or over the budget): resumed by the sweep
  uint64_t paused_until;
  bool destroyed;  // set by the main thread (under the loop's lock): nothing more is reported for it; freed by its C_DESTROY
  uint64_t requests, accepted;  // this thread's counters (read under the loop's lock)
  int64_t fd_budget;            // the descriptors every loop together may hold (fd_budget.h), read when the front was made
  uint32_t listener_threads;    // how many threads share the listener
  atomic_uint live;             // client_count, for the other threads' connection balancing (http_front.c's hand_off)
  hf_front_t* next;  // in its loop's list
};

/** A command from the main thread to a data-plane thread (its queue; see http_loop.c). */
enum hf_command_type { HF_C_ADD_FRONT, HF_C_PUBLISH, HF_C_ADD_BACKEND, HF_C_REMOVE_BACKEND, HF_C_CLOSE, HF_C_DESTROY, HF_C_STOP, HF_C_ADOPT };

typedef struct hf_command {
  int type;
  hf_front_t* share;
  int32_t slot;
  struct sockaddr_storage address;
  socklen_t length;
  hf_snap_t* snap;  // HF_C_PUBLISH: a reference the thread takes over
  int fd;           // HF_C_ADOPT: a client accepted by another thread of the front (from a data-plane thread, not the main one)
  struct hf_command* next;
} hf_command_t;

/**
 * One data-plane thread's loop: everything a thread touches on the request
 * path is here or in its fronts' shares, and no other thread touches it — but
 * for what `lock` guards, which the thread holds while it handles a batch of
 * epoll events (never while it waits): its batch of event records, and the
 * counters the main thread reads (stats, loads, requests per thread).
 */
typedef struct hf_loop {
  int index;
  int epoll;
  int wake_fd;  // an eventfd in the epoll set: commands are waiting
  pthread_t thread;
  id_table_t conns;  // connections by id
  uint32_t generation;
  hf_front_t* fronts;
  uint64_t period_ms, next_sweep;
  pthread_mutex_t lock;
  int32_t* events;  // batched DP_EV_* records, drained by the main thread
  size_t event_count, event_cap;
  pthread_mutex_t queue_lock;  // the command queue (the main thread appends, the thread takes)
  hf_command_t *queue_head, *queue_tail;
  bool stopping;
} hf_loop_t;

/** The loop of the calling data-plane thread. */
extern __thread hf_loop_t* hf_self;
/** Descriptors held by every loop (fd_budget.h): an atomic, touched per connection, not per request. */
extern atomic_int_fast64_t hf_open_fds;

// Shared by the data path's files.
/** Whether the peer at `address` (AF_INET or AF_INET6) is one of the front's trusted ones. */
bool hf_peer_trusted(const hf_options_t* options, const struct sockaddr_storage* address);
/** The texts of the HF_R_* reasons that have a fixed one. */
extern const char* const hf_reasons[];

// ------------------------------------------------------------ http_io.c
uint64_t hf_now_ms(void);
uint64_t hf_now_ns(void);
void hf_emit(hf_front_t* front, int32_t type, int32_t slot, int32_t detail);
/** Drops the batched records of front `index` from `loop`'s batch (under its lock: the front is destroyed, its number may name another soon). */
void hf_drop_events(hf_loop_t* loop, int32_t index);
uint32_t hf_buf_len(const buf_t* b);
bool hf_buf_append(buf_t* b, const char* data, size_t len);
bool hf_buf_str(buf_t* b, const char* text);
void hf_buf_consume(buf_t* b, uint32_t n);
int32_t hf_table_add(conn_t* c);
/** Registers `c` edge-triggered for both directions; the event carries its id and generation. */
int hf_watch(conn_t* c, int op);
/** Closes `c`'s socket and frees its id and buffers (the struct is the caller's). */
void hf_conn_close(conn_t* c);
void hf_no_delay(int fd);
/** Sends what `c` has queued; 0, or an errno. */
int hf_flush_out(conn_t* c);
/** Reads what `c` has into its input buffer; *got: bytes read (or the end seen). 0, or an errno. */
int hf_fill_in(conn_t* c, bool* got);
/** No more bytes from us (TLS: close_notify first). */
void hf_shut_write(conn_t* c);

// ------------------------------------------------------------ http_exchange.c
hf_backend_t* hf_backend_of(hf_front_t* front, int32_t slot);
void hf_upstream_free(upstream_t* up);
void hf_pool_unlink(hf_backend_t* backend, upstream_t* up);
void hf_pool_close_all(hf_backend_t* backend);
/** The backend's idle connections closed and its counters freed (it is reset or its front freed). */
void hf_backend_release(hf_backend_t* backend);
void hf_client_free(client_t* cl);
/** Ends the exchange's upstream side: back to the pool when it can carry another request, else closed. */
void hf_release_upstream(client_t* cl, bool reusable);
void hf_count_response(client_t* cl, int status);
/** The exchange is over (`status` sent, 0 if none): its backend's in-flight count goes down. */
void hf_end_exchange(client_t* cl, int status);
/** After the last response: flush it, then shut down and drain (a close with unread input would reset it away). */
void hf_linger(client_t* cl);
/** Answers an error of the front's own (`text` after the status); cuts the connection when a response had begun. */
void hf_answer(client_t* cl, int status, int reason, const char* text);
/** hf_answer with the text of a HF_R_* reason. */
void hf_fail(client_t* cl, int status, int reason);
bool hf_is_hop_by_hop(const char* data, hp_span_t name);
bool hf_append_header(buf_t* out, const char* data, hp_span_t name, hp_span_t value);
/** Starts the request on backend `slot` (acquired) for `route`; false when the connect failed at once (recorded as failed). */
bool hf_start(client_t* cl, int32_t slot, int32_t route, const char* path, size_t path_len);
/** The request's Host (empty: none) and target path, as the route matches them. */
void hf_request_target(client_t* cl, const char** host, size_t* host_len, const char** path, size_t* path_len);
/** The connect to the chosen backend failed (`error`; ETIMEDOUT after the connect timeout): the next one. */
void hf_connect_failed(client_t* cl, int error);
/** The client's parser has a request head (`len` bytes at the start of its buffer): set the exchange up and route it. */
void hf_begin(client_t* cl, uint32_t len);
/** Moves body bytes from the client to the backend, as far as the framing and the backend's queue allow. */
bool hf_send_body(client_t* cl);

// ------------------------------------------------------------ http_decide.c
/** Chooses a backend from the snapshot and starts the request on it; tries the next one while connects fail at once; queues, or answers. */
void hf_attempt(client_t* cl);
/** A request to `slot` ended: its in-flight count goes down (DP_EV_DRAINED when a draining backend's last one did). */
void hf_request_ended(hf_front_t* front, int32_t slot);
/** The request's connect to `slot` failed (`error`): recorded on the client, reported, the count undone. */
void hf_attempt_failed(client_t* cl, int32_t slot, int error);
/** A queued client waited --queue-timeout (`now`): answered 503. Whether it was. */
bool hf_queue_expired(client_t* cl, uint64_t now);
/** The front closes: its queued clients are answered 502. */
void hf_queue_close(hf_front_t* front);
/** The front's snapshot and decision state freed (it is freed). */
void hf_decide_release(hf_front_t* front);
/** The share takes `snap` (its reference): queued clients are tried again. */
void hf_share_publish(hf_front_t* front, hf_snap_t* snap);

// ------------------------------------------------------------ http_tcp.c
/** A tcp-kind client accepted: ready to be decided (false: out of memory). */
bool hf_tcp_begin(client_t* cl);
/** Its backend accepted: bytes both ways from now (S_TUNNEL), counted as a connection. */
void hf_tcp_open(client_t* cl);
/** What the http kind answers with a status: the connection closed, the error reported. */
void hf_tcp_refuse(client_t* cl, int status, int reason);
/** Bytes going client → backend, followed. */
void hf_tcp_request_bytes(client_t* cl, const char* data, uint32_t len);
/** Bytes going backend → client into the client's output, cut at a response boundary when draining; false: out of memory. */
bool hf_tcp_response_bytes(client_t* cl, const char* data, uint32_t len);
/** A new snapshot: the connections whose backend left the rotation drain. */
void hf_tcp_drain(hf_front_t* front);

// ------------------------------------------------------------ http_loop.c
/** The loops 0..count-1, started if they are not (on the main thread). 0, or an errno. */
int hf_loops_start(uint32_t count, void (*wake)(void));
hf_loop_t* hf_loop_at(uint32_t index);
uint32_t hf_loop_count(void);
/** Queues `command` (allocated; the thread frees it) on `loop` and wakes it. */
void hf_post(hf_loop_t* loop, hf_command_t* command);
/** Stops every loop's thread (each frees its shares first) and frees the loops. */
void hf_loops_stop(void);

// ------------------------------------------------------------ http_threads.c
/** A thread freed its share of a destroyed front (on that thread): the last one lets the main thread free the listener. */
void hf_destroy_acked(hf_listener_t* listener);
/** The requests handed to `slot`'s backend by every thread (--max-requests), or NULL (no backend was added there). */
atomic_uint* hf_handed(hf_listener_t* listener, int32_t slot);
/** The listener's certificates (a reference, the caller's; NULL: plain HTTP) and its HSTS max-age, for a client being accepted. */
tls_set_t* hf_listener_tls(hf_listener_t* listener, uint32_t* hsts);
bool hf_listener_has_tls(hf_listener_t* listener);
/** The front's share on thread `t` (fixed from hf_listen to the listener's end). */
hf_front_t* hf_share_at(hf_listener_t* listener, uint32_t t);

// ------------------------------------------------------------ http_front.c
/** The sweep's period on this thread: a quarter of the shortest timeout of its fronts. */
void hf_schedule_timer(void);
/** Moves a client a command changed: driven now, or freed when it is dead. */
void hf_kick(client_t* cl);
/** One epoll event of this thread's set. */
void hf_on_event(uint64_t data, uint32_t events);
/** Every client's timeouts, paused listeners resumed. */
void hf_sweep(void);
void hf_accept_clients(hf_front_t* front);
/** A client connection accepted (by this thread, or handed over by another) joins the share. */
void hf_adopt(hf_front_t* front, int fd, const struct sockaddr_storage* address);
/** The share's client count published for the other threads (after it changed). */
void hf_count_clients(hf_front_t* front);
/** The share's side of the commands (on its thread). */
void hf_share_add_backend(hf_front_t* front, int32_t slot, const struct sockaddr* address, socklen_t length);
void hf_share_remove_backend(hf_front_t* front, int32_t slot);
void hf_share_close(hf_front_t* front);
/** Every connection of the share closed, the share freed (its events are not reported). */
void hf_share_free(hf_front_t* front);

// ------------------------------------------------------------ http_relay.c
/** Moves whatever can move for `cl` and its backend connection; frees it when it is done. */
void hf_drive(client_t* cl);
void hf_connect_done(client_t* cl);

#endif
