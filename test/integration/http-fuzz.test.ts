// A few seconds of fuzzing on each http data path: well-formed requests (with
// Content-Length or chunked bodies, pipelined) cut into random pieces sent
// with random pauses, mixed with resets in the middle of a request or of its
// response, half-closes, and garbage. Every well-formed request must get its
// own answer intact; the rest may be refused or cut, but the front must keep
// serving, leave no request counted against the backend, and (native path)
// no descriptor open. The seed is printed on failure: SUPERVISE_FUZZ_SEED=n
// replays a run.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createJavaScriptHttpFront, type HttpFrontLike, type HttpFrontOptions } from '../../src/proxy/http-proxy.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { recordEvents, request, startHttpBackend, useCleanup } from '../helpers/proxy-fixtures.js';
import { delay, waitFor } from '../helpers/wait-for.js';
import { seededRandom } from '../helpers/random.js';

const DURATION_MS = Number(process.env.SUPERVISE_FUZZ_MS ?? 2500);
const CLIENTS = 16;
const defer = useCleanup();

const nativeBuilt = nativeTunnelPath() !== undefined;
type CreateFront = (options: HttpFrontOptions) => HttpFrontLike;
const PATHS: Array<[string, CreateFront]> = [
  ['native', (options) => createNativeHttpFront(options) ?? assert.fail('the native http front is not available')],
  ['javascript', createJavaScriptHttpFront],
];


const openFds = () => readdirSync('/proc/self/fd').length;

/** One well-formed request: its bytes, and the body the echo backend answers with. */
function wellFormed(rand: () => number, n: number): { bytes: Buffer; expected: string } {
  const body = 'b'.repeat(Math.floor(rand() * 3000)) + `#${n}`;
  if (rand() < 0.5) {
    return {
      bytes: Buffer.from(`POST /r/${n} HTTP/1.1\r\nHost: fuzz\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
      expected: `POST /r/${n} ${body}`,
    };
  }
  let chunked = '';
  for (let i = 0; i < body.length; ) {
    const size = 1 + Math.floor(rand() * 700);
    const piece = body.slice(i, i + size);
    chunked += `${piece.length.toString(16)}\r\n${piece}\r\n`;
    i += size;
  }
  return {
    bytes: Buffer.from(`POST /r/${n} HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}0\r\n\r\n`),
    expected: `POST /r/${n} ${body}`,
  };
}

/** Writes `bytes` in random pieces with random pauses. */
async function writeInPieces(socket: net.Socket, bytes: Buffer, rand: () => number): Promise<void> {
  for (let i = 0; i < bytes.length && !socket.destroyed; ) {
    const size = 1 + Math.floor(rand() * (rand() < 0.3 ? 8 : 2000));
    socket.write(bytes.subarray(i, i + size));
    i += size;
    if (rand() < 0.2) await delay(Math.floor(rand() * 3));
  }
}

/** Bodies of the Content-Length responses read so far from `data`, and what is left. */
function responses(data: string): string[] {
  const bodies: string[] = [];
  const pattern = /HTTP\/1\.1 200 OK\r\n(?:[^\r]*\r\n)*?[Cc]ontent-[Ll]ength: (\d+)\r\n(?:[^\r]*\r\n)*?\r\n/y;
  let at = 0;
  for (;;) {
    pattern.lastIndex = at;
    const match = pattern.exec(data);
    if (match === null) return bodies;
    const length = Number(match[1]);
    const start = at + match[0].length;
    if (data.length < start + length) return bodies;
    bodies.push(data.slice(start, start + length));
    at = start + length;
  }
}

/** One client's run of random actions until the deadline; throws when a well-formed request is answered wrong. */
async function client(port: number, rand: () => number, deadline: number, counter: { n: number; ok: number }): Promise<void> {
  while (Date.now() < deadline) {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => resolve());
    });
    const action = rand();
    if (action < 0.55) {
      // A few well-formed requests, pipelined, in pieces: each must come back intact and in order.
      const requests = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => wellFormed(rand, counter.n++));
      await writeInPieces(socket, Buffer.concat(requests.map((r) => r.bytes)), rand);
      const want = requests.map((r) => r.expected);
      await waitFor(() => responses(data).length >= want.length || socket.destroyed, { timeoutMs: 5000, message: `answers to ${want.length} requests; got ${JSON.stringify(data.slice(0, 300))}` });
      assert.deepEqual(responses(data), want);
      counter.ok += want.length;
      if (rand() < 0.5) socket.end();
      else socket.destroy();
    } else if (action < 0.7) {
      // A reset in the middle of the request.
      const { bytes } = wellFormed(rand, counter.n++);
      await writeInPieces(socket, bytes.subarray(0, Math.floor(rand() * bytes.length)), rand);
      socket.resetAndDestroy();
    } else if (action < 0.8) {
      // A reset while the response may be on its way.
      const { bytes } = wellFormed(rand, counter.n++);
      socket.write(bytes);
      await delay(Math.floor(rand() * 3));
      socket.resetAndDestroy();
    } else if (action < 0.9) {
      // Garbage, sometimes after a valid request line: refused or cut, never a crash.
      const garbage = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 600) }, () => Math.floor(rand() * 256)));
      const prefix = rand() < 0.5 ? Buffer.from('GET / HTTP/1.1\r\nHost: fuzz\r\n') : Buffer.alloc(0);
      await writeInPieces(socket, Buffer.concat([prefix, garbage]), rand);
      if (rand() < 0.5) socket.end();
      await Promise.race([closed, delay(200)]);
      socket.destroy();
    } else {
      // A half-close right after a partial head.
      socket.end('GET /half HTTP/1.1\r\nHost: fu');
      await Promise.race([closed, delay(200)]);
      socket.destroy();
    }
    await closed;
  }
}

for (const [path, create] of PATHS) {
  describe(`http front (${path}): fuzz`, { skip: path === 'native' && !nativeBuilt ? 'native module not built (npm install)' : false }, () => {
    it(`survives ${DURATION_MS} ms of random splits, resets, half-closes and garbage`, { timeout: DURATION_MS + 30_000 }, async () => {
      const seed = Number(process.env.SUPERVISE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const backend = await startHttpBackend('echo', defer, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks)}`));
        req.on('error', () => undefined);
      });
      const front = create({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() });
      const fdsBefore = openFds(); // after the module's own epoll set, created once per process
      await front.listen();
      defer(() => front.close(0));
      front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
      const port = front.address().port;
      const counter = { n: 0, ok: 0 };
      const deadline = Date.now() + DURATION_MS;
      try {
        await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(port, seededRandom(seed + i), deadline, counter)));
      } catch (error) {
        throw new Error(`fuzz failed (replay: SUPERVISE_FUZZ_SEED=${seed}): ${(error as Error).message}`, { cause: error });
      }
      assert.ok(counter.ok > 20, `only ${counter.ok} well-formed requests went through (seed ${seed})`);

      // Still serving, and every request accounted for once its connection ended.
      const after = await request(port, { method: 'POST', path: '/after', body: 'x', agent: new http.Agent({ keepAlive: false }) });
      assert.equal(after.body, 'POST /after x');
      await front.close(1000);
      // Closed: the pools are gone, so what is left would be requests never released.
      assert.equal(front.connections(1), 0, `no request left counted against the backend (seed ${seed})`);
      if (path === 'native') await waitFor(() => openFds() <= fdsBefore, { timeoutMs: 5000, message: `descriptors back to ${fdsBefore} (seed ${seed})` });
    });
  });
}
