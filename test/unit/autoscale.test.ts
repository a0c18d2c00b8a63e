// The autoscaler's policy against the Kubernetes HPA documentation's statements
// and examples (Horizontal Pod Autoscaling: "Algorithm details", "Configurable
// scaling behavior", "Default behavior"), on a mocked clock.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monotonicTotal } from '../../src/supervisor/autoscaler.js';
import { decide, INITIAL_STATE, recommend, type AutoscalePolicy, type AutoscaleState, type MetricReading } from '../../src/core/autoscale.js';

const POLICY: AutoscalePolicy = {
  min: 1, max: 100, targets: { cpu: 100 }, periodMs: 15_000, scaleUpWindowMs: 0, scaleDownWindowMs: 300_000,
};

/** `n` ready workers each at `value`. */
const even = (n: number, value: number): MetricReading => ({ sum: n * value, measured: n, missing: 0, unready: 0 });

describe('autoscale: one metric (replica_calculator)', () => {
  const rows: Array<[string, number, MetricReading, number, number | undefined]> = [
    // [what the documentation says, current, reading, target, recommendation]
    ['200m for a 100m target: double', 3, even(3, 200), 100, 6],
    ['50m for a 100m target: halve', 4, even(4, 50), 100, 2],
    ['ratio 1.1 is within the 10 % tolerance: no change', 4, even(4, 110), 100, 4],
    ['ratio 0.9 is within the tolerance: no change', 4, even(4, 90), 100, 4],
    ['ratio 1.11 is outside it: ceil(4 × 1.11) = 5', 4, even(4, 111), 100, 5],
    ['the average, not each worker: 30 + 170 over 2 at target 50 → 4', 2, { sum: 200, measured: 2, missing: 0, unready: 0 }, 50, 4],
    ['no measurement at all: no recommendation', 2, { sum: 0, measured: 0, missing: 2, unready: 0 }, 50, undefined],
    // Unready pods: left out, then counted as 0 when the others would scale up.
    ['a starting worker damps a scale-up: 2 × 60 % + 2 starting at 50 % → reversed, no change', 4, { sum: 120, measured: 2, missing: 0, unready: 2 }, 50, 4],
    ['a starting worker damps but does not cancel: 2 × 200 % + 1 starting at 50 % → ceil(3 × 400/3/50) = 8', 3, { sum: 400, measured: 2, missing: 0, unready: 1 }, 50, 8],
    ['starting workers are ignored for a scale-down: 2 × 10 % + 2 starting → ceil(2 × 0.2) = 1', 4, { sum: 20, measured: 2, missing: 0, unready: 2 }, 50, 1],
    // Missing metrics: the target when scaling down, 0 when scaling up.
    ['a missing measurement holds a scale-down back: 1 × 10 % + 1 missing at 50 % → 60/2/50 = 0.6 → 2', 2, { sum: 10, measured: 1, missing: 1, unready: 0 }, 50, 2],
    ['a missing measurement damps a scale-up: 1 × 100 % + 1 missing at 50 % → ratio 1.0, no change', 2, { sum: 100, measured: 1, missing: 1, unready: 0 }, 50, 2],
  ];
  for (const [what, current, reading, target, expected] of rows) {
    it(what, () => assert.equal(recommend(current, reading, target), expected));
  }
});

/** Runs decisions at the given seconds; returns the worker count after each. */
function run(policy: AutoscalePolicy, start: number, steps: Array<[number, number]>): number[] {
  let state: AutoscaleState = INITIAL_STATE;
  let current = start;
  const counts: number[] = [];
  for (const [second, value] of steps) {
    const result = decide(policy, state, { nowMs: second * 1000, current, readings: { cpu: even(current, value) }, reloading: false });
    state = result.state;
    current = result.decision?.to ?? current;
    counts.push(current);
  }
  return counts;
}

