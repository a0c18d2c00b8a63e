// Shared helpers of the comparative benchmarks (cluster.ts, reload.ts):
// child processes that are always cleaned up, free ports, bounded waits, a wrk
// runner with a machine-readable report, /proc look-ups and a table printer.
//
// Every process a benchmark starts goes through startProcess(): each runs in its
// own process group and is killed (the whole group) on stop(), and on the way out
// of the benchmark whatever happens — an error, Ctrl-C, SIGTERM.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (this file runs as dist/bench/common.js). */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const APPS = join(REPO, 'bench', 'apps');
export const WRK_REPORT = join(REPO, 'bench', 'wrk-report.lua');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- cleanup

const cleanups = new Set<() => void>();
let handlersInstalled = false;

/** Registers a synchronous cleanup that runs at exit (also on Ctrl-C or an error); returns its remover. */
export function onCleanup(cleanup: () => void): () => void {
  installExitHandlers();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function runCleanups(): void {
  for (const cleanup of [...cleanups].reverse()) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // best effort: the next cleanup still runs
    }
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', runCleanups);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping every benchmark process\n`);
      runCleanups();
      process.exit(130);
    });
  }
}

/** A private temporary directory, removed at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `supervise-bench-${prefix}-`));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------- processes

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<Exit>;
  running(): boolean;
  /** Everything it wrote to stdout. */
  stdout(): string;
  /** The last lines it wrote to stdout and stderr, for error messages. */
  tail(): string;
  /** A signal to the process itself (not its group). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the process (its group with `group`), SIGKILL to the group after timeoutMs. */
  stop(timeoutMs?: number, options?: { group?: boolean }): Promise<Exit>;
}

export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Keep the whole stdout (wrk's report, a CLI's JSON); otherwise only the tail. */
  readonly keepStdout?: boolean;
}

const TAIL_LINES = 30;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

