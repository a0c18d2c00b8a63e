// The pure part of remote upstreams (core/upstreams.ts) and the DNS wire format,
// by tables: entries, SRV records -> servers, set differences, the refresh
// schedule, the rotation with backups, nginx's max-fails, hostile packets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  diffServers, inRotation, MAX_REFRESH_MS, MIN_REFRESH_MS, parseUpstreamEntry, parseUpstreamFlag, PassiveEjection,
  refreshDelayMs, RETRY_AFTER_FAILURE_MS, serverKey, serversFromSrv, type ServerAddress,
} from '../../src/core/upstreams.js';
import { decodeSrvResponse, DnsFormatError, encodeQuery, TYPE_SRV } from '../../src/upstreams/dns-wire.js';

describe('upstream entries', () => {
  const cases: Array<[unknown, unknown]> = [
    ['10.0.0.11:8000', { kind: 'server', host: '10.0.0.11', port: 8000, weight: 1, backup: false }],
    ['[fd00::1]:80', { kind: 'server', host: 'fd00::1', port: 80, weight: 1, backup: false }],
    [{ server: 'api-2.internal:8000', weight: 5 }, { kind: 'server', host: 'api-2.internal', port: 8000, weight: 5, backup: false }],
    [{ server: '10.0.0.13:8000', backup: true }, { kind: 'server', host: '10.0.0.13', port: 8000, weight: 1, backup: true }],
    [{ srv: '_api._tcp.service.consul.' }, { kind: 'srv', name: '_api._tcp.service.consul', backup: false }],
    ['10.0.0.1:0', /port must be from 1 to 65535/],
    ['10.0.0.1:65536', /port must be from 1 to 65535/],
    ['10.0.0.1', /must be host:port/],
    ['bad host!:80', /must be host:port|not an IP address or a host name/],
    [{ srv: 'api.service.consul' }, /srv must be a SRV name/],
    [{ srv: '_api._tcp.x', weight: 2 }, /takes its weights from the SRV records/],
    [{ server: 'a:1', srv: '_a._tcp.x' }, /give server or srv, not both/],
    [{ server: 'a:1', weight: 1.5 }, /weight must be an integer from 1 to 1000/],
    [{ server: 'a:1', backup: 'yes' }, /backup must be true or false/],
    [42, /must be host:port, \{server/],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)}`, () => {
      const parsed = parseUpstreamEntry(input, 'here');
      if (expected instanceof RegExp) {
        assert.ok('error' in parsed, 'an error');
        assert.match(parsed.error, expected);
      } else {
        assert.ok('value' in parsed, 'error' in parsed ? parsed.error : '');
        const { where, ...spec } = parsed.value;
        assert.equal(where, 'here');
        assert.deepEqual(spec, expected);
      }
    });
  }

  it('--upstream host:port[,weight=N][,backup]', () => {
    assert.deepEqual(parseUpstreamFlag('a.internal:81,weight=5,backup', 'f'), { value: { kind: 'server', host: 'a.internal', port: 81, weight: 5, backup: true, where: 'f' } });
    assert.deepEqual(parseUpstreamFlag('_a._tcp.example.org', 'f'), { value: { kind: 'srv', name: '_a._tcp.example.org', backup: false, where: 'f' } });
    assert.match((parseUpstreamFlag('a:1,weight=x', 'f') as { error: string }).error, /weight must be an integer/);
    assert.match((parseUpstreamFlag('a:1,heavy', 'f') as { error: string }).error, /unknown option "heavy"/);
  });
});

describe('server sets', () => {
  const server = (address: string, port = 80, weight = 1, backup = false): ServerAddress => ({ address, port, weight, backup });

  it('diffs by address:port: added, removed, re-weighted', () => {
    const current = new Map([server('10.0.0.1'), server('10.0.0.2'), server('10.0.0.3')].map((s) => [serverKey(s), s]));
    const change = diffServers(current, [server('10.0.0.1'), server('10.0.0.2', 80, 5), server('10.0.0.4'), server('10.0.0.4', 80, 9)]);
    assert.deepEqual(change.added, [server('10.0.0.4')], 'the first duplicate wins');
    assert.deepEqual(change.removed, ['10.0.0.3:80']);
    assert.deepEqual(change.changed, [server('10.0.0.2', 80, 5)]);
    assert.equal(serverKey(server('::1', 8000)), '[::1]:8000');
  });

  it('SRV: lowest priority primary, others backup; weights scaled into 1…1000; "." dropped', () => {
    const servers = serversFromSrv([
      { priority: 10, weight: 60000, port: 8000, target: 'A.node.consul.' },
      { priority: 10, weight: 0, port: 8001, target: 'b.node.consul' },
      { priority: 10, weight: 30000, port: 8002, target: 'c.node.consul' },
      { priority: 20, weight: 5, port: 8003, target: 'd.node.consul' },
      { priority: 1, weight: 5, port: 0, target: 'e.node.consul' },
      { priority: 1, weight: 5, port: 80, target: '.' },
    ], false);
    assert.deepEqual(servers, [
      { host: 'a.node.consul', port: 8000, weight: 1000, backup: false },
      { host: 'b.node.consul', port: 8001, weight: 1, backup: false },
      { host: 'c.node.consul', port: 8002, weight: 500, backup: false },
      { host: 'd.node.consul', port: 8003, weight: 1, backup: true },
    ]);
    assert.deepEqual(serversFromSrv([{ priority: 0, weight: 5, port: 1, target: 'x' }], true), [{ host: 'x', port: 1, weight: 5, backup: true }]);
    assert.deepEqual(serversFromSrv([], false), []);
  });

  it('asks DNS again when the TTL ends, within bounds; a failure is retried soon', () => {
    assert.equal(refreshDelayMs(5, false), 5000);
    assert.equal(refreshDelayMs(0, false), MIN_REFRESH_MS, 'a TTL of 0 is not a busy loop');
    assert.equal(refreshDelayMs(10 ** 9, false), MAX_REFRESH_MS);
    assert.equal(refreshDelayMs(300, true), RETRY_AFTER_FAILURE_MS);
  });

  it('backups take traffic only while every primary is down', () => {
    const rotation = (entries: Array<[string, boolean, boolean]>) =>
      [...inRotation(new Map(entries.map(([key, backup, up]) => [key, { backup, up }])))].sort();
    assert.deepEqual(rotation([['a', false, true], ['b', false, false], ['z', true, true]]), ['a']);
    assert.deepEqual(rotation([['a', false, false], ['b', false, false], ['z', true, true], ['y', true, false]]), ['z']);
    assert.deepEqual(rotation([['a', false, false], ['z', true, false]]), []);
    assert.deepEqual(rotation([['z', true, true]]), ['z']);
  });
});

describe('max-fails within fail-timeout', () => {
  it('ejects after max-fails in the window, for fail-timeout; then one failure on probation ejects again', () => {
    const passive = new PassiveEjection({ maxFails: 3, failTimeoutMs: 1000 });
    assert.equal(passive.fail(0), false);
    assert.equal(passive.fail(500), false);
    assert.equal(passive.fail(1200), false, 'the first failure left the window');
    assert.equal(passive.fail(1300), true, '3 within 1000 ms');
    assert.equal(passive.ejected(2000), true);
    assert.equal(passive.fail(2100), false, 'already out');
    assert.equal(passive.ejected(2300), false, 'back after fail-timeout');
    assert.equal(passive.fail(2400), true, 'on probation: one failure is enough');
    assert.equal(passive.ejected(3500), false);
    assert.equal(passive.fail(5000), false, 'probation over: the count starts again');
  });
});

describe('the DNS wire format', () => {
  /** A response to `query` with SRV answers whose targets use a compression pointer to the question. */
  function response(id: number, answers: Array<{ priority: number; weight: number; port: number; target: string; ttl: number }>): Buffer {
    const query = encodeQuery(id, '_api._tcp.example.org', TYPE_SRV);
    query.writeUInt16BE(0x8180, 2);
    query.writeUInt16BE(answers.length, 6);
    const parts = [query];
    for (const answer of answers) {
      const target = Buffer.concat([...answer.target.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
      const record = Buffer.alloc(2 + 10 + 6);
      record.writeUInt16BE(0xc00c, 0); // the question's name
      record.writeUInt16BE(TYPE_SRV, 2);
      record.writeUInt16BE(1, 4);
      record.writeUInt32BE(answer.ttl, 6);
      record.writeUInt16BE(6 + target.length, 10);
      record.writeUInt16BE(answer.priority, 12);
      record.writeUInt16BE(answer.weight, 14);
      record.writeUInt16BE(answer.port, 16);
      parts.push(record, target);
    }
    return Buffer.concat(parts);
  }

  it('reads SRV answers with their TTL', () => {
    const packet = response(7, [{ priority: 1, weight: 5, port: 8000, target: 'a.example.org', ttl: 3 }, { priority: 2, weight: 0, port: 8001, target: 'b.example.org', ttl: 0xffffffff }]);
    assert.deepEqual(decodeSrvResponse(packet, 7), {
      records: [{ priority: 1, weight: 5, port: 8000, target: 'a.example.org', ttl: 3 }, { priority: 2, weight: 0, port: 8001, target: 'b.example.org', ttl: 0 }],
      rcode: 0,
      truncated: false,
    });
  });

  it('refuses hostile packets: short, another id, truncated, pointer loops, bad labels', () => {
    const good = response(7, [{ priority: 1, weight: 5, port: 8000, target: 'a.example.org', ttl: 3 }]);
    const loop = Buffer.from(good);
    loop.writeUInt16BE(0xc000 | (good.length - 2), good.length - 2); // the target's end points at itself
    const forward = Buffer.from(good);
    forward.writeUInt16BE(0xc000 | 0x3fff, 12 + 0); // the question's name points forward
    const badLabel = Buffer.from(good);
    badLabel[good.length - 3] = 0x2f; // '/' in a target label
    const hostile: Array<[string, Buffer, number]> = [
      ['empty', Buffer.alloc(0), 7],
      ['a header cut short', good.subarray(0, 11), 7],
      ['another id', good, 8],
      ['cut in the middle of a record', good.subarray(0, good.length - 4), 7],
      ['a pointer loop', loop, 7],
      ['a forward pointer', forward, 7],
      ['a label a host name cannot have', badLabel, 7],
    ];
    for (const [what, packet, id] of hostile) {
      assert.throws(() => decodeSrvResponse(packet, id), DnsFormatError, what);
    }
    // Random bytes: an error or an answer, never an exception of another kind, never a hang.
    for (let i = 0; i < 2000; i++) {
      const noise = Buffer.from(good);
      for (let j = 0; j < 4; j++) noise[Math.floor(Math.random() * noise.length)] = Math.floor(Math.random() * 256);
      try {
        decodeSrvResponse(noise, 7);
      } catch (error) {
        assert.ok(error instanceof DnsFormatError, String(error));
      }
    }
  });
});
