// Shared by both launchers: relay a child's stdout/stderr line by line, and report
// its exit once, after its last output has been read — so a crash report carries
// the final stderr lines.

import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createLineSplitter } from '../logs/line-splitter.js';
import type { LaunchCallbacks } from '../core/types.js';

/** How long to wait for the pipes to close after exit (a grandchild may hold them open). */
const OUTPUT_GRACE_MS = 200;

function relay(stream: Readable | null, name: 'stdout' | 'stderr', callbacks: LaunchCallbacks): () => void {
  if (!stream) return () => undefined;
  const splitter = createLineSplitter((line, continued) => callbacks.onOutput(name, line, continued));
  stream.on('data', (chunk: Buffer) => splitter.push(chunk));
  stream.on('error', () => undefined);
  let flushed = false;
  const flush = () => {
    if (flushed) return;
    flushed = true;
    splitter.flush();
  };
  stream.once('end', flush);
  return flush;
}

export function relayChild(child: ChildProcess, callbacks: LaunchCallbacks): void {
  const flushOut = relay(child.stdout, 'stdout', callbacks);
  const flushErr = relay(child.stderr, 'stderr', callbacks);
  let reported = false;
  const report = (code: number | null, signal: string | null) => {
    if (reported) return;
    reported = true;
    flushOut();
    flushErr();
    callbacks.onExit(code, signal);
  };
  child.once('exit', (code, signal) => {
    const timer = setTimeout(() => report(code, signal), OUTPUT_GRACE_MS);
    child.once('close', () => {
      clearTimeout(timer);
      report(code, signal);
    });
  });
  // spawn() failed (ENOENT, EACCES): there will be no 'exit'.
  child.once('error', (error: NodeJS.ErrnoException) => {
    if (child.pid === undefined) {
      callbacks.onOutput('stderr', `could not start: ${error.message}`);
      report(127, null);
    }
  });
}
