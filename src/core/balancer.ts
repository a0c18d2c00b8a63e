// Which backend gets the next connection or request. Pure: no I/O, no timers.
//
// One small object per policy, in the spirit of undici's balanced-pool and
// node's round_robin_handle: the front owns the plumbing (connect, retry,
// drain), a policy only answers "who is next?". `exclude` lets the front retry
// on another backend after a failed connect without disturbing the rotation.

import type { BalancePolicy, WorkerId } from './types.js';

export interface Balancer {
  /** Put a backend into rotation; re-adding updates its weight. */
  add(id: WorkerId, weight?: number): void;
  remove(id: WorkerId): void;
  has(id: WorkerId): boolean;
  readonly size: number;
  /** The next backend, skipping those in `exclude`; undefined when none is left. */
  pick(exclude?: ReadonlySet<WorkerId>): WorkerId | undefined;
  /** A connection to `id` opened (least-conn counts them; no-op for the others). */
  acquire(id: WorkerId): void;
  /** A connection to `id` ended. */
  release(id: WorkerId): void;
}

export const BALANCE_POLICIES: readonly BalancePolicy[] = ['round-robin', 'weighted-round-robin', 'least-conn', 'p2c'];

/**
 * @param random p2c's source of randomness, in [0, 1): injected so that tests
 *   are deterministic (the balancer stays pure).
 */
export function createBalancer(policy: BalancePolicy = 'round-robin', random: () => number = Math.random): Balancer {
  switch (policy) {
    case 'round-robin':
      return new RoundRobin();
    case 'weighted-round-robin':
      return new SmoothWeightedRoundRobin();
    case 'least-conn':
      return new LeastConnections();
    case 'p2c':
      return new PowerOfTwoChoices(random);
    default:
      throw new TypeError(`unknown balance policy ${JSON.stringify(policy)}: expected one of ${BALANCE_POLICIES.join(', ')}`);
  }
}

function checkWeight(id: WorkerId, weight: number): number {
  if (!Number.isFinite(weight) || weight <= 0) {
    throw new RangeError(`backend ${id}: weight must be a positive number, got ${weight}`);
  }
  return weight;
}

/**
 * Ids in an array and a cursor: pick is O(1) unless excluded ids must be
 * skipped. Removal keeps the cursor on the backend that was next.
 */
class RoundRobin implements Balancer {
  protected readonly ids: WorkerId[] = [];
  protected cursor = 0;

  get size(): number {
    return this.ids.length;
  }

  has(id: WorkerId): boolean {
    return this.ids.includes(id);
  }

  add(id: WorkerId, weight = 1): void {
    checkWeight(id, weight);
    if (!this.ids.includes(id)) this.ids.push(id);
  }

  remove(id: WorkerId): void {
    const index = this.ids.indexOf(id);
    if (index < 0) return;
    this.ids.splice(index, 1);
    if (index < this.cursor) this.cursor--;
    if (this.cursor >= this.ids.length) this.cursor = 0;
  }

  pick(exclude?: ReadonlySet<WorkerId>): WorkerId | undefined {
    const count = this.ids.length;
    for (let tried = 0; tried < count; tried++) {
      const id = this.ids[this.cursor] as WorkerId;
      this.cursor = this.cursor + 1 === count ? 0 : this.cursor + 1;
      if (exclude === undefined || !exclude.has(id)) return id;
    }
    return undefined;
  }

  acquire(_id: WorkerId): void {}

  release(_id: WorkerId): void {}
}

/**
 * The fewest open connections wins; the scan starts at a rotating cursor so
 * that ties go round-robin instead of always to the first backend.
 * Connections are compared relative to weight (active / weight), as nginx does.
 */
class LeastConnections extends RoundRobin {
  protected readonly active = new Map<WorkerId, number>();
  protected readonly weights = new Map<WorkerId, number>();

  override add(id: WorkerId, weight = 1): void {
    super.add(id, weight);
    this.weights.set(id, weight);
    if (!this.active.has(id)) this.active.set(id, 0);
  }

  override remove(id: WorkerId): void {
    super.remove(id);
    this.weights.delete(id);
    // Keep counting a removed backend's open connections: if it comes back
    // before they end, its count must still be right.
    if (this.active.get(id) === 0) this.active.delete(id);
  }

  override pick(exclude?: ReadonlySet<WorkerId>): WorkerId | undefined {
    const count = this.ids.length;
    let best: WorkerId | undefined;
    let bestIndex = 0;
    let bestActive = 0;
    let bestWeight = 1;
    for (let offset = 0; offset < count; offset++) {
      const index = (this.cursor + offset) % count;
      const id = this.ids[index] as WorkerId;
      if (exclude !== undefined && exclude.has(id)) continue;
      const active = this.active.get(id) ?? 0;
      const weight = this.weights.get(id) ?? 1;
      // active/weight < bestActive/bestWeight, without division.
      if (best === undefined || active * bestWeight < bestActive * weight) {
        best = id;
        bestIndex = index;
        bestActive = active;
        bestWeight = weight;
      }
    }
    if (best !== undefined) this.cursor = bestIndex + 1 === count ? 0 : bestIndex + 1;
    return best;
  }

