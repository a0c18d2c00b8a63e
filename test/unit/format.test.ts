import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatDuration, formatPercent, formatStatus, formatTable } from '../../src/cli/format.js';
import type { SupervisorStatus } from '../../src/core/types.js';
import { makeWorker } from '../helpers/fake-supervisor.js';

describe('formatBytes', () => {
  const cases: Array<[number, string]> = [
    [0, '0 B'],
    [512, '512 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [47_290_777, '45.1 MiB'],
    [1024 * 1024 - 1, '1.0 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
    [3 * 1024 ** 4, '3.0 TiB'],
    [-1, '-'],
    [Number.NaN, '-'],
  ];
  for (const [bytes, expected] of cases) {
    it(`${bytes} → ${expected}`, () => assert.equal(formatBytes(bytes), expected));
  }
});

describe('formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [999, '0s'],
    [35_000, '35s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [245_000, '4m05s'],
    [3_720_000, '1h02m'],
    [86_399_000, '23h59m'],
    [273_600_000, '3d04h'],
    [-5, '-'],
  ];
  for (const [ms, expected] of cases) {
    it(`${ms} ms → ${expected}`, () => assert.equal(formatDuration(ms), expected));
  }
});

describe('formatPercent', () => {
  it('shows one decimal and a percent sign', () => {
    assert.equal(formatPercent(3.24), '3.2%');
    assert.equal(formatPercent(0), '0.0%');
    assert.equal(formatPercent(250), '250.0%');
    assert.equal(formatPercent(Number.NaN), '-');
  });
});

describe('formatTable', () => {
  it('pads columns to the widest cell, right-aligns numbers, leaves no trailing spaces', () => {
    const table = formatTable(
      [{ header: 'NAME' }, { header: 'N', align: 'right' }, { header: 'NOTE' }],
      [
        ['a', '1', 'x'],
        ['longer', '100', ''],
      ],
    );
    assert.equal(table, ['NAME      N  NOTE', 'a         1  x', 'longer  100'].join('\n'));
  });
});

describe('formatStatus', () => {
  const status: SupervisorStatus = {
    pid: 4242,
    mode: 'spawn',
    port: 8080,
    desired: 3,
    generation: 2,
    reloading: false,
    front: { kind: 'tcp', dataPath: 'native' },
    workers: [
      makeWorker(1, { pid: 501, port: 8001, cpu: 3.24, memory: 47_290_777, uptimeMs: 3_720_000, restarts: 2, connections: 7, generation: 2 }),
      makeWorker(0, { pid: 500, port: 8000, cpu: 0, memory: 1024, uptimeMs: 35_000, connections: undefined, generation: 2, healthy: false }),
      makeWorker(2, { pid: undefined, port: 8002, state: 'backoff', restarts: 5, connections: undefined, generation: 2 }),
    ],
  };

  it('prints a summary line and one row per worker, sorted by slot', () => {
    const lines = formatStatus(status).trimEnd().split('\n');
    assert.equal(lines[0], 'pid 4242  mode spawn  port 8080  front tcp (native)  desired 3  generation 2');
    assert.match(lines[1] ?? '', /^SLOT\s+PID\s+PORT\s+STATE\s+CPU\s+MEMORY\s+UPTIME\s+RESTARTS\s+CONNS\s+GEN$/);
    assert.deepEqual(lines[2]?.trim().split(/\s{2,}/), [
      '0', '500', '8000', 'ready (unhealthy)', '0.0%', '1.0 KiB', '35s', '0', '-', '2',
    ]);
    assert.deepEqual(lines[3]?.trim().split(/\s+/), ['1', '501', '8001', 'ready', '3.2%', '45.1', 'MiB', '1h02m', '2', '7', '2']);
    assert.deepEqual(lines[4]?.trim().split(/\s+/), ['2', '-', '8002', 'backoff', '-', '-', '-', '5', '-', '2']);
    assert.equal(lines.length, 5);
  });

  it('shows - for the cpu and memory of a running worker not sampled yet, not 0 B', () => {
    const fresh = makeWorker(0, { pid: 600, port: 8000, cpu: 0, memory: 0, uptimeMs: 200, connections: undefined, generation: 2 });
    const lines = formatStatus({ ...status, workers: [fresh] }).trimEnd().split('\n');
    assert.deepEqual(lines[2]?.trim().split(/\s+/), ['0', '600', '8000', 'ready', '-', '-', '0s', '0', '-', '2']);
  });

  it('an autoscaled app: a line with the bounds, each metric\'s value and target, and the last decision', () => {
    const autoscale = {
      min: 1, max: 4,
      metrics: [{ metric: 'cpu', value: 87.5, target: 50 }, { metric: 'rps', value: undefined, target: 200 }],
      last: { at: '2026-01-02T03:04:05.000Z', from: 2, to: 4, reason: 'cpu 87.5 % for target 50 %: recommends 4' },
    };
    const lines = formatStatus({ ...status, autoscale }, Date.parse('2026-01-02T03:04:17.000Z')).split('\n');
    assert.equal(lines[1], 'autoscale 1…4: cpu 87.5 / 50 %, rps - / 200  last: 2 → 4, 12s ago: cpu 87.5 % for target 50 %: recommends 4');
    assert.match(formatStatus({ ...status, autoscale: { ...autoscale, last: undefined } }), /autoscale 1…4: .*  no decision yet\n/);
  });

  it('leaves the front out when there is none (cluster mode, --proxy none)', () => {
    const text = formatStatus({ ...status, mode: 'cluster', front: { kind: 'none', dataPath: 'none' } });
    assert.match(text, /^pid 4242  mode cluster  port 8080  desired 3  generation 2\n/);
  });

  it('names a native http front\'s data-plane threads and the requests each answered', () => {
    const threads = [{ requests: 10512, connections: 30 }, { requests: 9830, connections: 29 }];
    const text = formatStatus({ ...status, front: { kind: 'http', dataPath: 'native', threads } });
    assert.match(text, /^pid 4242  mode spawn  port 8080  front http \(native, 2 threads: 10512 \/ 9830 requests\)  desired 3/);
    // One thread: nothing to compare.
    assert.match(formatStatus({ ...status, front: { kind: 'http', dataPath: 'native', threads: threads.slice(0, 1) } }), /front http \(native\)  desired/);
  });

  it('says when a reload runs and when there are no workers', () => {
    const text = formatStatus({ ...status, reloading: true, workers: [] });
    assert.match(text, /generation 2  \(reloading\)\n/);
    assert.match(text, /\(no workers\)\n$/);
  });

  it("adds a STATUS column with the workers' own STATUS= text only when one sent it, on one line, cut at 60 characters", () => {
    assert.doesNotMatch(formatStatus(status), /STATUS/);
    const [first, second, third] = status.workers;
    const withText = {
      ...status,
      workers: [{ ...first, status: 'serving\non port 8000' }, { ...second, status: 'x'.repeat(100) }, third].filter((w) => w !== undefined) as SupervisorStatus['workers'],
    };
    const lines = formatStatus(withText).trimEnd().split('\n');
    assert.match(lines[1] ?? '', /GEN\s+STATUS$/);
    assert.match(lines[2] ?? '', new RegExp(`\\s2\\s+${'x'.repeat(59)}…$`)); // slot 0
    assert.match(lines[3] ?? '', /\s2\s+serving on port 8000$/); // slot 1
    assert.match(lines[4] ?? '', /\s2\s+-$/);
  });

  it('shows the generation the workers run: after an aborted reload the old one, during a reload both', () => {
    const onOne = { ...status, generation: 3, workers: status.workers.map((w) => ({ ...w, generation: 2 })) };
    assert.match(formatStatus(onOne), /^pid .* generation 2 {2}\(reload to 3 aborted\)\n/);
    const mixed = { ...onOne, reloading: true, workers: [...onOne.workers, makeWorker(0, { pid: 600, generation: 3 })] };
    assert.match(formatStatus(mixed), /^pid .* generation 2 → 3 {2}\(reloading\)\n/);
  });
});
