// A log file on a full file system: the supervisor keeps serving, counts the
// lines it cannot write, and writes again by itself once space is freed — with
// a line in the file and an event saying how many were lost. The real thing: a
// 512 KiB tmpfs this test mounts (as root) and unmounts; skipped, saying why,
// where mounting is not allowed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ctlChild, killCtlChildren } from '../helpers/ctl-child.js';
import { FIXTURES, killAll, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const mounts: string[] = [];
after(async () => {
  killCtlChildren();
  // Detached first (lazily: the supervisor may still hold its file), so that killAll can remove the folder.
  for (const mount of mounts) spawnSync('umount', ['-l', mount]);
  await killAll();
});

/** A tiny tmpfs at a new folder, or why there cannot be one here. */
function tinyFileSystem(): { path: string } | { skip: string } {
  const path = join(tempDir('supervise-full-'), 'disk');
  mkdirSync(path);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', path], { encoding: 'utf8' });
  if (mounted.status !== 0) return { skip: `cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || 'mount failed').trim()}): needs root` };
  mounts.push(path);
  return { path };
}

/** Fills the file system until ENOSPC. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024, 120);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

describe('a log file on a full disk', () => {
  it('resumes by itself once space is freed, and says how many lines were lost, in the file and as an event', { timeout: 90_000 }, async (t) => {
    const disk = tinyFileSystem();
    if ('skip' in disk) return t.skip(disk.skip);
    const go = join(tempDir(), 'go');
    const logFile = join(disk.path, 'app.log');
    const sup = await startSupervise(['-w', '1', '--log-file', logFile, join(FIXTURES, 'print-lines.cjs')], {
      readyWorkers: 1,
      env: { GO_FILE: go, LINES: '1000000', RATE: '200' },
    });
    const events = ctlChild(['--control', sup.control, 'events', '--json']);
    await waitFor(() => events.out.length > 0, { message: 'ctl events connected' });
    writeFileSync(go, '');
    // pino-roll writes app.1.log for app.log.
    const written = join(disk.path, 'app.1.log');
    await waitFor(() => existsSync(written) && readFileSync(written, 'utf8').includes('"msg":"line 0 '), { timeoutMs: 20_000, message: 'lines in the log file' });

    const filler = join(disk.path, 'filler');
    fill(filler);
    const failed = await sup.waitForLog((l) => /^log file of print-lines failed: .*ENOSPC/.test(l.msg), 20_000, 'the failure logged');
    // Lines go on reaching the master while the file cannot take them: those are the lost ones.
    const outputSince = () => sup.logs.filter((l) => Number(l.time) > Number(failed.time) && l.msg.startsWith('line 0 ')).length;
    await waitFor(() => outputSince() >= 50, { timeoutMs: 20_000, message: '50 lines printed while the disk is full' });
    assert.equal(sup.child.exitCode, null, 'the supervisor keeps running');

    rmSync(filler);
    const resumed = await sup.waitForLog((l) => /^log file of print-lines is written again: \d+ lines lost meanwhile/.test(l.msg), 20_000, 'writing resumed');
    const lost = Number(resumed['lost']);
    assert.ok(lost >= 50, `${lost} lines counted as lost`);

    // The file: a line saying how many, then the worker's lines again.
    await waitFor(() => {
      const lines = readFileSync(written, 'utf8').split('\n').filter(Boolean);
      const marker = lines.findIndex((line) => line.includes('"lost":'));
      return marker >= 0 && lines.slice(marker + 1).some((line) => line.includes('"msg":"line 0 ')) ? lines[marker] : undefined;
    }, { timeoutMs: 20_000, message: 'the lost-lines line, and new lines after it' }).then((line) => {
      const record = JSON.parse(line) as { lost: number; msg: string };
      assert.equal(record.lost, lost);
      assert.match(record.msg, new RegExp(`^supervise: ${lost} lines lost: this file could not be written \\(ENOSPC\\) from `));
    });

    // The events: the failure, then the resumption with the same count.
    const logFileEvents = () => events.out.map((line) => JSON.parse(line) as { type: string; ok?: boolean; lost?: number; app?: string }).filter((e) => e.type === 'log-file');
    await waitFor(() => logFileEvents().length >= 2, { message: 'two log-file events' });
    assert.deepEqual(logFileEvents().map((e) => [e.app, e.ok, e.lost]), [['print-lines', false, undefined], ['print-lines', true, lost]]);
  });
});
