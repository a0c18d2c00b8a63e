// `upstreams:` (and `--upstream`) and `resolvers:` from a file or the command
// line -> validated UpstreamSpecs (core/upstreams.ts says what each entry means).
// Each entry keeps how to name it — the file's key and line, or the flag — so
// that a host that does not resolve at start is reported where it was written.

import { isIP } from 'node:net';
import { UsageError } from './errors.js';
import { parseUpstreamEntry, parseUpstreamFlag, type UpstreamSpec } from './core/upstreams.js';
import { parseServer } from './upstreams/resolver.js';

/** A file's `upstreams:` list; `at(index)` names one entry (key and line). */
export function parseUpstreams(value: unknown, at: (index?: number) => string): UpstreamSpec[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length === 0) {
    throw new UsageError(`${at()} must be a list of servers: host:port, {server, weight, backup} or {srv: _service._tcp.domain}`);
  }
  return value.map((entry, index) => {
    const parsed = parseUpstreamEntry(entry, at(index));
    if ('error' in parsed) throw new UsageError(`${at(index)}: ${parsed.error}`);
    return parsed.value;
  });
}

/** `--upstream a:1 --upstream b:2,weight=3` */
export function parseUpstreamFlags(value: unknown): UpstreamSpec[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((text) => {
    const parsed = parseUpstreamFlag(String(text), `--upstream ${String(text)}`);
    if ('error' in parsed) throw new UsageError(`--upstream ${String(text)}: ${parsed.error}`);
    return parsed.value;
  });
}

/** DNS servers: `ip`, `ip:port`, `[v6]:port`. */
export function parseResolvers(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry) => {
    const text = String(entry);
    const { address, port } = parseServer(text);
    if (isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError(`${where}: ${JSON.stringify(text)} is not a DNS server address like 127.0.0.1 or 127.0.0.1:5353`);
    }
    return text;
  });
}

/** Remote servers go through a front: the app's own (`--proxy http|tcp`) or the routing front (a route). */
export function checkUpstreamApp(app: { mode: string; proxy: string; routes: readonly unknown[]; upstreams: readonly UpstreamSpec[] }, where: string): void {
  if (app.upstreams.length === 0) return;
  if (app.mode === 'cluster') {
    throw new UsageError(`${where}: upstreams beside a script (cluster mode) cannot share its port; run the workers with command: (spawn mode), or give the remote servers their own app`);
  }
  if (app.proxy === 'none' && app.routes.length === 0) {
    throw new UsageError(`${where}: remote servers need a front: give the app a route (with front:) or proxy: http|tcp`);
  }
}
