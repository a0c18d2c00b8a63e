// Prometheus metrics for `GET /metrics`.
//
// Gauges are computed at scrape time from one `api.status()` snapshot, so they
// cost nothing between scrapes and can never drift from what `ctl status` shows.
// Counters are fed by the supervisor's events, because a count of things that
// happened cannot be recovered from a snapshot.
//
// Per-worker series are labelled by slot only: slots are bounded (≤ 1024) and
// stable across restarts and reloads, whereas pids and worker ids would create a
// new series on every restart. While a slot is being replaced two processes
// share it for a moment; their usage is summed, which is what the slot costs.

import { Counter, Gauge, Registry } from 'prom-client';
import type { AppStatus, SystemApi } from '../core/system-api.js';
import type { SupervisorApi, SupervisorEvent, WorkerStatus } from '../core/types.js';
import type { WorkerState } from '../core/worker-state.js';
import { singleAppSystem } from './single-app.js';

export interface Metrics {
  /** The Content-Type of `render()`'s text (Prometheus text format 0.0.4). */
  readonly contentType: string;
  render(): Promise<string>;
}

const WORKER_STATES: readonly WorkerState[] = ['starting', 'ready', 'draining', 'stopping', 'exited', 'backoff'];

/** More Prometheus text appended to each scrape (the L7 front's requests, cluster workers' own metrics). */
export type MetricsSource = () => string | Promise<string>;

/** Every series carries an `app` label (SPEC §8); a lone supervisor is the app named "app". */
export function createMetrics(source: SystemApi | SupervisorApi, sources: readonly MetricsSource[] = []): Metrics {
  const system = 'appNames' in source ? source : singleAppSystem(source);
  const registry = new Registry();
  const gauges = createSnapshotGauges(registry);
  const counters = createEventCounters(registry);
  system.onEvent((app, event) => countEvent(counters, app, event));

  return {
    contentType: registry.contentType,
    async render() {
      // Reset first: an app removed by `ctl apply`, or a slot scaled away, must disappear, not keep its last value.
      for (const gauge of Object.values(gauges)) gauge.reset();
      for (const app of system.status().apps) {
        setSnapshotGauges(gauges, app);
        // Both outcomes exist from the start, so `rate()` sees the first failure as a change.
        for (const outcome of ['ok', 'failed']) counters.reloads.inc({ app: app.name, outcome }, 0);
      }
      const parts = await Promise.all([registry.metrics(), ...sources.map(async (extra) => extra())]);
      return parts.filter((part) => part !== '').map((part) => (part.endsWith('\n') ? part : `${part}\n`)).join('');
    },
  };
}

// ---------------------------------------------------------------- snapshot gauges

type SnapshotGauges = ReturnType<typeof createSnapshotGauges>;

function createSnapshotGauges(registry: Registry) {
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L | 'app'>({ name, help, labelNames: ['app', ...labelNames], registers: [registry] });
  return {
    desired: gauge('supervise_workers_desired', 'Number of workers the supervisor aims to run.'),
    generation: gauge('supervise_generation', 'Current generation; every reload bumps it.'),
    reloading: gauge('supervise_reloading', '1 while a rolling reload runs, else 0.'),
    workers: gauge('supervise_workers', 'Worker processes by lifecycle state.', ['state']),
    cpu: gauge('supervise_worker_cpu_percent', 'CPU use of the worker(s) in a slot, percent of one core.', ['slot']),
    memory: gauge('supervise_worker_memory_bytes', 'Resident set size of the worker(s) in a slot, in bytes.', ['slot']),
    connections: gauge(
      'supervise_worker_connections',
      'Open connections through the front to the worker(s) in a slot (spawn mode with a front).',
      ['slot'],
    ),
    uptime: gauge('supervise_worker_uptime_seconds', 'Uptime of the longest-running worker in a slot.', ['slot']),
    healthy: gauge('supervise_worker_healthy', '1 when every worker in the slot passes its health checks, else 0.', ['slot']),
    // Remote servers (SPEC §13), labelled by address:port: a bounded set the user wrote or DNS gave.
    serverUp: gauge('supervise_upstream_server_up', '1 while a remote server takes traffic (in rotation), else 0.', ['server', 'state', 'backup']),
    serverConnections: gauge('supervise_upstream_server_connections', 'Open connections or in-flight requests to a remote server.', ['server']),
    // A counter read from the snapshot: it restarts from 0 when the slot's worker
    // is replaced, which Prometheus' rate() treats as an ordinary counter reset.
    connectionsTotal: new Counter<'app' | 'slot'>({
      name: 'supervise_worker_connections_total',
      help: 'Connections the front handed to the current worker(s) of a slot (spawn mode with a front).',
      labelNames: ['app', 'slot'],
      registers: [registry],
    }),
  };
}

