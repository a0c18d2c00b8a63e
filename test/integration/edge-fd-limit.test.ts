// Out of descriptors (issue 17): with `ulimit -n 256` and 600 clients, the
// supervisor's own EMFILE must not be blamed on the backends. The front keeps a
// reserve of descriptors for the control socket, spawns and probes, pauses
// accepting when it runs out, and resumes when the clients leave.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, controlGet, FIXTURES, freePort, freePortRange, httpGet, tempDir, type LogLine } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const APP = join(FIXTURES, 'http-app.cjs');
const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((cleanup) => cleanup()));

// The native data plane pauses accepting at its budget; the JavaScript paths (node's server, node's sockets) cap their
// connections to the same budget (proxy/fd-budget.ts).
const PATHS: Array<['http' | 'tcp', string, Record<string, string>]> = [
  ['http', 'native', {}],
  ['tcp', 'native', {}],
  ['http', 'javascript', { SUPERVISE_HTTP_NATIVE: '0' }],
  ['tcp', 'javascript', { SUPERVISE_TCP_NATIVE: '0' }],
];

for (const [proxy, path, env] of PATHS) {
  describe(`a --proxy ${proxy} supervisor (${path} data path) started with ulimit -n 256`, () => {
    it('600 clients: no backend ejected, the control socket answers, service back soon after they leave', { timeout: 90_000 }, async () => {
      const [port, base] = [await freePort(), await freePortRange(3)];
      const control = join(tempDir(), 'control.sock');
      const args = [BIN, '--log-format', 'json', '--control', control, '--port', String(port), '-w', '2', '--proxy', proxy, '--base-port', String(base),
        '--health-interval', '200ms', '--unhealthy-threshold', '2', '--', process.execPath, APP];
      const child = spawn('bash', ['-c', 'ulimit -n 256 && exec "$@"', 'bash', process.execPath, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
      });
      const exited = new Promise((resolve) => child.once('close', resolve));
      cleanups.push(() => child.kill('SIGKILL'));
      const logs: LogLine[] = [];
      let pending = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
      });
      child.stderr.resume();
      await waitFor(() => logs.filter((line) => line.msg === 'worker ready').length >= 2, { timeoutMs: 20_000, message: '2 ready workers' });

      const clients: net.Socket[] = [];
      for (let i = 0; i < 600; i++) {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        clients.push(socket);
        if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Held for a few health-check rounds: the control socket answers meanwhile.
      const heldUntil = Date.now() + 2500;
      while (Date.now() < heldUntil) {
        const status = JSON.parse(await controlGet(control, '/status')) as { workers: Array<{ state: string }> };
        assert.equal(status.workers.length, 2);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const ejected = logs.filter((line) => /out of rotation|unhealthy/.test(line.msg));
      assert.deepEqual(ejected.map((line) => line.msg), [], 'a backend was ejected for the supervisor\'s own EMFILE');
      const failedSpawns = logs.filter((line) => /EMFILE/.test(JSON.stringify(line)) && line.level >= 50);
      assert.deepEqual(failedSpawns, []);

      for (const socket of clients) socket.destroy();
      const left = Date.now();
      await waitFor(async () => (await httpGet(port, '/back', 2000).catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 10_000, message: 'service back' });
      const back = Date.now() - left;
      // The target is 1 s; generous here (a loaded CI machine).
      assert.ok(back < 5000, `service back ${back} ms after the clients left`);
      child.kill('SIGTERM');
      await exited;
    });
  });
}
