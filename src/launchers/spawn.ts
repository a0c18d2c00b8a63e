// Spawn mode launcher: any command, one per port, each in its own process group
// (so a stop reaches its grandchildren), tagged in its environment (so a stop
// reaches a grandchild that left the group, lineage.ts), registered with the
// reaper and, where setpriv exists, killed by the kernel when the master dies.
// Ready = the first passing probe answered by a listener of this worker's own.

import { spawn } from 'node:child_process';
import { relayChild } from './child-output.js';
import { signalGroup } from './kill.js';
import { INSTANCE_VAR, taggedProcesses, workerTag } from './lineage.js';
import { signalTaggedSoon } from './tag-signals.js';
import { notifyHub } from './notify-hub.js';
import { parentDeathWrapper } from './prctl.js';
import type { Reaper } from './reaper.js';
import { watchLiveness } from '../health/liveness.js';
import { makeProbe, type ProbeResult } from '../health/probe.js';
import { waitUntilReady } from '../health/wait-ready.js';
import { commandOf, describePortHolder, isListening, listenerAmong, portHolders } from '../supervisor/port-check.js';
import type { Config, LaunchCallbacks, LaunchSpec, Launcher, WorkerProcess } from '../core/types.js';

/** `{port}` and `{worker}` in the command's arguments. */
export function expandCommand(args: readonly string[], spec: Pick<LaunchSpec, 'port' | 'slot'>): string[] {
  return args.map((arg) => arg.replaceAll('{port}', String(spec.port)).replaceAll('{worker}', String(spec.slot)));
}

/** Everything left of a worker that is gone: its group and whatever carries its tag. */
function killOrphans(pgid: number, tag: string): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is empty: nothing left
  }
  signalTaggedSoon(tag, 'SIGKILL');
}

/** The probe passed: is the listener on the port this worker's (its process, or a descendant carrying its tag)? */
function ownListener(port: number, pid: number, tag: string): ProbeResult {
  // The worker itself first (the common case: a few descriptors to read), then its tagged descendants.
  // Undefined: nothing listens any more, or no /proc: the probe's word is all there is.
  const itself = listenerAmong(port, [pid]);
  if (itself !== false || listenerAmong(port, taggedProcesses(tag)) === true) return { ok: true };
  const holder = portHolders(port)[0];
  const who = holder === undefined ? 'another process' : `pid ${holder} (${commandOf(String(holder))})`;
  return { ok: false, reason: `port ${port} answers, but its listener is ${who}, not this worker` };
}

/** The worker's side of systemd's notify protocol: NOTIFY_SOCKET, and WATCHDOG_USEC with --watchdog. */
function notifyEnv(config: Config, socket: string | undefined): Record<string, string> {
  if (socket === undefined) return {};
  return { NOTIFY_SOCKET: socket, ...(config.watchdogMs === undefined ? {} : { WATCHDOG_USEC: String(config.watchdogMs * 1000) }) };
}

export function createSpawnLauncher(config: Config, reaper: Reaper): Launcher {
  const probe = makeProbe(config.health, '127.0.0.1');
  const wrapper = parentDeathWrapper();
  const hub = config.readyBy === 'notify' || config.watchdogMs !== undefined || process.platform === 'linux' ? notifyHub() : undefined;
  if (hub === undefined && (config.readyBy === 'notify' || config.watchdogMs !== undefined)) {
    throw new Error('--ready notify and --watchdog need the native notify socket (Linux, with the addon built by npm install)');
  }

  return {
    start(spec: LaunchSpec, callbacks: LaunchCallbacks): WorkerProcess {
      // A port held by someone else is reported before a start, not found out by
      // a crash loop on EADDRINUSE (or worse, a probe that the foreign server passes).
      if (isListening(spec.port)) {
        const holder = describePortHolder(spec.port);
        throw new Error(`port ${spec.port} is already in use${holder ? ` by ${holder}` : ''}; not starting worker ${spec.slot} there`);
      }
      const tag = workerTag(spec.id);
      const [command, ...args] = [...wrapper, ...expandCommand(config.args, spec)];
      const child = spawn(command ?? '', args, {
        cwd: config.cwd,
        env: {
          ...process.env,
          ...config.env,
          PORT: String(spec.port),
          SUPERVISE_WORKER: String(spec.slot),
          SUPERVISE_GENERATION: String(spec.generation),
          [INSTANCE_VAR]: tag,
          ...notifyEnv(config, hub?.path),
        },
        detached: true, // its own process group, led by the worker
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const pid = child.pid;
      const stopProbing = new AbortController();
      let ready = false;
      let lastWatchdog = Date.now();
      const becameReady = () => {
        if (ready || pid === undefined) return;
        ready = true;
        callbacks.onReady();
        lastWatchdog = Date.now();
        const heartbeat =
          config.watchdogMs === undefined
            ? undefined
            : { last: () => lastWatchdog, limitMs: config.watchdogMs, missing: `no WATCHDOG=1 within --watchdog ${config.watchdogMs}ms` };
        watchLiveness({ config, pid, port: spec.port, heartbeat, signal: stopProbing.signal, onHung: callbacks.onHung });
      };
      const unlisten = hub?.listen(tag, (fields) => {
        if (fields.get('WATCHDOG') === '1') lastWatchdog = Date.now();
        const status = fields.get('STATUS');
        if (status !== undefined) callbacks.onStatus?.(status);
        if (fields.get('READY') === '1' && config.readyBy === 'notify') becameReady();
      });
      stopProbing.signal.addEventListener('abort', () => unlisten?.(), { once: true });

      relayChild(child, {
        ...callbacks,
        onExit(code, signal) {
          stopProbing.abort();
          if (pid !== undefined) {
            // The worker is gone: whatever is left of its group (a grandchild that
            // ignored SIGTERM, or was orphaned by a crash) must not outlive it.
            killOrphans(pid, tag);
            reaper.forget(pid);
          }
          callbacks.onExit(code, signal);
        },
      });
      if (pid !== undefined) {
        reaper.watch(pid);
        callbacks.onSpawn(pid);
      }
      if (pid !== undefined && config.readyBy === 'probe') {
        let warned = false;
        void waitUntilReady(
          async (signal) => {
            const answer = await probe(spec.port, signal);
            if (!answer.ok) return answer;
            const own = ownListener(spec.port, pid, tag);
            if (!own.ok && !warned) {
              warned = true;
              callbacks.onWarning(own.reason);
            }
            return own;
          },
          { timeoutMs: config.readyTimeoutMs, intervalMs: 50, signal: stopProbing.signal },
        ).then((result) => {
          if (result.ok) becameReady();
        });
      }

      return {
        pid,
        drain() {
          // The front drains a spawned worker and reports when its last connection
          // has ended; without a front there is nothing to wait for.
          if (config.proxy === 'none') queueMicrotask(() => callbacks.onDrained());
        },
        signal(signal) {
          if (pid === undefined) return;
          signalGroup(pid, signal);
          // Descendants that left the group (setsid) are reached through their tag.
          signalTaggedSoon(tag, signal);
        },
      };
    },
    async close() {
      // The reaper is the system's (one for every app): it closes it last.
    },
  };
}
