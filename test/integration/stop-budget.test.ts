// The whole stop of a worker takes at most --kill-timeout, drain included
// (SPEC §3; issue 10 hole 6), and a reload waits for a hung worker at most once
// (hole 5).

import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { controlCall, FIXTURES, isAlive, killAll, sigstop, startSupervise } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'http-app.cjs');
afterEach(killAll);
after(killAll);

describe('stop budget', () => {
  it('a stop with an open request and a worker that ignores SIGTERM ends within --kill-timeout, not twice it', async () => {
    const sup = await startSupervise(['-w', '1', '--kill-timeout', '2s', APP], {
      readyWorkers: 1,
      env: { FIXTURE_IGNORE_TERM: '1', FIXTURE_DELAY_MS: '60000' },
    });
    const pid = (await sup.status()).workers[0]?.pid as number;
    // A request that will not be answered before the stop ends: the drain cannot finish.
    const request = http.get({ host: '127.0.0.1', port: sup.port, path: '/', agent: false });
    request.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentAt = Date.now();
    sup.child.kill('SIGTERM');
    const { code } = await sup.exited;
    const took = Date.now() - sentAt;
    assert.equal(code, 0);
    assert.ok(took >= 1900 && took < 2900, `the master exited ${took}ms after SIGTERM with --kill-timeout 2s: ${sup.logs.map((l) => `${Number(l.time) - sentAt} ${l.msg}`).join(" / ")}`);
    assert.ok(!isAlive(pid), 'the worker is gone');
    request.destroy();
  });

  it('a reload waits for a SIGSTOPped worker at most once', async () => {
    const sup = await startSupervise(['-w', '2', '--kill-timeout', '3s', '--heartbeat-timeout', '1s', APP], { readyWorkers: 2 });
    const victim = (await sup.status()).workers[0]?.pid as number;
    sigstop(victim);
    const startedAt = Date.now();
    const reload = JSON.parse((await controlCall(sup.control, 'POST', '/reload')).body) as { ok: boolean; error?: string };
    const took = Date.now() - startedAt;
    assert.equal(reload.ok, true, reload.error);
    // Once: the hung worker is killed when found hung (1 s), or at the end of one kill timeout.
    assert.ok(took < 3000 + 1000, `reload took ${took}ms with --kill-timeout 3s`);
    await waitFor(() => !isAlive(victim), { message: 'the stopped worker is gone' });
  });
});
