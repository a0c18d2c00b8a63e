// The snapshot the control plane publishes to the data plane: everything C
// needs to decide a request alone — backends (slot, address, weight, draining,
// --max-requests budget), apps (policy, backends in rotation, the smooth-WRR
// schedule), routes (host, prefix, strip, weight; the WRR schedule between the
// apps sharing a prefix) and the timeouts — as one flat buffer: int32 words,
// then a string area. The layout is src/native/dp_constants.h's (through its
// generated copy, dp-constants.ts); src/native/dp_snapshot.c decodes it.
//
// Pure: no I/O. The decisions are computed here once, by the same code the
// JavaScript front runs (balancer.ts's smooth WRR, router.ts's grouping and
// order), so the two data paths cannot disagree on policy; C only walks tables.

import { smoothSchedule } from './balancer.js';
import * as K from './dp-constants.js';
import { routeGroups, type AppRoute } from './router.js';
import type { BalancePolicy } from './types.js';

export interface SnapshotBackend {
  /** C's stable number for this backend (its counters and pool), unique in a snapshot, 0..DP_MAX_SLOT. */
  readonly slot: number;
  /** An IP address (C connects to addresses: host names are resolved before). */
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Out of rotation with requests still in flight: C reports it drained when they end. */
  readonly draining: boolean;
  /** Taken only when no other backend of its app can take the request. */
  readonly backup?: boolean;
  /** --max-requests: C reports DP_EV_BUDGET once it was handed this many requests; 0: no limit. */
  readonly budget: number;
  readonly app: string;
}

export interface SnapshotApp {
  readonly name: string;
  readonly policy: BalancePolicy;
}

export interface SnapshotRoute extends AppRoute {
  /** The counters' series (app, route) its requests are counted under. */
  readonly series: number;
}

export interface SnapshotInput {
  /** Increasing: which snapshot a thread runs, in logs and acks. */
  readonly serial: number;
  /** In rotation order within each app (the order round-robin walks). */
  readonly backends: readonly SnapshotBackend[];
  readonly apps: readonly SnapshotApp[];
  /** A routing front's table (`routed`); otherwise none: every request goes to the one app, counted under `defaultSeries`. */
  readonly routes: readonly SnapshotRoute[];
  /** A routing front: requests are matched against `routes` (none matches: 404), even when it is empty. */
  readonly routed?: boolean;
  readonly defaultSeries: number;
  readonly queueTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
}

export const POLICY_CODES: Readonly<Record<BalancePolicy, number>> = {
  'round-robin': K.DP_P_ROUND_ROBIN,
  'weighted-round-robin': K.DP_P_WEIGHTED_ROUND_ROBIN,
  'least-conn': K.DP_P_LEAST_CONN,
  p2c: K.DP_P_P2C,
};

/** A string area that hands out byte offsets. */
class Strings {
  private readonly parts: Uint8Array[] = [];
  private readonly encoder = new TextEncoder();
  length = 0;

  add(text: string): [at: number, length: number] {
    const bytes = this.encoder.encode(text);
    const at = this.length;
    this.parts.push(bytes);
    this.length += bytes.length;
    return [at, bytes.length];
  }

  copyInto(target: Uint8Array, offset: number): void {
    for (const part of this.parts) {
      target.set(part, offset);
      offset += part.length;
    }
  }
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(`data-plane snapshot: ${message}`);
}

