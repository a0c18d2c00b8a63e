// Releasing what was acquired, last first, where one failure must not keep the
// rest open (an app's front, checks and watcher; the system's control socket,
// routing front and sampler).

import type { Logger } from '../log.js';

export async function runClosers(closers: Array<() => unknown>, logger: Logger): Promise<void> {
  for (const close of closers.splice(0).reverse()) {
    try {
      await close();
    } catch (error) {
      logger.warn({ err: error }, 'error while closing');
    }
  }
}
