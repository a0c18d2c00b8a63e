// Spawn mode behind the front: spread, a killed backend never surfaces to
// clients, health checks eject and readmit, and a rolling reload with a new
// connection per request loses nothing.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { reloadUnderLoad } from '../helpers/load.js';
import { controlGet, FIXTURES, freePortRange, httpGet, isAlive, killAll, startSupervise, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const SERVER = join(FIXTURES, 'port-server.cjs');

afterEach(killAll);
after(killAll);

async function startFront(workers: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}, readyWorkers = workers): Promise<{ sup: Supervised; base: number }> {
  const base = await freePortRange(workers + 1);
  const sup = await startSupervise(['-w', String(workers), '--base-port', String(base), ...extra, '--', process.execPath, SERVER, '{port}'], {
    readyWorkers,
    env,
  });
  return { sup, base };
}

async function countBy(port: number, requests: number): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (let i = 0; i < requests; i++) {
    const response = await httpGet(port);
    assert.equal(response.status, 200, response.body);
    const { port: backend } = JSON.parse(response.body) as { port: number };
    counts.set(backend, (counts.get(backend) ?? 0) + 1);
  }
  return counts;
}

for (const proxy of ['tcp', 'http'] as const) {
  describe(`spawn mode, --proxy ${proxy}`, () => {
    it('spreads 30 connections 8–12 per backend over 3 backends', async () => {
      const { sup, base } = await startFront(3, ['--proxy', proxy]);
      const counts = await countBy(sup.port, 30);
      assert.deepEqual([...counts.keys()].sort(), [base, base + 1, base + 2]);
      for (const [port, count] of counts) assert.ok(count >= 8 && count <= 12, `backend ${port} got ${count}`);
      const metrics = await controlGet(sup.control, '/metrics');
      const totals = [...metrics.matchAll(/^supervise_worker_connections_total\{app="[^"]+",slot="\d"\} (\d+)$/gm)].map((m) => Number(m[1]));
      assert.equal(totals.reduce((a, b) => a + b, 0), 30, `connections counted per slot:\n${metrics}`);
    });

    it('holds the connections that arrive while the first worker boots: none is reset, all are answered', async () => {
      const { sup } = await startFront(1, ['--proxy', proxy, '--health-interval', '100ms'], { FIXTURE_LISTEN_DELAY_MS: '1500' }, 0);
      // The front listens before the worker is ready: these arrive during its boot.
      await waitFor(() => sup.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('supervise:')), { message: 'front listening' });
      assert.ok(!sup.logs.some((l) => l.msg === 'worker ready'), 'the requests go out before the worker is ready');
      const responses = await Promise.all(Array.from({ length: 10 }, () => httpGet(sup.port, '/', 10_000).catch((error: Error) => ({ status: 0, body: error.message }))));
      assert.deepEqual(responses.map((r) => r.status), Array(10).fill(200), JSON.stringify(responses.find((r) => r.status !== 200)));
    });

    it('a kill -9 of a backend fails none of the next 60 requests, and a replacement comes up', async () => {
      const { sup } = await startFront(3, ['--proxy', proxy]);
      const victim = (await sup.status()).workers[1];
      assert.ok(victim?.pid);
      process.kill(victim.pid, 'SIGKILL');
      await waitFor(() => !isAlive(victim.pid as number), { message: 'victim gone' });
      const counts = await countBy(sup.port, 60); // asserts 200 for each
      assert.ok(counts.size >= 2);
      await waitFor(async () => (await sup.status()).workers.filter((w) => w.state === 'ready').length === 3, {
        timeoutMs: 5000,
        message: 'replacement ready',
      });
    });

    it('rolling reload with a new connection per request: every worker replaced, no failed request, ports in range', async () => {
      const { sup, base } = await startFront(2, ['--proxy', proxy]);
      const before = (await sup.status()).workers.map((w) => w.pid);
      const result = await reloadUnderLoad(sup, { connections: 8, keepAlive: false, requestsAround: 100 });
      assert.deepEqual(result.errors, [], `${result.failed} failed of ${result.ok + result.failed}`);
      const status = await sup.status();
      assert.equal(status.workers.length, 2);
      for (const worker of status.workers) {
        assert.ok(!before.includes(worker.pid), `slot ${worker.slot} replaced`);
        assert.ok(worker.port >= base && worker.port <= base + 2, `port ${worker.port} within base-port … base-port+N`);
      }
    });
  });
}

describe('health checks', () => {
  it('eject a backend after --unhealthy-threshold failures and readmit it after --healthy-threshold passes', async () => {
    const flag = join(FIXTURES, `.unhealthy-${process.pid}`);
    rmSync(flag, { force: true });
    const { sup, base } = await startFront(2, ['--health', '/healthz', '--health-interval', '100ms', '--queue-timeout', '200ms', '--unhealthy-threshold', '2', '--healthy-threshold', '2', '--ready-timeout', '20s'], {
      FIXTURE_UNHEALTHY_FILE: flag,
    });
    try {
      writeFileSync(flag, '');
      await sup.waitForLog((l) => l.msg === 'worker unhealthy: out of rotation', 5000);
      await waitFor(() => sup.logs.filter((l) => l.msg === 'worker unhealthy: out of rotation').length === 2, { message: 'both ejected' });
      // The data-plane thread takes the ejection with the next snapshot, a moment after the log line.
      const refused = await waitFor(async () => {
        const answer = await httpGet(sup.port).catch((error: Error) => ({ status: 0, body: error.message }));
        return answer.status !== 200 ? answer : undefined;
      }, { timeoutMs: 2000, message: 'a request refused once both are out of rotation' });
      assert.notEqual(refused.status, 200, 'no backend in rotation');
      rmSync(flag);
      await waitFor(() => sup.logs.filter((l) => l.msg === 'worker healthy again: back in rotation').length === 2, { message: 'both readmitted' });
      const counts = await countBy(sup.port, 10);
      assert.deepEqual([...counts.keys()].sort(), [base, base + 1]);
    } finally {
      rmSync(flag, { force: true });
    }
  });
});
