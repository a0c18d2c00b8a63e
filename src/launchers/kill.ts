// Signals to a worker's process group. A worker started in its own group
// (spawn mode) is signalled as -pid so that no grandchild outlives it.

export type StopSignal = 'SIGTERM' | 'SIGKILL';

/** Signal the group led by pid, falling back to the pid alone; a vanished process is not an error. */
export function signalGroup(pid: number, signal: StopSignal | 0, group = true): boolean {
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') {
      if (group) return signalGroup(pid, signal, false);
      return false;
    }
    throw error;
  }
}
