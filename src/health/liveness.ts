// Is a running worker still alive in the sense that matters: able to serve?
// A hung worker (blocked event loop, SIGSTOP, deadlock) keeps its pid and its
// listening socket — the kernel even completes TCP handshakes for it — so
// neither the exit event nor a connect probe notices. Three signs, each within
// its window (SPEC §9):
//  - the process is stopped (state T in /proc) for --heartbeat-timeout;
//  - cluster: no heartbeat from the worker's event loop for --heartbeat-timeout;
//  - spawn: no WATCHDOG=1 (systemd notify) within --watchdog;
//  - spawn: --liveness GET failed --liveness-threshold times in a row.
// The first sign reports onHung once; the watch ends with `signal`.

import { onChildStateChange } from './child-state.js';
import { probeHttp } from './probe.js';
import { readProcStat } from './proc-stat.js';
import type { Config } from '../core/types.js';

export interface LivenessWatch {
  readonly config: Pick<Config, 'heartbeatTimeoutMs' | 'liveness' | 'health'>;
  readonly pid: number;
  /** Spawn mode: the worker's own port, for --liveness. */
  readonly port?: number;
  /** A sign of life the worker must send regularly: cluster heartbeats, or WATCHDOG=1. */
  readonly heartbeat?: { readonly last: () => number; readonly limitMs: number; readonly missing: string };
  readonly signal: AbortSignal;
  onHung(reason: string): void;
  /** Clock (tests). */
  readonly now?: () => number;
}

/**
 * The process state is read after a SIGCHLD (a child stopped, continued or
 * exited: child-state.ts) and while it is stopped; without one, once in this
 * many periods, in case a stop came with no signal (a worker that is not our
 * child). 1,024 /proc reads a second at 1,024 workers were a third of an idle
 * master's CPU.
 */
const SAFETY_SWEEP_PERIODS = 16;

/** How often the process state and the heartbeat are looked at. */
export function checkPeriodMs(heartbeatTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(heartbeatTimeoutMs / 4)));
}

// One interval timer per period for every worker's state check, not one per
// worker: at 1,024 workers, 1,024 timers firing every second cost the master
// more than the checks themselves. The timer ticks SLICES times per period and
// each tick runs one slice of the checks (a check joins the smallest slice), so
// that every check still runs once per period but 1,024 stat reads are not one
// burst that delays everything else on the event loop.
const SLICES = 4;

interface Ticker {
  readonly timer: NodeJS.Timeout;
  readonly slices: Array<Set<() => void>>;
}

const tickers = new Map<number, Ticker>();

/** Runs `check` every `periodMs` on the period's shared timer; returns its removal. */
export function everyPeriod(periodMs: number, check: () => void): () => void {
  let ticker = tickers.get(periodMs);
  if (ticker === undefined) {
    const slices = Array.from({ length: SLICES }, () => new Set<() => void>());
    let tick = 0;
    const timer = setInterval(() => {
      const slice = slices[tick++ % SLICES] ?? [];
      for (const each of slice) each();
    }, Math.max(1, Math.floor(periodMs / SLICES)));
    timer.unref();
    tickers.set(periodMs, (ticker = { timer, slices }));
  }
  const { slices, timer } = ticker;
  const slice = slices.reduce((smallest, each) => (each.size < smallest.size ? each : smallest));
  slice.add(check);
  return () => {
    slice.delete(check);
    if (slices.some((each) => each.size > 0) || tickers.get(periodMs)?.timer !== timer) return;
    clearInterval(timer);
    tickers.delete(periodMs);
  };
}

export function watchLiveness(watch: LivenessWatch): void {
  const { config, pid, signal } = watch;
  const now = watch.now ?? Date.now;
  const limit = config.heartbeatTimeoutMs;
  if (signal.aborted) return;
  let stoppedSince: number | undefined;
  // Read the state at the next check: at first, after a SIGCHLD, while stopped, and at the safety sweep
  // (each watch at its own place in the sweep, so that a thousand are not read in one period).
  let readState = true;
  let sweep = Math.floor(Math.random() * SAFETY_SWEEP_PERIODS);
  let done = false;
  const timers: NodeJS.Timeout[] = [];
  let stopChecking: (() => void) | undefined;
  const stopListening = onChildStateChange(() => {
    readState = true;
  });
  const finish = (reason?: string) => {
    if (done) return;
    done = true;
    for (const timer of timers) clearInterval(timer);
    stopChecking?.();
    stopListening();
    if (reason !== undefined) watch.onHung(reason);
  };
  signal.addEventListener('abort', () => finish(), { once: true });

  stopChecking = everyPeriod(
    checkPeriodMs(Math.min(limit, watch.heartbeat?.limitMs ?? limit)),
    () => {
      const t = now();
      if (++sweep >= SAFETY_SWEEP_PERIODS) {
        sweep = 0;
        readState = true;
      }
      if (readState) {
        const state = readProcStat(pid)?.state;
        readState = state === 'T'; // stopped: read again at every period until it runs or is replaced
        if (state === 'T') {
          stoppedSince ??= t;
          if (t - stoppedSince >= limit) return finish(`stopped (SIGSTOP) for ${t - stoppedSince}ms (--heartbeat-timeout ${limit}ms)`);
        } else {
          stoppedSince = undefined;
        }
      }
      const beat = watch.heartbeat;
      const last = beat?.last();
      if (beat !== undefined && last !== undefined && t - last >= beat.limitMs) finish(`${beat.missing} for ${t - last}ms`);
    },
  );

  const liveness = config.liveness;
  if (liveness !== undefined && watch.port !== undefined) {
    const port = watch.port;
    let failures = 0;
    let inFlight = false;
    timers.push(
      setInterval(() => {
        if (inFlight) return; // a probe still waiting counts once, when it times out
        inFlight = true;
        void probeHttp('127.0.0.1', port, liveness.path, Math.min(config.health.timeoutMs, liveness.intervalMs), signal).then((result) => {
          inFlight = false;
          if (done) return;
          failures = result.ok ? 0 : failures + 1;
          if (!result.ok && failures >= liveness.threshold) {
            finish(`--liveness ${liveness.path} failed ${failures} times in a row, last: ${result.reason}`);
          }
        });
      }, liveness.intervalMs),
    );
  }
  for (const timer of timers) timer.unref();
}
