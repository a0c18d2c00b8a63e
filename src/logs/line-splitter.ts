// Cuts a byte stream into whole lines. Chunks are kept as Buffers and only the
// new chunk is scanned for a newline, so a 10 MB line costs one pass over its
// bytes (not one pass per 64 KB chunk), and it arrives as one line, not ~80.
// Memory stays bounded: past MAX_LINE_BYTES the part held so far is emitted
// with `continued = true`, and the line goes on in the next record(s); the last
// part of such a line has `continued = false`.

import { StringDecoder } from 'node:string_decoder';

/** Longest line kept whole (a runaway worker cannot grow the master past this per stream). */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

export interface LineSplitter {
  push(chunk: Buffer): void;
  /** Emit what is left as a last line (stream ended). */
  flush(): void;
}

/** `continued`: this is a part of a longer line and the next record continues it. */
export type OnLine = (line: string, continued: boolean) => void;

export function createLineSplitter(onLine: OnLine, maxLineBytes = MAX_LINE_BYTES): LineSplitter {
  // A multi-byte character split across a cut is carried into the next part.
  const decoder = new StringDecoder('utf8');
  let parts: Buffer[] = [];
  let size = 0;
  /** The last record was a part with `continued`: the stream's end must close that line. */
  let open = false;

  const emit = (tail: Buffer, continued: boolean): void => {
    let text = parts.length === 0 ? decoder.write(tail) : decoder.write(Buffer.concat([...parts, tail]));
    parts = [];
    size = 0;
    open = continued;
    if (!continued) {
      text += decoder.end();
      if (text.endsWith('\r')) text = text.slice(0, -1);
    }
    onLine(text, continued);
  };

  return {
    push(chunk) {
      let start = 0;
      for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
        emit(chunk.subarray(start, newline), false);
        start = newline + 1;
      }
      if (start >= chunk.length) return;
      const rest = chunk.subarray(start);
      parts.push(rest);
      size += rest.length;
      if (size >= maxLineBytes) emit(Buffer.alloc(0), true);
    },
    flush() {
      if (size > 0 || open) emit(Buffer.alloc(0), false);
    },
  };
}
