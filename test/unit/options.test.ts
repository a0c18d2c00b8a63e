// The options table is the one source of flags, file keys, defaults, ranges and
// the README's table: these tests keep the README true and check that the table's
// ranges and choices are what commander, the file loader and validation enforce.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OPTIONS, optionsTable, parseOption, type OptionSpec } from '../../src/options.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function spec(key: string): OptionSpec {
  const found = OPTIONS.find((option) => option.key === key);
  assert.ok(found, key);
  return found;
}

describe('options table', () => {
  it('is the README\'s options table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const match = /<!-- options table[^\n]*-->\n([\s\S]*?)\n<!-- end of options table -->/.exec(readme);
    assert.ok(match, 'README.md has the options table markers');
    assert.equal(match[1], optionsTable(), 'README.md options table differs from src/options.ts; paste optionsTable() output');
  });

  it('has one entry per key and per flag', () => {
    assert.equal(new Set(OPTIONS.map((o) => o.key)).size, OPTIONS.length);
    assert.equal(new Set(OPTIONS.map((o) => o.flag.split(' ')[0])).size, OPTIONS.length);
  });

  const cases: Array<[string, unknown, unknown]> = [
    ['workers', '4', 4],
    ['workers', 1024, 1024],
    ['workers', '0', /must be an integer from 1 to 1024 \(got "0"\)/],
    ['workers', 'four', /must be an integer from 1 to 1024/],
    ['killTimeout', '2s', 2000],
    ['killTimeout', '0', 0],
    ['readyTimeout', '0', /at least 1ms/],
    ['maxMemory', '512M', 512 * 1024 * 1024],
    ['maxMemory', '12K', /must be a size of at least 1M/],
    ['maxHeaderSize', '64K', 64 * 1024],
    ['maxHeaderSize', '2M', /must be a size of at most 1M/],
    ['maxHeaderSize', '512', /must be a size of at least 1K/],
    ['balance', 'p2c', 'p2c'],
    ['balance', 'random', /must be one of round-robin, least-conn, weighted-round-robin, p2c/],
    ['health', '/healthz', '/healthz'],
    ['health', 'healthz', /must be an HTTP path starting with \//],
    ['waitReady', 'yes', /must be true or false/],
    ['watch', true, true],
    ['watch', 'src', ['src']],
  ];
  for (const [key, raw, expected] of cases) {
    it(`${key} ${JSON.stringify(raw)} -> ${expected instanceof RegExp ? 'error' : JSON.stringify(expected)}`, () => {
      const result = parseOption(spec(key), raw);
      if (expected instanceof RegExp) {
        assert.ok('error' in result, 'an error');
        assert.match(result.error, expected);
      } else {
        assert.deepEqual(result, { value: expected });
      }
    });
  }
});
