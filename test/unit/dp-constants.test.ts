// The constants C and TypeScript share have one source, src/native/dp_constants.h:
// src/core/dp-constants.ts is generated from it and must not be stale.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as K from '../../src/core/dp-constants.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

describe('data-plane constants', () => {
  it('src/core/dp-constants.ts is what scripts/gen-dp-constants.mjs makes of dp_constants.h', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-dp-constants.mjs'), '--check'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
  });

  it('has the layout the encoder relies on', () => {
    assert.equal(K.DP_SNAPSHOT_MAGIC, 0x31535044);
    assert.ok(K.DP_H_RESPONSE_TIMEOUT_MS < K.DP_HEADER_WORDS);
  });
});