function setSnapshotGauges(gauges: SnapshotGauges, status: AppStatus): void {
  const app = { app: status.name };
  gauges.desired.set(app, status.desired);
  gauges.generation.set(app, status.generation);
  gauges.reloading.set(app, status.reloading ? 1 : 0);

  // Every state is reported, zeros included, so that queries need no `or vector(0)`.
  for (const state of WORKER_STATES) {
    gauges.workers.set({ ...app, state }, status.workers.filter((worker) => worker.state === state).length);
  }

  for (const server of status.servers ?? []) {
    const labels = { ...app, server: server.server };
    gauges.serverUp.set({ ...labels, state: server.state, backup: String(server.backup) }, server.inRotation ? 1 : 0);
    gauges.serverConnections.set(labels, server.connections);
  }

  for (const [slot, workers] of groupBySlot(status.workers)) {
    const labels = { ...app, slot: String(slot) };
    gauges.cpu.set(labels, sum(workers, (worker) => worker.cpu));
    gauges.memory.set(labels, sum(workers, (worker) => worker.memory));
    gauges.uptime.set(labels, Math.max(...workers.map((worker) => worker.uptimeMs)) / 1000);
    gauges.healthy.set(labels, workers.every((worker) => worker.healthy) ? 1 : 0);
    const known = workers.filter((worker) => worker.connections !== undefined);
    if (known.length > 0) gauges.connections.set(labels, sum(known, (worker) => worker.connections ?? 0));
    const counted = workers.filter((worker) => worker.totalConnections !== undefined);
    if (counted.length > 0) gauges.connectionsTotal.inc(labels, sum(counted, (worker) => worker.totalConnections ?? 0));
  }
}

function groupBySlot(workers: readonly WorkerStatus[]): Map<number, WorkerStatus[]> {
  const bySlot = new Map<number, WorkerStatus[]>();
  for (const worker of workers) {
    // Exited records are history, not processes that use resources.
    if (worker.state === 'exited') continue;
    const group = bySlot.get(worker.slot);
    if (group === undefined) bySlot.set(worker.slot, [worker]);
    else group.push(worker);
  }
  return bySlot;
}

function sum(workers: readonly WorkerStatus[], value: (worker: WorkerStatus) => number): number {
  return workers.reduce((total, worker) => total + value(worker), 0);
}

// ---------------------------------------------------------------- event counters

type EventCounters = ReturnType<typeof createEventCounters>;

function createEventCounters(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  return {
    restarts: counter('supervise_worker_restarts_total', 'Workers restarted after an unrequested exit, by slot.', ['app', 'slot']),
    reloads: counter('supervise_reloads_total', 'Rolling reloads by outcome.', ['app', 'outcome']),
    healthFailures: counter('supervise_health_check_failures_total', 'Failed health probes, by slot.', ['app', 'slot']),
    transitions: counter('supervise_worker_state_transitions_total', 'Worker lifecycle transitions.', ['app', 'from', 'to']),
  };
}

function countEvent(counters: EventCounters, app: string, event: SupervisorEvent): void {
  // The supervisor calls observers synchronously and requires that they never throw.
  try {
    switch (event.type) {
      case 'worker-restart':
        counters.restarts.inc({ app, slot: String(event.slot) });
        break;
      case 'reload':
        counters.reloads.inc({ app, outcome: event.ok ? 'ok' : 'failed' });
        break;
      case 'health-failure':
        counters.healthFailures.inc({ app, slot: String(event.slot) });
        break;
      case 'worker-state':
        counters.transitions.inc({ app, from: event.from, to: event.to });
        break;
    }
  } catch {
    // A metric that cannot be counted must not take the supervisor down.
  }
}
