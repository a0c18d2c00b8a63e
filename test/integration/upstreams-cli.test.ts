// `supervise --proxy http|tcp --upstream host:port[,weight=N][,backup] …`: a
// balancer with no workers (SPEC §13), over servers on loopback. What a user
// checks: the weights, a server lost and back (max-fails, health checks), the
// backup only while every primary is down, and the servers with their health in
// `ctl status`, `/metrics` and `/events`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { BIN, controlGet, killAll, startSupervise, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

after(killAll);

interface Server {
  readonly port: number;
  close(): Promise<void>;
  reopen(): Promise<void>;
}

async function server(name: string, port = 0): Promise<Server> {
  let current: http.Server;
  const open = async (at: number) => {
    current = http.createServer((request, response) => {
      request.resume();
      response.end(name);
    });
    await new Promise<void>((resolve) => current.listen(at, '127.0.0.1', resolve));
    return (current.address() as AddressInfo).port;
  };
  const bound = await open(port);
  const handle: Server = {
    port: bound,
    close: () => new Promise((resolve) => {
      current.closeAllConnections();
      current.close(() => resolve());
    }),
    reopen: async () => void (await open(bound)),
  };
  closers.push(() => handle.close().catch(() => undefined));
  return handle;
}
const closers: Array<() => unknown> = [];
after(async () => {
  for (const close of closers) await close();
});

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/users', agent: false, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function answers(port: number, count: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const { status, body } = await get(port);
    assert.equal(status, 200, body);
    seen[body] = (seen[body] ?? 0) + 1;
  }
  return seen;
}

interface Row {
  server: string;
  state: string;
  inRotation: boolean;
}

async function rows(sup: Supervised): Promise<Row[]> {
  return ((await sup.status()) as unknown as { servers: Row[] }).servers;
}

/** The `/events` stream's lines, collected while the test runs. */
function events(control: string): { lines: unknown[]; close(): void } {
  const lines: unknown[] = [];
  const request = http.get({ socketPath: control, path: '/events' }, (response) => {
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) if (part !== '') lines.push(JSON.parse(part));
    });
  });
  request.on('error', () => undefined);
  return { lines, close: () => request.destroy() };
}

describe('supervise --upstream: a balancer with no workers', { timeout: 60_000 }, () => {
  it('http: weights, a server lost and back, the backup only while every primary is down; status, metrics and events show them', async () => {
    const [a, b, c] = await Promise.all([server('a'), server('b'), server('c')]);
    const sup = await startSupervise([
      '--proxy', 'http', '--health', '/', '--health-interval', '200', '--healthy-threshold', '2', '--max-fails', '1', '--fail-timeout', '1s',
      '--upstream', `127.0.0.1:${a.port},weight=3`, '--upstream', `127.0.0.1:${b.port}`, '--upstream', `127.0.0.1:${c.port},backup`,
    ]);
    await sup.waitForLog((line) => /balancing remote servers on/.test(line.msg));
    const stream = events(sup.control);
    try {
      assert.deepEqual(await answers(sup.port, 8), { a: 6, b: 2 }, '3:1, and the backup idles');

      const status = spawnSync(process.execPath, [BIN, 'ctl', '--control', sup.control, 'status'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, /SERVER\s+FROM\s+WEIGHT\s+STATE\s+ROTATION/);
      assert.match(status.stdout, new RegExp(`127\\.0\\.0\\.1:${c.port}\\s+127\\.0\\.0\\.1:${c.port}\\s+1 backup\\s+up\\s+out`));

      await a.close();
      // A refused connect is retried on the next server: no failed request.
      assert.deepEqual(await answers(sup.port, 4), { b: 4 });
      const lostA = `127.0.0.1:${a.port}`;
      assert.equal((await rows(sup)).find((row) => row.server === lostA)?.inRotation, false);
      const metrics = await controlGet(sup.control, '/metrics');
      assert.match(metrics, new RegExp(`supervise_upstream_server_up\\{app="upstreams",server="${lostA.replaceAll('.', '\\.')}",state="(ejected|unhealthy)",backup="false"\\} 0`));
      await waitFor(() => stream.lines.some((e) => (e as { type: string; healthy: boolean }).type === 'server-health' && !(e as { healthy: boolean }).healthy), { message: 'a server-health event' });

      await b.close();
      assert.deepEqual(await answers(sup.port, 3), { c: 3 }, 'every primary down: the backup serves');

      await a.reopen();
      await waitFor(async () => (await rows(sup)).find((row) => row.server === lostA)?.inRotation === true, { timeoutMs: 10_000, message: 'a back in rotation' });
      assert.deepEqual(await answers(sup.port, 3), { a: 3 }, 'a primary is back: the backup idles again');
      assert.ok(stream.lines.some((e) => (e as { type: string; healthy: boolean }).type === 'server-health' && (e as { healthy: boolean }).healthy), 'the return is an event too');
    } finally {
      stream.close();
    }
  });

  it('tcp: the same servers behind the L4 front', async () => {
    const [a, b] = await Promise.all([server('a'), server('b')]);
    const sup = await startSupervise(['--proxy', 'tcp', '--upstream', `127.0.0.1:${a.port},weight=2`, '--upstream', `127.0.0.1:${b.port}`]);
    await sup.waitForLog((line) => /balancing remote servers on/.test(line.msg));
    assert.deepEqual(await answers(sup.port, 6), { a: 4, b: 2 });
    await a.close();
    assert.deepEqual(await answers(sup.port, 3), { b: 3 });
  });

  it('refuses bad input in one line: a port out of range, scaling an app with no workers', async () => {
    const result = spawnSync(process.execPath, [BIN, '--proxy', 'http', '--upstream', '127.0.0.1:70000'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'supervise: --upstream 127.0.0.1:70000: port must be from 1 to 65535 (got 70000 in "127.0.0.1:70000")\n');
    const a = await server('a');
    const sup = await startSupervise(['--proxy', 'http', '--upstream', `127.0.0.1:${a.port}`]);
    await sup.waitForLog((line) => /balancing remote servers on/.test(line.msg));
    const scale = spawnSync(process.execPath, [BIN, 'ctl', '--control', sup.control, 'scale', '3'], { encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(scale.status, 0);
    assert.match(scale.stderr, /remote servers only \(no command\): there are no workers to scale/);
  });
});
