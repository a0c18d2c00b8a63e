// The L4 front: each accepted connection is tunnelled to the next backend.
//
// Two data paths with the same behaviour (connect retry on the next backend
// before the client is read, the queue while no backend is in rotation,
// per-backend connection counts and drain reports, connect and idle timeouts,
// half-close, close(timeoutMs)), the same tests run on both:
// - native (http-native.ts with the kind 'tcp', src/native/http_tcp.c): the
//   data-plane threads (--front-threads) accept, decide from the published
//   snapshot and move the bytes; JavaScript publishes and takes batched
//   events. The default wherever the addon was built (Linux); it alone ends
//   HTTP/1.x keep-alive connections at a response boundary when their
//   backend drains;
// - tcp-proxy-sockets.ts, on net.Socket only: the portable fallback (no
//   addon, another platform), with SUPERVISE_TCP_NATIVE=0, or terminating TLS
//   where the addon cannot (no httpSetTls).

import { createNativeTcpFront } from './http-native.js';
import type { BoundFront, FrontOptions } from './options.js';
import { createSocketTcpFront } from './tcp-proxy-sockets.js';

export { DEFAULT_TCP_IDLE_TIMEOUT_MS } from './tcp-front-base.js';

export function createTcpFront(options: FrontOptions): BoundFront {
  return createNativeTcpFront(options) ?? createSocketTcpFront(options);
}
