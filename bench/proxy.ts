// "The front proxy is as fast as the proxies people already run": supervise's
// tcp front against HAProxy `mode tcp` and nginx `stream` (L4), its http front
// against HAProxy `mode http` and nginx `http` with upstream keepalive (L7),
// all over the same two hello backends, plus a direct-to-one-backend baseline.
//
// Two loads, each with wrk -c50: keep-alive connections, and a new connection
// per request ("Connection: close"). Targets are measured interleaved: every
// round runs each target once per load, the order rotating from round to
// round, so that drift of the machine (other work on it) hits all alike.
// Every proxy runs in a process of its own with one thread (HAProxy nbthread 1,
// nginx worker_processes 1, supervise's front is one node process); the CPU
// columns are that process's user+system time per request (which other load on
// the machine disturbs far less than req/s), the share of a core its main
// thread used (tid = pid: for supervise the event loop the control plane shares
// with the data plane while the data plane has no threads of its own) and the
// share the whole process used.
//
// Acceptance targets (issue 17; medians of the per-round ratios): L4, supervise
// tcp ≥ 0.95× HAProxy `mode tcp` req/s on both loads, p99 ≤ 1.3×; L7, supervise
// http ≥ 1.0× HAProxy `mode http` on both loads, p99 ≤ 1.2× (nginx http beside
// it, for information); supervise http's main thread < 10 % of a core under
// keep-alive load (it holds once the data plane runs on threads of its own).
//
//   node dist/bench/proxy.js [--rounds 5] [--duration 2] [--warmup 1] [--connections 50] [--pin 0|1] [--naive 0|1] [--layer 0|4|7] [--l7 0|1]
//
// --layer 4 or 7 measures only that layer's contenders (and the direct baseline); 0: both.
//
// --l7 1 measures only the L7 question of the system file (SPEC §8): the http
// front with and without routing (target: routing within 5 % of req/s).
// --pin 1 runs wrk on the last CPU (taskset), everything else wherever the
// scheduler puts it; --naive 1 adds the textbook net+pipe proxy (the "before").
// BENCH_QUICK=1: 2 rounds of 1 s, only the contenders of the verdicts;
// BENCH_ONLY="supervise http,haproxy http": only these (bench/lib/mode.ts);
// BENCH_FRONT_OPTIONS='{"frontThreads":2}': merged into supervise's createFront() options (lib/front-server.ts).

import { cpus } from 'node:os';
import { nativeTunnelPath } from '../src/proxy/native-tunnel.js';
import {
  errorDetail, errorMessage, fmtInt, fmtMs, freePorts, loadLine, machineLine, markdownTable, median, parseWrkReport,
  runIfMain, startProcess, tempDir, wrkArgs, type WrkResult,
} from './common.js';
import {
  cpuTicks, startBackend, startHaproxy, startNaiveProxy, startNginx, startSuperviseFront, TICKS_PER_SECOND, unavailable, type ProxyTarget,
} from './lib/proxy-targets.js';
import { QUICK, wanted } from './lib/mode.js';
import { coreShareBetween, fmtCore, sampleThreadCpu } from './lib/thread-cpu.js';

export interface ProxyBenchSettings {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly pin: number;
  /** 1: also measure the textbook net+pipe proxy, the "before" of the tcp front's optimisations. */
  readonly naive: number;
  /** 4 or 7: only that layer's contenders; 0: both. */
  readonly layer: number;
  /** 1: only the http front with and without routing (and the direct baseline). */
  readonly l7: number;
}

const DEFAULTS: ProxyBenchSettings = QUICK
  ? { rounds: 2, durationS: 1, warmupS: 1, connections: 50, pin: 0, naive: 0, layer: 0, l7: 0 }
  : { rounds: 5, durationS: 2, warmupS: 1, connections: 50, pin: 0, naive: 0, layer: 0, l7: 0 };
