// The supervisor speaking systemd's notify protocol when started by a
// `Type=notify` unit (NOTIFY_SOCKET set): READY=1 once the first generation
// of every app is ready, RELOADING=1 / READY=1 around each reload of the
// system (SIGHUP, `ctl reload`, `ctl apply`), STOPPING=1 when a stop begins,
// WATCHDOG=1 at half of WATCHDOG_USEC, STATUS= lines saying where it is.
// Without NOTIFY_SOCKET it does nothing. The system (src/supervisor/system.ts)
// calls it; it watches worker events only to know when the system is ready.

import type { Logger } from '../log.js';
import type { SystemApi } from '../core/system-api.js';
import { formatNotify } from './protocol.js';
import { notifyAvailable, sendNotify } from './socket.js';

export interface SupervisorNotify {
  /** A reload of the system begins: RELOADING=1. */
  reloading(): void;
  /** It ended: READY=1 again, whatever the outcome (the previous generation serves after a failed one). */
  reloaded(ok: boolean): void;
  /** A stop begins: STOPPING=1. */
  stopping(): void;
  /** Stops the watchdog pings. */
  close(): void;
}

export interface NotifyOptions {
  readonly logger: Logger;
  /** Read, then cleared, as sd_notify(unset_environment) does: workers must not talk to systemd as if they were the service. */
  readonly env?: NodeJS.ProcessEnv;
  /** For tests; defaults to the native sender. */
  readonly send?: (path: string, message: string) => void;
}

/** The hook, or undefined when NOTIFY_SOCKET is not set (not under systemd, or not Type=notify). Call it before any worker starts. */
export function startSupervisorNotify(system: SystemApi, options: NotifyOptions): SupervisorNotify | undefined {
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
    logger.warn('NOTIFY_SOCKET is set but the native addon did not build: systemd will not hear READY=1 (use Type=simple, or build with a C compiler)');
    return undefined;
  }
  const send = options.send ?? sendNotify;
  let failing = false;
  const say = (fields: Record<string, string | number>) => {
    try {
      send(socket, formatNotify(fields));
      failing = false;
    } catch (error) {
      // Once per run of failures: a gone systemd must not flood the log at every watchdog tick.
      if (!failing) logger.warn({ err: error }, `could not notify systemd at NOTIFY_SOCKET=${socket}: ${(error as Error).message}`);
      failing = true;
    }
  };

  /** "users 3/3, web 2/2 ready" and whether every app has all its workers ready. */
  const readiness = () => {
    const apps = system.status().apps;
    const counts = apps.map((app) => ({ name: app.name, up: app.workers.filter((w) => w.state === 'ready').length, desired: app.desired }));
    const text = counts.map((c) => (apps.length === 1 ? `${c.up}/${c.desired} workers ready` : `${c.name} ${c.up}/${c.desired}`)).join(', ');
    return { all: counts.every((c) => c.up >= c.desired), text: apps.length === 1 ? `${text}, generation ${apps[0]?.generation}` : `${text} ready` };
  };

  let ready = false;
  let reloading = false;
  let stopping = false;
  system.onEvent((_app, event) => {
    // The whole first generation, not its first worker: systemd starts the units that need this one on READY=1.
    if (ready || stopping || event.type !== 'worker-state' || event.to !== 'ready') return;
    const now = readiness();
    if (!now.all) return;
    ready = true;
    say({ READY: 1, STATUS: now.text, MAINPID: process.pid });
  });

  // Half the interval, as sd_watchdog_enabled() advises; a ping proves the event loop turns.
  let watchdog: NodeJS.Timeout | undefined;
  if (Number.isFinite(watchdogUsec) && watchdogUsec > 0 && (watchdogPid === undefined || Number(watchdogPid) === process.pid)) {
    watchdog = setInterval(() => say({ WATCHDOG: 1 }), Math.max(1, Math.floor(watchdogUsec / 2000)));
    watchdog.unref();
  }

  return {
    reloading() {
      if (!ready || stopping) return;
      reloading = true;
      // MONOTONIC_USEC: CLOCK_MONOTONIC, which hrtime reads; systemd 253+ matches it with its reload request.
      say({ RELOADING: 1, MONOTONIC_USEC: (process.hrtime.bigint() / 1000n).toString(), STATUS: 'reloading' });
    },
    reloaded(ok) {
      if (!reloading || stopping) return;
      reloading = false;
      say({ READY: 1, STATUS: `${ok ? 'reloaded' : 'reload failed, previous generation serving'}: ${readiness().text}` });
    },
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
