// Restart delay for a crashing slot: exponential with full jitter. The cap starts
// at --restart-delay (100 ms) and doubles per consecutive quick crash up to
// --max-restart-delay (30 s); the delay is uniform in (0, cap], so slots that
// failed together (a database went away) do not all retry at the same instant.
// The streak is forgotten once a worker has stayed up 30 s. Pure: the caller
// keeps the streak per slot and may pass its own random source.

export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 30_000;
/** A worker that stayed up this long is considered healthy again: the streak resets. */
export const BACKOFF_RESET_AFTER_MS = 30_000;

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: BACKOFF_INITIAL_MS, maxMs: BACKOFF_MAX_MS };

export interface BackoffStep {
  readonly delayMs: number;
  /** The upper bound the delay was drawn under. */
  readonly capMs: number;
  /** Consecutive crashes after this one, to store for the next crash. */
  readonly streak: number;
}

/** The cap after `streak` consecutive quick crashes. */
export function backoffCap(streak: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  // Clamp the exponent: 2 ** 31 * 100 already exceeds any sensible cap.
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(streak, 31));
}

/**
 * @param streak consecutive quick crashes before this one
 * @param uptimeMs how long the worker that just crashed was up
 */
export function nextRestart(
  streak: number,
  uptimeMs: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): BackoffStep {
  const current = uptimeMs >= BACKOFF_RESET_AFTER_MS ? 0 : streak;
  const capMs = backoffCap(current, policy);
  // (0, cap]: never 0, so even a worker that dies at once yields the event loop.
  const delayMs = Math.max(1, Math.ceil(random() * capMs));
  return { delayMs, capMs, streak: current + 1 };
}
