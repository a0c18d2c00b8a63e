// The supervisor: one event queue that owns the worker table. Inputs (process
// callbacks, timers, health results, API calls) are posted as tasks; each task
// runs to completion, then the pure reconciler decides which slots to fill and
// which workers to retire, and waiters (scale, reload) re-check their condition.
// Nothing else mutates the table. Both modes share this lifecycle; they differ
// only in the launcher (and spawn mode's front and health checks). Here: the
// table and the effects of the state machine's transitions; the queue is
// task-queue.ts, starting a process worker-launch.ts, what a failure means
// failure-policy.ts, rotation and health rotation.ts, the stop budget stop-budget.ts.

import { reconcile } from '../core/reconcile.js';
import { holdsSlot, initialTransition, transition, type TransitionContext } from '../core/worker-state.js';
import { sparePort } from './port-check.js';
import { homePort, lowestFreePort, type PortRange } from './port-plan.js';
import type { Logger } from '../log.js';
import { readinessHint } from './start-messages.js';
import { FailurePolicy } from './failure-policy.js';
import { Rotation } from './rotation.js';
import { TaskQueue } from './task-queue.js';
import { drainTimeoutMs } from './stop-budget.js';
import { launchWorker, type OutputListener } from './worker-launch.js';
import { SlotHistory, WorkerRecord } from './worker-record.js';
import type { Config, Front, FrontStatus, Launcher, SupervisorEvent, SupervisorStatus, WorkerId } from '../core/types.js';
import type { WorkerEffect, WorkerEvent } from '../core/worker-state.js';
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

export class Supervisor {
  readonly logger: Logger;
  private settings: Config;
  private launcher: Launcher;
  private readonly front: Front | undefined;
  private readonly rotation: Rotation;

  private readonly workers = new Map<WorkerId, WorkerRecord>();
  private readonly slots = new Map<number, SlotHistory>();
  private readonly queue: TaskQueue;
  private readonly listeners: Array<(event: SupervisorEvent) => void> = [];
  private outputListener: OutputListener | undefined;
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
    this.random = deps.random ?? Math.random;
    this.desiredCount = deps.config.workers;
    this.port = deps.config.port;
    let id = 1;
    this.nextId = deps.nextId ?? (() => id++);
    this.drainTimeoutMs = drainTimeoutMs(deps.config);
    this.queue = new TaskQueue(
      () => this.settle(),
      (error) => this.logger.error({ err: error }, 'internal error while handling an event'),
    );
    this.failures = new FailurePolicy(this.logger, (event) => this.emit(event));
    this.rotation = new Rotation({
      front: deps.front,
      health: deps.health,
      config: () => this.settings,
      random: this.random,
      emit: (event) => this.emit(event),
      replace: (slot, why) => this.onReplaceRequest(slot, why),
    });
  }

  // ------------------------------------------------------------ the queue

  /** Run a task on the queue (task-queue.ts): inputs and commands, one at a time. */
  post(task: () => void): void {
    this.queue.post(task);
  }

  /** Run a task on the queue and resolve with its result (a command from outside). */
  command<T>(task: () => T): Promise<T> {
    return this.queue.command(task);
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
    return this.queue.waitFor(check);
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

  /** After each task: the reconciler's actions, until nothing is left to do (each changes the table). */
  private settle(): void {
    if (this.stopping) return;
    for (let round = 0; round < 4; round++) {
      const actions = reconcile(this.desired, [...this.workers.values()]);
      if (actions.length === 0) break;
      for (const action of actions) {
        if (action.type === 'spawn') this.addWorker(action.slot, false);
        else this.dispatch(action.id, { type: 'retire' });
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
    const port = this.config.mode === 'cluster' ? this.config.port : candidate ? (sparePort(this.portRange()) ?? lowestFreePort(this.portRange())) : homePort(this.portRange(), slot);
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
    if (!history) this.slots.set(slot, (history = new SlotHistory(this.config.restart, this.random)));
    return history;
  }

  /** Spawn mode: base-port … base-port+N and the ports our live workers hold (port-plan.ts, port-check.ts choose in it). */
  portRange(): PortRange {
    return {
      base: this.config.basePort,
      last: this.config.basePort + Math.max(this.desired, ...this.records.map((w) => w.slot + 1)),
      used: new Set(this.records.filter((w) => w.state !== 'exited').map((w) => w.port)),
    };
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
          this.rotation.entered(record);
          break;
        case 'remove-from-rotation':
          this.rotation.left(record);
          break;
        case 'begin-drain':
          record.process?.drain();
          break;
        case 'report-crash':
        case 'report-hung':
        case 'report-failed-start':
          this.failures.report(record, effect, () => readinessHint(this.config, record.port), this.config.restart, this.stopping);
          break;
        case 'forget':
          this.workers.delete(record.id);
          break;
      }
    }
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

  // ------------------------------------------------------------ rotation (rotation.ts), from the front and health checks

  servedLimitReached(id: WorkerId): void {
    const record = this.workers.get(id);
    if (record) this.rotation.servedLimitReached(record);
  }

  healthChanged(id: WorkerId, healthy: boolean, reason: string): void {
    const record = this.workers.get(id);
    if (record) this.rotation.healthChanged(record, healthy, reason);
  }

  healthFailed(id: WorkerId): void {
    const record = this.workers.get(id);
    if (record) this.emit({ type: 'health-failure', id, slot: record.slot });
  }

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
      front: this.front === undefined ? { kind: 'none', dataPath: 'none' } : this.frontStatus(this.front),
      ...(this.fatal === undefined ? {} : { fatal: this.fatal }),
      workers,
    };
  }

  private frontStatus(front: Front): FrontStatus {
    const threads = front.threadStats?.();
    return { kind: this.config.proxy, dataPath: front.dataPath, ...(threads === undefined || threads.length === 0 ? {} : { threads }) };
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
