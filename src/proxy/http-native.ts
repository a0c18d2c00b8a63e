// The http front's native data path (src/native/http_front.c, Linux): C
// accepts, frames requests strictly, forwards them over per-backend keep-alive
// pools and relays the responses; this class keeps the policy — which backend
// takes a request (the pick function, once per request), the registry's
// accounting (least-conn, drains), reports of failed connects (passive health
// checks), logging. Where the module did not build or cannot load, or with
// SUPERVISE_HTTP_NATIVE=0, http-proxy.ts's JavaScript front does the same.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Backend, WorkerId } from '../core/types.js';
import { BackendRegistry, type BackendEntry } from './backend-registry.js';
import { ConnectTimeoutError } from './errors.js';
import { DEFAULT_HTTP_RESPONSE_TIMEOUT_MS, type HttpFrontOptions, type RequestPick, type RequestStats } from './http-common.js';
import { describeListenError } from './listen.js';
import { nativeAddon } from './native-tunnel.js';
import { checkFrontOptions, DEFAULT_CONNECT_TIMEOUT_MS, type BoundFront } from './options.js';

/** What C's pick hook receives and may return (src/native/http_binding.c). */
type NativePick = (host: string | undefined, path: string | undefined, failed: Int32Array | undefined, errno: number) => number | { slot: number; path: string };

interface HttpBinding {
  httpInit(onEvents: (records: Int32Array) => void): void;
  httpListen(address: string, port: number, connectTimeoutMs: number, responseTimeoutMs: number, pick: NativePick): [object, number, number] | number;
  httpAddBackend(front: object, slot: number, address: string, port: number): number;
  httpRemoveBackend(front: object, slot: number): void;
  httpIdle(front: object, slot: number): number;
  httpStats(front: object, slot: number): Float64Array | undefined;
  httpClose(front: object): void;
  httpDestroy(front: object): void;
}

// HF_EV_* and HF_R_* of src/native/http_front.h.
const EV_DONE = 1;
const EV_ERROR = 2;
const EV_CLOSED = 3;
const REASONS = ['', 'bad request', 'no backend available', 'no backend accepted the connection', 'the backend failed', 'invalid response', 'response timeout'];
const CLASSES = 5;
const BUCKETS = 11;

const fronts = new Map<number, NativeHttpFront>();
let binding: HttpBinding | undefined | null = null;

