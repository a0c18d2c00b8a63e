// One row of the supervisor's worker table, and the per-slot crash history that
// survives the replacement of a slot's worker.

import { DEFAULT_BACKOFF, nextRestart, type BackoffPolicy } from '../core/backoff.js';
import { LineTail, type Logger } from '../log.js';
import type { WorkerId, WorkerProcess, WorkerStatus } from '../core/types.js';
import type { WorkerState } from '../core/worker-state.js';

/**
 * A slot's crash history, which outlives the slot's workers: the one place that
 * decides how long the slot backs off (a crash and a failed start alike).
 */
export class SlotHistory {
  /** Times this slot was started again after a crash or a failed start. */
  restarts = 0;
  /** Consecutive quick crashes (backoff.ts). */
  streak = 0;
  /** Consecutive workers that failed before they were ever ready (--max-failed-starts). */
  failedStarts = 0;
  /** A new worker for this slot must not start before this time (ms since epoch). */
  private notBefore = 0;

  constructor(private readonly policy: BackoffPolicy = DEFAULT_BACKOFF, private readonly random: () => number = Math.random) {}

  /** A worker of this slot failed after `uptimeMs`: the next start waits; returns the delay. */
  failed(uptimeMs: number, everReady: boolean, now = Date.now()): number {
    const step = nextRestart(this.streak, uptimeMs, this.policy, this.random);
    this.streak = step.streak;
    this.notBefore = now + step.delayMs;
    this.restarts++;
    this.failedStarts = everReady ? 0 : this.failedStarts + 1;
    return step.delayMs;
  }

  /** A worker of this slot became ready. */
  started(): void {
    this.failedStarts = 0;
  }

  /** How long a new worker of this slot must still wait (0: start now). */
  waitMs(now = Date.now()): number {
    return Math.max(0, this.notBefore - now);
  }
}

export class WorkerRecord {
  state: WorkerState = 'starting';
  process: WorkerProcess | undefined;
  pid: number | undefined;
  startedAt = Date.now();
  timer: NodeJS.Timeout | undefined;
  /** Identifies the current process; callbacks of an earlier one are dropped. */
  launch: symbol | undefined;
  /** Passing its health checks (spawn mode); in rotation = ready and healthy (Supervisor.syncRotation). */
  healthy = true;
  /** What the front was last told: in rotation or not. Written by Supervisor.syncRotation only. */
  inRotation = false;
  /** Its --max-requests with jitter, drawn once. */
  maxServed: number | undefined;
  /** When its stop began (drain or SIGTERM): the --kill-timeout budget runs from here. */
  stopBegan: number | undefined;
  /** Was ready at some point (a crash after that is not a failed start). */
  everReady = false;
  /** The last STATUS= it sent (systemd notify), shown in status. */
  notifyStatus: string | undefined;
  /** Why it crashed or failed to start, for the reload result and logs. */
  failure: string | undefined;
  cpu = 0;
  memory = 0;
  /** Cluster mode: open connections as the worker reported them (spawn mode asks the front). */
  connections: number | undefined;
  readonly stderrTail = new LineTail();
  logger: Logger;

  constructor(
    readonly id: WorkerId,
    readonly slot: number,
    readonly generation: number,
    readonly port: number,
    /** A reload or restart candidate: a crash ends it instead of restarting it. */
    public candidate: boolean,
    readonly history: SlotHistory,
    parentLogger: Logger,
  ) {
    this.logger = parentLogger.child({ worker: slot });
  }

  status(connections: number | undefined, totalConnections: number | undefined): WorkerStatus {
    const running = this.state !== 'backoff' && this.state !== 'exited';
    return {
      id: this.id,
      slot: this.slot,
      pid: running ? this.pid : undefined,
      port: this.port,
      state: this.state,
      generation: this.generation,
      restarts: this.history.restarts,
      uptimeMs: running ? Date.now() - this.startedAt : 0,
      healthy: this.healthy,
      cpu: running ? this.cpu : 0,
      memory: running ? this.memory : 0,
      connections,
      totalConnections,
      ...(this.notifyStatus === undefined ? {} : { status: this.notifyStatus }),
    };
  }

  /** "exit code 1", "signal SIGKILL", plus the last stderr lines. */
  describeExit(code: number | null, signal: string | null): string {
    const how = signal ? `was killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
    const tail = this.stderrTail.text();
    return tail ? `${how}; last stderr:\n${tail}` : how;
  }
}
