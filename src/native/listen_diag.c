// The listening check of local workers' TCP health probes: instead of a
// connect per worker (≈50–65 µs of kernel work each, 512 a second at 1,024
// workers), one NETLINK_SOCK_DIAG dump of the machine's listening TCP sockets
// per round answers, for every port of the round at once: is a socket listening
// on it at the worker's address (or a wildcard), and is its accept queue full?
// For a listener the kernel reports idiag_rqueue = connections waiting to be
// accepted and idiag_wqueue = the backlog; the kernel drops a SYN when
// rqueue > backlog (sk_acceptq_is_full), which is when a connect probe would
// time out. Used by src/health/listener-check.ts.
//
// One netlink socket, opened at the first round and kept; any failure (a
// truncated or odd message, an error answer, a timeout) closes it, throws for
// that round, and the next round opens a fresh one — no half-read dump is ever
// left behind to confuse the next.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "napi_util.h"

/** Per port, three int32s: the state, then the accept queue's length and the backlog of the listener that decided it. */
#define LISTEN_OK 0
#define LISTEN_NONE 1
#define LISTEN_FULL 2
#define MAX_PORTS 65536
#define RECV_BUFFER (64 * 1024)
/** TCP_LISTEN of the kernel's state numbering (include/net/tcp_states.h). */
#define STATE_LISTEN 10

static napi_env g_env;
static int g_socket = -1;
static uint32_t g_sequence;
static unsigned char* g_buffer;
/** Per port: 1 + the index of its first target in the round, 0 for none; reset after each round. */
static uint32_t g_first[MAX_PORTS];

typedef struct {
  int family;  // AF_INET / AF_INET6 of the workers' address
  unsigned char address[16];
  const int32_t* ports;
  uint32_t* next;  // next target on the same port (1 + index), 0 at the end
  int32_t* results;
} round_t;

static void close_socket(void) {
  if (g_socket >= 0) close(g_socket);
  g_socket = -1;
}

/** The environment is going away: the socket and the buffer go with it. */
static void cleanup(void* arg) {
  (void)arg;
  close_socket();
  free(g_buffer);
  g_buffer = NULL;
  g_env = NULL;
}

/** Opens the netlink socket; 0 or an errno. */
static int open_socket(void) {
  if (g_socket >= 0) return 0;
  if (g_buffer == NULL && (g_buffer = malloc(RECV_BUFFER)) == NULL) return ENOMEM;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return errno;
  // The kernel answers a dump while we read it; a bound on each read is only a guard against the unexpected.
  struct timeval limit = {.tv_sec = 1, .tv_usec = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) != 0) {
    int error = errno;
    close(fd);
    return error;
  }
  g_socket = fd;
  return 0;
}

/** Whether a listener of `family` bound to `bound` (and v6only or not) accepts connections to the round's address. */
static bool accepts(const round_t* round, int family, const unsigned char* bound, bool v6only) {
  static const unsigned char any[16] = {0};
  static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == AF_INET) return round->family == AF_INET && (memcmp(bound, any, 4) == 0 || memcmp(bound, round->address, 4) == 0);
  if (memcmp(bound, any, 16) == 0) return round->family == AF_INET6 || !v6only;
  if (round->family == AF_INET6) return memcmp(bound, round->address, 16) == 0;
  return !v6only && memcmp(bound, mapped_prefix, 12) == 0 && memcmp(bound + 12, round->address, 4) == 0;
}

/** Records one listener against the round's targets on its port: any accepting listener makes the port pass. */
static void record(round_t* round, uint16_t port, uint32_t waiting, uint32_t backlog) {
  for (uint32_t link = g_first[port]; link != 0; link = round->next[link - 1]) {
    int32_t* result = &round->results[(link - 1) * 3];
    if (result[0] == LISTEN_OK) continue;
    // The kernel drops a SYN when more than `backlog` connections wait (sk_acceptq_is_full).
    result[0] = waiting > backlog ? LISTEN_FULL : LISTEN_OK;
    result[1] = (int32_t)(waiting > INT32_MAX ? INT32_MAX : waiting);
    result[2] = (int32_t)(backlog > INT32_MAX ? INT32_MAX : backlog);
  }
}

