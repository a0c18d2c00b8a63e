// The control socket end to end: a real Unix socket in a temporary directory,
// a fake supervisor behind it, and the requests a user (curl, ctl) or a
// misbehaving client would send.

import assert from 'node:assert/strict';
import { link, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { runCtl } from '../../src/cli/ctl.js';
import { controlRequest, NoSupervisorError } from '../../src/control/client.js';
import { createMetrics } from '../../src/control/metrics.js';
import {
  type ControlServer,
  type ControlServerLimits,
  ControlSocketInUseError,
  ControlSocketPathError,
  startControlServer,
} from '../../src/control/server.js';
import { createFakeSupervisor, type FakeSupervisor } from '../helpers/fake-supervisor.js';

const logger = pino({ level: 'silent' });
const TIMEOUT = { timeout: 10_000 };

let directory: string;
let socketPath: string;
const cleanups: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'supervise-ctl-'));
  socketPath = join(directory, 'control.sock');
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await rm(directory, { recursive: true, force: true });
});

async function serve(
  fake: FakeSupervisor = createFakeSupervisor(),
  limits: Partial<ControlServerLimits> = {},
  path = socketPath,
): Promise<{ fake: FakeSupervisor; server: ControlServer }> {
  const server = await startControlServer({ path, api: fake, metrics: createMetrics(fake), logger, limits });
  cleanups.push(() => server.close());
  return { fake, server };
}

const get = (path: string) => controlRequest(socketPath, 'GET', path, undefined, 5000);
const post = (path: string, body?: unknown) => controlRequest(socketPath, 'POST', path, body, 5000);

/** Sends raw bytes and collects everything the server writes until it closes the connection. */
function raw(bytes: string | Buffer, { end = false, timeoutMs = 5000 } = {}): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined); // a reset after the answer is fine
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedAfterMs: Date.now() - started });
    });
    socket.on('connect', () => (end ? socket.end(bytes) : socket.write(bytes)));
  });
}

/** The JSON body of a raw HTTP answer. */
function rawBody(text: string): { error: string } {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: string };
}

async function waitFor(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((done) => setTimeout(done, 10));
  }
}

async function assertStillServing(): Promise<void> {
  const response = await get('/status');
  assert.equal(response.status, 200, 'the server keeps serving');
}

// ---------------------------------------------------------------- endpoints

