// One app of a system: its supervisor (worker table, desired count, generation,
// reload, backoff), its launcher, its front (its own listener, or its share of
// the system's routing front), its health checks and its watcher. What is
// shared by all apps — the control socket, the reaper, the usage sampler, the
// routing front, the signals — belongs to the system (system.ts).

import { createHealthChecker, type HealthChecker } from '../health/checker.js';
import { overMemoryLimit, type UsageSamples } from '../health/usage.js';
import { createClusterLauncher } from '../launchers/cluster.js';
import type { Reaper } from '../launchers/reaper.js';
import { createSpawnLauncher } from '../launchers/spawn.js';
import type { Logger } from '../log.js';
import type { BoundFront } from '../proxy/index.js';
import type { RoutingFront } from '../proxy/routed-registry.js';
import { appFront } from './app-front.js';
import { isRouted } from '../system-config.js';
import { nativeLoadError } from '../native/load.js';
import { createFileWatcher, describeWatch, ownOutputFiles } from '../watch/file-watcher.js';
import { Autoscaler, servedCounter } from './autoscaler.js';
import { runClosers } from './closers.js';
import { assertPortFree, portError } from './port-check.js';
import { SupervisorService } from './service.js';
import { configWarnings, readyLine, startLine } from './start-messages.js';
import { Supervisor, type OutputListener } from './supervisor.js';
import type { RequestStatsLike } from '../control/request-metrics.js';
import type { AppStatus } from '../core/system-api.js';
import type { AppConfig } from '../core/system-types.js';
import type { Config, Front, FrontEvents, FrontThreadStats, Launcher, WorkerId } from '../core/types.js';
import { UsageError } from '../errors.js';
import type { FrontTls } from '../proxy/options.js';
import { frontCertificates, startRedirect } from './front-tls.js';
import type { TlsFronts } from '../tls/tls-fronts.js';
import { RemoteServers } from '../upstreams/remote-servers.js';
import type { UpstreamResolver } from '../upstreams/resolver.js';

export interface AppShared {
  readonly logger: Logger;
  readonly reaper: Reaper;
  /** Worker ids unique in the system. */
  readonly nextId: () => WorkerId;
  /** The system's routing front, when the file has `front:`. */
  readonly routing: RoutingFront | undefined;
  /** Name the app in port errors (a system of several apps). */
  readonly named: boolean;
  /** The routing front's bound port: a routed app's public port. */
  readonly frontPort: () => number | undefined;
  /** The app has stopped (whoever asked): a system with no app left stops too. */
  readonly onStopped: (app: App) => void;
  /** The first generation never became ready: the system stops (exit 1). */
  readonly onBootFailure: (app: App, reason: string) => void;
  /** Resolves remote servers' names (`resolvers:`). */
  readonly resolver: UpstreamResolver;
  /** Every line of the workers' output (log files, `ctl logs`). */
  readonly onOutput?: (app: App, ...line: Parameters<OutputListener>) => void;
  /** Requests the app has served through an L7 front (its own or the routing front), or undefined. */
  readonly requestCount?: (app: string) => number | undefined;
  /** The usage sampler's CPU at least every periodMs while the autoscaler needs it; returns the release. */
  readonly requireSampling?: (periodMs: number) => () => void;
  /** The system's TLS certificate sets: an app's own TLS front registers its own. */
  readonly tls?: TlsFronts;
}

export type { AppStatus } from '../core/system-api.js';

