// The L7 front's request counters as Prometheus text, read at scrape time from
// `front.requestStats()` (per backend, kept by the data path, JavaScript or C):
//   supervise_http_requests_total{app, class}            responses by status class
//   supervise_http_request_duration_seconds{app}         latency histogram
// Backends are summed per app. Pure: stats in, text out.

import type { WorkerId } from '../core/types.js';
import { LATENCY_BUCKETS_MS } from '../proxy/http-common.js';

/** What the http front exposes (src/proxy/http-common.ts); structural, so any data path fits. */
export interface RequestStatsLike {
  readonly id: WorkerId;
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

/** Sums the backends of each app; a backend whose app is unknown is left out. */
export function totalsByApp(stats: readonly RequestStatsLike[], appOf: (id: WorkerId) => string | undefined): Map<string, AppTotals> {
  const byApp = new Map<string, AppTotals>();
  for (const entry of stats) {
    const app = appOf(entry.id);
    if (app === undefined) continue;
    let totals = byApp.get(app);
    if (totals === undefined) {
      totals = { classes: CLASSES.map(() => 0), buckets: LATENCY_BUCKETS_MS.map(() => 0), sum: 0, count: 0 };
      byApp.set(app, totals);
    }
    entry.classes.forEach((n, i) => (totals.classes[i] = (totals.classes[i] ?? 0) + n));
    entry.buckets.forEach((n, i) => (totals.buckets[i] = (totals.buckets[i] ?? 0) + n));
    totals.sum += entry.sum;
    totals.count += entry.count;
  }
  return byApp;
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderRequestMetrics(stats: readonly RequestStatsLike[], appOf: (id: WorkerId) => string | undefined): string {
  const byApp = totalsByApp(stats, appOf);
  if (byApp.size === 0) return '';
  const counters = [
    '# HELP supervise_http_requests_total Responses the L7 front sent, by app and status class.',
    '# TYPE supervise_http_requests_total counter',
  ];
  const histogram = [
    '# HELP supervise_http_request_duration_seconds Time from a request head to the end of its response at the L7 front.',
    '# TYPE supervise_http_request_duration_seconds histogram',
  ];
  for (const [app, totals] of byApp) {
    const a = label(app);
    CLASSES.forEach((name, i) => counters.push(`supervise_http_requests_total{app="${a}",class="${name}"} ${totals.classes[i] ?? 0}`));
    LATENCY_BUCKETS_MS.forEach((ms, i) =>
      histogram.push(`supervise_http_request_duration_seconds_bucket{app="${a}",le="${ms / 1000}"} ${totals.buckets[i] ?? 0}`),
    );
    histogram.push(`supervise_http_request_duration_seconds_bucket{app="${a}",le="+Inf"} ${totals.count}`);
    histogram.push(`supervise_http_request_duration_seconds_sum{app="${a}"} ${totals.sum / 1000}`);
    histogram.push(`supervise_http_request_duration_seconds_count{app="${a}"} ${totals.count}`);
  }
  return `${counters.join('\n')}\n${histogram.join('\n')}\n`;
}

/** The latency under which `quantile` of the requests fall, from cumulative buckets (upper bound; Infinity past the last). */
export function quantileMs(buckets: readonly number[], count: number, quantile: number): number | undefined {
  if (count === 0) return undefined;
  const rank = quantile * count;
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if ((buckets[i] ?? 0) >= rank) return LATENCY_BUCKETS_MS[i];
  return Infinity;
}
