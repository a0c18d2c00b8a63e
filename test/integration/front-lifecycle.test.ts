// A front destroyed with requests in flight (issue 17): a stop whose close
// deadline expires, `ctl apply` removing an app with its own front, a backend
// removed mid-request and then the front's close deadline. The native front
// used to free its backends and then tell JavaScript of the last requests'
// ends, whose release read and wrote through the freed array (a crash of the
// master, or under AddressSanitizer a heap-use-after-free): these run in
// .ci/asan too.

import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { recordEvents, request, startHttpBackend, useCleanup } from '../helpers/proxy-fixtures.js';
import { controlCall, FIXTURES, freePort, freePortRange, httpGet, isAlive, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'http-app.cjs');
const nativeBuilt = nativeTunnelPath() !== undefined;
const defer = useCleanup();
// Under .ci/asan (libasan preloaded, inherited by the supervisors started here): use-after-free is still fatal (exit 23), but
// no leak check at their exit — a master that ends with process.exit() leaves V8's heap to LeakSanitizer.
const SANITIZER_ENV = { ASAN_OPTIONS: 'detect_leaks=0:exitcode=23' };

afterEach(killAll);
after(killAll);

/** `count` requests that stay open (the backend answers after 30 s); each settles with its status, or 0 when cut. */
function slowRequests(port: number, count: number): { settled: Promise<number[]>; sockets: () => number } {
  let open = 0;
  const all = Array.from({ length: count }, (_, i) =>
    new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/slow/${i}`, agent: false, timeout: 60_000 }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', () => resolve(0));
      });
      req.on('socket', (socket) => socket.on('connect', () => open++));
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
    }),
  );
  return { settled: Promise.all(all), sockets: () => open };
}

for (const proxy of ['http', 'tcp'] as const) {
  describe(`a --proxy ${proxy} front destroyed with requests in flight`, () => {
    it('a stop with 30 s requests in flight and --kill-timeout 1s exits 0', { timeout: 60_000 }, async () => {
      const base = await freePortRange(3);
      const sup = await startSupervise(['-w', '3', '--proxy', proxy, '--kill-timeout', '1s', '--base-port', String(base), '--', process.execPath, APP], {
        readyWorkers: 3,
        env: { FIXTURE_DELAY_MS: '30000', ...SANITIZER_ENV },
      });
      const slow = slowRequests(sup.port, 6);
      // Every request reached a worker (the workers log nothing per request: wait for the connections the front holds).
      await waitFor(async () => (await sup.status()).workers.reduce((sum, w) => sum + (w.connections ?? 0), 0) >= 6, { timeoutMs: 10_000, message: '6 requests in flight' });
      const sentAt = Date.now();
      sup.child.kill('SIGTERM');
      const exit = await sup.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, `the master ended ${JSON.stringify(exit)}: ${sup.text.slice(-10).join('\n')}`);
      assert.ok(Date.now() - sentAt < 15_000, `the stop took ${Date.now() - sentAt} ms`);
      await slow.settled;
    });
  });
}

for (const proxy of ['http', 'tcp'] as const) {
  describe(`a stop through an idle --proxy ${proxy} front`, () => {
    it('drains each worker (its drain reported, not waited out to the kill timeout) and exits 0', { timeout: 60_000 }, async () => {
      const base = await freePortRange(2);
      const sup = await startSupervise(['-w', '2', '--proxy', proxy, '--kill-timeout', '40s', '--log-level', 'debug', '--base-port', String(base), '--', process.execPath, APP], {
        readyWorkers: 2,
        env: SANITIZER_ENV,
      });
      // Requests leave idle keep-alive connections to the workers behind (the http front's pool).
      for (let i = 0; i < 4; i++) assert.equal((await httpGet(sup.port)).status, 200);
      sup.child.kill('SIGTERM');
      const exit = await sup.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, `the master ended ${JSON.stringify(exit)}: ${sup.text.slice(-10).join('\n')}`);
      const drains = sup.logs.filter((line) => line.msg === 'worker state' && line.from === 'draining');
      assert.equal(drains.length, 2, sup.text.slice(-20).join('\n'));
      for (const line of drains) assert.notEqual(line.event, 'timeout', `a worker's drain was waited out: ${JSON.stringify(line)}`);
    });
  });
}

