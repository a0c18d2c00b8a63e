// The control routes of a system of several apps (SPEC §8): /apps/<name>/…,
// /scale and /reload without a name, /apply; against fake supervisors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/control/metrics.js';
import { matchRoute } from '../../src/control/handlers.js';
import { singleAppSystem } from '../../src/control/single-app.js';
import type { ApplyResult, SystemApi } from '../../src/core/system-api.js';
import { createFakeSupervisor, type FakeSupervisor } from '../helpers/fake-supervisor.js';

/** Two fake apps, users and orders, as one system; `apply` answers what the test sets. */
function twoApps(applyResult: ApplyResult = { ok: true, added: [], removed: [], changed: [], unchanged: ['users', 'orders'] }) {
  const apps: Record<string, FakeSupervisor> = { users: createFakeSupervisor({ workers: 3 }), orders: createFakeSupervisor({ workers: 2 }) };
  const reloadedAll: string[] = [];
  const system: SystemApi = {
    status: () => ({ pid: 1, apps: Object.entries(apps).map(([name, api]) => ({ name, ...api.status() })) }),
    appNames: () => Object.keys(apps),
    app: (name) => apps[name],
    reloadAll: async (reason) => {
      reloadedAll.push(reason);
      return { ok: true, apps: {} };
    },
    apply: async () => applyResult,
    stop: async () => undefined,
    onEvent: (listener) => {
      for (const [name, api] of Object.entries(apps)) api.onEvent((event) => listener(name, event));
    },
  };
  return { apps, system, reloadedAll };
}

async function call(system: SystemApi, method: string, path: string, body?: unknown) {
  const match = matchRoute(method, path);
  if (!('handler' in match)) return { status: match.reply.status, json: JSON.parse(match.reply.body) };
  const reply = await match.handler({ system, metrics: createMetrics(system), body, params: match.params });
  return { status: reply.status, json: reply.contentType.startsWith('application/json') ? JSON.parse(reply.body) : reply.body };
}

describe('control routes of a system', () => {
  it('POST /apps/<name>/scale|reload|workers/<slot>/restart act on that app only', async () => {
    const { apps, system } = twoApps();
    assert.equal((await call(system, 'POST', '/apps/orders/scale', { workers: 4 })).status, 200);
    assert.equal((await call(system, 'POST', '/apps/users/reload')).status, 200);
    assert.equal((await call(system, 'POST', '/apps/orders/workers/1/restart')).status, 200);
    assert.deepEqual(apps['orders']?.calls, ['scale {"workers":4}', 'restart 1']);
    assert.deepEqual(apps['users']?.calls, ['reload']);
  });

  it('an unknown app is a 404 that lists the apps', async () => {
    const { system } = twoApps();
    const reply = await call(system, 'POST', '/apps/payments/scale', { workers: 2 });
    assert.equal(reply.status, 404);
    assert.equal(reply.json.error, 'no app named "payments"; apps: users, orders');
  });

  it('without a name and several apps: /scale and /workers/… are 400 naming them, /reload reloads all', async () => {
    const { apps, system, reloadedAll } = twoApps();
    const scale = await call(system, 'POST', '/scale', { workers: 2 });
    assert.equal(scale.status, 400);
    assert.match(scale.json.error, /there are 2 apps \(users, orders\): name one, POST \/apps\/<name>\/scale/);
    assert.equal((await call(system, 'POST', '/workers/0/restart')).status, 400);
    assert.equal((await call(system, 'POST', '/reload')).status, 200);
    assert.deepEqual(reloadedAll, ['control socket']);
    assert.deepEqual([apps['users']?.calls, apps['orders']?.calls], [[], []]);
  });

  it('without a name and one app, every request acts on it (the single-app shape)', async () => {
    const fake = createFakeSupervisor();
    const system = singleAppSystem(fake, 'web');
    assert.equal((await call(system, 'POST', '/scale', { delta: 1 })).status, 200);
    const status = await call(system, 'GET', '/status');
    assert.equal(status.json.desired, 5, 'top-level fields of the only app');
    assert.equal(status.json.apps[0].name, 'web');
  });

  it('POST /apply: 200 with the difference, 400 for a file that does not validate, 500 when applying failed', async () => {
    const done = await call(twoApps({ ok: true, added: ['a'], removed: ['b'], changed: ['c'], unchanged: ['d'] }).system, 'POST', '/apply');
    assert.deepEqual([done.status, done.json], [200, { ok: true, added: ['a'], removed: ['b'], changed: ['c'], unchanged: ['d'] }]);
    assert.equal((await call(twoApps({ ok: false, invalid: true, error: 'bad' }).system, 'POST', '/apply')).status, 400);
    assert.equal((await call(twoApps({ ok: false, error: 'app "a" did not become ready' }).system, 'POST', '/apply')).status, 500);
  });

  it('metrics carry the app label', async () => {
    const { system } = twoApps();
    const text = await createMetrics(system).render();
    assert.match(text, /^supervise_workers_desired\{app="users"\} 3$/m);
    assert.match(text, /^supervise_workers_desired\{app="orders"\} 2$/m);
  });
});
