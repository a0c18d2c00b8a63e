// HTTP/1 framing at the native front (RFC 9112), as a client and a backend
// see it: the head limits hold however the bytes are split across writes,
// the target forms, CONNECT, Host, the final transfer coding of requests and
// responses, chunk extensions and trailers, interim responses, the front's
// own status lines, and the smuggling corpus split at every byte. Plus the
// JavaScript fallback's answer to a valid request followed by garbage.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createJavaScriptHttpFront } from '../../src/proxy/http-proxy.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { RoutedRegistry } from '../../src/proxy/routed-registry.js';
import { closeServer, frontOverBackend, listening, recordEvents } from '../helpers/proxy-fixtures.js';
import { SMUGGLING_CORPUS } from '../helpers/smuggling-corpus.js';
import { delay } from '../helpers/wait-for.js';

const skip = nativeTunnelPath() === undefined ? 'native module not built (npm install)' : false;
const H = 'Host: example.test\r\n';
const TIMEOUT = { timeout: 20_000 };

/** What a node:http backend saw of one request. */
interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  body: string;
}

/** Writes `pieces` one after another (each its own write, a turn apart), then collects the reply until the front closes or `until` matches. */
function send(port: number, pieces: readonly string[], until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let reply = '';
    const timer = setTimeout(() => socket.destroy(), 5000);
    const done = (): void => {
      clearTimeout(timer);
      resolve(reply);
    };
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (until?.test(reply)) {
        socket.destroy();
        done();
      }
    });
    socket.on('error', reject);
    socket.on('close', done);
    socket.on('connect', async () => {
      for (const piece of pieces) {
        if (socket.destroyed) return;
        socket.write(Buffer.from(piece, 'latin1'));
        await new Promise((next) => setImmediate(next));
      }
    });
  });
}

/** `bytes` cut into pieces of `size`. */
function pieces(bytes: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

function statusOf(reply: string): number {
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(reply)?.[1] ?? 0);
}

/**
 * A front over a node:http backend that records what it saw (`seen`);
 * `exchange` sends pieces and returns the reply and what reached the backend.
 * Called inside a describe: it registers the fixture's before/after hooks.
 */
function recordingFront(create: Parameters<typeof frontOverBackend>[1]) {
  const seen: Seen[] = [];
  const backend = http.createServer({ maxHeaderSize: 64 * 1024 }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', host: request.headers.host, body: Buffer.concat(chunks).toString('latin1') });
      response.end('reached');
    });
  });
  // 2000 header lines and more reach it: node 22.23+ answers 431 from about 1,000 unless the count is unbounded.
  backend.maxHeadersCount = 0;
  const fixture = frontOverBackend(backend, create);
  /** The reply to `parts`, and what the backend saw of it. */
  async function exchange(parts: readonly string[], until?: RegExp): Promise<{ reply: string; seen: Seen[] }> {
    seen.length = 0;
    const reply = await send(fixture.port, parts, until);
    await delay(20); // anything forwarded would have arrived by now
    return { reply, seen: [...seen] };
  }
  return { fixture, seen, exchange };
}

