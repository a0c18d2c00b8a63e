import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLineSplitter } from '../../src/log.js';

describe('line splitter', () => {
  it('emits whole lines across chunk borders, handles CRLF and multi-byte characters, flushes the rest', () => {
    const lines: string[] = [];
    const splitter = createLineSplitter((line) => lines.push(line));
    const euro = Buffer.from('€');
    splitter.push(Buffer.from('hel'));
    splitter.push(Buffer.from('lo\r\nwor'));
    splitter.push(Buffer.concat([Buffer.from('ld '), euro.subarray(0, 1)]));
    splitter.push(Buffer.concat([euro.subarray(1), Buffer.from('\npartial')]));
    assert.deepEqual(lines, ['hello', 'world €']);
    splitter.flush();
    assert.deepEqual(lines, ['hello', 'world €', 'partial']);
  });
});
