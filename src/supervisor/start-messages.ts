// What the supervisor tells its user around start, as pure functions of the
// config: the start line, the "ready, serving on" line, warnings for flags the
// mode ignores, and what a worker that never became ready was waited for.

import type { Config, DataPath } from '../core/types.js';

const LOOPBACK = '127.0.0.1';

/** `http://host:port`, with IPv6 addresses in brackets. */
function url(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** `8000…8003` for four workers from 8000; one port alone for one. */
export function portRange(config: Pick<Config, 'basePort' | 'workers'>): string {
  return config.workers === 1 ? String(config.basePort) : `${config.basePort}…${config.basePort + config.workers - 1}`;
}

/** `on port 8200` for one worker, `on ports 8200…8203` for several. */
function onPorts(config: Pick<Config, 'basePort' | 'workers'>): string {
  return `on ${config.workers === 1 ? 'port' : 'ports'} ${portRange(config)}`;
}

/** The first line: what runs, on which ports, and (when there is one) the front and its data path. */
export function startLine(config: Config & { readonly routes?: readonly { readonly path: string }[] }, port: number, dataPath: DataPath | undefined): string {
  if (config.mode === 'cluster') {
    return `supervise: ${plural(config.workers, 'cluster worker')} of ${config.script} on port ${port}`;
  }
  // An app of remote servers only: a balancer with no workers.
  const what = config.workers === 0 ? 'supervise: remote servers' : `supervise: ${config.workers} × ${config.args.join(' ')} ${onPorts(config)}`;
  if (config.routes !== undefined && config.routes.length > 0) return `${what}, routed from the shared front (${config.routes.map((route) => route.path).join(', ')})`;
  if (config.proxy === 'none') return what;
  return `${what}, front ${config.proxy} on ${config.host}:${port} (${dataPath ?? 'javascript'} data path)`;
}

/** Once the first generation is up: where to point a browser (or, without a front, where the workers are). */
export function readyLine(config: Config & { readonly routes?: readonly unknown[] }, port: number, workers: number): string {
  if (config.mode === 'spawn' && config.workers === 0) {
    return config.routes !== undefined && config.routes.length > 0 ? 'remote servers routed from the shared front' : `balancing remote servers on ${url(config.host, port)}`;
  }
  const ready = `${plural(workers, 'worker')} ready`;
  if (config.mode === 'cluster') return `${ready}, serving on ${url(LOOPBACK, port)}`;
  const ports = onPorts({ basePort: config.basePort, workers });
  if (config.routes !== undefined && config.routes.length > 0) return `${ready} ${ports}, routed from the shared front`;
  if (config.proxy === 'none') return `${ready} ${ports}`;
  return `${ready}, serving on ${url(config.host, port)}`;
}

/** Flags that are valid but have no effect in this mode: a warning each, so nobody relies on them. */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.mode === 'cluster') {
    if (config.balance !== 'round-robin') {
      warnings.push(`--balance ${config.balance} is ignored in cluster mode: node:cluster hands connections out round-robin (--balance applies to spawn mode's front)`);
    }
    if (config.health.path !== undefined) {
      warnings.push(`--health ${config.health.path} is ignored in cluster mode: a worker is ready when it listens (--health applies to spawn mode)`);
    }
  } else {
    if (config.waitReady) {
      warnings.push("--wait-ready is ignored in spawn mode: a spawned worker is ready at its first passing probe (--wait-ready is cluster mode's process.send('ready'))");
    }
    if (config.proxy === 'none' && config.health.path !== undefined) {
      warnings.push(`--health ${config.health.path} with --proxy none only decides when a worker is ready: there is no front to take an unhealthy worker out of`);
    }
    if (config.proxy === 'none' && config.balance !== 'round-robin') {
      warnings.push(`--balance ${config.balance} is ignored with --proxy none: there is no front to balance`);
    }
  }
  return warnings;
}

/** What a worker on `port` was waited for, and what usually makes it ready; appended to "not ready within …". */
export function readinessHint(config: Config, port: number): string {
  if (config.mode === 'cluster') {
    return config.waitReady
      ? "(waited for process.send('ready') from the worker, as --wait-ready asks: does it call it?)"
      : `(waited for the worker to listen on port ${port}: does it call listen(process.env.PORT)? With --wait-ready, process.send('ready') decides instead)`;
  }
  const probed =
    config.health.path === undefined
      ? `a TCP connect to ${LOOPBACK}:${port}`
      : `GET ${url(LOOPBACK, port)}${config.health.path} answering 2xx`;
  return `(probed ${probed}: does the command listen on {port} or $PORT?)`;
}
