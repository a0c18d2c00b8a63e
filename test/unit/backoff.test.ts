import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextRestart } from '../../src/core/backoff.js';

describe('restart backoff', () => {
  it('doubles from 100 ms and caps at 30 s', () => {
    const delays: number[] = [];
    let streak = 0;
    for (let i = 0; i < 12; i++) {
      const step = nextRestart(streak, 50);
      delays.push(step.delayMs);
      streak = step.streak;
    }
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('resets after a worker stayed up 30 s', () => {
    assert.deepEqual(nextRestart(8, 30_000), { delayMs: 100, streak: 1 });
    assert.deepEqual(nextRestart(8, 29_999), { delayMs: 25_600, streak: 9 });
  });

  it('keeps a crash loop bounded: at most 7 starts in the first 6 s', () => {
    let elapsed = 0;
    let starts = 1;
    let streak = 0;
    for (;;) {
      const step = nextRestart(streak, 0);
      streak = step.streak;
      elapsed += step.delayMs;
      if (elapsed > 6000) break;
      starts++;
    }
    assert.equal(starts, 6);
  });
});
