// Defaults, config-file loading and validation -> a frozen Config.
// Precedence: defaults < config file < command-line flags. Every error names the
// setting (as a flag, or as the file's key), the allowed range and the bad value.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError, errorMessage } from './errors.js';
import { parseDuration, parseSize } from './units.js';
import { MAX_WORKERS, MIN_WORKERS, type BalancePolicy, type Config, type LogFormat, type ProxyKind } from './core/types.js';

/** Settings as they come from flags or a config file: strings, numbers or booleans. */
export interface RawSettings {
  workers?: unknown;
  port?: unknown;
  host?: unknown;
  basePort?: unknown;
  proxy?: unknown;
  balance?: unknown;
  health?: unknown;
  healthInterval?: unknown;
  healthTimeout?: unknown;
  healthyThreshold?: unknown;
  unhealthyThreshold?: unknown;
  readyTimeout?: unknown;
  waitReady?: unknown;
  killTimeout?: unknown;
  watch?: unknown;
  watchIgnore?: unknown;
  watchDebounce?: unknown;
  maxMemory?: unknown;
  control?: unknown;
  logFormat?: unknown;
  logLevel?: unknown;
  heartbeatTimeout?: unknown;
  liveness?: unknown;
  livenessInterval?: unknown;
  livenessThreshold?: unknown;
  restartDelay?: unknown;
  maxRestartDelay?: unknown;
  maxFailedStarts?: unknown;
  maxRequests?: unknown;
  maxRequestsJitter?: unknown;
  /** Config file only: the cluster-mode script. */
  script?: unknown;
  /** Config file only: the spawn-mode command, as an array or a string. */
  command?: unknown;
}

const SETTING_KEYS: ReadonlySet<string> = new Set<keyof RawSettings>([
  'workers', 'port', 'host', 'basePort', 'proxy', 'balance', 'health', 'healthInterval',
  'healthTimeout', 'healthyThreshold', 'unhealthyThreshold', 'readyTimeout', 'waitReady',
  'killTimeout', 'watch', 'watchIgnore', 'watchDebounce', 'maxMemory', 'control', 'logFormat',
  'logLevel', 'script', 'command', 'heartbeatTimeout', 'liveness', 'livenessInterval', 'livenessThreshold',
  'restartDelay', 'maxRestartDelay', 'maxFailedStarts', 'maxRequests', 'maxRequestsJitter',
]);

const PROXIES: readonly ProxyKind[] = ['tcp', 'http', 'none'];
const POLICIES: readonly BalancePolicy[] = ['round-robin', 'least-conn', 'weighted-round-robin'];
const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const SCRIPT_EXTENSIONS = ['.js', '.mjs', '.cjs'];

export interface ConfigInput {
  /** From the command line; wins over the file. */
  readonly flags: RawSettings;
  /** Cluster mode: positional arguments (script, then its arguments). */
  readonly positional: readonly string[];
  /** Spawn mode: everything after `--`; undefined when there was no `--`. */
  readonly command: readonly string[] | undefined;
  readonly configFile: string | undefined;
  readonly cwd: string;
  readonly stdoutIsTTY: boolean;
}

/** How a setting is called in messages: its flag, and the file key when it came from a file. */
function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function loadConfigFile(path: string): RawSettings {
  if (!existsSync(path)) throw new UsageError(`config file not found: ${path}`, 'CONFIG_NOT_FOUND');
  let data: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    data = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UsageError(`config file ${path} is not valid: ${errorMessage(error).split('\n')[0]}`, 'CONFIG_INVALID');
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`config file ${path} must hold an object of settings`, 'CONFIG_INVALID');
  }
  const settings: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(data)) {
    // Accept the flags' spelling (base-port) as well as camelCase (basePort).
    const key = rawKey.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!SETTING_KEYS.has(key)) {
      throw new UsageError(`config file ${path}: unknown setting "${rawKey}"`, 'CONFIG_INVALID');
    }
    settings[key] = value;
  }
  return settings as RawSettings;
}

/** Reads one setting, flags first, and remembers where it came from for the error message. */
class SettingReader {
  constructor(
    private readonly flags: RawSettings,
    private readonly file: RawSettings,
    private readonly fileName: string | undefined,
  ) {}

  raw(key: keyof RawSettings): unknown {
    return this.flags[key] !== undefined ? this.flags[key] : this.file[key];
  }

  where(key: keyof RawSettings): string {
    return this.flags[key] === undefined && this.file[key] !== undefined
      ? `"${key}" in ${this.fileName}`
      : flagName(key);
  }

