// "Cluster mode costs nothing at run time": the same hello app in 2 workers
// under keep-alive load, behind
//   - a bare node:cluster script with SCHED_RR (the baseline),
//   - supervise cluster mode,
//   - PM2 cluster mode,
// measured interleaved: every round runs each target once (the order rotates
// from round to round), so that drift of the machine hits all of them alike.
// Acceptance target: supervise ≥ 0.95 × bare node:cluster in req/s.
//
//   node dist/bench/cluster.js [--rounds 3] [--duration 5] [--connections 50] [--workers 2]

import { errorDetail, errorMessage, fmtInt, loadLine, machineLine, fmtMs, freePorts, markdownTable, mean, median, parseNumberFlags, runIfMain, runWrk, type WrkResult } from './common.js';
import { startBareCluster, startPm2, startSuperviseCluster, unavailable, type Target, type TargetOptions } from './targets.js';

const TARGET_RATIO = 0.95;

export interface ClusterSettings {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly threads: number;
  readonly workers: number;
}

const DEFAULTS: ClusterSettings = { rounds: 3, durationS: 5, warmupS: 2, connections: 50, threads: 1, workers: 2 };

interface Contender {
  readonly name: string;
  readonly start: (options: TargetOptions) => Promise<Target>;
  readonly skip?: string | undefined;
}

const CONTENDERS: readonly Contender[] = [
  { name: 'bare node:cluster (SCHED_RR)', start: startBareCluster },
  { name: 'supervise cluster', start: startSuperviseCluster, skip: unavailable('supervise') },
  { name: 'pm2 cluster', start: startPm2, skip: unavailable('pm2') },
];

interface Entry {
  readonly name: string;
  readonly target: Target | undefined;
  readonly failure: string | undefined;
  readonly rounds: WrkResult[];
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseArguments(argv);
  process.stdout.write(`${describe(settings)}\n\n`);
  const entries = await startAll(settings);
  try {
    await measure(entries, settings);
  } finally {
    await Promise.all(entries.map((entry) => entry.target?.stop().catch(() => undefined)));
  }
  process.stdout.write(`${report(entries)}\nat the end: ${loadLine()}\n`);
  return 0;
}

async function startAll(settings: ClusterSettings): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (const contender of CONTENDERS) {
    if (contender.skip) {
      entries.push({ name: contender.name, target: undefined, failure: contender.skip, rounds: [] });
      continue;
    }
    try {
      const target = await contender.start({ port: await freePorts(1), workers: settings.workers });
      entries.push({ name: contender.name, target, failure: undefined, rounds: [] });
    } catch (error) {
      process.stderr.write(`${contender.name}: could not start: ${errorDetail(error)}\n`);
      entries.push({ name: contender.name, target: undefined, failure: errorMessage(error), rounds: [] });
    }
  }
  return entries;
}

async function measure(entries: readonly Entry[], settings: ClusterSettings): Promise<void> {
  const running = entries.filter((entry) => entry.target !== undefined);
  const load = (entry: Entry, durationS: number) =>
    runWrk({ port: (entry.target as Target).port, threads: settings.threads, connections: settings.connections, durationS });
  for (const entry of running) await load(entry, settings.warmupS);
  for (let round = 0; round < settings.rounds; round++) {
    // Rotate the order so that no target always runs right after another.
    const order = running.map((_, i) => running[(i + round) % running.length] as Entry);
    for (const entry of order) {
      const result = await load(entry, settings.durationS);
      entry.rounds.push(result);
      process.stderr.write(`  round ${round + 1}/${settings.rounds} ${entry.name}: ${fmtInt(result.rps)} req/s, p99 ${fmtMs(result.p99Ms)} ms\n`);
    }
  }
}

function report(entries: readonly Entry[]): string {
  const baseline = entries[0]?.rounds.length ? mean(entries[0].rounds.map((r) => r.rps)) : Number.NaN;
  const rows = entries.map((entry) => {
    if (entry.rounds.length === 0) return [entry.name, `n/a (${entry.failure ?? 'not measured'})`, '', '', '', '', ''];
    const rps = entry.rounds.map((r) => r.rps);
    const errors = entry.rounds.reduce((sum, r) => sum + r.errors, 0);
    return [
      entry.name,
      fmtInt(mean(rps)),
      rps.map((v) => fmtInt(v)).join(' / '),
      fmtMs(median(entry.rounds.map((r) => r.p50Ms))),
      fmtMs(median(entry.rounds.map((r) => r.p99Ms))),
      String(errors),
      Number.isFinite(baseline) ? `${(mean(rps) / baseline).toFixed(2)}×` : 'n/a',
    ];
  });
  const table = markdownTable(['target', '>req/s (mean)', '>per round', '>p50 ms', '>p99 ms', '>errors', '>vs bare'], rows);
  return `${table}\n\n${verdict(entries, baseline)}`;
}

function verdict(entries: readonly Entry[], baseline: number): string {
  const supervise = entries.find((entry) => entry.name === 'supervise cluster');
  if (!supervise || supervise.rounds.length === 0 || !Number.isFinite(baseline)) return 'verdict: n/a (supervise or the baseline was not measured)';
  const ratio = mean(supervise.rounds.map((r) => r.rps)) / baseline;
  const pass = ratio >= TARGET_RATIO;
  return `verdict: supervise cluster = ${ratio.toFixed(3)}× bare node:cluster (target ≥ ${TARGET_RATIO}): ${pass ? 'PASS' : 'FAIL'}`;
}

function describe(settings: ClusterSettings): string {
  return [
    '## Cluster mode overhead',
    machineLine(),
    `load: wrk -t${settings.threads} -c${settings.connections} -d${settings.durationS}s keep-alive, GET / → "hello"; ` +
      `${settings.workers} workers per target; ${settings.rounds} interleaved rounds after a ${settings.warmupS}s warm-up each`,
  ].join('\n');
}

function parseArguments(argv: readonly string[]): ClusterSettings {
  const settings = parseNumberFlags(argv, DEFAULTS, {
    '--rounds': 'rounds', '--duration': 'durationS', '--warmup': 'warmupS', '--connections': 'connections', '--threads': 'threads', '--workers': 'workers',
  }, 'cluster.js [--rounds n] [--duration s] [--warmup s] [--connections n] [--threads n] [--workers n]');
  for (const [key, value] of Object.entries(settings)) {
    if (!Number.isInteger(value)) throw new Error(`--${key} must be a whole number (got ${value})`);
  }
  return settings;
}

runIfMain(import.meta.url, main);
