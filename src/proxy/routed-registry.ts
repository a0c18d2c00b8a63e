// The backends of the shared front of a system (SPEC §8): one registry (and
// balancer) per app, and the pure router in front of them. Per request the
// router picks the app by host and path prefix (weights between apps that share
// a prefix), then the app's own balancer picks the worker. Worker ids are unique
// in the system, so every other call finds its app by the backend's id.

import { createRouter, type AppRoute, type Router } from '../core/router.js';
import type { Backend, BalancePolicy, FrontEvents, WorkerId } from '../core/types.js';
import { BackendRegistry, type BackendEntry, type Backends, type BackendsView, type Routed } from './backend-registry.js';
import { createHttpFront } from './http-proxy.js';
import type { BoundFront, FrontOptions } from './options.js';

export class RoutedRegistry implements Backends {
  private readonly apps = new Map<string, BackendRegistry>();
  private readonly owners = new Map<WorkerId, BackendRegistry>();
  private router: Router = createRouter([]);
  private routes: readonly AppRoute[] = [];
  private listener: (() => void) | undefined;
  private external = false;
  /** Bound once: asked per request by the router. */
  private readonly available = (app: string): boolean => (this.apps.get(app)?.size ?? 0) > 0;

  private readonly onForget: (entry: BackendEntry) => void;

  constructor(onForget: (entry: BackendEntry) => void) {
    this.onForget = (entry) => {
      this.owners.delete(entry.id);
      onForget(entry);
    };
  }

  /** Replace the routing table (start, `ctl apply`); balancers inside the apps keep their state. */
  setRoutes(routes: readonly AppRoute[]): void {
    this.router = createRouter(routes);
    this.routes = routes;
    this.listener?.();
  }

  /** An app's backends: its policy, and where its drains and failed connects are reported. */
  addApp(name: string, policy: BalancePolicy, events: FrontEvents): void {
    if (this.apps.has(name)) return;
    const registry = new BackendRegistry(policy, events, this.onForget);
    if (this.listener !== undefined) registry.watch(this.listener);
    if (this.external) registry.countInDataPlane();
    this.apps.set(name, registry);
    this.listener?.();
  }

  /** Forget an app once it has stopped (its backends have drained). */
  removeApp(name: string): void {
    this.apps.delete(name);
    this.listener?.();
  }

  describe(): BackendsView {
    return { apps: [...this.apps].flatMap(([name, registry]) => registry.describe().apps.map((app) => ({ ...app, name }))), routes: this.routes, routed: true };
  }

  watch(listener: () => void): void {
    this.listener = listener;
    for (const registry of this.apps.values()) registry.watch(listener);
  }

  countInDataPlane(): void {
    this.external = true;
    for (const registry of this.apps.values()) registry.countInDataPlane();
  }

  drained(id: WorkerId): void {
    this.owners.get(id)?.drained(id);
  }

  servedLimit(id: WorkerId): void {
    this.owners.get(id)?.servedLimit(id);
  }

  connectFailed(id: WorkerId, error: Error): void {
    this.owners.get(id)?.connectFailed(id, error);
  }

  add(backend: Backend): void {
    const registry = backend.app === undefined ? undefined : this.apps.get(backend.app);
    if (registry === undefined) throw new Error(`routing front: backend ${backend.id} names no known app (${String(backend.app)})`);
    registry.add(backend);
    this.owners.set(backend.id, registry);
  }

  remove(id: WorkerId): void {
    this.owners.get(id)?.remove(id);
  }

  route(host: string | undefined, path: string, exclude?: ReadonlySet<WorkerId>): Routed | undefined {
    const choice = this.router.route(host, path, this.available);
    if (choice === undefined) return undefined;
    const backend = this.apps.get(choice.app)?.pick(exclude);
    return backend === undefined ? undefined : { backend, path: choice.path, app: choice.app, route: choice.route };
  }

  hasRoute(host: string | undefined, path: string): boolean {
    return this.router.matches(host, path);
  }

  /** An app booting (or scaled to nothing) holds its own requests; the other apps' keep flowing. */
  waitable(host: string | undefined, path: string): boolean {
    return this.router.matches(host, path) && !this.router.servable(host, path, this.available);
  }

  acquire(entry: BackendEntry): void {
    this.owners.get(entry.id)?.acquire(entry);
  }

  release(entry: BackendEntry): void {
    this.owners.get(entry.id)?.release(entry);
  }

  releaseFailed(entry: BackendEntry): void {
    this.owners.get(entry.id)?.releaseFailed(entry);
  }

  connections(id: WorkerId): number {
    return this.owners.get(id)?.connections(id) ?? 0;
  }

  totalConnections(id: WorkerId): number {
    return this.owners.get(id)?.totalConnections(id) ?? 0;
  }

  get size(): number {
    let size = 0;
    for (const registry of this.apps.values()) size += registry.size;
    return size;
  }
}

/**
 * The shared L7 front of a system, and its routing table. Backends join through
 * `front.add` (with their app), never the table alone: the front sends requests
 * it holds (no worker ready yet) on as soon as one joins.
 */
export interface RoutingFront {
  readonly front: BoundFront;
  readonly backends: RoutedRegistry;
}

export function createRoutingFront(options: Omit<FrontOptions, 'balance' | 'events'>): RoutingFront {
  let backends!: RoutedRegistry;
  // The native data path where it is built (createHttpFront), as for one app's front.
  const front = createHttpFront(
    // Balancing and events are per app (addApp); the front's own are never used.
    { ...options, balance: 'round-robin', events: { onConnectFailure: () => undefined, onDrained: () => undefined } },
    (onForget) => (backends = new RoutedRegistry(onForget)),
  );
  return { front, backends };
}
