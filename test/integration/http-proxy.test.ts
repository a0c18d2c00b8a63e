import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { before, describe, it } from 'node:test';
import { createJavaScriptHttpFront, type HttpFrontLike, type HttpFrontOptions } from '../../src/proxy/http-proxy.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { RoutedRegistry } from '../../src/proxy/routed-registry.js';
import type { BackendsFactory } from '../../src/proxy/front-base.js';
import {
  assertNamesBusyPort, blackholePort, closeServer, countByBackend, deadPort, listening, recordEvents, request, startHttpBackend, useCleanup,
  type RecordedEvents,
} from '../helpers/proxy-fixtures.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 15_000 };
const defer = useCleanup();

// Every test runs on both data paths: the native one (src/native/http_front.c,
// built by npm install) and the portable JavaScript one.
const nativeBuilt = nativeTunnelPath() !== undefined;
if (!nativeBuilt && process.env.CI === 'true') throw new Error('the native module is not built (npm install builds it with node-gyp)');
type CreateFront = (options: HttpFrontOptions, backends?: BackendsFactory) => HttpFrontLike;
const PATHS: Array<[string, CreateFront]> = [
  ['native', (options, backends) => createNativeHttpFront(options, backends) ?? assert.fail('the native http front is not available')],
  ['javascript', createJavaScriptHttpFront],
];
let createHttpFront: CreateFront = createJavaScriptHttpFront;

