// systemd's notify protocol over Unix datagram sockets: sending a message to
// a NOTIFY_SOCKET (what the supervisor says to systemd), and a receiving
// socket that tells JavaScript each datagram with the sender's pid (what the
// supervisor hears from its spawn workers). Node has no Unix datagram
// sockets, and the sender's pid only arrives as SCM_CREDENTIALS ancillary
// data, which is why this is C. Used by src/notify/native.ts only.
//
// A path starting with `@` is in the abstract namespace (`@` becomes the
// leading NUL byte), as systemd writes it in NOTIFY_SOCKET.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/** systemd's own limit for one notify message (NOTIFY_BUFFER_MAX is PIPE_BUF). */
#define NOTIFY_MAX 4096
/** Datagrams read per wake-up, so that a flood from one sender cannot hold the loop. */
#define NOTIFY_BATCH 64
/** A sender may attach descriptors (FDSTORE=1); room for the most one datagram can carry, all closed. */
#define NOTIFY_MAX_FDS 253

typedef struct {
  uv_poll_t poll;
  int fd;
  napi_env env;
  napi_ref on_message;
  napi_async_context async;
  /** notifyClose() ran, or the JS object was collected while open: the handle is closing. */
  bool closing;
  /** uv_close() finished: the descriptor is closed. */
  bool handle_closed;
  /** The JS object still refers to this receiver (until its finalizer). */
  bool wrapped;
  /** Inside onMessage: a close from there keeps the callback's async context until it returns. */
  bool delivering;
} receiver_t;

/** Throws an Error whose `code` is the errno's name (EADDRINUSE …); NULL, for returning. */
static napi_value throw_errno(napi_env env, const char* what, int error) {
  char message[256];
  snprintf(message, sizeof(message), "%s: %s", what, uv_strerror(error));
  napi_throw_error(env, uv_err_name(error), message);
  return NULL;
}

/** The socket address of `path`: its length, or a negative errno (empty, or longer than sun_path). */
static int unix_address(const char* path, size_t length, struct sockaddr_un* address) {
  memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  if (length == 0) return -EINVAL;
  if (path[0] == '@') {
    if (length > sizeof(address->sun_path)) return -ENAMETOOLONG;
    memcpy(address->sun_path + 1, path + 1, length - 1); // the leading NUL marks the abstract namespace
    return (int)(offsetof(struct sockaddr_un, sun_path) + length);
  }
  if (length >= sizeof(address->sun_path)) return -ENAMETOOLONG;
  memcpy(address->sun_path, path, length);
  return (int)(offsetof(struct sockaddr_un, sun_path) + length + 1);
}

/** The string argument `value` as the socket address; false (with an exception pending) if it is not one. */
static bool get_address(napi_env env, napi_value value, const char* what, struct sockaddr_un* address, socklen_t* address_length) {
  char path[sizeof(address->sun_path) + 2];
  size_t length;
  if (napi_get_value_string_utf8(env, value, path, sizeof(path), &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "the socket path must be a string");
    return false;
  }
  int result = unix_address(path, length, address);
  if (result < 0) {
    throw_errno(env, what, result);
    return false;
  }
  *address_length = (socklen_t)result;
  return true;
}

/** notifySend(path, message: string | Buffer): the bytes sent. Never blocks: a full queue throws EAGAIN. */
static napi_value NotifySend(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  size_t argc = 2;
  struct sockaddr_un address;
  socklen_t address_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "notifySend(path, message): two arguments expected");
    return NULL;
  }
  if (!get_address(env, argv[0], "notifySend", &address, &address_length)) return NULL;

  bool is_buffer = false;
  void* data = NULL;
  char* copy = NULL;
  size_t length = 0;
  if (napi_is_buffer(env, argv[1], &is_buffer) == napi_ok && is_buffer) {
    if (napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok) {
      napi_throw_type_error(env, NULL, "notifySend: unreadable buffer");
      return NULL;
    }
  } else {
    if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &length) != napi_ok) {
      napi_throw_type_error(env, NULL, "notifySend: the message must be a string or a Buffer");
      return NULL;
    }
    copy = malloc(length + 1);
    if (copy == NULL) return throw_errno(env, "notifySend", -ENOMEM);
    if (napi_get_value_string_utf8(env, argv[1], copy, length + 1, &length) != napi_ok) {
      free(copy);
      napi_throw_type_error(env, NULL, "notifySend: the message must be a string or a Buffer");
      return NULL;
    }
    data = copy;
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int error = errno;
    free(copy);
    return throw_errno(env, "notifySend: socket", -error);
  }
  ssize_t sent;
  do {
    sent = sendto(fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr*)&address, address_length);
  } while (sent < 0 && errno == EINTR);
  int error = sent < 0 ? errno : 0;
  close(fd);
  free(copy);
  if (sent < 0) return throw_errno(env, "notifySend", -error);
  if (napi_create_int64(env, sent, &result) != napi_ok) return NULL;
  return result;
}

