// TCP health probes in batches through the native addon (src/native/probe.c):
// one call per slice of the checker's interval connects to every due port, one
// callback brings every result — no net.Socket per probe, which at 1,024
// workers was most of an idle master's CPU. Where the addon is absent (or
// SUPERVISE_PROBE_NATIVE=0), and for a host that is not an IP literal (a remote
// server by name), the JavaScript probe (probe.ts) runs instead, with the same
// results and reasons. HTTP probes (--health /path) stay in JavaScript.

import { isIP } from 'node:net';
import { constants } from 'node:os';
import { loadNative } from '../native/load.js';
import type { HealthConfig } from '../core/types.js';
import { probeTcp, type ProbeResult } from './probe.js';

export interface ProbeTarget {
  readonly port: number;
  readonly host: string;
}

/** Probes many targets at once; one result per target, in order. Never rejects. */
export type BatchProbe = (targets: readonly ProbeTarget[]) => Promise<ProbeResult[]>;

type ProbeConnect = (address: string, family: 4 | 6, ports: Int32Array, timeoutMs: number, callback: (results: Int32Array) => void) => void;

interface ProbeBinding {
  readonly probeConnect: ProbeConnect;
  readonly PROBE_TIMED_OUT: number;
}

const PASS: ProbeResult = { ok: true };
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));

function binding(): ProbeBinding | undefined {
  if (process.env.SUPERVISE_PROBE_NATIVE === '0') return undefined;
  const exports = loadNative()?.exports as Partial<ProbeBinding> | undefined;
  if (typeof exports?.probeConnect !== 'function' || typeof exports.PROBE_TIMED_OUT !== 'number') return undefined;
  return exports as ProbeBinding;
}

/** One native result as a probe result, worded as node words the same failure. */
function toResult(code: number, target: ProbeTarget, timeoutMs: number, timedOut: number): ProbeResult {
  if (code === 0) return PASS;
  if (code === timedOut) return { ok: false, reason: `timed out after ${timeoutMs}ms` };
  const name = ERRNO_NAMES.get(Math.abs(code)) ?? `errno ${Math.abs(code)}`;
  const reason = `connect ${name} ${target.host}:${target.port}`;
  return code < 0 ? { ok: false, reason, local: true } : { ok: false, reason };
}

/** The batch TCP probe for a checker, or undefined where it cannot run natively (HTTP probes, no addon). */
export function makeBatchProbe(health: HealthConfig): BatchProbe | undefined {
  if (health.path !== undefined) return undefined;
  const found = binding();
  if (found === undefined) return undefined;
  const native: ProbeBinding = found;
  const { timeoutMs } = health;
  const viaJavaScript = (target: ProbeTarget): Promise<ProbeResult> => probeTcp(target.host, target.port, timeoutMs);

  function probeHost(host: string, family: 4 | 6, targets: readonly ProbeTarget[]): Promise<ProbeResult[]> {
    return new Promise((resolve) => {
      try {
        native.probeConnect(host, family, Int32Array.from(targets, (target) => target.port), timeoutMs, (codes) => {
          resolve(targets.map((target, index) => toResult(codes[index] ?? native.PROBE_TIMED_OUT, target, timeoutMs, native.PROBE_TIMED_OUT)));
        });
      } catch {
        // Refused by the addon (another thread owns it, no epoll set): JavaScript probes these.
        resolve(Promise.all(targets.map(viaJavaScript)));
      }
    });
  }

  return async (targets) => {
    const byHost = new Map<string, number[]>();
    targets.forEach((target, index) => {
      const indexes = byHost.get(target.host);
      if (indexes === undefined) byHost.set(target.host, [index]);
      else indexes.push(index);
    });
    const results: ProbeResult[] = new Array<ProbeResult>(targets.length);
    await Promise.all(
      [...byHost].map(async ([host, indexes]) => {
        const group = indexes.map((index) => targets[index] as ProbeTarget);
        const family = isIP(host);
        const settled = family === 4 || family === 6 ? await probeHost(host, family, group) : await Promise.all(group.map(viaJavaScript));
        settled.forEach((result, position) => (results[indexes[position] as number] = result));
      }),
    );
    return results;
  };
}
