// An app's remote servers (SPEC §13): the registry that turns `upstreams:` into
// backends of the app's front, next to (never inside) its worker table. A remote
// server has no process and no lifecycle: it is an address that DNS gives and
// takes away, that health checks and max-fails take out of rotation and bring
// back. Its id comes from the system's worker id space, so the front, the
// metrics and the routing front treat it like any backend.

import { createHealthChecker, type HealthChecker } from '../health/checker.js';
import type { Logger } from '../log.js';
import {
  diffServers, inRotation, PassiveEjection, refreshDelayMs, serverKey, serversFromSrv,
  type PassivePolicy, type ServerAddress, type ServerCondition, type UpstreamSpec,
} from '../core/upstreams.js';
import type { RemoteServerStatus } from '../core/system-api.js';
import type { Front, HealthConfig, SupervisorEvent, WorkerId } from '../core/types.js';
import type { UpstreamResolver } from './resolver.js';

export interface RemoteServersOptions {
  readonly front: Front;
  readonly app: string;
  readonly health: HealthConfig;
  /** Initial max-fails policy; update() may change it. */
  readonly passive: PassivePolicy;
  readonly resolver: UpstreamResolver;
  readonly nextId: () => WorkerId;
  readonly logger: Logger;
  readonly emit: (event: SupervisorEvent) => void;
  readonly now?: () => number;
}

interface Server extends ServerAddress {
  readonly id: WorkerId;
  readonly key: string;
  origin: string;
  healthy: boolean;
  readonly passive: PassiveEjection;
  /** Left the records (or the file): out of rotation for good, forgotten once drained. */
  draining: boolean;
  /** Currently added to the front. */
  inFront: boolean;
  /** Ejected by max-fails, and said so: its return is said too. */
  ejectedSaid: boolean;
}

/** One entry of `upstreams:` and the servers it last resolved to (the last good set). */
interface Source {
  readonly spec: UpstreamSpec;
  servers: ServerAddress[];
  /** Seconds the last answer is good for; undefined: an IP address, never asked again. */
  ttl: number | undefined;
  timer: NodeJS.Timeout | undefined;
  failing: boolean;
}

export function describeSpec(spec: UpstreamSpec): string {
  return spec.kind === 'srv' ? `srv ${spec.name}` : serverKey({ address: spec.host, port: spec.port });
}

export class RemoteServers {
  private sources: Source[] = [];
  private readonly servers = new Map<string, Server>();
  private readonly byId = new Map<WorkerId, Server>();
  private readonly health: HealthChecker;
  private readonly now: () => number;
  private ejectionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly passive: { maxFails: number; failTimeoutMs: number };

  constructor(private readonly options: RemoteServersOptions) {
    this.now = options.now ?? Date.now;
    this.passive = { ...options.passive };
    this.health = createHealthChecker({
      health: options.health,
      host: '127.0.0.1',
      // Remote servers are never replaced: an outage only keeps them out of rotation.
      unhealthyLimitMs: Number.MAX_SAFE_INTEGER,
      onChange: (id, healthy, reason) => {
        const server = this.byId.get(id);
        if (server === undefined) return;
        server.healthy = healthy;
        this.report(server, healthy, reason);
        this.rotate();
      },
    });
  }

  /**
   * Start, or `ctl apply`: every entry resolved first (one that does not resolve throws, naming
   * the entry, and nothing changes); servers in both sets keep their id, counters and health.
   */
  async update(specs: readonly UpstreamSpec[], passive: PassivePolicy): Promise<void> {
    const sources = await this.resolveAll(specs);
    // Servers share the one policy object: a new max-fails applies to all of them.
    Object.assign(this.passive, passive);
    for (const source of this.sources) clearTimeout(source.timer);
    this.sources = sources;
    this.apply();
    for (const source of sources) this.schedule(source);
  }

  owns(id: WorkerId): boolean {
    return this.byId.has(id);
  }

  /** The front could not reach the server (connect refused or timed out, reset before a response). */
  failed(id: WorkerId, reason: string): void {
    const server = this.byId.get(id);
    if (server === undefined || server.draining) return;
    if (!server.passive.fail(this.now())) return;
    const { maxFails, failTimeoutMs } = this.passive;
    server.ejectedSaid = true;
    this.report(server, false, `${maxFails} failure(s) within ${failTimeoutMs}ms (last: ${reason}); out for ${failTimeoutMs}ms`);
    this.rotate();
  }