export function startProcess(name: string, command: string, args: readonly string[], options: StartOptions = {}): Proc {
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd ?? REPO,
    env: options.env ?? process.env,
    detached: true, // own process group: stop() reaches grandchildren too
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}: ${command} ${args.join(' ')}`);
  const pid = child.pid;
  const removeCleanup = onCleanup(() => killGroup(pid, 'SIGKILL'));
  const tailLines: string[] = [];
  let stdout = '';
  const collect = (chunk: Buffer, isStdout: boolean) => {
    const text = chunk.toString('utf8');
    if (isStdout && options.keepStdout) stdout += text;
    tailLines.push(...text.split('\n').filter((line) => line.length > 0));
    tailLines.splice(0, Math.max(0, tailLines.length - TAIL_LINES));
  };
  child.stdout?.on('data', (chunk: Buffer) => collect(chunk, true));
  child.stderr?.on('data', (chunk: Buffer) => collect(chunk, false));
  let done = false;
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => {
      tailLines.push(`spawn error: ${error.message}`);
      done = true;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  void exited.then(removeCleanup);

  return {
    name,
    pid,
    exited,
    running: () => !done,
    stdout: () => stdout,
    tail: () => tailLines.join('\n'),
    signal(signal) {
      if (!done) child.kill(signal);
    },
    async stop(timeoutMs = 10_000, stopOptions = {}) {
      if (done) return exited;
      if (stopOptions.group) killGroup(pid, 'SIGTERM');
      else child.kill('SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL'); // grandchildren left in the group
      return exit;
    },
  };
}

export interface CommandResult extends Exit {
  readonly stdout: string;
  readonly output: string;
}

/** Runs a command to completion (bounded by timeoutMs, then killed). */
export async function runCommand(command: string, args: readonly string[], options: StartOptions & { timeoutMs?: number } = {}): Promise<CommandResult> {
  const proc = startProcess(command, command, args, { ...options, keepStdout: true });
  const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), options.timeoutMs ?? 60_000);
  const exit = await proc.exited;
  clearTimeout(timer);
  return { ...exit, stdout: proc.stdout(), output: proc.tail() };
}

/** Synchronous variant for cleanups at exit. */
export function runCommandSync(command: string, args: readonly string[], options: StartOptions & { timeoutMs?: number } = {}): void {
  spawnSync(command, args, { cwd: options.cwd ?? REPO, env: options.env ?? process.env, timeout: options.timeoutMs ?? 15_000, stdio: 'ignore' });
}

/** Pids whose parent is `pid`, from /proc (Linux). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) children.push(Number(entry));
  }
  return children.sort((a, b) => a - b);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- CPU accounting

/** Clock ticks per second of /proc (USER_HZ; 100 on Linux). */
export const TICKS_PER_SECOND = 100;

interface ProcEntry {
  readonly ppid: number;
  /** utime + stime + cutime + cstime: its own CPU and that of its reaped children. */
  readonly ticks: number;
}

function readProcTable(): Map<number, ProcEntry> {
  const table = new Map<number, ProcEntry>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
      // After "(comm)": state ppid … utime(11) stime(12) cutime(13) cstime(14), 0-based.
      table.set(Number(entry), { ppid: f[1] ?? 0, ticks: (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0) });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

function treeTicks(table: ReadonlyMap<number, ProcEntry>, roots: readonly number[]): number {
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of table) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const seen = new Set<number>();
  const stack = roots.filter((pid) => table.has(pid));
  let ticks = 0;
  for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    ticks += table.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return ticks;
}

export interface CpuSample {
  /** CPU of the target's process trees. */
  readonly target: number;
  /** CPU of this benchmark, its children (wrk, the targets) and the target trees. */
  readonly ours: number;
  /** Busy CPU of the whole machine (user, nice, system, irq, softirq), and steal: time other VMs took. */
  readonly busy: number;
  /** All CPU ticks of the machine, idle included. */
  readonly total: number;
}

/** A CPU snapshot, in clock ticks; `targetRoots` are the target's root pids (a daemon outside this tree too). */
export function sampleCpu(targetRoots: readonly number[]): CpuSample {
  const table = readProcTable();
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
  return {
    target: treeTicks(table, targetRoots),
    ours: treeTicks(table, [process.pid, ...targetRoots]),
    busy: user + nice + system + irq + softirq + steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  };
}

export interface CpuUse {
  /** CPU seconds the target used. */
  readonly targetS: number;
  /** Share of the machine's CPU (0…1) used by processes other than this benchmark's (and by other VMs). */
  readonly otherShare: number;
}

export function cpuBetween(before: CpuSample, after: CpuSample): CpuUse {
  const total = after.total - before.total;
  const other = after.busy - before.busy - (after.ours - before.ours);
  return {
    targetS: (after.target - before.target) / TICKS_PER_SECOND,
    otherShare: total > 0 ? Math.max(0, other / total) : 0,
  };
}

// ---------------------------------------------------------------- waiting

/** A wait that failed; `output` holds the last lines of the process waited on. */
export class WaitError extends Error {
  override readonly name = 'WaitError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** The last line of output that is not part of a stack trace. */
const lastLine = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^\s+at /.test(line))
    .at(-1) ?? '';

/**
 * Polls `check` until it returns true, for at most timeoutMs. Fails early when
 * `proc` exits meanwhile, with its last line of output in the message.
 */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, options: { timeoutMs?: number; intervalMs?: number; proc?: Proc } = {}): Promise<void> {
  const { timeoutMs = 30_000, intervalMs = 100, proc } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc && !proc.running()) {
      const exit = await proc.exited;
      throw new WaitError(`${proc.name} exited (${exit.signal ?? exit.code}) before ${what}: ${lastLine(proc.tail())}`, proc.tail());
    }
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(intervalMs);
  }
  throw new WaitError(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`, proc?.tail() ?? '');
}

/** True when GET / on 127.0.0.1:port answers 200 on a fresh connection. */
export function httpOk(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode === 200));
      response.once('error', () => resolve(false));
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------- ports

// Below Linux's ephemeral range (32768…), so that the client side of the load's
// own connections never collides with a server port.
const PORT_MIN = 20_000;
const PORT_MAX = 32_000;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    // No host: the dual-stack wildcard, which fails if any address holds the port.
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive free ports; returns the first. */
export async function freePorts(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await portFree(port);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found in ${PORT_MIN}…${PORT_MAX}`);
}

// ---------------------------------------------------------------- wrk

export interface WrkOptions {
  readonly port: number;
  readonly threads: number;
  readonly connections: number;
  readonly durationS: number;
  /** Send `Connection: close`: a new connection per request. */
  readonly connectionClose?: boolean;
  readonly timeoutS?: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  /** Responses with a status ≥ 400 (wrk counts these, not 3xx). */
  readonly non2xx: number;
  /** Socket errors (connect, read, write), timeouts and bad statuses: what a client sees fail. */
  readonly errors: number;
}

/** Throws a helpful error when wrk is not installed. */
export function requireWrk(): void {
  const probe = spawnSync('wrk', ['--version'], { stdio: 'ignore' });
  if (probe.error) throw new Error(`wrk is needed for the benchmarks (${probe.error.message}): apt-get install wrk`);
}

export function wrkArgs(options: WrkOptions): string[] {
  return [
    '-t', String(options.threads),
    '-c', String(options.connections),
    '-d', `${options.durationS}s`,
    '--timeout', `${options.timeoutS ?? 2}s`,
    '--latency',
    '-s', WRK_REPORT,
    ...(options.connectionClose ? ['-H', 'Connection: close'] : []),
    `http://127.0.0.1:${options.port}/`,
  ];
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const proc = startProcess('wrk', 'wrk', wrkArgs(options), { keepStdout: true });
  const timer = setTimeout(() => proc.signal('SIGKILL'), (options.durationS + 30) * 1000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const line = proc.stdout().split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (exit.code !== 0 || line === undefined) {
    throw new Error(`wrk failed (${exit.signal ?? exit.code}):\n${proc.tail()}`);
  }
  return parseWrkReport(line.slice('WRK_JSON '.length));
}

