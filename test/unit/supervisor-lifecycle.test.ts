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

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

describe('supervisor lifecycle (fake launcher)', () => {
  it('a crash loop waits the doubling cap when the random source says 1, and half of it at 0.5', async () => {
    for (const [random, expected] of [[1, [100, 200, 400, 800, 800]], [0.5, [50, 100, 200, 400, 400]]] as const) {
      const launcher = createFakeLauncher((start) => start.exit(1));
      const supervisor = fakeSupervisor(testConfig({ restart: { initialMs: 100, maxMs: 800, maxFailedStarts: undefined } }), launcher, () => random);
      current = supervisor;
      supervisor.post(() => undefined);
      await waitFor(() => launcher.starts.length >= 6, { timeoutMs: 5000, message: '6 starts' });
      const measured = gaps(launcher.starts.slice(0, 6).map((s) => s.at));
      measured.forEach((gap, i) => {
        const want = expected[i] as number;
        // A timer fires no earlier than asked; on a loaded machine it may fire later.
        assert.ok(gap >= want - 2 && gap < want + 80, `gap ${i}: ${gap}ms, expected ${want}ms (random ${random}); all: ${measured.join(', ')}`);
      });
      await supervisor.shutdown();
    }
  });

  it('slots that fail together restart at different times (full jitter)', async () => {
    const launcher = createFakeLauncher((start) => start.exit(1));
    const supervisor = fakeSupervisor(testConfig({ workers: 8, restart: { initialMs: 400, maxMs: 400, maxFailedStarts: undefined } }), launcher);
    current = supervisor;
    supervisor.post(() => undefined);
    await waitFor(() => launcher.starts.length >= 16, { timeoutMs: 5000, message: 'every slot restarted once' });
    const second = [...new Map(launcher.starts.slice(8).map((s) => [s.spec.slot, s.at - (launcher.starts[s.spec.slot]?.at ?? 0)])).values()];
    assert.ok(second.every((delay) => delay <= 400 + 80), `all restart delays within the 400ms cap: ${second.join(', ')}`);
    const spread = Math.max(...second) - Math.min(...second);
    assert.ok(spread > 100, `restarts spread over ${spread}ms, not in lockstep: ${second.join(', ')}`);
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

  it('a stop takes --kill-timeout in total: drain, SIGTERM, then SIGKILL at the end of the budget', async () => {
    // A worker that never finishes draining and ignores SIGTERM.
    const launcher = createFakeLauncher((start) => start.callbacks.onReady());
    const config = testConfig({ killTimeoutMs: 600, mode: 'cluster' });
    const supervisor = fakeSupervisor(config, {
      ...launcher,
      start(spec, callbacks) {
        const process = launcher.start(spec, callbacks);
        const start = launcher.starts.at(-1);
        return {
          pid: process.pid,
          drain: () => undefined,
          signal(signal) {
            start?.signals.push(`${signal}@${Date.now() - (stopAt ?? 0)}`);
            if (signal === 'SIGKILL') setImmediate(() => start?.exit(null, signal));
          },
        };
      },
    });
    current = supervisor;
    supervisor.post(() => undefined);
    await waitFor(() => supervisor.records.some((w) => w.state === 'ready'), { message: 'ready' });
    const stopAt: number | undefined = Date.now();
    await supervisor.shutdown();
    const took = Date.now() - stopAt;
    assert.ok(took >= 590 && took < 700, `stop took ${took}ms with --kill-timeout 600ms`);
    const signals = launcher.starts[0]?.signals ?? [];
    assert.deepEqual(signals.map((s) => s.split('@')[0]), ['SIGTERM', 'SIGKILL'], signals.join(' '));
  });
});