export class App {
  readonly name: string;
  readonly supervisor: Supervisor;
  readonly service: SupervisorService;
  private current: AppConfig;
  readonly logger: Logger;
  private readonly front: BoundFront | undefined;
  private readonly health: HealthChecker | undefined;
  /** Where its backends go (its own front, or its share of the routing front); remote servers join there too. */
  private readonly backendFront: Front | undefined;
  /** Its remote servers (SPEC §13), once it has `upstreams:`. */
  private remote: RemoteServers | undefined;
  private readonly closers: Array<() => unknown> = [];
  private frontClosed: Promise<void> | undefined;
  private autoscaler: Autoscaler | undefined;
  private started = false;
  private readonly frontRef: Front | undefined;
  /** Resolves once the app has stopped and released everything. */
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(config: AppConfig, private readonly shared: AppShared) {
    this.name = config.name;
    this.current = config;
    this.logger = shared.logger;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    const post = (task: (s: Supervisor) => void) => this.supervisor.post(() => task(this.supervisor));

    const events: FrontEvents = {
      onConnectFailure: (id, error) => (this.remote?.owns(id) ? this.remote.failed(id, error.message) : this.health?.passiveFailure(id, error.message)),
      onDrained: (id) => (this.remote?.owns(id) ? this.remote.drained(id) : post((s) => s.dispatch(id, { type: 'drained' }))),
      // Out of the proxy's call stack: the replacement starts from the queue.
      onServedLimit: (id) => queueMicrotask(() => post((s) => s.servedLimitReached(id))),
    };
    const { own, front } = appFront(config, shared.routing, this.logger, events, () => this.frontTls(config));
    this.front = own;
    this.backendFront = front;
    if (config.mode === 'spawn') {
      this.health = createHealthChecker({
        health: config.health,
        host: '127.0.0.1',
        localWorkers: true,
        notice: (message) => this.logger.warn(message),
        unhealthyLimitMs: config.readyTimeoutMs,
        onChange: (id, healthy, reason) => post((s) => s.healthChanged(id, healthy, reason)),
        onFailure: (id) => post((s) => s.healthFailed(id)),
        onUnhealthyTooLong: (id) => {
          const slot = this.supervisor.worker(id)?.slot;
          if (slot !== undefined) this.service.replaceQuietly(slot, `unhealthy for more than ${config.readyTimeoutMs}ms`);
        },
      });
      this.closers.push(() => this.health?.close());
    }
    this.frontRef = front;
    this.supervisor = new Supervisor({
      // An autoscaled app starts within its bounds, as the HPA moves a Deployment there at once.
      config: config.autoscale === undefined ? config : { ...config, workers: Math.min(Math.max(config.workers, config.autoscale.min), config.autoscale.max) },
      logger: this.logger, launcher: this.launcherFor(config), front, health: this.health, nextId: shared.nextId,
    });
    const { onOutput } = shared;
    if (onOutput !== undefined) this.supervisor.onOutput((...line) => onOutput(this, ...line));
    this.supervisor.onReplaceRequest = (slot, why) => this.service.replaceQuietly(slot, why);
    this.service = new SupervisorService(this.supervisor, {
      onStopping: () => {
        this.autoscaler?.stop();
        void this.closeFront();
      },
      onStopped: async () => {
        this.autoscaler?.stop();
        await this.closeAll();
        this.resolveStopped();
        shared.onStopped(this);
      },
    });
    this.setAutoscale(config.autoscale);
  }

  get config(): AppConfig {
    return this.current;
  }

  /** Its own front's certificates (SPEC §14); renewals emit this app's `tls` events. */
  private frontTls(config: AppConfig): FrontTls | undefined {
    if (config.tls === undefined) return undefined;
    const { front, release } = frontCertificates(config.tls, config.name, this.shared.tls, this.logger, (event) => this.supervisor.emit(event));
    this.closers.push(release);
    return front;
  }

