// The control socket's routes: one small function per request, plus the pure
// validation they rely on. Nothing here touches sockets or streams; the server
// (server.ts) reads the request, calls `handleRequest`, and writes the Reply.
//
// Status codes, chosen so that `curl -f` and `supervise ctl` fail when the
// operation failed:
//   200  done (reload/scale/restart answer when the work is finished)
//   202  accepted (stop: the answer is sent before the supervisor stops)
//   400  the request is malformed or a value is out of range
//   404  unknown path or unknown worker slot
//   405  known path, wrong method
//   500  the supervisor tried and failed (e.g. a new worker never became ready):
//        the body is `{ok:false, error, ...}` and says why

import { MAX_WORKERS, MIN_WORKERS, type ScaleRequest, type SupervisorApi, type WorkerStatus } from '../core/types.js';
import type { SystemApi } from '../core/system-api.js';
import type { EventHub } from './events.js';
import type { Metrics } from './metrics.js';
import type { LogStore } from '../logs/store.js';

export interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Work to start once the reply has been sent (stop must answer before it stops). */
  readonly afterSend?: () => Promise<void>;
  /** A streamed answer: the head is sent without a length, then `stream` writes to the response until it ends. */
  readonly stream?: (response: import('node:http').ServerResponse) => void;
}

/** What the streaming routes read from; absent parts answer 404. */
export interface Streams {
  readonly events?: EventHub | undefined;
  readonly logs?: LogStore | undefined;
}

export interface RequestContext {
  readonly system: SystemApi;
  readonly metrics: Metrics;
  /** The parsed JSON body, or undefined when the request had none. */
  readonly body: unknown;
  /** Path parameters, e.g. `slot` in /workers/:slot/restart. */
  readonly params: Readonly<Record<string, string>>;
  /** The query string (`/logs?app=web&n=50`). */
  readonly query?: URLSearchParams;
  readonly streams?: Streams | undefined;
}

export type Handler = (context: RequestContext) => Promise<Reply> | Reply;

export function jsonReply(status: number, value: unknown, extra: Partial<Omit<Reply, 'status' | 'body'>> = {}): Reply {
  return { contentType: 'application/json; charset=utf-8', ...extra, status, body: `${JSON.stringify(value)}\n` };
}

export function errorReply(status: number, message: string, headers?: Record<string, string>): Reply {
  return jsonReply(status, { error: message }, headers === undefined ? {} : { headers });
}

// ---------------------------------------------------------------- handlers

async function getStatus({ system }: RequestContext): Promise<Reply> {
  await system.refreshUsage?.();
  return jsonReply(200, system.status());
}

async function getMetrics({ system, metrics }: RequestContext): Promise<Reply> {
  await system.refreshUsage?.();
  return { status: 200, contentType: metrics.contentType, body: await metrics.render() };
}

/** The app a request acts on: the named one, or the only one; else the reply that says why not. */
function targetApp({ system, params }: RequestContext, verb: string): SupervisorApi | Reply {
  const names = system.appNames();
  const name = params['name'];
  if (name === undefined) {
    const [only] = names;
    if (names.length === 1 && only !== undefined) return system.app(only) as SupervisorApi;
    return errorReply(400, `there are ${names.length} apps (${names.join(', ')}): name one, POST /apps/<name>/${verb}`);
  }
  return system.app(name) ?? errorReply(404, `no app named ${JSON.stringify(truncate(name))}; apps: ${names.join(', ')}`);
}

async function postScale(context: RequestContext): Promise<Reply> {
  const api = targetApp(context, 'scale');
  if ('status' in api && 'body' in api) return api;
  const request = validateScaleRequest(context.body, api.status().desired);
  if (typeof request === 'string') return errorReply(400, request);
  const result = await api.scale(request);
  return jsonReply(result.ok ? 200 : 500, result);
}

async function postReload(context: RequestContext): Promise<Reply> {
  // The supervisor coalesces reloads that arrive during one, so a second
  // request simply waits for the reload that will include its changes.
  // Without a name and with several apps, every app is reloaded.
  if (context.params['name'] === undefined && context.system.appNames().length > 1) {
    const result = await context.system.reloadAll('control socket');
    return jsonReply(result.ok ? 200 : 500, result);
  }
  const api = targetApp(context, 'reload');
  if ('status' in api && 'body' in api) return api;
  const result = await api.reload('control socket');
  return jsonReply(result.ok ? 200 : 500, result);
}

