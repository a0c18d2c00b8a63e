// Programmatic API: what `supervise` does, from a Node program.
//
//   import { buildConfig, createLogger, runSupervisor } from 'supervise';
//   const config = buildConfig({ flags: { workers: 2 }, positional: ['app.js'], command: undefined,
//                                configFile: undefined, cwd: process.cwd(), stdoutIsTTY: false });
//   const running = await runSupervisor(config, createLogger('json', 'info'), { signals: false });
//   await running.api.reload('deploy');
//   await running.api.stop('done');            // running.stopped resolves with the exit code

export { buildConfig, loadConfigFile, type ConfigInput, type RawSettings } from './config.js';
export { createLogger, type Logger } from './log.js';
export { runSupervisor, type RunningSupervisor } from './supervisor/run.js';
export { SuperviseError, UsageError, RuntimeFailure } from './errors.js';
export type * from './core/types.js';
