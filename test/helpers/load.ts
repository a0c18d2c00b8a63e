// A client load for reload tests: `connections` loops sending GETs back to back,
// over keep-alive sockets or a new connection per request, counting every
// failure (socket error, timeout, non-2xx) as a user would see it.

import http from 'node:http';
import { waitFor } from './wait-for.js';

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  /** The first few failures, for the assertion message. */
  readonly errors: readonly string[];
  /** Distinct response bodies seen (parsed JSON .pid / .generation), for checks. */
  readonly pids: ReadonlySet<number>;
  readonly generations: ReadonlySet<number>;
}

export interface Load {
  stop(): Promise<LoadResult>;
  readonly ok: () => number;
}

export function startLoad(port: number, options: { connections: number; keepAlive: boolean; path?: string }): Load {
  const agent = options.keepAlive ? new http.Agent({ keepAlive: true, maxSockets: options.connections }) : undefined;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const pids = new Set<number>();
  const generations = new Set<number>();
  let running = true;

  const fail = (what: string) => {
    failed++;
    if (errors.length < 10) errors.push(what);
  };

  const once = () =>
    new Promise<void>((resolve) => {
      const request = http.get(
        {
          host: '127.0.0.1',
          port,
          path: options.path ?? '/',
          agent: agent ?? false,
          headers: options.keepAlive ? {} : { connection: 'close' },
          timeout: 5000,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => {
            if (response.statusCode !== 200) fail(`HTTP ${response.statusCode}: ${body.slice(0, 100)}`);
            else {
              ok++;
              try {
                const parsed = JSON.parse(body) as { pid?: number; generation?: number };
                if (parsed.pid) pids.add(parsed.pid);
                if (parsed.generation) generations.add(parsed.generation);
              } catch {
                // not JSON: fine
              }
            }
            resolve();
          });
          response.on('error', (error) => {
            fail(`response: ${error.message}`);
            resolve();
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', (error) => {
        fail(`request: ${error.message}`);
        resolve();
      });
    });

  const loops = Array.from({ length: options.connections }, async () => {
    while (running) await once();
  });

  return {
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent?.destroy();
      return { ok, failed, errors, pids, generations };
    },
  };
}

/**
 * SIGHUP a supervisor while `connections` clients keep sending, and return what
 * the clients saw: load before the signal, the reload to its end, load after it.
 */
export async function reloadUnderLoad(
  sup: { port: number; child: { kill(signal: NodeJS.Signals): boolean }; waitForLog(predicate: (line: { msg: string }) => boolean, timeoutMs?: number): Promise<unknown> },
  options: { connections: number; keepAlive: boolean; requestsAround: number },
): Promise<LoadResult> {
  const load = startLoad(sup.port, options);
  await waitFor(() => load.ok() > options.requestsAround, { message: 'load running' });
  sup.child.kill('SIGHUP');
  await sup.waitForLog((line) => line.msg === 'rolling reload done', 20_000);
  const okAtReload = load.ok();
  await waitFor(() => load.ok() > okAtReload + options.requestsAround, { message: 'load continues after the reload' });
  return load.stop();
}
