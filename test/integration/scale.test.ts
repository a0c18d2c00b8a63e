// Runtime control of a real supervisor: ctl scale / restart / stop / status /
// metrics, SIGTTIN / SIGTTOU, and --max-memory replacing a worker drained.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { BIN, FIXTURES, httpGet, isAlive, killAll, startSupervise, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'http-app.cjs');

afterEach(killAll);
after(killAll);

function ctl(sup: Supervised, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'ctl', '--control', sup.control, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const readySlots = async (sup: Supervised) =>
  (await sup.status()).workers.filter((w) => w.state === 'ready').map((w) => w.slot).sort((a, b) => a - b);

describe('runtime control', () => {
  it('ctl scale 6 from 2 answers once 6 are ready; scale -3 drains to 3 (highest slots first)', async () => {
    const sup = await startSupervise(['-w', '2', APP], { readyWorkers: 2 });
    const up = await ctl(sup, 'scale', '6');
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await readySlots(sup), [0, 1, 2, 3, 4, 5], 'all 6 ready when ctl returned');
    const down = await ctl(sup, 'scale', '-3');
    assert.equal(down.code, 0, down.stderr);
    const status = await sup.status();
    assert.equal(status.desired, 3);
    assert.deepEqual(status.workers.map((w) => w.slot).sort(), [0, 1, 2]);
  });

  it('SIGTTIN adds a worker, SIGTTOU removes one', async () => {
    const sup = await startSupervise(['-w', '2', APP], { readyWorkers: 2 });
    sup.child.kill('SIGTTIN');
    await waitFor(async () => (await readySlots(sup)).length === 3, { message: '3 ready workers' });
    sup.child.kill('SIGTTOU');
    await waitFor(async () => (await sup.status()).desired === 2, { message: 'desired 2' });
    sup.child.kill('SIGTTOU'); // a second signal sent at once could merge with the first
    await waitFor(async () => (await sup.status()).workers.length === 1, { timeoutMs: 10_000, message: '1 worker left' });
    assert.equal((await sup.status()).desired, 1);
  });

  it('ctl restart <slot> replaces that worker only; unknown slot is a usage error', async () => {
    const sup = await startSupervise(['-w', '2', APP], { readyWorkers: 2 });
    const before = await sup.status();
    const result = await ctl(sup, 'restart', '1');
    assert.equal(result.code, 0, result.stderr);
    const after = await sup.status();
    assert.equal(after.workers.find((w) => w.slot === 0)?.pid, before.workers.find((w) => w.slot === 0)?.pid);
    assert.notEqual(after.workers.find((w) => w.slot === 1)?.pid, before.workers.find((w) => w.slot === 1)?.pid);
    const unknown = await ctl(sup, 'restart', '7');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /slot 7/);
  });

  it('ctl status prints a table and ctl metrics the Prometheus text', async () => {
    const sup = await startSupervise(['-w', '2', APP], { readyWorkers: 2 });
    await httpGet(sup.port);
    const status = await ctl(sup, 'status');
    assert.equal(status.code, 0);
    const pids = (await sup.status()).workers.map((w) => String(w.pid));
    for (const pid of pids) assert.match(status.stdout, new RegExp(`\\b${pid}\\b`));
    assert.match(status.stdout, /ready/);
    const json = await ctl(sup, 'status', '--json');
    assert.equal((JSON.parse(json.stdout) as { workers: unknown[] }).workers.length, 2);
    const metrics = await ctl(sup, 'metrics');
    assert.equal(metrics.code, 0);
    assert.match(metrics.stdout, /supervise_workers\{app="[^"]+",state="ready"\} 2/);
  });

  it('ctl stop stops the supervisor gracefully (exit 0); then ctl finds no supervisor (exit 3)', async () => {
    const sup = await startSupervise(['-w', '2', APP], { readyWorkers: 2 });
    const pids = (await sup.status()).workers.map((w) => w.pid as number);
    const stop = await ctl(sup, 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((await sup.exited).code, 0);
    assert.ok(pids.every((pid) => !isAlive(pid)));
    const none = await ctl(sup, 'status');
    assert.equal(none.code, 3);
    assert.match(none.stderr, /control\.sock/);
  });

  it('--max-memory replaces a worker above the limit through the drained path', async () => {
    const sup = await startSupervise(['-w', '1', '--max-memory', '1M', APP], { readyWorkers: 1 });
    const first = (await sup.status()).workers[0]?.pid;
    const replaced = await sup.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('replacing worker 0: RSS'), 10_000);
    assert.ok(replaced);
    await waitFor(async () => (await sup.status()).workers.some((w) => w.pid !== first && w.state === 'ready'), { timeoutMs: 10_000, message: 'new worker ready' });
    const stopped = await sup.waitForLog((l) => l.msg === 'worker stopped' && l.pid === first, 10_000, 'old worker stopped');
    assert.equal(stopped.signal, 'SIGTERM', 'drained, then SIGTERM: not killed');
  });
});
