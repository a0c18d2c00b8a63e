// Which app a request goes to, on the shared front (SPEC §8): nginx's `location`
// (longest path prefix, on segment boundaries) with `server_name` (a route with a
// host beats one without), then smooth weighted round-robin between the apps
// that share that prefix (a canary at 9:1). Pure: no I/O; the front asks
// `route(host, path)` per request and balances inside the app itself.

import { createBalancer, type Balancer } from './balancer.js';

export interface AppRoute {
  readonly app: string;
  /** Starts with `/`, no trailing slash (except `/` itself). */
  readonly path: string;
  /** Lower case, without a port; undefined matches any host. */
  readonly host: string | undefined;
  readonly weight: number;
  /** Remove the prefix before forwarding (`/users/1` -> `/1`). */
  readonly strip: boolean;
}

export interface RouteChoice {
  readonly app: string;
  /** The path (with its query) to forward: stripped of the prefix when the route says so. */
  readonly path: string;
  /** The route that matched, as the system file has it (routeLabel): what the request is counted under. */
  readonly route: string;
}

/** `/users`, or `api.example.com/users` for a route that names a host: the metrics' `route` label. */
export function routeLabel(route: Pick<AppRoute, 'host' | 'path'>): string {
  return route.host === undefined ? route.path : `${route.host}${route.path}`;
}

/** A route group and the smooth weighted round-robin between its apps. */
interface Group extends RouteGroup {
  /** Smooth weighted round-robin over indexes into `routes`. */
  readonly balancer: Balancer;
}

export interface Router {
  /**
   * The app for a request, or undefined when no route matches (or no app of the
   * matching route is available).
   * @param host the Host header as sent (a port is ignored, case too)
   * @param path the request target: path and query
   * @param available whether an app can take a request now (has ready backends)
   */
  route(host: string | undefined, path: string, available?: (app: string) => boolean): RouteChoice | undefined;
  /** Whether any route matches (without moving the weighted rotation). */
  matches(host: string | undefined, path: string): boolean;
  /** Whether a route matches and an app of it is available (without moving the weighted rotation). */
  servable(host: string | undefined, path: string, available: (app: string) => boolean): boolean;
}

export function createRouter(routes: readonly AppRoute[]): Router {
  const groups = groupRoutes(routes);
  return {
    route(host, path, available) {
      const group = matchGroup(groups, normalizeHost(host), path);
      if (group === undefined) return undefined;
      const index = pickInGroup(group, available);
      if (index === undefined) return undefined;
      const route = group.routes[index] as AppRoute;
      return { app: route.app, path: route.strip ? stripPrefix(path, route.path) : path, route: group.label };
    },
    matches(host, path) {
      return matchGroup(groups, normalizeHost(host), path) !== undefined;
    },
    servable(host, path, available) {
      return matchGroup(groups, normalizeHost(host), path)?.routes.some((route) => available(route.app)) ?? false;
    },
  };
}

/** Routes with the same host and path, in the order a request is matched against them. */
export interface RouteGroup {
  readonly host: string | undefined;
  readonly path: string;
  /** routeLabel(), once per table rather than per request. */
  readonly label: string;
  readonly routes: readonly AppRoute[];
}

/**
 * The routes grouped by (host, path), longest prefix first and, for the same
 * prefix, the group naming a host first: the order matchGroup walks, here and
 * in the data plane's snapshot (dp-snapshot.ts), so both match alike.
 */
export function routeGroups(routes: readonly AppRoute[]): RouteGroup[] {
  const byKey = new Map<string, AppRoute[]>();
  for (const route of routes) {
    const key = `${route.host ?? ''} ${route.path}`;
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [route]);
    else list.push(route);
  }
  const groups = [...byKey.values()].map((list): RouteGroup => {
    const first = list[0] as AppRoute;
    return { host: first.host, path: first.path, label: routeLabel(first), routes: list };
  });
  return groups.sort((a, b) => b.path.length - a.path.length || Number(b.host !== undefined) - Number(a.host !== undefined));
}

function groupRoutes(routes: readonly AppRoute[]): Group[] {
  return routeGroups(routes).map((group): Group => {
    const balancer = createBalancer('weighted-round-robin');
    group.routes.forEach((route, index) => balancer.add(index, route.weight));
    return { ...group, balancer };
  });
}

function matchGroup(groups: readonly Group[], host: string | undefined, path: string): Group | undefined {
  // Longest first, so the first match of each kind is the longest. As with
  // nginx's server_name before location, a route naming this host wins even
  // over a longer any-host prefix.
  let anyHost: Group | undefined;
  for (const group of groups) {
    if (!prefixMatches(group.path, path)) continue;
    if (group.host === undefined) anyHost ??= group;
    else if (group.host === host) return group;
  }
  return anyHost;
}

function pickInGroup(group: Group, available: ((app: string) => boolean) | undefined): number | undefined {
  if (group.routes.length === 1) {
    const only = group.routes[0] as AppRoute;
    return available === undefined || available(only.app) ? 0 : undefined;
  }
  if (available === undefined) return group.balancer.pick();
  const unavailable = new Set<number>();
  group.routes.forEach((route, index) => {
    if (!available(route.app)) unavailable.add(index);
  });
  return group.balancer.pick(unavailable);
}

/** `/users` matches `/users`, `/users/1` and `/users?x`, not `/usersfoo`. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3f /* ? */;
}

/** `/users/1?x` without `/users` is `/1?x`; `/users` alone becomes `/`. */
export function stripPrefix(path: string, prefix: string): string {
  if (prefix === '/') return path;
  const rest = path.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function normalizeHost(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  // `Example.com:8080` -> example.com; `[::1]:80` -> [::1].
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}
