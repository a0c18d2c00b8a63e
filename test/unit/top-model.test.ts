// The top view as a pure function: what a status (and two of them) look like,
// at a given terminal size.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppStatus, SystemStatus } from '../../src/core/system-api.js';
import { applyEvent, applyStatus, initialState, moveSelection, render, selection, sparkline } from '../../src/cli/top-model.js';
import { makeWorker } from '../helpers/fake-supervisor.js';

function app(name: string, workers: number, extra: Partial<AppStatus> = {}): AppStatus {
  return {
    name, pid: 1, mode: 'spawn', port: 8080, desired: workers, generation: 1, reloading: false, front: { kind: 'http', dataPath: 'javascript' },
    workers: Array.from({ length: workers }, (_, slot) => makeWorker(slot)),
    ...extra,
  };
}

const buckets = (fast: number, slow: number) => [fast, fast, fast, fast, fast, fast + slow, fast + slow, fast + slow, fast + slow, fast + slow, fast + slow];

describe('top view', () => {
  it('shows each app with ready/desired, generation, req/s, errors and p99 from two statuses', () => {
    const state = initialState();
    const requests = (count: number, errors: number, slow: number) => ({ count, classes: [0, count - errors, 0, 0, errors], buckets: buckets(count - slow, slow), sum: 0 });
    applyStatus(state, { pid: 7, apps: [app('api', 2, { requests: requests(100, 0, 0) }), app('web', 1)] }, 1000);
    applyStatus(state, { pid: 7, apps: [app('api', 2, { requests: requests(300, 20, 10) }), app('web', 1)] }, 3000);
    const lines = render(state, { columns: 120, rows: 30 });
    assert.match(lines[0] ?? '', /^supervise top {2}pid 7 {2}2 apps/);
    const api = lines.find((line) => line.startsWith('api'));
    // 200 requests in 2 s; 20 errors; 10 of the 200 above 100 ms and within 250 ms: p99 ≤ 250 ms.
    assert.deepEqual(api?.split(/\s+/).slice(0, 7), ['api', '2/2', '1', '100', '10.0', '≤250ms', '█']);
    assert.deepEqual(lines.find((line) => line.startsWith('web'))?.split(/\s+/).slice(0, 6), ['web', '1/1', '1', '-', '-', '-']);
    assert.equal(lines.filter((line) => /^[ >] +(api|web) +\d /.test(line)).length, 3);
  });

  it('lists remote servers with their state and whether they take traffic', () => {
    const state = initialState();
    const servers = [
      { id: 9, server: '10.0.0.11:8000', origin: '10.0.0.11:8000', weight: 5, backup: false, state: 'ejected' as const, inRotation: false, connections: 0, total: 40 },
      { id: 10, server: '10.0.0.19:8000', origin: '10.0.0.19:8000', weight: 1, backup: true, state: 'up' as const, inRotation: true, connections: 2, total: 3 },
    ];
    applyStatus(state, { pid: 7, apps: [app('users', 0, { servers })] }, 1000);
    const lines = render(state, { columns: 120, rows: 30 });
    assert.ok(lines.some((line) => /^APP +SERVER +WEIGHT +STATE +ROTATION +CONNS/.test(line)), lines.join('\n'));
    assert.deepEqual(lines.find((line) => line.includes('10.0.0.11'))?.split(/\s+/), ['users', '10.0.0.11:8000', '5', 'ejected', 'out', '0']);
    assert.deepEqual(lines.find((line) => line.includes('10.0.0.19'))?.split(/\s+/), ['users', '10.0.0.19:8000', '1', 'backup', 'up', 'in', '2']);
  });

  it('fits the terminal: no line wider, no more lines than it has; the selected worker stays in view', () => {
    const state = initialState();
    applyStatus(state, { pid: 7, apps: [app('big', 40)] }, 0);
    moveSelection(state, 35);
    for (let i = 0; i < 60; i++) applyEvent(state, JSON.stringify({ time: new Date(0).toISOString(), app: 'big', type: 'scale', from: i, to: i + 1 }));
    const lines = render(state, { columns: 50, rows: 20 });
    assert.equal(lines.length, 20);
    assert.ok(lines.every((line) => [...line].length <= 50));
    assert.ok(lines.some((line) => /^> +big +35 /.test(line)), lines.join('\n'));
    assert.deepEqual(selection(state), { app: 'big', slot: 35 });
    moveSelection(state, 100);
    assert.deepEqual(selection(state), { app: 'big', slot: 39 });
  });

  it('says when the supervisor cannot be read, and shows the generation the workers run', () => {
    const state = initialState();
    state.error = 'no supervisor answers on /x.sock';
    assert.match(render(state, { columns: 80, rows: 10 }).join('\n'), /cannot read the supervisor: no supervisor answers/);
    const aborted: SystemStatus = { pid: 7, apps: [app('api', 2, { generation: 3, workers: [makeWorker(0, { generation: 2 })] })] };
    applyStatus(state, aborted, 0);
    assert.match(render(state, { columns: 120, rows: 20 }).join('\n'), /api +1\/2 +2 +\(reload to 3 aborted\)/);
  });

  it('an autoscaled app: its metric, target and last decision under the apps', () => {
    const state = initialState();
    const autoscale = {
      min: 1, max: 4, metrics: [{ metric: 'rps', value: 240, target: 200 }],
      last: { at: new Date(10_000).toISOString(), from: 2, to: 3, reason: 'rps 240 req/s for target 200 req/s: recommends 3' },
    };
    applyStatus(state, { pid: 7, apps: [app('api', 3, { autoscale }), app('web', 1)] }, 0);
    const lines = render(state, { columns: 160, rows: 30 }, new Date(15_000));
    assert.ok(lines.includes('api  autoscale 1…4: rps 240 / 200  last: 2 → 3, 5s ago: rps 240 req/s for target 200 req/s: recommends 3'), lines.join('\n'));
    assert.equal(lines.filter((line) => line.includes('autoscale')).length, 1, 'web is not autoscaled');
  });

  it('sparklines scale to the largest value, or to a floor', () => {
    assert.equal(sparkline([0, 5, 10]), '▁▅█');
    assert.equal(sparkline([1, 1], 10), '▂▂');
    assert.equal(sparkline([]), '');
  });
});
