// SIGCHLD tells the liveness checks when a child stopped, continued or exited
// (child-state.ts): a stopped child is noticed without polling /proc.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { onChildStateChange } from '../../src/health/child-state.js';
import { readProcStat } from '../../src/health/proc-stat.js';
import { waitFor } from '../helpers/wait-for.js';

describe('onChildStateChange', () => {
  it('is called when a child is stopped, continued and killed; not after its removal', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid as number;
    let calls = 0;
    const stop = onChildStateChange(() => calls++);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(pid, 'SIGSTOP');
      await waitFor(() => calls >= 1, { timeoutMs: 5000, message: 'told of the stop' });
      assert.equal(readProcStat(pid)?.state, 'T');
      const afterStop = calls;
      process.kill(pid, 'SIGCONT');
      await waitFor(() => calls > afterStop, { timeoutMs: 5000, message: 'told of the continue' });
      stop();
      const afterRemoval = calls;
      let other = 0;
      const stopOther = onChildStateChange(() => other++);
      child.kill('SIGKILL');
      await exited;
      // The exit's notification reached the listener still registered, and only it.
      await waitFor(() => other >= 1, { timeoutMs: 5000, message: 'told of the exit' });
      stopOther();
      assert.equal(calls, afterRemoval, 'no call after the removal');
    } finally {
      stop();
      child.kill('SIGKILL');
    }
  });
});
