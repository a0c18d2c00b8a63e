// What a worker's exit or failure means for its app: the exit event and the
// message that names it, the log line that says what happens next, the slot's
// backoff, and the app turning fatal after --max-failed-starts consecutive
// failed starts (nothing restarts then until `ctl restart` clears it).

import type { Logger } from '../log.js';
import type { RestartPolicy, SupervisorEvent } from '../core/types.js';
import type { WorkerEffect } from '../core/worker-state.js';
import type { WorkerRecord } from './worker-record.js';

/** The states a worker leaves when it exits because it was asked to. */
function wasAsked(from: string): boolean {
  return from === 'draining' || from === 'stopping';
}

export class FailurePolicy {
  /** Why the app is fatal; undefined while it is not. */
  fatal: string | undefined;
  /** The latest crash or failed start of a non-candidate worker, for error messages. */
  last: string | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly emit: (event: SupervisorEvent) => void,
  ) {}

  /** A worker exited (before its state machine acts on it): the event, and its failure message when it was not asked to stop. */
  exited(record: WorkerRecord, from: string, code: number | null, signal: string | null): void {
    const expected = wasAsked(from);
    const reason = record.describeExit(code, signal);
    this.emit({ type: 'worker-exit', id: record.id, slot: record.slot, pid: record.pid, code, signal, expected, reason });
    if (!expected) record.failure = `worker ${record.slot} (pid ${record.pid ?? '?'}) ${reason}`;
  }

  /** The log line of an exit, once the state machine has decided what follows. */
  logExit(record: WorkerRecord, from: string, code: number | null, signal: string | null, stopping: boolean): void {
    if (wasAsked(from)) record.logger.info({ code, signal }, 'worker stopped');
    else if (stopping) record.logger.warn({ code, signal }, record.failure);
    else if (record.candidate) record.logger.error({ code, signal }, `${record.failure} while starting`);
    else if (this.fatal !== undefined) record.logger.error({ code, signal }, `${record.failure}; not restarting: the app is fatal`);
    else record.logger.error({ code, signal, restartInMs: record.history.waitMs() }, `${record.failure}; restarting`);
  }

  /**
   * The state machine reports a crash, a hang or a failed start: the message
   * (`hint` says what was probed, for a start that never became ready), then failed().
   */
  report(
    record: WorkerRecord,
    effect: Extract<WorkerEffect, { type: 'report-crash' | 'report-hung' | 'report-failed-start' }>,
    hint: () => string,
    policy: RestartPolicy,
    stopping: boolean,
  ): void {
    const who = `worker ${record.slot} (pid ${record.pid ?? '?'})`;
    if (effect.type === 'report-hung') {
      record.failure = `${who} hung: ${effect.reason}`;
      record.logger.error(`${record.failure}; out of rotation, replacing it, killing it`);
    } else if (effect.type === 'report-failed-start') {
      record.failure = `${who} was ${effect.reason} ${hint()}`;
      record.logger.error(record.failure);
    }
    this.failed(record, policy, stopping);
  }

  /** A crash, a hang or a failed start: the slot history decides the backoff before its next start. */
  private failed(record: WorkerRecord, policy: RestartPolicy, stopping: boolean): void {
    if (record.candidate) return; // a bad reload must not slow down the old workers' restarts
    if (stopping) return;
    this.last = record.failure;
    record.history.failed(Date.now() - record.startedAt, record.everReady);
    this.emit({ type: 'worker-restart', slot: record.slot });
    const limit = policy.maxFailedStarts;
    if (limit !== undefined && record.history.failedStarts >= limit && this.fatal === undefined) {
      this.fatal = `${record.history.failedStarts} consecutive failed starts (--max-failed-starts ${limit}), last: ${record.failure ?? 'unknown'}`;
      this.logger.fatal(`the app is fatal: ${this.fatal}; nothing restarts until \`supervise ctl restart\``);
    }
  }
}