describe('http front (native): framing', { skip }, () => {
  const { fixture, seen, exchange } = recordingFront((options) => createNativeHttpFront(options) ?? assert.fail('no native front'));

  it('refuses a head over 32 KiB with 431 however it is split, and forwards one just under it split a byte per write', TIMEOUT, async () => {
    const big = `GET / HTTP/1.1\r\n${H}${'X-Big: '.concat('a'.repeat(1000), '\r\n').repeat(33)}\r\n`;
    assert.ok(big.length > 32768 && big.length < 36000);
    for (const split of [[big], [big.slice(0, 16000), big.slice(16000)], [big.slice(0, 32760), big.slice(32760)], pieces(big, 700)]) {
      const { reply, seen: got } = await exchange(split);
      assert.equal(statusOf(reply), 431, `split into ${split.length}: ${reply.slice(0, 80)}`);
      assert.match(reply, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
      assert.equal(got.length, 0);
    }
    const under = `GET /under HTTP/1.1\r\n${H}Connection: close\r\n${'X-Big: '.concat('b'.repeat(1000), '\r\n').repeat(31)}\r\n`;
    assert.ok(under.length < 32768);
    const { reply, seen: got } = await exchange(pieces(under, 97));
    assert.equal(statusOf(reply), 200, reply.slice(0, 80));
    assert.equal(got[0]?.url, '/under');
  });

  it("takes 2000 header lines (node's default) and refuses 2001 with 431", TIMEOUT, async () => {
    const lines = (n: number): string => Array.from({ length: n - 1 }, (_, i) => `x${i}: 1\r\n`).join('');
    const ok = await exchange([`GET /many HTTP/1.1\r\n${H}Connection: close\r\n${lines(1999)}\r\n`]);
    assert.equal(statusOf(ok.reply), 200, ok.reply.slice(0, 80));
    const tooMany = await exchange([`GET /many HTTP/1.1\r\n${H}Connection: close\r\n${lines(2001)}\r\n`]);
    assert.equal(statusOf(tooMany.reply), 431, tooMany.reply.slice(0, 80));
    assert.equal(tooMany.seen.length, 0);
  });

  it('forwards a request whose final transfer coding is chunked (gzip, chunked) as chunked', TIMEOUT, async () => {
    const { reply, seen: got } = await exchange([`POST /te HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`]);
    assert.equal(statusOf(reply), 200, reply.slice(0, 80));
    assert.deepEqual(got, [{ method: 'POST', url: '/te', host: 'example.test', body: 'hello' }]);
  });

  it('refuses a chunk extension over 4 KiB and a trailer that is not a header line, forwarding nothing', TIMEOUT, async () => {
    const ext = await exchange([`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;${'e'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`]);
    assert.equal(statusOf(ext.reply), 400);
    assert.equal(ext.seen.length, 0);
    const trailer = await exchange([`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nno colon here\r\n\r\n`]);
    assert.equal(statusOf(trailer.reply), 400);
    assert.equal(trailer.seen.length, 0);
    const fine = await exchange([`POST / HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n`]);
    assert.equal(statusOf(fine.reply), 200);
    assert.equal(fine.seen[0]?.body, 'hello');
  });

  it('refuses every request of the smuggling corpus split at every byte boundary, forwarding nothing', { timeout: 120_000 }, async () => {
    seen.length = 0;
    for (const [name, bytes] of Object.entries(SMUGGLING_CORPUS)) {
      // The oversize head is split above; the rest at every byte.
      const step = bytes.length > 4096 ? 4096 : 1;
      for (let at = step; at < bytes.length; at += step) {
        const reply = await send(fixture.port, [bytes.slice(0, at), bytes.slice(at)]);
        assert.ok(statusOf(reply) === 400 || statusOf(reply) === 431, `${name}, split at ${at}: ${JSON.stringify(reply.slice(0, 60))}`);
      }
    }
    await delay(20); // anything forwarded would have arrived by now
    assert.deepEqual(seen, [], 'forwarded');
  });

  it('frames two pipelined requests the same whatever the split', TIMEOUT, async () => {
    const two = `POST /one HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc\r\n\r\nGET /two HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
    for (const size of [1, 2, 3, 7, 13, two.length]) {
      const { reply, seen: got } = await exchange(pieces(two, size));
      assert.equal(reply.match(/HTTP\/1\.1 200 OK/g)?.length, 2, `pieces of ${size}: ${reply}`);
      assert.deepEqual(got.map((s) => [s.url, s.body]), [['/one', 'abc'], ['/two', '']]);
    }
  });
});

// The target forms and Host: the same table on both data paths (core/http-target.ts mirrors http_parse.c).
for (const [path, create, skipPath] of [
  ['native', (options: Parameters<typeof createNativeHttpFront>[0]) => createNativeHttpFront(options) ?? assert.fail('no native front'), skip],
  ['javascript', createJavaScriptHttpFront, false],
] as const) {
  describe(`http front (${path}): request targets and Host`, { skip: skipPath }, () => {
    const { exchange } = recordingFront(create);

    it('accepts absolute-form targets: forwarded in origin-form, Host from the target (RFC 9112 §3.2.2)', TIMEOUT, async () => {
      const a = await exchange([`GET http://api.example.test:8080/p?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n`]);
      assert.equal(statusOf(a.reply), 200, a.reply.slice(0, 80));
      assert.deepEqual(a.seen, [{ method: 'GET', url: '/p?q=1', host: 'api.example.test:8080', body: '' }]);
      const b = await exchange([`GET HTTP://Example.test HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`]);
      assert.equal(statusOf(b.reply), 200, b.reply.slice(0, 80));
      assert.equal(b.seen[0]?.url, '/');
      const userinfo = await exchange([`GET http://user@example.test/ HTTP/1.1\r\n${H}\r\n`]);
      assert.equal(statusOf(userinfo.reply), 400);
    });

    it('answers CONNECT with 405 and * for anything but OPTIONS with 400, forwarding nothing', TIMEOUT, async () => {
      for (const target of ['example.test:443', '/tunnel']) {
        const connect = await exchange([`CONNECT ${target} HTTP/1.1\r\n${H}\r\n`]);
        assert.match(connect.reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n/, connect.reply.slice(0, 80));
        assert.equal(connect.seen.length, 0);
      }
      const star = await exchange([`GET * HTTP/1.1\r\n${H}\r\n`]);
      assert.equal(statusOf(star.reply), 400);
      assert.equal(star.seen.length, 0);
      const options = await exchange([`OPTIONS * HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
      assert.equal(statusOf(options.reply), 200, options.reply.slice(0, 80));
      assert.equal(options.seen[0]?.url, '*');
    });

    it('validates Host: host[:port], a bracketed IPv6 address, nothing else', TIMEOUT, async () => {
      for (const host of ['exa mple.test', 'example.test/x', 'example.test:80a', 'user@example.test', '[::1']) {
        const { reply, seen: got } = await exchange([`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`]);
        assert.equal(statusOf(reply), 400, `Host: ${host} → ${reply.slice(0, 60)}`);
        assert.equal(got.length, 0);
      }
      for (const host of ['example.test:8080', '[::1]:8080', '127.0.0.1']) {
        const { reply } = await exchange([`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]);
        assert.equal(statusOf(reply), 200, `Host: ${host} → ${reply.slice(0, 60)}`);
      }
    });
  });
}

