// The whole system's config (SPEC §8): a `supervise.yaml` with `apps:`, or a
// command line (with or without a one-app settings file), which is a system of
// one app. Everything is validated before anything runs, so that `ctl apply`
// and SIGHUP can refuse a broken file without touching the running apps.

import { basename, dirname, extname, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { readSettingsFile, type SettingsFile } from './config-file.js';
import {
  assembleConfig, buildConfig, clusterTarget, fileLayer, flagLayer, NO_WORKERS, resolveOptions, targetFromSettings,
  type ConfigInput, type Layer, type RawSettings, type Target,
} from './config.js';
import { camelKey, kebabKey, OPTIONS, optionSpec } from './options.js';
import { didYouMean } from './core/did-you-mean.js';
import { checkUpstreamApp, parseResolvers, parseUpstreamFlags, parseUpstreams } from './upstream-config.js';
import type { UpstreamSpec } from './core/upstreams.js';
import type { Config } from './core/types.js';
import { parseAutoscale } from './autoscale-config.js';
import { tlsFromFront } from './tls-config.js';
import type { AppConfig, FrontConfig, RouteConfig, SystemConfig } from './core/system-types.js';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** Keys of an app besides the run options. */
const APP_KEYS = new Set(['script', 'command', 'cwd', 'env', 'route', 'dependsOn', 'weights', 'autoscale', 'upstreams']);
const TOP_KEYS = new Set(['apps', 'defaults', 'front', 'control', 'logFormat', 'logLevel', 'resolvers']);

/** The system a command line describes: a system file's, or one app's. */
export function buildSystem(input: ConfigInput): SystemConfig {
  const path = input.configFile === undefined ? undefined : resolve(input.cwd, input.configFile);
  const file = path === undefined ? undefined : readSettingsFile(path);
  if (file !== undefined && 'apps' in file.data) {
    if (input.positional.length > 0 || input.command !== undefined) {
      throw new UsageError(`${file.path} is a system file (it has apps:): give no script or command with it`);
    }
    const { name: _name, ...flags } = input.flags;
    return systemFromFile(file, flags, input.stdoutIsTTY);
  }
  const config = buildConfig(input);
  const name = input.flags['name'] === undefined ? (config.workers === 0 ? 'upstreams' : defaultAppName(config)) : String(input.flags['name']);
  if (!NAME.test(name)) throw new UsageError(`--name must match [a-z0-9][a-z0-9_-]* (got "${name}")`);
  const upstreams = parseUpstreamFlags(input.flags['upstream']);
  const app: AppConfig = Object.freeze({
    ...config, ...upstreamBalance(config, upstreams), name, env: {}, routes: [], dependsOn: [], autoscale: undefined, weights: undefined, upstreams,
  });
  checkUpstreamApp(app, '--upstream');
  const resolvers = parseResolvers(input.flags['resolvers'], '--resolvers');
  return Object.freeze({ file: undefined, control: config.control, front: undefined, apps: [app], logFormat: config.logFormat, logLevel: config.logLevel, resolvers });
}

/** Re-reads a system file (ctl apply, SIGHUP); the flags the master started with still act as defaults. */
export function loadSystemFile(path: string, flags: RawSettings, stdoutIsTTY: boolean): SystemConfig {
  const file = readSettingsFile(path);
  if (!('apps' in file.data)) throw new UsageError(`${path} has no apps: section`, 'CONFIG_INVALID');
  return systemFromFile(file, flags, stdoutIsTTY);
}

const INTERPRETER = /^(node|nodejs|bun|deno|python[0-9.]*|ruby|php|perl|java)$/;

/** A command line's app: named after its script, or its command (`node server.js` -> server). */
export function defaultAppName(config: Pick<Config, 'mode' | 'script' | 'args'>): string {
  if (config.mode === 'cluster') return appName(config.script ?? 'app');
  const [command = 'app', next] = config.args;
  const named = INTERPRETER.test(basename(command)) && next !== undefined && !next.startsWith('-') ? next : command;
  return appName(named);
}

/** `uvicorn` -> uvicorn, `/srv/web/app.js` -> app, `My App.js` -> my-app. */
export function appName(scriptOrCommand: string): string {
  const base = basename(scriptOrCommand, extname(scriptOrCommand)).toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+/, '');
  return base === '' ? 'app' : base;
}

