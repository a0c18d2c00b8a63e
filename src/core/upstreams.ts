// Remote upstreams (SPEC §13), the pure part: what an `upstreams:` entry means,
// SRV records -> servers, the difference between two server sets, when to ask
// DNS again, which servers are in rotation (backup only while every primary is
// down), and nginx's passive ejection (max-fails within fail-timeout). No I/O,
// no timers: callers pass the clock in.

/** One entry of `upstreams:` (or one `--upstream`), validated. */
export type UpstreamSpec =
  | {
      readonly kind: 'server';
      /** An IP address or a host name (resolved, every A/AAAA record a server). */
      readonly host: string;
      readonly port: number;
      readonly weight: number;
      readonly backup: boolean;
      /** How to name the entry in an error: the file's key and line, or the flag. */
      readonly where: string;
    }
  | { readonly kind: 'srv'; readonly name: string; readonly backup: boolean; readonly where: string };

export const MAX_SERVER_WEIGHT = 1000;
/** `_service._proto.name`: what Consul's DNS interface and Kubernetes headless Services answer SRV for. */
const SRV_NAME = /^_[A-Za-z0-9-]{1,63}\._(tcp|udp)(\.[A-Za-z0-9-]{1,63})+\.?$/;
const HOST_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export type Parsed<T> = { readonly value: T } | { readonly error: string };

/** `host:port`, `[v6]:port`; the port 1…65535. */
export function parseHostPort(text: string): Parsed<{ host: string; port: number }> {
  const match = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]\s]+):(\d+)$/.exec(text);
  if (match === null) return { error: `must be host:port, like 10.0.0.11:8000 or api-2.internal:8000 (got ${JSON.stringify(text)})` };
  const [, host = '', portText = ''] = match;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { error: `port must be from 1 to 65535 (got ${portText} in ${JSON.stringify(text)})` };
  if (!host.includes(':') && !IPV4.test(host) && !HOST_NAME.test(host)) return { error: `${JSON.stringify(host)} is not an IP address or a host name` };
  return { value: { host: host.toLowerCase(), port } };
}

export function isSrvName(name: string): boolean {
  return SRV_NAME.test(name);
}

function checkWeight(weight: unknown): Parsed<number> {
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_SERVER_WEIGHT) {
    return { error: `weight must be an integer from 1 to ${MAX_SERVER_WEIGHT} (got ${JSON.stringify(weight)})` };
  }
  return { value: weight };
}

/** A file entry: `host:port`, `{server, weight, backup}` or `{srv, backup}`. */
export function parseUpstreamEntry(value: unknown, where: string): Parsed<UpstreamSpec> {
  if (typeof value === 'string') return parseUpstreamFlag(value, where);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'must be host:port, {server: host:port, weight, backup} or {srv: _service._tcp.domain}' };
  }
  const { server, srv, weight = 1, backup = false, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) return { error: `unknown key "${unknown}"; an upstream has server (or srv), weight, backup` };
  if (typeof backup !== 'boolean') return { error: `backup must be true or false (got ${JSON.stringify(backup)})` };
  if (srv !== undefined) {
    if (server !== undefined) return { error: 'give server or srv, not both' };
    if (typeof srv !== 'string' || !isSrvName(srv)) {
      return { error: `srv must be a SRV name _service._proto.domain, like _api._tcp.service.consul (got ${JSON.stringify(srv)})` };
    }
    if ('weight' in (value as object)) return { error: 'a srv entry takes its weights from the SRV records: remove weight' };
    return { value: { kind: 'srv', name: srv.toLowerCase().replace(/\.$/, ''), backup, where } };
  }
  if (typeof server !== 'string') return { error: 'needs server: host:port (or srv: _service._tcp.domain)' };
  const address = parseHostPort(server);
  if ('error' in address) return address;
  const checked = checkWeight(weight);
  if ('error' in checked) return checked;
  return { value: { kind: 'server', ...address.value, weight: checked.value, backup, where } };
}

/** `--upstream host:port[,weight=N][,backup]` (also a file's plain string entry). */
export function parseUpstreamFlag(text: string, where: string): Parsed<UpstreamSpec> {
  const [first = '', ...options] = text.split(',').map((part) => part.trim());
  if (first.startsWith('srv=') || first.startsWith('_')) {
    const name = first.replace(/^srv=/, '');
    if (!isSrvName(name)) return { error: `${JSON.stringify(name)} is not a SRV name _service._proto.domain` };
    const backup = options.includes('backup');
    const extra = options.find((option) => option !== 'backup');
    if (extra !== undefined) return { error: `unknown option "${extra}" after a SRV name; only backup` };
    return { value: { kind: 'srv', name: name.toLowerCase().replace(/\.$/, ''), backup, where } };
  }
  const address = parseHostPort(first);
  if ('error' in address) return address;
  let weight = 1;
  let backup = false;
  for (const option of options) {
    if (option === 'backup') backup = true;
    else if (/^weight=/.test(option)) {
      const checked = checkWeight(/^weight=\d+$/.test(option) ? Number(option.slice(7)) : option.slice(7));
      if ('error' in checked) return checked;
      weight = checked.value;
    } else return { error: `unknown option "${option}"; write host:port[,weight=N][,backup]` };
  }
  return { value: { kind: 'server', ...address.value, weight, backup, where } };
}

// ---------------------------------------------------------------- server sets

/** One concrete server: an address (never a name) and a port. */
export interface ServerAddress {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly backup: boolean;
}

