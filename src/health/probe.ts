// One health probe against one port: a TCP connect, or an HTTP GET that must
// answer 2xx. A probe never rejects; it resolves with a reason a user can act on
// ("connect ECONNREFUSED 127.0.0.1:8001", "HTTP 503", "timed out after 1000ms").

import http from 'node:http';
import net from 'node:net';
import { isLocalResourceError } from '../core/edge.js';
import type { HealthConfig } from '../core/types.js';

/** `local`: the probe could not run here (out of descriptors…): it says nothing of the worker and is not counted. */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly local?: boolean };

/** Probes one port of the configured host (or of `host`: a remote server). `signal` cancels a probe in flight. */
export type PortProbe = (port: number, signal?: AbortSignal, host?: string) => Promise<ProbeResult>;

const PASS: ProbeResult = { ok: true };
const fail = (reason: string): ProbeResult => ({ ok: false, reason });
const failWith = (error: Error): ProbeResult => (isLocalResourceError(error) ? { ok: false, reason: error.message, local: true } : fail(error.message));

/**
 * Settles a probe exactly once, after the time limit at the latest, or when
 * `signal` aborts; `cleanup` releases the socket whatever the outcome.
 */
function settleOnce(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  cleanup: () => void,
  resolve: (result: ProbeResult) => void,
): (result: ProbeResult) => void {
  let settled = false;
  const finish = (result: ProbeResult): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    cleanup();
    resolve(result);
  };
  const onAbort = (): void => finish(fail('aborted'));
  // Judged after the loop's next poll: node runs an expired timer before it polls, so after a
  // stall of the main thread a connect (or answer) that came meanwhile would count as a timeout.
  const timer = setTimeout(() => setImmediate(() => finish(fail(`timed out after ${timeoutMs}ms`))), timeoutMs);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  return finish;
}

/** Passes when a TCP connection to host:port opens; the connection is closed at once. */
export function probeTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = settleOnce(timeoutMs, signal, () => socket.destroy(), resolve);
    socket.once('connect', () => finish(PASS));
    // `on`, not `once`: destroy() after a settled probe must never find no listener.
    socket.on('error', (error) => finish(failWith(error)));
  });
}

/**
 * Passes when `GET path` answers 2xx within the time limit, which covers the
 * whole exchange: connect, headers and body. No keep-alive agent, so a probe
 * never holds a pooled socket open between rounds; the body is read and thrown
 * away so the server sees an ordinary, complete request.
 */
export function probeHttp(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const request = http.request({
      host,
      port,
      path,
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': 'supervise-health-check' },
    });
    const finish = settleOnce(timeoutMs, signal, () => request.destroy(), resolve);
    request.on('error', (error) => finish(failWith(error)));
    request.once('response', (response) => {
      const status = response.statusCode ?? 0;
      const result = status >= 200 && status < 300 ? PASS : fail(`HTTP ${status}`);
      response.once('end', () => finish(result));
      // A body cut short still carried its status line; 'close' after 'end' is a no-op.
      response.once('close', () => finish(result));
      response.on('error', (error) => finish(fail(error.message)));
      response.resume();
    });
    request.end();
  });
}

/** The probe the configuration asks for: HTTP when a path is set, else TCP. */
export function makeProbe(health: HealthConfig, host: string): PortProbe {
  const { path, timeoutMs } = health;
  if (path === undefined) return (port, signal, at = host) => probeTcp(at, port, timeoutMs, signal);
  return (port, signal, at = host) => probeHttp(at, port, path, timeoutMs, signal);
}
