// The system (SPEC §8): the apps of one file (or the one app of a command line)
// under one master — one control socket, one reaper, one usage sampler, one set
// of signal handlers, and the routing front when the file has `front:`. Each app
// is an App (app.ts) with its own supervisor; the system starts them in
// depends-on order, answers for all of them, and applies a changed file.

import { createEventHub } from '../control/events.js';
import { createMetrics } from '../control/metrics.js';
import { registrationOf } from '../control/registry.js';
import { runApply, type ApplyHost } from './apply-run.js';
import { planApply } from './apply-plan.js';
import { startControlServer } from '../control/server.js';
import type { RawSettings } from '../config.js';
import { setUpLifetime, type Lifetime } from '../launchers/lifetime.js';
import type { Logger } from '../log.js';
import { startSupervisorNotify, type SupervisorNotify } from '../notify/supervisor-notify.js';
import { createRoutingFront, type RoutingFront } from '../proxy/routed-registry.js';
import { App } from './app.js';
import { createUpstreamResolver, type UpstreamResolver } from '../upstreams/resolver.js';
import { SystemObservers } from './system-observers.js';
import { SystemUsage } from './system-usage.js';
import { runClosers } from './closers.js';
import { portError } from './port-check.js';
import { installSignalHandlers } from './signals.js';
import { frontCertificates, startRedirect } from './front-tls.js';
import { TlsFronts } from '../tls/tls-fronts.js';
import { keepYoungGenerationSmall } from './lean-heap.js';
import type { AppRoute } from '../core/router.js';
import type { ApplyResult, SystemApi, SystemReloadResult, SystemStatus } from '../core/system-api.js';
import type { AppConfig, SystemConfig } from '../core/system-types.js';
import type { ReloadResult, SupervisorApi, SupervisorEvent, WorkerId } from '../core/types.js';

export interface SystemOptions {
  /** Install SIGTERM/INT/HUP/TTIN/TTOU handlers (default true). */
  readonly signals?: boolean;
  /** The flags the master started with: defaults again when the file is re-read. */
  readonly flags?: RawSettings;
  readonly stdoutIsTTY?: boolean;
}

export interface RunningSystem {
  readonly system: SystemService;
  /** Resolves with the exit code once a stop has completed. */
  readonly stopped: Promise<number>;
}

export async function runSystem(config: SystemConfig, logger: Logger, options: SystemOptions = {}): Promise<RunningSystem> {
  keepYoungGenerationSmall();
  const system = new SystemService(config, logger, options);
  try {
    await system.start();
  } catch (error) {
    await system.abort();
    throw error;
  }
  if (options.signals !== false) installSignalHandlers(system, logger);
  return { system, stopped: system.stopped };
}

