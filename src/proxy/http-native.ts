// The http front's native data path (src/native/http_front.c, Linux): C
// accepts, frames requests strictly, decides which backend takes each request
// (from the snapshot this class publishes: dp_pick.c walks the tables that
// core/balancer.ts and core/router.ts computed), forwards it over per-backend
// keep-alive pools and relays the response; requests wait in C's queue while
// their app has nothing in rotation. No JavaScript per request: this class
// publishes a new snapshot when backends, weights, draining or routes change
// (once per turn of the loop however many changed), and takes C's batched
// events — a draining backend that has no request left, a backend handed its
// --max-requests-th request, a failed connect (passive health checks), an
// error the front answered. Counters are read from C when asked (scrape,
// status). Where the module did not build or cannot load, or with
// SUPERVISE_HTTP_NATIVE=0, http-proxy.ts's JavaScript front does the same.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import * as K from '../core/dp-constants.js';
import { encodeSnapshot } from '../core/dp-snapshot.js';
import type { Backend, FrontThreadStats, WorkerId } from '../core/types.js';
import type { BackendEntry } from './backend-registry.js';
import { Coalescer, snapshotOf } from './dp-publish.js';
import { ConnectTimeoutError } from './errors.js';
import { FrontBase, type BackendsFactory } from './front-base.js';
import { DEFAULT_FORWARDED_ALLOW_IPS, parseTrustedPeers, trustedPeerBytes, type EdgeTimeouts } from '../core/edge.js';
import { RouteSeries, type HttpFrontOptions, type RequestStats } from './http-common.js';
import { NativeRequestStats } from './native-request-stats.js';
import { describeListenError } from './listen.js';
import { MAX_HEAD } from './http-limits.js';
import { loadNative } from '../native/load.js';
import { errnoError } from './native-tunnel.js';
import { edgeTimeouts, type BoundFront, type FrontOptions } from './options.js';
import type { LoadedCertificate } from '../tls/certificate.js';

interface HttpBinding {
  httpInit(onEvents: (records: Int32Array) => void): void;
  /** timeouts: HF_T_* order (edgeTimeoutArray); trusted: core/edge.ts's trustedPeerBytes. */
  /** threads: the front's data-plane threads (1..64); kind: K.DP_KIND_HTTP (the default) or K.DP_KIND_TCP (L4). */
  httpListen(address: string, port: number, timeouts: Uint32Array, trusted: Uint8Array, maxHead: number, threads: number, kind?: number): [number, number] | number;
  /** The decisions from now on (core/dp-snapshot.ts): 0, or a negative errno (refused: C keeps the snapshot it has). */
  httpPublish(front: number, snapshot: Uint8Array): number;
  httpAddBackend(front: number, slot: number, address: string, port: number): number;
  httpRemoveBackend(front: number, slot: number): void;
  /** [in flight, idle pooled connections, requests handed since the backend took the slot]. */
  httpLoad(front: number, slot: number): Int32Array;
  /** [classes×5, buckets×11, sum, count] per route (RouteSeries' number r at r×18). */
  httpStats(front: number, slot: number): Float64Array | undefined;
  /** [requests answered, connections accepted] per data-plane thread. */
  httpThreads(front: number): Float64Array;
  httpClose(front: number): void;
  httpDestroy(front: number): void;
  /**
   * TLS termination (the tls-native part; absent from addons that do not have it):
   * certs[0] is the default, the others chosen by SNI as core/sni.ts. Undefined:
   * applied (new handshakes); a string: the reason, nothing changed.
   */
  httpSetTls?(front: number, certs: Array<{ cert: string; key: string; hosts: string[] }>, options: { hsts: number }): string | undefined;
}

/** The certificates as the native call takes them; hsts 0: no header (--hsts is at least 1). */
function nativeCertificates(certificates: readonly LoadedCertificate[]): Array<{ cert: string; key: string; hosts: string[] }> {
  return certificates.map((certificate) => ({ cert: certificate.certPem, key: certificate.keyPem, hosts: [...certificate.hosts] }));
}

/** The texts of DP_R_* (dp_constants.h), for the log. */
const REASONS: Record<number, string> = {
  [K.DP_R_BAD_REQUEST]: 'bad request',
  [K.DP_R_NO_BACKEND]: 'no backend',
  [K.DP_R_NO_ROUTE]: 'no route',
  [K.DP_R_BACKEND_FAILED]: 'the backend failed',
  [K.DP_R_BAD_RESPONSE]: 'invalid response',
  [K.DP_R_TIMEOUT]: 'response timeout',
  [K.DP_R_CLIENT_TIMEOUT]: 'client timeout',
  [K.DP_R_QUEUE_TIMEOUT]: 'queue timeout',
  [K.DP_R_CLOSING]: 'the front is closing',
};

