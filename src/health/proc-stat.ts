// What the master reads of its workers in /proc/<pid>/stat (Linux): scheduler
// state, CPU time and resident memory, for a given list of pids, in one pass of
// three syscalls per pid (open, read, close into one reused buffer) — no `ps`,
// no process spawned, no per-pid promise. The usage sampler (usage.ts) and the
// liveness check (state T) and the orphan sweep (ppid) read here.

import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';

/** USER_HZ: the unit of the CPU times in /proc; 100 on every Linux ABI. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  /** Scheduler state letter: R, S, D, T (stopped), t, Z … */
  readonly state: string;
  readonly ppid: number;
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
  /** When the process started, in clock ticks after boot. */
  readonly startTicks: number;
  /** Resident set size in pages. */
  readonly rssPages: number;
}

// A stat line is a few hundred bytes; comm is at most 64.
const buffer = Buffer.alloc(1024);

/** The stat line of one process, undefined when it is gone (or /proc cannot tell). */
export function readProcStat(pid: number, root = '/proc'): ProcStat | undefined {
  let fd: number;
  try {
    fd = openSync(`${root}/${pid}/stat`, 'r');
  } catch {
    return undefined;
  }
  let length: number;
  try {
    length = readSync(fd, buffer, 0, buffer.length, 0);
  } catch {
    return undefined; // exited between open and read
  } finally {
    closeSync(fd);
  }
  return parseProcStat(buffer.toString('latin1', 0, length));
}

/** "pid (comm) state ppid …": comm may hold spaces and parentheses, so fields count from the last ')'. */
export function parseProcStat(line: string): ProcStat | undefined {
  const close = line.lastIndexOf(')');
  if (close === -1) return undefined;
  const fields = line.slice(close + 2).split(' ');
  // 0-based after comm: state 0, ppid 1, utime 11, stime 12, starttime 19, rss 21.
  const [ppid, utime, stime, start, rss] = [fields[1], fields[11], fields[12], fields[19], fields[21]].map(Number);
  const state = fields[0];
  if (state === undefined || state === '' || ![ppid, utime, stime, start, rss].every((n) => Number.isFinite(n))) return undefined;
  return { state, ppid: ppid as number, cpuTicks: (utime as number) + (stime as number), startTicks: start as number, rssPages: rss as number };
}

/** Each pid's stat line, in one pass; pids that are gone are missing. */
export function readProcStats(pids: Iterable<number>, root = '/proc'): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const pid of pids) {
    const stat = readProcStat(pid, root);
    if (stat !== undefined) stats.set(pid, stat);
  }
  return stats;
}

/** Seconds since boot (/proc/uptime), undefined when unreadable. */
export function readUptimeSeconds(root = '/proc'): number | undefined {
  try {
    const seconds = Number(readFileSync(`${root}/uptime`, 'latin1').split(' ')[0]);
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}

/** Whether this platform has a /proc to read (Linux). */
export function hasProcStat(root = '/proc'): boolean {
  return existsSync(`${root}/self/stat`) || existsSync(`${root}/uptime`);
}

let cachedPageSize: number | undefined;

/**
 * The kernel's page size, without spawning `getconf`: our own RSS in bytes
 * (libuv) against the same RSS in pages (/proc/self/statm), rounded to a power of two.
 */
export function pageSize(): number {
  if (cachedPageSize !== undefined) return cachedPageSize;
  let size = 4096;
  try {
    const pages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]);
    const bytes = process.memoryUsage.rss();
    if (pages > 0 && bytes > 0) size = 2 ** Math.round(Math.log2(bytes / pages));
  } catch {
    // no /proc: keep the common 4 KiB
  }
  return (cachedPageSize = size);
}
