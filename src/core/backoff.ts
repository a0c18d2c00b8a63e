// Restart delay for a crashing slot: 100 ms doubling to 30 s, forgotten once a
// worker has stayed up for 30 s. Pure: the caller keeps the streak per slot.

export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 30_000;
/** A worker that stayed up this long is considered healthy again: the streak resets. */
export const BACKOFF_RESET_AFTER_MS = 30_000;

export interface BackoffStep {
  readonly delayMs: number;
  /** Consecutive crashes after this one, to store for the next crash. */
  readonly streak: number;
}

/**
 * @param streak consecutive quick crashes before this one
 * @param uptimeMs how long the worker that just crashed was up
 */
export function nextRestart(streak: number, uptimeMs: number): BackoffStep {
  const current = uptimeMs >= BACKOFF_RESET_AFTER_MS ? 0 : streak;
  // 2 ** 9 * 100 already exceeds the cap; clamp the exponent to keep the number small.
  const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(current, 16));
  return { delayMs, streak: current + 1 };
}
