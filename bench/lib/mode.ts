// How much of the benchmarks a run measures, from the environment:
//   BENCH_QUICK=1   short rounds and only the contenders that carry a verdict:
//                   the whole `npm run bench` in under two minutes, to check the
//                   scripts (and a trend) on a busy machine. Its figures are
//                   noisier; the full run is for a quiet machine.
//   BENCH_ONLY=a,b  only the targets of these names (proxy.ts, asgi.ts).
//   BENCH_SUPERVISE_ARGS="--front-threads 2"
//                   added to every supervise command line the benchmarks start
//                   (targets.ts): the same run with another setting, no edit.

export const QUICK = process.env.BENCH_QUICK === '1';

/** The target names BENCH_ONLY lists, or undefined when it is unset. */
export function benchOnly(): string[] | undefined {
  const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim()).filter((name) => name !== '');
  return only === undefined || only.length === 0 ? undefined : only;
}

/** Whether a target runs: listed in BENCH_ONLY when set, else `byDefault` (the quick set in quick mode). */
export function wanted(name: string, byDefault: boolean): boolean {
  const only = benchOnly();
  return only === undefined ? byDefault : only.includes(name);
}

/** BENCH_SUPERVISE_ARGS split on white space (no quoting: options and plain values only). */
export function superviseExtraArgs(): string[] {
  return (process.env.BENCH_SUPERVISE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
}