describe('control server endpoints', () => {
  it('GET /status answers the status as JSON', TIMEOUT, async () => {
    await serve();
    const response = await get('/status');
    assert.equal(response.status, 200);
    assert.match(response.contentType, /^application\/json/);
    const status = response.json as { pid: number; mode: string; workers: unknown[] };
    assert.equal(status.pid, 4242);
    assert.equal(status.mode, 'cluster');
    assert.equal(status.workers.length, 4);
  });

  it('POST /scale sets or changes the count and answers when done', TIMEOUT, async () => {
    const { fake } = await serve();
    assert.deepEqual((await post('/scale', { workers: 6 })).json, { ok: true, workers: 6 });
    assert.deepEqual((await post('/scale', { delta: -2 })).json, { ok: true, workers: 4 });
    assert.deepEqual(fake.calls, ['scale {"workers":6}', 'scale {"delta":-2}']);
  });

  it('POST /scale while another runs: both are answered in turn', TIMEOUT, async () => {
    const { fake } = await serve(createFakeSupervisor({ delayMs: 100 }));
    const [first, second] = await Promise.all([post('/scale', { workers: 5 }), post('/scale', { delta: 1 })]);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(fake.calls.length, 2);
  });

  it('POST /scale rejects bad values with 400 naming the field and range', TIMEOUT, async () => {
    const { fake } = await serve();
    const cases: Array<[unknown, RegExp]> = [
      [{ workers: 0 }, /"workers" must be an integer from 1 to 1024 \(got 0\)/],
      [{ workers: 2000 }, /from 1 to 1024 \(got 2000\)/],
      [{ workers: 'four' }, /got "four"/],
      [{ delta: -4 }, /would make 0 workers \(now 4\)/],
      [{ delta: 0 }, /non-zero integer/],
      [[1, 2], /JSON object/],
      [undefined, /JSON object/],
    ];
    for (const [body, message] of cases) {
      const response = await post('/scale', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match((response.json as { error: string }).error, message);
    }
    assert.deepEqual(fake.calls, [], 'nothing invalid reaches the supervisor');
  });

  it('answers malformed JSON with 400', TIMEOUT, async () => {
    await serve();
    const response = await raw(
      'POST /scale HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{workers:',
    );
    assert.match(response.text, /^HTTP\/1\.1 400 /);
    assert.match(rawBody(response.text).error, /^malformed JSON body: /);
    await assertStillServing();
  });

  it('POST /reload answers 200 {ok, generation} or 500 {ok:false, error}', TIMEOUT, async () => {
    const { fake } = await serve();
    const ok = await post('/reload');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { ok: true, generation: 2 });

    fake.failReloadWith = 'worker 1 was not ready within 30000 ms';
    const failed = await post('/reload');
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.json, { ok: false, error: 'worker 1 was not ready within 30000 ms', generation: 2 });
  });

  it('POST /reload during a reload waits for it instead of failing', TIMEOUT, async () => {
    const { fake } = await serve(createFakeSupervisor({ delayMs: 100 }));
    const answers = await Promise.all([post('/reload'), post('/reload'), post('/reload')]);
    for (const answer of answers) assert.deepEqual(answer.json, { ok: true, generation: 2 });
    assert.equal(fake.reloadsRun, 1);
  });

  it('POST /workers/<slot>/restart: 200 for a known slot, 404 unknown, 400 not a number', TIMEOUT, async () => {
    const { fake } = await serve();
    const ok = await post('/workers/2/restart');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { ok: true, slot: 2 });

    const unknown = await post('/workers/9/restart');
    assert.equal(unknown.status, 404);
    assert.equal((unknown.json as { error: string }).error, 'no worker in slot 9; slots in use: 0–3');

    const bad = await post('/workers/two/restart');
    assert.equal(bad.status, 400);
    assert.match((bad.json as { error: string }).error, /slot must be a whole number such as 0 \(got "two"\)/);
    assert.deepEqual(fake.calls, ['restart 2']);
  });

  it('POST /stop answers 202 first, then stops the supervisor', TIMEOUT, async () => {
    const { fake } = await serve();
    const response = await post('/stop');
    assert.equal(response.status, 202);
    assert.deepEqual(response.json, { ok: true, pid: 4242 });
    await waitFor(() => fake.stopped);
  });

  it('GET /metrics answers Prometheus text', TIMEOUT, async () => {
    const { fake } = await serve();
    fake.emit({ type: 'worker-restart', slot: 1 });
    const response = await get('/metrics');
    assert.equal(response.status, 200);
    assert.match(response.contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(response.text, /^supervise_workers\{state="ready"\} 4$/m);
    assert.match(response.text, /^supervise_worker_restarts_total\{slot="1"\} 1$/m);
  });

  it('answers an unknown path with 404 and a wrong method with 405', TIMEOUT, async () => {
    await serve();
    const unknown = await get('/nope');
    assert.equal(unknown.status, 404);
    assert.match((unknown.json as { error: string }).error, /no such endpoint: GET \/nope; endpoints: GET \/status/);

    const wrongMethod = await get('/reload');
    assert.equal(wrongMethod.status, 405);
    assert.equal((wrongMethod.json as { error: string }).error, 'GET is not allowed on /reload; use POST');
  });
});

// ---------------------------------------------------------------- hostile clients

