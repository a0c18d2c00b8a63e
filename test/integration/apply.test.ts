// `ctl apply` is all or nothing (issue 21): validated against what runs —
// ports held by running workers, a runtime `ctl scale` included — before
// anything stops; and an app whose new version fails during the change comes
// back as it was. Free ports, the shape of examples/services: orders (9 in 10
// requests of /orders) and a canary (1 in 10) behind the routing front.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseDocument } from 'yaml';
import { BIN, FIXTURES, freePort, freePortRange, httpGet, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
after(killAll);

interface AppBody {
  name: string;
  desired: number;
  workers: Array<{ slot: number; pid?: number; port: number; state: string }>;
}

async function ctl(sup: Supervised, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'ctl', '--control', sup.control, ...args], { timeout: 60_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout, err: failed.stderr };
  }
}

async function apps(sup: Supervised): Promise<Map<string, AppBody>> {
  const status = (await sup.status()) as unknown as { apps: AppBody[] };
  return new Map(status.apps.map((app) => [app.name, app]));
}

/** Which ports answered 30 requests to /orders. */
async function ordersPorts(front: number): Promise<Set<number>> {
  const ports = new Set<number>();
  for (let i = 0; i < 30; i++) {
    const answer = await httpGet(front, '/orders/1');
    assert.equal(answer.status, 200, answer.body);
    ports.add((JSON.parse(answer.body) as { port: number }).port);
  }
  return ports;
}

async function system(): Promise<{ sup: Supervised; file: string; front: number; orders: number; canary: number }> {
  const dir = tempDir();
  const file = join(dir, 'supervise.yaml');
  const front = await freePort();
  const [orders, canary] = [await freePortRange(6), await freePortRange(3)];
  const server = `[${JSON.stringify(process.execPath)}, ${JSON.stringify(join(FIXTURES, 'port-server.cjs'))}, "{port}"]`;
  writeFileSync(file, [
    `front: { port: ${front} }`,
    'defaults: { kill-timeout: 2s, ready-timeout: 3s }',
    'apps:',
    '  orders:',
    `    command: ${server}`,
    '    workers: 2',
    `    base-port: ${orders}`,
    '    route: { path: /orders, weight: 9 }',
    '  canary:',
    `    command: ${server}`,
    '    workers: 1',
    `    base-port: ${canary}`,
    '    route: { path: /orders, weight: 1 }',
    '',
  ].join('\n'));
  const sup = await startSupervise(['--config', file], { port: null, readyWorkers: 3 });
  return { sup, file, front, orders, canary };
}

describe('ctl apply is all or nothing', () => {
  it('a base-port on a port a runtime-scaled app holds is refused before anything stops; the canary keeps serving', { timeout: 90_000 }, async () => {
    const { sup, file, front, orders, canary } = await system();
    const scaled = await ctl(sup, 'scale', 'orders', '4');
    assert.equal(scaled.code, 0, scaled.err);
    const before = await apps(sup);
    const canaryPid = before.get('canary')?.workers[0]?.pid;

    // The file's ranges do not overlap (orders: 2 workers), but orders runs 4, on orders … orders+3.
    const document = parseDocument(readFileSync(file, 'utf8'));
    document.setIn(['apps', 'canary', 'base-port'], orders + 3);
    writeFileSync(file, document.toString());
    const applied = await ctl(sup, 'apply');
    assert.equal(applied.code, 2, `refused as a file that does not validate: ${applied.err}`);
    assert.match(applied.err, new RegExp(`^error: apply refused, nothing changed: app "canary" would take ports ${orders + 3}–${orders + 4} \\(.*supervise\\.yaml, line \\d+\\), but app "orders" \\(scaled to 4 workers at runtime\\) holds ports ${orders + 3}, ${orders + 4} now`));

    const after = await apps(sup);
    assert.equal(after.get('canary')?.workers[0]?.pid, canaryPid, 'the canary was not touched');
    assert.equal(after.get('canary')?.workers[0]?.state, 'ready');
    assert.equal(after.get('orders')?.desired, 4);
    assert.ok((await ordersPorts(front)).has(canary), '/orders still gets the canary\'s share');
  });

  it('an app whose new version fails during the change comes back as it was, and the message says what changed and what failed', { timeout: 90_000 }, async () => {
    const { sup, file, front, canary } = await system();
    // A new base-port (a replacement) with a command that dies at once: never ready.
    const document = parseDocument(readFileSync(file, 'utf8'));
    document.setIn(['apps', 'canary', 'base-port'], await freePortRange(3));
    document.setIn(['apps', 'canary', 'command'], [process.execPath, join(FIXTURES, 'exit-at-once.cjs')]);
    writeFileSync(file, document.toString());
    const applied = await ctl(sup, 'apply');
    assert.equal(applied.code, 1, applied.err);
    assert.match(applied.err, /^error: apply failed: app "canary": the new version failed \(.+\); the previous one was started again and serves \(applied: changed canary\)$/m);

    const after = await apps(sup);
    assert.equal(after.get('canary')?.workers[0]?.state, 'ready');
    assert.equal(after.get('canary')?.workers[0]?.port, canary, 'the previous version, on its port');
    await waitFor(async () => (await ordersPorts(front)).has(canary), { timeoutMs: 10_000, message: '/orders gets the canary\'s share again' });
  });
});
