// A system as a docker compose file: a service per app with its command,
// environment, healthcheck (from --health and its thresholds), replicas,
// stop grace period, memory limit, ports, and depends_on with
// service_healthy from depends-on. Pure: SystemConfig -> a plain object.

import type { SystemConfig } from '../core/system-types.js';
import { ownsListener } from '../system-config.js';
import { type AppFacts, dnsName, type ExportOptions, type ProbeTarget, systemFacts } from './app-facts.js';
import { composeRemoteServers } from './remote-servers.js';

/** The healthcheck command; curl or wget, whichever the image has (compose runs it inside the container). */
function healthTest(target: ProbeTarget, port: number): string[] {
  if (target.kind === 'exec') return ['CMD', ...target.command];
  if (target.kind === 'http') {
    const url = `http://127.0.0.1:${port}${target.path}`;
    return ['CMD-SHELL', `curl -fsS -o /dev/null ${url} || wget -q -O /dev/null ${url}`];
  }
  // A TCP connect without a client tool: bash's /dev/tcp.
  return ['CMD-SHELL', `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}'`];
}

function composeValue(value: string): string {
  return value.replace(/\$(?!\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})/g, '$$$$');
}

function service(app: AppFacts): Record<string, unknown> {
  const health = app.app.mode === 'cluster' ? app.liveness! : app.readiness;
  // Published only where one container serves the port: compose replicas cannot share a host port.
  const publish = ownsListener(app.app) && app.app.port !== 0 && app.replicas === 1;
  return {
    image: app.image,
    command: [...app.command],
    working_dir: app.workingDir,
    // Compose resolves ${VAR} and ${VAR:-default} itself, from the environment of `docker compose up`
    // (or .env): kept as written; any other $ is doubled, as compose reads $$ as a literal $.
    environment: Object.fromEntries(Object.entries(app.envTemplate).map(([name, value]) => [name, composeValue(value)])),
    ...(publish ? { ports: [`${app.app.port}:${app.port}`] } : { expose: [String(app.port)] }),
    healthcheck: {
      test: healthTest(health.target, app.port),
      interval: `${health.periodSeconds}s`,
      timeout: `${health.timeoutSeconds}s`,
      retries: health.failureThreshold,
      start_period: `${app.startupSeconds}s`,
    },
    stop_grace_period: `${app.stopSeconds}s`,
    // supervise replaces any worker that exits unasked, whatever its code.
    restart: 'unless-stopped',
    ...(app.app.dependsOn.length === 0
      ? {}
      : { depends_on: Object.fromEntries(app.app.dependsOn.map((name) => [dnsName(name), { condition: 'service_healthy' }])) }),
    deploy: {
      replicas: app.replicas,
      ...(app.memoryLimitBytes === undefined ? {} : { resources: { limits: { memory: `${Math.ceil(app.memoryLimitBytes / 1024 / 1024)}M` } } }),
    },
  };
}

export function composeFile(system: SystemConfig, options: ExportOptions): Record<string, unknown> {
  const facts = systemFacts(system, options);
  // An app of remote servers only has no container to run.
  const services = facts.filter((app) => app.app.workers > 0).map((app) => [app.name, service(app)]);
  return { services: Object.fromEntries(services), ...composeRemoteServers(system.apps, dnsName) };
}