describe('control server against misbehaving clients', () => {
  it('answers an oversize body with 413, by Content-Length or by counting chunks', TIMEOUT, async () => {
    await serve(createFakeSupervisor(), { maxBodyBytes: 1024 });
    const big = JSON.stringify({ workers: 2, padding: 'x'.repeat(4096) });
    const declared = await post('/scale', JSON.parse(big));
    assert.equal(declared.status, 413);
    assert.equal((declared.json as { error: string }).error, 'request body exceeds 1024 bytes');

    const chunked = await raw(
      `POST /scale HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(4096).toString(16)}\r\n${'y'.repeat(4096)}\r\n`,
    );
    assert.match(chunked.text, /^HTTP\/1\.1 413 /);
    await assertStillServing();
  });

  it('answers oversize headers with 431 and closes', TIMEOUT, async () => {
    await serve(createFakeSupervisor(), { maxHeaderBytes: 2048 });
    const response = await raw(`GET /status HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(4096)}\r\n\r\n`);
    assert.match(response.text, /^HTTP\/1\.1 431 /);
    assert.equal(rawBody(response.text).error, 'request headers exceed 2048 bytes');
    await assertStillServing();
  });

  it('answers binary junk with 400 and closes', TIMEOUT, async () => {
    await serve();
    const junk = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0x80, 0x81]);
    const response = await raw(junk);
    assert.match(response.text, /^HTTP\/1\.1 400 /);
    assert.match(rawBody(response.text).error, /^malformed HTTP request \(HPE_/);
    await assertStillServing();
  });

  it('closes a client that connects and never sends, after the request timeout', TIMEOUT, async () => {
    await serve(createFakeSupervisor(), { requestTimeoutMs: 300 });
    const response = await raw('', { timeoutMs: 3000 });
    assert.match(response.text, /^HTTP\/1\.1 408 /);
    assert.equal(rawBody(response.text).error, 'no complete request within 300 ms');
    assert.ok(response.closedAfterMs < 2000, `closed after ${response.closedAfterMs} ms`);
    await assertStillServing();
  });

  it('closes a client that sends half a request and stalls', TIMEOUT, async () => {
    await serve(createFakeSupervisor(), { requestTimeoutMs: 300 });
    const response = await raw('POST /scale HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{"work', { timeoutMs: 3000 });
    assert.match(response.text, /^HTTP\/1\.1 408 /);
    await assertStillServing();
  });

  it('does not time out a slow operation once the request is complete', TIMEOUT, async () => {
    await serve(createFakeSupervisor({ delayMs: 800 }), { requestTimeoutMs: 300 });
    const response = await post('/reload');
    assert.equal(response.status, 200);
  });

  it('survives a client that hangs up while its request is being handled', TIMEOUT, async () => {
    const { fake } = await serve(createFakeSupervisor({ delayMs: 200 }));
    const socket = net.connect(socketPath, () => socket.write('POST /reload HTTP/1.1\r\nHost: x\r\n\r\n'));
    await waitFor(() => fake.calls.includes('reload'));
    socket.destroy();
    await waitFor(() => fake.reloadsRun === 1);
    await assertStillServing();
  });
});

// ---------------------------------------------------------------- the socket file

