// TLS contexts from PEM text (tls_ctx.h): one SSL_CTX per certificate, the
// Mozilla "intermediate" profile (TLS 1.2 and 1.3; ECDHE/DHE with AES-GCM
// and ChaCha20; groups X25519, P-256, P-384), ALPN http/1.1, SNI by exact
// name then one-label wildcard then the default, and stateless session
// tickets whose keys rotate every 12 hours (the previous key still accepted).
//
// Only functions OpenSSL 3.0 has (Node 20's) are called, and only functions:
// the addon is loaded with RTLD_LAZY, so a node without these symbols still
// loads it (they are bound at their first call, which tls_unavailable()
// guards). Every call that may fail leaves its reason in OpenSSL's error
// queue, which is per thread and shared with node's crypto: it is emptied
// after each use.

#define _GNU_SOURCE  // RTLD_DEFAULT
#include "tls_ctx.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

// Mozilla's intermediate configuration (v5.7): TLS 1.2 suites; TLS 1.3's are OpenSSL's defaults, the same three.
#define CIPHERS_TLS12                                                                                                 \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"        \
  "DHE-RSA-CHACHA20-POLY1305"
#define GROUPS "X25519:prime256v1:secp384r1"
#define TICKET_KEY_LIFE_S (12 * 3600)

typedef struct tls_name {
  char* host;      // lowercase; a wildcard's is its suffix, ".example.com"
  bool wildcard;
  uint32_t index;  // its context
} tls_name_t;

struct tls_set {
  int refs;  // atomic: connections on other threads let go of their set
  size_t count;
  SSL_CTX** contexts;
  tls_name_t* names;
  size_t name_count;
};

// ------------------------------------------------------------ availability

const char* tls_unavailable(void) {
  static const char* const needed[] = {"OpenSSL_version_num", "SSL_CTX_new", "SSL_CTX_set_tlsext_ticket_key_evp_cb", "EVP_MAC_CTX_set_params"};
  for (size_t i = 0; i < sizeof(needed) / sizeof(*needed); i++) {
    if (dlsym(RTLD_DEFAULT, needed[i]) == NULL) return "this node does not export OpenSSL's symbols (a build with a shared or no OpenSSL): TLS is served by the JavaScript front";
  }
  unsigned long version = OpenSSL_version_num();
  if ((version >> 28) != 3) return "this node's OpenSSL is not 3.x, the ABI the addon was built for: TLS is served by the JavaScript front";
  return NULL;
}

// ------------------------------------------------------------ session ticket keys

typedef struct ticket_key {
  unsigned char name[16], aes[32], hmac[32];
  time_t born;  // 0: none
} ticket_key_t;

// One pair for the process: a ticket a context of one set issued resumes on any set (renewals included) while its key lives.
static ticket_key_t ticket_keys[2];  // [0] the current, [1] the previous
static pthread_mutex_t ticket_lock = PTHREAD_MUTEX_INITIALIZER;

static bool ticket_keys_fresh(time_t now) {
  if (ticket_keys[0].born != 0 && now - ticket_keys[0].born < TICKET_KEY_LIFE_S) return true;
  ticket_key_t next;
  if (RAND_bytes(next.name, sizeof(next.name)) != 1 || RAND_bytes(next.aes, sizeof(next.aes)) != 1 || RAND_bytes(next.hmac, sizeof(next.hmac)) != 1) {
    return ticket_keys[0].born != 0;  // no randomness now: the current key a while longer (or no ticket)
  }
  next.born = now;
  ticket_keys[1] = ticket_keys[0];
  ticket_keys[0] = next;
  return true;
}

static bool ticket_hmac(EVP_MAC_CTX* mac, unsigned char* key) {
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char*)"SHA256", 0);
  params[2] = OSSL_PARAM_construct_end();
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

/** OpenSSL's ticket callback: 1 = done, 2 = resumed and a new ticket to issue, 0 = unknown key (full handshake), -1 = failure. */
static int ticket_cb(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  int result = -1;
  pthread_mutex_lock(&ticket_lock);
  time_t now = time(NULL);
  if (!ticket_keys_fresh(now)) goto done;
  if (encrypt) {
    ticket_key_t* key = &ticket_keys[0];
    if (RAND_bytes(iv, 16) != 1) goto done;
    memcpy(name, key->name, 16);
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 && ticket_hmac(mac, key->hmac)) result = 1;
    goto done;
  }
  result = 0;
  for (int i = 0; i < 2; i++) {
    ticket_key_t* key = &ticket_keys[i];
    if (key->born == 0 || now - key->born >= 2 * TICKET_KEY_LIFE_S || memcmp(name, key->name, 16) != 0) continue;
    bool ok = EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 && ticket_hmac(mac, key->hmac);
    // Renewed (a new ticket issued after this resumption) when it was the previous key's, and always under TLS 1.3, as
    // nginx does: a 1.3 client uses a ticket once (RFC 8446 C.4), so without a new one its next connection is a full handshake.
    bool renew = i != 0 || SSL_version(ssl) >= TLS1_3_VERSION;
    result = ok ? (renew ? 2 : 1) : -1;
    break;
  }
