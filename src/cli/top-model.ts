// `supervise top`: what it knows (the latest /status, rates computed between two
// of them, short histories, recent events, the selected worker) and how that
// looks. `render(state, size)` is a pure function to lines that fit the
// terminal, so the view is unit-tested; top.ts only moves bytes.

import type { AppStatus, SystemStatus } from '../core/system-api.js';
import type { WorkerStatus } from '../core/types.js';
import { quantileMs } from '../control/request-metrics.js';
import { formatEventLine } from './events-format.js';
import { describeAutoscale, describeGeneration, formatBytes, formatDuration, formatPercent, formatTable, type Column } from './format.js';

/** Samples kept for the sparklines (one per refresh). */
export const HISTORY = 20;
const EVENTS_KEPT = 50;

interface Rates {
  readonly perSecond: number;
  readonly errorsPerSecond: number;
  readonly p99Ms: number | undefined;
}

interface Snapshot {
  readonly at: number;
  readonly count: number;
  readonly errors: number;
  readonly buckets: readonly number[];
}

export interface TopState {
  status: SystemStatus | undefined;
  /** Why the supervisor cannot be read (it stopped, the socket is gone). */
  error: string | undefined;
  readonly snapshots: Map<string, Snapshot>;
  readonly rates: Map<string, Rates>;
  /** Requests per second, per app. */
  readonly requestHistory: Map<string, number[]>;
  /** CPU percent, per "app/slot". */
  readonly cpuHistory: Map<string, number[]>;
  readonly events: string[];
  selected: number;
  /** The outcome of the last key's action. */
  message: string | undefined;
}

export function initialState(): TopState {
  return { status: undefined, error: undefined, snapshots: new Map(), rates: new Map(), requestHistory: new Map(), cpuHistory: new Map(), events: [], selected: 0, message: undefined };
}

function push(series: Map<string, number[]>, key: string, value: number): void {
  const values = series.get(key) ?? [];
  values.push(value);
  if (values.length > HISTORY) values.shift();
  series.set(key, values);
}

/** A new /status: rates since the previous one, and one more sample in each history. */
export function applyStatus(state: TopState, status: SystemStatus, at: number): void {
  state.status = status;
  state.error = undefined;
  for (const app of status.apps) {
    for (const worker of app.workers) {
      if (worker.state !== 'exited') push(state.cpuHistory, `${app.name}/${worker.slot}`, worker.cpu);
    }
    const requests = app.requests;
    if (requests === undefined) continue;
    const now: Snapshot = { at, count: requests.count, errors: requests.classes[4] ?? 0, buckets: requests.buckets };
    const before = state.snapshots.get(app.name);
    state.snapshots.set(app.name, now);
    if (before === undefined || now.at <= before.at) continue;
    const seconds = (now.at - before.at) / 1000;
    const count = Math.max(0, now.count - before.count);
    const rates: Rates = {
      perSecond: count / seconds,
      errorsPerSecond: Math.max(0, now.errors - before.errors) / seconds,
      p99Ms: quantileMs(now.buckets.map((n, i) => n - (before.buckets[i] ?? 0)), count, 0.99),
    };
    state.rates.set(app.name, rates);
    push(state.requestHistory, app.name, rates.perSecond);
  }
  state.selected = Math.min(state.selected, Math.max(0, workerRows(status).length - 1));
}

/** A line of the event stream (NDJSON), kept as the line ctl events prints. */
export function applyEvent(state: TopState, line: string): void {
  if (line.includes('"type":"hello"')) return;
  state.events.push(formatEventLine(line));
  if (state.events.length > EVENTS_KEPT) state.events.shift();
}

export function moveSelection(state: TopState, delta: number): void {
  const count = state.status === undefined ? 0 : workerRows(state.status).length;
  state.selected = Math.max(0, Math.min(count - 1, state.selected + delta));
}

interface WorkerRow {
  readonly app: AppStatus;
  readonly worker: WorkerStatus;
}

function workerRows(status: SystemStatus): WorkerRow[] {
  return status.apps.flatMap((app) =>
    [...app.workers]
      .filter((worker) => worker.state !== 'exited')
      .sort((a, b) => a.slot - b.slot || a.id - b.id)
      .map((worker) => ({ app, worker })),
  );
}

/** The selected worker (keys act on it and on its app). */
export function selection(state: TopState): { app: string; slot: number } | undefined {
  if (state.status === undefined) return undefined;
  const row = workerRows(state.status)[state.selected];
  return row === undefined ? undefined : { app: row.app.name, slot: row.worker.slot };
}

// ---------------------------------------------------------------- the view

const BARS = '▁▂▃▄▅▆▇█';

/** "▁▃█▅": each value against the series' largest (at least `floor`). */
export function sparkline(values: readonly number[], floor = 1): string {
  const top = Math.max(floor, ...values);
  return values.map((value) => BARS[Math.min(BARS.length - 1, Math.max(0, Math.round((value / top) * (BARS.length - 1))))]).join('');
}