describe('control socket file', () => {
  it('is created with mode 0600 and no temporary file is left behind', TIMEOUT, async () => {
    await serve();
    const stats = await stat(socketPath);
    assert.ok(stats.isSocket());
    assert.equal(stats.mode & 0o777, 0o600);
    assert.deepEqual(await readdir(directory), ['control.sock']);
  });

  it('refuses a second server on a live socket, naming the pid that holds it', TIMEOUT, async () => {
    await serve();
    const second = createFakeSupervisor({ pid: 999 });
    await assert.rejects(
      startControlServer({ path: socketPath, api: second, metrics: createMetrics(second), logger }),
      (error: unknown) => {
        assert.ok(error instanceof ControlSocketInUseError);
        assert.equal(error.code, 'CONTROL_SOCKET_IN_USE');
        assert.equal(error.pid, 4242);
        assert.match(error.message, new RegExp(`control socket ${socketPath} is in use by the supervisor with pid 4242`));
        assert.match(error.message, /--control <path>/);
        return true;
      },
    );
    await assertStillServing();
  });

  it('replaces a stale socket file left by a dead supervisor', TIMEOUT, async () => {
    await makeStaleSocket(socketPath);
    await assert.rejects(get('/status'), NoSupervisorError);
    await serve();
    await assertStillServing();
  });

  it('refuses a path that is not a socket and leaves the file alone', TIMEOUT, async () => {
    await writeFile(socketPath, 'precious');
    const fake = createFakeSupervisor();
    await assert.rejects(startControlServer({ path: socketPath, api: fake, metrics: createMetrics(fake), logger }), (error: unknown) => {
      assert.ok(error instanceof ControlSocketPathError);
      assert.match(error.message, /exists and is not a socket; remove it or give the control socket another path with --control/);
      return true;
    });
    assert.equal(await readFile(socketPath, 'utf8'), 'precious');
  });

  it('refuses a path too long for a Unix socket, saying so', TIMEOUT, async () => {
    const fake = createFakeSupervisor();
    const longPath = join(directory, `${'x'.repeat(120)}.sock`);
    await assert.rejects(startControlServer({ path: longPath, api: fake, metrics: createMetrics(fake), logger }), /is \d+ bytes long; Unix sockets allow at most \d+: use a shorter --control path/);
  });

  it('names the directory when it does not exist', TIMEOUT, async () => {
    const fake = createFakeSupervisor();
    const path = join(directory, 'missing', 'control.sock');
    await assert.rejects(startControlServer({ path, api: fake, metrics: createMetrics(fake), logger }), /directory .*missing does not exist/);
  });

  it('removes the socket file on close, but not a file that replaced it', TIMEOUT, async () => {
    const { server } = await serve();
    await server.close();
    await assert.rejects(stat(socketPath), /ENOENT/);

    const { server: second } = await serve();
    await unlink(socketPath);
    await writeFile(socketPath, 'someone else');
    await second.close();
    assert.equal(await readFile(socketPath, 'utf8'), 'someone else');
  });

  it('close() cuts a request still running after the grace period', TIMEOUT, async () => {
    const { server } = await serve(createFakeSupervisor({ delayMs: 5000 }), { closeGraceMs: 200 });
    const pending = post('/reload').then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((done) => setTimeout(done, 50));
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 2000);
    assert.equal(await pending, 'cut');
  });
});

/** A socket file with no listener: bind, hard-link it elsewhere, close (which unlinks the original). */
async function makeStaleSocket(path: string): Promise<void> {
  const server = net.createServer();
  const original = `${path}.orig`;
  await new Promise<void>((done) => server.listen(original, done));
  await link(original, path);
  await new Promise<void>((done) => server.close(() => done()));
}

// ---------------------------------------------------------------- supervise ctl

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
  const code = await runCtl(['--control', socketPath, ...argv], stdout, stderr);
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
    await assert.rejects(stat(socketPath), /ENOENT/);
  });

  it('metrics prints the Prometheus text', TIMEOUT, async () => {
    await serve();
    const { code, stdout } = await ctl('metrics');
    assert.equal(code, 0);
    assert.match(stdout, /^supervise_workers_desired 4$/m);
  });

  it('exits 3 naming the socket path when no supervisor answers', TIMEOUT, async () => {
    const missing = await ctl('status');
    assert.equal(missing.code, 3);
    assert.equal(
      missing.stderr,
      `error: no supervisor answers on ${socketPath} (no such socket file); start one, or point at its socket with --control <path>\n`,
    );
    await makeStaleSocket(socketPath);
    const stale = await ctl('reload');
    assert.equal(stale.code, 3);
    assert.match(stale.stderr, /connection refused: the socket file is stale/);
  });

  it('exits 2 on an unknown verb, a missing verb or argument; 0 on --help', TIMEOUT, async () => {
    for (const argv of [['frobnicate'], [], ['scale'], ['restart'], ['status', '--bogus'], ['reload', 'extra']]) {
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
    process.chdir(directory);
    cleanups.push(async () => process.chdir(previous));
    await serve(createFakeSupervisor(), {}, '.supervise.sock');
    const stdout = new Capture();
    const stderr = new Capture();
    assert.equal(await runCtl(['status'], stdout, stderr), 0, stderr.text);
    assert.match(stdout.text, /^pid 4242 /);
  });
});
