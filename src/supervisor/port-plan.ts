// Spawn mode's port choice: which port of base-port … base-port+N a new worker
// gets. Pure but for the listening probe it is given, so the rules read in one
// place: a refilled slot takes its own port; a reload candidate takes a spare
// one in range that nobody (ours or foreign) holds.

export interface PortRange {
  readonly base: number;
  /** The last port of the range (base-port + N). */
  readonly last: number;
  /** Ports a live worker of ours holds. */
  readonly used: ReadonlySet<number>;
}

/** The lowest port from base-port up that no live worker holds. */
export function lowestFreePort(range: PortRange): number {
  for (let port = range.base; ; port++) if (!range.used.has(port)) return port;
}

/**
 * A slot (re)filled: its own port base-port+slot when no worker of ours holds it
 * (a foreign holder is reported at the start, and the slot backs off rather than
 * wander off the range); else the lowest free one.
 */
export function homePort(range: PortRange, slot: number): number {
  const home = range.base + slot;
  return range.used.has(home) ? lowestFreePort(range) : home;
}

/**
 * The first port of the range that no worker of ours holds and for which
 * `wanted(port)` holds: a spare port (nobody listening) for a replacement that
 * starts next to the worker it replaces, or a foreign holder for messages.
 */
export function firstUnusedPort(range: PortRange, wanted: (port: number) => boolean): number | undefined {
  for (let port = range.base; port <= range.last; port++) if (!range.used.has(port) && wanted(port)) return port;
  return undefined;
}
