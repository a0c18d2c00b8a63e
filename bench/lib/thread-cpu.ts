// CPU of a process and of its main thread, from /proc (Linux). The main thread
// of a Node process (tid = pid) runs its event loop: for supervise's master
// that is the control plane — health checks, restarts, the control socket —
// and, while the data plane runs on it, every request too. The whole process
// (/proc/<pid>/stat) adds its other threads: libuv's pool, V8's, and the data
// plane's own threads once it has them.

import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc (USER_HZ; 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/** utime + stime of one stat file, in ticks; undefined when it is gone. */
function statTicks(path: string): number | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    // "pid (comm) state …": comm may hold spaces and parentheses. utime, stime are fields 14, 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** A reading of one process: its main thread's and its own (all threads') CPU ticks, and when. */
export interface ThreadCpuSample {
  readonly mainThread: number;
  readonly process: number;
  readonly atMs: number;
}

export function sampleThreadCpu(pid: number): ThreadCpuSample {
  return {
    mainThread: statTicks(`/proc/${pid}/task/${pid}/stat`) ?? Number.NaN,
    process: statTicks(`/proc/${pid}/stat`) ?? Number.NaN,
    atMs: performance.now(),
  };
}

/** Share of one core (0.25 = 25 %) the main thread and the process used between two readings. */
export interface CoreShare {
  readonly mainThread: number;
  readonly process: number;
}

export function coreShareBetween(before: ThreadCpuSample, after: ThreadCpuSample): CoreShare {
  const seconds = Math.max(1e-3, (after.atMs - before.atMs) / 1000);
  return {
    mainThread: (after.mainThread - before.mainThread) / TICKS_PER_SECOND / seconds,
    process: (after.process - before.process) / TICKS_PER_SECOND / seconds,
  };
}

/** "12 %" of a core, or "–" when not measured. */
export const fmtCore = (share: number) => (Number.isFinite(share) ? `${(share * 100).toFixed(0)} %` : '–');
