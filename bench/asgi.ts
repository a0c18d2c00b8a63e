// "gunicorn's setup, one command": the ASGI app of bench/apps (asgi_hello.py)
// in two uvicorn workers, served by
//   - supervise -w 2 --proxy http -- uvicorn asgi_hello:app --port {port}
//   - supervise -w 2 --proxy tcp  -- uvicorn asgi_hello:app --port {port}
//   - gunicorn -w 2 -k uvicorn.workers.UvicornWorker asgi_hello:app   (the anchor)
//   - uvicorn asgi_hello:app --workers 2
// under two loads, wrk -c50: keep-alive, and a new connection per request
// ("Connection: close"). uvicorn runs without its access log everywhere
// (gunicorn writes none by default). Interleaved rounds as in proxy.ts; the
// verdict takes the median of the per-round ratios against gunicorn.
// Columns: req/s, latency, the CPU of the whole setup (master and workers) per
// request, and the share of a core the master's main thread used (supervise:
// the event loop that runs the control plane, and the http front's data plane
// while it has no threads of its own; gunicorn: its arbiter).
//
// Acceptance target (issue 17): supervise --proxy http ≥ 1.0× gunicorn's
// req/s on both loads.
//
//   node dist/bench/asgi.js [--rounds 5] [--duration 3] [--warmup 1] [--connections 50] [--workers 2] [--access-log 0|1]
//
// --access-log 1: every server writes an access log line per request to stdout
// (uvicorn's default; gunicorn with --access-logfile -), as the master reads it.
//
// BENCH_QUICK=1: 2 rounds of 1 s; BENCH_ONLY="supervise http + uvicorn,gunicorn + uvicorn": only these.

import {
  cpuBetween, errorDetail, errorMessage, fmtInt, fmtMs, freePorts, loadLine, machineLine, markdownTable, median, parseNumberFlags, requireWrk, runIfMain,
  runWrk, sampleCpu, type WrkResult,
} from './common.js';
import { QUICK, superviseExtraArgs, wanted } from './lib/mode.js';
import { coreShareBetween, fmtCore, sampleThreadCpu } from './lib/thread-cpu.js';
import {
  startGunicorn, startSuperviseUvicorn, startUvicorn, unavailable, type AccessLogOption, type Target, type TargetOptions,
} from './targets.js';

export interface AsgiSettings {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly workers: number;
  /** 1: an access log line per request, on stdout. */
  readonly accessLog: number;
}

const DEFAULTS: AsgiSettings = QUICK
  ? { rounds: 2, durationS: 1, warmupS: 1, connections: 50, workers: 2, accessLog: 0 }
  : { rounds: 5, durationS: 3, warmupS: 1, connections: 50, workers: 2, accessLog: 0 };
const TARGET_RATIO = 1.0;
const ANCHOR = 'gunicorn + uvicorn';

const LOADS = [
  { name: 'keep-alive', connectionClose: false },
  { name: 'new conn/req', connectionClose: true },
] as const;
type LoadName = (typeof LOADS)[number]['name'];

interface Contender {
  readonly name: string;
  readonly start: (options: TargetOptions & AccessLogOption) => Promise<Target>;
  readonly skip: string | undefined;
}

const superviseWith = (proxy: 'tcp' | 'http') => async (options: TargetOptions & AccessLogOption) =>
  startSuperviseUvicorn({ ...options, basePort: await freePorts(options.workers + 1), proxy });

const CONTENDERS: readonly Contender[] = [
  { name: 'supervise http + uvicorn', start: superviseWith('http'), skip: unavailable('supervise') ?? unavailable('uvicorn') },
  { name: 'supervise tcp + uvicorn', start: superviseWith('tcp'), skip: unavailable('supervise') ?? unavailable('uvicorn') },
  { name: ANCHOR, start: startGunicorn, skip: unavailable('gunicorn') },
  { name: 'uvicorn --workers', start: startUvicorn, skip: unavailable('uvicorn') },
];

interface Slice extends WrkResult {
  /** CPU of the whole setup (master and workers) per request, in µs. */
  readonly cpuUsPerRequest: number;
  /** Share of a core the master's main thread used, and the whole master process (all its threads, not its workers). */
  readonly masterCore: number;
  readonly masterProcessCore: number;
  /** The busiest worker's share of the workers' CPU: 1/workers when even, 1 when one worker served everything. */
  readonly busiestWorker: number;
}