async function postRestartWorker(context: RequestContext): Promise<Reply> {
  const api = targetApp(context, 'workers/<slot>/restart');
  if ('status' in api && 'body' in api) return api;
  const slot = validateSlot(context.params['slot'] ?? '', api.status().workers);
  if (typeof slot !== 'number') return errorReply(slot.status, slot.error);
  const result = await api.restartWorker(slot);
  return jsonReply(result.ok ? 200 : 500, result.ok ? { ok: true, slot } : { ok: false, slot, error: result.error ?? 'restart failed' });
}

const NDJSON = 'application/x-ndjson; charset=utf-8';

function getEvents({ streams }: RequestContext): Reply {
  const events = streams?.events;
  if (events === undefined) return errorReply(404, 'this supervisor has no event stream');
  return { status: 200, contentType: NDJSON, body: '', stream: (response) => events.subscribe(response) };
}

function getLogs({ streams, query }: RequestContext): Reply {
  const logs = streams?.logs;
  if (logs === undefined) return errorReply(404, 'this supervisor keeps no logs');
  const request = validateLogsQuery(query ?? new URLSearchParams(), logs.apps());
  if (typeof request === 'string') return errorReply(400, request);
  return { status: 200, contentType: NDJSON, body: '', stream: (response) => logs.serve(response, request) };
}

async function postApply({ system }: RequestContext): Promise<Reply> {
  const result = await system.apply('ctl apply');
  // A file that does not validate is the request's fault (400); a failure while applying is 500.
  return jsonReply(result.ok ? 200 : 'invalid' in result && result.invalid ? 400 : 500, result);
}

function postStop({ system }: RequestContext): Reply {
  const { pid } = system.status();
  return jsonReply(202, { ok: true, pid }, { afterSend: () => system.stop('control socket') });
}

// ---------------------------------------------------------------- routing

interface Route {
  readonly method: 'GET' | 'POST';
  /** Segments; one starting with ':' captures a parameter. */
  readonly path: string;
  readonly handler: Handler;
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/status', handler: getStatus },
  { method: 'POST', path: '/scale', handler: postScale },
  { method: 'POST', path: '/reload', handler: postReload },
  { method: 'POST', path: '/workers/:slot/restart', handler: postRestartWorker },
  { method: 'POST', path: '/apps/:name/scale', handler: postScale },
  { method: 'POST', path: '/apps/:name/reload', handler: postReload },
  { method: 'POST', path: '/apps/:name/workers/:slot/restart', handler: postRestartWorker },
  { method: 'POST', path: '/apply', handler: postApply },
  { method: 'POST', path: '/stop', handler: postStop },
  { method: 'GET', path: '/metrics', handler: getMetrics },
  { method: 'GET', path: '/events', handler: getEvents },
  { method: 'GET', path: '/logs', handler: getLogs },
];

const ROUTE_LIST = ROUTES.map((route) => `${route.method} ${route.path}`).join(', ');

export type RouteMatch =
  | { readonly handler: Handler; readonly params: Readonly<Record<string, string>> }
  | { readonly reply: Reply };

/** Finds the handler for a request, or the 404/405 reply that explains why there is none. */
export function matchRoute(method: string, pathname: string): RouteMatch {
  // Tolerate a trailing slash: `/status/` is what some users type.
  const normalized = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  // HEAD is GET without a body (node drops the body itself), so `curl -I` works.
  const wanted = method === 'HEAD' ? 'GET' : method;
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const params = matchPath(route.path, normalized);
    if (params === undefined) continue;
    if (route.method === wanted) return { handler: route.handler, params };
    allowed.push(route.method);
  }
  if (allowed.length > 0) {
    return {
      reply: errorReply(405, `${method} is not allowed on ${normalized}; use ${allowed.join(' or ')}`, {
        allow: allowed.join(', '),
      }),
    };
  }
  return { reply: errorReply(404, `no such endpoint: ${method} ${truncate(pathname)}; endpoints: ${ROUTE_LIST}`) };
}

function matchPath(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = pathname.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, segment] of want.entries()) {
    const actual = got[index] ?? '';
    if (segment.startsWith(':')) {
      if (actual === '') return undefined;
      params[segment.slice(1)] = safeDecode(actual);
    } else if (segment !== actual) {
      return undefined;
    }
  }
  return params;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// ---------------------------------------------------------------- validation (pure)

const SCALE_FORM = 'the body must be a JSON object {"workers": n} or {"delta": ±n}';

