// From a front's registry to the data plane's snapshot (core/dp-snapshot.ts):
// which backends C may send requests to (in rotation, or draining with
// requests still in flight), each app's policy, the routing table with the
// counters' series of each route, the timeouts. And the coalescing: however
// many changes one turn of the loop makes (a reload adds and removes several
// backends), one snapshot is published, on the next turn.

import { isIP } from 'node:net';
import { routeLabel } from '../core/router.js';
import type { SnapshotBackend, SnapshotInput, SnapshotRoute } from '../core/dp-snapshot.js';
import type { BackendEntry, BackendsView } from './backend-registry.js';
import type { RouteSeries } from './http-common.js';

export interface PublishLimits {
  readonly queueTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
}

/**
 * The snapshot of `view`. `slotOf` gives each backend its slot in C (and has
 * told C its address); a backend without one (its address not known to C
 * yet) is left out.
 */
export function snapshotOf(
  view: BackendsView,
  slotOf: (entry: BackendEntry) => number | undefined,
  series: RouteSeries,
  limits: PublishLimits,
  serial: number,
): SnapshotInput {
  const backends: SnapshotBackend[] = [];
  for (const app of view.apps) {
    for (const entry of app.entries) {
      const slot = isIP(entry.host) === 0 ? undefined : slotOf(entry);
      if (slot === undefined) continue;
      backends.push({ slot, address: entry.host, port: entry.port, weight: entry.weight, draining: entry.removed, budget: entry.limit, app: app.name });
    }
  }
  const routes: SnapshotRoute[] = view.routes.map((route) => ({ ...route, series: series.named(route.app, routeLabel(route)) }));
  const apps = view.apps.map(({ name, policy }) => ({ name, policy }));
  // A route to an app not started yet: an app without backends, so that its requests wait for it (as the router's `servable`).
  const known = new Set(apps.map((app) => app.name));
  for (const route of routes) {
    if (!known.has(route.app)) apps.push({ name: route.app, policy: 'round-robin' });
    known.add(route.app);
  }
  return {
    serial,
    backends,
    apps,
    routes,
    routed: view.routed,
    defaultSeries: 0,
    ...limits,
  };
}

/**
 * Runs `publish` once when the current task ends (a microtask), however often
 * it is asked for within it: the data-plane threads decide from the new
 * snapshot before any client this task talks to can reach them (a backend
 * added, then a request sent). A publish only posts commands to the threads,
 * so running it at the end of C's event callback is safe.
 */
export class Coalescer {
  private pending = false;

  constructor(private readonly publish: () => void) {}

  request(): void {
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(() => {
      this.pending = false;
      this.publish();
    });
  }
}
