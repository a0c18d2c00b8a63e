// Spawn mode with real processes: consecutive ports, {port}/{worker}, process
// groups, no orphans after a SIGKILL of the master. The front: front.test.ts.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { FIXTURES, freePortRange, httpGet, isAlive, killAll, pidsMatching, startSupervise } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const SERVER = join(FIXTURES, 'port-server.cjs');

afterEach(killAll);
after(killAll);

describe('spawn mode', () => {
  it('runs one server per consecutive port with {port} and {worker}, without a front (--proxy none)', async () => {
    const base = await freePortRange(4);
    const sup = await startSupervise(['-w', '3', '--base-port', String(base), '--proxy', 'none', '--', process.execPath, SERVER, '{port}', 'slot-{worker}'], { readyWorkers: 3 });
    const status = await sup.status();
    assert.deepEqual(status.workers.map((w) => w.port).sort(), [base, base + 1, base + 2]);
    for (let slot = 0; slot < 3; slot++) {
      const answer = JSON.parse((await httpGet(base + slot)).body) as { worker: number; port: number };
      assert.equal(answer.port, base + slot);
      assert.equal(answer.worker, slot);
    }
    assert.equal(pidsMatching('slot-1').length, 1, '{worker} substituted');
  });

  it('a worker restarted right after it died is not killed by the SIGKILL meant for the dead launch\'s descendants', async () => {
    // Four launches die together (0.3 s each); the dead launches' tagged descendants are signalled in passes over /proc
    // at most one per 100 ms (tag-signals.ts), so some wait for the next pass — and a restart (after 1–100 ms, sh starts
    // at once) carrying the same tag got it.
    const base = await freePortRange(5);
    const sup = await startSupervise(['-w', '4', '--base-port', String(base), '--proxy', 'none', '--', 'sh', '-c', 'sleep 0.3; exit 3'], { readyWorkers: 0 });
    const exits = () => sup.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('exited with code 3')).length;
    await waitFor(() => exits() >= 16, { timeoutMs: 20_000, message: '16 launches that ran to their own exit' });
    const killed = sup.logs.filter((l) => l.signal === 'SIGKILL').map((l) => String(l.msg));
    assert.deepEqual(killed, [], 'a restarted worker was killed by the signal meant for the dead launch');
  });

  it('stops every worker and its grandchildren on SIGTERM', async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--proxy', 'none', '--kill-timeout', '1s', '--', process.execPath, SERVER, '{port}'], {
      readyWorkers: 2,
      env: { FIXTURE_GRANDCHILD: '1' },
    });
    await waitFor(() => pidsMatching(`grandchild-of-${base + 1}`).length === 1, { message: 'grandchildren started' });
    sup.child.kill('SIGTERM');
    assert.equal((await sup.exited).code, 0);
    await waitFor(() => pidsMatching(`grandchild-of-${base}`).length + pidsMatching(`grandchild-of-${base + 1}`).length === 0, {
      timeoutMs: 3000,
      message: 'no grandchild left',
    });
  });

  it('leaves no worker or grandchild alive 5 s after a SIGKILL of the master', async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--proxy', 'none', '--', process.execPath, SERVER, '{port}'], {
      readyWorkers: 2,
      env: { FIXTURE_GRANDCHILD: '1' },
    });
    const workers = (await sup.status()).workers.map((w) => w.pid as number);
    await waitFor(() => pidsMatching(`grandchild-of-${base}`).length === 1, { message: 'grandchild started' });
    sup.child.kill('SIGKILL');
    await waitFor(() => workers.every((pid) => !isAlive(pid)) && pidsMatching(`grandchild-of-${base}`).length === 0, {
      timeoutMs: 5000,
      message: 'workers and grandchildren gone within 5 s',
    });
  });
});
