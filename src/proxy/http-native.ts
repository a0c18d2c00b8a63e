// The http front's native data path (src/native/http_front.c, Linux): C
// accepts, frames requests strictly, forwards them over per-backend keep-alive
// pools and relays the responses; this class keeps the policy, as FrontBase
// does for every front — which backend takes a request (the dispatcher over the
// registry's route(): the balancer, or the routing front's router; once per
// request), the queue while none is in rotation, the registry's accounting (least-conn, drains), reports of failed
// connects (passive health checks), logging. Where the module did not build or
// cannot load, or with SUPERVISE_HTTP_NATIVE=0, http-proxy.ts's JavaScript
// front does the same.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Backend, WorkerId } from '../core/types.js';
import type { BackendEntry } from './backend-registry.js';
import type { Attempt, AttemptHandler } from './dispatch.js';
import { ConnectTimeoutError } from './errors.js';
import { FrontBase, type BackendsFactory } from './front-base.js';
import { DEFAULT_FORWARDED_ALLOW_IPS, parseTrustedPeers, trustedPeerBytes, type EdgeTimeouts } from '../core/edge.js';
import { RouteSeries, type HttpFrontOptions, type RequestStats } from './http-common.js';
import { NativeRequestStats } from './native-request-stats.js';
import { describeListenError } from './listen.js';
import { loadNative } from '../native/load.js';
import { errnoError } from './native-tunnel.js';
import { edgeTimeouts, type BoundFront } from './options.js';

/** What C's pick hook answers: a slot (packed with its route, packSlot), the slot and a rewritten path, an error to answer, or QUEUED. */
type PickResult = number | { slot: number; path: string } | { status: number; reason: string };
/** C's pick hook (src/native/http_binding.c); host and path undefined: only told of the last failed connect. */
type NativePick = (client: number, host: string | undefined, path: string | undefined, failed: Int32Array | undefined, errno: number) => PickResult;

interface HttpBinding {
  httpInit(onEvents: (records: Int32Array) => void): void;
  /** timeouts: HF_T_* order (edgeTimeoutArray); trusted: core/edge.ts's trustedPeerBytes. */
  httpListen(address: string, port: number, timeouts: Uint32Array, trusted: Uint8Array, pick: NativePick): [number, number] | number;
  httpAddBackend(front: number, slot: number, address: string, port: number): number;
  httpRemoveBackend(front: number, slot: number): void;
  httpIdle(front: number, slot: number): number;
  /** [classes×5, buckets×11, sum, count] per route (RouteSeries' number r at r×18). */
  httpStats(front: number, slot: number): Float64Array | undefined;
  httpResume(front: number, client: number, slot: number, path?: string): number;
  httpRespond(front: number, client: number, status: number, reason: string): number;
  httpClose(front: number): void;
  httpDestroy(front: number): void;
}

// HF_EV_* and HF_R_* of src/native/http_front.h.
const EV_DONE = 1;
const EV_ERROR = 2;
const EV_CLOSED = 3;
const EV_GONE = 4;
const QUEUED = -2;
const REASONS = ['', 'bad request', 'no backend', '', 'the backend failed', 'invalid response', 'response timeout', 'client timeout'];

/** The timeouts in C's order (HF_T_* of http_front.h). */
function edgeTimeoutArray(edge: EdgeTimeouts): Uint32Array {
  return Uint32Array.from([
    edge.connectTimeoutMs, edge.responseTimeoutMs, edge.clientHeaderTimeoutMs, edge.clientBodyTimeoutMs,
    edge.backendReadTimeoutMs, edge.clientSendTimeoutMs, edge.keepaliveTimeoutMs, edge.tunnelTimeoutMs,
  ].map((ms) => Math.min(Math.max(0, Math.round(ms)), 2 ** 32 - 1)));
}
/** Slots stay below 2^20 (hf_backend_add); C unpacks route × 2^21 + slot (http_binding.c). */
const SLOT_SPAN = 2 ** 21;

/**
 * A chosen backend as C takes it: the slot, and the route its response is
 * counted under. One number, so that the common pick answers a number, not an
 * object (a property read per request in C).
 */
function packSlot(slot: number, series: number): number {
  return series * SLOT_SPAN + slot;
}

const fronts = new Map<number, NativeHttpFront>();
let binding: HttpBinding | undefined | null = null;

