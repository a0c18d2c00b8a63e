// The front's HTTP/1 limits have one source, src/native/http_limits.h: the
// JavaScript front's copies (src/proxy/http-limits.ts) must say the same.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as limits from '../../src/proxy/http-limits.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

/** `#define HP_NAME 123` lines of the header, by name without the prefix. */
function headerLimits(): Record<string, number> {
  const text = readFileSync(join(ROOT, 'src', 'native', 'http_limits.h'), 'utf8');
  const found: Record<string, number> = {};
  for (const match of text.matchAll(/^#define HP_(MAX_\w+) (\d+)\b/gm)) found[match[1] as string] = Number(match[2]);
  return found;
}

describe('http limits', () => {
  it('the JavaScript copies equal src/native/http_limits.h', () => {
    const header = headerLimits();
    assert.ok(Object.keys(header).length >= 3, 'no limits found in the header');
    for (const [name, value] of Object.entries(limits)) assert.equal(value, header[name], `${name}: http-limits.ts says ${value}, http_limits.h ${header[name]}`);
    for (const name of ['MAX_HEAD', 'MAX_RESPONSE_HEAD', 'MAX_HEADERS']) assert.ok(name in limits, `${name} is missing from http-limits.ts`);
  });
});
