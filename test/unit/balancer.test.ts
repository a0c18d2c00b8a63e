import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBalancer, type Balancer } from '../../src/core/balancer.js';
import type { BalancePolicy } from '../../src/core/types.js';

function withBackends(policy: BalancePolicy, weights: Record<number, number>): Balancer {
  const balancer = createBalancer(policy);
  for (const [id, weight] of Object.entries(weights)) balancer.add(Number(id), weight);
  return balancer;
}

function picks(balancer: Balancer, count: number, exclude?: ReadonlySet<number>): Array<number | undefined> {
  return Array.from({ length: count }, () => balancer.pick(exclude));
}

function spread(sequence: Array<number | undefined>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of sequence) counts[String(id)] = (counts[String(id)] ?? 0) + 1;
  return counts;
}

const POLICIES: BalancePolicy[] = ['round-robin', 'weighted-round-robin', 'least-conn'];

describe('balancer: every policy', () => {
  for (const policy of POLICIES) {
    describe(policy, () => {
      it('picks nothing when empty, or when every backend is excluded', () => {
        const balancer = createBalancer(policy);
        assert.equal(balancer.pick(), undefined);
        balancer.add(1);
        balancer.add(2);
        assert.equal(balancer.pick(new Set([1, 2])), undefined);
      });

      it('spreads equal backends evenly', () => {
        const balancer = withBackends(policy, { 1: 1, 2: 1, 3: 1 });
        assert.deepEqual(spread(picks(balancer, 300)), { 1: 100, 2: 100, 3: 100 });
      });

      it('skips excluded backends, as a retry after a failed connect does', () => {
        const balancer = withBackends(policy, { 1: 1, 2: 1, 3: 1 });
        const sequence = picks(balancer, 10, new Set([2]));
        assert.ok(!sequence.includes(2));
        assert.deepEqual(spread(sequence), { 1: 5, 3: 5 });
      });

      it('tracks membership: add is idempotent, remove takes a backend out', () => {
        const balancer = createBalancer(policy);
        balancer.add(7);
        balancer.add(7);
        balancer.add(8);
        assert.equal(balancer.size, 2);
        assert.ok(balancer.has(7));
        balancer.remove(7);
        balancer.remove(7);
        assert.equal(balancer.size, 1);
        assert.ok(!balancer.has(7));
        assert.deepEqual(picks(balancer, 3), [8, 8, 8]);
      });

      it('keeps rotating when backends come and go between picks', () => {
        const balancer = withBackends(policy, { 1: 1, 2: 1, 3: 1 });
        balancer.pick();
        balancer.remove(2);
        balancer.add(4);
        const sequence = picks(balancer, 30);
        assert.ok(!sequence.includes(2));
        assert.deepEqual(spread(sequence), { 1: 10, 3: 10, 4: 10 });
        balancer.remove(1);
        balancer.remove(3);
        balancer.remove(4);
        assert.equal(balancer.pick(), undefined);
      });

      it('rejects a weight that is not a positive number', () => {
        const balancer = createBalancer(policy);
        assert.throws(() => balancer.add(1, 0), /backend 1: weight must be a positive number, got 0/);
        assert.throws(() => balancer.add(1, Number.NaN), /weight must be a positive number/);
      });
    });
  }

  it('names the allowed policies when given an unknown one', () => {
    assert.throws(() => createBalancer('random' as BalancePolicy), /unknown balance policy "random": expected one of round-robin, weighted-round-robin, least-conn/);
  });
});

describe('balancer: round-robin', () => {
  it('goes around in order', () => {
    assert.deepEqual(picks(withBackends('round-robin', { 1: 1, 2: 1, 3: 1 }), 7), [1, 2, 3, 1, 2, 3, 1]);
  });

  it('continues with the backend that was next when the current one is removed', () => {
    const balancer = withBackends('round-robin', { 1: 1, 2: 1, 3: 1 });
    assert.deepEqual(picks(balancer, 2), [1, 2]);
    balancer.remove(2);
    assert.deepEqual(picks(balancer, 3), [3, 1, 3]);
  });

  it('continues in order when a backend before the cursor is removed', () => {
    const balancer = withBackends('round-robin', { 1: 1, 2: 1, 3: 1 });
    assert.deepEqual(picks(balancer, 2), [1, 2]);
    balancer.remove(1);
    assert.deepEqual(picks(balancer, 3), [3, 2, 3]);
  });

  it('a retry skips the failed backend without disturbing the rotation', () => {
    const balancer = withBackends('round-robin', { 1: 1, 2: 1, 3: 1 });
    assert.equal(balancer.pick(), 1);
    assert.equal(balancer.pick(), 2); // say 2 refuses…
    assert.equal(balancer.pick(new Set([2])), 3); // …the retry goes to 3
    assert.equal(balancer.pick(), 1);
  });
});

describe('balancer: smooth weighted round-robin', () => {
  it('interleaves weights 5,1,1 as nginx does: a a b a c a a', () => {
    const balancer = withBackends('weighted-round-robin', { 1: 5, 2: 1, 3: 1 });
    const letters = picks(balancer, 14).map((id) => ' abc'[id as number]);
    assert.equal(letters.join(' '), 'a a b a c a a a a b a c a a');
  });

  it('sends traffic in proportion to the weights', () => {
    const balancer = withBackends('weighted-round-robin', { 1: 3, 2: 2, 3: 1 });
    assert.deepEqual(spread(picks(balancer, 600)), { 1: 300, 2: 200, 3: 100 });
  });

  it('takes a new weight when a backend is added again', () => {
    const balancer = withBackends('weighted-round-robin', { 1: 1, 2: 1 });
    balancer.add(2, 3);
    assert.deepEqual(spread(picks(balancer, 400)), { 1: 100, 2: 300 });
  });

  it('shares an excluded backend\'s turns among the others', () => {
    const balancer = withBackends('weighted-round-robin', { 1: 5, 2: 1, 3: 1 });
    assert.deepEqual(spread(picks(balancer, 70, new Set([1]))), { 2: 35, 3: 35 });
  });
});

