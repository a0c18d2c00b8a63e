// Starting a worker's process, and the one door its callbacks come in by: every
// callback of the launcher becomes a task on the supervisor's queue, tagged with
// the launch it belongs to, so that a late callback of a previous process of the
// same record (before a restart) is dropped instead of acting on the new one.

import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Launcher, WorkerId } from '../core/types.js';
import type { WorkerEvent } from '../core/worker-state.js';
import type { WorkerRecord } from './worker-record.js';

/** A line of a worker's output, with the worker it came from (log files, `ctl logs`). */
export type OutputListener = (worker: WorkerRecord, stream: 'stdout' | 'stderr', line: string, continued: boolean) => void;

/** What the supervisor lends a launch. */
export interface LaunchContext {
  /** The app's logger: each worker logs through a child of it, with its slot and pid. */
  readonly logger: Logger;
  /** Cluster workers report their open connections; other workers' are the front's to count. */
  readonly reportsConnections: boolean;
  /** Runs a task on the supervisor's queue. */
  post(task: () => void): void;
  /** Hands a worker event to the state machine (called from a queued task). */
  dispatch(id: WorkerId, event: WorkerEvent): void;
  /** The consumer of worker output besides the master's own log. */
  readonly output: OutputListener;
  /** The worker asks to be replaced, drained (--max-requests counted by itself). */
  replace(slot: number, why: string): void;
}

/** Starts `record`'s process with `launcher`; a launcher that throws is an exit with code 127. */
export function launchWorker(record: WorkerRecord, launcher: Launcher, context: LaunchContext): void {
  record.startedAt = Date.now();
  record.stderrTail.clear();
  record.failure = undefined;
  record.connections = context.reportsConnections ? 0 : undefined;
  const spec = { id: record.id, slot: record.slot, generation: record.generation, port: record.port };
  const launch = Symbol('launch');
  record.launch = launch;
  /** A task that runs only while this launch is the record's latest. */
  const current = (task: () => void) =>
    context.post(() => {
      if (record.launch === launch) task();
    });
  const post = (event: WorkerEvent) => current(() => context.dispatch(record.id, event));
  try {
    record.process = launcher.start(spec, {
      onSpawn: (pid) => {
        record.pid = pid;
        record.logger = context.logger.child({ worker: record.slot, pid });
        record.logger.info({ port: record.port, generation: record.generation }, 'worker started');
      },
      onReady: () => post({ type: 'ready' }),
      onDrained: () => post({ type: 'drained' }),
      onConnections: (open) => current(() => (record.connections = open)),
      onExit: (code, signal) => post({ type: 'exit', code, signal }),
      onOutput: (stream, line, continued = false) => {
        if (stream === 'stderr') record.stderrTail.add(line);
        record.logger.info(continued ? { stream, continued } : { stream }, line);
        context.output(record, stream, line, continued);
      },
      onHung: (reason) => post({ type: 'hung', reason }),
      onStatus: (text) => current(() => (record.notifyStatus = text)),
      onWarning: (message) =>
        current(() => {
          record.stderrTail.add(message);
          record.logger.warn(message);
        }),
      onRecycle: (reason) =>
        current(() => {
          if (record.state === 'ready') context.replace(record.slot, reason);
        }),
    });
  } catch (error) {
    record.stderrTail.add(errorMessage(error));
    queueMicrotask(() => post({ type: 'exit', code: 127, signal: null }));
  }
}
