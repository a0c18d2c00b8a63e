import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import { createProcStat, createUsageSampler, overMemoryLimit, type BatchStat, type UsageSamples } from '../../src/health/usage.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A child node process; `busy` spins a core. Killed after the test. */
function startChild(busy: boolean): ChildProcess & { pid: number } {
  const code = busy ? 'for (;;) {}' : 'setInterval(() => {}, 1000)';
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  assert.ok(child.pid !== undefined);
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return child as ChildProcess & { pid: number };
}

/** A pid that existed and is gone (exited and reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

/** A sampler required to sample every `intervalMs` (50 by default). */
function startSampler(pids: () => number[], extra: { stat?: BatchStat; intervalMs?: number } = {}) {
  const rounds: UsageSamples[] = [];
  const sampler = createUsageSampler({ pids, onSample: (s) => rounds.push(s), ...(extra.stat ? { stat: extra.stat } : {}) });
  sampler.requireSampling(extra.intervalMs ?? 50);
  cleanups.push(() => sampler.close());
  return { sampler, rounds };
}

describe('usage sampler', () => {
  test('samples this process and a busy child: memory in bytes, cpu in percent', async () => {
    const child = startChild(true);
    const { rounds } = startSampler(() => [process.pid, child.pid]);
    const last = await waitFor(
      () => {
        const samples = rounds.at(-1);
        return samples && (samples.get(child.pid)?.cpu ?? 0) > 20 ? samples : undefined;
      },
      { message: 'a sample showing the busy child using CPU' },
    );
    const self = last.get(process.pid);
    assert.ok(self !== undefined);
    // RSS of a node process: tens of MB, well below a few GB.
    assert.ok(self.memory > 10 * 2 ** 20 && self.memory < 4 * 2 ** 30, `memory ${self.memory}`);
    assert.ok((last.get(child.pid)?.memory ?? 0) > 10 * 2 ** 20);
  });

  test('a dead pid in the batch does not break sampling of the others', async () => {
    const child = startChild(false);
    const gone = await deadPid();
    const { rounds } = startSampler(() => [gone, process.pid, child.pid]);
    const samples = await waitFor(() => rounds[1], { message: 'two sampling rounds' });
    assert.deepEqual([...samples.keys()].sort(), [process.pid, child.pid].sort());
  });

  test('a worker that dies between rounds drops out of the samples', async () => {
    const child = startChild(false);
    const { rounds } = startSampler(() => [process.pid, child.pid]);
    await waitFor(() => rounds.at(-1)?.has(child.pid), { message: 'the child to be sampled' });
    child.kill('SIGKILL');
    await once(child, 'exit');
    await waitFor(() => {
      const latest = rounds.at(-1);
      return latest && !latest.has(child.pid) && latest.has(process.pid);
    }, { message: 'a round without the dead child' });
  });

  test('the /proc reader: a busy child uses CPU, an idle one (next to it) less; RSS in bytes', async () => {
    const busy = startChild(true);
    const idle = startChild(false);
    const stat = createProcStat();
    await stat([busy.pid, idle.pid]);
    // On a loaded machine the busy child gets less than a core: compare, do not expect 100 %.
    const reading = await waitFor(async () => {
      await delay(200);
      const stats = await stat([busy.pid, idle.pid]);
      const [hot, cold] = [stats[String(busy.pid)]?.cpu ?? 0, stats[String(idle.pid)]?.cpu ?? 100];
      return hot > 5 && hot > cold ? stats : undefined;
    }, { message: 'a reading where the busy child uses more CPU than the idle one' });
    const memory = reading[String(idle.pid)]?.memory ?? 0;
    assert.ok(memory > 10 * 2 ** 20 && memory < 4 * 2 ** 30, `memory ${memory}`);
  });

  test('when the batch is rejected (ps on macOS), pids are retried one by one', async () => {
    const calls: number[][] = [];
    const stat: BatchStat = async (pids) => {
      calls.push([...pids]);
      if (pids.includes(999_999)) throw new Error('No matching pid found');
      return Object.fromEntries(pids.map((pid) => [String(pid), { cpu: 1, memory: pid }]));
    };
    const { rounds } = startSampler(() => [10, 999_999, 20], { stat });
    const samples = await waitFor(() => rounds[0], { message: 'a round' });
    assert.deepEqual([...samples.entries()], [[10, { cpu: 1, memory: 10 }], [20, { cpu: 1, memory: 20 }]]);
    assert.deepEqual(calls.slice(0, 4), [[10, 999_999, 20], [10], [999_999], [20]]);
  });

  test('one batched call per round, never overlapping, none after close', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const slowStat: BatchStat = async (pids) => {
      calls += 1;
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await delay(60); // slower than the interval
      running -= 1;
      return Object.fromEntries(pids.map((pid) => [String(pid), { cpu: 0, memory: 1 }]));
    };
    const { sampler, rounds } = startSampler(() => [1, 2, 3], { stat: slowStat, intervalMs: 10 });
    await Promise.all([sampler.sampleNow(), sampler.sampleNow()]);
    await waitFor(() => rounds.length >= 4, { message: 'four rounds' });
    assert.equal(maxRunning, 1);
    assert.equal(calls, rounds.length + running, 'one call per round for all three pids');
    sampler.close();
    const roundsAtClose = rounds.length;
    await delay(150);
    assert.equal(rounds.length, roundsAtClose, 'no sample reported after close');
  });

  test('no pids: an empty round, no pidusage call', async () => {
    let calls = 0;
    const { rounds } = startSampler(() => [], { stat: async () => (calls++, {}) });
    await waitFor(() => rounds.length >= 2, { message: 'two rounds' });
    assert.equal(rounds[0]?.size, 0);
    assert.equal(calls, 0);
  });
});