/** Frees the receiver once both its handle is closed and its JS object is gone. */
static void release(receiver_t* receiver) {
  if (receiver->handle_closed && !receiver->wrapped) free(receiver);
}

/** Drops the callback and its async context; done while the env is sure to be alive (close, or the finalizer). */
static void release_callback(receiver_t* receiver) {
  if (receiver->on_message == NULL) return;
  napi_delete_reference(receiver->env, receiver->on_message);
  napi_async_destroy(receiver->env, receiver->async);
  receiver->on_message = NULL;
}

/** No napi calls here: at exit this runs after node has torn the env down. */
static void on_handle_closed(uv_handle_t* handle) {
  receiver_t* receiver = (receiver_t*)handle->data;
  close(receiver->fd);
  receiver->fd = -1;
  receiver->handle_closed = true;
  release(receiver);
}

static void start_closing(receiver_t* receiver) {
  if (receiver->closing) return;
  receiver->closing = true;
  if (!receiver->delivering) release_callback(receiver);
  uv_poll_stop(&receiver->poll);
  uv_close((uv_handle_t*)&receiver->poll, on_handle_closed);
}

/** The JS object was collected: close the socket if the program forgot to. */
static void finalize_receiver(napi_env env, void* data, void* hint) {
  receiver_t* receiver = (receiver_t*)data;
  receiver->wrapped = false;
  start_closing(receiver);
  release(receiver);
}

/** onMessage(message: Buffer, pid, uid, gid, truncated); a throwing listener is an uncaught exception, as in any node callback. */
static bool deliver(receiver_t* receiver, const char* data, size_t length, const struct ucred* credentials, bool truncated) {
  napi_env env = receiver->env;
  napi_handle_scope scope;
  bool delivered = false;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  napi_value fn, recv, argv[5], result;
  void* copy;
  if (receiver->on_message != NULL && napi_get_reference_value(env, receiver->on_message, &fn) == napi_ok && fn != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_buffer_copy(env, length, data, &copy, &argv[0]) == napi_ok &&
      napi_create_int32(env, credentials == NULL ? 0 : credentials->pid, &argv[1]) == napi_ok &&
      napi_create_int64(env, credentials == NULL ? -1 : (int64_t)credentials->uid, &argv[2]) == napi_ok &&
      napi_create_int64(env, credentials == NULL ? -1 : (int64_t)credentials->gid, &argv[3]) == napi_ok &&
      napi_get_boolean(env, truncated, &argv[4]) == napi_ok) {
    delivered = true;
    bool pending = false;
    receiver->delivering = true;
    napi_status status = napi_make_callback(env, receiver->async, recv, fn, 5, argv, &result);
    receiver->delivering = false;
    if (receiver->closing) release_callback(receiver);
    if (status != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
      delivered = false;
    }
  }
  napi_close_handle_scope(env, scope);
  return delivered;
}

/** Reads one datagram: 1 (delivered or dropped), 0 (nothing queued), -1 (stop: an error, or the listener failed). */
static int receive_one(receiver_t* receiver) {
  char data[NOTIFY_MAX + 1];
  union {
    struct cmsghdr align;
    char buffer[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * NOTIFY_MAX_FDS)];
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof(control.buffer)};
  ssize_t length;
  do {
    length = recvmsg(receiver->fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (length < 0 && errno == EINTR);
  if (length < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;

  const struct ucred* credentials = NULL;
  for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET) continue;
    if (header->cmsg_type == SCM_CREDENTIALS && header->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
      credentials = (const struct ucred*)CMSG_DATA(header);
    } else if (header->cmsg_type == SCM_RIGHTS) {
      // Descriptors nobody asked for: close them, or every FDSTORE=1 would leak one.
      size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int* fds = (int*)CMSG_DATA(header);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, fds + i, sizeof(fd));
        close(fd);
      }
    }
  }
  // A datagram longer than NOTIFY_MAX arrives cut: told as truncated, so the reader can say so instead of acting on half a message.
  bool truncated = (message.msg_flags & MSG_TRUNC) != 0 || (size_t)length > NOTIFY_MAX;
  size_t kept = (size_t)length > NOTIFY_MAX ? NOTIFY_MAX : (size_t)length;
  return deliver(receiver, data, kept, credentials, truncated) ? 1 : -1;
}

