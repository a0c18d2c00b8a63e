// The supervisor under a stand-in for systemd: a real Unix datagram socket
// as NOTIFY_SOCKET. READY=1 only once the whole first generation serves,
// RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM,
// WATCHDOG=1 inside WATCHDOG_USEC all along, every message from the master's
// pid, and the workers never see NOTIFY_SOCKET.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { NotifyReceiver, notifyAvailable, type NotifyMessage } from '../../src/notify/socket.js';
import { controlCall, controlGet, freePort, httpGet, killAll, startSupervise, tempDir, type StatusBody } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

after(killAll);

// Slot 1 comes up 1.5 s after slot 0: a READY=1 sent at the first ready worker would be caught.
const APP = `
const http = require('node:http');
const server = http.createServer((req, res) => res.end(JSON.stringify({
  notifySocket: process.env.NOTIFY_SOCKET ?? null, watchdog: process.env.WATCHDOG_USEC ?? null })));
setTimeout(() => server.listen(Number(process.env.PORT)), process.env.SUPERVISE_WORKER === '1' ? 1500 : 0);
`;

// Pings every 500 ms, systemd's deadline 1 s: room for a loaded machine, still telling half-interval pings apart.
const WATCHDOG_USEC = 1_000_000;

interface Received extends NotifyMessage {
  readonly at: number;
}

