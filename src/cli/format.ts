// Pure text formatting for `supervise ctl`: sizes, durations, percentages,
// aligned tables and the status view. No I/O, so every rule is unit-tested.

import type { AppStatus, RemoteServerStatus, SystemStatus, TlsCertificateStatus } from '../core/system-api.js';
import type { AutoscaleStatus, FrontThreadStats, SupervisorStatus, WorkerStatus } from '../core/types.js';

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 512 → "512 B", 47290777 → "45.1 MiB" (binary units, as `ps` and `top` count memory). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // 1023.96 KiB would round to "1024.0 KiB"; show it in the next unit instead.
  if (value.toFixed(1) === '1024.0' && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** 35_000 → "35s", 245_000 → "4m05s", 3_720_000 → "1h02m", 273_600_000 → "3d04h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${pad2(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad2(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

/** 3.24 → "3.2%". */
export function formatPercent(percent: number): string {
  return Number.isFinite(percent) ? `${percent.toFixed(1)}%` : '-';
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

export interface Column {
  readonly header: string;
  readonly align?: 'left' | 'right';
}

/** Columns separated by two spaces, padded to the widest cell; no trailing spaces. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...rows.map((row) => (row[index] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? '';
        const width = widths[index] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- status view

const WORKER_COLUMNS: readonly Column[] = [
  { header: 'SLOT', align: 'right' },
  { header: 'PID', align: 'right' },
  { header: 'PORT', align: 'right' },
  { header: 'STATE' },
  { header: 'CPU', align: 'right' },
  { header: 'MEMORY', align: 'right' },
  { header: 'UPTIME', align: 'right' },
  { header: 'RESTARTS', align: 'right' },
  { header: 'CONNS', align: 'right' },
  { header: 'GEN', align: 'right' },
];

const STATUS_COLUMN: Column = { header: 'STATUS' };
/** Past this, a STATUS= text is cut (it may be up to 4 KiB): the table stays one line a worker. */
const STATUS_WIDTH = 60;

function statusText(text: string | undefined): string {
  if (text === undefined) return '-';
  const line = text.replace(/\s+/g, ' ');
  return line.length > STATUS_WIDTH ? `${line.slice(0, STATUS_WIDTH - 1)}…` : line;
}

/** The `supervise ctl status` view: one summary line, then a row per worker, sorted by slot. */
/** A native http front's data-plane threads and the requests each answered: ", 2 threads: 10512 / 9830 requests". */
function threadsOf(front: { readonly threads?: readonly FrontThreadStats[] }): string {
  const threads = front.threads ?? [];
  if (threads.length < 2) return '';
  return `, ${threads.length} threads: ${threads.map((thread) => thread.requests).join(' / ')} requests`;
}

export function formatStatus(status: SupervisorStatus & { readonly servers?: readonly RemoteServerStatus[] }, nowMs = Date.now()): string {
  const summary =
    `pid ${status.pid}  mode ${status.mode}  port ${status.port}  ` +
    // `front` may be missing when an older supervisor answers.
    (status.front === undefined || status.front.kind === 'none' ? '' : `front ${status.front.kind} (${status.front.dataPath}${threadsOf(status.front)})  `) +
    `desired ${status.desired}  ${describeGeneration(status)}`;
  const workers = [...status.workers].sort((a, b) => a.slot - b.slot || a.generation - b.generation || a.id - b.id);
  // A worker's own STATUS= (sd_notify) text, in a last column only when some worker sent one.
  const withStatus = workers.some((w) => w.status !== undefined);
  const columns = withStatus ? [...WORKER_COLUMNS, STATUS_COLUMN] : WORKER_COLUMNS;
  const rows = workers.map((w) => (withStatus ? [...workerRow(w), statusText(w.status)] : workerRow(w)));
  const servers = status.servers ?? [];
  if (workers.length === 0 && servers.length > 0) return `${summary}\n${formatServers(servers)}\n`;
  const table = formatTable(columns, rows);
  const autoscale = status.autoscale === undefined ? '' : `${describeAutoscale(status.autoscale, nowMs)}\n`;
  const serverTable = servers.length === 0 ? '' : `\n${formatServers(servers)}`;
  return `${summary}\n${autoscale}${table}${workers.length === 0 ? '\n(no workers)' : ''}${serverTable}\n`;
}

/** "autoscale 1…4: cpu 12.3 / 10 %, rps 0 / 200  last: 1 → 4, 12s ago: cpu 95 % for target 50 %: recommends 4" */
export function describeAutoscale(autoscale: AutoscaleStatus, nowMs: number): string {
  const metrics = autoscale.metrics.map((m) => `${m.metric} ${m.value === undefined ? '-' : m.value} / ${m.target}${m.metric === 'cpu' ? ' %' : ''}`);
  const { last } = autoscale;
  const decided = last === undefined
    ? 'no decision yet'
    : `last: ${last.from} → ${last.to}, ${formatDuration(Math.max(0, nowMs - Date.parse(last.at)))} ago: ${last.reason}`;
  return `autoscale ${autoscale.min}…${autoscale.max}: ${metrics.join(', ')}  ${decided}`;
}

/** Remote servers (SPEC §13): one row each, with their health and whether they take traffic. */
export function formatServers(servers: readonly RemoteServerStatus[]): string {
  const columns: Column[] = ['SERVER', 'FROM', 'WEIGHT', 'STATE', 'ROTATION', 'CONNS', 'TOTAL'].map((header) => ({ header }));
  const rows = servers.map((server) => [
    server.server,
    server.origin,
    `${server.weight}${server.backup ? ' backup' : ''}`,
    server.state,
    server.inRotation ? 'in' : 'out',
    String(server.connections),
    String(server.total),
  ]);
  return formatTable(columns, rows);
}

/**
 * The generation the ready workers run, which is not always the latest number:
 * a reload bumps it first, and an aborted one leaves every worker on the old one.
 * "generation 2", "generation 1 → 2 (reloading)", "generation 1 (reload to 2 aborted)".
 */
export function describeGeneration(status: Pick<SupervisorStatus, 'generation' | 'reloading' | 'workers'>): string {
  const serving = [...new Set(status.workers.filter((w) => w.state === 'ready').map((w) => w.generation))].sort((a, b) => a - b);
  const latest = status.generation;
  if (status.reloading) {
    const from = serving.filter((g) => g !== latest);
    return from.length === 0 ? `generation ${latest}  (reloading)` : `generation ${from.join(', ')} → ${latest}  (reloading)`;
  }
  if (serving.length === 0 || (serving.length === 1 && serving[0] === latest)) return `generation ${latest}`;
  if (!serving.includes(latest)) return `generation ${serving.join(', ')}  (reload to ${latest} aborted)`;
  return `generations ${serving.join(', ')}`;
}

/**
 * The status of a system: one app as before; several (or one asked for by
 * name) grouped by app, each with its summary line and its table.
 */
export function formatSystemStatus(status: SystemStatus, app?: string): string {
  const apps = status.apps ?? [];
  const certificates = (status.tls ?? []).filter((certificate) => app === undefined || certificate.front === app || certificate.front === 'front');
  const tls = certificates.length === 0 ? '' : `\n${formatCertificates(certificates)}\n`;
  if (app === undefined && apps.length <= 1 && status.workers !== undefined) return formatStatus(status as SupervisorStatus) + tls;
  const shown = app === undefined ? apps : apps.filter((each) => each.name === app);
  return shown.map((each: AppStatus) => `app ${each.name}  ${formatStatus(each)}`).join('\n') + tls;
}

/** TLS certificates (SPEC §14): one row each, with the days left before they expire. */
export function formatCertificates(certificates: readonly TlsCertificateStatus[]): string {
  const columns: Column[] = ['CERTIFICATE', 'FRONT', 'SUBJECT', 'NAMES', 'NOT AFTER', 'DAYS LEFT'].map((header) => ({ header }));
  const rows = certificates.map((certificate) => [
    certificate.file,
    certificate.front,
    certificate.subject,
    certificate.names.join(',') || '-',
    certificate.notAfter,
    certificate.daysLeft < 0 ? `${certificate.daysLeft} (EXPIRED)` : String(certificate.daysLeft),
  ]);
  return formatTable(columns, rows);
}

function workerRow(worker: WorkerStatus): string[] {
  // Without a process (backoff, exited) usage and uptime mean nothing.
  const running = worker.pid !== undefined && worker.state !== 'exited' && worker.state !== 'backoff';
  // A live process has some resident memory: 0 means not sampled yet (a worker started since the last round).
  const sampled = running && worker.memory > 0;
  return [
    String(worker.slot),
    worker.pid === undefined ? '-' : String(worker.pid),
    String(worker.port),
    worker.state === 'ready' && !worker.healthy ? 'ready (unhealthy)' : worker.state,
    sampled ? formatPercent(worker.cpu) : '-',
    sampled ? formatBytes(worker.memory) : '-',
    running ? formatDuration(worker.uptimeMs) : '-',
    String(worker.restarts),
    worker.connections === undefined ? '-' : String(worker.connections),
    String(worker.generation),
  ];
}
