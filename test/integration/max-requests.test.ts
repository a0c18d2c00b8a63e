// --max-requests: a worker is replaced (drained, never mid-request) after that
// many requests — counted in the cluster worker's preload, by the http front per
// request, by the tcp front per connection (SPEC §9; issue 10 hole 8).

import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { FIXTURES, freePortRange, killAll, startSupervise, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

afterEach(killAll);
after(killAll);

const RECYCLE = /served its --max-requests/;

/** One GET on a new connection; the pid that answered. */
function pidOf(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(Number((JSON.parse(body) as { pid: number }).pid)));
      })
      .on('error', reject);
  });
}

async function recyclesAfter(sup: Supervised, limit: number): Promise<void> {
  const first = (await sup.status()).workers[0]?.pid as number;
  for (let i = 0; i < limit - 1; i++) assert.equal(await pidOf(sup.port), first);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(sup.logs.filter((l) => RECYCLE.test(String(l.msg))).length, 0, `no recycle after ${limit - 1} requests`);
  assert.equal(await pidOf(sup.port), first, 'the limit-th request is served by the same worker');
  await sup.waitForLog((l) => RECYCLE.test(String(l.msg)), 5000, 'recycled');
  // Replaced by a new worker; the old one leaves through a drain.
  await waitFor(async () => {
    const workers = (await sup.status()).workers;
    return workers.length === 1 && workers[0]?.state === 'ready' && workers[0]?.pid !== first;
  }, { timeoutMs: 10_000, message: 'a new worker in its place' });
  assert.notEqual(await pidOf(sup.port), first);
}

describe('--max-requests', () => {
  it('cluster: counted per request in the worker', async () => {
    const sup = await startSupervise(['-w', '1', '--max-requests', '5', join(FIXTURES, 'http-app.cjs')], { readyWorkers: 1 });
    await recyclesAfter(sup, 5);
  });

  for (const proxy of ['http', 'tcp'] as const) {
    it(`spawn --proxy ${proxy}: counted by the front`, async () => {
      const base = await freePortRange(2);
      const sup = await startSupervise(['-w', '1', '--proxy', proxy, '--base-port', String(base), '--max-requests', '5', '--kill-timeout', '1s', '--', process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'], {
        readyWorkers: 1,
      });
      await recyclesAfter(sup, 5);
    });
  }
});
