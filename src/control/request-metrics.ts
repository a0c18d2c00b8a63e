// The L7 front's request counters as Prometheus text, read at scrape time from
// `front.requestStats()` (per backend and route, kept by the data path, JavaScript or C):
//   supervise_http_requests_total{app, route, class}     responses by status class
//   supervise_http_request_duration_seconds{app, route}  latency histogram
// `route` is the route the request matched on the routing front (`/users`,
// `api.example.com/users`), `/` on an app's own front (it serves every path).
// Backends are summed per app and route; status and top sum the routes too
// (totalsByApp). Pure: stats in, text out.

import type { FrontThreadStats, WorkerId } from '../core/types.js';
import { LATENCY_BUCKETS_MS } from '../proxy/http-common.js';

/** What the http front exposes (src/proxy/http-common.ts); structural, so any data path fits. */
export interface RequestStatsLike {
  readonly id: WorkerId;
  readonly route: string;
  /** The routing front names the app; undefined: the backend's app (appOf). */
  readonly app?: string | undefined;
  /** [1xx, 2xx, 3xx, 4xx, 5xx] */
  readonly classes: readonly number[];
  /** Cumulative counts per bound of LATENCY_BUCKETS_MS. */
  readonly buckets: readonly number[];
  /** ms */
  readonly sum: number;
  readonly count: number;
}

export { LATENCY_BUCKETS_MS };
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

interface AppTotals {
  classes: number[];
  buckets: number[];
  sum: number;
  count: number;
}

function emptyTotals(): AppTotals {
  return { classes: CLASSES.map(() => 0), buckets: LATENCY_BUCKETS_MS.map(() => 0), sum: 0, count: 0 };
}

function addTo(totals: AppTotals, entry: Omit<RequestStatsLike, 'id' | 'route'>): void {
  entry.classes.forEach((n, i) => (totals.classes[i] = (totals.classes[i] ?? 0) + n));
  entry.buckets.forEach((n, i) => (totals.buckets[i] = (totals.buckets[i] ?? 0) + n));
  totals.sum += entry.sum;
  totals.count += entry.count;
}

/** Sums the backends of each app and route (app -> route -> totals); a backend whose app is unknown is left out. */
function totalsByRoute(stats: readonly RequestStatsLike[], appOf: (id: WorkerId) => string | undefined): Map<string, Map<string, AppTotals>> {
  const byApp = new Map<string, Map<string, AppTotals>>();
  for (const entry of stats) {
    const app = entry.app ?? appOf(entry.id);
    if (app === undefined) continue;
    let routes = byApp.get(app);
    if (routes === undefined) byApp.set(app, (routes = new Map()));
    let totals = routes.get(entry.route);
    if (totals === undefined) routes.set(entry.route, (totals = emptyTotals()));
    addTo(totals, entry);
  }
  return byApp;
}

/** Every route of each app summed: status and `supervise top` show apps. */
export function totalsByApp(stats: readonly RequestStatsLike[], appOf: (id: WorkerId) => string | undefined): Map<string, AppTotals> {
  const byApp = new Map<string, AppTotals>();
  for (const [app, routes] of totalsByRoute(stats, appOf)) {
    const totals = emptyTotals();
    for (const route of routes.values()) addTo(totals, route);
    byApp.set(app, totals);
  }
  return byApp;
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderRequestMetrics(stats: readonly RequestStatsLike[], appOf: (id: WorkerId) => string | undefined): string {
  const byApp = totalsByRoute(stats, appOf);
  if (byApp.size === 0) return '';
  const counters = [
    '# HELP supervise_http_requests_total Responses the L7 front sent, by app, route matched (/ on an app\'s own front) and status class.',
    '# TYPE supervise_http_requests_total counter',
  ];
  const histogram = [
    '# HELP supervise_http_request_duration_seconds Time from a request head to the end of its response at the L7 front, by app and route matched.',
    '# TYPE supervise_http_request_duration_seconds histogram',
  ];
  for (const [app, routes] of byApp) {
    for (const [route, totals] of routes) {
      const l = `app="${label(app)}",route="${label(route)}"`;
      CLASSES.forEach((name, i) => counters.push(`supervise_http_requests_total{${l},class="${name}"} ${totals.classes[i] ?? 0}`));
      LATENCY_BUCKETS_MS.forEach((ms, i) => histogram.push(`supervise_http_request_duration_seconds_bucket{${l},le="${ms / 1000}"} ${totals.buckets[i] ?? 0}`));
      histogram.push(`supervise_http_request_duration_seconds_bucket{${l},le="+Inf"} ${totals.count}`);
      histogram.push(`supervise_http_request_duration_seconds_sum{${l}} ${totals.sum / 1000}`);
      histogram.push(`supervise_http_request_duration_seconds_count{${l}} ${totals.count}`);
    }
  }
  return `${counters.join('\n')}\n${histogram.join('\n')}\n`;
}

/** The native fronts' data-plane threads (--front-threads): requests answered (a tcp front: connections piped to a backend) and connections accepted by each, per front (an app's name, or `routing`). */
export function renderThreadMetrics(fronts: ReadonlyArray<{ readonly front: string; readonly threads: readonly FrontThreadStats[] }>): string {
  if (fronts.every(({ threads }) => threads.length === 0)) return '';
  const requests = [
    '# HELP supervise_front_thread_requests_total Responses the native front\'s data-plane thread relayed from a backend (a tcp front: connections it piped to one), by front and thread.',
    '# TYPE supervise_front_thread_requests_total counter',
  ];
  const connections = [
    '# HELP supervise_front_thread_connections_total Client connections the native front\'s data-plane thread accepted, by front and thread.',
    '# TYPE supervise_front_thread_connections_total counter',
  ];
  for (const { front, threads } of fronts) {
    threads.forEach((thread, i) => {
      requests.push(`supervise_front_thread_requests_total{front="${label(front)}",thread="${i}"} ${thread.requests}`);
      connections.push(`supervise_front_thread_connections_total{front="${label(front)}",thread="${i}"} ${thread.connections}`);
    });
  }
  return `${requests.join('\n')}\n${connections.join('\n')}\n`;
}

/** The latency under which `quantile` of the requests fall, from cumulative buckets (upper bound; Infinity past the last). */
export function quantileMs(buckets: readonly number[], count: number, quantile: number): number | undefined {
  if (count === 0) return undefined;
  const rank = quantile * count;
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if ((buckets[i] ?? 0) >= rank) return LATENCY_BUCKETS_MS[i];
  return Infinity;
}