function rate(value: number | undefined): string {
  if (value === undefined) return '-';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function latency(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return Number.isFinite(ms) ? `≤${ms}ms` : '>10s';
}

const APP_COLUMNS: readonly Column[] = [
  { header: 'APP' }, { header: 'READY', align: 'right' }, { header: 'GENERATION' }, { header: 'REQ/S', align: 'right' },
  { header: 'ERR/S', align: 'right' }, { header: 'P99', align: 'right' }, { header: 'REQUESTS' },
];

const WORKER_COLUMNS: readonly Column[] = [
  { header: ' ' }, { header: 'APP' }, { header: 'SLOT', align: 'right' }, { header: 'PID', align: 'right' },
  { header: 'PORT', align: 'right' }, { header: 'STATE' }, { header: 'HEALTH' }, { header: 'CPU', align: 'right' },
  { header: 'MEMORY', align: 'right' }, { header: 'CONNS', align: 'right' }, { header: 'RESTARTS', align: 'right' },
  { header: 'UPTIME', align: 'right' }, { header: 'GEN', align: 'right' }, { header: 'CPU HISTORY' },
];

export const KEYS_HELP = 'q quit  ↑/↓ select  r reload app  +/- scale app  x restart worker';

export interface Size {
  readonly columns: number;
  readonly rows: number;
}

/** The screen: exactly `size.rows` lines (or fewer), none wider than `size.columns`. */
const SERVER_COLUMNS: Column[] = ['APP', 'SERVER', 'WEIGHT', 'STATE', 'ROTATION', 'CONNS'].map((header) => ({ header }));

export function render(state: TopState, size: Size, now = new Date()): string[] {
  const lines: string[] = [];
  const status = state.status;
  lines.push(`supervise top  ${status === undefined ? '' : `pid ${status.pid}  ${status.apps.length} app${status.apps.length === 1 ? '' : 's'}  `}${now.toISOString().slice(11, 19)}`);
  lines.push(KEYS_HELP);
  lines.push('');
  if (status === undefined) {
    lines.push(state.error === undefined ? 'connecting…' : `cannot read the supervisor: ${state.error}`);
    return fit(lines, size);
  }
  if (state.error !== undefined) lines.push(`(stale) cannot read the supervisor: ${state.error}`);

  const appRows = status.apps.map((app) => {
    const ready = app.workers.filter((w) => w.state === 'ready').length;
    const rates = state.rates.get(app.name);
    return [
      app.name,
      `${ready}/${app.desired}`,
      describeGeneration(app).replace(/^generations? /, ''),
      app.requests === undefined ? '-' : rate(rates?.perSecond),
      app.requests === undefined ? '-' : rate(rates?.errorsPerSecond),
      app.requests === undefined ? '-' : latency(rates?.p99Ms),
      sparkline(state.requestHistory.get(app.name) ?? []),
    ];
  });
  lines.push(...formatTable(APP_COLUMNS, appRows).split('\n'));
  // Autoscaled apps: what the autoscaler sees, and what it decided last.
  for (const app of status.apps) {
    if (app.autoscale !== undefined) lines.push(`${app.name}  ${describeAutoscale(app.autoscale, now.getTime())}`);
  }
  lines.push('');

  const rows = workerRows(status);
  const table = formatTable(
    WORKER_COLUMNS,
    rows.map(({ app, worker }, index) => {
      const running = worker.pid !== undefined && worker.state !== 'backoff';
      return [
        index === state.selected ? '>' : ' ',
        app.name,
        String(worker.slot),
        worker.pid === undefined ? '-' : String(worker.pid),
        String(worker.port),
        worker.state,
        worker.state !== 'ready' ? '-' : worker.healthy ? 'ok' : 'ejected',
        running ? formatPercent(worker.cpu) : '-',
        running ? formatBytes(worker.memory) : '-',
        worker.connections === undefined ? '-' : String(worker.connections),
        String(worker.restarts),
        running ? formatDuration(worker.uptimeMs) : '-',
        String(worker.generation),
        sparkline(state.cpuHistory.get(`${app.name}/${worker.slot}`) ?? [], 10),
      ];
    }),
  ).split('\n');
  // Room for the header, the workers, then the events and the message line.
  const [header = '', ...body] = table;
  const room = Math.max(1, size.rows - lines.length - 1 - 4);
  const first = Math.max(0, Math.min(state.selected - room + 1, body.length - room));
  lines.push(header, ...body.slice(Math.max(0, first), Math.max(0, first) + room));
  if (rows.length === 0) lines.push('(no workers)');
  lines.push('');
  // Remote servers (SPEC §13): no process, so no CPU or memory; their health and whether they take traffic.
  const servers = status.apps.flatMap((app) => (app.servers ?? []).map((server) => [
    app.name, server.server, `${server.weight}${server.backup ? ' backup' : ''}`, server.state, server.inRotation ? 'in' : 'out', String(server.connections),
  ]));
  if (servers.length > 0) lines.push(...formatTable(SERVER_COLUMNS, servers).split('\n'), '');

  const left = size.rows - lines.length - 1;
  if (left > 1) {
    lines.push('events');
    lines.push(...state.events.slice(-(left - 1)));
  }
  const padded = fit(lines, { columns: size.columns, rows: size.rows - 1 });
  while (padded.length < size.rows - 1) padded.push('');
  padded.push(clip(state.message ?? '', size.columns));
  return padded;
}

function clip(line: string, columns: number): string {
  // Characters, not bytes: the sparklines are one column each.
  const chars = [...line];
  return chars.length > columns ? chars.slice(0, columns).join('') : line;
}

function fit(lines: readonly string[], size: Size): string[] {
  return lines.slice(0, Math.max(0, size.rows)).map((line) => clip(line, size.columns));
}
