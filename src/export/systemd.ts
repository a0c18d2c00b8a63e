// A system as a systemd unit for its supervisor: Type=notify (the supervisor
// says READY=1 once its first generation serves, src/notify/supervisor-notify.ts),
// reload by SIGHUP, a watchdog, KillMode=mixed so that systemd leaves the
// draining of the workers to the supervisor until the stop budget runs out.
// Pure: SystemConfig -> the unit's text.

import type { AppConfig, SystemConfig } from '../core/system-types.js';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';

/** The supervisor pings at half of it; long enough for a loaded machine, short enough to catch a stuck master. */
export const WATCHDOG_SECONDS = 10;
/** Beyond the apps' own budgets: closing the front and the control socket, and the process's start. */
const MARGIN_SECONDS = 5;

export interface SystemdOptions {
  /** Absolute path of node and of supervise's bin/supervise.js, as ExecStart needs them. */
  readonly node: string;
  readonly bin: string;
  /** The settings file ExecStart names (absolute): a system file, or one app's settings. Default: the system's file. */
  readonly configFile?: string | undefined;
}

/** The longest chain of ready-timeouts along depends-on: apps wait for the ones they depend on. */
function startBudgetMs(apps: readonly AppConfig[]): number {
  const byName = new Map(apps.map((app) => [app.name, app]));
  const memo = new Map<string, number>();
  const chain = (app: AppConfig): number => {
    const known = memo.get(app.name);
    if (known !== undefined) return known;
    memo.set(app.name, app.readyTimeoutMs); // a cycle is the loader's error; do not recurse forever
    const before = Math.max(0, ...app.dependsOn.map((name) => byName.get(name)).filter((a) => a !== undefined).map(chain));
    memo.set(app.name, before + app.readyTimeoutMs);
    return before + app.readyTimeoutMs;
  };
  return Math.max(0, ...apps.map(chain));
}

/** systemd's quoting for an ExecStart argument. */
function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

export function systemdUnit(system: SystemConfig, options: SystemdOptions, systemName: string): string {
  const file = options.configFile ?? system.file;
  if (file === undefined) throw new UsageError('a systemd unit runs supervise with a settings file: export with --config <file>');
  const stopSeconds = Math.ceil(Math.max(0, ...system.apps.map((app) => app.killTimeoutMs)) / 1000) + MARGIN_SECONDS;
  const startSeconds = Math.ceil(startBudgetMs(system.apps) / 1000) + MARGIN_SECONDS;
  const apps = system.apps
    .map((app) => `${app.name} (${app.workers === 0 ? 'remote servers' : `${app.workers} ${app.mode === 'cluster' ? 'cluster worker' : 'server'}${app.workers === 1 ? '' : 's'}`})`)
    .join(', ');
  const lines = [
    '[Unit]',
    `Description=supervise: ${systemName} (${apps})`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    // READY=1 comes from the supervisor itself once every app's first generation is ready.
    'Type=notify',
    'NotifyAccess=main',
    `WorkingDirectory=${dirname(file)}`,
    `ExecStart=${[options.node, options.bin, '--config', file, '--log-format', 'json'].map(quote).join(' ')}`,
    // A rolling reload of every app; the supervisor says RELOADING=1 and READY=1 around it.
    'ExecReload=/bin/kill -HUP $MAINPID',
    `WatchdogSec=${WATCHDOG_SECONDS}`,
    // SIGTERM to the supervisor only: it drains and stops its workers within --kill-timeout; SIGKILL to all at TimeoutStopSec.
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    `TimeoutStartSec=${startSeconds}`,
    `TimeoutStopSec=${stopSeconds}`,
    'Restart=on-failure',
    'RestartSec=1',
    // The front holds two descriptors per proxied connection.
    'LimitNOFILE=65536',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}
