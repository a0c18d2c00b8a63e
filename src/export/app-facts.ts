// What one app of a system is, independent of the engine it is exported to:
// the one port its container listens on, the command that runs there, its
// probes in seconds, its stop budget, its memory limit. The Kubernetes,
// compose and systemd exporters read these facts instead of each re-deriving
// them from AppConfig. Pure.

import { dirname, isAbsolute, join, relative } from 'node:path';
import type { AppConfig, SystemConfig } from '../core/system-types.js';
import { listenBeyondLoopback } from './listen-address.js';

/** Where an exported image is expected to hold the system's folder (docs/export.md). */
export const IMAGE_ROOT = '/app';
/** The in-container supervisor's control socket (cluster apps), which liveness and health checks ask. */
export const POD_CONTROL = '/tmp/supervise.sock';

export interface ExportOptions {
  /** `--image app=ref`; an app without one gets `<app>:latest`. */
  readonly images: ReadonlyMap<string, string>;
}

/** A probe as the engines see it: an HTTP GET, a TCP connect, or a command. */
export type ProbeTarget = { readonly kind: 'http'; readonly path: string } | { readonly kind: 'tcp' } | { readonly kind: 'exec'; readonly command: readonly string[] };

export interface Probe {
  readonly target: ProbeTarget;
  readonly periodSeconds: number;
  readonly timeoutSeconds: number;
  readonly successThreshold: number;
  readonly failureThreshold: number;
}

export interface AppFacts {
  readonly app: AppConfig;
  /** A DNS-1123 label (Kubernetes and compose names): `_` becomes `-`. */
  readonly name: string;
  readonly image: string;
  /** The port the container serves on: spawn mode base-port (one server per container), cluster mode its port. */
  readonly port: number;
  /** The container's argv. */
  readonly command: readonly string[];
  readonly workingDir: string;
  /**
   * The environment for an engine that has none of its own to resolve variables
   * from (Kubernetes): `${VAR:-default}` is its default, never the exporting
   * shell's value; `${VAR}` without a default is the exporting shell's value.
   */
  readonly env: Readonly<Record<string, string>>;
  /** The environment for an engine that resolves `${VAR}` and `${VAR:-default}` at its start (compose): as the file writes it. */
  readonly envTemplate: Readonly<Record<string, string>>;
  /** Containers (Deployment replicas, compose replicas): spawn mode one per worker; cluster mode one supervisor with -w N. */
  readonly replicas: number;
  /** Readiness: out of rotation while failing (supervise's --health). */
  readonly readiness: Probe;
  /** Liveness: replaced when failing (--liveness; the in-pod supervisor's control socket for cluster apps). */
  readonly liveness: Probe | undefined;
  /** The time a new container has to become ready (--ready-timeout). */
  readonly startupSeconds: number;
  /** The whole stop of one container (--kill-timeout). */
  readonly stopSeconds: number;
  readonly memoryLimitBytes: number | undefined;
}

/** The liveness settings of SPEC §9 (Config's `liveness`, `heartbeatTimeoutMs`); read where present. */
interface LivenessSettings {
  readonly liveness?: { readonly path: string; readonly intervalMs: number; readonly threshold: number } | undefined;
  readonly heartbeatTimeoutMs?: number;
}

export function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export function dnsName(name: string): string {
  return name.replace(/_/g, '-').slice(0, 63).replace(/-+$/, '');
}

/** The system's folder: paths in the image are relative to it. */
export function systemRoot(system: SystemConfig): string | undefined {
  return system.file === undefined ? undefined : dirname(system.file);
}

/** A local path as it is inside the image (under IMAGE_ROOT, relative to the system's folder). */
export function imagePath(system: SystemConfig, path: string): string {
  const root = systemRoot(system) ?? system.apps[0]?.cwd;
  if (root === undefined || !isAbsolute(path)) return join(IMAGE_ROOT, path);
  const inside = relative(root, path);
  return inside.startsWith('..') ? path : join(IMAGE_ROOT, inside);
}

