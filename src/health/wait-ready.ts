// Poll a new worker until its first passing probe: how the spawn launcher
// learns that a server it started is ready for traffic. Fast at first (most
// servers bind within a few hundred ms), then backing off so a slow starter is
// not flooded with connects.

import type { ProbeResult } from './probe.js';

export interface WaitReadyOptions {
  /** Give up after this long; the result carries the last probe's reason. */
  readonly timeoutMs: number;
  /** Pause after the first failed probe (default 100 ms); doubles after each failure. */
  readonly intervalMs?: number;
  /** Ceiling of the pause (default 500 ms). */
  readonly maxIntervalMs?: number;
  /** Abort the wait, e.g. because the worker exited; resolves `{ok:false}` at once. */
  readonly signal?: AbortSignal;
}

/**
 * Resolves `{ok:true}` at the first passing probe, or `{ok:false, reason}` at the
 * timeout or on abort. Never rejects. The probe receives a signal that aborts
 * it when the wait ends, so no probe outlives the wait.
 */
export async function waitUntilReady(
  probe: (signal: AbortSignal) => Promise<ProbeResult>,
  { timeoutMs, intervalMs = 100, maxIntervalMs = 500, signal }: WaitReadyOptions,
): Promise<ProbeResult> {
  const stop = new AbortController();
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, timeoutMs);
  const onOuterAbort = (): void => stop.abort();
  signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (signal?.aborted) stop.abort();

  let lastReason: string | undefined;
  let pause = intervalMs;
  try {
    while (!stop.signal.aborted) {
      const result = await probe(stop.signal);
      if (result.ok) return result;
      // A probe cut short by our own abort says nothing about the worker.
      if (!stop.signal.aborted) lastReason = result.reason;
      await sleep(pause, stop.signal);
      pause = Math.min(pause * 2, maxIntervalMs);
    }
    const why = timedOut ? `not ready after ${timeoutMs}ms` : `stopped waiting: ${abortReason(signal)}`;
    return { ok: false, reason: lastReason === undefined ? why : `${why} (last probe: ${lastReason})` };
  } finally {
    clearTimeout(deadline);
    signal?.removeEventListener('abort', onOuterAbort);
    stop.abort();
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason.message;
  if (typeof reason === 'string') return reason;
  return 'aborted';
}
