// The native http front decides in C (http_decide.c, from the snapshot
// http-native.ts publishes): JavaScript is not asked per request, and what it
// must still act on comes back as events — a removed backend drains when its
// last request ends, --max-requests is reported at the Nth request, a failed
// connect is reported and the request goes to the next backend.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BalancePolicy, FrontEvents, WorkerId } from '../../src/core/types.js';
import { BackendRegistry, type Routed } from '../../src/proxy/backend-registry.js';
import { createNativeHttpFront } from '../../src/proxy/http-native.js';
import { countByBackend, deadPort, recordEvents, request, startHttpBackend, useCleanup, type RecordedEvents } from '../helpers/proxy-fixtures.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 60_000 };

/** A registry that counts how often a request asks it for a backend. */
class CountingRegistry extends BackendRegistry {
  routeCalls = 0;

  override route(host: string | undefined, path: string, exclude?: ReadonlySet<WorkerId>): Routed | undefined {
    this.routeCalls++;
    return super.route(host, path, exclude);
  }
}

const skip = createNativeHttpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() }) === undefined ? 'the native http front is not built' : false;

describe('native http front: the data plane decides', { skip }, () => {
  const defer = useCleanup();

  async function startFront(events: FrontEvents & Partial<RecordedEvents>, balance: BalancePolicy = 'round-robin') {
    let registry!: CountingRegistry;
    const front = createNativeHttpFront({ host: '127.0.0.1', port: 0, balance, events }, (onForget) => (registry = new CountingRegistry(balance, events, onForget)));
    assert.ok(front !== undefined);
    await front.listen();
    defer(() => front.close(0));
    return { front, registry, port: front.address().port };
  }

  it('round-robins without asking JavaScript once per request', TIMEOUT, async () => {
    const a = await startHttpBackend('a', defer);
    const b = await startHttpBackend('b', defer);
    const { front, registry, port } = await startFront(recordEvents());
    front.add({ id: 1, host: '127.0.0.1', port: a.port, weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: b.port, weight: 1 });
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++) bodies.push((await request(port)).body);
    assert.deepEqual(countByBackend(bodies), { a: 10, b: 10 });
    assert.equal(registry.routeCalls, 0, 'the registry was asked per request');
  });

  it('reports a removed backend drained only when its request in flight has ended', TIMEOUT, async () => {
    let finish!: () => void;
    const released = new Promise<void>((resolve) => (finish = resolve));
    const slow = await startHttpBackend('slow', defer, (_req, res) => void released.then(() => res.end('slow done')));
    const events = recordEvents();
    const { front, port } = await startFront(events);
    front.add({ id: 7, host: '127.0.0.1', port: slow.port, weight: 1 });
    const pending = request(port);
    await waitFor(() => front.connections(7) === 1 || undefined, { timeoutMs: 10_000 });
    front.remove(7);
    await delay(200);
    assert.deepEqual(events.drained, [], 'drained while a request was in flight');
    finish();
    assert.equal((await pending).body, 'slow done');
    await waitFor(() => events.drained.length > 0 || undefined, { timeoutMs: 10_000 });
    assert.deepEqual(events.drained, [7]);
  });

  it('reports --max-requests at the Nth request, and a failed connect while the request goes on to the next backend', TIMEOUT, async () => {
    const a = await startHttpBackend('a', defer);
    const limited: WorkerId[] = [];
    const events = { ...recordEvents(), onServedLimit: (id: WorkerId) => limited.push(id) };
    const { front, port } = await startFront(events);
    front.add({ id: 1, host: '127.0.0.1', port: await deadPort(), weight: 1 });
    front.add({ id: 2, host: '127.0.0.1', port: a.port, weight: 1, maxServed: 3 });
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await request(port)).body);
    assert.deepEqual(countByBackend(bodies), { a: 4 }, 'every request reached the live backend');
    await waitFor(() => (events.failures.length > 0 && limited.length > 0) || undefined, { timeoutMs: 10_000 });
    assert.deepEqual(limited, [2], 'reported once, at the 3rd request');
    assert.ok(events.failures.every((failure) => failure.id === 1), 'only the dead backend is reported');
  });

  it('reports a backend removed after the front closed as drained at once (no data plane, nothing in flight)', TIMEOUT, async () => {
    const a = await startHttpBackend('a', defer);
    const events = recordEvents();
    const { front, port } = await startFront(events);
    front.add({ id: 3, host: '127.0.0.1', port: a.port, weight: 1 });
    assert.equal((await request(port)).body, 'a GET /');
    await front.close(1000);
    front.remove(3);
    await waitFor(() => events.drained.length > 0 || undefined, { timeoutMs: 10_000 });
    assert.deepEqual(events.drained, [3]);
  });
});
