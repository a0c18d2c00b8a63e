import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHealthTracker, type HealthTransition } from '../../src/core/health-tracker.js';

/** 'P' = passing probe, 'F' = failing probe, 'X' = passive failure (refused connect). */
function replay(results: string, healthyThreshold: number, unhealthyThreshold: number) {
  const tracker = createHealthTracker({ healthyThreshold, unhealthyThreshold });
  const transitions: HealthTransition[] = [];
  [...results].forEach((r, t) => {
    transitions.push(r === 'X' ? tracker.failNow(t) : tracker.record(r === 'P', t));
  });
  return { tracker, transitions };
}

/** Index of each transition in the result string: e.g. ['2:down', '4:up']. */
function changes(transitions: readonly HealthTransition[]): string[] {
  return transitions.flatMap((t, i) => (t === undefined ? [] : [`${i}:${t === 'became-healthy' ? 'up' : 'down'}`]));
}

describe('health tracker: rise and fall thresholds', () => {
  const table: Array<{ name: string; results: string; rise: number; fall: number; expect: string[]; healthy: boolean }> = [
    { name: 'starts healthy and stays so while probes pass', results: 'PPPP', rise: 2, fall: 3, expect: [], healthy: true },
    { name: 'leaves after `fall` consecutive failures', results: 'FFF', rise: 2, fall: 3, expect: ['2:down'], healthy: false },
    { name: 'a pass between failures resets the fall count', results: 'FFPFFP', rise: 2, fall: 3, expect: [], healthy: true },
    { name: 'returns after `rise` consecutive passes', results: 'FFFPP', rise: 2, fall: 3, expect: ['2:down', '4:up'], healthy: true },
    { name: 'a failure between passes resets the rise count', results: 'FFFPFPFP', rise: 2, fall: 3, expect: ['2:down'], healthy: false },
    { name: 'thresholds of 1 flip on every change', results: 'FPFP', rise: 1, fall: 1, expect: ['0:down', '1:up', '2:down', '3:up'], healthy: true },
    { name: 'further failures while unhealthy report nothing', results: 'FFFFFF', rise: 2, fall: 3, expect: ['2:down'], healthy: false },
    { name: 'passive failure ejects at once, ignoring the fall threshold', results: 'PX', rise: 2, fall: 3, expect: ['1:down'], healthy: false },
    { name: 'passive failure while recovering restarts the rise count', results: 'XPXPP', rise: 2, fall: 3, expect: ['0:down', '4:up'], healthy: true },
    { name: 'passive failure while already unhealthy reports nothing new', results: 'FFFX', rise: 2, fall: 3, expect: ['2:down'], healthy: false },
  ];
  for (const row of table) {
    test(row.name, () => {
      const { tracker, transitions } = replay(row.results, row.rise, row.fall);
      assert.deepEqual(changes(transitions), row.expect);
      assert.equal(tracker.healthy, row.healthy);
    });
  }
});

describe('health tracker: how long a target has been out of rotation', () => {
  test('counts from the moment it was ejected, not from the first failure', () => {
    const tracker = createHealthTracker({ healthyThreshold: 2, unhealthyThreshold: 3 });
    tracker.record(false, 1000);
    tracker.record(false, 2000);
    assert.equal(tracker.unhealthyForMs(2500), 0, 'still healthy before the threshold');
    tracker.record(false, 3000);
    assert.equal(tracker.unhealthySinceMs, 3000);
    assert.equal(tracker.unhealthyForMs(33_000), 30_000);
  });

  test('passes short of the rise threshold do not reset the outage clock', () => {
    const tracker = createHealthTracker({ healthyThreshold: 3, unhealthyThreshold: 1 });
    tracker.record(false, 0);
    tracker.record(true, 100);
    tracker.record(true, 200);
    tracker.record(false, 300);
    assert.equal(tracker.unhealthyForMs(10_000), 10_000, 'a flapping target is still out since t=0');
  });

  test('returning to rotation clears the outage', () => {
    const tracker = createHealthTracker({ healthyThreshold: 1, unhealthyThreshold: 1 });
    tracker.failNow(0);
    assert.equal(tracker.unhealthyForMs(500), 500);
    assert.equal(tracker.record(true, 600), 'became-healthy');
    assert.equal(tracker.unhealthySinceMs, undefined);
    assert.equal(tracker.unhealthyForMs(10_000), 0);
  });
});

describe('health tracker: configuration', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    test(`rejects threshold ${bad}`, () => {
      assert.throws(() => createHealthTracker({ healthyThreshold: bad, unhealthyThreshold: 1 }), /healthyThreshold must be an integer >= 1/);
      assert.throws(() => createHealthTracker({ healthyThreshold: 1, unhealthyThreshold: bad }), /unhealthyThreshold must be an integer >= 1/);
    });
  }
});
