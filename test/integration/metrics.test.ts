// One /metrics scrape as a user reads it: the L7 front's requests by app, route
// and status class with a latency histogram; in cluster mode a worker's own
// prom-client metrics with a slot label, and its open connections in status.

import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { controlCall, controlGet, FIXTURES, freePort, freePortRange, httpGet, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 60_000 };
after(killAll);

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** One GET with a Host header, on a new connection: its status. */
function getWithHost(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 5000 }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

const nativeBuilt = nativeTunnelPath() !== undefined;

describe('metrics', () => {
  it('the http front counts requests by app and status class, with a latency histogram', TIMEOUT, async () => {
    const base = await freePortRange(2);
    const sup = await startSupervise(
      ['-w', '2', '--proxy', 'http', '--base-port', String(base), '--', process.execPath, join(FIXTURES, 'metrics-app.cjs'), '{port}'],
      { readyWorkers: 2 },
    );
    for (let i = 0; i < 6; i++) assert.equal((await httpGet(sup.port, '/')).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(sup.port, '/status/503')).status, 503);
    assert.equal((await httpGet(sup.port, '/status/404')).status, 404);
    assert.equal((await httpGet(sup.port, '/?ms=700')).status, 200);

    const text = await controlGet(sup.control, '/metrics');
    // An app's own front has no routing table: one route, every path.
    const app = 'app="metrics-app",route="/"';
    assert.equal(sample(text, `supervise_http_requests_total{${app},class="2xx"}`), 7, text);
    assert.equal(sample(text, `supervise_http_requests_total{${app},class="5xx"}`), 3);
    assert.equal(sample(text, `supervise_http_requests_total{${app},class="4xx"}`), 1);
    assert.equal(sample(text, `supervise_http_request_duration_seconds_count{${app}}`), 11);
    // The slow request is above 500 ms (and well within 2.5 s); the others are fast, even on a busy machine.
    assert.equal(sample(text, `supervise_http_request_duration_seconds_bucket{${app},le="0.5"}`), 10);
    assert.equal(sample(text, `supervise_http_request_duration_seconds_bucket{${app},le="2.5"}`), 11);
    assert.ok((sample(text, `supervise_http_request_duration_seconds_sum{${app}}`) ?? 0) >= 0.7);
    // The same totals in /status, for top's req/s, errors and p99.
    const status = (await sup.status()) as unknown as { apps: Array<{ requests?: { count: number; classes: number[] } }> };
    assert.equal(status.apps[0]?.requests?.count, 11);
    assert.deepEqual(status.apps[0]?.requests?.classes, [0, 7, 0, 1, 3]);
  });

  for (const dataPath of ['native', 'javascript'] as const) {
    const skip = dataPath === 'native' && !nativeBuilt ? 'the native module is not built' : false;
    it(`the counters never go down as workers come and go: a crash and restart on the same port, a rolling reload (${dataPath} data path)`, { ...TIMEOUT, skip }, async () => {
      const base = await freePortRange(3);
      const sup = await startSupervise(
        ['-w', '1', '--proxy', 'http', '--base-port', String(base), '--kill-timeout', '2s', '--', process.execPath, join(FIXTURES, 'metrics-app.cjs'), '{port}'],
        { readyWorkers: 1, env: dataPath === 'javascript' ? { SUPERVISE_HTTP_NATIVE: '0' } : {} },
      );
      assert.equal((await sup.status()).front?.dataPath, dataPath);
      const ok = `supervise_http_requests_total{app="metrics-app",route="/",class="2xx"}`;
      const count = async () => sample(await controlGet(sup.control, '/metrics'), ok) ?? 0;
      const serve = async (n: number) => {
        for (let i = 0; i < n; i++) assert.equal((await httpGet(sup.port, '/')).status, 200);
      };
      const readyPid = async (other: number | undefined) =>
        waitFor(async () => (await sup.status()).workers.find((w) => w.state === 'ready' && w.pid !== other)?.pid, { timeoutMs: 15_000, message: 'a new ready worker' });

      await serve(5);
      assert.equal(await count(), 5);
      // Killed: it restarts on its own port, where the front keeps what it counted for that address.
      const first = (await sup.status()).workers[0]?.pid as number;
      process.kill(first, 'SIGKILL');
      await readyPid(first);
      assert.equal(await count(), 5, 'the killed worker still counts, before the new one has served anything');
      await serve(3);
      assert.equal(await count(), 8, 'and the new one adds to it, counted once');
      // A rolling reload: the new worker on another port of the range.
      const second = (await sup.status()).workers[0]?.pid as number;
      assert.equal((await controlCall(sup.control, 'POST', '/reload')).status, 200);
      await readyPid(second);
      await waitFor(async () => (await sup.status()).workers.length === 1, { timeoutMs: 15_000, message: 'the old worker gone' });
      assert.equal(await count(), 8, 'the replaced worker still counts');
      await serve(2);
      assert.equal(await count(), 10);
    });
  }

  it("cluster mode: a worker's own metric with its slot, and its open connections in status", TIMEOUT, async () => {
    const sup = await startSupervise(['-w', '2', join(FIXTURES, 'metrics-app.cjs')], { readyWorkers: 2 });
    for (let i = 0; i < 10; i++) await httpGet(sup.port, '/');
    const text = await controlGet(sup.control, '/metrics');
    const perSlot = [0, 1].map((slot) => sample(text, `fixture_requests_total{app="metrics-app",slot="${slot}"}`));
    assert.ok(perSlot.every((n) => n !== undefined && n > 0), text);
    assert.equal((perSlot[0] ?? 0) + (perSlot[1] ?? 0), 10, 'round-robin: both workers served, every request counted once');
    assert.match(text, /# TYPE fixture_requests_total counter/);
    assert.match(text, /supervise_workers_desired\{app="metrics-app"\} 2/, 'the master metrics are in the same scrape');

    // Three connections held open show up per worker in status (cluster mode has no front to ask).
    const held: http.ClientRequest[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const request = http.get({ host: '127.0.0.1', port: sup.port, path: '/hold', agent: false }, () => resolve());
        request.on('error', reject);
        held.push(request);
      });
    }
    const open = await waitFor(async () => {
      const status = await sup.status();
      const total = status.workers.reduce((sum, w) => sum + (w.connections ?? 0), 0);
      return total === 3 ? status : undefined;
    }, { message: '3 open connections in status' });
    assert.ok(open.workers.every((w) => typeof w.connections === 'number'));
    for (const request of held) request.destroy();
    await waitFor(async () => (await sup.status()).workers.every((w) => w.connections === 0), { message: 'connections back to 0' });
  });

  it('a system: one scrape shows the routed app\'s request counters and the cluster app\'s own metric per slot', TIMEOUT, async () => {
    const dir = tempDir();
    const [front, web, base] = [await freePort(), await freePort(), await freePortRange(2)];
    const file = join(dir, 'supervise.yaml');
    writeFileSync(
      file,
      [
        `front: { port: ${front} }`,
        'apps:',
        '  api:',
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(FIXTURES, 'metrics-app.cjs'))}, "{port}"]`,
        '    workers: 2',
        `    base-port: ${base}`,
        '    route: { path: /api, strip: true }',
        '  web:',
        `    script: ${JSON.stringify(join(FIXTURES, 'metrics-app.cjs'))}`,
        '    workers: 2',
        `    port: ${web}`,
        '    route: /web',
        '',
      ].join('\n'),
    );
    const sup = await startSupervise(['--config', file], { port: null, readyWorkers: 4 });
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(front, '/api/x')).status, 200);
    assert.equal((await httpGet(front, '/api/status/500')).status, 500);
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(web, '/')).status, 200);
    // The cluster app through the front too: its backend there is its port, not a worker; the route names the app.
    for (let i = 0; i < 2; i++) assert.equal((await httpGet(front, '/web/x')).status, 200);

    const text = await controlGet(sup.control, '/metrics');
    assert.equal(sample(text, 'supervise_http_requests_total{app="api",route="/api",class="2xx"}'), 4, text);
    assert.equal(sample(text, 'supervise_http_requests_total{app="api",route="/api",class="5xx"}'), 1);
    assert.equal(sample(text, 'supervise_http_request_duration_seconds_count{app="api",route="/api"}'), 5);
    assert.equal(sample(text, 'supervise_http_requests_total{app="web",route="/web",class="2xx"}'), 2);
    const web0 = sample(text, 'fixture_requests_total{app="web",slot="0"}') ?? 0;
    const web1 = sample(text, 'fixture_requests_total{app="web",slot="1"}') ?? 0;
    assert.equal(web0 + web1, 6, text);
    assert.ok(web0 > 0 && web1 > 0);
  });

  for (const dataPath of ['native', 'javascript'] as const) {
    const skip = dataPath === 'native' && !nativeBuilt ? 'native module not built (npm install)' : false;
    it(`a routing front (${dataPath} data path) counts each request under the route it matched: an app's two routes, a canary sharing a prefix`, { ...TIMEOUT, skip }, async () => {
      const dir = tempDir();
      const [front, users, orders, canary] = [await freePort(), await freePortRange(2), await freePortRange(1), await freePortRange(1)];
      const command = `[${JSON.stringify(process.execPath)}, ${JSON.stringify(join(FIXTURES, 'metrics-app.cjs'))}, "{port}"]`;
      const file = join(dir, 'supervise.yaml');
      writeFileSync(
        file,
        [
          `front: { port: ${front} }`,
          'apps:',
          '  users:',
          `    command: ${command}`,
          '    workers: 2',
          `    base-port: ${users}`,
          '    route: [{ path: /users, strip: true }, { path: /people, host: api.example.com, strip: true }]',
          '  orders:',
          `    command: ${command}`,
          '    workers: 1',
          `    base-port: ${orders}`,
          '    route: { path: /orders, weight: 9 }',
          '  orders-canary:',
          `    command: ${command}`,
          '    workers: 1',
          `    base-port: ${canary}`,
          '    route: { path: /orders, weight: 1 }',
          '',
        ].join('\n'),
      );
      // Four workers in all (the default count is the machine's CPUs: each app says its own), every one ready before the first request.
      const sup = await startSupervise(['--config', file], { port: null, readyWorkers: 4, env: dataPath === 'javascript' ? { SUPERVISE_HTTP_NATIVE: '0' } : {} });
      await sup.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('routing front on') && l.msg.endsWith(`(${dataPath} data path)`));

      for (let i = 0; i < 3; i++) assert.equal((await httpGet(front, '/users/1')).status, 200);
      assert.equal((await httpGet(front, '/users/status/503')).status, 503);
      // The same app by its other route (both strip their prefix: the worker sees /status/404).
      for (let i = 0; i < 2; i++) assert.equal(await getWithHost(front, 'api.example.com', '/people/status/404'), 404);
      assert.equal(await getWithHost(front, 'api.example.com', '/people/1'), 200);
      for (let i = 0; i < 10; i++) assert.equal((await httpGet(front, '/orders/1')).status, 200);

      const text = await controlGet(sup.control, '/metrics');
      const total = (labels: string) => sample(text, `supervise_http_requests_total{${labels}}`);
      assert.equal(total('app="users",route="/users",class="2xx"'), 3, text);
      assert.equal(total('app="users",route="/users",class="5xx"'), 1);
      assert.equal(total('app="users",route="/users",class="4xx"'), 0);
      assert.equal(total('app="users",route="api.example.com/people",class="4xx"'), 2);
      assert.equal(total('app="users",route="api.example.com/people",class="2xx"'), 1);
      assert.equal(sample(text, 'supervise_http_request_duration_seconds_count{app="users",route="/users"}'), 4);
      assert.equal(sample(text, 'supervise_http_request_duration_seconds_bucket{app="users",route="api.example.com/people",le="+Inf"}'), 3);
      // 9:1 by weight, each app's share under the route they share.
      assert.equal(total('app="orders",route="/orders",class="2xx"'), 9);
      assert.equal(total('app="orders-canary",route="/orders",class="2xx"'), 1);
      assert.doesNotMatch(text, /route="\/"/, 'every request matched a route of the table');
      // Status (and top) sum an app's routes.
      const status = JSON.parse(await controlGet(sup.control, '/status')) as { apps: Array<{ name: string; requests?: { count: number } }> };
      const counts = Object.fromEntries(status.apps.map((app) => [app.name, app.requests?.count]));
      assert.deepEqual(counts, { users: 7, orders: 9, 'orders-canary': 1 });
    });
  }
});
