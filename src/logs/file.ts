// A worker-output log file with rotation and retention, by pino-roll (pino's own
// rotating SonicBoom): rotation by size and/or by time, `keep` old files besides
// the active one. Files are numbered by pino-roll: `app.log` is written as
// `app.1.log`, then `app.2.log`, … (numbering goes on after a restart).
//
// Writes never block the master: SonicBoom writes asynchronously. Lines are
// handed to it in batches, one batch at a time (the next once it has drained):
// pino-roll switches files on SonicBoom's 'drain', which a stream that is never
// empty never emits — under a steady 10k lines/s the file would grow past its
// size limit forever. A failing disk is reported once through `onError`; past
// MAX_QUEUED_BYTES lines are dropped rather than queued without bound.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogFileConfig } from '../core/types.js';

export type { LogFileConfig } from '../core/types.js';

export interface LogFile {
  write(line: string): void;
  /** Flushes what is buffered and closes the file. */
  close(): Promise<void>;
}

/** One write to SonicBoom; pino-roll can only switch files between two. */
const BATCH_BYTES = 64 * 1024;

/** Lines waiting for the disk: past this, new ones are dropped instead of growing memory. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

export async function openLogFile(config: LogFileConfig, onError: (error: Error) => void): Promise<LogFile> {
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
  let failed = false;
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
  stream.on('error', (error: Error) => {
    if (failed) return;
    failed = true;
    onError(error);
  });
  return {
    write(line) {
      if (closed || queued > MAX_QUEUED_BYTES) return;
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