  /** `autoscale:` set, changed or removed (constructor, `ctl apply`). */
  private setAutoscale(config: AppConfig['autoscale']): void {
    if (config === undefined) {
      this.autoscaler?.stop();
      this.autoscaler = undefined;
      this.service.scaleRule = undefined;
      return;
    }
    if (this.autoscaler !== undefined) return this.autoscaler.reconfigure(config);
    const scaler = new Autoscaler(config, {
      status: () => this.service.status(),
      served: servedCounter(this.current, {
        requests: () => this.shared.requestCount?.(this.name),
        front: this.frontRef,
        workers: () => this.supervisor.records.map((worker) => worker.id),
      }),
      inFlight: (id, fromStatus) => this.frontRef?.inFlight?.(id) ?? fromStatus ?? 0,
      requireSampling: (periodMs) => this.shared.requireSampling?.(periodMs) ?? (() => undefined),
      scale: (workers) => this.service.resize(workers),
      emit: (event) => this.supervisor.emit(event),
      logger: this.logger,
    });
    this.autoscaler = scaler;
    this.service.scaleRule = (workers) => scaler.manualScale(workers);
    if (this.started) scaler.start();
  }

  private launcherFor(config: Config): Launcher {
    return config.mode === 'cluster' ? createClusterLauncher(config, this.shared.reaper) : createSpawnLauncher(config, this.shared.reaper);
  }

  private closeFront(): Promise<void> | undefined {
    return (this.frontClosed ??= this.front?.close(this.current.killTimeoutMs));
  }

  private async closeAll(): Promise<void> {
    await runClosers(this.closers, this.logger);
  }

  /** Binds its listener, checks its ports, starts its workers and watcher. Throws (having released all) when a port is taken. */
  async start(): Promise<void> {
    const config = this.current;
    try {
      let port = config.port;
      if (this.front) {
        try {
          await this.front.listen();
        } catch (error) {
          throw portError(config.port, config.host, `${this.what()}public port (--port)`, error as NodeJS.ErrnoException);
        }
        port = this.front.address().port;
        this.closers.push(() => this.closeFront());
        const redirectPort = config.tls?.redirectHttp;
        if (redirectPort !== undefined) {
          const front = this.front;
          const redirect = await startRedirect({ host: config.host, port: redirectPort, httpsPort: () => front.address().port, logger: this.logger }, `${this.what()}redirect-http port (--redirect-http)`);
          this.closers.push(() => redirect.close());
        }
      } else if (isRouted(config)) {
        port = this.shared.frontPort() ?? port;
      } else if (config.mode === 'cluster') {
        await assertPortFree(config.port, undefined, `${this.what()}public port (--port)`);
      }
      if (config.mode === 'spawn') {
        for (let slot = 0; slot < config.workers; slot++) {
          await assertPortFree(config.basePort + slot, '127.0.0.1', `${this.what()}worker ${slot}'s port (--base-port + ${slot})`);
        }
      }
      this.supervisor.bound(port);
      await this.updateUpstreams(config);
    } catch (error) {
      await this.closeAll();
      throw error;
    }
    const port = this.supervisor.publicPort;
    const dataPath = this.front?.dataPath;
    this.logger.info(
      { mode: config.mode, workers: config.workers, port, control: config.control, ...(this.front ? { front: { kind: config.proxy, dataPath } } : {}) },
      startLine(config, port, dataPath),
    );
    if (this.front && dataPath !== 'native' && config.proxy === 'tcp') {
      const why = config.tls !== undefined
        ? 'it terminates TLS, which this build of the native data plane cannot (no httpSetTls)'
        : process.env['SUPERVISE_TCP_NATIVE'] === '0' ? 'SUPERVISE_TCP_NATIVE=0' : nativeLoadError() ?? 'the native data plane is not available here';
      this.logger.info(`the tcp front moves the bytes in JavaScript: ${why}`);
    }
    for (const warning of configWarnings(config)) this.logger.warn(warning);
    if (config.mode === 'spawn' && config.workers > 0 && !config.args.some((arg) => arg.includes('{port}'))) {
      this.logger.warn('the command has no {port}: each worker must listen on $PORT, or they will fight over one port');
    }
    void this.whenReady().then((ready) => ready && this.logger.info(readyLine(config, port, this.supervisor.desired)));
    this.supervisor.post(() => undefined); // the first reconcile starts the workers
    this.started = true;
    this.autoscaler?.start();
    this.closers.push(() => this.autoscaler?.stop());
    // A first generation that never comes up is a boot failure, not a service to
    // keep half-running. Crash loops are retried with backoff until then.
    const bootDeadline = setTimeout(() => {
      if (this.supervisor.everReady || this.supervisor.stopping || config.workers === 0) return;
      this.shared.onBootFailure(this, this.supervisor.lastFailure ?? 'no worker became ready');
    }, config.readyTimeoutMs + 500);
    this.closers.push(() => clearTimeout(bootDeadline));
    this.routeClusterApp();
    if (config.watch) await this.watch(config.watch);
  }

