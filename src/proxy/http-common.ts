// What both http data paths (the native one, http-native.ts, and the
// JavaScript one, http-proxy.ts) share: their defaults, and the request
// counters (per backend and route) read on scrape.

import type { RequestStats, WorkerId } from '../core/types.js';
import type { Routed } from './backend-registry.js';
import type { FrontOptions } from './options.js';

export type { RequestStats } from '../core/types.js';


/** How long a backend may take to send its response head, from the end of the request, when idleTimeoutMs is not given. */
export const DEFAULT_HTTP_RESPONSE_TIMEOUT_MS = 60_000;

export type HttpFrontOptions = FrontOptions;

/** Latency buckets, in ms: each count is of requests at most this long (cumulative, as Prometheus' `le`). */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;


/** The route label of every request through an app's own http front: it has no routing table, it serves every path. */
export const ALL_PATHS_ROUTE = '/';

/** What a request is counted under: the routing front's app and route (an app's own front: no app, the backend's, and ALL_PATHS_ROUTE). */
export interface CountedAs {
  readonly app: string | undefined;
  readonly route: string;
}

/**
 * The (app, route) pairs a front counts requests under, numbered from 0 (an
 * app's own front only has 0): per request a number is cheap to keep, and C
 * keeps its counters by these numbers. Pairs are never forgotten (a `ctl apply`
 * that drops a route leaves one number unused).
 */
export class RouteSeries {
  private readonly list: CountedAs[] = [{ app: undefined, route: ALL_PATHS_ROUTE }];
  /** app -> route -> number: no key string built per request. */
  private readonly numbers = new Map<string, Map<string, number>>();

  /** The number of the pair a routed request matched; 0 when the registry names none (an app's own front). */
  of(routed: Routed | undefined): number {
    if (routed?.app === undefined || routed.route === undefined) return 0;
    return this.named(routed.app, routed.route);
  }

  /** The number of (app, route): the routing front's snapshot carries one per route. */
  named(app: string, route: string): number {
    let routes = this.numbers.get(app);
    if (routes === undefined) this.numbers.set(app, (routes = new Map()));
    let number = routes.get(route);
    if (number === undefined) {
      number = this.list.length;
      this.list.push({ app, route });
      routes.set(route, number);
    }
    return number;
  }

  at(number: number): CountedAs {
    return this.list[number] ?? (this.list[0] as CountedAs);
  }
}

/** The counters of one backend and route on the JavaScript path (C keeps its own). */
export class RequestCounter {
  readonly classes = [0, 0, 0, 0, 0];
  readonly buckets: number[] = LATENCY_BUCKETS_MS.map(() => 0);
  sum = 0;
  count = 0;

  record(status: number, ms: number): void {
    const index = Math.floor(status / 100) - 1;
    if (index >= 0 && index < 5) this.classes[index] = (this.classes[index] as number) + 1;
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      if (ms <= (LATENCY_BUCKETS_MS[i] as number)) this.buckets[i] = (this.buckets[i] as number) + 1;
    }
    this.sum += ms;
    this.count++;
  }

  snapshot(id: WorkerId, as: CountedAs): RequestStats {
    return { id, route: as.route, app: as.app, classes: [...this.classes], buckets: [...this.buckets], sum: this.sum, count: this.count };
  }
}

/** The JavaScript front's counters: per backend, per route (RouteSeries' numbers). Kept for the front's life: they never go down. */
export class BackendRouteCounters {
  private readonly counters = new Map<WorkerId, Map<number, RequestCounter>>();

  record(id: WorkerId, series: number, status: number, ms: number): void {
    let routes = this.counters.get(id);
    if (routes === undefined) this.counters.set(id, (routes = new Map()));
    let counter = routes.get(series);
    if (counter === undefined) routes.set(series, (counter = new RequestCounter()));
    counter.record(status, ms);
  }

  snapshot(series: RouteSeries): RequestStats[] {
    return [...this.counters].flatMap(([id, routes]) => [...routes].map(([number, counter]) => counter.snapshot(id, series.at(number))));
  }
}