/** The timeouts in C's order (HF_T_* of http_front.h). A tcp front's idle timeout 0 is "off": C's longest. */
function edgeTimeoutArray(edge: EdgeTimeouts, kind: FrontKind): Uint32Array {
  const tunnelMs = kind === 'tcp' && edge.tunnelTimeoutMs === 0 ? 2 ** 32 - 1 : edge.tunnelTimeoutMs;
  return Uint32Array.from([
    edge.connectTimeoutMs, edge.responseTimeoutMs, edge.clientHeaderTimeoutMs, edge.clientBodyTimeoutMs,
    edge.backendReadTimeoutMs, edge.clientSendTimeoutMs, edge.keepaliveTimeoutMs, tunnelMs,
  ].map((ms) => Math.min(Math.max(0, Math.round(ms)), 2 ** 32 - 1)));
}

/**
 * What the front carries: 'http' requests (L7: framed, decided one by one) or
 * 'tcp' connections (L4, --proxy tcp: decided once when accepted, then piped
 * whole; http_tcp.c). One class, one data plane: the kind is a parameter.
 */
export type FrontKind = 'http' | 'tcp';

const fronts = new Map<number, NativeHttpFront>();
let binding: HttpBinding | undefined | null = null;

/** The native http front's functions, or undefined when not built, not loadable, or turned off (SUPERVISE_HTTP_NATIVE=0). */
export function loadNativeHttp(env: NodeJS.ProcessEnv = process.env): HttpBinding | undefined {
  if (env.SUPERVISE_HTTP_NATIVE === '0') return undefined;
  if (binding === null) {
    const loaded = loadNative()?.exports as Partial<HttpBinding> | undefined;
    binding = undefined;
    if (loaded !== undefined && typeof loaded.httpInit === 'function' && typeof loaded.httpPublish === 'function') {
      try {
        loaded.httpInit(dispatch);
        binding = loaded as HttpBinding;
      } catch {
        // initialised by another thread of this process: that thread's
      }
    }
  }
  return binding;
}

/** One call per turn of the loop: [front, type, a, b] records (DP_EV_*). */
function dispatch(records: Int32Array): void {
  for (let i = 0; i < records.length; i += 4) fronts.get(records[i] as number)?.event(records[i + 1] as number, records[i + 2] as number, records[i + 3] as number);
}

const ETIMEDOUT = 110;

class NativeHttpFront extends FrontBase {
  protected readonly server = undefined;
  override get dataPath(): 'native' {
    return 'native';
  }
  private readonly edge: EdgeTimeouts;
  /** C's number for this front (as in the event records), while it listens. */
  private handle: number | undefined;
  private bound: { host: string; port: number } | undefined;
  /** Backends by slot (C's index), and the slots by backend. */
  private readonly entries: Array<BackendEntry | undefined> = [];
  private readonly slots = new Map<WorkerId, number>();
  private readonly freeSlots: number[] = [];
  /** The address C has for each slot. */
  private readonly told: Array<string | undefined> = [];
  private readonly series = new RouteSeries();
  /** The request counters, kept from going down when backends come and go. */
  private readonly stats = new NativeRequestStats((series) => this.series.at(series));
  private readonly publisher = new Coalescer(() => this.publish());
  private serial = 0;
  private closing: Promise<void> | undefined;
  private whenClosed: (() => void) | undefined;
  private stopRenewals: (() => void) | undefined;

  constructor(
    options: HttpFrontOptions,
    private readonly native: HttpBinding,
    backends: BackendsFactory | undefined,
    private readonly kind: FrontKind,
  ) {
    super(options, backends);
    this.edge = edgeTimeouts(options, kind);
    // C counts requests in flight and says when a removed backend has drained.
    this.registry.countInDataPlane();
    this.registry.watch(() => this.publisher.request());
  }

  // C times connects, responses and the queue itself.
  protected timeoutsMs(): number[] {
    return [];
  }

  protected sweep(): void {}

  protected override async bind(): Promise<void> {
    const { host, port } = this.options;
    const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
    const trusted = trustedPeerBytes(parseTrustedPeers(this.options.forwardedAllowIps ?? DEFAULT_FORWARDED_ALLOW_IPS));
    const result = this.native.httpListen(address, port, edgeTimeoutArray(this.edge, this.kind), trusted, this.options.maxHeaderSize ?? MAX_HEAD, this.options.frontThreads ?? 1, this.kind === 'tcp' ? K.DP_KIND_TCP : K.DP_KIND_HTTP);
    if (typeof result === 'number') throw describeListenError(errnoError(result, 'listen', address, port), host, port);
    this.handle = result[0];
    this.bound = { host: address, port: result[1] };
    fronts.set(this.handle, this);
    this.setTls(result[0]);
    this.publish();
  }

