// `--watch`: turn file changes into one debounced "these files changed" call,
// which the supervisor turns into a rolling reload.
//
// chokidar 5 takes no globs, so ignore patterns are compiled here into a
// predicate. Node's `path.matchesGlob` is not used: on Node 20 it prints an
// ExperimentalWarning into the supervisor's output and is missing before 20.17.

import { existsSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/**
 * Always ignored, whatever `--watch-ignore` adds: dependencies, VCS data,
 * dotfiles, Python bytecode, and logs (a log written in the watched folder
 * would otherwise reload the workers that write it, for ever).
 */
export const DEFAULT_WATCH_IGNORE: readonly string[] = ['node_modules', '.git', '.*', '__pycache__', '*.pyc', '*.log'];

/** pino-compatible: a pino logger can be passed as is. */
export interface WatchLogger {
  warn(obj: object, msg: string): void;
}

export interface FileWatcherOptions {
  /** Files or directories to watch, relative to `cwd` or absolute. */
  readonly paths: readonly string[];
  /** Extra ignore globs (added to DEFAULT_WATCH_IGNORE). */
  readonly ignore: readonly string[];
  /** Changes closer together than this make one `onChange` call. */
  readonly debounceMs: number;
  readonly cwd: string;
  /** Files that never trigger a reload, by absolute path: the ones the supervisor itself writes. */
  readonly ignoreFiles?: readonly string[];
  /** The changed files, relative to `cwd`, sorted. */
  onChange(files: string[]): void;
  readonly logger?: WatchLogger;
}

export interface FileWatcher {
  /** Resolves once the initial scan is done; changes before that are not reported. */
  ready(): Promise<void>;
  /** Stops watching; a pending debounced call is dropped. */
  close(): Promise<void>;
}

export function createFileWatcher(options: FileWatcherOptions): FileWatcher {
  const { cwd, debounceMs, logger } = options;
  const roots = options.paths.map((p) => path.resolve(cwd, p));
  const existing = roots.filter((root) => existsSync(root));
  const missing = roots.filter((root) => !existing.includes(root));
  for (const root of missing) logger?.warn({ path: root }, 'watched path does not exist yet; watching for it to appear');
  const matchesGlob = createIgnoreMatcher({ cwd, roots, patterns: [...DEFAULT_WATCH_IGNORE, ...options.ignore] });
  const ownFiles = new Set((options.ignoreFiles ?? []).map((file) => path.resolve(cwd, file)));
  const isIgnored = (file: string): boolean => ownFiles.has(file) || matchesGlob(file);
  const debouncer = createDebouncer(debounceMs, options.onChange);

  // chokidar 5 counts a missing path twice towards 'ready', so 'ready' can fire
  // before the existing paths are watched and their first changes are lost.
  // Missing paths are therefore added only once the existing ones are ready.
  const addLater = existing.length > 0 ? missing : [];
  const watcher: FSWatcher = watch(existing.length > 0 ? existing : missing, {
    ignored: (file) => isIgnored(file),
    ignoreInitial: true,
  });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
    watcher.once('ready', () => {
      if (addLater.length > 0) watcher.add(addLater);
      resolve();
    });
  });
  watcher.on('all', (event, file) => {
    if (event === 'add' || event === 'change' || event === 'unlink') debouncer.add(path.relative(cwd, file));
  });
  watcher.on('error', (error) => logger?.warn({ err: error }, 'file watcher error'));

  return {
    ready: () => ready,
    async close() {
      debouncer.cancel();
      await watcher.close();
      markReady(); // nobody waits for a scan that will never finish
    },
  };
}

/**
 * The regular files this process's stdout and stderr write to (`supervise
 * --watch app.js > out.txt` in the watched folder): every log line would
 * otherwise be a change. Linux (/proc); elsewhere none are found.
 */
export function ownOutputFiles(): string[] {
  const files: string[] = [];
  for (const fd of [1, 2]) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (path.isAbsolute(target) && statSync(target).isFile() && !files.includes(target)) files.push(target);
    } catch {
      // no /proc, a closed descriptor, or a deleted file
    }
  }
  return files;
}

/** "., src (ignoring node_modules, .git, …)": what `--watch` watches, for the log. */
export function describeWatch(options: Pick<FileWatcherOptions, 'paths' | 'ignore' | 'cwd'>): string {
  const paths = options.paths.map((p) => path.relative(options.cwd, path.resolve(options.cwd, p)) || '.');
  return `${paths.join(', ')} (ignoring ${[...DEFAULT_WATCH_IGNORE, ...options.ignore].join(', ')} and the supervisor's own files)`;
}

// ---------------------------------------------------------------- debounce

