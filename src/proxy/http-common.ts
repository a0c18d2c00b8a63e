// What both http data paths (the native one, http-native.ts, and the
// JavaScript one, http-proxy.ts) share: their defaults, and the per-backend
// request counters read on scrape.

import type { RequestStats, WorkerId } from '../core/types.js';
import type { FrontOptions } from './options.js';

export type { RequestStats } from '../core/types.js';


/** How long a backend may take to send its response head, from the end of the request, when idleTimeoutMs is not given. */
export const DEFAULT_HTTP_RESPONSE_TIMEOUT_MS = 60_000;

export type HttpFrontOptions = FrontOptions;

/** Latency buckets, in ms: each count is of requests at most this long (cumulative, as Prometheus' `le`). */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;


/** The counters of one backend on the JavaScript path (C keeps its own). */
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

  snapshot(id: WorkerId): RequestStats {
    return { id, classes: [...this.classes], buckets: [...this.buckets], sum: this.sum, count: this.count };
  }
}
