// `supervise ls` and `supervise ctl --name` (SPEC §16): every supervisor of the
// user, found through the per-user runtime directory where each registers its
// control socket, from any folder. Each test has its own XDG_RUNTIME_DIR (other
// supervisors run on this machine at the same time).

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BIN, FIXTURES, freePort, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
afterEach(killAll);
after(killAll);

/** `supervise <args>` from a folder of no supervisor, with this runtime directory; never throws. */
async function supervise(args: string[], runtime: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: tempDir(), env: { ...process.env, XDG_RUNTIME_DIR: runtime }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

interface Listed {
  name: string;
  pid: number;
  folder: string;
  socket: string;
  state: Array<{ name: string; ready: number; desired: number }> | undefined;
}

describe('supervise ls', () => {
  it('lists every supervisor of the user from any folder; ctl --name reaches one; a stopped one leaves the list', async () => {
    const runtime = tempDir('supervise-runtime-');
    const shop = join(tempDir(), 'shop');
    mkdirSync(shop);
    writeFileSync(join(shop, 'supervise.yaml'), `apps:\n  web:\n    script: ${join(FIXTURES, 'http-app.cjs')}\n    workers: 1\n    port: ${await freePort()}\n`);
    const system = await startSupervise(['--config', join(shop, 'supervise.yaml')], { port: null, env: { XDG_RUNTIME_DIR: runtime }, readyWorkers: 1 });
    const single = await startSupervise(['-w', '2', join(FIXTURES, 'http-app.cjs')], { env: { XDG_RUNTIME_DIR: runtime }, readyWorkers: 2 });

    const listed = await waitFor(async () => {
      const { code, stdout } = await supervise(['ls', '--json'], runtime);
      assert.equal(code, 0);
      const all = JSON.parse(stdout) as Listed[];
      return all.length === 2 && all.every((entry) => entry.state?.every((app) => app.ready === app.desired)) ? all : undefined;
    }, { timeoutMs: 15_000, message: 'both supervisors listed, ready' });
    const byName = new Map(listed.map((entry) => [entry.name, entry]));
    assert.deepEqual(byName.get('shop'), { name: 'shop', pid: system.child.pid, folder: shop, socket: system.control, apps: ['web'], startedAt: byName.get('shop')?.['startedAt' as keyof Listed], state: [{ name: 'web', ready: 1, desired: 1 }] });
    assert.deepEqual(byName.get('http-app')?.state, [{ name: 'http-app', ready: 2, desired: 2 }]);
    assert.equal(byName.get('http-app')?.socket, single.control);

    const table = await supervise(['ls'], runtime);
    assert.match(table.stdout, /^NAME\s+PID\s+FOLDER\s+SOCKET\s+APPS \(ready\/desired\)$/m);
    assert.match(table.stdout, new RegExp(`^shop\\s+${system.child.pid}\\s+${shop}\\s+${system.control}\\s+web 1/1$`, 'm'));
    assert.match(table.stdout, new RegExp(`^http-app\\s+${single.child.pid}\\s+.*\\s+http-app 2/2$`, 'm'));

    // From a folder with no ./.supervise.sock: by the supervisor's name, or by one of its apps'.
    const status = await supervise(['ctl', '--name', 'shop', 'status', '--json'], runtime);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, system.child.pid);
    const byApp = await supervise(['ctl', '--name', 'web', 'status', '--json'], runtime);
    assert.equal((JSON.parse(byApp.stdout) as { pid: number }).pid, system.child.pid);
    const nobody = await supervise(['ctl', '--name', 'nope', 'status'], runtime);
    assert.equal(nobody.code, 3);
    assert.match(nobody.stderr, /no supervisor named nope, nor one with an app of that name, runs for this user \(running: .*shop.*\); supervise ls lists them/);

    single.child.kill('SIGTERM');
    await single.exited;
    assert.deepEqual(readdirSync(join(runtime, 'supervise')), [`${system.child.pid}.json`], 'the stopped supervisor removed its entry');
    const after = JSON.parse((await supervise(['ls', '--json'], runtime)).stdout) as Listed[];
    assert.deepEqual(after.map((entry) => entry.name), ['shop']);
  });

  it('prunes the entry of a supervisor killed with SIGKILL, and falls back to ~/.supervise/run without XDG_RUNTIME_DIR', async () => {
    const home = tempDir('supervise-home-');
    const env = { XDG_RUNTIME_DIR: '', HOME: home };
    const killed = await startSupervise(['-w', '1', join(FIXTURES, 'http-app.cjs')], { env, readyWorkers: 1 });
    const entry = join(home, '.supervise', 'run', `${killed.child.pid}.json`);
    await waitFor(() => existsSync(entry), { timeoutMs: 10_000, message: `${entry} written` });
    killed.child.kill('SIGKILL');
    await killed.exited;
    assert.ok(existsSync(entry), 'a SIGKILLed supervisor cannot remove its entry');
    const listed = spawnSync(process.execPath, [BIN, 'ls'], { cwd: home, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /^no supervisor of yours runs on this machine \(registry: .*\.supervise\/run\)$/m);
    assert.equal(existsSync(entry), false, 'ls pruned the stale entry');
  });
});
