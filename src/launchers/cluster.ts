// Cluster mode launcher: node:cluster with round-robin scheduling on every
// platform. Workers run the user's script directly (so require.main and argv are
// what the script expects) with cluster-preload.js imported first. Each worker is
// tagged (lineage.ts), registered by pid with the reaper, arms PR_SET_PDEATHSIG
// in its preload, and sends heartbeats from its event loop (liveness.ts).

import cluster, { type Worker } from 'node:cluster';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { relayChild } from './child-output.js';
import { INSTANCE_VAR, processState, workerTag } from './lineage.js';
import { signalTaggedSoon } from './tag-signals.js';
import type { Reaper } from './reaper.js';
import { checkPeriodMs, watchLiveness } from '../health/liveness.js';
import type { Config, LaunchCallbacks, LaunchSpec, Launcher, WorkerProcess } from '../core/types.js';

/** The first line stack-watch.ts writes for a blocked event loop. */
const STACK_LINE = /^supervise: the event loop has been blocked for \d+ms; JavaScript stack:$/;
/** How long a hung worker whose stack has not arrived yet is given to write it (a loaded machine). */
const STACK_GRACE_MS = 1000;
/**
 * How long a worker that listens on another port than its PORT is given to
 * listen on PORT too before the log says so (an app may open a second port,
 * for its metrics, before its main one).
 */
const OTHER_PORT_GRACE_MS = 1000;

const PRELOAD = pathToFileURL(fileURLToPath(new URL('./cluster-preload.js', import.meta.url))).href;

/** This worker's --max-requests, with its own jitter so workers do not recycle together. */
function requestLimit(config: Config): number | undefined {
  const max = config.maxRequests;
  if (max === undefined) return undefined;
  return max.count + Math.floor(Math.random() * (max.jitter + 1));
}

export function createClusterLauncher(config: Config, reaper: Reaper): Launcher {
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
      const tag = workerTag(spec.id);
      const limit = requestLimit(config);
      const worker: Worker = cluster.fork({
        ...config.env,
        PORT: String(spec.port),
        SUPERVISE_WORKER: String(spec.slot),
        SUPERVISE_GENERATION: String(spec.generation),
        [INSTANCE_VAR]: tag,
        SUPERVISE_MASTER_PID: String(process.pid),
        SUPERVISE_HEARTBEAT_MS: String(checkPeriodMs(config.heartbeatTimeoutMs)),
        SUPERVISE_HEARTBEAT_TIMEOUT_MS: String(config.heartbeatTimeoutMs),
        ...(limit === undefined ? {} : { SUPERVISE_MAX_REQUESTS: String(limit) }),
      });
      const child = worker.process;
      const pid = child.pid;
      const alive = new AbortController();
      let lastHeartbeat = Date.now();
      let stackLogged = false;
      relayChild(child, {
        ...callbacks,
        onOutput(stream, line) {
          if (stream === 'stderr' && STACK_LINE.test(line)) stackLogged = true;
          callbacks.onOutput(stream, line);
        },
        onExit(code, signal) {
          alive.abort();
          if (pid !== undefined) reaper.forgetPid(pid);
          // Its descendants (in the master's group, or daemonized) must not outlive it.
          signalTaggedSoon(tag, 'SIGKILL');
          callbacks.onExit(code, signal);
        },
      });
      if (pid !== undefined) {
        reaper.watchPid(pid);
        callbacks.onSpawn(pid);
      }

      let ready = false;
      const becameReady = () => {
        if (ready || pid === undefined) return;
        ready = true;
        callbacks.onReady();
        lastHeartbeat = Date.now();
        const heartbeat = {
          last: () => lastHeartbeat,
          limitMs: config.heartbeatTimeoutMs,
          missing: `no heartbeat from its event loop (--heartbeat-timeout ${config.heartbeatTimeoutMs}ms)`,
        };
        // A blocked loop's stack comes at 3/4 of the timeout; on a loaded machine it may be late.
        const onHung = (reason: string) => {
          // A stopped process writes no stack: no reason to wait for one.
          if (stackLogged || processState(pid) === 'T') return callbacks.onHung(reason);
          const timer = setTimeout(() => callbacks.onHung(reason), STACK_GRACE_MS);
          alive.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
        };
        watchLiveness({ config, pid, heartbeat, signal: alive.signal, onHung });
      };
      // Ready when it listens on its PORT: the front sends there. A worker that
      // listens elsewhere only (listen(3000)) would be "ready" with nothing behind
      // the front; spawn mode's probe catches the same mistake.
      let otherPortTimer: NodeJS.Timeout | undefined;
      alive.signal.addEventListener('abort', () => clearTimeout(otherPortTimer), { once: true });
      worker.on('listening', (address: { port?: number; addressType?: number | string }) => {
        if (address.port === spec.port) {
          clearTimeout(otherPortTimer);
          if (!config.waitReady) becameReady();
          return;
        }
        if (ready || otherPortTimer !== undefined) return;
        const where = address.addressType === -1 || address.port === undefined ? 'a unix socket' : `port ${address.port}`;
        otherPortTimer = setTimeout(() => {
          if (!ready) {
            callbacks.onWarning(
              `the worker listens on ${where}, not on its port ${spec.port}: it is not ready until it listens on process.env.PORT (listen(process.env.PORT))`,
            );
          }
        }, OTHER_PORT_GRACE_MS);
      });
      worker.on('message', (message: unknown) => {
        if (message === 'supervise:heartbeat') lastHeartbeat = Date.now();
        else if (message === 'ready' && config.waitReady) becameReady();
        else if (message === 'supervise:drained') callbacks.onDrained();
        else if (isConnectionsReport(message)) callbacks.onConnections?.(message.open);
        else if (message === 'supervise:max-requests') callbacks.onRecycle?.(`served its --max-requests (${limit ?? '?'})`);
      });
      // A worker whose IPC channel broke is reported through 'exit' anyway.
      worker.on('error', () => undefined);

      return {
        pid,
        drain() {
          if (worker.isConnected()) worker.send('supervise:drain', undefined, () => undefined);
          else callbacks.onDrained();
        },
        signal(signal) {
          // Cluster workers share the master's process group: signal the worker
          // and its tagged descendants, never the group.
          try {
            child.kill(signal);
          } catch {
            // already gone
          }
          signalTaggedSoon(tag, signal, pid);
        },
      };
    },
    async close() {
      // The reaper is the system's (one for every app): it closes it last.
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
