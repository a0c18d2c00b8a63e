// A few seconds of random traffic through the tcp front, on each data path:
// random bytes (garbage, and pieces of HTTP) in random splits, half-closes and
// resets from clients and backends, and HTTP/1.x keep-alive exchanges with
// random framings (Content-Length, chunked in random chunks, HEAD, 204, 1xx)
// written in random splits while their backends are drained and re-added.
// What must hold: every byte of a cleanly ended echo comes back intact, every
// HTTP request is answered whole (a drain never loses one), and afterwards no
// connection and no descriptor is left. The seed is printed on failure.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BoundFront } from '../../src/proxy/options.js';
import { loadNativeHttp } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { createTcpFront } from '../../src/proxy/tcp-proxy.js';
import { closeServer, listening, recordEvents, useCleanup } from '../helpers/proxy-fixtures.js';
import { delay, waitFor } from '../helpers/wait-for.js';
import { seededRandom } from '../helpers/random.js';

const RUN_MS = 2000;
const TIMEOUT = { timeout: 30_000 };
const defer = useCleanup();
const openFds = () => readdirSync('/proc/self/fd').length;


const PIECES = ['GET / HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', '\r\n', '0\r\n\r\n', '\n\n', 'HEAD'];

function payload(rand: () => number): Buffer {
  const parts: Buffer[] = [];
  for (let n = Math.floor(rand() * 8); n >= 0; n--) {
    if (rand() < 0.5) parts.push(Buffer.from(PIECES[Math.floor(rand() * PIECES.length)] as string));
    else parts.push(Buffer.from(Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256))));
  }
  return Buffer.concat(parts);
}

/** Writes `data` in random pieces, a tick or a few ms apart. */
async function writeSplit(socket: net.Socket, data: Buffer, rand: () => number): Promise<void> {
  let offset = 0;
  while (offset < data.length && !socket.destroyed) {
    const size = 1 + Math.floor(rand() * (rand() < 0.5 ? 16 : 4096));
    socket.write(data.subarray(offset, offset + size));
    offset += size;
    if (rand() < 0.3) await delay(Math.floor(rand() * 3));
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A backend that echoes; a client whose first byte is 'R' asks it to reset the connection a moment later. */
function echoBackend(rand: () => number): net.Server {
  return net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      if (first[0] === 0x52) setTimeout(() => socket.resetAndDestroy(), Math.floor(rand() * 20));
    });
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
  });
}

/** An HTTP/1.1 backend answering each request with a random framing, written in random splits. */
function httpBackend(rand: () => number): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => undefined);
    let buffered = '';
    let writing = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const [method, path] = head.split(' ') as [string, string];
        const body = `${method} ${path} `.repeat(1 + Math.floor(rand() * 50));
        const interim = rand() < 0.1 ? 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' : '';
        let response: string;
        const kind = rand();
        if (path.startsWith('/empty')) response = 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n';
        else if (method === 'HEAD') response = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
        else if (kind < 0.5) response = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`;
        else {
          let chunks = '';
          for (let offset = 0; offset < body.length; ) {
            const size = 1 + Math.floor(rand() * 200);
            const piece = body.slice(offset, offset + size);
            chunks += `${piece.length.toString(16)}${rand() < 0.2 ? ';x=y' : ''}\r\n${piece}\r\n`;
            offset += size;
          }
          response = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`;
        }
        const bytes = Buffer.from(interim + response, 'latin1');
        writing = writing.then(() => writeSplit(socket, bytes, rand));
      }
    });
  });
}

function expectedBody(method: string, path: string, response: http.IncomingMessage, body: string): void {
  if (method === 'HEAD' || path.startsWith('/empty')) {
    assert.equal(body, '');
    return;
  }
  const unit = `${method} ${path} `;
  assert.ok(body.length > 0 && body.length % unit.length === 0 && body === unit.repeat(body.length / unit.length), `a whole body for ${method} ${path}`);
  assert.equal(response.statusCode, 200);
}

function httpRequest(port: number, agent: http.Agent, method: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          expectedBody(method, path, response, body);
          resolve();
        } catch (error) {
          reject(error);
        }
      });
      response.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function startFrontOn(servers: net.Server[]): Promise<{ front: BoundFront; port: number; ports: number[] }> {
  const front = createTcpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents(), connectTimeoutMs: 2000 });
  await front.listen();
  defer(() => front.close(0));
  const ports: number[] = [];
  for (const [id, server] of servers.entries()) {
    ports.push(await listening(server));
    defer(() => closeServer(server));
    front.add({ id, host: '127.0.0.1', port: ports[id] as number, weight: 1 });
  }
  return { front, port: front.address().port, ports };
}

