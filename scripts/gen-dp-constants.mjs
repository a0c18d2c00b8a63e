#!/usr/bin/env node
// Writes src/core/dp-constants.ts from src/native/dp_constants.h: the
// constants C and TypeScript share have that header as their one source.
// `node scripts/gen-dp-constants.mjs` rewrites the TypeScript copy;
// `--check` exits 1 when it is stale (test/unit/dp-constants.test.ts runs it).
// Only `#define DP_NAME value  // text` lines count (value: decimal or 0x hex).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const headerPath = join(root, 'src', 'native', 'dp_constants.h');
const outputPath = join(root, 'src', 'core', 'dp-constants.ts');

/** The TypeScript module for the header's text. */
export function generate(header) {
  const lines = [
    '// GENERATED from src/native/dp_constants.h by scripts/gen-dp-constants.mjs: do not edit.',
    '// Change the header, then run `node scripts/gen-dp-constants.mjs`.',
    '/* eslint-disable */',
    '',
  ];
  const seen = new Set();
  for (const line of header.split('\n')) {
    const match = /^#define (DP_[A-Z0-9_]+)\s+(-?\d+|0x[0-9a-fA-F]+)\b\s*(?:\/\/\s*(.*))?$/.exec(line.trim());
    if (match === null) continue;
    const [, name, value, comment] = match;
    if (seen.has(name)) throw new Error(`dp_constants.h defines ${name} twice`);
    seen.add(name);
    if (comment) lines.push(`/** ${comment.replace(/\*\//g, '* /')} */`);
    lines.push(`export const ${name} = ${value};`);
  }
  if (seen.size === 0) throw new Error('dp_constants.h: no `#define DP_NAME value` line found');
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = generate(readFileSync(headerPath, 'utf8'));
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
