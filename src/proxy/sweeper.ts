// One unref'd interval per front instead of a timer per connection: the fronts
// enforce their connect and idle timeouts by sweeping their connection sets.
// A timeout fires between its nominal value and that value plus one tick.

export interface Sweeper {
  stop(): void;
}

const MIN_TICK_MS = 10;
const MAX_TICK_MS = 1000;

/** Calls `sweep(Date.now())` every quarter of the shortest timeout (10 ms … 1 s). */
export function createSweeper(shortestTimeoutMs: number, sweep: (now: number) => void): Sweeper {
  const tickMs = Number.isFinite(shortestTimeoutMs)
    ? Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(shortestTimeoutMs / 4)))
    : MAX_TICK_MS;
  const interval = setInterval(() => sweep(Date.now()), tickMs);
  interval.unref();
  return { stop: () => clearInterval(interval) };
}
