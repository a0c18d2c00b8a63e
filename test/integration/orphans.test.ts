// No worker and no descendant outlives the master (SPEC §3; issue 10 holes 1–3):
// a busy-looping cluster worker, a killed reaper helper, a daemonized grandchild.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { FIXTURES, freePortRange, isAlive, killAll, pidsMatching, startSupervise } from '../helpers/supervise.js';
import { needsAddon } from '../helpers/native.js';
import { waitFor } from '../helpers/wait-for.js';

afterEach(killAll);
after(killAll);

/** The reaper helper of a master: the child running the C reaper or reaper-process.js. */
function reaperOf(masterPid: number): number | undefined {
  return [...pidsMatching('supervise_reaper'), ...pidsMatching('reaper-process.js')].find((pid) => ppidOf(pid) === masterPid);
}

/** The reaper helpers: the C program (built with the addon) and the Node fallback (forced by SUPERVISE_REAPER_NATIVE=0). */
const C_REAPER = { name: 'C reaper', env: {}, program: /supervise_reaper$/, skip: needsAddon('the C reaper (built with the addon)') };
const NODE_REAPER = { name: 'Node reaper', env: { SUPERVISE_REAPER_NATIVE: '0' }, program: /node[^/]*$/, skip: false as const };
const REAPERS = [C_REAPER, NODE_REAPER];

function programOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Fire a request that never gets an answer (it blocks the worker that takes it). */
function spin(port: number): void {
  const request = http.get({ host: '127.0.0.1', port, path: '/spin', agent: false });
  request.on('error', () => undefined);
  request.setTimeout(20_000, () => request.destroy());
}

describe('no orphans', () => {
  it('cluster: a worker stuck in a busy loop dies within 5 s of a SIGKILL of the master', async () => {
    const sup = await startSupervise(['-w', '2', join(FIXTURES, 'busy-app.cjs')], { readyWorkers: 2 });
    const workers = (await sup.status()).workers.map((w) => w.pid as number);
    spin(sup.port);
    spin(sup.port);
    // Both workers spin (round-robin gave each one request): their CPU time grows.
    await waitFor(() => workers.every((pid) => cpuTicks(pid) > 20), { timeoutMs: 5000, message: 'both workers busy-looping' });
    sup.child.kill('SIGKILL');
    await waitFor(() => workers.every((pid) => !isAlive(pid)), { timeoutMs: 5000, message: 'busy workers gone within 5 s' });
  });

  for (const reaper of REAPERS) {
  it(`${reaper.name}: the reaper helper is restarted (and says so) when killed; a later SIGKILL of the master still leaves no worker`, { skip: reaper.skip }, async () => {
    const base = await freePortRange(3);
    const sup = await startSupervise(['-w', '2', '--base-port', String(base), '--proxy', 'none', '--', process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'], {
      readyWorkers: 2,
      env: { FIXTURE_GRANDCHILD: '1', ...reaper.env },
    });
    const masterPid = sup.child.pid as number;
    const first = await waitFor(() => reaperOf(masterPid), { message: 'a reaper helper' });
    assert.match(programOf(first), reaper.program, `the ${reaper.name} runs`);
    process.kill(first, 'SIGKILL');
    await sup.waitForLog((l) => /reaper helper .* died by SIGKILL/.test(String(l.msg)), 5000);
    const second = await waitFor(() => reaperOf(masterPid), { timeoutMs: 5000, message: 'a new reaper helper' });
    assert.notEqual(second, first);
    const workers = (await sup.status()).workers.map((w) => w.pid as number);
    await waitFor(() => pidsMatching(`grandchild-of-${base + 1}`).length === 1, { message: 'grandchildren started' });
    sup.child.kill('SIGKILL');
    await waitFor(() => workers.every((pid) => !isAlive(pid)) && pidsMatching(`grandchild-of-${base}`).length + pidsMatching(`grandchild-of-${base + 1}`).length === 0, {
      timeoutMs: 5000,
      message: 'workers and grandchildren gone within 5 s',
    });
  });
  }

  for (const [how, reaper] of [['ctl stop', C_REAPER], ['SIGKILL of the master', C_REAPER], ['SIGKILL of the master', NODE_REAPER]] as const) {
    it(`a grandchild that called setsid() does not survive a ${how} (${reaper.name})`, { skip: reaper.skip }, async () => {
      const base = await freePortRange(2);
      const sup = await startSupervise(['-w', '1', '--base-port', String(base), '--proxy', 'none', '--kill-timeout', '1s', '--', process.execPath, join(FIXTURES, 'daemonizing-server.cjs'), '{port}'], {
        readyWorkers: 1,
        env: reaper.env,
      });
      const daemon = await waitFor(() => pidsMatching(`daemon-of-${base}`)[0], { message: 'the daemon started' });
      // It left the worker's session and group: a group signal cannot reach it.
      const worker = (await sup.status()).workers[0]?.pid as number;
      assert.notEqual(sessionOf(daemon), sessionOf(worker));
      if (how === 'ctl stop') {
        sup.child.kill('SIGTERM');
        assert.equal((await sup.exited).code, 0);
      } else {
        sup.child.kill('SIGKILL');
      }
      await waitFor(() => !isAlive(daemon) || isZombie(daemon), { timeoutMs: 5000, message: 'the daemon gone within 5 s' });
    });
  }
});

describe('adopted orphans', () => {
  it('a daemon adopted by the master and killed with its worker is reaped, not left a zombie', { skip: needsAddon('adopting orphans (PR_SET_CHILD_SUBREAPER)') }, async () => {
    const base = await freePortRange(2);
    const sup = await startSupervise(['-w', '1', '--base-port', String(base), '--proxy', 'none', '--', process.execPath, join(FIXTURES, 'daemonizing-server.cjs'), '{port}'], {
      readyWorkers: 1,
    });
    const masterPid = sup.child.pid as number;
    const daemon = await waitFor(() => pidsMatching(`daemon-of-${base}`)[0], { message: 'the daemon started' });
    // Its parent (setsid's first process) has exited: the master, a child subreaper, adopted it.
    await waitFor(() => ppidOf(daemon) === masterPid, { message: 'the daemon adopted by the master' });
    const worker = (await sup.status()).workers[0]?.pid as number;
    process.kill(worker, 'SIGKILL');
    // The worker's exit kills what carries its tag; the master collects the dead daemon (its sweep runs every 2 s).
    await waitFor(() => statFields(daemon).length === 0, {
      timeoutMs: 6000,
      message: `the daemon reaped (state ${statFields(daemon)[0] ?? 'gone'})`,
    });
    assert.equal(childrenInState(masterPid, 'Z').length, 0, 'no zombie child of the master');
  });
});

function childrenInState(parent: number, state: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      const fields = statFields(pid);
      return Number(fields[1]) === parent && fields[0] === state;
    });
}

function statFields(pid: number): string[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return [];
  }
}

function cpuTicks(pid: number): number {
  const fields = statFields(pid);
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime + stime
}

function sessionOf(pid: number): number {
  return Number(statFields(pid)[3]);
}

function isZombie(pid: number): boolean {
  return statFields(pid)[0] === 'Z';
}
