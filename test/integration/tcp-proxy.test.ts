import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BalancePolicy } from '../../src/core/types.js';
import type { BoundFront } from '../../src/proxy/options.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { createTcpFront } from '../../src/proxy/tcp-proxy.js';
import {
  assertNamesBusyPort, blackholePort, closeServer, countByBackend, deadPort, listening, recordEvents, request, startHttpBackend, useCleanup,
  type RecordedEvents,
} from '../helpers/proxy-fixtures.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 15_000 };
const defer = useCleanup();

async function startFront(
  options: { balance?: BalancePolicy; connectTimeoutMs?: number; idleTimeoutMs?: number; queueTimeoutMs?: number; port?: number } = {},
): Promise<{ front: BoundFront; port: number; events: RecordedEvents }> {
  const events = recordEvents();
  const front = createTcpFront({ host: '127.0.0.1', port: options.port ?? 0, balance: options.balance ?? 'round-robin', events, ...options });
  await front.listen();
  defer(() => front.close(0));
  return { front, port: front.address().port, events };
}

/** A raw TCP connection through the front; resolves once connected. */
async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  defer(() => socket.destroy());
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** A client connected through a new front to `backend` (listening here, closed after the test). */
async function connectThrough(backend: net.Server): Promise<{ front: BoundFront; client: net.Socket }> {
  const backendPort = await listening(backend);
  defer(() => closeServer(backend));
  const { front, port } = await startFront();
  front.add({ id: 1, host: '127.0.0.1', port: backendPort, weight: 1 });
  return { front, client: await connect(port) };
}

/** Everything the socket receives until the peer ends or closes it. */
function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.once('end', () => resolve(text));
    socket.once('close', () => resolve(text));
  });
}

/** Descriptors open in this process (the fronts under test run here). */
const openFds = () => readdirSync('/proc/self/fd').length;

// Both data paths run every test: the native data plane (src/native, built by
// npm install) and the portable net.Socket front.
const IMPLEMENTATIONS = {
  'native tunnel': { SUPERVISE_TCP_NATIVE: '1' },
  'net.Socket': { SUPERVISE_TCP_NATIVE: '0' },
} as const;
const nativeBuilt = nativeTunnelPath() !== undefined;
if (!nativeBuilt && process.env.CI === 'true') throw new Error('the native tunnel is not built (npm install builds it with node-gyp)');

