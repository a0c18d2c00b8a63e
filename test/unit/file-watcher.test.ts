import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { createFileWatcher, createIgnoreMatcher, describeWatch, globToRegExp, type FileWatcherOptions } from '../../src/watch/file-watcher.js';
import { delay, waitFor } from '../helpers/wait-for.js';

const DEBOUNCE_MS = 100;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempProject(): string {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'supervise-watch-')));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['src', 'node_modules/lib', '.git', '.cache', '__pycache__', 'dist', 'logs']) {
    mkdirSync(path.join(dir, sub), { recursive: true });
  }
  return dir;
}

async function startWatcher(cwd: string, overrides: Partial<FileWatcherOptions> = {}) {
  const calls: string[][] = [];
  const warnings: string[] = [];
  const watcher = createFileWatcher({
    paths: ['.'],
    ignore: [],
    debounceMs: DEBOUNCE_MS,
    cwd,
    onChange: (files) => calls.push(files),
    logger: { warn: (_obj, msg) => warnings.push(msg) },
    ...overrides,
  });
  cleanups.push(() => watcher.close());
  await watcher.ready();
  return { calls, warnings, watcher };
}

const write = (dir: string, file: string, text = String(Date.now())): void => writeFileSync(path.join(dir, file), text);

describe('file watcher', () => {
  test('a change triggers one debounced call naming the file relative to cwd', async () => {
    const dir = tempProject();
    const { calls } = await startWatcher(dir);
    write(dir, 'src/app.js');
    await waitFor(() => calls.length === 1, { message: 'the change to be reported' });
    assert.deepEqual(calls, [['src/app.js']]);
  });

  test('several quick writes to several files make one call', async () => {
    const dir = tempProject();
    // A wider window than the other tests: a loaded machine may deliver the
    // file events of one burst spread over tens of milliseconds.
    const debounceMs = 300;
    const { calls } = await startWatcher(dir, { debounceMs });
    for (let i = 0; i < 5; i++) {
      write(dir, 'src/app.js', `v${i}`);
      write(dir, `src/file${i % 2}.js`, `v${i}`);
    }
    await waitFor(() => calls.length >= 1, { message: 'the changes to be reported' });
    await delay(debounceMs * 2);
    assert.deepEqual(calls, [['src/app.js', 'src/file0.js', 'src/file1.js']]);
  });

  test('changes in ignored places trigger nothing: defaults and --watch-ignore globs', async () => {
    const dir = tempProject();
    const { calls } = await startWatcher(dir, { ignore: ['dist/**', '*.log'] });
    write(dir, 'node_modules/lib/index.js');
    write(dir, '.git/HEAD');
    write(dir, '.env');
    write(dir, '.cache/data');
    write(dir, '__pycache__/main.cpython-312.pyc');
    write(dir, 'src/main.pyc');
    write(dir, 'dist/bundle.js');
    write(dir, 'logs/app.log');
    // A change that is NOT ignored, written last: once it is reported, the
    // ignored ones had every chance to show up in the same debounced call.
    await delay(DEBOUNCE_MS / 2);
    write(dir, 'src/app.js');
    await waitFor(() => calls.length >= 1, { message: 'the one real change' });
    await delay(DEBOUNCE_MS * 3);
    assert.deepEqual(calls, [['src/app.js']]);
  });

  test('logs and the files the supervisor writes trigger nothing, without any --watch-ignore', async () => {
    const dir = tempProject();
    const { calls } = await startWatcher(dir, { ignoreFiles: [path.join(dir, 'supervise.out'), path.join(dir, 'control.sock')] });
    write(dir, 'app.log');
    write(dir, 'logs/worker.log');
    write(dir, 'supervise.out');
    write(dir, 'control.sock');
    await delay(DEBOUNCE_MS / 2);
    write(dir, 'src/app.js');
    await waitFor(() => calls.length >= 1, { message: 'the one real change' });
    await delay(DEBOUNCE_MS * 3);
    assert.deepEqual(calls, [['src/app.js']]);
  });

  test('describeWatch names the watched paths from cwd and what is ignored', () => {
    assert.equal(
      describeWatch({ paths: ['/project', '/project/src'], ignore: ['dist/**'], cwd: '/project' }),
      "., src (ignoring node_modules, .git, .*, __pycache__, *.pyc, *.log, dist/** and the supervisor's own files)",
    );
  });

  test('a deleted file is a change too', async () => {
    const dir = tempProject();
    write(dir, 'src/old.js');
    const { calls } = await startWatcher(dir);
    rmSync(path.join(dir, 'src/old.js'));
    await waitFor(() => calls.length === 1, { message: 'the deletion to be reported' });
    assert.deepEqual(calls, [['src/old.js']]);
  });

  test('an explicitly watched dotfile is watched; a missing path is warned about and watched once created', async () => {
    const dir = tempProject();
    write(dir, '.env', 'A=1');
    const { calls, warnings } = await startWatcher(dir, { paths: ['.env', 'later'] });
    assert.deepEqual(warnings, ['watched path does not exist yet; watching for it to appear']);
    write(dir, '.env', 'A=2');
    await waitFor(() => calls.length === 1, { message: 'the .env change to be reported' });
    assert.deepEqual(calls, [['.env']]);

    mkdirSync(path.join(dir, 'later'));
    await delay(DEBOUNCE_MS); // chokidar needs a moment to start watching the new directory
    write(dir, 'later/config.json');
    await waitFor(() => calls.some((files) => files.includes('later/config.json')), {
      message: 'a change in the path created after start',
    });
  });

  test('close drops a pending change and stops watching', async () => {
    const dir = tempProject();
    const { calls, watcher } = await startWatcher(dir);
    write(dir, 'src/app.js');
    await watcher.close();
    write(dir, 'src/other.js');
    await delay(DEBOUNCE_MS * 3);
    assert.deepEqual(calls, []);
  });
});

