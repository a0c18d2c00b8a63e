// Pure pieces of events, logs and request metrics: event lines as ctl prints them,
// the /logs query, the request counters as Prometheus text, quantiles from buckets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEventLine } from '../../src/cli/events-format.js';
import { formatLogLine } from '../../src/cli/logs-format.js';
import { validateLogsQuery } from '../../src/control/handlers.js';
import { quantileMs, renderRequestMetrics, totalsByApp } from '../../src/control/request-metrics.js';
import { Ring } from '../../src/logs/ring.js';

describe('ctl events lines', () => {
  const at = '2026-01-02T03:04:05.678Z';
  it('a crash names the worker, the exit and the stderr lines, indented', () => {
    const line = JSON.stringify({ time: at, app: 'web', type: 'worker-exit', id: 3, slot: 1, pid: 42, code: 1, signal: null, expected: false, reason: 'exited with code 1; last stderr:\nboom' });
    assert.equal(formatEventLine(line), '03:04:05.678 web  worker 1 (pid 42) crashed: exited with code 1; last stderr:\n    boom');
  });
  it('a normal stop prints no "last stderr:", even when the worker wrote some', () => {
    const line = JSON.stringify({ time: at, app: 'web', type: 'worker-exit', id: 3, slot: 1, pid: 42, code: 0, signal: null, expected: true, reason: 'exited with code 0; last stderr:\nshutting down' });
    assert.equal(formatEventLine(line), '03:04:05.678 web  worker 1 (pid 42) stopped (exited with code 0)');
    const bare = JSON.stringify({ time: at, app: 'web', type: 'worker-exit', id: 3, slot: 1, pid: 42, code: 1, signal: null, expected: false, reason: 'exited with code 1; last stderr:\n' });
    assert.equal(formatEventLine(bare), '03:04:05.678 web  worker 1 (pid 42) crashed: exited with code 1');
  });
  it('TLS certificate events name the file: renewed, refused (the old one stays), expired', () => {
    const show = (event: object) => formatEventLine(JSON.stringify({ time: at, app: 'front', ...event })).slice(13);
    assert.equal(show({ type: 'tls', change: 'renewed', file: '/c/www.pem', serial: '1A', notAfter: '2027-01-01T00:00:00.000Z' }), 'front  TLS certificate /c/www.pem loaded: serial 1A, expires 2027-01-01T00:00:00.000Z');
    assert.equal(show({ type: 'tls', change: 'failed', file: '/c/www.key', reason: 'this key does not belong to the certificate /c/www.pem' }), 'front  TLS certificate renewal refused, the previous one stays: /c/www.key: this key does not belong to the certificate /c/www.pem');
    assert.equal(show({ type: 'tls', change: 'expired', file: '/c/old.pem', notAfter: '2026-01-01T00:00:00.000Z' }), 'front  TLS certificate /c/old.pem expired on 2026-01-01T00:00:00.000Z: renew it');
  });
  it('reloads, scale and health read as sentences; unknown types keep their JSON', () => {
    const show = (event: object) => formatEventLine(JSON.stringify({ time: at, app: 'web', ...event })).slice(13);
    assert.equal(show({ type: 'reload', ok: false, generation: 3, error: 'reload aborted at slot 0' }), 'web  reload aborted: reload aborted at slot 0');
    assert.equal(show({ type: 'scale', from: 2, to: 5 }), 'web  scale 2 -> 5 workers');
    assert.equal(show({ type: 'autoscale', from: 1, to: 4, reason: 'cpu 95 % for target 50 %: recommends 4' }), 'web  autoscale 1 -> 4 workers: cpu 95 % for target 50 %: recommends 4');
    assert.equal(show({ type: 'autoscale', from: 4, to: 4, reason: 'rps 10 req/s for target 50 req/s: recommends 1; held at 4 by the scale-down window (300s)' }), 'web  autoscale: stays at 4 workers: rps 10 req/s for target 50 req/s: recommends 1; held at 4 by the scale-down window (300s)');
    assert.equal(show({ type: 'health', id: 1, slot: 0, healthy: false, reason: 'HTTP 503' }), 'web  worker 0 unhealthy: out of rotation (HTTP 503)');
    assert.equal(show({ type: 'future', x: 1 }), 'web  {"type":"future","x":1}');
  });
});

describe('ctl logs lines', () => {
  it('prefix with app, slot, pid and stderr; a continued part is marked', () => {
    const record = { time: 'x', app: 'web', slot: 2, pid: 9, generation: 1, stream: 'stderr', msg: 'oops' };
    assert.equal(formatLogLine(JSON.stringify(record), true), '[web w2 9 stderr] oops');
    assert.equal(formatLogLine(JSON.stringify({ ...record, stream: 'stdout', continued: true }), false), '[w2 9] oops …');
  });
});

