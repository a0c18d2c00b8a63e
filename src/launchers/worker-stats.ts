// Worker side (imported by cluster-preload.ts), what the master cannot see from
// outside a cluster worker:
//  - its open connections: counted on every server's 'connection', reported to
//    the master when the count changes, at most every REPORT_MS (one message,
//    not one per connection);
//  - its own prom-client metrics: on "supervise:metrics" it answers with the
//    JSON of the prom-client the app loaded (found in the require cache, so the
//    app's copy and registry, whatever its version), or [] when the app has none,
//    so that a scrape never waits on a worker without metrics.

import { createRequire } from 'node:module';
import type net from 'node:net';

const REPORT_MS = 250;
const require = createRequire(import.meta.url);

let open = 0;
let reported = 0;
let timer: NodeJS.Timeout | undefined;

function report(): void {
  timer = undefined;
  if (open === reported || !process.connected) return;
  reported = open;
  process.send?.({ type: 'supervise:connections', open }, undefined, {}, () => undefined);
}

function changed(): void {
  // Unref'd: a pending report never keeps a finished worker alive.
  timer ??= setTimeout(report, REPORT_MS).unref();
}

function onConnection(socket: net.Socket): void {
  open++;
  changed();
  socket.once('close', () => {
    open--;
    changed();
  });
}

const counted = new WeakSet<net.Server>();

/** Count this server's connections (called for every listen; a server listening again is counted once). */
export function countConnections(server: net.Server): void {
  if (counted.has(server)) return;
  counted.add(server);
  server.on('connection', onConnection);
}

interface PromClient {
  register: { getMetricsAsJSON(): Promise<unknown[]> | unknown[] };
}

function loadedPromClient(): PromClient | undefined {
  for (const [path, module] of Object.entries(require.cache)) {
    if (/[\\/]node_modules[\\/]prom-client[\\/]index\.js$/.test(path) && module?.loaded) {
      const client = module.exports as Partial<PromClient>;
      if (typeof client.register?.getMetricsAsJSON === 'function') return client as PromClient;
    }
  }
  return undefined;
}

/** Handles "supervise:metrics"; returns false for other messages. */
export function answerStatsMessage(message: unknown): boolean {
  if (typeof message !== 'object' || message === null || (message as { type?: unknown }).type !== 'supervise:metrics') return false;
  const { id } = message as { id?: unknown };
  const answer = (metrics: unknown[], error?: string): void => {
    process.send?.({ type: 'supervise:metrics', id, metrics, ...(error ? { error } : {}) }, undefined, {}, () => undefined);
  };
  const client = loadedPromClient();
  if (client === undefined) {
    answer([]);
    return true;
  }
  Promise.resolve(client.register.getMetricsAsJSON()).then(
    (metrics) => answer(metrics),
    (error: unknown) => answer([], error instanceof Error ? error.message : String(error)),
  );
  return true;
}
