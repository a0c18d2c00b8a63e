// The system file end to end (SPEC §8), on the example of examples/services:
// 3 users + 2 orders + 1 canary uvicorn servers behind the routing front, and 2
// Node cluster workers on their own port — one master, one control socket. The
// example's file is used as it is, with free ports and absolute folders put in.
// Needs Debian's uvicorn and python3-fastapi (a failure under CI=true without them).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { startLoad } from '../helpers/load.js';
import { BIN, controlCall, FIXTURES, freePort, freePortRange, httpGet, isAlive, killAll, ROOT, startSupervise, type Supervised } from '../helpers/supervise.js';
import { uvicornMissing } from '../helpers/uvicorn.js';
import { waitFor } from '../helpers/wait-for.js';

const EXAMPLE = join(ROOT, 'examples', 'services');

const missing = uvicornMissing('the system test');

after(killAll);

interface AppStatusBody {
  name: string;
  desired: number;
  generation: number;
  workers: Array<{ slot: number; pid: number; state: string; generation: number }>;
}

/** The example's supervise.yaml with free ports and absolute folders, as a document to edit. */
async function exampleFile(dir: string) {
  const document = parseDocument(readFileSync(join(EXAMPLE, 'supervise.yaml'), 'utf8'));
  const front = await freePort();
  document.setIn(['front', 'port'], front);
  for (const [name, count] of [['users', 4], ['orders', 5], ['orders-canary', 3]] as const) {
    document.setIn(['apps', name, 'base-port'], await freePortRange(count));
    document.setIn(['apps', name, 'cwd'], join(EXAMPLE, String(document.getIn(['apps', name, 'cwd']))));
  }
  document.setIn(['apps', 'web', 'port'], await freePort());
  document.setIn(['apps', 'web', 'script'], join(EXAMPLE, 'web', 'app.js'));
  document.setIn(['defaults', 'kill-timeout'], '3s');
  const path = join(dir, 'supervise.yaml');
  const write = () => writeFileSync(path, document.toString());
  write();
  return { document, path, front, web: Number(document.getIn(['apps', 'web', 'port'])), write };
}