function integerIn(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Weights as the snapshot carries them: integers from 1 to DP_MAX_WEIGHT. The
 * options allow integers 1…1000 (apps' `weights`, routes' `weight`); anything
 * else is a programming error here, not a user's.
 */
function weightOf(weight: number, what: string): number {
  check(integerIn(weight, 1, K.DP_MAX_WEIGHT), `${what}: weight must be an integer from 1 to ${K.DP_MAX_WEIGHT}, got ${weight}`);
  return weight;
}

/** Encodes `input` as the buffer C decodes (dp_snapshot_decode). Throws RangeError on an input C would refuse. */
export function encodeSnapshot(input: SnapshotInput): Uint8Array {
  const strings = new Strings();
  const lists: number[] = [];
  const appIndex = new Map<string, number>();
  input.apps.forEach((app, index) => {
    check(!appIndex.has(app.name), `app ${JSON.stringify(app.name)} is listed twice`);
    check(app.name.length > 0 && app.name.length <= K.DP_MAX_NAME, `app name ${JSON.stringify(app.name)}: 1 to ${K.DP_MAX_NAME} characters`);
    appIndex.set(app.name, index);
  });
  check(input.apps.length <= K.DP_MAX_APPS, `${input.apps.length} apps (at most ${K.DP_MAX_APPS})`);
  check(input.backends.length <= K.DP_MAX_BACKENDS, `${input.backends.length} backends (at most ${K.DP_MAX_BACKENDS})`);

  const backendWords: number[] = [];
  const slots = new Set<number>();
  const members: number[][] = input.apps.map(() => []);
  input.backends.forEach((backend, index) => {
    const app = appIndex.get(backend.app);
    check(app !== undefined, `backend slot ${backend.slot} names no listed app (${JSON.stringify(backend.app)})`);
    check(integerIn(backend.slot, 0, K.DP_MAX_SLOT) && !slots.has(backend.slot), `backend slot ${backend.slot}: unique, 0 to ${K.DP_MAX_SLOT}`);
    check(integerIn(backend.port, 1, 65535), `backend slot ${backend.slot}: port ${backend.port}`);
    check(integerIn(backend.budget, 0, 2 ** 31 - 1), `backend slot ${backend.slot}: budget ${backend.budget}`);
    slots.add(backend.slot);
    const [addressAt, addressLength] = strings.add(backend.address);
    const flags = (backend.draining ? K.DP_F_DRAINING : 0) | (backend.backup === true ? K.DP_F_BACKUP : 0);
    backendWords.push(backend.slot, addressAt, addressLength, backend.port, weightOf(backend.weight, `backend slot ${backend.slot}`), flags, backend.budget, app as number);
    if (!backend.draining) (members[app as number] as number[]).push(index);
  });

  const appWords: number[] = [];
  input.apps.forEach((app, index) => {
    const inRotation = members[index] as number[];
    const [nameAt, nameLength] = strings.add(app.name);
    const memberFirst = lists.length;
    lists.push(...inRotation);
    let scheduleFirst = 0;
    let scheduleLength = 0;
    if (app.policy === 'weighted-round-robin' && inRotation.length > 0) {
      const schedule = smoothSchedule(inRotation.map((backend) => (input.backends[backend] as SnapshotBackend).weight), K.DP_MAX_SCHEDULE);
      scheduleFirst = lists.length;
      scheduleLength = schedule.length;
      lists.push(...schedule);
    }
    const policy = POLICY_CODES[app.policy];
    check(policy !== undefined, `app ${app.name}: unknown policy ${JSON.stringify(app.policy)}`);
    appWords.push(nameAt, nameLength, policy, memberFirst, inRotation.length, scheduleFirst, scheduleLength, 0);
  });

  const groupWords: number[] = [];
  const routeWords: number[] = [];
  const groups = routeGroups(input.routes);
  check(groups.length <= K.DP_MAX_GROUPS && input.routes.length <= K.DP_MAX_ROUTES, `${input.routes.length} routes (at most ${K.DP_MAX_ROUTES})`);
  for (const group of groups) {
    const [hostAt, hostLength] = group.host === undefined ? [0, 0] : strings.add(group.host);
    const [pathAt, pathLength] = strings.add(group.path);
    const routeFirst = routeWords.length / K.DP_ROUTE_WORDS;
    for (const route of group.routes as readonly SnapshotRoute[]) {
      const app = appIndex.get(route.app);
      check(app !== undefined, `route ${group.label} names no listed app (${JSON.stringify(route.app)})`);
      check(integerIn(route.series, 0, K.DP_MAX_SERIES), `route ${group.label}: series ${route.series}`);
      routeWords.push(app as number, weightOf(route.weight, `route ${group.label}`), route.strip ? 1 : 0, route.series);
    }
    const schedule = smoothSchedule(group.routes.map((route) => route.weight), K.DP_MAX_SCHEDULE);
    groupWords.push(hostAt, hostLength, pathAt, pathLength, routeFirst, group.routes.length, lists.length, schedule.length);
    lists.push(...schedule);
  }
  const routed = input.routed ?? input.routes.length > 0;
  check(routed || input.apps.length <= 1, 'a front without routes has at most one app');
  check(integerIn(input.defaultSeries, 0, K.DP_MAX_SERIES), `default series ${input.defaultSeries}`);

  const header = new Array<number>(K.DP_HEADER_WORDS).fill(0);
  let at = K.DP_HEADER_WORDS;
  const place = (words: number[], atIndex: number, countIndex: number, count: number): void => {
    header[atIndex] = at;
    header[countIndex] = count;
    at += words.length;
  };
  place(backendWords, K.DP_H_BACKEND_AT, K.DP_H_BACKEND_COUNT, input.backends.length);
  place(appWords, K.DP_H_APP_AT, K.DP_H_APP_COUNT, input.apps.length);
  place(groupWords, K.DP_H_GROUP_AT, K.DP_H_GROUP_COUNT, groups.length);
  place(routeWords, K.DP_H_ROUTE_AT, K.DP_H_ROUTE_COUNT, input.routes.length);
  place(lists, K.DP_H_LIST_AT, K.DP_H_LIST_COUNT, lists.length);
  header[K.DP_H_MAGIC] = K.DP_SNAPSHOT_MAGIC;
  header[K.DP_H_VERSION] = K.DP_SNAPSHOT_VERSION;
  header[K.DP_H_WORDS] = at;
  header[K.DP_H_STRING_BYTES] = strings.length;
  header[K.DP_H_SERIAL] = input.serial;
  header[K.DP_H_DEFAULT_SERIES] = input.defaultSeries;
  header[K.DP_H_FLAGS] = routed ? K.DP_S_ROUTED : 0;
  header[K.DP_H_QUEUE_TIMEOUT_MS] = clampMs(input.queueTimeoutMs);
  header[K.DP_H_CONNECT_TIMEOUT_MS] = clampMs(input.connectTimeoutMs);
  header[K.DP_H_RESPONSE_TIMEOUT_MS] = clampMs(input.responseTimeoutMs);

  const bytes = at * 4 + strings.length;
  check(bytes <= K.DP_MAX_BYTES, `${bytes} bytes (at most ${K.DP_MAX_BYTES})`);
  const buffer = new Uint8Array(bytes);
  const words = new Int32Array(buffer.buffer, 0, at);
  words.set(header, 0);
  words.set(backendWords, header[K.DP_H_BACKEND_AT] as number);
  words.set(appWords, header[K.DP_H_APP_AT] as number);
  words.set(groupWords, header[K.DP_H_GROUP_AT] as number);
  words.set(routeWords, header[K.DP_H_ROUTE_AT] as number);
  words.set(lists, header[K.DP_H_LIST_AT] as number);
  strings.copyInto(buffer, at * 4);
  return buffer;
}

/** Milliseconds as an int32 word: a fraction rounded up, past 2^31-1 (24 days) the maximum. */
function clampMs(ms: number): number {
  check(Number.isFinite(ms) && ms >= 0, `timeout ${ms}`);
  return Math.min(2 ** 31 - 1, Math.ceil(ms));
}
