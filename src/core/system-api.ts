// What the control socket and the signal handlers may ask of a running system
// (SPEC §6, §8): the apps by name, and what concerns all of them. Types only.

import type { ReloadResult, SupervisorApi, SupervisorEvent, SupervisorStatus } from './types.js';

/** An app's requests through an L7 front (its own, or the routing front), since the master started. */
export interface RequestTotals {
  readonly count: number;
  /** [1xx, 2xx, 3xx, 4xx, 5xx] */
  readonly classes: readonly number[];
  /** Cumulative counts per bound of LATENCY_BUCKETS_MS (5 ms … 10 s). */
  readonly buckets: readonly number[];
  /** ms */
  readonly sum: number;
}

/** One remote server of an app (SPEC §13). */
export interface RemoteServerStatus {
  /** Its backend id, from the same id space as the workers'. */
  readonly id: number;
  /** address:port */
  readonly server: string;
  /** The `upstreams:` entry it comes from: `host:port` or `srv <name>`. */
  readonly origin: string;
  readonly weight: number;
  readonly backup: boolean;
  /** `up`; `unhealthy` (active checks); `ejected` (max-fails within fail-timeout); `draining` (left the records or the file). */
  readonly state: 'up' | 'unhealthy' | 'ejected' | 'draining';
  /** Takes traffic now (a backup only while every primary is down). */
  readonly inRotation: boolean;
  /** Open connections or in-flight requests, and the total since it was added. */
  readonly connections: number;
  readonly total: number;
}

export type AppStatus = SupervisorStatus & { readonly name: string; readonly requests?: RequestTotals; readonly servers?: readonly RemoteServerStatus[] };

/**
 * `/status`: every app under `apps`; with one app, that app's fields at the top
 * level too (the single-app shape of SPEC §6).
 */
export type SystemStatus = { readonly pid: number; readonly apps: readonly AppStatus[]; readonly tls?: readonly TlsCertificateStatus[] } & Partial<SupervisorStatus>;

/** A TLS front's certificate in `/status` (SPEC §14): `front` is `front` (the routing front) or the app whose own front it is. */
export interface TlsCertificateStatus {
  readonly front: string;
  readonly file: string;
  readonly subject: string;
  /** Its DNS names (subjectAltName). */
  readonly names: readonly string[];
  /** The names SNI chooses it for (`hosts:`, else its names). */
  readonly hosts: readonly string[];
  readonly serial: string;
  readonly notAfter: string;
  readonly daysLeft: number;
}

export type ApplyResult =
  | {
      readonly ok: true;
      readonly added: readonly string[];
      readonly removed: readonly string[];
      readonly changed: readonly string[];
      readonly unchanged: readonly string[];
    }
  /** `invalid`: the file does not parse or validate, and nothing changed. */
  | { readonly ok: false; readonly error: string; readonly invalid?: true };

export type SystemReloadResult =
  | { readonly ok: true; readonly apps: Readonly<Record<string, ReloadResult>> }
  | { readonly ok: false; readonly error: string; readonly apps: Readonly<Record<string, ReloadResult>> };

export interface SystemApi {
  status(): SystemStatus;
  /** Workers' CPU and memory are read on demand: call before status() to have them at most a second old. */
  refreshUsage?(): Promise<void>;
  /** App names, in the file's order. */
  appNames(): readonly string[];
  app(name: string): SupervisorApi | undefined;
  /** Rolling reload of every app (one after another). */
  reloadAll(reason: string): Promise<SystemReloadResult>;
  /** Re-read the system file and apply the difference (`ctl apply`). */
  apply(reason: string): Promise<ApplyResult>;
  stop(reason: string): Promise<void>;
  /** Observers for metrics, with the app an event comes from; must not throw. */
  onEvent(listener: (app: string, event: SupervisorEvent) => void): void;
}
