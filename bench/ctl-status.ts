// Latency of `GET /status` on the control socket, the request behind
// `supervise ctl status`. Acceptance target: ctl status at 4 workers < 20 ms.
//
//   node dist/bench/ctl-status.js                   # against a fake supervisor with 4 workers
//   node dist/bench/ctl-status.js ./.supervise.sock # against a running supervisor
//   node dist/bench/ctl-status.js --requests 1000
//
// Three measures, each a fresh connection per request as ctl makes them:
//   request    GET /status over the socket (server + client round trip)
//   ctl        runCtl(['status']) in-process: the request plus parsing and the table
//   process    `node … ctl status` as a new process: adds Node's start-up, which dominates

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pino from 'pino';
import { runCtl } from '../src/cli/ctl.js';
import { formatTable } from '../src/cli/format.js';
import { controlRequest } from '../src/control/client.js';
import { createMetrics } from '../src/control/metrics.js';
import { startControlServer } from '../src/control/server.js';
import { createFakeSupervisor } from '../test/helpers/fake-supervisor.js';

const TARGET_MS = 20;
const WARMUP = 20;

interface Measure {
  readonly name: string;
  readonly samplesMs: readonly number[];
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const { socketPath, requests } = parseArguments(argv);
  const target = socketPath === undefined ? await startFakeTarget() : { path: resolve(socketPath), close: async () => {} };
  try {
    const measures = [
      await measure('request', requests, async () => {
        const response = await controlRequest(target.path, 'GET', '/status', undefined, 5000);
        if (response.status !== 200) throw new Error(`GET /status answered ${response.status}`);
      }),
      await measure('ctl', requests, async () => {
        const code = await runCtl(['--control', target.path, 'status'], { write: () => true }, process.stderr);
        if (code !== 0) throw new Error(`ctl status exited ${code}`);
      }),
      await measure('process', Math.min(20, requests), () => ctlInNewProcess(target.path), 2),
    ];
    const workers = await countWorkers(target.path);
    process.stdout.write(report(measures, target.path, workers));
    const ctl = measures.find((entry) => entry.name === 'ctl');
    const p99 = percentile(ctl?.samplesMs ?? [], 0.99);
    const pass = p99 < TARGET_MS;
    process.stdout.write(`\nctl status p99 ${p99.toFixed(2)} ms: ${pass ? 'within' : 'OVER'} the ${TARGET_MS} ms target\n`);
    return pass ? 0 : 1;
  } finally {
    await target.close();
  }
}

function parseArguments(argv: readonly string[]): { socketPath: string | undefined; requests: number } {
  let socketPath: string | undefined;
  let requests = 200;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--requests') {
      requests = Number(argv[++index]);
      if (!Number.isInteger(requests) || requests < 1) throw new Error('--requests must be a positive integer');
    } else if (argument !== undefined) {
      socketPath = argument;
    }
  }
  return { socketPath, requests };
}

async function startFakeTarget(): Promise<{ path: string; close(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'supervise-bench-'));
  const fake = createFakeSupervisor({ workers: 4 });
  const server = await startControlServer({
    path: join(directory, 'control.sock'),
    api: fake,
    metrics: createMetrics(fake),
    logger: pino({ level: 'silent' }),
  });
  return {
    path: server.path,
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function measure(name: string, count: number, run: () => Promise<void>, warmup = WARMUP): Promise<Measure> {
  for (let index = 0; index < warmup; index++) await run();
  const samplesMs: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = process.hrtime.bigint();
    await run();
    samplesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { name, samplesMs };
}

/** `supervise ctl status` as a user runs it: a new Node process importing the built CLI. */
function ctlInNewProcess(socketPath: string): Promise<void> {
  const ctlModule = pathToFileURL(fileURLToPath(new URL('../src/cli/ctl.js', import.meta.url))).href;
  const script =
    `import { runCtl } from ${JSON.stringify(ctlModule)};` +
    `process.exitCode = await runCtl(['--control', ${JSON.stringify(socketPath)}, 'status'], process.stdout, process.stderr);`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`ctl status exited ${code}`))));
  });
}

async function countWorkers(socketPath: string): Promise<number | undefined> {
  const response = await controlRequest(socketPath, 'GET', '/status', undefined, 5000);
  const workers = (response.json as { workers?: unknown[] } | undefined)?.workers;
  return workers?.length;
}

function percentile(samples: readonly number[], fraction: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
}

function report(measures: readonly Measure[], socketPath: string, workers: number | undefined): string {
  const ms = (value: number): string => value.toFixed(2);
  const rows = measures.map(({ name, samplesMs }) => [
    name,
    String(samplesMs.length),
    ms(percentile(samplesMs, 0.5)),
    ms(percentile(samplesMs, 0.99)),
    ms(Math.max(...samplesMs)),
  ]);
  const table = formatTable(
    [
      { header: 'MEASURE' },
      { header: 'N', align: 'right' },
      { header: 'P50 MS', align: 'right' },
      { header: 'P99 MS', align: 'right' },
      { header: 'MAX MS', align: 'right' },
    ],
    rows,
  );
  return `GET /status on ${socketPath} (${workers ?? '?'} workers), node ${process.version}\n${table}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
