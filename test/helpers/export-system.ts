// A SystemConfig for export tests, read by the real loader from YAML text in
// a temp folder (cluster apps get a stand-in script, as the loader checks it).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SystemConfig } from '../../src/core/system-types.js';
import { buildSystem } from '../../src/system-config.js';
import { tempDir } from './supervise.js';

export function systemFromYaml(yaml: string, scripts: readonly string[] = []): SystemConfig {
  const dir = tempDir('supervise-export-');
  for (const script of scripts) {
    mkdirSync(dirname(join(dir, script)), { recursive: true });
    writeFileSync(join(dir, script), '');
  }
  const file = join(dir, 'supervise.yaml');
  writeFileSync(file, yaml);
  return buildSystem({ flags: {}, positional: [], command: undefined, configFile: file, cwd: dir, stdoutIsTTY: false });
}
