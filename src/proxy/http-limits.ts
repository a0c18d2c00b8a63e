// The limits of an HTTP/1 message at the front, as the JavaScript front uses
// them. Their one source is src/native/http_limits.h (the native parser's):
// these copies are checked against it by test/unit/http-limits.test.ts.

/** A request head, every line included: above it, 431. */
export const MAX_HEAD = 32768;
/** A response head: above it, 502. */
export const MAX_RESPONSE_HEAD = 65536;
/** Header lines of a head (node's default maxHeadersCount): above it, 431. */
export const MAX_HEADERS = 2000;