done:
  pthread_mutex_unlock(&ticket_lock);
  return result;
}

// ------------------------------------------------------------ SNI and ALPN

bool tls_host_valid(const char* host, size_t len) {
  if (len >= 2 && host[0] == '*' && host[1] == '.') {
    host += 2;
    len -= 2;
  }
  if (len == 0 || len > 253 || host[0] == '.' || host[len - 1] == '.') return false;
  for (size_t i = 0; i < len; i++) {
    char c = host[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && host[i - 1] != '.');
    if (!ok) return false;
  }
  return true;
}

/** The context for the client's SNI: an exact name, else a wildcard one label up, else the default (0). */
static uint32_t context_for(const tls_set_t* set, const char* sni) {
  const char* dot = strchr(sni, '.');
  for (size_t i = 0; i < set->name_count; i++) {
    if (!set->names[i].wildcard && strcasecmp(set->names[i].host, sni) == 0) return set->names[i].index;
  }
  if (dot == NULL || dot == sni) return 0;
  for (size_t i = 0; i < set->name_count; i++) {
    if (set->names[i].wildcard && strcasecmp(set->names[i].host, dot) == 0) return set->names[i].index;
  }
  return 0;
}

static int servername_cb(SSL* ssl, int* alert, void* arg) {
  const tls_set_t* set = arg;
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (sni == NULL) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
  uint32_t index = context_for(set, sni);
  if (index != 0 && SSL_set_SSL_CTX(ssl, set->contexts[index]) == NULL) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

/** ALPN: http/1.1 when the client offers it; otherwise none (a client offering only h2 gets HTTP/1.1 or gives up). */
static int alpn_cb(SSL* ssl, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len, void* arg) {
  for (unsigned int i = 0; i < in_len;) {
    unsigned int len = in[i];
    if (i + 1 + len > in_len) break;
    if (len == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *out_len = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// ------------------------------------------------------------ loading a certificate

/** A key with a passphrase is refused rather than prompted for on the terminal (OpenSSL's default). */
static int no_passphrase(char* buf, int size, int rwflag, void* arg) {
  return -1;
}

/** `what`, then OpenSSL's reason for the last error; the queue emptied. */
static void fail(char* why, const char* what) {
  unsigned long error = ERR_peek_last_error();
  const char* detail = error != 0 ? ERR_reason_error_string(error) : NULL;
  if (detail != NULL) snprintf(why, TLS_REASON_SIZE, "%s (%s)", what, detail);
  else snprintf(why, TLS_REASON_SIZE, "%s", what);
  ERR_clear_error();
}

static bool configure(SSL_CTX* ctx, tls_set_t* set) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  // Partial writes, and a retry from a buffer that moved: the front's output buffer grows (realloc) between tries.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  // Read ahead (nginx does too): a record's header and body, and the records a flight holds, in one read, not two
  // reads a record (10 reads a full handshake and request were 2). Safe with edge-triggered epoll: a connection's
  // `readable` flag is cleared only by WANT_READ, so bytes OpenSSL holds are read before the next edge is awaited.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // resumption by tickets only: no per-session memory on the server
  SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
  SSL_CTX_set_tlsext_servername_arg(ctx, set);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
  return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 && SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) == 1 &&
         SSL_CTX_set1_groups_list(ctx, GROUPS) == 1 && SSL_CTX_set_dh_auto(ctx, 1) == 1 &&
         SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) == 1;
}

/** The certificate, its chain and its key into `ctx`; false with `why` set. */
static bool load_pem(SSL_CTX* ctx, const tls_cert_input_t* in, char* why) {
  BIO* bio = BIO_new_mem_buf(in->cert, (int)in->cert_len);
  if (bio == NULL) return fail(why, "out of memory"), false;
  X509* leaf = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
  if (leaf == NULL) {
    BIO_free(bio);
    return fail(why, "the certificate is not a PEM certificate"), false;
  }
  int used = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);  // the context holds its own reference
  if (used != 1) {
    BIO_free(bio);
    return fail(why, "the certificate cannot be used"), false;
  }
  X509* link;
  while ((link = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, link) != 1) {  // takes `link` only when it succeeds
      X509_free(link);
      BIO_free(bio);
      return fail(why, "a certificate of the chain cannot be used"), false;
    }
  }
  BIO_free(bio);
  unsigned long end = ERR_peek_last_error();
  if (end != 0 && !(ERR_GET_LIB(end) == ERR_LIB_PEM && ERR_GET_REASON(end) == PEM_R_NO_START_LINE)) {
    return fail(why, "the chain after the first certificate does not parse"), false;
  }
  ERR_clear_error();  // the end of the chain: "no start line"

  bio = BIO_new_mem_buf(in->key, (int)in->key_len);
  if (bio == NULL) return fail(why, "out of memory"), false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  if (key == NULL) {
    bool encrypted = memmem(in->key, in->key_len, "ENCRYPTED", 9) != NULL;
    return fail(why, encrypted ? "the key is encrypted; supervise needs it without a passphrase" : "the key is not a PEM private key"), false;
  }
  used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) return fail(why, "the key does not match the certificate"), false;
  return true;
}