describe('http front (native): responses', { skip }, () => {
  /** The response to a request head: one write, or pieces written a turn apart. */
  let respond: (request: string) => string | string[] = () => '';
  const backend = net.createServer((socket) => {
    let buffered = '';
    socket.on('data', async (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        const end = buffered.indexOf('\r\n\r\n') + 4;
        const response = respond(buffered.slice(0, end));
        buffered = buffered.slice(end);
        for (const piece of typeof response === 'string' ? [response] : response) {
          socket.write(piece);
          if (typeof response !== 'string') await new Promise((next) => setImmediate(next));
        }
      }
    });
    socket.on('error', () => undefined);
  });
  const fixture = frontOverBackend(backend, (options) => createNativeHttpFront(options) ?? assert.fail('no native front'));

  it('frames a gzip, chunked response as chunked: the connection carries the next request', TIMEOUT, async () => {
    respond = () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const reply = await send(fixture.port, [`GET /a HTTP/1.1\r\n${H}\r\n`, `GET /b HTTP/1.1\r\n${H}\r\n`], /(0\r\n\r\n[^]*){2}/);
    assert.equal(reply.match(/HTTP\/1\.1 200 OK/g)?.length, 2, reply);
  });

  it('relays a chunked response with extensions and trailers the same whatever the split', { timeout: 60_000 }, async () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n';
    const body = '5;e=1\r\nhello\r\n3\r\n, w\r\n0\r\nX-T: 2\r\n\r\n';
    const whole = head + body;
    for (let at = 1; at < whole.length; at++) {
      respond = () => [whole.slice(0, at), whole.slice(at)];
      const reply = await send(fixture.port, [`GET / HTTP/1.1\r\n${H}\r\n`], /0\r\nX-T: 2\r\n\r\n$/);
      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/, `split at ${at}`);
      assert.equal(reply.slice(reply.indexOf('\r\n\r\n') + 4), body, `split at ${at}`);
    }
  });

  it('passes interim responses on without their hop-by-hop headers', TIMEOUT, async () => {
    respond = () =>
      'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const reply = await send(fixture.port, [`GET / HTTP/1.1\r\n${H}\r\n`], /\r\n\r\nok$/);
    const interim = reply.slice(0, reply.indexOf('\r\n\r\n'));
    assert.match(interim, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/s.css>; rel=preload$/);
    assert.match(reply, /HTTP\/1\.1 200 OK\r\n[^]*ok$/);
  });

  it('answers 502 to a response that frames ambiguously', TIMEOUT, async () => {
    for (const head of [
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
      'HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok',
    ]) {
      respond = () => head;
      const reply = await send(fixture.port, [`GET / HTTP/1.1\r\n${H}\r\n`], /\r\n\r\n[^]*$/);
      assert.match(reply, /^HTTP\/1\.1 502 Bad Gateway\r\n/, JSON.stringify(head));
    }
  });
});

describe('http front (native): status lines', { skip }, () => {
  it("uses the status's own reason phrase (404 Not Found for no route)", TIMEOUT, async () => {
    let routing!: RoutedRegistry;
    const front =
      createNativeHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() }, (onForget) => (routing = new RoutedRegistry(onForget))) ??
      assert.fail('no native front');
    await front.listen();
    try {
      routing.setRoutes([{ app: 'api', path: '/v1', host: 'api.test', weight: 1, strip: false }]);
      const reply = await send(front.address().port, [`GET / HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n`]);
      assert.match(reply, /^HTTP\/1\.1 404 Not Found\r\n/);
    } finally {
      await front.close(0);
    }
  });
});

describe('http front (javascript): pipelined garbage', () => {
  it('answers a valid request followed by garbage with its 200, then 400', TIMEOUT, async () => {
    const backend = http.createServer((_request, response) => response.end('reached'));
    const backendPort = await listening(backend);
    const front = createJavaScriptHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() });
    await front.listen();
    try {
      front.add({ id: 1, host: '127.0.0.1', port: backendPort, weight: 1 });
      const reply = await send(front.address().port, [`GET / HTTP/1.1\r\n${H}\r\nthis is no request\r\n\r\n`]);
      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n[^]*reached/, reply);
      assert.match(reply, /reachedHTTP\/1\.1 400 Bad Request\r\n/, reply);
    } finally {
      await front.close(0);
      await closeServer(backend);
    }
  });
});
