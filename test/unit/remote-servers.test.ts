// The registry of an app's remote servers against a recording front and a
// scripted resolver: what reaches the front on apply (added, re-weighted,
// drained only once the front says so), backups, max-fails, and a lookup that
// fails keeping the last good set.

import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import pino from 'pino';
import { RemoteServers } from '../../src/upstreams/remote-servers.js';
import type { UpstreamResolver } from '../../src/upstreams/resolver.js';
import type { UpstreamSpec } from '../../src/core/upstreams.js';
import type { Backend, Front, SupervisorEvent } from '../../src/core/types.js';

const server = (host: string, weight = 1, backup = false): UpstreamSpec => ({ kind: 'server', host, port: 8000, weight, backup, where: host });

function harness(answers: Map<string, string[] | Error>) {
  const inFront = new Map<number, Backend>();
  const events: SupervisorEvent[] = [];
  const front: Front = {
    dataPath: 'javascript', listen: async () => undefined, close: async () => undefined,
    add: (backend) => void inFront.set(backend.id, backend),
    remove: (id) => void inFront.delete(id),
    connections: () => 0, totalConnections: () => 0,
  };
  const resolver: UpstreamResolver = {
    resolveHost: async (name) => {
      if (/^\d/.test(name)) return { addresses: [name], ttl: undefined };
      const answer = answers.get(name);
      if (answer instanceof Error || answer === undefined) throw answer ?? new Error(`cannot resolve ${name}`);
      return { addresses: answer, ttl: 3600 };
    },
    resolveSrv: async () => { throw new Error('no SRV here'); },
  };
  let id = 1;
  let now = 0;
  const remote = new RemoteServers({
    front, app: 'api', resolver, nextId: () => id++, logger: pino({ level: 'silent' }), emit: (event) => void events.push(event),
    health: { path: undefined, intervalMs: 3_600_000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 1 },
    passive: { maxFails: 2, failTimeoutMs: 1000 }, now: () => now,
  });
  const hosts = () => [...inFront.values()].map((backend) => `${backend.host}/${backend.weight}`).sort();
  return { remote, inFront, events, hosts, tick: (ms: number) => (now += ms) };
}

let close: (() => void) | undefined;
afterEach(() => close?.());

describe('an app\'s remote servers', () => {
  it('apply adds, re-weights and removes; a removed server is forgotten only once drained', async () => {
    const h = harness(new Map([['api.internal', ['10.0.0.3', '10.0.0.4']]]));
    close = () => h.remote.close();
    await h.remote.update([server('10.0.0.1'), server('api.internal', 2)], { maxFails: 2, failTimeoutMs: 1000 });
    assert.deepEqual(h.hosts(), ['10.0.0.1/1', '10.0.0.3/2', '10.0.0.4/2'], 'every A record a server');
    const firstId = h.remote.status().find((row) => row.server === '10.0.0.1:8000')?.id;
    await h.remote.update([server('10.0.0.1', 7), server('10.0.0.5')], { maxFails: 2, failTimeoutMs: 1000 });
    assert.deepEqual(h.hosts(), ['10.0.0.1/7', '10.0.0.5/1']);
    assert.equal(h.remote.status().find((row) => row.server === '10.0.0.1:8000')?.id, firstId, 'same server, same id');
    const draining = h.remote.status().filter((row) => row.state === 'draining').map((row) => row.id);
    assert.equal(draining.length, 2);
    await new Promise((resolve) => setImmediate(resolve));
    // Out of the front, so the front reports them drained when their last request ends (here at once).
    for (const id of draining) h.remote.drained(id);
    assert.deepEqual(h.remote.status().map((row) => row.server).sort(), ['10.0.0.1:8000', '10.0.0.5:8000']);
    assert.deepEqual(h.events.filter((e) => e.type === 'server').map((e) => (e as { change: string }).change).sort(),
      ['added', 'added', 'added', 'added', 'drained', 'drained', 'removed', 'removed', 'reweighted']);
  });

  it('a name that does not resolve changes nothing and names its entry', async () => {
    const h = harness(new Map());
    close = () => h.remote.close();
    await h.remote.update([server('10.0.0.1')], { maxFails: 2, failTimeoutMs: 1000 });
    await assert.rejects(h.remote.update([server('10.0.0.2'), server('nowhere.internal')], { maxFails: 2, failTimeoutMs: 1000 }), /^Error: nowhere\.internal: cannot resolve nowhere\.internal/);
    assert.deepEqual(h.hosts(), ['10.0.0.1/1']);
  });

  it('max-fails ejects for fail-timeout; backups serve only while every primary is out', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const h = harness(new Map());
    close = () => {
      h.remote.close();
      mock.timers.reset();
    };
    await h.remote.update([server('10.0.0.1'), server('10.0.0.9', 1, true)], { maxFails: 2, failTimeoutMs: 1000 });
    assert.deepEqual(h.hosts(), ['10.0.0.1/1']);
    const primary = h.remote.status().find((row) => !row.backup)?.id as number;
    h.remote.failed(primary, 'ECONNREFUSED');
    assert.deepEqual(h.hosts(), ['10.0.0.1/1'], 'one failure of two');
    h.remote.failed(primary, 'ECONNREFUSED');
    assert.deepEqual(h.hosts(), ['10.0.0.9/1'], 'ejected: the backup serves');
    assert.equal(h.remote.status().find((row) => row.id === primary)?.state, 'ejected');
    h.tick(1001);
    mock.timers.tick(1002);
    assert.deepEqual(h.hosts(), ['10.0.0.1/1'], 'back on probation after fail-timeout; the backup idles again');
    h.remote.failed(primary, 'ECONNREFUSED');
    assert.deepEqual(h.hosts(), ['10.0.0.9/1'], 'on probation one failure is enough');
  });
});
