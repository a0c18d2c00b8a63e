// Worker output in the master: log files rotated by size with retention, and
// `ctl logs` from the master's ring buffer, with every line counted.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ctlChild, killCtlChildren } from '../helpers/ctl-child.js';
import { FIXTURES, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const TIMEOUT = { timeout: 90_000 };
after(async () => {
  killCtlChildren();
  await killAll();
});

interface Record {
  app: string;
  slot: number;
  pid: number;
  generation: number;
  stream: string;
  msg: string;
}

const WORKERS = 4;
const LINES = 5000; // per worker: 20,000 lines at 10,000 lines/s in all
const KEEP = 3;

describe('log files and ctl logs', () => {
  it('rotates by size keeping 3 old files; no line lost or duplicated at 10k lines/s from 4 workers', TIMEOUT, async () => {
    const dir = tempDir();
    const go = join(dir, 'go');
    const logDir = join(dir, 'logs');
    const sup = await startSupervise(
      ['-w', String(WORKERS), '--log-file', join(logDir, 'lines.log'), '--log-max-size', '256K', '--log-keep', String(KEEP), join(FIXTURES, 'print-lines.cjs')],
      { readyWorkers: WORKERS, env: { GO_FILE: go, LINES: String(LINES), RATE: String(10_000 / WORKERS) } },
    );
    // Every line through the master, as `ctl logs -f` sees it.
    // It first prints the ring's latest lines: each worker's "waiting" line says it is connected.
    const follower = ctlChild(['--control', sup.control, 'logs', '-f', '-n', String(WORKERS), '--json']);
    await waitFor(() => follower.out.filter((l) => l.includes('"msg":"waiting ')).length === WORKERS, { message: 'the follower to connect' });
    writeFileSync(go, '');
    const isLine = (r: Record) => r.msg.startsWith('line ');
    await waitFor(() => follower.out.filter((l) => l.includes('"msg":"done ')).length === WORKERS, {
      timeoutMs: 60_000,
      message: 'every worker to finish',
    });

    const dropped = follower.out.filter((l) => l.includes('"type":"dropped"'));
    assert.deepEqual(dropped, [], 'the follower kept up');
    const followed = follower.out.map((l) => JSON.parse(l) as Record).filter(isLine);
    assert.equal(followed.length, WORKERS * LINES, 'ctl logs -f saw every line once');
    assert.equal(new Set(followed.map((r) => r.msg)).size, WORKERS * LINES, 'no duplicate');
    for (const record of followed) {
      assert.equal(record.app, 'print-lines');
      assert.equal(record.generation, 1);
      assert.equal(record.stream, 'stdout');
      assert.equal(Number(record.msg.split(' ')[1]), record.slot, 'tagged with the slot that printed it');
      assert.ok(record.pid > 0);
    }

    // The files hold the master's latest lines, in the order it took them: the same
    // order `ctl logs -f` saw. The lines on disk are therefore exactly the follower's
    // last ones, each once — a contiguous run ending with its last line; older ones
    // went with the removed files. (Not per worker: a worker the machine starved
    // finishes later, and the files with its last lines may be the ones removed.)
    const files = () => readdirSync(logDir).filter((f) => /^lines\.\d+\.log$/.test(f)).sort((a, b) => fileNumber(a) - fileNumber(b));
    const records = () => files().flatMap((f) => readFileSync(join(logDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record));
    const lastFollowed = follower.out.at(-1) ?? '';
    await waitFor(() => JSON.stringify(records().at(-1)) === JSON.stringify(JSON.parse(lastFollowed)), { timeoutMs: 10_000, message: 'the last line on disk' });
    // pino-roll removes old files after it has opened the next one, asynchronously.
    const describeFiles = () => files().map((f) => `${f} (${readFileSync(join(logDir, f)).length} bytes)`).join(', ');
    await waitFor(() => files().length === KEEP + 1, { message: `${KEEP} old files and the active one, not ${describeFiles()}` });
    const kept = files();
    assert.ok(fileNumber(kept[0] ?? '') > 1, `older files were removed: ${describeFiles()}`);
    const onDisk = records().map((r) => `${r.slot} ${r.msg}`);
    const inOrder = follower.out.map((l) => JSON.parse(l) as Record).map((r) => `${r.slot} ${r.msg}`);
    assert.ok(onDisk.length > LINES / 2 && onDisk.length < WORKERS * LINES, `retention removed the oldest lines, not all: ${onDisk.length} on disk`);
    assert.deepEqual(onDisk, inOrder.slice(-onDisk.length), 'the latest lines, none lost or repeated');
    // pino-roll switches files at its next drain after the limit, so one file runs
    // a little over 256K and the next one is that much shorter; none grows without bound.
    const sizes = kept.slice(0, -1).map((f) => readFileSync(join(logDir, f)).length);
    assert.ok(sizes.every((size) => size < 1024 * 1024), `rotated files near 256K: ${sizes.join(', ')}`);
    assert.ok(sizes.reduce((a, b) => a + b, 0) / sizes.length > 128 * 1024, `rotated files near 256K: ${sizes.join(', ')}`);

    // ctl logs -n: the latest lines from the ring, as the workers printed them.
    const tail = ctlChild(['--control', sup.control, 'logs', '-n', '5']);
    assert.equal(await tail.done, 0);
    assert.equal(tail.out.length, 5);
    assert.match(tail.out.at(-1) ?? '', /^\[print-lines w\d \d+\] done \d$/);
  });

  it('a 10 MB line arrives whole, in the log file and through ctl logs', TIMEOUT, async () => {
    const dir = tempDir();
    const script = join(dir, 'big-line.cjs');
    writeFileSync(
      script,
      "require('node:http').createServer((q, s) => s.end()).listen(Number(process.env.PORT), () => {\n" +
        "  process.stdout.write('<' + 'y'.repeat(10 * 1024 * 1024) + '>\\nafter\\n');\n});\n",
    );
    const logFile = join(dir, 'big.log');
    const sup = await startSupervise(['-w', '1', '--log-file', logFile, script], { readyWorkers: 1 });
    await sup.waitForLog((l) => l.msg === 'after', 20_000);
    const tail = ctlChild(['--control', sup.control, 'logs', '-n', '2', '--json']);
    assert.equal(await tail.done, 0);
    const [big, next] = tail.out.map((l) => JSON.parse(l) as Record);
    assert.equal(big?.msg.length, 10 * 1024 * 1024 + 2);
    assert.ok(big?.msg.startsWith('<y') && big.msg.endsWith('y>'));
    assert.equal(next?.msg, 'after');
    const onDisk = await waitFor(() => {
      const lines = readFileSync(join(dir, 'big.1.log'), 'utf8').split('\n').filter(Boolean);
      return lines.length === 2 ? lines.map((l) => JSON.parse(l) as Record) : undefined;
    }, { timeoutMs: 10_000, message: 'both lines in the file' });
    assert.equal(onDisk[0]?.msg.length, 10 * 1024 * 1024 + 2);
  });
});

function fileNumber(name: string): number {
  return Number(/\.(\d+)\.log$/.exec(name)?.[1] ?? 0);
}