export function parseWrkReport(json: string): WrkResult {
  const r = JSON.parse(json) as Record<string, number>;
  const num = (key: string) => {
    const value = r[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`wrk report lacks ${key}: ${json}`);
    return value;
  };
  const durationS = num('durationUs') / 1e6;
  const socketErrors = { connect: num('connect'), read: num('read'), write: num('write'), timeout: num('timeout') };
  const non2xx = num('status');
  return {
    requests: num('requests'),
    durationS,
    rps: num('requests') / durationS,
    p50Ms: num('p50Us') / 1000,
    p90Ms: num('p90Us') / 1000,
    p99Ms: num('p99Us') / 1000,
    maxMs: num('maxUs') / 1000,
    socketErrors,
    non2xx,
    errors: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + non2xx,
  };
}

// ---------------------------------------------------------------- numbers and tables

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

export const fmtInt = (value: number) => Math.round(value).toLocaleString('en-US');
export const fmtMs = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));

/** One line on the machine: CPUs, OS, Node, and the 1-minute load average (other work on it skews the numbers). */
export function machineLine(): string {
  const cpus = os.cpus();
  return `machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${os.platform()} ${os.release()}, node ${process.version}; ${loadLine()}`;
}

export const loadLine = () => `load average (1 min): ${os.loadavg()[0]?.toFixed(2)}`;

/** A GitHub-flavoured Markdown table, readable as is in a terminal. Columns starting with '>' align right. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const right = headers.map((h) => h.startsWith('>'));
  const names = headers.map((h) => h.replace(/^>/, ''));
  const widths = names.map((name, i) => Math.max(name.length, ...rows.map((row) => (row[i] ?? '').length)));
  const cell = (text: string, i: number) => (right[i] ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0));
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(names), rule, ...rows.map(line)].join('\n');
}

/** The error's message, on one line. */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}

/** The error's message and, for a failed wait, the process's last output: for stderr. */
export function errorDetail(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof WaitError && error.output ? `${message}\n${error.output.replace(/^/gm, '    | ')}` : message;
}

/** Runs `main` when the module is the process's entry point. */
export function runIfMain(moduleUrl: string, main: (argv: readonly string[]) => Promise<number>): void {
  const entry = process.argv[1];
  if (entry === undefined || moduleUrl !== pathToFileURL(entry).href) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${errorMessage(error)}\n`);
      process.exitCode = 1;
    },
  );
}

/** Takes `--name value` out of argv: the value (undefined when absent) and the other arguments. */
export function takeOption(argv: readonly string[], name: string, usage: string): { value: string | undefined; rest: string[] } {
  const at = argv.indexOf(name);
  if (at === -1) return { value: undefined, rest: [...argv] };
  const value = argv[at + 1];
  if (value === undefined) throw new Error(`usage: ${usage} (${name} needs a value)`);
  return { value, rest: [...argv.slice(0, at), ...argv.slice(at + 2)] };
}

/**
 * `--name value` pairs of positive numbers into settings: `flags` maps each flag
 * to its key in `defaults`. Throws the usage line on anything else.
 */
export function parseNumberFlags<T extends object>(argv: readonly string[], defaults: T, flags: Readonly<Record<string, keyof T>>, usage: string): T {
  const settings = { ...defaults } as Record<keyof T, unknown>;
  for (let i = 0; i < argv.length; i += 2) {
    const key = flags[argv[i] ?? ''];
    const value = Number(argv[i + 1]);
    if (key === undefined || !Number.isFinite(value) || value <= 0) {
      throw new Error(`usage: ${usage} (bad argument: ${argv[i]} ${argv[i + 1] ?? ''})`);
    }
    settings[key] = value;
  }
  return settings as T;
}
