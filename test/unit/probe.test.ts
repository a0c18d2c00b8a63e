import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { makeProbe, probeHttp, probeTcp } from '../../src/health/probe.js';
import { waitFor } from '../helpers/wait-for.js';

const HOST = '127.0.0.1';
const servers: net.Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen<S extends net.Server>(server: S): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A port nobody listens on: bind, note the port, release it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function connectionCount(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

describe('probeTcp', () => {
  test('passes when something listens, and closes its connection', async () => {
    const server = net.createServer();
    const port = await listen(server);
    assert.deepEqual(await probeTcp(HOST, port, 1000), { ok: true });
    await waitFor(async () => (await connectionCount(server)) === 0, { message: 'the probe connection to close' });
  });

  test('fails with the connect error when nothing listens', async () => {
    const port = await closedPort();
    assert.deepEqual(await probeTcp(HOST, port, 1000), { ok: false, reason: `connect ECONNREFUSED ${HOST}:${port}` });
  });

  test('resolves at once when aborted', async () => {
    const port = await listen(net.createServer());
    const controller = new AbortController();
    controller.abort();
    assert.deepEqual(await probeTcp(HOST, port, 1000, controller.signal), { ok: false, reason: 'aborted' });
  });
});

describe('probeHttp', () => {
  test('passes on 2xx, requesting the configured path without keep-alive', async () => {
    const seen: Array<{ url: string | undefined; connection: string | undefined }> = [];
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url, connection: req.headers.connection });
      res.writeHead(204).end();
    });
    const port = await listen(server);
    assert.deepEqual(await probeHttp(HOST, port, '/healthz', 1000), { ok: true });
    assert.deepEqual(seen, [{ url: '/healthz', connection: 'close' }]);
    await waitFor(async () => (await connectionCount(server)) === 0, { message: 'the probe connection to close' });
  });

  test('fails with the status on a non-2xx answer, after reading the body', async () => {
    const server = http.createServer((_req, res) => res.writeHead(503).end('x'.repeat(100_000)));
    const port = await listen(server);
    assert.deepEqual(await probeHttp(HOST, port, '/', 1000), { ok: false, reason: 'HTTP 503' });
  });

  test('fails on a redirect: only 2xx is healthy', async () => {
    const server = http.createServer((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
    const port = await listen(server);
    assert.deepEqual(await probeHttp(HOST, port, '/', 1000), { ok: false, reason: 'HTTP 302' });
  });

  test('times out on a server that never answers, and drops the connection', async () => {
    const server = http.createServer(() => {
      /* never answers */
    });
    const port = await listen(server);
    const started = Date.now();
    assert.deepEqual(await probeHttp(HOST, port, '/', 150), { ok: false, reason: 'timed out after 150ms' });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 1000, `took ${elapsed}ms`);
    await waitFor(async () => (await connectionCount(server)) === 0, { message: 'the timed-out connection to close' });
  });

  test('the time limit covers the body too', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200);
      res.write('partial'); // ...and never ends
    });
    const port = await listen(server);
    assert.deepEqual(await probeHttp(HOST, port, '/', 150), { ok: false, reason: 'timed out after 150ms' });
  });

  test('fails with the connect error when nothing listens', async () => {
    const port = await closedPort();
    assert.deepEqual(await probeHttp(HOST, port, '/', 1000), { ok: false, reason: `connect ECONNREFUSED ${HOST}:${port}` });
  });
});

describe('makeProbe', () => {
  const health = { intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1 };

  test('uses HTTP when a path is configured', async () => {
    const server = http.createServer((_req, res) => res.writeHead(500).end());
    const port = await listen(server);
    assert.deepEqual(await makeProbe({ ...health, path: '/health' }, HOST)(port), { ok: false, reason: 'HTTP 500' });
  });

  test('uses a TCP connect without a path (an HTTP 500 server still passes)', async () => {
    const server = http.createServer((_req, res) => res.writeHead(500).end());
    const port = await listen(server);
    assert.deepEqual(await makeProbe({ ...health, path: undefined }, HOST)(port), { ok: true });
  });
});
