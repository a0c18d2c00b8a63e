// The pure parts of TLS at the front, by tables: which certificate a
// handshake gets (SNI: exact, one-label wildcard, default), what a `hosts:`
// pattern may be, and where `redirect-http` sends a request.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseCertificate, hostPatternError } from '../../src/core/sni.js';
import { httpsRedirectLocation } from '../../src/core/https-redirect.js';

describe('SNI: which certificate', () => {
  const certificates = [
    { hosts: ['www.example.com', 'example.com'] }, // the default
    { hosts: ['api.example.com', '*.api.example.com'] },
    { hosts: ['*.example.com'] },
    { hosts: ['v1.api.example.com'] },
  ];
  const table: Array<[servername: string | undefined, index: number, why: string]> = [
    [undefined, 0, 'no SNI: the default'],
    ['', 0, 'empty SNI: the default'],
    ['www.example.com', 0, 'exact'],
    ['WWW.Example.COM', 0, 'case does not matter'],
    ['www.example.com.', 0, 'a trailing dot does not matter'],
    ['api.example.com', 1, 'exact'],
    ['v1.api.example.com', 3, 'exact wins over an earlier wildcard'],
    ['v2.api.example.com', 1, 'one-label wildcard'],
    ['a.b.api.example.com', 0, 'a wildcard covers one label only'],
    ['shop.example.com', 2, 'wildcard'],
    ['example.com', 0, 'exact'],
    ['example.org', 0, 'unknown: the default'],
    ['localhost', 0, 'one label, unknown: the default'],
    ['.example.com', 0, 'an empty label matches no wildcard'],
  ];
  for (const [servername, index, why] of table) {
    it(`${JSON.stringify(servername)} → certificate ${index} (${why})`, () => {
      assert.equal(chooseCertificate(certificates, servername), index);
    });
  }
  it('no certificates: 0', () => assert.equal(chooseCertificate([], 'a.example.com'), 0));
});

describe('hosts: patterns', () => {
  const good = ['api.example.com', '*.api.example.com', 'localhost', 'xn--bcher-kva.example', 'a-b.example.com', 'API.Example.com'];
  const bad: unknown[] = ['', '*', '*.', 'a..b', '-a.example.com', 'a-.example.com', '*.*.example.com', 'api.*.com', 'a b.com', '10.0.0.1', 'http://x.com', 'x.com/', 'a'.repeat(64) + '.com', 42, null];
  for (const pattern of good) it(`${pattern} is a pattern`, () => assert.equal(hostPatternError(pattern), undefined));
  for (const pattern of bad) {
    it(`${JSON.stringify(pattern)} is refused with what to write`, () => assert.match(hostPatternError(pattern) ?? '', /host name.*example\.com/));
  }
});

describe('redirect-http: the Location', () => {
  const table: Array<[host: string | undefined, target: string | undefined, port: number, location: string | undefined]> = [
    ['www.example.com', '/a?b=1', 443, 'https://www.example.com/a?b=1'],
    ['www.example.com:80', '/', 443, 'https://www.example.com/'],
    ['WWW.example.com', '/x', 8443, 'https://www.example.com:8443/x'],
    ['127.0.0.1:8080', '/x', 443, 'https://127.0.0.1/x'],
    ['[::1]:80', '/x', 443, 'https://[::1]/x'],
    ['www.example.com', 'http://evil.com/x', 443, 'https://www.example.com/'],
    ['www.example.com', '//evil.com/x', 443, 'https://www.example.com/'],
    ['www.example.com', '*', 443, 'https://www.example.com/'],
    [undefined, '/', 443, undefined],
    ['', '/', 443, undefined],
    ['evil.com/x', '/', 443, undefined],
    ['evil.com@good.com', '/', 443, undefined],
    ['a b', '/', 443, undefined],
    ['www.example.com:80:90', '/', 443, undefined],
    ['[zz]:80', '/', 443, undefined],
  ];
  for (const [host, target, port, location] of table) {
    it(`Host ${JSON.stringify(host)} ${JSON.stringify(target)} → ${location ?? '400'}`, () => {
      assert.equal(httpsRedirectLocation(host, target, port), location);
    });
  }
});
