// The native data plane of the tcp front (src/native/tunnel.c, Linux; the
// addon is found and loaded by src/native/load.ts, the one place that loads
// it): it listens, accepts, connects to the backend JavaScript names and moves
// the bytes, with no JavaScript per chunk. This module routes its batched
// events to the front that owns each listener and tunnel. Where it did not build (no compiler, another platform), where it
// cannot load, or with SUPERVISE_TCP_NATIVE=0, the tcp front runs on net.Socket.

import { getSystemErrorName } from 'node:util';
import { loadNative, nativeAddonPath } from '../native/load.js';

/** Bits of the `sides` masks: which side of a tunnel closed (src/native/tunnel.h's EV_ bits). */
export const CLIENT_SIDE = 1;
export const UPSTREAM_SIDE = 2;
const CONNECTED = 4;
const CONNECT_FAILED = 8;
const ACCEPTED = 16;
const ACCEPT_FAILED = 32;

/** The front behind one tunnel, told what becomes of it. */
export interface NativeTunnelOwner {
  /** The backend accepted: bytes move now. */
  nativeConnected(): void;
  /** The connect failed (a negative errno); the client is still held, unread, for another connect. */
  nativeConnectFailed(status: number): void;
  /** `sides` closed on their own (an end both ways, a reset, the end of a drained HTTP/1.x connection). */
  nativeSidesClosed(sides: number): void;
  /** Handling one of its events threw: contained here, the tunnel is the owner's to end. */
  nativeEventFailed(error: unknown): void;
}

/** The front behind one listener. */
export interface NativeListenerOwner {
  /** A client was accepted as tunnel `id`, waiting for connect(id, …): its owner. */
  nativeAccepted(id: number): NativeTunnelOwner;
  /** accept() failed (a negative errno); on a lack of descriptors the listener pauses a moment. */
  nativeAcceptFailed(status: number): void;
  nativeEventFailed(error: unknown): void;
}

export interface NativeTunnels {
  /** Listens on `address` (an IP literal of `family` 4 or 6): the listener's id, or a negative errno. */
  listen(address: string, port: number, family: number, owner: NativeListenerOwner): number;
  /** The port listener `id` is bound to. */
  listenerPort(id: number): number;
  closeListener(id: number): void;
  /** Connects waiting tunnel `id` to the backend: 0, or a negative errno when it failed at once. */
  connect(id: number, address: string, port: number, family: number): number;
  /** Gives up the connect in progress, unreported: the tunnel waits for another. */
  abortConnect(id: number): void;
  /** Ends tunnel `id` at once; the sides it closed (the upstream only if it had one). Not told to the owner. */
  destroy(id: number): number;
  /** Its backend drains: an HTTP/1.x connection ends after its next complete response, with Connection: close. */
  drain(id: number): void;
  /** Chunks tunnel `id` has moved so far, in either direction. */
  activity(id: number): number;
  /**
   * Listener `id` terminates TLS with these certificates (certs[0] the default; tls_binding.c) and passes the plaintext on:
   * undefined, or a one-line reason (nothing changed). Undefined itself when the addon has no TLS (then the JavaScript path terminates it).
   */
  setTls: ((id: number, certs: Array<{ cert: string; key: string; hosts: string[] }>) => string | undefined) | undefined;
}

/** The compiled module's functions (src/native/tunnel-napi.c). */
interface Binding {
  init(batch: Int32Array, onEvents: (count: number) => void): void;
  listen(address: string, port: number, family: number, backlog: number): number;
  listenerPort(id: number): number;
  closeListener(id: number): void;
  connect(id: number, address: string, port: number, family: number): number;
  abortConnect(id: number): void;
  destroy(id: number): number;
  drain(id: number): number;
  activity(id: number): number;
  tunnelSetTls?(id: number, certs: Array<{ cert: string; key: string; hosts: string[] }>, options: { hsts: number }): string | undefined;
}

const FUNCTIONS = ['init', 'listen', 'listenerPort', 'closeListener', 'connect', 'abortConnect', 'destroy', 'drain', 'activity'] as const;
/** Events per flush; the C side flushes early when it is full. */
const BATCH_EVENTS = 1024;

let tunnels: NativeTunnels | undefined | null = null;