describe('autoscale: behavior (stabilization, rate, bounds)', () => {
  it('scale-up is immediate (window 0 s); scale-down takes the highest recommendation of the last 300 s', () => {
    // 2 workers at 200 % → 4 at once; then the load halves (4 × 50 % → 2), which waits 300 s.
    const counts = run(POLICY, 2, [[0, 200], [15, 50], [150, 50], [299, 50], [301, 50], [316, 100]]);
    assert.deepEqual(counts, [4, 4, 4, 4, 2, 2]);
  });

  it('a short dip inside the window does not scale down (no flapping)', () => {
    const counts = run(POLICY, 4, [[0, 100], [15, 20], [30, 100], [45, 20], [60, 100]]);
    assert.deepEqual(counts, [4, 4, 4, 4, 4]);
  });

  it('the highest recommendation of the window wins, not the latest', () => {
    // 8 → recommendations 8 (t0), 6 (t100), 2 (t200): at t320 the window holds 6 and 2 → 6; at t420 only 2 → 2.
    const policy = { ...POLICY, max: 8 };
    const counts = run(policy, 8, [[0, 100], [100, 75], [200, 25], [320, 25], [420, 25]]);
    assert.deepEqual(counts, [8, 8, 8, 6, 2]);
  });

  it('a scale-up window takes the lowest recommendation within it', () => {
    const policy = { ...POLICY, scaleUpWindowMs: 60_000 };
    // 2 at 100 % (recommends 2), then at 300 % (recommends 6): held at 2 until the 2 leaves the window.
    const counts = run(policy, 2, [[0, 100], [15, 300], [61, 300]]);
    assert.deepEqual(counts, [2, 2, 6]);
  });

  it('default scale-up policies: at most +100 % or +4 workers per period, whichever is more', () => {
    assert.deepEqual(run(POLICY, 1, [[0, 1000]]), [5], '1 → 5: +4 beats doubling');
    assert.deepEqual(run(POLICY, 10, [[0, 1000]]), [20], '10 → 20: doubling beats +4');
    assert.deepEqual(run(POLICY, 10, [[0, 1000], [15, 1000], [30, 1000]]), [20, 40, 80]);
  });

  it('min and max bound the result; a count outside them moves to the bound at once', () => {
    const policy = { ...POLICY, min: 2, max: 6, scaleDownWindowMs: 0 };
    assert.deepEqual(run(policy, 4, [[0, 1000]]), [6], 'capped at max');
    assert.deepEqual(run(policy, 4, [[0, 1]]), [2], 'kept at min');
    assert.deepEqual(run(policy, 9, [[0, 100]]), [6], 'above max');
    assert.deepEqual(run(policy, 1, [[0, 100]]), [2], 'below min');
  });

  it('no decision while a rolling reload runs, and none without a measurement', () => {
    const reading = { cpu: even(2, 500) };
    assert.equal(decide(POLICY, INITIAL_STATE, { nowMs: 0, current: 2, readings: reading, reloading: true }).decision, undefined);
    assert.equal(decide(POLICY, INITIAL_STATE, { nowMs: 0, current: 2, readings: {}, reloading: false }).decision, undefined);
  });

  it('several metrics: the largest recommendation wins, and the reason names it', () => {
    const policy = { ...POLICY, targets: { cpu: 50, rps: 100, inflight: 8 } };
    const readings = { cpu: even(2, 25), rps: even(2, 300), inflight: even(2, 8) };
    const { decision } = decide(policy, INITIAL_STATE, { nowMs: 0, current: 2, readings, reloading: false });
    assert.equal(decision?.to, 6);
    assert.match(decision?.reason ?? '', /^rps 300 req\/s for target 100 req\/s: recommends 6/);
    assert.deepEqual(decision?.metrics.map((m) => [m.metric, m.recommendation]), [['cpu', 1], ['rps', 6], ['inflight', 2]]);
  });

  it('the reason says what held or limited the step', () => {
    const policy = { ...POLICY, max: 4 };
    const up = decide(policy, INITIAL_STATE, { nowMs: 0, current: 1, readings: { cpu: even(1, 900) }, reloading: false }).decision;
    assert.match(up?.reason ?? '', /recommends 9; limited to 5 .*; capped at max 4/);
    const first = decide(policy, INITIAL_STATE, { nowMs: 0, current: 4, readings: { cpu: even(4, 100) }, reloading: false });
    const down = decide(policy, first.state, { nowMs: 15_000, current: 4, readings: { cpu: even(4, 10) }, reloading: false }).decision;
    assert.equal(down?.to, 4);
    assert.match(down?.reason ?? '', /recommends 1; held at 4 by the scale-down window \(300s\)/);
  });
});

describe('autoscale: counters that come and go', () => {
  it('monotonicTotal adds each worker\'s growth; a new worker adds its count; a gone one takes nothing back', () => {
    let counts: Array<readonly [number, number]> = [[1, 10], [2, 5]];
    const total = monotonicTotal(() => counts);
    assert.equal(total(), 15);
    counts = [[1, 12], [2, 9]];
    assert.equal(total(), 21);
    counts = [[2, 10], [3, 4]]; // worker 1 retired, worker 3 started
    assert.equal(total(), 26);
  });
});
