// `npm pack`'s prepack: the N-API prebuild shipped in the package
// (prebuilds/<platform>-<arch>/), compiled in a temporary copy of the native
// sources. prebuildify runs `node-gyp rebuild` in its working directory and
// then MOVES build/Release/*.node into prebuilds/: run in the checkout, it
// would leave the checkout without its compiled addon (the JavaScript data
// paths, the native-only tests skipped) until the next `npm run build:native`.
// Packing must leave the checkout as it was.
// The addon's executable targets (the C reaper, src/native/reaper.c) are not
// .node files, which prebuildify leaves in the scratch build: copied here into
// the prebuild's folder, beside the addon, where src/native/load.ts looks.

import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'supervise-prebuild-'));
try {
  for (const entry of ['package.json', 'binding.gyp', 'src/native']) {
    cpSync(join(root, entry), join(scratch, entry), { recursive: true });
  }
  const args = ['--napi', '--strip', '--tag-libc', '--target', process.versions.node, '--cwd', scratch, '--out', root];
  const result = spawnSync(join(root, 'node_modules', '.bin', 'prebuildify'), args, { stdio: 'inherit' });
  if (result.error !== undefined) throw result.error;
  process.exitCode = result.status ?? 1;
  const reaper = join(scratch, 'build', 'Release', 'supervise_reaper');
  if (result.status === 0 && existsSync(reaper)) {
    const target = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'supervise_reaper');
    cpSync(reaper, target);
    chmodSync(target, 0o755);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
