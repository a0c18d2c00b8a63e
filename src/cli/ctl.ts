// `supervise ctl [--control <path>] <verb>`: one request to a running
// supervisor's control socket, its answer printed for a human (or as JSON).
//
// Exit codes (SPEC §7):
//   0  the supervisor did it
//   1  the supervisor answered with a failure (reload aborted, worker never ready…),
//      or the exchange broke off (timeout, connection lost)
//   2  usage error: bad verb or argument — found here, or reported by the
//      supervisor as 400/404 (e.g. a delta leaving 0 workers, an unknown slot)
//   3  no supervisor answers on the control socket

import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import type { ReloadResult, ScaleRequest, ScaleResult } from '../core/types.js';
import type { ApplyResult, SystemStatus } from '../core/system-api.js';
import {
  ControlRequestError,
  type ControlMethod,
  type ControlResponse,
  controlRequest,
  controlStream,
  errorMessageOf,
  NoSupervisorError,
} from '../control/client.js';
import { MAX_WORKERS, MIN_WORKERS } from '../core/types.js';
import { EXIT_NO_SUPERVISOR, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, isSuperviseError, SuperviseError, UsageError } from '../errors.js';
import { findByName, listEntries, type RegistryEntry } from '../control/registry.js';
import { formatEventLine } from './events-format.js';
import { formatSystemStatus } from './format.js';
import { formatLogLine } from './logs-format.js';

export interface Output {
  write(chunk: string): unknown;
}

export const DEFAULT_CONTROL_PATH = './.supervise.sock';

/** Quick requests get a bound; reload, scale and restart answer only when done, so they wait. */
const QUICK_TIMEOUT_MS = 5000;
const STOP_POLL_MS = 100;

/** `argv` is what follows `ctl` on the command line. */
export async function runCtl(argv: readonly string[], stdout: Output, stderr: Output): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(stdout, stderr, (verb) => async (...args) => {
    exitCode = await runVerb(() => verb(new Session(socketOf(program), stdout, stderr), ...args), stderr);
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // Help or version asked for explicitly: success. Anything else commander rejects is usage.
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT_OK : EXIT_USAGE;
  }
  return exitCode;
}

/** The socket `--name` finds in the user's registry, else `--control`'s (./.supervise.sock by default). */
function socketOf(program: Command): string {
  const { control, name } = program.opts<{ control?: string; name?: string }>();
  if (name === undefined) return resolve(control ?? DEFAULT_CONTROL_PATH);
  if (program.getOptionValueSource('control') === 'cli') throw new UsageError('give --name or --control, not both');
  const found = findByName(name, listEntries());
  if (found.length === 1) return (found[0] as RegistryEntry).socket;
  if (found.length === 0) {
    const known = listEntries().map((entry) => entry.name);
    throw new NoSupervisorByName(name, known);
  }
  throw new UsageError(
    `--name ${name} matches ${found.length} supervisors (${found.map((entry) => `${entry.name} pid ${entry.pid} in ${entry.folder}`).join('; ')}); use --control <socket> (supervise ls shows them)`,
  );
}

/** Exit 3, as for a socket nobody answers on. */
class NoSupervisorByName extends SuperviseError {
  constructor(name: string, known: readonly string[]) {
    super(
      `no supervisor named ${name}, nor one with an app of that name, runs for this user${known.length === 0 ? '' : ` (running: ${known.join(', ')})`}; supervise ls lists them`,
      'NO_SUPERVISOR',
      EXIT_NO_SUPERVISOR,
    );
  }
}

type Verb = (session: Session, ...args: unknown[]) => Promise<number>;
type Action = (...args: unknown[]) => Promise<void>;