interface Entry {
  readonly name: string;
  readonly target: Target | undefined;
  readonly failure: string | undefined;
  readonly results: Map<LoadName, Slice[]>;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseArguments(argv);
  requireWrk();
  process.stdout.write(`${describe(settings)}\n\n`);
  const entries: Entry[] = [];
  try {
    for (const contender of CONTENDERS.filter((c) => wanted(c.name, true))) entries.push(await startEntry(contender, settings));
    await measure(entries, settings);
  } finally {
    await Promise.all(entries.map((entry) => entry.target?.stop().catch(() => undefined)));
  }
  process.stdout.write(`${report(entries)}\nat the end: ${loadLine()}\n`);
  return 0;
}

async function startEntry(contender: Contender, settings: AsgiSettings): Promise<Entry> {
  const results = new Map<LoadName, Slice[]>();
  if (contender.skip !== undefined) return { name: contender.name, target: undefined, failure: contender.skip, results };
  try {
    const target = await contender.start({ port: await freePorts(1), workers: settings.workers, accessLog: settings.accessLog === 1 });
    return { name: contender.name, target, failure: undefined, results };
  } catch (error) {
    process.stderr.write(`${contender.name}: could not start: ${errorDetail(error)}\n`);
    return { name: contender.name, target: undefined, failure: errorMessage(error), results };
  }
}

async function measure(entries: readonly Entry[], settings: AsgiSettings): Promise<void> {
  const running = entries.filter((entry) => entry.target !== undefined);
  for (const load of LOADS) {
    for (const entry of running) await runSlice(entry.target as Target, load.connectionClose, settings, settings.warmupS);
  }
  for (let round = 0; round < settings.rounds; round++) {
    for (const load of LOADS) {
      for (const entry of running.map((_, i) => running[(i + round) % running.length] as Entry)) {
        const slice = await runSlice(entry.target as Target, load.connectionClose, settings, settings.durationS);
        entry.results.set(load.name, [...(entry.results.get(load.name) ?? []), slice]);
        process.stderr.write(
          `  round ${round + 1}/${settings.rounds} ${load.name.padEnd(12)} ${entry.name.padEnd(26)} ${fmtInt(slice.rps).padStart(6)} req/s  ` +
            `p99 ${fmtMs(slice.p99Ms)} ms  ${slice.cpuUsPerRequest.toFixed(0)} µs CPU/req  master main thread ${fmtCore(slice.masterCore)}\n`,
        );
      }
    }
  }
}

async function runSlice(target: Target, connectionClose: boolean, settings: AsgiSettings, durationS: number): Promise<Slice> {
  const roots = target.rootPids();
  const master = roots[0];
  const workers = await target.workerPids();
  const workersBefore = workers.map((pid) => sampleThreadCpu(pid).process);
  const before = sampleCpu(roots);
  const threadBefore = master === undefined ? undefined : sampleThreadCpu(master);
  const load = await runWrk({ port: target.port, threads: 1, connections: settings.connections, durationS, connectionClose });
  const cpu = cpuBetween(before, sampleCpu(roots));
  const share = threadBefore === undefined || master === undefined ? undefined : coreShareBetween(threadBefore, sampleThreadCpu(master));
  const workerTicks = workers.map((pid, i) => sampleThreadCpu(pid).process - (workersBefore[i] as number)).filter(Number.isFinite);
  const totalTicks = workerTicks.reduce((sum, ticks) => sum + ticks, 0);
  return {
    busiestWorker: totalTicks > 0 ? Math.max(...workerTicks) / totalTicks : Number.NaN,
    ...load,
    cpuUsPerRequest: (cpu.targetS * 1e6) / Math.max(1, load.requests),
    masterCore: share?.mainThread ?? Number.NaN,
    masterProcessCore: share?.process ?? Number.NaN,
  };
}