function systemFromFile(file: SettingsFile, flags: RawSettings, stdoutIsTTY: boolean): SystemConfig {
  const where = (keys: readonly (string | number)[]) => `"${keys.join('.')}" in ${file.path}${file.lineSuffix(keys)}`;
  const top = camelCased(file.data, [], TOP_KEYS, where);
  const folder = dirname(file.path);
  const context = { stdoutIsTTY };
  const system = resolveOptions([flagLayer(flags), fileLayer(top, file)], 'system', context);

  const defaults = camelCased(objectAt(file, ['defaults'], where), ['defaults'], undefined, where);
  for (const key of Object.keys(defaults)) {
    if (optionSpec(key)?.scope !== 'app' && !APP_KEYS.has(key)) {
      const raw = rawKey(file, ['defaults'], key);
      throw new UsageError(`${where(['defaults', raw])}: unknown setting "${raw}".${didYouMean(raw, appKeyNames())}`);
    }
  }
  const appsNode = file.data['apps'];
  if (typeof appsNode !== 'object' || appsNode === null || Array.isArray(appsNode) || Object.keys(appsNode).length === 0) {
    throw new UsageError(`${where(['apps'])} must map app names to their settings, e.g. apps: { web: { script: app.js } }`);
  }

  const apps: AppConfig[] = [];
  for (const name of Object.keys(appsNode)) {
    if (!NAME.test(name)) throw new UsageError(`${where(['apps', name])}: app name must match [a-z0-9][a-z0-9_-]*`);
    const keys = ['apps', name];
    const own = camelCased(objectAt(file, keys, where), keys, undefined, where);
    for (const key of Object.keys(own)) {
      const spec = optionSpec(key);
      if ((spec === undefined || spec.cliOnly || spec.scope !== 'app') && !APP_KEYS.has(key)) {
        const raw = rawKey(file, keys, key);
        throw new UsageError(`${where([...keys, raw])}: unknown setting "${raw}".${didYouMean(raw, appKeyNames())}`);
      }
    }
    const merged = { ...defaults, ...own };
    const layers: Layer[] = [fileLayer(own, file, keys), flagLayer(flags), fileLayer(defaults, file, ['defaults'])];
    const at = (key: string) => (key in own ? where([...keys, rawKey(file, keys, key)]) : where(['defaults', rawKey(file, ['defaults'], key)]));
    const atSub = (key: string, sub: string) =>
      key in own ? where([...keys, rawKey(file, keys, key), sub]) : where(['defaults', rawKey(file, ['defaults'], key), sub]);
    const cwd = resolve(folder, stringAt(merged, 'cwd', at) ?? '.');
    const values = { ...resolveOptions(layers, 'app', context), ...system };
    const target = appTarget(merged, at, cwd, where(keys));
    const layerWhere = (key: string) => (layers.find((layer) => layer.values[key] !== undefined) ?? layers[0] as Layer).where(key);
    const config = assembleConfig(values, target, cwd, layerWhere);
    const routes = parseRoutes(merged['route'], at);
    const upstreamsKey = 'upstreams' in own ? [...keys, rawKey(file, keys, 'upstreams')] : ['defaults', rawKey(file, ['defaults'], 'upstreams')];
    const upstreams = parseUpstreams(merged['upstreams'], (index) => where(index === undefined ? upstreamsKey : [...upstreamsKey, index]));
    if (routes.length > 0 && target.mode === 'spawn' && (own['port'] !== undefined || own['proxy'] !== undefined)) {
      throw new UsageError(`${where(keys)}: app "${name}" has a route, so the shared front serves it; remove its port/proxy, or its route`);
    }
    checkUpstreamApp({ ...config, routes, upstreams }, where(keys));
    if (routes.length > 0 && config.tls !== undefined) {
      throw new UsageError(`${where(keys)}: app "${name}" has a route, so the shared front terminates its TLS: move tls-cert/tls-key to front: {tls: [{cert, key, hosts}]}`);
    }
    apps.push(Object.freeze({
      ...config,
      ...upstreamBalance(config, upstreams),
      // A routed spawn app sits behind the shared L7 front, not a front of its own.
      proxy: routes.length > 0 && target.mode === 'spawn' ? 'http' : config.proxy,
      // The file's folder, not the master's, anchors the control socket too.
      control: resolve(folder, system['control'] as string),
      name,
      cwd,
      env: parseEnv(merged['env'], at),
      envAsWritten: envAsWritten(merged['env']),
      routes,
      dependsOn: parseDependsOn(merged['dependsOn'], at),
      autoscale: parseAutoscale(merged['autoscale'], (sub) => (sub === undefined ? at('autoscale') : atSub('autoscale', sub))),
      weights: parseWeights(merged['weights'], at),
      upstreams,
    }));
  }

  const front = parseFront(top['front'], where, folder);
  checkSystem(apps, front, file, where);
  return Object.freeze({
    file: file.path,
    control: resolve(folder, system['control'] as string),
    front,
    apps,
    logFormat: system['logFormat'] as SystemConfig['logFormat'],
    logLevel: system['logLevel'] as string,
    resolvers: parseResolvers(system['resolvers'], where(['resolvers'])),
  });
}

