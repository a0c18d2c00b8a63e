// Spawn mode launcher: any command, one per port, each in its own process group
// (so a stop reaches its grandchildren), registered with the reaper (so a master
// killed by SIGKILL leaves no orphan). Ready = the first passing probe.

import { spawn } from 'node:child_process';
import { relayChild } from './child-output.js';
import { signalGroup } from './kill.js';
import { Reaper } from './reaper.js';
import { makeProbe } from '../health/probe.js';
import { waitUntilReady } from '../health/wait-ready.js';
import type { Config, LaunchCallbacks, LaunchSpec, Launcher, WorkerProcess } from '../core/types.js';

/** `{port}` and `{worker}` in the command's arguments. */
export function expandCommand(args: readonly string[], spec: Pick<LaunchSpec, 'port' | 'slot'>): string[] {
  return args.map((arg) => arg.replaceAll('{port}', String(spec.port)).replaceAll('{worker}', String(spec.slot)));
}

function killOrphans(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is empty: nothing left
  }
}

export function createSpawnLauncher(config: Config, reaper = new Reaper()): Launcher {
  const probe = makeProbe(config.health, '127.0.0.1');

  return {
    start(spec: LaunchSpec, callbacks: LaunchCallbacks): WorkerProcess {
      const [command, ...args] = expandCommand(config.args, spec);
      const child = spawn(command ?? '', args, {
        cwd: config.cwd,
        env: {
          ...process.env,
          ...config.env,
          PORT: String(spec.port),
          SUPERVISE_WORKER: String(spec.slot),
          SUPERVISE_GENERATION: String(spec.generation),
        },
        detached: true, // its own process group, led by the worker
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const pid = child.pid;
      const stopProbing = new AbortController();

      relayChild(child, {
        ...callbacks,
        onExit(code, signal) {
          stopProbing.abort();
          if (pid !== undefined) {
            // The worker is gone: whatever is left of its group (a grandchild that
            // ignored SIGTERM, or was orphaned by a crash) must not outlive it.
            killOrphans(pid);
            reaper.forget(pid);
          }
          callbacks.onExit(code, signal);
        },
      });
      if (pid !== undefined) {
        reaper.watch(pid);
        callbacks.onSpawn(pid);
        void waitUntilReady((signal) => probe(spec.port, signal), {
          timeoutMs: config.readyTimeoutMs,
          intervalMs: 50,
          signal: stopProbing.signal,
        }).then((result) => {
          if (result.ok) callbacks.onReady();
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
          if (pid !== undefined) signalGroup(pid, signal);
        },
      };
    },
    async close() {
      reaper.close();
    },
  };
}
