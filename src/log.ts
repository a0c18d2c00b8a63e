// The master's logger (pino; pino-pretty on a TTY) and the line-safe relay of
// worker output: bytes are cut into whole lines before they are logged, so two
// workers' output never mixes within a line, and a partial last line is flushed
// when the stream ends.

import { StringDecoder } from 'node:string_decoder';
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

/** Longest line kept whole; a longer one is cut so a runaway worker cannot grow memory. */
const MAX_LINE_BYTES = 64 * 1024;

export interface LineSplitter {
  push(chunk: Buffer): void;
  /** Emit what is left as a last line (stream ended). */
  flush(): void;
}

export function createLineSplitter(onLine: (line: string) => void): LineSplitter {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  return {
    push(chunk) {
      let text = pending + decoder.write(chunk);
      let newline = text.indexOf('\n');
      while (newline !== -1) {
        const end = newline > 0 && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
        onLine(text.slice(0, end));
        text = text.slice(newline + 1);
        newline = text.indexOf('\n');
      }
      if (text.length > MAX_LINE_BYTES) {
        onLine(text);
        text = '';
      }
      pending = text;
    },
    flush() {
      const rest = pending + decoder.end();
      pending = '';
      if (rest.length > 0) onLine(rest);
    },
  };
}

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
