// One app from a Config, run as a system of one (the programmatic API of a
// single supervisor; `supervise` itself goes through runSystem).

import type { Logger } from '../log.js';
import { defaultAppName } from '../system-config.js';
import { runSystem, type SystemService } from './system.js';
import type { SupervisorService } from './service.js';
import type { Supervisor } from './supervisor.js';
import type { AppConfig } from '../core/system-types.js';
import type { Config } from '../core/types.js';

export interface RunningSupervisor {
  readonly supervisor: Supervisor;
  readonly api: SupervisorService;
  readonly system: SystemService;
  /** The public port actually bound (differs from config.port when it was 0). */
  readonly port: number;
  /** Resolves with the exit code once a stop has completed (every worker gone, everything closed). */
  readonly stopped: Promise<number>;
}

export async function runSupervisor(config: Config, logger: Logger, options: { signals?: boolean } = {}): Promise<RunningSupervisor> {
  const name = 'name' in config && typeof config.name === 'string' ? config.name : defaultAppName(config);
  const app: AppConfig = { env: {}, routes: [], dependsOn: [], autoscale: undefined, weights: undefined, upstreams: [], ...config, name };
  const { system, stopped } = await runSystem(
    { file: undefined, control: config.control, front: undefined, apps: [app], logFormat: config.logFormat, logLevel: config.logLevel, resolvers: undefined },
    logger,
    options,
  );
  const runtime = system.appRuntime(name);
  if (runtime === undefined) throw new Error(`app ${name} is missing`);
  return { supervisor: runtime.supervisor, api: runtime.service, system, port: runtime.supervisor.publicPort, stopped };
}