for (const proxy of ['http', 'tcp'] as const) describe(`ctl apply removing an app with its own ${proxy} front while requests are in flight`, () => {
  it('leaves the master and every other app serving', { timeout: 90_000 }, async () => {
    const dir = tempDir();
    const [front, own, base, otherBase] = [await freePort(), await freePort(), await freePortRange(2), await freePortRange(2)];
    const file = join(dir, 'supervise.yaml');
    const apps = {
      doomed: { command: [process.execPath, APP], workers: 2, 'base-port': base, port: own, proxy, env: { FIXTURE_DELAY_MS: '30000' } },
      kept: { command: [process.execPath, APP], workers: 2, 'base-port': otherBase, route: '/' },
    };
    writeFileSync(file, stringify({ front: { port: front }, defaults: { 'kill-timeout': '1s' }, apps }));
    const sup = await startSupervise(['--config', file], { port: null, readyWorkers: 4, env: SANITIZER_ENV });
    const slow = slowRequests(own, 6);
    await waitFor(() => slow.sockets() >= 6, { timeoutMs: 10_000, message: '6 slow requests connected' });
    // The requests reached the doomed app's workers (its front has them in flight).
    await waitFor(
      async () => {
        const body = JSON.parse((await controlCall(sup.control, 'GET', '/status')).body) as { apps: Array<{ name: string; workers: Array<{ connections?: number }> }> };
        return (body.apps.find((app) => app.name === 'doomed')?.workers ?? []).reduce((sum, w) => sum + (w.connections ?? 0), 0) >= 6;
      },
      { timeoutMs: 10_000, message: 'the doomed app has 6 requests in flight' },
    );

    writeFileSync(file, stringify({ front: { port: front }, defaults: { 'kill-timeout': '1s' }, apps: { kept: apps.kept } }));
    const applied = await controlCall(sup.control, 'POST', '/apply');
    assert.equal(applied.status, 200, applied.body);
    await waitFor(
      async () => {
        const body = JSON.parse((await controlCall(sup.control, 'GET', '/status')).body) as { apps: Array<{ name: string }> };
        return !body.apps.some((app) => app.name === 'doomed');
      },
      { timeoutMs: 20_000, message: 'the doomed app removed' },
    );
    await slow.settled;
    // Past the doomed front's close deadline: the master is alive and the other app serves.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(isAlive(sup.child.pid as number), `the master died: ${sup.text.slice(-10).join('\n')}`);
    for (let i = 0; i < 20; i++) assert.equal((await httpGet(front, `/after/${i}`)).status, 200);
    assert.equal((await controlCall(sup.control, 'GET', '/status')).status, 200);
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
  });
});

describe('the native http front: a backend removed mid-request, then the close deadline', { skip: nativeBuilt ? false : 'native module not built' }, () => {
  it('destroys the front without touching its freed backends; the process serves on', { timeout: 30_000 }, async () => {
    const held: http.ServerResponse[] = [];
    const slowBackend = await startHttpBackend('slow', defer, (_req, res) => held.push(res));
    const events = recordEvents();
    const first = createNativeHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events }) ?? assert.fail('no native front');
    await first.listen();
    // Several backends, so that the freed array is large enough to be reused by the allocator.
    for (let id = 0; id < 40; id++) first.add({ id, host: '127.0.0.1', port: slowBackend.port, weight: 1 });
    const port = first.address().port;
    const inFlight = Array.from({ length: 8 }, (_, i) => request(port, { path: `/held/${i}` }).catch(() => undefined));
    await waitFor(() => held.length >= 8, { timeoutMs: 10_000, message: '8 requests at the backend' });
    for (let id = 0; id < 40; id++) first.remove(id);
    await first.close(100); // the deadline expires with the 8 requests in flight: the front is destroyed
    await Promise.all(inFlight);
    for (const res of held) res.destroy();
    assert.deepEqual(first.requestStats(), []);

    // The process is sound: a new front (which may get the same number in C) serves, and its counts are its own.
    const backend = await startHttpBackend('b', defer);
    const second = createNativeHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() }) ?? assert.fail('no native front');
    await second.listen();
    defer(() => second.close(0));
    second.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    for (let i = 0; i < 5; i++) assert.equal((await request(second.address().port, { path: `/n/${i}` })).body, `b GET /n/${i}`);
    await waitFor(() => second.requestStats().reduce((sum, s) => sum + s.count, 0) === 5, { timeoutMs: 5000, message: '5 responses counted' });
  });
});
