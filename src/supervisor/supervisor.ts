// The supervisor: one event queue that owns the worker table. Inputs (process
// callbacks, timers, health results, API calls) are posted as tasks; each task
// runs to completion, then the pure reconciler decides which slots to fill and
// which workers to retire, and waiters (scale, reload) re-check their condition.
// Nothing else mutates the table. Both modes share this lifecycle; they differ
// only in the launcher (and spawn mode's front and health checks).

import { nextRestart } from '../core/backoff.js';
import { reconcile } from '../core/reconcile.js';
import { holdsSlot, initialTransition, transition, type TransitionContext } from '../core/worker-state.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { readinessHint } from './start-messages.js';
import { WorkerRecord, type SlotHistory } from './worker-record.js';
import type {
  Backend, Config, Front, Launcher, SupervisorEvent, SupervisorStatus, WorkerEffect, WorkerEvent, WorkerId,
} from '../core/types.js';
import type { HealthChecker } from '../health/checker.js';

export interface SupervisorDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly launcher: Launcher;
  /** Spawn mode with --proxy tcp|http. */
  readonly front?: Front | undefined;
  /** Spawn mode: active health checks of ready workers. */
  readonly health?: HealthChecker | undefined;
  /** Worker ids, unique across the apps of a system (a shared front tells workers apart by id). */
  readonly nextId?: () => WorkerId;
}

/** A line of a worker's output, with the worker it came from (log files, `ctl logs`). */
export type OutputListener = (worker: WorkerRecord, stream: 'stdout' | 'stderr', line: string, continued: boolean) => void;

type Waiter = { check: () => boolean; resolve: () => void };

/** Spawn mode with --proxy tcp: how long old connections may run before the server gets SIGTERM. */
export const TCP_DRAIN_GRACE_MS = 2000;

export class Supervisor {
  readonly logger: Logger;
  private settings: Config;
  private launcher: Launcher;
  private readonly front: Front | undefined;
  private readonly health: HealthChecker | undefined;

  private readonly workers = new Map<WorkerId, WorkerRecord>();
  private readonly slots = new Map<number, SlotHistory>();
  private readonly queue: Array<() => void> = [];
  private readonly waiters = new Set<Waiter>();
  private readonly listeners: Array<(event: SupervisorEvent) => void> = [];
  private outputListener: OutputListener | undefined;
  private running = false;
  private readonly nextId: () => WorkerId;
  private drainTimeoutMs: number;

  // The desired state is private: it changes only in tasks on the queue
  // (setDesired, nextGeneration, shutdown), and is read through the getters.
  private desiredCount: number;
  private currentGeneration = 1;
  private port: number;
  private failure: string | undefined;
  private readied = false;
  private stopRequested = false;

