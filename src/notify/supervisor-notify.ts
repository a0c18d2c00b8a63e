// The supervisor speaking systemd's notify protocol when started by a
// `Type=notify` unit (NOTIFY_SOCKET set): READY=1 once the first generation
// is ready, RELOADING=1 / READY=1 around each rolling reload, STOPPING=1 when
// a stop begins, WATCHDOG=1 at half of WATCHDOG_USEC, STATUS= lines saying
// where it is. Without NOTIFY_SOCKET it does nothing.

import type { Logger } from '../log.js';
import type { SupervisorApi } from '../core/types.js';
import { formatNotify } from './protocol.js';
import { notifyAvailable, sendNotify } from './socket.js';

export interface SupervisorNotify {
  /** A stop begins: STOPPING=1. */
  stopping(): void;
  /** Stops the watchdog pings. */
  close(): void;
}

export interface NotifyOptions {
  readonly logger: Logger;
  /** Read, then removed, as sd_notify(unset_environment) does: workers must not talk to systemd as if they were the service. */
  readonly env?: NodeJS.ProcessEnv;
  /** For tests; defaults to the native sender. */
  readonly send?: (path: string, message: string) => void;
}

/** The hook, or undefined when NOTIFY_SOCKET is not set (not under systemd, or not Type=notify). */
export function startSupervisorNotify(api: SupervisorApi, options: NotifyOptions): SupervisorNotify | undefined {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID;
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  if (socket === undefined || socket === '') return undefined;
  const { logger } = options;
  if (options.send === undefined && !notifyAvailable()) {
    logger.warn(`NOTIFY_SOCKET is set but the native addon did not build: systemd will not hear READY=1 (use Type=simple, or build with a C compiler)`);
    return undefined;
  }
  const send = options.send ?? sendNotify;
  let failed = false;
  const say = (fields: Record<string, string | number>) => {
    try {
      send(socket, formatNotify(fields));
      failed = false;
    } catch (error) {
      // Once per run of failures: a gone systemd must not flood the log every watchdog tick.
      if (!failed) logger.warn({ err: error }, `could not notify systemd at NOTIFY_SOCKET=${socket}: ${(error as Error).message}`);
      failed = true;
    }
  };

  let ready = false;
  let stopping = false;
  const readyLine = () => {
    const status = api.status();
    const up = status.workers.filter((w) => w.state === 'ready').length;
    return { up, desired: status.desired, text: `${up}/${status.desired} workers ready, generation ${status.generation}` };
  };
  api.onEvent((event) => {
    if (stopping) return;
    if (event.type === 'worker-state' && event.to === 'ready' && !ready) {
      // The whole first generation, not its first worker: systemd starts dependent units on READY=1.
      const line = readyLine();
      if (line.up < line.desired) return;
      ready = true;
      say({ READY: 1, STATUS: line.text, MAINPID: process.pid });
    } else if (event.type === 'reload-start' && ready) {
      // MONOTONIC_USEC: CLOCK_MONOTONIC, which hrtime reads; systemd 253+ matches it against its reload request.
      say({ RELOADING: 1, MONOTONIC_USEC: (process.hrtime.bigint() / 1000n).toString(), STATUS: 'reloading' });
    } else if (event.type === 'reload' && ready) {
      say({ READY: 1, STATUS: `${event.ok ? 'reloaded' : 'reload failed, previous generation serving'}: ${readyLine().text}` });
    }
  });

  // Half the interval, as sd_watchdog_enabled() advises; a ping proves the event loop turns.
  let watchdog: NodeJS.Timeout | undefined;
  if (Number.isFinite(watchdogUsec) && watchdogUsec > 0 && (watchdogPid === undefined || Number(watchdogPid) === process.pid)) {
    watchdog = setInterval(() => say({ WATCHDOG: 1 }), Math.max(1, Math.floor(watchdogUsec / 2000)));
    watchdog.unref();
  }

  return {
    stopping() {
      if (stopping) return;
      stopping = true;
      say({ STOPPING: 1, STATUS: 'stopping: draining workers' });
    },
    close() {
      clearInterval(watchdog);
    },
  };
}
