// The processes of the front-proxy benchmark: two hello backends, supervise's
// tcp and http fronts (bench/lib/front-server.ts), HAProxy `mode tcp` and
// `mode http`, nginx `stream` and `http` (upstream keepalive), each in its own process, all started through startProcess() so
// that they are killed however the benchmark ends.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APPS, REPO, childPids, httpOk, startProcess, waitUntil, type Proc } from '../common.js';

export interface ProxyTarget {
  readonly name: string;
  readonly port: number;
  /** The processes doing the proxying, for CPU accounting (empty: not measured). */
  pids(): number[];
  /** The process whose main thread serves (nginx: its worker); undefined: the first of pids(). */
  mainPid?(): number | undefined;
  stop(): Promise<void>;
}

export const HAPROXY = '/usr/sbin/haproxy';
export const NGINX = '/usr/sbin/nginx';
const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
const FRONT_SERVER = join(REPO, 'dist', 'bench', 'lib', 'front-server.js');
const NAIVE_PROXY = join(REPO, 'dist', 'bench', 'lib', 'naive-proxy.js');

/** Why a peer cannot run here, or undefined when it can. */
export function unavailable(kind: 'haproxy' | 'nginx' | 'nginx-stream' | 'supervise'): string | undefined {
  if (kind === 'haproxy' && !existsSync(HAPROXY)) return `${HAPROXY} missing: apt-get install haproxy`;
  if ((kind === 'nginx' || kind === 'nginx-stream') && !existsSync(NGINX)) return `${NGINX} missing: apt-get install nginx libnginx-mod-stream`;
  if (kind === 'nginx-stream' && !nginxHasStream()) return `nginx lacks the stream module: apt-get install libnginx-mod-stream`;
  if (kind === 'supervise' && !existsSync(FRONT_SERVER)) return 'not built: npm run build';
  return undefined;
}

function nginxHasStream(): boolean {
  return existsSync(NGINX_STREAM_MODULE) || /--with-stream(?!=dynamic)(\s|$)/.test(nginxConfigureArgs());
}

/** nginx -V's configure arguments (it prints them on stderr). */
function nginxConfigureArgs(): string {
  return spawnSync(NGINX, ['-V'], { encoding: 'utf8' }).stderr ?? '';
}

function asTarget(name: string, port: number, proc: Proc, pids: () => number[], mainPid?: () => number | undefined): ProxyTarget {
  return {
    name,
    port,
    pids,
    ...(mainPid === undefined ? {} : { mainPid }),
    stop: async () => {
      await proc.stop(3000, { group: true });
    },
  };
}

async function ready(proc: Proc, port: number, what: string): Promise<void> {
  await waitUntil(`${what} answering on port ${port}`, () => httpOk(port), { timeoutMs: 15_000, proc });
}

/** A hello backend (bench/apps/hello-port.cjs) in a process of its own. */
export async function startBackend(port: number): Promise<ProxyTarget> {
  const proc = startProcess(`backend :${port}`, process.execPath, [join(APPS, 'hello-port.cjs'), String(port)]);
  await ready(proc, port, 'backend');
  return asTarget(`backend :${port}`, port, proc, () => [proc.pid]);
}

/** Which data path supervise's front uses: the default (native where built), net.Socket (tcp), or node's http server and client (http). */
export type TcpPath = 'default' | 'net.Socket' | 'javascript';

const TCP_PATH_ENV: Record<TcpPath, Record<string, string>> = {
  default: {},
  'net.Socket': { SUPERVISE_TCP_NATIVE: '0' },
  // The http front's JavaScript data path (node's http server and client).
  javascript: { SUPERVISE_HTTP_NATIVE: '0' },
};

/** supervise's front, in a process of its own; `path` picks the tcp front's data path. */
export async function startSuperviseFront(kind: 'tcp' | 'http' | 'http-routed', port: number, backendPorts: readonly number[], path: TcpPath = 'default'): Promise<ProxyTarget> {
  const name = `supervise ${kind}${path === 'default' ? '' : ` (${path})`}`;
  const env = { ...process.env, ...TCP_PATH_ENV[path] };
  const proc = startProcess(`${name} front`, process.execPath, [FRONT_SERVER, kind, String(port), backendPorts.join(',')], { env });
  await ready(proc, port, `${name} front`);
  return asTarget(name, port, proc, () => [proc.pid]);
}

