// The supervisor: one event queue that owns the worker table. Inputs (process
// callbacks, timers, health results, API calls) are posted as tasks; each task
// runs to completion, then the pure reconciler decides which slots to fill and
// which workers to retire, and waiters (scale, reload) re-check their condition.
// Nothing else mutates the table. Both modes share this lifecycle; they differ
// only in the launcher (and spawn mode's front and health checks).
// Here: the queue, the table and the effects of the state machine's transitions.
// Starting a process is worker-launch.ts's, what a failure means for the app
// failure-policy.ts's, how the stop budget is spent stop-budget.ts's.

import { reconcile } from '../core/reconcile.js';
import { holdsSlot, initialTransition, transition, type TransitionContext } from '../core/worker-state.js';
import { describePortHolder, isListening } from './port-check.js';
import { firstUnusedPort, homePort, lowestFreePort, type PortRange } from './port-plan.js';
import type { Logger } from '../log.js';
import { readinessHint } from './start-messages.js';
import { FailurePolicy } from './failure-policy.js';
import { drainTimeoutMs } from './stop-budget.js';
import { launchWorker, type OutputListener } from './worker-launch.js';
import { SlotHistory, WorkerRecord } from './worker-record.js';
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
  /** The backoff's random source (tests). */
  readonly random?: () => number;
}

export type { OutputListener } from './worker-launch.js';

