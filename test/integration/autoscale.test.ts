// The autoscaler on real workers (SPEC §15): an app whose handler burns CPU
// scales 1 → 4 under load and back to 1 once the load stops and the (shortened)
// scale-down window has passed; the same with a requests-per-second target
// through the http front. Asserted: the end states, at most one direction
// change, no failed request while it scales, the decision in status and as an
// event; `ctl scale` outside the bounds is refused.
//
// The CPU target: 4 workers at 50 % of a core each is the whole of a 2-core
// machine, which a shared CI box never gives one test; the target here is 10 %
// and each worker burns on 8 threads, so that the load wins its share anyway.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { ctlChild, killCtlChildren } from '../helpers/ctl-child.js';
import { BIN, FIXTURES, freePort, freePortRange, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'burn-app.cjs');

afterEach(async () => {
  killCtlChildren();
  await killAll();
});
after(killAll);

interface AutoscaleBody {
  desired: number;
  workers: Array<{ state: string }>;
  autoscale?: { min: number; max: number; metrics: Array<{ metric: string; value?: number; target: number }>; last?: { from: number; to: number; reason: string } };
}

async function startApp(autoscale: string, env: Record<string, string>, proxy = 'http'): Promise<Supervised> {
  const dir = tempDir();
  return startSupervise(['--config', await writeFile(dir, autoscale, proxy)], { port: null, env, readyWorkers: 1 });
}

async function writeFile(dir: string, autoscale: string, proxy: string, ports?: { port: number; base: number }): Promise<string> {
  const file = join(dir, 'supervise.yaml');
  writeFileSync(file, [
    'apps:',
    '  api:',
    `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(APP)}]`,
    '    workers: 1',
    `    port: ${ports?.port ?? await freePort()}`,
    `    base-port: ${ports?.base ?? await freePortRange(4)}`,
    `    proxy: ${proxy}`,
    '    kill-timeout: 5s',
    `    autoscale: ${autoscale}`,
    '',
  ].join('\n'));
  return file;
}

const portOf = async (sup: Supervised) => ((await sup.status()) as unknown as { port: number }).port;
const status = async (sup: Supervised) => (await sup.status()) as unknown as AutoscaleBody;
const readyCount = async (sup: Supervised) => (await status(sup)).workers.filter((w) => w.state === 'ready').length;

/** Closed-loop clients; each waits `pauseMs` between its requests. Counts what a user would see fail. */
function load(port: number, path: string, connections: number, pauseMs = 0, keepAlive = true) {
  const agent = new http.Agent({ keepAlive, maxSockets: connections });
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const once = () => new Promise<void>((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent, timeout: 20_000 }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode === 200) ok++;
        else failures.push(`HTTP ${response.statusCode}`);
        resolve();
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => {
      failures.push(error.message);
      resolve();
    });
  });
  const loops = Array.from({ length: connections }, async () => {
    while (running) {
      await once();
      if (pauseMs > 0) await delay(pauseMs);
    }
  });
  return {
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { ok, failures };
    },
  };
}

/** The autoscaler's moves, from its log lines; and how often their direction changed. */
function moves(sup: Supervised): Array<[number, number]> {
  return sup.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('autoscale ')).map((l) => [Number(l['from']), Number(l['to'])]);
}
function directionChanges(list: Array<[number, number]>): number {
  const signs = list.map(([from, to]) => Math.sign(to - from)).filter((sign) => sign !== 0);
  return signs.filter((sign, i) => i > 0 && sign !== signs[i - 1]).length;
}

async function scaleUpThenDown(sup: Supervised, path: string, connections: number, lightPath: string, lightPauseMs: number, keepAlive = true) {
  const port = await portOf(sup);
  const heavy = load(port, path, connections, 0, keepAlive);
  // A light client stays on for the whole run: no request of it may fail while workers come and go.
  const light = load(port, lightPath, 1, lightPauseMs, keepAlive);
  try {
    await waitFor(async () => (await readyCount(sup)) === 4 && (await status(sup)).desired === 4, { timeoutMs: 40_000, intervalMs: 250, message: '4 ready workers under load' });
  } finally {
    const result = await heavy.stop();
    assert.deepEqual(result.failures, [], 'no failed request while scaling up');
    assert.ok(result.ok > 0);
  }
  const up = await status(sup);
  assert.ok(up.autoscale?.last, 'the last decision is in status');
  assert.match(up.autoscale.last.reason, /for target/);
  await waitFor(async () => (await status(sup)).workers.length === 1 && (await status(sup)).desired === 1, { timeoutMs: 40_000, intervalMs: 250, message: 'back to 1 worker' });
  const lightResult = await light.stop();
  assert.deepEqual(lightResult.failures, [], 'no failed request while scaling down');
  const list = moves(sup);
  assert.ok(list.some(([from, to]) => to > from) && list.some(([from, to]) => to < from), `moved up and down: ${JSON.stringify(list)}`);
  assert.ok(directionChanges(list) <= 1, `at most one direction change: ${JSON.stringify(list)}`);
}