async function startFront(
  options: Partial<HttpFrontOptions> = {},
): Promise<{ front: HttpFrontLike; port: number; events: RecordedEvents }> {
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

for (const [path, create] of PATHS) {
describe(`http front (${path})`, { skip: path === 'native' && !nativeBuilt ? 'native module not built (npm install)' : false }, () => {
  before(() => {
    createHttpFront = create;
  });

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

  it('least-conn sends requests past a backend busy with a slow one', TIMEOUT, async () => {
    let answerSlow: (() => void) | undefined;
    const slow = await startHttpBackend('slow', defer, (_req, res) => {
      answerSlow = () => res.end('slow done');
    });
    const fast = await startHttpBackend('fast', defer);
    const { front, port } = await startFront({ balance: 'least-conn' });
    front.add({ id: 1, host: '127.0.0.1', port: slow.port, weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: fast.port, weight: 1 });
    const pending = request(port);
    await waitFor(() => answerSlow !== undefined, { message: 'the first request reached the slow backend' });
    // Round-robin would send every other one to the slow backend, where it would wait.
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) bodies.push((await request(port)).body);
    assert.deepEqual(countByBackend(bodies), { fast: 6 });
    (answerSlow as () => void)();
    assert.equal((await pending).body, 'slow done');
  });

  it('names no internal address in its 502 bodies', TIMEOUT, async () => {
    // A backend that accepts and then resets every request.
    const resetting = net.createServer((socket) => socket.on('data', () => socket.resetAndDestroy()));
    const resetPort = await listening(resetting);
    defer(() => closeServer(resetting));
    const dead = await deadPort();
    const { front, port } = await startFront({ queueTimeoutMs: 0 });
    front.add({ id: 1, host: '127.0.0.1', port: resetPort, weight: 1 });
    const failed = await request(port, { method: 'POST', body: 'x' });
    assert.equal(failed.status, 502);
    assert.equal(failed.body, '502 Bad Gateway: the backend failed\n');
    front.remove(1);
    front.add({ id: 2, host: '127.0.0.1', port: dead, weight: 1 });
    const refused = await request(port);
    assert.equal(refused.status, 502);
    for (const body of [failed.body, refused.body]) {
      assert.doesNotMatch(body, new RegExp(`127\\.0\\.0\\.1|${resetPort}|${dead}`));
    }
  });

  it('counts requests per backend by status class, with their latencies (requestStats)', TIMEOUT, async () => {
    const backend = await startHttpBackend('a', defer, (req, res) => {
      const status = Number(req.url?.slice(1));
      setTimeout(() => {
        res.statusCode = status;
        res.end('done');
      }, status === 201 ? 600 : 0);
    });
    const { front, port } = await startFront();
    front.add({ id: 7, host: '127.0.0.1', port: backend.port, weight: 1 });
    for (const status of [200, 200, 201, 404, 503]) assert.equal((await request(port, { path: `/${status}` })).status, status);
    const [stats] = front.requestStats();
    assert.equal(stats?.id, 7);
    assert.equal(stats?.route, '/', "an app's own front: one route, every path");
    assert.deepEqual(stats?.classes, [0, 3, 0, 1, 1]);
    assert.equal(stats?.count, 5);
    // Buckets are cumulative (≤ 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 … ms): the 600 ms one
    // is above 500; the four immediate ones within it, even on a machine busy with other tests.
    assert.equal(stats?.buckets.length, 11);
    assert.equal(stats?.buckets[6], 4, 'four answered within 500 ms, the slow one not');
    assert.equal(stats?.buckets[9], 5, 'all five within 5 s');
    assert.ok((stats?.sum ?? 0) >= 600 && (stats?.sum ?? 0) < 5000, `sum ${stats?.sum}`);
  });

  it('routes by host and path through a routing registry (the system front): strip, 404 without a route', TIMEOUT, async () => {
    const api = await startHttpBackend('api', defer);
    const web = await startHttpBackend('web', defer);
    let routing!: RoutedRegistry;
    const events = recordEvents();
    const front = createHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events }, (onForget) => (routing = new RoutedRegistry(onForget)));
    await front.listen();
    defer(() => front.close(0));
    const port = front.address().port;
    routing.setRoutes([
      { app: 'api', path: '/v1', host: 'api.test', weight: 1, strip: true },
      { app: 'web', path: '/', host: 'www.test', weight: 1, strip: false },
    ]);
    routing.addApp('api', 'round-robin', events);
    routing.addApp('web', 'round-robin', events);
    // Waits in the queue while no backend is in rotation; routed (and counted) once one comes.
    const held = request(port, { path: '/v1/held', headers: { Host: 'api.test' } });
    await delay(100);
    front.add({ id: 1, host: '127.0.0.1', port: api.port, weight: 1, app: 'api' });
    assert.equal((await held).body, 'api GET /held');
    // Added to the registry, not to the front (as the system's apps do): the front learns it on its first request.
    routing.add({ id: 2, host: '127.0.0.1', port: web.port, weight: 1, app: 'web' });
    assert.equal((await request(port, { path: '/v1/users?x=1', headers: { Host: 'api.test' } })).body, 'api GET /users?x=1');
    assert.equal((await request(port, { path: '/index.html', headers: { Host: 'www.test:8080' } })).body, 'web GET /index.html');
    const unrouted = await request(port, { headers: { Host: 'other.test' } });
    assert.equal(unrouted.status, 404);
    assert.match(unrouted.body, /no route for this path/);
    // Counted under the route each request matched, as the system file has it (the 404 matched none).
    const counted = front.requestStats().map(({ id, app, route, count }) => ({ id, app, route, count }));
    assert.deepEqual(counted.sort((a, b) => a.id - b.id), [
      { id: 1, app: 'api', route: 'api.test/v1', count: 2 },
      { id: 2, app: 'web', route: 'www.test/', count: 1 },
    ]);
  });

  it('forwards chunked uploads and chunked responses, and pipelined requests in order', TIMEOUT, async () => {
    const backend = await startHttpBackend('a', defer, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.write(`${req.url} `); // no Content-Length: chunked
        setTimeout(() => res.end(`got ${Buffer.concat(chunks).length}`), 5);
      });
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    const reply = await rawExchange(
      port,
      'POST /one HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n' +
        'GET /two HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
    );
    const bodies = [...reply.matchAll(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n([^]*?\r\n0\r\n\r\n)/g)].map((m) => dechunk(m[1] as string));
    assert.deepEqual(bodies, ['/one got 11', '/two got 0']);
  });

  it('answers an HTTP/1.0 client in HTTP/1.0 terms (no chunks, no Host needed)', TIMEOUT, async () => {
    const backend = await startHttpBackend('a', defer, (_req, res) => {
      res.write('part one, ');
      res.end('part two');
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    const reply = await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.[01] 200 OK\r\n/);
    assert.doesNotMatch(reply, /transfer-encoding/i);
    assert.ok(reply.endsWith('\r\n\r\npart one, part two'), JSON.stringify(reply));
  });

  it('HTTP/1.0 clients, each on a connection of its own, share one pooled backend connection (not one each)', TIMEOUT, async () => {
    const backendPorts: Array<number | undefined> = [];
    const backend = await startHttpBackend('a', defer, (req, res) => {
      backendPorts.push(req.socket.remotePort);  // now: a closed socket has none
      if (req.url === '/1') res.write('streamed ');  // no length: chunked to the front, decoded for the 1.0 client
      res.end(`a ${req.url}`);
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    for (let i = 0; i < 3; i++) {
      const reply = await rawExchange(port, `GET /${i} HTTP/1.0\r\n\r\n`);
      assert.ok(reply.endsWith(i === 1 ? '\r\n\r\nstreamed a /1' : `\r\n\r\na /${i}`), JSON.stringify(reply));
      assert.doesNotMatch(reply, /transfer-encoding/i);
    }
    assert.equal(backendPorts.length, 3);
    assert.equal(new Set(backendPorts).size, 1, `backend connections used (client ports): ${backendPorts.join(', ')}`);
  });

  it('relays 100 Continue and HEAD responses', TIMEOUT, async () => {
    const backend = await startHttpBackend('a', defer, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.setHeader('Content-Length', 5 + chunks.reduce((n, c) => n + c.length, 0));
        res.end(req.method === 'HEAD' ? undefined : `echo ${Buffer.concat(chunks)}`);
      });
    });
    const { front, port } = await startFront();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    const socket = net.connect(port, '127.0.0.1');
    defer(() => socket.destroy());
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk));
    socket.write('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
    await waitFor(() => received.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), { message: '100 Continue before the body' });
    socket.write('hi');
    await waitFor(() => received.endsWith('echo hi'), { message: 'the final response' });
    received = '';
    socket.write('HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n');
    // The HEAD response has Content-Length 5 and no body: the next response follows it at once.
    await waitFor(() => received.endsWith('echo '), { message: 'the response after HEAD' });
    assert.match(received, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 5\r\n[^]*\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  });
});
}

/** Writes `bytes` on a new connection; everything the front sent until it closed. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no close within 5s; got ${JSON.stringify(received)}`)), 5000);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(bytes);
  });
}

/** The payload of a chunked body. */
function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, line), 16);
    if (size === 0) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}
