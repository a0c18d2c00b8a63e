// The exporters' mapping, setting by setting: what each supervise setting
// becomes on Kubernetes, compose and systemd (docs/export.md's table).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { composeFile } from '../../src/export/compose.js';
import { kubernetesManifests, PRE_STOP_SECONDS, type KubernetesObject } from '../../src/export/kubernetes.js';
import { listenBeyondLoopback } from '../../src/export/listen-address.js';
import { systemdUnit } from '../../src/export/systemd.js';
import { systemFromYaml } from '../helpers/export-system.js';
import { killAll } from '../helpers/supervise.js';

after(killAll);

const NO_IMAGES = { images: new Map<string, string>() };

function objects(yaml: string, options: Parameters<typeof kubernetesManifests>[1] = NO_IMAGES, scripts: string[] = []): KubernetesObject[] {
  return kubernetesManifests(systemFromYaml(yaml, scripts), options, 'shop').flatMap((file) => file.objects);
}

function find(list: KubernetesObject[], kind: string, name?: string): any {
  const found = list.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(found, `a ${kind}${name ? ` ${name}` : ''}`);
  return found;
}

const API = `
apps:
  api:
    command: [server, --port, "{port}", --id, "{worker}"]
    workers: 3
    base-port: 9000
    health: /ready
    health-interval: 5s
    health-timeout: 2500ms
    healthy-threshold: 4
    unhealthy-threshold: 6
    ready-timeout: 45s
    kill-timeout: 12s
    max-memory: 300M
    env: { MODE: prod }
`;

