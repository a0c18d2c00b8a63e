// The data plane's pick (src/native/dp_pick.c) against the TypeScript policy
// it stands for (core/router.ts, core/balancer.ts): the same snapshot, the same
// requests, the same choices — round-robin (with exclusions), smooth WRR,
// least-conn, and the routing (host, longest prefix, strip, weights between
// apps). And the decoder against hostile buffers: refused with an errno,
// never a crash (the .ci/asan run makes "never" mean no memory error either).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBalancer, smoothSchedule } from '../../src/core/balancer.js';
import * as K from '../../src/core/dp-constants.js';
import { encodeSnapshot, type SnapshotBackend, type SnapshotInput, type SnapshotRoute } from '../../src/core/dp-snapshot.js';
import { createRouter, stripPrefix } from '../../src/core/router.js';
import type { BalancePolicy } from '../../src/core/types.js';
import { loadNative } from '../../src/native/load.js';
import { seededRandom } from '../helpers/random.js';

interface DpBinding {
  dpDecode(buffer: Uint8Array, seed?: number): number;
  dpSwap(handle: number, buffer: Uint8Array): number;
  dpPick(handle: number, host: string | undefined, path: string, exclude?: Int32Array): Int32Array;
  dpAcquire(handle: number, slot: number): number;
  dpRelease(handle: number, slot: number): number;
  dpFree(handle: number): void;
}

const native = loadNative()?.exports as Partial<DpBinding> | undefined;
const dp = native?.dpDecode === undefined ? undefined : (native as DpBinding);
const skip = dp === undefined ? 'the native module is not built' : false;

const EINVAL = 22;
const EPROTO = 71;

function backend(slot: number, app: string, extra: Partial<SnapshotBackend> = {}): SnapshotBackend {
  return { slot, address: '127.0.0.1', port: 20000 + slot, weight: 1, draining: false, budget: 0, app, ...extra };
}

function input(extra: Partial<SnapshotInput>): SnapshotInput {
  return { serial: 1, backends: [], apps: [], routes: [], defaultSeries: 0, queueTimeoutMs: 10_000, connectTimeoutMs: 5000, responseTimeoutMs: 60_000, ...extra };
}

/** A decoded snapshot for the test's life (freed at the end of it). */
function decode(buffer: Uint8Array, seed = 0): number {
  const handle = (dp as DpBinding).dpDecode(buffer, seed);
  assert.ok(handle >= 0, `dpDecode refused the snapshot: errno ${-handle}`);
  return handle;
}

interface Choice {
  kind: number;
  slot: number;
  app: number;
  series: number;
  path: string;
}

function pick(handle: number, host: string | undefined, path: string, exclude?: readonly number[]): Choice {
  const [kind, slot, app, series, strip, slash] = (dp as DpBinding).dpPick(handle, host, path, exclude === undefined ? undefined : Int32Array.from(exclude));
  const rest = path.slice(strip as number);
  return { kind: kind as number, slot: slot as number, app: app as number, series: series as number, path: slash === 1 ? `/${rest}` : rest };
}

/** One app's front: C's picks and balancer.ts's, `count` requests, excluding what `exclude(i)` says. */
function compareApp(policy: BalancePolicy, weights: number[], count: number, exclude: (i: number) => number[] = () => []): void {
  const slots = weights.map((_, i) => 3 + i * 7);
  const handle = decode(encodeSnapshot(input({ apps: [{ name: 'web', policy }], backends: slots.map((slot, i) => backend(slot, 'web', { weight: weights[i] as number })) })));
  try {
    const balancer = createBalancer(policy);
    slots.forEach((slot, i) => balancer.add(slot, weights[i]));
    for (let i = 0; i < count; i++) {
      const skipped = exclude(i);
      const expected = balancer.pick(skipped.length === 0 ? undefined : new Set(skipped));
      const got = pick(handle, undefined, '/', skipped);
      if (expected === undefined) assert.equal(got.kind, K.DP_PICK_EXHAUSTED, `request ${i}`);
      else assert.deepEqual([got.kind, got.slot], [K.DP_PICK_BACKEND, expected], `request ${i} (excluding ${skipped.join(',')})`);
    }
  } finally {
    (dp as DpBinding).dpFree(handle);
  }
}