describe('a system of apps from one file', { skip: missing }, () => {
  let sup: Supervised;
  let file: Awaited<ReturnType<typeof exampleFile>>;
  const apps = async () => ((await sup.status()) as unknown as { apps: AppStatusBody[] }).apps;
  const pidsOf = async (name: string) => ((await apps()).find((app) => app.name === name)?.workers ?? []).filter((w) => w.state === 'ready').map((w) => w.pid).sort();
  const ctl = (...args: string[]) => {
    try {
      return { code: 0, out: execFileSync(process.execPath, [BIN, 'ctl', '--control', sup.control, ...args], { encoding: 'utf8', stdio: 'pipe', timeout: 60_000 }) };
    } catch (error) {
      const failed = error as { status: number; stderr: string; stdout: string };
      return { code: failed.status, out: failed.stdout + failed.stderr };
    }
  };
  async function serviceOf(path: string): Promise<{ service: string; pid: number }> {
    const response = await httpGet(file.front, path);
    assert.equal(response.status, 200, `${path}: ${response.body}`);
    return JSON.parse(response.body) as { service: string; pid: number };
  }

  before(async () => {
    const { tempDir } = await import('../helpers/supervise.js');
    file = await exampleFile(tempDir());
    sup = await startSupervise(['--config', file.path], { port: null, cwd: EXAMPLE, readyWorkers: 8 });
  });

  it('brings up 3 users, 2 orders, 1 canary and 2 Node workers under one master and one control socket', async () => {
    const status = await apps();
    assert.deepEqual(status.map((app) => [app.name, app.workers.filter((w) => w.state === 'ready').length]), [
      ['users', 3], ['orders', 2], ['orders-canary', 1], ['web', 2],
    ]);
    const web = JSON.parse((await httpGet(file.web, '/')).body) as { service: string };
    assert.equal(web.service, 'web');
  });

  it('routes /users/* to users workers only, evenly (30 requests: 8–12 each)', async () => {
    const users = new Set(await pidsOf('users'));
    const counts = new Map<number, number>();
    for (let i = 0; i < 30; i++) {
      const { service, pid } = await serviceOf(`/users/${1 + (i % 2)}`);
      assert.equal(service, 'users');
      assert.ok(users.has(pid), `pid ${pid} is a users worker`);
      counts.set(pid, (counts.get(pid) ?? 0) + 1);
    }
    assert.equal(counts.size, 3);
    for (const count of counts.values()) assert.ok(count >= 8 && count <= 12, JSON.stringify([...counts]));
  });

  it('routes /orders/* to orders and the canary about 9:1 (of 100: 86–94 orders), and unknown paths to a 404', async () => {
    const orders = new Set([...(await pidsOf('orders')), ...(await pidsOf('orders-canary'))]);
    let v1 = 0;
    for (let i = 0; i < 100; i++) {
      const { service, pid } = await serviceOf(`/orders/${i}`);
      assert.ok(orders.has(pid), `pid ${pid} is an orders or canary worker`);
      if (service === 'orders') v1++;
      else assert.equal(service, 'orders-canary');
    }
    assert.ok(v1 >= 86 && v1 <= 94, `${v1} of 100 to orders`);
    assert.equal((await httpGet(file.front, '/nothing-here')).status, 404);
  });

  it('ctl scale orders 4 scales orders only: users keep their pids', async () => {
    const users = await pidsOf('users');
    const result = ctl('scale', 'orders', '4');
    assert.equal(result.code, 0, result.out);
    assert.equal((await pidsOf('orders')).length, 4);
    assert.deepEqual(await pidsOf('users'), users);
    const several = ctl('scale', '3');
    assert.equal(several.code, 2, 'without a name, several apps are a usage error');
    assert.match(several.out, /4 apps \(users, orders, orders-canary, web\): name one/);
  });

  it('a broken file on apply or HUP changes nothing, and says which key on which line', async () => {
    const before = await apps();
    const good = readFileSync(file.path, 'utf8');
    writeFileSync(file.path, good.replace(/workers: 3/, 'workers: 0'));
    const result = ctl('apply');
    assert.equal(result.code, 2, result.out);
    assert.match(result.out, /"apps\.users\.workers" in .*supervise\.yaml \(line \d+\) must be an integer from 1 to 1024 \(got 0\)/);
    sup.child.kill('SIGHUP');
    await sup.waitForLog((line) => typeof line.msg === 'string' && line.msg.startsWith('SIGHUP: ') && line.msg.includes('nothing changed'));
    writeFileSync(file.path, good);
    const after = await apps();
    assert.deepEqual(after.map((app) => [app.name, app.generation, app.workers.map((w) => w.pid)]), before.map((app) => [app.name, app.generation, app.workers.map((w) => w.pid)]));
  });

  it('ctl apply: adds, changes (rolling reload) and removes apps; the untouched app keeps its pids and loses no request under load', async () => {
    const users = await pidsOf('users');
    const web = await pidsOf('web');
    const extraPorts = await freePortRange(2);
    file.document.setIn(['apps', 'extra'], file.document.createNode({
      command: [process.execPath, join(FIXTURES, 'http-app.cjs')], workers: 1, 'base-port': extraPorts, proxy: 'none', health: null,
    }));
    // http-app.cjs listens on $PORT and answers any path.
    file.document.setIn(['apps', 'orders-canary', 'env'], file.document.createNode({ CANARY_BUILD: '2' }));
    file.document.deleteIn(['apps', 'web']);
    file.write();
    const load = startLoad(file.front, { connections: 4, keepAlive: true, path: '/users/1' });
    await waitFor(() => load.ok() > 20, { message: 'load running' });
    const result = await controlCall(sup.control, 'POST', '/apply');
    const outcome = await load.stop();
    assert.equal(result.status, 200, result.body);
    assert.deepEqual(JSON.parse(result.body), { ok: true, added: ['extra'], removed: ['web'], changed: ['orders-canary'], unchanged: ['users', 'orders'] });
    assert.equal(outcome.failed, 0, outcome.errors.join('; '));
    assert.ok(outcome.ok > 20);
    assert.deepEqual(await pidsOf('users'), users, 'users untouched');
    const status = await apps();
    assert.deepEqual(status.map((app) => app.name), ['users', 'orders', 'orders-canary', 'extra']);
    assert.equal(status.find((app) => app.name === 'orders-canary')?.generation, 2, 'canary rolling-reloaded');
    await waitFor(() => web.every((pid) => !isAlive(pid)), { message: 'web workers gone' });
    assert.equal((await httpGet(extraPorts, '/')).status, 200);
  });

  it('SIGHUP with the file: re-read, then every app reloaded', async () => {
    const before = await apps();
    sup.child.kill('SIGHUP');
    await waitFor(async () => (await apps()).every((app) => app.generation === (before.find((b) => b.name === app.name)?.generation ?? 0) + 1 && app.workers.every((w) => w.state === 'ready')), {
      timeoutMs: 60_000, message: 'every app one generation further',
    });
  });

  it('stops everything on SIGTERM', async () => {
    const pids = (await apps()).flatMap((app) => app.workers.map((w) => w.pid));
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
    await waitFor(() => pids.every((pid) => !isAlive(pid)), { message: 'no worker left' });
  });
});
