// `supervise ctl` against a control server over a fake supervisor: every verb,
// its output and its exit code (0 ok, 1 failure, 2 usage, 3 no supervisor).

import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import { describe, it } from 'node:test';
import { runCtl } from '../../src/cli/ctl.js';
import { makeStaleSocket, TIMEOUT, useControlSocketFixture, waitFor } from '../helpers/control-socket.js';
import { createFakeSupervisor } from '../helpers/fake-supervisor.js';

const fixture = useControlSocketFixture();
const serve = fixture.serve;

class Capture {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

async function ctl(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCtl(['--control', fixture.socketPath, ...argv], stdout, stderr);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('supervise ctl', () => {
  it('status prints the summary and a row per worker', TIMEOUT, async () => {
    await serve();
    const { code, stdout, stderr } = await ctl('status');
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'pid 4242  mode cluster  port 8080  desired 4  generation 1');
    assert.match(lines[1] ?? '', /SLOT\s+PID\s+PORT\s+STATE\s+CPU\s+MEMORY\s+UPTIME\s+RESTARTS\s+CONNS\s+GEN/);
    assert.match(lines[2] ?? '', /^\s*0\s+10000\s+8000\s+ready\s+1\.5%\s+40\.0 MiB\s+1m05s\s+0\s+0\s+1$/);
    assert.equal(lines.length, 6);
  });

  it('status --json prints the raw status', TIMEOUT, async () => {
    await serve();
    const { code, stdout } = await ctl('status', '--json');
    assert.equal(code, 0);
    assert.equal((JSON.parse(stdout) as { workers: unknown[] }).workers.length, 4);
  });

  it('scale n, +n and -n (not taken for an option)', TIMEOUT, async () => {
    const { fake } = await serve();
    assert.deepEqual(await ctl('scale', '6'), { code: 0, stdout: 'scaled to 6 workers\n', stderr: '' });
    assert.equal((await ctl('scale', '+2')).stdout, 'scaled to 8 workers\n');
    assert.equal((await ctl('scale', '-3')).stdout, 'scaled to 5 workers\n');
    assert.deepEqual(fake.calls, ['scale {"workers":6}', 'scale {"delta":2}', 'scale {"delta":-3}']);
  });

  it('scale with a bad number exits 2 naming the argument and the allowed form', TIMEOUT, async () => {
    const { fake } = await serve();
    for (const bad of ['0', '2000', 'abc', '+0', '1.5']) {
      const { code, stderr } = await ctl('scale', bad);
      assert.equal(code, 2, bad);
      assert.match(stderr, /scale: <count> must be|scale: \+n must/, bad);
    }
    const { code, stderr } = await ctl('scale', '-10');
    assert.equal(code, 2, 'the supervisor rejects a delta below 1 worker');
    assert.match(stderr, /"delta" -10 would make -6 workers \(now 4\)/);
    assert.deepEqual(fake.calls, []);
  });

  it('reload exits 0 when done, 1 with the reason when it fails', TIMEOUT, async () => {
    const { fake } = await serve();
    assert.deepEqual(await ctl('reload'), { code: 0, stdout: 'reloaded: generation 2 is serving\n', stderr: '' });
    fake.failReloadWith = 'worker 0 crashed while starting (exit code 1)';
    const failed = await ctl('reload');
    assert.equal(failed.code, 1);
    assert.equal(failed.stderr, 'error: reload failed: worker 0 crashed while starting (exit code 1)\n');
  });

  it('scale exits 1 when the supervisor fails to reach the count', TIMEOUT, async () => {
    const { fake } = await serve();
    fake.failScaleWith = 'worker 4 was not ready within 30000 ms';
    const { code, stderr } = await ctl('scale', '5');
    assert.equal(code, 1);
    assert.match(stderr, /scale failed: worker 4 was not ready/);
  });

  it('restart <slot>: 0 for a known slot, 2 for an unknown or malformed one', TIMEOUT, async () => {
    await serve();
    assert.deepEqual(await ctl('restart', '1'), { code: 0, stdout: 'restarted the worker in slot 1\n', stderr: '' });
    const unknown = await ctl('restart', '9');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no worker in slot 9; slots in use: 0–3/);
    const malformed = await ctl('restart', 'x');
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /restart: <slot> must be a worker slot from 0 to 1023; got "x"/);
  });

  it('stop answers at once; stop --wait returns once the socket is gone', TIMEOUT, async () => {
    const { fake, server } = await serve();
    assert.deepEqual(await ctl('stop'), { code: 0, stdout: 'stopping the supervisor (pid 4242)\n', stderr: '' });
    await waitFor(() => fake.stopped);

    fake.stop = async () => {
      await new Promise((done) => setTimeout(done, 100));
      await server.close();
    };
    const waited = await ctl('stop', '--wait');
    assert.equal(waited.code, 0);
    assert.equal(waited.stdout, 'stopping the supervisor (pid 4242)\nstopped\n');
    await assert.rejects(stat(fixture.socketPath), /ENOENT/);
  });

  it('metrics prints the Prometheus text', TIMEOUT, async () => {
    await serve();
    const { code, stdout } = await ctl('metrics');
    assert.equal(code, 0);
    assert.match(stdout, /^supervise_workers_desired\{app="app"\} 4$/m);
  });

  it('exits 3 naming the socket path when no supervisor answers', TIMEOUT, async () => {
    const missing = await ctl('status');
    assert.equal(missing.code, 3);
    assert.equal(
      missing.stderr,
      `error: no supervisor answers on ${fixture.socketPath} (no such socket file); start one, or point at its socket with --control <path>\n`,
    );
    await makeStaleSocket(fixture.socketPath);
    const stale = await ctl('reload');
    assert.equal(stale.code, 3);
    assert.match(stale.stderr, /connection refused: the socket file is stale/);
  });

  it('exits 1 when something other than a supervisor answers on the socket', TIMEOUT, async () => {
    const impostor = http.createServer((_request, response) => response.end('hello'));
    await new Promise<void>((done) => impostor.listen(fixture.socketPath, done));
    fixture.defer(() => new Promise((done) => impostor.close(done)));
    const { code, stderr } = await ctl('status');
    assert.equal(code, 1);
    assert.match(stderr, /unexpected answer on .*control\.sock \(HTTP 200, no content type\); is it a supervise control socket\?/);
  });

  it('exits 2 on an unknown verb, a missing verb or argument; 0 on --help', TIMEOUT, async () => {
    for (const argv of [['frobnicate'], [], ['scale'], ['restart'], ['status', '--bogus'], ['reload', 'one-app', 'extra'], ['scale', 'app', '2', 'extra']]) {
      const { code, stderr } = await ctl(...argv);
      assert.equal(code, 2, argv.join(' '));
      assert.notEqual(stderr, '', argv.join(' '));
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    }
    const help = await ctl('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /status \[options\]/);
  });

  it('defaults to ./.supervise.sock in the current directory', TIMEOUT, async () => {
    const previous = process.cwd();
    process.chdir(fixture.directory);
    fixture.defer(async () => process.chdir(previous));
    await serve(createFakeSupervisor(), {}, '.supervise.sock');
    const stdout = new Capture();
    const stderr = new Capture();
    assert.equal(await runCtl(['status'], stdout, stderr), 0, stderr.text);
    assert.match(stdout.text, /^pid 4242 /);
  });
});