describe('kubernetes', () => {
  test('a spawn app: one server per pod on a fixed port, probes and stop budget from its settings', () => {
    const list = objects(API);
    const deployment = find(list, 'Deployment', 'api');
    assert.equal(deployment.spec.replicas, 3);
    assert.deepEqual(deployment.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pod = deployment.spec.template.spec;
    assert.equal(pod.terminationGracePeriodSeconds, 12 + PRE_STOP_SECONDS);
    const [container] = pod.containers;
    assert.deepEqual(container.command, ['server', '--port', '9000', '--id', '0']);
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 9000 }]);
    assert.deepEqual(container.readinessProbe, { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5, timeoutSeconds: 3, successThreshold: 4, failureThreshold: 6 });
    assert.equal(container.startupProbe.failureThreshold, 45);
    assert.equal(container.startupProbe.periodSeconds, 1);
    assert.equal(container.livenessProbe, undefined, 'no --liveness: no liveness probe (health only ejects)');
    assert.deepEqual(container.lifecycle.preStop.exec.command, ['sleep', String(PRE_STOP_SECONDS)]);
    assert.deepEqual(container.resources, { limits: { memory: '300Mi' } });
    assert.deepEqual(container.env, [
      { name: 'MODE', value: 'prod' },
      { name: 'PORT', value: '9000' },
      { name: 'HOST', value: '0.0.0.0' },
    ]);
    assert.equal(find(list, 'Service', 'api').spec.ports[0].targetPort, 'http');
    assert.equal(list.some((o) => o.kind === 'HorizontalPodAutoscaler'), false);
  });

  test('--liveness (spawn): an httpGet liveness probe with its interval and threshold', () => {
    const system = systemFromYaml(API);
    // The liveness settings of SPEC §9, as the loader gives them.
    const apps = system.apps.map((app) => ({ ...app, liveness: { path: '/alive', intervalMs: 7000, threshold: 5 } }));
    const list = kubernetesManifests({ ...system, apps }, NO_IMAGES, 'shop').flatMap((file) => file.objects);
    const probe = find(list, 'Deployment', 'api').spec.template.spec.containers[0].livenessProbe;
    assert.deepEqual(probe, { httpGet: { path: '/alive', port: 'http' }, periodSeconds: 7, timeoutSeconds: 3, successThreshold: 1, failureThreshold: 5 });
  });

  test('autoscale: an HPA on CPU, the Deployment leaves replicas to it and requests CPU', () => {
    const list = objects(`${API}    autoscale: { min: 2, max: 8, cpu: 65 }\n`);
    const deployment = find(list, 'Deployment', 'api');
    assert.equal(deployment.spec.replicas, undefined);
    assert.deepEqual(deployment.spec.template.spec.containers[0].resources.requests, { cpu: '1' });
    const hpa = find(list, 'HorizontalPodAutoscaler', 'api');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' });
    assert.equal(hpa.spec.minReplicas, 2);
    assert.equal(hpa.spec.maxReplicas, 8);
    assert.equal(hpa.spec.metrics[0].resource.target.averageUtilization, 65);
    // The defaults of SPEC §15 are the HPA's: 0 s up, 300 s down, +100 % or +4 pods per 15 s.
    assert.deepEqual(hpa.spec.behavior, {
      scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }] },
      scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    });
  });

  test('autoscale: rps and inflight targets become per-pod metrics; the windows and period map to behavior', () => {
    const list = objects(`${API}    autoscale: { min: 1, max: 4, rps: 200, inflight: 8, period: 30s, scale-up-window: 1m, scale-down-window: 10m }\n`);
    const hpa = find(list, 'HorizontalPodAutoscaler', 'api');
    assert.deepEqual(hpa.spec.metrics, [
      { type: 'Pods', pods: { metric: { name: 'http_requests_per_second' }, target: { type: 'AverageValue', averageValue: '200' } } },
      { type: 'Pods', pods: { metric: { name: 'http_requests_in_flight' }, target: { type: 'AverageValue', averageValue: '8' } } },
    ]);
    assert.equal(hpa.spec.behavior.scaleUp.stabilizationWindowSeconds, 60);
    assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 600);
    assert.equal(hpa.spec.behavior.scaleDown.policies[0].periodSeconds, 30);
  });

  test('a cluster app runs supervise -w N inside one pod, watched through its control socket', () => {
    const list = objects(`apps:\n  web:\n    script: web/app.js\n    workers: 4\n    port: 3000\n    wait-ready: true\n    max-memory: 100M\n`, NO_IMAGES, ['web/app.js']);
    const deployment = find(list, 'Deployment', 'web');
    assert.equal(deployment.spec.replicas, 1);
    const [container] = deployment.spec.template.spec.containers;
    assert.deepEqual(container.command.slice(0, 5), ['supervise', '-w', '4', '--port', '3000']);
    assert.ok(container.command.includes('--wait-ready'));
    assert.equal(container.command.at(-1), 'web/app.js');
    assert.deepEqual(container.readinessProbe.tcpSocket, { port: 'http' });
    assert.deepEqual(container.livenessProbe.exec.command.slice(0, 2), ['supervise', 'ctl']);
    assert.deepEqual(container.resources.limits, { memory: '500Mi' }, 'four workers and their master');
    assert.equal(find(list, 'Service', 'web').spec.ports[0].port, 3000);
  });

  const ROUTED = (second: string) => `
front: { port: 8080 }
apps:
  users: { command: [u, "{port}"], base-port: 8000, workers: 1, route: /users }
  orders: { command: [o, "{port}"], base-port: 8100, workers: 1, route: ${second} }
`;

  test('routes without weights or strip: an Ingress', () => {
    const ingress = find(objects(ROUTED('{ path: /orders, host: shop.example }')), 'Ingress');
    assert.deepEqual(
      ingress.spec.rules.map((rule: any) => [rule.host, rule.http.paths.map((p: any) => [p.path, p.pathType, p.backend.service.name, p.backend.service.port.number])]),
      [
        [undefined, [['/users', 'Prefix', 'users', 8000]]],
        ['shop.example', [['/orders', 'Prefix', 'orders', 8100]]],
      ],
    );
  });

  test('weights between apps and prefix stripping: an HTTPRoute with weighted backendRefs and a URLRewrite', () => {
    const yaml = `${ROUTED('{ path: /users, weight: 3, strip: true }').replace('route: /users', 'route: { path: /users, weight: 1, strip: true }')}`;
    const list = objects(yaml, { ...NO_IMAGES, gateway: 'edge' });
    assert.equal(list.some((o) => o.kind === 'Ingress'), false);
    const route = find(list, 'HTTPRoute');
    assert.deepEqual(route.spec.parentRefs, [{ name: 'edge' }]);
    const [rule] = route.spec.rules;
    assert.deepEqual(rule.matches, [{ path: { type: 'PathPrefix', value: '/users' } }]);
    assert.deepEqual(rule.backendRefs, [
      { name: 'users', port: 8000, weight: 1 },
      { name: 'orders', port: 8100, weight: 3 },
    ]);
    assert.deepEqual(rule.filters, [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }]);
    assert.throws(() => objects(yaml, { ...NO_IMAGES, routes: 'ingress' }), /which an Ingress cannot say: use --routes httproute/);
  });

  test('--image sets an app’s image; others get <app>:latest', () => {
    const list = objects(API, { images: new Map([['api', 'registry.example/api:2.1']]) });
    assert.equal(find(list, 'Deployment', 'api').spec.template.spec.containers[0].image, 'registry.example/api:2.1');
    assert.equal(find(objects(API), 'Deployment', 'api').spec.template.spec.containers[0].image, 'api:latest');
  });
});

