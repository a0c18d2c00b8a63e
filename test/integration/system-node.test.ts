// A system of small Node apps (no uvicorn needed): per-slot weights inside an
// app, `strip` on the routing front, and depends-on ordering at start.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { BIN, controlGet, FIXTURES, freePort, freePortRange, httpGet, killAll, ROOT, startSupervise, tempDir } from '../helpers/supervise.js';
import { needsAddon } from '../helpers/native.js';
import { waitFor } from '../helpers/wait-for.js';

after(killAll);

const ECHO_URL = join(ROOT, 'examples', 'services', 'web', 'app.js');

describe('a system of Node apps', () => {
  it('weights per slot, strip on a route, and depends-on order', async () => {
    const dir = tempDir();
    const [front, own, base] = [await freePort(), await freePort(), await freePortRange(3)];
    const echoBase = await freePortRange(2);
    const lateBase = await freePortRange(2);
    const file = join(dir, 'supervise.yaml');
    writeFileSync(file, stringify({
      front: { port: front },
      defaults: { 'kill-timeout': '2s' },
      apps: {
        weighted: {
          command: [process.execPath, join(FIXTURES, 'http-app.cjs')],
          workers: 2, 'base-port': base, port: own, proxy: 'http', balance: 'weighted-round-robin', weights: [3, 1],
        },
        echo: { command: [process.execPath, ECHO_URL], workers: 1, 'base-port': echoBase, route: { path: '/api', strip: true } },
        late: { command: [process.execPath, join(FIXTURES, 'http-app.cjs')], workers: 1, 'base-port': lateBase, proxy: 'none', 'depends-on': ['weighted', 'echo'] },
      },
    }));
    const sup = await startSupervise(['--config', file], { port: null, readyWorkers: 4 });

    // 3:1 by slot, exactly (smooth weighted round-robin over the two ready workers).
    const status = (await sup.status()) as unknown as { apps: Array<{ name: string; workers: Array<{ slot: number; pid: number }> }> };
    const slotOf = new Map(status.apps.find((app) => app.name === 'weighted')?.workers.map((w) => [w.pid, w.slot]));
    const perSlot = [0, 0];
    for (let i = 0; i < 40; i++) {
      const { pid } = JSON.parse((await httpGet(own, '/')).body) as { pid: number };
      const slot = slotOf.get(pid) as number;
      perSlot[slot] = (perSlot[slot] ?? 0) + 1;
    }
    assert.deepEqual(perSlot, [30, 10]);

    // strip: the app sees the path without its prefix.
    assert.equal((JSON.parse((await httpGet(front, '/api/users/1?x=2')).body) as { url: string }).url, '/users/1?x=2');
    assert.equal((JSON.parse((await httpGet(front, '/api')).body) as { url: string }).url, '/');

    // depends-on: late's first worker started after every worker of weighted and echo was ready.
    const at = (app: string, msg: string) =>
      sup.logs.filter((line) => (line as unknown as { app?: string }).app === app && line.msg === msg).map((line) => Number((line as unknown as { time: number }).time));
    const lastReady = Math.max(...at('weighted', 'worker ready'), ...at('echo', 'worker ready'));
    const lateStarted = Math.min(...at('late', 'worker started'));
    assert.equal(at('weighted', 'worker ready').length + at('echo', 'worker ready').length, 3);
    assert.ok(lateStarted >= lastReady, `late started at ${lateStarted}, before the last dependency was ready (${lastReady})`);

    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
  });

  for (const dataPath of ['native', 'javascript'] as const) {
    it(`holds requests that reach the routing front before their app is ready, and sends them on once it is (${dataPath} data path)`, { skip: dataPath === 'native' && needsAddon('the native http data path') }, async () => {
      const dir = tempDir();
      const [front, web] = [await freePort(), await freePort()];
      const file = join(dir, 'supervise.yaml');
      writeFileSync(file, stringify({
        front: { port: front },
        defaults: { 'kill-timeout': '2s' },
        apps: {
          // Listens 1.5 s after its start, as a booting uvicorn does.
          slow: {
            command: [process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'], workers: 1, 'base-port': await freePortRange(2),
            env: { FIXTURE_LISTEN_DELAY_MS: '1500' }, route: '/slow',
          },
          web: { script: ECHO_URL, workers: 1, port: web, route: '/web' },
        },
      }));
      const sup = await startSupervise(['--config', file], { port: null, env: dataPath === 'javascript' ? { SUPERVISE_HTTP_NATIVE: '0' } : {} });
      const bound = await sup.waitForLog((l) => String(l.msg).startsWith('routing front on'), 10_000, 'the routing front bound');
      assert.match(String(bound.msg), new RegExp(`\\(${dataPath} data path\\)`));
      const sent = Date.now();
      // Both before their app has a ready worker: held (queue timeout 10 s), not refused, then answered.
      const answers = await Promise.all(['/slow/x', '/web/y'].map(async (path) => ({ path, ...(await httpGet(front, path, 15_000)), ms: Date.now() - sent })));
      for (const answer of answers) {
        assert.equal(answer.status, 200, `${answer.path}: ${answer.body}`);
        assert.ok(answer.ms < 6000, `${answer.path} answered after ${answer.ms} ms: sent on when its worker was ready, not at the queue timeout`);
      }
      assert.ok(sup.logs.some((l) => l.msg === 'worker ready'), 'the workers became ready meanwhile');
      // A routed app's status names the data path of the front it runs behind.
      const status = (await sup.status()) as unknown as { apps: Array<{ name: string; front: { dataPath: string } }> };
      assert.equal(status.apps.find((app) => app.name === 'slow')?.front.dataPath, dataPath);
    });
  }

  it('supervise up runs ./supervise.yaml', async () => {
    const dir = tempDir();
    const base = await freePortRange(2);
    writeFileSync(join(dir, 'supervise.yaml'), stringify({
      control: './up.sock',
      apps: { solo: { command: [process.execPath, join(FIXTURES, 'http-app.cjs')], workers: 1, 'base-port': base, proxy: 'none' } },
    }));
    const child = spawn(process.execPath, [BIN, 'up', '--log-format', 'json'], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      const status = await waitFor(async () => {
        const body = JSON.parse(await controlGet(join(dir, 'up.sock'), '/status').catch(() => '{}')) as { apps?: Array<{ name: string; workers: Array<{ state: string }> }> };
        return body.apps?.[0]?.workers[0]?.state === 'ready' ? body : undefined;
      }, { timeoutMs: 15_000, message: 'the app of ./supervise.yaml ready' });
      assert.equal(status.apps?.[0]?.name, 'solo');
      assert.equal((await httpGet(base, '/')).status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