/** Remote servers have weights: plain round-robin among them is smooth weighted round-robin (equal weights: the same order). */
function upstreamBalance(config: Config, upstreams: readonly UpstreamSpec[]): Pick<Config, 'balance'> {
  return { balance: upstreams.length > 0 && config.balance === 'round-robin' ? 'weighted-round-robin' : config.balance };
}

/** An object's keys in camelCase (both spellings are accepted), with unknown top-level keys refused. */
function camelCased(
  data: Record<string, unknown>, keys: readonly string[], allowed: ReadonlySet<string> | undefined,
  where: (keys: readonly (string | number)[]) => string,
): RawSettings {
  const out: RawSettings = {};
  for (const [raw, value] of Object.entries(data)) {
    const key = camelKey(raw);
    if (allowed !== undefined && !allowed.has(key)) {
      const names = [...allowed].map(kebabKey);
      throw new UsageError(`${where([...keys, raw])}: unknown setting "${raw}"; a system file has ${names.join(', ')}.${didYouMean(raw, names)}`);
    }
    if (key in out) throw new UsageError(`${where([...keys, raw])}: "${raw}" is given twice (in two spellings)`);
    out[key] = value;
  }
  return out;
}

/** Every key an app (or `defaults`) may set, as written in a file: the app options and what to run. */
function appKeyNames(): string[] {
  return [...OPTIONS.filter((spec) => spec.scope === 'app' && !spec.cliOnly).map((spec) => spec.key), ...APP_KEYS].map(kebabKey);
}

function rawKey(file: SettingsFile, keys: readonly string[], key: string): string {
  return Object.keys(file.getIn(keys) ?? {}).find((raw) => camelKey(raw) === key) ?? key;
}

