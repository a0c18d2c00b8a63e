import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialTransition, transition, type TransitionContext } from '../../src/core/worker-state.js';
import type { WorkerEvent, WorkerState } from '../../src/core/worker-state.js';

const ctx: TransitionContext = { readyTimeoutMs: 30_000, stopRemainingMs: 10_000, drainTimeoutMs: 2000, mustWait: false, restartOnCrash: true };
const hung: WorkerEvent = { type: 'hung', reason: 'no heartbeat' };
const exit: WorkerEvent = { type: 'exit', code: 1, signal: null };

// [from, event, context overrides, expected state, expected effect types]
const table: Array<[WorkerState, WorkerEvent, Partial<TransitionContext>, WorkerState | undefined, string[]]> = [
  ['starting', { type: 'ready' }, {}, 'ready', ['add-to-rotation']],
  ['starting', { type: 'timeout' }, {}, 'stopping', ['report-failed-start', 'signal', 'arm-timer']],
  ['starting', exit, {}, 'backoff', ['report-crash', 'arm-restart']],
  ['starting', hung, {}, undefined, []],
  ['starting', exit, { restartOnCrash: false }, 'exited', ['report-crash', 'forget']],
  ['starting', { type: 'retire' }, {}, 'stopping', ['signal', 'arm-timer']],
  ['ready', { type: 'retire' }, {}, 'draining', ['remove-from-rotation', 'begin-drain', 'arm-timer']],
  ['ready', exit, {}, 'backoff', ['remove-from-rotation', 'report-crash', 'arm-restart']],
  ['ready', hung, {}, 'stopping', ['remove-from-rotation', 'report-hung', 'signal', 'arm-timer']],
  ['ready', { type: 'terminate' }, {}, 'stopping', ['remove-from-rotation', 'signal', 'arm-timer']],
  ['ready', { type: 'timeout' }, {}, undefined, []],
  ['draining', { type: 'drained' }, {}, 'stopping', ['signal', 'arm-timer']],
  ['draining', { type: 'timeout' }, {}, 'stopping', ['signal', 'arm-timer']],
  ['draining', exit, {}, 'exited', ['forget']],
  ['draining', { type: 'terminate' }, {}, 'stopping', ['signal']],
  ['draining', hung, {}, 'stopping', ['signal', 'arm-timer']],
  ['stopping', { type: 'timeout' }, {}, 'stopping', ['signal']],
  ['stopping', exit, {}, 'exited', ['forget']],
  ['stopping', hung, {}, 'stopping', ['signal', 'arm-timer']],
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

  it('a drain arms its deadline; SIGTERM after a drain gets only what is left of the kill budget; the kill timeout sends SIGKILL', () => {
    assert.deepEqual(transition('ready', { type: 'retire' }, ctx)?.effects.at(-1), { type: 'arm-timer', ms: 2000 });
    assert.deepEqual(transition('draining', { type: 'drained' }, { ...ctx, stopRemainingMs: 700 })?.effects, [
      { type: 'signal', signal: 'SIGTERM' },
      { type: 'arm-timer', ms: 700 },
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

  it('a new worker of a slot still backing off waits through the same restart effect as a crash', () => {
    assert.deepEqual(initialTransition({ ...ctx, mustWait: true }), { state: 'backoff', effects: [{ type: 'arm-restart' }] });
  });

  it('a hung worker is killed at once, whatever it was doing', () => {
    for (const from of ['ready', 'draining', 'stopping'] as const) {
      assert.deepEqual(transition(from, hung, ctx)?.effects.find((e) => e.type === 'signal'), { type: 'signal', signal: 'SIGKILL', reason: 'hung' });
    }
  });
});
