// `supervise export` on the example system, checked without a cluster: golden
// files; Kubernetes objects against the official schemas (kubernetes-models)
// and decoded by kubectl into the real API types (it drops unknown fields, so
// what comes back is compared with what went in); the unit by
// `systemd-analyze verify`; the compose file by `docker-compose config`.
// A missing tool skips its check, except under CI=true, where .ci/run installs it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { BIN, FIXTURES, killAll, ROOT, tempDir } from '../helpers/supervise.js';

after(killAll);

/** SPEC §8's system with autoscale and max-memory: the assertions below name its apps. */
const EXAMPLE = join(FIXTURES, 'export', 'services', 'supervise.yaml');
/** Each system exported, validated and compared with its golden files; examples/services once it exists. */
const SYSTEMS = [
  { id: 'services-fixture', file: EXAMPLE },
  // Remote servers (SPEC §13): Services without selectors, EndpointSlices, ExternalName.
  { id: 'upstreams-fixture', file: join(FIXTURES, 'export', 'upstreams', 'supervise.yaml') },
  ...(existsSync(join(ROOT, 'examples', 'services', 'supervise.yaml')) ? [{ id: 'examples-services', file: join(ROOT, 'examples', 'services', 'supervise.yaml') }] : []),
];
const GOLDEN = join(FIXTURES, 'export', 'golden');
const IMAGES = ['--image', 'users=registry.example/users:1.0', '--image', 'web=registry.example/web:1.0'];