function objectAt(file: SettingsFile, keys: readonly string[], where: (keys: readonly string[]) => string): Record<string, unknown> {
  let value: unknown = file.data;
  for (const key of keys) value = (value as Record<string, unknown> | undefined)?.[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where(keys)} must be a map of settings`);
  return value as Record<string, unknown>;
}

function stringAt(settings: RawSettings, key: string, at: (key: string) => string): string | undefined {
  const value = settings[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new UsageError(`${at(key)} must be a non-empty string`);
  return value;
}

function appTarget(settings: RawSettings, at: (key: string) => string, cwd: string, app: string): Target {
  const { script, command } = targetFromSettings(settings, at);
  if (script !== undefined && command !== undefined) throw new UsageError(`${app}: give either script or command, not both`);
  if (command !== undefined) {
    if (command.length === 0) throw new UsageError(`${at('command')} must not be empty`);
    return { mode: 'spawn', script: undefined, args: command };
  }
  if (script === undefined) {
    if (settings['upstreams'] !== undefined) return NO_WORKERS;
    throw new UsageError(`${app}: needs a script (cluster mode) or a command (spawn mode), or upstreams: (remote servers)`);
  }
  const [file, ...args] = script.split(/\s+/).filter(Boolean);
  return clusterTarget(file ?? script, args, cwd);
}

/** `route: /users`, `route: {path, host, weight, strip}`, or a list of either. */
export function parseRoutes(value: unknown, at: (key: string) => string): RouteConfig[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    const route = typeof item === 'string' ? { path: item } : item;
    if (typeof route !== 'object' || route === null || Array.isArray(route)) {
      throw new UsageError(`${at('route')} must be a path like /users, or {path, host, weight, strip}`);
    }
    const { path, host, weight = 1, strip = false, ...rest } = route as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new UsageError(`${at('route')}: unknown key "${unknown[0]}"; a route has path, host, weight, strip`);
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new UsageError(`${at('route')}: path must start with / (got ${JSON.stringify(path)})`);
    }
    if (host !== undefined && (typeof host !== 'string' || host === '' || host.includes('/'))) {
      throw new UsageError(`${at('route')}: host must be a host name like api.example.com (got ${JSON.stringify(host)})`);
    }
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 1000) {
      throw new UsageError(`${at('route')}: weight must be an integer from 1 to 1000 (got ${JSON.stringify(weight)})`);
    }
    if (typeof strip !== 'boolean') throw new UsageError(`${at('route')}: strip must be true or false`);
    // `/users/` and `/users` are the same prefix.
    const normalized = path.length > 1 ? path.replace(/\/+$/, '') : path;
    return Object.freeze({ path: normalized, host: host?.toLowerCase(), weight, strip });
  });
}

/** `${VAR}` and `${VAR:-fallback}` from the master's environment. */
export function expandVariables(text: string, env: NodeJS.ProcessEnv, at: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new UsageError(`${at}: \${${name}} is not set in the master's environment (write \${${name}:-default} for a default)`);
  });
}