describe('data-plane pick: C against the TypeScript policy', { skip }, () => {
  it('round-robin: the same backends in the same order, with and without failed ones excluded', () => {
    compareApp('round-robin', [1, 1, 1, 1], 40);
    const random = seededRandom(17);
    const slots = [3, 10, 17, 24];
    compareApp('round-robin', [1, 1, 1, 1], 200, () => slots.filter(() => random() < 0.3));
  });

  it('smooth weighted round-robin: the schedule is the balancer\'s sequence, period after period', () => {
    compareApp('weighted-round-robin', [5, 1, 1], 70);
    compareApp('weighted-round-robin', [3, 2], 50);
    const random = seededRandom(5);
    const weights = Array.from({ length: 6 }, () => 1 + Math.floor(random() * 20));
    compareApp('weighted-round-robin', weights, 500);
  });

  it('smooth weighted round-robin: a schedule is one period of the algorithm, cut at the limit', () => {
    assert.deepEqual(smoothSchedule([5, 1, 1], 100), [0, 0, 1, 0, 2, 0, 0]);
    assert.deepEqual(smoothSchedule([4, 2], 100), [0, 1, 0]);
    assert.equal(smoothSchedule([1000, 999, 998], 64).length, 64);
  });

  it('least-conn: the same choices as the counts go up and down', () => {
    const slots = [1, 2, 3];
    const weights = [1, 2, 1];
    const handle = decode(encodeSnapshot(input({ apps: [{ name: 'web', policy: 'least-conn' }], backends: slots.map((slot, i) => backend(slot, 'web', { weight: weights[i] as number })) })));
    try {
      const balancer = createBalancer('least-conn');
      slots.forEach((slot, i) => balancer.add(slot, weights[i]));
      const random = seededRandom(3);
      const open: number[] = [];
      for (let i = 0; i < 300; i++) {
        if (open.length > 0 && random() < 0.45) {
          const [done] = open.splice(Math.floor(random() * open.length), 1) as [number];
          balancer.release(done);
          (dp as DpBinding).dpRelease(handle, done);
          continue;
        }
        const expected = balancer.pick() as number;
        const got = pick(handle, undefined, '/');
        assert.equal(got.slot, expected, `step ${i}`);
        balancer.acquire(expected);
        (dp as DpBinding).dpAcquire(handle, expected);
        open.push(expected);
      }
    } finally {
      (dp as DpBinding).dpFree(handle);
    }
  });

  it('p2c: of two backends, the one with fewer requests in flight', () => {
    const handle = decode(encodeSnapshot(input({ apps: [{ name: 'web', policy: 'p2c' }], backends: [backend(1, 'web'), backend(2, 'web')] })), 42);
    try {
      for (let i = 0; i < 5; i++) (dp as DpBinding).dpAcquire(handle, 1);
      for (let i = 0; i < 20; i++) assert.equal(pick(handle, undefined, '/').slot, 2);
      assert.equal(pick(handle, undefined, '/', [2]).slot, 1, 'the other one when the lighter failed');
    } finally {
      (dp as DpBinding).dpFree(handle);
    }
  });

  it('routes: the app, the forwarded path and the series as router.ts decides, weights between apps included', () => {
    const routes: SnapshotRoute[] = [
      { app: 'root', path: '/', host: undefined, weight: 1, strip: false, series: 1 },
      { app: 'users', path: '/users', host: undefined, weight: 1, strip: false, series: 2 },
      { app: 'admin', path: '/users/admin', host: undefined, weight: 1, strip: true, series: 3 },
      { app: 'api', path: '/v1', host: 'api.example.com', weight: 1, strip: true, series: 4 },
      { app: 'users', path: '/v1', host: undefined, weight: 1, strip: false, series: 5 },
      { app: 'docs', path: '/', host: 'docs.example.com', weight: 1, strip: false, series: 6 },
      { app: 'orders', path: '/orders', host: undefined, weight: 9, strip: false, series: 7 },
      { app: 'canary', path: '/orders', host: undefined, weight: 1, strip: true, series: 8 },
      { app: 'booting', path: '/boot', host: undefined, weight: 1, strip: false, series: 9 },
    ];
    const apps = ['root', 'users', 'admin', 'api', 'docs', 'orders', 'canary', 'booting'];
    const backends = apps.flatMap((app, a) => (app === 'booting' ? [] : [backend(a * 10, app), backend(a * 10 + 1, app)]));
    const handle = decode(encodeSnapshot(input({ apps: apps.map((name) => ({ name, policy: 'round-robin' as const })), backends, routes })));
    try {
      const router = createRouter(routes);
      const balancers = new Map(apps.map((app) => [app, createBalancer('round-robin')]));
      for (const b of backends) balancers.get(b.app)?.add(b.slot);
      const available = (app: string) => (balancers.get(app)?.size ?? 0) > 0;
      const seriesOf = new Map(routes.map((r) => [`${r.app} ${r.host ?? ''}${r.path}`, r.series]));
      const requests: Array<[string | undefined, string]> = [
        [undefined, '/users'], [undefined, '/users/42?x=1'], [undefined, '/users?x'], [undefined, '/usersfoo'], [undefined, '/users/admin/7'],
        [undefined, '/users/admin'], [undefined, '/users/admin?q'], [undefined, '/users/administrator'], ['api.example.com', '/v1/orders'],
        ['API.example.com:8080', '/v1/orders'], ['other.example.com', '/v1/x'], ['docs.example.com', '/users/1'], ['[::1]:8080', '/'], ['', '/v1'],
        [undefined, '/'], [':80', '/v1'],
      ];
      for (let round = 0; round < 3; round++) for (let i = 0; i < 20; i++) requests.push([undefined, `/orders/${i}`]);
      for (const [host, path] of requests) {
        const choice = router.route(host, path, available);
        const got = pick(handle, host, path);
        const what = `${host ?? '(no host)'} ${path}`;
        assert.ok(choice !== undefined, what);
        assert.equal(apps[got.app], choice.app, `${what}: the app`);
        assert.equal(got.path, choice.path, `${what}: the forwarded path`);
        assert.equal(got.series, seriesOf.get(`${choice.app} ${choice.route}`), `${what}: the series`);
        assert.equal(got.slot, balancers.get(choice.app)?.pick(), `${what}: the backend`);
      }
      assert.equal(stripPrefix('/users/admin', '/users/admin'), '/');
      // A route whose app has no backend in rotation: hold the request (router: matches, not servable).
      assert.equal(pick(handle, undefined, '/boot/1').kind, K.DP_PICK_WAIT);
      assert.equal(router.servable(undefined, '/boot/1', available), false);
    } finally {
      (dp as DpBinding).dpFree(handle);
    }
  });

  it('no route: 404; every backend excluded: exhausted; a front with nothing yet, or only draining backends: wait', () => {
    const routed = decode(encodeSnapshot(input({ apps: [{ name: 'a', policy: 'round-robin' }], backends: [backend(0, 'a')], routes: [{ app: 'a', path: '/a', host: undefined, weight: 1, strip: false, series: 0 }] })));
    const empty = decode(encodeSnapshot(input({})));
    // A routing front whose table is empty (every routed app removed by `ctl apply`): nothing matches, as router.ts.
    const noRoutes = decode(encodeSnapshot(input({ routed: true, apps: [{ name: 'a', policy: 'round-robin' }, { name: 'b', policy: 'round-robin' }], backends: [backend(0, 'a'), backend(1, 'b')] })));
    const draining = decode(encodeSnapshot(input({ apps: [{ name: 'a', policy: 'least-conn' }], backends: [backend(4, 'a', { draining: true })] })));
    try {
      assert.equal(pick(routed, undefined, '/b').kind, K.DP_PICK_NO_ROUTE);
      assert.equal(pick(routed, undefined, '/a', [0]).kind, K.DP_PICK_EXHAUSTED);
      assert.equal(pick(empty, undefined, '/').kind, K.DP_PICK_WAIT);
      assert.equal(pick(draining, undefined, '/').kind, K.DP_PICK_WAIT);
      assert.equal(pick(noRoutes, undefined, '/').kind, K.DP_PICK_NO_ROUTE);
    } finally {
      for (const handle of [routed, empty, draining, noRoutes]) (dp as DpBinding).dpFree(handle);
    }
  });

  it('backups take requests only when no other backend can', () => {
    const handle = decode(encodeSnapshot(input({ apps: [{ name: 'a', policy: 'round-robin' }], backends: [backend(1, 'a'), backend(2, 'a', { backup: true }), backend(3, 'a')] })));
    try {
      assert.deepEqual([1, 2, 3, 4].map(() => pick(handle, undefined, '/').slot), [1, 3, 1, 3]);
      assert.equal(pick(handle, undefined, '/', [1, 3]).slot, 2);
    } finally {
      (dp as DpBinding).dpFree(handle);
    }
  });

  it('a new snapshot keeps the counts and the rotation going', () => {
    const one = encodeSnapshot(input({ apps: [{ name: 'a', policy: 'round-robin' }], backends: [backend(1, 'a'), backend(2, 'a'), backend(3, 'a')] }));
    const handle = decode(one);
    try {
      assert.equal(pick(handle, undefined, '/').slot, 1);
      const two = encodeSnapshot(input({ serial: 2, apps: [{ name: 'a', policy: 'round-robin' }], backends: [backend(1, 'a'), backend(2, 'a', { draining: true }), backend(3, 'a')] }));
      assert.equal((dp as DpBinding).dpSwap(handle, two), 0);
      assert.deepEqual([0, 1, 2].map(() => pick(handle, undefined, '/').slot), [3, 1, 3]);
    } finally {
      (dp as DpBinding).dpFree(handle);
    }
  });
});

