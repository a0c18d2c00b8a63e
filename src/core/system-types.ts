// The shape of a whole system (SPEC §8): several apps under one master, one
// control socket, one reaper, optionally one routing L7 front. A single-app
// command line is a system of one app. This file is the contract between the
// config loader (which produces it), the system runtime, `export`, `top` and the
// logs: fields may be added, none renamed. It imports only types.

import type { Config, LogFormat, TlsConfig } from './types.js';
import type { UpstreamSpec } from './upstreams.js';

/** How the shared front sends requests to an app (nginx `location` + `upstream` weight). */
export interface RouteConfig {
  /** Path prefix, starting with `/`; the longest matching prefix wins. */
  readonly path: string;
  /** Host header to match (without port); undefined matches any host. */
  readonly host: string | undefined;
  /** Share between apps with the same path and host (smooth weighted round-robin). */
  readonly weight: number;
  /** Remove the prefix before forwarding (`/users/1` -> `/1`). */
  readonly strip: boolean;
}

/** `autoscale:` (SPEC §15), validated by autoscale-config.ts; at least one target. */
export interface AutoscaleConfig {
  readonly min: number;
  readonly max: number;
  /** Target average CPU per worker, % of one core (the HPA's utilisation of a 1-CPU request). */
  readonly cpu?: number;
  /** Target requests per second per worker, from the fronts' counters. */
  readonly rps?: number;
  /** Target requests in flight per worker, from the fronts. */
  readonly inflight?: number;
  /** How often it decides (the HPA's sync period, 15 s). */
  readonly periodMs: number;
  /** behavior.scaleUp.stabilizationWindowSeconds (0 s). */
  readonly scaleUpWindowMs: number;
  /** behavior.scaleDown.stabilizationWindowSeconds (300 s). */
  readonly scaleDownWindowMs: number;
}

/**
 * One app: every run option of §2 (the single-app `Config`: mode, script/args,
 * workers, port, base-port, proxy, health, timeouts, …) plus what an app of a
 * system adds. `control`, `logFormat` and `logLevel` are the system's; an app's
 * copies equal the system's values.
 */
export interface AppConfig extends Config {
  /** Unique in the system; `[a-z0-9][a-z0-9_-]*`. From the file's key, or `--name`, or the script/command. */
  readonly name: string;
  /** Absolute working directory of the app's workers (`cwd` resolved against the file's folder). */
  readonly cwd: string;
  /** Extra environment for the workers, `${VAR}` already expanded from the master's environment. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The same variables as the file writes them, `${VAR:-default}` not expanded:
   * an export to an engine that resolves variables itself (compose) keeps them.
   * Absent for an app from the command line.
   */
  readonly envAsWritten?: Readonly<Record<string, string>>;
  /** Routes from the shared front; empty when the app is not routed. */
  readonly routes: readonly RouteConfig[];
  /** Apps that must be ready before this one starts. */
  readonly dependsOn: readonly string[];
  readonly autoscale: AutoscaleConfig | undefined;
  /** Per-slot weights inside the app (`weights: [..]`), or undefined (all 1). */
  readonly weights: readonly number[] | undefined;
  /** Remote servers (SPEC §13), beside or instead of its workers (then `workers` is 0 and `args` empty). */
  readonly upstreams: readonly UpstreamSpec[];
}

/** The shared routing front (`front:` in the file). */
export interface FrontConfig {
  readonly host: string;
  readonly port: number;
  /** TLS termination (SPEC §14): certificates by SNI, HSTS, the redirect listener. */
  readonly tls?: TlsConfig;
}

export interface SystemConfig {
  /** Absolute path of the file it was read from; undefined for a command line. */
  readonly file: string | undefined;
  readonly control: string;
  readonly front: FrontConfig | undefined;
  /** In file order; names unique. */
  readonly apps: readonly AppConfig[];
  readonly logFormat: LogFormat;
  readonly logLevel: string;
  /** DNS servers for remote servers' names (`resolvers:`); undefined: the system's. */
  readonly resolvers: readonly string[] | undefined;
}
