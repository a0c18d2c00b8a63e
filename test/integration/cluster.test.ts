// Cluster mode with real processes: spread, crash replacement, crash-loop
// backoff, graceful stop, readiness, and the environment workers get.

import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { join } from 'node:path';
import { FIXTURES, freePort, httpGet, isAlive, killAll, startSupervise } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'http-app.cjs');

afterEach(killAll);
after(killAll);

async function workerOf(port: number): Promise<{ worker: number; pid: number; generation: number }> {
  const response = await httpGet(port);
  assert.equal(response.status, 200);
  return JSON.parse(response.body) as { worker: number; pid: number; generation: number };
}

describe('cluster mode', () => {
  it('spreads 40 connections evenly over 4 workers, each with its slot and generation', async () => {
    const sup = await startSupervise(['-w', '4', APP], { readyWorkers: 4 });
    const counts = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const { pid, worker, generation } = await workerOf(sup.port);
      assert.equal(generation, 1);
      assert.ok(worker >= 0 && worker < 4, `SUPERVISE_WORKER ${worker}`);
      counts.set(pid, (counts.get(pid) ?? 0) + 1);
    }
    assert.equal(counts.size, 4, `4 distinct workers answered: ${JSON.stringify([...counts])}`);
    for (const [pid, count] of counts) assert.ok(count >= 7 && count <= 13, `worker ${pid} got ${count} of 40`);
  });

  it('replaces a worker killed with SIGKILL in under a second', async () => {
    const sup = await startSupervise(['-w', '2', APP], { readyWorkers: 2 });
    const before = await sup.status();
    const victim = before.workers.find((w) => w.slot === 0);
    assert.ok(victim?.pid);
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const replacement = await sup.waitForLog((l) => l.msg === 'worker ready' && l.worker === 0 && l.pid !== victim.pid, 5000, 'replacement ready');
    const elapsed = Number(replacement.time) - killedAt;
    // The target is under 1 s (100 ms backoff + Node's start-up); the margin absorbs
    // a machine busy with other test files.
    assert.ok(elapsed < 2000, `replacement ready after ${elapsed}ms`);
    const crash = sup.logs.find((l) => typeof l.msg === 'string' && l.msg.includes(`(pid ${victim.pid}) was killed by SIGKILL`));
    assert.ok(crash, 'the log says which worker died and how');
    const after = await sup.status();
    assert.equal(after.workers.filter((w) => w.state === 'ready').length, 2);
    assert.equal(after.workers.find((w) => w.slot === 0)?.restarts, 1);
  });

  it('backs off a script that dies at once: few starts, master alive, reason logged', async () => {
    const began = Date.now();
    const sup = await startSupervise(['-w', '1', join(FIXTURES, 'exit-at-once.cjs')]);
    const starts = () => sup.logs.filter((l) => l.msg === 'worker started').length;
    // It is restarted (each start of a node process may take a second on a busy machine)…
    await waitFor(() => starts() >= 3, { timeoutMs: 20_000, message: 'the crashing worker to be started 3 times' });
    // …but not in a storm: the backoff (100 ms, doubling) allows a handful of starts in 6 s, not hundreds.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 6000 - (Date.now() - began))));
    assert.ok(starts() <= 30, `${starts()} starts in ${Date.now() - began} ms`);
    assert.ok(isAlive(sup.child.pid ?? -1), 'the master is still running');
    const crash = sup.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('exited with code 3'));
    assert.ok(crash, 'exit code in the log');
    assert.match(String(crash.msg), /DATABASE_URL is not set/, 'last stderr line in the log');
    // The first restart waits a random delay under the first cap (full jitter, --restart-delay 100ms);
    // test/unit/supervisor-lifecycle.test.ts measures the delays themselves.
    assert.ok(Number(crash.restartInMs) >= 1 && Number(crash.restartInMs) <= 100, `restartInMs ${String(crash.restartInMs)}`);
    // Every start ran the app: none was killed by the SIGKILL meant for the previous launch's descendants.
    const killed = sup.logs.filter((l) => l.signal === 'SIGKILL').map((l) => String(l.msg));
    assert.deepEqual(killed, [], 'a restarted worker was killed by the signal meant for the dead launch');
  });

  it('exits 1 when the first generation never becomes ready, saying why', async () => {
    // 5 s, not less: a worker that has not even run its first line by the ready timeout (node starts slowly on a busy
    // machine) is killed as not ready, and that, not the app's own exit, would be the last failure to report.
    const sup = await startSupervise(['-w', '2', '--ready-timeout', '5s', join(FIXTURES, 'exit-at-once.cjs')]);
    const { code } = await sup.exited;
    assert.equal(code, 1);
    const fatal = sup.logs.find((l) => l.level === 60);
    assert.match(String(fatal?.msg), /no worker became ready within --ready-timeout 5000ms: .*exited with code 3.*DATABASE_URL/s);
  });

  it('stops gracefully on SIGTERM: exit 0, no worker left', async () => {
    const sup = await startSupervise(['-w', '3', '--kill-timeout', '5s', APP], { readyWorkers: 3 });
    const pids = (await sup.status()).workers.map((w) => w.pid as number);
    const sentAt = Date.now();
    sup.child.kill('SIGTERM');
    const { code } = await sup.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - sentAt < 5000, 'within the kill timeout');
    await waitFor(() => pids.every((pid) => !isAlive(pid)), { timeoutMs: 2000, message: 'workers gone' });
  });

  it('stops at once on a second SIGTERM, even with a worker that ignores SIGTERM', async () => {
    const sup = await startSupervise(['-w', '1', '--kill-timeout', '30s', join(FIXTURES, 'never-ready.cjs')]);
    await sup.waitForLog((l) => l.msg === 'worker started');
    const pid = (await sup.status()).workers[0]?.pid as number;
    sup.child.kill('SIGTERM');
    await sup.waitForLog((l) => l.msg === 'stopping: draining workers');
    sup.child.kill('SIGTERM');
    const { code } = await sup.exited;
    assert.equal(code, 0);
    await waitFor(() => !isAlive(pid), { timeoutMs: 2000, message: 'worker gone' });
  });

  it('relays worker output line by line, tagged with slot and pid, flushing a partial last line at exit', async () => {
    const sup = await startSupervise(['-w', '1', APP], { readyWorkers: 1, env: { FIXTURE_PARTIAL_LINE: '1' } });
    const pid = (await sup.status()).workers[0]?.pid as number;
    process.kill(pid, 'SIGTERM');
    const line = await sup.waitForLog((l) => l.msg === 'partial line without newline', 5000, 'partial line');
    assert.equal(line.worker, 0);
    assert.equal(line.pid, pid);
    assert.equal(line.stream, 'stdout');
  });

  it('with --wait-ready, a worker is ready only when it says so', async () => {
    const sup = await startSupervise(['-w', '1', '--wait-ready', join(FIXTURES, 'wait-ready.cjs')], {
      env: { FIXTURE_READY_AFTER_MS: '800' },
    });
    const started = await sup.waitForLog((l) => l.msg === 'worker started');
    const ready = await sup.waitForLog((l) => l.msg === 'worker ready');
    assert.ok(Number(ready.time) - Number(started.time) >= 800, 'not ready on listening');
  });

  it('stops and restarts a worker that is not ready within --ready-timeout', async () => {
    const sup = await startSupervise(['-w', '1', '--ready-timeout', '500ms', '--kill-timeout', '500ms', join(FIXTURES, 'never-ready.cjs')]);
    const failed = await sup.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('not ready within 500ms'), 5000);
    assert.equal(failed.worker, 0);
    assert.match(failed.msg, /\(waited for the worker to listen on port \d+: does it call listen\(process\.env\.PORT\)\?/, 'says what it waited for');
    await waitFor(() => sup.logs.filter((l) => l.msg === 'worker started').length >= 2, { timeoutMs: 5000, message: 'a second start' });
  });

  it('a worker that listens on another port than PORT is not ready, and the log says to use process.env.PORT', async () => {
    const elsewhere = await freePort();
    // port-server.cjs listens on argv[2]: here a fixed port, as `listen(3000)` does, not $PORT.
    const sup = await startSupervise(['-w', '1', join(FIXTURES, 'port-server.cjs'), String(elsewhere)]);
    const warning = await sup.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('process.env.PORT'), 20_000, 'the warning');
    assert.match(warning.msg, new RegExp(`listens on port ${elsewhere}, not on its port \\d+`));
    assert.equal((await httpGet(elsewhere)).status, 200, 'the worker does listen, elsewhere');
    const status = await sup.status();
    assert.notEqual(status.workers[0]?.state, 'ready');
    assert.equal(sup.logs.some((l) => l.msg === 'worker ready' || /ready, serving on/.test(String(l.msg))), false, 'nothing says ready or serving');
  });
});
