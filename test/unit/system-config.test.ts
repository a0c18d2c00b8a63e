// The system file (SPEC §8): what a good file becomes, and a table of bad files,
// each refused with one line that names the key (or the apps) and the line.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { buildSystem, findCycle } from '../../src/system-config.js';

const dir = mkdtempSync(join(tmpdir(), 'supervise-system-'));
mkdirSync(join(dir, 'web'));
writeFileSync(join(dir, 'web', 'app.js'), '');
after(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string, flags: Record<string, unknown> = {}, name = 'supervise.yaml') {
  const file = join(dir, name);
  writeFileSync(file, text);
  return buildSystem({ flags, positional: [], command: undefined, configFile: file, cwd: tmpdir(), stdoutIsTTY: false });
}

const GOOD = `
control: ./s.sock
front: { port: 18080 }
defaults: { health: /healthz, kill-timeout: 5s }
apps:
  users:
    command: [uvicorn, main:app, --port, "{port}"]
    cwd: services/users
    workers: 3
    base-port: 18000
    route: /users/
    env: { DATABASE_URL: "sqlite:///\${SUPERVISE_TEST_DB}", MODE: "\${SUPERVISE_UNSET:-dev}" }
  orders:
    command: uvicorn main:app --port {port}
    workers: 2
    baseport: 18100
    route: { path: /orders, weight: 9, strip: true }
    depends-on: [users]
    weights: [3, 1]
  web:
    script: web/app.js
    workers: 2
    port: 13000
`;

