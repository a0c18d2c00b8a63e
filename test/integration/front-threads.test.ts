// The native http front on two data-plane threads (--front-threads 2, SPEC §12):
// both threads serve (their counters in `ctl status`), a stop with requests in
// flight on both exits 0, and snapshots swapped while a load runs (weights
// changed by `ctl apply`) fail no request.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { startLoad } from '../helpers/load.js';
import { controlCall, FIXTURES, freePort, freePortRange, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'http-app.cjs');
const skip = nativeTunnelPath() === undefined ? 'native module not built' : false;
// Under .ci/asan: a use-after-free is still fatal (exit 23), without the leak check of a master that ends with process.exit().
const SANITIZER_ENV = { ASAN_OPTIONS: 'detect_leaks=0:exitcode=23' };

afterEach(killAll);
after(killAll);

interface ThreadCounts {
  requests: number;
  connections: number;
}

async function threadCounts(control: string): Promise<ThreadCounts[]> {
  const body = JSON.parse((await controlCall(control, 'GET', '/status')).body) as { front?: { threads?: ThreadCounts[] } };
  return body.front?.threads ?? [];
}

/** A backend that answers its name, closed after the test. */
async function namedBackend(name: string, closers: Array<() => void>): Promise<number> {
  const server = http.createServer((request, response) => {
    request.resume();
    response.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** SIGTERM: the master exits 0 (its last lines in the message otherwise). */
async function stopsCleanly(sup: Awaited<ReturnType<typeof startSupervise>>): Promise<void> {
  sup.child.kill('SIGTERM');
  const exit = await sup.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `the master ended ${JSON.stringify(exit)}: ${sup.text.slice(-20).join('\n')}`);
}

/** 64 connections of load (keep-alive, or a connection per request) until both threads' counts grow; 0 failed. */
async function loadUntilBothThreadsServe(sup: Awaited<ReturnType<typeof startSupervise>>, keepAlive: boolean): Promise<void> {
  const load = startLoad(sup.port, { connections: 64, keepAlive });
  try {
    await waitFor(async () => {
      const threads = await threadCounts(sup.control);
      return threads.length === 2 && threads.every((thread) => thread.requests > 0 && thread.connections > 0);
    }, { timeoutMs: 20_000, message: 'requests served on both threads' });
  } finally {
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.join('\n'));
    assert.ok(result.ok > 0);
  }
}

describe('--front-threads 2: the native http front on two data-plane threads', { skip }, () => {
  it('both threads serve many keep-alive connections; status shows each thread\'s counts', { timeout: 60_000 }, async () => {
    const base = await freePortRange(2);
    const sup = await startSupervise(['-w', '2', '--proxy', 'http', '--front-threads', '2', '--base-port', String(base), '--', process.execPath, APP], {
      readyWorkers: 2,
      env: SANITIZER_ENV,
    });
    await loadUntilBothThreadsServe(sup, true);
    assert.equal((await threadCounts(sup.control)).length, 2);
    const metrics = (await controlCall(sup.control, 'GET', '/metrics')).body;
    for (const thread of ['0', '1']) assert.match(metrics, new RegExp(`supervise_front_thread_requests_total\\{front="[^"]+",thread="${thread}"\\} [1-9]`));
    await stopsCleanly(sup);
  });

  it('--proxy tcp: both threads take many concurrent connections, 0 failed; status and metrics show each thread\'s counts', { timeout: 60_000 }, async () => {
    const base = await freePortRange(2);
    const sup = await startSupervise(['-w', '2', '--proxy', 'tcp', '--front-threads', '2', '--base-port', String(base), '--', process.execPath, APP], {
      readyWorkers: 2,
      env: SANITIZER_ENV,
    });
    // A connection per request: each one is accepted, decided and piped by a data-plane thread.
    await loadUntilBothThreadsServe(sup, false);
    const status = JSON.parse((await controlCall(sup.control, 'GET', '/status')).body) as { front?: { kind?: string; dataPath?: string } };
    assert.equal(status.front?.kind, 'tcp');
    assert.equal(status.front?.dataPath, 'native');
    const metrics = (await controlCall(sup.control, 'GET', '/metrics')).body;
    for (const thread of ['0', '1']) assert.match(metrics, new RegExp(`supervise_front_thread_connections_total\\{front="[^"]+",thread="${thread}"\\} [1-9]`));
    await stopsCleanly(sup);
  });

  it('a stop with slow requests in flight on both threads and --kill-timeout 1s exits 0', { timeout: 60_000 }, async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(['-w', '3', '--proxy', 'http', '--front-threads', '2', '--kill-timeout', '1s', '--base-port', String(base), '--', process.execPath, APP], {
      readyWorkers: 3,
      env: { FIXTURE_DELAY_MS: '30000', ...SANITIZER_ENV },
    });
    // Connections opened together: each thread takes some while the other is busy accepting.
    const slow = Array.from({ length: 24 }, (_, i) =>
      new Promise<number>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: sup.port, path: `/slow/${i}`, agent: false, timeout: 60_000 }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', () => resolve(0));
        });
        req.on('error', () => resolve(0));
        req.on('timeout', () => req.destroy());
      }),
    );
    await waitFor(async () => (await sup.status()).workers.reduce((sum, w) => sum + (w.connections ?? 0), 0) >= 24, { timeoutMs: 15_000, message: '24 requests in flight' });
    const threads = await threadCounts(sup.control);
    assert.equal(threads.length, 2);
    await stopsCleanly(sup);
    await Promise.all(slow);
  });

  it('weights changed by ctl apply while a load runs: every snapshot swapped in, no request fails', { timeout: 90_000 }, async () => {
    const closers: Array<() => void> = [];
    try {
      const [a, b] = [await namedBackend('a', closers), await namedBackend('b', closers)];
      const dir = tempDir();
      const file = join(dir, 'supervise.yaml');
      const port = await freePort();
      const write = (weightA: number, weightB: number) =>
        writeFileSync(file, stringify({
          apps: { api: { proxy: 'http', port, 'front-threads': 2, upstreams: [{ server: `127.0.0.1:${a}`, weight: weightA }, { server: `127.0.0.1:${b}`, weight: weightB }] } },
        }));
      write(1, 1);
      const sup = await startSupervise(['--config', file], { port: null, env: SANITIZER_ENV });
      await sup.waitForLog((line) => /balancing remote servers on/.test(line.msg), 20_000);
      const keepAlive = startLoad(port, { connections: 16, keepAlive: true });
      const fresh = startLoad(port, { connections: 4, keepAlive: false });
      try {
        for (const [weightA, weightB] of [[5, 1], [1, 5], [3, 2], [1, 1], [7, 1]] as const) {
          write(weightA, weightB);
          const applied = await controlCall(sup.control, 'POST', '/apply');
          assert.equal(applied.status, 200, applied.body);
          const before = keepAlive.ok();
          await waitFor(() => keepAlive.ok() > before + 50, { timeoutMs: 20_000, message: 'requests served after the apply' });
        }
      } finally {
        const results = [await keepAlive.stop(), await fresh.stop()];
        for (const result of results) assert.equal(result.failed, 0, result.errors.join('\n'));
      }
      await stopsCleanly(sup);
    } finally {
      for (const close of closers) close();
    }
  });
});
