import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBytes, isLocalResourceError, isTrustedPeer, parseTrustedPeers, trustedPeerBytes } from '../../src/core/edge.js';

describe('forwarded-allow-ips', () => {
  const cases: Array<[string[], string, boolean]> = [
    [['127.0.0.1', '::1'], '127.0.0.1', true],
    [['127.0.0.1', '::1'], '::1', true],
    [['127.0.0.1', '::1'], '::ffff:127.0.0.1', true],
    [['127.0.0.1', '::1'], '127.0.0.2', false],
    [['127.0.0.1', '::1'], '10.1.2.3', false],
    [['10.0.0.0/8'], '10.255.0.1', true],
    [['10.0.0.0/8'], '11.0.0.1', false],
    [['192.168.1.128/25'], '192.168.1.200', true],
    [['192.168.1.128/25'], '192.168.1.100', false],
    [['fd00::/8'], 'fd12:3456::1', true],
    [['fd00::/8'], 'fe80::1', false],
    [['10.0.0.1,10.0.0.2'], '10.0.0.2', true],
    [['*'], '203.0.113.9', true],
    [[], '127.0.0.1', false],
    [['0.0.0.0/0'], '8.8.8.8', true],
    [['0.0.0.0/0'], '2001:db8::1', false],
  ];
  for (const [list, address, trusted] of cases) {
    it(`${JSON.stringify(list)} ${trusted ? 'trusts' : 'does not trust'} ${address}`, () => {
      assert.equal(isTrustedPeer(parseTrustedPeers(list), address), trusted);
    });
  }

  for (const bad of ['proxy.local', '10.0.0.0/33', '::1/129', '1.2.3', '10.0.0.0/x']) {
    it(`refuses "${bad}" with a message naming it`, () => {
      assert.throws(() => parseTrustedPeers([bad]), new RegExp(`"${bad.replace(/[.*/]/g, '\\$&')}" is not an address`));
    });
  }

  it('reads IPv6 forms, IPv4 mapped', () => {
    assert.deepEqual([...(addressBytes('::ffff:1.2.3.4') ?? [])], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    assert.deepEqual([...(addressBytes('1.2.3.4') ?? [])], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    assert.deepEqual([...(addressBytes('2001:db8::1') ?? [])], [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('is passed to C as 17 bytes per range, or one byte 255 for all', () => {
    assert.deepEqual([...trustedPeerBytes('all')], [255]);
    const bytes = trustedPeerBytes(parseTrustedPeers(['10.0.0.0/8']));
    assert.equal(bytes.length, 17);
    assert.equal(bytes[16], 96 + 8);
  });
});

describe('the supervisor\'s own resource errors', () => {
  for (const [code, local] of [['EMFILE', true], ['ENFILE', true], ['ENOBUFS', true], ['EADDRNOTAVAIL', true], ['ECONNREFUSED', false], ['ETIMEDOUT', false], [undefined, false]] as const) {
    it(`${code ?? 'no code'} ${local ? 'is' : 'is not'} counted as this process's, not the backend's`, () => {
      assert.equal(isLocalResourceError(Object.assign(new Error('x'), { code })), local);
    });
  }
});
