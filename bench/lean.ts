// "The supervisor stays lean and quiet at 1,024 workers" (issue 20): supervise in
// spawn mode behind the tcp front with N tiny Python servers
// (bench/apps/tiny_server.py), for N = 256 and 1,024, measuring
//   - the master's RSS and the reaper's, once every worker is ready and idle;
//   - the master's CPU while nothing happens (no traffic, no ctl), over a window;
//   - `GET /status` latency on the control socket (a fresh connection per request, as ctl makes them);
//   - the time `POST /scale {"workers": 8}` takes (it answers once the work is
//     done) until every other worker process is gone.
// Acceptance targets: RSS ≤ 80 MB at 256, < 100 MB at 1,024; idle CPU < 2 % of a
// core at 1,024; 1,024 → 8 in < 10 s; GET /status < 50 ms at 1,024.
//
//   npm run bench:lean                        # builds, then: node dist/bench/lean.js
//   node dist/bench/lean.js [--workers 256,1024] [--runs 1] [--idle 20] [--requests 200]
//   --node-flags "…": node's own flags for the master (--cpu-prof, --max-semi-space-size …), to profile or compare
//
// 1,024 Python processes take ≈10 GB of memory and a minute to start on 2 cores.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../src/control/client.js';
import {
  APPS, REPO, childPids, errorDetail, fmtMs, freePorts, machineLine, markdownTable, pidAlive, runIfMain, sleep, startProcess, takeOption, tempDir,
  TICKS_PER_SECOND, waitUntil,
} from './common.js';

const USAGE = 'node dist/bench/lean.js [--workers 256,1024] [--runs 1] [--idle 20] [--requests 200] [--node-flags "--cpu-prof …"]';
const SCALE_TO = 8;
/** A scale-down slower than this is reported as failed (∞). */
const SCALE_LIMIT_MS = 300_000;
const TARGETS = { rss256MB: 80, rss1024MB: 100, idleCpuPercent: 2, scaleDownS: 10, statusMs: 50 };

interface Settings {
  readonly workers: number[];
  readonly runs: number;
  readonly idleS: number;
  readonly requests: number;
  readonly nodeFlags: string[];
}

interface Run {
  readonly workers: number;
  readonly masterRssMB: number;
  readonly reaperRssMB: number;
  readonly idleCpuPercent: number;
  readonly statusMs: { p50: number; p99: number; max: number };
  readonly masterRssAfterStatusMB: number;
  readonly scaleDownS: number;
  readonly startS: number;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseArguments(argv);
  process.stdout.write(`${machineLine()}\n${describe(settings)}\n\n`);
  const runs: Run[] = [];
  for (let round = 0; round < settings.runs; round++) {
    for (const workers of settings.workers) {
      try {
        const run = await measure(workers, settings);
        runs.push(run);
        process.stdout.write(`run ${round + 1}, ${workers} workers: ${JSON.stringify(run)}\n`);
      } catch (error) {
        process.stderr.write(`run ${round + 1}, ${workers} workers failed: ${errorDetail(error)}\n`);
        return 1;
      }
    }
  }
  process.stdout.write(`\n${report(runs)}\n`);
  return verdict(runs) ? 0 : 1;
}

function parseArguments(argv: readonly string[]): Settings {
  let rest = [...argv];
  const take = (name: string): string | undefined => {
    const { value, rest: others } = takeOption(rest, name, USAGE);
    rest = others;
    return value;
  };
  const workers = (take('--workers') ?? '256,1024').split(',').map(Number);
  const runs = Number(take('--runs') ?? 1);
  const idleS = Number(take('--idle') ?? 20);
  const requests = Number(take('--requests') ?? 200);
  const nodeFlags = (take('--node-flags') ?? '').split(' ').filter((flag) => flag !== '');
  if (rest.length > 0) throw new Error(`usage: ${USAGE} (unknown argument ${rest[0]})`);
  for (const [name, value] of [['--runs', runs], ['--idle', idleS], ['--requests', requests], ...workers.map((w) => ['--workers', w] as const)] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`usage: ${USAGE} (${name} must be a positive integer)`);
  }
  return { workers, runs, idleS, requests, nodeFlags };
}

function describe(settings: Settings): string {
  return `tiny Python servers (python3 -S bench/apps/tiny_server.py {port}) in spawn mode behind the tcp front; ` +
    `${settings.workers.join(' and ')} workers, ${settings.runs} run(s); idle window ${settings.idleS} s; ` +
    `${settings.requests} GET /status; then scale to ${SCALE_TO}${settings.nodeFlags.length > 0 ? `; master: node ${settings.nodeFlags.join(' ')}` : ''}`;
}