/** One echo client: random bytes in random splits, then an end (must come back whole), or a reset. */
async function echoClient(port: number, rand: () => number): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const received: Buffer[] = [];
  const closed = new Promise<boolean>((resolve) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => resolve(false));
    socket.on('end', () => resolve(true));
    socket.on('close', () => resolve(false));
  });
  // The first byte tells the backend what to do: 'R' reset a moment later, 'E' echo to the end.
  const backendResets = rand() < 0.05;
  const data = Buffer.concat([Buffer.from(backendResets ? 'R' : 'E'), payload(rand)]);
  const clientResets = rand() < 0.15;
  await writeSplit(socket, data, rand);
  if (clientResets) {
    socket.resetAndDestroy();
    return;
  }
  socket.end();
  const ended = await closed;
  socket.destroy();
  const got = Buffer.concat(received);
  assert.ok(data.subarray(0, got.length).equals(got), 'echoed bytes are the bytes sent, in order');
  if (ended && !backendResets) assert.equal(got.length, data.length, 'a clean end comes after every byte');
}

const nativeBuilt = nativeTunnelPath() !== undefined;

for (const [path, env] of Object.entries({ 'native tunnel': '1', 'net.Socket': '0' })) {
  describe(`tcp front fuzz (${path})`, { skip: path === 'native tunnel' && !nativeBuilt ? 'native tunnel not built' : false }, () => {
    before(() => {
      process.env.SUPERVISE_TCP_NATIVE = env;
      loadNativeHttp(); // the data plane's first thread (its epoll set and eventfd) starts once per process, not per front
    });
    after(() => delete process.env.SUPERVISE_TCP_NATIVE);

    it(`${RUN_MS / 1000} s of random bytes, splits, half-closes, resets and drains: nothing lost, nothing left`, TIMEOUT, async () => {
      const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
      const rand = seededRandom(seed);
      try {
        const fdsBefore = openFds();
        const echo = await startFrontOn([echoBackend(rand), echoBackend(rand)]);
        const web = await startFrontOn([httpBackend(rand), httpBackend(rand)]);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        defer(() => agent.destroy());
        const deadline = Date.now() + RUN_MS;
        let exchanges = 0;

        const echoes = Array.from({ length: 4 }, async () => {
          while (Date.now() < deadline) await echoClient(echo.port, rand);
        });
        const requests = Array.from({ length: 4 }, async (_, n) => {
          while (Date.now() < deadline) {
            const method = rand() < 0.2 ? 'HEAD' : 'GET';
            await httpRequest(web.port, agent, method, `${rand() < 0.1 ? '/empty' : '/r'}${n}-${exchanges++}`);
          }
        });
        // Drains: a backend leaves the rotation and comes back, again and again.
        const drains = (async () => {
          while (Date.now() < deadline) {
            const id = rand() < 0.5 ? 0 : 1;
            web.front.remove(id);
            await delay(20 + Math.floor(rand() * 80));
            web.front.add({ id, host: '127.0.0.1', port: web.ports[id] as number, weight: 1 });
            await delay(20 + Math.floor(rand() * 80));
          }
        })();
        await Promise.all([...echoes, ...requests, drains]);
        assert.ok(exchanges > 20, `${exchanges} HTTP exchanges`);
        agent.destroy();

        // Still serving, and nothing left behind.
        await httpRequest(web.port, new http.Agent(), 'GET', '/after');
        const open = () => [echo, web].reduce((sum, { front }) => sum + front.connections(0) + front.connections(1), 0);
        await waitFor(() => open() === 0, { message: 'every tunnel closed', timeoutMs: 5000 });
        await Promise.all([echo.front.close(0), web.front.close(0)]);
        await delay(50);
        await waitFor(() => openFds() <= fdsBefore + 4, { message: `descriptors back to ${fdsBefore} (now ${openFds()})`, timeoutMs: 5000 });
      } catch (error) {
        throw new Error(`fuzz failed with FUZZ_SEED=${seed}: ${(error as Error).message}`, { cause: error });
      }
    });
  });
}
