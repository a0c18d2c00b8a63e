import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeSlots,
  matchRoute,
  type Reply,
  type RouteMatch,
  validateScaleRequest,
  validateSlot,
} from '../../src/control/handlers.js';
import { createMetrics } from '../../src/control/metrics.js';
import { singleAppSystem } from '../../src/control/single-app.js';
import { createFakeSupervisor, makeWorker } from '../helpers/fake-supervisor.js';

describe('validateScaleRequest', () => {
  const accepted: Array<[unknown, number, object]> = [
    [{ workers: 1 }, 4, { workers: 1 }],
    [{ workers: 1024 }, 4, { workers: 1024 }],
    [{ delta: 2 }, 4, { delta: 2 }],
    [{ delta: -3 }, 4, { delta: -3 }],
    [{ delta: 1020 }, 4, { delta: 1020 }],
  ];
  for (const [body, desired, expected] of accepted) {
    it(`accepts ${JSON.stringify(body)} with ${desired} desired`, () => {
      assert.deepEqual(validateScaleRequest(body, desired), expected);
    });
  }

  const rejected: Array<[unknown, number, RegExp]> = [
    [undefined, 4, /JSON object \{"workers": n\} or \{"delta": ±n\}/],
    [null, 4, /JSON object/],
    [[3], 4, /JSON object/],
    ['3', 4, /JSON object/],
    [{}, 4, /JSON object/],
    [{ workers: 0 }, 4, /"workers" must be an integer from 1 to 1024 \(got 0\)/],
    [{ workers: 1025 }, 4, /from 1 to 1024 \(got 1025\)/],
    [{ workers: 2.5 }, 4, /got 2\.5/],
    [{ workers: '3' }, 4, /got "3"/],
    [{ workers: null }, 4, /got null/],
    [{ workers: 1e300 }, 4, /"workers" must be an integer/],
    [{ delta: 0 }, 4, /"delta" must be a non-zero integer \(got 0\)/],
    [{ delta: '+1' }, 4, /"delta" must be a non-zero integer \(got "\+1"\)/],
    [{ delta: -4 }, 4, /"delta" -4 would make 0 workers \(now 4\); the result must be from 1 to 1024/],
    [{ delta: 1021 }, 4, /"delta" \+1021 would make 1025 workers/],
    [{ workers: 2, delta: 1 }, 4, /either "workers" or "delta", not both/],
    [{ worker: 2 }, 4, /unknown field "worker"/],
  ];
  for (const [body, desired, message] of rejected) {
    it(`rejects ${JSON.stringify(body) ?? 'no body'}`, () => {
      const result = validateScaleRequest(body, desired);
      assert.equal(typeof result, 'string');
      assert.match(result as string, message);
    });
  }
});

describe('validateSlot', () => {
  const workers = [0, 1, 2, 3].map((slot) => makeWorker(slot));

  it('accepts a slot that a worker holds', () => {
    assert.equal(validateSlot('2', workers), 2);
  });

  it('answers 400 for what is not a slot number, naming the bad value', () => {
    for (const text of ['abc', '-1', '1.5', '99999', '']) {
      const result = validateSlot(text, workers);
      assert.equal(typeof result, 'object', text);
      assert.equal((result as { status: number }).status, 400);
      assert.match((result as { error: string }).error, /slot must be a whole number/);
    }
  });

  it('answers 404 for a slot no worker holds, listing the slots in use', () => {
    assert.deepEqual(validateSlot('7', workers), { status: 404, error: 'no worker in slot 7; slots in use: 0–3' });
  });
});

describe('describeSlots', () => {
  it('compresses consecutive slots into ranges', () => {
    const slots = (list: number[]) => describeSlots(list.map((slot) => makeWorker(slot)));
    assert.equal(slots([]), 'none');
    assert.equal(slots([0]), '0');
    assert.equal(slots([3, 0, 1, 2, 2, 7, 9, 10]), '0–3, 7, 9–10');
  });
});