  /**
   * `ctl apply` with new settings that a rolling reload can bring in: workers, command, env, cwd, timeouts, weights.
   * Remote servers are added, removed and re-weighted in place. Resolves whether the workers need a rolling reload
   * (false when only the remote servers changed: the workers are not touched).
   */
  async reconfigure(config: AppConfig): Promise<boolean> {
    const workersChanged = JSON.stringify(withoutUpstreams(this.current)) !== JSON.stringify(withoutUpstreams(config));
    await this.updateUpstreams(config);
    this.current = config;
    if (!workersChanged) return false;
    await this.supervisor.reconfigure(config, this.launcherFor(config));
    this.setAutoscale(config.autoscale);
    // An autoscaled app's count is the autoscaler's (it moves into new bounds at its next decision).
    if (config.autoscale === undefined && config.workers !== this.supervisor.desired) await this.supervisor.setDesired(config.workers);
    return config.workers > 0;
  }

  /** `ctl apply` that changed only `autoscale:`: new bounds, targets or windows, the same workers. */
  retarget(config: AppConfig): void {
    this.current = config;
    this.setAutoscale(config.autoscale);
  }

  /** Starts, changes or ends the remote servers; a name that does not resolve throws (naming the entry) and changes nothing. */
  private async updateUpstreams(config: AppConfig): Promise<void> {
    if (config.upstreams.length === 0 && this.remote === undefined) return;
    const front = this.backendFront;
    if (front === undefined) throw new UsageError(`app "${this.name}": remote servers need a front: give it a route (with front:) or --proxy http|tcp`);
    this.remote ??= this.createRemote(front, config);
    try {
      await this.remote.update(config.upstreams, { maxFails: config.maxFails, failTimeoutMs: config.failTimeoutMs });
    } catch (error) {
      throw new UsageError((error as Error).message, 'UPSTREAM_UNRESOLVED');
    }
  }

  private createRemote(front: Front, config: AppConfig): RemoteServers {
    const remote = new RemoteServers({
      front, app: this.name, health: config.health, resolver: this.shared.resolver, nextId: this.shared.nextId, logger: this.logger,
      passive: { maxFails: config.maxFails, failTimeoutMs: config.failTimeoutMs },
      emit: (event) => this.supervisor.emit(event),
    });
    this.closers.push(() => remote.close());
    return remote;
  }

  /** A cluster app with a route: the shared front forwards to its port, where node:cluster balances. */
  private routeClusterApp(): void {
    const { routing } = this.shared;
    const config = this.current;
    if (config.mode !== 'cluster' || config.routes.length === 0 || routing === undefined) return;
    const id = this.shared.nextId();
    routing.backends.addApp(config.name, 'round-robin', { onConnectFailure: () => undefined, onDrained: () => undefined });
    void this.supervisor.waitFor(() => this.supervisor.everReady || this.supervisor.stopping).then(() => {
      if (!this.supervisor.stopping) routing.front.add({ id, host: '127.0.0.1', port: this.supervisor.publicPort, weight: 1, app: config.name });
    });
    this.closers.push(() => routing.front.remove(id));
  }

