// The SupervisorApi over the supervisor: what the control socket, the signal
// handlers and the file watcher call. Each method validates, changes the desired
// state (or starts a replacement) and resolves with the outcome. Replacements
// (reload, restart) run one at a time; reload requests that arrive during a
// reload are coalesced into one more reload afterwards.

import { rollingReload, replaceSlot } from './rolling-reload.js';
import type { Supervisor } from './supervisor.js';
import { MAX_WORKERS, MIN_WORKERS } from '../core/types.js';
import type {
  ReloadResult, ScaleRequest, ScaleResult, SupervisorApi, SupervisorEvent, SupervisorStatus,
} from '../core/types.js';

export class SupervisorService implements SupervisorApi {
  private replacements: Promise<unknown> = Promise.resolve();
  private reloadRunning: Promise<ReloadResult> | undefined;
  private reloadQueued: Promise<ReloadResult> | undefined;
  private stopped: Promise<void> | undefined;
  private readonly replacing = new Set<number>();
  /** An autoscaled app's rule for `ctl scale`/TTIN/TTOU: an error to refuse the count, or undefined to accept it. */
  scaleRule: ((workers: number) => string | undefined) | undefined;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly hooks: {
      /** A stop begins: close the public listener before the workers drain. */
      readonly onStopping: () => void;
      /** Every worker is gone: release the rest. */
      readonly onStopped: () => Promise<void>;
    },
  ) {}

  status(): SupervisorStatus {
    return { ...this.supervisor.status(), reloading: this.reloadRunning !== undefined };
  }

  onEvent(listener: (event: SupervisorEvent) => void): void {
    this.supervisor.onEvent(listener);
  }

  /** Run replacements one after another. */
  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.replacements.then(task);
    this.replacements = run.catch(() => undefined);
    return run;
  }

  reload(reason: string): Promise<ReloadResult> {
    if (this.supervisor.stopping) {
      return Promise.resolve({ ok: false, error: 'the supervisor is stopping', generation: this.supervisor.generation });
    }
    if (this.reloadRunning) {
      this.supervisor.logger.info({ reason }, 'reload requested during a reload: one more will follow');
      this.reloadQueued ??= this.reloadRunning.then(() => {
        this.reloadQueued = undefined;
        return this.reload(reason);
      });
      return this.reloadQueued;
    }
    const run = this.serialize(() => rollingReload(this.supervisor, reason));
    this.reloadRunning = run.finally(() => {
      this.reloadRunning = undefined;
    });
    void run.then((result) =>
      this.supervisor.emit({ type: 'reload', ok: result.ok, generation: result.generation, ...(result.ok ? {} : { error: result.error }) }),
    );
    return this.reloadRunning;
  }

  async restartWorker(slot: number): Promise<{ ok: boolean; error?: string }> {
    if (this.supervisor.stopping) return { ok: false, error: 'the supervisor is stopping' };
    if (this.supervisor.holders(slot).length === 0) return { ok: false, error: `no worker in slot ${slot}` };
    // `ctl restart` is how a user says the cause of a fatal app is fixed.
    this.supervisor.post(() => this.supervisor.clearFatal());
    if (this.replacing.has(slot)) return { ok: false, error: `worker ${slot} is already being replaced` };
    this.replacing.add(slot);
    try {
      const outcome = await this.serialize(() => replaceSlot(this.supervisor, slot));
      return outcome.ok ? { ok: true } : { ok: false, error: outcome.error };
    } finally {
      this.replacing.delete(slot);
    }
  }

  async scale(request: ScaleRequest): Promise<ScaleResult> {
    const supervisor = this.supervisor;
    const target = 'workers' in request ? request.workers : supervisor.desired + request.delta;
    if (!Number.isInteger(target) || target < MIN_WORKERS || target > MAX_WORKERS) {
      return { ok: false, error: `workers must be an integer from ${MIN_WORKERS} to ${MAX_WORKERS} (got ${target})`, workers: supervisor.desired };
    }
    if (supervisor.stopping) return { ok: false, error: 'the supervisor is stopping', workers: supervisor.desired };
    if (supervisor.config.mode === 'spawn' && supervisor.config.args.length === 0) {
      return { ok: false, error: 'this app has remote servers only (no command): there are no workers to scale', workers: 0 };
    }
    const refused = this.scaleRule?.(target);
    if (refused !== undefined) return { ok: false, error: refused, workers: supervisor.desired };
    return this.resize(target);
  }

  /** Scale to `target` and wait for it (the autoscaler's way in: no `ctl scale` rule). */
  async resize(target: number): Promise<ScaleResult> {
    const supervisor = this.supervisor;
    if (supervisor.stopping) return { ok: false, error: 'the supervisor is stopping', workers: supervisor.desired };
    if (target !== supervisor.desired) supervisor.logger.info({ from: supervisor.desired, to: target }, 'scaling');
    await supervisor.setDesired(target);
    const reached = () => readyCount(supervisor, target) === target;
    const superseded = () => supervisor.desired !== target || supervisor.stopping;
    const limitMs = supervisor.config.readyTimeoutMs + supervisor.config.killTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), limitMs);
    });
    const outcome = await Promise.race([supervisor.waitFor(() => reached() || superseded()), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout' || (superseded() && !reached())) {
      const failure = supervisor.lastFailure;
      const error = superseded()
        ? `scale to ${target} was superseded (now ${supervisor.desired})`
        : `only ${readyCount(supervisor, target)} of ${target} workers ready after ${limitMs}ms${failure ? `: ${failure}` : ''}`;
      return { ok: false, error, workers: supervisor.desired };
    }
    await this.rehome(target);
    return { ok: true, workers: target };
  }

  /**
   * Spawn mode after a scale-down: reloads rotate ports (each replacement takes
   * the port the previous one gave back), so a kept worker may sit above
   * base-port+N. Move it back into the range through a drained replacement.
   */
  private async rehome(target: number): Promise<void> {
    const { config } = this.supervisor;
    if (config.mode !== 'spawn') return;
    const last = config.basePort + target;
    const outside = this.supervisor.records.filter((w) => w.state === 'ready' && w.port > last).map((w) => w.slot);
    for (const slot of outside) {
      this.supervisor.logger.info({ worker: slot }, `worker ${slot} is outside ports ${config.basePort}…${last} after the scale-down: replacing it inside`);
      await this.restartWorker(slot);
    }
  }

  stop(reason: string): Promise<void> {
    if (this.stopped) {
      this.supervisor.logger.warn({ reason }, 'second stop request: stopping workers now');
      this.supervisor.terminateAll();
      return this.stopped;
    }
    this.supervisor.logger.info({ reason }, 'stopping: draining workers');
    this.hooks.onStopping();
    this.stopped = this.supervisor.shutdown().then(this.hooks.onStopped);
    return this.stopped;
  }

  /** --max-memory and health: replace a worker through the drained path, once at a time. */
  replaceQuietly(slot: number, why: string): void {
    if (this.replacing.has(slot) || this.supervisor.stopping) return;
    const pid = this.supervisor.holders(slot)[0]?.pid;
    this.supervisor.logger.warn({ worker: slot, pid }, `replacing worker ${slot}: ${why}`);
    void this.restartWorker(slot);
  }
}

/** Slots below the target with a ready worker; -1 while any worker at or above it remains. */
function readyCount(supervisor: Supervisor, target: number): number {
  const slots = new Set<number>();
  for (const worker of supervisor.records) {
    if (worker.slot >= target) return -1;
    if (worker.state === 'ready') slots.add(worker.slot);
  }
  return slots.size;
}
