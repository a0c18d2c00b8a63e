// "In rotation" has one owner: the worker's record. A worker is in rotation
// exactly when it is ready and healthy; the health checker only reports, and the
// front's registry only carries out what this says. Here too: the worker as the
// front sees it (its weight, its --max-requests share) and what a health change
// or a served limit means.

import type { HealthChecker } from '../health/checker.js';
import type { Config, Front, SupervisorEvent } from '../core/types.js';
import type { WorkerRecord } from './worker-record.js';

export interface RotationDeps {
  readonly front: Front | undefined;
  readonly health: HealthChecker | undefined;
  /** The app's latest settings. */
  config(): Config;
  /** The jitter of --max-requests (tests inject it). */
  readonly random: () => number;
  emit(event: SupervisorEvent): void;
  /** Replace the slot's worker gracefully. */
  replace(slot: number, why: string): void;
}

export class Rotation {
  constructor(private readonly deps: RotationDeps) {}

  /** The worker became ready: into rotation, and under the health checker's watch. */
  entered(record: WorkerRecord): void {
    this.sync(record);
    this.deps.health?.watch(record.id, record.port);
  }

  /** The worker is leaving (draining, stopping, hung, exited). */
  left(record: WorkerRecord): void {
    this.sync(record);
    this.deps.health?.unwatch(record.id);
  }

  /** The health checker's verdict on a ready worker changed. */
  healthChanged(record: WorkerRecord, healthy: boolean, reason: string): void {
    if (record.state !== 'ready' || record.healthy === healthy) return;
    record.healthy = healthy;
    this.deps.emit({ type: 'health', id: record.id, slot: record.slot, healthy, ...(healthy ? {} : { reason }) });
    if (healthy) record.logger.info({ port: record.port }, 'worker healthy again: back in rotation');
    else record.logger.warn({ port: record.port, reason }, 'worker unhealthy: out of rotation');
    this.sync(record);
  }

  /** The front handed a worker its --max-requests-th request or connection: replace it, drained. */
  servedLimitReached(record: WorkerRecord): void {
    if (record.state !== 'ready') return;
    const unit = this.deps.config().proxy === 'http' ? 'requests' : 'connections';
    this.deps.replace(record.slot, `served its --max-requests (${this.deps.front?.totalConnections(record.id) ?? '?'} ${unit})`);
  }

  private sync(record: WorkerRecord): void {
    const wanted = record.state === 'ready' && record.healthy;
    if (wanted === record.inRotation) return;
    record.inRotation = wanted;
    const { front } = this.deps;
    if (!wanted) {
      front?.remove(record.id);
      return;
    }
    // `weights: [..]` gives each slot its share.
    const weight = this.deps.config().weights?.[record.slot] ?? 1;
    front?.add({ id: record.id, host: '127.0.0.1', port: record.port, weight, maxServed: (record.maxServed ??= this.servedLimit()) });
  }

  /** --max-requests plus this worker's share of the jitter (spawn mode: counted by the front). */
  private servedLimit(): number | undefined {
    const max = this.deps.config().maxRequests;
    return max === undefined ? undefined : max.count + Math.floor(this.deps.random() * (max.jitter + 1));
  }
}