export class SystemService implements SystemApi {
  private config: SystemConfig;
  private readonly apps = new Map<string, App>();
  /** The reaper helper, the child subreaper and the reaping of adopted orphans, for every app. */
  private readonly lifetime: Lifetime;
  private readonly routing: RoutingFront | undefined;
  /** Remote servers' DNS (`resolvers:`), for every app. */
  private readonly resolver: UpstreamResolver;
  private readonly listeners: Array<(app: string, event: SupervisorEvent) => void> = [];
  private readonly closers: Array<() => unknown> = [];
  /** Logs, request counters and worker metrics of every app. */
  private readonly observers: SystemObservers;
  /** The workers' CPU and memory, read when someone looks or a consumer requires it. */
  readonly usage: SystemUsage;
  /** The certificates of every TLS front (the routing front's is `front`). */
  readonly tls = new TlsFronts();
  private nextWorkerId = 1;
  private exitCode = 0;
  /** Until the first apps are up, an app that never becomes ready stops the whole system (exit 1). */
  private booting = true;
  private stopping: Promise<void> | undefined;
  /** systemd's notify protocol, when NOTIFY_SOCKET is set. */
  private notify: SupervisorNotify | undefined;
  /** apply, reload-all and HUP run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  readonly stopped: Promise<number>;
  private resolveStopped!: (code: number) => void;

  constructor(config: SystemConfig, private readonly logger: Logger, private readonly options: SystemOptions) {
    this.config = config;
    this.resolver = createUpstreamResolver(config.resolvers);
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.usage = new SystemUsage(() => this.apps.values());
    this.observers = new SystemObservers(logger, () => this.apps.values(), () => this.routing?.front, (app, event) => {
      for (const listener of this.listeners) listener(app, event);
    });
    this.lifetime = setUpLifetime(logger, () => new Set([...this.apps.values()].flatMap((app) => app.supervisor.records.map((w) => w.pid))));
    if (config.front !== undefined) {
      // The shared front's edge settings: the first app's (the file's `defaults:` unless that app sets its own).
      const [first] = config.apps;
      const { tls } = config.front;
      const frontTls = tls === undefined ? undefined : frontCertificates(tls, 'front', this.tls, logger, (event) => this.emitSystem(event)).front;
      this.routing = createRoutingFront({ host: config.front.host, port: config.front.port, logger, edge: first?.edge, forwardedAllowIps: first?.forwardedAllowIps, maxHeaderSize: first?.maxHeaderSize, tls: frontTls, frontThreads: first?.frontThreads });
      this.routing.backends.setRoutes(routesOf(config.apps));
    }
  }

  // ------------------------------------------------------------ start and stop

  async start(): Promise<void> {
    // Before any worker starts: it takes NOTIFY_SOCKET out of the environment they inherit.
    this.notify = startSupervisorNotify(this, { logger: this.logger });
    this.closers.push(() => this.notify?.close());
    // The control socket first: a second supervisor on the same socket must fail
    // before it touches any port.
    const events = createEventHub(this);
    const control = await startControlServer({
      path: this.config.control,
      system: this,
      metrics: createMetrics(this, [...this.observers.metricsSources(), () => this.tls.metricsText()]),
      logger: this.logger,
      streams: { events, logs: this.observers.logs },
      registration: registrationOf(this.config),
    });
    this.closers.push(() => control.close());
    // Streams end before the socket closes, or they would hold it open for its grace period.
    this.closers.push(() => {
      events.close();
      return this.observers.logs.close();
    });
    if (this.routing !== undefined) {
      const { front } = this.routing;
      const where = this.config.front as NonNullable<SystemConfig['front']>;
      try {
        await front.listen();
      } catch (error) {
        throw portError(where.port, where.host, 'front: port', error as NodeJS.ErrnoException);
      }
      this.closers.push(() => front.close(Math.max(...this.config.apps.map((app) => app.killTimeoutMs))));
      const { port } = front.address();
      const scheme = where.tls === undefined ? '' : 'https, ';
      this.logger.info({ host: where.host, port, dataPath: front.dataPath }, `routing front on ${where.host}:${port} (${scheme}${front.dataPath} data path)`);
      await this.listenRedirect(where);
    }
    this.closers.push(() => this.tls.closeAll());
    await this.startApps(this.config.apps);
    void Promise.all([...this.apps.values()].map((app) => app.whenReady())).then(() => (this.booting = false));
    this.usage.update();
    this.closers.push(() => this.usage.close());
  }

  /** `front: {redirect-http}`: plain HTTP answered with a 301 to the routing front's https URL. */
  private async listenRedirect(where: NonNullable<SystemConfig['front']>): Promise<void> {
    const port = where.tls?.redirectHttp;
    const front = this.routing?.front;
    if (port === undefined || front === undefined) return;
    const redirect = await startRedirect({ host: where.host, port, httpsPort: () => front.address().port, logger: this.logger }, 'front: redirect-http port');
    this.closers.push(() => redirect.close());
  }

  /** An event of the system itself (the routing front's certificates), under the app name `front`. */
  private emitSystem(event: SupervisorEvent): void {
    for (const listener of this.listeners) listener('front', event);
  }

