// The master's side of "no worker outlives it": which kernel mechanisms are on,
// the reaper helper, and the reaping of adopted orphans. Set up once per master
// and shared by both launchers. docs/architecture.md, "No orphans", says which
// mechanism covers which case.

import { carriesTag, childPids, masterTagPrefix, noteDescendant, processState, pruneDescendants, takeDescendant } from './lineage.js';
import { closeNotifyHub } from './notify-hub.js';
import { becomeSubreaper, parentDeathWrapper, raiseFileLimit, reapAdopted } from './prctl.js';
import { Reaper } from './reaper.js';
import { flushTagSignals } from './tag-signals.js';
import type { Logger } from '../log.js';

const SWEEP_MS = 2000;

export interface Lifetime {
  readonly reaper: Reaper;
  /** What is active, for the start-up log and the docs' table. */
  readonly mechanisms: { readonly subreaper: boolean; readonly parentDeathSignal: boolean; readonly reaper: true };
  close(): void;
}

/**
 * @param ownChildren pids the master spawned itself (workers, the reaper): libuv
 *   reaps those; only other children (adopted orphans) are reaped here.
 */
export function setUpLifetime(logger: Logger, ownChildren: () => ReadonlySet<number | undefined>): Lifetime {
  // Before anything opens: fronts, workers' pipes and the control socket share this budget (the native front keeps a reserve of it).
  const files = raiseFileLimit();
  if (files !== undefined) logger.debug({ soft: files.soft, hard: files.hard }, 'descriptor limit');
  const reaper = new Reaper(logger);
  const subreaper = becomeSubreaper();
  const parentDeathSignal = parentDeathWrapper().length > 0;
  let sweep: NodeJS.Timeout | undefined;
  if (subreaper) {
    // A daemonized grandchild whose parent exited is now our child: when it
    // exits, collect it, or it stays a zombie until the master exits. Only a
    // child known to descend from a worker (lineage.ts says why).
    const tagPrefix = masterTagPrefix();
    sweep = setInterval(() => {
      const own = ownChildren();
      pruneDescendants();
      // Our own children (every worker) are skipped before anything is read of them.
      for (const pid of childPids(process.pid)) {
        if (own.has(pid) || pid === reaper.pid) continue;
        const state = processState(pid);
        if (state === undefined) continue;
        if (state !== 'Z') {
          if (carriesTag(pid, tagPrefix)) noteDescendant(pid);
        } else if (takeDescendant(pid)) {
          reapAdopted(pid);
        }
      }
    }, SWEEP_MS);
    sweep.unref();
  }
  const mechanisms = { subreaper, parentDeathSignal, reaper: true } as const;
  logger.debug(
    mechanisms,
    `orphan protection: reaper helper${subreaper ? ', child subreaper' : ''}${parentDeathSignal ? ', PR_SET_PDEATHSIG' : ''}, environment tags; cgroups not used`,
  );
  return {
    reaper,
    mechanisms,
    close() {
      clearInterval(sweep);
      flushTagSignals();
      closeNotifyHub();
      reaper.close();
    },
  };
}