  /** The front has no request left on a server it was told to remove. */
  drained(id: WorkerId): void {
    const server = this.byId.get(id);
    if (server === undefined || !server.draining || server.inFront) return;
    this.byId.delete(id);
    if (this.servers.get(server.key) === server) this.servers.delete(server.key);
    this.options.emit({ type: 'server', id, server: server.key, change: 'drained', origin: server.origin });
  }

  status(): RemoteServerStatus[] {
    const now = this.now();
    const rotation = new Set([...this.byId.values()].filter((server) => server.inFront).map((server) => server.id));
    return [...this.byId.values()].map((server) => ({
      id: server.id,
      server: server.key,
      origin: server.origin,
      weight: server.weight,
      backup: server.backup,
      state: server.draining ? 'draining' : server.passive.ejected(now) ? 'ejected' : server.healthy ? 'up' : 'unhealthy',
      inRotation: rotation.has(server.id),
      connections: this.options.front.connections(server.id),
      total: this.options.front.totalConnections(server.id),
    }));
  }

  close(): void {
    this.closed = true;
    for (const source of this.sources) clearTimeout(source.timer);
    clearTimeout(this.ejectionTimer);
    this.health.close();
    for (const server of this.byId.values()) if (server.inFront) this.options.front.remove(server.id);
  }

  // ---------------------------------------------------------------- DNS

  private async resolveAll(specs: readonly UpstreamSpec[]): Promise<Source[]> {
    return Promise.all(specs.map(async (spec) => {
      try {
        const { servers, ttl } = await this.resolveSpec(spec);
        return { spec, servers, ttl, timer: undefined, failing: false };
      } catch (error) {
        throw new Error(`${spec.where}: ${(error as Error).message}`);
      }
    }));
  }

  private async resolveSpec(spec: UpstreamSpec): Promise<{ servers: ServerAddress[]; ttl: number | undefined }> {
    const { resolver } = this.options;
    if (spec.kind === 'server') {
      const answer = await resolver.resolveHost(spec.host);
      return { servers: answer.addresses.map((address) => ({ address, port: spec.port, weight: spec.weight, backup: spec.backup })), ttl: answer.ttl };
    }
    const srv = await resolver.resolveSrv(spec.name);
    const targets = serversFromSrv(srv.records, spec.backup);
    let ttl = srv.ttl;
    const servers: ServerAddress[] = [];
    // A target that does not resolve is left out; the others serve.
    const answers = await Promise.allSettled(targets.map((target) => resolver.resolveHost(target.host)));
    for (const [index, answer] of answers.entries()) {
      const target = targets[index];
      if (target === undefined) continue;
      if (answer.status === 'rejected') {
        this.options.logger.warn({ srv: spec.name, target: target.host }, `SRV ${spec.name}: target ${target.host} does not resolve; left out`);
        continue;
      }
      if (answer.value.ttl !== undefined) ttl = Math.min(ttl, answer.value.ttl);
      for (const address of answer.value.addresses) servers.push({ address, port: target.port, weight: target.weight, backup: target.backup });
    }
    if (servers.length === 0) throw new Error(`SRV ${spec.name}: no target resolves`);
    return { servers, ttl };
  }

  private schedule(source: Source): void {
    if (source.ttl === undefined && !source.failing) return; // an IP address
    const delay = refreshDelayMs(source.ttl, source.failing);
    source.timer = setTimeout(() => void this.refresh(source), delay);
    source.timer.unref();
  }

  private async refresh(source: Source): Promise<void> {
    try {
      const answer = await this.resolveSpec(source.spec);
      if (this.closed || !this.sources.includes(source)) return;
      if (source.failing) {
        this.options.logger.info(`${describeSpec(source.spec)}: DNS answers again (${answer.servers.length} server(s))`);
        this.options.emit({ type: 'dns', name: describeSpec(source.spec), ok: true, servers: answer.servers.length });
      }
      source.failing = false;
      source.servers = answer.servers;
      source.ttl = answer.ttl;
      this.apply();
    } catch (error) {
      if (this.closed || !this.sources.includes(source)) return;
      const message = (error as Error).message;
      // HAProxy's `hold valid`: the last good set stays until DNS answers again.
      this.options.logger.warn({ upstream: describeSpec(source.spec), err: message }, `${describeSpec(source.spec)}: lookup failed, keeping the last good ${source.servers.length} server(s)`);
      if (!source.failing) this.options.emit({ type: 'dns', name: describeSpec(source.spec), ok: false, error: message });
      source.failing = true;
    }
    this.schedule(source);
  }

  // ---------------------------------------------------------------- the set and the rotation

