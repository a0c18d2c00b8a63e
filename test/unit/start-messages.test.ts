import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildConfig, type RawSettings } from '../../src/config.js';
import type { Config } from '../../src/core/types.js';
import { configWarnings, readinessHint, readyLine, startLine } from '../../src/supervisor/start-messages.js';
import { buildSystem } from '../../src/system-config.js';
import { FIXTURES, ROOT } from '../helpers/supervise.js';

const cluster = (flags: RawSettings = {}): Config =>
  buildConfig({ flags, positional: ['http-app.cjs'], command: undefined, configFile: undefined, cwd: FIXTURES, stdoutIsTTY: false });
const spawnMode = (flags: RawSettings = {}): Config =>
  buildConfig({ flags: { workers: '4', ...flags }, positional: [], command: ['uvicorn', 'main:app', '--port', '{port}'], configFile: undefined, cwd: FIXTURES, stdoutIsTTY: false });

describe('start messages', () => {
  it('the start line names the front and its data path, and no front with --proxy none', () => {
    assert.equal(startLine(spawnMode(), 8080, 'native'), 'supervise: 4 × uvicorn main:app --port {port} on ports 8000…8003, front tcp on 127.0.0.1:8080 (native data path)');
    assert.equal(startLine(spawnMode({ proxy: 'none' }), 8080, undefined), 'supervise: 4 × uvicorn main:app --port {port} on ports 8000…8003');
    assert.match(startLine(cluster({ workers: '1' }), 9000, undefined), /^supervise: 1 cluster worker of .*http-app\.cjs on port 9000$/);
    assert.equal(
      startLine({ ...spawnMode(), routes: [{ path: '/users' }] }, 8080, undefined),
      'supervise: 4 × uvicorn main:app --port {port} on ports 8000…8003, routed from the shared front (/users)',
    );
  });

  it('the ready line says where to connect', () => {
    assert.equal(readyLine(cluster(), 8080, 4), '4 workers ready, serving on http://127.0.0.1:8080');
    assert.equal(readyLine(spawnMode({ host: '::1' }), 9000, 1), '1 worker ready, serving on http://[::1]:9000');
    assert.equal(readyLine(spawnMode({ proxy: 'none' }), 8080, 4), '4 workers ready on ports 8000…8003');
    assert.equal(readyLine({ ...spawnMode(), routes: [{ path: '/users' }] }, 8080, 4), '4 workers ready on ports 8000…8003, routed from the shared front');
    assert.equal(readyLine({ ...spawnMode({ basePort: '8200' }), routes: [{ path: '/users' }] }, 8080, 1), '1 worker ready on port 8200, routed from the shared front');
    assert.equal(startLine(spawnMode({ workers: '1', basePort: '8200', proxy: 'none' }), 8080, undefined), 'supervise: 1 × uvicorn main:app --port {port} on port 8200');
  });

  it('the bundled examples/services warns about nothing (no --health on its cluster app)', () => {
    const file = join(ROOT, 'examples', 'services', 'supervise.yaml');
    const system = buildSystem({ flags: {}, positional: [], command: undefined, configFile: file, cwd: ROOT, stdoutIsTTY: false });
    assert.deepEqual(system.apps.map((app) => [app.name, configWarnings(app)]), system.apps.map((app) => [app.name, []]));
  });

  it('warns about each flag the mode ignores, and about nothing else', () => {
    assert.deepEqual(configWarnings(cluster()), []);
    assert.deepEqual(configWarnings(spawnMode({ balance: 'least-conn', health: '/healthz' })), []);
    const cases: Array<[Config, RegExp]> = [
      [cluster({ balance: 'least-conn' }), /^--balance least-conn is ignored in cluster mode/],
      [cluster({ health: '/healthz' }), /^--health \/healthz is ignored in cluster mode/],
      [spawnMode({ waitReady: true }), /^--wait-ready is ignored in spawn mode/],
      [spawnMode({ proxy: 'none', health: '/healthz' }), /^--health \/healthz with --proxy none only decides when a worker is ready/],
      [spawnMode({ proxy: 'none', balance: 'least-conn' }), /^--balance least-conn is ignored with --proxy none/],
    ];
    for (const [config, warning] of cases) {
      const warnings = configWarnings(config);
      assert.equal(warnings.length, 1, String(warning));
      assert.match(warnings[0] ?? '', warning);
    }
  });

  it('a worker that was not ready: what was probed, and what usually fixes it', () => {
    assert.equal(readinessHint(spawnMode(), 8001), '(probed a TCP connect to 127.0.0.1:8001: does the command listen on {port} or $PORT?)');
    assert.equal(readinessHint(spawnMode({ health: '/healthz' }), 8001), '(probed GET http://127.0.0.1:8001/healthz answering 2xx: does the command listen on {port} or $PORT?)');
    assert.match(readinessHint(cluster(), 8080), /listen on port 8080: does it call listen\(process\.env\.PORT\)\?.*process\.send\('ready'\)/);
    assert.match(readinessHint(cluster({ waitReady: true }), 8080), /waited for process\.send\('ready'\)/);
  });

  it("--port inside the workers' ports is a usage error naming both flags", () => {
    assert.throws(() => spawnMode({ port: '8002' }), /^UsageError: --port 8002 overlaps the workers' ports 8000…8004 \(--base-port 8000, 4 workers and one spare for reloads\)/);
    assert.doesNotThrow(() => spawnMode({ port: '8005' }));
    assert.doesNotThrow(() => spawnMode({ port: '8002', proxy: 'none' }));
  });
});
