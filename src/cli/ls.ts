// `supervise ls [--json]`: every supervisor of this user on this machine
// (SPEC §16), from any folder — its name, pid, folder, control socket, and each
// app's ready/desired workers, asked of its socket now. The registry
// (control/registry.ts) says where they are; a socket that no longer answers is
// a stale entry, removed.

import { controlRequest, NoSupervisorError } from '../control/client.js';
import { forgetEntry, listEntries, registryDir, type RegistryEntry } from '../control/registry.js';
import type { SystemStatus } from '../core/system-api.js';
import { EXIT_OK, EXIT_USAGE } from '../errors.js';
import { formatTable } from './format.js';
import type { Output } from './ctl.js';

const STATUS_TIMEOUT_MS = 2000;

export interface ListedApp {
  readonly name: string;
  readonly ready: number;
  readonly desired: number;
}

export interface Listed extends RegistryEntry {
  /** Undefined when the supervisor did not answer in time (busy, stopped with SIGSTOP). */
  readonly state: readonly ListedApp[] | undefined;
}

export async function runLs(argv: readonly string[], stdout: Output, stderr: Output): Promise<number> {
  const json = argv.includes('--json');
  const unknown = argv.find((arg) => arg !== '--json');
  if (unknown !== undefined) {
    stderr.write(`supervise ls: unknown argument "${unknown}" (usage: supervise ls [--json])\n`);
    return EXIT_USAGE;
  }
  const dir = registryDir();
  const listed = await listSupervisors(dir);
  if (json) {
    stdout.write(`${JSON.stringify(listed)}\n`);
    return EXIT_OK;
  }
  if (listed.length === 0) {
    stdout.write(`no supervisor of yours runs on this machine (registry: ${dir})\n`);
    return EXIT_OK;
  }
  const rows = listed.map((entry) => [
    entry.name,
    String(entry.pid),
    entry.folder,
    entry.socket,
    entry.state === undefined ? 'not answering' : entry.state.map((app) => `${app.name} ${app.ready}/${app.desired}`).join(', '),
  ]);
  stdout.write(`${formatTable([{ header: 'NAME' }, { header: 'PID', align: 'right' }, { header: 'FOLDER' }, { header: 'SOCKET' }, { header: 'APPS (ready/desired)' }], rows)}\n`);
  return EXIT_OK;
}

/** The registered supervisors with their apps' state; an entry whose socket refuses is stale and removed. */
export async function listSupervisors(dir = registryDir()): Promise<Listed[]> {
  const answers = await Promise.all(
    listEntries(dir).map(async (entry): Promise<Listed | undefined> => {
      try {
        const response = await controlRequest(entry.socket, 'GET', '/status', undefined, STATUS_TIMEOUT_MS);
        return { ...entry, state: appsOf(response.json as SystemStatus | undefined) };
      } catch (error) {
        if (error instanceof NoSupervisorError) {
          forgetEntry(entry.pid, dir);
          return undefined;
        }
        return { ...entry, state: undefined };
      }
    }),
  );
  return answers.filter((entry): entry is Listed => entry !== undefined);
}

function appsOf(status: SystemStatus | undefined): ListedApp[] | undefined {
  if (status === undefined || !Array.isArray(status.apps)) return undefined;
  return status.apps.map((app) => ({
    name: app.name,
    ready: (app.workers as ReadonlyArray<{ state: string }>).filter((worker) => worker.state === 'ready').length,
    desired: app.desired,
  }));
}
