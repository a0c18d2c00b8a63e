// A worker-output log file with rotation and retention, by pino-roll (pino's own
// rotating SonicBoom): rotation by size and/or by time, `keep` old files besides
// the active one. Files are numbered by pino-roll: `app.log` is written as
// `app.1.log`, then `app.2.log`, … (numbering goes on after a restart).
//
// Writes never block the master: SonicBoom writes asynchronously. Lines are
// handed to it in batches, one batch at a time (the next once it has drained):
// pino-roll switches files on SonicBoom's 'drain', which a stream that is never
// empty never emits — under a steady 10k lines/s the file would grow past its
// size limit forever. Past MAX_QUEUED_BYTES lines are dropped rather than
// queued without bound.
//
// A failing disk (ENOSPC, EIO…) is reported once through `onError`; SonicBoom
// then stops writing and keeps what it held. From then on lines are dropped
// and counted, and every RETRY_MS the file system is asked for free space
// (statfs): once there is, a line saying how many lines were lost is written
// (which makes SonicBoom write what it held first), the queue moves on, and
// `onResume` gets the count. A write that fails again starts over.

import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LogFileConfig } from '../core/types.js';

export type { LogFileConfig } from '../core/types.js';

export interface LogFileHooks {
  /** Writing failed: lines are dropped (and counted) until it works again. Once per failure. */
  onError(error: Error): void;
  /** Writing works again; `lost` lines were dropped meanwhile (the file has a line saying so). */
  onResume(lost: number): void;
}

export interface LogFile {
  write(line: string): void;
  /** Flushes what is buffered and closes the file. */
  close(): Promise<void>;
}

/** One write to SonicBoom; pino-roll can only switch files between two. */
const BATCH_BYTES = 64 * 1024;

/** Lines waiting for the disk: past this, new ones are dropped instead of growing memory. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** How often a failed file checks for space again. */
const RETRY_MS = 1000;

/** Free space that lets writing resume: what SonicBoom held (a batch at most) and some more. */
const RESUME_FREE_BYTES = 4 * BATCH_BYTES;

export async function openLogFile(config: LogFileConfig, hooks: LogFileHooks): Promise<LogFile> {
  mkdirSync(dirname(config.path), { recursive: true });
  // Loaded only for an app with a log file: pino-roll brings date-fns (~0.3 s of start-up on a busy machine).
  const { default: pinoRoll } = await import('pino-roll');
  const stream = await pinoRoll({
    file: config.path,
    ...(config.maxSizeBytes === undefined ? {} : { size: `${config.maxSizeBytes}b` }),
    ...(config.rotate === undefined ? {} : { frequency: config.rotate }),
    limit: { count: config.keep },
    mkdir: true,
  });
  /** Since when writing fails (and why), while it does. */
  let failure: { readonly since: number; readonly error: Error } | undefined;
  let retry: NodeJS.Timeout | undefined;
  /** Lines dropped: while failing, and past MAX_QUEUED_BYTES. */
  let lost = 0;
  let closed = false;
  let queue: string[] = [];
  let queued = 0;
  /** A batch is with SonicBoom; the next waits for its 'drain'. */
  let writing = false;
  const flush = (): void => {
    if (queue.length === 0) {
      writing = false;
      return;
    }
    writing = true;
    // At most BATCH_BYTES (but whole lines) per write: a file overshoots its size limit by one batch at most.
    let take = 0;
    let bytes = 0;
    while (take < queue.length && (take === 0 || bytes + (queue[take]?.length ?? 0) <= BATCH_BYTES)) bytes += queue[take++]?.length ?? 0;
    const batch = queue.slice(0, take).join('');
    queue = queue.slice(take);
    queued -= bytes;
    stream.write(batch);
  };
  stream.on('drain', flush);
  // After pino-roll reopens the next file SonicBoom says 'ready', and no 'drain'
  // follows when it had nothing buffered: the queue must move on then too.
  stream.on('ready', flush);
  const resumeWhenThereIsSpace = async (): Promise<void> => {
    if (failure === undefined || closed) return;
    const space = await statfs(dirname(config.path)).catch(() => undefined);
    if (failure === undefined || closed || space === undefined || space.bavail * space.bsize < RESUME_FREE_BYTES) return;
    const { since, error } = failure;
    failure = undefined;
    clearInterval(retry);
    retry = undefined;
    const count = lost;
    lost = 0;
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    const message = `supervise: ${count} line${count === 1 ? '' : 's'} lost: this file could not be written (${code}) from ${new Date(since).toISOString()} until now`;
    // SonicBoom writes what it held before this line; its 'drain' then moves the queue on.
    writing = true;
    stream.write(`${JSON.stringify({ time: Date.now(), lost: count, msg: message })}\n`);
    hooks.onResume(count);
  };
  stream.on('error', (error: Error) => {
    if (failure !== undefined || closed) return;
    failure = { since: Date.now(), error };
    hooks.onError(error);
    retry = setInterval(() => void resumeWhenThereIsSpace(), RETRY_MS);
    retry.unref();
  });
  return {
    write(line) {
      if (closed) return;
      if (failure !== undefined || queued > MAX_QUEUED_BYTES) {
        lost++;
        return;
      }
      queue.push(line);
      queued += line.length;
      // Not at once: the lines of this turn of the event loop make one batch.
      if (!writing) {
        writing = true;
        setImmediate(flush);
      }
    },
    close() {
      return new Promise((resolve) => {
        if (closed) {
          resolve();
          return;
        }
        closed = true;
        clearInterval(retry);
        stream.off('drain', flush);
        stream.off('ready', flush);
        if (queue.length > 0) stream.write(queue.join(''));
        queue = [];
        stream.once('close', () => resolve());
        stream.once('error', () => resolve());
        stream.end();
      });
    },
  };
}