  /** Every source's last good servers, merged (the first entry that names an address wins), against the table. */
  private apply(): void {
    const wanted = this.sources.flatMap((source) => source.servers.map((server) => ({ server, origin: describeSpec(source.spec) })));
    const live = new Map([...this.servers].filter(([, server]) => !server.draining));
    const change = diffServers(live, wanted.map((entry) => entry.server));
    const originOf = (key: string) => wanted.find((entry) => serverKey(entry.server) === key)?.origin ?? '';
    for (const address of change.added) {
      const key = serverKey(address);
      const server: Server = {
        ...address, id: this.options.nextId(), key, origin: originOf(key), healthy: true,
        passive: new PassiveEjection(this.passive), draining: false, inFront: false, ejectedSaid: false,
      };
      // A server that left and came back before it drained: the old entry drains on, a new one serves.
      this.servers.set(key, server);
      this.byId.set(server.id, server);
      this.health.watch(server.id, server.port, server.address);
      this.options.logger.info({ server: key, id: server.id, weight: server.weight, backup: server.backup }, `server ${key} added (${server.origin})`);
      this.options.emit({ type: 'server', id: server.id, server: key, change: 'added', origin: server.origin });
    }
    for (const address of change.changed) {
      const old = this.servers.get(serverKey(address));
      if (old === undefined) continue;
      const server: Server = { ...old, weight: address.weight, backup: address.backup };
      this.servers.set(old.key, server);
      this.byId.set(old.id, server);
      // Re-adding updates the weight in the balancer.
      if (server.inFront) this.options.front.add(this.backendOf(server));
      this.options.emit({ type: 'server', id: server.id, server: server.key, change: 'reweighted', origin: server.origin });
    }
    for (const key of change.removed) {
      const server = this.servers.get(key);
      if (server === undefined) continue;
      server.draining = true;
      this.health.unwatch(server.id);
      this.options.logger.info({ server: key, id: server.id }, `server ${key} left ${server.origin}: draining`);
      this.options.emit({ type: 'server', id: server.id, server: key, change: 'removed', origin: server.origin });
    }
    // Removed servers that were not in the front (out of rotation already) have nothing to drain;
    // the others are drained when the front says so.
    const idle = change.removed.map((key) => this.servers.get(key)).filter((server) => server !== undefined && !server.inFront);
    this.rotate();
    for (const server of idle) if (server !== undefined) queueMicrotask(() => this.drained(server.id));
  }

  private backendOf(server: Server): { id: WorkerId; host: string; port: number; weight: number } {
    return { id: server.id, host: server.address, port: server.port, weight: server.weight };
  }

  /** Adds and removes backends of the front so that exactly the servers `inRotation` chooses are in it. */
  private rotate(): void {
    if (this.closed) return;
    const now = this.now();
    const conditions = new Map<WorkerId, ServerCondition>();
    let nextReturn: number | undefined;
    for (const server of this.byId.values()) {
      const ejected = server.passive.ejected(now);
      if (ejected && server.passive.until !== undefined) nextReturn = Math.min(nextReturn ?? Infinity, server.passive.until);
      if (!ejected && server.ejectedSaid) {
        server.ejectedSaid = false;
        if (!server.draining) this.report(server, true, `fail-timeout ${this.passive.failTimeoutMs}ms over: on probation`);
      }
      conditions.set(server.id, { backup: server.backup, up: server.healthy && !ejected && !server.draining });
    }
    const rotation = inRotation(conditions);
    for (const server of this.byId.values()) {
      if (rotation.has(server.id) && !server.inFront) {
        server.inFront = true;
        this.options.front.add(this.backendOf(server));
      } else if (!rotation.has(server.id) && server.inFront) {
        server.inFront = false;
        this.options.front.remove(server.id);
      }
    }
    clearTimeout(this.ejectionTimer);
    this.ejectionTimer = undefined;
    if (nextReturn !== undefined) {
      // Back on probation when fail-timeout ends.
      this.ejectionTimer = setTimeout(() => this.rotate(), Math.max(0, nextReturn - now) + 1);
      this.ejectionTimer.unref();
    }
  }

  private report(server: Server, healthy: boolean, reason: string): void {
    const line = healthy ? `server ${server.key} back in rotation: ${reason}` : `server ${server.key} out of rotation: ${reason}`;
    if (healthy) this.options.logger.info({ server: server.key, id: server.id }, line);
    else this.options.logger.warn({ server: server.key, id: server.id }, line);
    this.options.emit({ type: 'server-health', id: server.id, server: server.key, healthy, reason });
  }
}
