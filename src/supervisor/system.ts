// The system: several apps under one master (SPEC §8). For now one app, run as before.

import type { Logger } from '../log.js';
import type { RawSettings } from '../config.js';
import type { SystemConfig } from '../core/system-types.js';
import { UsageError } from '../errors.js';
import { runSupervisor } from './run.js';

export interface SystemOptions {
  readonly signals?: boolean;
  /** The flags the master started with: defaults when the file is read again. */
  readonly flags?: RawSettings;
  readonly stdoutIsTTY?: boolean;
}

export async function runSystem(system: SystemConfig, logger: Logger, options: SystemOptions = {}): Promise<{ stopped: Promise<number> }> {
  const [app] = system.apps;
  if (app === undefined || system.apps.length > 1) throw new UsageError('several apps: not yet');
  return runSupervisor(app, logger, options.signals === undefined ? {} : { signals: options.signals });
}
