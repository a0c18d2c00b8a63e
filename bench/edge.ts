// "The front as an edge" (issue 17): what load and hostile clients cost the
// master — the process that runs health checks, restarts and the control
// socket — with the product as a user runs it:
//   supervise -w 2 --proxy http -- node bench/apps/hello-port.cjs {port}
// Three phases, one after the other, on the same supervisor:
//   load      wrk -c50 keep-alive through the http front: req/s, and the
//             share of a core the master's main thread (tid = pid) and the
//             whole master process used;
//   idle      ordinary traffic only: 10 keep-alive clients, each GET / then a
//             10 ms pause (a few hundred req/s, far below capacity, so that
//             p99 is the front's delay, not a queue), and GET /status on the
//             control socket every 50 ms;
//   hostile   the same, while <drip> connections send a 30 KiB head a byte per
//             write (one byte per connection every 5 ms) and <slow>
//             connections send slow headers (a byte every 2 s), from a process
//             of their own (bench/lib/hostile-clients.ts).
// Everything on loopback, every phase bounded by --duration.
//
// Acceptance targets (issue 17): under load, and under the hostile clients,
// the master's main thread < 10 % of a core; under the hostile clients the
// ordinary requests all succeed with p99 < 2× the idle p99, and GET /status
// p99 < 20 ms.
//
//   node dist/bench/edge.js [--duration 10] [--connections 50] [--drip 200] [--slow 500] [--workers 2]
//
// BENCH_QUICK=1: 3 s per phase.

import { join } from 'node:path';
import {
  errorMessage, fmtInt, fmtMs, freePorts, loadLine, machineLine, markdownTable, parseNumberFlags, REPO, requireWrk, runIfMain, runWrk, sleep, startProcess,
  waitUntil,
} from './common.js';
import { QUICK, superviseExtraArgs } from './lib/mode.js';
import { pacedRequests, percentile, pollStatus, type LatencySamples } from './lib/paced-load.js';
import { coreShareBetween, fmtCore, sampleThreadCpu, type CoreShare } from './lib/thread-cpu.js';
import { startSuperviseSpawn, unavailable, type Target } from './targets.js';

export interface EdgeSettings {
  readonly durationS: number;
  readonly connections: number;
  readonly drip: number;
  readonly slow: number;
  readonly workers: number;
}

const DEFAULTS: EdgeSettings = { durationS: QUICK ? 3 : 10, connections: 50, drip: 200, slow: 500, workers: 2 };
const HOSTILE = join(REPO, 'dist', 'bench', 'lib', 'hostile-clients.js');
const PACED = { connections: 10, pauseMs: 10 };
const STATUS_INTERVAL_MS = 50;
const TARGETS = { mainThread: 0.1, p99VsIdle: 2, statusP99Ms: 20 };

interface Phase {
  readonly name: string;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly statusP99Ms: number;
  readonly cpu: CoreShare;
  /** Main-thread CPU per request, in µs. */
  readonly mainUsPerRequest: number;
  readonly note: string;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseArguments(argv);
  requireWrk();
  const skip = unavailable('supervise');
  if (skip !== undefined) throw new Error(skip);
  process.stdout.write(`${describe(settings)}\n\n`);
  const target = await startSuperviseSpawn({ port: await freePorts(1), workers: settings.workers, basePort: await freePorts(settings.workers + 1), proxy: 'http' });
  const phases: Phase[] = [];
  try {
    const master = target.rootPids()[0] as number;
    phases.push(await loadPhase(target, master, settings));
    phases.push(await pacedPhase('idle', target, master, settings, ''));
    phases.push(await hostilePhase(target, master, settings));
  } finally {
    await target.stop();
  }
  process.stdout.write(`${report(phases)}\nat the end: ${loadLine()}\n`);
  return 0;
}

async function loadPhase(target: Target, master: number, settings: EdgeSettings): Promise<Phase> {
  await runWrk({ port: target.port, threads: 1, connections: settings.connections, durationS: 1 }); // warm-up
  const before = sampleThreadCpu(master);
  const load = await runWrk({ port: target.port, threads: 1, connections: settings.connections, durationS: settings.durationS });
  const cpu = coreShareBetween(before, sampleThreadCpu(master));
  return {
    name: `load: wrk -c${settings.connections} keep-alive`,
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    errors: load.errors,
    statusP99Ms: Number.NaN,
    cpu,
    mainUsPerRequest: (cpu.mainThread * load.durationS * 1e6) / Math.max(1, load.requests),
    note: '',
  };
}

async function pacedPhase(name: string, target: Target, master: number, settings: EdgeSettings, note: string): Promise<Phase> {
  const durationMs = settings.durationS * 1000;
  const before = sampleThreadCpu(master);
  const [requests, status] = await Promise.all([
    pacedRequests(target.port, PACED.connections, PACED.pauseMs, durationMs),
    target.controlSocket === undefined ? Promise.resolve<LatencySamples>({ samplesMs: [], errors: 0 }) : pollStatus(target.controlSocket, STATUS_INTERVAL_MS, durationMs),
  ]);
  const cpu = coreShareBetween(before, sampleThreadCpu(master));
  const count = requests.samplesMs.length;
  return {
    name,
    rps: count / settings.durationS,
    p50Ms: percentile(requests.samplesMs, 0.5),
    p99Ms: percentile(requests.samplesMs, 0.99),
    errors: requests.errors + status.errors,
    statusP99Ms: percentile(status.samplesMs, 0.99),
    cpu,
    mainUsPerRequest: (cpu.mainThread * settings.durationS * 1e6) / Math.max(1, count),
    note,
  };
}

