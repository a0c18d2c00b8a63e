#!/usr/bin/env node
// Writes src/core/dp-constants.ts from src/native/dp_constants.h and
// src/native/http_limits.h: the constants C and TypeScript share have those
// headers as their one source.
// `node scripts/gen-dp-constants.mjs` rewrites the TypeScript copy;
// `--check` exits 1 when it is stale (test/unit/dp-constants.test.ts runs it).
// Only `#define DP_NAME value  // text` (or HP_NAME) lines count (value: decimal or 0x hex).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const headerPaths = ['dp_constants.h', 'http_limits.h'].map((name) => join(root, 'src', 'native', name));
const outputPath = join(root, 'src', 'core', 'dp-constants.ts');

/** The TypeScript module for the headers' text (concatenated). */
export function generate(header) {
  const lines = [
    '// GENERATED from src/native/dp_constants.h and http_limits.h by scripts/gen-dp-constants.mjs: do not edit.',
    '// Change the headers, then run `node scripts/gen-dp-constants.mjs`.',
    '/* eslint-disable */',
    '',
  ];
  const seen = new Set();
  for (const line of header.split('\n')) {
    const match = /^#define ((?:DP|HP)_[A-Z0-9_]+)\s+(-?\d+|0x[0-9a-fA-F]+)\b\s*(?:\/\/\s*(.*))?$/.exec(line.trim());
    if (match === null) continue;
    const [, name, value, comment] = match;
    if (seen.has(name)) throw new Error(`the headers define ${name} twice`);
    seen.add(name);
    if (comment) lines.push(`/** ${comment.replace(/\*\//g, '* /')} */`);
    lines.push(`export const ${name} = ${value};`);
  }
  if (seen.size === 0) throw new Error('no `#define DP_NAME value` line found in the headers');
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = generate(headerPaths.map((path) => readFileSync(path, 'utf8')).join('\n'));
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(outputPath, 'utf8');
    } catch {}
    if (current !== wanted) {
      console.error('src/core/dp-constants.ts is stale: run `node scripts/gen-dp-constants.mjs`');
      process.exit(1);
    }
  } else {
    writeFileSync(outputPath, wanted);
  }
}