describe('usage sampler: only as often as someone looks or a consumer requires', () => {
  function counting() {
    const calls: number[][] = [];
    const stat: BatchStat = async (pids) => {
      calls.push([...pids]);
      return Object.fromEntries(pids.map((pid) => [String(pid), { cpu: calls.length, memory: pid }]));
    };
    return { calls, stat };
  }

  test('nothing is read until asked; fresh() answers from a sample younger than maxAgeMs, then reads again', async () => {
    const { calls, stat } = counting();
    let clock = 1_000;
    const rounds: UsageSamples[] = [];
    const sampler = createUsageSampler({ pids: () => [7, 8], onSample: (s) => rounds.push(s), stat, maxAgeMs: 1000, now: () => clock });
    cleanups.push(() => sampler.close());
    await delay(100);
    assert.equal(calls.length, 0, 'no round before anyone asks');
    const first = await sampler.fresh();
    assert.deepEqual([...first.entries()], [[7, { cpu: 1, memory: 7 }], [8, { cpu: 1, memory: 8 }]]);
    clock += 1000;
    assert.equal(await sampler.fresh(), first, 'a sample 1000 ms old is still fresh');
    assert.equal(calls.length, 1);
    clock += 1;
    const second = await sampler.fresh();
    assert.equal(calls.length, 2, 'an older sample is read again');
    assert.equal(second.get(7)?.cpu, 2);
    assert.equal(rounds.length, 2, 'every round reaches onSample (workers, --max-memory)');
  });

  test('requireSampling: rounds at the shortest period held, none once every requirement is released', async () => {
    const { calls, stat } = counting();
    const sampler = createUsageSampler({ pids: () => [1], onSample: () => undefined, stat });
    cleanups.push(() => sampler.close());
    const releaseSlow = sampler.requireSampling(60_000);
    await waitFor(() => calls.length >= 1, { message: 'the first required round' });
    await delay(150);
    assert.equal(calls.length, 1, 'a 60 s period: one round so far');
    const releaseFast = sampler.requireSampling(20);
    await waitFor(() => calls.length >= 4, { message: 'rounds every 20 ms' });
    releaseFast();
    releaseFast(); // twice is harmless
    const afterFast = calls.length;
    await delay(150);
    assert.ok(calls.length <= afterFast + 1, `back to the 60 s period (${calls.length - afterFast} more rounds)`);
    releaseSlow();
    const afterAll = calls.length;
    await delay(150);
    assert.equal(calls.length, afterAll, 'no round once nobody requires sampling');
  });

  test('a period that is not a positive number is refused', () => {
    const sampler = createUsageSampler({ pids: () => [], onSample: () => undefined, stat: async () => ({}) });
    cleanups.push(() => sampler.close());
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => sampler.requireSampling(bad), /period must be a positive number of ms/);
    }
  });
});

describe('overMemoryLimit', () => {
  const samples = new Map([
    [300, { cpu: 0, memory: 600 * 2 ** 20 }],
    [100, { cpu: 0, memory: 512 * 2 ** 20 }],
    [200, { cpu: 0, memory: 513 * 2 ** 20 }],
  ]);
  const table: Array<[limit: number, expected: number[]]> = [
    [512 * 2 ** 20, [200, 300]], // exactly at the limit is still allowed
    [2 ** 30, []],
    [0, [100, 200, 300]],
  ];
  for (const [limit, expected] of table) {
    test(`limit ${limit} bytes -> ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(overMemoryLimit(samples, limit), expected);
    });
  }
});