interface Debouncer {
  add(file: string): void;
  cancel(): void;
}

/**
 * Trailing debounce: the call happens `debounceMs` after the last change. A
 * stream of changes that never pauses (a log file written inside the watched
 * tree) still flushes every `10 × debounceMs`, so reloads are delayed, not lost.
 */
function createDebouncer(debounceMs: number, flush: (files: string[]) => void): Debouncer {
  const maxWaitMs = debounceMs * 10;
  const pending = new Set<string>();
  let firstChangeAt = 0;
  let timer: NodeJS.Timeout | undefined;

  function fire(): void {
    timer = undefined;
    const files = [...pending].sort();
    pending.clear();
    flush(files);
  }

  return {
    add(file) {
      if (pending.size === 0) firstChangeAt = Date.now();
      pending.add(file);
      clearTimeout(timer);
      const untilMaxWait = firstChangeAt + maxWaitMs - Date.now();
      timer = setTimeout(fire, Math.max(0, Math.min(debounceMs, untilMaxWait)));
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
      pending.clear();
    },
  };
}

// ---------------------------------------------------------------- ignore globs

export interface IgnoreMatcherOptions {
  readonly cwd: string;
  /** Absolute watched paths. A root itself is never ignored: `--watch .env` means it. */
  readonly roots: readonly string[];
  readonly patterns: readonly string[];
}

/**
 * Compiles ignore globs, gitignore-style:
 * - a pattern without `/` (`node_modules`, `*.pyc`, `.*`) matches any one path
 *   segment below the watched root, so it ignores a directory and everything in it;
 * - a pattern with `/` (`dist/**`, `src/gen/*.js`) is anchored at `cwd` (for
 *   paths outside `cwd`, at their watched root) and matches the path or any of
 *   its parent directories.
 * Supported syntax: `*` (within a segment), `**` (any depth), `?`, `{a,b}`.
 */
export function createIgnoreMatcher({ cwd, roots, patterns }: IgnoreMatcherOptions): (absolutePath: string) => boolean {
  const segmentPatterns: RegExp[] = [];
  const anchoredPatterns: RegExp[] = [];
  for (const raw of patterns) {
    const pattern = normalizePattern(raw, cwd);
    if (pattern === '') continue;
    (pattern.includes('/') ? anchoredPatterns : segmentPatterns).push(globToRegExp(pattern));
  }
  const sortedRoots = [...roots].sort((a, b) => b.length - a.length);

  return (absolutePath) => {
    const root = sortedRoots.find((r) => absolutePath === r || absolutePath.startsWith(r + path.sep));
    if (root === absolutePath) return false;
    // Segments of the root itself are not judged: watching `.config/` or a
    // project inside a dot directory must still work.
    const belowRoot = toSegments(path.relative(root ?? cwd, absolutePath));
    if (belowRoot.some((segment) => segmentPatterns.some((re) => re.test(segment)))) return true;
    if (anchoredPatterns.length === 0) return false;
    const fromCwd = path.relative(cwd, absolutePath);
    const anchored = fromCwd.startsWith('..') || path.isAbsolute(fromCwd) ? belowRoot : toSegments(fromCwd);
    for (let depth = 1; depth <= anchored.length; depth++) {
      const prefix = anchored.slice(0, depth).join('/');
      if (anchoredPatterns.some((re) => re.test(prefix))) return true;
    }
    return false;
  };
}

function normalizePattern(raw: string, cwd: string): string {
  let pattern = raw.trim().replaceAll('\\', '/');
  if (path.isAbsolute(raw)) pattern = path.relative(cwd, raw).replaceAll('\\', '/');
  pattern = pattern.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  // `logs/` means the directory `logs` anywhere, like gitignore.
  return pattern.replace(/\/+$/, '');
}

function toSegments(relative: string): string[] {
  return relative.split(/[\\/]+/).filter((s) => s !== '' && s !== '.' && s !== '..');
}

/** Glob to an anchored RegExp over `/`-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  let braceDepth = 0;
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*' && glob[i + 1] === '*') {
      const atSegmentStart = i === 0 || glob[i - 1] === '/';
      if (atSegmentStart && glob[i + 2] === '/') {
        source += '(?:.*/)?'; // `**/` spans zero or more directories
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '{') {
      braceDepth += 1;
      source += '(?:';
    } else if (char === '}' && braceDepth > 0) {
      braceDepth -= 1;
      source += ')';
    } else if (char === ',' && braceDepth > 0) {
      source += '|';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  // An unclosed `{` is taken literally rather than failing the whole run.
  if (braceDepth > 0) return new RegExp(`^${escapeAll(glob)}$`);
  return new RegExp(`^${source}$`);
}

function escapeAll(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
