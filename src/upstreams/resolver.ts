// The remote servers' DNS lookups (the I/O; the policy is in core/upstreams.ts):
// A/AAAA through node's dns.Resolver with their TTLs, SRV by a query of our own
// over UDP (dns-wire.ts), because node's resolveSrv gives no TTL. `resolvers:`
// chooses the DNS servers; without it, the system's (/etc/resolv.conf), and a
// name DNS does not know is looked up like any program would (/etc/hosts too).

import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import { decodeSrvResponse, encodeQuery, TYPE_SRV } from './dns-wire.js';
import type { SrvRecord } from '../core/upstreams.js';

export interface HostAnswer {
  readonly addresses: readonly string[];
  /** Seconds until the answer should be asked again; undefined: never (an IP address). */
  readonly ttl: number | undefined;
}

export interface SrvLookup {
  readonly records: readonly SrvRecord[];
  readonly ttl: number;
}

export interface UpstreamResolver {
  resolveHost(name: string): Promise<HostAnswer>;
  resolveSrv(name: string): Promise<SrvLookup>;
}

const QUERY_TIMEOUT_MS = 2000;
/** /etc/hosts answers carry no TTL: look again this often. */
const LOOKUP_TTL_S = 30;

export function createUpstreamResolver(servers: readonly string[] | undefined): UpstreamResolver {
  const resolver = new dns.promises.Resolver({ timeout: QUERY_TIMEOUT_MS, tries: 2 });
  if (servers !== undefined && servers.length > 0) resolver.setServers([...servers]);
  const custom = servers !== undefined && servers.length > 0;

  return {
    async resolveHost(name) {
      if (isIP(name) !== 0) return { addresses: [name], ttl: undefined };
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(name, { ttl: true }), resolver.resolve6(name, { ttl: true })]);
      const records = [v4, v6].flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
      if (records.length > 0) {
        return { addresses: records.map((record) => record.address), ttl: Math.min(...records.map((record) => record.ttl)) };
      }
      const failure = [v4, v6].find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (!custom) {
        // Not in DNS: /etc/hosts and the system's other sources, as getaddrinfo sees them.
        const found = await dns.promises.lookup(name, { all: true }).catch(() => []);
        if (found.length > 0) return { addresses: found.map((entry) => entry.address), ttl: LOOKUP_TTL_S };
      }
      throw new Error(`cannot resolve ${name}: ${describe(failure?.reason)}`);
    },

    async resolveSrv(name) {
      const targets = (custom ? servers : dns.getServers()).map(parseServer);
      let lastError: unknown = new Error('no DNS server configured');
      for (const target of targets) {
        try {
          const answer = await querySrv(target, name);
          if (answer.rcode === 3) throw new Error(`${name} does not exist (NXDOMAIN)`);
          if (answer.rcode !== 0) throw new Error(`DNS server ${target.address}:${target.port} answered rcode ${answer.rcode}`);
          if (answer.records.length === 0) throw new Error(`${name} has no SRV records`);
          return { records: answer.records, ttl: Math.min(...answer.records.map((record) => record.ttl)) };
        } catch (error) {
          lastError = error;
        }
      }
      throw new Error(`cannot resolve SRV ${name}: ${describe(lastError)}`);
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) return 'code' in error && typeof error.code === 'string' ? `${error.code} (${error.message})` : error.message;
  return String(error);
}

/** `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353`. */
export function parseServer(text: string): { address: string; port: number } {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) return { address: bracketed[1] as string, port: Number(bracketed[2] ?? 53) };
  if (isIP(text) !== 0) return { address: text, port: 53 };
  const [address = '', port = '53'] = text.split(':');
  return { address, port: Number(port) };
}

function querySrv(server: { address: string; port: number }, name: string): Promise<ReturnType<typeof decodeSrvResponse>> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(isIP(server.address) === 6 ? 'udp6' : 'udp4');
    const id = Math.floor(Math.random() * 0x10000);
    const finish = (error: Error | undefined, answer?: ReturnType<typeof decodeSrvResponse>) => {
      clearTimeout(timer);
      socket.close();
      if (error !== undefined) reject(error);
      else resolve(answer as ReturnType<typeof decodeSrvResponse>);
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${server.address}:${server.port} within ${QUERY_TIMEOUT_MS}ms`)), QUERY_TIMEOUT_MS);
    socket.on('error', (error) => finish(error));
    socket.on('message', (packet, from) => {
      // Only the server asked, with our id; anything else is ignored, not trusted.
      if (from.address !== server.address || from.port !== server.port || packet.length < 2 || packet.readUInt16BE(0) !== id) return;
      try {
        finish(undefined, decodeSrvResponse(packet, id));
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.send(encodeQuery(id, name, TYPE_SRV), server.port, server.address, (error) => {
      if (error) finish(error);
    });
  });
}

/** Every name of these entries resolves (`ctl apply` asks before it changes anything); else the first failure, naming its entry. */
export async function unresolvedUpstream(
  specs: ReadonlyArray<import('../core/upstreams.js').UpstreamSpec>, resolver: UpstreamResolver,
): Promise<string | undefined> {
  const failures = await Promise.all(specs.map(async (spec) => {
    try {
      if (spec.kind === 'srv') await resolver.resolveSrv(spec.name);
      else await resolver.resolveHost(spec.host);
      return undefined;
    } catch (error) {
      return `${spec.where}: ${(error as Error).message}`;
    }
  }));
  return failures.find((failure) => failure !== undefined);
}
