// A differential check of the native front against node's own parser
// (llhttp): a request the front frames differently from a node:http server is
// a smuggling risk against Node backends. Each case of the corpus (CL/TE
// variants, obs-fold, bare LF, white space, duplicate headers...) is sent, with
// a final "GET /end" after it, once straight to a node:http server and once
// through the front to a node:http backend. Whatever the front forwards, node
// must have read the same way: the requests the backend sees (method, target,
// body, in order) are a prefix of those node saw directly. The front may
// refuse more than node (it is stricter), never frame differently.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import type { HttpFrontLike } from '../../src/proxy/http-proxy.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { closeServer, listening, recordEvents } from '../helpers/proxy-fixtures.js';
import { SMUGGLING_CORPUS } from '../helpers/smuggling-corpus.js';

const skip = nativeTunnelPath() === undefined ? 'native module not built (npm install)' : false;
const H = 'Host: example.test\r\n';
const END = `GET /end HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;

/** name → the bytes of one case (END is sent after it). */
const CASES: Record<string, string> = {
  'a GET': `GET /a HTTP/1.1\r\n${H}\r\n`,
  'a body by Content-Length': `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
  'a chunked body': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'a chunk extension': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n`,
  'trailers': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n`,
  'Transfer-Encoding: Chunked (case)': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'Transfer-Encoding with a tab': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'Transfer-Encoding: gzip, chunked': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'Transfer-Encoding: identity': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello`,
  'two Transfer-Encoding headers': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'Content-Length with leading zeros': `POST /a HTTP/1.1\r\n${H}Content-Length: 005\r\n\r\nhello`,
  'two equal Content-Lengths': `POST /a HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  'Content-Length: 0 and chunked': `POST /a HTTP/1.1\r\n${H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  'a chunk size in upper case with leading zeros': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0000A\r\n0123456789\r\n0\r\n\r\n`,
  'a bare LF after the chunk size': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`,
  'a bare LF after the chunk data': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`,
  'white space after the chunk size': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`,
  'a trailer without a colon': `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nnot a header\r\n\r\n`,
  'an empty header name': `GET /a HTTP/1.1\r\n${H}: x\r\n\r\n`,
  'a tab before the colon': `GET /a HTTP/1.1\r\n${H}X-A\t: 1\r\n\r\n`,
  'a header value with obs-text': `GET /a HTTP/1.1\r\n${H}X-A: caf\u00e9\r\n\r\n`,
  'leading empty lines': `\r\n\r\nGET /a HTTP/1.1\r\n${H}\r\n`,
  'a tab in the request line': `GET\t/a HTTP/1.1\r\n${H}\r\n`,
  'two spaces in the request line': `GET /a  HTTP/1.1\r\n${H}\r\n`,
  'an absolute-form target': `GET http://example.test/a HTTP/1.1\r\n${H}\r\n`,
  'Expect: 100-continue': `POST /a HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello`,
  'HTTP/1.0 with a body': `POST /a HTTP/1.0\r\n${H}Connection: keep-alive\r\nContent-Length: 5\r\n\r\nhello`,
  'a lower-case method': `get /a HTTP/1.1\r\n${H}\r\n`,
  'a header name with a slash': `GET /a HTTP/1.1\r\n${H}X/A: 1\r\n\r\n`,
  'a DEL in a header value': `GET /a HTTP/1.1\r\n${H}X-A: a\u007fb\r\n\r\n`,
  ...SMUGGLING_CORPUS,
};
delete CASES['an oversize head (40 KiB of headers)']; // node's own limit differs: that one is a refusal test, not a framing one

interface Seen {
  method: string;
  url: string;
  body: string;
}

/** A node:http server that records the requests it reads (method, path, body). */
function recordingServer(): { server: http.Server; seen: Seen[] } {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      // The path only: the front forwards an absolute-form target in origin-form.
      const url = request.url?.replace(/^https?:\/\/[^/]*/i, '') ?? '';
      seen.push({ method: request.method ?? '', url, body: Buffer.concat(chunks).toString('latin1') });
      response.end('ok');
    });
  });
  return { server, seen };
}

/** Sends `bytes` and waits for the connection to close (END asks for it; a refusal closes it too), at most 2 s. */
function send(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.write(Buffer.from(bytes, 'latin1'));
  });
}

describe('http front (native): framing differential against node:http', { skip }, () => {
  const direct = recordingServer();
  const behind = recordingServer();
  let front: HttpFrontLike;
  let directPort = 0;
  let frontPort = 0;

  before(async () => {
    directPort = await listening(direct.server);
    const backendPort = await listening(behind.server);
    front = createNativeHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() }) ?? assert.fail('no native front');
    await front.listen();
    front.add({ id: 1, host: '127.0.0.1', port: backendPort, weight: 1 });
    frontPort = front.address().port;
  });
  after(async () => {
    await front.close(0);
    await closeServer(direct.server);
    await closeServer(behind.server);
  });

  it('never forwards a request that node would read differently', { timeout: 120_000 }, async () => {
    let agreed = 0;
    for (const [name, bytes] of Object.entries(CASES)) {
      direct.seen.length = 0;
      behind.seen.length = 0;
      await send(directPort, bytes + END);
      await send(frontPort, bytes + END);
      const node = direct.seen.slice();
      const forwarded = behind.seen.slice();
      assert.deepEqual(forwarded, node.slice(0, forwarded.length), `${name}: the front framed it differently from node\nfront: ${JSON.stringify(forwarded)}\nnode:  ${JSON.stringify(node)}`);
      if (forwarded.length === node.length) agreed++;
    }
    // Most cases are ordinary or refused by both: the check is not vacuous.
    assert.ok(agreed >= 20, `only ${agreed} cases framed alike`);
  });
});
