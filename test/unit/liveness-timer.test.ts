import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { everyPeriod } from '../../src/health/liveness.js';
import { delay, waitFor } from '../helpers/wait-for.js';

describe("liveness checks share one timer per period", () => {
  test('100 checks: one interval timer, each check about once per period, none after removal', async () => {
    const realSetInterval = globalThis.setInterval;
    let timersCreated = 0;
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
      timersCreated += 1;
      return realSetInterval(...args);
    }) as typeof setInterval;
    const runs = new Array<number>(100).fill(0);
    let removals: Array<() => void> = [];
    try {
      removals = runs.map((_, index) => everyPeriod(80, () => {
        runs[index] = (runs[index] ?? 0) + 1;
      }));
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    assert.equal(timersCreated, 1, 'one timer for the 100 checks');
    await waitFor(() => runs.every((count) => count >= 3), { message: 'every check run three times' });
    // Spread over the period, each check still runs once per period: never twice as often as another.
    const [fewest, most] = [Math.min(...runs), Math.max(...runs)];
    assert.ok(most - fewest <= 1, `runs per check from ${fewest} to ${most}`);
    for (const remove of removals) remove();
    const after = [...runs];
    await delay(250);
    assert.deepEqual(runs, after, 'no check runs after its removal');
  });
});
