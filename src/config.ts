// One app's settings -> a frozen Config, from layers of raw settings (flags, an
// app's keys in a file, a file's `defaults:`), the first layer that sets an
// option winning. Validation and defaults come from the options table
// (options.ts); every error names the setting as a flag, or as the file's key
// with its line, then the allowed range and the bad value.

import { existsSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { readSettingsFile, type SettingsFile } from './config-file.js';
import { camelKey, defaultValue, flagName, kebabKey, OPTIONS, parseOption, type DefaultContext } from './options.js';
import { didYouMean } from './core/did-you-mean.js';
import type { BalancePolicy, Config, LogFormat, LogRotate, ProxyKind } from './core/types.js';
import { parseTrustedPeers } from './core/edge.js';
import { tlsFromOptions } from './tls-config.js';

/** Settings as they come from flags or a config file: strings, numbers, booleans or lists, by camelCase key. */
export type RawSettings = Record<string, unknown>;

/** Raw settings and how to name one of them in an error message. */
export interface Layer {
  readonly values: RawSettings;
  where(key: string): string;
}

export function flagLayer(flags: RawSettings): Layer {
  return { values: flags, where: flagName };
}

/** Validated option values by key: the first layer that sets one wins, else its default. */
export function resolveOptions(layers: readonly Layer[], scope: 'app' | 'system', context: DefaultContext): RawSettings {
  const values: RawSettings = {};
  for (const spec of OPTIONS) {
    if (spec.scope !== scope) continue;
    const layer = layers.find((candidate) => candidate.values[spec.key] !== undefined);
    // `health: null` (or `~`) in a file cancels a value from defaults: the option's own default applies.
    if (layer === undefined || layer.values[spec.key] === null) {
      values[spec.key] = defaultValue(spec, context);
      continue;
    }
    const parsed = parseOption(spec, layer.values[spec.key]);
    if ('error' in parsed) throw new UsageError(`${layer.where(spec.key)} ${parsed.error}`);
    values[spec.key] = parsed.value;
  }
  return values;
}

/** What one app runs: a cluster-mode script, or a spawn-mode command. */
export interface Target {
  readonly mode: Config['mode'];
  readonly script: string | undefined;
  readonly args: readonly string[];
}

/** An app of remote servers only (`upstreams:` or `--upstream`, no script or command): no workers. */
export const NO_WORKERS: Target = Object.freeze({ mode: 'spawn', script: undefined, args: [] });

/** The Config of one app from its validated option values (app and system scope). */
export function assembleConfig(values: RawSettings, target: Target, cwd: string, where: (key: string) => string): Config {
  // An app of remote servers alone has no command and no workers.
  const workers = target.mode === 'spawn' && target.args.length === 0 ? 0 : (values['workers'] as number);
  const basePort = values['basePort'] as number;
  if (target.mode === 'spawn' && basePort + workers > 65536) {
    throw new UsageError(`${where('basePort')} ${basePort} leaves no room for ${workers} workers below port 65536`);
  }
  const config: Config = {
    mode: target.mode,
    script: target.script,
    args: target.args,
    workers,
    port: values['port'] as number,
    host: values['host'] as string,
    basePort,
    proxy: values['proxy'] as ProxyKind,
    balance: values['balance'] as BalancePolicy,
    health: {
      path: values['health'] as string | undefined,
      intervalMs: values['healthInterval'] as number,
      timeoutMs: values['healthTimeout'] as number,
      healthyThreshold: values['healthyThreshold'] as number,
      unhealthyThreshold: values['unhealthyThreshold'] as number,
    },
    readyTimeoutMs: values['readyTimeout'] as number,
    waitReady: values['waitReady'] as boolean,
    killTimeoutMs: values['killTimeout'] as number,
    maxFails: values['maxFails'] as number,
    failTimeoutMs: values['failTimeout'] as number,
    queueTimeoutMs: values['queueTimeout'] as number,
    edge: {
      clientHeaderTimeoutMs: values['clientHeaderTimeout'] as number,
      clientBodyTimeoutMs: values['clientBodyTimeout'] as number,
      connectTimeoutMs: values['connectTimeout'] as number,
      responseTimeoutMs: values['responseTimeout'] as number,
      backendReadTimeoutMs: values['backendReadTimeout'] as number,
      clientSendTimeoutMs: values['clientSendTimeout'] as number,
      keepaliveTimeoutMs: values['keepaliveTimeout'] as number,
      tunnelTimeoutMs: values['tunnelTimeout'] as number,
    },
    forwardedAllowIps: checkAllowIps(values['forwardedAllowIps'] as string[], where),
    maxHeaderSize: values['maxHeaderSize'] as number,
    tls: tlsFromOptions(values, cwd, where, { mode: target.mode, proxy: values['proxy'] as ProxyKind, port: values['port'] as number }),
    frontThreads: values['frontThreads'] as number,
    watch: buildWatch(values, cwd),
    maxMemoryBytes: values['maxMemory'] as number | undefined,
    control: resolve(cwd, values['control'] as string),
    logFormat: values['logFormat'] as LogFormat,
    logLevel: values['logLevel'] as string,
    cwd,
    logFile: buildLogFile(values, cwd, where),
    ...assembleLifecycle(values, where),
  };
  checkPortsApart(config, where);
  return config;
}

function buildLogFile(values: RawSettings, cwd: string, where: (key: string) => string): Config['logFile'] {
  const path = values['logFile'] as string | undefined;
  if (path === undefined) {
    for (const key of ['logMaxSize', 'logRotate']) {
      if (values[key] !== undefined) throw new UsageError(`${where(key)} needs a log file: add --log-file <path>`);
    }
    return undefined;
  }
  return Object.freeze({
    path: resolve(cwd, path),
    maxSizeBytes: values['logMaxSize'] as number | undefined,
    rotate: values['logRotate'] as LogRotate | undefined,
    keep: values['logKeep'] as number,
  });
}

/** Liveness and restart policy (SPEC §9). */
function assembleLifecycle(
  values: RawSettings,
  where: (key: string) => string,
): Pick<Config, 'readyBy' | 'watchdogMs' | 'heartbeatTimeoutMs' | 'liveness' | 'restart' | 'maxRequests'> {
  const initialMs = values['restartDelay'] as number;
  const maxMs = values['maxRestartDelay'] as number;
  if (maxMs < initialMs) throw new UsageError(`${where('maxRestartDelay')} (${maxMs}ms) must not be below ${where('restartDelay')} (${initialMs}ms)`);
  const liveness = values['liveness'] as string | undefined;
  const maxRequests = values['maxRequests'] as number | undefined;
  return {
    readyBy: values['ready'] as 'probe' | 'notify',
    watchdogMs: values['watchdog'] as number | undefined,
    heartbeatTimeoutMs: values['heartbeatTimeout'] as number,
    liveness:
      liveness === undefined
        ? undefined
        : { path: liveness, intervalMs: values['livenessInterval'] as number, threshold: values['livenessThreshold'] as number },
    restart: { initialMs, maxMs, maxFailedStarts: values['maxFailedStarts'] as number | undefined },
    maxRequests: maxRequests === undefined ? undefined : { count: maxRequests, jitter: values['maxRequestsJitter'] as number },
  };
}

/** The allow list, checked now: a bad entry is a usage error naming it. */
function checkAllowIps(entries: string[], where: (key: string) => string): string[] {
  try {
    parseTrustedPeers(entries);
  } catch (error) {
    throw new UsageError(`${where('forwardedAllowIps')}: ${(error as Error).message.replace(/^forwarded-allow-ips: /, '')}`);
  }
  return entries;
}

/** The front's port must not be one the workers use (their N ports, and the spare one a reload of one worker takes). */
function checkPortsApart(config: Config, where: (key: string) => string): void {
  if (config.mode !== 'spawn' || config.proxy === 'none' || config.port === 0) return;
  const last = config.basePort + config.workers;
  if (config.port < config.basePort || config.port > last) return;
  throw new UsageError(
    `${where('port')} ${config.port} overlaps the workers' ports ${config.basePort}…${last} ` +
      `(${where('basePort')} ${config.basePort}, ${config.workers} worker${config.workers === 1 ? '' : 's'} and one spare for reloads): ` +
      'choose a port outside that range',
  );
}

function buildWatch(values: RawSettings, cwd: string): Config['watch'] {
  const raw = values['watch'] as boolean | string[] | undefined;
  if (raw === undefined || raw === false) return undefined;
  // `--watch` alone (true) watches the working directory.
  const paths = raw === true ? ['.'] : raw;
  return Object.freeze({
    paths: paths.map((path) => resolve(cwd, path)),
    // The watcher adds its defaults (node_modules, .git, dotfiles, __pycache__, *.pyc, *.log).
    ignore: (values['watchIgnore'] as string[] | undefined) ?? [],
    debounceMs: values['watchDebounce'] as number,
  });
}

// ---------------------------------------------------------------- one app from the command line

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

const SCRIPT_EXTENSIONS = ['.js', '.mjs', '.cjs'];
/** Keys of a one-app settings file besides the options: what to run. */
const TARGET_KEYS = ['script', 'command'];

/** A one-app settings file (no `apps:`): option keys plus script/command. */
export function loadConfigFile(path: string): RawSettings {
  return settingsOf(readSettingsFile(path));
}

function settingsOf(file: SettingsFile): RawSettings {
  const settings: RawSettings = {};
  for (const [rawKey, value] of Object.entries(file.data)) {
    const key = camelKey(rawKey);
    const spec = OPTIONS.find((option) => option.key === key);
    if ((spec === undefined || spec.cliOnly) && !TARGET_KEYS.includes(key)) {
      const known = [...OPTIONS.filter((option) => !option.cliOnly).map((option) => option.key), ...TARGET_KEYS].map(kebabKey);
      throw new UsageError(`config file ${file.path}${file.lineSuffix([rawKey])}: unknown setting "${rawKey}".${didYouMean(rawKey, known)}`, 'CONFIG_INVALID');
    }
    settings[key] = value;
  }
  return settings;
}

/** A file layer: its errors name the key as written and its line. */
export function fileLayer(values: RawSettings, file: SettingsFile, prefix: readonly (string | number)[] = []): Layer {
  const written = new Map(Object.keys(file.getIn(prefix) ?? {}).map((raw) => [camelKey(raw), raw]));
  return {
    values,
    where: (key) => {
      const raw = written.get(key) ?? key;
      return `"${[...prefix, raw].join('.')}" in ${file.path}${file.lineSuffix([...prefix, raw])}`;
    },
  };
}

export function buildConfig(input: ConfigInput): Config {
  const configPath = input.configFile === undefined ? undefined : resolve(input.cwd, input.configFile);
  const file = configPath === undefined ? undefined : readSettingsFile(configPath);
  const settings = file === undefined ? {} : settingsOf(file);
  const layers = [flagLayer(input.flags), ...(file ? [fileLayer(settings, file)] : [])];
  const where = (key: string) => (layers.find((layer) => layer.values[key] !== undefined) ?? layers[0] as Layer).where(key);
  const context = { stdoutIsTTY: input.stdoutIsTTY };
  const values = { ...resolveOptions(layers, 'app', context), ...resolveOptions(layers, 'system', context) };
  const target = resolveTarget(input, settings, file);
  return Object.freeze(assembleConfig(values, target, input.cwd, where));
}

function resolveTarget(input: ConfigInput, settings: RawSettings, file: SettingsFile | undefined): Target {
  const fromFile = file === undefined ? {} : targetFromSettings(settings, (key) => `"${key}" in ${file.path}${file.lineSuffix([key])}`);
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
    if (input.flags['upstream'] !== undefined) return NO_WORKERS;
    throw new UsageError('missing script or command: supervise [options] app.js, or supervise [options] -- <command> [args...]');
  }
  return clusterTarget(scriptArg, args, input.cwd);
}