function report(entries: readonly Entry[]): string {
  const anchor = entries.find((entry) => entry.name === ANCHOR);
  const rows: string[][] = [];
  for (const load of LOADS) {
    const reference = anchor?.results.get(load.name) ?? [];
    for (const entry of entries) {
      const results = entry.results.get(load.name) ?? [];
      if (results.length === 0) {
        rows.push([entry.name, load.name, `n/a (${entry.failure ?? 'not measured'})`, '', '', '', '', '', '', '', '', '', '']);
        continue;
      }
      rows.push([
        entry.name,
        load.name,
        fmtInt(median(results.map((r) => r.rps))),
        results.map((r) => fmtInt(r.rps)).join(' / '),
        fmtMs(median(results.map((r) => r.p50Ms))),
        fmtMs(median(results.map((r) => r.p99Ms))),
        median(results.map((r) => r.cpuUsPerRequest)).toFixed(0),
        fmtCore(median(results.map((r) => r.masterCore))),
        fmtCore(median(results.map((r) => r.masterProcessCore))),
        results.map((r) => fmtCore(r.busiestWorker)).join(' / '),
        String(results.reduce((sum, r) => sum + r.errors, 0)),
        perRoundRatio(results, reference, (r) => r.rps),
        perRoundRatio(results, reference, (r) => r.p99Ms),
      ]);
    }
  }
  const table = markdownTable(
    ['target', 'load', '>req/s (median)', '>per round', '>p50 ms', '>p99 ms', '>CPU µs/req (all)', '>master main thread', '>master process', '>busiest worker', '>errors', '>req/s vs gunicorn', '>p99 vs gunicorn'],
    rows,
  );
  return [
    table,
    '',
    'ratios: medians of the per-round ratios. CPU µs/req: master and workers. master main thread, master process: share of one core ' +
      "(tid = pid, all the master's threads). busiest worker: its share of the workers' CPU, per round (50 % of 2 is even; " +
      'behind a shared socket one worker may accept most of the keep-alive connections).',
    verdict(entries),
  ].join('\n');
}

/** The median over the rounds of ours / theirs (both ran in the same round). */
function perRoundRatio(ours: readonly Slice[], theirs: readonly Slice[], value: (slice: Slice) => number): string {
  if (ours.length === 0 || ours.length !== theirs.length) return 'n/a';
  return `${median(ours.map((slice, i) => value(slice) / value(theirs[i] as Slice))).toFixed(2)}×`;
}

function verdict(entries: readonly Entry[]): string {
  const anchor = entries.find((entry) => entry.name === ANCHOR);
  return entries
    .filter((entry) => entry.name.startsWith('supervise'))
    .flatMap((entry) =>
      LOADS.map((load) => {
        const ours = entry.results.get(load.name) ?? [];
        const theirs = anchor?.results.get(load.name) ?? [];
        if (ours.length === 0 || ours.length !== theirs.length) return `verdict ${entry.name} ${load.name}: n/a`;
        const ratio = median(ours.map((slice, i) => slice.rps / (theirs[i] as Slice).rps));
        // The goal is the http front's; the tcp front's ratio is printed for comparison.
        const goal = entry.name.startsWith('supervise http') ? `target ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'PASS' : 'FAIL'}` : 'for information';
        return `verdict ${entry.name} ${load.name}: ${ratio.toFixed(2)}× gunicorn req/s (median of the per-round ratios); ${goal}`;
      }),
    )
    .join('\n');
}

function describe(settings: AsgiSettings): string {
  return [
    "## gunicorn's setup: uvicorn workers behind supervise, gunicorn and uvicorn --workers",
    machineLine(),
    `app: bench/apps/asgi_hello.py ("hello"), ${settings.workers} uvicorn workers per target, ` +
      `${settings.accessLog ? 'an access log line per request on stdout' : 'no access log'}; ` +
      `load: wrk -t1 -c${settings.connections} -d${settings.durationS}s, keep-alive and "Connection: close"; ` +
      `${settings.rounds} interleaved rounds after a ${settings.warmupS}s warm-up per target and load; no CPU pinning` +
      (superviseExtraArgs().length ? `; supervise with ${superviseExtraArgs().join(' ')}` : ''),
  ].join('\n');
}

const USAGE = 'asgi.js [--rounds n] [--duration s] [--warmup s] [--connections n] [--workers n] [--access-log 0|1]';

function parseArguments(argv: readonly string[]): AsgiSettings {
  // parseNumberFlags takes positive numbers only: --access-log 0 is the default, left out.
  const at = argv.indexOf('--access-log');
  const accessLog = at === -1 ? DEFAULTS.accessLog : Number(argv[at + 1]);
  if (accessLog !== 0 && accessLog !== 1) throw new Error(`usage: ${USAGE} (--access-log takes 0 or 1)`);
  const rest = at === -1 ? argv : [...argv.slice(0, at), ...argv.slice(at + 2)];
  const settings = parseNumberFlags(rest, DEFAULTS, {
    '--rounds': 'rounds', '--duration': 'durationS', '--warmup': 'warmupS', '--connections': 'connections', '--workers': 'workers',
  }, USAGE);
  for (const [key, value] of Object.entries(settings)) {
    if (!Number.isInteger(value)) throw new Error(`--${key} must be a whole number (got ${value})`);
  }
  return { ...settings, accessLog };
}

runIfMain(import.meta.url, main);