/** The textbook net + pipe() proxy, the baseline of the tcp front's optimisations. */
export async function startNaiveProxy(port: number, backendPorts: readonly number[]): Promise<ProxyTarget> {
  const proc = startProcess('naive proxy', process.execPath, [NAIVE_PROXY, String(port), backendPorts.join(',')]);
  await ready(proc, port, 'naive proxy');
  return asTarget('naive net+pipe', port, proc, () => [proc.pid]);
}

/**
 * HAProxy in `mode tcp` or `mode http` (keep-alive both sides, its default),
 * round-robin, one thread (nbthread 1): the same CPU budget as supervise's
 * front with one data-plane thread; BENCH_HAPROXY_THREADS=2 sets nbthread 2
 * (against --front-threads 2). maxconn stays under the container's file limit.
 */
export async function startHaproxy(port: number, backendPorts: readonly number[], dir: string, mode: 'tcp' | 'http' = 'tcp'): Promise<ProxyTarget> {
  const config = join(dir, `haproxy-${mode}.cfg`);
  writeFileSync(
    config,
    [
      'global',
      `  nbthread ${Number(process.env.BENCH_HAPROXY_THREADS ?? 1) || 1}`,
      '  maxconn 4096',
      'defaults',
      `  mode ${mode}`,
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      'frontend front',
      `  bind 127.0.0.1:${port}`,
      '  default_backend hello',
      'backend hello',
      '  balance roundrobin',
      ...backendPorts.map((backendPort, i) => `  server s${i} 127.0.0.1:${backendPort}`),
      '',
    ].join('\n'),
  );
  const proc = startProcess(`haproxy ${mode}`, HAPROXY, ['-db', '-q', '-f', config]);
  await ready(proc, port, 'haproxy');
  return asTarget(`haproxy ${mode}`, port, proc, () => [proc.pid, ...childPids(proc.pid)]);
}

/**
 * nginx `stream` (L4) or `http` (L7, upstream keepalive: HTTP/1.1 to the
 * backends with the Connection header cleared, as nginx's docs set it up),
 * round-robin, one worker process (worker_processes 1), in the foreground.
 */
export async function startNginx(port: number, backendPorts: readonly number[], dir: string, mode: 'stream' | 'http' = 'stream'): Promise<ProxyTarget> {
  const config = join(dir, `nginx-${mode}.conf`);
  const upstream = ['  upstream hello {', ...backendPorts.map((backendPort) => `    server 127.0.0.1:${backendPort};`), mode === 'http' ? '    keepalive 64;' : '', '  }'];
  const block =
    mode === 'stream'
      ? ['stream {', ...upstream, '  server {', `    listen 127.0.0.1:${port};`, '    proxy_pass hello;', '  }', '}']
      : [
          'http {',
          '  access_log off;',
          ...upstream,
          '  server {',
          `    listen 127.0.0.1:${port};`,
          '    location / {',
          '      proxy_pass http://hello;',
          '      proxy_http_version 1.1;',
          '      proxy_set_header Connection "";',
          '    }',
          '  }',
          '}',
        ];
  writeFileSync(
    config,
    [
      mode === 'stream' && existsSync(NGINX_STREAM_MODULE) ? `load_module ${NGINX_STREAM_MODULE};` : '',
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${join(dir, `nginx-${mode}.pid`)};`,
      `error_log ${join(dir, 'nginx-error.log')} error;`,
      'events { worker_connections 4096; }',
      ...block,
      '',
    ].join('\n'),
  );
  const proc = startProcess(`nginx ${mode}`, NGINX, ['-e', join(dir, 'nginx-error.log'), '-p', dir, '-c', config]);
  try {
    await ready(proc, port, 'nginx');
  } catch (error) {
    const log = join(dir, 'nginx-error.log');
    if (existsSync(log)) throw new Error(`${(error as Error).message}; nginx says: ${readFileSync(log, 'utf8').trim().split('\n').at(-1)}`);
    throw error;
  }
  return asTarget(`nginx ${mode}`, port, proc, () => [proc.pid, ...childPids(proc.pid)], () => childPids(proc.pid)[0]);
}

/** utime + stime of the processes, in clock ticks (1/100 s on Linux). */
export function cpuTicks(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

export const TICKS_PER_SECOND = 100;
