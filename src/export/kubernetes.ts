// A system as Kubernetes objects: per app a Deployment (probes, rolling
// update, stop budget, memory limit), a Service and, with `autoscale`, an
// HPA; the shared front's routes as an Ingress, or as a Gateway-API
// HTTPRoute when they need weights or prefix stripping, which Ingress cannot
// say. Pure: SystemConfig -> plain objects (YAML in ./files.ts).

import type { AutoscaleConfig, SystemConfig } from '../core/system-types.js';
import { SCALE_UP_PERCENT, SCALE_UP_PODS } from '../core/autoscale.js';
import { ownsListener } from '../system-config.js';
import { type AppFacts, type ExportOptions, type Probe, systemFacts } from './app-facts.js';
import { UsageError } from '../errors.js';
import { remoteServerObjects } from './remote-servers.js';

/** Seconds the pod keeps serving after it was asked to stop, so that Services stop sending to it first (endpoint removal is asynchronous). */
export const PRE_STOP_SECONDS = 5;

export type RouteKind = 'ingress' | 'httproute';

export interface KubernetesOptions extends ExportOptions {
  /** Default: an Ingress when every route can be one, else an HTTPRoute. */
  readonly routes?: RouteKind | undefined;
  /** The Gateway an HTTPRoute attaches to (default `gateway`). */
  readonly gateway?: string | undefined;
}

export type KubernetesObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } } & Record<string, unknown>;

/** File name -> the objects it holds (one file per app, and routes.yaml). */
export interface ManifestFile {
  readonly name: string;
  readonly objects: readonly KubernetesObject[];
}

const NAME_LABEL = 'app.kubernetes.io/name';
const PART_OF_LABEL = 'app.kubernetes.io/part-of';

export function kubernetesManifests(system: SystemConfig, options: KubernetesOptions, systemName: string): ManifestFile[] {
  const facts = systemFacts(system, options);
  const files: ManifestFile[] = facts.map((app) => ({ name: `${app.name}.yaml`, objects: appObjects(app, systemName) }));
  const routes = routeObjects(facts, options, systemName);
  if (routes.length > 0) files.push({ name: 'routes.yaml', objects: routes });
  return files;
}

function labels(app: AppFacts, systemName: string): Record<string, string> {
  return { [NAME_LABEL]: app.name, [PART_OF_LABEL]: systemName };
}

function probe(p: Probe, port: string): Record<string, unknown> {
  const target =
    p.target.kind === 'http'
      ? { httpGet: { path: p.target.path, port } }
      : p.target.kind === 'tcp'
        ? { tcpSocket: { port } }
        : { exec: { command: [...p.target.command] } };
  return { ...target, periodSeconds: p.periodSeconds, timeoutSeconds: p.timeoutSeconds, successThreshold: p.successThreshold, failureThreshold: p.failureThreshold };
}

/** The Service's port: the public port users know when the app owns a listener under supervise, else the container's. */
function servicePort(app: AppFacts): number {
  return ownsListener(app.app) && app.app.port !== 0 ? app.app.port : app.port;
}

function appObjects(app: AppFacts, systemName: string): KubernetesObject[] {
  const meta = { name: app.name, labels: labels(app, systemName) };
  // Remote servers only: the Service that routes name, over endpoints outside the cluster.
  if (app.app.workers === 0) return remoteServerObjects(app.app, app.name, servicePort(app), meta.labels);
  const autoscale = app.app.autoscale;
  const resources: Record<string, Record<string, string>> = {};
  if (app.memoryLimitBytes !== undefined) resources.limits = { memory: `${Math.ceil(app.memoryLimitBytes / 1024 / 1024)}Mi` };
  // CPU utilisation is measured against the request: no request, no HPA. One core per worker process.
  if (autoscale !== undefined) resources.requests = { cpu: String(app.app.mode === 'cluster' ? app.app.workers : 1) };
  const container: Record<string, unknown> = {
    name: app.name,
    image: app.image,
    command: [...app.command],
    workingDir: app.workingDir,
    env: Object.entries(app.env).map(([name, value]) => ({ name, value })),
    ports: [{ name: 'http', containerPort: app.port }],
    // The startup probe holds the others back until the first success, within --ready-timeout.
    startupProbe: { ...probe({ ...app.readiness, periodSeconds: 1, successThreshold: 1 }, 'http'), failureThreshold: app.startupSeconds },
    readinessProbe: probe(app.readiness, 'http'),
    ...(app.liveness === undefined ? {} : { livenessProbe: probe(app.liveness, 'http') }),
    lifecycle: { preStop: { exec: { command: ['sleep', String(PRE_STOP_SECONDS)] } } },
    ...(Object.keys(resources).length === 0 ? {} : { resources }),
  };
  const deployment: KubernetesObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: {
      // With an HPA the replica count is the HPA's: a fixed one would fight it at every apply.
      ...(autoscale === undefined ? { replicas: app.replicas } : {}),
      selector: { matchLabels: { [NAME_LABEL]: app.name } },
      // One new pod ready before an old one goes: supervise's own rolling reload.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        // No prometheus.io/scrape annotation: supervise cannot know that the app serves /metrics on its
        // port (the bundled examples do not), and a scrape of a 404 is an alert (docs/export.md).
        metadata: { labels: labels(app, systemName) },
        spec: { terminationGracePeriodSeconds: app.stopSeconds + PRE_STOP_SECONDS, containers: [container] },
      },
    },
  };
  const service: KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta,
    spec: { selector: { [NAME_LABEL]: app.name }, ports: [{ name: 'http', port: servicePort(app), targetPort: 'http' }] },
  };
  const objects = [deployment, service];
  // Its own workers plus remote servers: those get a Service of their own (`<app>-remote`).
  if (app.app.upstreams.length > 0) objects.push(...remoteServerObjects(app.app, `${app.name}-remote`, servicePort(app), meta.labels));
  if (autoscale !== undefined) {
    objects.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta,
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: app.name },
        minReplicas: autoscale.min,
        maxReplicas: autoscale.max,
        metrics: hpaMetrics(autoscale, app.app.mode === 'cluster' ? app.app.workers : 1),
        behavior: hpaBehavior(autoscale),
      },
    });
  }
  return objects;
}

