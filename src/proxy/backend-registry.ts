// The backends a front knows about: the ones in rotation (through the
// balancer) and the removed ones that still have connections. Counts open
// connections per backend and reports a removed backend as drained exactly
// once, when its last connection ends.

import { createBalancer, type Balancer } from '../core/balancer.js';
import type { AppRoute } from '../core/router.js';
import type { Backend, BalancePolicy, FrontEvents, WorkerId } from '../core/types.js';

export interface BackendEntry {
  readonly id: WorkerId;
  host: string;
  port: number;
  /** Open connections (tcp) or in-flight requests (http), connect attempts included. */
  active: number;
  /** Connections accepted for this backend since it was first added. */
  total: number;
  /** Out of rotation: report drained once `active` reaches 0. */
  removed: boolean;
  /** Report onServedLimit when `total` reaches it (--max-requests); 0: never. */
  limit: number;
  /** Its share in weighted policies. */
  weight: number;
}

/** What a registry holds, as the native front publishes it to C (core/dp-snapshot.ts). */
export interface BackendsView {
  /** Each app's backends, in rotation or draining (removed, not yet drained), in the order they joined. */
  readonly apps: ReadonlyArray<{ readonly name: string; readonly policy: BalancePolicy; readonly entries: readonly BackendEntry[] }>;
  /** The routing front's table; none on an app's own front. */
  readonly routes: readonly AppRoute[];
  /** The routing front's: requests are matched against `routes` (none matches: 404), even when it is empty. */
  readonly routed: boolean;
}

/** The name of the one app of a plain registry (an app's own front), in its view. */
export const OWN_APP = 'app';

/** A backend chosen for one request, and the path to send it with (a route may strip a prefix). */
export interface Routed {
  readonly backend: BackendEntry;
  readonly path: string;
  /** The routing front's: the app and the route (routeLabel) that matched, which the request is counted under. */
  readonly app?: string;
  readonly route?: string;
}

/**
 * What a front needs from its backends. The L7 front asks `route()` once per
 * request; a plain registry ignores host and path, the routing one
 * (routed-registry.ts) picks the app by them first.
 */
export interface Backends {
  add(backend: Backend): void;
  remove(id: WorkerId): void;
  /** The backend for a request (not in `exclude`), or undefined when there is none. */
  route(host: string | undefined, path: string, exclude?: ReadonlySet<WorkerId>): Routed | undefined;
  /** Why route() found nothing: false when no route matches at all (404), true when the matched app has no backend (502). */
  hasRoute(host: string | undefined, path: string): boolean;
  /**
   * Whether a request for (host, path) has nothing in rotation to go to, but a
   * backend may come (a worker still booting): the front holds it in its queue.
   * Here, when the registry is empty; the routing front's, when the app(s) of the
   * matching route have none.
   */
  waitable(host: string | undefined, path: string): boolean;
  acquire(entry: BackendEntry): void;
  release(entry: BackendEntry): void;
  releaseFailed(entry: BackendEntry): void;
  connections(id: WorkerId): number;
  totalConnections(id: WorkerId): number;
  readonly size: number;

  // The native front, whose data plane decides in C (no acquire/release per request):
  /** What is in the registry now (the snapshot's source). */
  describe(): BackendsView;
  /** `listener` runs after every change of membership, weights, draining, apps or routes. */
  watch(listener: () => void): void;
  /** From now on the data plane counts requests in flight: a removed backend drains when drained(id) says so. */
  countInDataPlane(): void;
  /** The data plane's word: removed backend `id` has no request left. */
  drained(id: WorkerId): void;
  /** The data plane handed `id` its --max-requests-th request. */
  servedLimit(id: WorkerId): void;
  /** A connect to `id` failed in the data plane (passive health check). */
  connectFailed(id: WorkerId, error: Error): void;
}

export class BackendRegistry implements Backends {
  private readonly balancer: Balancer;
  private readonly entries = new Map<WorkerId, BackendEntry>();
  private listener: (() => void) | undefined;
  /** The data plane counts in flight and reports drains (countInDataPlane). */
  private external = false;

