// Wiring: build the supervisor for a config, check its ports, start the control
// socket, the front, the workers, the watcher and the usage sampler, and tear
// all of it down once the workers are gone. Inputs only post to the supervisor.

import { createMetrics } from '../control/metrics.js';
import { startControlServer } from '../control/server.js';
import { createHealthChecker } from '../health/checker.js';
import { createUsageSampler, overMemoryLimit } from '../health/usage.js';
import { createClusterLauncher } from '../launchers/cluster.js';
import { setUpLifetime } from '../launchers/lifetime.js';
import { createSpawnLauncher } from '../launchers/spawn.js';
import type { Logger } from '../log.js';
import { createFront } from '../proxy/index.js';
import { createFileWatcher } from '../watch/file-watcher.js';
import { assertPortFree, portError } from './port-check.js';
import { SupervisorService } from './service.js';
import { installSignalHandlers } from './signals.js';
import { Supervisor } from './supervisor.js';
import type { Config, Front, WorkerId } from '../core/types.js';
import type { HealthChecker } from '../health/checker.js';

export interface RunningSupervisor {
  readonly supervisor: Supervisor;
  readonly api: SupervisorService;
  /** The public port actually bound (differs from config.port when it was 0). */
  readonly port: number;
  /** Resolves with the exit code once a stop has completed (every worker gone, everything closed). */
  readonly stopped: Promise<number>;
}

const USAGE_INTERVAL_MS = 2000;

