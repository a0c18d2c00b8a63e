// supervise's front proxy alone in a process of its own, for bench/proxy.ts:
// the same process layout as HAProxy and nginx (one proxy process, its own
// event loop), without a supervisor or workers around it.
//
//   node dist/bench/lib/front-server.js <tcp|http|http-routed> <port> <backend-port>[,<backend-port>…]
//
// http-routed: the system's routing front (SPEC §8) with a routing table like
// the example's (/users, /orders 9:1 with a canary, and / for the hello app),
// so that every request pays for the route lookup before the app's balancer.
//
// Prints "listening <port>" once it accepts; stops on SIGTERM/SIGINT.
//
// BENCH_FRONT_OPTIONS='{"…": …}': a JSON object merged into createFront()'s
// options (tcp and http), for an A/B of a front setting that has no CLI here —
// the data plane's thread count once createFront() takes one.
//
// BENCH_TLS_CERT=<pem> BENCH_TLS_KEY=<pem> (http): TLS on the native front,
// through the addon's httpSetTls (bench/tls.ts), until the front has a TLS option.

import { readFileSync } from 'node:fs';
import { loadNative } from '../../src/native/load.js';
import { createFront, type BoundFront } from '../../src/proxy/index.js';
import { createRoutingFront } from '../../src/proxy/routed-registry.js';
import type { FrontEvents } from '../../src/core/types.js';

function usage(message: string): never {
  process.stderr.write(`front-server: ${message}\nusage: front-server.js <tcp|http> <port> <backend-port>[,<backend-port>…]\n`);
  process.exit(2);
}

/** BENCH_FRONT_OPTIONS as an object (keys createFront() does not know are ignored by it). */
function extraOptions(): Record<string, unknown> {
  const text = process.env.BENCH_FRONT_OPTIONS;
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    usage(`BENCH_FRONT_OPTIONS is not JSON (${error instanceof Error ? error.message : String(error)}): give an object, e.g. '{"frontThreads":2}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) usage(`BENCH_FRONT_OPTIONS must be a JSON object, e.g. '{"frontThreads":2}'`);
  return value as Record<string, unknown>;
}

/** BENCH_TLS_CERT and BENCH_TLS_KEY: the native http front serves TLS with them (exits when it cannot). */
function useTls(front: BoundFront): void {
  const cert = process.env.BENCH_TLS_CERT;
  const key = process.env.BENCH_TLS_KEY;
  if (cert === undefined || key === undefined) return;
  const native = loadNative()?.exports as { httpSetTls?: (handle: number, certs: unknown[], options: { hsts: number }) => string | undefined } | undefined;
  const handle = (front as unknown as { handle?: number }).handle;
  if (native?.httpSetTls === undefined || handle === undefined) usage('BENCH_TLS_*: TLS needs the native http front (npm run build:native)');
  const reason = native.httpSetTls(handle, [{ cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), hosts: [] }], { hsts: 0 });
  if (reason !== undefined) usage(`BENCH_TLS_*: ${reason}`);
}

async function main(): Promise<void> {
  const [kind, portText, backendsText] = process.argv.slice(2);
  if (kind !== 'tcp' && kind !== 'http' && kind !== 'http-routed') usage(`unknown front kind ${JSON.stringify(kind)}`);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0) usage(`bad port ${JSON.stringify(portText)}`);
  const backendPorts = (backendsText ?? '').split(',').map(Number);
  if (backendPorts.length === 0 || backendPorts.some((p) => !Number.isInteger(p) || p <= 0)) usage(`bad backend ports ${JSON.stringify(backendsText)}`);

  const events: FrontEvents = {
    onConnectFailure: (id, error) => process.stderr.write(`front-server: backend ${id} failed: ${error.message}\n`),
    onDrained: () => undefined,
  };
  let front: BoundFront;
  if (kind === 'http-routed') {
    const routing = createRoutingFront({ host: '127.0.0.1', port });
    const route = (app: string, path: string, weight = 1) => ({ app, path, host: undefined, weight, strip: false });
    routing.backends.setRoutes([route('users', '/users'), route('orders', '/orders', 9), route('canary', '/orders', 1), route('hello', '/')]);
    for (const app of ['users', 'orders', 'canary', 'hello']) routing.backends.addApp(app, 'round-robin', events);
    front = routing.front;
    await front.listen();
    backendPorts.forEach((backendPort, id) => front.add({ id, host: '127.0.0.1', port: backendPort, weight: 1, app: 'hello' }));
  } else {
    front = createFront(kind, { ...extraOptions(), host: '127.0.0.1', port, balance: 'round-robin', events });
    await front.listen();
    backendPorts.forEach((backendPort, id) => front.add({ id, host: '127.0.0.1', port: backendPort, weight: 1 }));
  }
  useTls(front);
  process.stdout.write(`listening ${front.address().port}\n`);

  const stop = () => {
    void front.close(1000).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`front-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
