// The control socket end to end: a real Unix socket in a temporary directory,
// a fake supervisor behind it, and the requests a user (curl, ctl) or a
// misbehaving client would send.

import assert from 'node:assert/strict';
import { readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { controlRequest, NoSupervisorError } from '../../src/control/client.js';
import { createMetrics } from '../../src/control/metrics.js';
import { ControlSocketInUseError, ControlSocketPathError, startControlServer } from '../../src/control/server.js';
import { makeStaleSocket, silentLogger as logger, TIMEOUT, useControlSocketFixture, waitFor } from '../helpers/control-socket.js';
import { createFakeSupervisor } from '../helpers/fake-supervisor.js';

const fixture = useControlSocketFixture();
const serve = fixture.serve;

const get = (path: string) => controlRequest(fixture.socketPath, 'GET', path, undefined, 5000);
const post = (path: string, body?: unknown) => controlRequest(fixture.socketPath, 'POST', path, body, 5000);

/** Sends raw bytes and collects everything the server writes until it closes the connection. */
function raw(bytes: string | Buffer, { end = false, timeoutMs = 5000 } = {}): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(fixture.socketPath);
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
    assert.match(response.text, /^supervise_workers\{app="app",state="ready"\} 4$/m);
    assert.match(response.text, /^supervise_worker_restarts_total\{app="app",slot="1"\} 1$/m);
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
    const socket = net.connect(fixture.socketPath, () => socket.write('POST /reload HTTP/1.1\r\nHost: x\r\n\r\n'));
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
    const stats = await stat(fixture.socketPath);
    assert.ok(stats.isSocket());
    assert.equal(stats.mode & 0o777, 0o600);
    assert.deepEqual(await readdir(fixture.directory), ['control.sock']);
  });

  it('refuses a second server on a live socket, naming the pid that holds it', TIMEOUT, async () => {
    await serve();
    const second = createFakeSupervisor({ pid: 999 });
    await assert.rejects(
      startControlServer({ path: fixture.socketPath, api: second, metrics: createMetrics(second), logger }),
      (error: unknown) => {
        assert.ok(error instanceof ControlSocketInUseError);
        assert.equal(error.code, 'CONTROL_SOCKET_IN_USE');
        assert.equal(error.pid, 4242);
        assert.match(error.message, new RegExp(`control socket ${fixture.socketPath} is in use by the supervisor with pid 4242`));
        assert.match(error.message, /--control <path>/);
        return true;
      },
    );
    await assertStillServing();
  });

  it('replaces a stale socket file left by a dead supervisor', TIMEOUT, async () => {
    await makeStaleSocket(fixture.socketPath);
    await assert.rejects(get('/status'), NoSupervisorError);
    await serve();
    await assertStillServing();
  });

  it('refuses a path that is not a socket and leaves the file alone', TIMEOUT, async () => {
    await writeFile(fixture.socketPath, 'precious');
    const fake = createFakeSupervisor();
    await assert.rejects(startControlServer({ path: fixture.socketPath, api: fake, metrics: createMetrics(fake), logger }), (error: unknown) => {
      assert.ok(error instanceof ControlSocketPathError);
      assert.match(error.message, /exists and is not a socket; remove it or give the control socket another path with --control/);
      return true;
    });
    assert.equal(await readFile(fixture.socketPath, 'utf8'), 'precious');
  });

  it('refuses a path too long for a Unix socket, saying so', TIMEOUT, async () => {
    const fake = createFakeSupervisor();
    const longPath = join(fixture.directory, `${'x'.repeat(120)}.sock`);
    await assert.rejects(startControlServer({ path: longPath, api: fake, metrics: createMetrics(fake), logger }), /is \d+ bytes long; Unix sockets allow at most \d+: use a shorter --control path/);
  });

  it('names the directory when it does not exist', TIMEOUT, async () => {
    const fake = createFakeSupervisor();
    const path = join(fixture.directory, 'missing', 'control.sock');
    await assert.rejects(startControlServer({ path, api: fake, metrics: createMetrics(fake), logger }), /directory .*missing does not exist/);
  });

  it('removes the socket file on close, but not a file that replaced it', TIMEOUT, async () => {
    const { server } = await serve();
    await server.close();
    await assert.rejects(stat(fixture.socketPath), /ENOENT/);

    const { server: second } = await serve();
    await unlink(fixture.socketPath);
    await writeFile(fixture.socketPath, 'someone else');
    await second.close();
    assert.equal(await readFile(fixture.socketPath, 'utf8'), 'someone else');
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