type Waiter = { check: () => boolean; resolve: () => void };

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
  private readonly random: () => number;

  // The desired state is private: it changes only in tasks on the queue
  // (setDesired, nextGeneration, shutdown), and is read through the getters.
  private desiredCount: number;
  private currentGeneration = 1;
  private port: number;
  private readonly failures: FailurePolicy;
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
    return this.failures.last;
  }
  /** Set when the first worker becomes ready. */
  get everReady(): boolean {
    return this.readied;
  }
  /** Set once a graceful stop has begun: crashes are no longer restarted. */
  get stopping(): boolean {
    return this.stopRequested;
  }
  /** Set after --max-failed-starts consecutive failed starts: why; nothing restarts until cleared. */
  get fatal(): string | undefined {
    return this.failures.fatal;
  }
  /** Replace a slot's worker gracefully (--max-requests): wired to the service by run.ts. */
  onReplaceRequest: (slot: number, why: string) => void = () => undefined;

  constructor(deps: SupervisorDeps) {
    this.settings = deps.config;
    this.logger = deps.logger;
    this.launcher = deps.launcher;
    this.front = deps.front;
    this.health = deps.health;
    this.random = deps.random ?? Math.random;
    this.desiredCount = deps.config.workers;
    this.port = deps.config.port;
    let id = 1;
    this.nextId = deps.nextId ?? (() => id++);
    this.drainTimeoutMs = drainTimeoutMs(deps.config);
    this.failures = new FailurePolicy(this.logger, (event) => this.emit(event));
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
      this.drainTimeoutMs = drainTimeoutMs(config);
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
    const port = this.config.mode === 'cluster' ? this.config.port : candidate ? (this.sparePort() ?? lowestFreePort(this.portRange())) : homePort(this.portRange(), slot);
    const record = new WorkerRecord(this.nextId(), slot, this.generation, port, candidate, history, this.logger);
    this.workers.set(record.id, record);
    // A slot still backing off after a crash of its previous worker starts in backoff.
    const first = initialTransition(this.context(record));
    record.state = first.state;
    this.apply(record, first.effects);
    return record;
  }

  private slotHistory(slot: number): SlotHistory {
    let history = this.slots.get(slot);
    if (!history) {
      history = new SlotHistory(this.config.restart, this.random);
      this.slots.set(slot, history);
    }
    return history;
  }

  /** Spawn mode: base-port … base-port+N and the ports our live workers hold. */
  private portRange(): PortRange {
    return {
      base: this.config.basePort,
      last: this.config.basePort + Math.max(this.desired, ...this.records.map((w) => w.slot + 1)),
      used: new Set(this.records.filter((w) => w.state !== 'exited').map((w) => w.port)),
    };
  }

  /**
   * Spawn mode: a port of the range that neither a worker of ours nor anyone else
   * holds, for a replacement that starts next to the worker it replaces; undefined
   * when there is none (it then waits for the old worker's port: see rolling-reload.ts).
   */
  sparePort(): number | undefined {
    return firstUnusedPort(this.portRange(), (port) => !isListening(port));
  }

  /** ": port 8003 is in use by pid 12 (nginx)" for the first in-range port held by someone else, for error messages. */
  spareHolder(): string {
    const port = firstUnusedPort(this.portRange(), isListening);
    return port === undefined ? '' : `: port ${port} is in use by ${describePortHolder(port) ?? 'another process'}`;
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
    if ((next.state === 'draining' || next.state === 'stopping') && record.stopBegan === undefined) record.stopBegan = Date.now();
    if (from !== next.state) {
      record.logger.debug({ from, to: next.state, event: event.type }, 'worker state');
      this.emit({ type: 'worker-state', id, slot: record.slot, from, to: next.state, pid: record.pid, generation: record.generation });
    }
    if (event.type === 'exit') this.failures.exited(record, from, event.code, event.signal);
    this.apply(record, next.effects);
    if (event.type === 'exit') this.failures.logExit(record, from, event.code, event.signal, this.stopping);
  }

  private context(record: WorkerRecord): TransitionContext {
    const budget = this.config.killTimeoutMs;
    const spent = record.stopBegan === undefined ? 0 : Date.now() - record.stopBegan;
    return {
      readyTimeoutMs: this.config.readyTimeoutMs,
      stopRemainingMs: Math.max(0, budget - spent),
      drainTimeoutMs: this.drainTimeoutMs,
      mustWait: !record.candidate && record.history.waitMs() > 0,
      restartOnCrash: !record.candidate && !this.stopping,
    };
  }

  private apply(record: WorkerRecord, effects: readonly WorkerEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'launch':
          launchWorker(record, this.launcher, {
            logger: this.logger,
            reportsConnections: this.config.mode === 'cluster',
            post: (task) => this.post(task),
            dispatch: (id, event) => this.dispatch(id, event),
            output: (worker, stream, line, continued) => this.outputListener?.(worker, stream, line, continued),
            replace: (slot, why) => this.onReplaceRequest(slot, why),
          });
          break;
        case 'arm-timer':
          this.armTimer(record, effect.ms);
          break;
        case 'arm-restart':
          // A fatal app restarts nothing until `ctl restart` clears it (clearFatal).
          if (this.fatal === undefined) this.armTimer(record, record.history.waitMs());
          break;
        case 'signal':
          record.process?.signal(effect.signal);
          if (effect.signal === 'SIGKILL') record.logger.warn(`SIGKILL: ${effect.reason ?? 'stopping at once'}`);
          break;
        case 'add-to-rotation':
          this.readied = true;
          record.everReady = true;
          record.history.started();
          record.candidate = false;
          record.healthy = true;
          record.logger.info({ port: record.port, generation: record.generation }, 'worker ready');
          this.syncRotation(record);
          this.health?.watch(record.id, record.port);
          break;
        case 'remove-from-rotation':
          this.syncRotation(record);
          this.health?.unwatch(record.id);
          break;
        case 'begin-drain':
          record.process?.drain();
          break;
        case 'report-crash':
          this.failures.failed(record, this.config.restart, this.stopping);
          break;
        case 'report-hung':
          record.failure = `worker ${record.slot} (pid ${record.pid ?? '?'}) hung: ${effect.reason}`;
          record.logger.error(`${record.failure}; out of rotation, replacing it, killing it`);
          this.failures.failed(record, this.config.restart, this.stopping);
          break;
        case 'report-failed-start':
          record.failure = `worker ${record.slot} (pid ${record.pid ?? '?'}) was ${effect.reason} ${readinessHint(this.config, record.port)}`;
          record.logger.error(record.failure);
          this.failures.failed(record, this.config.restart, this.stopping);
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

  private armTimer(record: WorkerRecord, ms: number): void {
    record.timer = setTimeout(() => {
      record.timer = undefined;
      this.post(() => this.dispatch(record.id, { type: 'timeout' }));
    }, ms);
  }

  /** `ctl restart` after fatal: slots backing off start again. */
  clearFatal(): void {
    if (this.failures.fatal === undefined) return;
    this.logger.info('fatal state cleared: restarting');
    this.failures.fatal = undefined;
    for (const record of this.records) {
      if (record.state === 'backoff' && record.timer === undefined) this.armTimer(record, 0);
    }
  }

  /**
   * "In rotation" has one owner: this record. A worker is in rotation exactly
   * when it is ready and healthy; the health checker only reports, and the
   * front's registry only carries out what this says.
   */
  private syncRotation(record: WorkerRecord): void {
    const wanted = record.state === 'ready' && record.healthy;
    if (wanted === record.inRotation) return;
    record.inRotation = wanted;
    if (wanted) this.front?.add({ ...this.backend(record), maxServed: record.maxServed ??= this.servedLimit() });
    else this.front?.remove(record.id);
  }

  /** --max-requests plus this worker's share of the jitter (spawn mode: counted by the front). */
  private servedLimit(): number | undefined {
    const max = this.config.maxRequests;
    return max === undefined ? undefined : max.count + Math.floor(this.random() * (max.jitter + 1));
  }

  /** The front handed a worker its --max-requests-th request or connection: replace it, drained. */
  servedLimitReached(id: WorkerId): void {
    const record = this.workers.get(id);
    if (record?.state !== 'ready') return;
    const unit = this.config.proxy === 'http' ? 'requests' : 'connections';
    this.onReplaceRequest(record.slot, `served its --max-requests (${this.front?.totalConnections(id) ?? '?'} ${unit})`);
  }

  // ------------------------------------------------------------ health (spawn mode)

  healthChanged(id: WorkerId, healthy: boolean, reason: string): void {
    const record = this.workers.get(id);
    if (!record || record.state !== 'ready' || record.healthy === healthy) return;
    record.healthy = healthy;
    this.emit({ type: 'health', id, slot: record.slot, healthy, ...(healthy ? {} : { reason }) });
    if (healthy) record.logger.info({ port: record.port }, 'worker healthy again: back in rotation');
    else record.logger.warn({ port: record.port, reason }, 'worker unhealthy: out of rotation');
    this.syncRotation(record);
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
      ...(this.fatal === undefined ? {} : { fatal: this.fatal }),
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