function parseEnv(value: unknown, at: (key: string) => string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${at('env')} must map variable names to values`);
  const env: Record<string, string> = {};
  for (const [name, raw] of Object.entries(value)) {
    if (!['string', 'number', 'boolean'].includes(typeof raw)) throw new UsageError(`${at('env')}: ${name} must be a string, number or boolean`);
    env[name] = expandVariables(String(raw), process.env, `${at('env')}: ${name}`);
  }
  return Object.freeze(env);
}

/** The env map's values as written (parseEnv has checked their types). */
function envAsWritten(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  return Object.freeze(Object.fromEntries(Object.entries(value).map(([name, raw]) => [name, String(raw)])));
}

function parseDependsOn(value: unknown, at: (key: string) => string): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  if (!list.every((item) => typeof item === 'string' && item !== '')) throw new UsageError(`${at('dependsOn')} must be a list of app names`);
  return list as string[];
}

function parseWeights(value: unknown, at: (key: string) => string): number[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((weight) => typeof weight === 'number' && Number.isInteger(weight) && weight >= 1 && weight <= 1000)) {
    throw new UsageError(`${at('weights')} must be a list of integers from 1 to 1000, one per worker slot (got ${JSON.stringify(value)})`);
  }
  return value as number[];
}

function parseFront(value: unknown, where: (keys: readonly (string | number)[]) => string, folder: string): FrontConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where(['front'])} must be {port, host, tls, redirect-http, hsts}`);
  const { port = 8080, host = '127.0.0.1', ...rest } = camelKeys(value as Record<string, unknown>);
  const unknown = Object.keys(rest).filter((key) => !['tls', 'redirectHttp', 'hsts'].includes(key));
  if (unknown.length > 0) throw new UsageError(`${where(['front', unknown[0] as string])}: unknown key; front has port, host, tls, redirect-http and hsts`);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${where(['front', 'port'])} must be an integer from 0 to 65535 (got ${JSON.stringify(port)})`);
  }
  if (typeof host !== 'string' || host === '') throw new UsageError(`${where(['front', 'host'])} must be an address like 127.0.0.1`);
  const tls = tlsFromFront(rest, folder, where, port);
  return tls === undefined ? { port, host } : { port, host, tls };
}

/** `redirect-http` and `redirectHttp` are the same key. */
function camelKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [camelKey(key), item]));
}

// ---------------------------------------------------------------- the system as a whole

/** The ports an app holds: [first, last] ranges (its workers', and its own listener). */
export function portRanges(app: AppConfig): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  // Spawn-mode workers stay within base-port … base-port+N (one spare for a reload of one worker); N up to autoscale's max.
  if (app.mode === 'spawn' && app.workers > 0) ranges.push([app.basePort, app.basePort + Math.max(app.workers, app.autoscale?.max ?? 0)]);
  if (ownsListener(app) && app.port !== 0) ranges.push([app.port, app.port]);
  if (ownsListener(app) && app.tls?.redirectHttp !== undefined) ranges.push([app.tls.redirectHttp, app.tls.redirectHttp]);
  return ranges;
}

/** Cluster apps listen on their port; spawn apps have their own front unless the shared front routes to them. */
export function ownsListener(app: AppConfig): boolean {
  if (app.mode === 'cluster') return true;
  return app.proxy !== 'none' && !isRouted(app);
}

/** A spawn app whose workers the shared front routes to (it has no front of its own). */
export function isRouted(app: AppConfig): boolean {
  return app.mode === 'spawn' && app.routes.length > 0;
}

function checkSystem(apps: readonly AppConfig[], front: FrontConfig | undefined, file: SettingsFile, where: (keys: readonly string[]) => string): void {
  const names = new Set(apps.map((app) => app.name));
  for (const app of apps) {
    for (const dependency of app.dependsOn) {
      if (!names.has(dependency)) {
        throw new UsageError(`${where(['apps', app.name])}: depends-on names "${dependency}", which is not an app of ${file.path}`);
      }
    }
    if (app.routes.length > 0 && front === undefined) {
      throw new UsageError(`${where(['apps', app.name])}: app "${app.name}" has a route but the file has no front: {port, host} to route from`);
    }
  }
  const cycle = findCycle(apps);
  if (cycle !== undefined) {
    const first = cycle[0] as string;
    const line = file.lineSuffix(['apps', first, rawKey(file, ['apps', first], 'dependsOn')]);
    throw new UsageError(`${file.path}${line}: depends-on makes a cycle: ${cycle.join(' -> ')}`);
  }

  // Each holder's line: the key that sets its ports (base-port, port), else its entry.
  const portLine = (keys: readonly string[]) => {
    const own = file.getIn(keys) ?? {};
    const key = Object.keys(own).find((raw) => ['basePort', 'port'].includes(camelKey(raw)));
    return file.lineSuffix(key === undefined ? keys : [...keys, key]).replace(/^ \((.*)\)$/, ', $1');
  };
  const holders: Array<{ name: string; range: [number, number]; line: string }> = [];
  if (front !== undefined && front.port !== 0) holders.push({ name: 'front', range: [front.port, front.port], line: portLine(['front']) });
  const redirect = front?.tls?.redirectHttp;
  if (redirect !== undefined) holders.push({ name: 'front redirect-http', range: [redirect, redirect], line: portLine(['front']) });
  for (const app of apps) for (const range of portRanges(app)) holders.push({ name: `app "${app.name}"`, range, line: portLine(['apps', app.name]) });
  for (const [index, a] of holders.entries()) {
    for (const b of holders.slice(index + 1)) {
      if (a.name !== b.name && a.range[0] <= b.range[1] && b.range[0] <= a.range[1]) {
        throw new UsageError(
          `${file.path}: ${a.name} (ports ${describeRange(a.range)}${a.line}) and ${b.name} (ports ${describeRange(b.range)}${b.line}) overlap; move one base-port or port`,
        );
      }
    }
  }
}

function describeRange([first, last]: [number, number]): string {
  return first === last ? `${first}` : `${first}–${last}`;
}

/** A depends-on cycle as names (`a -> b -> a`), or undefined. */
export function findCycle(apps: readonly Pick<AppConfig, 'name' | 'dependsOn'>[]): string[] | undefined {
  const byName = new Map(apps.map((app) => [app.name, app]));
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const index = path.indexOf(name);
    if (index >= 0) return [...path.slice(index), name];
    if (done.has(name)) return undefined;
    path.push(name);
    for (const dependency of byName.get(name)?.dependsOn ?? []) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(name);
    return undefined;
  };
  for (const app of apps) {
    const cycle = visit(app.name);
    if (cycle) return cycle;
  }
  return undefined;
}