function buildProgram(stdout: Output, stderr: Output, action: (verb: Verb) => Action): Command {
  const program = new Command('supervise ctl')
    .description('Talk to a running supervisor over its control socket.')
    .option('--control <path>', 'control socket of the supervisor', DEFAULT_CONTROL_PATH)
    .option('--name <name>', 'the supervisor of that name, or with an app of that name, from any folder (as supervise ls lists them)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => stdout.write(text), writeErr: (text) => stderr.write(text) })
    .showHelpAfterError('(run "supervise ctl --help" for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  supervise ctl status\n' +
        '  supervise ctl scale 6        (or +2, -1)\n' +
        '  supervise ctl --control /run/app.sock reload\n' +
        '  supervise ctl --name services status   (supervise ls lists the names)\n' +
        '\nExit codes: 0 done, 1 the supervisor reported a failure, 2 usage error, 3 no supervisor answers.\n',
    );
  const verb = (name: string, description: string): Command => program.command(name).description(description);

  verb('status', 'show the supervisor and its workers (grouped by app)')
    .argument('[app]', 'only this app')
    .option('--json', 'print the raw status as JSON')
    .action(action((session, app, options) => session.status(app as string | undefined, (options as { json?: boolean }).json === true)));
  // `scale [app] <count>`: commander has no optional argument before a required one.
  verb('scale', 'set the worker count (n), or change it (+n, -n); answers once the workers are ready')
    .argument('<app-or-count...>', `[app] then n (${MIN_WORKERS}…${MAX_WORKERS}), +n or -n`)
    .action(action((session, args) => {
      const [app, count] = appAndValue(args as string[], 'scale', '<count>');
      return session.scale(app, parseScaleArgument(count));
    }));
  verb('reload', 'replace every worker, one at a time (of one app, or of all); answers when done')
    .argument('[app]', 'only this app')
    .action(action((session, app) => session.reload(app as string | undefined)));
  verb('restart', 'replace the worker in one slot gracefully')
    .argument('<app-or-slot...>', '[app] then the worker slot, e.g. 0')
    .action(action((session, args) => {
      const [app, slot] = appAndValue(args as string[], 'restart', '<slot>');
      return session.restart(app, parseSlotArgument(slot));
    }));
  verb('apply', 'read the system file again and apply the difference: apps added, changed (reloaded), removed')
    .action(action((session) => session.apply()));
  verb('stop', 'stop the supervisor gracefully')
    .option('--wait', 'return only once the supervisor has stopped answering')
    .action(action((session, options) => session.stop((options as { wait?: boolean }).wait === true)));
  verb('metrics', 'print the Prometheus metrics')
    .action(action((session) => session.metrics()));
  verb('events', 'print worker state changes, crashes, reloads, scaling and health changes as they happen')
    .option('--json', 'print the raw newline-delimited JSON')
    .action(action((session, options) => session.events((options as { json?: boolean }).json === true)));
  verb('logs', "print the workers' latest output lines (kept by the supervisor), and with -f follow new ones")
    .argument('[app]', 'only this app')
    .option('-n, --lines <n>', 'how many of the latest lines', '100')
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'print the raw JSON records')
    .action(
      action((session, app, options) => {
        const { lines, follow, json } = options as { lines: string; follow?: boolean; json?: boolean };
        return session.logs(app === undefined ? undefined : String(app), parseLinesArgument(lines), follow === true, json === true);
      }),
    );
  return program;
}

/** Runs one verb and turns every way it can fail into a message and an exit code, never a stack trace. */
async function runVerb(run: () => Promise<number>, stderr: Output): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) {
      stderr.write(`error: ${error.message}\n(run "supervise ctl --help" for usage)\n`);
      return EXIT_USAGE;
    }
    // NoSupervisorError (3), ControlRequestError (1), and anything unexpected (1).
    stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return isSuperviseError(error) ? error.exitCode : EXIT_RUNTIME;
  }
}

// ---------------------------------------------------------------- arguments

/** "6" → {workers: 6}; "+2" → {delta: 2}; "-3" → {delta: -3}. */
export function parseScaleArgument(text: string): ScaleRequest {
  const match = /^([+-]?)(\d{1,5})$/.exec(text.trim());
  const sign = match?.[1];
  const digits = match?.[2];
  if (sign === undefined || digits === undefined) {
    throw new UsageError(`scale: <count> must be n (${MIN_WORKERS}…${MAX_WORKERS}), +n or -n; got "${text}"`);
  }
  const value = Number(digits);
  if (sign === '') {
    if (value < MIN_WORKERS || value > MAX_WORKERS) {
      throw new UsageError(`scale: <count> must be from ${MIN_WORKERS} to ${MAX_WORKERS}; got ${value}`);
    }
    return { workers: value };
  }
  if (value === 0 || value > MAX_WORKERS - MIN_WORKERS) {
    throw new UsageError(`scale: ${sign}n must change the count by 1 to ${MAX_WORKERS - MIN_WORKERS}; got "${text}"`);
  }
  return { delta: sign === '-' ? -value : value };
}