/**
 * Checks a /scale body against the current desired count. Returns the request
 * to pass on, or a message naming the field, the allowed range and the bad value.
 */
export function validateScaleRequest(body: unknown, desired: number): ScaleRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return SCALE_FORM;
  const keys = Object.keys(body);
  const unknown = keys.filter((key) => key !== 'workers' && key !== 'delta');
  if (unknown.length > 0) return `unknown field ${unknown.map((key) => JSON.stringify(key)).join(', ')}: ${SCALE_FORM}`;
  const fields = body as { workers?: unknown; delta?: unknown };
  if ('workers' in fields && 'delta' in fields) return 'give either "workers" or "delta", not both';

  if ('workers' in fields) {
    const workers = fields.workers;
    if (!isInteger(workers) || workers < MIN_WORKERS || workers > MAX_WORKERS) {
      return `"workers" must be an integer from ${MIN_WORKERS} to ${MAX_WORKERS} (got ${describe(workers)})`;
    }
    return { workers };
  }
  if ('delta' in fields) {
    const delta = fields.delta;
    if (!isInteger(delta) || delta === 0) {
      return `"delta" must be a non-zero integer (got ${describe(delta)})`;
    }
    const target = desired + delta;
    if (target < MIN_WORKERS || target > MAX_WORKERS) {
      return (
        `"delta" ${delta > 0 ? '+' : ''}${delta} would make ${target} workers (now ${desired}); ` +
        `the result must be from ${MIN_WORKERS} to ${MAX_WORKERS}`
      );
    }
    return { delta };
  }
  return SCALE_FORM;
}

export interface LogsQuery {
  /** undefined: every app. */
  readonly app: string | undefined;
  /** How many of the latest lines to send first. */
  readonly lines: number;
  readonly follow: boolean;
}

export const DEFAULT_LOG_LINES = 100;

/** `/logs?app=<name>&n=<lines>&follow=1`, checked against the apps that exist. */
export function validateLogsQuery(query: URLSearchParams, apps: readonly string[]): LogsQuery | string {
  const unknown = [...query.keys()].filter((key) => key !== 'app' && key !== 'n' && key !== 'follow');
  if (unknown.length > 0) return `unknown query parameter ${JSON.stringify(unknown[0])}: use app, n and follow`;
  const app = query.get('app') ?? undefined;
  if (app !== undefined && app !== '' && !apps.includes(app)) {
    return `no app named ${JSON.stringify(truncate(app))}; apps: ${apps.join(', ') || 'none'}`;
  }
  const n = query.get('n');
  if (n !== null && (!/^\d{1,6}$/.test(n) || Number(n) > 100_000)) {
    return `n must be a whole number of lines from 0 to 100000 (got ${JSON.stringify(truncate(n))})`;
  }
  const follow = query.get('follow');
  if (follow !== null && !['1', '0', 'true', 'false', ''].includes(follow)) {
    return `follow must be 1 or 0 (got ${JSON.stringify(truncate(follow))})`;
  }
  return {
    app: app === '' ? undefined : app,
    lines: n === null ? DEFAULT_LOG_LINES : Number(n),
    follow: follow === '1' || follow === 'true' || follow === '',
  };
}

/** Parses a slot path segment and checks that a worker holds that slot. */
export function validateSlot(text: string, workers: readonly WorkerStatus[]): number | { status: 400 | 404; error: string } {
  if (!/^\d{1,4}$/.test(text)) {
    return { status: 400, error: `slot must be a whole number such as 0 (got ${JSON.stringify(truncate(text))})` };
  }
  const slot = Number(text);
  if (!workers.some((worker) => worker.slot === slot)) {
    return { status: 404, error: `no worker in slot ${slot}; slots in use: ${describeSlots(workers)}` };
  }
  return slot;
}

/** "0–3, 7": slots as ranges, so that 1024 workers make a short message. */
export function describeSlots(workers: readonly WorkerStatus[]): string {
  const slots = [...new Set(workers.map((worker) => worker.slot))].sort((a, b) => a - b);
  const ranges: Array<[first: number, last: number]> = [];
  for (const slot of slots) {
    const open = ranges[ranges.length - 1];
    if (open !== undefined && slot === open[1] + 1) open[1] = slot;
    else ranges.push([slot, slot]);
  }
  if (ranges.length === 0) return 'none';
  return ranges.map(([first, last]) => (first === last ? `${first}` : `${first}–${last}`)).join(', ');
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return truncate(json === undefined ? String(value) : json);
}

function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
