// TLS settings as hostile input (SPEC §14): each mistake is a one-line usage
// error naming the setting (flag, or the file's key and line) and what to do.
// Certificates are made by openssl at test time (skipped without it).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildSystem, loadSystemFile } from '../../src/system-config.js';
import { UsageError } from '../../src/errors.js';
import { makeCa, opensslMissing, type CertFiles } from '../helpers/tls-certs.js';

const skip = opensslMissing();

describe('TLS settings', { skip }, () => {
  let dir: string;
  let www: CertFiles;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'supervise-tls-config-'));
    www = makeCa(dir).leaf('www', ['www.example.com', 'example.com']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const commandLine = (flags: Record<string, unknown>) =>
    buildSystem({ flags: { proxy: 'http', ...flags }, positional: [], command: ['node', 'app.js', '{port}'], configFile: undefined, cwd: dir, stdoutIsTTY: false });
  const refusedFlags = (flags: Record<string, unknown>, message: RegExp) => assert.throws(() => commandLine(flags), (error: Error) => error instanceof UsageError && message.test(error.message));

  it('flags: the certificate set with its hosts from the SANs', () => {
    const system = commandLine({ tlsCert: 'www.pem', tlsKey: 'www.key', hsts: 600, redirectHttp: 8081 });
    assert.deepEqual(system.apps[0]?.tls, { certificates: [{ cert: www.cert, key: www.key }], hsts: 600, redirectHttp: 8081 });
  });

  it('flags: both or neither; hsts and redirect-http need TLS; the redirect is not the https port', () => {
    refusedFlags({ tlsCert: 'www.pem' }, /^--tls-cert needs its private key: add --tls-key <pem>$/);
    refusedFlags({ tlsKey: 'www.key' }, /^--tls-key needs its certificate: add --tls-cert/);
    refusedFlags({ hsts: 60 }, /^--hsts needs TLS at the front: add --tls-cert <pem> --tls-key <pem>$/);
    refusedFlags({ redirectHttp: 80 }, /^--redirect-http needs TLS/);
    refusedFlags({ tlsCert: 'www.pem', tlsKey: 'www.key', redirectHttp: 8080, port: 8080 }, /--redirect-http 8080 is the https port itself/);
    refusedFlags({ tlsCert: 'www.pem', tlsKey: 'www.key', proxy: 'none' }, /--tls-cert: TLS is terminated by the spawn-mode front/);
  });

  const systemWith = (front: string, routeApp = true): string => {
    const file = join(dir, 'supervise.yaml');
    writeFileSync(file, `front:\n${front}\napps:\n  web:\n    command: [node, app.js, "{port}"]\n    base-port: 9100\n${routeApp ? '    route: /\n' : ''}`);
    return file;
  };
  const refusedFile = (front: string, message: RegExp) =>
    assert.throws(() => loadSystemFile(systemWith(front), {}, false), (error: Error) => error instanceof UsageError && message.test(error.message) && !error.message.includes('\n'));

  it('front: {tls}: relative paths from the file, hosts lower case, the first is the default', () => {
    const system = loadSystemFile(systemWith('  port: 9443\n  tls:\n    - { cert: www.pem, key: www.key }\n    - { hosts: [API.example.com, "*.api.example.com"], cert: www.pem, key: www.key }\n  redirect-http: 9080\n  hsts: 60'), {}, false);
    assert.deepEqual(system.front?.tls, {
      certificates: [{ cert: www.cert, key: www.key, hosts: undefined }, { cert: www.cert, key: www.key, hosts: ['api.example.com', '*.api.example.com'] }],
      hsts: 60, redirectHttp: 9080,
    });
  });

  it('front: {tls}: bad entries name their key and line', () => {
    refusedFile('  port: 9443\n  tls:\n    - { hosts: ["api.*.com"], cert: www.pem, key: www.key }', /"front\.tls\.0" in .*supervise\.yaml.*: hosts: "api\.\*\.com" is not a host name: write api\.example\.com, or \*\.example\.com/);
    refusedFile('  port: 9443\n  tls:\n    - { cert: missing.pem, key: www.key }', /"front\.tls\.0" in .*: .*missing\.pem: no such certificate file; check the path/);
    refusedFile('  port: 9443\n  tls:\n    - { cert: www.pem }', /key must be the path of its PEM private key/);
    refusedFile('  port: 9443\n  tls:\n    - { cert: www.pem, key: www.key, ocsp: x }', /unknown key "ocsp"; a certificate has cert, key, hosts/);
    refusedFile('  port: 9443\n  tls: []', /must list at least one \{cert, key, hosts\?\}/);
    refusedFile('  port: 9443\n  redirect-http: 80', /needs TLS at the front/);
    refusedFile('  port: 9443\n  tls:\n    - { cert: www.pem, key: www.key }\n  redirect-http: 9443', /9443 is the https port itself/);
    refusedFile('  port: 9443\n  tls:\n    - { cert: www.pem, key: www.key }\n  redirect-http: 9101', /front redirect-http .* and app "web" .* overlap/);
  });

  it('a routed app cannot have its own tls-cert: the front terminates its TLS', () => {
    const file = join(dir, 'routed.yaml');
    writeFileSync(file, 'front: { port: 9443 }\napps:\n  web:\n    command: [node, app.js, "{port}"]\n    base-port: 9100\n    route: /\n    tls-cert: www.pem\n    tls-key: www.key\n');
    assert.throws(() => loadSystemFile(file, {}, false), /app "web" has a route, so the shared front terminates its TLS: move tls-cert\/tls-key to front: \{tls/);
  });
});
