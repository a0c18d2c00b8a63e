// `ctl apply` is all or nothing: before anything stops, the ports the new file
// claims (apps added, replaced, or reloaded onto another range) are checked
// against the ports what RUNS holds — each app that keeps running through the
// apply at its runtime size (a `ctl scale orders 4` holds 8100…8104, whatever
// the file says) — not only against the file's own ranges. Pure.

export interface PortClaim {
  /** `app "orders-canary"` */
  readonly what: string;
  /** The app it belongs to: its own running ports are no conflict (they are freed, or its own). */
  readonly app: string;
  readonly range: readonly [number, number];
  /** ` (supervise.yaml, line 31)` or '' */
  readonly where: string;
}

export interface RunningHolder {
  readonly app: string;
  /** `app "orders" (runtime scale: 4 workers)` */
  readonly what: string;
  /** Every port it holds or keeps for itself: its workers' ports and its reload range at its runtime size. */
  readonly ports: ReadonlySet<number>;
}

/** The first claim that takes a port a running app holds, as a sentence; undefined when none does. */
export function runningPortConflict(claims: readonly PortClaim[], running: readonly RunningHolder[]): string | undefined {
  for (const claim of claims) {
    for (const holder of running) {
      if (holder.app === claim.app) continue;
      const [first, last] = claim.range;
      const taken = [...holder.ports].filter((port) => port >= first && port <= last).sort((a, b) => a - b);
      if (taken.length === 0) continue;
      const ports = first === last ? `port ${first}` : `ports ${first}–${last}`;
      const held = taken.length === 1 ? `port ${taken[0]}` : `ports ${taken.join(', ')}`;
      return `${claim.what} would take ${ports}${claim.where}, but ${holder.what} holds ${held} now; move its base-port or port, or scale ${holder.app} first`;
    }
  }
  return undefined;
}