describe('ignore matcher', () => {
  const cwd = '/project';
  const table: Array<[patterns: string[], file: string, ignored: boolean]> = [
    [['node_modules'], '/project/node_modules/x/index.js', true],
    [['node_modules'], '/project/src/node_modules_helper.js', false],
    [['.*'], '/project/.git/HEAD', true],
    [['.*'], '/project/src/.hidden/a.js', true],
    [['.*'], '/project/src/a.js', false],
    [['*.pyc'], '/project/pkg/mod.pyc', true],
    [['*.pyc'], '/project/pkg/mod.py', false],
    [['dist/**'], '/project/dist/a/b.js', true],
    [['dist/**'], '/project/src/dist/b.js', false],
    [['src/gen/*.js'], '/project/src/gen/a.js', true],
    [['src/gen/*.js'], '/project/src/gen/deep/a.js', false],
    [['**/*.test.js'], '/project/a.test.js', true],
    [['**/*.test.js'], '/project/x/y/a.test.js', true],
    [['build/'], '/project/sub/build/out.js', true],
    [['./tmp'], '/project/tmp/file', true],
    [['/project/cache/**'], '/project/cache/x', true],
    [['*.{log,tmp}'], '/project/x/a.tmp', true],
    [['file?.txt'], '/project/file1.txt', true],
    [['file?.txt'], '/project/file10.txt', false],
  ];
  for (const [patterns, file, ignored] of table) {
    test(`${JSON.stringify(patterns)} ${ignored ? 'ignores' : 'keeps'} ${file}`, () => {
      assert.equal(createIgnoreMatcher({ cwd, roots: ['/project'], patterns })(file), ignored);
    });
  }

  test('dot directories above a watched root do not count', () => {
    const matches = createIgnoreMatcher({ cwd: '/home/me/.config/app', roots: ['/home/me/.config/app'], patterns: ['.*'] });
    assert.equal(matches('/home/me/.config/app/index.js'), false);
    assert.equal(matches('/home/me/.config/app/.env'), true);
  });

  test('a root outside cwd is matched from the root', () => {
    const matches = createIgnoreMatcher({ cwd: '/project/app', roots: ['/project/shared'], patterns: ['.*', 'gen/**'] });
    assert.equal(matches('/project/shared/lib.js'), false);
    assert.equal(matches('/project/shared/gen/x.js'), true);
    assert.equal(matches('/project/shared/.tmp'), true);
  });

  test('globToRegExp escapes regex characters', () => {
    assert.equal(globToRegExp('a+b(c).js').test('a+b(c).js'), true);
    assert.equal(globToRegExp('a.js').test('abjs'), false);
    assert.equal(globToRegExp('{unclosed').test('{unclosed'), true);
  });
});
