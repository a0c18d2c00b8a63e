// The checks `ctl apply` makes before anything stops (core/apply-ports.ts is
// the policy): the new file's port claims against the ports the running apps
// hold now, then against other processes (a port a foreign server listens on).

import type { AppStatus } from '../core/system-api.js';
import type { App } from './app.js';
import type { AppConfig } from '../core/system-types.js';
import { runningPortConflict, type PortClaim, type RunningHolder } from '../core/apply-ports.js';
import { portRanges } from '../system-config.js';
import { readSettingsFile } from '../config-file.js';
import { describePortHolder, isListening } from './port-check.js';

/** ` (supervise.yaml, line 31)`: where the file sets an app's ports (base-port, port), else the app. */
function lineOf(file: string): (app: string) => string {
  let settings: ReturnType<typeof readSettingsFile> | undefined;
  return (app) => {
    try {
      settings ??= readSettingsFile(file);
      const own = settings.getIn(['apps', app]) ?? {};
      const key = Object.keys(own).find((raw) => ['base-port', 'basePort', 'port'].includes(raw));
      const line = settings.lineSuffix(key === undefined ? ['apps', app] : ['apps', app, key]);
      return line === '' ? ` (${file})` : ` (${file}${line.replace(/^ \(/, ', ').replace(/\)$/, '')})`;
    } catch {
      return ` (${file})`;
    }
  };
}

export interface RunningApp {
  readonly config: AppConfig;
  readonly status: AppStatus;
}

/** The ports an app holds now: its workers', its own listener, and its reload range at its runtime size. */
export function heldPorts(app: RunningApp): Set<number> {
  const ports = new Set<number>();
  for (const [first, last] of portRanges({ ...app.config, workers: app.status.desired })) for (let port = first; port <= last; port++) ports.add(port);
  for (const worker of app.status.workers) if (worker.pid !== undefined) ports.add(worker.port);
  return ports;
}

/**
 * Why the apply must be refused before anything stops, or undefined.
 * `claiming`: the apps of the new file that will bind ports (added, replaced, reloaded);
 * `running`: the apps that are not removed by it; `leaving`: those that are (their ports are freed first).
 */
export function applyPortProblem(
  file: string, claiming: readonly AppConfig[], running: readonly RunningApp[], leaving: readonly RunningApp[],
): string | undefined {
  const where = lineOf(file);
  const claims: PortClaim[] = claiming.flatMap((config) =>
    portRanges(config).map((range) => ({ what: `app "${config.name}"`, app: config.name, range, where: where(config.name) })),
  );
  const holders: RunningHolder[] = running.map((app) => ({
    app: app.config.name,
    what: `app "${app.config.name}"${app.status.desired === app.config.workers ? '' : ` (scaled to ${app.status.desired} workers at runtime)`}`,
    ports: heldPorts(app),
  }));
  const conflict = runningPortConflict(claims, holders);
  if (conflict !== undefined) return conflict;
  // Not ours: a port another process listens on would fail the new app's start after the old one stopped.
  const ours = new Set([...holders.flatMap((holder) => [...holder.ports]), ...leaving.flatMap((app) => [...heldPorts(app)])]);
  for (const claim of claims) {
    for (let port = claim.range[0]; port <= claim.range[1]; port++) {
      if (ours.has(port) || !isListening(port)) continue;
      const holder = describePortHolder(port);
      return `${claim.what} would take port ${port}${claim.where}, which is already in use${holder === undefined ? '' : ` by ${holder}`}; stop it or move the app`;
    }
  }
  return undefined;
}

export function sameConfig(a: AppConfig, b: AppConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What a running app cannot take by reconfigure + reload: its listener, ports, front and checks. */
export function needsReplacement(a: AppConfig, b: AppConfig): boolean {
  // An app's own front takes its edge settings when it is created (the routing front's are the system's).
  const ownFront = (config: AppConfig) => (config.routes.length > 0 ? undefined : [config.edge, config.forwardedAllowIps, config.maxHeaderSize, config.tls, config.frontThreads]);
  const fixed = (config: AppConfig) =>
    JSON.stringify([config.mode, config.port, config.host, config.basePort, config.proxy, config.balance, config.health, config.watch, config.routes.length > 0, ownFront(config)]);
  return fixed(a) !== fixed(b);
}

/** What replaceApp needs of the system: its apps by name, and how it starts some (depends-on, log files). */
export interface AppHost {
  readonly apps: Map<string, App>;
  start(configs: readonly AppConfig[]): Promise<App[]>;
}

/**
 * Mode, ports or front differ: a new App takes the old one's place (a short gap
 * for this app only). When the new one does not start or become ready, the
 * previous one is started again: an apply never leaves an app down. Returns what failed.
 */
export async function replaceApp(host: AppHost, old: App, config: AppConfig, reason: string): Promise<string | undefined> {
  const previous = old.config;
  await old.stop(`${reason}: replaced`);
  host.apps.delete(config.name);
  const failure = await startReady(host, config);
  if (failure === undefined) return undefined;
  await host.apps.get(config.name)?.stop(`${reason}: the new version failed`);
  host.apps.delete(config.name);
  const back = await startReady(host, previous);
  return back === undefined
    ? `app "${config.name}": the new version failed (${failure}); the previous one was started again and serves`
    : `app "${config.name}": the new version failed (${failure}), and the previous one did not come back (${back})`;
}

/** How long a replaced app's new version may take to be ready before the previous one comes back. */
function replacementBudgetMs(config: AppConfig): number {
  return config.readyTimeoutMs + 10_000;
}

/** Starts an app and waits (bounded) for it to be ready: undefined, or why not. */
async function startReady(host: AppHost, config: AppConfig): Promise<string | undefined> {
  try {
    const [app] = await host.start([config]);
    if (app === undefined) return 'not started';
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), replacementBudgetMs(config))));
    const ready = await Promise.race([app.whenReady(), late]).finally(() => clearTimeout(timer));
    // The headline of the last failure: its stderr lines are in ctl logs and the master's log.
    return ready ? undefined : (app.supervisor.lastFailure ?? 'no worker became ready').split('\n')[0]?.replace(/; last stderr:$/, '');
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
