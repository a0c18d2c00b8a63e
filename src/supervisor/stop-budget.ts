// How a worker's --kill-timeout is spent when it is stopped: first a drain (its
// connections finish), then SIGTERM with a grace of its own, then SIGKILL.

import type { Config } from '../core/types.js';

/** Spawn mode with --proxy tcp: how long old connections may run before the server gets SIGTERM. */
export const TCP_DRAIN_GRACE_MS = 2000;

/** The part of --kill-timeout kept for SIGTERM to work after a drain that used the rest. */
export function termGraceMs(killTimeoutMs: number): number {
  return Math.min(Math.floor(killTimeoutMs / 2), 1000);
}

/**
 * An L4 front cannot see request boundaries, and a busy keep-alive client never
 * closes its connection: waiting the whole kill timeout would only make each
 * reload step that long. After a short grace the old server gets SIGTERM and
 * ends its connections itself, as at any restart (SPEC §4). The http front and
 * cluster mode end keep-alive connections between requests, so they may take
 * the whole kill timeout.
 */
export function drainTimeoutMs(config: Config): number {
  const l4 = config.mode === 'spawn' && config.proxy === 'tcp';
  const kill = config.killTimeoutMs;
  // The drain is part of the --kill-timeout budget, and leaves SIGTERM its grace.
  return Math.min(l4 ? TCP_DRAIN_GRACE_MS : kill, kill - termGraceMs(kill));
}
