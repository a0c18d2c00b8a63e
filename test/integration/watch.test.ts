// `--watch` given bare, in a folder where the supervisor's own files live: its
// output redirected to a file there, its control socket there, and a worker
// writing a *.log file there. None of them may reload the workers (each reload
// writes more log lines: without the ignores that is a reload loop); a change
// to the app does.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, freePort, killAll, tempDir } from '../helpers/supervise.js';
import { delay, waitFor } from '../helpers/wait-for.js';

after(killAll);

const APP = `
const http = require('node:http');
const { appendFileSync } = require('node:fs');
setInterval(() => appendFileSync('worker.log', 'tick\\n'), 50);
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT));
`;

function logLines(file: string): Array<{ msg: string; files?: string[] }> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; files?: string[] });
}

describe('--watch', () => {
  it('bare, watches the working folder; its own output, control socket and *.log there reload nothing', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'app.cjs'), APP);
    const out = join(dir, 'supervise.out');
    const fd = openSync(out, 'w');
    const port = await freePort();
    const args = [BIN, '--log-format', 'json', '--control', join(dir, 'control.sock'), '--port', String(port), '-w', '1', '--watch', '--watch-debounce', '100', 'app.cjs'];
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => logLines(out).some((line) => line.msg === '1 worker ready, serving on http://127.0.0.1:' + port), {
        timeoutMs: 20_000,
        message: 'the ready line',
      });
      const watching = logLines(out).find((line) => line.msg.startsWith('watching '));
      assert.match(watching?.msg ?? '', /^watching \. \(ignoring .*\*\.log.*\): a change reloads the workers$/);

      // Ten debounce windows of worker.log ticks and of the supervisor's own lines.
      await delay(1000);
      const reloads = () => logLines(out).filter((line) => line.msg === 'rolling reload started').length;
      assert.equal(reloads(), 0, `reloaded by: ${JSON.stringify(logLines(out).filter((line) => line.files))}`);

      writeFileSync(join(dir, 'app.cjs'), `${APP}\n// changed\n`);
      await waitFor(() => reloads() === 1, { timeoutMs: 20_000, message: 'the reload after the app changed' });
      assert.deepEqual(logLines(out).find((line) => line.files)?.files, ['app.cjs']);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
