// The `autoscale:` key of an app (SPEC §15): its sub-keys, their defaults and
// their validation, in one place. The result is the pure policy's input
// (core/autoscale.ts); `export kubernetes` maps the same fields to an HPA.

import { UsageError } from './errors.js';
import { parseDuration } from './units.js';
import { AUTOSCALE_METRICS, type AutoscaleMetric } from './core/autoscale.js';
import { MAX_WORKERS, MIN_WORKERS } from './core/types.js';
import type { AutoscaleConfig } from './core/system-types.js';

/** The HPA's defaults: its sync period, and behavior.scaleUp/scaleDown.stabilizationWindowSeconds. */
export const AUTOSCALE_DEFAULTS = { periodMs: 15_000, scaleUpWindowMs: 0, scaleDownWindowMs: 300_000 } as const;

const DURATIONS = { period: 'periodMs', 'scale-up-window': 'scaleUpWindowMs', 'scale-down-window': 'scaleDownWindowMs' } as const;
const KEYS = ['min', 'max', ...AUTOSCALE_METRICS, ...Object.keys(DURATIONS)];
/** Deciding more often than the usage sampler and the counters can tell a difference is noise. */
const MIN_PERIOD_MS = 500;
/** The HPA's own limits (policies' periodSeconds ≤ 1800, stabilizationWindowSeconds ≤ 3600), so that the export holds. */
const MAX_PERIOD_MS = 1_800_000;
const MAX_WINDOW_MS = 3_600_000;
const MAX_TARGET = 1_000_000;

/**
 * `at(subKey)` names a sub-key with its file and line; `at(undefined)` the
 * `autoscale` key itself. Throws a UsageError naming the first bad key.
 */
export function parseAutoscale(value: unknown, at: (subKey?: string) => string): AutoscaleConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${at()} must be a map, e.g. autoscale: { min: 1, max: 8, cpu: 70 }`);
  }
  const raw = value as Record<string, unknown>;
  const fields = new Map<string, unknown>();
  for (const [key, field] of Object.entries(raw)) {
    const kebab = key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    if (!KEYS.includes(kebab)) throw new UsageError(`${at(key)}: unknown key "${key}"; autoscale has ${KEYS.join(', ')}`);
    fields.set(kebab, field);
  }
  const keyOf = (kebab: string) => Object.keys(raw).find((key) => key.replace(/[A-Z]/g, (l) => `-${l.toLowerCase()}`) === kebab) ?? kebab;
  const count = (name: 'min' | 'max'): number => {
    const n = fields.get(name);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_WORKERS || n > MAX_WORKERS) {
      throw new UsageError(`${at(keyOf(name))} must be a worker count from ${MIN_WORKERS} to ${MAX_WORKERS} (got ${JSON.stringify(n)})`);
    }
    return n;
  };
  const min = count('min');
  const max = count('max');
  if (min > max) throw new UsageError(`${at(keyOf('max'))} must be at least min (${min}); got ${max}`);

  const targets: Partial<Record<AutoscaleMetric, number>> = {};
  for (const metric of AUTOSCALE_METRICS) {
    const target = fields.get(metric);
    if (target === undefined) continue;
    if (typeof target !== 'number' || !Number.isFinite(target) || target <= 0 || target > MAX_TARGET) {
      throw new UsageError(`${at(keyOf(metric))} must be a target above 0 (${describe(metric)}); got ${JSON.stringify(target)}`);
    }
    targets[metric] = target;
  }
  if (Object.keys(targets).length === 0) {
    throw new UsageError(`${at()} needs a target: cpu (% of one core per worker), rps (requests/s per worker) or inflight (requests in flight per worker)`);
  }

  const durations: Record<string, number> = { ...AUTOSCALE_DEFAULTS };
  for (const [key, field] of Object.entries(DURATIONS)) {
    const text = fields.get(key);
    if (text === undefined) continue;
    const ms = typeof text === 'string' || typeof text === 'number' ? parseDuration(text) : undefined;
    const [least, most] = key === 'period' ? [MIN_PERIOD_MS, MAX_PERIOD_MS] : [0, MAX_WINDOW_MS];
    if (ms === undefined || ms < least || ms > most) {
      throw new UsageError(`${at(keyOf(key))} must be a duration from ${least}ms to ${most / 60_000}m, e.g. 15s or 5m (got ${JSON.stringify(text)})`);
    }
    durations[field] = ms;
  }
  return Object.freeze({
    min, max, ...targets,
    periodMs: durations['periodMs'] as number,
    scaleUpWindowMs: durations['scaleUpWindowMs'] as number,
    scaleDownWindowMs: durations['scaleDownWindowMs'] as number,
  });
}

function describe(metric: AutoscaleMetric): string {
  if (metric === 'cpu') return '% of one core per worker';
  return metric === 'rps' ? 'requests per second per worker' : 'requests in flight per worker';
}
