// The reaper: one small process per supervisor that outlives it only to clean up.
// The master writes "+<pgid>" / "-<pgid>" lines on our stdin as it starts and
// reaps workers. When stdin ends — the master exited, even by SIGKILL, because
// the kernel closes its end of the pipe — every known group gets SIGTERM, then
// SIGKILL after a grace period. This works for any command on Linux, whatever it
// does with signals or its own children, which PR_SET_PDEATHSIG (direct child
// only) does not.

const GRACE_MS = Number(process.env.SUPERVISE_REAPER_GRACE_MS ?? 2000);
const groups = new Set<number>();
let pending = '';

function signalAll(signal: NodeJS.Signals): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, signal);
    } catch {
      groups.delete(pgid); // already gone
    }
  }
}

// The master handles terminal signals; the reaper is in its own group anyway.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  let newline = pending.indexOf('\n');
  while (newline !== -1) {
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    const pgid = Number(line.slice(1));
    if (Number.isInteger(pgid) && pgid > 1) {
      if (line[0] === '+') groups.add(pgid);
      else if (line[0] === '-') groups.delete(pgid);
    }
    newline = pending.indexOf('\n');
  }
});
process.stdin.on('end', () => {
  if (groups.size === 0) process.exit(0);
  signalAll('SIGTERM');
  setTimeout(() => {
    signalAll('SIGKILL');
    process.exit(0);
  }, GRACE_MS);
});
