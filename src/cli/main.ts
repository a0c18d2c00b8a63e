// `supervise [options] <script>` / `supervise [options] -- <command…>` /
// `supervise ctl …`: parse, then delegate. No logic beyond turning argv into a
// Config (config.ts validates) and exit codes.

import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { buildConfig, type RawSettings } from '../config.js';
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, isSuperviseError, UsageError } from '../errors.js';
import { runCtl } from './ctl.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };
const SCRIPT = /\.(c|m)?js$/i;

const EXAMPLES = `
Examples:
  supervise -w 4 app.js                                   4 node:cluster workers, round-robin, on $PORT (8080)
  supervise -w 3 --base-port 8000 --port 8080 -- uvicorn main:app --port {port}
                                                          3 servers on 8000-8002 behind a front on 8080
  supervise ctl status | scale <n|+n|-n> | reload | restart <slot> | stop | metrics

Durations: 500, 500ms, 10s, 2m. Sizes: 512K, 512M, 1G.
Signals: TERM/INT stop gracefully (twice: at once), HUP reloads, TTIN/TTOU add/remove a worker.`;

function buildProgram(): Command {
  return new Command('supervise')
    .description('Process supervisor and load balancer: node:cluster, or any server on consecutive ports behind a round-robin front')
    .version(version, '-V, --version')
    .usage('[options] <script.js> [args...]\n       supervise [options] -- <command> [args...]\n       supervise ctl [--control <path>] <verb> [args]')
    .argument('[script...]', 'cluster mode: the Node script to fork, and its arguments')
    .option('-w, --workers <n>', 'worker count, 1 … 1024 (default: available CPUs)')
    .option('-p, --port <n>', 'public port (default: 8080)')
    .option('--host <addr>', 'address of the public listener (default: 127.0.0.1)')
    .option('--base-port <n>', 'spawn mode: port of worker slot 0 (default: 8000)')
    .addOption(new Option('--proxy <kind>', 'spawn mode front (default: tcp)').choices(['tcp', 'http', 'none']))
    .addOption(new Option('--balance <policy>', 'balancing policy (default: round-robin)').choices(['round-robin', 'least-conn', 'weighted-round-robin']))
    .option('--health <path>', 'spawn mode: HTTP GET path that must answer 2xx (default: a TCP connect)')
    .option('--health-interval <ms>', 'active probe period (default: 2000)')
    .option('--health-timeout <ms>', 'one probe\'s time limit (default: 1000)')
    .option('--healthy-threshold <n>', 'passes before a worker takes traffic again (default: 2)')
    .option('--unhealthy-threshold <n>', 'failures before a worker leaves the rotation (default: 3)')
    .option('--ready-timeout <ms>', 'a new worker must be ready by then (default: 30000)')
    .option('--wait-ready', 'cluster mode: ready when the worker calls process.send(\'ready\')')
    .option('--kill-timeout <ms>', 'drain limit, and SIGTERM to SIGKILL (default: 10000)')
    .option('--heartbeat-timeout <ms>', 'a cluster worker without heartbeat, or a stopped worker, is hung after this (default: 30s)')
    .option('--liveness <path>', 'spawn mode: HTTP GET path; failures replace the worker (separate from --health)')
    .option('--liveness-interval <ms>', 'liveness probe period (default: 10s)')
    .option('--liveness-threshold <n>', 'consecutive liveness failures that replace a worker (default: 3)')
    .option('--restart-delay <ms>', 'cap of the first restart delay; doubles per crash, full jitter (default: 100)')
    .option('--max-restart-delay <ms>', 'the restart delay cap never grows past this (default: 30s)')
    .option('--max-failed-starts <n>', 'consecutive failed starts after which the app is fatal (default: unlimited)')
    .option('--max-requests <n>', 'replace a worker after this many requests (cluster, --proxy http) or connections (tcp)')
    .option('--max-requests-jitter <n>', 'add 0…n to --max-requests per worker, so workers do not recycle together')
    .option('--watch [paths...]', 'rolling reload when files change (default path: .)')
    .option('--watch-ignore <glob...>', 'paths that never trigger a reload (added to node_modules, .git, dotfiles, __pycache__, *.pyc)')
    .option('--watch-debounce <ms>', 'changes within this window make one reload (default: 300)')
    .option('--max-memory <size>', 'replace a worker whose RSS exceeds it, e.g. 512M')
    .option('--control <path>', 'control socket (default: ./.supervise.sock)')
    .option('--config <file>', 'JSON or YAML file with the same settings; flags win')
    .addOption(new Option('--log-format <format>', 'master log format (default: pretty on a TTY, else json)').choices(['pretty', 'json']))
    .option('--log-level <level>', 'pino level (default: info)')
    .addHelpText('after', EXAMPLES)
    .passThroughOptions() // options after the script belong to the script
    .exitOverride()
    .configureOutput({ writeErr: () => undefined }); // errors are printed once, below
}

/** `--watch app.js` would swallow the script: give a trailing script name back. */
function reclaimScript(flags: RawSettings, positional: string[], command: string[] | undefined): void {
  if (positional.length > 0 || command !== undefined) return;
  for (const key of ['watch', 'watchIgnore'] as const) {
    const list = flags[key];
    if (Array.isArray(list) && typeof list.at(-1) === 'string' && SCRIPT.test(list.at(-1))) {
      positional.push(list.pop() as string);
      if (list.length === 0) flags[key] = key === 'watch' ? true : undefined;
      return;
    }
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const args = argv.slice(2);
  if (args[0] === 'ctl') return runCtl(args.slice(1), process.stdout, process.stderr);

  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  const command = dash === -1 ? undefined : args.slice(dash + 1);
  const program = buildProgram();
  try {
    program.parse(own, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
      process.stderr.write(`supervise: ${error.message.replace(/^error: /, '')} (see supervise --help)\n`);
      return EXIT_USAGE;
    }
    throw error;
  }

  const { config: configFile, ...flags } = program.opts<RawSettings & { config?: string }>();
  const positional = [...program.args];
  reclaimScript(flags, positional, command);
  try {
    const config = buildConfig({
      flags,
      positional,
      command,
      configFile,
      cwd: process.cwd(),
      stdoutIsTTY: process.stdout.isTTY === true,
    });
    // Loaded here, not at the top: `supervise ctl` and usage errors need none of it.
    const [{ createLogger }, { runSupervisor }] = await Promise.all([import('../log.js'), import('../supervisor/run.js')]);
    const logger = createLogger(config.logFormat, config.logLevel);
    const running = await runSupervisor(config, logger);
    return await running.stopped;
  } catch (error) {
    if (isSuperviseError(error) || (error instanceof Error && 'code' in error && typeof error.code === 'string' && /^CONTROL_/.test(error.code))) {
      process.stderr.write(`supervise: ${error.message}\n`);
      return isSuperviseError(error) ? error.exitCode : EXIT_RUNTIME;
    }
    throw error;
  }
}

export { UsageError };
