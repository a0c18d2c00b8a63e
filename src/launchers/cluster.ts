// Cluster mode launcher: node:cluster with round-robin scheduling on every
// platform. Workers run the user's script directly (so require.main and argv are
// what the script expects) with cluster-preload.js imported first.

import cluster, { type Worker } from 'node:cluster';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { relayChild } from './child-output.js';
import type { Config, LaunchCallbacks, LaunchSpec, Launcher, WorkerProcess } from '../core/types.js';

const PRELOAD = pathToFileURL(fileURLToPath(new URL('./cluster-preload.js', import.meta.url))).href;

export function createClusterLauncher(config: Config): Launcher {
  if (!config.script) throw new Error('cluster launcher needs a script');
  // Must be set before the first fork; SCHED_NONE (the Windows default) lets the
  // kernel favour one worker.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  // node:cluster has one set of primary settings per process: with several
  // cluster apps in one system, each fork sets its app's own first.
  const settings = {
    exec: config.script,
    args: [...config.args],
    execArgv: [...process.execArgv, '--import', PRELOAD],
    cwd: config.cwd,
    silent: true,
  };
  cluster.setupPrimary(settings);

  return {
    start(spec: LaunchSpec, callbacks: LaunchCallbacks): WorkerProcess {
      cluster.setupPrimary(settings);
      const worker: Worker = cluster.fork({
        ...config.env,
        PORT: String(spec.port),
        SUPERVISE_WORKER: String(spec.slot),
        SUPERVISE_GENERATION: String(spec.generation),
      });
      const child = worker.process;
      relayChild(child, callbacks);
      if (child.pid !== undefined) callbacks.onSpawn(child.pid);

      worker.on('listening', () => {
        if (!config.waitReady) callbacks.onReady();
      });
      worker.on('message', (message: unknown) => {
        if (message === 'ready' && config.waitReady) callbacks.onReady();
        else if (message === 'supervise:drained') callbacks.onDrained();
        else if (isConnectionsReport(message)) callbacks.onConnections?.(message.open);
      });
      // A worker whose IPC channel broke is reported through 'exit' anyway.
      worker.on('error', () => undefined);

      return {
        get pid() {
          return child.pid;
        },
        drain() {
          if (worker.isConnected()) worker.send('supervise:drain', undefined, () => undefined);
          else callbacks.onDrained();
        },
        signal(signal) {
          // Cluster workers share the master's process group: signal the worker only.
          try {
            child.kill(signal);
          } catch {
            // already gone
          }
        },
      };
    },
    async close() {
      // nothing held beyond the workers themselves
    },
  };
}

function isConnectionsReport(message: unknown): message is { type: 'supervise:connections'; open: number } {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'supervise:connections' &&
    typeof (message as { open?: unknown }).open === 'number'
  );
}