/** The contenders of the verdicts: what BENCH_QUICK measures. */
const QUICK_SET = new Set(['direct (one backend)', 'supervise tcp', 'haproxy tcp', 'supervise http', 'haproxy http', 'nginx http']);
const L7_ONLY = new Set(['direct (one backend)', 'supervise http', 'supervise http (routed)']);

/** What each contender's ratios are taken against: its layer's anchor. */
const ANCHORS: Record<number, string> = { 4: 'haproxy tcp', 7: 'haproxy http' };
const L7_TARGETS = { keepAlive: 1.0, newConnection: 1.0, p99: 1.2 };
/** supervise http's main thread under keep-alive load: below this share of a core. */
const MAIN_THREAD_TARGET = 0.1;

const LOADS = [
  { name: 'keep-alive', connectionClose: false },
  { name: 'new conn/req', connectionClose: true },
] as const;
type LoadName = (typeof LOADS)[number]['name'];

const TARGETS = {
  keepAlive: 0.95,
  newConnection: 0.95,
  p99: 1.3,
};

type Measured = WrkResult & {
  readonly cpuUsPerRequest: number;
  /** Share of a core its main thread (tid = pid) used, and the whole process (all its threads). */
  readonly mainThreadCore: number;
  readonly processCore: number;
};

interface Entry {
  readonly name: string;
  /** 4 or 7 (0: the direct baseline, measured with either). */
  readonly layer: number;
  readonly target: ProxyTarget | undefined;
  readonly failure: string | undefined;
  readonly results: Map<LoadName, Measured[]>;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseArguments(argv);
  process.stdout.write(`${describe(settings)}\n\n`);
  const dir = tempDir('proxy');
  const [backendA, backendB] = [await freePorts(1), await freePorts(1)] as [number, number];
  const backends = [await startBackend(backendA), await startBackend(backendB)];
  const entries: Entry[] = [];
  try {
    const pair = [backendA, backendB];
    const contenders: Array<[string, number, string | undefined, () => Promise<ProxyTarget>]> = [
      ['direct (one backend)', 0, undefined, async () => ({ ...(backends[0] as ProxyTarget), pids: () => [] })],
      ['supervise tcp', 4, unavailable('supervise'), async () => startSuperviseFront('tcp', await freePorts(1), pair)],
      ['supervise tcp (net.Socket)', 4, unavailable('supervise'), async () => startSuperviseFront('tcp', await freePorts(1), pair, 'net.Socket')],
      ['haproxy tcp', 4, unavailable('haproxy'), async () => startHaproxy(await freePorts(1), pair, dir)],
      ['nginx stream', 4, unavailable('nginx-stream'), async () => startNginx(await freePorts(1), pair, dir)],
      ['supervise http', 7, unavailable('supervise'), async () => startSuperviseFront('http', await freePorts(1), pair)],
      ['supervise http (routed)', 7, unavailable('supervise'), async () => startSuperviseFront('http-routed', await freePorts(1), pair)],
      ['supervise http (javascript)', 7, unavailable('supervise'), async () => startSuperviseFront('http', await freePorts(1), pair, 'javascript')],
      ['nginx http', 7, unavailable('nginx'), async () => startNginx(await freePorts(1), pair, dir, 'http')],
      ['haproxy http', 7, unavailable('haproxy'), async () => startHaproxy(await freePorts(1), pair, dir, 'http')],
    ];
    if (settings.naive) contenders.push(['naive net+pipe', 4, unavailable('supervise'), async () => startNaiveProxy(await freePorts(1), pair)]);
    for (const [name, layer, skip, start] of contenders) {
      const byDefault = (settings.layer === 0 || layer === 0 || layer === settings.layer) && (!QUICK || QUICK_SET.has(name));
      if (settings.l7 ? L7_ONLY.has(name) : wanted(name, byDefault)) entries.push(await startEntry(name, layer, skip, start));
    }
    await measure(entries, settings);
  } finally {
    // The direct baseline's target is a backend, stopped below; every other entry (the first too, when BENCH_ONLY leaves the baseline out) here.
    await Promise.all(entries.filter((entry) => entry.name !== 'direct (one backend)').map((entry) => entry.target?.stop().catch(() => undefined)));
    await Promise.all(backends.map((backend) => backend.stop().catch(() => undefined)));
  }
  process.stdout.write(`${report(entries)}\nat the end: ${loadLine()}\n`);
  return 0;
}

