// What a user sees for a mistake: one line naming what was wrong, the contract's
// exit code, no stack trace, and no worker started.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { BIN, FIXTURES, killAll, startSupervise, tempDir } from '../helpers/supervise.js';

afterEach(killAll);
after(killAll);

function run(args: string[]): { code: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 15_000, cwd: FIXTURES });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('usage errors exit 2 with a one-line message', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['--frobnicate', 'http-app.cjs'], /unknown option '--frobnicate'/],
    ['workers out of range', ['-w', '0', 'http-app.cjs'], /--workers must be an integer from 1 to 1024 \(got "0"\)/],
    ['a bad proxy kind', ['--proxy', 'udp', '--', 'true'], /--proxy.*udp.*(tcp|Allowed)/i],
    ['a missing script', ['missing.js'], /script not found: .*missing\.js/],
    ['a command without --', ['uvicorn', 'main:app'], /put its command after --/],
    ['nothing to run', [], /missing script or command/],
    ['a bad duration', ['--ready-timeout', 'later', 'http-app.cjs'], /--ready-timeout must be a duration/],
    ['--port among the workers\' ports', ['-w', '2', '--base-port', '8000', '--port', '8001', '--', 'true'], /--port 8001 overlaps the workers' ports 8000…8002 \(--base-port 8000/],
    ['up without a supervise.yaml', ['up'], /supervise up needs a supervise\.yaml \(or \.yml, \.json\) in /],
    ['a bad --name', ['--name', 'My App', 'http-app.cjs'], /--name must match \[a-z0-9\]\[a-z0-9_-\]\* \(got "My App"\)/],
  ];
  for (const [name, args, message] of cases) {
    it(name, () => {
      const { code, stderr } = run(args);
      assert.equal(code, 2);
      assertOneLine(stderr, message);
    });
  }
});

describe('runtime errors exit 1', () => {
  it('names the port in use and who holds it, starting no worker', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const { code, stderr, stdout } = run(['--log-format', 'json', '--control', join(tempDir(), 'control.sock'), '-p', String(port), 'http-app.cjs']);
      assert.equal(code, 1);
      assertOneLine(stderr, new RegExp(`public port \\(--port\\) ${port} is already in use by pid ${process.pid} \\(`));
      assert.doesNotMatch(stdout, /worker started/);
    } finally {
      blocker.close();
    }
  });

  it('refuses to start on a live control socket, naming the pid that holds it', async () => {
    const first = await startSupervise(['-w', '1', join(FIXTURES, 'http-app.cjs')], { readyWorkers: 1 });
    const { code, stderr } = run(['--control', first.control, '-p', '0', 'http-app.cjs']);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`${first.child.pid}`));
    assert.match(stderr, /--control/);
    assert.equal((await first.status()).workers.length, 1, 'the first supervisor keeps running');
  });
});
