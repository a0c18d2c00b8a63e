// The native http front's request counters as Prometheus counters must be:
// never going down. C counts per backend slot (per route inside it), and a slot
// outlives its backend: a replaced worker's slot serves the next one, and C
// keeps a slot's counts when the new backend has the same address (a restarted
// worker on the same port). So here: a backend's counts are its slot's minus
// what the slot held when the backend took it, and a backend that leaves hands
// its final counts to the totals of the front's retired backends, per route.

import type { RequestStats, WorkerId } from '../core/types.js';

export const CLASSES = 5;
export const BUCKETS = 11;
/** Per route in C's array: the classes, the buckets, the latency sum (ms), the count. */
export const PER_ROUTE = CLASSES + BUCKETS + 2;

/** Which app and route a series number is (http-common.ts RouteSeries). */
export type SeriesName = (series: number) => { app: string | undefined; route: string };

interface Retired {
  /** A backend that counted under this series (its app names the series' app on an app's own front). */
  id: WorkerId;
  values: Float64Array;
}

export class NativeRequestStats {
  /** Per slot: C's counts when its current backend took it. */
  private readonly baselines = new Map<number, Float64Array>();
  /** Per series: the counts of backends that have left. */
  private readonly retired = new Map<number, Retired>();

  constructor(private readonly seriesName: SeriesName) {}

  /** Whether the slot has a backend whose start is recorded. */
  tracks(slot: number): boolean {
    return this.baselines.has(slot);
  }

  /** A backend took `slot`, whose counts in C are `current` (undefined: none). */
  assigned(slot: number, current: Float64Array | undefined): void {
    this.baselines.set(slot, current === undefined ? new Float64Array(0) : Float64Array.from(current));
  }

  /** The backend `id` left `slot`; `current` is the slot's final counts in C. */
  forgotten(id: WorkerId, slot: number, current: Float64Array | undefined): void {
    const own = this.own(slot, current);
    this.baselines.delete(slot);
    if (own === undefined) return;
    for (let series = 0, at = 0; at + PER_ROUTE <= own.length; series++, at += PER_ROUTE) {
      if ((own[at + PER_ROUTE - 1] ?? 0) === 0) continue;
      let entry = this.retired.get(series);
      if (entry === undefined) this.retired.set(series, (entry = { id, values: new Float64Array(PER_ROUTE) }));
      for (let i = 0; i < PER_ROUTE; i++) entry.values[i] = (entry.values[i] ?? 0) + (own[at + i] ?? 0);
    }
  }

  /** Every backend's counts (`live`: id, slot and the slot's counts in C), and the retired ones'. */
  snapshot(live: Iterable<[WorkerId, number, Float64Array | undefined]>): RequestStats[] {
    const stats: RequestStats[] = [];
    for (const [id, slot, current] of live) {
      const own = this.own(slot, current);
      if (own === undefined) continue;
      for (let series = 0, at = 0; at + PER_ROUTE <= own.length; series++, at += PER_ROUTE) {
        // A backend's routes are numbered up to the highest it served: the rest of them are not its.
        if ((own[at + PER_ROUTE - 1] ?? 0) === 0) continue;
        stats.push(this.entry(id, series, own.subarray(at, at + PER_ROUTE)));
      }
    }
    for (const [series, { id, values }] of this.retired) stats.push(this.entry(id, series, values));
    return stats;
  }

  /** The slot's counts since its backend took it. */
  private own(slot: number, current: Float64Array | undefined): Float64Array | undefined {
    if (current === undefined) return undefined;
    const baseline = this.baselines.get(slot);
    if (baseline === undefined || baseline.length === 0) return current;
    // C started the slot afresh (another address): nothing to take away.
    if (current.some((value, i) => value < (baseline[i] ?? 0))) {
      this.baselines.set(slot, new Float64Array(0));
      return current;
    }
    return current.map((value, i) => value - (baseline[i] ?? 0));
  }

  private entry(id: WorkerId, series: number, values: Float64Array): RequestStats {
    const { app, route } = this.seriesName(series);
    return {
      id,
      route,
      app,
      classes: Array.from(values.subarray(0, CLASSES)),
      buckets: Array.from(values.subarray(CLASSES, CLASSES + BUCKETS)),
      sum: values[PER_ROUTE - 2] ?? 0,
      count: values[PER_ROUTE - 1] ?? 0,
    };
  }
}