  integer(key: keyof RawSettings, fallback: number, min: number, max: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const number = typeof value === 'number' ? value : /^-?\d+$/.test(String(value).trim()) ? Number(value) : NaN;
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new UsageError(`${this.where(key)} must be an integer from ${min} to ${max} (got "${String(value)}")`);
    }
    return number;
  }

  duration(key: keyof RawSettings, fallback: number, min = 1): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const ms = parseDuration(value as string | number);
    if (ms === undefined || ms < min) {
      throw new UsageError(
        `${this.where(key)} must be a duration of at least ${min}ms, like 500, 500ms, 10s or 2m (got "${String(value)}")`,
      );
    }
    return ms;
  }

  choice<T extends string>(key: keyof RawSettings, fallback: T, allowed: readonly T[]): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) {
      throw new UsageError(`${this.where(key)} must be one of ${allowed.join(', ')} (got "${String(value)}")`);
    }
    return value as T;
  }

  string(key: keyof RawSettings): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      throw new UsageError(`${this.where(key)} must be a non-empty string (got ${JSON.stringify(value)})`);
    }
    return value;
  }

  boolean(key: keyof RawSettings): boolean {
    const value = this.raw(key);
    if (value === undefined) return false;
    if (typeof value !== 'boolean') throw new UsageError(`${this.where(key)} must be true or false`);
    return value;
  }

  stringList(key: keyof RawSettings): string[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((item) => typeof item === 'string' && item !== '')) {
      throw new UsageError(`${this.where(key)} must be a list of non-empty strings`);
    }
    return list as string[];
  }
}

export function buildConfig(input: ConfigInput): Config {
  const configPath = input.configFile === undefined ? undefined : resolve(input.cwd, input.configFile);
  const file = configPath === undefined ? {} : loadConfigFile(configPath);
  const read = new SettingReader(input.flags, file, configPath);

  const target = resolveTarget(input, file, configPath);
  const health = read.string('health');
  if (health !== undefined && !health.startsWith('/')) {
    throw new UsageError(`${read.where('health')} must be an HTTP path starting with / (got "${health}")`);
  }
  const maxMemoryRaw = read.raw('maxMemory');
  let maxMemoryBytes: number | undefined;
  if (maxMemoryRaw !== undefined) {
    maxMemoryBytes = parseSize(maxMemoryRaw as string | number);
    if (maxMemoryBytes === undefined || maxMemoryBytes < 1024 * 1024) {
      throw new UsageError(
        `${read.where('maxMemory')} must be a size of at least 1M, like 512M or 1G (got "${String(maxMemoryRaw)}")`,
      );
    }
  }

  const port = read.integer('port', 8080, 0, 65535);
  const basePort = read.integer('basePort', 8000, 1, 65535);
  const workers = read.integer('workers', Math.min(availableParallelism(), MAX_WORKERS), MIN_WORKERS, MAX_WORKERS);
  if (target.mode === 'spawn' && basePort + workers > 65536) {
    throw new UsageError(`${flagName('basePort')} ${basePort} leaves no room for ${workers} workers below port 65536`);
  }

  const config: Config = {
    mode: target.mode,
    script: target.script,
    args: target.args,
    workers,
    port,
    host: read.string('host') ?? '127.0.0.1',
    basePort,
    proxy: read.choice('proxy', 'tcp', PROXIES),
    balance: read.choice('balance', 'round-robin', POLICIES),
    health: {
      path: health,
      intervalMs: read.duration('healthInterval', 2000),
      timeoutMs: read.duration('healthTimeout', 1000),
      healthyThreshold: read.integer('healthyThreshold', 2, 1, 100),
      unhealthyThreshold: read.integer('unhealthyThreshold', 3, 1, 100),
    },
    readyTimeoutMs: read.duration('readyTimeout', 30_000),
    waitReady: read.boolean('waitReady'),
    killTimeoutMs: read.duration('killTimeout', 10_000, 0),
    watch: buildWatch(read, input.cwd),
    maxMemoryBytes,
    control: resolve(input.cwd, read.string('control') ?? '.supervise.sock'),
    logFormat: read.choice('logFormat', input.stdoutIsTTY ? 'pretty' : 'json', LOG_FORMATS),
    logLevel: read.choice('logLevel', 'info', LOG_LEVELS),
    cwd: input.cwd,
    ...buildLifecycle(read),
  };
  return Object.freeze(config);
}

