// Spawn workers speak systemd's notify protocol to the master (SPEC §9):
// NOTIFY_SOCKET, READY=1 with --ready notify, WATCHDOG=1 within --watchdog,
// STATUS= in status. The fixture is Python, as sd_notify users are.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { ctlChild, killCtlChildren } from '../helpers/ctl-child.js';
import { FIXTURES, freePortRange, isAlive, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { needsAddon } from '../helpers/native.js';
import { waitFor } from '../helpers/wait-for.js';

const SERVER = join(FIXTURES, 'notify-server.py');
const files: string[] = [];
afterEach(async () => {
  for (const file of files.splice(0)) rmSync(file, { force: true });
  await killAll();
});
after(async () => {
  killCtlChildren();
  await killAll();
});

interface NotifyStatus {
  workers: Array<{ pid: number; state: string; status?: string }>;
}

describe('systemd notify protocol for spawn workers', { skip: needsAddon('the notify socket (NOTIFY_SOCKET)') }, () => {
  it('--ready notify: ready on READY=1, not on the open port; STATUS= shows in status', async () => {
    const base = await freePortRange(2);
    const sup = await startSupervise(['-w', '1', '--base-port', String(base), '--proxy', 'none', '--ready', 'notify', '--', 'python3', SERVER, '{port}'], {
      env: { FIXTURE_READY_DELAY_MS: '1500' },
    });
    const started = await sup.waitForLog((l) => l.msg === 'worker started', 10_000);
    const ready = await sup.waitForLog((l) => l.msg === 'worker ready', 10_000);
    const waited = Number(ready.time) - Number(started.time);
    assert.ok(waited >= 1400, `ready ${waited}ms after the start: READY=1 comes after 1500ms`);
    const status = (await sup.status()) as unknown as NotifyStatus;
    assert.equal(status.workers[0]?.status, `serving on port ${base}`);
    // And in the table a person reads.
    const table = ctlChild(['--control', sup.control, 'status']);
    assert.equal(await table.done, 0, table.err.join('\n'));
    assert.match(table.out[1] ?? '', /\bGEN\s+STATUS$/);
    assert.match(table.out[2] ?? '', new RegExp(`\\s1\\s+serving on port ${base}$`));
  });

  it('--watchdog: a worker whose WATCHDOG=1 stop is hung: replaced, then killed', async () => {
    const base = await freePortRange(3);
    const hang = join(tempDir(), 'hang');
    files.push(hang);
    const sup = await startSupervise(['-w', '1', '--base-port', String(base), '--proxy', 'none', '--ready', 'notify', '--watchdog', '400ms', '--', 'python3', SERVER, '{port}'], {
      readyWorkers: 1,
      env: { FIXTURE_HANG_FILE: hang },
    });
    const victim = (await sup.status()).workers[0]?.pid as number;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(sup.logs.filter((l) => /hung/.test(String(l.msg))).length, 0, 'pings within --watchdog keep it alive');
    writeFileSync(hang, '');
    const at = Date.now();
    const line = await sup.waitForLog((l) => /hung: no WATCHDOG=1 within --watchdog 400ms/.test(String(l.msg)), 5000);
    const took = Number(line.time) - at;
    assert.ok(took < 1500, `watchdog detection after ${took}ms`);
    await waitFor(() => !isAlive(victim), { message: 'killed' });
    rmSync(hang, { force: true });
    await waitFor(async () => (await sup.status()).workers.some((w) => w.state === 'ready' && w.pid !== victim), { timeoutMs: 10_000, message: 'replaced' });
  });
});
