// The optional native data path of the raw tcp front (src/native/tunnel.c,
// Linux, built by `npm install` through node-gyp into build/Release). The raw
// front accepts, balances and accounts; the native tunnel connects to the
// backend it chose and moves the bytes, with no JavaScript per chunk. Where it
// did not build (no compiler, another platform), where it cannot load, or
// with SUPERVISE_TCP_NATIVE=0, the raw front moves the bytes itself, with the
// same behaviour.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Bits of the `sides` masks: which side of a tunnel closed (src/native/tunnel.c's EV_ bits). */
export const CLIENT_SIDE = 1;
export const UPSTREAM_SIDE = 2;
const CONNECTED = 4;
const CONNECT_FAILED = 8;

/** Whoever asked for a tunnel, told what becomes of it. */
export interface NativeTunnelOwner {
  /** The backend accepted: the tunnel has its own descriptor of the client now; the owner closes its handle. */
  nativeConnected(): void;
  /** The connect failed (a libuv-style negative errno); the tunnel is gone, the client still the owner's. */
  nativeConnectFailed(status: number): void;
  /** `sides` closed on their own (an end both ways, or a reset), or by destroy(). */
  nativeSidesClosed(sides: number): void;
}

export interface NativeTunnels {
  /**
   * Connects to the backend at `address`:`port` (an IP of `family` 4 or 6)
   * for the client whose descriptor is `clientFd`: the tunnel's id, or a
   * negative errno when the connect failed at once.
   */
  connect(clientFd: number, address: string, port: number, family: number, owner: NativeTunnelOwner): number;
  /** Ends tunnel `id` at once, a connect in progress too; the sides it closed (the client only if the tunnel had it). Not told to the owner. */
  destroy(id: number): number;
  /** Chunks tunnel `id` has moved so far, in either direction. */
  activity(id: number): number;
}

/** The compiled module's functions (src/native/tunnel.c). */
interface Binding {
  /** `detail`: the errno of a failed connect; after closes, the sides still open (0: the tunnel is gone). */
  init(onEvent: (id: number, what: number, detail: number) => void): void;
  connect(clientFd: number, address: string, port: number, family: number): number;
  destroy(id: number): number;
  activity(id: number): number;
}

/** build/Release/, from dist/src/proxy/ (compiled) or src/proxy/ (sources). */
const CANDIDATES = ['../../../build/Release/supervise_tunnel.node', '../../build/Release/supervise_tunnel.node'];

let tunnels: NativeTunnels | undefined | null = null;

/** Where the compiled module is, if it was built. */
export function nativeTunnelPath(): string | undefined {
  return CANDIDATES.map((relative) => fileURLToPath(new URL(relative, import.meta.url))).find((path) => existsSync(path));
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

let addon: Record<string, unknown> | undefined | null = null;

/** The compiled addon's exports (every native module of src/native/), or undefined where it is not built or not loadable. */
export function loadNativeAddon(): Record<string, unknown> | undefined {
  if (addon === null) {
    const path = nativeTunnelPath();
    try {
      addon = path === undefined ? undefined : (createRequire(import.meta.url)(path) as Record<string, unknown>);
    } catch {
      addon = undefined; // built for another node ABI, or not loadable here
    }
  }
  return addon;
}

function loadBinding(): Binding | undefined {
  const loaded = loadNativeAddon() as Partial<Binding> | undefined;
  if (loaded === undefined) return undefined;
  if (typeof loaded.init !== 'function' || typeof loaded.connect !== 'function' || typeof loaded.destroy !== 'function' || typeof loaded.activity !== 'function') {
    return undefined;
  }
  return loaded as Binding;
}

/** The binding, with its events routed to the owner of each tunnel (one listener per process). */
function withOwners(binding: Binding): NativeTunnels {
  const owners: Array<NativeTunnelOwner | undefined> = [];
  binding.init((id, what, detail) => {
    const owner = owners[id];
    if (owner === undefined) return;
    if (what === CONNECT_FAILED) {
      owners[id] = undefined;
      owner.nativeConnectFailed(-detail);
      return;
    }
    if ((what & CONNECTED) !== 0) {
      owner.nativeConnected();
      if (owners[id] !== owner) return; // destroyed by the owner meanwhile: accounted for there
    }
    const sides = what & (CLIENT_SIDE | UPSTREAM_SIDE);
    if (sides === 0) return;
    if (detail === 0) owners[id] = undefined; // nothing left open
    owner.nativeSidesClosed(sides);
  });
  return {
    connect(clientFd, address, port, family, owner) {
      const id = binding.connect(clientFd, address, port, family);
      if (id >= 0) owners[id] = owner;
      return id;
    },
    destroy(id) {
      owners[id] = undefined;
      return binding.destroy(id);
    },
    activity: (id) => binding.activity(id),
  };
}
