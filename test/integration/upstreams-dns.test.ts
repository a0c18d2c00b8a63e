// Remote servers found by DNS (SPEC §13), against a real DNS server: Debian's
// dnsmasq, run by the test on 127.0.0.1 and a free port with a short TTL,
// serving A records from a hosts file (SIGHUP re-reads it) and SRV records
// (a restart changes them). The servers are HTTP servers on 127.0.0.2-4.
// Also: bad input at start and on `ctl apply`, and apply changing servers
// without touching the app's workers.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { BIN, controlCall, FIXTURES, freePort, freePortRange, killAll, startSupervise, tempDir, type Supervised } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_S = 1;

function dnsmasqMissing(): string | undefined {
  try {
    execFileSync('dnsmasq', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch {
    if (process.env.CI === 'true') throw new Error('CI=true: the DNS tests must run, but dnsmasq is not installed (apt-get install -y dnsmasq-base)');
    return 'dnsmasq is not installed (apt-get install -y dnsmasq-base)';
  }
}
const missing = dnsmasqMissing();

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await killAll();
});

/** A DNS server of our own: A records from `hosts` (SIGHUP re-reads it), SRV records from its arguments. */
async function startDns(dir: string, srv: readonly string[]): Promise<{ port: number; hosts: string; hup(): void; stop(): Promise<void>; restart(srv: readonly string[]): Promise<void> }> {
  const port = await freePort();
  const hosts = join(dir, 'hosts');
  let child: ChildProcess | undefined;
  const start = async (records: readonly string[]) => {
    child = spawn('dnsmasq', [
      '-k', '--conf-file=/dev/null', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts',
      `--addn-hosts=${hosts}`, `--local-ttl=${TTL_S}`, '--pid-file=', '--user=root', ...records.map((record) => `--srv-host=${record}`),
    ], { stdio: 'ignore' });
    await waitFor(() => spawnSync('ss', ['-Hlun', `sport = :${port}`], { encoding: 'utf8' }).stdout.includes(`:${port}`), { timeoutMs: 5000, message: 'dnsmasq listening' });
  };
  const stop = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  cleanups.push(stop);
  await start(srv);
  return {
    port, hosts,
    hup: () => child?.kill('SIGHUP'),
    stop,
    restart: async (records) => {
      await stop();
      await start(records);
    },
  };
}

