// Every supervisor of the user (SPEC §16): each one registers its control
// socket in a per-user runtime directory — `$XDG_RUNTIME_DIR/supervise/`, else
// `~/.supervise/run/` — as `<pid>.json`, and removes it when it stops.
// `supervise ls` reads them all, `supervise ctl --name <name>` finds one.
// An entry whose process is gone, or whose socket file is gone, is stale (a
// SIGKILLed supervisor cannot clean up): readers prune it.
//
// The directory is the user's own (0700), the entries 0600: they name paths
// and pids, nothing that controls anything (the socket's own mode does that).

import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { SystemConfig } from '../core/system-types.js';

export interface RegistryEntry {
  /** The supervisor's name: its system file's folder, or its one app's name for a command line. */
  readonly name: string;
  readonly pid: number;
  /** Where it runs: its system file's folder, or the working directory it was started in. */
  readonly folder: string;
  /** Its control socket, absolute. */
  readonly socket: string;
  /** Its apps when it started (`supervise ls` asks the socket for their state now). */
  readonly apps: readonly string[];
  /** When it started, ms since the epoch. */
  readonly startedAt: number;
}

/** What a system registers: named after its file's folder (`examples/services` → services), or its one app. */
export function registrationOf(system: Pick<SystemConfig, 'file' | 'apps'>): { name: string; folder: string; apps: string[] } {
  const folder = system.file === undefined ? process.cwd() : dirname(system.file);
  const apps = system.apps.map((app) => app.name);
  const name = system.file === undefined ? (apps[0] ?? 'supervise') : basename(folder);
  return { name, folder, apps };
}

/** The per-user runtime directory of SPEC §16. */
export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && isAbsolute(runtime)) return join(runtime, 'supervise');
  const home = env['HOME'] !== undefined && isAbsolute(env['HOME']) ? env['HOME'] : homedir();
  return join(home, '.supervise', 'run');
}

/** Writes this supervisor's entry (atomically); returns the function that removes it. Throws when the directory cannot be written. */
export function register(entry: RegistryEntry, dir = registryDir()): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${entry.pid}.json`);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  return () => {
    // Only our own entry: a later process with our pid (after a crash) wrote its own.
    if (readEntry(file)?.startedAt === entry.startedAt) removeQuietly(file);
  };
}

/** The live entries, oldest first; stale ones are removed on the way. */
export function listEntries(dir = registryDir()): RegistryEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const entries: RegistryEntry[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    const file = join(dir, name);
    const entry = readEntry(file);
    if (entry === undefined || !isLive(entry)) {
      removeQuietly(file);
      continue;
    }
    entries.push(entry);
  }
  return entries.sort((a, b) => a.startedAt - b.startedAt || a.pid - b.pid);
}

/** The supervisors `--name <name>` means: by supervisor name, else by the name of one of their apps. */
export function findByName(name: string, entries: readonly RegistryEntry[]): RegistryEntry[] {
  const byName = entries.filter((entry) => entry.name === name);
  return byName.length > 0 ? byName : entries.filter((entry) => entry.apps.includes(name));
}

/** Removes the entry of `pid` (its socket refused: stale). */
export function forgetEntry(pid: number, dir = registryDir()): void {
  removeQuietly(join(dir, `${pid}.json`));
}

function isLive(entry: RegistryEntry): boolean {
  try {
    process.kill(entry.pid, 0);
  } catch (error) {
    // EPERM: alive, another user's (cannot be ours, but not ours to remove either).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return statSync(entry.socket).isSocket();
  } catch {
    return false;
  }
}

function readEntry(file: string): RegistryEntry | undefined {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<RegistryEntry>;
    if (
      typeof value.name !== 'string' || typeof value.pid !== 'number' || typeof value.folder !== 'string' ||
      typeof value.socket !== 'string' || !Array.isArray(value.apps) || typeof value.startedAt !== 'number'
    ) {
      return undefined;
    }
    return value as RegistryEntry;
  } catch {
    return undefined;
  }
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already (another reader pruned it).
  }
}
