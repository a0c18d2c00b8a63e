// The routing decision of the shared front, by tables: (host, path) -> app, the
// path it is forwarded with and the route it matched (the metrics' label);
// weights between apps that share a prefix.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRouter, prefixMatches, stripPrefix, type AppRoute } from '../../src/core/router.js';

const route = (app: string, path: string, extra: Partial<AppRoute> = {}): AppRoute => ({ app, path, host: undefined, weight: 1, strip: false, ...extra });

describe('router', () => {
  const router = createRouter([
    route('root', '/'),
    route('users', '/users'),
    route('admin', '/users/admin', { strip: true }),
    route('api', '/v1', { host: 'api.example.com', strip: true }),
    route('api-any', '/v1'),
    route('docs', '/', { host: 'docs.example.com' }),
  ]);
  const table: Array<[host: string | undefined, path: string, app: string, forwarded: string, matched: string]> = [
    [undefined, '/users', 'users', '/users', '/users'],
    [undefined, '/users/', 'users', '/users/', '/users'],
    [undefined, '/users/42?x=1', 'users', '/users/42?x=1', '/users'],
    [undefined, '/users?x=1', 'users', '/users?x=1', '/users'],
    [undefined, '/usersfoo', 'root', '/usersfoo', '/'],
    [undefined, '/users/admin/7', 'admin', '/7', '/users/admin'],
    [undefined, '/users/admin', 'admin', '/', '/users/admin'],
    [undefined, '/users/admin?q', 'admin', '/?q', '/users/admin'],
    [undefined, '/users/administrator', 'users', '/users/administrator', '/users'],
    ['api.example.com', '/v1/orders', 'api', '/orders', 'api.example.com/v1'],
    ['API.example.com:8080', '/v1/orders', 'api', '/orders', 'api.example.com/v1'],
    ['other.example.com', '/v1/orders', 'api-any', '/v1/orders', '/v1'],
    ['docs.example.com', '/users/1', 'docs', '/users/1', 'docs.example.com/'],
    [undefined, '/', 'root', '/', '/'],
  ];
  for (const [host, path, app, forwarded, matched] of table) {
    it(`${host ?? '(any host)'} ${path} -> ${app} ${forwarded} (route ${matched})`, () => {
      assert.deepEqual(router.route(host, path), { app, path: forwarded, route: matched });
    });
  }

  it('says whether a matching route has an available app, without moving the weighted rotation', () => {
    const router = createRouter([
      { app: 'orders', path: '/orders', host: undefined, weight: 9, strip: false },
      { app: 'canary', path: '/orders', host: undefined, weight: 1, strip: false },
      { app: 'users', path: '/users', host: undefined, weight: 1, strip: false },
    ]);
    const up = new Set(['canary']);
    const available = (app: string) => up.has(app);
    assert.equal(router.servable(undefined, '/orders/1', available), true, 'the canary can take it');
    assert.equal(router.servable(undefined, '/users', available), false, 'users has nothing');
    assert.equal(router.servable(undefined, '/other', available), false, 'no route');
    const picks = Array.from({ length: 10 }, () => router.route(undefined, '/orders', () => true)?.app);
    assert.equal(picks.filter((app) => app === 'canary').length, 1, '9:1 kept');
  });

  it('answers undefined when no route matches', () => {
    assert.equal(createRouter([route('users', '/users')]).route(undefined, '/orders'), undefined);
  });

  it('shares a prefix by weight, smoothly: 9:1 is one canary request in every ten, spread out', () => {
    const canary = createRouter([route('orders', '/orders', { weight: 9 }), route('canary', '/orders', { weight: 1 })]);
    const apps = Array.from({ length: 100 }, () => canary.route(undefined, '/orders/1')?.app);
    assert.equal(apps.filter((app) => app === 'orders').length, 90);
    assert.equal(apps.filter((app) => app === 'canary').length, 10);
    for (let i = 0; i < 100; i += 10) {
      assert.equal(apps.slice(i, i + 10).filter((app) => app === 'canary').length, 1, 'one per ten, not ten in a row');
    }
  });

  it('skips an app that has nothing ready, and gives up when none has', () => {
    const canary = createRouter([route('orders', '/orders', { weight: 9 }), route('canary', '/orders', { weight: 1 })]);
    const onlyCanary = (app: string) => app === 'canary';
    assert.deepEqual(Array.from({ length: 3 }, () => canary.route(undefined, '/orders', onlyCanary)?.app), ['canary', 'canary', 'canary']);
    assert.equal(canary.route(undefined, '/orders', () => false), undefined);
    assert.equal(createRouter([route('users', '/users')]).route(undefined, '/users', () => false), undefined);
  });

  it('matches prefixes on segment boundaries and strips them', () => {
    assert.equal(prefixMatches('/a', '/a'), true);
    assert.equal(prefixMatches('/a', '/a/b'), true);
    assert.equal(prefixMatches('/a', '/ab'), false);
    assert.equal(prefixMatches('/', '/anything'), true);
    assert.equal(stripPrefix('/a/b?c', '/a'), '/b?c');
    assert.equal(stripPrefix('/a', '/a'), '/');
    assert.equal(stripPrefix('/x', '/'), '/x');
  });
});