  /** A TLS front: the certificates to C now (before anything awaits: no plaintext handshake can be accepted), and on each renewal. */
  private setTls(handle: number): void {
    const { tls } = this.options;
    if (tls === undefined || this.native.httpSetTls === undefined) return;
    const apply = (certificates: readonly LoadedCertificate[]) => this.native.httpSetTls?.(handle, nativeCertificates(certificates), { hsts: tls.hsts ?? 0 });
    const refused = apply(tls.certificates.certificates);
    if (refused !== undefined) {
      fronts.delete(handle);
      this.handle = undefined;
      this.native.httpDestroy(handle);
      throw new Error(`front cannot serve TLS: the data plane refused the certificates: ${refused}`);
    }
    this.stopRenewals = tls.certificates.onRenewal((certificates) => (this.handle === handle ? apply(certificates) : undefined));
  }

  override address(): { host: string; port: number } {
    if (this.bound === undefined) throw new Error('front is not listening: call and await listen() first');
    return this.bound;
  }

  override add(backend: Backend): void {
    if (isIP(backend.host) !== 0) {
      super.add(backend);
      return;
    }
    // C connects to addresses: a host name is resolved once, then the backend joins.
    lookup(backend.host).then(
      ({ address }) => super.add({ ...backend, host: address }),
      (error: Error) => this.options.logger?.error({ backend: backend.id, host: backend.host, err: error.message }, 'front: cannot resolve the backend'),
    );
  }

  /** What C decides from: the registry now, as a snapshot. A snapshot C refuses is a bug here, logged; C keeps the one it has. */
  private publish(): void {
    const handle = this.handle;
    if (handle === undefined) {
      // No data plane (not listening yet, or closed): nothing is in flight, a removed backend has drained.
      for (const app of this.registry.describe().apps) for (const entry of app.entries) if (entry.removed) this.registry.drained(entry.id);
      return;
    }
    const limits = { queueTimeoutMs: this.dispatcher.queueTimeoutMs, connectTimeoutMs: this.edge.connectTimeoutMs, responseTimeoutMs: this.edge.responseTimeoutMs };
    let status: number;
    try {
      status = this.native.httpPublish(handle, encodeSnapshot(snapshotOf(this.registry.describe(), (entry) => this.slotFor(entry), this.series, limits, ++this.serial)));
    } catch (error) {
      this.options.logger?.error({ err: (error as Error).message }, 'front: cannot publish the backends to the data plane');
      return;
    }
    if (status !== 0) this.options.logger?.error({ err: getSystemErrorName(status) }, 'front: the data plane refused the backends snapshot');
  }

