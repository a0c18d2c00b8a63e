// Active TCP health checks (no --health path) on both probe paths: the native
// batch probe (src/native/probe.c through native-probe.ts) and the JavaScript
// fallback (SUPERVISE_PROBE_NATIVE=0, or no addon). A worker whose port stops
// accepting leaves rotation and is replaced; a healthy one stays; and the batch
// probe answers what probeTcp answers for an open, a refused and a silent port.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { makeBatchProbe } from '../../src/health/native-probe.js';
import { probeTcp } from '../../src/health/probe.js';
import type { HealthConfig } from '../../src/core/types.js';
import { FIXTURES, freePort, freePortRange, httpGet, isAlive, killAll, startSupervise } from '../helpers/supervise.js';
import { needsAddon } from '../helpers/native.js';
import { waitFor } from '../helpers/wait-for.js';

const SERVER = join(FIXTURES, 'port-server.cjs');

afterEach(killAll);
after(killAll);

const PATHS = [
  { name: 'native batch probe', env: {}, skip: needsAddon('the native batch probe') },
  { name: 'JavaScript probe', env: { SUPERVISE_PROBE_NATIVE: '0' }, skip: false as const },
];

for (const path of PATHS) {
  describe(`tcp health checks, ${path.name}`, { skip: path.skip }, () => {
    it('a worker whose port stops accepting goes out of rotation and is replaced; the healthy one stays', async () => {
      const base = await freePortRange(3);
      const flag = join(FIXTURES, `.stop-listening-${process.pid}-${base}`);
      const sup = await startSupervise(
        ['-w', '2', '--base-port', String(base), '--health-interval', '100ms', '--unhealthy-threshold', '2', '--ready-timeout', '8s', '--', process.execPath, SERVER, '{port}'],
        { readyWorkers: 2, env: { ...path.env, FIXTURE_STOP_LISTENING_FILE: flag } },
      );
      try {
        const before = (await sup.status()).workers;
        const victim = before.find((worker) => worker.port === base + 1);
        const survivor = before.find((worker) => worker.port !== base + 1);
        assert.ok(victim?.pid !== undefined && survivor?.pid !== undefined, JSON.stringify(before));
        writeFileSync(`${flag}-${victim.port}`, '');
        await sup.waitForLog((l) => l.msg === 'worker unhealthy: out of rotation', 10_000);
        // Out of rotation: every request goes to the one that still accepts.
        for (let i = 0; i < 6; i++) {
          const response = await httpGet(sup.port);
          assert.equal(response.status, 200, response.body);
          assert.equal((JSON.parse(response.body) as { pid: number }).pid, survivor.pid);
        }
        // Still unhealthy after --ready-timeout (8 s: a slow machine's, or a sanitized build's, boot fits in it): replaced by a new process, which serves.
        await waitFor(async () => !isAlive(victim.pid as number) && (await sup.status()).workers.filter((w) => w.state === 'ready').length === 2, {
          timeoutMs: 40_000,
          message: 'the worker that stopped accepting replaced',
        });
        const after = (await sup.status()).workers;
        assert.ok(after.some((worker) => worker.pid === survivor.pid), 'the healthy worker kept its process');
        assert.equal(after.filter((worker) => worker.pid === victim.pid).length, 0);
        assert.equal(sup.logs.filter((l) => l.msg === 'worker unhealthy: out of rotation').length, 1, 'only the worker that stopped accepting left rotation');
      } finally {
        rmSync(`${flag}-${base + 1}`, { force: true });
      }
    });
  });
}

/** A port that never answers: a listener (in Python: node cannot listen without accepting) with its backlog full, so further SYNs are dropped. */
async function silentPort(): Promise<{ port: number; close(): void }> {
  const child = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', () => reject(new Error('the silent listener exited')));
  });
  const fillers = Array.from({ length: 4 }, () => net.connect(port, '127.0.0.1').on('error', () => undefined));
  // Filled once a probe of its own hangs.
  await waitFor(async () => !(await probeTcp('127.0.0.1', port, 200)).ok, { message: 'the backlog full' });
  return {
    port,
    close() {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('native batch probe', { skip: needsAddon('the native batch probe') }, () => {
  const health: HealthConfig = { path: undefined, intervalMs: 1000, timeoutMs: 400, healthyThreshold: 1, unhealthyThreshold: 1 };

  it('answers what probeTcp answers: open, refused and silent ports, by IP and by name, in one batch', async () => {
    const batch = makeBatchProbe(health);
    assert.ok(batch, 'the native batch probe is there');
    const open = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => open.listen(0, '127.0.0.1', resolve));
    const openPort = (open.address() as net.AddressInfo).port;
    const refused = await freePort();
    const silent = await silentPort();
    try {
      const started = Date.now();
      const results = await batch([
        { host: '127.0.0.1', port: openPort },
        { host: '127.0.0.1', port: refused },
        { host: '127.0.0.1', port: silent.port },
        { host: 'localhost', port: openPort },
        { host: '127.0.0.1', port: openPort },
      ]);
      const elapsed = Date.now() - started;
      assert.deepEqual(results[0], { ok: true });
      assert.deepEqual(results[1], await probeTcp('127.0.0.1', refused, 400));
      assert.deepEqual(results[1], { ok: false, reason: `connect ECONNREFUSED 127.0.0.1:${refused}` });
      assert.deepEqual(results[2], { ok: false, reason: 'timed out after 400ms' });
      assert.deepEqual(results[2], await probeTcp('127.0.0.1', silent.port, 400));
      assert.equal(results[3]?.ok, true, 'a host name goes through the JavaScript probe');
      assert.deepEqual(results[4], { ok: true });
      assert.ok(elapsed >= 390, `the batch waited for the silent port's time limit (${elapsed} ms)`);
    } finally {
      open.close();
      silent.close();
    }
  });

  it('is not used for HTTP probes, nor with SUPERVISE_PROBE_NATIVE=0', () => {
    assert.equal(makeBatchProbe({ ...health, path: '/healthz' }), undefined);
    process.env.SUPERVISE_PROBE_NATIVE = '0';
    try {
      assert.equal(makeBatchProbe(health), undefined);
    } finally {
      delete process.env.SUPERVISE_PROBE_NATIVE;
    }
  });
});
