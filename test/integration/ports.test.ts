// Readiness is owned by the worker, and spawn-mode ports stay within
// base-port … base-port+N (SPEC §3; issue 10 holes 4 and 7).

import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { controlCall, FIXTURES, freePortRange, httpGet, killAll, startSupervise } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const SERVER = join(FIXTURES, 'port-server.cjs');
const foreign: http.Server[] = [];

afterEach(async () => {
  await killAll();
  for (const server of foreign.splice(0)) await new Promise((resolve) => server.close(resolve));
});
after(killAll);

/** A server that is not a worker, on `port`, answering "foreign". */
async function foreignServer(port: number): Promise<void> {
  const server = http.createServer((_req, res) => res.end('foreign'));
  foreign.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
}

describe('ports and readiness', () => {
  it('a scale onto a port held by a foreign server fails, naming its pid, and the front never sends traffic there', async () => {
    const base = await freePortRange(4);
    await foreignServer(base + 2);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--ready-timeout', '2s', '--kill-timeout', '1s', '--', process.execPath, SERVER, '{port}'], {
      readyWorkers: 2,
    });
    const scale = await controlCall(sup.control, 'POST', '/scale', { workers: 3 });
    const answer = JSON.parse(scale.body) as { ok: boolean; error?: string };
    assert.equal(answer.ok, false, scale.body);
    assert.match(answer.error ?? '', new RegExp(`port ${base + 2} is already in use by pid ${process.pid} \\(`));
    const bodies = await Promise.all(Array.from({ length: 12 }, () => httpGet(sup.port, '/', 15_000).then((r) => r.body)));
    assert.equal(bodies.filter((body) => body === 'foreign').length, 0, 'no request reached the foreign server');
    const slot2 = (await sup.status()).workers.find((w) => w.slot === 2);
    assert.notEqual(slot2?.state, 'ready');
  });

  it('a reload whose spare port is held by a foreign server says so, and the old workers keep serving', async () => {
    const base = await freePortRange(3);
    await foreignServer(base + 2);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--proxy', 'none', '--', process.execPath, SERVER, '{port}'], { readyWorkers: 2 });
    const reload = JSON.parse((await controlCall(sup.control, 'POST', '/reload')).body) as { ok: boolean; error?: string };
    assert.equal(reload.ok, false);
    assert.match(reload.error ?? '', new RegExp(`port ${base + 2} is in use by pid ${process.pid}`));
    assert.deepEqual((await sup.status()).workers.map((w) => [w.port, w.state]), [[base, 'ready'], [base + 1, 'ready']]);
  });

  it('a worker is not ready when the listener on its port belongs to someone else', async () => {
    const base = await freePortRange(1);
    // The command never listens; a foreign server takes its port once it runs.
    const sup = await startSupervise(['-w', '1', '--base-port', String(base), '--proxy', 'none', '--ready-timeout', '1500ms', '--', 'sleep', '30']);
    await sup.waitForLog((l) => l.msg === 'worker started');
    await foreignServer(base);
    const warning = await sup.waitForLog((l) => /answers, but its listener is pid/.test(String(l.msg)), 5000);
    assert.match(String(warning.msg), new RegExp(`port ${base} answers, but its listener is pid ${process.pid} \\(.*\\), not this worker`));
    await sup.waitForLog((l) => /not ready within 1500ms/.test(String(l.msg)), 6000);
    assert.equal(sup.logs.filter((l) => l.msg === 'worker ready').length, 0);
  });

  it('after a reload and a scale-down every worker is within base-port … base-port+N', async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--proxy', 'none', '--kill-timeout', '1s', '--', process.execPath, SERVER, '{port}'], {
      readyWorkers: 2,
    });
    // The reload rotates ports (slot 0 ends on the spare, base+2); the scale-down must bring it back.
    const reload = JSON.parse((await controlCall(sup.control, 'POST', '/reload')).body) as { ok: boolean };
    assert.equal(reload.ok, true);
    const scale = JSON.parse((await controlCall(sup.control, 'POST', '/scale', { workers: 1 })).body) as { ok: boolean };
    assert.equal(scale.ok, true);
    const ports = await waitFor(async () => {
      const workers = (await sup.status()).workers;
      return workers.length === 1 && workers[0]?.state === 'ready' ? workers.map((w) => w.port) : undefined;
    }, { message: 'one ready worker' });
    for (const port of ports) assert.ok(port >= base && port <= base + 1, `port ${port} within ${base}…${base + 1}`);
  });
});
