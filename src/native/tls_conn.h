// One TLS connection over a non-blocking socket in an edge-triggered loop:
// the handshake happens inside the first reads (and writes), records are read
// and written with recv(2)/send(2)'s contract, and what OpenSSL waits for is
// reported through the connection's readable/writable flags, which the loop's
// epoll events set again. Nothing blocks.

#ifndef SUPERVISE_TLS_CONN_H
#define SUPERVISE_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls_ctx.h"

typedef struct tls_conn tls_conn_t;

/** A server-side TLS connection on `fd` with the set's certificates (held until freed); NULL when out of memory. */
tls_conn_t* tls_conn_new(tls_set_t* set, int fd);
void tls_conn_free(tls_conn_t* t);
/** Whether the handshake is over (the header timeout bounds it until then). */
bool tls_conn_ready(const tls_conn_t* t);

/**
 * As recv(2): plaintext bytes, 0 at the end (close_notify or the TCP end),
 * or -1 with errno: EAGAIN when OpenSSL waits (it cleared *readable or
 * *writable: the loop sets them again on the socket's next event), another
 * (ECONNRESET: a handshake or record that fails, e.g. plaintext or garbage).
 */
ssize_t tls_conn_recv(tls_conn_t* t, void* data, size_t len, bool* readable, bool* writable);
/** As send(2), with recv's conventions for what OpenSSL waits for. */
ssize_t tls_conn_send(tls_conn_t* t, const void* data, size_t len, bool* readable, bool* writable);
/** Sends close_notify (best effort: it is not waited for). */
void tls_conn_shutdown(tls_conn_t* t);

/** Process-wide counts since start: [0] handshakes completed, [1] connections that failed before theirs completed. */
void tls_conn_counts(uint64_t counts[2]);

#endif
