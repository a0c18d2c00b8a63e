// `supervise ctl` as a process: its whole output arrives however large it is and
// wherever stdout goes. A pipe takes 64 KiB before a write has to wait; a ctl
// that exits right after writing loses the rest. The pipe here is a FIFO that
// nobody reads until the ctl has exited (or, as it must, waits for its reader),
// so the test does not depend on who is faster. (Files and, on Linux, TTYs
// are written synchronously: they never lost output.)

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TIMEOUT, useControlSocketFixture } from '../helpers/control-socket.js';
import { createFakeSupervisor } from '../helpers/fake-supervisor.js';
import { BIN } from '../helpers/supervise.js';

const fixture = useControlSocketFixture();
const PIPE_BUFFER = 64 * 1024;
/**
 * How long after the supervisor answered the reader holds off, unless the ctl
 * exits first: time enough for a ctl to write and (wrongly) exit; a correct
 * one waits for its reader.
 */
const HOLD_OFF_MS = 1000;

/** A fake supervisor of 300 workers, and a promise of the first status request it answers. */
async function serve300(): Promise<{ asked: Promise<void> }> {
  const fake = createFakeSupervisor({ workers: 300 });
  const status = fake.status.bind(fake);
  let markAsked!: () => void;
  const asked = new Promise<void>((resolve) => (markAsked = resolve));
  fake.status = () => {
    markAsked();
    return status();
  };
  await fixture.serve(fake);
  return { asked };
}

function startCtl(argv: string[], stdout: number) {
  const child = spawn(process.execPath, [BIN, 'ctl', '--control', fixture.socketPath, ...argv], { stdio: ['ignore', stdout, 'pipe'] });
  fixture.defer(async () => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { exited, stderr: () => stderr };
}

/** Runs `supervise ctl ...argv` with stdout a pipe that nobody reads until the ctl exits or HOLD_OFF_MS passed. */
async function ctlThroughSlowPipe(argv: string[], asked: Promise<void>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const fifo = join(fixture.directory, 'stdout.fifo');
  execFileSync('mkfifo', [fifo]);
  // Read-write: opens at once, and keeps what the pipe holds alive should the ctl exit before a reader opens.
  const holder = openSync(fifo, 'r+');
  // The ctl's end is write-only, as a shell pipe's is (a read-write one would make node write synchronously).
  const writeEnd = openSync(fifo, 'w');
  const ctl = startCtl(argv, writeEnd);
  closeSync(writeEnd);
  await Promise.race([ctl.exited, asked.then(() => new Promise((resolve) => setTimeout(resolve, HOLD_OFF_MS)))]);
  const reader = createReadStream(fifo);
  await new Promise((resolve) => reader.once('open', resolve));
  closeSync(holder); // from now on the ctl is the only writer: its exit ends the stream
  const chunks: Buffer[] = [];
  for await (const chunk of reader) chunks.push(chunk as Buffer);
  return { code: await ctl.exited, stdout: Buffer.concat(chunks).toString(), stderr: ctl.stderr() };
}

describe('supervise ctl output', () => {
  it('status --json of 300 workers through a pipe parses, whole', TIMEOUT, async () => {
    const { asked } = await serve300();
    const { code, stdout, stderr } = await ctlThroughSlowPipe(['status', '--json'], asked);
    assert.equal(code, 0, stderr);
    let status: { workers: Array<{ slot: number }> } | undefined;
    assert.doesNotThrow(() => (status = JSON.parse(stdout)), `the ${stdout.length} bytes that arrived are not the whole JSON`);
    assert.ok(stdout.length > PIPE_BUFFER, `the status is only ${stdout.length} bytes: the test needs more than a pipe holds`);
    assert.ok(status !== undefined);
    assert.equal(status.workers.length, 300);
    assert.equal(status.workers.at(-1)?.slot, 299);
  });

  it('metrics of 300 workers through a pipe end with the last worker', TIMEOUT, async () => {
    const { asked } = await serve300();
    const { code, stdout, stderr } = await ctlThroughSlowPipe(['metrics'], asked);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /slot="299"/, `the ${stdout.length} bytes that arrived miss the last worker`);
    assert.ok(stdout.endsWith('\n'), 'the last line is whole');
    assert.ok(stdout.length > PIPE_BUFFER, `the metrics are only ${stdout.length} bytes: the test needs more than a pipe holds`);
  });
});
