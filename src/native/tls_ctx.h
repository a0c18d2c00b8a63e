// TLS certificates for the fronts: a set of OpenSSL server contexts (one per
// certificate, the first the default) built from PEM text, with SNI choosing
// among them. A set is immutable and reference-counted: a renewal builds a new
// set and swaps the front's pointer; handshakes in progress and open
// connections keep the set they started with.
//
// OpenSSL is node's own (its headers under include/node/openssl, its symbols
// exported by the node binary): see docs/architecture.md, "TLS".

#ifndef SUPERVISE_TLS_CTX_H
#define SUPERVISE_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_CERTS 1024
#define TLS_MAX_HOSTS 4096       // names over all certificates of a set
#define TLS_MAX_PEM (1 << 20)    // one certificate's chain, or one key
#define TLS_REASON_SIZE 256

typedef struct tls_cert_input {
  const char* cert;  // PEM: the certificate, then its chain
  size_t cert_len;
  const char* key;  // PEM: its private key (not encrypted)
  size_t key_len;
  const char* const* hosts;  // exact names and "*.example.com" (one label); none: only as the default
  size_t host_count;
} tls_cert_input_t;

typedef struct tls_set tls_set_t;
typedef struct ssl_st SSL;

/** NULL when this node's OpenSSL can serve TLS (3.x, its symbols exported), else why not (one line). */
const char* tls_unavailable(void);

/**
 * A set of contexts for `certs` (certs[0] the default), or NULL with a
 * one-line reason naming the certificate and what is wrong. One reference,
 * the caller's.
 */
tls_set_t* tls_set_new(const tls_cert_input_t* certs, size_t count, char reason[TLS_REASON_SIZE]);
void tls_set_retain(tls_set_t* set);
void tls_set_release(tls_set_t* set);

/** A server-side SSL on `fd` from the set's default context (SNI may switch it); NULL when out of memory. */
SSL* tls_set_new_ssl(tls_set_t* set, int fd);

/** Whether `host` is a valid name for `hosts:` (an exact DNS name, or "*." and one); used by the binding's checks. */
bool tls_host_valid(const char* host, size_t len);

#endif
