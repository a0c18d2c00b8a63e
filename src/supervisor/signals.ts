// Signals to the master only enqueue requests; the supervisor's queue decides.
//   SIGTERM, SIGINT  graceful stop (a second one stops at once)
//   SIGHUP           rolling reload
//   SIGTTIN/SIGTTOU  one worker more / one fewer

import type { Logger } from '../log.js';
import type { SupervisorApi } from '../core/types.js';

export function installSignalHandlers(api: SupervisorApi, logger: Logger): () => void {
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', () => void api.stop('SIGTERM')],
    ['SIGINT', () => void api.stop('SIGINT')],
    ['SIGHUP', () => void api.reload('SIGHUP')],
    ['SIGTTIN', () => void scaleBy(+1)],
    ['SIGTTOU', () => void scaleBy(-1)],
  ];

  async function scaleBy(delta: number): Promise<void> {
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
