// Start a real `supervise` process for a test: free port, its own temp dir and
// control socket, JSON logs collected line by line. Every process started here
// is killed by `killAll()` (call it in after/afterEach), workers included.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const BIN = join(ROOT, 'bin', 'supervise.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures');

export interface LogLine {
  level: number;
  msg: string;
  worker?: number;
  pid?: number;
  [key: string]: unknown;
}

export interface Supervised {
  readonly child: ChildProcess;
  readonly port: number;
  readonly control: string;
  readonly dir: string;
  readonly logs: LogLine[];
  /** Non-JSON output (usage errors, stack traces). */
  readonly text: string[];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number, message?: string): Promise<LogLine>;
  status(): Promise<StatusBody>;
}

export interface StatusBody {
  pid: number;
  desired: number;
  generation: number;
  front: { kind: string; dataPath: string };
  workers: Array<{ slot: number; pid?: number; port: number; state: string; generation: number; restarts: number; connections?: number }>;
}

const started = new Set<ChildProcess>();
const workerPids = new Set<number>();
const tempDirs = new Set<string>();

/** A temporary directory removed by killAll(). */
export function tempDir(prefix = 'supervise-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

/** `count` consecutive free ports (spawn mode base ports). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), so outgoing connections cannot take them meanwhile.
    const base = 10000 + Math.floor(Math.random() * 22000);
    const checks = await Promise.all(Array.from({ length: count }, (_, i) => isFree(base + i)));
    if (checks.every(Boolean)) return base;
  }
  throw new Error('no free port range');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const server = net.createServer();
    server.once('error', () => res(false));
    server.listen(port, '127.0.0.1', () => server.close(() => res(true)));
  });
}

export interface StartOptions {
  /** Extra environment for the supervisor (and so its workers). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Wait for this many "worker ready" lines before returning (default: none). */
  readyWorkers?: number;
  /** Use this port instead of a free one (no --port is added when null). */
  port?: number | null;
  /** Another `supervise` executable than the checkout's bin/supervise.js (an installed package's). */
  bin?: string;
}

/** Runs `supervise --log-format json --port <free> --control <tmp> ...args`. */
export async function startSupervise(args: string[], options: StartOptions = {}): Promise<Supervised> {
  const dir = tempDir();
  const control = join(dir, 'control.sock');
  const port = options.port === undefined ? await freePort() : options.port;
  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  const rest = dash === -1 ? [] : args.slice(dash);
  const fullArgs = [options.bin ?? BIN, '--log-format', 'json', '--control', control, ...(port === null ? [] : ['--port', String(port)]), ...own, ...rest];
  const child = spawn(process.execPath, fullArgs, {
    cwd: options.cwd ?? dir,
    // Its own runtime directory: the registry of `supervise ls` (SPEC §16) stays the test's, not the user's.
    env: { ...process.env, XDG_RUNTIME_DIR: dir, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const logs: LogLine[] = [];
  const text: string[] = [];
  const onLine = (line: string) => {
    if (line.startsWith('{')) {
      try {
        const parsed = JSON.parse(line) as LogLine;
        logs.push(parsed);
        if (typeof parsed.pid === 'number' && parsed.worker !== undefined) workerPids.add(parsed.pid);
        return;
      } catch {
        // fall through
      }
    }
    text.push(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    stream?.on('end', () => pending && onLine(pending));
  }
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
    child.once('close', (code, signal) => {
      started.delete(child);
      res({ code, signal });
    }),
  );

  const supervised: Supervised = {
    child,
    port: port ?? 0,
    control,
    dir,
    logs,
    text,
    exited,
    waitForLog: (predicate, timeoutMs = 10_000, message = 'log line') =>
      withOutput(waitFor(() => logs.find(predicate), { timeoutMs, message }), logs, text),
    status: async () => JSON.parse(await controlGet(control, '/status')) as StatusBody,
  };
  if (options.readyWorkers) {
    const count = options.readyWorkers;
    await withOutput(
      waitFor(() => logs.filter((l) => l.msg === 'worker ready').length >= count, { timeoutMs: 20_000, message: `${count} ready workers` }),
      logs,
      text,
    );
  }
  return supervised;
}

/** On failure, append what the supervisor printed, as of the failure. */
async function withOutput<T>(wait: Promise<T>, logs: LogLine[], text: string[]): Promise<T> {
  try {
    return await wait;
  } catch (error) {
    throw new Error(`${(error as Error).message}; output so far:\n${tail(logs, text)}`);
  }
}

function tail(logs: LogLine[], text: string[]): string {
  return [...logs.slice(-15).map((l) => JSON.stringify(l)), ...text.slice(-10)].join('\n');
}

export function controlGet(socketPath: string, path: string): Promise<string> {
  return controlCall(socketPath, 'GET', path).then((r) => r.body);
}

export function controlCall(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((res, reject) => {
    const req = http.request({ socketPath, method, path, headers: { 'content-type': 'application/json' }, timeout: 60_000 }, (response) => {
      let data = '';
      response.setEncoding('utf8');
      response.on('data', (c: string) => (data += c));
      response.on('end', () => res({ status: response.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** One GET on a new connection; resolves with status and body. */
export function httpGet(port: number, path = '/', timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((res, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (response) => {
      let data = '';
      response.setEncoding('utf8');
      response.on('data', (c: string) => (data += c));
      response.on('end', () => res({ status: response.statusCode ?? 0, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pids of live processes whose command line contains `needle`. */
export function pidsMatching(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue; // zombie: already dead
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

const stoppedPids = new Set<number>();

/** SIGSTOP a process (a hung worker); killAll() continues it, so that nothing stays stopped. */
export function sigstop(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  stoppedPids.add(pid);
}

/** SIGKILL every supervisor started by the tests and every worker they logged; remove temp dirs. */
export async function killAll(): Promise<void> {
  for (const pid of stoppedPids) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
  stoppedPids.clear();
  for (const child of started) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  for (const pid of workerPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  workerPids.clear();
  await waitFor(() => started.size === 0, { timeoutMs: 5000, message: 'test supervisors to exit' }).catch(() => undefined);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