function supervise(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function exportTo(engine: string, file = EXAMPLE): string {
  const dir = tempDir('supervise-export-');
  const result = supervise(['export', engine, '--config', file, '-o', dir, ...(file === EXAMPLE ? IMAGES : [])]);
  assert.equal(result.status, 0, result.stderr);
  return dir;
}

/** Paths of this checkout and this node made portable, so the golden files hold anywhere. */
function portable(text: string): string {
  return text.replaceAll(process.execPath, '<node>').replaceAll(ROOT, '<root>');
}

/** A tool on PATH; undefined (skip) when missing, a failure under CI=true, where .ci/run installs it. */
function tool(name: string, versionArgs: string[]): string | false {
  const found = spawnSync(name, versionArgs, { encoding: 'utf8', timeout: 30_000 }).status === 0;
  if (found) return false;
  if (process.env.CI === 'true') assert.fail(`${name} is missing: .ci/run installs it`);
  return `${name} is not installed`;
}

for (const { id, file } of SYSTEMS) {
  describe(`supervise export of ${id}`, { timeout: 120_000 }, () => {
    for (const engine of ['kubernetes', 'compose', 'systemd']) {
      test(`${engine}: the files equal the golden ones`, () => {
        const dir = exportTo(engine, file);
        const goldenDir = join(GOLDEN, id, engine);
        if (process.env.UPDATE_GOLDEN === '1') {
          mkdirSync(goldenDir, { recursive: true });
          for (const name of readdirSync(dir)) writeFileSync(join(goldenDir, name), portable(readFileSync(join(dir, name), 'utf8')));
        }
        assert.ok(existsSync(goldenDir), `no golden files for ${id}: run UPDATE_GOLDEN=1 node --test dist/test/integration/export.test.js and review them`);
        assert.deepEqual(readdirSync(dir).sort(), readdirSync(goldenDir).sort());
        for (const name of readdirSync(dir)) {
          assert.equal(portable(readFileSync(join(dir, name), 'utf8')), readFileSync(join(goldenDir, name), 'utf8'), `${engine}/${name} (UPDATE_GOLDEN=1 to accept a change)`);
        }
      });
    }

    test('kubernetes: every object passes the official schema (kubernetes-models)', async () => {
      await validateSchemas(documents(exportTo('kubernetes', file)));
    });

    test('kubernetes: kubectl decodes every built-in object into the API types and drops nothing', (t) => {
      const missing = tool('kubectl', ['version', '--client']);
      if (missing) return t.skip(missing);
      kubectlDecode(documents(exportTo('kubernetes', file)), t);
    });

    test('systemd: systemd-analyze verify accepts the unit without a warning', (t) => {
      const missing = tool('systemd-analyze', ['--version']);
      if (missing) return t.skip(missing);
      const dir = exportTo('systemd', file);
      const [unit] = readdirSync(dir);
      const result = spawnSync('systemd-analyze', ['verify', join(dir, unit!)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(result.status, 0, result.stderr);
      const ours = result.stderr.split('\n').filter((line) => line.includes(unit!));
      assert.deepEqual(ours, [], 'no warning about the unit');
    });

    test('compose: docker-compose config accepts the file', (t) => {
      const missing = tool('docker-compose', ['version']);
      if (missing) return t.skip(missing);
      const dir = exportTo('compose', file);
      const result = spawnSync('docker-compose', ['-f', join(dir, 'compose.yaml'), 'config'], { encoding: 'utf8', timeout: 60_000, cwd: dir });
      assert.equal(result.status, 0, result.stderr);
    });
  });
}

describe('supervise export: what the example system becomes', { timeout: 120_000 }, () => {
  test('kubernetes: the kinds, and the schemas reject a wrong type', async () => {
    const objects = documents(exportTo('kubernetes'));
    assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(), ['Deployment', 'HTTPRoute', 'HorizontalPodAutoscaler', 'Service']);
    const broken = objects.find((o) => o.kind === 'Deployment');
    broken.spec.replicas = 'three';
    await assert.rejects(validateSchemas([broken]), /replicas/);
  });

  test('kubernetes: routes without weights are an Ingress, which passes the schema and kubectl too', async (t) => {
    const dir = tempDir('supervise-ingress-');
    const file = join(dir, 'supervise.yaml');
    writeFileSync(file, 'front: { port: 8080 }\napps:\n  users: { command: [u, "{port}"], base-port: 8000, route: /users }\n  orders: { command: [o, "{port}"], base-port: 8100, route: { path: /orders, host: shop.example } }\n');
    const result = supervise(['export', 'kubernetes', '--config', file, '-o', join(dir, 'out')]);
    assert.equal(result.status, 0, result.stderr);
    const objects = documents(join(dir, 'out'));
    const ingress = objects.find((o) => o.kind === 'Ingress');
    assert.ok(ingress, 'an Ingress');
    await validateSchemas([ingress]);
    if (!tool('kubectl', ['version', '--client'])) kubectlDecode([ingress], t);

    const rejected = supervise(['export', 'kubernetes', '--config', EXAMPLE, '--routes', 'ingress']);
    assert.equal(rejected.status, 2);
    assert.equal(rejected.stderr, 'supervise export: the route /orders is split by weight between apps, which an Ingress cannot say: use --routes httproute\n');
  });

  test('compose: docker-compose config accepts the file and reads back what was meant', (t) => {
    const missing = tool('docker-compose', ['version']);
    if (missing) return t.skip(missing);
    const dir = exportTo('compose');
    const result = spawnSync('docker-compose', ['-f', join(dir, 'compose.yaml'), 'config'], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    assert.equal(result.status, 0, result.stderr);
    const normalized = parse(result.stdout) as { services: Record<string, any> };
    assert.deepEqual(Object.keys(normalized.services).sort(), ['orders', 'orders-canary', 'users', 'web']);
    assert.deepEqual(normalized.services.orders.depends_on, { users: { condition: 'service_healthy' } });
    assert.equal(normalized.services.users.deploy.replicas, 3);
    assert.equal(normalized.services.users.healthcheck.retries, 3);
    assert.match(normalized.services.users.healthcheck.test.join(' '), /http:\/\/127\.0\.0\.1:8000\/healthz/);
  });

  test('without -o: one stream on stdout, for kubectl apply -f -', () => {
    const result = supervise(['export', 'kubernetes', '--config', EXAMPLE]);
    assert.equal(result.status, 0, result.stderr);
    const docs = parseAllDocuments(result.stdout).map((d) => d.toJS());
    assert.equal(docs.filter((d) => d.kind === 'Deployment').length, 4);
    assert.equal(docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'users').spec.template.spec.containers[0].image, 'users:latest');
  });

  test('bad input: one line naming what was wrong, exit 2', () => {
    const cases: Array<[string[], RegExp]> = [
      [['export'], /^supervise export: which engine\? kubernetes, systemd or compose\n/],
      [['export', 'nomad', '--config', EXAMPLE], /^supervise export: unknown engine "nomad" \(kubernetes, systemd or compose\)\n/],
      [['export', 'compose', '--config', EXAMPLE, '--image', 'nope=x:1'], /^supervise export: --image names "nope", which is not an app of .*supervise\.yaml \(apps: users, orders, orders-canary, web\)\n/],
      [['export', 'compose', '--config', EXAMPLE, '--image', 'users'], /^supervise export: --image wants <app>=<image reference> \(got "users"\)\n/],
      [['export', 'compose', '--config', '/nonexistent/supervise.yaml'], /^supervise export: config file not found: \/nonexistent\/supervise\.yaml\n$/],
      [['export', 'compose', '--config', EXAMPLE, '--bogus'], /^supervise export: Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const result = supervise(args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
    }
  });
});

type Model = new (data: any) => { validate(): void };

async function schemaFor(apiVersion: string, kind: string): Promise<Model> {
  const models: Record<string, () => Promise<Model>> = {
    'apps/v1 Deployment': async () => (await import('kubernetes-models/apps/v1/Deployment')).Deployment,
    'v1 Service': async () => (await import('kubernetes-models/v1/Service')).Service,
    'autoscaling/v2 HorizontalPodAutoscaler': async () => (await import('kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler')).HorizontalPodAutoscaler,
    'discovery.k8s.io/v1 EndpointSlice': async () => (await import('kubernetes-models/discovery.k8s.io/v1/EndpointSlice')).EndpointSlice,
    'networking.k8s.io/v1 Ingress': async () => (await import('kubernetes-models/networking.k8s.io/v1/Ingress')).Ingress,
    'gateway.networking.k8s.io/v1 HTTPRoute': async () => (await import('@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute')).HTTPRoute as Model,
  };
  const load = models[`${apiVersion} ${kind}`];
  assert.ok(load, `a schema for ${apiVersion} ${kind}`);
  return load();
}

async function validateSchemas(objects: any[]): Promise<void> {
  for (const object of objects) {
    const Model = await schemaFor(object.apiVersion, object.kind);
    new Model(object).validate(); // throws, naming the field
  }
}

/** kubectl's typed decoding (`--local`, no cluster): set env for pod templates, set selector (the same one) for Services. */
function kubectlDecode(objects: any[], t: { diagnostic(message: string): void }): void {
  const work = tempDir('supervise-kubectl-');
  for (const [index, object] of objects.entries()) {
    if (object.apiVersion.startsWith('gateway.networking.k8s.io/')) continue; // a CRD: no Go type in kubectl (the schema checks it)
    const file = join(work, `${index}.json`);
    writeFileSync(file, JSON.stringify(object));
    const what = `${object.kind} ${object.metadata.name}`;
    // A Service without a selector (remote servers: EndpointSlices or ExternalName) is decoded like the other kinds.
    const selected = object.kind === 'Service' && object.spec.selector !== undefined;
    const args =
      object.kind === 'Deployment'
        ? ['set', 'env', '--local', '-f', file, '-o', 'json', 'SUPERVISE_EXPORT_CHECK=1']
        : selected
          ? ['set', 'selector', '--local', '-f', file, '-o', 'json', Object.entries(object.spec.selector).map(([k, v]) => `${k}=${v}`).join(',')]
          : ['set', 'env', '--local', '-f', file, '-o', 'json'];
    const result = spawnSync('kubectl', args, { encoding: 'utf8', timeout: 60_000 });
    if (/no kind "\w+" is registered for version/.test(result.stderr)) {
      t.diagnostic(`${what}: this kubectl is older than ${object.apiVersion}; not decoded`);
      continue;
    }
    if (object.kind !== 'Deployment' && !selected) {
      // Decoded, then refused for having no pod template: the message names the Go type it decoded into.
      assert.match(result.stderr, /does not have a pod template: \*v\w+\.\w+/, `${what}: ${result.stderr}`);
      continue;
    }
    assert.equal(result.status, 0, `${what}: ${result.stderr}`);
    const decoded = JSON.parse(result.stdout);
    if (object.kind === 'Deployment') {
      const env = decoded.spec.template.spec.containers[0].env as Array<{ name: string }>;
      assert.equal(env.pop()?.name, 'SUPERVISE_EXPORT_CHECK');
    }
    assertContains(decoded, object, what);
  }
}

function documents(dir: string): any[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => parseAllDocuments(readFileSync(join(dir, name), 'utf8')).map((doc) => doc.toJS()));
}

/** Every value of `expected` is in `actual` (kubectl may add empty defaults, never drop a field it knows). */
function assertContains(actual: unknown, expected: unknown, path: string): void {
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path}: dropped (kubectl did not know it)`);
    if (Array.isArray(expected)) {
      assert.ok(Array.isArray(actual) && actual.length === expected.length, `${path}: ${JSON.stringify(actual)}`);
      expected.forEach((item, i) => assertContains((actual as unknown[])[i], item, `${path}[${i}]`));
      return;
    }
    for (const [key, value] of Object.entries(expected)) assertContains((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
    return;
  }
  assert.deepEqual(actual, expected, path);
}
