// Desired worker count + the worker table -> which slots to fill and which workers
// to retire. Pure; gunicorn's manage_workers as a function.
//
// Rules:
//  - every slot below `desired` holds exactly one worker (starting, ready or backoff);
//    an empty slot is filled;
//  - a slot at or above `desired` is emptied, highest slot first;
//  - when a slot holds two workers (a reload or restart candidate next to the worker it
//    replaces), the older ones are retired once the newest is ready, never before:
//    capacity does not drop while the new code is starting.

import { holdsSlot } from './worker-state.js';
import type { WorkerId } from './types.js';
import type { WorkerState } from './worker-state.js';

export interface WorkerView {
  readonly id: WorkerId;
  readonly slot: number;
  readonly state: WorkerState;
}

export type ReconcileAction =
  | { readonly type: 'spawn'; readonly slot: number }
  | { readonly type: 'retire'; readonly id: WorkerId };

export function reconcile(desired: number, workers: readonly WorkerView[]): ReconcileAction[] {
  const bySlot = new Map<number, WorkerView[]>();
  for (const worker of workers) {
    if (!holdsSlot(worker.state)) continue;
    const list = bySlot.get(worker.slot);
    if (list) list.push(worker);
    else bySlot.set(worker.slot, [worker]);
  }

  const actions: ReconcileAction[] = [];
  for (let slot = 0; slot < desired; slot++) {
    const holders = bySlot.get(slot);
    if (!holders) {
      actions.push({ type: 'spawn', slot });
      continue;
    }
    // Ids grow with time: the highest id is the newest worker of the slot.
    const newest = holders.reduce((a, b) => (b.id > a.id ? b : a));
    if (newest.state !== 'ready') continue;
    for (const worker of holders) {
      if (worker !== newest) actions.push({ type: 'retire', id: worker.id });
    }
  }

  const surplus = [...bySlot.keys()].filter((slot) => slot >= desired).sort((a, b) => b - a);
  for (const slot of surplus) {
    for (const worker of bySlot.get(slot) ?? []) actions.push({ type: 'retire', id: worker.id });
  }
  return actions;
}