describe('the supervisor speaks the notify protocol', { skip: !notifyAvailable() && 'the native addon is not built', timeout: 60_000 }, () => {
  test('READY, RELOADING/READY, STOPPING at the right moments, WATCHDOG on time', async () => {
    const dir = tempDir();
    const socketPath = join(dir, 'systemd-notify.sock');
    const app = join(dir, 'app.cjs');
    writeFileSync(app, APP);
    const received: Received[] = [];
    const statusAt = new Map<Received, Promise<StatusBody>>();
    let control = '';
    const receiver = NotifyReceiver.listen(socketPath, (message) => {
      const entry = { ...message, at: Date.now() };
      received.push(entry);
      // What the supervisor says at the moment systemd hears READY=1.
      if (message.fields.get('READY') === '1') statusAt.set(entry, controlGet(control, '/status').then((body) => JSON.parse(body) as StatusBody));
    });
    try {
      const sup = await startSupervise(['-w', '2', app], { env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: String(WATCHDOG_USEC) } });
      control = sup.control;
      const withField = (key: string) => received.filter((m) => m.fields.has(key) && !m.fields.has('WATCHDOG'));

      const ready = await waitFor(() => withField('READY')[0], { timeoutMs: 15_000, message: 'READY=1' });
      const atReady = await statusAt.get(ready)!;
      assert.deepEqual(
        atReady.workers.map((w) => w.state),
        ['ready', 'ready'],
        'READY=1 came once both workers were ready',
      );
      assert.match(ready.fields.get('STATUS') ?? '', /2\/2 workers ready, generation 1/);
      assert.equal(ready.fields.get('MAINPID'), String(sup.child.pid));

      const env = JSON.parse((await httpGet(sup.port)).body) as { notifySocket: string | null; watchdog: string | null };
      assert.deepEqual(env, { notifySocket: null, watchdog: null }, 'workers do not inherit NOTIFY_SOCKET / WATCHDOG_USEC');

      sup.child.kill('SIGHUP');
      const reloading = await waitFor(() => withField('RELOADING')[0], { timeoutMs: 15_000, message: 'RELOADING=1' });
      const monotonicUsec = BigInt(reloading.fields.get('MONOTONIC_USEC') ?? '0');
      const nowUsec = process.hrtime.bigint() / 1000n;
      assert.ok(nowUsec - monotonicUsec >= 0n && nowUsec - monotonicUsec < 5_000_000n, `MONOTONIC_USEC ${monotonicUsec} is CLOCK_MONOTONIC (now ${nowUsec})`);
      const reloaded = await waitFor(() => withField('READY')[1], { timeoutMs: 20_000, message: 'READY=1 after the reload' });
      assert.ok(reloaded.at >= reloading.at);
      const afterReload = await statusAt.get(reloaded)!;
      assert.equal(afterReload.generation, 2);
      assert.deepEqual(
        afterReload.workers.map((w) => [w.state, w.generation]),
        [['ready', 2], ['ready', 2]],
        'READY=1 after the reload came once every worker was replaced',
      );
      assert.match(reloaded.fields.get('STATUS') ?? '', /^reloaded: 2\/2 workers ready, generation 2/);

      sup.child.kill('SIGTERM');
      const stopping = await waitFor(() => withField('STOPPING')[0], { timeoutMs: 10_000, message: 'STOPPING=1' });
      const exit = await sup.exited;
      assert.equal(exit.code, 0);
      assert.ok(received.indexOf(stopping) > received.indexOf(reloaded));

      const pings = received.filter((m) => m.fields.get('WATCHDOG') === '1');
      assert.ok(pings.length >= 4, `${pings.length} WATCHDOG=1 pings`);
      const gaps = pings.slice(1).map((m, i) => m.at - pings[i]!.at);
      assert.ok(Math.max(...gaps) < WATCHDOG_USEC / 1000, `every gap between pings within WATCHDOG_USEC: ${gaps.join(', ')} ms`);
      // The receiver's own delays can bring two arrivals closer: 60% of the period still tells 500 ms pings from faster ones.
      assert.ok(Math.min(...gaps) >= (WATCHDOG_USEC / 2000) * 0.6, `pings at half of WATCHDOG_USEC, not more often: ${gaps.join(', ')} ms`);
      assert.deepEqual([...new Set(received.map((m) => m.pid))], [sup.child.pid], 'every message from the master itself');
    } finally {
      receiver.close();
    }
  });

  test('a system of two apps: READY=1 once both are ready; ctl apply is a reload to systemd', async () => {
    const dir = tempDir();
    const socketPath = join(dir, 'systemd-notify.sock');
    writeFileSync(join(dir, 'fast.cjs'), "require('node:http').createServer((q, s) => s.end('fast')).listen(Number(process.env.PORT));\n");
    writeFileSync(join(dir, 'slow.cjs'), "setTimeout(() => require('node:http').createServer((q, s) => s.end('slow')).listen(Number(process.env.PORT)), 1500);\n");
    const [fastPort, slowPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'supervise.yaml'), `apps:\n  fast: { script: fast.cjs, workers: 1, port: ${fastPort} }\n  slow: { script: slow.cjs, workers: 1, port: ${slowPort} }\n`);
    const received: Received[] = [];
    const receiver = NotifyReceiver.listen(socketPath, (message) => received.push({ ...message, at: Date.now() }));
    try {
      const started = Date.now();
      const sup = await startSupervise(['--config', join(dir, 'supervise.yaml')], { port: null, cwd: dir, env: { NOTIFY_SOCKET: socketPath } });
      const ready = await waitFor(() => received.find((m) => m.fields.get('READY') === '1'), { timeoutMs: 15_000, message: 'READY=1' });
      assert.ok(ready.at - started >= 1500, 'not before the slow app listened');
      assert.equal(ready.fields.get('STATUS'), 'fast 1/1, slow 1/1 ready');
      assert.equal((await httpGet(slowPort)).body, 'slow');

      const applied = await controlCall(sup.control, 'POST', '/apply');
      assert.equal(applied.status, 200, applied.body);
      const firstLines = () => received.filter((m) => !m.fields.has('WATCHDOG')).map((m) => m.text.split('\n')[0]);
      await waitFor(() => firstLines().length >= 3, { message: 'the notifications of the apply' });
      const texts = firstLines();
      assert.deepEqual(texts.slice(texts.indexOf('READY=1')), ['READY=1', 'RELOADING=1', 'READY=1'], 'RELOADING=1 then READY=1 around the apply, in that order');
      sup.child.kill('SIGTERM');
      assert.equal((await sup.exited).code, 0);
      assert.equal(received.at(-1)?.fields.get('STOPPING'), '1');
    } finally {
      receiver.close();
    }
  });
});
