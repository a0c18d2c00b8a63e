// The http front as an edge (issue 17, SPEC §12), on both data paths: long
// rewritten paths, forwarded headers by trust, the timeouts of an edge.

import assert from 'node:assert/strict';
import net from 'node:net';
import { before, describe, it } from 'node:test';
import { createJavaScriptHttpFront, type HttpFrontLike, type HttpFrontOptions } from '../../src/proxy/http-proxy.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { RoutedRegistry } from '../../src/proxy/routed-registry.js';
import type { BackendsFactory } from '../../src/proxy/front-base.js';
import { recordEvents, request, startHttpBackend, useCleanup } from '../helpers/proxy-fixtures.js';

const TIMEOUT = { timeout: 20_000 };
const defer = useCleanup();
const nativeBuilt = nativeTunnelPath() !== undefined;
type CreateFront = (options: HttpFrontOptions, backends?: BackendsFactory) => HttpFrontLike;
const PATHS: Array<[string, CreateFront]> = [
  ['native', (options, backends) => createNativeHttpFront(options, backends) ?? assert.fail('the native http front is not available')],
  ['javascript', createJavaScriptHttpFront],
];

for (const [path, create] of PATHS) {
  describe(`the http front as an edge (${path})`, { skip: path === 'native' && !nativeBuilt ? 'native module not built' : false }, () => {
    let createHttpFront: CreateFront = create;
    before(() => {
      createHttpFront = create;
    });

    async function startFront(options: Partial<HttpFrontOptions> = {}, backends?: BackendsFactory): Promise<{ front: HttpFrontLike; port: number }> {
      const front = createHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents(), ...options }, backends);
      await front.listen();
      defer(() => front.close(0));
      return { front, port: front.address().port };
    }

    it('strips the prefix of a path of 8 KiB and more (it used to go unstripped)', TIMEOUT, async () => {
      const api = await startHttpBackend('api', defer);
      let routing!: RoutedRegistry;
      const events = recordEvents();
      const { front, port } = await startFront({ events }, (onForget) => (routing = new RoutedRegistry(onForget)));
      routing.setRoutes([{ app: 'api', path: '/v1', host: undefined, weight: 1, strip: true }]);
      routing.addApp('api', 'round-robin', events);
      front.add({ id: 1, host: '127.0.0.1', port: api.port, weight: 1, app: 'api' });
      for (const length of [8190, 8191, 8192, 12_000]) {
        const rest = `/${'a'.repeat(length - 1)}`;
        const response = await request(port, { path: `/v1${rest}` });
        assert.equal(response.status, 200);
        assert.equal(response.body, `api GET ${rest}`, `a stripped path of ${length} bytes`);
      }
    });
  });
}

/** Raw bytes to the front; resolves with all it answered once it closed (or after `timeoutMs`, then `timedOut`). */
export function rawExchange(port: number, send: (socket: net.Socket) => void, timeoutMs: number): Promise<{ data: string; timedOut: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => send(socket));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, timedOut: true, ms: Date.now() - started });
    }, timeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, timedOut: false, ms: Date.now() - started });
    });
    socket.on('error', () => undefined);
  });
}
