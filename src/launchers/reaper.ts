// Master side of the reaper (see reaper-process.ts): started on first use,
// told about every worker process group, and left to clean up if we die.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REAPER_SCRIPT = fileURLToPath(new URL('./reaper-process.js', import.meta.url));

export class Reaper {
  private child: ChildProcess | undefined;

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(process.execPath, ['--max-old-space-size=16', REAPER_SCRIPT], {
      detached: true, // own group: a Ctrl-C meant for the master does not reach it
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    // Neither the process nor its pipe may keep the master's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
    return child;
  }

  watch(pgid: number): void {
    this.ensure().stdin?.write(`+${pgid}\n`);
  }

  forget(pgid: number): void {
    this.child?.stdin?.write(`-${pgid}\n`);
  }

  /** Normal shutdown: every group is already gone; let the reaper exit. */
  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }
}