describe('autoscale', () => {
  it('cpu: 1 → 4 workers under CPU load, back to 1 after the scale-down window, no failed request', { timeout: 120_000 }, async () => {
    const sup = await startApp('{min: 1, max: 4, cpu: 10, period: 1s, scale-down-window: 6s}', { FIXTURE_BURN_MS: '50', FIXTURE_THREADS: '8' });
    await scaleUpThenDown(sup, '/burn', 16, '/light', 200);
    const events = sup.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('autoscale '));
    assert.match(String(events[0]?.msg), /^autoscale 1 → \d: cpu [\d.]+ % for target 10 %: recommends \d/);
  });

  for (const dataPath of ['native', 'javascript'] as const) {
    it(`rps: 1 → 4 workers by requests per second through the http front (${dataPath} data path), back to 1 after the window`, { timeout: 120_000 }, async (t) => {
      // 8 clients at ~50 ms per request: ~160 req/s against 5 per worker. The light client: < 4 req/s.
      const env = { FIXTURE_DELAY_MS: '50', SUPERVISE_HTTP_NATIVE: dataPath === 'native' ? '1' : '0' };
      const sup = await startApp('{min: 1, max: 4, rps: 5, period: 1s, scale-down-window: 4s}', env);
      const front = ((await sup.status()) as unknown as { front: { dataPath: string } }).front;
      if (dataPath === 'native' && front.dataPath !== 'native') {
        t.skip('the native http front is not built here');
        return;
      }
      assert.equal(front.dataPath, dataPath);
      await scaleUpThenDown(sup, '/', 8, '/', 400);
      const last = (await status(sup)).autoscale;
      assert.deepEqual(last?.metrics.map((m) => [m.metric, m.target]), [['rps', 5]]);
    });
  }

  it('rps through the tcp front: new connections per second per worker, 1 → 4 and back', { timeout: 120_000 }, async () => {
    // The tcp front sees connections, not requests: one request per connection here.
    const sup = await startApp('{min: 1, max: 4, rps: 5, period: 1s, scale-down-window: 4s}', { FIXTURE_DELAY_MS: '50' }, 'tcp');
    await scaleUpThenDown(sup, '/', 8, '/', 400, false);
  });

  it('ctl apply with only autoscale: changed takes the new bounds without reloading the workers', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const ports = { port: await freePort(), base: await freePortRange(4) };
    const sup = await startSupervise(['--config', await writeFile(dir, '{min: 1, max: 2, rps: 1000, period: 1s}', 'http', ports)], { port: null, readyWorkers: 1 });
    const before = await status(sup);
    await writeFile(dir, '{min: 2, max: 3, rps: 1000, period: 1s}', 'http', ports);
    const applied = spawnSync(process.execPath, [BIN, 'ctl', '--control', sup.control, 'apply'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(applied.status, 0, applied.stderr);
    assert.deepEqual([(await status(sup)).autoscale?.min, (await status(sup)).autoscale?.max], [2, 3]);
    // Below the new min: moved to it at the next decision, by the autoscaler.
    await waitFor(async () => (await readyCount(sup)) === 2, { timeoutMs: 20_000, message: '2 ready workers' });
    const after = (await sup.status()) as unknown as { generation: number; workers: Array<{ pid: number }> };
    assert.equal(after.generation, (before as unknown as { generation: number }).generation, 'no reload');
  });

  it('ctl scale on an autoscaled app: refused outside min…max; inside, a scale-up by hand holds for the scale-down window', { timeout: 60_000 }, async () => {
    const sup = await startApp('{min: 1, max: 3, rps: 1000, period: 1s, scale-down-window: 3s}', {});
    const ctl = (...args: string[]) => spawnSync(process.execPath, [BIN, 'ctl', '--control', sup.control, ...args], { encoding: 'utf8', timeout: 30_000 });
    const events = ctlChild(['--control', sup.control, 'events']);
    await waitFor(() => events.err.some((line) => /watching supervisor pid \d+/.test(line)), { message: 'the event stream to start' });
    const refused = ctl('scale', '5');
    assert.notEqual(refused.status, 0, refused.stdout);
    assert.match(refused.stderr, /autoscaled between 1 and 3 workers: scale within them, or change autoscale: in the file/);
    const t0 = Date.now();
    const accepted = ctl('scale', '3');
    assert.equal(accepted.status, 0, accepted.stderr);
    assert.equal((await status(sup)).desired, 3);
    // Idle: the autoscaler takes it back to 1, but only once the window has passed.
    await waitFor(async () => (await status(sup)).desired === 1, { timeoutMs: 30_000, intervalMs: 200, message: 'back to 1' });
    assert.ok(Date.now() - t0 >= 2900, `held for the window (${Date.now() - t0} ms)`);
    const text = ctl('status');
    assert.match(text.stdout, /autoscale 1…3: rps [\d.]+ \/ 1000/);
    assert.match(text.stdout, /last: 3 → 1/);
    // Each decision is an event: the hold was told once, then the move.
    const line = await waitFor(() => events.out.find((l) => / api {2}autoscale 3 -> 1 workers: rps 0 req\/s for target 1000 req\/s/.test(l)), { message: `the autoscale event; got:\n${events.out.join('\n')}` });
    assert.ok(line);
    assert.ok(events.out.filter((l) => / autoscale: stays at 3 workers: .*held at 3 by the scale-down window/.test(l)).length <= 1, events.out.join('\n'));
  });
});
