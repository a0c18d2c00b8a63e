// The reaper: one small process per supervisor that outlives it only to clean up.
// The master writes lines on our stdin as it starts and reaps workers:
// "+<pgid>" / "-<pgid>" (a spawn worker's process group), "+p<pid>" / "-p<pid>"
// (a cluster worker, which shares the master's group), "t<prefix>" (the tag
// every worker and descendant carries in its environment, lineage.ts) and "q"
// (a normal shutdown: every worker is gone, exit at once). When stdin
// ends — the master exited, even by SIGKILL, because the kernel closes its end of
// the pipe — every known group and pid, and every process carrying the tag (a
// daemonized grandchild that left its group), gets SIGTERM, then SIGKILL after a
// grace period. This works for any command on Linux, whatever it does with signals
// or its own children, which PR_SET_PDEATHSIG (direct child only) does not.

import { signalTagged } from './lineage.js';

const GRACE_MS = Number(process.env.SUPERVISE_REAPER_GRACE_MS ?? 2000);
const groups = new Set<number>();
const pids = new Set<number>();
let tag: string | undefined;
let pending = '';

function signalAll(signal: NodeJS.Signals): void {
  for (const [set, sign] of [[groups, -1], [pids, 1]] as const) {
    for (const id of set) {
      try {
        process.kill(sign * id, signal);
      } catch {
        set.delete(id); // already gone
      }
    }
  }
  if (tag !== undefined) signalTagged(tag, signal);
}

function apply(line: string): void {
  if (line === 'q') process.exit(0);
  if (line[0] === 't') {
    if (/^\d+\.$/.test(line.slice(1))) tag = line.slice(1);
    return;
  }
  const isPid = line[1] === 'p';
  const id = Number(line.slice(isPid ? 2 : 1));
  if (!Number.isInteger(id) || id <= 1) return;
  const set = isPid ? pids : groups;
  if (line[0] === '+') set.add(id);
  else if (line[0] === '-') set.delete(id);
}

// The master handles terminal signals; the reaper is in its own group anyway.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  let newline = pending.indexOf('\n');
  while (newline !== -1) {
    apply(pending.slice(0, newline));
    pending = pending.slice(newline + 1);
    newline = pending.indexOf('\n');
  }
});
process.stdin.on('end', () => {
  if (groups.size === 0 && pids.size === 0 && tag === undefined) process.exit(0);
  signalAll('SIGTERM');
  setTimeout(() => {
    signalAll('SIGKILL');
    process.exit(0);
  }, GRACE_MS);
});
