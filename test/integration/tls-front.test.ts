// HTTPS at the front (SPEC §14), from the outside: `supervise --proxy http
// --tls-cert … --tls-key …` in front of a node app, with real clients (curl,
// openssl s_client, Python's ssl, node's https and tls), certificates made by
// openssl at test time. The tests do not care which data path terminates TLS
// (status says which): they run on the native one once it has TLS.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { controlGet, FIXTURES, freePortRange, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { makeCa, opensslMissing, replaceFiles, type CertFiles, type TestCa } from '../helpers/tls-certs.js';
import { httpsGet, peerCertificate, run, sClient } from '../helpers/tls-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { ctlChild } from '../helpers/ctl-child.js';

const skip = opensslMissing();
const BACKEND = `${FIXTURES}/tls-backend.cjs`;
const TIMEOUT = { timeout: 60_000 };

async function startTlsFront(certs: CertFiles, extra: string[] = []): Promise<Supervised> {
  const base = await freePortRange(3);
  return startSupervise(
    ['--proxy', 'http', '--tls-cert', certs.cert, '--tls-key', certs.key, '-w', '1', '--base-port', String(base), ...extra, '--', process.execPath, BACKEND, '{port}'],
    { readyWorkers: 1 },
  );
}

describe('TLS front (--tls-cert)', { skip }, () => {
  let ca: TestCa;
  let www: CertFiles;
  let supervised: Supervised;
  before(async () => {
    ca = makeCa(tempDir('supervise-tls-'));
    www = ca.leaf('www', ['www.example.com', 'localhost', 'IP:127.0.0.1']);
    supervised = await startTlsFront(www, ['--hsts', '600']);
  });
  after(killAll);

  it('curl --cacert gets the app over https; the app sees X-Forwarded-Proto: https; HSTS is added', TIMEOUT, async () => {
    const { port } = supervised;
    const result = await run('curl', ['-sS', '-i', '--cacert', ca.ca, '--resolve', `www.example.com:${port}:127.0.0.1`, `https://www.example.com:${port}/hello?x=1`]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^HTTP\/1\.1 200/);
    assert.match(result.stdout, /strict-transport-security: max-age=600/i);
    const body = JSON.parse(result.stdout.slice(result.stdout.indexOf('\r\n\r\n') + 4)) as { proto: string; path: string };
    assert.equal(body.proto, 'https');
    assert.equal(body.path, '/hello?x=1');
  });

  it('a plain http:// request to the TLS port gets no answer, and the front goes on serving', TIMEOUT, async () => {
    const { port } = supervised;
    const plain = await run('curl', ['-sS', '-m', '10', `http://127.0.0.1:${port}/`]);
    assert.notEqual(plain.code, 0, 'a plaintext request must not be answered');
    // Garbage after a ClientHello-like start: the connection closes.
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]), Buffer.alloc(4096, 0x41)])));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
      socket.resume();
    });
    const answer = await httpsGet(port, { ca: ca.ca });
    assert.equal(answer.status, 200);
  });

  it('openssl s_client: TLS 1.1 refused, TLS 1.2 and 1.3 accepted, ALPN http/1.1', TIMEOUT, async () => {
    const { port } = supervised;
    const old = await sClient(port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', '-servername', 'www.example.com'], ca.ca);
    assert.notEqual(old.code, 0, `TLS 1.1 must be refused:\n${old.stdout}`);
    for (const [flag, version] of [['-tls1_2', 'TLSv1.2'], ['-tls1_3', 'TLSv1.3']] as const) {
      const result = await sClient(port, [flag, '-servername', 'www.example.com', '-alpn', 'h2,http/1.1'], ca.ca);
      assert.equal(result.code, 0, `${flag}: ${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, new RegExp(`(New, |Protocol\\s*:\\s*)${version.replace('.', '\\.')}`));
      assert.match(result.stdout, /Verify return code: 0 \(ok\)/);
      assert.match(result.stdout, /ALPN protocol: http\/1\.1/);
    }
  });

  it('session resumption: a second connection with the ticket of the first is resumed (with SNI and without)', TIMEOUT, async () => {
    for (const sni of [['-servername', 'www.example.com'], ['-noservername']]) {
      const session = `${ca.dir}/session-${sni.length}.pem`;
      const first = await sClient(supervised.port, ['-tls1_2', ...sni, '-sess_out', session], ca.ca);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^New, TLSv1\.2/m);
      const second = await sClient(supervised.port, ['-tls1_2', ...sni, '-sess_in', session], ca.ca);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^Reused, TLSv1\.2/m, `${sni.join(' ')}: not resumed`);
    }
  });

  it("Python's ssl verifies the certificate and gets the page", TIMEOUT, async () => {
    const script = [
      'import ssl, socket, sys',
      'ctx = ssl.create_default_context(cafile=sys.argv[1])',
      'sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2]))), server_hostname="www.example.com")',
      'sock.sendall(b"GET /py HTTP/1.1\\r\\nHost: www.example.com\\r\\nConnection: close\\r\\n\\r\\n")',
      'data = b""',
      'while True:',
      '    chunk = sock.recv(65536)',
      '    if not chunk: break',
      '    data += chunk',
      'print(sock.version())',
      'print(data.decode())',
    ].join('\n');
    const result = await run('python3', ['-c', script, ca.ca, String(supervised.port)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^TLSv1\.[23]/);
    assert.match(result.stdout, /HTTP\/1\.1 200/);
    assert.match(result.stdout, /"proto":"https"/);
  });

  it('keep-alive over TLS: several requests on one connection', TIMEOUT, async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await httpsGet(supervised.port, { ca: ca.ca, agent }));
      assert.ok(answers.every((answer) => answer.status === 200));
      assert.deepEqual(answers.map((answer) => answer.reused), [false, true, true, true, true]);
    } finally {
      agent.destroy();
    }
  });

  it('a WebSocket-style upgrade works over TLS', TIMEOUT, async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: supervised.port, ca: readFileSync(ca.ca), servername: 'www.example.com' });
    try {
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      socket.write('GET /ws HTTP/1.1\r\nHost: www.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      let received = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
      await waitFor(() => received.includes('\r\n\r\n'), { timeoutMs: 10_000, message: 'the 101' });
      assert.match(received, /^HTTP\/1\.1 101/);
      received = '';
      socket.write('ping over tls');
      await waitFor(() => received === 'ping over tls', { timeoutMs: 10_000, message: 'the echo' });
    } finally {
      socket.destroy();
    }
  });

  it('a TLS client on a plain (non-TLS) front fails, and that front goes on serving', TIMEOUT, async () => {
    const base = await freePortRange(3);
    const plain = await startSupervise(['--proxy', 'http', '-w', '1', '--base-port', String(base), '--', process.execPath, BACKEND, '{port}'], { readyWorkers: 1 });
    await assert.rejects(httpsGet(plain.port, { ca: ca.ca, timeoutMs: 5000 }));
    const result = await run('curl', ['-sS', `http://127.0.0.1:${plain.port}/`]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"proto":"http"/);
  });

  it('ctl status shows the certificate; /metrics has supervise_tls_cert_expiry_seconds', TIMEOUT, async () => {
    const status = JSON.parse(await controlGet(supervised.control, '/status')) as { tls: Array<{ file: string; names: string[]; daysLeft: number; serial: string; subject: string }> };
    assert.equal(status.tls.length, 1);
    const [certificate] = status.tls;
    assert.equal(certificate?.file, www.cert);
    assert.deepEqual(certificate?.names, ['www.example.com', 'localhost']);
    assert.ok(certificate !== undefined && certificate.daysLeft >= 28 && certificate.daysLeft <= 30, JSON.stringify(certificate));
    assert.match(certificate?.subject ?? '', /CN=www\.example\.com/);
    const ctl = ctlChild(['status', '--control', supervised.control]);
    assert.equal(await ctl.done, 0, ctl.err.join('\n'));
    const table = ctl.out.join('\n');
    assert.match(table, /CERTIFICATE\s+FRONT\s+SUBJECT\s+NAMES\s+NOT AFTER\s+DAYS LEFT/);
    assert.ok(table.includes(www.cert) && table.includes('www.example.com,localhost'), table);
    const metrics = await controlGet(supervised.control, '/metrics');
    const line = metrics.split('\n').find((each) => each.startsWith('supervise_tls_cert_expiry_seconds{'));
    assert.ok(line, 'the expiry gauge');
    assert.ok(line.includes(`cert="${www.cert}"`), line);
    const seconds = Number(line.split(' ').pop());
    assert.ok(seconds > 28 * 86400 && seconds <= 30 * 86400, line);
  });
});

describe('TLS front: bad certificates', { skip }, () => {
  let ca: TestCa;
  before(() => {
    ca = makeCa(tempDir('supervise-tls-'));
  });
  after(killAll);

  const startFails = async (args: string[]): Promise<string> => {
    const base = await freePortRange(3);
    const supervised = await startSupervise(['--proxy', 'http', '-w', '1', '--base-port', String(base), ...args, '--', process.execPath, BACKEND, '{port}']);
    const { code } = await supervised.exited;
    assert.equal(code, 2, supervised.text.join('\n'));
    return supervised.text.join('\n');
  };

  it('a missing certificate file: exit 2 naming the file', TIMEOUT, async () => {
    const key = ca.leaf('a', ['a.example.com']).key;
    const output = await startFails(['--tls-cert', `${ca.dir}/nowhere.pem`, '--tls-key', key]);
    assert.match(output, /--tls-cert: .*nowhere\.pem: no such certificate file/);
  });

  it("a key that is not the certificate's: exit 2 saying so", TIMEOUT, async () => {
    const one = ca.leaf('one', ['one.example.com']);
    const two = ca.leaf('two', ['two.example.com']);
    const output = await startFails(['--tls-cert', one.cert, '--tls-key', two.key]);
    assert.match(output, /two\.key: this key does not belong to the certificate .*one\.pem/);
  });

  it('not PEM, and a certificate without its key: clear errors', TIMEOUT, async () => {
    const junk = `${ca.dir}/junk.pem`;
    writeFileSync(junk, 'not a certificate\n');
    const one = ca.leaf('three', ['three.example.com']);
    assert.match(await startFails(['--tls-cert', junk, '--tls-key', one.key]), /junk\.pem: is not a PEM certificate/);
    assert.match(await startFails(['--tls-cert', one.cert]), /--tls-cert needs its private key: add --tls-key/);
  });

  it('an expired certificate: the front starts and serves it, with a warning', TIMEOUT, async () => {
    const expired = ca.leaf('expired', ['www.example.com'], { days: -1 });
    const supervised = await startTlsFront(expired);
    await supervised.waitForLog((line) => line.level === 40 && /expired on/.test(line.msg), 10_000, 'the expiry warning');
    const certificate = await peerCertificate(supervised.port, 'www.example.com');
    assert.equal(certificate.serial, expired.serial);
  });
});

describe('TLS front: renewals', { skip }, () => {
  let ca: TestCa;
  after(killAll);
  before(() => {
    ca = makeCa(tempDir('supervise-tls-'));
  });

  it('a renewal under keep-alive load: no failed request, new connections get the new serial, the old connection goes on', TIMEOUT, async () => {
    const first = ca.leaf('live', ['www.example.com']);
    const live = { cert: first.cert, key: first.key };
    const supervised = await startTlsFront(first);
    const agents = Array.from({ length: 4 }, () => new https.Agent({ keepAlive: true, maxSockets: 1 }));
    let failures = 0;
    let served = 0;
    let running = true;
    const loops = agents.map(async (agent) => {
      while (running) {
        try {
          const answer = await httpsGet(supervised.port, { ca: ca.ca, agent });
          if (answer.status === 200) served++;
          else failures++;
        } catch {
          failures++;
        }
      }
    });
    try {
      await waitFor(() => served >= 20, { timeoutMs: 20_000, message: 'traffic before the renewal' });
      const oldSockets = agents.map((agent) => Object.values(agent.freeSockets).flat().concat(Object.values(agent.sockets).flat())[0]);
      const renewed = ca.leaf('renewed', ['www.example.com']);
      replaceFiles(renewed, live);
      await waitFor(async () => (await peerCertificate(supervised.port, 'www.example.com')).serial === renewed.serial, { timeoutMs: 20_000, message: 'the new serial on a new connection' });
      const after = served;
      await waitFor(() => served >= after + 20, { timeoutMs: 20_000, message: 'traffic after the renewal' });
      // The keep-alive connections opened before the renewal are still the ones in use.
      const sockets = agents.map((agent) => Object.values(agent.freeSockets).flat().concat(Object.values(agent.sockets).flat())[0]);
      assert.ok(sockets.some((socket, index) => socket !== undefined && socket === oldSockets[index]), 'an old connection still serves');
      const client = sockets.find((socket) => socket !== undefined) as tls.TLSSocket;
      assert.equal(client.getPeerCertificate().serialNumber, first.serial, 'an old connection keeps its certificate');
      await supervised.waitForLog((line) => /TLS certificate .* loaded/.test(line.msg), 5000, 'the renewal log line');
    } finally {
      running = false;
      await Promise.all(loops);
      for (const agent of agents) agent.destroy();
    }
    assert.equal(failures, 0, `${failures} requests failed during the renewal`);
  });

  it('a broken renewal changes nothing, logs and emits an event naming the file; SIGHUP then loads a good one', TIMEOUT, async () => {
    const first = ca.leaf('keep', ['www.example.com']);
    const supervised = await startTlsFront(first);
    const events: string[] = [];
    const stream = await openEvents(supervised.control, (line) => events.push(line));
    try {
      const other = ca.leaf('mismatch', ['www.example.com']);
      // A key of another certificate: the renewal is refused.
      writeFileSync(first.key, readFileSync(other.key));
      await waitFor(() => events.find((line) => line.includes('"type":"tls"') && line.includes('"change":"failed"')), { timeoutMs: 20_000, message: 'the tls failed event' });
      const event = JSON.parse(events.find((line) => line.includes('"change":"failed"')) as string) as { file: string; reason: string };
      assert.equal(event.file, first.key);
      assert.match(event.reason, /does not belong to the certificate/);
      await supervised.waitForLog((line) => line.level === 50 && /not reloaded/.test(line.msg), 5000, 'the error log line');
      assert.equal((await peerCertificate(supervised.port, 'www.example.com')).serial, first.serial, 'the old certificate stays');
      assert.equal((await httpsGet(supervised.port, { ca: ca.ca })).status, 200);
      // The matching certificate in place; SIGHUP (or the watcher, whichever first) loads it.
      writeFileSync(first.cert, readFileSync(other.cert));
      supervised.child.kill('SIGHUP');
      await waitFor(async () => (await peerCertificate(supervised.port, 'www.example.com')).serial === other.serial, { timeoutMs: 20_000, message: 'the new certificate' });
    } finally {
      stream.destroy();
    }
  });
});

describe('TLS at a tcp front (--proxy tcp --tls-cert)', { skip }, () => {
  after(killAll);

  it('terminates TLS and passes plaintext to the backend', TIMEOUT, async () => {
    const ca = makeCa(tempDir('supervise-tls-'));
    const www = ca.leaf('tcp', ['www.example.com']);
    const base = await freePortRange(3);
    const supervised = await startSupervise(
      ['--proxy', 'tcp', '--tls-cert', www.cert, '--tls-key', www.key, '-w', '1', '--base-port', String(base), '--', process.execPath, BACKEND, '{port}'],
      { readyWorkers: 1 },
    );
    const answer = await httpsGet(supervised.port, { ca: ca.ca, path: '/over-tcp' });
    assert.equal(answer.status, 200);
    // The backend got plain HTTP straight from the client (no proxy header at L4).
    assert.equal((JSON.parse(answer.body) as { path: string; proto: string | null }).path, '/over-tcp');
    const status = JSON.parse(await controlGet(supervised.control, '/status')) as { tls: unknown[] };
    assert.equal(status.tls.length, 1);
  });
});

/** `GET /events` streamed: every line to `onLine`. */
async function openEvents(control: string, onLine: (line: string) => void): Promise<{ destroy(): void }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const request = http.get({ socketPath: control, path: '/events' }, (response) => {
      let pending = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        lines.forEach(onLine);
      });
      resolve({ destroy: () => request.destroy() });
    });
    request.on('error', reject);
  });
}

