import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createHttpFront } from '../../src/proxy/http-proxy.js';
import type { BoundFront } from '../../src/proxy/options.js';
import {
  assertNamesBusyPort, blackholePort, countByBackend, deadPort, recordEvents, request, startHttpBackend, useCleanup,
  type RecordedEvents,
} from '../helpers/proxy-fixtures.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 15_000 };
const defer = useCleanup();

async function startFront(
  options: { connectTimeoutMs?: number; idleTimeoutMs?: number; queueTimeoutMs?: number } = {},
): Promise<{ front: BoundFront; port: number; events: RecordedEvents }> {
  const events = recordEvents();
  const front = createHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events, ...options });
  await front.listen();
  defer(() => front.close(0));
  return { front, port: front.address().port, events };
}

/** A keep-alive client with a single connection, closed after the test. */
function oneConnectionAgent(): { agent: http.Agent; connectionsOpened: () => number } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let opened = 0;
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof createConnection>) => {
    opened++;
    return createConnection(...args);
  }) as typeof agent.createConnection;
  defer(() => agent.destroy());
  return { agent, connectionsOpened: () => opened };
}

describe('http front', () => {
  it('balances each request of one keep-alive connection over the backends', TIMEOUT, async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((name) => startHttpBackend(name, defer)));
    const { front, port } = await startFront();
    backends.forEach((backend, id) => front.add({ id, host: '127.0.0.1', port: backend.port, weight: 1 }));
    const { agent, connectionsOpened } = oneConnectionAgent();

    const bodies: string[] = [];
    for (let i = 0; i < 30; i++) bodies.push((await request(port, { agent, path: `/n/${i}` })).body);
    assert.deepEqual(countByBackend(bodies), { a: 10, b: 10, c: 10 });
    assert.equal(bodies[4], 'b GET /n/4');
    assert.equal(connectionsOpened(), 1);
    assert.deepEqual([0, 1, 2].map((id) => front.totalConnections(id)), [10, 10, 10]);
  });

  it('streams request and response bodies', TIMEOUT, async () => {
    const backend = await startHttpBackend('a', defer);
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    const big = 'x'.repeat(1024 * 1024);
    const response = await request(port, { method: 'POST', path: '/upload', body: big });
    assert.equal(response.status, 200);
    assert.equal(response.body, `a POST /upload\n${big}`);
  });

  it('adds X-Forwarded-* and keeps hop-by-hop headers on their hop', TIMEOUT, async () => {
    const backend = await startHttpBackend('a', defer, (req, res) => {
      res.setHeader('Keep-Alive', 'timeout=5');
      res.setHeader('X-Secret-Hop', 'backend side');
      res.setHeader('Connection', 'X-Secret-Hop');
      res.end(JSON.stringify(req.headers));
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    const response = await request(port, {
      headers: { 'X-Forwarded-For': '203.0.113.9', Connection: 'X-Client-Hop', 'X-Client-Hop': 'client side', 'X-Kept': 'yes' },
    });
    const seen = JSON.parse(response.body) as Record<string, string>;
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], `127.0.0.1:${port}`);
    assert.equal(seen.host, `127.0.0.1:${port}`, 'the client\'s Host goes through');
    assert.equal(seen['x-kept'], 'yes');
    assert.equal(seen['x-client-hop'], undefined);
    assert.equal(response.headers['x-secret-hop'], undefined);
  });

  it('never shows the client a dead backend while another is up, and reports it', TIMEOUT, async () => {
    const live = await startHttpBackend('live', defer);
    const { front, port, events } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: await deadPort(), weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: live.port, weight: 1 });
    const { agent } = oneConnectionAgent();

    for (let i = 0; i < 10; i++) {
      const response = await request(port, { agent, method: 'POST', body: `body ${i}` });
      assert.equal(response.body, `live POST /\nbody ${i}`, 'a retried request keeps its body');
    }
    assert.ok(events.failures.length >= 5);
    assert.ok(events.failures.every((failure) => failure.id === 1));
    assert.equal((events.failures[0]?.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });

  it('retries on the next backend when a connect times out', TIMEOUT, async () => {
    const live = await startHttpBackend('live', defer);
    const { front, port, events } = await startFront({ connectTimeoutMs: 200 });
    front.add({ id: 1, host: '127.0.0.1', port: await blackholePort(defer), weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: live.port, weight: 1 });
    assert.equal((await request(port)).body, 'live GET /');
    assert.equal(events.failures[0]?.id, 1);
    assert.match(events.failures[0]?.error.message ?? '', /timed out after 200ms/);
  });

  it('holds a request while no backend is in rotation, and answers 503 after queueTimeoutMs', TIMEOUT, async () => {
    const live = await startHttpBackend('live', defer);
    const { front, port } = await startFront({ queueTimeoutMs: 300 });
    const started = Date.now();
    const none = await request(port);
    assert.equal(none.status, 503);
    assert.match(none.body, /^503 Service Unavailable: no backend became ready within 300ms/);
    assert.ok(Date.now() - started >= 280, `answered after ${Date.now() - started}ms`);
    const held = request(port);
    await delay(100);
    front.add({ id: 1, host: '127.0.0.1', port: live.port, weight: 1 });
    assert.equal((await held).body, 'live GET /');
  });

  it('answers 502 when no backend is available or none accepts', TIMEOUT, async () => {
    const { front, port, events } = await startFront({ queueTimeoutMs: 0 });
    const none = await request(port);
    assert.equal(none.status, 502);
    assert.match(none.body, /^502 Bad Gateway: no backend available/);

    front.add({ id: 1, host: '127.0.0.1', port: await deadPort(), weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: await deadPort(), weight: 1 });
    const dead = await request(port);
    assert.equal(dead.status, 502);
    assert.match(dead.body, /no backend accepted the connection \(2 tried\)/);
    assert.deepEqual(events.failures.map((failure) => failure.id).sort(), [1, 2]);
  });

  it('answers 504 when the backend does not respond in time', TIMEOUT, async () => {
    const stuck = await startHttpBackend('stuck', defer, () => undefined);
    const { front, port } = await startFront({ idleTimeoutMs: 200 });
    front.add({ id: 1, host: '127.0.0.1', port: stuck.port, weight: 1 });
    const response = await request(port);
    assert.equal(response.status, 504);
    assert.match(response.body, /sent no response within 200ms/);
    await waitFor(() => front.connections(1) === 0, { message: 'the request released' });
  });

  it('keeps a client keep-alive connection working when a backend is removed', TIMEOUT, async () => {
    const a = await startHttpBackend('a', defer);
    const b = await startHttpBackend('b', defer);
    const { front, port, events } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: a.port, weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: b.port, weight: 1 });
    const { agent, connectionsOpened } = oneConnectionAgent();

    assert.deepEqual(countByBackend([(await request(port, { agent })).body, (await request(port, { agent })).body]), { a: 1, b: 1 });
    front.remove(1);
    await waitFor(() => events.drained.includes(1), { message: 'a drained' });
    // a's pooled connection is closed, so a could now exit.
    await waitFor(
      () => new Promise<boolean>((resolve) => a.server.getConnections((_error, count) => resolve(count === 0))),
      { message: 'a has no connection left' },
    );
    const after: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await request(port, { agent });
      assert.equal(response.status, 200);
      after.push(response.body);
    }
    assert.deepEqual(countByBackend(after), { b: 5 });
    assert.equal(connectionsOpened(), 1, 'the client kept its one connection');
  });

  it('reports a removed backend drained only when its in-flight requests are done', TIMEOUT, async () => {
    let answerSlow!: () => void;
    const slow = await startHttpBackend('slow', defer, (_req, res) => {
      answerSlow = () => res.end('slow done');
    });
    const { front, port, events } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: slow.port, weight: 1 });
    const pending = request(port);
    await waitFor(() => answerSlow !== undefined, { message: 'the request reached the backend' });
    assert.equal(front.connections(1), 1);

    front.remove(1);
    await delay(50);
    assert.deepEqual(events.drained, []);
    answerSlow();
    assert.equal((await pending).body, 'slow done');
    await waitFor(() => events.drained.length === 1, { message: 'onDrained' });
    assert.deepEqual(events.drained, [1]);
  });

  it('close() lets in-flight requests finish and ends keep-alive connections', TIMEOUT, async () => {
    let answerSlow!: () => void;
    const slow = await startHttpBackend('slow', defer, (_req, res) => {
      answerSlow = () => res.end('slow done');
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: slow.port, weight: 1 });
    const { agent } = oneConnectionAgent();
    const pending = request(port, { agent });
    await waitFor(() => answerSlow !== undefined, { message: 'the request reached the backend' });

    const closing = front.close(5000);
    setTimeout(() => answerSlow(), 100);
    const response = await pending;
    assert.equal(response.body, 'slow done');
    assert.equal(response.headers.connection, 'close');
    await closing;
    await assert.rejects(request(port), /ECONNREFUSED/);
  });

  it('close() cuts what is still open at the timeout', TIMEOUT, async () => {
    const stuck = await startHttpBackend('stuck', defer, () => undefined);
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: stuck.port, weight: 1 });
    const pending = request(port);
    pending.catch(() => undefined);
    await waitFor(() => stuck.requests.length === 1, { message: 'the request reached the backend' });
    const started = Date.now();
    await front.close(200);
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(pending, /socket hang up|ECONNRESET/);
  });

  it('pipes an Upgrade (WebSocket-style) connection through', TIMEOUT, async () => {
    const backend = await startHttpBackend('ws', defer);
    backend.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Saw-Forwarded: ${req.headers['x-forwarded-for']}\r\n\r\n`);
      socket.on('data', (chunk: Buffer) => socket.write(`echo ${chunk}`));
      socket.on('end', () => socket.end());
      defer(() => socket.destroy());
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });

    const req = http.request({ host: '127.0.0.1', port, headers: { Connection: 'Upgrade', Upgrade: 'echo' }, agent: false });
    const [response, socket] = await new Promise<[http.IncomingMessage, net.Socket]>((resolve, reject) => {
      req.on('upgrade', (res: http.IncomingMessage, upgraded: net.Socket) => resolve([res, upgraded]));
      req.on('error', reject);
      req.end();
    });
    defer(() => socket.destroy());
    assert.equal(response.statusCode, 101);
    assert.equal(response.headers['x-saw-forwarded'], '127.0.0.1');
    socket.write('ping');
    const reply = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(String(chunk))));
    assert.equal(reply, 'echo ping');
    assert.equal(front.connections(1), 1);
    socket.destroy();
    await waitFor(() => front.connections(1) === 0, { message: 'the tunnel released' });
  });

  it('names host:port when the port is in use', TIMEOUT, () => assertNamesBusyPort(createHttpFront, defer));
});
