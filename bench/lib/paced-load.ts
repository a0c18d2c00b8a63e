// Latency of ordinary traffic while something else happens (bench/edge.ts):
// a few keep-alive clients, each sending GET / and pausing between requests,
// far below what the front can serve, so that a latency percentile measures
// the delay the front adds and not a queue; and `GET /status` polled on the
// control socket, as `supervise ctl status` asks it.

import http from 'node:http';
import { controlRequest } from '../../src/control/client.js';
import { sleep } from '../common.js';

export interface LatencySamples {
  /** Latency of every request that succeeded, in ms. */
  readonly samplesMs: number[];
  /** Requests that failed: a socket error, a timeout, or a status other than the one expected. */
  errors: number;
}

const REQUEST_TIMEOUT_MS = 5000;

/** `connections` clients, each sending GET / then pausing `pauseMs`, for `durationMs`. */
export async function pacedRequests(port: number, connections: number, pauseMs: number, durationMs: number): Promise<LatencySamples> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const result: LatencySamples = { samplesMs: [], errors: 0 };
  const deadline = performance.now() + durationMs;
  const client = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const ok = await get(port, agent);
      if (ok) result.samplesMs.push(performance.now() - started);
      else result.errors++;
      await sleep(pauseMs);
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, client));
  } finally {
    agent.destroy();
  }
  return result;
}

function get(port: number, agent: http.Agent): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode === 200));
      response.once('error', () => resolve(false));
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

/** `GET /status` on the control socket every `intervalMs` for `durationMs`, a new connection each (as ctl does). */
export async function pollStatus(socketPath: string, intervalMs: number, durationMs: number): Promise<LatencySamples> {
  const result: LatencySamples = { samplesMs: [], errors: 0 };
  const deadline = performance.now() + durationMs;
  while (performance.now() < deadline) {
    const started = performance.now();
    try {
      const response = await controlRequest(socketPath, 'GET', '/status', undefined, REQUEST_TIMEOUT_MS);
      if (response.status === 200) result.samplesMs.push(performance.now() - started);
      else result.errors++;
    } catch {
      result.errors++;
    }
    await sleep(intervalMs);
  }
  return result;
}

/** The q-quantile (0.99: p99) of the samples, nearest rank; NaN when there are none. */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
