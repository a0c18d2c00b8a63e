// The programmatic API (package main): build a config, run a supervisor in this
// process, scale it and stop it — spawn mode without a front, so that a scale
// down also checks that such workers drain at once instead of at the kill timeout.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildConfig, createLogger, runSupervisor } from '../../src/index.js';
import { FIXTURES, freePortRange, httpGet, isAlive, killAll, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

after(killAll);

describe('programmatic API', () => {
  it('runs, scales down (draining at once without a front) and stops a supervisor in-process', async () => {
    const base = await freePortRange(3);
    const dir = tempDir();
    const config = buildConfig({
      flags: { workers: 2, basePort: base, proxy: 'none', control: join(dir, 'control.sock'), killTimeout: '20s' },
      positional: [],
      command: [process.execPath, join(FIXTURES, 'port-server.cjs'), '{port}'],
      configFile: undefined,
      cwd: dir,
      stdoutIsTTY: false,
    });
    const running = await runSupervisor(config, createLogger('json', 'silent'), { signals: false });
    try {
      await waitFor(() => running.api.status().workers.filter((w) => w.state === 'ready').length === 2, { message: '2 ready' });
      assert.equal((await httpGet(base + 1)).status, 200);
      // One app: the single-app status shape at the top level, and the app under apps[] too.
      const status = running.system.status();
      assert.equal(status.desired, 2);
      assert.deepEqual(status.apps.map((app) => [app.name, app.desired]), [['port-server', 2]]);
      const stoppedPid = running.api.status().workers.find((w) => w.slot === 1)?.pid as number;

      const startedAt = Date.now();
      const scaled = await running.api.scale({ delta: -1 });
      assert.deepEqual(scaled, { ok: true, workers: 1 });
      assert.ok(Date.now() - startedAt < 5000, 'no front to wait for: drained at once, not after --kill-timeout');
      assert.ok(!isAlive(stoppedPid));

      // A process the host program spawns for itself (as pidusage runs `getconf`
      // through a shell) is its own: the master, a child subreaper that collects
      // adopted orphans, must leave its exit to node. The loop is held past the
      // master's sweep so that the dead child waits as a zombie when the sweep runs.
      const own = spawn('sh', ['-c', 'exit 7'], { stdio: 'ignore' });
      const exited = new Promise<number | null>((resolve) => own.once('exit', (code) => resolve(code)));
      const until = Date.now() + 2500;
      while (Date.now() < until); // busy: the child dies meanwhile, unreaped
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('no exit event within 3 s'), 3000))]);
      assert.equal(code, 7, "the host's own child keeps its exit status");

      await running.api.stop('test');
      assert.equal(await running.stopped, 0);
      assert.equal(running.api.status().workers.length, 0);
    } finally {
      await running.api.stop('cleanup');
    }
  });
});