describe('matchRoute', () => {
  it('finds every endpoint and captures the slot', () => {
    for (const [method, path] of [
      ['GET', '/status'],
      ['POST', '/scale'],
      ['POST', '/reload'],
      ['POST', '/stop'],
      ['GET', '/metrics'],
      ['GET', '/status/'],
      ['HEAD', '/status'],
    ] as const) {
      assert.ok('handler' in matchRoute(method, path), `${method} ${path}`);
    }
    const restart = matchRoute('POST', '/workers/3/restart');
    assert.ok('handler' in restart);
    assert.deepEqual(restart.params, { slot: '3' });
  });

  it('answers 404 for an unknown path, listing the endpoints', () => {
    const reply = replyOf(matchRoute('GET', '/nope'));
    assert.equal(reply.status, 404);
    assert.match(JSON.parse(reply.body).error, /no such endpoint: GET \/nope; endpoints: GET \/status, POST \/scale/);
    assert.equal(replyOf(matchRoute('POST', '/workers//restart')).status, 404);
  });

  it('answers 405 with Allow for a known path and the wrong method', () => {
    const reply = replyOf(matchRoute('GET', '/scale'));
    assert.equal(reply.status, 405);
    assert.equal(reply.headers?.['allow'], 'POST');
    assert.equal(JSON.parse(reply.body).error, 'GET is not allowed on /scale; use POST');
  });
});

describe('handlers', () => {
  async function call(method: string, path: string, body?: unknown, fake = createFakeSupervisor()) {
    const match = matchRoute(method, path);
    if (!('handler' in match)) throw new Error(`no route ${method} ${path}`);
    const reply = await match.handler({ system: singleAppSystem(fake), metrics: createMetrics(fake), body, params: match.params });
    return { reply, json: reply.contentType.startsWith('application/json') ? JSON.parse(reply.body) : undefined, fake };
  }

  it('GET /status answers the supervisor status', async () => {
    const { reply, json } = await call('GET', '/status');
    assert.equal(reply.status, 200);
    assert.equal(json.pid, 4242);
    assert.equal(json.workers.length, 4);
  });

  it('POST /scale validates before calling the supervisor', async () => {
    const { reply, json, fake } = await call('POST', '/scale', { workers: 0 });
    assert.equal(reply.status, 400);
    assert.match(json.error, /"workers" must be an integer from 1 to 1024/);
    assert.deepEqual(fake.calls, []);
  });

  it('POST /scale answers 200 with the new count, or 500 with the reason', async () => {
    const ok = await call('POST', '/scale', { delta: 2 });
    assert.equal(ok.reply.status, 200);
    assert.deepEqual(ok.json, { ok: true, workers: 6 });

    const fake = createFakeSupervisor();
    fake.failScaleWith = 'worker 4 was not ready within 30000 ms';
    const failed = await call('POST', '/scale', { workers: 5 }, fake);
    assert.equal(failed.reply.status, 500);
    assert.equal(failed.json.ok, false);
    assert.match(failed.json.error, /not ready within/);
  });

  it('POST /reload answers 200 {ok, generation}, or 500 {ok:false, error}', async () => {
    const ok = await call('POST', '/reload');
    assert.equal(ok.reply.status, 200);
    assert.deepEqual(ok.json, { ok: true, generation: 2 });

    const fake = createFakeSupervisor();
    fake.failReloadWith = 'worker 0 crashed while starting';
    const failed = await call('POST', '/reload', undefined, fake);
    assert.equal(failed.reply.status, 500);
    assert.deepEqual(failed.json, { ok: false, error: 'worker 0 crashed while starting', generation: 1 });
  });

  it('POST /workers/<slot>/restart restarts a known slot and 404s an unknown one', async () => {
    const ok = await call('POST', '/workers/1/restart');
    assert.equal(ok.reply.status, 200);
    assert.deepEqual(ok.json, { ok: true, slot: 1 });
    assert.deepEqual(ok.fake.calls, ['restart 1']);

    const unknown = await call('POST', '/workers/9/restart');
    assert.equal(unknown.reply.status, 404);
    assert.deepEqual(unknown.fake.calls, []);
  });

  it('POST /stop answers 202 and stops only after the reply', async () => {
    const { reply, json, fake } = await call('POST', '/stop');
    assert.equal(reply.status, 202);
    assert.deepEqual(json, { ok: true, pid: 4242 });
    assert.equal(fake.stopped, false);
    await reply.afterSend?.();
    assert.equal(fake.stopped, true);
  });

  it('GET /metrics answers Prometheus text', async () => {
    const { reply } = await call('GET', '/metrics');
    assert.equal(reply.status, 200);
    assert.match(reply.contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(reply.body, /^supervise_workers_desired\{app="app"\} 4$/m);
  });
});

function replyOf(match: RouteMatch): Reply {
  assert.ok('reply' in match);
  return match.reply;
}