// ------------------------------------------------------------ sets

static void set_free(tls_set_t* set) {
  for (size_t i = 0; i < set->count; i++) SSL_CTX_free(set->contexts[i]);  // NULL-safe
  for (size_t i = 0; i < set->name_count; i++) free(set->names[i].host);
  free(set->contexts);
  free(set->names);
  free(set);
}

static bool add_names(tls_set_t* set, const tls_cert_input_t* in, uint32_t index) {
  for (size_t j = 0; j < in->host_count; j++) {
    const char* host = in->hosts[j];
    bool wildcard = host[0] == '*';
    char* copy = strdup(wildcard ? host + 1 : host);
    if (copy == NULL) return false;
    for (char* c = copy; *c != '\0'; c++) {
      if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    }
    set->names[set->name_count++] = (tls_name_t){copy, wildcard, index};
  }
  return true;
}

tls_set_t* tls_set_new(const tls_cert_input_t* certs, size_t count, char reason[TLS_REASON_SIZE]) {
  const char* unavailable = tls_unavailable();
  if (unavailable != NULL) {
    snprintf(reason, TLS_REASON_SIZE, "%s", unavailable);
    return NULL;
  }
  if (count == 0 || count > TLS_MAX_CERTS) {
    snprintf(reason, TLS_REASON_SIZE, "between 1 and %d certificates, not %zu", TLS_MAX_CERTS, count);
    return NULL;
  }
  size_t hosts = 0;
  for (size_t i = 0; i < count; i++) hosts += certs[i].host_count;
  if (hosts > TLS_MAX_HOSTS) {
    snprintf(reason, TLS_REASON_SIZE, "at most %d host names over all certificates, not %zu", TLS_MAX_HOSTS, hosts);
    return NULL;
  }
  ERR_clear_error();
  tls_set_t* set = calloc(1, sizeof(*set));
  if (set != NULL) {
    set->contexts = calloc(count, sizeof(*set->contexts));
    set->names = calloc(hosts > 0 ? hosts : 1, sizeof(*set->names));
  }
  if (set == NULL || set->contexts == NULL || set->names == NULL) {
    if (set != NULL) set_free(set);
    snprintf(reason, TLS_REASON_SIZE, "out of memory");
    return NULL;
  }
  set->refs = 1;
  set->count = count;
  for (size_t i = 0; i < count; i++) {
    const tls_cert_input_t* in = &certs[i];
    char why[TLS_REASON_SIZE] = "out of memory";
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    set->contexts[i] = ctx;
    bool ok = ctx != NULL;
    if (!ok) fail(why, "out of memory");
    else if (!configure(ctx, set)) (ok = false), fail(why, "OpenSSL refused the TLS settings");
    else if (!load_pem(ctx, in, why)) ok = false;
    else if (!add_names(set, in, (uint32_t)i)) (ok = false), snprintf(why, sizeof(why), "out of memory");
    if (!ok) {
      const char* label = in->host_count > 0 ? in->hosts[0] : i == 0 ? "the default" : "no hosts";
      snprintf(reason, TLS_REASON_SIZE, "certificate %zu (%.64s): %.160s", i + 1, label, why);
      set_free(set);
      ERR_clear_error();
      return NULL;
    }
  }
  return set;
}

void tls_set_retain(tls_set_t* set) {
  __atomic_add_fetch(&set->refs, 1, __ATOMIC_RELAXED);
}

void tls_set_release(tls_set_t* set) {
  if (set != NULL && __atomic_sub_fetch(&set->refs, 1, __ATOMIC_ACQ_REL) == 0) set_free(set);
}

SSL* tls_set_new_ssl(tls_set_t* set, int fd) {
  SSL* ssl = SSL_new(set->contexts[0]);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);  // NULL-safe
    ERR_clear_error();
    return NULL;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}
