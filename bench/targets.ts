// The servers the comparative benchmarks measure, each started, probed,
// reloaded and stopped the same way: a bare node:cluster script, supervise in
// cluster and spawn mode, PM2 cluster mode and gunicorn with uvicorn workers.
// Every target serves the same "hello" app on 127.0.0.1:<port>.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../src/control/client.js';
import {
  APPS, REPO, childPids, httpOk, onCleanup, pidAlive, runCommand, runCommandSync, startProcess, tempDir, waitUntil,
  type Proc,
} from './common.js';
import { superviseExtraArgs } from './lib/mode.js';

export interface Target {
  readonly name: string;
  readonly port: number;
  /** Pids of the processes that serve requests. */
  workerPids(): Promise<number[]>;
  /** Roots of the target's process trees (master, daemon), for CPU accounting. */
  rootPids(): number[];
  /** Triggers a reload; resolves once every worker has been replaced, throws after timeoutMs. */
  reload(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
  /** supervise: the path of its control socket. */
  readonly controlSocket?: string;
}

export interface TargetOptions {
  readonly port: number;
  readonly workers: number;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const SUPERVISE_BIN = join(REPO, 'bin', 'supervise.js');
const PM2_BIN = join(REPO, 'node_modules', 'pm2', 'bin', 'pm2');
const GUNICORN = '/usr/bin/gunicorn';
const UVICORN = '/usr/bin/uvicorn';
/**
 * uvicorn serving the app from bench/apps: without its access log as gunicorn runs its workers by
 * default, or with it (uvicorn's own default) — a line per request on stdout.
 */
const uvicornArgs = (accessLog: boolean) => ['asgi_hello:app', '--app-dir', APPS, ...(accessLog ? [] : ['--no-access-log']), '--log-level', accessLog ? 'info' : 'warning'];

/** The Python servers: with an access log per request (on stdout), or without (gunicorn's default). */
export interface AccessLogOption {
  readonly accessLog?: boolean;
}
/** No __pycache__ in bench/apps. */
const PYTHON_ENV = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

/** Why a target cannot run on this machine, or undefined when it can. */
export function unavailable(kind: 'pm2' | 'gunicorn' | 'uvicorn' | 'supervise'): string | undefined {
  if (kind === 'pm2' && !existsSync(PM2_BIN)) return 'pm2 not installed: npm install';
  if (kind === 'gunicorn' && !existsSync(GUNICORN)) return `${GUNICORN} missing: apt-get install gunicorn python3-uvicorn`;
  if (kind === 'uvicorn' && !existsSync(UVICORN)) return `${UVICORN} missing: apt-get install python3-uvicorn`;
  if (kind === 'supervise' && !existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js'))) return 'supervise not built: npm run build';
  return undefined;
}

// ---------------------------------------------------------------- bare node:cluster

export async function startBareCluster(options: TargetOptions): Promise<Target> {
  const proc = startProcess('bare node:cluster', process.execPath, [join(APPS, 'bare-cluster.cjs'), String(options.workers)], {
    env: { ...process.env, PORT: String(options.port) },
    keepStdout: true,
  });
  try {
    await waitUntil('bare cluster workers listening', () => proc.stdout().includes('ready'), { proc, timeoutMs: READY_TIMEOUT_MS });
    await waitUntil(`port ${options.port} answering`, () => httpOk(options.port), { proc, timeoutMs: READY_TIMEOUT_MS });
  } catch (error) {
    await proc.stop(STOP_TIMEOUT_MS, { group: true });
    throw error;
  }
  return {
    name: 'bare node:cluster',
    port: options.port,
    workerPids: async () => childPids(proc.pid),
    rootPids: () => [proc.pid],
    reload: () => Promise.reject(new Error('the bare cluster script has no reload')),
    stop: async () => {
      await proc.stop(STOP_TIMEOUT_MS, { group: true });
    },
  };
}

// ---------------------------------------------------------------- supervise

interface StatusBody {
  readonly generation: number;
  readonly reloading?: boolean;
  readonly workers: readonly { readonly pid?: number; readonly state: string; readonly generation: number }[];
}

async function superviseStatus(socket: string): Promise<StatusBody> {
  const response = await controlRequest(socket, 'GET', '/status', undefined, 2000);
  if (response.status !== 200) throw new Error(`GET /status answered ${response.status}: ${response.text}`);
  return response.json as StatusBody;
}

const liveWorkers = (status: StatusBody) => status.workers.filter((w) => w.state !== 'exited');

/** N workers, all ready and of the current generation, no reload running. */
function settled(status: StatusBody, workers: number): boolean {
  const live = liveWorkers(status);
  return (
    status.reloading !== true &&
    live.length === workers &&
    live.every((w) => w.state === 'ready' && w.generation === status.generation)
  );
}

/** supervise cluster mode: `supervise -w N -p PORT hello.cjs`. */
export function startSuperviseCluster(options: TargetOptions): Promise<Target> {
  return startSupervise('supervise cluster', options, [join(APPS, 'hello.cjs')]);
}

/** supervise spawn mode: `supervise -w N --base-port B -p PORT -- node hello-port.cjs {port}` (tcp front). */
export function startSuperviseSpawn(options: TargetOptions & { readonly basePort: number; readonly proxy?: 'tcp' | 'http' }): Promise<Target> {
  return startSupervise(`supervise spawn (${options.proxy ?? 'tcp'})`, options, [
    '--base-port', String(options.basePort),
    '--proxy', options.proxy ?? 'tcp',
    '--', process.execPath, join(APPS, 'hello-port.cjs'), '{port}',
  ]);
}

/**
 * gunicorn's setup under supervise: `supervise -w N --proxy http|tcp -- uvicorn asgi_hello:app --port {port}`,
 * the app and uvicorn flags of startUvicorn().
 */
export function startSuperviseUvicorn(options: TargetOptions & AccessLogOption & { readonly basePort: number; readonly proxy: 'tcp' | 'http' }): Promise<Target> {
  return startSupervise(
    `supervise ${options.proxy} + uvicorn`,
    options,
    ['--base-port', String(options.basePort), '--proxy', options.proxy, '--', UVICORN, ...uvicornArgs(options.accessLog === true), '--port', '{port}'],
    PYTHON_ENV,
  );
}

async function startSupervise(name: string, options: TargetOptions, modeArgs: readonly string[], env?: NodeJS.ProcessEnv): Promise<Target> {
  const socket = join(tempDir('supervise'), 'control.sock');
  const proc = startProcess(name, process.execPath, [
    SUPERVISE_BIN, '--log-format', 'json', '--control', socket, '-p', String(options.port), '-w', String(options.workers),
    ...superviseExtraArgs(), ...modeArgs,
  ], env === undefined ? {} : { env });
  const workerPids = async () => liveWorkers(await superviseStatus(socket)).flatMap((w) => (w.pid === undefined ? [] : [w.pid]));
  const target: Target = {
    name,
    port: options.port,
    controlSocket: socket,
    workerPids,
    rootPids: () => [proc.pid],
    async reload(timeoutMs) {
      const before = await superviseStatus(socket);
      proc.signal('SIGHUP');
      await waitUntil(
        `${name} reload to finish`,
        async () => {
          const status = await superviseStatus(socket);
          return status.generation > before.generation && settled(status, options.workers);
        },
        { proc, timeoutMs, intervalMs: 50 },
      );
    },
    async stop() {
      // Spawn-mode workers run in process groups of their own: remember them.
      const pids = await workerPids().catch(() => []);
      await proc.stop(STOP_TIMEOUT_MS);
      for (const pid of pids.filter(pidAlive)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    },
  };
  try {
    await waitUntil(`${name}: ${options.workers} ready workers on GET /status`, async () => settled(await superviseStatus(socket), options.workers), {
      proc,
      timeoutMs: READY_TIMEOUT_MS,
    });
    await waitUntil(`port ${options.port} answering`, () => httpOk(options.port), { proc, timeoutMs: READY_TIMEOUT_MS });
  } catch (error) {
    await target.stop();
    throw error;
  }
  return target;
}

// ---------------------------------------------------------------- PM2

interface Pm2Process {
  readonly pid?: number;
  readonly name?: string;
  readonly pm2_env?: { readonly status?: string };
}

/** PM2 cluster mode, `pm2 start hello.cjs -i N`, with a private PM2_HOME; `pm2 kill` at the end. */
export async function startPm2(options: TargetOptions & { readonly app?: string }): Promise<Target> {
  const home = tempDir('pm2');
  const env = { ...process.env, PM2_HOME: home, PORT: String(options.port), PM2_DISABLE_VERSION_CHECK: 'true' };
  const pm2 = (args: readonly string[], timeoutMs = 60_000) => runCommand(process.execPath, [PM2_BIN, ...args], { env, timeoutMs });
  const kill = () => runCommandSync(process.execPath, [PM2_BIN, 'kill'], { env });
  const removeCleanup = onCleanup(kill);
  const online = async () => {
    const result = await pm2(['jlist'], 20_000);
    const json = result.stdout.slice(result.stdout.indexOf('['));
    return (JSON.parse(json) as Pm2Process[]).filter((p) => p.name === 'hello' && p.pm2_env?.status === 'online' && p.pid);
  };
  const target: Target = {
    name: 'pm2 cluster',
    port: options.port,
    workerPids: async () => (await online()).map((p) => p.pid as number),
    rootPids: () => daemonPid(home),
    async reload(timeoutMs) {
      const result = await pm2(['reload', 'hello'], timeoutMs);
      if (result.code !== 0) throw new Error(`pm2 reload exited ${result.signal ?? result.code}:\n${result.output}`);
    },
    async stop() {
      await pm2(['kill'], STOP_TIMEOUT_MS);
      removeCleanup();
    },
  };
  try {
    const started = await pm2(['start', join(APPS, options.app ?? 'hello.cjs'), '-i', String(options.workers), '--name', 'hello']);
    if (started.code !== 0) throw new Error(`pm2 start exited ${started.signal ?? started.code}:\n${started.output}`);
    await waitUntil('pm2 workers online', async () => (await online()).length === options.workers, { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 });
    await waitUntil(`port ${options.port} answering`, () => httpOk(options.port), { timeoutMs: READY_TIMEOUT_MS });
  } catch (error) {
    await target.stop();
    throw error;
  }
  return target;
}

/** The PM2 daemon ("God") of a PM2_HOME: the parent of the workers. */
function daemonPid(home: string): number[] {
  try {
    const pid = Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? [pid] : [];
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------- gunicorn

/** gunicorn with N uvicorn workers serving bench/apps/asgi_hello.py; reload = SIGHUP to the master. */
export async function startGunicorn(options: TargetOptions & AccessLogOption): Promise<Target> {
  const proc: Proc = startProcess('gunicorn', GUNICORN, [
    '-w', String(options.workers), '-k', 'uvicorn.workers.UvicornWorker', '-b', `127.0.0.1:${options.port}`,
    ...(options.accessLog === true ? ['--access-logfile', '-'] : []), 'asgi_hello:app',
  ], { cwd: APPS, env: PYTHON_ENV });
  const workerPids = async () => childPids(proc.pid);
  const target: Target = {
    name: 'gunicorn + uvicorn',
    port: options.port,
    workerPids,
    rootPids: () => [proc.pid],
    async reload(timeoutMs) {
      const before = new Set(await workerPids());
      proc.signal('SIGHUP');
      await waitUntil(
        'gunicorn to replace its workers',
        async () => {
          const now = await workerPids();
          return now.length === options.workers && now.every((pid) => !before.has(pid));
        },
        { proc, timeoutMs, intervalMs: 50 },
      );
    },
    async stop() {
      await proc.stop(STOP_TIMEOUT_MS, { group: true });
    },
  };
  try {
    await waitUntil('gunicorn workers', async () => (await workerPids()).length === options.workers, { proc, timeoutMs: READY_TIMEOUT_MS });
    await waitUntil(`port ${options.port} answering`, () => httpOk(options.port), { proc, timeoutMs: READY_TIMEOUT_MS });
  } catch (error) {
    await target.stop();
    throw error;
  }
  return target;
}

// ---------------------------------------------------------------- uvicorn --workers

/** `uvicorn asgi_hello:app --workers N`: uvicorn's own multi-process mode (one shared socket); no reload. */
export async function startUvicorn(options: TargetOptions & AccessLogOption): Promise<Target> {
  const proc: Proc = startProcess('uvicorn', UVICORN, [
    ...uvicornArgs(options.accessLog === true), '--host', '127.0.0.1', '--port', String(options.port), '--workers', String(options.workers),
  ], { env: PYTHON_ENV });
  const target: Target = {
    name: 'uvicorn --workers',
    port: options.port,
    workerPids: async () => childPids(proc.pid),
    rootPids: () => [proc.pid],
    reload: () => Promise.reject(new Error('uvicorn --workers has no graceful reload')),
    async stop() {
      await proc.stop(STOP_TIMEOUT_MS, { group: true });
    },
  };
  try {
    await waitUntil(`port ${options.port} answering`, () => httpOk(options.port), { proc, timeoutMs: READY_TIMEOUT_MS });
  } catch (error) {
    await target.stop();
    throw error;
  }
  return target;
}
