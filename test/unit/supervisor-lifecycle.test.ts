// The supervisor's lifecycle over a fake launcher (milliseconds, no processes):
// backoff delays as claimed, jitter, --max-failed-starts, the stop budget, hung
// workers replaced.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createFakeLauncher, fakeSupervisor, testConfig } from '../helpers/fake-launcher.js';
import { waitFor } from '../helpers/wait-for.js';
import type { Supervisor } from '../../src/supervisor/supervisor.js';

let current: Supervisor | undefined;
afterEach(async () => {
  await current?.shutdown();
  current = undefined;
});

/** Let real immediates run and mocked time advance 1 ms at a time until `done` (at most 5 s of mocked time). */
async function pump(t: { mock: { timers: { tick(ms: number): void } } }, done: () => boolean): Promise<void> {
  for (let ms = 0; ms < 5000 && !done(); ms++) {
    await new Promise((resolve) => setImmediate(resolve));
    t.mock.timers.tick(1);
  }
  assert.ok(done(), 'reached within 5 s of mocked time');
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

describe('supervisor lifecycle (fake launcher)', () => {
  it('a crash loop waits the doubling cap when the random source says 1, and half of it at 0.5', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    for (const [random, expected] of [[1, [100, 200, 400, 800, 800]], [0.5, [50, 100, 200, 400, 400]]] as const) {
      const launcher = createFakeLauncher((start) => start.exit(1));
      const supervisor = fakeSupervisor(testConfig({ restart: { initialMs: 100, maxMs: 800, maxFailedStarts: undefined } }), launcher, () => random);
      current = supervisor;
      supervisor.post(() => undefined);
      await pump(t, () => launcher.starts.length >= 6);
      assert.deepEqual(gaps(launcher.starts.slice(0, 6).map((s) => s.at)), expected, `random ${random}`);
      const stopped = supervisor.shutdown();
      await pump(t, () => supervisor.records.length === 0);
      await stopped;
    }
    current = undefined;
  });

  it('slots that fail together restart at different times, each under the cap (full jitter)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const draws = [0.05, 0.9, 0.3, 0.6, 0.15, 0.75, 0.45, 1];
    let next = 0;
    const launcher = createFakeLauncher((start) => start.exit(1));
    const supervisor = fakeSupervisor(testConfig({ workers: 8, restart: { initialMs: 400, maxMs: 400, maxFailedStarts: undefined } }), launcher, () => draws[next++ % draws.length] as number);
    current = supervisor;
    supervisor.post(() => undefined);
    await pump(t, () => new Set(launcher.starts.slice(8).map((s) => s.spec.slot)).size === 8);
    // Each slot's second start, counted from the common first crash.
    const second = new Map<number, number>();
    for (const start of launcher.starts.slice(8)) if (!second.has(start.spec.slot)) second.set(start.spec.slot, start.at - 1_000_000);
    const delays = [...second.values()].sort((a, b) => a - b);
    assert.deepEqual(delays, draws.map((r) => Math.ceil(r * 400)).sort((a, b) => a - b));
    const stopped = supervisor.shutdown();
    await pump(t, () => supervisor.records.length === 0);
    await stopped;
    current = undefined;
  });

  it('a worker that fails before ever being ready --max-failed-starts times makes the app fatal, with its last error; ctl restart clears it', async () => {
    const launcher = createFakeLauncher((start) => {
      start.callbacks.onOutput('stderr', `DATABASE_URL is not set (${launcher.starts.length})`);
      start.exit(3);
    });
    const supervisor = fakeSupervisor(testConfig({ restart: { initialMs: 10, maxMs: 10, maxFailedStarts: 3 } }), launcher);
    current = supervisor;
    supervisor.post(() => undefined);
    await waitFor(() => supervisor.fatal, { message: 'fatal' });
    assert.match(supervisor.fatal ?? '', /3 consecutive failed starts .*exited with code 3.*DATABASE_URL is not set \(3\)/s);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(launcher.starts.length, 3, 'no start after fatal');
    assert.equal(supervisor.status().fatal, supervisor.fatal);
    supervisor.post(() => supervisor.clearFatal());
    await waitFor(() => launcher.starts.length >= 4, { message: 'restarted after clearFatal' });
  });

  it('a hung worker leaves at once: SIGKILL, and a new worker for its slot', async () => {
    const launcher = createFakeLauncher((start) => start.callbacks.onReady());
    const supervisor = fakeSupervisor(testConfig({ workers: 2 }), launcher);
    current = supervisor;
    supervisor.post(() => undefined);
    await waitFor(() => supervisor.records.filter((w) => w.state === 'ready').length === 2, { message: '2 ready' });
    launcher.starts[1]?.callbacks.onHung('no heartbeat for 30000ms');
    await waitFor(() => launcher.starts.length === 3 && supervisor.records.filter((w) => w.state === 'ready').length === 2, { message: 'replaced' });
    assert.deepEqual(launcher.starts[1]?.signals, ['SIGKILL']);
    assert.equal(launcher.starts[2]?.spec.slot, launcher.starts[1]?.spec.slot);
    assert.match(supervisor.lastFailure ?? '', /hung: no heartbeat/);
  });

  it('a stop takes --kill-timeout in total: drain, SIGTERM, then SIGKILL at the end of the budget', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    // A worker that never finishes draining and ignores SIGTERM.
    const launcher = createFakeLauncher((start) => start.callbacks.onReady());
    const signals: string[] = [];
    let stopAt = 0;
    const supervisor = fakeSupervisor(testConfig({ killTimeoutMs: 600, mode: 'cluster' }), {
      ...launcher,
      start(spec, callbacks) {
        const process = launcher.start(spec, callbacks);
        const start = launcher.starts.at(-1);
        return {
          pid: process.pid,
          drain: () => undefined,
          signal(signal) {
            signals.push(`${signal}@${Date.now() - stopAt}`);
            if (signal === 'SIGKILL') setImmediate(() => start?.exit(null, signal));
          },
        };
      },
    });
    current = supervisor;
    supervisor.post(() => undefined);
    await pump(t, () => supervisor.records.some((w) => w.state === 'ready'));
    stopAt = Date.now();
    let done = false;
    void supervisor.shutdown().then(() => (done = true));
    await pump(t, () => done);
    // The drain gets the budget minus SIGTERM's grace (half of it, at most 1 s).
    assert.deepEqual(signals, ['SIGTERM@300', 'SIGKILL@600']);
    current = undefined;
  });
});