  /** The app's settings; new workers start with the latest (see reconfigure). */
  get config(): Config {
    return this.settings;
  }
  /** The worker count the reconciler aims at. */
  get desired(): number {
    return this.desiredCount;
  }
  /** Bumped by every reload; new workers start in it. */
  get generation(): number {
    return this.currentGeneration;
  }
  /** The bound public port (config.port may be 0). */
  get publicPort(): number {
    return this.port;
  }
  /** The latest crash or failed start of a non-candidate worker, for error messages. */
  get lastFailure(): string | undefined {
    return this.failure;
  }
  /** Set when the first worker becomes ready. */
  get everReady(): boolean {
    return this.readied;
  }
  /** Set once a graceful stop has begun: crashes are no longer restarted. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  constructor(deps: SupervisorDeps) {
    this.settings = deps.config;
    this.logger = deps.logger;
    this.launcher = deps.launcher;
    this.front = deps.front;
    this.health = deps.health;
    this.desiredCount = deps.config.workers;
    this.port = deps.config.port;
    let id = 1;
    this.nextId = deps.nextId ?? (() => id++);
    this.drainTimeoutMs = drainTimeout(deps.config);
  }

  // ------------------------------------------------------------ the queue

  /** Run a task on the queue; tasks posted while one runs wait their turn. */
  post(task: () => void): void {
    this.queue.push(task);
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        try {
          next();
          this.settle();
        } catch (error) {
          // A bug in one task must not take the supervisor down with every worker.
          this.logger.error({ err: error }, 'internal error while handling an event');
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Run a task on the queue and resolve with its result (a command from outside). */
  command<T>(task: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.post(() => {
        try {
          resolve(task());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /** The target worker count (scale); the reconciler starts or retires workers to reach it. */
  setDesired(count: number): Promise<number> {
    return this.command(() => {
      if (count !== this.desiredCount) this.emit({ type: 'scale', from: this.desiredCount, to: count });
      return (this.desiredCount = count);
    });
  }

  /** A reload begins: the generation its new workers start in. */
  nextGeneration(): Promise<number> {
    return this.command(() => ++this.currentGeneration);
  }

  /**
   * New settings (`ctl apply`): workers started from now on use them and the new
   * launcher; running ones keep theirs until a reload replaces them. Mode, ports
   * and the front are not changed this way (the system replaces such an app).
   */
  reconfigure(config: Config, launcher: Launcher): Promise<void> {
    return this.command(() => {
      this.settings = config;
      this.launcher = launcher;
      this.drainTimeoutMs = drainTimeout(config);
    });
  }

  /** The public listener is bound (its port, when config.port was 0). */
  bound(port: number): void {
    this.port = port;
  }

  /** Resolves when check() holds after some task (or at once). */
  waitFor(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add({ check, resolve }));
  }

  onEvent(listener: (event: SupervisorEvent) => void): void {
    this.listeners.push(listener);
  }

  /** The one consumer of worker output besides the master's own log. */
  onOutput(listener: OutputListener): void {
    this.outputListener = listener;
  }

  /** Publish a fact to the observers (the service and the reload publish theirs here too). */
  emit(event: SupervisorEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private settle(): void {
    if (!this.stopping) {
      // Each action changes the table, so recompute until nothing is left to do.
      for (let round = 0; round < 4; round++) {
        const actions = reconcile(this.desired, [...this.workers.values()]);
        if (actions.length === 0) break;
        for (const action of actions) {
          if (action.type === 'spawn') this.addWorker(action.slot, false);
          else this.dispatch(action.id, { type: 'retire' });
        }
      }
    }
    for (const waiter of this.waiters) {
      if (waiter.check()) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  // ------------------------------------------------------------ the table

  get records(): readonly WorkerRecord[] {
    return [...this.workers.values()];
  }

  worker(id: WorkerId): WorkerRecord | undefined {
    return this.workers.get(id);
  }

  /** Workers holding a slot (starting, ready or backing off), oldest first. */
  holders(slot: number): WorkerRecord[] {
    return this.records.filter((w) => w.slot === slot && holdsSlot(w.state));
  }

  /** A new worker for a slot; a candidate replaces the slot's current worker once ready. */
  addWorker(slot: number, candidate: boolean): WorkerRecord {
    const history = this.slotHistory(slot);
    const port = this.config.mode === 'cluster' ? this.config.port : this.freePort();
    const record = new WorkerRecord(this.nextId(), slot, this.generation, port, candidate, history, this.logger);
    this.workers.set(record.id, record);
    const wait = candidate ? 0 : history.notBefore - Date.now();
    if (wait > 0) {
      // The slot is backing off after a crash of its previous worker.
      record.state = 'backoff';
      this.armTimer(record, wait);
    } else {
      this.apply(record, initialTransition(this.context(record)).effects);
    }
    return record;
  }

  private slotHistory(slot: number): SlotHistory {
    let history = this.slots.get(slot);
    if (!history) {
      history = { restarts: 0, streak: 0, notBefore: 0 };
      this.slots.set(slot, history);
    }
    return history;
  }

  /** Spawn mode: the lowest port of base-port … base-port+N that no live worker holds. */
  private freePort(): number {
    const used = new Set(this.records.filter((w) => w.state !== 'exited').map((w) => w.port));
    for (let port = this.config.basePort; ; port++) if (!used.has(port)) return port;
  }

  // ------------------------------------------------------------ lifecycle

  dispatch(id: WorkerId, event: WorkerEvent): void {
    const record = this.workers.get(id);
    if (!record) return;
    const next = transition(record.state, event, this.context(record));
    if (!next) return;
    const from = record.state;
    if (record.timer) clearTimeout(record.timer);
    record.timer = undefined;
    record.state = next.state;
    if (from !== next.state) {
      record.logger.debug({ from, to: next.state, event: event.type }, 'worker state');
      this.emit({ type: 'worker-state', id, slot: record.slot, from, to: next.state, pid: record.pid, generation: record.generation });
    }
    if (event.type === 'exit') this.reportExit(record, from, event.code, event.signal);
    this.apply(record, next.effects);
  }

  private context(record: WorkerRecord): TransitionContext {
    return {
      readyTimeoutMs: this.config.readyTimeoutMs,
      killTimeoutMs: this.config.killTimeoutMs,
      drainTimeoutMs: this.drainTimeoutMs,
      restartDelayMs: nextRestart(record.history.streak, Date.now() - record.startedAt).delayMs,
      restartOnCrash: !record.candidate && !this.stopping,
    };
  }

  private apply(record: WorkerRecord, effects: readonly WorkerEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'launch':
          this.launch(record);
          break;
        case 'arm-timer':
          this.armTimer(record, effect.ms);
          break;
        case 'signal':
          record.process?.signal(effect.signal);
          if (effect.signal === 'SIGKILL') record.logger.warn(`SIGKILL: ${effect.reason ?? 'stopping at once'}`);
          break;
        case 'add-to-rotation':
          this.readied = true;
          record.candidate = false;
          record.healthy = true;
          record.logger.info({ port: record.port, generation: record.generation }, 'worker ready');
          this.front?.add(this.backend(record));
          this.health?.watch(record.id, record.port);
          break;
        case 'remove-from-rotation':
          this.front?.remove(record.id);
          this.health?.unwatch(record.id);
          break;
        case 'begin-drain':
          record.process?.drain();
          break;
        case 'report-crash':
          this.recordFailure(record);
          break;
        case 'report-failed-start':
          record.failure = `worker ${record.slot} (pid ${record.pid ?? '?'}) was ${effect.reason} ${readinessHint(this.config, record.port)}`;
          record.logger.error(record.failure);
          this.recordFailure(record);
          break;
        case 'forget':
          this.workers.delete(record.id);
          break;
      }
    }
  }

  /** A ready worker as the front sees it; `weights: [..]` gives each slot its share. */
  private backend(record: WorkerRecord): Backend {
    return { id: record.id, host: '127.0.0.1', port: record.port, weight: this.config.weights?.[record.slot] ?? 1 };
  }

  private launch(record: WorkerRecord): void {
    record.startedAt = Date.now();
    record.stderrTail.clear();
    record.failure = undefined;
    // Cluster workers report their connections when the count changes: none yet.
    record.connections = this.config.mode === 'cluster' ? 0 : undefined;
    const spec = { id: record.id, slot: record.slot, generation: record.generation, port: record.port };
    // Callbacks from a previous process of this record (before a restart) are ignored.
    const launch = Symbol('launch');
    record.launch = launch;
    const post = (event: WorkerEvent) =>
      this.post(() => {
        if (record.launch === launch) this.dispatch(record.id, event);
      });
    try {
      record.process = this.launcher.start(spec, {
        onSpawn: (pid) => {
          record.pid = pid;
          record.logger = this.logger.child({ worker: record.slot, pid });
          record.logger.info({ port: record.port, generation: record.generation }, 'worker started');
        },
        onReady: () => post({ type: 'ready' }),
        onDrained: () => post({ type: 'drained' }),
        onConnections: (open) =>
          this.post(() => {
            if (record.launch === launch) record.connections = open;
          }),
        onExit: (code, signal) => post({ type: 'exit', code, signal }),
        onOutput: (stream, line, continued = false) => {
          if (stream === 'stderr') record.stderrTail.add(line);
          record.logger.info(continued ? { stream, continued } : { stream }, line);
          this.outputListener?.(record, stream, line, continued);
        },
      });
    } catch (error) {
      record.stderrTail.add(errorMessage(error));
      queueMicrotask(() => post({ type: 'exit', code: 127, signal: null }));
    }
  }

  private armTimer(record: WorkerRecord, ms: number): void {
    record.timer = setTimeout(() => {
      record.timer = undefined;
      this.post(() => this.dispatch(record.id, { type: 'timeout' }));
    }, ms);
  }

  private reportExit(record: WorkerRecord, from: string, code: number | null, signal: string | null): void {
    const expected = from === 'draining' || from === 'stopping';
    const description = record.describeExit(code, signal);
    this.emit({ type: 'worker-exit', id: record.id, slot: record.slot, pid: record.pid, code, signal, expected, reason: description });
    if (expected) {
      record.logger.info({ code, signal }, 'worker stopped');
      return;
    }
    record.failure = `worker ${record.slot} (pid ${record.pid ?? '?'}) ${description}`;
    if (this.stopping) record.logger.warn({ code, signal }, record.failure);
    else if (record.candidate) record.logger.error({ code, signal }, `${record.failure} while starting`);
    else record.logger.error({ code, signal, restartInMs: this.context(record).restartDelayMs }, `${record.failure}; restarting`);
  }

  /** A crash or failed start: the slot backs off before its next start. */
  private recordFailure(record: WorkerRecord): void {
    if (record.candidate) return; // a bad reload must not slow down the old workers' restarts
    if (this.stopping) return;
    this.failure = record.failure;
    const step = nextRestart(record.history.streak, Date.now() - record.startedAt);
    record.history.streak = step.streak;
    record.history.notBefore = Date.now() + step.delayMs;
    record.history.restarts++;
    this.emit({ type: 'worker-restart', slot: record.slot });
  }

  // ------------------------------------------------------------ health (spawn mode)

  healthChanged(id: WorkerId, healthy: boolean, reason: string): void {
    const record = this.workers.get(id);
    if (!record || record.state !== 'ready' || record.healthy === healthy) return;
    record.healthy = healthy;
    this.emit({ type: 'health', id, slot: record.slot, healthy, ...(healthy ? {} : { reason }) });
    if (healthy) {
      record.logger.info({ port: record.port }, 'worker healthy again: back in rotation');
      this.front?.add(this.backend(record));
    } else {
      record.logger.warn({ port: record.port, reason }, 'worker unhealthy: out of rotation');
      this.front?.remove(id);
    }
  }

  healthFailed(id: WorkerId): void {
    const record = this.workers.get(id);
    if (record) this.emit({ type: 'health-failure', id, slot: record.slot });
  }

  // ------------------------------------------------------------ status

  /** The table as the control API shows it; whether a reload runs is the service's to say. */
  status(): Omit<SupervisorStatus, 'reloading'> {
    const workers = this.records
      .filter((w) => w.state !== 'exited')
      .sort((a, b) => a.slot - b.slot || a.id - b.id)
      .map((w) => w.status(this.front?.connections(w.id) ?? w.connections, this.front?.totalConnections(w.id)));
    return {
      pid: process.pid,
      mode: this.config.mode,
      port: this.publicPort,
      desired: this.desired,
      generation: this.generation,
      front: this.front === undefined ? { kind: 'none', dataPath: 'none' } : { kind: this.config.proxy, dataPath: this.front.dataPath },
      workers,
    };
  }

  /** Stop everything: retire every worker, resolve once all have exited. */
  async shutdown(): Promise<void> {
    this.post(() => {
      this.stopRequested = true;
      for (const record of this.records) this.dispatch(record.id, { type: 'retire' });
    });
    await this.waitFor(() => this.workers.size === 0);
  }

  /** Second stop request: no more draining, SIGTERM now (SIGKILL where already signalled). */
  terminateAll(): void {
    this.post(() => {
      for (const record of this.records) this.dispatch(record.id, { type: 'terminate' });
    });
  }
}

/**
 * An L4 front cannot see request boundaries, and a busy keep-alive client never
 * closes its connection: waiting the whole kill timeout would only make each
 * reload step that long. After a short grace the old server gets SIGTERM and
 * ends its connections itself, as at any restart (SPEC §4). The http front and
 * cluster mode end keep-alive connections between requests, so they may take
 * the whole kill timeout.
 */
function drainTimeout(config: Config): number {
  const l4 = config.mode === 'spawn' && config.proxy === 'tcp';
  return l4 ? Math.min(config.killTimeoutMs, TCP_DRAIN_GRACE_MS) : config.killTimeoutMs;
}