for (const [implementation, env] of Object.entries(IMPLEMENTATIONS)) {
  const skip = implementation === 'native tunnel' && !nativeBuilt ? 'native tunnel not built (npm install)' : false;
  describe(`tcp front (${implementation})`, { skip }, () => {
    before(() => Object.assign(process.env, env));
    after(() => {
      delete process.env.SUPERVISE_TCP_NATIVE;
    });

    it('uses the implementation asked for', () => {
      assert.equal((createTcpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() }) as { dataPath?: string }).dataPath, implementation === 'native tunnel' ? 'native' : 'javascript');
    });

    it('moves 32 MB each way intact through a slow reader (backpressure)', TIMEOUT, async () => {
    const payload = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32LE(i, i);
    const { client: socket } = await connectThrough(net.createServer((peer) => peer.pipe(peer)));
    const received: Buffer[] = [];
    let length = 0;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      // A slow reader: pause now and then so that the proxy must hold back.
      if (received.length % 50 === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 5);
      }
    });
    socket.end(payload);
    await waitFor(() => length >= payload.length, { timeoutMs: 12_000, message: '32 MB echoed back' });
    assert.ok(Buffer.concat(received).equals(payload), 'bytes arrive intact and in order');
    });

    it('spreads new connections evenly over the backends, round-robin', TIMEOUT, async () => {
      const backends = await Promise.all(['a', 'b', 'c'].map((name) => startHttpBackend(name, defer)));
      const { front, port } = await startFront();
      backends.forEach((backend, id) => front.add({ id, host: '127.0.0.1', port: backend.port, weight: 1 }));

      const bodies: string[] = [];
      for (let i = 0; i < 30; i++) bodies.push((await request(port)).body);
      assert.deepEqual(countByBackend(bodies), { a: 10, b: 10, c: 10 });
      assert.deepEqual([0, 1, 2].map((id) => front.totalConnections(id)), [10, 10, 10]);
      await waitFor(() => [0, 1, 2].every((id) => front.connections(id) === 0), { message: 'every connection closed' });
    });

    it('keeps the spread even under concurrent connections with least-conn', TIMEOUT, async () => {
      const backends = await Promise.all(['a', 'b'].map((name) => startHttpBackend(name, defer)));
      const { front, port } = await startFront({ balance: 'least-conn' });
      backends.forEach((backend, id) => front.add({ id, host: '127.0.0.1', port: backend.port, weight: 1 }));
      const responses = await Promise.all(Array.from({ length: 40 }, () => request(port)));
      const counts = countByBackend(responses.map((response) => response.body));
      assert.equal((counts.a ?? 0) + (counts.b ?? 0), 40);
      assert.ok(Math.abs((counts.a ?? 0) - (counts.b ?? 0)) <= 8, `uneven: ${JSON.stringify(counts)}`);
    });

    it('never shows the client a dead backend while another is up, and reports it', TIMEOUT, async () => {
      const live = await startHttpBackend('live', defer);
      const { front, port, events } = await startFront();
      front.add({ id: 1, host: '127.0.0.1', port: await deadPort(), weight: 1 });
      front.add({ id: 2, host: '127.0.0.1', port: live.port, weight: 1 });

      for (let i = 0; i < 10; i++) assert.equal((await request(port)).body, 'live GET /');
      assert.ok(events.failures.length >= 5, `expected the dead backend reported, got ${events.failures.length} failures`);
      assert.ok(events.failures.every((failure) => failure.id === 1));
      assert.equal((events.failures[0]?.error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      assert.equal(front.connections(1), 0);
      assert.equal(front.totalConnections(1), 0, 'a refused connect is not a connection');
    });

    it('gives up on a backend that does not accept within the connect timeout', TIMEOUT, async () => {
      const live = await startHttpBackend('live', defer);
      const { front, port, events } = await startFront({ connectTimeoutMs: 200 });
      front.add({ id: 1, host: '127.0.0.1', port: await blackholePort(defer), weight: 1 });
      front.add({ id: 2, host: '127.0.0.1', port: live.port, weight: 1 });

      const started = Date.now();
      const response = await request(port);
      assert.equal(response.body, 'live GET /');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started}ms`);
      assert.equal(events.failures[0]?.id, 1);
      assert.match(events.failures[0]?.error.message ?? '', /connect to 127\.0\.0\.1:\d+ timed out after 200ms/);
    });

    it('closes the client connection when no backend accepts it', TIMEOUT, async () => {
      const { front, port, events } = await startFront();
      front.add({ id: 1, host: '127.0.0.1', port: await deadPort(), weight: 1 });
      await assert.rejects(request(port), /socket hang up|ECONNRESET/);
      assert.equal(events.failures.length, 1);
    });

    it('holds a connection while no backend is in rotation and tunnels it once one comes', TIMEOUT, async () => {
      const live = await startHttpBackend('live', defer);
      const { front, port } = await startFront();
      const pending = request(port);
      await delay(300);
      front.add({ id: 1, host: '127.0.0.1', port: live.port, weight: 1 });
      assert.equal((await pending).body, 'live GET /');
      assert.equal(front.totalConnections(1), 1);
    });

    it('closes a held connection after queueTimeoutMs, without a reset', TIMEOUT, async () => {
      const { port } = await startFront({ queueTimeoutMs: 300 });
      const started = Date.now();
      const client = await connect(port);
      const ended = new Promise<string>((resolve) => {
        client.once('error', (error) => resolve(error.message));
        client.once('end', () => resolve('end'));
      });
      client.resume();
      assert.equal(await ended, 'end');
      const waited = Date.now() - started;
      assert.ok(waited >= 280 && waited < 3000, `closed after ${waited}ms`);
    });

    it('keeps both directions of a half-closed connection', TIMEOUT, async () => {
      // The backend answers only after the client's end, then ends too.
      const backend = net.createServer({ allowHalfOpen: true }, (socket) => {
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (received += chunk));
        socket.on('end', () => socket.end(`got ${received}; bye`));
      });
      const { front, client } = await connectThrough(backend);
      const reply = readAll(client);
      client.write('hello ');
      client.end('world');
      assert.equal(await reply, 'got hello world; bye');
      await waitFor(() => front.connections(1) === 0, { message: 'the tunnel closed' });
    });

    it('lets the client keep sending after the backend has ended its side', TIMEOUT, async () => {
      let receivedByBackend = '';
      let backendSawEnd!: () => void;
      const backendDone = new Promise<void>((resolve) => (backendSawEnd = resolve));
      const backend = net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.end('bye first');
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (receivedByBackend += chunk));
        socket.on('end', backendSawEnd);
      });
      const { client } = await connectThrough(backend);
      const fromBackend = readAll(client);
      assert.equal(await fromBackend, 'bye first');
      client.end('still talking');
      await backendDone;
      assert.equal(receivedByBackend, 'still talking');
    });

    it('reports a removed backend drained once its last connection ends', TIMEOUT, async () => {
      const a = await startHttpBackend('a', defer);
      const { front, port, events } = await startFront();
      front.add({ id: 1, host: '127.0.0.1', port: a.port, weight: 1 });

      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      defer(() => agent.destroy());
      assert.equal((await request(port, { agent })).body, 'a GET /');
      assert.equal(front.connections(1), 1, 'the keep-alive connection is open');

      front.remove(1);
      await delay(50);
      assert.deepEqual(events.drained, [], 'not drained while a connection is open');
      assert.equal((await request(port, { agent })).body, 'a GET /', 'an open connection keeps working');

      agent.destroy();
      await waitFor(() => events.drained.length === 1, { message: 'onDrained' });
      assert.deepEqual(events.drained, [1]);
      assert.equal(front.connections(1), 0);
    });

    // Lossless keep-alive reloads: the native data plane follows HTTP/1.x framing (src/native/h1frame.c).
    const framing = { ...TIMEOUT, skip: implementation === 'native tunnel' ? false : 'HTTP/1.x framing is the native data plane\'s' };

    it('ends a draining backend\'s keep-alive connection after its next response, which says Connection: close', framing, async () => {
      const [a, b] = [await startHttpBackend('a', defer), await startHttpBackend('b', defer)];
      const { front, port, events } = await startFront();
      front.add({ id: 1, host: '127.0.0.1', port: a.port, weight: 1 });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      defer(() => agent.destroy());
      assert.equal((await request(port, { agent })).body, 'a GET /');

      front.add({ id: 2, host: '127.0.0.1', port: b.port, weight: 1 });
      front.remove(1);
      const last = await request(port, { agent });
      assert.equal(last.body, 'a GET /', 'the request already on the connection is answered by its backend');
      // The backend's own "keep-alive" stays beside it; "close" wins (RFC 9110 §7.6.1).
      assert.match(last.headers.connection ?? '', /^close\b/);
      await waitFor(() => events.drained.includes(1), { message: 'backend 1 drained while the client keeps its agent' });
      assert.equal((await request(port, { agent })).body, 'b GET /', 'the next request reconnects to a ready backend');
    });

    it('follows chunked bodies, HEAD and 100-continue to the boundary, and cuts there', framing, async () => {
      // A scripted backend: one response per request, the 100 Continue a moment before its final response.
      const answers = [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\n!!!\r\n0\r\nX-Trailer: 1\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
        'HTTP/1.1 100 Continue\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      ];
      const backend = net.createServer((socket) => {
        let received = '';
        socket.on('data', (chunk) => {
          received += chunk.toString('latin1');
          if (received.includes('GET /1 ')) socket.write(answers[0] as string);
          if (received.includes('HEAD /2 ')) socket.write(answers[1] as string);
          if (received.endsWith('body')) {
            socket.write(answers[2] as string);
            setTimeout(() => socket.write(answers[3] as string), 50);
          }
          received = '';
        });
      });
      const { front, client } = await connectThrough(backend);
      const replies: string[] = [];
      client.on('data', (chunk: Buffer) => replies.push(chunk.toString('latin1')));
      const ended = new Promise<void>((resolve) => client.once('end', resolve));
      const until = (text: string) => waitFor(() => replies.join('').endsWith(text), { message: `reply ending ${JSON.stringify(text)}` });

      client.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n');
      await until('0\r\nX-Trailer: 1\r\n\r\n');
      client.write('HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n');
      await until('Content-Length: 5\r\n\r\n');
      front.remove(1);
      client.write('POST /3 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody');
      await ended;
      assert.equal(
        replies.join(''),
        `${answers[0]}${answers[1]}` + 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok',
      );
      assert.equal(front.connections(1), 0, 'the backend\'s connection closed at the boundary');
    });

    it('leaves a connection that does not speak HTTP/1.x open when its backend drains', framing, async () => {
      const { front, client } = await connectThrough(net.createServer((peer) => peer.pipe(peer)));
      const echoed = () => new Promise<string>((resolve) => client.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      let reply = echoed();
      client.write('HELLO 1\r\n');
      assert.equal(await reply, 'HELLO 1\r\n');
      front.remove(1);
      await delay(50);
      reply = echoed();
      client.write('HTTP/1.1 200 OK\r\n\r\n');
      assert.equal(await reply, 'HTTP/1.1 200 OK\r\n\r\n');
      assert.equal(front.connections(1), 1);
    });

    it('reports an idle removed backend drained at once, but not synchronously', TIMEOUT, async () => {
      const { front, events } = await startFront();
      front.add({ id: 7, host: '127.0.0.1', port: 1, weight: 1 });
      front.remove(7);
      assert.deepEqual(events.drained, []);
      // The native front hears it from its data-plane threads (a batch, a turn or two later), the sockets front on the next turn.
      await waitFor(() => events.drained.length > 0, { message: 'onDrained' });
      assert.deepEqual(events.drained, [7]);
      front.remove(7);
      await delay(50);
      assert.deepEqual(events.drained, [7], 'reported once');
    });

    it('closes idle connections after the idle timeout', TIMEOUT, async () => {
      const silent = net.createServer(() => undefined);
      const backendPort = await listening(silent);
      defer(() => closeServer(silent));
      const { front, port } = await startFront({ idleTimeoutMs: 200 });
      front.add({ id: 1, host: '127.0.0.1', port: backendPort, weight: 1 });

      const started = Date.now();
      await readAll(await connect(port));
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 150 && elapsed < 2000, `closed after ${elapsed}ms`);
      await waitFor(() => front.connections(1) === 0, { message: 'the backend side closed too' });
    });

    it('close() waits for open connections, then destroys them at the timeout', TIMEOUT, async () => {
      const a = await startHttpBackend('a', defer);
      const { front, port } = await startFront();
      front.add({ id: 1, host: '127.0.0.1', port: a.port, weight: 1 });
      const client = await connect(port);
      const ended = readAll(client);
      // Accepted by the front (the native one accepts on its own threads), not only queued in the kernel's backlog.
      await waitFor(() => front.connections(1) === 1, { message: 'the connection reached its backend' });

      const started = Date.now();
      await front.close(300);
      assert.ok(Date.now() - started >= 250, 'waited for the open connection');
      await ended;
      assert.ok(client.destroyed || client.readableEnded);
      await assert.rejects(request(port), /ECONNREFUSED/, 'no longer accepting');
    });

    it('close() resolves as soon as the last connection ends', TIMEOUT, async () => {
      const a = await startHttpBackend('a', defer);
      const { front, port } = await startFront();
      front.add({ id: 1, host: '127.0.0.1', port: a.port, weight: 1 });
      const client = await connect(port);
      await waitFor(() => front.connections(1) === 1, { message: 'the connection reached its backend' });
      const closing = front.close(10_000);
      setTimeout(() => client.end(), 100);
      const started = Date.now();
      await closing;
      assert.ok(Date.now() - started < 2000);
    });

    it('leaves no connection behind after many short ones', TIMEOUT, async () => {
      const backends = await Promise.all(['a', 'b'].map((name) => startHttpBackend(name, defer)));
      const { front, port, events } = await startFront();
      backends.forEach((backend, id) => front.add({ id, host: '127.0.0.1', port: backend.port, weight: 1 }));
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 20 }, () => request(port)));
      }
      // Clients that vanish mid-connection.
      for (let i = 0; i < 20; i++) (await connect(port)).destroy();
      await waitFor(() => front.connections(0) + front.connections(1) === 0, { message: 'every tunnel closed' });
      front.remove(0);
      front.remove(1);
      await waitFor(() => events.drained.length === 2, { message: 'both drained' });
      const started = Date.now();
      await front.close(5000);
      assert.ok(Date.now() - started < 500, 'nothing left to wait for');
    });

    it('passes on what a backend says first, before the client has sent anything', TIMEOUT, async () => {
      const { client } = await connectThrough(net.createServer((socket) => socket.end('220 ready\r\n')));
      assert.equal(await readAll(client), '220 ready\r\n');
    });

    it('connects to backends named by host name, and over IPv6', TIMEOUT, async (t) => {
      const backend = net.createServer((socket) => socket.end('hi'));
      // Dual-stack where IPv6 is on: "localhost" may resolve to ::1 or 127.0.0.1.
      const ipv6 = await listening(backend, '::').then(() => true, () => false);
      const port = ipv6 ? (backend.address() as net.AddressInfo).port : await listening(backend);
      defer(() => closeServer(backend));
      const { front, port: frontPort } = await startFront();
      front.add({ id: 1, host: 'localhost', port, weight: 1 });
      assert.equal(await readAll(await connect(frontPort)), 'hi');
      if (!ipv6) {
        t.diagnostic('IPv6 is off here: the ::1 backend is not tried');
        return;
      }
      front.remove(1);
      front.add({ id: 2, host: '::1', port, weight: 1 });
      assert.equal(await readAll(await connect(frontPort)), 'hi');
    });

    it('passes a reset on: the other side is closed', TIMEOUT, async () => {
      let backendClosed!: () => void;
      const closed = new Promise<void>((resolve) => (backendClosed = resolve));
      const backend = net.createServer((socket) => {
        socket.on('data', () => socket.write('pong'));
        socket.on('error', () => undefined);
        socket.on('close', backendClosed);
      });
      const { front, client } = await connectThrough(backend);
      client.write('ping');
      await new Promise((resolve) => client.once('data', resolve));
      client.resetAndDestroy();
      await closed;
      await waitFor(() => front.connections(1) === 0, { message: 'the tunnel closed' });
    });

    it('leaves no file descriptor behind', TIMEOUT, async () => {
      const backends = await Promise.all(['a', 'b'].map((name) => startHttpBackend(name, defer)));
      const { front, port } = await startFront();
      backends.forEach((backend, id) => front.add({ id, host: '127.0.0.1', port: backend.port, weight: 1 }));
      await request(port); // the front's and the backends' lazily opened descriptors
      const before = openFds();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
      for (let round = 0; round < 5; round++) {
        await Promise.all(Array.from({ length: 20 }, () => request(port, { agent })));
        await Promise.all(Array.from({ length: 10 }, () => request(port)));
      }
      agent.destroy();
      for (let i = 0; i < 10; i++) (await connect(port)).resetAndDestroy();
      await waitFor(() => front.connections(0) + front.connections(1) === 0, { message: 'every tunnel closed' });
      await waitFor(() => openFds() <= before, { message: `descriptors back to ${before} (now ${openFds()})` });
    });

    it('names host:port when the port is in use', TIMEOUT, () => assertNamesBusyPort(createTcpFront, defer));

    it('rejects bad options with a message naming the value', () => {
      const events = recordEvents();
      assert.throws(() => createTcpFront({ host: '127.0.0.1', port: 70000, balance: 'round-robin', events }), /port must be an integer in 0…65535, got 70000/);
      assert.throws(() => createTcpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events, connectTimeoutMs: -1 }), /connectTimeoutMs/);
    });
  });
}