describe('system file', () => {
  it('builds one AppConfig per app, defaults < flags < the app\'s keys, paths from the file\'s folder', () => {
    process.env['SUPERVISE_TEST_DB'] = 'users.db';
    const system = load(GOOD.replace('baseport', 'basePort'), { workers: '1', killTimeout: '7s' });
    assert.equal(system.file, join(dir, 'supervise.yaml'));
    assert.equal(system.control, join(dir, 's.sock'));
    assert.deepEqual(system.front, { port: 18080, host: '127.0.0.1' });
    assert.deepEqual(system.apps.map((app) => app.name), ['users', 'orders', 'web']);
    const [users, orders, web] = system.apps;
    assert.ok(users && orders && web);
    assert.equal(users.mode, 'spawn');
    assert.equal(users.workers, 3, 'the app\'s key wins over a flag');
    assert.equal(users.killTimeoutMs, 7000, 'a flag wins over defaults:');
    assert.equal(users.health.path, '/healthz');
    assert.equal(users.cwd, join(dir, 'services', 'users'));
    assert.deepEqual(users.env, { DATABASE_URL: 'sqlite:///users.db', MODE: 'dev' });
    assert.deepEqual(users.routes, [{ path: '/users', host: undefined, weight: 1, strip: false }]);
    assert.deepEqual(orders.args, ['uvicorn', 'main:app', '--port', '{port}']);
    assert.deepEqual(orders.routes, [{ path: '/orders', host: undefined, weight: 9, strip: true }]);
    assert.deepEqual(orders.dependsOn, ['users']);
    assert.deepEqual(orders.weights, [3, 1]);
    assert.equal(web.mode, 'cluster');
    assert.equal(web.script, join(dir, 'web', 'app.js'));
    assert.equal(web.port, 13000);
  });

  it('autoscale: the HPA\'s defaults (period 15s, windows 0s up and 300s down), durations as written', () => {
    const [a] = load(`apps:\n  a:\n    command: [srv]\n    autoscale: {min: 1, max: 4, rps: 200, inflight: 8, period: 2s, scaleDownWindow: 1m}\n`).apps;
    assert.deepEqual(a?.autoscale, { min: 1, max: 4, rps: 200, inflight: 8, periodMs: 2000, scaleUpWindowMs: 0, scaleDownWindowMs: 60_000 });
    const [b] = load(`apps:\n  b:\n    command: [srv]\n    autoscale: {min: 2, max: 16, cpu: 70}\n`).apps;
    assert.deepEqual(b?.autoscale, { min: 2, max: 16, cpu: 70, periodMs: 15_000, scaleUpWindowMs: 0, scaleDownWindowMs: 300_000 });
  });

  it('a command line is a system of one app named after its command (or --name)', () => {
    const cli = (flags: Record<string, unknown>) =>
      buildSystem({ flags, positional: [], command: ['/usr/bin/uvicorn', 'main:app'], configFile: undefined, cwd: dir, stdoutIsTTY: false });
    assert.deepEqual(cli({}).apps.map((app) => app.name), ['uvicorn']);
    assert.deepEqual(cli({ name: 'api' }).apps.map((app) => app.name), ['api']);
    assert.equal(cli({}).file, undefined);
  });

  const app = (extra: string, name = 'a', base = 18000) => `  ${name}:\n    command: [srv, "{port}"]\n    base-port: ${base}\n    proxy: none\n${extra}`;
  const bad: Array<[string, string, RegExp]> = [
    ['not YAML', 'apps: {a: [', /supervise\.yaml is not valid \(line 1\)/],
    ['a duplicate key', `apps:\n${app('')}\n${app('')}`, /is not valid \(line \d\): Map keys must be unique/],
    ['an unknown top-level key', `apps:\n${app('')}\nfrontend: {port: 1}`, /"frontend" in .*supervise\.yaml \(line 7\): unknown setting "frontend"; a system file has .* Did you mean "front"\?/],
    ['an unknown app key', `apps:\n${app('    workerz: 2')}`, /"apps\.a\.workerz" in .*\(line 6\): unknown setting "workerz"\. Did you mean "workers"\?/],
    ['a misspelled default', `defaults: {base-prot: 9000}\napps:\n${app('')}`, /"defaults\.base-prot" in .*\(line 1\): unknown setting "base-prot"\. Did you mean "base-port"\?/],
    ['a key nothing is close to', `apps:\n${app('    zzzzzzzz: 1')}`, /unknown setting "zzzzzzzz"\.$/],
    ['workers out of range', `apps:\n${app('    workers: 0')}`, /"apps\.a\.workers" in .*\(line 6\) must be an integer from 1 to 1024 \(got 0\)/],
    ['a bad default', `defaults: {kill-timeout: soon}\napps:\n${app('')}`, /"defaults\.kill-timeout" in .*\(line 1\) must be a duration/],
    ['a system key in an app', `apps:\n${app('    control: x.sock')}`, /"apps\.a\.control" in .*\(line 6\): unknown setting/],
    ['neither script nor command', 'apps:\n  a:\n    workers: 2\n', /"apps\.a" in .*\(line 3\): needs a script \(cluster mode\) or a command/],
    ['a bad app name', `apps:\n${app('', 'Users')}`, /"apps\.Users" in .*: app name must match/],
    ['empty apps', 'apps: {}\n', /"apps" in .* must map app names/],
    ['a route without a front', `apps:\n  a:\n    command: [srv]\n    route: /a\n`, /app "a" has a route but the file has no front:/],
    ['a route path without /', `front: {port: 0}\napps:\n  a:\n    command: [srv]\n    route: users\n`, /"apps\.a\.route" in .*\(line 5\): path must start with \/ \(got "users"\)/],
    ['a bad route weight', `front: {port: 0}\napps:\n  a:\n    command: [srv]\n    route: {path: /a, weight: 0}\n`, /weight must be an integer from 1 to 1000 \(got 0\)/],
    ['a routed app with its own port', `front: {port: 0}\napps:\n  a:\n    command: [srv]\n    port: 9999\n    route: /a\n`, /app "a" has a route, so the shared front serves it/],
    ['an unknown dependency', `apps:\n${app('    depends-on: [b]')}`, /depends-on names "b", which is not an app/],
    ['a depends-on cycle', `apps:\n${app('    depends-on: [b]')}\n${app('    depends-on: [a]', 'b', 18100)}`, /supervise\.yaml \(line \d+\): depends-on makes a cycle: a -> b -> a/],
    ['overlapping port ranges', `apps:\n${app('    workers: 3')}\n${app('    workers: 2', 'b', 18003)}`, /app "a" \(ports 18000–18003, line 4\) and app "b" \(ports 18003–18005, line 9\) overlap/],
    ['an app on the front\'s port', `front: {port: 18001}\napps:\n${app('    workers: 2')}`, /front \(ports 18001, line 1\) and app "a" \(ports 18000–18002, line 5\) overlap/],
    ['an unset variable', `apps:\n${app('    env: {DB: "${SUPERVISE_SURELY_UNSET}"}')}`, /"apps\.a\.env" in .*: DB: \$\{SUPERVISE_SURELY_UNSET\} is not set/],
    ['bad weights', `apps:\n${app('    weights: [1, 0]')}`, /"apps\.a\.weights" in .* must be a list of integers from 1 to 1000/],
    ['a missing script', 'apps:\n  a:\n    script: nope.js\n', /script not found: .*nope\.js/],
    ['overlapping ports up to autoscale\'s max', `apps:\n${app('    autoscale: {min: 1, max: 4, cpu: 50}')}\n${app('', 'b', 18003)}`, /app "a" \(ports 18000–18004, line \d+\) and app "b" \(ports 18003–18005, line \d+\) overlap/],
    ['autoscale with min above max', `apps:\n${app('    autoscale:\n      min: 4\n      max: 2\n      cpu: 50')}`, /"apps\.a\.autoscale\.max" in .*\(line 8\) must be at least min \(4\); got 2/],
    ['autoscale with a target of 0', `apps:\n${app('    autoscale: {min: 1, max: 2, rps: 0}')}`, /"apps\.a\.autoscale\.rps" in .*\(line 6\) must be a target above 0 \(requests per second per worker\); got 0/],
    ['autoscale with a negative cpu', `apps:\n${app('    autoscale:\n      min: 1\n      max: 2\n      cpu: -5')}`, /"apps\.a\.autoscale\.cpu" in .*\(line 9\) must be a target above 0/],
    ['autoscale with an unknown metric', `apps:\n${app('    autoscale:\n      min: 1\n      max: 2\n      memory: 50')}`, /"apps\.a\.autoscale\.memory" in .*\(line 9\): unknown key "memory"; autoscale has min, max, cpu, rps, inflight, period/],
    ['autoscale without a target', `apps:\n${app('    autoscale: {min: 1, max: 2}')}`, /"apps\.a\.autoscale" in .*\(line 6\) needs a target: cpu/],
    ['autoscale with a bad window', `defaults:\n  autoscale: {min: 1, max: 2, cpu: 50, scale-down-window: soon}\napps:\n${app('')}`, /"defaults\.autoscale\.scale-down-window" in .*\(line 2\) must be a duration/],
    ['autoscale with a period below 500ms', `apps:\n${app('    autoscale: {min: 1, max: 2, cpu: 50, period: 10ms}')}`, /"apps\.a\.autoscale\.period" in .*\(line 6\) must be a duration from 500ms/],
    ['an upstream port out of range', `front: {port: 0}\napps:\n  a:\n    route: /a\n    upstreams:\n      - 10.0.0.1:8000\n      - 10.0.0.2:70000\n`, /"apps\.a\.upstreams\.1" in .*\(line 7\): port must be from 1 to 65535 \(got 70000/],
    ['an upstream without a port', `front: {port: 0}\napps:\n  a:\n    route: /a\n    upstreams: [api.internal]\n`, /"apps\.a\.upstreams\.0" in .*\(line 5\): must be host:port/],
    ['a srv that is not a SRV name', `front: {port: 0}\napps:\n  a:\n    route: /a\n    upstreams:\n      - {srv: api.service.consul}\n`, /"apps\.a\.upstreams\.0" in .*\(line 6\): srv must be a SRV name _service\._proto\.domain/],
    ['a bad upstream weight', `front: {port: 0}\napps:\n  a:\n    route: /a\n    upstreams:\n      - {server: 10.0.0.1:80, weight: 0}\n`, /"apps\.a\.upstreams\.0" in .*\(line 6\): weight must be an integer from 1 to 1000 \(got 0\)/],
    ['an unknown upstream key', `front: {port: 0}\napps:\n  a:\n    route: /a\n    upstreams:\n      - {server: 10.0.0.1:80, wieght: 2}\n`, /unknown key "wieght"; an upstream has server \(or srv\), weight, backup/],
    ['upstreams with no front to go through', `apps:\n  a:\n    proxy: none\n    upstreams: [10.0.0.1:80]\n`, /"apps\.a" in .*: remote servers need a front/],
    ['a resolver that is not an address', `resolvers: [dns.example]\nfront: {port: 0}\napps:\n  a:\n    route: /a\n    upstreams: [10.0.0.1:80]\n`, /"resolvers" in .*\(line 1\): "dns\.example" is not a DNS server address/],
  ];
  for (const [name, text, message] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => load(text), (error: unknown) => {
        assert.ok(error instanceof UsageError, `a UsageError, got ${String(error)}`);
        assert.match(error.message, message);
        assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
        return true;
      });
    });
  }

  it('reads upstreams: servers, weights, backups and SRV names; an app of remote servers has no workers', () => {
    const system = load(
      'resolvers: ["127.0.0.1:5353"]\nfront: {port: 0}\napps:\n  api:\n    route: /api\n    max-fails: 3\n    fail-timeout: 5s\n    upstreams:\n' +
        '      - 10.0.0.11:8000\n      - {server: API-2.internal:8000, weight: 5}\n      - {server: "[::1]:8000", backup: true}\n      - {srv: _api._tcp.service.consul}\n' +
        '  both:\n    command: [srv, "{port}"]\n    base-port: 18000\n    route: /both\n    upstreams: [10.0.0.12:8000]\n',
    );
    const [api, both] = system.apps;
    assert.ok(api && both);
    assert.deepEqual(system.resolvers, ['127.0.0.1:5353']);
    assert.equal(api.workers, 0);
    assert.equal(api.maxFails, 3);
    assert.equal(api.failTimeoutMs, 5000);
    assert.equal(api.balance, 'weighted-round-robin', 'weights count');
    assert.deepEqual(api.upstreams.map(({ where: _where, ...spec }) => spec), [
      { kind: 'server', host: '10.0.0.11', port: 8000, weight: 1, backup: false },
      { kind: 'server', host: 'api-2.internal', port: 8000, weight: 5, backup: false },
      { kind: 'server', host: '::1', port: 8000, weight: 1, backup: true },
      { kind: 'srv', name: '_api._tcp.service.consul', backup: false },
    ]);
    assert.match(api.upstreams[1]?.where ?? '', /"apps\.api\.upstreams\.1" in .*\(line 10\)/);
    assert.equal(both.workers > 0, true, 'its own workers plus remote servers');
    assert.equal(both.upstreams.length, 1);
  });

  it('--upstream without a command is a balancer alone', () => {
    const system = buildSystem({
      flags: { upstream: ['10.0.0.1:8000,weight=5', '10.0.0.2:8000,backup'], proxy: 'http' }, positional: [], command: undefined, configFile: undefined, cwd: dir, stdoutIsTTY: false,
    });
    const [only] = system.apps;
    assert.equal(only?.workers, 0);
    assert.deepEqual(only?.upstreams.map((spec) => (spec.kind === 'server' ? [spec.host, spec.port, spec.weight, spec.backup] : [])), [['10.0.0.1', 8000, 5, false], ['10.0.0.2', 8000, 1, true]]);
    assert.throws(
      () => buildSystem({ flags: { upstream: ['10.0.0.1:0'], proxy: 'http' }, positional: [], command: undefined, configFile: undefined, cwd: dir, stdoutIsTTY: false }),
      /^UsageError: --upstream 10\.0\.0\.1:0: port must be from 1 to 65535/,
    );
  });

  it('reads JSON the same way, with lines', () => {
    assert.throws(() => load('{\n  "apps": {\n    "a": {"command": ["srv"], "workers": 5000}\n  }\n}\n', {}, 's.json'), /"apps\.a\.workers" in .*s\.json \(line 3\) must be an integer/);
  });

  it('finds the apps of a cycle', () => {
    const apps = [{ name: 'a', dependsOn: ['b'] }, { name: 'b', dependsOn: ['c'] }, { name: 'c', dependsOn: ['b'] }];
    assert.deepEqual(findCycle(apps), ['b', 'c', 'b']);
    assert.equal(findCycle([{ name: 'a', dependsOn: [] }, { name: 'b', dependsOn: ['a'] }]), undefined);
  });
});
