// Which processes belong to which worker, whatever they did with their process
// group or session. Every worker is started with SUPERVISE_INSTANCE=<master>.<id>.<launch>
// in its environment, which its descendants inherit: a grandchild that called
// setsid() (a daemon) left the worker's group, but not its tag. /proc is read only
// on a stop and by the reaper (Linux; elsewhere the process group is all we have).

import { readdirSync, readFileSync } from 'node:fs';
import { readProcStat } from '../health/proc-stat.js';

export const INSTANCE_VAR = 'SUPERVISE_INSTANCE';

let launches = 0;

/**
 * The tag of one launch of a worker of this master: `<master>.<worker>.<launch>`.
 * Each launch has its own, a restart in place too: a dead launch's descendants
 * are signalled in the next pass over /proc (tag-signals.ts, up to 100 ms
 * later), and a restart sooner than that (the first backoff is 0–100 ms) got
 * the SIGKILL meant for them when the tag was the worker's.
 */
export function workerTag(workerId: number, masterPid = process.pid): string {
  launches++;
  return `${masterPid}.${workerId}.${launches}`;
}

/** The prefix of every worker tag of a master. */
export function masterTagPrefix(masterPid = process.pid): string {
  return `${masterPid}.`;
}

function pids(): number[] {
  try {
    return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);
  } catch {
    return []; // no /proc: not Linux
  }
}

/** Whether a process's environment carries the tag (see taggedProcesses for prefixes). */
export function carriesTag(pid: number, tag: string): boolean {
  let environ: Buffer;
  try {
    environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pid}/environ`)]);
  } catch {
    return false; // gone, or not ours
  }
  const needle = Buffer.from(`\0${INSTANCE_VAR}=${tag}`);
  const at = environ.indexOf(needle);
  if (at === -1) return false;
  if (tag.endsWith('.')) return true;
  const end = environ[at + needle.length];
  return end === 0 || end === undefined; // 123.4 must not match 123.45
}

/**
 * Live processes whose environment carries a tag: exactly `tag` (a worker's),
 * or any tag starting with it when it ends with a dot (a master's).
 */
export function taggedProcesses(tag: string): number[] {
  return pids().filter((pid) => pid !== process.pid && carriesTag(pid, tag) && !isZombie(pid));
}

// Descendants of our workers seen alive (signalled by their tag, or found among
// the master's children carrying one): once adopted by the master (a child
// subreaper) and dead, they are its to reap. A zombie child the master never saw
// carry a tag may be a process some library spawned in the master (pidusage
// runs `getconf` through a shell): libuv reaps those, and a status taken from
// it would lose that child's 'exit' for good. A zombie's environment cannot be
// read, hence the record made while the process was alive.
const descendants = new Set<number>();

/** Remembers a live process that carries one of our tags. */
export function noteDescendant(pid: number): void {
  descendants.add(pid);
}

/** Whether `pid` was seen alive carrying our tag; forgets it (it is about to be reaped). */
export function takeDescendant(pid: number): boolean {
  return descendants.delete(pid);
}

/** Forgets the remembered descendants that are gone (their parent reaped them): pids are reused. */
export function pruneDescendants(): void {
  for (const pid of descendants) if (stat(pid) === undefined) descendants.delete(pid);
}

export interface TagSignal {
  readonly signal: NodeJS.Signals;
  /** A pid not to signal (a cluster worker signalled through its ChildProcess). */
  readonly except?: number;
}

/** The value of our tag variable in a process's environment; undefined when it has none (or is gone). */
function tagOf(pid: number): string | undefined {
  let environ: Buffer;
  try {
    environ = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return undefined;
  }
  const needle = `${INSTANCE_VAR}=`;
  let at = environ.indexOf(needle);
  // Only at the start of an entry: another variable's value may contain the text.
  while (at > 0 && environ[at - 1] !== 0) at = environ.indexOf(needle, at + 1);
  if (at === -1) return undefined;
  const start = at + needle.length;
  const end = environ.indexOf(0, start);
  return environ.toString('latin1', start, end === -1 ? environ.length : end);
}

/**
 * One pass over /proc for many workers' tags (exact tags, not prefixes): each
 * process's environment is read once. How many processes were signalled.
 */
export function signalTaggedMany(requests: ReadonlyMap<string, TagSignal>): number {
  let count = 0;
  if (requests.size === 0) return count;
  for (const pid of pids()) {
    if (pid === process.pid) continue;
    const tag = tagOf(pid);
    const request = tag === undefined ? undefined : requests.get(tag);
    if (request === undefined || pid === request.except || isZombie(pid)) continue;
    noteDescendant(pid);
    try {
      process.kill(pid, request.signal);
      count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

/** Signal every live process carrying the tag; how many were signalled. */
export function signalTagged(tag: string, signal: NodeJS.Signals, except?: number): number {
  let count = 0;
  for (const pid of taggedProcesses(tag)) {
    if (pid === except) continue;
    noteDescendant(pid);
    try {
      process.kill(pid, signal);
      count++;
    } catch {
      // gone meanwhile
    }
  }
  return count;
}

function stat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  return stat(pid)?.[0] === 'Z';
}

/** The scheduler state letter of a process (R, S, D, T stopped, t traced, Z), undefined when gone or unknown. */
export function processState(pid: number): string | undefined {
  return stat(pid)?.[0];
}

/**
 * Direct children of `parent`: from its threads' `children` lists (a dozen reads),
 * or, on a kernel without them, from a scan of every process's stat.
 */
export function childPids(parent: number): number[] {
  try {
    const children: number[] = [];
    for (const thread of readdirSync(`/proc/${parent}/task`)) {
      const list = readFileSync(`/proc/${parent}/task/${thread}/children`, 'latin1').trim();
      if (list !== '') for (const pid of list.split(' ')) children.push(Number(pid));
    }
    return children;
  } catch {
    return childrenOf(parent).map((child) => child.pid);
  }
}

/** Direct children of `parent`, with their state letter. */
export function childrenOf(parent: number): Array<{ pid: number; state: string }> {
  const children: Array<{ pid: number; state: string }> = [];
  for (const pid of pids()) {
    const stat = readProcStat(pid);
    if (stat?.ppid === parent) children.push({ pid, state: stat.state });
  }
  return children;
}