function appCommand(app: AppConfig & LivenessSettings, port: number): string[] {
  if (app.mode === 'spawn') {
    // One server per container: the worker slot is always 0, the port fixed.
    const argv = app.args.map((arg) => arg.replaceAll('{port}', String(port)).replaceAll('{worker}', '0'));
    return [...listenBeyondLoopback(argv).command];
  }
  // node:cluster inside the container: the in-pod supervisor keeps the heartbeat, wait-ready and
  // zero-downtime worker replacement that a bare `node app.js` would lose (docs/export.md).
  const script = app.script === undefined ? 'app.js' : relative(app.cwd, app.script) || app.script;
  return [
    'supervise', '-w', String(app.workers), '--port', String(port), '--host', '0.0.0.0', '--control', POD_CONTROL,
    '--kill-timeout', `${app.killTimeoutMs}ms`, '--ready-timeout', `${app.readyTimeoutMs}ms`,
    ...(app.waitReady ? ['--wait-ready'] : []),
    ...(app.heartbeatTimeoutMs === undefined ? [] : ['--heartbeat-timeout', `${app.heartbeatTimeoutMs}ms`]),
    ...(app.maxMemoryBytes === undefined ? [] : ['--max-memory', String(app.maxMemoryBytes)]),
    '--log-format', 'json', script, ...app.args,
  ];
}

function livenessProbe(app: AppConfig & LivenessSettings): Probe | undefined {
  if (app.mode === 'cluster') {
    // Hung workers are the in-pod supervisor's job (heartbeat); Kubernetes watches the supervisor itself.
    const heartbeatMs = app.heartbeatTimeoutMs ?? 30_000;
    return {
      target: { kind: 'exec', command: ['supervise', 'ctl', '--control', POD_CONTROL, 'status', '--json'] },
      periodSeconds: 10, timeoutSeconds: 5, successThreshold: 1, failureThreshold: Math.max(1, Math.ceil(heartbeatMs / 10_000)),
    };
  }
  if (app.liveness === undefined) return undefined;
  return {
    target: { kind: 'http', path: app.liveness.path },
    periodSeconds: seconds(app.liveness.intervalMs),
    timeoutSeconds: seconds(app.health.timeoutMs),
    successThreshold: 1,
    failureThreshold: app.liveness.threshold,
  };
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** The app's env with each `${VAR:-default}` as its default; a `${VAR}` without one as the exporting shell resolved it. */
function envWithDefaults(app: AppConfig): Record<string, string> {
  const written = app.envAsWritten;
  if (written === undefined) return { ...app.env };
  return Object.fromEntries(
    Object.entries(app.env).map(([name, resolved]) => {
      const raw = written[name] ?? resolved;
      const defaultsOnly = [...raw.matchAll(VARIABLE)].every((match) => match[2] !== undefined);
      return [name, defaultsOnly ? raw.replace(VARIABLE, (_, _name: string, fallback: string) => fallback) : resolved];
    }),
  );
}

export function appFacts(system: SystemConfig, app: AppConfig, options: ExportOptions): AppFacts {
  const port = app.mode === 'spawn' ? app.basePort : app.port;
  const health = app.health;
  return {
    app,
    name: dnsName(app.name),
    image: options.images.get(app.name) ?? `${dnsName(app.name)}:latest`,
    port,
    command: appCommand(app, port),
    workingDir: imagePath(system, app.cwd),
    // HOST: most servers read it, and a container must listen beyond 127.0.0.1 to be reached
    // (uvicorn and gunicorn do not: their command is rewritten, listen-address.ts).
    env: { ...envWithDefaults(app), PORT: String(port), HOST: '0.0.0.0' },
    envTemplate: { ...(app.envAsWritten ?? app.env), PORT: String(port), HOST: '0.0.0.0' },
    replicas: app.mode === 'spawn' ? app.workers : 1,
    readiness: {
      target: app.mode === 'spawn' && health.path !== undefined ? { kind: 'http', path: health.path } : { kind: 'tcp' },
      periodSeconds: seconds(health.intervalMs),
      timeoutSeconds: seconds(health.timeoutMs),
      successThreshold: health.healthyThreshold,
      failureThreshold: health.unhealthyThreshold,
    },
    liveness: livenessProbe(app),
    startupSeconds: seconds(app.readyTimeoutMs),
    stopSeconds: seconds(app.killTimeoutMs),
    // Cluster mode: N workers and their master share the container's limit.
    memoryLimitBytes: app.maxMemoryBytes === undefined ? undefined : app.mode === 'cluster' ? app.maxMemoryBytes * (app.workers + 1) : app.maxMemoryBytes,
  };
}

export function systemFacts(system: SystemConfig, options: ExportOptions): AppFacts[] {
  return system.apps.map((app) => appFacts(system, app, options));
}
