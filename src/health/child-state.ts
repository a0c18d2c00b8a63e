// Tells when a child of this process may have stopped, continued or exited:
// the kernel sends SIGCHLD to the parent for each (libuv installs no
// SA_NOCLDSTOP; its own SIGCHLD watcher, which reaps exits, and ours coexist).
// The liveness checks read a worker's /proc state only after such a signal
// (and in a slow safety sweep), instead of 1,024 reads every second at 1,024
// workers. Signals coalesce, so listeners learn "something changed", not who:
// a burst (a scale-down's thousand exits) is one notification per COALESCE_MS.

const COALESCE_MS = 20;

const listeners = new Set<() => void>();
let pending: NodeJS.Timeout | undefined;

function notify(): void {
  pending = undefined;
  for (const listener of [...listeners]) listener();
}

function onSigchld(): void {
  if (pending !== undefined) return;
  pending = setTimeout(notify, COALESCE_MS);
  pending.unref();
}

/** Calls `listener` after a child of this process changed state (coalesced); returns its removal. */
export function onChildStateChange(listener: () => void): () => void {
  if (listeners.size === 0) process.on('SIGCHLD', onSigchld);
  listeners.add(listener);
  return () => {
    if (!listeners.delete(listener) || listeners.size > 0) return;
    process.off('SIGCHLD', onSigchld);
    clearTimeout(pending);
    pending = undefined;
  };
}