async function measure(workers: number, settings: Settings): Promise<Run> {
  const dir = tempDir('lean');
  const control = join(dir, 'control.sock');
  const port = await freePorts(1);
  const basePort = await freePorts(workers);
  const started = Date.now();
  const master = startProcess('supervise', process.execPath, [
    ...settings.nodeFlags, join(REPO, 'bin', 'supervise.js'), '--log-format', 'json', '--log-level', 'warn', '--control', control,
    '-w', String(workers), '--base-port', String(basePort), '--port', String(port), '--proxy', 'tcp',
    '--ready-timeout', '300000', '--kill-timeout', '10000',
    '--', 'python3', '-S', join(APPS, 'tiny_server.py'), '{port}',
  ]);
  try {
    await waitUntil(`${workers} ready workers`, async () => (await readyWorkers(control)) >= workers, { timeoutMs: 600_000, intervalMs: 1000, proc: master });
    const startS = (Date.now() - started) / 1000;
    // The start's garbage collected and its timers settled.
    await sleep(5000);
    const reaper = reaperPid(master.pid);
    const masterRssMB = rssMB(master.pid);
    const reaperRssMB = reaper === undefined ? 0 : rssMB(reaper);
    const before = cpuTicks(master.pid);
    const t0 = process.hrtime.bigint();
    await sleep(settings.idleS * 1000);
    const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
    const idleCpuPercent = ((cpuTicks(master.pid) - before) / TICKS_PER_SECOND / elapsedS) * 100;
    const statusMs = await statusLatency(control, settings.requests);
    const masterRssAfterStatusMB = rssMB(master.pid);
    const scaleDownS = await scaleDown(control, master.pid).catch((error: unknown) => {
      process.stderr.write(`${workers} → ${SCALE_TO}: ${errorDetail(error)}\n`);
      return Number.POSITIVE_INFINITY;
    });
    return { workers, masterRssMB, reaperRssMB, idleCpuPercent, statusMs, masterRssAfterStatusMB, scaleDownS, startS };
  } finally {
    await master.stop(30_000, { group: true });
    await waitUntil('every worker to exit', () => childPids(master.pid).length === 0 || !pidAlive(master.pid), { timeoutMs: 30_000 }).catch(() => undefined);
  }
}

interface StatusWorker {
  readonly state: string;
  readonly pid?: number;
}

async function workersOf(control: string): Promise<StatusWorker[]> {
  const response = await controlRequest(control, 'GET', '/status', undefined, 10_000);
  return (response.json as { workers?: StatusWorker[] } | undefined)?.workers ?? [];
}

async function readyWorkers(control: string): Promise<number> {
  try {
    return (await workersOf(control)).filter((w) => w.state === 'ready').length;
  } catch {
    return 0; // not listening yet
  }
}

function procStatusKB(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

const rssMB = (pid: number) => procStatusKB(pid, 'VmRSS') / 1024;

/** utime + stime of the process itself (not its children). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return (fields[11] ?? 0) + (fields[12] ?? 0);
}

function reaperPid(master: number): number | undefined {
  return childPids(master).find((pid) => {
    try {
      return /reaper-process|supervise_reaper/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
}

async function statusLatency(control: string, requests: number): Promise<Run['statusMs']> {
  const samples: number[] = [];
  for (let index = 0; index < requests + 10; index++) {
    const t0 = process.hrtime.bigint();
    const response = await controlRequest(control, 'GET', '/status', undefined, 10_000);
    if (response.status !== 200) throw new Error(`GET /status answered ${response.status}`);
    if (index >= 10) samples.push(Number(process.hrtime.bigint() - t0) / 1e6); // 10 warm-up requests
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: samples.at(-1) ?? 0 };
}

/** Seconds from POST /scale until it answered and only SCALE_TO workers (and the reaper) are left. */
async function scaleDown(control: string, master: number): Promise<number> {
  const t0 = Date.now();
  const response = await controlRequest(control, 'POST', '/scale', { workers: SCALE_TO }, SCALE_LIMIT_MS);
  if (response.status !== 200) throw new Error(`POST /scale answered ${response.status}: ${JSON.stringify(response.json)}`);
  const expected = SCALE_TO + (reaperPid(master) === undefined ? 0 : 1);
  await waitUntil(`${SCALE_TO} worker processes left`, () => childPids(master).length <= expected, { timeoutMs: SCALE_LIMIT_MS, intervalMs: 50 });
  const left = await workersOf(control);
  if (left.length !== SCALE_TO) throw new Error(`after the scale, status shows ${left.length} workers`);
  return (Date.now() - t0) / 1000;
}

function report(runs: readonly Run[]): string {
  const rows = runs.map((run) => [
    String(run.workers), run.masterRssMB.toFixed(0), run.masterRssAfterStatusMB.toFixed(0), run.reaperRssMB.toFixed(0),
    run.idleCpuPercent.toFixed(1), fmtMs(run.statusMs.p50), fmtMs(run.statusMs.p99), fmtMs(run.statusMs.max),
    run.scaleDownS.toFixed(1), run.startS.toFixed(0),
  ]);
  return markdownTable(
    ['>workers', '>master RSS MB', '>after /status MB', '>reaper RSS MB', '>idle CPU %', '>/status p50 ms', '>p99 ms', '>max ms', `>→ ${SCALE_TO} s`, '>start s'],
    rows,
  );
}

function verdict(runs: readonly Run[]): boolean {
  const failures: string[] = [];
  for (const run of runs) {
    const rssLimit = run.workers <= 256 ? TARGETS.rss256MB : TARGETS.rss1024MB;
    if (run.masterRssMB > rssLimit) failures.push(`${run.workers} workers: master RSS ${run.masterRssMB.toFixed(0)} MB > ${rssLimit}`);
    if (run.workers >= 1024 && run.idleCpuPercent >= TARGETS.idleCpuPercent) failures.push(`${run.workers} workers: idle CPU ${run.idleCpuPercent.toFixed(1)} % ≥ ${TARGETS.idleCpuPercent}`);
    if (run.scaleDownS >= TARGETS.scaleDownS) failures.push(`${run.workers} → ${SCALE_TO}: ${run.scaleDownS.toFixed(1)} s ≥ ${TARGETS.scaleDownS}`);
    if (run.statusMs.p99 >= TARGETS.statusMs) failures.push(`${run.workers} workers: GET /status p99 ${run.statusMs.p99.toFixed(1)} ms ≥ ${TARGETS.statusMs}`);
  }
  process.stdout.write(failures.length === 0 ? '\nevery target met\n' : `\nOVER target:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
  return failures.length === 0;
}

runIfMain(import.meta.url, main);
