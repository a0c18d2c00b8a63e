// The kernel's process-lifetime mechanisms (src/native/prctl.c, Linux), and what
// is used where they are missing. See docs/architecture.md, "No orphans".

import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { loadNativeAddon } from '../proxy/native-tunnel.js';

interface PrctlBinding {
  setChildSubreaper(): boolean;
  setParentDeathSignal(signal: number, expectedParentPid: number): boolean;
  reap(pid: number): number;
  raiseFileLimit?(): [number, number] | number;
}

function binding(): PrctlBinding | undefined {
  const addon = loadNativeAddon() as Partial<PrctlBinding> | undefined;
  if (typeof addon?.setChildSubreaper !== 'function' || typeof addon.setParentDeathSignal !== 'function' || typeof addon.reap !== 'function') {
    return undefined;
  }
  return addon as PrctlBinding;
}

/** Make this process the reaper of its orphaned descendants; false where the kernel or the addon cannot. */
export function becomeSubreaper(): boolean {
  return binding()?.setChildSubreaper() ?? false;
}

/** In a worker: die with `signal` when the master dies (raised at once if it already has). */
export function armParentDeathSignal(signal: NodeJS.Signals, expectedParentPid: number): boolean {
  const number = constants.signals[signal];
  return binding()?.setParentDeathSignal(number, expectedParentPid) ?? false;
}

/** Collect an adopted orphan's exit status: true once it has been reaped. */
export function reapAdopted(pid: number): boolean {
  const result = binding()?.reap(pid);
  return result !== undefined && result !== -1;
}

/**
 * Raises this process's soft descriptor limit to the hard one (a front holds
 * two per proxied request): the limits after, or undefined where the addon
 * cannot (then `ulimit -n` is what the user gave).
 */
export function raiseFileLimit(): { soft: number; hard: number } | undefined {
  const result = binding()?.raiseFileLimit?.();
  return Array.isArray(result) ? { soft: result[0], hard: result[1] } : undefined;
}

let wrapper: readonly string[] | undefined | null = null;

/**
 * The prefix that gives a spawned command PR_SET_PDEATHSIG=SIGKILL before it
 * execs (util-linux setpriv, same pid): Node cannot run code between fork and
 * exec. Empty where setpriv lacks --pdeathsig (not Linux, or old util-linux).
 */
export function parentDeathWrapper(): readonly string[] {
  if (wrapper === null) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 2000 });
    wrapper = probe.status === 0 ? ['setpriv', '--pdeathsig', 'KILL', '--'] : undefined;
  }
  return wrapper ?? [];
}