export function clusterTarget(scriptArg: string, args: readonly string[], cwd: string): Target {
  if (!SCRIPT_EXTENSIONS.includes(extname(scriptArg).toLowerCase())) {
    throw new UsageError(
      `"${scriptArg}" is not a .js, .mjs or .cjs script; to run any other server, put its command after --: supervise -- ${scriptArg} ...`,
    );
  }
  const script = resolve(cwd, scriptArg);
  if (!existsSync(script) || !statSync(script).isFile()) {
    throw new UsageError(`script not found: ${script}`, 'SCRIPT_NOT_FOUND');
  }
  return { mode: 'cluster', script, args };
}

/** `script` (a string) and `command` (a list, or a string split on spaces) from a file. */
export function targetFromSettings(settings: RawSettings, where: (key: string) => string): { script?: string; command?: string[] } {
  const { script, command } = settings;
  if (script !== undefined && (typeof script !== 'string' || script === '')) throw new UsageError(`${where('script')} must be a non-empty string`);
  let list: string[] | undefined;
  if (typeof command === 'string') list = command.split(/\s+/).filter(Boolean);
  else if (Array.isArray(command) && command.every((part) => typeof part === 'string')) list = command as string[];
  else if (command !== undefined) throw new UsageError(`${where('command')} must be a string or a list of strings`);
  return { ...(typeof script === 'string' ? { script } : {}), ...(list ? { command: list } : {}) };
}
