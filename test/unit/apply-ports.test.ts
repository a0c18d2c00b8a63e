// ctl apply's port check against what runs (core/apply-ports.ts), by table.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runningPortConflict, type PortClaim, type RunningHolder } from '../../src/core/apply-ports.js';

const claim = (app: string, first: number, last: number): PortClaim => ({ what: `app "${app}"`, app, range: [first, last], where: ' (supervise.yaml, line 9)' });
const holder = (app: string, ports: number[], note = ''): RunningHolder => ({ app, what: `app "${app}"${note}`, ports: new Set(ports) });

describe('a new port claim against the ports running apps hold', () => {
  const cases: Array<[string, PortClaim[], RunningHolder[], RegExp | undefined]> = [
    ['free ports: no conflict', [claim('canary', 8200, 8201)], [holder('orders', [8100, 8101, 8102])], undefined],
    [
      'a runtime scale holds more than the file says',
      [claim('canary', 8103, 8104)],
      [holder('orders', [8100, 8101, 8102, 8103, 8104], ' (scaled to 4 workers at runtime)')],
      /^app "canary" would take ports 8103–8104 \(supervise\.yaml, line 9\), but app "orders" \(scaled to 4 workers at runtime\) holds ports 8103, 8104 now; move its base-port or port, or scale orders first$/,
    ],
    ['an app\'s own running ports are no conflict (it is replaced or reloaded)', [claim('orders', 8100, 8103)], [holder('orders', [8100, 8101, 8102])], undefined],
    ['one port', [claim('web', 3000, 3000)], [holder('api', [3000])], /would take port 3000 .*holds port 3000 now/],
  ];
  for (const [name, claims, running, expected] of cases) {
    it(name, () => {
      const conflict = runningPortConflict(claims, running);
      if (expected === undefined) assert.equal(conflict, undefined);
      else assert.match(conflict ?? '', expected);
    });
  }
});
