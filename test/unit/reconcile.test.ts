import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconcile, type WorkerView } from '../../src/core/reconcile.js';

const w = (id: number, slot: number, state: WorkerView['state']): WorkerView => ({ id, slot, state });

describe('reconcile', () => {
  const cases: Array<[string, number, WorkerView[], ReturnType<typeof reconcile>]> = [
    ['fills every empty slot', 3, [], [{ type: 'spawn', slot: 0 }, { type: 'spawn', slot: 1 }, { type: 'spawn', slot: 2 }]],
    ['leaves a full table alone', 2, [w(1, 0, 'ready'), w(2, 1, 'starting')], []],
    ['a backing-off worker keeps its slot (no fork storm)', 1, [w(1, 0, 'backoff')], []],
    ['a draining or stopping worker does not hold its slot', 1, [w(1, 0, 'draining')], [{ type: 'spawn', slot: 0 }]],
    ['scales down from the highest slot', 2, [w(1, 0, 'ready'), w(2, 1, 'ready'), w(3, 2, 'ready'), w(4, 3, 'starting')], [
      { type: 'retire', id: 4 },
      { type: 'retire', id: 3 },
    ]],
    ['keeps the old worker while its replacement starts', 1, [w(1, 0, 'ready'), w(2, 0, 'starting')], []],
    ['retires the old worker once the replacement is ready', 1, [w(1, 0, 'ready'), w(2, 0, 'ready')], [{ type: 'retire', id: 1 }]],
    ['a crashed old worker is retired too once the new one is ready', 1, [w(1, 0, 'backoff'), w(2, 0, 'ready')], [{ type: 'retire', id: 1 }]],
    ['fills a hole in the middle', 3, [w(1, 0, 'ready'), w(3, 2, 'ready')], [{ type: 'spawn', slot: 1 }]],
  ];
  for (const [name, desired, workers, expected] of cases) {
    it(name, () => assert.deepEqual(reconcile(desired, workers), expected));
  }
});
