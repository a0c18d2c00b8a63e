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

describe('line splitter: long lines', () => {
  it('delivers a 10 MB line as one line, whatever the chunk size', () => {
    const lines: Array<[number, boolean]> = [];
    const splitter = createLineSplitter((line, continued) => lines.push([line.length, continued]));
    const big = Buffer.alloc(10 * 1024 * 1024, 'x');
    for (let at = 0; at < big.length; at += 65536) splitter.push(big.subarray(at, at + 65536));
    splitter.push(Buffer.from('\nnext\n'));
    assert.deepEqual(lines, [[big.length, false], [4, false]]);
  });

  it('past the limit, emits parts marked as continued, and the last part closes the line', () => {
    const lines: Array<[string, boolean]> = [];
    const splitter = createLineSplitter((line, continued) => lines.push([line, continued]), 4);
    splitter.push(Buffer.from('abcdefghij\nxy'));
    splitter.push(Buffer.from('z'));
    splitter.flush();
    assert.deepEqual(lines, [['abcdefghij', false], ['xyz', false]]);
    lines.length = 0;
    splitter.push(Buffer.from('abc'));
    splitter.push(Buffer.from('def'));
    splitter.push(Buffer.from('gh\n'));
    assert.deepEqual(lines, [['abcdef', true], ['gh', false]]);
  });
});
