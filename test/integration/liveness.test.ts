// Hung workers are detected and replaced (SPEC §9; issue 10 hole 5): SIGSTOP
// under load in both modes, --liveness failures, and a health-ejected worker
// that stays unhealthy longer than --ready-timeout.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { startLoad } from '../helpers/load.js';
import { FIXTURES, freePortRange, isAlive, killAll, sigstop, startSupervise, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const files: string[] = [];
afterEach(async () => {
  for (const file of files.splice(0)) rmSync(file, { force: true });
  await killAll();
});
after(killAll);

const HUNG = /hung: /;

/** SIGSTOP one ready worker under load; returns how long detection took and what the clients saw. */
async function stopUnderLoad(sup: Supervised, workers: number): Promise<{ detectedMs: number; failed: number; ok: number; errors: readonly string[] }> {
  const load = startLoad(sup.port, { connections: 4, keepAlive: false });
  await waitFor(() => load.ok() > 20, { timeoutMs: 10_000, message: 'load running' });
  const victim = (await sup.status()).workers[0]?.pid as number;
  sigstop(victim);
  const at = Date.now();
  const line = await sup.waitForLog((l) => HUNG.test(String(l.msg)) && l.pid === victim, 10_000, 'hung detected');
  const detectedMs = Number(line.time) - at;
  await waitFor(() => !isAlive(victim), { timeoutMs: 5000, message: 'the hung worker killed' });
  await waitFor(async () => (await sup.status()).workers.filter((w) => w.state === 'ready').length === workers, { timeoutMs: 10_000, message: 'replaced' });
  const before = load.ok();
  await waitFor(() => load.ok() > before + 20, { timeoutMs: 10_000, message: 'serving after the replacement' });
  const result = await load.stop();
  return { detectedMs, failed: result.failed, ok: result.ok, errors: result.errors };
}

/** Detected within the window (--heartbeat-timeout 1s), and only the requests on the stopped worker (4 connections at most) failed. */
function checkStopped(mode: string, outcome: Awaited<ReturnType<typeof stopUnderLoad>>, earliestMs: number): void {
  console.log(`${mode} SIGSTOP: detected after ${outcome.detectedMs}ms; ${outcome.failed} of ${outcome.ok + outcome.failed} requests failed`);
  assert.ok(outcome.detectedMs >= earliestMs && outcome.detectedMs < 2500, `detected after ${outcome.detectedMs}ms with --heartbeat-timeout 1s`);
  assert.ok(outcome.failed <= 4, `${outcome.failed} failed (4 connections): ${outcome.errors.join('; ')}`);
}

describe('hung workers', () => {
  it('cluster: a SIGSTOPped worker under load is out within --heartbeat-timeout, replaced, and costs at most the requests on it', async () => {
    const sup = await startSupervise(['-w', '2', '--heartbeat-timeout', '1s', join(FIXTURES, 'http-app.cjs')], { readyWorkers: 2 });
    // The timeout runs from the last heartbeat, up to one heartbeat period (250 ms) before the SIGSTOP.
    checkStopped('cluster', await stopUnderLoad(sup, 2), 700);
  });

  it('cluster: a worker whose event loop is blocked is hung after --heartbeat-timeout, with its JavaScript stack in the log', async () => {
    // 2 s: the stack is taken at 1.5 s, which leaves a loaded machine time to write it before the kill.
    const sup = await startSupervise(['-w', '1', '--heartbeat-timeout', '2s', join(FIXTURES, 'busy-app.cjs')], { readyWorkers: 1 });
    const victim = (await sup.status()).workers[0]?.pid as number;
    const request = http.get({ host: '127.0.0.1', port: sup.port, path: '/spin', agent: false });
    request.on('error', () => undefined);
    const stack = await sup.waitForLog((l) => /JavaScript stack/.test(String(l.msg)) && l.pid === victim, 5000);
    // The frames are lines of their own after the header: wait for them too.
    const frames = () => sup.logs.filter((l) => l.pid === victim && /^\s+at /.test(String(l.msg))).map((l) => String(l.msg));
    await waitFor(() => frames().length > 0, { message: 'the stack frames after their header' }).catch(() => undefined);
    assert.match(frames()[0] ?? '', /at spinForever \(.*busy-app\.cjs:\d+:\d+\)/, `stack: ${frames().join(' | ')}`);
    const hung = await sup.waitForLog((l) => /hung: no heartbeat/.test(String(l.msg)) && l.pid === victim, 5000);
    assert.ok(Number(stack.time) <= Number(hung.time), 'the stack is logged before the worker is killed');
    await waitFor(() => !isAlive(victim), { message: 'killed' });
    await waitFor(async () => (await sup.status()).workers.some((w) => w.state === 'ready' && w.pid !== victim), { timeoutMs: 10_000, message: 'replaced' });
    request.destroy();
  });

  it('spawn: a SIGSTOPped server under load is out within --heartbeat-timeout, replaced, and costs at most the requests on it', async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--heartbeat-timeout', '1s', '--', process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'], {
      readyWorkers: 2,
    });
    checkStopped('spawn', await stopUnderLoad(sup, 2), 900);
  });

  it('spawn: --liveness failures in a row replace the worker; --health alone would only eject it', async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(
      ['-w', '2', '--base-port', String(base), '--proxy', 'none', '--liveness', '/healthz', '--liveness-interval', '200ms', '--liveness-threshold', '3', '--', process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'],
      { readyWorkers: 2, env: { FIXTURE_UNHEALTHY_FILE: join(tmpFile()) } },
    );
    const victim = (await sup.status()).workers.find((w) => w.port === base + 1)?.pid as number;
    const at = Date.now();
    files.push(`${unhealthyFile}-${base + 1}`);
    writeFileSync(`${unhealthyFile}-${base + 1}`, '');
    const line = await sup.waitForLog((l) => HUNG.test(String(l.msg)) && l.pid === victim, 5000);
    assert.match(String(line.msg), /--liveness \/healthz failed 3 times in a row, last: HTTP 503/);
    const took = Number(line.time) - at;
    assert.ok(took >= 400 && took < 2000, `liveness detection after ${took}ms (interval 200ms × 3)`);
    await waitFor(() => !isAlive(victim), { message: 'killed' });
    await waitFor(async () => (await sup.status()).workers.filter((w) => w.state === 'ready').length === 2, { timeoutMs: 5000, message: 'replaced' });
  });

  it('spawn: a worker ejected by --health and unhealthy longer than --ready-timeout is replaced', async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(
      ['-w', '2', '--base-port', String(base), '--health', '/healthz', '--health-interval', '100ms', '--unhealthy-threshold', '2', '--ready-timeout', '1500ms', '--', process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'],
      { readyWorkers: 2, env: { FIXTURE_UNHEALTHY_FILE: tmpFile() } },
    );
    const victim = (await sup.status()).workers.find((w) => w.port === base + 1)?.pid as number;
    files.push(`${unhealthyFile}-${base + 1}`);
    writeFileSync(`${unhealthyFile}-${base + 1}`, '');
    await sup.waitForLog((l) => /unhealthy: out of rotation/.test(String(l.msg)) && l.pid === victim, 5000);
    await waitFor(() => !isAlive(victim), { timeoutMs: 8000, message: 'the unhealthy worker replaced and gone' });
    await waitFor(async () => (await sup.status()).workers.filter((w) => w.state === 'ready').length === 2, { timeoutMs: 5000, message: '2 ready' });
  });
});

let unhealthyFile = '';
function tmpFile(): string {
  unhealthyFile = join(process.env.TMPDIR ?? '/tmp', `supervise-unhealthy-${process.pid}-${Date.now()}`);
  rmSync(unhealthyFile, { force: true });
  return unhealthyFile;
}
