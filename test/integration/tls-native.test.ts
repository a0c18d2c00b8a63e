// TLS termination in the native http front (src/native/tls_*.c), through the
// addon's one call, httpSetTls(front, certs, options), with real clients:
// node's tls, and certificates made by `openssl req` into a temporary directory.
// Then the tcp front (the same data plane, kind 'tcp'; httpSetTls on its handle): TLS terminated, the plaintext passed on.
// The user-level tests (the options, reloads, curl, s_client, python) are the
// TLS control side's; these check the data plane: versions, ALPN, SNI,
// keep-alive, renewals under an open connection, bad input, hostile bytes on
// the port, a WebSocket upgrade, and no descriptor or memory growth over
// 10,000 handshakes.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_EDGE_TIMEOUTS } from '../../src/core/edge.js';
import { loadNative } from '../../src/native/load.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import type { HttpFrontLike } from '../../src/proxy/http-proxy.js';
import { createTcpFront } from '../../src/proxy/tcp-proxy.js';
import { closeServer, listening, recordEvents, startHttpBackend, useCleanup } from '../helpers/proxy-fixtures.js';
import { needsAddon } from '../helpers/native.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 30_000 };
const HANDSHAKES = Number(process.env.SUPERVISE_TLS_HANDSHAKES ?? 10_000);
const defer = useCleanup();

interface Cert {
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
}
interface TlsBinding {
  httpSetTls(front: number, certs: Array<{ cert: string; key: string; hosts: string[] }>, options: { hsts: number }): string | undefined;
  tlsCounts(): [number, number];
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'supervise-tls-native-'));
let serials = 0x5ee0;
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate (P-256) for `names`, with a serial of its own. */
function makeCert(names: string[]): Cert {
  const serial = (serials++).toString(16).toUpperCase();
  const base = path.join(dir, serial);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${names[0]}`,
    '-addext', `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}`, '-set_serial', `0x${serial}`, '-keyout', `${base}.key`, '-out', `${base}.pem`], { stdio: 'ignore' });
  return { cert: fs.readFileSync(`${base}.pem`, 'utf8'), key: fs.readFileSync(`${base}.key`, 'utf8'), serial };
}

/** A TLS client connected (handshake done) to the front. */
function connect(port: number, options: tls.ConnectionOptions = {}, cleanup = true): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...options }, () => resolve(socket));
    socket.once('error', reject);
    if (cleanup) defer(() => socket.destroy());
  });
}

/** One request on an open TLS socket; the response head and body (the backend's answers are small, with a length). */
function ask(socket: tls.TLSSocket, target = '/'): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (chunk: Buffer): void => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(data.slice(0, end));
      if (end < 0 || length === null || data.length < end + 4 + Number(length[1])) return;
      socket.off('data', onData);
      resolve({ head: data.slice(0, end), body: data.slice(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: test\r\n\r\n`);
  });
}

/** Resolves when the socket closes; what it received until then. */
function closed(socket: net.Socket): Promise<string> {
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve(data)));
}