describe('balancer: least-conn', () => {
  it('picks the backend with the fewest open connections', () => {
    const balancer = withBackends('least-conn', { 1: 1, 2: 1, 3: 1 });
    balancer.acquire(1);
    balancer.acquire(1);
    balancer.acquire(2);
    assert.equal(balancer.pick(), 3);
    balancer.acquire(3);
    balancer.acquire(3);
    assert.equal(balancer.pick(), 2);
    balancer.release(1);
    balancer.release(1);
    assert.equal(balancer.pick(), 1);
  });

  it('breaks ties round-robin instead of always choosing the first', () => {
    assert.deepEqual(picks(withBackends('least-conn', { 1: 1, 2: 1, 3: 1 }), 6), [1, 2, 3, 1, 2, 3]);
  });

  it('keeps open connections balanced when each pick holds a connection', () => {
    const balancer = withBackends('least-conn', { 1: 1, 2: 1 });
    const open: number[] = [];
    for (let i = 0; i < 10; i++) {
      const id = balancer.pick() as number;
      balancer.acquire(id);
      open.push(id);
    }
    // Backend 1's connections end; the next five go to it.
    for (const id of open.filter((id) => id === 1)) balancer.release(id);
    assert.deepEqual(picks(balancer, 1), [1]);
    assert.deepEqual(spread(open), { 1: 5, 2: 5 });
  });

  it('weighs connections: a backend of weight 2 takes twice as many', () => {
    const balancer = withBackends('least-conn', { 1: 2, 2: 1 });
    const counts: Record<number, number> = { 1: 0, 2: 0 };
    for (let i = 0; i < 9; i++) {
      const id = balancer.pick() as number;
      balancer.acquire(id);
      counts[id] = (counts[id] ?? 0) + 1;
    }
    assert.deepEqual(counts, { 1: 6, 2: 3 });
  });

  it('skips an excluded backend even when it is the least loaded', () => {
    const balancer = withBackends('least-conn', { 1: 1, 2: 1 });
    balancer.acquire(2);
    assert.equal(balancer.pick(new Set([1])), 2);
  });

  it('still counts the connections of a backend removed and added back before they ended', () => {
    const balancer = withBackends('least-conn', { 1: 1, 2: 1 });
    balancer.acquire(1);
    balancer.acquire(1);
    balancer.remove(1);
    balancer.add(1);
    balancer.acquire(2);
    assert.equal(balancer.pick(), 2, 'backend 1 still has 2 connections');
    balancer.release(1);
    balancer.release(1);
    assert.equal(balancer.pick(), 1);
  });

  it('ignores releases of unknown backends', () => {
    const balancer = withBackends('least-conn', { 1: 1 });
    balancer.release(99);
    balancer.release(1);
    assert.equal(balancer.pick(), 1);
  });
});

describe('balancer: p2c (power of two choices)', () => {
  /** A fixed sequence of "random" numbers, so that the choices are known. */
  const sequence = (...values: number[]) => {
    let index = 0;
    return () => values[index++ % values.length] as number;
  };

  it('takes the less loaded of the two it draws', () => {
    const balancer = createBalancer('p2c', sequence(0, 0)); // draws backends 1 and 2
    for (const id of [1, 2, 3]) balancer.add(id);
    balancer.acquire(1);
    balancer.acquire(1);
    assert.equal(balancer.pick(), 2);
    balancer.acquire(2);
    balancer.acquire(2);
    balancer.acquire(2);
    assert.equal(balancer.pick(), 1);
  });

  it('compares load per weight', () => {
    const balancer = createBalancer('p2c', sequence(0, 0));
    balancer.add(1, 4);
    balancer.add(2, 1);
    for (let i = 0; i < 3; i++) balancer.acquire(1); // 3/4 < 1/1
    balancer.acquire(2);
    assert.equal(balancer.pick(), 1);
  });

  it('never draws an excluded backend, and picks the only one left', () => {
    const balancer = createBalancer('p2c');
    for (const id of [1, 2, 3]) balancer.add(id);
    for (let i = 0; i < 50; i++) assert.notEqual(balancer.pick(new Set([2])), 2);
    assert.equal(balancer.pick(new Set([1, 2])), 3);
    assert.equal(balancer.pick(new Set([1, 2, 3])), undefined);
  });

  it('with real randomness and connections held, keeps the load level (random alone would spread ~20 apart)', () => {
    const balancer = createBalancer('p2c');
    for (const id of [1, 2, 3, 4]) balancer.add(id);
    const counts = spread(picks({ ...balancer, pick: () => { const id = balancer.pick() as number; balancer.acquire(id); return id; } } as Balancer, 400));
    const loads = Object.values(counts);
    assert.equal(loads.length, 4);
    // Simulated 200,000 times: p2c's spread exceeds 4 in 0.23 % of runs (it failed CI once at 5) and 7 in none; random
    // picks stay within 7 in 5 % of runs. So 7: a broken p2c fails 19 times in 20, a sound one never.
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 7, JSON.stringify(counts));
  });
});
