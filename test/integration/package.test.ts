// The package as a user gets it: `npm pack` (prepare builds dist/, prepack the
// N-API prebuild), `npm install -g` of the tarball into an empty prefix with
// npm's defaults (npm 11 runs no install script of a global install unless
// allowed, so nothing is compiled there), then the example behind the tcp front
// on the native data path. And the other end: no addon at all, the JavaScript
// data path, saying why.
//
// The pack runs in a copy of the sources, so that its build does not rewrite
// dist/ under the tests running next to this one. It takes 30 s on a quiet
// machine and minutes on a loaded one (tsc, a C compile, an install from the
// registry or npm's cache): it runs with SUPERVISE_TEST_PACK=1, which .ci/run
// sets, and is skipped (saying so) otherwise.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort, freePortRange, httpGet, killAll, pidsMatching, ROOT, startSupervise, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
const PACK = process.env['SUPERVISE_TEST_PACK'] === '1' ? {} : { skip: 'SUPERVISE_TEST_PACK=1 runs it (.ci/run does): npm pack + a global install, 30 s to minutes' };
const EXAMPLE = join(ROOT, 'examples', 'node-cluster', 'app.js');
/** What `npm pack` needs of the checkout: what `files` ships, and what builds it. */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'README.md', 'bin', 'scripts', 'src'];
const ADDON = join('build', 'Release', 'supervise_tunnel.node');

after(killAll);

interface Packed {
  /** The checkout copy that was packed, with the checkout's compiled addon in it before the pack. */
  readonly copy: string;
  readonly tarball: string;
}

let packed: Promise<Packed> | undefined;

/** `npm pack` in a copy of the sources (node_modules linked, not copied), once for the tests that need it. */
function packOnce(): Promise<Packed> {
  packed ??= pack();
  return packed;
}

async function pack(): Promise<Packed> {
  const copy = tempDir('supervise-pack-');
  for (const entry of SOURCES) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
  // The checkout's own compile, as `npm ci` left it: packing must not take it away.
  if (existsSync(join(ROOT, ADDON))) cpSync(join(ROOT, 'build'), join(copy, 'build'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  const out = join(copy, 'out');
  mkdirSync(out);
  const { stdout } = await run('npm', ['pack', '--pack-destination', out, '--loglevel', 'error'], { cwd: copy, maxBuffer: 16 << 20 });
  const name = stdout.trim().split('\n').at(-1) ?? '';
  return { copy, tarball: join(out, name) };
}

describe('the npm package', () => {
  it('installs globally with npm defaults and serves the example on the native data path', { timeout: 240_000, ...PACK }, async () => {
    const { tarball } = await packOnce();
    const prefix = tempDir('supervise-prefix-');
    await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { maxBuffer: 16 << 20 });

    const installed = join(prefix, 'lib', 'node_modules', 'supervise');
    assert.ok(existsSync(join(installed, 'dist', 'src', 'cli', 'main.js')), 'dist/ is in the package');
    assert.deepEqual(readdirSync(join(installed, 'prebuilds')), [`${process.platform}-${process.arch}`]);
    assert.equal(existsSync(join(installed, 'build')), false, 'nothing was compiled at install: the prebuild serves');
    // The C reaper ships beside the prebuilt addon, runnable (src/native/reaper.c; scripts/prebuild.mjs).
    const reaper = realpathSync(join(installed, 'prebuilds', `${process.platform}-${process.arch}`, 'supervise_reaper'));
    accessSync(reaper, constants.X_OK);

    const bin = join(prefix, 'bin', 'supervise');
    const help = await run(bin, ['--help']);
    assert.match(help.stdout, /^Usage: supervise /);

    const basePort = await freePortRange(3);
    const supervised = await startSupervise(['-w', '2', '--base-port', String(basePort), '--', 'node', EXAMPLE], { bin, readyWorkers: 2 });
    const response = await httpGet(supervised.port);
    assert.equal(response.status, 200);
    assert.match(response.body, /"worker":[01]/);
    const { stdout } = await run(bin, ['ctl', '--control', supervised.control, 'status', '--json']);
    const front = (JSON.parse(stdout) as { front: { kind: string; dataPath: string; threads?: unknown[] } }).front;
    assert.deepEqual({ kind: front.kind, dataPath: front.dataPath }, { kind: 'tcp', dataPath: 'native' });
    assert.equal(front.threads?.length, 1, 'the tcp front on one data-plane thread (the default)');
    const helpers = await waitFor(() => {
      const running = pidsMatching('supervise_reaper').filter((pid) => exeOf(pid) === reaper);
      return running.length > 0 ? running : undefined;
    }, { message: 'the shipped C reaper running beside the master' });
    assert.ok(helpers.length >= 1);
  });

  it('leaves the checkout\'s compiled addon in place: after `npm pack` it still loads', { timeout: 240_000, ...PACK }, async (t) => {
    if (!existsSync(join(ROOT, ADDON))) return t.skip(`the checkout has no compiled addon (${ADDON}: npm run build:native)`);
    const { copy } = await packOnce();
    assert.ok(existsSync(join(copy, ADDON)), `${ADDON} is still there after npm pack`);
    assert.equal(existsSync(join(copy, 'prebuilds')), false, 'postpack removed prebuilds/');
    const loaded = await run(process.execPath, ['-e', `console.log(typeof require(${JSON.stringify(join(copy, ADDON))}))`]);
    assert.equal(loaded.stdout.trim(), 'object');
  });

  it('`npm run example -- -p <port> -w 1` puts the flags before the script and serves on that port', { timeout: 60_000 }, async () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // As npm runs it, less the build (the suite's own build is fresh; a second one would rewrite dist/ under running tests).
    const script = (scripts['example'] ?? '').replace(/^npm run build && /, '');
    const port = await freePort();
    const control = join(tempDir(), 'control.sock');
    const child = spawn('sh', ['-c', `${script} -p ${port} -w 1 --log-format json --control ${control}`], { cwd: ROOT, detached: true, stdio: 'ignore' });
    try {
      const response = await waitFor(() => httpGet(port), { timeoutMs: 30_000, message: `the example on port ${port}` });
      assert.match(response.body, /"worker":0/);
    } finally {
      process.kill(-(child.pid as number), 'SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  it('without an addon for the machine, the tcp front moves the bytes in JavaScript and the log says why', { timeout: 60_000 }, async () => {
    const basePort = await freePortRange(2);
    // node-gyp-build looks for build/ and prebuilds/ in SUPERVISE_PREBUILD instead of the package: an empty folder has neither.
    const supervised = await startSupervise(['-w', '1', '--base-port', String(basePort), '--', 'node', EXAMPLE], {
      env: { SUPERVISE_PREBUILD: tempDir('supervise-no-addon-') },
      readyWorkers: 1,
    });
    assert.deepEqual((await supervised.status()).front, { kind: 'tcp', dataPath: 'javascript' });
    assert.equal((await httpGet(supervised.port)).status, 200);
    await supervised.waitForLog((line) => /moves the bytes in JavaScript: No native build was found/.test(line.msg));
  });
});

function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}