/** A client process: argv port, count; that many full handshakes (no session offered), 8 at a time, each connection then closed. */
const HANDSHAKER = `
const tls = require('node:tls');
const [port, count] = process.argv.slice(1).map(Number);
let next = 0;
const lane = async () => {
  while (next < count) {
    next++;
    await new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: next % 2 ? 'TLSv1.2' : 'TLSv1.3' }, () => socket.end());
      socket.once('error', reject);
      socket.once('close', resolve);
    });
  }
};
Promise.all(Array.from({ length: 8 }, lane)).catch((error) => { console.error(error); process.exitCode = 1; });
`;

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('TLS in the native http front (httpSetTls), on two data-plane threads', { skip: needsAddon('the native http front') }, () => {
  const native = loadNative()?.exports as unknown as TlsBinding;
  let front: HttpFrontLike;
  let handle: number;
  let port: number;
  let main: Cert, api: Cert, wildcard: Cert;
  const seenProto: string[] = [];
  const allCerts = (): Parameters<TlsBinding['httpSetTls']>[1] => [
    { cert: main.cert, key: main.key, hosts: [] },
    { cert: api.cert, key: api.key, hosts: ['api.example.com', '*.api.example.com'] },
    { cert: wildcard.cert, key: wildcard.key, hosts: ['*.example.org'] },
  ];
  let backendServer: net.Server | undefined;

  before(async () => {
    main = makeCert(['default.test']);
    api = makeCert(['api.example.com', '*.api.example.com']);
    wildcard = makeCert(['*.example.org']);
    const backend = await startHttpBackend('a', () => undefined, (request, response) => {
      seenProto.push(String(request.headers['x-forwarded-proto']));
      response.end(`a ${request.url}`);
    });
    backend.server.on('upgrade', (_request, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);  // echo
    });
    backendServer = backend.server;
    front = createNativeHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents(),
      frontThreads: 2, edge: { ...DEFAULT_EDGE_TIMEOUTS, clientHeaderTimeoutMs: 1500, keepaliveTimeoutMs: 120_000 } }) ?? assert.fail('the native http front is not available');
    await front.listen();
    front.add({ id: 1, host: '127.0.0.1', port: backend.port, weight: 1 });
    port = front.address().port;
    handle = (front as unknown as { handle: number }).handle;
    const set = native.httpSetTls(handle, allCerts(), { hsts: 31536000 });
    assert.equal(set, undefined);
  });
  after(async () => {
    await front?.close(0);
    backendServer?.close();
  });

  it('TLS 1.2 and 1.3 are served with ALPN http/1.1, X-Forwarded-Proto https and HSTS; TLS 1.1 is refused', TIMEOUT, async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const socket = await connect(port, { minVersion: version, maxVersion: version });
      assert.equal(socket.getProtocol(), version);
      assert.equal(socket.alpnProtocol, 'http/1.1');
      const { head, body } = await ask(socket, `/${version}`);
      assert.match(head, /^HTTP\/1\.1 200/);
      assert.match(head, /\r\nStrict-Transport-Security: max-age=31536000(\r\n|$)/i);
      assert.equal(body, `a /${version}`);
      assert.equal(seenProto.at(-1), 'https');
    }
    // The client offers TLS 1.1 only (its own security level lowered so that it may): the front's alert refuses it.
    await assert.rejects(connect(port, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      (error: NodeJS.ErrnoException) => error.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || /protocol version/i.test(error.message));
  });

  it('SNI picks the certificate: exact name, a wildcard one label deep, else (unknown, two labels, none) the default', TIMEOUT, async () => {
    const cases: Array<[string | undefined, string]> = [
      ['api.example.com', api.serial], ['API.Example.COM', api.serial], ['v2.api.example.com', api.serial], ['www.example.org', wildcard.serial],
      ['a.b.example.org', main.serial], ['unknown.test', main.serial], ['example.org', main.serial], [undefined, main.serial],
    ];
    for (const [servername, serial] of cases) {
      const socket = await connect(port, servername === undefined ? {} : { servername });
      assert.equal(socket.getPeerCertificate().serialNumber, serial, `SNI ${servername ?? '(none)'}`);
      socket.destroy();
    }
  });

  it('keep-alive: several requests on one TLS connection', TIMEOUT, async () => {
    const socket = await connect(port);
    for (let i = 0; i < 5; i++) assert.equal((await ask(socket, `/ka${i}`)).body, `a /ka${i}`);
  });

  it('resumption by session ticket (TLS 1.2 and 1.3), across a renewal too: the ticket keys are the process\'s', TIMEOUT, async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await connect(port, { maxVersion: version });
      const session = await new Promise<Buffer>((resolve) => {
        const ticket = first.getSession();
        if (version === 'TLSv1.2' && ticket !== undefined) resolve(ticket);
        else first.once('session', resolve);  // TLS 1.3: the ticket comes after the handshake
      });
      assert.equal(first.isSessionReused(), false);
      assert.equal(native.httpSetTls(handle, allCerts(), { hsts: 31536000 }), undefined);  // a renewal between the two: a new set of contexts
      const again = await connect(port, { maxVersion: version, session });
      assert.equal(again.isSessionReused(), true, `${version}: resumed`);
      assert.equal((await ask(again, '/resumed')).body, 'a /resumed');
    }
  });

  it('TLS 1.3: a resumed connection is issued a new ticket, so a client that uses each ticket once resumes every time', TIMEOUT, async () => {
    const ticketOf = (socket: tls.TLSSocket) =>
      Promise.race([new Promise<Buffer>((resolve) => socket.once('session', resolve)), delay(2000).then(() => undefined)]);
    const first = await connect(port, { maxVersion: 'TLSv1.3' });
    let session = await ticketOf(first);
    for (let i = 0; i < 3; i++) {
      assert.ok(session !== undefined, `connection ${i}: a ticket came`);
      const again = await connect(port, { maxVersion: 'TLSv1.3', session });
      assert.equal(again.isSessionReused(), true, `resumption ${i + 1}`);
      session = await ticketOf(again);  // none without the renewal: the client's next connection would be a full handshake
      again.destroy();
    }
  });

  it('a renewal: new connections get the new certificate, an open one goes on with its own; a bad one changes nothing', TIMEOUT, async () => {
    const open = await connect(port);
    assert.equal((await ask(open, '/before')).body, 'a /before');
    const renewed = makeCert(['default.test']);
    assert.equal(native.httpSetTls(handle, [{ cert: renewed.cert, key: renewed.key, hosts: [] }, { cert: api.cert, key: api.key, hosts: ['api.example.com'] }], { hsts: 0 }), undefined);
    assert.equal((await connect(port)).getPeerCertificate().serialNumber, renewed.serial);
    assert.equal((await connect(port, { servername: 'api.example.com' })).getPeerCertificate().serialNumber, api.serial);
    assert.equal((await ask(open, '/after')).body, 'a /after');
    assert.equal(open.getPeerCertificate().serialNumber, main.serial);

    const bad: Array<[Parameters<TlsBinding['httpSetTls']>[1], RegExp]> = [
      [[{ cert: renewed.cert, key: api.key, hosts: [] }], /^certificate 1 \(the default\): the key does not match the certificate/],
      [[{ cert: renewed.cert, key: renewed.key, hosts: [] }, { cert: 'not a pem', key: api.key, hosts: ['x.test'] }], /^certificate 2 \(x\.test\): the certificate is not a PEM certificate/],
      [[{ cert: renewed.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', hosts: [] }], /^certificate 1 .*the key is not a PEM private key/],
      [[{ cert: '', key: renewed.key, hosts: [] }], /^certificate 1: `cert` is empty/],
      [[{ cert: renewed.cert, key: renewed.key, hosts: ['bad host'] }], /^certificate 1: host 1 is not a DNS name/],
      [[{ cert: renewed.cert, key: renewed.key, hosts: ['*'] }], /^certificate 1: host 1 is not a DNS name/],
      [[], /^certs must be an array of 1 to/],
      [[{ cert: renewed.cert } as never], /^certificate 1: `key` must be a string/],
    ];
    for (const [certs, reason] of bad) {
      const result = native.httpSetTls(handle, certs, { hsts: 0 });
      assert.match(String(result), reason);
      assert.doesNotMatch(String(result), /\n/);
    }
    assert.match(String(native.httpSetTls(handle, [{ cert: renewed.cert, key: renewed.key, hosts: [] }], { hsts: -1 })), /hsts/);
    assert.equal((await connect(port)).getPeerCertificate().serialNumber, renewed.serial, 'the bad renewals changed nothing');
    assert.equal(native.httpSetTls(handle, allCerts(), { hsts: 31536000 }), undefined);
  });

  it('plaintext HTTP, garbage after a ClientHello and a silent client are closed (and counted); the front serves on', TIMEOUT, async () => {
    const failedBefore = native.tlsCounts()[1];
    const plain = net.connect(port, '127.0.0.1');
    const plainEnd = closed(plain);
    plain.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
    assert.doesNotMatch(await plainEnd, /HTTP\/1\.1/);

    const raw = net.connect(port, '127.0.0.1');
    const rawEnd = closed(raw);
    await new Promise((resolve) => raw.once('connect', resolve));
    const hostile = tls.connect({ socket: raw, rejectUnauthorized: false });
    hostile.on('error', () => undefined);
    raw.write(Buffer.alloc(4096, 0x17));  // after the ClientHello tls.connect wrote: records that are no TLS
    await rawEnd;

    const silent = net.connect(port, '127.0.0.1');
    await closed(silent);  // the handshake is bounded by the header timeout (1.5 s here), not the keep-alive one (2 minutes)

    await waitFor(() => native.tlsCounts()[1] >= failedBefore + 3, { message: 'the three failed connections counted' });
    assert.equal((await ask(await connect(port), '/still')).body, 'a /still');
  });

  it('a WebSocket upgrade over TLS: 101, then bytes both ways', TIMEOUT, async () => {
    const socket = await connect(port);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.write('GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await waitFor(() => data.includes('\r\n\r\n'), { message: 'the 101' });
    assert.match(data, /^HTTP\/1\.1 101/);
    data = '';
    socket.write('ping over tls');
    await waitFor(() => data === 'ping over tls', { message: 'the echo through the tunnel' });
  });

  it(`${HANDSHAKES} full handshakes: no descriptor or memory growth`, { timeout: 240_000 }, async (t) => {
    // The clients run in a child process: this one's descriptors and memory are then the front's.
    const round = (count: number): Promise<void> =>
      new Promise((resolve, reject) => {
        // Not under .ci/asan's preloaded sanitizer: the client is not what is checked.
        const env = { ...process.env };
        delete env.LD_PRELOAD;
        const child = spawn(process.execPath, ['-e', HANDSHAKER, String(port), String(count)], { stdio: ['ignore', 'ignore', 'inherit'], env });
        defer(() => child.kill('SIGKILL'));
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the handshaking client exited with ${code}`))));
      });
    await round(Math.min(500, HANDSHAKES));  // warm: the allocator's and OpenSSL's caches
    const fds = fdCount();
    const rss = process.memoryUsage().rss;
    const [doneBefore] = native.tlsCounts();
    await round(HANDSHAKES);
    assert.ok(native.tlsCounts()[0] - doneBefore >= HANDSHAKES, 'every handshake completed on the front');
    await waitFor(() => fdCount() <= fds, { timeoutMs: 10_000, message: `descriptors back to ${fds} (now ${fdCount()})` });
    const grown = process.memoryUsage().rss - rss;
    t.diagnostic(`resident memory: ${Math.round(grown / 1024)} KiB more after ${HANDSHAKES} handshakes`);
    // Under .ci/asan the sanitizer's quarantine holds freed memory a while: LeakSanitizer is the check there.
    const bound = (process.env.LD_PRELOAD ?? '').includes('asan') ? 128 : 16;
    assert.ok(grown < bound * 1024 * 1024, `resident memory grew by ${Math.round(grown / 1048576)} MiB over ${HANDSHAKES} handshakes`);
  });
});

describe('TLS in the native tcp front (httpSetTls on a tcp-kind front): terminate, pass the plaintext', { skip: needsAddon('the native tcp front') }, () => {
  const native = loadNative()?.exports as unknown as TlsBinding;
  let cert: Cert;
  let received: Buffer[] = [];

  /** A tcp front over one backend; `serve` is the backend's connection handler. */
  async function tcpFront(serve: (socket: net.Socket) => void): Promise<{ port: number; listener: number }> {
    const backend = net.createServer(serve);
    const backendPort = await listening(backend);
    defer(() => closeServer(backend));
    const front = createTcpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() });
    await front.listen();
    defer(() => front.close(0));
    front.add({ id: 1, host: '127.0.0.1', port: backendPort, weight: 1 });
    assert.equal(front.dataPath, 'native');
    const listener = (front as unknown as { handle: number }).handle;
    assert.equal(native.httpSetTls(listener, [{ cert: cert.cert, key: cert.key, hosts: [] }], { hsts: 0 }), undefined);
    return { port: front.address().port, listener };
  }

  /** An echo backend that records what it was sent. */
  const echo = (socket: net.Socket): void => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.pipe(socket);
  };

  before(() => {
    cert = makeCert(['tcp.test']);
  });

  it('a TLS client\'s bytes reach the backend as plaintext, both ways, 1 MiB included, and its end is passed on', TIMEOUT, async () => {
    received = [];
    const { port } = await tcpFront(echo);
    const socket = await connect(port, { ALPNProtocols: [] });
    assert.equal(socket.getPeerCertificate().serialNumber, cert.serial);
    const payload = Buffer.alloc(1 << 20, 'supervise ');
    let echoed = 0;
    socket.on('data', (chunk: Buffer) => (echoed += chunk.length));
    socket.write('hello over tls');
    socket.write(payload);
    await waitFor(() => echoed === payload.length + 14, { timeoutMs: 15_000, message: `1 MiB echoed (${echoed} so far)` });
    assert.equal(Buffer.concat(received).subarray(0, 14).toString(), 'hello over tls', 'the backend saw plaintext');
    const ended = closed(socket);
    socket.end();
    await ended;  // the backend saw the end, ended its side (pipe), and the front passed that on
  });

  it('a backend that speaks first (a greeting before any client byte) reaches the client once the handshake is done', TIMEOUT, async () => {
    const { port } = await tcpFront((socket) => {
      socket.end('220 ready\r\n');
      socket.on('error', () => undefined);
    });
    const socket = await connect(port, { ALPNProtocols: [] });
    const got = await closed(socket);
    assert.equal(got, '220 ready\r\n');
  });

  it('plaintext on the TLS port is closed without reaching the backend; a bad certificate is a one-line reason', TIMEOUT, async () => {
    received = [];
    const { port, listener } = await tcpFront(echo);
    const plain = net.connect(port, '127.0.0.1');
    const end = closed(plain);
    plain.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
    assert.equal(await end, '');
    assert.equal(Buffer.concat(received).length, 0);
    assert.match(String(native.httpSetTls(listener, [{ cert: cert.cert, key: makeCert(['other.test']).key, hosts: [] }], { hsts: 0 })), /^certificate 1 \(the default\): the key does not match/);
    assert.match(String(native.httpSetTls(9999, [{ cert: cert.cert, key: cert.key, hosts: [] }], { hsts: 0 })), /no such front/);
    assert.equal((await connect(port, { ALPNProtocols: [] })).getPeerCertificate().serialNumber, cert.serial, 'the bad calls changed nothing');
  });
});
