// "Reload under load": 8 s of wrk load with 16 connections, a reload triggered
// at 2 s, and what the clients saw: requests, errors (socket errors, timeouts,
// non-2xx), p99 latency, how long the reload took and whether every worker was
// replaced (pids before and after). Same app, same load, same run for
//   - supervise cluster mode            kill -HUP <master>       keep-alive
//   - supervise spawn mode, tcp front   kill -HUP <master>       a new connection per request, and keep-alive
//     (0 errors: HTTP/1.x keep-alive connections end at a response boundary when their worker drains)
//     (and the http front with keep-alive, for information)
//   - PM2 cluster mode                  pm2 reload hello         keep-alive
//     (and with an app that closes its server on SIGINT, as PM2 asks, for information)
//   - gunicorn + uvicorn workers        kill -HUP <master>       keep-alive
//
//   node dist/bench/reload.js [--duration 8] [--at 2] [--connections 16] [--workers 2] [--only spawn]

import {
  cpuBetween, errorDetail, errorMessage, fmtInt, fmtMs, freePorts, loadLine, machineLine, markdownTable, parseNumberFlags, requireWrk, runIfMain, runWrk,
  sampleCpu, sleep, takeOption, type WrkResult,
} from './common.js';
import { QUICK } from './lib/mode.js';
import {
  startGunicorn, startPm2, startSuperviseCluster, startSuperviseSpawn, unavailable, type Target, type TargetOptions,
} from './targets.js';

export interface ReloadSettings {
  readonly durationS: number;
  readonly reloadAtS: number;
  readonly connections: number;
  readonly workers: number;
  /** Run only the scenarios whose name contains this text. */
  readonly only?: string;
}

// BENCH_QUICK=1 (bench/lib/mode.ts): 4 s per scenario, the reload at 1 s.
const DEFAULTS: ReloadSettings = QUICK ? { durationS: 4, reloadAtS: 1, connections: 16, workers: 2 } : { durationS: 8, reloadAtS: 2, connections: 16, workers: 2 };
const RELOAD_TIMEOUT_MS = 30_000;
const WARMUP_S = 1;

interface Scenario {
  readonly name: string;
  readonly trigger: string;
  /** A new connection per request (`Connection: close`) instead of keep-alive. */
  readonly connectionClose: boolean;
  readonly start: (options: TargetOptions) => Promise<Target>;
  readonly skip?: string | undefined;
}

const spawnMode = (proxy: 'tcp' | 'http') => async (options: TargetOptions) =>
  startSuperviseSpawn({ ...options, basePort: await freePorts(options.workers + 1), proxy });

const SCENARIOS: readonly Scenario[] = [
  { name: 'supervise cluster', trigger: 'kill -HUP', connectionClose: false, start: startSuperviseCluster, skip: unavailable('supervise') },
  { name: 'supervise spawn, tcp front', trigger: 'kill -HUP', connectionClose: true, start: spawnMode('tcp'), skip: unavailable('supervise') },
  { name: 'supervise spawn, tcp front, keep-alive', trigger: 'kill -HUP', connectionClose: false, start: spawnMode('tcp'), skip: unavailable('supervise') },
  { name: 'supervise spawn, http front (info)', trigger: 'kill -HUP', connectionClose: false, start: spawnMode('http'), skip: unavailable('supervise') },
  { name: 'pm2 cluster', trigger: 'pm2 reload', connectionClose: false, start: startPm2, skip: unavailable('pm2') },
  {
    name: 'pm2 cluster, app closes on SIGINT (info)',
    trigger: 'pm2 reload',
    connectionClose: false,
    start: (options) => startPm2({ ...options, app: 'hello-graceful.cjs' }),
    skip: unavailable('pm2'),
  },
  { name: 'gunicorn + uvicorn', trigger: 'kill -HUP', connectionClose: false, start: startGunicorn, skip: unavailable('gunicorn') },
];

type Outcome =
  | { readonly ok: true; readonly load: WrkResult; readonly reloadMs: number | string; readonly replaced: string; readonly otherShare: number }
  | { readonly ok: false; readonly reason: string };

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseArguments(argv);
  requireWrk();
  process.stdout.write(`${describe(settings)}\n\n`);
  const rows: string[][] = [];
  const only = settings.only?.toLowerCase();
  for (const scenario of SCENARIOS.filter((s) => only === undefined || s.name.toLowerCase().includes(only))) {
    const outcome = scenario.skip ? { ok: false as const, reason: scenario.skip } : await runScenario(scenario, settings);
    rows.push(row(scenario, outcome));
    process.stderr.write(`  ${scenario.name}: ${outcome.ok ? `${fmtInt(outcome.load.requests)} requests, ${outcome.load.errors} errors` : outcome.reason}\n`);
  }
  process.stdout.write(`${markdownTable(HEADERS, rows)}\n\n${LEGEND}\nat the end: ${loadLine()}\n`);
  return 0;
}

