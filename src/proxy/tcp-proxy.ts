// The L4 front: each accepted connection is tunnelled to the next backend.
//
// Two implementations of the same behaviour (connect retry on the next
// backend before the client is read, per-backend connection counts and drain
// reports, connect and idle timeouts, half-close, close(timeoutMs)):
// - tcp-proxy-raw.ts accepts through libuv TCP handles directly, with no
//   net.Socket per side: the default wherever raw-tcp.ts finds the bindings it
//   expects (docs/benchmarks.md, "Raw handles experiment", for what it saves);
//   where the native tunnel (native-tunnel.ts, src/native) was built, that
//   connects to the backends and moves the bytes ("Native tunnel"), otherwise
//   the raw front moves them itself;
// - tcp-proxy-sockets.ts is built on net.Socket only: used when the bindings
//   are missing or differ, when using them would print a deprecation warning
//   (--pending-deprecation), or when SUPERVISE_TCP_FAST=0 asks for it.

import type { BoundFront, FrontOptions } from './options.js';
import { loadRawTcp } from './raw-tcp.js';
import { createRawTcpFront } from './tcp-proxy-raw.js';
import { createSocketTcpFront } from './tcp-proxy-sockets.js';

export { DEFAULT_TCP_IDLE_TIMEOUT_MS } from './tcp-front-base.js';

export function createTcpFront(options: FrontOptions): BoundFront {
  const raw = loadRawTcp();
  return raw === undefined ? createSocketTcpFront(options) : createRawTcpFront(options, raw);
}