  override acquire(id: WorkerId): void {
    this.active.set(id, (this.active.get(id) ?? 0) + 1);
  }

  override release(id: WorkerId): void {
    const active = this.active.get(id);
    if (active === undefined) return;
    if (active > 1 || this.weights.has(id)) this.active.set(id, Math.max(0, active - 1));
    else this.active.delete(id);
  }
}

/**
 * Power of two choices (Mitzenmacher; Envoy's and finagle's least-request):
 * two backends at random, the one with fewer open connections per weight wins.
 * Close to least-conn's balance at O(1) per pick, and without least-conn's herd
 * onto one freshly added backend when many fronts share the same counts.
 */
class PowerOfTwoChoices extends LeastConnections {
  constructor(private readonly random: () => number) {
    super();
  }

  override pick(exclude?: ReadonlySet<WorkerId>): WorkerId | undefined {
    const candidates = exclude === undefined || exclude.size === 0 ? this.ids : this.ids.filter((id) => !exclude.has(id));
    const count = candidates.length;
    if (count <= 1) return candidates[0];
    const first = Math.floor(this.random() * count);
    // A second index different from the first, uniformly among the others.
    const second = (first + 1 + Math.floor(this.random() * (count - 1))) % count;
    const a = candidates[first] as WorkerId;
    const b = candidates[second] as WorkerId;
    const load = (id: WorkerId) => [this.active.get(id) ?? 0, this.weights.get(id) ?? 1] as const;
    const [activeA, weightA] = load(a);
    const [activeB, weightB] = load(b);
    // activeA/weightA <= activeB/weightB, without division.
    return activeA * weightB <= activeB * weightA ? a : b;
  }
}

/**
 * The smooth weighted round-robin sequence for `weights` (indexes into it), as
 * the balancer below picks them: what the data plane's snapshot carries, so
 * that C walks with a cursor the sequence this algorithm computes once. With
 * integer weights the sequence repeats after sum/gcd picks (every peer's
 * `current` is back at 0), so one period is exact; it is cut at `maxLength`
 * (then, and for fractional weights, the first `maxLength` picks).
 */
export function smoothSchedule(weights: readonly number[], maxLength: number): number[] {
  if (weights.length === 0) return [];
  const balancer = new SmoothWeightedRoundRobin();
  weights.forEach((weight, index) => balancer.add(index, weight));
  const integers = weights.every((weight) => Number.isInteger(weight));
  const divisor = integers ? weights.reduce((a, b) => gcd(a, b)) : 1;
  const period = integers ? weights.reduce((sum, weight) => sum + weight / divisor, 0) : maxLength;
  const length = Math.max(1, Math.min(period, maxLength));
  return Array.from({ length }, () => balancer.pick() as number);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

interface WeightedPeer {
  readonly id: WorkerId;
  weight: number;
  current: number;
}

/**
 * nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every pick
 * adds each peer's weight to its `current`, takes the largest, and subtracts
 * the total from the winner. Weights 5,1,1 give a a b a c a a, spreading the
 * heavy peer out instead of sending it five in a row. O(n) per pick.
 */
class SmoothWeightedRoundRobin implements Balancer {
  private readonly peers: WeightedPeer[] = [];

  get size(): number {
    return this.peers.length;
  }

  has(id: WorkerId): boolean {
    return this.peers.some((peer) => peer.id === id);
  }

  add(id: WorkerId, weight = 1): void {
    checkWeight(id, weight);
    const existing = this.peers.find((peer) => peer.id === id);
    if (existing) existing.weight = weight;
    else this.peers.push({ id, weight, current: 0 });
  }

  remove(id: WorkerId): void {
    const index = this.peers.findIndex((peer) => peer.id === id);
    if (index >= 0) this.peers.splice(index, 1);
  }

  pick(exclude?: ReadonlySet<WorkerId>): WorkerId | undefined {
    let best: WeightedPeer | undefined;
    let total = 0;
    for (const peer of this.peers) {
      if (exclude !== undefined && exclude.has(peer.id)) continue;
      peer.current += peer.weight;
      total += peer.weight;
      if (best === undefined || peer.current > best.current) best = peer;
    }
    if (best === undefined) return undefined;
    best.current -= total;
    return best.id;
  }

  acquire(_id: WorkerId): void {}

  release(_id: WorkerId): void {}
}
