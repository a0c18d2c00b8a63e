// Signals to the processes carrying a worker's tag (lineage.ts), batched. Finding
// them reads the environment of every process on the machine; done once per
// worker stop, a scale-down of 1,000 workers read a million files. Requests are
// collected instead, and one pass over /proc serves all tags asked for since the
// previous pass — at most one pass per GAP_MS. A worker's own process group is
// still signalled at once by its launcher; only the descendants that left the
// group (setsid daemons) are reached here, a few ms later.

import { signalTaggedMany, type TagSignal } from './lineage.js';

/** The shortest time between two passes over /proc. */
const GAP_MS = 100;

const pending = new Map<string, TagSignal>();
let timer: NodeJS.Timeout | undefined;
let lastPass = 0;

/** Signal every process carrying exactly `tag` (but `except`) in the next pass over /proc. */
export function signalTaggedSoon(tag: string, signal: NodeJS.Signals, except?: number): void {
  const queued = pending.get(tag);
  // SIGKILL supersedes a SIGTERM still waiting for the same tag.
  if (queued === undefined || signal === 'SIGKILL') pending.set(tag, except === undefined ? { signal } : { signal, except });
  // Not unref'd: the last worker's descendants are signalled before the master exits.
  timer ??= setTimeout(flushTagSignals, Math.max(0, lastPass + GAP_MS - Date.now()));
}

/** Run the pending signals now (the master is about to exit). */
export function flushTagSignals(): void {
  clearTimeout(timer);
  timer = undefined;
  if (pending.size === 0) return;
  lastPass = Date.now();
  const batch = new Map(pending);
  pending.clear();
  signalTaggedMany(batch);
}
