// The L4 front: each accepted connection is tunnelled to the next backend.
//
// Two data paths with the same behaviour (connect retry on the next backend
// before the client is read, the queue while no backend is in rotation,
// per-backend connection counts and drain reports, connect and idle timeouts,
// half-close, close(timeoutMs)), the same tests run on both:
// - tcp-proxy-native.ts: the C data plane (src/native/tunnel.c) listens,
//   accepts and moves the bytes; JavaScript chooses. The default wherever the
//   addon was built (Linux); it alone ends HTTP/1.x keep-alive connections at
//   a response boundary when their backend drains;
// - tcp-proxy-sockets.ts, on net.Socket only: the portable fallback (no
//   addon, another platform), or with SUPERVISE_TCP_NATIVE=0.

import { loadNativeTunnels } from './native-tunnel.js';
import type { BoundFront, FrontOptions } from './options.js';
import { createNativeTcpFront } from './tcp-proxy-native.js';
import { createSocketTcpFront } from './tcp-proxy-sockets.js';

export { DEFAULT_TCP_IDLE_TIMEOUT_MS } from './tcp-front-base.js';

export function createTcpFront(options: FrontOptions): BoundFront {
  // Terminating TLS (plaintext to the backends) runs in C where the addon has it (tunnelSetTls), else on the JavaScript path.
  const loaded = loadNativeTunnels();
  const native = options.tls === undefined || loaded?.setTls !== undefined ? loaded : undefined;
  return native === undefined ? createSocketTcpFront(options) : createNativeTcpFront(options, native);
}