static void on_readable(uv_poll_t* handle, int status, int events) {
  receiver_t* receiver = (receiver_t*)handle->data;
  if (status < 0) return; // the socket is broken: nothing more will arrive; the owner closes it
  for (int i = 0; i < NOTIFY_BATCH && !receiver->closing; i++) {
    if (receive_one(receiver) <= 0) break;
  }
}

/** The receiver wrapped in `object`, or NULL (with an exception pending). */
static receiver_t* get_receiver(napi_env env, napi_callback_info info, napi_value* argv, size_t* argc, const char* usage) {
  void* data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok || *argc < 1 || napi_unwrap(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return (receiver_t*)data;
}

/**
 * notifyListen(path, onMessage): binds a datagram socket at `path` (it must
 * not exist) with SO_PASSCRED and calls onMessage for each datagram; a handle
 * for notifyClose / notifyRef. Throws (code EADDRINUSE …) when it cannot bind.
 */
static napi_value NotifyListen(napi_env env, napi_callback_info info) {
  napi_value argv[2], handle, name;
  size_t argc = 2;
  napi_valuetype type;
  struct sockaddr_un address;
  socklen_t address_length;
  uv_loop_t* loop;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_typeof(env, argv[1], &type) != napi_ok ||
      type != napi_function) {
    napi_throw_type_error(env, NULL, "notifyListen(path, onMessage): onMessage must be a function");
    return NULL;
  }
  if (!get_address(env, argv[0], "notifyListen", &address, &address_length)) return NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, "notifyListen: no event loop", -EINVAL);

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "notifyListen: socket", -errno);
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0 || bind(fd, (struct sockaddr*)&address, address_length) != 0) {
    int error = errno;
    close(fd);
    return throw_errno(env, "notifyListen", -error);
  }

  receiver_t* receiver = calloc(1, sizeof(*receiver));
  if (receiver == NULL) {
    close(fd);
    return throw_errno(env, "notifyListen", -ENOMEM);
  }
  receiver->fd = fd;
  receiver->env = env;
  if (napi_create_reference(env, argv[1], 1, &receiver->on_message) != napi_ok) {
    close(fd);
    free(receiver);
    return throw_errno(env, "notifyListen: could not keep the callback", -ENOMEM);
  }
  if (napi_create_string_utf8(env, "supervise:notify", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &receiver->async) != napi_ok) {
    napi_delete_reference(env, receiver->on_message);
    close(fd);
    free(receiver);
    return throw_errno(env, "notifyListen: could not set up the callback", -ENOMEM);
  }
  int status = uv_poll_init(loop, &receiver->poll, fd);
  if (status != 0) {
    napi_async_destroy(env, receiver->async);
    napi_delete_reference(env, receiver->on_message);
    close(fd);
    free(receiver);
    return throw_errno(env, "notifyListen: poll", status);
  }
  receiver->poll.data = receiver;
  // From here on the handle exists: every failure goes through start_closing, which closes the descriptor.
  receiver->handle_closed = false;
  status = uv_poll_start(&receiver->poll, UV_READABLE, on_readable);
  if (status != 0) {
    start_closing(receiver);
    return throw_errno(env, "notifyListen: poll", status);
  }
  if (napi_create_object(env, &handle) != napi_ok || napi_wrap(env, handle, receiver, finalize_receiver, NULL, NULL) != napi_ok) {
    start_closing(receiver);
    return throw_errno(env, "notifyListen: could not create the handle", -ENOMEM);
  }
  receiver->wrapped = true;
  return handle;
}

/** notifyClose(handle): stops receiving and closes the socket (a second close does nothing). The path is the caller's to remove. */
static napi_value NotifyClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  receiver_t* receiver = get_receiver(env, info, argv, &argc, "notifyClose(handle): a handle from notifyListen expected");
  if (receiver != NULL) start_closing(receiver);
  return NULL;
}

/** notifyRef(handle, ref): whether the open socket keeps the event loop alive (it does at first, as a server). */
static napi_value NotifyRef(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = 2;
  bool ref = true;
  receiver_t* receiver = get_receiver(env, info, argv, &argc, "notifyRef(handle, ref): a handle from notifyListen expected");
  if (receiver == NULL) return NULL;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &ref);
  if (receiver->closing) return NULL;
  if (ref) {
    uv_ref((uv_handle_t*)&receiver->poll);
  } else {
    uv_unref((uv_handle_t*)&receiver->poll);
  }
  return NULL;
}

napi_status init_notify(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"notifySend", NULL, NotifySend, NULL, NULL, NULL, napi_default, NULL},
      {"notifyListen", NULL, NotifyListen, NULL, NULL, NULL, napi_default, NULL},
      {"notifyClose", NULL, NotifyClose, NULL, NULL, NULL, napi_default, NULL},
      {"notifyRef", NULL, NotifyRef, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods);
}
