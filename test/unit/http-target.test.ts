import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidHost, requestTarget } from '../../src/core/http-target.js';

describe('request targets (RFC 9112 §3.2), as http_parse.c frames them', () => {
  const cases: Array<[string, string, string | undefined, ReturnType<typeof requestTarget>]> = [
    ['GET', '/p?q', 'a.test', { path: '/p?q', host: 'a.test' }],
    ['GET', 'http://api.test:8080/p?q=1', 'other.test', { path: '/p?q=1', host: 'api.test:8080' }],
    ['GET', 'HTTPS://Example.test', undefined, { path: '/', host: 'Example.test' }],
    ['GET', 'http://a.test?x', 'a.test', { path: '/?x', host: 'a.test' }],
    ['OPTIONS', '*', 'a.test', { path: '*', host: 'a.test' }],
    ['GET', '*', 'a.test', { refuse: 400, reason: 'the target * is for OPTIONS only' }],
    ['CONNECT', 'a.test:443', 'a.test', { refuse: 405, reason: 'CONNECT is not served here: the front is a reverse proxy, not a tunnel' }],
    ['GET', 'http://user@a.test/', 'a.test', { refuse: 400, reason: "the request target's host is not a valid host[:port]" }],
    ['GET', 'http://', 'a.test', { refuse: 400, reason: 'the request target is not a path, an http(s) URL, or * for OPTIONS' }],
    ['GET', 'ftp://a.test/', 'a.test', { refuse: 400, reason: 'the request target is not a path, an http(s) URL, or * for OPTIONS' }],
    ['GET', '/', 'a b', { refuse: 400, reason: 'the Host header is not a valid host[:port]' }],
  ];
  for (const [method, target, host, verdict] of cases) {
    it(`${method} ${target} (Host: ${host})`, () => assert.deepEqual(requestTarget(method, target, host), verdict));
  }
});

describe('Host values', () => {
  const cases: Array<[string, boolean]> = [
    ['example.test', true], ['example.test:8080', true], ['[::1]:8080', true], ['127.0.0.1', true], ['example.test:', true],
    ['exa mple.test', false], ['example.test/x', false], ['example.test:80a', false], ['example.test:123456', false],
    ['user@example.test', false], ['[::1', false], ['[]', false], [':80', false],
  ];
  for (const [value, valid] of cases) it(`${JSON.stringify(value)} → ${valid}`, () => assert.equal(isValidHost(value, false), valid));
  it('an empty Host is valid only where allowed (HTTP/1.0, or a Host header with no value)', () => {
    assert.equal(isValidHost('', true), true);
    assert.equal(isValidHost('', false), false);
  });
});