export function serverKey(server: Pick<ServerAddress, 'address' | 'port'>): string {
  return server.address.includes(':') ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
}

export interface ServerSetChange {
  readonly added: readonly ServerAddress[];
  readonly removed: readonly string[];
  /** Still there, with another weight or backup flag. */
  readonly changed: readonly ServerAddress[];
}

/** What turns `current` (by key) into `next`. Duplicates in `next`: the first wins. */
export function diffServers(current: ReadonlyMap<string, ServerAddress>, next: readonly ServerAddress[]): ServerSetChange {
  const seen = new Map<string, ServerAddress>();
  for (const server of next) if (!seen.has(serverKey(server))) seen.set(serverKey(server), server);
  const added: ServerAddress[] = [];
  const changed: ServerAddress[] = [];
  for (const [key, server] of seen) {
    const old = current.get(key);
    if (old === undefined) added.push(server);
    else if (old.weight !== server.weight || old.backup !== server.backup) changed.push(server);
  }
  const removed = [...current.keys()].filter((key) => !seen.has(key));
  return { added, removed, changed };
}

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

/**
 * SRV records as servers to resolve (RFC 2782): the lowest priority is the
 * primary set, every higher priority a backup; weights 0…65535 scaled into
 * 1…1000 in proportion (0, "almost never", becomes 1). Records with port 0 or
 * the target "." (the service is not offered) are dropped.
 */
export function serversFromSrv(records: readonly SrvRecord[], backup: boolean): Array<{ host: string; port: number; weight: number; backup: boolean }> {
  const offered = records.filter((record) => record.port > 0 && record.target !== '' && record.target !== '.');
  if (offered.length === 0) return [];
  const lowest = Math.min(...offered.map((record) => record.priority));
  const heaviest = Math.max(...offered.map((record) => record.weight));
  const scale = heaviest > MAX_SERVER_WEIGHT ? MAX_SERVER_WEIGHT / heaviest : 1;
  return offered.map((record) => ({
    host: record.target.toLowerCase().replace(/\.$/, ''),
    port: record.port,
    weight: Math.min(MAX_SERVER_WEIGHT, Math.max(1, Math.round(record.weight * scale))),
    backup: backup || record.priority !== lowest,
  }));
}

// ---------------------------------------------------------------- schedule

/** DNS answers are asked again when their TTL ends, within these bounds (a TTL of 0 must not become a busy loop). */
export const MIN_REFRESH_MS = 1000;
export const MAX_REFRESH_MS = 3600_000;
/** A failed lookup is retried this often (the last good set stays meanwhile). */
export const RETRY_AFTER_FAILURE_MS = 5000;

export function refreshDelayMs(ttlSeconds: number | undefined, failed: boolean): number {
  if (failed) return RETRY_AFTER_FAILURE_MS;
  const ms = (ttlSeconds ?? 30) * 1000;
  return Math.min(MAX_REFRESH_MS, Math.max(MIN_REFRESH_MS, Number.isFinite(ms) ? ms : MAX_REFRESH_MS));
}

// ---------------------------------------------------------------- rotation

export interface ServerCondition {
  readonly backup: boolean;
  /** Passes its health checks, is not ejected by max-fails, is not draining. */
  readonly up: boolean;
}

/** The servers that take traffic: every primary that is up; the backups that are up only while no primary is. */
export function inRotation<K>(servers: ReadonlyMap<K, ServerCondition>): Set<K> {
  const primaries = [...servers].filter(([, server]) => !server.backup && server.up).map(([key]) => key);
  if (primaries.length > 0) return new Set(primaries);
  return new Set([...servers].filter(([, server]) => server.backup && server.up).map(([key]) => key));
}

// ---------------------------------------------------------------- passive ejection

export interface PassivePolicy {
  /** Failures within `failTimeoutMs` that eject a server (nginx `max_fails`). */
  readonly maxFails: number;
  /** The window, and how long an ejected server stays out (nginx `fail_timeout`). */
  readonly failTimeoutMs: number;
}

/**
 * nginx's passive health check of one server: `maxFails` failed attempts within
 * `failTimeoutMs` take it out for `failTimeoutMs`; then it is back on probation
 * for one more `failTimeoutMs`, where a single failure takes it out again.
 */
export class PassiveEjection {
  private failures: number[] = [];
  private ejectedUntil: number | undefined;
  private probationUntil = 0;

  constructor(private readonly policy: PassivePolicy) {}

  /** A failed attempt; true when it ejects the server. */
  fail(nowMs: number): boolean {
    if (this.ejected(nowMs)) return false;
    this.failures = this.failures.filter((at) => nowMs - at < this.policy.failTimeoutMs);
    this.failures.push(nowMs);
    if (nowMs >= this.probationUntil && this.failures.length < this.policy.maxFails) return false;
    this.ejectedUntil = nowMs + this.policy.failTimeoutMs;
    this.probationUntil = this.ejectedUntil + this.policy.failTimeoutMs;
    this.failures = [];
    return true;
  }

  /** Whether the server is out; the first call after the window ends it (probation begins). */
  ejected(nowMs: number): boolean {
    if (this.ejectedUntil === undefined) return false;
    if (nowMs < this.ejectedUntil) return true;
    this.ejectedUntil = undefined;
    return false;
  }

  /** When an ejected server comes back, or undefined. */
  get until(): number | undefined {
    return this.ejectedUntil;
  }
}
