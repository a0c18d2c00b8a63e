// Request smuggling and malformed requests, on both http data paths: every
// request whose framing two parsers could read differently (or that is not
// HTTP/1.x at all) is answered 400, and not one byte of it reaches a backend.
// The backend is a raw TCP server that records every byte it receives, so that
// "nothing forwarded" is checked below any HTTP parser.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createJavaScriptHttpFront, type HttpFrontLike, type HttpFrontOptions } from '../../src/proxy/http-proxy.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { frontOverBackend } from '../helpers/proxy-fixtures.js';
import { SMUGGLING_CORPUS } from '../helpers/smuggling-corpus.js';
import { delay } from '../helpers/wait-for.js';

const H = 'Host: example.test\r\n';

/** The refusals that are not a 400: a head over the limit is a 431 (RFC 6585), on both paths. */
const REFUSED_WITH: Record<string, number> = { 'an oversize head (40 KiB of headers)': 431 };

const nativeBuilt = nativeTunnelPath() !== undefined;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
type CreateFront = (options: HttpFrontOptions) => HttpFrontLike;
const PATHS: Array<[string, CreateFront]> = [
  ['native', (options) => createNativeHttpFront(options) ?? assert.fail('the native http front is not available')],
  ['javascript', createJavaScriptHttpFront],
];

/** Sends `bytes` on a connection of its own; what came back once the front closed it (or after 3 s). */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    // Not half-closed: node's server (the JavaScript path) would drop a half-closed client's request.
    socket.write(Buffer.from(bytes, 'latin1'));
  });
}

for (const [path, create] of PATHS) {
  describe(`http front (${path}): request smuggling`, { skip: path === 'native' && !nativeBuilt ? 'native module not built (npm install)' : false }, () => {
    let received = 0;
    let connections = 0;
    const backend = net.createServer((socket) => {
      connections++;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nreached');
      });
      socket.on('error', () => undefined);
    });
    const fixture = frontOverBackend(backend, create);

    it('forwards a well-formed request (the backend is reachable)', { timeout: 10_000 }, async () => {
      const reply = await exchange(fixture.port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);

      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n[^]*reached$/);
      assert.ok(received > 0);
      received = 0;
    });

    for (const [name, bytes] of Object.entries(SMUGGLING_CORPUS)) {
      // Node 24's http server emits a chunked request before it has parsed the bad chunk
      // that follows in the same read, so the JavaScript fallback forwards the head (the
      // backend's own parser then refuses the body, and the front closes the connection).
      // The native path (the default) refuses it on every Node version.
      const skip = path === 'javascript' && name === 'a chunk without its CRLF' && NODE_MAJOR >= 24
        ? 'known limit of the JavaScript fallback on Node >= 24 (docs/architecture.md)'
        : false;
      const status = REFUSED_WITH[name] ?? 400;
      it(`answers ${status} to ${name}, forwarding nothing`, { timeout: 10_000, skip }, async () => {
        received = 0;
        const reply = await exchange(fixture.port, bytes);
        await delay(20); // anything forwarded would have arrived by now
        assert.match(reply.split('\r\n')[0] ?? '', new RegExp(`^HTTP/1\\.1 ${status} `), `reply: ${JSON.stringify(reply.slice(0, 200))}`);
        assert.equal(received, 0, 'the backend received bytes of it');
      });
    }

    // The native path frames the whole request before it connects; node's server
    // hands the JavaScript path a request once its head parsed, so a bad body
    // is found after a connect (aborted, with nothing sent).
    it('opened no backend connection for any refused request', { skip: path === 'javascript' ? 'the JavaScript path connects before the body is parsed' : false }, () => {
      assert.equal(connections, 1);
    });
  });
}
