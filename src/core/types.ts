// Shared vocabulary of supervise: ids, config, status, events and the
// interfaces between the supervisor, the launchers and the front proxy (a
// worker's states, events and effects live with their table, worker-state.ts).
// It imports only that file's types, which import nothing, so every module can
// depend on it.

import type { WorkerState } from './worker-state.js';

/** Every timeout an edge has, in ms (SPEC §12's table; the queue timeout is the dispatcher's). Defaults: core/edge.ts. */
export interface EdgeTimeouts {
  readonly clientHeaderTimeoutMs: number;
  readonly clientBodyTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly backendReadTimeoutMs: number;
  readonly clientSendTimeoutMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly tunnelTimeoutMs: number;
}

/** The worker count's range, for flags, config files and control requests alike. */
export const MIN_WORKERS = 1;
export const MAX_WORKERS = 1024;

export type Mode = 'cluster' | 'spawn';
export type ProxyKind = 'tcp' | 'http' | 'none';
export type BalancePolicy = 'round-robin' | 'least-conn' | 'weighted-round-robin' | 'p2c';
export type LogFormat = 'pretty' | 'json';

/** A worker record's identity: unique for the supervisor's lifetime, never reused. */
export type WorkerId = number;

export interface HealthConfig {
  /** HTTP GET path that must answer 2xx; undefined = a TCP connect is the probe. */
  readonly path: string | undefined;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface WatchConfig {
  readonly paths: readonly string[];
  readonly ignore: readonly string[];
  readonly debounceMs: number;
}

export type LogRotate = 'daily' | 'hourly';

/** Where a worker's output is written besides the master's log (SPEC §11). */
export interface LogFileConfig {
  /** Absolute path, e.g. /var/log/app.log (written as app.1.log, app.2.log, …). */
  readonly path: string;
  /** Rotate when the active file reaches this size; undefined = no size limit. */
  readonly maxSizeBytes: number | undefined;
  readonly rotate: LogRotate | undefined;
  /** Rotated files kept besides the active one. */
  readonly keep: number;
}


/** One certificate of a TLS front (SPEC §14): absolute paths; `hosts` undefined: the certificate's own DNS names. */
export interface TlsCertificateConfig {
  readonly cert: string;
  readonly key: string;
  readonly hosts?: readonly string[] | undefined;
}

/** TLS at a front: the certificates (the first is the default), HSTS, a plain-HTTP listener that redirects to https. */
export interface TlsConfig {
  readonly certificates: readonly TlsCertificateConfig[];
  /** Strict-Transport-Security max-age in seconds; undefined: no header. */
  readonly hsts?: number | undefined;
  /** Port of a plain-HTTP listener answering 301 to https; undefined: none. */
  readonly redirectHttp?: number | undefined;
}

export interface Config {
  readonly mode: Mode;
  /** Cluster mode: absolute path of the worker script. */
  readonly script: string | undefined;
  /** Cluster mode: arguments after the script. Spawn mode: the command and its arguments. */
  readonly args: readonly string[];
  readonly workers: number;
  readonly port: number;
  readonly host: string;
  readonly basePort: number;
  readonly proxy: ProxyKind;
  readonly balance: BalancePolicy;
  readonly health: HealthConfig;
  readonly readyTimeoutMs: number;
  readonly waitReady: boolean;
  /** Remote servers' passive ejection (nginx max_fails, fail_timeout). */
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly killTimeoutMs: number;
  /** Spawn-mode front: how long a client waits for a backend while none is in rotation. */
  readonly queueTimeoutMs: number;
  /** Spawn-mode front: the timeouts of an edge (SPEC §12); DEFAULT_EDGE_TIMEOUTS where not given. */
  readonly edge?: EdgeTimeouts;
  /** Spawn-mode front (http): peers whose X-Forwarded-* headers are kept (`*`, addresses, CIDRs). */
  readonly forwardedAllowIps?: readonly string[];
  /** Spawn-mode http front: the largest request head in bytes (SPEC §12; 431 above it); HP_MAX_HEAD where not given. */
  readonly maxHeaderSize?: number;
  /** Spawn-mode front: TLS termination (--tls-cert/--tls-key); undefined: plain (tcp: TLS passes through). */
  readonly tls?: TlsConfig | undefined;
  /** Spawn-mode http front: its native data plane's threads (SPEC §12, --front-threads); 1 where not given. */
  readonly frontThreads?: number;
  readonly watch: WatchConfig | undefined;
  readonly maxMemoryBytes: number | undefined;
  readonly control: string;
  readonly logFormat: LogFormat;
  readonly logLevel: string;
  readonly cwd: string;
  /** Worker output to a rotated file (--log-file …); undefined: master output only. */
  readonly logFile?: LogFileConfig | undefined;
  /** Extra environment for the workers (an app of a system file); none on a command line. */
  readonly env?: Readonly<Record<string, string>>;
  /** Per-slot weights for the front's balancer (`weights: [..]`); slot i gets weights[i] ?? 1. */
  readonly weights?: readonly number[] | undefined;
  /** Spawn mode: ready on the first passing probe of the worker's own listener, or on READY=1 (systemd notify). */
  readonly readyBy: 'probe' | 'notify';
  /** Spawn mode: a worker must send WATCHDOG=1 at least this often (given as WATCHDOG_USEC), or it is hung. */
  readonly watchdogMs: number | undefined;
  /** A stopped process, or a cluster worker without heartbeat, is hung after this long (SPEC §9). */
  readonly heartbeatTimeoutMs: number;
  /** Spawn mode: --liveness probe; failures replace the worker. */
  readonly liveness: LivenessConfig | undefined;
  readonly restart: RestartPolicy;
  /** Replace a worker after this many requests (cluster, --proxy http) or connections (tcp). */
  readonly maxRequests: { readonly count: number; readonly jitter: number } | undefined;
}

export interface LivenessConfig {
  readonly path: string;
  readonly intervalMs: number;
  /** Consecutive failures that make the worker hung. */
  readonly threshold: number;
}

export interface RestartPolicy {
  /** Cap of the first restart delay (full jitter: the delay is random below the cap). */
  readonly initialMs: number;
  /** The cap never grows past this. */
  readonly maxMs: number;
  /** Consecutive failed starts after which the app is fatal; undefined = unlimited. */
  readonly maxFailedStarts: number | undefined;
}

// ---------------------------------------------------------------- status

export interface WorkerStatus {
  readonly id: WorkerId;
  readonly slot: number;
  readonly pid: number | undefined;
  readonly port: number;
  readonly state: WorkerState;
  readonly generation: number;
  readonly restarts: number;
  readonly uptimeMs: number;
  /** Spawn mode with a front: false while ejected by health checks. */
  readonly healthy: boolean;
  /** Percent of one core, from the last pidusage sample. */
  readonly cpu: number;
  /** RSS in bytes, from the last pidusage sample. */
  readonly memory: number;
  /** Open connections through the front (spawn mode), or undefined when unknown. */
  readonly connections: number | undefined;
  /** Connections the front has handed to this worker process since it started, or undefined. */
  readonly totalConnections: number | undefined;
  /** The worker's last STATUS= (systemd notify protocol), if it sent one. */
  readonly status?: string;
}

/** How a front moves the bytes: in C (src/native), or in JavaScript; `none` without a front. */
export type DataPath = 'native' | 'javascript' | 'none';

/** The public listener in status: which front (none in cluster mode and with --proxy none) and its data path. */
export interface FrontStatus {
  readonly kind: ProxyKind;
  readonly dataPath: DataPath;
  /** The native http front: each data-plane thread's counters (--front-threads), in thread order. */
  readonly threads?: readonly FrontThreadStats[];
}

/** One data-plane thread of a front: requests it answered, connections it accepted. */
export interface FrontThreadStats {
  readonly requests: number;
  readonly connections: number;
}

export interface SupervisorStatus {
  readonly pid: number;
  readonly mode: Mode;
  readonly port: number;
  readonly desired: number;
  readonly generation: number;
  readonly reloading: boolean;
  /** Set once --max-failed-starts was reached: why (SPEC §9). */
  readonly fatal?: string;
  readonly front: FrontStatus;
  readonly workers: readonly WorkerStatus[];
  /** With `autoscale:` (SPEC §15): bounds, each metric's value and target, the last decision. */
  readonly autoscale?: AutoscaleStatus;
}

export interface AutoscaleStatus {
  readonly min: number;
  readonly max: number;
  /** Each target with its last measured value per worker (undefined until measured). */
  readonly metrics: ReadonlyArray<{ readonly metric: string; readonly value: number | undefined; readonly target: number }>;
  /** The last decision that moved the count, or that a window held back (steady periods leave it). */
  readonly last?: { readonly at: string; readonly from: number; readonly to: number; readonly reason: string };
}

export type ReloadResult =
  | { readonly ok: true; readonly generation: number }
  | { readonly ok: false; readonly error: string; readonly generation: number };

export type ScaleResult =
  | { readonly ok: true; readonly workers: number }
  | { readonly ok: false; readonly error: string; readonly workers: number };

export type ScaleRequest = { readonly workers: number } | { readonly delta: number };

/**
 * What the control socket, the signal handlers and the file watcher may ask of
 * a running supervisor. Every method validates, changes the desired state and
 * resolves once the outcome is known.
 */
export interface SupervisorApi {
  status(): SupervisorStatus;
  scale(request: ScaleRequest): Promise<ScaleResult>;
  reload(reason: string): Promise<ReloadResult>;
  restartWorker(slot: number): Promise<{ readonly ok: boolean; readonly error?: string }>;
  stop(reason: string): Promise<void>;
  /** Observers for metrics: called synchronously, must not throw. */
  onEvent(listener: (event: SupervisorEvent) => void): void;
}

/**
 * Facts the supervisor publishes: metrics count them, `GET /events` streams them
 * (with the time and the app added). Fields may be added, none renamed: the
 * event stream is a user-facing format.
 */
export type SupervisorEvent =
  | {
      readonly type: 'worker-state';
      readonly id: WorkerId;
      readonly slot: number;
      readonly from: WorkerState;
      readonly to: WorkerState;
      readonly pid?: number | undefined;
      readonly generation?: number;
    }
  /** A worker exited; `expected` when it was asked to stop, else a crash with its reason. */
  | {
      readonly type: 'worker-exit';
      readonly id: WorkerId;
      readonly slot: number;
      readonly pid: number | undefined;
      readonly code: number | null;
      readonly signal: string | null;
      readonly expected: boolean;
      readonly reason: string;
    }
  | { readonly type: 'worker-restart'; readonly slot: number }
  | { readonly type: 'reload-start'; readonly generation: number; readonly reason: string }
  /** One slot of a rolling reload is done (its new worker is ready) or failed. */
  | { readonly type: 'reload-slot'; readonly generation: number; readonly slot: number; readonly ok: boolean }
  /** A reload finished: `ok` false when it was aborted (the error says why). */
  | { readonly type: 'reload'; readonly ok: boolean; readonly generation?: number; readonly error?: string }
  | { readonly type: 'scale'; readonly from: number; readonly to: number }
  /** The autoscaler decided (a change, or a change its windows or bounds held back); `reason` says which metric and why. */
  | { readonly type: 'autoscale'; readonly from: number; readonly to: number; readonly reason: string }
  /** A ready worker went out of rotation (health checks) or came back. */
  | { readonly type: 'health'; readonly id: WorkerId; readonly slot: number; readonly healthy: boolean; readonly reason?: string }
  | { readonly type: 'health-failure'; readonly id: WorkerId; readonly slot: number }
  /** The app's log file could not be written (`ok` false, the error), or is written again (`lost` lines dropped meanwhile). */
  | { readonly type: 'log-file'; readonly ok: boolean; readonly error?: string; readonly lost?: number }
  /** A remote server (SPEC §13) joined the app, left it (draining), or finished draining. */
  | { readonly type: 'server'; readonly id: WorkerId; readonly server: string; readonly change: 'added' | 'removed' | 'drained' | 'reweighted'; readonly origin: string }
  /** A remote server left the rotation (health checks, max-fails) or came back. */
  | { readonly type: 'server-health'; readonly id: WorkerId; readonly server: string; readonly healthy: boolean; readonly reason: string }
  /** A DNS lookup of an upstream failed (the last good set stays) or recovered. */
  | { readonly type: 'dns'; readonly name: string; readonly ok: boolean; readonly error?: string; readonly servers?: number }
  /** A front's TLS certificate (SPEC §14): renewed (new handshakes get it), a renewal refused (`reason`; the old one stays), or expired. */
  | {
      readonly type: 'tls';
      readonly change: 'renewed' | 'failed' | 'expired';
      readonly file: string;
      readonly reason?: string;
      readonly serial?: string;
      readonly notAfter?: string;
    };

// ---------------------------------------------------------------- launchers

export interface LaunchSpec {
  readonly id: WorkerId;
  readonly slot: number;
  readonly generation: number;
  /** Cluster mode: the shared public port. Spawn mode: this worker's own port. */
  readonly port: number;
}

export interface LaunchCallbacks {
  /** The worker has a pid (spawn succeeded). */
  onSpawn(pid: number): void;
  /** Cluster mode: listening (or 'ready' message). Spawn mode: the first passing probe. */
  onReady(): void;
  /** Cluster mode: the worker closed its servers after a drain request. */
  onDrained(): void;
  /** The process is gone; called exactly once. */
  onExit(code: number | null, signal: string | null): void;
  /** Cluster mode: the worker's open connections, reported by its preload when the count changes. */
  onConnections?(open: number): void;
  /** A whole line of the worker's output; `continued` when a line too long to hold goes on in the next call. */
  onOutput(stream: 'stdout' | 'stderr', line: string, continued?: boolean): void;
  /** Alive but not serving (liveness.ts): out of rotation, replaced, killed. */
  onHung(reason: string): void;
  /** Something the launcher saw that the log should say (a foreign listener on the worker's port). */
  onWarning(message: string): void;
  /** The worker served its --max-requests: replace it (drained). */
  onRecycle?(reason: string): void;
  /** STATUS= from the worker (systemd notify), for status. */
  onStatus?(text: string): void;
}

export interface WorkerProcess {
  readonly pid: number | undefined;
  /**
   * Stop accepting new connections; existing ones finish. Ends with onDrained(),
   * from the launcher (cluster, or spawn without a front) or from the front.
   */
  drain(): void;
  /** Send a signal to the worker's whole process group. */
  signal(signal: 'SIGTERM' | 'SIGKILL'): void;
}

export interface Launcher {
  start(spec: LaunchSpec, callbacks: LaunchCallbacks): WorkerProcess;
  /** Release what the launcher holds (reaper process, cluster settings). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- front

/** A backend the front may send connections to. */
export interface Backend {
  readonly id: WorkerId;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** The app it belongs to, for a front shared by several apps (routing). */
  readonly app?: string;
  /** --max-requests (with its jitter): report onServedLimit when this many requests (http) or connections (tcp) began. */
  readonly maxServed?: number | undefined;
}

export interface FrontEvents {
  /** A connect to this backend failed (passive health check). */
  onConnectFailure(id: WorkerId, error: Error): void;
  /** A backend taken out of rotation has no connection left. */
  onDrained(id: WorkerId): void;
  /** The backend has been handed its `maxServed`-th request or connection. */
  onServedLimit?(id: WorkerId): void;
}

export interface Front {
  /** Where the bytes move: native (src/native) or javascript. */
  readonly dataPath: DataPath;
  listen(): Promise<void>;
  /** Put a backend into rotation (idempotent). */
  add(backend: Backend): void;
  /** Take a backend out of rotation; open connections continue. */
  remove(id: WorkerId): void;
  /** Open client connections (tcp) or in-flight requests plus pooled sockets (http) to a backend. */
  connections(id: WorkerId): number;
  /** Total connections accepted per backend since start, for metrics. */
  totalConnections(id: WorkerId): number;
  /** Open client connections (tcp) or requests in flight (http, pooled idle sockets left out): the autoscaler's `inflight`. */
  inFlight?(id: WorkerId): number;
  /** Stop accepting; resolves once every connection has ended or after timeoutMs (then destroys them). */
  close(timeoutMs: number): Promise<void>;
  /** The http front's request counters per backend and route, read on scrape (absent on the tcp front). */
  requestStats?(): RequestStats[];
  /** The native http front: each data-plane thread's counters (absent elsewhere). */
  threadStats?(): FrontThreadStats[];
}

/** One backend's requests through the http front for one route (src/proxy/http-common.ts keeps the buckets' bounds). */
export interface RequestStats {
  readonly id: WorkerId;
  /** The route the requests matched (`/users`, `api.example.com/users`); `/` on an app's own front, which serves every path. */
  readonly route: string;
  /** The app that route leads to (the routing front's); undefined on an app's own front: the backend's app. */
  readonly app: string | undefined;
  /** Responses by status class: [1xx, 2xx, 3xx, 4xx, 5xx]. */
  readonly classes: number[];
  /** Cumulative counts: requests that took at most 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 ms. */
  readonly buckets: number[];
  /** Sum of the latencies, ms (request head read to response end). */
  readonly sum: number;
  readonly count: number;
}