describe('compose', () => {
  test('healthcheck from --health, replicas, stop grace, memory, depends_on service_healthy', () => {
    const yaml = `${API}  worker:\n    command: [w, "{port}"]\n    base-port: 9100\n    port: 8081\n    workers: 1\n    depends-on: [api]\n`;
    const services = composeFile(systemFromYaml(yaml), NO_IMAGES).services as Record<string, any>;
    const api = services.api;
    assert.deepEqual(api.healthcheck, {
      test: ['CMD-SHELL', 'curl -fsS -o /dev/null http://127.0.0.1:9000/ready || wget -q -O /dev/null http://127.0.0.1:9000/ready'],
      interval: '5s',
      timeout: '3s',
      retries: 6,
      start_period: '45s',
    });
    assert.equal(api.deploy.replicas, 3);
    assert.deepEqual(api.deploy.resources, { limits: { memory: '300M' } });
    assert.equal(api.stop_grace_period, '12s');
    assert.equal(api.ports, undefined, 'three replicas cannot share one host port');
    assert.deepEqual(services.worker.depends_on, { api: { condition: 'service_healthy' } });
    assert.deepEqual(services.worker.ports, ['8081:9100'], 'one replica with its own front: the public port is published');
  });
});

describe('systemd', () => {
  test('a Type=notify unit: reload by HUP, watchdog, KillMode=mixed, stop and start budgets from the apps', () => {
    const system = systemFromYaml(`${API}  slow:\n    command: [s, "{port}"]\n    base-port: 9100\n    port: 8081\n    workers: 1\n    ready-timeout: 20s\n    kill-timeout: 30s\n    depends-on: [api]\n`);
    const unit = systemdUnit(system, { node: '/usr/bin/node', bin: '/opt/supervise/bin/supervise.js' }, 'shop');
    const lines = unit.split('\n');
    for (const line of ['Type=notify', 'NotifyAccess=main', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillMode=mixed', 'Restart=on-failure', 'WatchdogSec=10']) {
      assert.ok(lines.includes(line), line);
    }
    assert.ok(lines.includes('TimeoutStopSec=35'), 'the longest kill-timeout (30s) and a margin');
    assert.ok(lines.includes('TimeoutStartSec=70'), 'slow waits for api: 45s + 20s, and a margin');
    assert.ok(lines.includes(`ExecStart=/usr/bin/node /opt/supervise/bin/supervise.js --config ${system.file} --log-format json`));
  });

  test('one app’s settings file (no apps:): the unit runs supervise with that file', () => {
    const system = systemFromYaml('workers: 2\ncommand: [server, --port, "{port}"]\n');
    assert.equal(system.file, undefined);
    assert.throws(() => systemdUnit(system, { node: '/usr/bin/node', bin: '/b.js' }, 'server'), /export with --config <file>/);
    const unit = systemdUnit(system, { node: '/usr/bin/node', bin: '/b.js', configFile: '/srv/api/settings.yaml' }, 'server');
    assert.ok(unit.split('\n').includes('ExecStart=/usr/bin/node /b.js --config /srv/api/settings.yaml --log-format json'));
    assert.ok(unit.split('\n').includes('WorkingDirectory=/srv/api'));
  });
});

describe('a container must listen beyond 127.0.0.1', () => {
  const table: Array<[string, string[], string[]]> = [
    ['uvicorn without --host gets one (its default is 127.0.0.1; it ignores HOST)', ['uvicorn', 'main:app', '--port', '8000'], ['uvicorn', '--host', '0.0.0.0', 'main:app', '--port', '8000']],
    ['python -m uvicorn too', ['python3', '-m', 'uvicorn', 'main:app'], ['python3', '-m', 'uvicorn', '--host', '0.0.0.0', 'main:app']],
    ['uvicorn --host 127.0.0.1 becomes 0.0.0.0', ['/venv/bin/uvicorn', 'main:app', '--host', '127.0.0.1'], ['/venv/bin/uvicorn', 'main:app', '--host', '0.0.0.0']],
    ['uvicorn --host=localhost too', ['uvicorn', '--host=localhost', 'main:app'], ['uvicorn', '--host=0.0.0.0', 'main:app']],
    ['uvicorn on a chosen address keeps it', ['uvicorn', 'main:app', '--host', '10.0.0.5'], ['uvicorn', 'main:app', '--host', '10.0.0.5']],
    ['uvicorn on a unix socket keeps it', ['uvicorn', 'main:app', '--uds', '/tmp/u.sock'], ['uvicorn', 'main:app', '--uds', '/tmp/u.sock']],
    ['gunicorn -b 127.0.0.1:port becomes 0.0.0.0:port', ['gunicorn', '-b', '127.0.0.1:8000', 'app:app'], ['gunicorn', '-b', '0.0.0.0:8000', 'app:app']],
    ['gunicorn --bind=localhost:port too', ['gunicorn', '--bind=localhost:8000', 'app:app'], ['gunicorn', '--bind=0.0.0.0:8000', 'app:app']],
    ['gunicorn on 0.0.0.0 or a unix socket keeps it', ['gunicorn', '-b', 'unix:/tmp/g.sock', '-b', '0.0.0.0:8001'], ['gunicorn', '-b', 'unix:/tmp/g.sock', '-b', '0.0.0.0:8001']],
    ['any other server is left as written (HOST=0.0.0.0 is in its environment)', ['node', 'server.js', '8000'], ['node', 'server.js', '8000']],
  ];
  for (const [name, argv, expected] of table) {
    test(name, () => assert.deepEqual(listenBeyondLoopback(argv).command, expected));
  }

  test('the exported uvicorn command listens on 0.0.0.0 in Kubernetes and compose', () => {
    const yaml = 'apps:\n  users: { command: [uvicorn, main:app, --port, "{port}"], base-port: 8000 }\n';
    const container = find(objects(yaml), 'Deployment', 'users').spec.template.spec.containers[0];
    assert.deepEqual(container.command, ['uvicorn', '--host', '0.0.0.0', 'main:app', '--port', '8000']);
    const compose = composeFile(systemFromYaml(yaml), NO_IMAGES) as { services: Record<string, { command: string[] }> };
    assert.deepEqual(compose.services['users']?.command, ['uvicorn', '--host', '0.0.0.0', 'main:app', '--port', '8000']);
  });
});

describe('what the exports do not claim, and variables', () => {
  test('no prometheus.io/scrape annotation: supervise cannot know that the app serves /metrics', () => {
    const deployment = find(objects(API), 'Deployment', 'api');
    assert.equal(deployment.spec.template.metadata.annotations, undefined);
  });

  test('${VAR:-default}: compose keeps it for compose to resolve; Kubernetes gets the default, never the exporting shell\'s value', () => {
    const yaml = 'apps:\n  users:\n    command: [u, "{port}"]\n    base-port: 8000\n    env: { DB: "${SUPERVISE_EXPORT_DB:-sqlite:///users.db}", PRICE: "5$", TOKEN: "${SUPERVISE_EXPORT_TOKEN}" }\n';
    process.env['SUPERVISE_EXPORT_DB'] = 'postgres://laptop-only';
    process.env['SUPERVISE_EXPORT_TOKEN'] = 'abc';
    try {
      const compose = composeFile(systemFromYaml(yaml), NO_IMAGES) as { services: Record<string, { environment: Record<string, string> }> };
      assert.deepEqual(compose.services['users']?.environment, {
        DB: '${SUPERVISE_EXPORT_DB:-sqlite:///users.db}', PRICE: '5$$', TOKEN: '${SUPERVISE_EXPORT_TOKEN}', PORT: '8000', HOST: '0.0.0.0',
      });
      const env = find(objects(yaml), 'Deployment', 'users').spec.template.spec.containers[0].env as Array<{ name: string; value: string }>;
      assert.deepEqual(Object.fromEntries(env.map((pair) => [pair.name, pair.value])), {
        DB: 'sqlite:///users.db', PRICE: '5$', TOKEN: 'abc', PORT: '8000', HOST: '0.0.0.0',
      });
    } finally {
      delete process.env['SUPERVISE_EXPORT_DB'];
      delete process.env['SUPERVISE_EXPORT_TOKEN'];
    }
  });
});
