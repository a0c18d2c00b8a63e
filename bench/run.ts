// `npm run bench`: the benchmarks in sequence, each printing its
// own table (Markdown, as pasted into docs/benchmarks.md).
//
//   node dist/bench/run.js                          # cluster, reload, proxy, asgi, edge, lean, tls
//   node dist/bench/run.js --only cluster           # one of cluster | reload | proxy | asgi | edge | lean | tls
//   node dist/bench/run.js --only cluster,reload    # several
//   BENCH_QUICK=1 node dist/bench/run.js            # proxy, asgi, edge in short rounds: < 2 minutes
//
// BENCH_QUICK=1 is for checking the scripts, or a trend, on a busy machine: the
// benchmarks of the edge (issue 17) only, 1-3 s slices, the contenders of the
// verdicts only (bench/lib/mode.ts). The full run is for a quiet machine.
//
// Each benchmark also runs alone: node dist/bench/cluster.js (see its header).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorDetail, runIfMain } from './common.js';
import { QUICK } from './lib/mode.js';

type BenchMain = (argv: readonly string[]) => Promise<number | void>;

interface Bench {
  readonly name: string;
  /** The compiled module, next to this file. */
  readonly module: string;
}

const BENCHES: readonly Bench[] = [
  { name: 'cluster', module: './cluster.js' },
  { name: 'reload', module: './reload.js' },
  { name: 'proxy', module: './proxy.js' },
  { name: 'asgi', module: './asgi.js' },
  { name: 'edge', module: './edge.js' },
  { name: 'lean', module: './lean.js' },
  { name: 'tls', module: './tls.js' },
];

/** What BENCH_QUICK=1 runs when no --only is given. */
const QUICK_BENCHES = ['proxy', 'asgi', 'edge'];

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const selected = parseArguments(argv);
  const started = Date.now();
  let failures = 0;
  for (const bench of BENCHES.filter((b) => selected.includes(b.name))) {
    process.stdout.write(`\n=== bench: ${bench.name} ===\n\n`);
    const benchStarted = Date.now();
    try {
      const code = await runBench(bench);
      if (typeof code === 'number' && code !== 0) failures++;
    } catch (error) {
      failures++;
      process.stderr.write(`bench ${bench.name} failed: ${errorDetail(error)}\n`);
    }
    process.stdout.write(`\n(${bench.name}: ${((Date.now() - benchStarted) / 1000).toFixed(0)} s)\n`);
  }
  process.stdout.write(`\n(all: ${((Date.now() - started) / 1000).toFixed(0)} s${QUICK ? ', BENCH_QUICK=1: short slices on whatever else the machine ran' : ''})\n`);
  return failures === 0 ? 0 : 1;
}

async function runBench(bench: Bench): Promise<number | void> {
  const url = new URL(bench.module, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    process.stdout.write(`skipped: ${fileURLToPath(url)} does not exist (not written yet?)\n`);
    return 0;
  }
  const module = (await import(url.href)) as { main?: BenchMain };
  if (typeof module.main !== 'function') throw new Error(`${bench.module} exports no main()`);
  return module.main([]);
}

function parseArguments(argv: readonly string[]): string[] {
  const names = BENCHES.map((b) => b.name);
  if (argv.length === 0) return QUICK ? QUICK_BENCHES : names;
  const only = argv[0] === '--only' && argv.length === 2 ? (argv[1] ?? '').split(',') : undefined;
  const unknown = only?.filter((name) => !names.includes(name));
  if (only === undefined || only.length === 0 || (unknown && unknown.length > 0)) {
    throw new Error(`usage: run.js [--only ${names.join('|')}[,…]]${unknown?.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
  }
  return only;
}

runIfMain(import.meta.url, main);