  /** Starts apps, each once the apps it depends on are ready; resolves once all have started. */
  private async startApps(configs: readonly AppConfig[]): Promise<App[]> {
    const created = configs.map((config) => this.createApp(config));
    const started = new Map<string, Promise<void>>();
    const ready = (name: string): Promise<boolean> => {
      const app = this.apps.get(name);
      if (app === undefined) return Promise.resolve(false);
      return (started.get(name) ?? Promise.resolve()).then(() => app.whenReady());
    };
    for (const app of created) {
      started.set(app.name, (async () => {
        const dependencies = app.config.dependsOn;
        if (dependencies.length > 0) {
          app.logger.info({ dependsOn: dependencies }, `app "${app.name}" waits for ${dependencies.join(', ')} to be ready`);
          const ok = await Promise.all(dependencies.map(ready));
          if (ok.includes(false)) throw new Error(`app "${app.name}" not started: ${dependencies.filter((_, i) => !ok[i]).join(', ')} stopped before being ready`);
        }
        await this.observers.logs.openApp({ name: app.name, file: app.config.logFile });
        await app.start();
      })());
    }
    // Every start settles before a failure is reported, so that none is left half-started.
    const outcomes = await Promise.allSettled(started.values());
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    return created;
  }

  private createApp(config: AppConfig): App {
    const named = this.config.apps.length > 1 || this.config.file !== undefined;
    const app = new App(config, {
      logger: named ? this.logger.child({ app: config.name }) : this.logger,
      reaper: this.lifetime.reaper,
      nextId: (): WorkerId => this.nextWorkerId++,
      routing: this.routing,
      resolver: this.resolver,
      named,
      onStopped: () => {
        // `stop` through the app's own API (programmatic, single app): nothing is left to run.
        if (this.stopping === undefined && [...this.apps.values()].every((each) => each.supervisor.stopping)) void this.stop('every app stopped');
      },
      onOutput: (from, ...line) => this.observers.output(from, ...line),
      frontPort: () => this.routing?.front.address().port,
      requestCount: (name) => this.observers.requestTotals().get(name)?.count,
      requireSampling: (periodMs) => this.usage.requireSampling(periodMs),
      tls: this.tls,
      onBootFailure: (failed, reason) => {
        if (!this.booting) {
          // An app added by `ctl apply`: it alone stops; the apply reports it.
          failed.logger.error(`no worker became ready within --ready-timeout ${failed.config.readyTimeoutMs}ms: ${reason}; stopping this app`);
          void failed.stop('its first generation never became ready');
          return;
        }
        this.logger.fatal(`${named ? `app "${failed.name}": ` : ''}no worker became ready within --ready-timeout ${failed.config.readyTimeoutMs}ms: ${reason}`);
        this.exitCode = 1;
        void this.stop('the first generation never became ready');
      },
    });
    app.service.onEvent((event) => {
      this.observers.event(config.name, event);
      for (const listener of this.listeners) listener(config.name, event);
    });
    this.apps.set(config.name, app);
    return app;
  }

  /** Startup failed: stop what was started and release the rest. */
  async abort(): Promise<void> {
    await Promise.all([...this.apps.values()].map((app) => app.stop('startup failed')));
    await this.closeAll();
  }

  private async closeAll(): Promise<void> {
    await runClosers(this.closers, this.logger);
    this.lifetime.close();
  }

