// `supervise ctl events` against a real supervisor: a crash, a reload and a scale
// appear in its output as they happen, each as one readable line.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ctlChild, killCtlChildren } from '../helpers/ctl-child.js';
import { controlCall, FIXTURES, httpGet, killAll, startSupervise } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 60_000 };

after(async () => {
  killCtlChildren();
  await killAll();
});

describe('ctl events', () => {
  it('shows a crash with its reason, a reload and a scale as they happen', TIMEOUT, async () => {
    const app = join(FIXTURES, 'crash-on-request.cjs');
    const sup = await startSupervise(['-w', '2', app], { readyWorkers: 2 });
    const events = ctlChild(['--control', sup.control, 'events']);
    await waitFor(() => events.err.some((line) => /watching supervisor pid \d+/.test(line)), { message: 'the stream to start' });
    const seen = (pattern: RegExp, message: string) =>
      waitFor(() => events.out.find((line) => pattern.test(line)), { timeoutMs: 20_000, message: `${message}; got:\n${events.out.join('\n')}` });

    // A crash: the line names the worker, the exit code and the last stderr line.
    const crashed = await httpGet(sup.port, '/crash');
    assert.equal(crashed.status, 200);
    await seen(/ crash-on-request {2}worker \d \(pid \d+\) crashed: exited with code 3/, 'the crash');
    await seen(/fatal: the database went away/, 'the crash reason');
    await seen(/worker \d \(pid \d+\) starting -> ready/, 'the replacement ready');

    // A reload: started, each slot, done, in that order.
    const reload = await controlCall(sup.control, 'POST', '/reload');
    assert.equal(reload.status, 200, reload.body);
    const started = events.out.findIndex((line) => /reload to generation 2 started/.test(line));
    assert.ok(started >= 0, events.out.join('\n'));
    const slot0 = events.out.findIndex((line) => /reload to generation 2: slot 0 replaced/.test(line));
    const slot1 = events.out.findIndex((line) => /reload to generation 2: slot 1 replaced/.test(line));
    const done = await seen(/reload done: generation 2 is serving/, 'the reload end');
    assert.ok(started < slot0 && slot0 < slot1 && slot1 < events.out.indexOf(done), events.out.join('\n'));

    // A scale, from the command line.
    const scale = await controlCall(sup.control, 'POST', '/scale', { workers: 3 });
    assert.equal(scale.status, 200, scale.body);
    await seen(/scale 2 -> 3 workers/, 'the scale');
    await seen(/worker 2 \(pid \d+\) starting -> ready/, 'the new worker');
  });

  it('--json prints one JSON object per line, tagged with time and app', TIMEOUT, async () => {
    const sup = await startSupervise(['-w', '1', join(FIXTURES, 'http-app.cjs')], { readyWorkers: 1 });
    const events = ctlChild(['--control', sup.control, 'events', '--json']);
    await waitFor(() => events.out.some((line) => line.includes('"type":"hello"')), { message: 'hello' });
    await controlCall(sup.control, 'POST', '/scale', { workers: 2 });
    const line = await waitFor(() => events.out.find((l) => l.includes('"type":"scale"')), { message: 'scale event' });
    const event = JSON.parse(line) as Record<string, unknown>;
    assert.equal(event['app'], 'http-app');
    assert.equal(event['from'], 1);
    assert.equal(event['to'], 2);
    assert.ok(!Number.isNaN(Date.parse(String(event['time']))));
  });
});
