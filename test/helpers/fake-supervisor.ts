// A SupervisorApi without processes: a worker table in memory, with outcomes
// and delays the test chooses, and a record of every call. It lets the control
// socket, ctl and the metrics be tested in milliseconds.

import type {
  ReloadResult,
  ScaleRequest,
  ScaleResult,
  SupervisorApi,
  SupervisorEvent,
  SupervisorStatus,
  WorkerStatus,
} from '../../src/core/types.js';

export interface FakeSupervisorOptions {
  readonly workers?: number;
  readonly pid?: number;
  readonly mode?: 'cluster' | 'spawn';
  /** How long reload/scale/restart take before they answer. */
  readonly delayMs?: number;
}

export interface FakeSupervisor extends SupervisorApi {
  /** Every call, in order: "scale {"delta":-1}", "reload", "restart 2", "stop". */
  readonly calls: string[];
  /** The outcome the next reloads report; ok by default. */
  failReloadWith: string | undefined;
  /** The outcome the next scales report; ok by default. */
  failScaleWith: string | undefined;
  delayMs: number;
  /** How many reloads ran (coalesced requests share one). */
  reloadsRun: number;
  stopped: boolean;
  emit(event: SupervisorEvent): void;
  /** Abandons operations still sleeping, so that a cut-off request does not keep the test alive. */
  dispose(): void;
}

export function makeWorker(slot: number, overrides: Partial<WorkerStatus> = {}): WorkerStatus {
  return {
    id: slot + 1,
    slot,
    pid: 10_000 + slot,
    port: 8000 + slot,
    state: 'ready',
    generation: 1,
    restarts: 0,
    uptimeMs: 65_000,
    healthy: true,
    cpu: 1.5 + slot,
    memory: 40 * 1024 * 1024 + slot * 1024 * 1024,
    connections: slot,
    totalConnections: slot * 10,
    ...overrides,
  };
}

export function createFakeSupervisor(options: FakeSupervisorOptions = {}): FakeSupervisor {
  const listeners: Array<(event: SupervisorEvent) => void> = [];
  let workers: WorkerStatus[] = Array.from({ length: options.workers ?? 4 }, (_, slot) => makeWorker(slot));
  let generation = 1;
  let reloading: Promise<ReloadResult> | undefined;

  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((done) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        done();
      }, ms);
      timers.add(timer);
    });

  const fake: FakeSupervisor = {
    calls: [],
    failReloadWith: undefined,
    failScaleWith: undefined,
    delayMs: options.delayMs ?? 0,
    reloadsRun: 0,
    stopped: false,

    status(): SupervisorStatus {
      return {
        pid: options.pid ?? 4242,
        mode: options.mode ?? 'cluster',
        port: 8080,
        desired: workers.length,
        generation,
        reloading: reloading !== undefined,
        front: { kind: 'none', dataPath: 'none' },
        workers,
      };
    },

    async scale(request: ScaleRequest): Promise<ScaleResult> {
      fake.calls.push(`scale ${JSON.stringify(request)}`);
      await sleep(fake.delayMs);
      const target = 'workers' in request ? request.workers : workers.length + request.delta;
      if (fake.failScaleWith !== undefined) return { ok: false, error: fake.failScaleWith, workers: workers.length };
      workers = Array.from({ length: target }, (_, slot) => workers[slot] ?? makeWorker(slot, { generation }));
      return { ok: true, workers: target };
    },

    reload(): Promise<ReloadResult> {
      fake.calls.push('reload');
      // Like the real supervisor, a request during a reload shares its outcome.
      reloading ??= (async () => {
        await sleep(fake.delayMs);
        fake.reloadsRun++;
        reloading = undefined;
        if (fake.failReloadWith !== undefined) {
          fake.emit({ type: 'reload', ok: false });
          return { ok: false, error: fake.failReloadWith, generation };
        }
        generation++;
        workers = workers.map((worker) => ({ ...worker, generation }));
        fake.emit({ type: 'reload', ok: true });
        return { ok: true, generation };
      })();
      return reloading;
    },

    async restartWorker(slot: number) {
      fake.calls.push(`restart ${slot}`);
      await sleep(fake.delayMs);
      fake.emit({ type: 'worker-restart', slot });
      return { ok: true };
    },

    async stop() {
      fake.calls.push('stop');
      fake.stopped = true;
    },

    onEvent(listener) {
      listeners.push(listener);
    },

    emit(event) {
      for (const listener of listeners) listener(event);
    },

    dispose() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
  return fake;
}