/** The native http front's functions, or undefined when not built, not loadable, or turned off (SUPERVISE_HTTP_NATIVE=0). */
export function loadNativeHttp(env: NodeJS.ProcessEnv = process.env): HttpBinding | undefined {
  if (env.SUPERVISE_HTTP_NATIVE === '0') return undefined;
  if (binding === null) {
    const loaded = nativeAddon() as Partial<HttpBinding> | undefined;
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

function errnoError(errno: number, host: string, port: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  const error: NodeJS.ErrnoException = new Error(`connect ${code} ${host}:${port}`);
  error.errno = -errno;
  error.code = code;
  error.syscall = 'connect';
  return error;
}

const ETIMEDOUT = 110;

class NativeHttpFront implements BoundFront {
  readonly registry: BackendRegistry;
  private readonly native: HttpBinding;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly pick: RequestPick | undefined;
  private handle: object | undefined;
  private id = -1;
  private bound: { host: string; port: number } | undefined;
  /** Backends by slot (C's index), and the slots by backend. */
  private readonly entries: Array<BackendEntry | undefined> = [];
  private readonly slots = new Map<WorkerId, number>();
  private readonly freeSlots: number[] = [];
  private closing: Promise<void> | undefined;
  private whenClosed: (() => void) | undefined;

  constructor(
    private readonly options: HttpFrontOptions,
    native: HttpBinding,
  ) {
    checkFrontOptions(options);
    this.native = native;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.responseTimeoutMs = options.idleTimeoutMs ?? DEFAULT_HTTP_RESPONSE_TIMEOUT_MS;
    this.pick = options.pick;
    this.registry = new BackendRegistry(options.balance, options.events, (entry) => this.forget(entry));
  }

  async listen(): Promise<void> {
    const { host, port } = this.options;
    const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
    const result = this.native.httpListen(address, port, this.connectTimeoutMs, this.responseTimeoutMs, this.choose);
    if (typeof result === 'number') {
      const code = getSystemErrorName(result);
      const error: NodeJS.ErrnoException = new Error(`listen ${code}`);
      error.code = code;
      error.errno = result;
      throw describeListenError(error, host, port);
    }
    [this.handle, this.id] = result;
    this.bound = { host: address, port: result[2] };
    fronts.set(this.id, this);
    for (const [id, slot] of this.slots) this.tellBackend(slot, this.entries[slot] as BackendEntry, id);
  }

  address(): { host: string; port: number } {
    if (this.bound === undefined) throw new Error('front is not listening: call and await listen() first');
    return this.bound;
  }

  add(backend: Backend): void {
    if (isIP(backend.host) === 0) {
      // C connects to addresses: a host name is resolved once, then the backend joins.
      lookup(backend.host).then(
        ({ address }) => this.add({ ...backend, host: address }),
        (error: Error) => this.options.logger?.error({ backend: backend.id, host: backend.host, err: error.message }, 'front: cannot resolve the backend'),
      );
      return;
    }
    const entry = this.registry.add(backend);
    let slot = this.slots.get(backend.id);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.entries.length;
      this.slots.set(backend.id, slot);
    }
    this.entries[slot] = entry;
    if (this.handle !== undefined) this.tellBackend(slot, entry, backend.id);
  }

  private tellBackend(slot: number, entry: BackendEntry, id: WorkerId): void {
    const status = this.native.httpAddBackend(this.handle as object, slot, entry.host, entry.port);
    if (status !== 0) this.options.logger?.error({ backend: id, host: entry.host, port: entry.port, err: getSystemErrorName(status) }, 'front: cannot add the backend');
  }

  remove(id: WorkerId): void {
    this.registry.remove(id);
    const slot = this.slots.get(id);
    if (slot !== undefined && this.handle !== undefined) this.native.httpRemoveBackend(this.handle, slot);
  }

  /** A removed backend drained: its slot may serve another. */
  private forget(entry: BackendEntry): void {
    const slot = this.slots.get(entry.id);
    if (slot === undefined) return;
    this.slots.delete(entry.id);
    this.entries[slot] = undefined;
    this.freeSlots.push(slot);
  }

  connections(id: WorkerId): number {
    const slot = this.slots.get(id);
    const idle = slot === undefined || this.handle === undefined ? 0 : this.native.httpIdle(this.handle, slot);
    return this.registry.connections(id) + idle;
  }

  totalConnections(id: WorkerId): number {
    return this.registry.totalConnections(id);
  }

  requestStats(): RequestStats[] {
    const stats: RequestStats[] = [];
    if (this.handle === undefined) return stats;
    for (const [id, slot] of this.slots) {
      const values = this.native.httpStats(this.handle, slot);
      if (values === undefined) continue;
      stats.push({
        id,
        classes: Array.from(values.subarray(0, CLASSES)),
        buckets: Array.from(values.subarray(CLASSES, CLASSES + BUCKETS)),
        sum: values[CLASSES + BUCKETS] as number,
        count: values[CLASSES + BUCKETS + 1] as number,
      });
    }
    return stats;
  }

  /** C's pick hook: report the connect that failed (if any), then choose the next backend. */
  private readonly choose: NativePick = (host, path, failed, errno) => {
    let exclude: Set<WorkerId> | undefined;
    if (failed !== undefined) {
      exclude = new Set();
      for (const slot of failed) {
        const entry = this.entries[slot];
        if (entry !== undefined) exclude.add(entry.id);
      }
      const last = this.entries[failed[failed.length - 1] as number];
      if (last !== undefined) this.connectFailed(last, errno);
    }
    if (host === undefined || path === undefined) return -1;
    let entry: BackendEntry | undefined;
    let newPath: string | undefined;
    if (this.pick === undefined) {
      entry = this.registry.pick(exclude);
    } else {
      const choice = this.pick(host, path, exclude);
      const slot = choice === undefined ? undefined : this.slots.get(choice.backend);
      entry = slot === undefined ? undefined : this.entries[slot];
      if (choice?.path !== undefined && choice.path !== path) newPath = choice.path;
    }
    if (entry === undefined) return -1;
    this.registry.acquire(entry);
    const slot = this.slots.get(entry.id) as number;
    return newPath === undefined ? slot : { slot, path: newPath };
  };

  private connectFailed(entry: BackendEntry, errno: number): void {
    this.registry.releaseFailed(entry);
    const error = errno === ETIMEDOUT ? new ConnectTimeoutError(entry.host, entry.port, this.connectTimeoutMs) : errnoError(errno, entry.host, entry.port);
    this.options.logger?.debug({ backend: entry.id, port: entry.port, err: error.message }, 'front: connect failed, trying the next backend');
    this.options.events.onConnectFailure(entry.id, error);
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
    } else if (type === EV_CLOSED) {
      this.whenClosed?.();
    }
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const handle = this.handle;
      if (handle === undefined) {
        resolve();
        return;
      }
      const finish = () => {
        clearTimeout(deadline);
        this.whenClosed = undefined;
        if (this.handle !== undefined) this.native.httpDestroy(this.handle);
        this.handle = undefined;
        fronts.delete(this.id);
        resolve();
      };
      // After timeoutMs, what is still open is cut (httpDestroy).
      const deadline = setTimeout(finish, timeoutMs);
      this.whenClosed = finish;
      this.native.httpClose(handle);
    });
    return this.closing;
  }
}

/** The native http front, or undefined where it is not available. */
export function createNativeHttpFront(options: HttpFrontOptions): BoundFront & { requestStats(): RequestStats[] } | undefined {
  const native = loadNativeHttp();
  return native === undefined ? undefined : new NativeHttpFront(options, native);
}
