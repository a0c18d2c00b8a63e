// The limits of an HTTP/1 message at the front, in one place: the native
// parser (http_parse.c) uses them, and scripts/gen-dp-constants.mjs writes
// them into src/core/dp-constants.ts for the JavaScript front (a unit test
// fails when that copy is stale). One `#define HP_NAME value` a line, plain decimal.

#ifndef SUPERVISE_HTTP_LIMITS_H
#define SUPERVISE_HTTP_LIMITS_H

#define HP_MAX_HEAD 32768            // a request head (every line, the empty one included): above it, 431 (--max-header-size's default)
#define HP_MAX_HEAD_LIMIT 1048576    // the largest --max-header-size
#define HP_MAX_RESPONSE_HEAD 65536   // a response head: above it, 502
#define HP_MAX_HEADERS 2000          // header lines of a head (node's default maxHeadersCount): above it, 431
#define HP_MAX_CHUNK_EXT 4096        // a chunk's extensions (";name=value..."): above it, 400
#define HP_MAX_TRAILERS 32768        // the trailer section of a chunked body: above it, 400

// A limit as a string literal, for messages.
#define HP_STR_(x) #x
#define HP_STR(x) HP_STR_(x)

#endif
