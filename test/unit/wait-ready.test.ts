import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { probeTcp, type ProbeResult } from '../../src/health/probe.js';
import { waitUntilReady } from '../../src/health/wait-ready.js';

const HOST = '127.0.0.1';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('waitUntilReady', () => {
  test('resolves at the first passing probe of a server that starts late', async () => {
    const port = await freePort();
    const server = net.createServer();
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    setTimeout(() => server.listen(port, HOST), 250);
    const started = Date.now();
    const result = await waitUntilReady((signal) => probeTcp(HOST, port, 500, signal), { timeoutMs: 5000 });
    assert.deepEqual(result, { ok: true });
    assert.ok(Date.now() - started < 1500, 'noticed within one backed-off interval');
  });

  test('gives up at the timeout with the last reason', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await waitUntilReady((signal) => probeTcp(HOST, port, 500, signal), { timeoutMs: 300 });
    const elapsed = Date.now() - started;
    assert.deepEqual(result, { ok: false, reason: `not ready after 300ms (last probe: connect ECONNREFUSED ${HOST}:${port})` });
    assert.ok(elapsed >= 290 && elapsed < 800, `took ${elapsed}ms`);
  });

  test('the timeout also cuts a probe that hangs', async () => {
    let probeAborted = false;
    const hangingProbe = (signal: AbortSignal): Promise<ProbeResult> =>
      new Promise((resolve) =>
        signal.addEventListener('abort', () => {
          probeAborted = true;
          resolve({ ok: false, reason: 'aborted' });
        }),
      );
    const result = await waitUntilReady(hangingProbe, { timeoutMs: 100 });
    assert.deepEqual(result, { ok: false, reason: 'not ready after 100ms' });
    assert.ok(probeAborted, 'the probe in flight was aborted');
  });

  test('stops when aborted (the worker exited), quoting the abort reason', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('worker exited with code 1')), 100);
    const started = Date.now();
    const result = await waitUntilReady(async () => ({ ok: false, reason: 'HTTP 503' }), {
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    assert.deepEqual(result, { ok: false, reason: 'stopped waiting: worker exited with code 1 (last probe: HTTP 503)' });
    assert.ok(Date.now() - started < 1000);
  });

  test('backs off from intervalMs to maxIntervalMs', async () => {
    const times: number[] = [];
    await waitUntilReady(
      async () => {
        times.push(Date.now());
        return { ok: false, reason: 'not yet' };
      },
      { timeoutMs: 1000, intervalMs: 25, maxIntervalMs: 100 },
    );
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    const expectedPauses = gaps.map((_, i) => Math.min(25 * 2 ** i, 100)); // 25, 50, 100, 100, ...
    // Timers never fire early (a few ms of rounding aside), but a loaded machine fires them late,
    // so only lower bounds per gap, and a median for the ceiling (without it: 200, 400, ...).
    assert.ok(gaps.length >= 4, `only ${times.length} probes`);
    gaps.forEach((gap, i) => assert.ok(gap >= (expectedPauses[i] as number) - 5, `gaps ${gaps.join(',')}`));
    const capped = gaps.slice(3).sort((a, b) => a - b);
    const median = capped[Math.floor(capped.length / 2)] as number;
    assert.ok(median < 180, `pauses did not stop growing at the ceiling: gaps ${gaps.join(',')}`);
  });
});
