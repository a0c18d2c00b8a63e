// One row of the supervisor's worker table, and the per-slot crash history that
// survives the replacement of a slot's worker.

import { LineTail, type Logger } from '../log.js';
import type { WorkerId, WorkerProcess, WorkerState, WorkerStatus } from '../core/types.js';

export interface SlotHistory {
  /** Times this slot was started again after a crash or a failed start. */
  restarts: number;
  /** Consecutive quick crashes (backoff.ts). */
  streak: number;
  /** A new worker for this slot must not start before this time (ms since epoch). */
  notBefore: number;
}

export class WorkerRecord {
  state: WorkerState = 'starting';
  process: WorkerProcess | undefined;
  pid: number | undefined;
  startedAt = Date.now();
  timer: NodeJS.Timeout | undefined;
  /** Identifies the current process; callbacks of an earlier one are dropped. */
  launch: symbol | undefined;
  /** In rotation as far as health checks go (spawn mode). */
  healthy = true;
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
    };
  }

  /** "exit code 1", "signal SIGKILL", plus the last stderr lines. */
  describeExit(code: number | null, signal: string | null): string {
    const how = signal ? `was killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
    const tail = this.stderrTail.text();
    return tail ? `${how}; last stderr:\n${tail}` : how;
  }
}