  private async watch(watch: NonNullable<Config['watch']>): Promise<void> {
    const watcher = createFileWatcher({
      paths: watch.paths,
      ignore: watch.ignore,
      debounceMs: watch.debounceMs,
      cwd: this.current.cwd,
      // What the supervisor writes itself must not reload it: its control socket, and its output when redirected to a file.
      ignoreFiles: [this.current.control, ...ownOutputFiles()],
      logger: this.logger,
      onChange: (files) => {
        this.logger.info({ files }, `file change: ${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''}: reloading`);
        void this.service.reload(`file change: ${files[0] ?? ''}`);
      },
    });
    this.closers.push(() => watcher.close());
    await watcher.ready();
    this.logger.info(`watching ${describeWatch({ ...watch, cwd: this.current.cwd })}: a change reloads the workers`);
  }

  /** Resolves true once every desired worker is ready (depends-on, apply), false if the app stops first. */
  whenReady(): Promise<boolean> {
    const allReady = () => {
      const ready = new Set(this.supervisor.records.filter((w) => w.state === 'ready').map((w) => w.slot));
      return ready.size >= this.supervisor.desired;
    };
    return this.supervisor.waitFor(() => allReady() || this.supervisor.stopping).then(() => !this.supervisor.stopping);
  }

  /** Its own L7 front's request counters (empty for other fronts, or none). */
  /** Its own native http front's data-plane threads (none elsewhere). */
  threadStats(): FrontThreadStats[] {
    return this.front?.threadStats?.() ?? [];
  }

  requestStats(): RequestStatsLike[] {
    const front = this.front as Partial<{ requestStats(): RequestStatsLike[] }> | undefined;
    return front?.requestStats?.() ?? [];
  }

  /** The pids the usage sampler should measure. */
  pids(): number[] {
    return this.supervisor.records.flatMap((w) => (w.pid !== undefined && w.state !== 'backoff' ? [w.pid] : []));
  }

  /** A usage sample: record it, and replace workers above --max-memory. */
  sampled(samples: UsageSamples): void {
    const limit = this.current.maxMemoryBytes;
    this.supervisor.post(() => {
      for (const worker of this.supervisor.records) {
        const sample = worker.pid === undefined ? undefined : samples.get(worker.pid);
        if (sample) {
          worker.cpu = sample.cpu;
          worker.memory = sample.memory;
        }
      }
      if (limit === undefined) return;
      for (const pid of overMemoryLimit(samples, limit)) {
        const worker = this.supervisor.records.find((w) => w.pid === pid && w.state === 'ready');
        if (worker) this.service.replaceQuietly(worker.slot, `RSS ${worker.memory} bytes is above --max-memory ${limit}`);
      }
    });
  }

  status(): AppStatus {
    const autoscale = this.autoscaler?.status();
    const servers = this.remote?.status();
    return { name: this.name, ...this.service.status(), ...(autoscale === undefined ? {} : { autoscale }), ...(servers === undefined ? {} : { servers }) };
  }

  /**
   * Drain and stop every worker, then release the app's front, checks and watcher.
   * Once: a second caller (a boot failure's stop, then an apply's) gets the same
   * promise, so that the app leaves the routing front before the caller goes on —
   * never after an app of the same name has taken its place there.
   */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      // Already stopping (its own stop request): only wait, a second stop would cut the drain short.
      if (!this.supervisor.stopping) await this.service.stop(reason);
      await this.stopped;
      this.shared.routing?.backends.removeApp(this.name);
    })();
    return this.stopping;
  }

  private stopping: Promise<void> | undefined;

  private what(): string {
    return this.shared.named ? `app "${this.name}": ` : '';
  }
}

/** An app's settings but its remote servers': what its workers depend on. */
function withoutUpstreams(config: AppConfig): unknown {
  const { upstreams: _upstreams, maxFails: _maxFails, failTimeoutMs: _failTimeoutMs, ...rest } = config;
  return rest;
}
