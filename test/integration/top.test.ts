// `supervise top` as a person sees it: in a real terminal (tmux), read with
// capture-pane, driven with send-keys. It shows the system, follows a `ctl scale`
// within a second, and its keys scale, reload and restart.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, controlCall, FIXTURES, killAll, startSupervise } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 90_000 };
const session = `supervise-top-test-${process.pid}`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', session);
}

function alive(): boolean {
  try {
    tmux('has-session', '-t', session);
    return true;
  } catch {
    return false;
  }
}

after(async () => {
  if (alive()) tmux('kill-session', '-t', session);
  await killAll();
});

/** The worker rows of the screen: [app, slot, pid, port, state, …]. */
function workerRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => /^[ >] +metrics-app +\d+ /.test(line))
    .map((line) => line.replace(/^>/, ' ').trim().split(/\s+/));
}

describe('supervise top (under tmux)', () => {
  it('shows the system, follows a ctl scale within 1 s, and its keys scale, reload and restart', TIMEOUT, async () => {
    const sup = await startSupervise(['-w', '2', join(FIXTURES, 'metrics-app.cjs')], { readyWorkers: 2 });
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', `${process.execPath} ${BIN} top --control ${sup.control}`);
    const seen = (pattern: RegExp, message: string, timeoutMs = 10_000) =>
      waitFor(() => (pattern.test(screen()) ? screen() : undefined), { timeoutMs, message: `${message}; screen:\n${screen()}` });

    // The app line (ready/desired, generation) and one row per worker, with its pid.
    const first = await seen(/metrics-app +2\/2 +1 /, 'the app line');
    const status = await sup.status();
    const rows = workerRows(first);
    assert.deepEqual(rows.map((row) => row[1]), ['0', '1']);
    assert.deepEqual(rows.map((row) => Number(row[2])), status.workers.map((w) => w.pid));
    assert.ok(rows.every((row) => row[4] === 'ready'));

    // A scale from another terminal shows within a second of its answer.
    const scaled = await controlCall(sup.control, 'POST', '/scale', { workers: 3 });
    assert.equal(scaled.status, 200, scaled.body);
    const shownAt = Date.now();
    await seen(/metrics-app +3\/3 /, 'the scale to 3', 1000);
    assert.ok(Date.now() - shownAt <= 1000);
    assert.equal(workerRows(screen()).length, 3);

    // "+": one worker more.
    tmux('send-keys', '-t', session, '+');
    await seen(/metrics-app +4\/4 /, 'the "+" key to scale to 4');
    assert.equal((await sup.status()).desired, 4);

    // "x": the selected worker (slot 0) is replaced.
    const before = workerRows(screen())[0]?.[2];
    tmux('send-keys', '-t', session, 'x');
    await waitFor(async () => (await sup.status()).workers.find((w) => w.slot === 0 && w.state === 'ready')?.pid !== Number(before), {
      timeoutMs: 15_000,
      message: 'slot 0 replaced',
    });
    await seen(/restart metrics-app worker 0: done/, 'the restart message');

    // "r": a rolling reload; the screen shows generation 2 on every worker.
    tmux('send-keys', '-t', session, 'r');
    await seen(/reload metrics-app: done/, 'the reload to finish', 30_000);
    await seen(/metrics-app +4\/4 +2 /, 'generation 2');
    // GEN is the 13th token ("53.1 MiB" is two).
    await waitFor(() => workerRows(screen()).every((row) => row[12] === '2'), { message: `every worker on generation 2:\n${screen()}` });

    // Narrower terminal: the view is redrawn to fit.
    tmux('resize-window', '-t', session, '-x', '70', '-y', '20');
    await waitFor(() => screen().split('\n').every((line) => [...line].length <= 70) && /metrics-app +4\/4/.test(screen()), {
      message: `a 70-column screen:\n${screen()}`,
    });

    // "q" leaves: the session (whose only process is top) ends.
    tmux('send-keys', '-t', session, 'q');
    await waitFor(() => !alive(), { message: 'top to exit on q' });
  });
});
