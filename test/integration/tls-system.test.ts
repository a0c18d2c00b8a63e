// HTTPS at the routing front of a system file (SPEC §14): two certificates
// chosen by SNI (`api.example.com` has its own, `www.example.com` is the
// default), the plain-HTTP listener that redirects to https, and `ctl apply`
// changing the certificate list (a list that does not load changes nothing).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlCall, FIXTURES, freePort, freePortRange, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { makeCa, opensslMissing, type CertFiles, type TestCa } from '../helpers/tls-certs.js';
import { httpsGet, peerCertificate } from '../helpers/tls-client.js';
import { waitFor } from '../helpers/wait-for.js';

const skip = opensslMissing();
const TIMEOUT = { timeout: 60_000 };

function systemFile(front: number, redirect: number, bases: [number, number], certificates: string): string {
  return [
    'front:',
    `  port: ${front}`,
    '  tls:',
    certificates,
    `  redirect-http: ${redirect}`,
    '  hsts: 31536000',
    'apps:',
    ...(['www', 'api'] as const).flatMap((name, index) => [
      `  ${name}:`,
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(FIXTURES, 'tls-backend.cjs'))}, "{port}"]`,
      '    workers: 1',
      `    base-port: ${bases[index]}`,
      `    env: { APP_NAME: ${name} }`,
      `    route: { path: /, host: ${name}.example.com }`,
    ]),
    '',
  ].join('\n');
}

const certificateLines = (entries: Array<{ files: CertFiles; hosts?: string[] }>): string =>
  entries.map(({ files, hosts }) => `    - { ${hosts === undefined ? '' : `hosts: [${hosts.map((h) => JSON.stringify(h)).join(', ')}], `}cert: ${JSON.stringify(files.cert.split('/').pop())}, key: ${JSON.stringify(files.key.split('/').pop())} }`).join('\n');

describe('TLS at the routing front (front: {tls: [..]})', { skip }, () => {
  let ca: TestCa;
  let www: CertFiles;
  let api: CertFiles;
  let supervised: Supervised;
  let file: string;
  let ports: { front: number; redirect: number; bases: [number, number] };
  before(async () => {
    ca = makeCa(tempDir('supervise-tls-system-'));
    www = ca.leaf('www', ['www.example.com']);
    api = ca.leaf('api', ['api.example.com', '*.api.example.com']);
    ports = { front: await freePort(), redirect: await freePort(), bases: [await freePortRange(3), await freePortRange(3)] };
    file = join(ca.dir, 'supervise.yaml');
    // Paths relative to the file: the certificates sit beside it.
    writeFileSync(file, systemFile(ports.front, ports.redirect, ports.bases, certificateLines([{ files: www }, { files: api, hosts: ['api.example.com', '*.api.example.com'] }])));
    supervised = await startSupervise(['--config', file], { port: null, readyWorkers: 2, cwd: ca.dir });
  });
  after(killAll);

  it('SNI picks each host its certificate; an unknown name and no SNI get the default', TIMEOUT, async () => {
    const serial = async (name: string | undefined) => (await peerCertificate(ports.front, name)).serial;
    assert.equal(await serial('api.example.com'), api.serial);
    assert.equal(await serial('v2.api.example.com'), api.serial);
    assert.equal(await serial('www.example.com'), www.serial);
    assert.equal(await serial('unknown.example.org'), www.serial);
    assert.equal(await serial(undefined), www.serial);
  });

  it('each host reaches its app over verified https, with X-Forwarded-Proto: https and HSTS', TIMEOUT, async () => {
    for (const name of ['www', 'api']) {
      const answer = await httpsGet(ports.front, { ca: ca.ca, servername: `${name}.example.com`, path: '/x' });
      assert.equal(answer.status, 200);
      const body = JSON.parse(answer.body) as { app: string; proto: string };
      assert.equal(body.app, name);
      assert.equal(body.proto, 'https');
      assert.equal(answer.headers['strict-transport-security'], 'max-age=31536000');
    }
  });

  it('redirect-http answers 301 to the https URL without a backend; a bad Host gets 400', TIMEOUT, async () => {
    const get = (host: string) =>
      new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: ports.redirect, path: '/a/b?c=1', headers: { host }, agent: false }, (response) => {
          response.resume();
          resolve({ status: response.statusCode ?? 0, location: response.headers.location });
        }).on('error', reject);
      });
    assert.deepEqual(await get('www.example.com'), { status: 301, location: `https://www.example.com:${ports.front}/a/b?c=1` });
    assert.deepEqual(await get('api.example.com:80'), { status: 301, location: `https://api.example.com:${ports.front}/a/b?c=1` });
    assert.equal((await get('evil.com/x')).status, 400);
  });

  it('ctl apply: a certificate that does not load changes nothing; a new list takes effect for new handshakes', TIMEOUT, async () => {
    const shop = ca.leaf('shop', ['shop.example.com']);
    writeFileSync(file, systemFile(ports.front, ports.redirect, ports.bases, certificateLines([{ files: www }, { files: api, hosts: ['api.example.com'] }, { files: { ...shop, cert: join(ca.dir, 'missing.pem') } }])));
    const refused = await controlCall(supervised.control, 'POST', '/apply');
    assert.notEqual(refused.status, 200, refused.body);
    assert.match(refused.body, /missing\.pem: no such certificate file/);
    assert.equal((await peerCertificate(ports.front, 'api.example.com')).serial, api.serial);

    writeFileSync(file, systemFile(ports.front, ports.redirect, ports.bases, certificateLines([{ files: www }, { files: api, hosts: ['api.example.com'] }, { files: shop }])));
    const applied = await controlCall(supervised.control, 'POST', '/apply');
    assert.equal(applied.status, 200, applied.body);
    await waitFor(async () => (await peerCertificate(ports.front, 'shop.example.com')).serial === shop.serial, { timeoutMs: 10_000, message: 'the shop certificate' });
    const status = JSON.parse((await controlCall(supervised.control, 'GET', '/status')).body) as { tls: Array<{ front: string; file: string }> };
    assert.deepEqual(status.tls.map((each) => [each.front, each.file]), [['front', www.cert], ['front', api.cert], ['front', shop.cert]]);
  });
});
