// Rolling reloads with real load: no failed request, every worker replaced,
// a broken new version refused while the old one keeps serving, --watch.

import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { reloadUnderLoad, startLoad } from '../helpers/load.js';
import { controlCall, FIXTURES, httpGet, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

afterEach(killAll);
after(killAll);

/** A supervisor running a copy of the test app that the test may rewrite. */
async function startCopy(args: string[], workers: number): Promise<{ sup: Supervised; app: string }> {
  const dir = tempDir('supervise-app-');
  const app = join(dir, 'app.cjs');
  copyFileSync(join(FIXTURES, 'http-app.cjs'), app);
  const sup = await startSupervise(['-w', String(workers), ...args, app], { readyWorkers: workers, cwd: dir });
  return { sup, app };
}

const pidsOf = async (sup: Supervised) => (await sup.status()).workers.map((w) => w.pid);

describe('rolling reload (cluster mode)', () => {
  it('SIGHUP under keep-alive load: every worker replaced, no failed request', async () => {
    const { sup } = await startCopy([], 2);
    const before = await pidsOf(sup);
    const result = await reloadUnderLoad(sup, { connections: 16, keepAlive: true, requestsAround: 200 });
    assert.deepEqual(result.errors, [], `${result.failed} failed of ${result.ok + result.failed}`);
    const status = await sup.status();
    assert.equal(status.generation, 2);
    assert.equal(status.workers.length, 2);
    for (const worker of status.workers) {
      assert.equal(worker.generation, 2);
      assert.ok(!before.includes(worker.pid), `worker ${worker.slot} was replaced`);
    }
    assert.ok(result.generations.has(2), 'new workers answered (SUPERVISE_GENERATION=2)');
  });

  it('a broken new version is refused: the reload fails with the reason, old workers keep serving', async () => {
    const { sup, app } = await startCopy(['--ready-timeout', '5s'], 2);
    const before = await pidsOf(sup);
    writeFileSync(app, 'this is not javascript(\n');
    const reply = await controlCall(sup.control, 'POST', '/reload');
    const body = JSON.parse(reply.body) as { ok: boolean; error: string };
    assert.equal(body.ok, false);
    assert.match(body.error, /reload aborted at slot 0.*exited with code 1/s);
    assert.match(body.error, /SyntaxError/);
    assert.deepEqual(await pidsOf(sup), before, 'the old workers still run');
    const answer = JSON.parse((await httpGet(sup.port)).body) as { generation: number };
    assert.equal(answer.generation, 1);
  });

  it('keeps the worker count set at runtime, and applies a scale during a reload to the new generation', async () => {
    const { sup } = await startCopy([], 1);
    assert.equal((await controlCall(sup.control, 'POST', '/scale', { workers: 2 })).status, 200);
    const reload = controlCall(sup.control, 'POST', '/reload');
    await sup.waitForLog((l) => l.msg === 'rolling reload started');
    const scale = controlCall(sup.control, 'POST', '/scale', { workers: 3 });
    const [reloaded, scaled] = await Promise.all([reload, scale]);
    assert.equal((JSON.parse(reloaded.body) as { ok: boolean }).ok, true, reloaded.body);
    assert.equal(scaled.status, 200, scaled.body);
    const status = await sup.status();
    assert.equal(status.desired, 3);
    assert.deepEqual(status.workers.map((w) => [w.slot, w.state, w.generation]), [
      [0, 'ready', 2],
      [1, 'ready', 2],
      [2, 'ready', 2],
    ]);
  });

  it('coalesces reloads requested during a reload into one more', async () => {
    const { sup } = await startCopy([], 1);
    const replies = await Promise.all([1, 2, 3].map(() => controlCall(sup.control, 'POST', '/reload')));
    const generations = replies.map((r) => (JSON.parse(r.body) as { generation: number }).generation);
    assert.deepEqual(generations, [2, 3, 3]);
    assert.equal((await sup.status()).generation, 3);
  });

  it('--watch: touching the script replaces every worker, with no failed request', async () => {
    const { sup, app } = await startCopy(['--watch', '.', '--watch-debounce', '200ms'], 2);
    const before = await pidsOf(sup);
    const load = startLoad(sup.port, { connections: 8, keepAlive: true });
    await waitFor(() => load.ok() > 100, { message: 'load running' });
    const touchedAt = Date.now();
    writeFileSync(app, `${(await import('node:fs')).readFileSync(app, 'utf8')}\n// touched\n`);
    const changed = await sup.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('file change: app.cjs'), 10_000);
    assert.ok(changed);
    await sup.waitForLog((l) => l.msg === 'rolling reload done', 10_000);
    assert.ok(Date.now() - touchedAt < 10_000);
    const result = await load.stop();
    assert.deepEqual(result.errors, []);
    const after = await pidsOf(sup);
    assert.ok(after.every((pid) => !before.includes(pid)), 'every worker replaced');
  });
});
