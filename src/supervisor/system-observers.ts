// What a system shows of its apps beyond their status: worker output (the log
// store: ring and files per app), the L7 fronts' request counters by app, and
// which app and slot a cluster worker's pid is (its own metrics). The system
// owns one of these and feeds it; nothing here changes an app.

import type { MetricsSource } from '../control/metrics.js';
import { renderRequestMetrics, renderThreadMetrics, totalsByApp, type RequestStatsLike } from '../control/request-metrics.js';
import { createWorkerMetrics } from '../control/worker-metrics.js';
import type { Logger } from '../log.js';
import { LogStore } from '../logs/store.js';
import type { App } from './app.js';
import type { RequestTotals } from '../core/system-api.js';
import type { Front, SupervisorEvent, WorkerId } from '../core/types.js';
import type { WorkerRecord } from './worker-record.js';

export class SystemObservers {
  /** Worker output of every app: the ring for `ctl logs`, and the apps' log files. */
  readonly logs: LogStore;
  /** Which app a worker id belongs to (ids are never reused), for the request counters. */
  private readonly workerApps = new Map<WorkerId, string>();

  constructor(
    logger: Logger,
    private readonly apps: () => Iterable<App>,
    /** The routing front, when the system has one. */
    private readonly routingFront: () => unknown,
    /** Publishes an event of an app (`ctl events`, the master's log has its own line). */
    publish: (app: string, event: SupervisorEvent) => void = () => undefined,
  ) {
    this.logs = new LogStore({
      onError: (app, error) => {
        logger.error({ err: error, app }, `log file of ${app} failed: ${error.message}; its lines are counted and dropped until it can be written again (worker output still reaches the master's log)`);
        publish(app, { type: 'log-file', ok: false, error: error.message });
      },
      onResume: (app, lost) => {
        logger.warn({ app, lost }, `log file of ${app} is written again: ${lost} line${lost === 1 ? '' : 's'} lost meanwhile (the file says so too)`);
        publish(app, { type: 'log-file', ok: true, lost });
      },
    });
  }

  /** A line of a worker's output. */
  output(app: App, worker: WorkerRecord, stream: 'stdout' | 'stderr', msg: string, continued: boolean): void {
    this.logs.add({
      time: Date.now(),
      app: app.name,
      slot: worker.slot,
      pid: worker.pid,
      generation: worker.generation,
      stream,
      msg,
      ...(continued ? { continued: true } : {}),
    });
  }

  /** An app's event: a worker that started belongs to it for good. */
  event(app: string, event: SupervisorEvent): void {
    if (event.type === 'worker-state' && event.from === 'starting') this.workerApps.set(event.id, app);
  }

  /** The L7 fronts' request counters (each app's own front, and the routing front), per backend. */
  private requestStats(): RequestStatsLike[] {
    const stats: RequestStatsLike[] = [];
    for (const app of this.apps()) {
      for (const worker of app.supervisor.records) this.workerApps.set(worker.id, app.name);
      stats.push(...app.requestStats());
    }
    const routing = this.routingFront() as Partial<{ requestStats(): RequestStatsLike[] }> | undefined;
    stats.push(...(routing?.requestStats?.() ?? []));
    return stats;
  }

  /** Per app, for `/status` (top's req/s, errors and p99). */
  requestTotals(): Map<string, RequestTotals> {
    return totalsByApp(this.requestStats(), (id) => this.workerApps.get(id));
  }

  /** What `/metrics` adds to the supervisor's own series. */
  metricsSources(): MetricsSource[] {
    return [
      () => renderRequestMetrics(this.requestStats(), (id) => this.workerApps.get(id)),
      () => renderThreadMetrics([
        ...[...this.apps()].map((app) => ({ front: app.name, threads: app.threadStats() })),
        { front: 'routing', threads: (this.routingFront() as Partial<Front> | undefined)?.threadStats?.() ?? [] },
      ]),
      createWorkerMetrics({ whose: (pid) => this.whose(pid) }),
    ];
  }

  /** A cluster worker's app and slot, by pid. */
  private whose(pid: number): { app: string; slot: number } | undefined {
    for (const app of this.apps()) {
      const worker = app.supervisor.records.find((w) => w.pid === pid && w.state !== 'exited');
      if (worker !== undefined) return { app: app.name, slot: worker.slot };
    }
    return undefined;
  }
}
