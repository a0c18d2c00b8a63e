// Master side of the reaper (see reaper-process.ts): started on first use, told
// about every worker process group and cluster worker pid, and left to clean up
// if we die. It is supervised: if it dies (kill -9), the master logs it and
// starts a new one with everything the old one knew, so a later SIGKILL of the
// master still leaves no orphan.
//
// The helper is the C program src/native/reaper.c (≈1 MB) where it was built
// or shipped beside the addon, else reaper-process.js in a Node process
// (≈43 MB): same protocol, same behaviour. SUPERVISE_REAPER_NATIVE=0 forces the
// Node one; a C program that cannot be started (another libc) falls back to it.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { masterTagPrefix } from './lineage.js';
import type { Logger } from '../log.js';
import { nativeExecutablePath } from '../native/load.js';

const REAPER_SCRIPT = fileURLToPath(new URL('./reaper-process.js', import.meta.url));
/** The C reaper's file name (binding.gyp's `supervise_reaper` target). */
export const NATIVE_REAPER_NAME = 'supervise_reaper';

/** The command that runs the reaper helper: the C program when there is one that may run, else Node and the script. */
function reaperCommand(nativeFailed: boolean): { file: string; args: string[] } {
  const node = { file: process.execPath, args: ['--max-old-space-size=16', REAPER_SCRIPT] };
  if (nativeFailed || process.env.SUPERVISE_REAPER_NATIVE === '0') return node;
  const native = nativeExecutablePath(NATIVE_REAPER_NAME);
  if (native === undefined) return node;
  try {
    accessSync(native, constants.X_OK);
  } catch {
    return node; // unpacked without its mode bits, or on a mount that forbids running it
  }
  return { file: native, args: [] };
}
/** A reaper that dies sooner than this after its start is restarted after this delay (no spawn storm). */
const QUICK_DEATH_MS = 1000;

export class Reaper {
  private child: ChildProcess | undefined;
  private startedAt = 0;
  private closed = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly groups = new Set<number>();
  private readonly pids = new Set<number>();
  /** The C program failed to start once: the Node reaper from then on. */
  private nativeFailed = false;
  /** Times the reaper was restarted after dying. */
  restarts = 0;

  constructor(private readonly logger?: Logger) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private ensure(): void {
    if (this.child || this.closed || this.restartTimer) return;
    const command = reaperCommand(this.nativeFailed);
    const child = spawn(command.file, command.args, {
      detached: true, // own group: a Ctrl-C meant for the master does not reach it
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('error', (error) => {
      // Not started at all (ENOENT, EACCES, a missing loader): 'exit' does not follow, so restart from here.
      if (child.pid !== undefined || this.child !== child) return;
      this.logger?.warn({ err: error }, `the reaper helper ${command.file} did not start: ${error.message}`);
      if (command.file === process.execPath) return this.died(child, null, null);
      this.nativeFailed = true;
      this.child = undefined;
      this.ensure(); // the Node reaper, at once
    });
    child.stdin?.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      // A C program that exits by itself at once cannot run here (a loader's error, exit 127): the Node one from then on.
      if (command.file !== process.execPath && signal === null && !this.closed && Date.now() - this.startedAt < QUICK_DEATH_MS) this.nativeFailed = true;
      this.died(child, code, signal);
    });
    // Neither the process nor its pipe may keep the master's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
    this.startedAt = Date.now();
    // A new reaper learns everything the previous one knew.
    const lines = [`t${masterTagPrefix()}`, ...[...this.groups].map((g) => `+${g}`), ...[...this.pids].map((p) => `+p${p}`)];
    this.send(lines.join('\n'));
  }

  private died(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.closed) return;
    this.restarts++;
    const delay = Date.now() - this.startedAt < QUICK_DEATH_MS ? QUICK_DEATH_MS : 0;
    this.logger?.warn({ reaperPid: child.pid, code, signal }, `the reaper helper (pid ${child.pid ?? '?'}) died${signal ? ` by ${signal}` : ` with code ${code ?? '?'}`}; starting a new one`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.ensure();
      this.logger?.info({ reaperPid: this.child?.pid }, 'reaper helper restarted');
    }, delay);
    this.restartTimer.unref();
  }

  private send(line: string): void {
    this.child?.stdin?.write(`${line}\n`);
  }

  /** A spawn worker's process group. */
  watch(pgid: number): void {
    this.groups.add(pgid);
    if (this.child) this.send(`+${pgid}`);
    else this.ensure();
  }

  forget(pgid: number): void {
    this.groups.delete(pgid);
    this.send(`-${pgid}`);
  }

  /** A cluster worker (it shares the master's group: signalled by pid). */
  watchPid(pid: number): void {
    this.pids.add(pid);
    if (this.child) this.send(`+p${pid}`);
    else this.ensure();
  }

  forgetPid(pid: number): void {
    this.pids.delete(pid);
    this.send(`-p${pid}`);
  }

  /** Normal shutdown: every group is already gone; let the reaper exit. */
  close(): void {
    this.closed = true;
    clearTimeout(this.restartTimer);
    // "q": exit now. Without it the reaper would treat the end of its stdin as
    // our death and hold our stderr through its grace period.
    this.child?.stdin?.end('q\n');
    this.child = undefined;
  }
}
