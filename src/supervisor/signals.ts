// Signals to the master only enqueue requests; the system's apps decide.
//   SIGTERM, SIGINT  graceful stop (a second one stops at once)
//   SIGHUP           rolling reload (with a system file: re-read it first)
//   SIGTTIN/SIGTTOU  one worker more / one fewer (only with one app: a signal cannot name one)

import type { Logger } from '../log.js';
import type { SupervisorApi } from '../core/types.js';

export interface SignalTarget {
  stop(reason: string): Promise<void>;
  hangup(): Promise<unknown>;
  appNames(): readonly string[];
  app(name: string): SupervisorApi | undefined;
}

export function installSignalHandlers(target: SignalTarget, logger: Logger): () => void {
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', () => void target.stop('SIGTERM')],
    ['SIGINT', () => void target.stop('SIGINT')],
    ['SIGHUP', () => void target.hangup()],
    ['SIGTTIN', () => void scaleBy(+1, 'SIGTTIN')],
    ['SIGTTOU', () => void scaleBy(-1, 'SIGTTOU')],
  ];

  async function scaleBy(delta: number, signal: string): Promise<void> {
    const names = target.appNames();
    const api = names.length === 1 ? target.app(names[0] as string) : undefined;
    if (api === undefined) {
      logger.warn({ apps: names }, `${signal} ignored: it scales the only app, and there are ${names.length}; use supervise ctl scale <app> +1`);
      return;
    }
    const desired = api.status().desired;
    if (desired + delta < 1) {
      logger.warn({ desired }, 'SIGTTOU ignored: at least one worker must run');
      return;
    }
    const result = await api.scale({ delta });
    if (!result.ok) logger.error(`scale by ${delta} failed: ${result.error}`);
  }

  for (const [signal, handler] of handlers) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