async function startEntry(name: string, layer: number, skip: string | undefined, start: () => Promise<ProxyTarget>): Promise<Entry> {
  const results = new Map<LoadName, Measured[]>();
  if (skip !== undefined) return { name, layer, target: undefined, failure: skip, results };
  try {
    return { name, layer, target: await start(), failure: undefined, results };
  } catch (error) {
    process.stderr.write(`${name}: could not start: ${errorDetail(error)}\n`);
    return { name, layer, target: undefined, failure: errorMessage(error), results };
  }
}

async function measure(entries: readonly Entry[], settings: ProxyBenchSettings): Promise<void> {
  const running = entries.filter((entry) => entry.target !== undefined);
  for (const load of LOADS) {
    for (const entry of running) await runLoad(entry, load, settings, settings.warmupS);
  }
  for (let round = 0; round < settings.rounds; round++) {
    for (const load of LOADS) {
      const order = running.map((_, i) => running[(i + round) % running.length] as Entry);
      for (const entry of order) {
        const result = await runLoad(entry, load, settings, settings.durationS);
        const list = entry.results.get(load.name) ?? [];
        list.push(result);
        entry.results.set(load.name, list);
        process.stderr.write(
          `  round ${round + 1}/${settings.rounds} ${load.name.padEnd(12)} ${entry.name.padEnd(20)} ${fmtInt(result.rps).padStart(7)} req/s  p99 ${fmtMs(result.p99Ms)} ms  ${result.cpuUsPerRequest.toFixed(1)} µs CPU/req\n`,
        );
      }
    }
  }
}