/** One message of the dump; 0, or EPROTO for one that is not what was asked. */
static int parse_listener(round_t* round, int family, const struct nlmsghdr* header) {
  size_t length = header->nlmsg_len;
  size_t fixed = NLMSG_LENGTH(sizeof(struct inet_diag_msg));
  if (length < fixed) return EPROTO;
  const struct inet_diag_msg* message = NLMSG_DATA(header);
  if (message->idiag_family != family) return EPROTO;
  if (message->idiag_state != STATE_LISTEN) return 0;  // asked for listeners only: anything else is not one
  bool v6only = false;
  // Attributes: the kernel adds INET_DIAG_SKV6ONLY for every IPv6 listener.
  size_t offset = NLMSG_ALIGN(fixed);
  while (offset + sizeof(struct rtattr) <= length) {
    const struct rtattr* attribute = (const struct rtattr*)((const unsigned char*)header + offset);
    if (attribute->rta_len < sizeof(struct rtattr) || attribute->rta_len > length - offset) return EPROTO;
    if (attribute->rta_type == INET_DIAG_SKV6ONLY && attribute->rta_len >= RTA_LENGTH(1)) v6only = *(const uint8_t*)RTA_DATA(attribute) != 0;
    offset += RTA_ALIGN(attribute->rta_len);
  }
  if (accepts(round, family, (const unsigned char*)message->id.idiag_src, v6only))
    record(round, ntohs(message->id.idiag_sport), message->idiag_rqueue, message->idiag_wqueue);
  return 0;
}

/** Dumps the listening TCP sockets of one family into the round; 0 or an errno. */
static int dump(round_t* round, int family) {
  struct {
    struct nlmsghdr header;
    struct inet_diag_req_v2 request;
  } query;
  memset(&query, 0, sizeof(query));
  uint32_t sequence = ++g_sequence;
  query.header.nlmsg_len = sizeof(query);
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  query.header.nlmsg_seq = sequence;
  query.request.sdiag_family = (uint8_t)family;
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = 1u << STATE_LISTEN;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do sent = sendto(g_socket, &query, sizeof(query), 0, (struct sockaddr*)&kernel, sizeof(kernel));
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno;
  if ((size_t)sent != sizeof(query)) return EPROTO;
  for (;;) {
    struct sockaddr_nl from;
    struct iovec vector = {.iov_base = g_buffer, .iov_len = RECV_BUFFER};
    struct msghdr reading = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &vector, .msg_iovlen = 1};
    ssize_t received = recvmsg(g_socket, &reading, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
    }
    if (received == 0 || (reading.msg_flags & MSG_TRUNC) != 0) return EPROTO;
    if (reading.msg_namelen < sizeof(from) || from.nl_pid != 0) continue;  // not the kernel's
    size_t left = (size_t)received;
    const unsigned char* cursor = g_buffer;
    while (left > 0) {
      if (left < sizeof(struct nlmsghdr)) return EPROTO;
      const struct nlmsghdr* header = (const struct nlmsghdr*)cursor;
      if (header->nlmsg_len < sizeof(struct nlmsghdr) || header->nlmsg_len > left) return EPROTO;
      if (header->nlmsg_seq == sequence) {
        if (header->nlmsg_type == NLMSG_DONE) return 0;
        if (header->nlmsg_type == NLMSG_ERROR) {
          if (header->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return EPROTO;
          int error = -((const struct nlmsgerr*)NLMSG_DATA(header))->error;
          return error > 0 ? error : EPROTO;
        }
        if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) return EPROTO;
        int status = parse_listener(round, family, header);
        if (status != 0) return status;
      }
      size_t step = NLMSG_ALIGN(header->nlmsg_len);
      if (step >= left) break;
      cursor += step;
      left -= step;
    }
  }
}

