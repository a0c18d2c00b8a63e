// The JavaScript fronts' share of the process's descriptors, by the native
// loops' rule (fd_budget.c; the numbers in dp-constants): the soft
// RLIMIT_NOFILE less a reserve for the master's other duties — the control
// socket, spawns, pipes, health probes, logs. Node cannot pause accepting as
// the native loops do, so the front caps its connections instead
// (net.Server#maxConnections: one past the cap is accepted and closed at
// once), two descriptors a client (its own and its backend's). Without the cap
// 600 clients under `ulimit -n 256` took every descriptor: the control socket
// refused its clients and the health probes failed with EMFILE.

import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { DP_FD_BUDGET_MIN, DP_FD_RESERVE_MIN, DP_FD_RESERVE_SHARE } from '../core/dp-constants.js';

/** Clients a front may hold under soft limit `soft` with `open` descriptors already open (pure: the rule alone). */
export function clientCap(soft: number, open: number): number {
  const reserve = Math.max(Math.floor(soft / DP_FD_RESERVE_SHARE), DP_FD_RESERVE_MIN);
  const budget = Math.max(soft - reserve, DP_FD_BUDGET_MIN);
  return Math.max(Math.floor((budget - open) / 2), DP_FD_BUDGET_MIN / 2);
}

/** The soft limit on open files, from /proc/self/limits; undefined when unlimited or unknown (no /proc). */
export function softFileLimit(limits = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limits, 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/** Caps `server`'s connections to this process's budget now (no cap where the limit is unknown or unlimited). */
export function capConnections(server: Server): void {
  const soft = softFileLimit();
  if (soft === undefined) return;
  let open: number;
  try {
    open = readdirSync('/proc/self/fd').length;
  } catch {
    return;
  }
  server.maxConnections = clientCap(soft, open);
}
