// Carrying out an apply plan (apply-plan.ts decided it, nothing has stopped
// yet): removed apps out of the routes, drained and stopped; added apps started
// in depends-on order and stopped again if they do not become ready; changed
// apps retargeted (autoscale only), reconfigured and rolling-reloaded, or
// replaced when what they listen on changed; then the new routing table. What
// fails is reported with what was applied; what ran before keeps running.

import type { ApplyResult, SystemReloadResult } from '../core/system-api.js';
import type { AppConfig } from '../core/system-types.js';
import { errorMessage } from '../errors.js';
import type { LogStore } from '../logs/store.js';
import type { TlsFronts } from '../tls/tls-fronts.js';
import type { App } from './app.js';
import { needsReplacement, replaceApp, sameConfig, type AppHost } from './apply-check.js';
import type { ApplyPlan } from './apply-plan.js';

/** The system as an apply acts on it. */
export interface ApplyHost extends AppHost {
  readonly apps: Map<string, App>;
  reloadApps(apps: readonly App[], reason: string): Promise<SystemReloadResult>;
  /** The routing front's table, from these apps' routes. */
  setRoutes(apps: readonly AppConfig[]): void;
  readonly tls: TlsFronts;
  readonly logs: LogStore;
  usageChanged(): void;
}

/** Applies `plan` (read from `file`); `reloadAll` (SIGHUP) reloads the unchanged apps too. */
export async function runApply(host: ApplyHost, plan: ApplyPlan, reason: string, reloadAll: boolean, file: string): Promise<ApplyResult> {
  const { next, added, removed, changed, unchanged } = plan;
  const errors: string[] = [];
  // Certificates re-read (renewed files); the routing front's as the file now lists them.
  errors.push(...host.tls.reloadAll(reason, new Map(next.front?.tls === undefined ? [] : [['front', next.front.tls.certificates]])));
  // Removed apps go first (their ports may be a new app's): out of the routes,
  // so that no new request reaches them, then drained and stopped.
  host.setRoutes([...host.apps.values()].filter((app) => !removed.includes(app.name)).map((app) => app.config));
  await Promise.all(removed.map(async (name) => {
    await host.apps.get(name)?.stop(`${reason}: removed from ${file}`);
    host.apps.delete(name);
    await host.logs.closeApp(name);
  }));
  try {
    const started = await host.start(added);
    const ready = await Promise.all(started.map((app) => app.whenReady()));
    for (const [index, app] of started.entries()) {
      if (ready[index]) continue;
      errors.push(`app "${app.name}" did not become ready (${app.supervisor.lastFailure ?? 'no worker became ready'}); it was stopped`);
      await app.stop('not ready');
      host.apps.delete(app.name);
    }
  } catch (error) {
    errors.push(errorMessage(error));
    // An added app that did not start must not stay half-started (slots in backoff, its route answering 503).
    for (const app of added.map((config) => host.apps.get(config.name))) {
      if (app === undefined || app.status().workers.some((worker) => worker.state === 'ready')) continue;
      await app.stop('not started');
      host.apps.delete(app.name);
    }
  }
  for (const config of changed) {
    const app = host.apps.get(config.name) as App;
    if (needsReplacement(app.config, config)) {
      const failure = await replaceApp(host, app, config, reason);
      if (failure !== undefined) errors.push(failure);
      continue;
    }
    // Only autoscale: changed: the autoscaler takes it, the workers stay.
    if (sameConfig({ ...app.config, autoscale: undefined }, { ...config, autoscale: undefined })) {
      app.retarget(config);
      continue;
    }
    await host.logs.openApp({ name: config.name, file: config.logFile });
    const workersChanged = await app.reconfigure(config).catch((error: unknown) => void errors.push(errorMessage(error)));
    if (workersChanged !== true) continue; // only its remote servers changed (or they failed to)
    const result = await app.service.reload(reason);
    if (!result.ok) errors.push(`app "${config.name}": ${result.error}`);
  }
  // Added apps are ready, changed ones reloaded: the new routing table.
  host.setRoutes([...host.apps.values()].map((app) => app.config));
  if (reloadAll) {
    const result = await host.reloadApps(unchanged.map((config) => host.apps.get(config.name) as App), reason);
    if (!result.ok) errors.push(result.error);
  }
  host.usageChanged();
  if (errors.length > 0) {
    const done = [['added', added.map((a) => a.name)], ['changed', changed.map((a) => a.name)], ['removed', removed]] as const;
    const applied = done.filter(([, names]) => names.length > 0).map(([what, names]) => `${what} ${names.join(', ')}`).join('; ');
    return { ok: false, error: `${errors.join('; ')} (applied: ${applied || 'nothing'})` };
  }
  return { ok: true, added: added.map((a) => a.name), removed, changed: changed.map((a) => a.name), unchanged: unchanged.map((a) => a.name) };
}