export function parseLinesArgument(text: string): number {
  if (!/^\d{1,6}$/.test(text.trim()) || Number(text) > 100_000) {
    throw new UsageError(`logs: -n must be a number of lines from 0 to 100000; got "${text}"`);
  }
  return Number(text);
}

/** `[app] <value>`: one argument is the value, two are the app and the value. */
function appAndValue(args: readonly string[], verb: string, value: string): [string | undefined, string] {
  if (args.length === 1) return [undefined, args[0] as string];
  if (args.length === 2) return [args[0], args[1] as string];
  throw new UsageError(`${verb}: expected [app] ${value}; got ${args.length} arguments`);
}

/** `/apps/<name>` for a named app, '' for the only one. */
function appPath(app: string | undefined): string {
  return app === undefined ? '' : `/apps/${encodeURIComponent(app)}`;
}

export function parseSlotArgument(text: string): number {
  if (!/^\d{1,4}$/.test(text.trim()) || Number(text) >= MAX_WORKERS) {
    throw new UsageError(`restart: <slot> must be a worker slot from 0 to ${MAX_WORKERS - 1}; got "${text}"`);
  }
  return Number(text);
}

// ---------------------------------------------------------------- verbs

/** The verbs, sharing one socket path and the two output streams. */
class Session {
  constructor(
    private readonly socketPath: string,
    private readonly stdout: Output,
    private readonly stderr: Output,
  ) {}

  async status(app: string | undefined, asJson: boolean): Promise<number> {
    const response = await this.request('GET', '/status', undefined, QUICK_TIMEOUT_MS);
    if (!isSuccess(response)) return this.failure(response);
    const status = this.expectJson(response) as SystemStatus;
    const names = (status.apps ?? []).map((each) => each.name);
    if (app !== undefined && !names.includes(app)) throw new UsageError(`status: no app named "${app}"; apps: ${names.join(', ')}`);
    const shown = app === undefined ? status : status.apps.find((each) => each.name === app);
    this.stdout.write(asJson ? `${JSON.stringify(shown, null, 2)}\n` : formatSystemStatus(status, app));
    return EXIT_OK;
  }

  async apply(): Promise<number> {
    const response = await this.request('POST', '/apply');
    // 400: the file was refused before anything changed; else it failed part-way, and the error says what was applied.
    if (!isSuccess(response)) return this.failure(response, response.status === 400 ? 'apply refused, nothing changed' : 'apply failed');
    const result = this.expectJson(response) as Extract<ApplyResult, { ok: true }>;
    const list = (names: readonly string[]) => (names.length === 0 ? '-' : names.join(', '));
    this.stdout.write(`applied: added ${list(result.added)}; changed ${list(result.changed)}; removed ${list(result.removed)}; unchanged ${list(result.unchanged)}\n`);
    return EXIT_OK;
  }

  async scale(app: string | undefined, request: ScaleRequest): Promise<number> {
    const response = await this.request('POST', `${appPath(app)}/scale`, request);
    if (!isSuccess(response)) return this.failure(response, 'scale failed');
    const result = this.expectJson(response) as ScaleResult;
    this.stdout.write(`scaled to ${result.workers} worker${result.workers === 1 ? '' : 's'}\n`);
    return EXIT_OK;
  }

  async reload(app: string | undefined): Promise<number> {
    const response = await this.request('POST', `${appPath(app)}/reload`);
    if (!isSuccess(response)) return this.failure(response, 'reload failed');
    const result = this.expectJson(response) as ReloadResult | { apps: Record<string, ReloadResult> };
    if ('apps' in result) {
      // Every app of a system was reloaded.
      for (const [name, each] of Object.entries(result.apps)) this.stdout.write(`reloaded ${name}: generation ${each.generation} is serving\n`);
    } else {
      this.stdout.write(`reloaded${app === undefined ? '' : ` ${app}`}: generation ${result.generation} is serving\n`);
    }
    return EXIT_OK;
  }