  stop(reason: string): Promise<void> {
    if (this.stopping !== undefined) {
      // The second request: every app stops its workers at once.
      for (const app of this.apps.values()) void app.service.stop(reason);
      return this.stopping;
    }
    this.notify?.stopping();
    this.stopping = (async () => {
      // The shared front stops accepting first; the apps drain their workers.
      const frontClosed = this.routing?.front.close(Math.max(...[...this.apps.values()].map((app) => app.config.killTimeoutMs)));
      await Promise.all([...this.apps.values()].map((app) => app.stop(reason)));
      await frontClosed;
      await this.closeAll();
      this.logger.info('stopped');
      this.resolveStopped(this.exitCode);
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------ the API

  onEvent(listener: (app: string, event: SupervisorEvent) => void): void {
    this.listeners.push(listener);
  }

  appNames(): readonly string[] {
    return [...this.apps.keys()];
  }

  app(name: string): SupervisorApi | undefined {
    return this.apps.get(name)?.service;
  }

  /** The App itself (tests, and the programmatic API). */
  appRuntime(name: string): App | undefined {
    return this.apps.get(name);
  }

  refreshUsage(): Promise<void> {
    return this.usage.refresh();
  }

  status(): SystemStatus {
    const requests = this.observers.requestTotals();
    const apps = [...this.apps.values()].map((app) => {
      const totals = requests.get(app.name);
      return totals === undefined ? app.status() : { ...app.status(), requests: totals };
    });
    const [only] = apps;
    const certificates = this.tls.status();
    const tls = certificates.length === 0 ? {} : { tls: certificates };
    if (apps.length === 1 && only !== undefined) {
      const { name: _name, ...single } = only;
      return { ...single, pid: process.pid, apps, ...tls };
    }
    return { pid: process.pid, apps, ...tls };
  }

  /** Runs system-wide changes one at a time; each is a reload to systemd (RELOADING=1 … READY=1). */
  private serialize<T extends { readonly ok: boolean }>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.notify?.reloading();
      let ok = false;
      try {
        const result = await task();
        ok = result.ok;
        return result;
      } finally {
        this.notify?.reloaded(ok);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  reloadAll(reason: string): Promise<SystemReloadResult> {
    return this.serialize(() => this.reloadApps([...this.apps.values()], reason));
  }

  private async reloadApps(apps: readonly App[], reason: string): Promise<SystemReloadResult> {
    const results: Record<string, ReloadResult> = {};
    for (const app of apps) results[app.name] = await app.service.reload(reason);
    const failed = Object.entries(results).filter(([, result]) => !result.ok);
    if (failed.length === 0) return { ok: true, apps: results };
    return { ok: false, error: failed.map(([name, result]) => `${name}: ${'error' in result ? result.error : 'failed'}`).join('; '), apps: results };
  }

  apply(reason: string): Promise<ApplyResult> {
    return this.serialize(() => this.applyFile(reason, false));
  }

  /** SIGHUP: with a system file, re-read it, apply it and reload every app; else reload all. */
  hangup(): Promise<unknown> {
    // The certificates first: a renewal does not wait for the workers' rolling reload.
    this.tls.reloadAll('SIGHUP');
    if (this.config.file === undefined) return this.reloadAll('SIGHUP');
    return this.serialize(async () => {
      const result = await this.applyFile('SIGHUP', true);
      if (!result.ok) this.logger.error(`SIGHUP: ${result.error}; nothing changed`);
      return result;
    });
  }

  /**
   * Reads the file again and applies the difference: removed apps taken out of
   * the routes, drained and stopped; new apps started (in depends-on order);
   * changed apps reconfigured and rolling-reloaded (or, when their mode, ports or
   * front changed, replaced); unchanged apps untouched — unless `reloadAll`.
   * A file that does not parse or validate changes nothing.
   */
  private async applyFile(reason: string, reloadAll: boolean): Promise<ApplyResult> {
    if (this.stopping) return { ok: false, error: 'the supervisor is stopping' };
    const file = this.config.file;
    if (file === undefined) return { ok: false, invalid: true, error: 'supervise was started without a system file (--config with apps:): nothing to apply' };
    const plan = await planApply(file, {
      config: this.config, apps: this.apps, flags: this.options.flags ?? {}, stdoutIsTTY: this.options.stdoutIsTTY ?? false, resolver: this.resolver,
    });
    if ('error' in plan) {
      this.logger.error(`${reason}: ${plan.error}; nothing changed`);
      return { ok: false, invalid: true, error: plan.error };
    }
    this.logger.info(
      { added: plan.added.map((a) => a.name), removed: plan.removed, changed: plan.changed.map((a) => a.name), unchanged: plan.unchanged.map((a) => a.name) },
      `${reason}: applying ${file}`,
    );
    this.config = plan.next;
    return runApply(this.applyHost(), plan, reason, reloadAll, file);
  }

  /** What runApply (apply-run.ts) acts on. */
  private applyHost(): ApplyHost {
    return {
      apps: this.apps,
      start: (configs) => this.startApps(configs),
      reloadApps: (apps, reason) => this.reloadApps(apps, reason),
      setRoutes: (configs) => this.routing?.backends.setRoutes(routesOf(configs)),
      tls: this.tls,
      logs: this.observers.logs,
      usageChanged: () => this.usage.update(),
    };
  }
}

function routesOf(apps: readonly AppConfig[]): AppRoute[] {
  return apps.flatMap((app) => app.routes.map((route) => ({ app: app.name, ...route })));
}
