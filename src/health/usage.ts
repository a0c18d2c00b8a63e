// CPU and memory of every worker, for `status`, `top`, metrics, `--max-memory`
// and the autoscaler. Sampled only when someone needs it:
//  - on demand (`fresh()`: `GET /status`, a metrics scrape), answered from the
//    last sample while it is younger than `maxAgeMs`;
//  - periodically only while a consumer requires it (`requireSampling(periodMs)`:
//    `--max-memory`, the autoscaler), at the shortest period required.
// Rounds never overlap: a request during a round waits for that round.
//
// On Linux a round is one pass over /proc/<pid>/stat of the known pids
// (proc-stat.ts): CPU % from the delta of utime+stime over the time since that
// pid's previous reading (since its start on the first), RSS from its pages.
// Elsewhere pidusage (`ps`) does it; its batch is fragile when a pid has gone
// (`ps` rejects the whole batch), so a rejected batch is retried pid by pid.

import pidusage from 'pidusage';
import { CLOCK_TICKS_PER_SECOND, hasProcStat, pageSize, readProcStat, readUptimeSeconds } from './proc-stat.js';

export interface UsageSample {
  /** Percent of one core since the previous sample (may exceed 100 on several cores). */
  readonly cpu: number;
  /** Resident set size in bytes. */
  readonly memory: number;
}

export type UsageSamples = ReadonlyMap<number, UsageSample>;

/** One round's reading of a batch of pids; replaceable in tests. */
export type BatchStat = (pids: number[]) => Promise<BatchStats>;

/** Keyed by pid; a vanished pid is missing, null or undefined. */
type BatchStats = Record<string, { cpu: number; memory: number } | null | undefined>;

export interface UsageSamplerOptions {
  /** The pids to sample right now; asked before every round. */
  pids(): readonly number[];
  /** Every round's result, keyed by pid; pids that vanished are missing. */
  onSample(samples: UsageSamples): void;
  /** A round failed for a reason other than vanished pids. */
  onError?(error: Error): void;
  /** `fresh()` answers from a sample younger than this (default 1000 ms). */
  readonly maxAgeMs?: number;
  /** Replaces the /proc reader (tests, or pidusage elsewhere). */
  readonly stat?: BatchStat;
  /** Clock (tests). */
  readonly now?: () => number;
}

export interface UsageSampler {
  /** A sample at most `maxAgeMs` old: the last one, or a new round. */
  fresh(): Promise<UsageSamples>;
  /** Sample now (waits for a round in progress instead of overlapping it). */
  sampleNow(): Promise<UsageSamples>;
  /** How old the last sample is, in ms (Infinity before the first). */
  ageMs(): number;
  /**
   * Keep sampling every `periodMs` (at the shortest period of all requirements
   * held) until the returned release is called; releasing twice is harmless.
   */
  requireSampling(periodMs: number): () => void;
  /** Stop sampling and drop every pid's history. */
  close(): void;
}

const DEFAULT_MAX_AGE_MS = 1000;

