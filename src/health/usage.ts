// CPU and memory of every worker, sampled with pidusage in ONE batched call per
// interval, for `status`, metrics and `--max-memory`. Calls never overlap: the
// next one is scheduled only after the previous one settled.
//
// pidusage's batch is fragile when a pid disappears: on Linux it silently
// leaves the entry undefined (or rejects when the batch has a single pid), and
// with `ps` (macOS, BSD) one missing pid rejects the whole batch. Either way the
// living pids must still be sampled, so a rejected batch is retried pid by pid.

import pidusage from 'pidusage';

export interface UsageSample {
  /** Percent of one core since the previous sample (may exceed 100 on several cores). */
  readonly cpu: number;
  /** Resident set size in bytes. */
  readonly memory: number;
}

export type UsageSamples = ReadonlyMap<number, UsageSample>;

/** The subset of pidusage the sampler needs; replaceable in tests. */
export type BatchStat = (pids: number[]) => Promise<BatchStats>;

/** pidusage's answer keyed by pid; on Linux a vanished pid is left null/undefined. */
type BatchStats = Record<string, { cpu: number; memory: number } | null | undefined>;

export interface UsageSamplerOptions {
  readonly intervalMs: number;
  /** The pids to sample right now; asked before every round. */
  pids(): readonly number[];
  /** Every round's result, keyed by pid; pids that vanished are missing. */
  onSample(samples: UsageSamples): void;
  /** A round failed for a reason other than vanished pids. */
  onError?(error: Error): void;
  /** Replaces pidusage (tests). */
  readonly stat?: BatchStat;
}

export interface UsageSampler {
  /** Sample now, outside the schedule (waits for a round in progress instead of overlapping it). */
  sampleNow(): Promise<UsageSamples>;
  /** Stop sampling and drop pidusage's per-pid history. */
  close(): void;
}

const defaultStat: BatchStat = (pids) => pidusage(pids);

export function createUsageSampler(options: UsageSamplerOptions): UsageSampler {
  const stat = options.stat ?? defaultStat;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<UsageSamples> | undefined;
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

  function schedule(): void {
    if (closed) return;
    timer = setTimeout(() => void runRound().then(schedule), options.intervalMs);
    // Sampling alone must not keep a stopping supervisor alive.
    timer.unref();
  }

  // The first round runs at once so that `status` shows numbers right away.
  void runRound().then(schedule);

  return {
    sampleNow: runRound,
    close() {
      closed = true;
      clearTimeout(timer);
      pidusage.clear();
    },
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

function toSamples(
  pids: readonly number[],
  stats: BatchStats,
): Map<number, UsageSample> {
  const samples = new Map<number, UsageSample>();
  for (const pid of pids) {
    const entry = stats[String(pid)];
    if (entry != null) samples.set(pid, { cpu: entry.cpu, memory: entry.memory });
  }
  return samples;
}
