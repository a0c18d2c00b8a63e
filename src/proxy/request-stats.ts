// The L7 front's request counters per backend, read at scrape time
// (`front.requestStats()`): responses by status class and a latency histogram.
// The same shape as the native http data path's, so /metrics and top read either.

import type { WorkerId } from '../core/types.js';

/** Latency buckets, in ms: each count is of requests at most this long (cumulative, as Prometheus' `le`). */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

export interface RequestStats {
  readonly id: WorkerId;
  /** Responses by status class: [1xx, 2xx, 3xx, 4xx, 5xx]. */
  readonly classes: number[];
  /** Cumulative counts per LATENCY_BUCKETS_MS bound. */
  readonly buckets: number[];
  /** Sum of the latencies, ms (request head read to response end). */
  readonly sum: number;
  readonly count: number;
}

/** The counters of one backend: a few array increments per response. */
export class RequestCounter {
  readonly classes = [0, 0, 0, 0, 0];
  readonly buckets: number[] = LATENCY_BUCKETS_MS.map(() => 0);
  sum = 0;
  count = 0;

  record(status: number, ms: number): void {
    const index = Math.floor(status / 100) - 1;
    if (index >= 0 && index < 5) this.classes[index] = (this.classes[index] as number) + 1;
    for (let i = LATENCY_BUCKETS_MS.length - 1; i >= 0 && ms <= (LATENCY_BUCKETS_MS[i] as number); i--) {
      this.buckets[i] = (this.buckets[i] as number) + 1;
    }
    this.sum += ms;
    this.count++;
  }

  snapshot(id: WorkerId): RequestStats {
    return { id, classes: [...this.classes], buckets: [...this.buckets], sum: this.sum, count: this.count };
  }
}