export function createUsageSampler(options: UsageSamplerOptions): UsageSampler {
  const now = options.now ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const stat = options.stat ?? defaultStat();
  const required = new Map<symbol, number>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<UsageSamples> | undefined;
  let last: { samples: UsageSamples; at: number } | undefined;
  let closed = false;

  async function sampleRound(): Promise<UsageSamples> {
    const pids = [...new Set(options.pids())].filter((pid) => Number.isInteger(pid) && pid > 0);
    if (pids.length === 0) return new Map();
    try {
      return toSamples(pids, await stat(pids));
    } catch {
      return sampleOneByOne(stat, pids);
    }
  }

  function runRound(): Promise<UsageSamples> {
    running ??= sampleRound()
      .then((samples) => {
        last = { samples, at: now() };
        if (!closed) options.onSample(samples);
        return samples;
      })
      .catch((error: unknown) => {
        if (!closed) options.onError?.(error instanceof Error ? error : new Error(String(error)));
        return new Map<number, UsageSample>();
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  /** The next periodic round, counted from the last round of any kind (an on-demand one counts). */
  function schedule(): void {
    clearTimeout(timer);
    timer = undefined;
    if (closed || required.size === 0) return;
    const period = Math.min(...required.values());
    const due = last === undefined ? 0 : Math.max(0, last.at + period - now());
    timer = setTimeout(() => {
      timer = undefined;
      void runRound().then(schedule);
    }, due);
    // Sampling alone must not keep a stopping supervisor alive.
    timer.unref();
  }

  return {
    fresh() {
      if (last !== undefined && now() - last.at <= maxAgeMs) return Promise.resolve(last.samples);
      return runRound();
    },
    sampleNow: runRound,
    ageMs: () => (last === undefined ? Number.POSITIVE_INFINITY : now() - last.at),
    requireSampling(periodMs) {
      if (!Number.isFinite(periodMs) || periodMs <= 0) throw new Error(`requireSampling: the period must be a positive number of ms (got ${periodMs})`);
      const token = Symbol('usage requirement');
      required.set(token, periodMs);
      schedule();
      return () => {
        if (required.delete(token)) schedule();
      };
    },
    close() {
      closed = true;
      required.clear();
      clearTimeout(timer);
      if (stat === pidusageStat) pidusage.clear();
    },
  };
}

const pidusageStat: BatchStat = (pids) => pidusage(pids);

function defaultStat(): BatchStat {
  return hasProcStat() ? createProcStat() : pidusageStat;
}

/** Pids read between two turns of the event loop. */
const YIELD_EVERY = 128;

export interface ProcStatOptions {
  /** A /proc-like directory (tests). */
  readonly root?: string;
  /** Clock in ms (tests). */
  readonly now?: () => number;
  /** Bytes per page (tests). */
  readonly pageBytes?: number;
}

/**
 * Usage from /proc/<pid>/stat: CPU % over the time since the pid's previous
 * reading by this reader, or since the process started on its first reading
 * (what `ps` shows); a reused pid (another start time) starts over.
 */
export function createProcStat(options: ProcStatOptions = {}): BatchStat {
  const root = options.root ?? '/proc';
  const now = options.now ?? Date.now;
  let previous = new Map<number, { ticks: number; start: number; at: number }>();
  return async (pids) => {
    const at = now();
    const pageBytes = options.pageBytes ?? pageSize();
    let uptime: number | undefined;
    const stats: BatchStats = {};
    const seen = new Map<number, { ticks: number; start: number; at: number }>();
    for (const [index, pid] of pids.entries()) {
      // A thousand reads take tens of ms on a loaded machine: let requests in between.
      if (index > 0 && index % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      const stat = readProcStat(pid, root);
      if (stat === undefined) continue;
      const before = previous.get(pid);
      let cpu = 0;
      if (before !== undefined && before.start === stat.startTicks) {
        const seconds = (at - before.at) / 1000;
        if (seconds > 0) cpu = ((stat.cpuTicks - before.ticks) / CLOCK_TICKS_PER_SECOND / seconds) * 100;
      } else {
        uptime ??= readUptimeSeconds(root);
        const seconds = uptime === undefined ? 0 : uptime - stat.startTicks / CLOCK_TICKS_PER_SECOND;
        if (seconds > 0) cpu = (stat.cpuTicks / CLOCK_TICKS_PER_SECOND / seconds) * 100;
      }
      stats[String(pid)] = { cpu: Math.max(0, cpu), memory: stat.rssPages * pageBytes };
      seen.set(pid, { ticks: stat.cpuTicks, start: stat.startTicks, at });
    }
    // Pids not asked for any more (workers gone) are forgotten.
    previous = seen;
    return stats;
  };
}

/** Pids whose resident memory exceeds `limitBytes` (for `--max-memory`), in ascending pid order. */
export function overMemoryLimit(samples: UsageSamples, limitBytes: number): number[] {
  const over: number[] = [];
  for (const [pid, sample] of samples) {
    if (sample.memory > limitBytes) over.push(pid);
  }
  return over.sort((a, b) => a - b);
}

async function sampleOneByOne(stat: BatchStat, pids: readonly number[]): Promise<UsageSamples> {
  const results = await Promise.allSettled(pids.map((pid) => stat([pid])));
  const samples = new Map<number, UsageSample>();
  results.forEach((result, index) => {
    const pid = pids[index];
    if (pid === undefined || result.status === 'rejected') return;
    for (const [key, sample] of toSamples([pid], result.value)) samples.set(key, sample);
  });
  return samples;
}

function toSamples(pids: readonly number[], stats: BatchStats): Map<number, UsageSample> {
  const samples = new Map<number, UsageSample>();
  for (const pid of pids) {
    const entry = stats[String(pid)];
    if (entry != null) samples.set(pid, { cpu: entry.cpu, memory: entry.memory });
  }
  return samples;
}
