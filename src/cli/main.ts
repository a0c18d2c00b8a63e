// `supervise [options] <script>` / `supervise [options] -- <command…>` /
// `supervise ctl …`: parse, then delegate. No logic beyond turning argv into a
// Config (config.ts validates) and exit codes.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { RawSettings } from '../config.js';
import { OPTIONS } from '../options.js';
import { buildSystem } from '../system-config.js';
import { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, isSuperviseError, UsageError } from '../errors.js';
import { runCtl } from './ctl.js';
import { runExport } from './export.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };
const SCRIPT = /\.(c|m)?js$/i;

const EXAMPLES = `
Examples:
  supervise -w 4 app.js                                   4 node:cluster workers, round-robin, on $PORT (8080)
  supervise -w 3 --base-port 8000 --port 8080 -- uvicorn main:app --port {port}
                                                          3 servers on 8000-8002 behind a front on 8080
  supervise --config supervise.yaml                       several apps from one file (apps:, front:, defaults:)
  supervise up                                            the same with ./supervise.yaml
  supervise export kubernetes|systemd|compose [-o dir]   the same system on another engine (docs/export.md)
  supervise ctl status [app] | scale [app] <n|+n|-n> | reload [app] | restart [app] <slot> | apply | stop | metrics
  supervise ctl events | logs [app] [-f] [-n N]              the event stream; the workers' latest output
  supervise top                                           live view of the workers; keys reload, scale, restart
  supervise ls                                            every supervisor of yours on this machine; ctl --name <name> reaches one

Durations: 500, 500ms, 10s, 2m. Sizes: 512K, 512M, 1G.
Signals: TERM/INT stop gracefully (twice: at once), HUP reloads, TTIN/TTOU add/remove a worker.`;

function buildProgram(): Command {
  const program = new Command('supervise')
    .description('Process supervisor and load balancer: node:cluster, or any server on consecutive ports behind a round-robin front')
    .version(version, '-V, --version')
    .usage('[options] <script.js> [args...]\n       supervise [options] -- <command> [args...]\n       supervise up [options]                 (runs ./supervise.yaml)\n       supervise ctl [--control <path> | --name <name>] <verb> [args]\n       supervise ls                           (every supervisor of yours, from any folder)')
    .argument('[script...]', 'cluster mode: the Node script to fork, and its arguments');
  for (const spec of OPTIONS) {
    const option = new Option(spec.flag, `${spec.meaning} (default: ${spec.defaultText.replaceAll('`', '')})`);
    if (spec.kind === 'choice' && spec.choices) option.choices(spec.choices);
    program.addOption(option);
  }
  return program
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
  let args = argv.slice(2);
  if (args[0] === 'ctl') return runCtl(args.slice(1), process.stdout, process.stderr);
  if (args[0] === 'ls') {
    const { runLs } = await import('./ls.js');
    return runLs(args.slice(1), process.stdout, process.stderr);
  }
  if (args[0] === 'export') {
    return runExport(args.slice(1), { cwd: process.cwd(), defaultConfig: upFile(process.cwd()), stdout: process.stdout, stderr: process.stderr });
  }
  if (args[0] === 'top') {
    const { runTop } = await import('./top.js');
    return runTop(args.slice(1), { input: process.stdin, output: process.stdout }, process.stderr);
  }
  // `supervise up`: the system file of the current folder.
  if (args[0] === 'up') {
    const file = upFile(process.cwd());
    if (file === undefined) {
      process.stderr.write(`supervise: supervise up needs a supervise.yaml (or .yml, .json) in ${process.cwd()}\n`);
      return EXIT_USAGE;
    }
    args = ['--config', file, ...args.slice(1)];
  }

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
    const system = buildSystem({
      flags,
      positional,
      command,
      configFile,
      cwd: process.cwd(),
      stdoutIsTTY: process.stdout.isTTY === true,
    });
    // Loaded here, not at the top: `supervise ctl` and usage errors need none of it.
    const [{ createLogger }, { runSystem }] = await Promise.all([import('../log.js'), import('../supervisor/system.js')]);
    const logger = createLogger(system.logFormat, system.logLevel);
    const running = await runSystem(system, logger, { flags, stdoutIsTTY: process.stdout.isTTY === true });
    return await running.stopped;
  } catch (error) {
    if (isSuperviseError(error) || (error instanceof Error && 'code' in error && typeof error.code === 'string' && /^CONTROL_/.test(error.code))) {
      process.stderr.write(`supervise: ${error.message}\n`);
      return isSuperviseError(error) ? error.exitCode : EXIT_RUNTIME;
    }
    throw error;
  }
}

/** ./supervise.yaml, .yml or .json; the first that exists. */
function upFile(cwd: string): string | undefined {
  return ['supervise.yaml', 'supervise.yml', 'supervise.json'].find((name) => existsSync(join(cwd, name)));
}

export { UsageError };
