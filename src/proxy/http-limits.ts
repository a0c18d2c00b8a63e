// The limits of an HTTP/1 message at the front, as the JavaScript front uses
// them. Their one source is src/native/http_limits.h (the native parser's),
// generated into core/dp-constants.ts with the data plane's other constants.

export {
  /** A request head, every line included: above it, 431. */
  HP_MAX_HEAD as MAX_HEAD,
  /** A response head: above it, 502. */
  HP_MAX_RESPONSE_HEAD as MAX_RESPONSE_HEAD,
  /** Header lines of a head (node's default maxHeadersCount): above it, 431. */
  HP_MAX_HEADERS as MAX_HEADERS,
} from '../core/dp-constants.js';