describe('/logs query', () => {
  it('defaults, and errors that name the parameter', () => {
    assert.deepEqual(validateLogsQuery(new URLSearchParams(''), ['web']), { app: undefined, lines: 100, follow: false });
    assert.deepEqual(validateLogsQuery(new URLSearchParams('app=web&n=5&follow=1'), ['web']), { app: 'web', lines: 5, follow: true });
    assert.match(validateLogsQuery(new URLSearchParams('app=api'), ['web']) as string, /no app named "api"; apps: web/);
    assert.match(validateLogsQuery(new URLSearchParams('n=-1'), ['web']) as string, /^n must be a whole number/);
    assert.match(validateLogsQuery(new URLSearchParams('tail=3'), ['web']) as string, /unknown query parameter "tail"/);
  });
});

describe('request metrics', () => {
  it('sums backends per app and route as counters by class and a cumulative histogram in seconds', () => {
    const stats = [
      { id: 1, route: '/', classes: [0, 5, 0, 1, 2], buckets: [3, 5, 8, 8, 8, 8, 8, 8, 8, 8, 8], sum: 40, count: 8 },
      { id: 2, route: '/', classes: [0, 2, 0, 0, 0], buckets: [0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2], sum: 700, count: 2 },
      { id: 9, route: '/', classes: [0, 100, 0, 0, 0], buckets: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100], sum: 1, count: 100 },
    ];
    const text = renderRequestMetrics(stats, (id) => (id === 9 ? undefined : 'web'));
    assert.match(text, /^supervise_http_requests_total\{app="web",route="\/",class="2xx"\} 7$/m);
    assert.match(text, /^supervise_http_requests_total\{app="web",route="\/",class="5xx"\} 2$/m);
    assert.match(text, /^supervise_http_request_duration_seconds_bucket\{app="web",route="\/",le="0.005"\} 3$/m);
    assert.match(text, /^supervise_http_request_duration_seconds_bucket\{app="web",route="\/",le="0.25"\} 9$/m);
    assert.match(text, /^supervise_http_request_duration_seconds_bucket\{app="web",route="\/",le="\+Inf"\} 10$/m);
    assert.match(text, /^supervise_http_request_duration_seconds_sum\{app="web",route="\/"\} 0.74$/m);
    assert.doesNotMatch(text, /100/, 'a backend of no known app is left out');
    assert.equal(renderRequestMetrics([], () => 'web'), '');
  });
  it('keeps routes apart in the series, adds them up per app for status; the routing front names the app itself', () => {
    const one = (id: number, route: string, ok: number, app?: string) => ({ id, route, app, classes: [0, ok, 0, 0, 0], buckets: Array(11).fill(ok), sum: ok, count: ok });
    // Backend 1 served two routes; backend 3 is not a worker (a routed cluster app's port), only its route knows the app.
    const stats = [one(1, '/users', 3, 'users'), one(1, 'api.example.com/users', 4, 'users'), one(2, '/users', 5, 'users'), one(3, '/web', 6, 'web')];
    const text = renderRequestMetrics(stats, () => undefined);
    assert.match(text, /^supervise_http_requests_total\{app="users",route="\/users",class="2xx"\} 8$/m);
    assert.match(text, /^supervise_http_requests_total\{app="users",route="api.example.com\/users",class="2xx"\} 4$/m);
    assert.match(text, /^supervise_http_request_duration_seconds_count\{app="web",route="\/web"\} 6$/m);
    const totals = totalsByApp(stats, () => undefined);
    assert.deepEqual([...totals].map(([app, t]) => [app, t.count, t.classes[1]]), [['users', 12, 12], ['web', 6, 6]]);
  });
  it('p99 is the first bucket bound that holds 99 % of the requests', () => {
    assert.equal(quantileMs([0, 0, 0, 0, 99, 99, 100, 100, 100, 100, 100], 100, 0.99), 100);
    assert.equal(quantileMs([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 5, 0.99), Infinity);
    assert.equal(quantileMs([], 0, 0.99), undefined);
  });
});

describe('log ring', () => {
  it('keeps the newest items within a count and a size', () => {
    const ring = new Ring<string>(3, 10, (s) => s.length);
    for (const item of ['aa', 'bb', 'cc', 'dd']) ring.push(item);
    assert.deepEqual(ring.last(10), ['bb', 'cc', 'dd']);
    ring.push('eeeeeeee');
    assert.deepEqual(ring.last(10), ['dd', 'eeeeeeee']);
    ring.push('x'.repeat(50));
    assert.deepEqual(ring.last(10), ['x'.repeat(50)], 'the latest item is kept even when larger than the budget');
  });
});