/** HTTP servers on 127.0.0.2, .3 and .4, one port: each answers its own address. */
async function startServers(addresses: readonly string[]): Promise<number> {
  const port = await freePortRange(1);
  for (const address of addresses) {
    const server = http.createServer((request, response) => {
      request.resume();
      response.end(JSON.stringify({ address }));
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve));
    cleanups.push(() => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }));
  }
  return port;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function load(port: number) {
  const seen = new Map<string, number>();
  const errors: string[] = [];
  let running = true;
  const one = () => new Promise<void>((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        if (response.statusCode === 200) {
          const { address } = JSON.parse(body) as { address: string };
          seen.set(address, (seen.get(address) ?? 0) + 1);
        } else errors.push(`HTTP ${response.statusCode} ${body.slice(0, 100)}`);
        resolve();
      });
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => {
      errors.push(error.message);
      resolve();
    });
  });
  const loops = Array.from({ length: 4 }, async () => {
    while (running) await one();
  });
  return {
    count: (address: string) => seen.get(address) ?? 0,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

interface Row {
  server: string;
  weight: number;
  state: string;
  inRotation: boolean;
}

async function rows(sup: Supervised, app?: string): Promise<Row[]> {
  const status = (await sup.status()) as unknown as { servers?: Row[]; apps: Array<{ name: string; servers?: Row[] }> };
  return (app === undefined ? status.servers : status.apps.find((each) => each.name === app)?.servers) ?? [];
}

const live = async (sup: Supervised, app?: string) => (await rows(sup, app)).filter((row) => row.state !== 'draining').map((row) => row.server).sort();

describe('remote servers from DNS', { skip: missing, timeout: 120_000 }, () => {
  it('A records: the set follows a change within the TTL with no failed request; DNS down keeps the last good set', async () => {
    const dir = tempDir();
    const port = await startServers(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    const dns = await startDns(dir, []);
    writeFileSync(dns.hosts, '127.0.0.2 api.test\n127.0.0.3 api.test\n');
    dns.hup();
    const sup = await startSupervise(['--proxy', 'http', '--resolvers', `127.0.0.1:${dns.port}`, '--upstream', `api.test:${port}`, '--health-interval', '300']);
    await waitFor(async () => JSON.stringify(await live(sup)) === JSON.stringify([`127.0.0.2:${port}`, `127.0.0.3:${port}`]), { timeoutMs: 10_000, message: 'both A records as servers' });
    const traffic = load(sup.port);
    try {
      await waitFor(() => traffic.count('127.0.0.2') > 20 && traffic.count('127.0.0.3') > 20, { timeoutMs: 10_000, message: 'traffic on both' });
      writeFileSync(dns.hosts, '127.0.0.3 api.test\n127.0.0.4 api.test\n');
      dns.hup();
      const changedAt = Date.now();
      await waitFor(async () => JSON.stringify(await live(sup)) === JSON.stringify([`127.0.0.3:${port}`, `127.0.0.4:${port}`]), { timeoutMs: 15_000, message: 'the new set' });
      // Within the TTL, plus one lookup's time and the load of a shared machine.
      assert.ok(Date.now() - changedAt < TTL_S * 1000 + 5000, `followed after ${Date.now() - changedAt} ms`);
      await waitFor(() => traffic.count('127.0.0.4') > 20, { timeoutMs: 10_000, message: 'traffic on the new server' });
      const left = traffic.count('127.0.0.2');
      // The server that left drains, then is forgotten.
      await waitFor(async () => !(await rows(sup)).some((row) => row.server === `127.0.0.2:${port}`), { timeoutMs: 10_000, message: '127.0.0.2 drained' });
      assert.ok(traffic.count('127.0.0.2') - left <= 8, 'no new requests to the server that left (at most those already sent)');

      await dns.stop();
      await sup.waitForLog((line) => /lookup failed, keeping the last good 2 server/.test(line.msg), 15_000);
      const before = traffic.count('127.0.0.4');
      await waitFor(() => traffic.count('127.0.0.4') > before + 20, { timeoutMs: 10_000, message: 'traffic goes on' });
      assert.deepEqual(await live(sup), [`127.0.0.3:${port}`, `127.0.0.4:${port}`], 'the last good set stays');
      const events = await controlCall(sup.control, 'GET', '/status');
      assert.equal(events.status, 200);
    } finally {
      await traffic.stop();
    }
    assert.deepEqual(traffic.errors.slice(0, 3), [], `${traffic.errors.length} failed requests`);
  });

  it('SRV records: hosts, ports and weights; a change of the records is followed', async () => {
    const dir = tempDir();
    const port = await startServers(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    const dns = await startDns(dir, [`_api._tcp.test,a.test,${port},0,5`, `_api._tcp.test,b.test,${port},0,1`]);
    writeFileSync(dns.hosts, '127.0.0.2 a.test\n127.0.0.3 b.test\n127.0.0.4 c.test\n');
    dns.hup();
    const sup = await startSupervise(['--proxy', 'http', '--resolvers', `127.0.0.1:${dns.port}`, '--upstream', '_api._tcp.test']);
    await waitFor(async () => (await rows(sup)).length === 2, { timeoutMs: 10_000, message: 'two SRV targets' });
    assert.deepEqual((await rows(sup)).map((row) => [row.server, row.weight]).sort(), [[`127.0.0.2:${port}`, 5], [`127.0.0.3:${port}`, 1]]);
    const traffic = load(sup.port);
    try {
      await waitFor(() => traffic.count('127.0.0.2') >= 50, { timeoutMs: 10_000, message: 'traffic' });
      // Roughly 5:1 (smooth weighted round-robin).
      assert.ok(traffic.count('127.0.0.2') >= 3 * traffic.count('127.0.0.3'), `5:1, got ${traffic.count('127.0.0.2')}:${traffic.count('127.0.0.3')}`);
      await dns.restart([`_api._tcp.test,b.test,${port},0,1`, `_api._tcp.test,c.test,${port},0,1`]);
      await waitFor(async () => JSON.stringify(await live(sup)) === JSON.stringify([`127.0.0.3:${port}`, `127.0.0.4:${port}`]), { timeoutMs: 15_000, message: 'the new SRV set' });
      await waitFor(() => traffic.count('127.0.0.4') > 20, { timeoutMs: 10_000, message: 'traffic on c.test' });
    } finally {
      await traffic.stop();
    }
    assert.deepEqual(traffic.errors.slice(0, 3), [], `${traffic.errors.length} failed requests`);
  });

  it('a host that does not resolve at start: one line naming the key and its line, exit 2', async () => {
    const dir = tempDir();
    const dns = await startDns(dir, []);
    writeFileSync(dns.hosts, '');
    dns.hup();
    const file = join(dir, 'supervise.yaml');
    writeFileSync(file, `resolvers: ["127.0.0.1:${dns.port}"]\nfront: {port: 0}\napps:\n  api:\n    route: /api\n    upstreams:\n      - 127.0.0.2:8000\n      - nowhere.test:8000\n`);
    const result = spawnSync(process.execPath, [BIN, '--config', file, '--control', join(dir, 's.sock')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 2, result.stderr);
    const lines = result.stderr.trim().split('\n').filter((line) => !line.startsWith('{'));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? '', /"apps\.api\.upstreams\.1" in .*supervise\.yaml \(line 8\): cannot resolve nowhere\.test/);
  });

  it('ctl apply adds, re-weights and removes servers without touching the workers; a bad apply changes nothing', async () => {
    const dir = tempDir();
    const port = await startServers(['127.0.0.2', '127.0.0.3']);
    const dns = await startDns(dir, []);
    writeFileSync(dns.hosts, '');
    dns.hup();
    const base = await freePortRange(3);
    const front = await freePort();
    const file = join(dir, 'supervise.yaml');
    const write = (upstreams: string) => writeFileSync(file, [
      `resolvers: ["127.0.0.1:${dns.port}"]`,
      `front: {port: ${front}}`,
      'apps:',
      '  users:',
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(FIXTURES, 'machine-app.cjs'))}]`,
      '    workers: 2',
      `    base-port: ${base}`,
      '    route: /users',
      '    upstreams:',
      upstreams,
    ].join('\n'));
    write(`      - 127.0.0.2:${port}`);
    const sup = await startSupervise(['--config', file], { port: null, readyWorkers: 2 });
    const pids = async () => (await sup.status()).workers.map((worker) => worker.pid).sort();
    const workersBefore = await pids();
    assert.deepEqual((await rows(sup, 'users')).map((row) => row.server), [`127.0.0.2:${port}`]);

    write(`      - {server: 127.0.0.2:${port}, weight: 3}\n      - 127.0.0.3:${port}`);
    const applied = await controlCall(sup.control, 'POST', '/apply');
    assert.equal(applied.status, 200, applied.body);
    assert.deepEqual((await rows(sup, 'users')).map((row) => [row.server, row.weight]).sort(), [[`127.0.0.2:${port}`, 3], [`127.0.0.3:${port}`, 1]]);
    assert.deepEqual(await pids(), workersBefore, 'the workers are untouched');

    write(`      - 127.0.0.3:${port}\n      - nowhere.test:${port}`);
    const refused = await controlCall(sup.control, 'POST', '/apply');
    assert.notEqual(refused.status, 200);
    assert.match((JSON.parse(refused.body) as { error: string }).error, /"apps\.users\.upstreams\.1" in .*\(line 11\): cannot resolve nowhere\.test.*nothing changed/);
    assert.deepEqual((await rows(sup, 'users')).map((row) => [row.server, row.weight]).sort(), [[`127.0.0.2:${port}`, 3], [`127.0.0.3:${port}`, 1]], 'nothing changed');

    write(`      - 127.0.0.3:${port}`);
    assert.equal((await controlCall(sup.control, 'POST', '/apply')).status, 200);
    await waitFor(async () => JSON.stringify((await rows(sup, 'users')).map((row) => row.server)) === JSON.stringify([`127.0.0.3:${port}`]), { timeoutMs: 5000, message: 'the removed server drained' });
    assert.deepEqual(await pids(), workersBefore, 'the workers are still untouched');
  });
});
