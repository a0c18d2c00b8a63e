import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseProcStat, readProcStat, readProcStats } from '../../src/health/proc-stat.js';
import { createProcStat } from '../../src/health/usage.js';

const root = mkdtempSync(join(tmpdir(), 'supervise-proc-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A /proc/<pid>/stat line as the kernel writes it (52 fields), with the ones we read set. */
function statLine(pid: number, comm: string, state: string, utime: number, stime: number, start: number, rssPages: number): string {
  const fields = Array.from({ length: 50 }, () => '0');
  fields[0] = state;
  fields[1] = '1'; // ppid
  fields[11] = String(utime);
  fields[12] = String(stime);
  fields[19] = String(start);
  fields[21] = String(rssPages);
  return `${pid} (${comm}) ${fields.join(' ')}\n`;
}

function writeProc(pid: number, line: string): void {
  mkdirSync(join(root, String(pid)), { recursive: true });
  writeFileSync(join(root, String(pid), 'stat'), line);
}

function removeProc(pid: number): void {
  rmSync(join(root, String(pid)), { recursive: true, force: true });
}

describe('/proc/<pid>/stat', () => {
  test('comm with spaces and parentheses does not shift the fields', () => {
    const parsed = parseProcStat(statLine(42, 'a) (b c) S', 'T', 30, 12, 500, 2560));
    assert.deepEqual(parsed, { state: 'T', ppid: 1, cpuTicks: 42, startTicks: 500, rssPages: 2560 });
  });

  test('garbage is no stat', () => {
    for (const line of ['', 'nothing here', '1 (x)', '1 (x) S a b c']) assert.equal(parseProcStat(line), undefined, JSON.stringify(line));
  });

  test('one pass over the known pids; a pid without /proc entry is missing', () => {
    writeProc(101, statLine(101, 'python3', 'S', 1, 1, 10, 100));
    writeProc(102, statLine(102, 'python3', 'R', 5, 0, 10, 200));
    const stats = readProcStats([101, 102, 103], root);
    assert.deepEqual([...stats.keys()], [101, 102]);
    assert.equal(stats.get(102)?.state, 'R');
    assert.equal(readProcStat(103, root), undefined);
  });

  test('this process, from the real /proc: running, with CPU time and pages', { skip: process.platform !== 'linux' }, () => {
    const self = readProcStat(process.pid);
    assert.ok(self !== undefined);
    assert.ok(['R', 'S'].includes(self.state), self.state);
    assert.ok(self.rssPages > 1000, `rss pages ${self.rssPages}`);
  });
});

describe('usage from /proc: CPU % from the deltas of utime+stime over elapsed time', () => {
  test('first reading: the average since the process started; then the delta since the previous reading', async () => {
    // Booted 100 s ago; pid 201 started at 50 s (5000 ticks) and used 10 s of CPU: 20 %.
    writeFileSync(join(root, 'uptime'), '100.00 150.00\n');
    writeProc(201, statLine(201, 'worker', 'S', 700, 300, 5000, 1000));
    let clock = 0;
    const stat = createProcStat({ root, now: () => clock, pageBytes: 4096 });
    const first = await stat([201]);
    assert.equal(Math.round(first['201']?.cpu ?? -1), 20);
    assert.equal(first['201']?.memory, 1000 * 4096);
    // 2 s later it used 1.5 s more (150 ticks): 75 % of a core.
    clock += 2000;
    writeProc(201, statLine(201, 'worker', 'R', 800, 350, 5000, 1500));
    const second = await stat([201]);
    assert.equal(second['201']?.cpu, 75);
    assert.equal(second['201']?.memory, 1500 * 4096);
    // Over 100 %: a process with several busy threads.
    clock += 1000;
    writeProc(201, statLine(201, 'worker', 'R', 950, 400, 5000, 1500));
    assert.equal((await stat([201]))['201']?.cpu, 200);
  });

  test('a pid reused by another process (another start time) starts over; a vanished pid is missing', async () => {
    writeFileSync(join(root, 'uptime'), '100.00 150.00\n');
    writeProc(301, statLine(301, 'worker', 'S', 100, 0, 9000, 10));
    let clock = 0;
    const stat = createProcStat({ root, now: () => clock, pageBytes: 4096 });
    await stat([301]);
    clock += 1000;
    // Another process, started at 99 s, with 0.5 s of CPU: 50 % since its start, not a negative delta.
    writeProc(301, statLine(301, 'other', 'S', 50, 0, 9900, 10));
    assert.equal(Math.round((await stat([301]))['301']?.cpu ?? -1), 50);
    removeProc(301);
    assert.deepEqual(await stat([301]), {});
  });
});

describe('a pass over many pids', () => {
  test('lets the event loop run in between (a request is not held behind a thousand reads)', async () => {
    writeFileSync(join(root, 'uptime'), '100.00 150.00\n');
    const pids = Array.from({ length: 300 }, (_, index) => 1000 + index);
    for (const pid of pids) writeProc(pid, statLine(pid, 'w', 'S', 1, 1, 10, 10));
    const stat = createProcStat({ root, pageBytes: 4096 });
    let otherWorkRan = false;
    const pass = stat(pids).then((stats) => ({ stats, otherWorkRanBefore: otherWorkRan }));
    setImmediate(() => (otherWorkRan = true));
    const { stats, otherWorkRanBefore } = await pass;
    assert.equal(Object.keys(stats).length, 300);
    assert.ok(otherWorkRanBefore, 'other work ran before the pass ended');
    for (const pid of pids) removeProc(pid);
  });
});
