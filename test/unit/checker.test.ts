import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { createHealthChecker, type HealthChecker, type HealthCheckerOptions } from '../../src/health/checker.js';
import type { HealthConfig } from '../../src/core/types.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const HOST = '127.0.0.1';
const health: HealthConfig = { path: '/health', intervalMs: 20, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3 };

/** An HTTP backend whose health answer can be switched, counting probes by answer. */
interface Backend {
  port: number;
  status: number;
  /** Answer nothing at all (a hung process). */
  hang: boolean;
  answered: Map<number, number>;
  requests: number;
  server: http.Server;
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startBackend(): Promise<Backend> {
  const backend: Backend = { port: 0, status: 200, hang: false, answered: new Map(), requests: 0, server: http.createServer() };
  backend.server.on('request', (_req, res) => {
    backend.requests += 1;
    if (backend.hang) return;
    backend.answered.set(backend.status, (backend.answered.get(backend.status) ?? 0) + 1);
    res.writeHead(backend.status).end();
  });
  await new Promise<void>((resolve) => backend.server.listen(0, HOST, resolve));
  backend.port = (backend.server.address() as net.AddressInfo).port;
  cleanups.push(() => {
    backend.server.closeAllConnections();
    return new Promise((resolve) => backend.server.close(resolve));
  });
  return backend;
}

interface Recorded {
  changes: Array<{ id: number; healthy: boolean; reason: string; ok200: number; failed503: number }>;
  failures: Array<{ id: number; reason: string }>;
  tooLong: number[];
}

function startChecker(backend: Backend | undefined, overrides: Partial<HealthCheckerOptions> = {}): { checker: HealthChecker; seen: Recorded } {
  const seen: Recorded = { changes: [], failures: [], tooLong: [] };
  const checker = createHealthChecker({
    health,
    host: HOST,
    unhealthyLimitMs: 60_000,
    onChange: (id, healthy, reason) =>
      seen.changes.push({
        id,
        healthy,
        reason,
        ok200: backend?.answered.get(200) ?? 0,
        failed503: backend?.answered.get(503) ?? 0,
      }),
    onFailure: (id, reason) => seen.failures.push({ id, reason }),
    onUnhealthyTooLong: (id) => seen.tooLong.push(id),
    ...overrides,
  });
  cleanups.push(() => checker.close());
  return { checker, seen };
}

describe('health checker', () => {
  test('takes a target out after N failures and back after M passes', async () => {
    const backend = await startBackend();
    const { checker, seen } = startChecker(backend);
    checker.watch(1, backend.port);
    await waitFor(() => (backend.answered.get(200) ?? 0) >= 2, { message: 'probes to run' });
    assert.equal(seen.changes.length, 0, 'a passing target reports nothing');
    assert.equal(checker.isHealthy(1), true);

    backend.status = 503;
    const down = await waitFor(() => seen.changes[0], { message: 'the target to leave rotation' });
    assert.equal(down.healthy, false);
    assert.equal(down.failed503, 3, 'left after exactly unhealthyThreshold failures');
    assert.match(down.reason, /failed 3 consecutive health checks, last: HTTP 503/);
    assert.equal(checker.isHealthy(1), false);
    assert.deepEqual(seen.failures[0], { id: 1, reason: 'HTTP 503' });

    const okBeforeRecovery = backend.answered.get(200) ?? 0;
    backend.status = 200;
    const up = await waitFor(() => seen.changes[1], { message: 'the target to come back' });
    assert.equal(up.healthy, true);
    assert.equal(up.ok200 - okBeforeRecovery, 2, 'returned after exactly healthyThreshold passes');
    assert.equal(checker.isHealthy(1), true);
  });

  test('uses one timer for all targets and probes them concurrently, never twice at once', async () => {
    const backends = [await startBackend(), await startBackend(), await startBackend()];
    for (const backend of backends) backend.hang = true;
    const realSetInterval = globalThis.setInterval;
    let timersCreated = 0;
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
      timersCreated += 1;
      return realSetInterval(...args);
    }) as typeof setInterval;
    try {
      const { checker } = startChecker(undefined, { health: { ...health, timeoutMs: 10_000 } });
      backends.forEach((backend, i) => checker.watch(i + 1, backend.port));
      assert.equal(timersCreated, 1);
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    await waitFor(() => backends.every((b) => b.requests === 1), { message: 'every hung target to get its first probe' });
    await delay(health.intervalMs * 10);
    assert.deepEqual(
      backends.map((b) => b.requests),
      [1, 1, 1],
      'a probe still running is not started again',
    );
  });

  test('the probes of many targets are spread over the interval, not one burst per interval', async () => {
    const intervalMs = 400;
    const firstProbe = new Map<number, number>();
    const probe = async (port: number) => {
      if (!firstProbe.has(port)) firstProbe.set(port, Date.now());
      return { ok: true } as const;
    };
    const { checker } = startChecker(undefined, { health: { ...health, intervalMs }, probe });
    const started = Date.now();
    for (let id = 1; id <= 32; id++) checker.watch(id, 10_000 + id);
    await waitFor(() => firstProbe.size === 32, { message: 'every target probed once' });
    const offsets = [...firstProbe.values()].map((at) => at - started).sort((a, b) => a - b);
    const spread = (offsets.at(-1) ?? 0) - (offsets[0] ?? 0);
    // Random first turns over 8 ticks of 50 ms: 32 targets all in one tick has a chance of 8^-31.
    assert.ok(spread >= intervalMs / 8, `first probes within ${spread} ms of each other: ${offsets.join(', ')}`);
    assert.ok((offsets.at(-1) ?? 0) <= intervalMs * 3, `every target probed within its first interval (on a loaded machine, three): ${offsets.join(', ')}`);
  });

  test('a passive failure ejects at once; active passes bring the target back', async () => {
    const backend = await startBackend();
    const { checker, seen } = startChecker(backend);
    checker.watch(7, backend.port);
    checker.passiveFailure(7, 'connect ECONNREFUSED');
    assert.deepEqual(seen.changes.map((c) => [c.id, c.healthy, c.reason]), [[7, false, 'connection failed: connect ECONNREFUSED']]);
    assert.deepEqual(seen.failures, [{ id: 7, reason: 'connect ECONNREFUSED' }]);
    await waitFor(() => seen.changes[1]?.healthy, { message: 'the target to come back' });
  });

  test('reports a target unhealthy for longer than the limit, once per outage', async () => {
    const backend = await startBackend();
    backend.status = 503;
    const { checker, seen } = startChecker(backend, { unhealthyLimitMs: 100 });
    checker.watch(3, backend.port);
    await waitFor(() => seen.tooLong.length > 0, { message: 'the unhealthy-too-long report' });
    const outage = seen.changes[0];
    assert.equal(outage?.healthy, false);
    await delay(200);
    assert.deepEqual(seen.tooLong, [3]);
  });

  test('unwatch and close stop probing', async () => {
    const backend = await startBackend();
    const { checker } = startChecker(backend);
    checker.watch(1, backend.port);
    await waitFor(() => backend.requests >= 2, { message: 'probes to run' });
    checker.unwatch(1);
    assert.equal(checker.isHealthy(1), undefined);
    const afterUnwatch = backend.requests;
    await delay(health.intervalMs * 5);
    assert.ok(backend.requests <= afterUnwatch + 1, 'no probes after unwatch (one may have been in flight)');

    checker.watch(2, backend.port);
    await waitFor(() => backend.requests >= afterUnwatch + 3, { message: 'probes of the new target' });
    checker.close();
    const afterClose = backend.requests;
    await delay(health.intervalMs * 5);
    assert.ok(backend.requests <= afterClose + 1, 'no probes after close');
  });
});