export async function runSupervisor(config: Config, logger: Logger, options: { signals?: boolean } = {}): Promise<RunningSupervisor> {
  const closers: Array<() => unknown> = [];
  let resolveStopped!: (exitCode: number) => void;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  let exitCode = 0;
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        logger.warn({ err: error }, 'error while closing');
      }
    }
  };

  // Filled in below; the front and health checker report to the supervisor by id.
  let supervisor!: Supervisor;
  const post = (task: (s: Supervisor) => void) => supervisor.post(() => task(supervisor));

  const spawnFront = config.mode === 'spawn' && config.proxy !== 'none';
  const front = spawnFront
    ? createFront(config.proxy as 'tcp' | 'http', {
        host: config.host,
        port: config.port,
        balance: config.balance,
        logger,
        events: {
          onConnectFailure: (id: WorkerId, error: Error) => health?.passiveFailure(id, error.message),
          onDrained: (id: WorkerId) => post((s) => s.dispatch(id, { type: 'drained' })),
          // Out of the proxy's call stack: the replacement starts from the queue.
          onServedLimit: (id: WorkerId) => queueMicrotask(() => post((s) => s.servedLimitReached(id))),
        },
      })
    : undefined;
  let health: HealthChecker | undefined;
  if (config.mode === 'spawn') {
    health = createHealthChecker({
      health: config.health,
      host: '127.0.0.1',
      unhealthyLimitMs: config.readyTimeoutMs,
      onChange: (id, healthy, reason) => post((s) => s.healthChanged(id, healthy, reason)),
      onFailure: (id) => post((s) => s.healthFailed(id)),
      onUnhealthyTooLong: (id) => {
        const slot = supervisor.worker(id)?.slot;
        if (slot !== undefined) api.replaceQuietly(slot, `unhealthy for more than ${config.readyTimeoutMs}ms`);
      },
    });
    closers.push(() => health?.close());
  }

  const lifetime = setUpLifetime(logger, () => new Set(supervisor.records.map((w) => w.pid)));
  const launcher = config.mode === 'cluster' ? createClusterLauncher(config, lifetime.reaper) : createSpawnLauncher(config, lifetime.reaper);
  supervisor = new Supervisor({ config, logger, launcher, front: front as Front | undefined, health });
  // The front's close() stops accepting at once and resolves when its last
  // connection has ended; it is awaited with the rest at the end.
  let frontClosed: Promise<void> | undefined;
  const closeFront = () => (frontClosed ??= front?.close(config.killTimeoutMs));
  const api: SupervisorService = new SupervisorService(supervisor, {
    onStopping: () => void closeFront(),
    onStopped: async () => {
      await closeAll();
      logger.info('stopped');
      resolveStopped(exitCode);
    },
  });
  closers.push(() => launcher.close());
  closers.push(() => lifetime.close());
  supervisor.onReplaceRequest = (slot, why) => api.replaceQuietly(slot, why);

  try {
    // The control socket first: a second supervisor on the same socket must fail
    // before it touches any port.
    const control = await startControlServer({ path: config.control, api, metrics: createMetrics(api), logger });
    closers.push(() => control.close());

    let port = config.port;
    if (front) {
      try {
        await front.listen();
      } catch (error) {
        throw portError(config.port, config.host, 'public port (--port)', error as NodeJS.ErrnoException);
      }
      port = front.address().port;
      closers.push(closeFront);
    } else if (config.mode === 'cluster') {
      await assertPortFree(config.port, undefined, 'public port (--port)');
    }
    if (config.mode === 'spawn') {
      for (let slot = 0; slot < config.workers; slot++) {
        await assertPortFree(config.basePort + slot, '127.0.0.1', `worker ${slot}'s port (--base-port + ${slot})`);
      }
    }
    supervisor.publicPort = port;

    // Signal handlers stay installed until the process exits: a late second
    // SIGTERM must not kill a master that is still closing.
    if (options.signals !== false) installSignalHandlers(api, logger);
    logger.info(
      { mode: config.mode, workers: config.workers, port, control: config.control },
      config.mode === 'cluster'
        ? `supervise: ${config.workers} cluster workers of ${config.script} on port ${port}`
        : `supervise: ${config.workers} × ${config.args.join(' ')} on ports ${config.basePort}…, front ${config.proxy} on ${config.host}:${port}`,
    );
    if (config.mode === 'spawn' && !config.args.some((arg) => arg.includes('{port}'))) {
      logger.warn('the command has no {port}: each worker must listen on $PORT, or they will fight over one port');
    }
    supervisor.post(() => undefined); // the first reconcile starts the workers
    // A first generation that never comes up is a boot failure (exit 1), not a
    // service to keep half-running: say why and stop. Crash loops are retried with
    // backoff until then.
    const bootDeadline = setTimeout(() => {
      if (supervisor.everReady || supervisor.stopping) return;
      const reason = supervisor.lastFailure ?? 'no worker became ready';
      logger.fatal(`no worker became ready within --ready-timeout ${config.readyTimeoutMs}ms: ${reason}`);
      exitCode = 1;
      void api.stop('the first generation never became ready');
    }, config.readyTimeoutMs + 500);
    closers.push(() => clearTimeout(bootDeadline));

    if (config.watch) {
      const watcher = createFileWatcher({
        paths: config.watch.paths,
        ignore: config.watch.ignore,
        debounceMs: config.watch.debounceMs,
        cwd: config.cwd,
        logger,
        onChange: (files) => {
          logger.info({ files }, `file change: ${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''}: reloading`);
          void api.reload(`file change: ${files[0] ?? ''}`);
        },
      });
      closers.push(() => watcher.close());
      await watcher.ready();
    }

    const sampler = createUsageSampler({
      intervalMs: USAGE_INTERVAL_MS,
      pids: () => supervisor.records.flatMap((w) => (w.pid !== undefined && w.state !== 'backoff' ? [w.pid] : [])),
      onSample: (samples) =>
        post((s) => {
          for (const worker of s.records) {
            const sample = worker.pid === undefined ? undefined : samples.get(worker.pid);
            if (sample) {
              worker.cpu = sample.cpu;
              worker.memory = sample.memory;
            }
          }
          if (config.maxMemoryBytes === undefined) return;
          for (const pid of overMemoryLimit(samples, config.maxMemoryBytes)) {
            const worker = s.records.find((w) => w.pid === pid && w.state === 'ready');
            if (worker) api.replaceQuietly(worker.slot, `RSS ${worker.memory} bytes is above --max-memory ${config.maxMemoryBytes}`);
          }
        }),
    });
    closers.push(() => sampler.close());
    return { supervisor, api, port, stopped };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