/** Where the compiled module is, if there is one for this machine (build/Release, or the package's prebuild). */
export function nativeTunnelPath(): string | undefined {
  return nativeAddonPath();
}

/** The native tunnels, or undefined when they are not built, not loadable, or turned off (SUPERVISE_TCP_NATIVE=0). */
export function loadNativeTunnels(env: NodeJS.ProcessEnv = process.env): NativeTunnels | undefined {
  if (env.SUPERVISE_TCP_NATIVE === '0') return undefined;
  if (tunnels === null) {
    const binding = loadBinding();
    try {
      tunnels = binding === undefined ? undefined : withOwners(binding);
    } catch {
      tunnels = undefined; // already initialised by another thread of this process: it is that thread's
    }
  }
  return tunnels;
}

/** The addon's exports (every native module of src/native/), for the modules that are not the tunnel's (prctl). */
export function loadNativeAddon(): Readonly<Record<string, unknown>> | undefined {
  return loadNative()?.exports;
}

function loadBinding(): Binding | undefined {
  const loaded = loadNative()?.exports as Partial<Binding> | undefined;
  return loaded !== undefined && FUNCTIONS.every((name) => typeof loaded[name] === 'function') ? (loaded as Binding) : undefined;
}

/** A node-style error for a negative errno from the native module. */
export function errnoError(status: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const where = address === undefined ? '' : ` ${address}:${port}`;
  const error: NodeJS.ErrnoException & { address?: string; port?: number } = new Error(`${syscall} ${code}${where}`);
  error.errno = status;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) {
    error.address = address;
    error.port = port;
  }
  return error;
}

/** The binding, with its events routed to the owners of listeners and tunnels (one listener per process). */
function withOwners(binding: Binding): NativeTunnels {
  const owners: Array<NativeTunnelOwner | undefined> = [];
  const listeners: Array<NativeListenerOwner | undefined> = [];
  const batch = new Int32Array(3 * BATCH_EVENTS);

  const route = (id: number, what: number, detail: number): void => {
    if (what === ACCEPT_FAILED) {
      listeners[id]?.nativeAcceptFailed(-detail);
      return;
    }
    if (what === ACCEPTED) {
      const listener = listeners[detail];
      if (listener === undefined) binding.destroy(id); // its listener closed meanwhile
      else owners[id] = listener.nativeAccepted(id);
      return;
    }
    const owner = owners[id];
    if (owner === undefined) return;
    if (what === CONNECT_FAILED) {
      owner.nativeConnectFailed(-detail);
      return;
    }
    if ((what & CONNECTED) !== 0) {
      owner.nativeConnected();
      if (owners[id] !== owner) return; // destroyed by the owner meanwhile: accounted for there
    }
    const sides = what & (CLIENT_SIDE | UPSTREAM_SIDE);
    if (sides === 0) return;
    if (detail === 0) owners[id] = undefined; // nothing left open: the id is free
    owner.nativeSidesClosed(sides);
  };

  binding.init(batch, (count) => {
    for (let i = 0; i < count; i++) {
      const id = batch[3 * i] as number;
      const what = batch[3 * i + 1] as number;
      const detail = batch[3 * i + 2] as number;
      try {
        route(id, what, detail);
      } catch (error) {
        // Like a failed task: reported by its owner, the rest of the batch still handled.
        const owner = what === ACCEPT_FAILED ? listeners[id] : what === ACCEPTED ? listeners[detail] : owners[id];
        owner?.nativeEventFailed(error);
      }
    }
  });

  return {
    listen(address, port, family, owner) {
      const id = binding.listen(address, port, family, 511);
      if (id >= 0) listeners[id] = owner;
      return id;
    },
    listenerPort: (id) => binding.listenerPort(id),
    closeListener(id) {
      listeners[id] = undefined;
      binding.closeListener(id);
    },
    connect: (id, address, port, family) => binding.connect(id, address, port, family),
    abortConnect: (id) => binding.abortConnect(id),
    destroy(id) {
      owners[id] = undefined;
      return binding.destroy(id);
    },
    drain: (id) => void binding.drain(id),
    activity: (id) => binding.activity(id),
    setTls: binding.tunnelSetTls === undefined ? undefined : (id, certs) => binding.tunnelSetTls?.(id, certs, { hsts: 0 }),
  };
}