  constructor(
    private readonly policy: BalancePolicy,
    private readonly events: FrontEvents,
    /** Called when a removed backend has drained, before onDrained (the http front closes its pool). */
    private readonly onForget?: (entry: BackendEntry) => void,
  ) {
    this.balancer = createBalancer(policy);
  }

  add(backend: Backend): BackendEntry {
    let entry = this.entries.get(backend.id);
    if (entry === undefined) {
      entry = {
        id: backend.id, host: backend.host, port: backend.port, active: 0, total: 0, removed: false, limit: backend.maxServed ?? 0, weight: backend.weight ?? 1,
      };
      this.entries.set(backend.id, entry);
    } else {
      // Back in rotation (healthy again) before it drained: same entry, same counts.
      entry.host = backend.host;
      entry.port = backend.port;
      entry.removed = false;
      entry.weight = backend.weight ?? 1;
    }
    this.balancer.add(backend.id, backend.weight);
    this.listener?.();
    return entry;
  }

  remove(id: WorkerId): void {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.removed) return;
    entry.removed = true;
    this.balancer.remove(id);
    if (entry.active === 0 && !this.external) {
      // Asynchronously: the caller is still inside its own remove() bookkeeping.
      queueMicrotask(() => this.forgetIfDrained(entry));
    }
    this.listener?.();
  }

  describe(): BackendsView {
    return { apps: [{ name: OWN_APP, policy: this.policy, entries: [...this.entries.values()] }], routes: [], routed: false };
  }

  watch(listener: () => void): void {
    this.listener = listener;
  }

  countInDataPlane(): void {
    this.external = true;
  }

  drained(id: WorkerId): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    entry.active = 0;
    this.forgetIfDrained(entry);
  }

  servedLimit(id: WorkerId): void {
    if (this.entries.has(id)) this.events.onServedLimit?.(id);
  }

  connectFailed(id: WorkerId, error: Error): void {
    if (this.entries.has(id)) this.events.onConnectFailure(id, error);
  }

  /** The next backend to try (not in `exclude`), or undefined when none is left. */
  pick(exclude?: ReadonlySet<WorkerId>): BackendEntry | undefined {
    const id = this.balancer.pick(exclude);
    return id === undefined ? undefined : this.entries.get(id);
  }

  route(_host: string | undefined, path: string, exclude?: ReadonlySet<WorkerId>): Routed | undefined {
    const backend = this.pick(exclude);
    return backend === undefined ? undefined : { backend, path };
  }

  hasRoute(): boolean {
    return true;
  }

  waitable(): boolean {
    return this.size === 0;
  }

  get size(): number {
    return this.balancer.size;
  }

  /** A connection (or request) to `entry` begins. */
  acquire(entry: BackendEntry): void {
    entry.active++;
    entry.total++;
    this.balancer.acquire(entry.id);
    if (entry.total === entry.limit) this.events.onServedLimit?.(entry.id);
  }

  /** That connection ended; a removed backend whose last one this was is drained. */
  release(entry: BackendEntry): void {
    entry.active--;
    this.balancer.release(entry.id);
    if (entry.active === 0 && entry.removed) this.forgetIfDrained(entry);
  }

  /** Undo an acquire whose connect failed: it never counted as a connection. */
  releaseFailed(entry: BackendEntry): void {
    entry.total--;
    this.release(entry);
  }

  connections(id: WorkerId): number {
    return this.entries.get(id)?.active ?? 0;
  }

  totalConnections(id: WorkerId): number {
    return this.entries.get(id)?.total ?? 0;
  }

  private forgetIfDrained(entry: BackendEntry): void {
    // Re-added meanwhile, or already forgotten: nothing to report.
    if (!entry.removed || entry.active !== 0 || this.entries.get(entry.id) !== entry) return;
    this.entries.delete(entry.id);
    this.onForget?.(entry);
    this.events.onDrained(entry.id);
    this.listener?.();
  }
}