describe('data-plane snapshot: the decoder refuses hostile buffers', { skip }, () => {
  const valid = encodeSnapshot(
    input({
      apps: [{ name: 'a', policy: 'weighted-round-robin' }, { name: 'b', policy: 'round-robin' }],
      backends: [backend(1, 'a', { weight: 3 }), backend(2, 'a'), backend(3, 'b', { address: '::1' })],
      routes: [
        { app: 'a', path: '/a', host: 'x.example', weight: 2, strip: true, series: 1 },
        { app: 'b', path: '/a', host: 'x.example', weight: 1, strip: false, series: 2 },
        { app: 'b', path: '/', host: undefined, weight: 1, strip: false, series: 3 },
      ],
    }),
  );
  const words = (buffer: Uint8Array) => new Int32Array(buffer.buffer, buffer.byteOffset, (buffer.byteLength - new Int32Array(buffer.buffer, buffer.byteOffset, K.DP_HEADER_WORDS)[K.DP_H_STRING_BYTES]!) / 4);
  const mutated = (change: (w: Int32Array) => void): Uint8Array => {
    const copy = valid.slice();
    change(words(copy));
    return copy;
  };
  const header = words(valid);
  const backendWord = (i: number, field: number) => (header[K.DP_H_BACKEND_AT] as number) + i * K.DP_BACKEND_WORDS + field;
  const appWord = (i: number, field: number) => (header[K.DP_H_APP_AT] as number) + i * K.DP_APP_WORDS + field;
  const groupWord = (i: number, field: number) => (header[K.DP_H_GROUP_AT] as number) + i * K.DP_GROUP_WORDS + field;

  const refused = (what: string, buffer: Uint8Array, errno = EINVAL) =>
    it(`${what}: errno ${errno}`, () => {
      assert.equal((dp as DpBinding).dpDecode(buffer), -errno);
    });

  it('the valid one decodes', () => (dp as DpBinding).dpFree(decode(valid)));
  refused('empty', new Uint8Array(0));
  refused('truncated', valid.subarray(0, valid.length - 1));
  refused('a byte too many', Uint8Array.from([...valid, 0]));
  refused('bad magic', mutated((w) => (w[K.DP_H_MAGIC] = 0)));
  refused('another version', mutated((w) => (w[K.DP_H_VERSION] = 2)), EPROTO);
  refused('a table past the end', mutated((w) => (w[K.DP_H_ROUTE_AT] = (w[K.DP_H_WORDS] as number) - 1)));
  refused('a count past a limit', mutated((w) => (w[K.DP_H_BACKEND_COUNT] = K.DP_MAX_BACKENDS + 1)), 7 /* E2BIG */);
  refused('a negative count', mutated((w) => (w[K.DP_H_APP_COUNT] = -1)));
  refused('a slot twice', mutated((w) => (w[backendWord(1, K.DP_B_SLOT)] = 1)));
  refused('a slot past the limit', mutated((w) => (w[backendWord(0, K.DP_B_SLOT)] = K.DP_MAX_SLOT + 1)));
  refused('an address out of the string area', mutated((w) => (w[backendWord(0, K.DP_B_ADDR_AT)] = 2 ** 31 - 2)));
  refused('an address that is no address', mutated((w) => (w[backendWord(0, K.DP_B_ADDR_LEN)] = 3)));
  refused('port 0', mutated((w) => (w[backendWord(0, K.DP_B_PORT)] = 0)));
  refused('an unknown flag', mutated((w) => (w[backendWord(0, K.DP_B_FLAGS)] = 8)));
  refused('a backend of no app', mutated((w) => (w[backendWord(0, K.DP_B_APP)] = 9)));
  refused('a member of another app', mutated((w) => (w[appWord(1, K.DP_A_MEMBER_FIRST)] = 0)));
  refused('a schedule entry out of range', mutated((w) => (w[(header[K.DP_H_LIST_AT] as number) + 2] = 7)));
  refused('an unknown policy', mutated((w) => (w[appWord(0, K.DP_A_POLICY)] = 9)));
  refused(
    'groups out of match order (a shorter prefix first)',
    mutated((w) => {
      w[groupWord(0, K.DP_G_PATH_LEN)] = 1; // '/' (of '/a')
      w[groupWord(1, K.DP_G_PATH_AT)] = w[groupWord(0, K.DP_G_PATH_AT)] as number;
      w[groupWord(1, K.DP_G_PATH_LEN)] = 2; // '/a'
    }),
  );
  refused('a group with no route', mutated((w) => (w[groupWord(0, K.DP_G_ROUTE_COUNT)] = 0)));
  refused('several apps without the routed flag', mutated((w) => (w[K.DP_H_FLAGS] = 0)));
  refused('an unknown flag in the header', mutated((w) => (w[K.DP_H_FLAGS] = 3)));

  it('random corruption: refused or decoded, never a crash', () => {
    const random = seededRandom(99);
    for (let i = 0; i < 3000; i++) {
      const copy = valid.slice();
      const view = new DataView(copy.buffer);
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) {
        const at = Math.floor(random() * (copy.length - 3)) & ~3;
        view.setInt32(at, random() < 0.5 ? Math.floor(random() * 64) - 8 : Math.floor(random() * 2 ** 32) | 0, true);
      }
      const handle = (dp as DpBinding).dpDecode(copy);
      if (handle >= 0) {
        for (const path of ['/', '/a', '/a/b']) pick(handle, 'x.example', path, [1]);
        (dp as DpBinding).dpFree(handle);
      } else {
        assert.ok([EINVAL, EPROTO, 7].includes(-handle), `errno ${-handle}`);
      }
    }
  });
});