async function runLoad(
  entry: Entry,
  load: (typeof LOADS)[number],
  settings: ProxyBenchSettings,
  durationS: number,
): Promise<Measured> {
  const target = entry.target as ProxyTarget;
  const args = wrkArgs({ port: target.port, threads: 1, connections: settings.connections, durationS, connectionClose: load.connectionClose });
  const lastCpu = String(cpus().length - 1);
  const [command, commandArgs] = settings.pin ? ['taskset', ['-c', lastCpu, 'wrk', ...args]] : ['wrk', args];
  const pids = target.pids();
  const mainPid = target.mainPid?.() ?? pids[0];
  const before = cpuTicks(pids);
  const threadBefore = mainPid === undefined ? undefined : sampleThreadCpu(mainPid);
  const proc = startProcess('wrk', command, commandArgs, { keepStdout: true });
  const timer = setTimeout(() => proc.signal('SIGKILL'), (durationS + 30) * 1000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const ticks = cpuTicks(pids) - before;
  const share = threadBefore === undefined || mainPid === undefined ? undefined : coreShareBetween(threadBefore, sampleThreadCpu(mainPid));
  const line = proc.stdout().split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (exit.code !== 0 || line === undefined) throw new Error(`wrk failed against ${entry.name} (${exit.signal ?? exit.code}):\n${proc.tail()}`);
  const result = parseWrkReport(line.slice('WRK_JSON '.length));
  const cpuUsPerRequest = pids.length === 0 || result.requests === 0 ? Number.NaN : (ticks * 1e6) / TICKS_PER_SECOND / result.requests;
  // The process column adds the proxy's other processes (nginx's worker beside its master).
  const processCore = pids.length === 0 ? Number.NaN : ticks / TICKS_PER_SECOND / result.durationS;
  return { ...result, cpuUsPerRequest, mainThreadCore: share?.mainThread ?? Number.NaN, processCore };
}

function report(entries: readonly Entry[]): string {
  const rows: string[][] = [];
  for (const load of LOADS) {
    for (const entry of entries) {
      // Each layer against its anchor (the baseline against the L4 one).
      const anchor = entries.find((other) => other.name === ANCHORS[entry.layer === 0 ? 4 : entry.layer]);
      const reference = anchor?.results.get(load.name) ?? [];
      const refRps = median(reference.map((r) => r.rps));
      const refP99 = median(reference.map((r) => r.p99Ms));
      const results = entry.results.get(load.name) ?? [];
      if (results.length === 0) {
        rows.push([entry.name, load.name, `n/a (${entry.failure ?? 'not measured'})`, '', '', '', '', '', '', '', '', '']);
        continue;
      }
      const rps = median(results.map((r) => r.rps));
      const p99 = median(results.map((r) => r.p99Ms));
      const cpu = median(results.map((r) => r.cpuUsPerRequest));
      rows.push([
        entry.name,
        load.name,
        fmtInt(rps),
        results.map((r) => fmtInt(r.rps)).join(' / '),
        fmtMs(median(results.map((r) => r.p50Ms))),
        fmtMs(p99),
        Number.isFinite(cpu) ? cpu.toFixed(1) : '–',
        fmtCore(median(results.map((r) => r.mainThreadCore))),
        fmtCore(median(results.map((r) => r.processCore))),
        String(results.reduce((sum, r) => sum + r.errors, 0)),
        Number.isFinite(refRps) ? `${(rps / refRps).toFixed(2)}×` : 'n/a',
        Number.isFinite(refP99) ? `${(p99 / refP99).toFixed(2)}×` : 'n/a',
      ]);
    }
  }
  const table = markdownTable(
    ['target', 'load', '>req/s (median)', '>per round', '>p50 ms', '>p99 ms', '>CPU µs/req', '>main thread', '>process', '>errors', '>req/s vs anchor', '>p99 vs anchor'],
    rows,
  );
  return (
    `${table}\n\nanchors: L4 rows against haproxy tcp, L7 rows against haproxy http. ` +
    `main thread, process: share of one core (tid = pid, and all threads of the proxy's processes), median of the rounds.\n${verdict(entries)}`
  );
}

/** The verdicts: L4, supervise tcp against haproxy tcp; L7, supervise http against haproxy http (nginx http beside it); the main thread. */
function verdict(entries: readonly Entry[]): string {
  return [
    verdictOf(entries, ' L4', 'supervise tcp', 'haproxy tcp', TARGETS),
    verdictOf(entries, ' L7', 'supervise http', 'haproxy http', L7_TARGETS, 'nginx http'),
    mainThreadVerdict(entries),
  ].join('\n');
}

/** supervise http under keep-alive load: its main thread's share of a core, median of the rounds. */
function mainThreadVerdict(entries: readonly Entry[]): string {
  const results = entries.find((entry) => entry.name === 'supervise http')?.results.get('keep-alive') ?? [];
  const share = median(results.map((r) => r.mainThreadCore));
  if (!Number.isFinite(share)) return 'verdict main thread: n/a';
  const process = median(results.map((r) => r.processCore));
  // Per request too: on a busy machine the front gets less than the core it could use, and its share with it.
  const perRequest = median(results.map((r) => (r.mainThreadCore * r.durationS * 1e6) / Math.max(1, r.requests)));
  return (
    `verdict main thread: supervise http under wrk -c50 keep-alive, main thread ${fmtCore(share)} of a core ` +
    `(${perRequest.toFixed(1)} µs per request; process ${fmtCore(process)}); ` +
    `target < ${fmtCore(MAIN_THREAD_TARGET)}: ${share < MAIN_THREAD_TARGET ? 'PASS' : 'FAIL'}`
  );
}

function verdictOf(
  entries: readonly Entry[],
  label: string,
  oursName: string,
  anchorName: string,
  targets: { keepAlive: number; newConnection: number; p99: number },
  besideName?: string,
): string {
  const find = (name: string) => entries.find((entry) => entry.name === name);
  const supervise = find(oursName);
  const anchor = find(anchorName);
  if (!supervise || !anchor) return `verdict${label}: n/a`;
  const lines: string[] = [];
  for (const [load, target] of [['keep-alive', targets.keepAlive], ['new conn/req', targets.newConnection]] as const) {
    const ours = supervise.results.get(load) ?? [];
    const theirs = anchor.results.get(load) ?? [];
    if (ours.length === 0 || theirs.length === 0) {
      lines.push(`verdict${label} ${load}: n/a`);
      continue;
    }
    // Per round: both ran in the same round, minutes apart at most, so that
    // the machine's drift (±30% between rounds here) cancels in the ratio.
    const ratio = median(ours.map((r, i) => r.rps / (theirs[i] as WrkResult).rps));
    const p99 = median(ours.map((r, i) => r.p99Ms / (theirs[i] as WrkResult).p99Ms));
    const beside = besideName === undefined ? [] : (find(besideName)?.results.get(load) ?? []);
    const besideRatio =
      beside.length === ours.length
        ? `; against ${besideName}: ${median(ours.map((r, i) => r.rps / (beside[i] as WrkResult).rps)).toFixed(2)}×, p99 ${median(ours.map((r, i) => r.p99Ms / (beside[i] as WrkResult).p99Ms)).toFixed(2)}×`
        : '';
    const pass = ratio >= target && p99 <= targets.p99;
    lines.push(
      `verdict${label} ${load}: ${oursName} = ${ratio.toFixed(2)}× ${anchorName} req/s (target ≥ ${target}), p99 ${p99.toFixed(2)}× (target ≤ ${targets.p99}), medians of the per-round ratios: ${pass ? 'PASS' : 'FAIL'}${besideRatio}`,
    );
  }
  return lines.join('\n');
}

function describe(settings: ProxyBenchSettings): string {
  return [
    '## Front proxy',
    machineLine(),
    `supervise tcp: ${nativeTunnelPath() === undefined ? 'native tunnel NOT built (npm run build:native): the JavaScript data path' : 'native data plane built (src/native): its threads accept, decide from the snapshot, connect and move the bytes'}`,
    `supervise http: ${nativeTunnelPath() === undefined ? 'native module NOT built: the JavaScript data path' : 'the native http data path (src/native/http_front.c); "(javascript)": node\'s http server and client'}`,
    `load: wrk -t1 -c${settings.connections} -d${settings.durationS}s, GET / → "hello", keep-alive and "Connection: close"; ` +
      `${settings.rounds} interleaved rounds after a ${settings.warmupS}s warm-up per target and load; ` +
      (settings.pin ? `wrk pinned to CPU ${cpus().length - 1}` : 'no CPU pinning') +
      (process.env.BENCH_FRONT_OPTIONS ? `; supervise's fronts with BENCH_FRONT_OPTIONS=${process.env.BENCH_FRONT_OPTIONS}` : ''),
  ].join('\n');
}

function parseArguments(argv: readonly string[]): ProxyBenchSettings {
  const flags: Record<string, keyof ProxyBenchSettings> = {
    '--rounds': 'rounds', '--duration': 'durationS', '--warmup': 'warmupS', '--connections': 'connections', '--pin': 'pin', '--naive': 'naive',
    '--layer': 'layer', '--l7': 'l7',
  };
  const settings: Record<string, number> = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i += 2) {
    const key = flags[argv[i] ?? ''];
    const value = Number(argv[i + 1]);
    const zeroOk = key === 'pin' || key === 'naive' || key === 'layer' || key === 'l7';
    if (key === undefined || !Number.isInteger(value) || value < 0 || (!zeroOk && value === 0) || (key === 'layer' && ![0, 4, 7].includes(value))) {
      throw new Error(`usage: proxy.js [--rounds n] [--duration s] [--warmup s] [--connections n] [--pin 0|1] [--naive 0|1] [--layer 0|4|7] [--l7 0|1] (bad argument: ${argv[i]} ${argv[i + 1] ?? ''})`);
    }
    settings[key] = value;
  }
  return settings as unknown as ProxyBenchSettings;
}

runIfMain(import.meta.url, main);