  /** C's slot for a backend, told to C the first time (or when its address changed). */
  private slotFor(entry: BackendEntry): number | undefined {
    let slot = this.slots.get(entry.id);
    const known = slot === undefined ? undefined : this.entries[slot];
    if (slot !== undefined && known === entry && this.told[slot] === `${entry.host}:${entry.port}`) return slot;
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.entries.length;
      this.slots.set(entry.id, slot);
    }
    this.entries[slot] = entry;
    const status = this.handle === undefined ? -22 : this.native.httpAddBackend(this.handle, slot, entry.host, entry.port);
    if (status !== 0) {
      this.options.logger?.error({ backend: entry.id, host: entry.host, port: entry.port, err: getSystemErrorName(status) }, 'front: cannot add the backend');
      return undefined;
    }
    // A new backend in the slot starts from what C keeps there (a previous backend's counts, at the same address).
    if (!this.stats.tracks(slot) && this.handle !== undefined) this.stats.assigned(slot, this.native.httpStats(this.handle, slot));
    this.told[slot] = `${entry.host}:${entry.port}`;
    return slot;
  }

  /** A removed backend drained: its idle pooled connections close, and its slot may serve another. */
  protected override backendForgotten(entry: BackendEntry): void {
    const slot = this.slots.get(entry.id);
    if (slot === undefined) return;
    if (this.handle !== undefined) {
      this.stats.forgotten(entry.id, slot, this.native.httpStats(this.handle, slot));
      this.native.httpRemoveBackend(this.handle, slot);
    }
    this.slots.delete(entry.id);
    this.entries[slot] = undefined;
    this.told[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /** [in flight, idle, handed] of a backend in C. */
  private load(id: WorkerId): Int32Array | undefined {
    const slot = this.slots.get(id);
    return slot === undefined || this.handle === undefined ? undefined : this.native.httpLoad(this.handle, slot);
  }

  /** In-flight requests plus idle pooled connections: both keep the backend's server busy. */
  override connections(id: WorkerId): number {
    const load = this.load(id);
    return load === undefined ? 0 : (load[0] as number) + (load[1] as number);
  }

  override totalConnections(id: WorkerId): number {
    return this.load(id)?.[2] ?? 0;
  }

  requestStats(): RequestStats[] {
    const { handle } = this;
    if (handle === undefined) return [];
    return this.stats.snapshot([...this.slots].map(([id, slot]) => [id, slot, this.native.httpStats(handle, slot)] as [WorkerId, number, Float64Array | undefined]));
  }

  /** Per data-plane thread: requests answered and connections accepted (status, metrics). */
  threadStats(): FrontThreadStats[] {
    if (this.handle === undefined) return [];
    const counts = this.native.httpThreads(this.handle);
    const threads: FrontThreadStats[] = [];
    for (let i = 0; i + 1 < counts.length; i += 2) threads.push({ requests: counts[i] as number, connections: counts[i + 1] as number });
    return threads;
  }

  private connectError(entry: BackendEntry, errno: number): Error {
    return errno === ETIMEDOUT ? new ConnectTimeoutError(entry.host, entry.port, this.edge.connectTimeoutMs) : errnoError(-errno, 'connect', entry.host, entry.port);
  }

  /** A record of C's batch (DP_EV_*). */
  event(type: number, a: number, b: number): void {
    const entry = a >= 0 ? this.entries[a] : undefined;
    if (type === K.DP_EV_DRAINED) {
      if (entry !== undefined) this.registry.drained(entry.id);
    } else if (type === K.DP_EV_BUDGET) {
      if (entry !== undefined) this.registry.servedLimit(entry.id);
    } else if (type === K.DP_EV_CONNECT_FAILED) {
      if (entry === undefined) return;
      const error = this.connectError(entry, b);
      this.options.logger?.debug({ backend: entry.id, port: entry.port, err: error.message }, 'front: connect failed, trying the next backend');
      this.registry.connectFailed(entry.id, error);
      // C holds a request whose every backend failed until the next snapshot: one comes, changed or not.
      this.publisher.request();
    } else if (type === K.DP_EV_ERROR) {
      const status = Math.floor(b / 100);
      if (this.kind === 'tcp') {
        // L4 has no status to answer with: the connection was closed.
        this.options.logger?.warn({ backend: entry?.id, reason: REASONS[b % 100] }, 'front: connection refused');
        return;
      }
      const level = status === 400 || status === 404 || status === 408 ? 'debug' : 'warn';
      this.options.logger?.[level]({ status, backend: entry?.id, reason: REASONS[b % 100] }, 'front: request failed');
    } else if (type === K.DP_EV_CLOSED) {
      this.whenClosed?.();
    }
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const handle = this.handle;
      if (handle === undefined) {
        this.sweeper?.stop();
        resolve();
        return;
      }
      const finish = () => {
        clearTimeout(deadline);
        this.stopRenewals?.();
        this.whenClosed = undefined;
        this.sweeper?.stop();
        // The handle is dead from here on: no event of C's reaches this front, no call of this front reaches C.
        const handle = this.handle;
        this.handle = undefined;
        if (handle !== undefined) {
          fronts.delete(handle);
          this.native.httpDestroy(handle);
        }
        // Nothing is in flight any more: backends removed meanwhile have drained (a DRAINED record
        // that came in the same batch as CLOSED, after it, died with the handle).
        this.publish();
        resolve();
      };
      // After timeoutMs, what is still open is cut (httpDestroy).
      const deadline = setTimeout(finish, timeoutMs);
      this.whenClosed = finish;
      // C answers the requests waiting in its queue (502) and ends idle connections.
      this.native.httpClose(handle);
    });
    return this.closing;
  }
}

/** The native http front, or undefined where it is not available. */
export function createNativeHttpFront(options: HttpFrontOptions, backends?: BackendsFactory): (BoundFront & { requestStats(): RequestStats[] }) | undefined {
  const native = loadNativeHttp();
  // TLS in C only where the addon has it; else the JavaScript path terminates TLS (node:tls).
  if (native === undefined || (options.tls !== undefined && typeof native.httpSetTls !== 'function')) return undefined;
  return new NativeHttpFront(options, native, backends, 'http');
}

/**
 * The native tcp front (L4) on the same data plane, or undefined where it is
 * not available (no addon, or SUPERVISE_TCP_NATIVE=0), or where it terminates
 * TLS and the addon cannot (no httpSetTls: the JavaScript path terminates it).
 */
export function createNativeTcpFront(options: FrontOptions, env: NodeJS.ProcessEnv = process.env): BoundFront | undefined {
  if (env.SUPERVISE_TCP_NATIVE === '0') return undefined;
  const native = loadNativeHttp({}); // SUPERVISE_HTTP_NATIVE is the http front's switch, not this one's
  if (native === undefined || (options.tls !== undefined && typeof native.httpSetTls !== 'function')) return undefined;
  return new NativeHttpFront(options, native, undefined, 'tcp');
}
