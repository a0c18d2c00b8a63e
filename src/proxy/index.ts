// The front proxy of spawn mode: connection-level (tcp) or request-level (http).

import { createHttpFront } from './http-proxy.js';
import type { BoundFront, FrontOptions } from './options.js';
import { createTcpFront } from './tcp-proxy.js';

export type { BoundFront, FrontOptions } from './options.js';
export { createHttpFront } from './http-proxy.js';
export { createTcpFront } from './tcp-proxy.js';

export function createFront(kind: 'tcp' | 'http', options: FrontOptions): BoundFront {
  switch (kind) {
    case 'tcp':
      return createTcpFront(options);
    case 'http':
      return createHttpFront(options);
    default:
      throw new TypeError(`unknown front kind ${JSON.stringify(kind)}: expected tcp or http`);
  }
}
