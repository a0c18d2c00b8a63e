// One procedure for every replacement — reload, `ctl restart`, --max-memory,
// a worker unhealthy for too long: for each slot, start the new worker next to
// the old one, wait until it is ready, then let the reconciler retire the old one
// (drain, then stop). Capacity never drops below N-1 ready workers; with one
// worker the new one starts (on a spare port in spawn mode) before the old drains.
// A new worker that crashes or is not ready in time aborts: the old one keeps serving.

import { foreignHolder, sparePort } from './port-check.js';
import type { Supervisor } from './supervisor.js';
import type { WorkerRecord } from './worker-record.js';
import type { ReloadResult } from '../core/types.js';

export type Outcome =
  | { readonly ok: true; /** The workers it replaced, now draining or stopping. */ readonly retired: readonly WorkerRecord[] }
  | { readonly ok: false; readonly error: string };

/**
 * @param awaitExit resolve only once the replaced worker has exited (not only left
 *   the rotation). Spawn mode always waits: the next candidate needs its port.
 */
export async function replaceSlot(supervisor: Supervisor, slot: number, awaitExit = true): Promise<Outcome> {
  const previous = supervisor.holders(slot);
  if (supervisor.config.mode === 'spawn' && previous.length > 0 && sparePort(supervisor.portRange()) === undefined) {
    // Ports stay within base-port … base-port+N: with the spare held by someone
    // else, the replacement has nowhere to start next to the old worker.
    return { ok: false, error: `no spare port for a new worker in ${supervisor.config.basePort}…${supervisor.config.basePort + supervisor.desired}${foreignHolder(supervisor.portRange())}` };
  }
  const started = await supervisor.command(() => supervisor.addWorker(slot, true));
  await supervisor.waitFor(() => started.state !== 'starting');
  if (started.state !== 'ready') {
    return { ok: false, error: started.failure ?? `new worker for slot ${slot} did not become ready` };
  }
  // Spawn mode: the next candidate needs the port the old worker is giving back,
  // so that ports stay within base-port … base-port+N.
  if (awaitExit || supervisor.config.mode === 'spawn') await allExited(supervisor, previous);
  return { ok: true, retired: previous };
}

function allExited(supervisor: Supervisor, workers: readonly WorkerRecord[]): Promise<void> {
  return supervisor.waitFor(() => workers.every((worker) => worker.state === 'exited'));
}

export async function rollingReload(supervisor: Supervisor, reason: string): Promise<ReloadResult> {
  const generation = await supervisor.nextGeneration();
  const started = Date.now();
  supervisor.logger.info({ generation, reason }, 'rolling reload started');
  supervisor.emit({ type: 'reload-start', generation, reason });
  const retired: WorkerRecord[] = [];
  // `desired` is read at every step: a scale during the reload applies to the new generation.
  for (let slot = 0; slot < supervisor.desired; slot++) {
    if (supervisor.stopping) return { ok: false, error: 'the supervisor is stopping', generation };
    const holders = supervisor.holders(slot);
    // A slot filled since the reload began (scale up, crash restart) already runs the new code.
    if (holders.length === 0 || holders.every((worker) => worker.generation >= generation)) continue;
    // Cluster mode drains the old workers in parallel; they are awaited below.
    const outcome = await replaceSlot(supervisor, slot, false);
    supervisor.emit({ type: 'reload-slot', generation, slot, ok: outcome.ok });
    if (!outcome.ok) {
      const error = `reload aborted at slot ${slot}, previous workers keep serving: ${outcome.error}`;
      supervisor.logger.error({ generation }, error);
      return { ok: false, error, generation };
    }
    retired.push(...outcome.retired);
  }
  // Done means the old generation is gone, not only out of rotation.
  await allExited(supervisor, retired);
  supervisor.logger.info({ generation, ms: Date.now() - started }, 'rolling reload done');
  return { ok: true, generation };
}
