// Several machines behind one front (SPEC §13), on this one: three network
// namespaces ("machines"), each running its own supervise with its own workers
// behind its own front on :8000; the routing front in the root namespace routes
// /users to an app of remote servers over them. Weights, a machine lost under
// load (SIGKILL, link down, SIGSTOP), its return, and backups.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMachines, netnsMissing, type Machine, type Machines } from '../helpers/netns.js';
import { BIN, FIXTURES, freePort, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';
import { OPTIONS } from '../../src/options.js';

const missing = netnsMissing();
const MACHINE_PORT = 8000;
const HEALTH = { intervalMs: 250, timeoutMs: 500, healthy: 2, unhealthy: 2 };
/** Out of rotation once the probes say so: the thresholds, with room for a loaded machine. */
const EJECT_WITHIN_MS = (HEALTH.unhealthy * HEALTH.intervalMs + HEALTH.timeoutMs) * 4 + 3000;
const RETURN_WITHIN_MS = 20_000;
/** edge-life's per-phase timeouts: a request on a connection to a lost machine is retried on the next one within seconds. */
const EDGE_FLAGS = OPTIONS.some((option) => option.key === 'responseTimeout') ? ['--connect-timeout', '1s', '--response-timeout', '2s'] : [];

interface Reply {
  readonly machine: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function get(port: number, path: string, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    request.on('error', reject);
  });
}

async function machineOf(port: number): Promise<string> {
  const { status, body } = await get(port, '/users/1');
  assert.equal(status, 200, body);
  return (JSON.parse(body) as Reply).machine;
}

