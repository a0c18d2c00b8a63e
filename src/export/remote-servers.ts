// An app's remote servers (`upstreams:`) as what the engines have. Kubernetes:
// IP addresses become a Service without a selector and EndpointSlices (one per
// port and address family); a lone host name (or SRV name, by the name it
// stands for) becomes an ExternalName Service; weights, backup and max-fails
// have no Service equivalent (docs/export.md). Compose has no external
// endpoints at all: the servers are listed under an `x-` extension key. Pure.

import { isIP } from 'node:net';
import type { AppConfig } from '../core/system-types.js';
import type { UpstreamSpec } from '../core/upstreams.js';

type KubernetesObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } } & Record<string, unknown>;

type ServerSpec = Extract<UpstreamSpec, { kind: 'server' }>;

/** The name a SRV entry stands for: `_api._tcp.service.consul` → `api.service.consul` (Consul's A records), `_http._tcp.web.ns.svc.cluster.local` → `web.ns.svc.cluster.local`. */
export function srvHost(name: string): string {
  const [service = '', , ...rest] = name.split('.');
  const domain = rest.join('.');
  return /\.svc\./.test(`.${domain}.`) ? domain : `${service.replace(/^_/, '')}.${domain}`;
}

/**
 * The Service (named `name`, as routes expect) and its EndpointSlices for the app's remote servers.
 * `port` is the Service's own port (what routes name); the servers' ports are the endpoints'.
 */
export function remoteServerObjects(app: AppConfig, name: string, port: number, labels: Record<string, string>): KubernetesObject[] {
  const byAddress = app.upstreams.filter((spec): spec is ServerSpec => spec.kind === 'server' && isIP(spec.host) !== 0);
  const byName = app.upstreams.filter((spec) => !(spec.kind === 'server' && isIP(spec.host) !== 0));
  const meta = (suffix: string) => ({ name: `${name}${suffix}`, labels });
  const externalName = (spec: UpstreamSpec, suffix: string): KubernetesObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(suffix),
    // An ExternalName is a DNS CNAME: the client connects to the name's own port.
    spec: { type: 'ExternalName', externalName: spec.kind === 'srv' ? srvHost(spec.name) : spec.host, ports: [{ name: 'http', port: spec.kind === 'srv' ? port : spec.port }] },
  });
  if (byAddress.length === 0 && byName.length === 1 && byName[0] !== undefined) return [externalName(byName[0], '')];

  const objects: KubernetesObject[] = [];
  if (byAddress.length > 0) {
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: meta(''), spec: { ports: [{ name: 'http', port, protocol: 'TCP' }] } });
    const slices = new Map<string, { family: 'IPv4' | 'IPv6'; port: number; addresses: string[] }>();
    for (const spec of byAddress) {
      const family = isIP(spec.host) === 6 ? 'IPv6' : 'IPv4';
      const key = `${family} ${spec.port}`;
      const slice = slices.get(key) ?? { family, port: spec.port, addresses: [] };
      slice.addresses.push(spec.host);
      slices.set(key, slice);
    }
    let index = 0;
    for (const slice of slices.values()) {
      objects.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-${index++}`, labels: { ...labels, 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'supervise-export' } },
        addressType: slice.family,
        ports: [{ name: 'http', port: slice.port, protocol: 'TCP' }],
        endpoints: slice.addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
      });
    }
  }
  // Host names beside addresses: one ExternalName each (a Service is one or the other); routes reach the first Service only.
  byName.forEach((spec, i) => objects.push(externalName(spec, `-external-${i}`)));
  return objects;
}

/** Compose: no external endpoints; the servers are kept, for the reader, under an extension key. */
export function composeRemoteServers(apps: readonly AppConfig[], dnsName: (name: string) => string): Record<string, unknown> {
  const listed = apps.filter((app) => app.upstreams.length > 0);
  if (listed.length === 0) return {};
  return {
    'x-supervise-remote-servers': Object.fromEntries(listed.map((app) => [dnsName(app.name), app.upstreams.map((spec) =>
      spec.kind === 'srv' ? { srv: spec.name, backup: spec.backup } : { server: `${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.port}`, weight: spec.weight, backup: spec.backup })])),
  };
}
