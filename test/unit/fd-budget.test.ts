import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientCap, softFileLimit } from '../../src/proxy/fd-budget.js';

describe("the JavaScript fronts' share of the descriptors (fd_budget.c's rule)", () => {
  it('keeps 1/8 of the soft limit (at least 64) in reserve, two descriptors a client, never under 8 clients', () => {
    const cases: Array<[number, number, number]> = [
      // soft, open now, clients
      [256, 40, 76], // reserve 64: (192 - 40) / 2
      [1024, 40, 428], // reserve 128: (896 - 40) / 2
      [1_048_576, 100, 458_702], // reserve 131,072
      [64, 10, 8], // the floor: a budget of 16 less what is open, and never under 8 clients
      [256, 250, 8],
    ];
    for (const [soft, open, clients] of cases) assert.equal(clientCap(soft, open), clients, `soft ${soft}, ${open} open`);
  });

  it('reads the soft limit from /proc/self/limits; unlimited or unreadable means no cap', () => {
    const dir = tmpdir();
    const sample = (soft: string) => {
      const path = join(dir, `limits-${process.pid}-${soft}`);
      writeFileSync(path, `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 4096                 files\n`);
      return path;
    };
    assert.equal(softFileLimit(sample('256')), 256);
    assert.equal(softFileLimit(sample('unlimited')), undefined);
    assert.equal(softFileLimit(join(dir, 'no-such-limits-file')), undefined);
    assert.equal(typeof softFileLimit(), 'number', 'this machine has /proc');
  });
});
