// What `ctl apply` (and SIGHUP with a file) would change, decided before
// anything stops: the file read and validated again, what may not change while
// supervise runs, every upstream name resolved, the apps sorted into added,
// removed, changed and unchanged, and the new ports checked against what runs.
// A plan that says `error` changes nothing.

import type { RawSettings } from '../config.js';
import type { AppConfig, SystemConfig } from '../core/system-types.js';
import { errorMessage } from '../errors.js';
import { loadSystemFile } from '../system-config.js';
import { unresolvedUpstream, type UpstreamResolver } from '../upstreams/resolver.js';
import type { App } from './app.js';
import { applyPortProblem, sameConfig } from './apply-check.js';

export interface ApplyPlan {
  readonly next: SystemConfig;
  readonly added: readonly AppConfig[];
  readonly removed: readonly string[];
  readonly changed: readonly AppConfig[];
  readonly unchanged: readonly AppConfig[];
}

/** Why nothing may change: the file, or what it asks, is refused. */
export interface RefusedApply {
  readonly error: string;
}

export interface PlanContext {
  readonly config: SystemConfig;
  readonly apps: ReadonlyMap<string, App>;
  readonly flags: RawSettings;
  readonly stdoutIsTTY: boolean;
  readonly resolver: UpstreamResolver;
}

export async function planApply(file: string, context: PlanContext): Promise<ApplyPlan | RefusedApply> {
  let next: SystemConfig;
  try {
    next = loadSystemFile(file, context.flags, context.stdoutIsTTY);
  } catch (error) {
    return { error: errorMessage(error) };
  }
  const { config } = context;
  // The front's certificates may change (its TLS is renewed in place); its listeners may not.
  const fixedFront = (front: SystemConfig['front']) => (front === undefined ? undefined : [front.host, front.port, front.tls !== undefined, front.tls?.redirectHttp, front.tls?.hsts]);
  if (next.control !== config.control || JSON.stringify([fixedFront(next.front), next.resolvers]) !== JSON.stringify([fixedFront(config.front), config.resolvers])) {
    return { error: `${file}: control, the front's port, host, TLS on/off, redirect-http and hsts, and resolvers cannot change while supervise runs; restart it for those (nothing changed)` };
  }
  const unresolved = await unresolvedUpstream(next.apps.flatMap((app) => app.upstreams), context.resolver);
  if (unresolved !== undefined) return { error: `${unresolved} (nothing changed)` };
  const current = new Map([...context.apps.values()].map((app) => [app.name, app.config]));
  const added = next.apps.filter((app) => !current.has(app.name));
  const removed = [...current.keys()].filter((name) => !next.apps.some((app) => app.name === name));
  const changed = next.apps.filter((app) => current.has(app.name) && !sameConfig(current.get(app.name) as AppConfig, app));
  const unchanged = next.apps.filter((app) => current.has(app.name) && sameConfig(current.get(app.name) as AppConfig, app));
  // All or nothing: the new ports against what runs now (runtime scale included), before anything stops.
  const running = [...context.apps.values()].map((app) => ({ config: app.config, status: app.status() }));
  const leaving = (app: { readonly config: AppConfig }) => removed.includes(app.config.name);
  const problem = applyPortProblem(file, [...added, ...changed], running.filter((app) => !leaving(app)), running.filter(leaving));
  if (problem !== undefined) return { error: problem };
  return { next, added, removed, changed, unchanged };
}
