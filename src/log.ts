// The master's logger (pino; pino-pretty on a TTY) and the line-safe relay of
// worker output: bytes are cut into whole lines before they are logged, so two
// workers' output never mixes within a line, and a partial last line is flushed
// when the stream ends.

import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat } from './core/types.js';

export type { Logger } from 'pino';

export function createLogger(format: LogFormat, level: string): Logger {
  // No base pid/hostname: worker lines carry the worker's pid, and one pid key per line is clearer.
  const options = { level, base: undefined, messageKey: 'msg' };
  if (format === 'pretty') {
    return pino(
      options,
      pretty({
        colorize: process.stdout.isTTY === true,
        sync: true,
        singleLine: true,
        translateTime: 'HH:MM:ss.l',
        ignore: 'hostname,pid,worker,stream',
        // "[w1 4242] listening on 8080": a worker's lines read like its own output.
        messageFormat: (log, messageKey) => {
          const prefix =
            log['worker'] === undefined
              ? ''
              : `[w${String(log['worker'])}${log['pid'] ? ` ${String(log['pid'])}` : ''}${log['stream'] === 'stderr' ? ' stderr' : ''}] `;
          return prefix + String(log[messageKey] ?? '');
        },
      }),
    );
  }
  return pino(options, pino.destination({ fd: 1, sync: true }));
}

export { createLineSplitter, type LineSplitter } from './logs/line-splitter.js';

/**
 * The last lines of a worker's stderr, for crash reports. Stack frames and blank
 * lines are left out of the report, so that the error itself (often 10+ lines
 * above the end of a Node stack trace) is what the user reads.
 */
export class LineTail {
  private readonly lines: string[] = [];
  constructor(
    private readonly reportLines = 8,
    private readonly keepLines = 60,
  ) {}
  add(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.keepLines) this.lines.shift();
  }
  text(): string {
    return this.lines
      .filter((line) => line.trim() !== '' && !/^\s+at /.test(line))
      .slice(-this.reportLines)
      .join('\n');
  }
  clear(): void {
    this.lines.length = 0;
  }
}
