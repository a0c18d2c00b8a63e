import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics } from '../../src/control/metrics.js';
import { createFakeSupervisor, makeWorker } from '../helpers/fake-supervisor.js';

/** The value of one series in Prometheus text, e.g. value(text, 'supervise_workers{app="app",state="ready"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  it('reports the status snapshot as gauges at scrape time', async () => {
    const fake = createFakeSupervisor({ workers: 3 });
    const metrics = createMetrics(fake);
    const text = await metrics.render();

    assert.equal(value(text, 'supervise_workers_desired{app="app"}'), 3);
    assert.equal(value(text, 'supervise_generation{app="app"}'), 1);
    assert.equal(value(text, 'supervise_reloading{app="app"}'), 0);
    assert.equal(value(text, 'supervise_workers{app="app",state="ready"}'), 3);
    assert.equal(value(text, 'supervise_workers{app="app",state="backoff"}'), 0);
    assert.equal(value(text, 'supervise_worker_cpu_percent{app="app",slot="2"}'), 3.5);
    assert.equal(value(text, 'supervise_worker_memory_bytes{app="app",slot="0"}'), 40 * 1024 * 1024);
    assert.equal(value(text, 'supervise_worker_connections{app="app",slot="1"}'), 1);
    assert.equal(value(text, 'supervise_worker_uptime_seconds{app="app",slot="0"}'), 65);
    assert.equal(value(text, 'supervise_worker_healthy{app="app",slot="0"}'), 1);
  });

  it('drops the series of a slot that was scaled away', async () => {
    const fake = createFakeSupervisor({ workers: 4 });
    const metrics = createMetrics(fake);
    assert.notEqual(value(await metrics.render(), 'supervise_worker_memory_bytes{app="app",slot="3"}'), undefined);
    await fake.scale({ workers: 2 });
    const text = await metrics.render();
    assert.equal(value(text, 'supervise_worker_memory_bytes{app="app",slot="3"}'), undefined);
    assert.equal(value(text, 'supervise_workers_desired{app="app"}'), 2);
  });

  it('sums the two processes of a slot being replaced and omits unknown connections', async () => {
    const fake = createFakeSupervisor({ workers: 1 });
    const status = fake.status();
    fake.status = () => ({
      ...status,
      workers: [
        makeWorker(0, { id: 1, cpu: 2, memory: 1000, connections: undefined }),
        makeWorker(0, { id: 2, cpu: 3, memory: 500, connections: undefined, state: 'starting', uptimeMs: 1000 }),
        makeWorker(1, { id: 3, state: 'exited', memory: 999 }),
      ],
    });
    const text = await createMetrics(fake).render();
    assert.equal(value(text, 'supervise_worker_cpu_percent{app="app",slot="0"}'), 5);
    assert.equal(value(text, 'supervise_worker_memory_bytes{app="app",slot="0"}'), 1500);
    assert.equal(value(text, 'supervise_worker_uptime_seconds{app="app",slot="0"}'), 65);
    assert.equal(value(text, 'supervise_worker_connections{app="app",slot="0"}'), undefined);
    assert.equal(value(text, 'supervise_worker_memory_bytes{app="app",slot="1"}'), undefined, 'exited records use nothing');
    assert.equal(value(text, 'supervise_workers{app="app",state="starting"}'), 1);
  });

  it('counts the events the supervisor publishes', async () => {
    const fake = createFakeSupervisor();
    const metrics = createMetrics(fake);
    let text = await metrics.render();
    assert.equal(value(text, 'supervise_reloads_total{app="app",outcome="ok"}'), 0);
    assert.equal(value(text, 'supervise_reloads_total{app="app",outcome="failed"}'), 0);

    fake.emit({ type: 'reload', ok: true });
    fake.emit({ type: 'reload', ok: false });
    fake.emit({ type: 'reload', ok: true });
    fake.emit({ type: 'worker-restart', slot: 2 });
    fake.emit({ type: 'worker-restart', slot: 2 });
    fake.emit({ type: 'health-failure', id: 1, slot: 0 });
    fake.emit({ type: 'worker-state', id: 1, slot: 0, from: 'starting', to: 'ready' });
    text = await metrics.render();

    assert.equal(value(text, 'supervise_reloads_total{app="app",outcome="ok"}'), 2);
    assert.equal(value(text, 'supervise_reloads_total{app="app",outcome="failed"}'), 1);
    assert.equal(value(text, 'supervise_worker_restarts_total{app="app",slot="2"}'), 2);
    assert.equal(value(text, 'supervise_health_check_failures_total{app="app",slot="0"}'), 1);
    assert.equal(value(text, 'supervise_worker_state_transitions_total{app="app",from="starting",to="ready"}'), 1);
  });

  it('keeps its metrics out of the global registry, so two supervisors can coexist', async () => {
    const first = createMetrics(createFakeSupervisor({ workers: 1 }));
    const second = createMetrics(createFakeSupervisor({ workers: 2 }));
    assert.equal(value(await first.render(), 'supervise_workers_desired{app="app"}'), 1);
    assert.equal(value(await second.render(), 'supervise_workers_desired{app="app"}'), 2);
  });
});
