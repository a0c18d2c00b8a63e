// The optional native data path of the raw tcp front (src/native/tunnel.c,
// Linux; the addon is found by src/native/load.ts). The raw front accepts,
// balances and accounts; the native tunnel connects to the backend it chose
// and moves the bytes, with no JavaScript per chunk. Where there is no addon
// for this machine, where it cannot load, or with SUPERVISE_TCP_NATIVE=0, the
// raw front moves the bytes itself, with the same behaviour.

import { loadNative, nativeAddonPath } from '../native/load.js';

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

let tunnels: NativeTunnels | undefined | null = null;

/** Where the compiled module is, if there is one for this machine. */
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

function loadBinding(): Binding | undefined {
  const loaded = loadNative()?.exports as Partial<Binding> | undefined;
  if (loaded === undefined) return undefined;
  if (typeof loaded.init !== 'function' || typeof loaded.connect !== 'function' || typeof loaded.destroy !== 'function' || typeof loaded.activity !== 'function') {
    return undefined; // an addon without the tunnel (another platform's sources)
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