/** Liveness and restart policy (SPEC §9). */
function buildLifecycle(read: SettingReader): Pick<Config, 'heartbeatTimeoutMs' | 'liveness' | 'restart' | 'maxRequests'> {
  const liveness = read.string('liveness');
  if (liveness !== undefined && !liveness.startsWith('/')) {
    throw new UsageError(`${read.where('liveness')} must be an HTTP path starting with / (got "${liveness}")`);
  }
  const initialMs = read.duration('restartDelay', 100);
  const maxMs = read.duration('maxRestartDelay', 30_000);
  if (maxMs < initialMs) {
    throw new UsageError(`${read.where('maxRestartDelay')} (${maxMs}ms) must not be below ${flagName('restartDelay')} (${initialMs}ms)`);
  }
  const maxFailedStarts = read.raw('maxFailedStarts') === undefined ? undefined : read.integer('maxFailedStarts', 0, 1, 1_000_000);
  const maxRequests = read.raw('maxRequests') === undefined ? undefined : read.integer('maxRequests', 0, 1, 1_000_000_000);
  return {
    heartbeatTimeoutMs: read.duration('heartbeatTimeout', 30_000, 100),
    liveness:
      liveness === undefined
        ? undefined
        : { path: liveness, intervalMs: read.duration('livenessInterval', 10_000), threshold: read.integer('livenessThreshold', 3, 1, 100) },
    restart: { initialMs, maxMs, maxFailedStarts },
    maxRequests: maxRequests === undefined ? undefined : { count: maxRequests, jitter: read.integer('maxRequestsJitter', 0, 0, 1_000_000_000) },
  };
}

function buildWatch(read: SettingReader, cwd: string): Config['watch'] {
  const raw = read.raw('watch');
  if (raw === undefined || raw === false) return undefined;
  // `--watch` alone (true) watches the working directory.
  const paths = raw === true ? ['.'] : read.stringList('watch') ?? ['.'];
  return Object.freeze({
    paths: paths.map((path) => resolve(cwd, path)),
    // The watcher adds its defaults (node_modules, .git, dotfiles, __pycache__, *.pyc).
    ignore: read.stringList('watchIgnore') ?? [],
    debounceMs: read.duration('watchDebounce', 300, 0),
  });
}

interface Target {
  readonly mode: Config['mode'];
  readonly script: string | undefined;
  readonly args: readonly string[];
}

function resolveTarget(input: ConfigInput, file: RawSettings, configPath: string | undefined): Target {
  const fromFile = commandFromFile(file, configPath);
  const command = input.command ?? (input.positional.length === 0 ? fromFile.command : undefined);
  if (command !== undefined) {
    if (input.positional.length > 0) {
      throw new UsageError(`give either a script or a command after --, not both (got "${input.positional[0]}" and "${command[0] ?? ''}")`);
    }
    if (command.length === 0 || command[0] === '') {
      throw new UsageError('missing command after --: e.g. supervise -w 3 -- uvicorn main:app --port {port}');
    }
    return { mode: 'spawn', script: undefined, args: command };
  }

  const [scriptArg, ...args] = input.positional.length > 0 ? input.positional : fromFile.script ? [fromFile.script] : [];
  if (scriptArg === undefined) {
    throw new UsageError('missing script or command: supervise [options] app.js, or supervise [options] -- <command> [args...]');
  }
  if (!SCRIPT_EXTENSIONS.includes(extname(scriptArg).toLowerCase())) {
    throw new UsageError(
      `"${scriptArg}" is not a .js, .mjs or .cjs script; to run any other server, put its command after --: supervise -- ${scriptArg} ...`,
    );
  }
  const script = resolve(input.cwd, scriptArg);
  if (!existsSync(script) || !statSync(script).isFile()) {
    throw new UsageError(`script not found: ${script}`, 'SCRIPT_NOT_FOUND');
  }
  return { mode: 'cluster', script, args };
}

function commandFromFile(file: RawSettings, configPath: string | undefined): { script?: string; command?: string[] } {
  const where = (key: string) => `"${key}" in ${configPath}`;
  if (file.script !== undefined && typeof file.script !== 'string') throw new UsageError(`${where('script')} must be a string`);
  let command: string[] | undefined;
  if (typeof file.command === 'string') command = file.command.split(/\s+/).filter(Boolean);
  else if (Array.isArray(file.command) && file.command.every((part) => typeof part === 'string')) command = file.command;
  else if (file.command !== undefined) throw new UsageError(`${where('command')} must be a string or a list of strings`);
  return { ...(typeof file.script === 'string' ? { script: file.script } : {}), ...(command ? { command } : {}) };
}