  async restart(app: string | undefined, slot: number): Promise<number> {
    const response = await this.request('POST', `${appPath(app)}/workers/${slot}/restart`);
    if (!isSuccess(response)) return this.failure(response, `restart of slot ${slot} failed`);
    this.stdout.write(`restarted the worker in slot ${slot}\n`);
    return EXIT_OK;
  }

  async stop(wait: boolean): Promise<number> {
    const response = await this.request('POST', '/stop', undefined, QUICK_TIMEOUT_MS);
    if (!isSuccess(response)) return this.failure(response, 'stop failed');
    const pid = (response.json as { pid?: unknown } | undefined)?.pid;
    this.stdout.write(`stopping the supervisor${typeof pid === 'number' ? ` (pid ${pid})` : ''}\n`);
    if (wait) {
      await this.waitUntilGone();
      this.stdout.write('stopped\n');
    }
    return EXIT_OK;
  }

  async metrics(): Promise<number> {
    const response = await this.request('GET', '/metrics', undefined, QUICK_TIMEOUT_MS);
    if (!isSuccess(response)) return this.failure(response);
    this.stdout.write(response.text);
    return EXIT_OK;
  }

  async events(json: boolean): Promise<number> {
    const response = await controlStream(this.socketPath, '/events', (line) => {
      if (line === '') return;
      // The first line says the stream is live; on stderr, so stdout is only events.
      if (!json && line.includes('"type":"hello"')) this.stderr.write(`${formatEventLine(line)}\n`);
      else this.stdout.write(json ? `${line}\n` : `${formatEventLine(line)}\n`);
    });
    if (response.status !== 0 && !isSuccess(response)) return this.failure(response);
    return EXIT_OK;
  }

  async logs(app: string | undefined, lines: number, follow: boolean, json: boolean): Promise<number> {
    const query = new URLSearchParams({ n: String(lines), ...(app === undefined ? {} : { app }), ...(follow ? { follow: '1' } : {}) });
    const response = await controlStream(this.socketPath, `/logs?${query.toString()}`, (line) => {
      if (line !== '') this.stdout.write(json ? `${line}\n` : `${formatLogLine(line, app === undefined)}\n`);
    });
    if (response.status !== 0 && !isSuccess(response)) return this.failure(response);
    return EXIT_OK;
  }

  /** A 2xx answer must carry a JSON object; anything else means the socket is not a supervisor's. */
  private expectJson(response: ControlResponse): object {
    if (typeof response.json !== 'object' || response.json === null) {
      throw new ControlRequestError(
        `unexpected answer on ${this.socketPath} (HTTP ${response.status}, ${response.contentType || 'no content type'}); is it a supervise control socket?`,
      );
    }
    return response.json;
  }

  private request(method: ControlMethod, urlPath: string, body?: unknown, timeoutMs?: number): Promise<ControlResponse> {
    return controlRequest(this.socketPath, method, urlPath, body, timeoutMs);
  }

  /** Reports a non-2xx answer; 400/404 mean the request was wrong (usage), the rest that the work failed. */
  private failure(response: ControlResponse, prefix?: string): number {
    const message = errorMessageOf(response);
    this.stderr.write(`error: ${prefix === undefined ? message : `${prefix}: ${message}`}\n`);
    return response.status === 400 || response.status === 404 ? EXIT_USAGE : EXIT_RUNTIME;
  }

  /** Polls until the socket stops answering: the supervisor removes it as it exits. */
  private async waitUntilGone(): Promise<void> {
    for (;;) {
      try {
        await this.request('GET', '/status', undefined, QUICK_TIMEOUT_MS);
      } catch (error) {
        if (error instanceof NoSupervisorError) return;
        if (!(error instanceof ControlRequestError)) throw error;
      }
      await new Promise((done) => setTimeout(done, STOP_POLL_MS));
    }
  }
}

function isSuccess(response: ControlResponse): boolean {
  return response.status >= 200 && response.status < 300;
}