async function runScenario(scenario: Scenario, settings: ReloadSettings): Promise<Outcome> {
  let target: Target;
  try {
    target = await scenario.start({ port: await freePorts(1), workers: settings.workers });
  } catch (error) {
    process.stderr.write(`${scenario.name}: could not start: ${errorDetail(error)}\n`);
    return { ok: false, reason: errorMessage(error) };
  }
  try {
    return await reloadUnderLoad(target, scenario, settings);
  } catch (error) {
    process.stderr.write(`${scenario.name}: ${errorDetail(error)}\n`);
    return { ok: false, reason: errorMessage(error) };
  } finally {
    await target.stop().catch(() => undefined);
  }
}

async function reloadUnderLoad(target: Target, scenario: Scenario, settings: ReloadSettings): Promise<Outcome> {
  const wrk = (durationS: number) =>
    runWrk({ port: target.port, threads: 1, connections: settings.connections, durationS, connectionClose: scenario.connectionClose });
  await wrk(WARMUP_S);
  const before = await target.workerPids();
  const cpuBefore = sampleCpu(target.rootPids());
  const load = wrk(settings.durationS);
  await sleep(settings.reloadAtS * 1000);
  const triggered = Date.now();
  const reload = target.reload(RELOAD_TIMEOUT_MS).then(() => Date.now() - triggered);
  const [loadResult, reloadResult] = await Promise.allSettled([load, reload]);
  if (loadResult.status === 'rejected') throw loadResult.reason;
  const { otherShare } = cpuBetween(cpuBefore, sampleCpu(target.rootPids()));
  const after = await target.workerPids();
  return {
    ok: true,
    load: loadResult.value,
    reloadMs: reloadResult.status === 'fulfilled' ? reloadResult.value : `failed: ${errorMessage(reloadResult.reason)}`,
    replaced: replacement(before, after, settings.workers),
    otherShare,
  };
}

/** "yes (2/2)" when every pid changed and the count is back to N. */
function replacement(before: readonly number[], after: readonly number[], workers: number): string {
  const replaced = before.filter((pid) => !after.includes(pid)).length;
  const all = replaced === before.length && before.length === workers && after.length === workers;
  return `${all ? 'yes' : 'NO'} (${replaced}/${before.length} replaced, ${after.length} after)`;
}

const HEADERS = ['target', 'load', 'trigger', '>requests', '>errors', 'kinds of error', '>p99 ms', '>max ms', '>reload ms', 'workers replaced', '>other load'];

const LEGEND =
  'errors = socket errors (connect, read, write) + timeouts (> 2 s) + responses with status ≥ 400, as wrk counts them; ' +
  'reload ms = from the trigger until every worker had been replaced (supervise: GET /status; gunicorn: /proc; pm2: `pm2 reload` returned); ' +
  'other load = share of the CPU that processes outside the benchmark took during the load.';

const REASON_MAX = 80;

function row(scenario: Scenario, outcome: Outcome): string[] {
  const load = scenario.connectionClose ? 'new conn/request' : 'keep-alive';
  if (!outcome.ok) {
    const reason = outcome.reason.length > REASON_MAX ? `${outcome.reason.slice(0, REASON_MAX - 1)}…` : outcome.reason;
    return [scenario.name, load, scenario.trigger, 'n/a', '', reason, '', '', '', '', ''];
  }
  const { load: r } = outcome;
  return [
    scenario.name,
    load,
    scenario.trigger,
    fmtInt(r.requests),
    String(r.errors),
    errorBreakdown(r),
    fmtMs(r.p99Ms),
    fmtMs(r.maxMs),
    typeof outcome.reloadMs === 'number' ? fmtInt(outcome.reloadMs) : outcome.reloadMs,
    outcome.replaced,
    `${(outcome.otherShare * 100).toFixed(0)}%`,
  ];
}

/** "read 12, timeout 1": the non-zero kinds of error. */
function errorBreakdown(r: WrkResult): string {
  const kinds: [string, number][] = [...Object.entries(r.socketErrors), ['non-2xx', r.non2xx]];
  return kinds.filter(([, count]) => count > 0).map(([kind, count]) => `${kind} ${count}`).join(', ');
}

function describe(settings: ReloadSettings): string {
  return [
    '## Reload under load',
    machineLine(),
    `load: wrk -t1 -c${settings.connections} -d${settings.durationS}s --timeout 2s, reload triggered at ${settings.reloadAtS}s; ` +
      `${settings.workers} workers per target; ${WARMUP_S}s warm-up first`,
  ].join('\n');
}

const USAGE = 'reload.js [--duration s] [--at s] [--connections n] [--workers n] [--only <text in a target name>]';

function parseArguments(argv: readonly string[]): ReloadSettings {
  const { value: only, rest } = takeOption(argv, '--only', USAGE);
  const settings = parseNumberFlags(rest, DEFAULTS, {
    '--duration': 'durationS', '--at': 'reloadAtS', '--connections': 'connections', '--workers': 'workers',
  }, USAGE);
  if (settings.reloadAtS >= settings.durationS) throw new Error('--at must be before the end of --duration');
  return { ...settings, only };
}

runIfMain(import.meta.url, main);