/** Names of the per-pod custom metrics an adapter (e.g. prometheus-adapter) must serve for rps and inflight targets. */
export const HPA_POD_METRICS = { rps: 'http_requests_per_second', inflight: 'http_requests_in_flight' } as const;

/** cpu → CPU utilisation of the request; rps and inflight → per-pod averages, a pod holding `workersPerPod` workers. */
function hpaMetrics(autoscale: AutoscaleConfig, workersPerPod: number): unknown[] {
  const metrics: unknown[] = [];
  if (autoscale.cpu !== undefined) {
    metrics.push({ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: Math.round(autoscale.cpu) } } });
  }
  for (const key of ['rps', 'inflight'] as const) {
    const target = autoscale[key];
    if (target === undefined) continue;
    const perPod = String(Math.round(target * workersPerPod * 1000) / 1000);
    metrics.push({ type: 'Pods', pods: { metric: { name: HPA_POD_METRICS[key] }, target: { type: 'AverageValue', averageValue: perPod } } });
  }
  return metrics;
}

/** The stabilization windows, and the HPA's default policies over supervise's period (what the local autoscaler applies). */
function hpaBehavior(autoscale: AutoscaleConfig): unknown {
  const periodSeconds = Math.min(1800, Math.max(1, Math.round(autoscale.periodMs / 1000)));
  return {
    scaleUp: {
      stabilizationWindowSeconds: Math.round(autoscale.scaleUpWindowMs / 1000),
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: SCALE_UP_PERCENT, periodSeconds }, { type: 'Pods', value: SCALE_UP_PODS, periodSeconds }],
    },
    scaleDown: {
      stabilizationWindowSeconds: Math.round(autoscale.scaleDownWindowMs / 1000),
      policies: [{ type: 'Percent', value: 100, periodSeconds }],
    },
  };
}

interface RouteGroup {
  readonly host: string | undefined;
  readonly path: string;
  readonly strip: boolean;
  readonly backends: Array<{ app: AppFacts; weight: number }>;
}

/** Routes with the same host and path share the traffic by weight (smooth weighted round-robin under supervise). */
function routeGroups(apps: readonly AppFacts[]): RouteGroup[] {
  const groups = new Map<string, RouteGroup>();
  for (const app of apps) {
    for (const route of app.app.routes) {
      const key = `${route.host ?? ''} ${route.path}`;
      const group = groups.get(key) ?? { host: route.host, path: route.path, strip: route.strip, backends: [] };
      if (group.strip !== route.strip) {
        throw new UsageError(`routes to ${route.host ?? ''}${route.path} disagree on strip (app "${app.app.name}"): Kubernetes rewrites per route, not per backend`);
      }
      group.backends.push({ app, weight: route.weight });
      groups.set(key, group);
    }
  }
  return [...groups.values()];
}

function routeObjects(apps: readonly AppFacts[], options: KubernetesOptions, systemName: string): KubernetesObject[] {
  const groups = routeGroups(apps);
  if (groups.length === 0) return [];
  const needsGateway = groups.some((group) => group.strip || group.backends.length > 1);
  const kind = options.routes ?? (needsGateway ? 'httproute' : 'ingress');
  if (kind === 'ingress' && needsGateway) {
    const group = groups.find((g) => g.strip || g.backends.length > 1)!;
    throw new UsageError(
      `the route ${group.host ?? ''}${group.path} ${group.strip ? 'strips its prefix' : 'is split by weight between apps'}, which an Ingress cannot say: use --routes httproute`,
    );
  }
  return kind === 'ingress' ? [ingress(groups, systemName)] : httpRoutes(groups, options.gateway ?? 'gateway', systemName);
}

function backend(app: AppFacts): { name: string; port: number } {
  return { name: app.name, port: servicePort(app) };
}

function ingress(groups: readonly RouteGroup[], systemName: string): KubernetesObject {
  const hosts = [...new Set(groups.map((g) => g.host))];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: systemName, labels: { [PART_OF_LABEL]: systemName } },
    spec: {
      rules: hosts.map((host) => ({
        ...(host === undefined ? {} : { host }),
        http: {
          paths: groups
            .filter((g) => g.host === host)
            .map((g) => {
              const { name, port } = backend(g.backends[0]!.app);
              return { path: g.path, pathType: 'Prefix', backend: { service: { name, port: { number: port } } } };
            }),
        },
      })),
    },
  };
}

/** One HTTPRoute per host (hostnames belong to the route), a rule per path with weighted backendRefs. */
function httpRoutes(groups: readonly RouteGroup[], gateway: string, systemName: string): KubernetesObject[] {
  const hosts = [...new Set(groups.map((g) => g.host))];
  return hosts.map((host, index) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: hosts.length === 1 ? systemName : `${systemName}-${index}`, labels: { [PART_OF_LABEL]: systemName } },
    spec: {
      parentRefs: [{ name: gateway }],
      ...(host === undefined ? {} : { hostnames: [host] }),
      rules: groups
        .filter((g) => g.host === host)
        .map((g) => ({
          matches: [{ path: { type: 'PathPrefix', value: g.path } }],
          ...(g.strip ? { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }] } : {}),
          backendRefs: g.backends.map(({ app, weight }) => ({ ...backend(app), weight })),
        })),
    },
  }));
}
