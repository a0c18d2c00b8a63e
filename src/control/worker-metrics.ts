// Cluster mode: each worker's own prom-client metrics, merged into the master's
// `/metrics` with `app` and `slot` labels (what prom-client's AggregatorRegistry
// does for a bare cluster, minus the summing: one scrape sees every worker).
// The worker side is worker-stats.ts; it answers at once, with [] when the app
// has no prom-client, so a scrape waits only on a worker that is stuck, and at
// most `timeoutMs`.

import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';

interface MetricJson {
  name: string;
  values?: Array<{ labels?: Record<string, string | number>; value: number; metricName?: string }>;
  [key: string]: unknown;
}

export interface WorkerMetricsOptions {
  /** The app and slot of a live worker, by pid; undefined for a process in no app's table. */
  readonly whose: (pid: number) => { readonly app: string; readonly slot: number } | undefined;
  readonly timeoutMs?: number;
}

let nextId = 1;
const pending = new Map<number, (worker: Worker, metrics: MetricJson[]) => void>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  cluster.on('message', (worker, message: unknown) => {
    if (typeof message !== 'object' || message === null) return;
    const { type, id, metrics } = message as { type?: unknown; id?: unknown; metrics?: unknown };
    if (type !== 'supervise:metrics' || typeof id !== 'number') return;
    pending.get(id)?.(worker, Array.isArray(metrics) ? (metrics as MetricJson[]) : []);
  });
}

/** Asks every connected worker, waits for the answers (or the timeout), returns Prometheus text. */
export function createWorkerMetrics(options: WorkerMetricsOptions): () => Promise<string> {
  const timeoutMs = options.timeoutMs ?? 1000;
  return async () => {
    listen();
    const workers = Object.values(cluster.workers ?? {}).filter(
      (worker): worker is Worker => worker !== undefined && worker.isConnected() && worker.process.pid !== undefined,
    );
    if (workers.length === 0) return '';
    const id = nextId++;
    const answers: MetricJson[][] = [];
    await new Promise<void>((resolve) => {
      let waiting = workers.length;
      const timer = setTimeout(resolve, timeoutMs);
      pending.set(id, (worker, metrics) => {
        const owner = options.whose(worker.process.pid ?? -1);
        if (owner !== undefined) answers.push(labelled(metrics, { app: owner.app, slot: String(owner.slot) }));
        if (--waiting === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      for (const worker of workers) worker.send({ type: 'supervise:metrics', id }, undefined, () => undefined);
    });
    pending.delete(id);
    if (answers.every((metrics) => metrics.length === 0)) return '';
    try {
      return await AggregatorRegistry.aggregate(answers as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
    } catch {
      // A worker sent metrics prom-client cannot merge (two types under one name): skip them, keep the scrape.
      return '';
    }
  };
}

/** The same metrics with extra labels on every value (distinct labels: aggregation keeps workers apart). */
function labelled(metrics: MetricJson[], extra: Record<string, string>): MetricJson[] {
  return metrics.map((metric) => ({
    ...metric,
    values: (metric.values ?? []).map((value) => ({ ...value, labels: { ...value.labels, ...extra } })),
  }));
}
