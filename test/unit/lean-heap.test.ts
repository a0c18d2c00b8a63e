// The master's young generation stays at its initial size (lean-heap.ts): after
// an allocation burst that makes V8 grow it to 32 MB by default, it is still
// small; a user's own semi-space flag is left alone.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keepYoungGenerationSmall } from '../../src/supervisor/lean-heap.js';

const MODULE = fileURLToPath(new URL('../../src/supervisor/lean-heap.js', import.meta.url));

/** new_space's size in MB after a burst of short-lived and surviving objects, in a fresh node. */
function newSpaceAfterBurst(keepSmall: boolean): number {
  const script = `
    const { keepYoungGenerationSmall } = await import(${JSON.stringify(MODULE)});
    if (${keepSmall}) keepYoungGenerationSmall();
    const v8 = await import('node:v8');
    let keep = [];
    for (let i = 0; i < 300000; i++) { keep.push({ i, text: 'x' + i, pair: [i, i] }); if (keep.length > 50000) keep = []; }
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(space.space_size / 1048576);`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  return Number(result.stdout.trim());
}

describe('keepYoungGenerationSmall', () => {
  it('holds new space at its initial size through an allocation burst (V8 grows it to 32 MB without)', () => {
    const grown = newSpaceAfterBurst(false);
    const held = newSpaceAfterBurst(true);
    assert.ok(grown >= 8, `without: ${grown} MB (the burst makes V8 grow it)`);
    assert.ok(held <= 4, `with: ${held} MB`);
  });

  it("leaves a user's semi-space flag alone", () => {
    assert.equal(keepYoungGenerationSmall(['--max-semi-space-size=64'], ''), false);
    assert.equal(keepYoungGenerationSmall([], '--max-semi-space-size=64'), false);
  });
});
