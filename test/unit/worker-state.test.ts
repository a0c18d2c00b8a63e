import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialTransition, transition, type TransitionContext } from '../../src/core/worker-state.js';
import type { WorkerEvent, WorkerState } from '../../src/core/types.js';

const ctx: TransitionContext = { readyTimeoutMs: 30_000, killTimeoutMs: 10_000, drainTimeoutMs: 2000, restartDelayMs: 400, restartOnCrash: true };
const exit: WorkerEvent = { type: 'exit', code: 1, signal: null };

// [from, event, context overrides, expected state, expected effect types]
const table: Array<[WorkerState, WorkerEvent, Partial<TransitionContext>, WorkerState | undefined, string[]]> = [
  ['starting', { type: 'ready' }, {}, 'ready', ['add-to-rotation']],
  ['starting', { type: 'timeout' }, {}, 'stopping', ['report-failed-start', 'signal', 'arm-timer']],
  ['starting', exit, {}, 'backoff', ['report-crash', 'arm-timer']],
  ['starting', exit, { restartOnCrash: false }, 'exited', ['report-crash', 'forget']],
  ['starting', { type: 'retire' }, {}, 'stopping', ['signal', 'arm-timer']],
  ['ready', { type: 'retire' }, {}, 'draining', ['remove-from-rotation', 'begin-drain', 'arm-timer']],
  ['ready', exit, {}, 'backoff', ['remove-from-rotation', 'report-crash', 'arm-timer']],
  ['ready', { type: 'terminate' }, {}, 'stopping', ['remove-from-rotation', 'signal', 'arm-timer']],
  ['ready', { type: 'timeout' }, {}, undefined, []],
  ['draining', { type: 'drained' }, {}, 'stopping', ['signal', 'arm-timer']],
  ['draining', { type: 'timeout' }, {}, 'stopping', ['signal', 'arm-timer']],
  ['draining', exit, {}, 'exited', ['forget']],
  ['draining', { type: 'terminate' }, {}, 'stopping', ['signal']],
  ['stopping', { type: 'timeout' }, {}, 'stopping', ['signal']],
  ['stopping', exit, {}, 'exited', ['forget']],
  ['stopping', { type: 'ready' }, {}, undefined, []],
  ['backoff', { type: 'timeout' }, {}, 'starting', ['launch', 'arm-timer']],
  ['backoff', { type: 'retire' }, {}, 'exited', ['forget']],
  ['exited', exit, {}, undefined, []],
];

describe('worker lifecycle table', () => {
  for (const [from, event, overrides, to, effects] of table) {
    it(`${from} --${event.type}${overrides.restartOnCrash === false ? ' (no restart)' : ''}--> ${to ?? 'ignored'}`, () => {
      const result = transition(from, event, { ...ctx, ...overrides });
      assert.equal(result?.state, to);
      assert.deepEqual(result?.effects.map((e) => e.type) ?? [], effects);
    });
  }

  it('a crash arms the restart delay; a drain its deadline; a stop the kill timeout; the kill timeout sends SIGKILL', () => {
    assert.deepEqual(transition('ready', { type: 'retire' }, ctx)?.effects.at(-1), { type: 'arm-timer', ms: 2000 });
    assert.deepEqual(transition('ready', exit, ctx)?.effects.at(-1), { type: 'arm-timer', ms: 400 });
    assert.deepEqual(transition('draining', { type: 'drained' }, ctx)?.effects, [
      { type: 'signal', signal: 'SIGTERM' },
      { type: 'arm-timer', ms: 10_000 },
    ]);
    assert.deepEqual(transition('stopping', { type: 'timeout' }, ctx)?.effects, [
      { type: 'signal', signal: 'SIGKILL', reason: 'did not stop within --kill-timeout' },
    ]);
  });

  it('a new worker launches with the ready deadline', () => {
    assert.deepEqual(initialTransition(ctx), {
      state: 'starting',
      effects: [{ type: 'launch' }, { type: 'arm-timer', ms: 30_000 }],
    });
  });
});
