// The choice of backend, written once for every front (src/proxy/dispatch.ts):
// retry on the next backend, the queue while none is in rotation, its timeout.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerId } from '../../src/core/types.js';
import { BackendRegistry, type BackendEntry } from '../../src/proxy/backend-registry.js';
import { Dispatcher, type Attempt, type AttemptHandler } from '../../src/proxy/dispatch.js';
import { RoutedRegistry } from '../../src/proxy/routed-registry.js';

interface Log {
  connected: Array<[string, WorkerId]>;
  gaveUp: Array<[string, string, boolean]>;
  failures: WorkerId[];
}

function setup(queueTimeoutMs = 1000): { registry: BackendRegistry; dispatcher: Dispatcher; log: Log; handler: AttemptHandler<Attempt & { name: string }> } {
  const log: Log = { connected: [], gaveUp: [], failures: [] };
  const events = { onConnectFailure: (id: WorkerId) => log.failures.push(id), onDrained: () => undefined };
  const registry = new BackendRegistry('round-robin', events);
  const dispatcher = new Dispatcher(registry, events, undefined, queueTimeoutMs);
  const handler: AttemptHandler<Attempt & { name: string }> = {
    connect: (attempt, backend: BackendEntry) => log.connected.push([attempt.name, backend.id]),
    giveUp: (attempt, reason, queueTimedOut) => log.gaveUp.push([attempt.name, reason, queueTimedOut]),
  };
  return { registry, dispatcher, log, handler };
}

const attempt = (name: string) => ({ name, backend: undefined, failed: undefined });
const backend = (id: number) => ({ id, host: '127.0.0.1', port: 9000 + id, weight: 1 });

describe('Dispatcher', () => {
  it('retries on the next backend after a failed connect, and gives up once every one has failed', () => {
    const { registry, dispatcher, log, handler } = setup();
    registry.add(backend(1));
    registry.add(backend(2));
    const a = attempt('a');
    dispatcher.dispatch(a, handler);
    dispatcher.connectFailed(a, new Error('refused'));
    dispatcher.dispatch(a, handler);
    dispatcher.connectFailed(a, new Error('refused'));
    dispatcher.dispatch(a, handler);
    assert.deepEqual(log.connected.map(([, id]) => id).sort(), [1, 2], 'each backend tried once');
    assert.deepEqual(log.failures.sort(), [1, 2], 'each failure reported');
    assert.deepEqual(log.gaveUp, [['a', 'no backend accepted the connection (2 tried)', false]], 'not queued: backends are in rotation');
    assert.equal(registry.totalConnections(1) + registry.totalConnections(2), 0, 'a failed connect is not a connection');
  });

  it('queues while no backend is in rotation and hands the waiting attempts, in order, to the first one added', () => {
    const { registry, dispatcher, log, handler } = setup();
    for (const name of ['a', 'b', 'c']) dispatcher.dispatch(attempt(name), handler);
    assert.equal(dispatcher.queued, 3);
    assert.deepEqual(log.connected, []);
    registry.add(backend(7));
    dispatcher.backendAdded(7);
    assert.deepEqual(log.connected, [['a', 7], ['b', 7], ['c', 7]]);
    assert.equal(dispatcher.queued, 0);
  });

  it("behind the routing front, holds a request while its own app has no backend, though another app's has", () => {
    const events = { onConnectFailure: () => undefined, onDrained: () => undefined };
    const routed = new RoutedRegistry(() => undefined);
    const route = (app: string, path: string) => ({ app, path, host: undefined, weight: 1, strip: false });
    routed.setRoutes([route('up', '/up'), route('booting', '/booting')]);
    routed.addApp('up', 'round-robin', events);
    routed.addApp('booting', 'round-robin', events);
    routed.add({ ...backend(1), app: 'up' });
    const dispatcher = new Dispatcher(routed, events, undefined, 1000);
    const log: Log = { connected: [], gaveUp: [], failures: [] };
    const handler: AttemptHandler<Attempt & { name: string }> = {
      connect: (a, entry: BackendEntry) => log.connected.push([a.name, entry.id]),
      giveUp: (a, reason, queueTimedOut) => log.gaveUp.push([a.name, reason, queueTimedOut]),
      waitable: (a) => routed.waitable(undefined, a.name === 'to-up' ? '/up/x' : '/booting/x'),
    };
    const send = (name: string, path: string) => dispatcher.dispatch(attempt(name), handler, (exclude) => routed.route(undefined, path, exclude)?.backend);
    send('to-booting', '/booting/x');
    send('to-up', '/up/x');
    assert.deepEqual(log.connected, [['to-up', 1]]);
    assert.deepEqual(log.gaveUp, [], 'held, not refused: its app is booting');
    assert.equal(dispatcher.queued, 1);
    // Another backend of the other app: it still waits, with its arrival time.
    routed.add({ ...backend(2), app: 'up' });
    dispatcher.backendAdded(2);
    assert.equal(dispatcher.queued, 1);
    routed.add({ ...backend(3), app: 'booting' });
    dispatcher.backendAdded(3);
    assert.deepEqual(log.connected, [['to-up', 1], ['to-booting', 3]]);
    assert.equal(dispatcher.queued, 0);
  });

  it('gives up on a waiting attempt after the queue timeout, saying so; cancel() forgets one whose client left', () => {
    const { dispatcher, log, handler } = setup(500);
    const a = attempt('a');
    const b = attempt('b');
    dispatcher.dispatch(a, handler);
    dispatcher.dispatch(b, handler);
    dispatcher.cancel(b);
    dispatcher.sweep(Date.now() + 100);
    assert.deepEqual(log.gaveUp, [], 'not before the timeout');
    dispatcher.sweep(Date.now() + 600);
    assert.deepEqual(log.gaveUp, [['a', 'no backend became ready within 500ms', true]]);
  });

  it('with a queue timeout of 0 gives up at once; giveUpAll() empties the queue', () => {
    const none = setup(0);
    none.dispatcher.dispatch(attempt('a'), none.handler);
    assert.deepEqual(none.log.gaveUp, [['a', 'no backend available', false]]);
    const some = setup();
    some.dispatcher.dispatch(attempt('b'), some.handler);
    some.dispatcher.giveUpAll('the front is closing');
    assert.deepEqual(some.log.gaveUp, [['b', 'the front is closing', false]]);
    assert.equal(some.dispatcher.queued, 0);
  });
});
