import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffCap, nextRestart } from '../../src/core/backoff.js';

describe('restart backoff', () => {
  it('the cap doubles from 100 ms and stops at 30 s', () => {
    const caps: number[] = [];
    let streak = 0;
    for (let i = 0; i < 12; i++) {
      const step = nextRestart(streak, 50);
      caps.push(step.capMs);
      streak = step.streak;
    }
    assert.deepEqual(caps, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('full jitter: the delay is uniform in (0, cap], drawn from the random source', () => {
    assert.equal(nextRestart(3, 0, undefined, () => 0.999999).delayMs, 800);
    assert.equal(nextRestart(3, 0, undefined, () => 0.5).delayMs, 400);
    assert.equal(nextRestart(3, 0, undefined, () => 0).delayMs, 1, 'never 0');
    // Slots failing together draw different delays: not lockstep.
    const delays = new Set(Array.from({ length: 20 }, () => nextRestart(5, 0).delayMs));
    assert.ok(delays.size > 10, `${delays.size} distinct delays of 20`);
    for (const delay of delays) assert.ok(delay >= 1 && delay <= 3200);
  });

  it('--restart-delay and --max-restart-delay set the first cap and the ceiling', () => {
    const policy = { initialMs: 1000, maxMs: 5000 };
    assert.deepEqual([0, 1, 2, 3, 9].map((streak) => backoffCap(streak, policy)), [1000, 2000, 4000, 5000, 5000]);
  });

  it('resets after a worker stayed up 30 s', () => {
    assert.deepEqual(nextRestart(8, 30_000, undefined, () => 1), { delayMs: 100, capMs: 100, streak: 1 });
    assert.deepEqual(nextRestart(8, 29_999, undefined, () => 1), { delayMs: 25_600, capMs: 25_600, streak: 9 });
  });
});
