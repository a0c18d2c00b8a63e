import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import { INSTANCE_VAR, signalTaggedMany } from '../../src/launchers/lineage.js';
import { flushTagSignals, signalTaggedSoon } from '../../src/launchers/tag-signals.js';
import { waitFor } from '../helpers/wait-for.js';

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

/** A sleeping node process carrying `tag` (another variable holds the tag's text too: it must not count). */
function tagged(tag: string): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
    env: { ...process.env, OTHER: `${INSTANCE_VAR}=${tag}9`, [INSTANCE_VAR]: tag },
  });
  assert.ok(child.pid !== undefined);
  children.push(child);
  return child as ChildProcess & { pid: number };
}

const tagPrefix = `${process.pid}99.`;
const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

describe('signals to tagged processes', () => {
  test('one pass signals every process whose tag is exactly one of those asked for, except the one named', async () => {
    const a = tagged(`${tagPrefix}1`);
    const b = tagged(`${tagPrefix}2`);
    const longer = tagged(`${tagPrefix}12`); // "…1" must not match "…12"
    const spared = tagged(`${tagPrefix}3`);
    await waitFor(() => [a, b, longer, spared].every((c) => c.pid > 0));
    // Their environments are readable once exec'd: give node a moment to start.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const count = signalTaggedMany(new Map([
      [`${tagPrefix}1`, { signal: 'SIGTERM' as const }],
      [`${tagPrefix}2`, { signal: 'SIGKILL' as const }],
      [`${tagPrefix}3`, { signal: 'SIGKILL' as const, except: spared.pid }],
    ]));
    assert.equal(count, 2);
    await waitFor(() => exited(a) && exited(b), { message: 'the two tagged processes signalled' });
    assert.equal(a.signalCode, 'SIGTERM');
    assert.equal(b.signalCode, 'SIGKILL');
    assert.ok(!exited(longer), 'a longer tag with the same prefix is not signalled');
    assert.ok(!exited(spared), 'the excepted pid is not signalled');
  });

  test('requests made together are served by the next pass; a flush runs it at once', async () => {
    const group = [tagged(`${tagPrefix}21`), tagged(`${tagPrefix}22`), tagged(`${tagPrefix}23`)];
    await new Promise((resolve) => setTimeout(resolve, 200));
    group.forEach((_child, index) => signalTaggedSoon(`${tagPrefix}2${index + 1}`, 'SIGTERM'));
    signalTaggedSoon(`${tagPrefix}23`, 'SIGKILL'); // supersedes its SIGTERM
    flushTagSignals();
    await waitFor(() => group.every(exited), { message: 'every tagged process signalled' });
    assert.deepEqual(group.map((child) => child.signalCode), ['SIGTERM', 'SIGTERM', 'SIGKILL']);
  });
});