/**
 * listenerCheck(address: string, family: 4 | 6, ports: Int32Array): Int32Array — three int32s per port:
 * the state (0 listening and accepting, 1 no listener, 2 accept queue full), the queue's length, the backlog.
 * Throws "listenerCheck: <errno name>: …" (an `errno` property set) when the kernel cannot be asked.
 */
static napi_value ListenerCheck(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  char text[64];
  size_t text_length = 0;
  int32_t family;
  napi_typedarray_type array_type;
  bool is_typed = false;
  size_t count, offset;
  void* data;
  napi_value arraybuffer;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_string_utf8(env, argv[0], text, sizeof(text), &text_length) != napi_ok || napi_get_value_int32(env, argv[1], &family) != napi_ok ||
      napi_is_typedarray(env, argv[2], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[2], &array_type, &count, &data, &arraybuffer, &offset) != napi_ok || array_type != napi_int32_array) {
    return throw_error(env, "listenerCheck(address, family, ports: Int32Array) expected");
  }
  if (count == 0 || count > MAX_PORTS) return throw_error(env, "listenerCheck(): 1…65536 ports expected");
  // The port table is the process's: one thread (the one that first used it) checks.
  if (g_env != env) {
    if (g_env != NULL) return throw_error(env, "listenerCheck(): the check runs in the thread that first used it");
    if (napi_add_env_cleanup_hook(env, cleanup, NULL) != napi_ok) return throw_error(env, "listenerCheck(): could not register the cleanup hook");
    g_env = env;
  }
  round_t round = {.family = family == 6 ? AF_INET6 : AF_INET, .ports = data};
  if ((family != 4 && family != 6) || text_length >= sizeof(text) - 1 || inet_pton(round.family, text, round.address) != 1)
    return throw_error(env, "listenerCheck(): the address must be an IP literal of the given family (4 or 6)");
  for (size_t i = 0; i < count; i++)
    if (round.ports[i] < 1 || round.ports[i] > 65535) return throw_error(env, "listenerCheck(): ports must be in 1…65535");

  napi_value output_buffer, output;
  void* output_data;
  if (napi_create_arraybuffer(env, count * 3 * sizeof(int32_t), &output_data, &output_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, count * 3, output_buffer, 0, &output) != napi_ok)
    return throw_error(env, "listenerCheck(): out of memory");
  round.results = output_data;
  round.next = calloc(count, sizeof(uint32_t));
  if (round.next == NULL) return throw_error(env, "listenerCheck(): out of memory");
  for (size_t i = count; i-- > 0;) {
    uint16_t port = (uint16_t)round.ports[i];
    round.next[i] = g_first[port];
    g_first[port] = (uint32_t)i + 1;
    round.results[i * 3] = LISTEN_NONE;
    round.results[i * 3 + 1] = 0;
    round.results[i * 3 + 2] = 0;
  }
  int error = open_socket();
  if (error == 0) error = dump(&round, AF_INET);
  if (error == 0) error = dump(&round, AF_INET6);
  for (size_t i = 0; i < count; i++) g_first[(uint16_t)round.ports[i]] = 0;
  free(round.next);
  if (error == 0) return output;
  close_socket();
  char message[160];
  snprintf(message, sizeof(message), "listenerCheck: %s", strerror(error));
  napi_value error_object, error_message, error_number;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &error_message) == napi_ok &&
      napi_create_error(env, NULL, error_message, &error_object) == napi_ok && napi_create_int32(env, error, &error_number) == napi_ok &&
      napi_set_named_property(env, error_object, "errno", error_number) == napi_ok)
    napi_throw(env, error_object);
  else
    throw_error(env, message);
  return NULL;
}

napi_status init_listen_diag(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status status = napi_create_function(env, "listenerCheck", NAPI_AUTO_LENGTH, ListenerCheck, NULL, &fn);
  if (status == napi_ok) status = napi_set_named_property(env, exports, "listenerCheck", fn);
  return status;
}