/** GETs from `connections` loops until stopped; every failure a user would see is counted. */
function load(port: number, connections: number) {
  const byMachine = new Map<string, number>();
  const errors: string[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const { status, body } = await get(port, '/users/1');
        if (status !== 200) throw new Error(`HTTP ${status} ${body.slice(0, 120)}`);
        const { machine } = JSON.parse(body) as Reply;
        byMachine.set(machine, (byMachine.get(machine) ?? 0) + 1);
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
  };
  const loops = Array.from({ length: connections }, loop);
  return {
    count: (machine: string) => byMachine.get(machine) ?? 0,
    total: () => [...byMachine.values()].reduce((a, b) => a + b, 0),
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

interface ServerRow {
  server: string;
  state: string;
  inRotation: boolean;
}

async function servers(front: Supervised): Promise<ServerRow[]> {
  const status = (await front.status()) as unknown as { apps: Array<{ name: string; servers?: ServerRow[] }> };
  return status.apps.find((app) => app.name === 'users')?.servers ?? [];
}

describe('several machines behind one front', { skip: missing, timeout: 240_000 }, () => {
  let net: Machines;
  const supervisors = new Map<string, ReturnType<Machine['spawn']>>();
  const dir = missing ? '' : tempDir('supervise-netns-');

  /** The machine's own supervise: 2 workers behind its front on :8000, reachable from the root namespace. */
  async function startMachine(machine: Machine, name: string): Promise<void> {
    const child = machine.spawn(process.execPath, [
      BIN, '--log-format', 'json', '--control', join(dir, `${name}.sock`), '--host', '0.0.0.0', '--port', String(MACHINE_PORT),
      '--proxy', 'http', '-w', '2', '--base-port', '9000', '--', process.execPath, join(FIXTURES, 'machine-app.cjs'),
    ], { MACHINE: name });
    child.stdout?.resume();
    child.stderr?.resume();
    supervisors.set(name, child);
    await waitFor(() => reach(machine.address).then((reply) => reply === name), { timeoutMs: 20_000, intervalMs: 100, message: `machine ${name} serving on ${machine.address}:${MACHINE_PORT}` });
  }

  function reach(address: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      const request = http.get({ host: address, port: MACHINE_PORT, path: '/', agent: false, timeout: 1000 }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(response.statusCode === 200 ? (JSON.parse(body) as Reply).machine : undefined));
      });
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(undefined));
    });
  }

  /** The routing front in the root namespace, with `upstreams` for /users. */
  async function startFront(upstreams: string, extra = ''): Promise<{ front: Supervised; port: number }> {
    const port = await freePort();
    const file = join(dir, `front-${port}.yaml`);
    writeFileSync(file, [
      `front: {port: ${port}, host: 127.0.0.1}`,
      'apps:',
      '  users:',
      '    route: /users',
      `    health: /healthz`,
      `    health-interval: ${HEALTH.intervalMs}`,
      `    health-timeout: ${HEALTH.timeoutMs}`,
      `    healthy-threshold: ${HEALTH.healthy}`,
      `    unhealthy-threshold: ${HEALTH.unhealthy}`,
      '    max-fails: 1',
      '    fail-timeout: 2s',
      '    upstreams:',
      upstreams,
      extra,
    ].join('\n'));
    const front = await startSupervise(['--config', file, ...EDGE_FLAGS], { port: null });
    await front.waitForLog((line) => /routing front on/.test(line.msg), 15_000);
    await waitFor(async () => (await servers(front)).length > 0 && (await servers(front)).every((row) => row.state === 'up'), { timeoutMs: 10_000, message: 'servers up' });
    return { front, port };
  }

  const names = ['m1', 'm2', 'm3'];
  const machine = (name: string) => net.machines[names.indexOf(name)] as Machine;

  before(async () => {
    net = createMachines(3);
    await Promise.all(names.map((name) => startMachine(machine(name), name)));
  });

  after(async () => {
    agent.destroy();
    await killAll();
    net?.destroy();
  });

  /** Brings a machine back as it was (its supervise running, its link up, its processes running). */
  async function restore(name: string): Promise<void> {
    const m = machine(name);
    m.linkUp();
    m.signalAll('SIGCONT');
    if ((await reach(m.address)) !== name) {
      m.killAll();
      await startMachine(m, name);
    }
  }

  it('routes /users to the machines 5:1:1, within ±10 % over 700 requests', async (t) => {
    const { front, port } = await startFront([
      `      - {server: "${machine('m1').address}:${MACHINE_PORT}", weight: 5}`,
      `      - ${machine('m2').address}:${MACHINE_PORT}`,
      `      - ${machine('m3').address}:${MACHINE_PORT}`,
    ].join('\n'));
    t.after(() => front.child.kill('SIGKILL'));
    const counts = new Map<string, number>();
    for (let batch = 0; batch < 100; batch++) {
      const replies = await Promise.all(Array.from({ length: 7 }, () => machineOf(port)));
      for (const reply of replies) counts.set(reply, (counts.get(reply) ?? 0) + 1);
    }
    t.diagnostic(`700 requests: ${JSON.stringify(Object.fromEntries(counts))}`);
    for (const [name, share] of [['m1', 500], ['m2', 100], ['m3', 100]] as const) {
      const got = counts.get(name) ?? 0;
      assert.ok(Math.abs(got - share) <= share * 0.1, `${name}: ${got} of 700, expected ${share} ± 10 % (${JSON.stringify([...counts])})`);
    }
    // Status names every server with its health.
    const rows = await servers(front);
    assert.deepEqual(rows.map((row) => [row.server, row.state, row.inRotation]).sort(), names.map((name) => [`${machine(name).address}:${MACHINE_PORT}`, 'up', true]).sort());
  });

  const losses: Array<[string, (m: Machine) => void]> = [
    ['its supervise SIGKILLed with its workers', (m) => m.killAll()],
    ['its link down', (m) => m.linkDown()],
    ['its processes SIGSTOPped', (m) => m.signalAll('SIGSTOP')],
  ];
  for (const [how, lose] of losses) {
    it(`a machine lost under load (${how}): no failed request, ejected, traffic back once it returns`, async (t) => {
      const { front, port } = await startFront(names.map((name) => `      - ${machine(name).address}:${MACHINE_PORT}`).join('\n'));
      t.after(async () => {
        front.child.kill('SIGKILL');
        await restore('m1');
      });
      const traffic = load(port, 8);
      try {
        await waitFor(() => traffic.count('m1') >= 30, { timeoutMs: 15_000, message: 'traffic on m1' });
        lose(machine('m1'));
        const lostAt = Date.now();
        const lost = `${machine('m1').address}:${MACHINE_PORT}`;
        await waitFor(async () => (await servers(front)).some((row) => row.server === lost && !row.inRotation), { timeoutMs: EJECT_WITHIN_MS, message: `${lost} out of rotation` });
        const ejectedAfterMs = Date.now() - lostAt;
        // The others carry the load meanwhile.
        const before = traffic.total();
        await waitFor(() => traffic.total() >= before + 100, { timeoutMs: 20_000, message: 'traffic on the other machines' });
        const onLost = traffic.count('m1');
        await restore('m1');
        await waitFor(async () => (await servers(front)).some((row) => row.server === lost && row.inRotation), { timeoutMs: RETURN_WITHIN_MS, message: `${lost} back in rotation` });
        await waitFor(() => traffic.count('m1') > onLost + 10, { timeoutMs: 15_000, message: 'traffic back on m1' });
        t.diagnostic(`out of rotation ${ejectedAfterMs} ms after the loss`);
      } finally {
        await traffic.stop();
      }
      assert.deepEqual(traffic.errors.slice(0, 3), [], `${traffic.errors.length} failed requests of ${traffic.total() + traffic.errors.length}`);
    });
  }

  it('a backup takes traffic only while every primary is down', async (t) => {
    const { front, port } = await startFront([
      `      - ${machine('m1').address}:${MACHINE_PORT}`,
      `      - ${machine('m2').address}:${MACHINE_PORT}`,
      `      - {server: "${machine('m3').address}:${MACHINE_PORT}", backup: true}`,
    ].join('\n'));
    t.after(async () => {
      front.child.kill('SIGKILL');
      await Promise.all(['m1', 'm2'].map(restore));
    });
    const seen = async (count: number) => {
      const replies = new Set<string>();
      for (let i = 0; i < count; i++) replies.add(await machineOf(port));
      return replies;
    };
    assert.deepEqual([...(await seen(20))].sort(), ['m1', 'm2'], 'the backup idles while the primaries serve');
    machine('m1').killAll();
    await waitFor(async () => (await servers(front)).filter((row) => !row.inRotation).length >= 2, { timeoutMs: EJECT_WITHIN_MS, message: 'm1 out' });
    assert.deepEqual([...(await seen(20))], ['m2'], 'one primary left: still no backup');
    machine('m2').killAll();
    await waitFor(async () => (await servers(front)).some((row) => row.server.startsWith(machine('m3').address) && row.inRotation), { timeoutMs: EJECT_WITHIN_MS, message: 'the backup in rotation' });
    assert.deepEqual([...(await seen(20))], ['m3'], 'every primary down: the backup serves');
    await startMachine(machine('m1'), 'm1');
    await waitFor(async () => (await servers(front)).some((row) => row.server.startsWith(machine('m1').address) && row.inRotation), { timeoutMs: RETURN_WITHIN_MS, message: 'm1 back' });
    assert.deepEqual([...(await seen(20))], ['m1'], 'a primary is back: the backup idles again');
  });
});
