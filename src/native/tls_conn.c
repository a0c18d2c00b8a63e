// One TLS connection over a non-blocking socket (tls_conn.h). The server
// handshake runs inside the first SSL_read (or SSL_write): OpenSSL says what
// it waits for (WANT_READ, WANT_WRITE), which becomes the caller's readable
// or writable flag going false; the loop's next edge for that direction sets
// it again and the call is retried. A read that waits for a write (a TLS 1.3
// KeyUpdate answered) keeps `readable`, so the retry comes with the next
// writable edge; a write that waits for a read keeps `writable`, likewise.
//
// OpenSSL's error queue is per thread and shared with node's crypto on the
// main thread: it is emptied before each call (SSL_get_error needs that) and
// after a failure.

#include "tls_conn.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

struct tls_conn {
  SSL* ssl;
  tls_set_t* set;  // held: SNI picks from it during the handshake
  bool ready;      // the handshake is over
};

static uint64_t handshakes, failures;  // atomic: the data-plane threads count

tls_conn_t* tls_conn_new(tls_set_t* set, int fd) {
  tls_conn_t* t = calloc(1, sizeof(*t));
  if (t == NULL) return NULL;
  t->ssl = tls_set_new_ssl(set, fd);
  if (t->ssl == NULL) {
    free(t);
    return NULL;
  }
  tls_set_retain(set);
  t->set = set;
  return t;
}

void tls_conn_free(tls_conn_t* t) {
  if (t == NULL) return;
  if (!t->ready) __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);  // closed (plaintext, garbage, a timeout, a scan) before its handshake ended
  SSL_free(t->ssl);
  tls_set_release(t->set);
  free(t);
}

bool tls_conn_ready(const tls_conn_t* t) {
  return t->ready;
}

static void note_ready(tls_conn_t* t) {
  if (t->ready || !SSL_is_init_finished(t->ssl)) return;
  t->ready = true;
  __atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
}

/** What an SSL_read or SSL_write that returned `ret` <= 0 means, as recv/send would say it. */
static ssize_t outcome(tls_conn_t* t, int ret, int saved_errno, bool* readable, bool* writable) {
  int error = SSL_get_error(t->ssl, ret);
  note_ready(t);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      *readable = false;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      *writable = false;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;  // close_notify (or, with SSL_OP_IGNORE_UNEXPECTED_EOF, the TCP end)
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (saved_errno == 0) return 0;  // the end of the stream
      errno = saved_errno;
      return -1;
    default:  // SSL_ERROR_SSL: not TLS, a failed handshake (a version or cipher refused), a bad record
      ERR_clear_error();
      errno = ECONNRESET;
      return -1;
  }
}

ssize_t tls_conn_recv(tls_conn_t* t, void* data, size_t len, bool* readable, bool* writable) {
  ERR_clear_error();
  errno = 0;
  int ret = SSL_read(t->ssl, data, len > INT_MAX ? INT_MAX : (int)len);
  if (ret > 0) {
    note_ready(t);
    return ret;
  }
  return outcome(t, ret, errno, readable, writable);
}

ssize_t tls_conn_send(tls_conn_t* t, const void* data, size_t len, bool* readable, bool* writable) {
  ERR_clear_error();
  errno = 0;
  int ret = SSL_write(t->ssl, data, len > INT_MAX ? INT_MAX : (int)len);
  if (ret > 0) {
    note_ready(t);
    return ret;
  }
  ssize_t result = outcome(t, ret, errno, readable, writable);
  if (result == 0) {
    errno = EPIPE;  // a write cannot end the stream: the peer did
    return -1;
  }
  return result;
}

void tls_conn_shutdown(tls_conn_t* t) {
  if (!t->ready) return;
  ERR_clear_error();
  SSL_shutdown(t->ssl);  // queues and sends close_notify; the peer's is not awaited
  ERR_clear_error();
}

void tls_conn_counts(uint64_t counts[2]) {
  counts[0] = __atomic_load_n(&handshakes, __ATOMIC_RELAXED);
  counts[1] = __atomic_load_n(&failures, __ATOMIC_RELAXED);
}