async function hostilePhase(target: Target, master: number, settings: EdgeSettings): Promise<Phase> {
  const hostile = startProcess('hostile clients', process.execPath, [HOSTILE, String(target.port), String(settings.drip), String(settings.slow)], { keepStdout: true });
  try {
    await waitUntil('the hostile clients connected', () => hostile.stdout().includes('ready'), { proc: hostile, timeoutMs: 30_000 });
    await sleep(500); // the drip under way
    const before = sampleThreadCpu(hostile.pid);
    const phase = await pacedPhase(`hostile: ${settings.drip} × 30 KiB head a byte per write, ${settings.slow} slow headers`, target, master, settings, '');
    // The attackers share the machine's two cores with the master: what they took is what the others lacked.
    const attackers = coreShareBetween(before, sampleThreadCpu(hostile.pid)).process;
    return { ...phase, note: `${await hostileStats(hostile)}; the hostile clients used ${fmtCore(attackers)} of a core` };
  } catch (error) {
    await hostile.stop(2000);
    throw error;
  }
}

/** The hostile process's own account, read as it stops: what it sent and what the front did with it. */
async function hostileStats(hostile: ReturnType<typeof startProcess>): Promise<string> {
  await hostile.stop(5000);
  const line = hostile.stdout().split('\n').find((l) => l.startsWith('HOSTILE_JSON '));
  if (line === undefined) return 'hostile clients: no report';
  try {
    const stats = JSON.parse(line.slice('HOSTILE_JSON '.length)) as Record<string, number>;
    return `${fmtInt(stats.bytes ?? 0)} bytes written, ${stats.opened} connections opened, ${stats.closedByServer} closed by the front`;
  } catch (error) {
    return `hostile clients: ${errorMessage(error)}`;
  }
}

function report(phases: readonly Phase[]): string {
  const table = markdownTable(
    ['phase', '>req/s', '>p50 ms', '>p99 ms', '>errors', '>status p99 ms', '>master main thread', '>µs/req (main thread)', '>master process', 'note'],
    phases.map((p) => [
      p.name,
      fmtInt(p.rps),
      fmtMs(p.p50Ms),
      fmtMs(p.p99Ms),
      String(p.errors),
      Number.isFinite(p.statusP99Ms) ? fmtMs(p.statusP99Ms) : '–',
      fmtCore(p.cpu.mainThread),
      p.mainUsPerRequest.toFixed(1),
      fmtCore(p.cpu.process),
      p.note,
    ]),
  );
  return `${table}\n\nmaster main thread / process: share of one core (tid = pid / all its threads) over the phase.\n${verdicts(phases)}`;
}

function verdicts(phases: readonly Phase[]): string {
  const [load, idle, hostile] = phases as [Phase, Phase, Phase];
  const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const p99Ratio = hostile.p99Ms / idle.p99Ms;
  return [
    `verdict load: master main thread ${fmtCore(load.cpu.mainThread)} of a core under wrk -c50 keep-alive (target < ${fmtCore(TARGETS.mainThread)}): ${pass(load.cpu.mainThread < TARGETS.mainThread)}`,
    `verdict hostile main thread: ${fmtCore(hostile.cpu.mainThread)} of a core (idle: ${fmtCore(idle.cpu.mainThread)}; target < ${fmtCore(TARGETS.mainThread)}): ${pass(hostile.cpu.mainThread < TARGETS.mainThread)}`,
    `verdict hostile ordinary requests: p99 ${fmtMs(hostile.p99Ms)} ms = ${p99Ratio.toFixed(2)}× idle (${fmtMs(idle.p99Ms)} ms), ${hostile.errors} errors ` +
      `(target < ${TARGETS.p99VsIdle}×, 0 errors): ${pass(p99Ratio < TARGETS.p99VsIdle && hostile.errors === 0)}`,
    `verdict hostile control socket: GET /status p99 ${fmtMs(hostile.statusP99Ms)} ms (target < ${TARGETS.statusP99Ms} ms): ${pass(hostile.statusP99Ms < TARGETS.statusP99Ms)}`,
  ].join('\n');
}

function describe(settings: EdgeSettings): string {
  return [
    '## The master under load and under hostile clients',
    machineLine(),
    `target: supervise -w ${settings.workers} --proxy http ${superviseExtraArgs().join(' ')}${superviseExtraArgs().length ? ' ' : ''}-- node hello-port.cjs {port}; ${settings.durationS} s per phase; ` +
      `ordinary traffic: ${PACED.connections} keep-alive clients, ${PACED.pauseMs} ms between requests; GET /status every ${STATUS_INTERVAL_MS} ms; ` +
      `hostile: ${settings.drip} connections dripping a 30 KiB head (a byte per connection every 5 ms, from a random point of the head), ` +
      `${settings.slow} slow-header connections (a byte every 2 s)`,
  ].join('\n');
}

const USAGE = 'edge.js [--duration s] [--connections n] [--drip n] [--slow n] [--workers n]';

function parseArguments(argv: readonly string[]): EdgeSettings {
  const settings = parseNumberFlags(argv, DEFAULTS, {
    '--duration': 'durationS', '--connections': 'connections', '--drip': 'drip', '--slow': 'slow', '--workers': 'workers',
  }, USAGE);
  for (const [key, value] of Object.entries(settings)) {
    if (!Number.isInteger(value)) throw new Error(`--${key} must be a whole number (got ${value})`);
  }
  return settings;
}

runIfMain(import.meta.url, main);