/** The native http front's functions, or undefined when not built, not loadable, or turned off (SUPERVISE_HTTP_NATIVE=0). */
export function loadNativeHttp(env: NodeJS.ProcessEnv = process.env): HttpBinding | undefined {
  if (env.SUPERVISE_HTTP_NATIVE === '0') return undefined;
  if (binding === null) {
    const loaded = loadNative()?.exports as Partial<HttpBinding> | undefined;
    binding = undefined;
    if (loaded !== undefined && typeof loaded.httpInit === 'function' && typeof loaded.httpListen === 'function') {
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

/** One call per turn of the loop: [front, type, slot, detail] records. */
function dispatch(records: Int32Array): void {
  for (let i = 0; i < records.length; i += 4) fronts.get(records[i] as number)?.event(records[i + 1] as number, records[i + 2] as number, records[i + 3] as number);
}

const ETIMEDOUT = 110;

/** One request's way through the backends, as the dispatcher sees it. */
interface NativeAttempt extends Attempt {
  readonly client: number;
  /** While the pick hook runs: what to answer C; afterwards (queued), undefined. */
  result: PickResult | undefined;
  sync: boolean;
  readonly host: string;
  readonly requestPath: string;
  /** The path the route rewrote the request's to, if it did. */
  path: string | undefined;
  /** The (app, route) it matched (RouteSeries). */
  series: number;
}

class NativeHttpFront extends FrontBase implements AttemptHandler<NativeAttempt> {
  protected readonly server = undefined;
  override get dataPath(): 'native' {
    return 'native';
  }
  private readonly connectTimeoutMs: number;
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
  /** Clients waiting in the dispatcher's queue, by C's number for them. */
  private readonly queued = new Map<number, NativeAttempt>();
  private readonly series = new RouteSeries();
  /** The request counters, kept from going down when backends come and go. */
  private readonly stats = new NativeRequestStats((series) => this.series.at(series));
  private closing: Promise<void> | undefined;
  private whenClosed: (() => void) | undefined;

  constructor(
    options: HttpFrontOptions,
    private readonly native: HttpBinding,
    backends?: BackendsFactory,
  ) {
    super(options, backends);
    this.edge = edgeTimeouts(options, 'http');
    this.connectTimeoutMs = this.edge.connectTimeoutMs;
  }

  // C times connects and responses out itself; the sweeper only runs the dispatcher's queue.
  protected timeoutsMs(): number[] {
    return [];
  }

  protected sweep(): void {}

  protected override async bind(): Promise<void> {
    const { host, port } = this.options;
    const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
    const trusted = trustedPeerBytes(parseTrustedPeers(this.options.forwardedAllowIps ?? DEFAULT_FORWARDED_ALLOW_IPS));
    const result = this.native.httpListen(address, port, edgeTimeoutArray(this.edge), trusted, this.choose);
    if (typeof result === 'number') throw describeListenError(errnoError(result, 'listen', address, port), host, port);
    this.handle = result[0];
    this.bound = { host: address, port: result[1] };
    fronts.set(this.handle, this);
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

  /**
   * C's slot for a backend chosen for a request, told to C the first time (or
   * when its address changed): backends may reach the registry without add()
   * (the routing front's apps add theirs to its registry).
   */
  private slotFor(entry: BackendEntry): number | undefined {
    let slot = this.slots.get(entry.id);
    const known = slot === undefined ? undefined : this.entries[slot];
    if (slot !== undefined && known === entry && this.told[slot] === `${entry.host}:${entry.port}`) return slot;
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.entries.length;
      this.slots.set(entry.id, slot);
    }
    this.entries[slot] = entry;
    const status = isIP(entry.host) === 0 || this.handle === undefined ? -22 : this.native.httpAddBackend(this.handle, slot, entry.host, entry.port);
    if (status !== 0) {
      this.options.logger?.error({ backend: entry.id, host: entry.host, port: entry.port, err: getSystemErrorName(status) }, 'front: cannot add the backend');
      return undefined;
    }
    // A new backend in the slot starts from what C keeps there (a previous backend's counts, at the same address).
    if (!this.stats.tracks(slot) && this.handle !== undefined) this.stats.assigned(slot, this.native.httpStats(this.handle, slot));
    this.told[slot] = `${entry.host}:${entry.port}`;
    return slot;
  }

  override remove(id: WorkerId): void {
    super.remove(id);
    const slot = this.slots.get(id);
    if (slot !== undefined && this.handle !== undefined) this.native.httpRemoveBackend(this.handle, slot);
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

  /** In-flight requests plus idle pooled connections: both keep the backend's server busy. */
  override connections(id: WorkerId): number {
    const slot = this.slots.get(id);
    const idle = slot === undefined || this.handle === undefined ? 0 : this.native.httpIdle(this.handle, slot);
    return super.connections(id) + idle;
  }

  requestStats(): RequestStats[] {
    const { handle } = this;
    if (handle === undefined) return [];
    return this.stats.snapshot([...this.slots].map(([id, slot]) => [id, slot, this.native.httpStats(handle, slot)] as [WorkerId, number, Float64Array | undefined]));
  }

  /** C's pick hook: report the connect that failed (if any), then let the dispatcher choose, or queue. */
  private readonly choose: NativePick = (client, host, path, failed, errno) => {
    const attempt: NativeAttempt = {
      client, backend: undefined, failed: undefined, result: undefined, sync: true, host: host ?? '', requestPath: path ?? '/', path: undefined, series: 0,
    };
    if (failed !== undefined) {
      for (let i = 0; i < failed.length - 1; i++) {
        const entry = this.entries[failed[i] as number];
        if (entry !== undefined) (attempt.failed ??= new Set()).add(entry.id);
      }
      attempt.backend = this.entries[failed[failed.length - 1] as number];
      if (attempt.backend !== undefined) this.dispatcher.connectFailed(attempt, this.connectError(attempt.backend, errno));
    }
    if (host === undefined || path === undefined) return -1;
    this.dispatcher.dispatch(attempt, this, (exclude) => this.routed(attempt, exclude));
    attempt.sync = false;
    if (attempt.result !== undefined) return attempt.result;
    this.queued.set(client, attempt);
    return QUEUED;
  };

  /** The registry's route for this request: its backend, and the path it goes with (a route may strip a prefix). */
  private routed(attempt: NativeAttempt, exclude: ReadonlySet<WorkerId> | undefined): BackendEntry | undefined {
    const routed = this.registry.route(attempt.host, attempt.requestPath, exclude);
    attempt.path = routed !== undefined && routed.path !== attempt.requestPath ? routed.path : undefined;
    attempt.series = this.series.of(routed);
    return routed?.backend;
  }

  private connectError(entry: BackendEntry, errno: number): Error {
    return errno === ETIMEDOUT ? new ConnectTimeoutError(entry.host, entry.port, this.connectTimeoutMs) : errnoError(-errno, 'connect', entry.host, entry.port);
  }

  /** AttemptHandler: the dispatcher chose `backend` (and acquired it). */
  connect(attempt: NativeAttempt, backend: BackendEntry): void {
    const told = this.slotFor(backend);
    if (told === undefined) {
      this.registry.release(backend);
      this.answer(attempt, 502, 'no backend available');
      return;
    }
    const slot = packSlot(told, attempt.series);
    if (attempt.sync) {
      attempt.result = attempt.path === undefined ? slot : { slot, path: attempt.path };
      return;
    }
    this.queued.delete(attempt.client);
    if (this.handle === undefined || this.native.httpResume(this.handle, attempt.client, slot, attempt.path) !== 0) this.registry.release(backend);
  }

  /** AttemptHandler: no backend for this request (503 after the queue timeout). */
  /** AttemptHandler: held while no backend of its route is in rotation (per app on the routing front). */
  waitable(attempt: NativeAttempt): boolean {
    return this.registry.waitable(attempt.host, attempt.requestPath);
  }

  giveUp(attempt: NativeAttempt, reason: string, queueTimedOut: boolean): void {
    if (!queueTimedOut && attempt.failed === undefined && !this.registry.hasRoute(attempt.host, attempt.requestPath)) {
      this.answer(attempt, 404, 'no route for this path');
      return;
    }
    this.answer(attempt, queueTimedOut ? 503 : 502, reason);
  }

  /** The front answers this request itself: through the pick hook's result, or later (queued) through httpRespond. */
  private answer(attempt: NativeAttempt, status: number, reason: string): void {
    if (attempt.sync) {
      attempt.result = { status, reason };
      return;
    }
    this.queued.delete(attempt.client);
    if (this.handle !== undefined) this.native.httpRespond(this.handle, attempt.client, status, reason);
  }

  /** A record of C's batch (HF_EV_*). */
  event(type: number, slot: number, detail: number): void {
    if (type === EV_DONE) {
      const entry = this.entries[slot];
      if (entry !== undefined) this.registry.release(entry);
    } else if (type === EV_ERROR) {
      const status = Math.floor(detail / 100);
      const level = status === 400 ? 'debug' : 'warn';
      this.options.logger?.[level]({ status, backend: this.entries[slot]?.id, reason: REASONS[detail % 100] }, 'front: request failed');
    } else if (type === EV_GONE) {
      // A queued client left: slot and detail are its id and generation.
      const client = (detail >>> 0) * 2 ** 32 + slot;
      const attempt = this.queued.get(client);
      this.queued.delete(client);
      if (attempt !== undefined) this.dispatcher.cancel(attempt);
    } else if (type === EV_CLOSED) {
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
        this.whenClosed = undefined;
        this.sweeper?.stop();
        // The handle is dead from here on: no event of C's reaches this front, no call of this front reaches C.
        const handle = this.handle;
        this.handle = undefined;
        if (handle !== undefined) {
          fronts.delete(handle);
          this.native.httpDestroy(handle);
        }
        resolve();
      };
      // After timeoutMs, what is still open is cut (httpDestroy).
      const deadline = setTimeout(finish, timeoutMs);
      this.whenClosed = finish;
      this.native.httpClose(handle);
    });
    // Once closing: the waiting clients are answered, which ends their connections.
    this.dispatcher.giveUpAll('the front is closing');
    return this.closing;
  }
}

/** The native http front, or undefined where it is not available. */
export function createNativeHttpFront(options: HttpFrontOptions, backends?: BackendsFactory): (BoundFront & { requestStats(): RequestStats[] }) | undefined {
  const native = loadNativeHttp();
  return native === undefined ? undefined : new NativeHttpFront(options, native, backends);
}
