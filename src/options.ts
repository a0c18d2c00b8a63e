// The one table of run options (SPEC §2). Commander's flags, the config file's
// keys, validation (ranges, choices, units), `--help` and the README's options
// table are all derived from it, so adding an option is adding one entry here
// (and reading its value where it is used, in config.ts's assembleConfig).

import { availableParallelism } from 'node:os';
import { parseDuration, parseSize } from './units.js';
import { MAX_WORKERS, MIN_WORKERS } from './core/types.js';

export type OptionKind =
  /** A whole number within min…max. */
  | 'integer'
  /** Milliseconds: 500, 500ms, 10s, 2m; at least `min` (default 1). */
  | 'duration'
  /** Bytes: 512K, 512M, 1G; at least `min`. */
  | 'size'
  /** One of `choices`. */
  | 'choice'
  /** A non-empty string. */
  | 'string'
  /** A non-empty string starting with `/` (an HTTP path). */
  | 'http-path'
  /** A switch: true or false. */
  | 'boolean'
  /** A list of non-empty strings (a single string is a list of one). */
  | 'list'
  /** `--watch`: true (bare) or a list of paths. */
  | 'switch-or-list';

/** Which mode an option means something in; the README says so. */
export type OptionMode = 'both' | 'cluster' | 'spawn';

export interface DefaultContext {
  readonly stdoutIsTTY: boolean;
}

export interface OptionSpec {
  /** camelCase: the config key (the flag's spelling `base-port` is accepted in files too). */
  readonly key: string;
  /** Commander's flag syntax, e.g. `-w, --workers <n>`. */
  readonly flag: string;
  readonly kind: OptionKind;
  /** The value when nothing sets it (undefined: off / none). */
  readonly default?: unknown;
  /** A default that depends on the machine or the terminal. */
  readonly defaultFrom?: (context: DefaultContext) => unknown;
  /** How the default reads in --help and the README. */
  readonly defaultText: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** One line for --help and the README. */
  readonly meaning: string;
  readonly mode: OptionMode;
  /** `app`: per app in a system file (and under `defaults:`); `system`: once, at the file's top level. */
  readonly scope: 'app' | 'system';
  /** Only on the command line (never a file key). */
  readonly cliOnly?: boolean;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'workers', flag: '-w, --workers <n>', kind: 'integer', min: MIN_WORKERS, max: MAX_WORKERS,
    defaultFrom: () => Math.min(availableParallelism(), MAX_WORKERS), defaultText: 'available CPUs',
    meaning: `worker count (${MIN_WORKERS} … ${MAX_WORKERS})`, mode: 'both', scope: 'app',
  },
  {
    key: 'port', flag: '-p, --port <n>', kind: 'integer', min: 0, max: 65535, default: 8080, defaultText: '8080',
    meaning: "public port (cluster: the workers' shared port; spawn: the front listener)", mode: 'both', scope: 'app',
  },
  {
    key: 'host', flag: '--host <addr>', kind: 'string', default: '127.0.0.1', defaultText: '127.0.0.1',
    meaning: 'address of the spawn-mode front listener', mode: 'spawn', scope: 'app',
  },
  {
    key: 'basePort', flag: '--base-port <n>', kind: 'integer', min: 1, max: 65535, default: 8000, defaultText: '8000',
    meaning: 'spawn mode: the first worker port, slot 0\'s until a reload (slots then move within base-port…base-port+N)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'proxy', flag: '--proxy <kind>', kind: 'choice', choices: ['tcp', 'http', 'none'], default: 'tcp', defaultText: 'tcp',
    meaning: 'spawn mode front: L4 (tcp), L7 (http), or none', mode: 'spawn', scope: 'app',
  },
  {
    key: 'balance', flag: '--balance <policy>', kind: 'choice',
    choices: ['round-robin', 'least-conn', 'weighted-round-robin', 'p2c'], default: 'round-robin', defaultText: 'round-robin',
    meaning: 'which ready worker gets the next connection or request (weights from `weights: [..]` per slot)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'health', flag: '--health <path>', kind: 'http-path', defaultText: 'none',
    meaning:
      "spawn mode: HTTP `GET` path that must answer 2xx; without it the probe is a listening check: a socket listens on the worker's port and its accept queue is not full (a TCP connect where the kernel's socket table cannot be read)",
    mode: 'spawn', scope: 'app',
  },
  {
    key: 'healthInterval', flag: '--health-interval <ms>', kind: 'duration', default: 2000, defaultText: '2000',
    meaning: 'active probe period', mode: 'spawn', scope: 'app',
  },
  {
    key: 'healthTimeout', flag: '--health-timeout <ms>', kind: 'duration', default: 1000, defaultText: '1000',
    meaning: "one probe's time limit", mode: 'spawn', scope: 'app',
  },
  {
    key: 'healthyThreshold', flag: '--healthy-threshold <n>', kind: 'integer', min: 1, max: 100, default: 2, defaultText: '2',
    meaning: 'consecutive passes before a worker takes traffic again', mode: 'spawn', scope: 'app',
  },
  {
    key: 'unhealthyThreshold', flag: '--unhealthy-threshold <n>', kind: 'integer', min: 1, max: 100, default: 3, defaultText: '3',
    meaning: 'consecutive failures before a worker leaves the rotation', mode: 'spawn', scope: 'app',
  },
  {
    key: 'readyTimeout', flag: '--ready-timeout <ms>', kind: 'duration', default: 30_000, defaultText: '30000',
    meaning: 'a new worker must be ready by then', mode: 'both', scope: 'app',
  },
  {
    key: 'waitReady', flag: '--wait-ready', kind: 'boolean', default: false, defaultText: 'off',
    meaning: "cluster mode: ready on `process.send('ready')`, not on `listening`", mode: 'cluster', scope: 'app',
  },
  {
    key: 'killTimeout', flag: '--kill-timeout <ms>', kind: 'duration', min: 0, default: 10_000, defaultText: '10000',
    meaning: 'drain limit, then from SIGTERM to SIGKILL', mode: 'both', scope: 'app',
  },
  {
    key: 'queueTimeout', flag: '--queue-timeout <ms>', kind: 'duration', min: 0, default: 10_000, defaultText: '10000',
    meaning: 'spawn mode: while no worker is ready, a client waits this long, then 503 (http) or a close (tcp); 0: at once',
    mode: 'spawn', scope: 'app',
  },
  {
    key: 'clientHeaderTimeout', flag: '--client-header-timeout <ms>', kind: 'duration', default: 60_000, defaultText: '60s',
    meaning: 'spawn mode front (http): a request head not complete this long after it began (or the previous response ended) gets 408, then a close', mode: 'spawn', scope: 'app',
  },
  {
    key: 'clientBodyTimeout', flag: '--client-body-timeout <ms>', kind: 'duration', default: 60_000, defaultText: '60s',
    meaning: 'spawn mode front (http): no request body byte for this long gets 408 and a close; the backend connection is released', mode: 'spawn', scope: 'app',
  },
  {
    key: 'connectTimeout', flag: '--connect-timeout <ms>', kind: 'duration', default: 5000, defaultText: '5s',
    meaning: 'spawn mode front: a backend that has not accepted within this time counts as failed; the next one is tried, then 502 (http) or a close (tcp)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'responseTimeout', flag: '--response-timeout <ms>', kind: 'duration', default: 60_000, defaultText: '60s',
    meaning: 'spawn mode front (http): no response head this long after the request was sent gets 504 (an idempotent request without a body is tried on the next backend first)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'backendReadTimeout', flag: '--backend-read-timeout <ms>', kind: 'duration', default: 60_000, defaultText: '60s',
    meaning: 'spawn mode front (http): no response byte for this long in the middle of a response closes both connections', mode: 'spawn', scope: 'app',
  },
  {
    key: 'clientSendTimeout', flag: '--client-send-timeout <ms>', kind: 'duration', default: 60_000, defaultText: '60s',
    meaning: 'spawn mode front (http): a client that takes no response byte for this long is closed (and its backend connection)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'keepaliveTimeout', flag: '--keepalive-timeout <ms>', kind: 'duration', default: 75_000, defaultText: '75s',
    meaning: 'spawn mode front (http): an idle client connection between requests is closed after this long', mode: 'spawn', scope: 'app',
  },
  {
    key: 'tunnelTimeout', flag: '--tunnel-timeout <ms>', kind: 'duration', default: 3_600_000, defaultText: '1h',
    meaning: 'spawn mode front: an upgraded (WebSocket) connection, or a tcp-front connection, with no byte either way for this long is closed', mode: 'spawn', scope: 'app',
  },
  {
    key: 'maxHeaderSize', flag: '--max-header-size <size>', kind: 'size', min: 1024, max: 1024 * 1024, default: 32 * 1024, defaultText: '32K',
    meaning: 'spawn mode front (http): the largest request head (every line counted, however it is split across writes); above it, 431 (1K … 1M)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'frontThreads', flag: '--front-threads <n>', kind: 'integer', min: 1, max: 64, default: 1, defaultText: '1',
    meaning: "spawn mode front (http, tcp): the native data plane's threads (1 … 64), each with its own epoll loop taking connections from the one listening socket; the supervisor's main thread only publishes decisions and reads counters", mode: 'spawn', scope: 'app',
  },
  {
    key: 'forwardedAllowIps', flag: '--forwarded-allow-ips <list...>', kind: 'list', default: ['127.0.0.1', '::1'], defaultText: '`127.0.0.1`, `::1`',
    meaning: 'spawn mode front (http): peers (addresses, CIDRs, `*` for all) whose `X-Forwarded-For/-Proto/-Host` are kept (appended to); from any other peer they are replaced by what the front saw', mode: 'spawn', scope: 'app',
  },
  {
    key: 'tlsCert', flag: '--tls-cert <pem>', kind: 'string', defaultText: 'none',
    meaning: 'spawn mode front: terminate TLS with this PEM certificate (chain included; with `--tls-key`). http: `X-Forwarded-Proto: https`; tcp: the backends get plaintext (without it, tcp passes TLS through). Re-read on SIGHUP, `ctl apply` and when the file changes (file: `front: {tls: [..]}` for several by SNI)',
    mode: 'spawn', scope: 'app',
  },
  {
    key: 'tlsKey', flag: '--tls-key <pem>', kind: 'string', defaultText: 'none',
    meaning: "the PEM private key of `--tls-cert`", mode: 'spawn', scope: 'app',
  },
  {
    key: 'hsts', flag: '--hsts <seconds>', kind: 'integer', min: 1, max: 2 ** 31 - 1, defaultText: 'off',
    meaning: 'with TLS: `Strict-Transport-Security: max-age=<seconds>` on every response (unless the backend sent one)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'redirectHttp', flag: '--redirect-http <port>', kind: 'integer', min: 1, max: 65535, defaultText: 'off',
    meaning: 'with TLS: also listen for plain HTTP on this port (same `--host`) and answer `301` to the https URL', mode: 'spawn', scope: 'app',
  },
  {
    key: 'watch', flag: '--watch [paths...]', kind: 'switch-or-list', defaultText: 'off (cwd when bare)',
    meaning: 'rolling reload on file change', mode: 'both', scope: 'app',
  },
  {
    key: 'watchIgnore', flag: '--watch-ignore <glob...>', kind: 'list',
    defaultText: '`node_modules`, `.git`, dotfiles, `__pycache__`, `*.pyc`, `*.log`',
    meaning: "never trigger a reload (added to the defaults; nor do the control socket and the supervisor's own redirected output)",
    mode: 'both', scope: 'app',
  },
  {
    key: 'watchDebounce', flag: '--watch-debounce <ms>', kind: 'duration', min: 0, default: 300, defaultText: '300',
    meaning: 'changes within this window make one reload', mode: 'both', scope: 'app',
  },
  {
    key: 'maxMemory', flag: '--max-memory <size>', kind: 'size', min: 1024 * 1024, defaultText: 'off',
    meaning: 'replace (drained) a worker whose RSS exceeds it (`512M`, `1G`)', mode: 'both', scope: 'app',
  },
  {
    key: 'ready', flag: '--ready <how>', kind: 'choice', choices: ['probe', 'notify'], default: 'probe', defaultText: 'probe',
    meaning: "spawn mode: ready on the first passing probe of the worker's own listener, or when it sends `READY=1` to `$NOTIFY_SOCKET` (systemd's notify protocol; a `STATUS=` it sends shows in `ctl status`)", mode: 'spawn', scope: 'app',
  },
  {
    key: 'watchdog', flag: '--watchdog <ms>', kind: 'duration', defaultText: 'off',
    meaning: 'spawn mode: a worker must send `WATCHDOG=1` this often (it gets `WATCHDOG_USEC`), or it is hung: replaced, then killed', mode: 'spawn', scope: 'app',
  },
  {
    key: 'heartbeatTimeout', flag: '--heartbeat-timeout <ms>', kind: 'duration', min: 100, default: 30_000, defaultText: '30s',
    meaning: "a cluster worker whose event loop sent no heartbeat for this long, or any worker stopped (SIGSTOP) this long, is hung: replaced, then killed", mode: 'both', scope: 'app',
  },
  {
    key: 'liveness', flag: '--liveness <path>', kind: 'http-path', defaultText: 'none',
    meaning: 'spawn mode: HTTP `GET` path; `--liveness-threshold` failures in a row replace the worker (`--health` only ejects)', mode: 'spawn', scope: 'app',
  },
  {
    key: 'livenessInterval', flag: '--liveness-interval <ms>', kind: 'duration', default: 10_000, defaultText: '10s',
    meaning: 'liveness probe period', mode: 'spawn', scope: 'app',
  },
  {
    key: 'livenessThreshold', flag: '--liveness-threshold <n>', kind: 'integer', min: 1, max: 100, default: 3, defaultText: '3',
    meaning: 'consecutive liveness failures that make a worker hung', mode: 'spawn', scope: 'app',
  },
  {
    key: 'restartDelay', flag: '--restart-delay <ms>', kind: 'duration', default: 100, defaultText: '100',
    meaning: 'cap of the first restart delay after a crash; doubles per quick crash; the delay is random below it (full jitter)', mode: 'both', scope: 'app',
  },
  {
    key: 'maxRestartDelay', flag: '--max-restart-delay <ms>', kind: 'duration', default: 30_000, defaultText: '30s',
    meaning: 'the restart delay cap never grows past this', mode: 'both', scope: 'app',
  },
  {
    key: 'maxFailedStarts', flag: '--max-failed-starts <n>', kind: 'integer', min: 1, max: 1_000_000, defaultText: 'unlimited',
    meaning: 'consecutive failed starts of a slot after which the app is `fatal` (with its last error) until `ctl restart`', mode: 'both', scope: 'app',
  },
  {
    key: 'maxRequests', flag: '--max-requests <n>', kind: 'integer', min: 1, max: 1_000_000_000, defaultText: 'off',
    meaning: 'replace (drained) a worker after this many requests (cluster, `--proxy http`) or connections (`--proxy tcp`)', mode: 'both', scope: 'app',
  },
  {
    key: 'maxRequestsJitter', flag: '--max-requests-jitter <n>', kind: 'integer', min: 0, max: 1_000_000_000, default: 0, defaultText: '0',
    meaning: 'add a random 0…n to `--max-requests` per worker, so workers do not recycle together', mode: 'both', scope: 'app',
  },
  {
    key: 'upstream', flag: '--upstream <server...>', kind: 'list', defaultText: 'none',
    meaning: 'a remote server `host:port[,weight=N][,backup]` (or `_service._tcp.domain` for SRV records) of the app, beside or instead of its workers; without a script or command supervise is a balancer alone (file: `upstreams:`)',
    mode: 'spawn', scope: 'app', cliOnly: true,
  },
  {
    key: 'maxFails', flag: '--max-fails <n>', kind: 'integer', min: 1, max: 1000, default: 1, defaultText: '1',
    meaning: "remote servers: this many failed attempts within `--fail-timeout` take one out of rotation for `--fail-timeout` (nginx's `max_fails`)", mode: 'spawn', scope: 'app',
  },
  {
    key: 'failTimeout', flag: '--fail-timeout <ms>', kind: 'duration', default: 10_000, defaultText: '10s',
    meaning: "remote servers: the window of `--max-fails`, and how long an ejected server stays out before it is tried again (nginx's `fail_timeout`)", mode: 'spawn', scope: 'app',
  },
  {
    key: 'name', flag: '--name <name>', kind: 'string', defaultText: 'the script or command',
    meaning: "the app's name in status, metrics and logs", mode: 'both', scope: 'app', cliOnly: true,
  },
  {
    key: 'logFile', flag: '--log-file <path>', kind: 'string', defaultText: 'none',
    meaning: "also write the workers' output to this file as JSON lines tagged app, slot, pid, generation (`app.log` is written as `app.1.log`, `app.2.log`, …)",
    mode: 'both', scope: 'app',
  },
  {
    key: 'logMaxSize', flag: '--log-max-size <size>', kind: 'size', min: 1024, defaultText: 'none',
    meaning: 'rotate the log file when it reaches this size (`10M`)', mode: 'both', scope: 'app',
  },
  {
    key: 'logRotate', flag: '--log-rotate <period>', kind: 'choice', choices: ['daily', 'hourly'], defaultText: 'none',
    meaning: 'rotate the log file every day or every hour', mode: 'both', scope: 'app',
  },
  {
    key: 'logKeep', flag: '--log-keep <n>', kind: 'integer', min: 0, max: 10_000, default: 10, defaultText: '10',
    meaning: 'rotated log files kept besides the active one', mode: 'both', scope: 'app',
  },
  {
    key: 'control', flag: '--control <path>', kind: 'string', default: '.supervise.sock', defaultText: '`./.supervise.sock`',
    meaning: 'control socket', mode: 'both', scope: 'system',
  },
  {
    key: 'config', flag: '--config <file>', kind: 'string', defaultText: 'none',
    meaning: 'JSON or YAML: one app\'s settings, or a system of apps (`apps:`); flags win over one app\'s settings and are defaults for a system',
    mode: 'both', scope: 'system', cliOnly: true,
  },
  {
    key: 'resolvers', flag: '--resolvers <addr...>', kind: 'list', defaultText: "the system's (/etc/resolv.conf)",
    meaning: 'DNS servers (`ip` or `ip:port`) that resolve remote servers\' host names and SRV names', mode: 'spawn', scope: 'system',
  },
  {
    key: 'logFormat', flag: '--log-format <format>', kind: 'choice', choices: ['pretty', 'json'],
    defaultFrom: ({ stdoutIsTTY }) => (stdoutIsTTY ? 'pretty' : 'json'), defaultText: 'pretty on a TTY, else json',
    meaning: 'master log format', mode: 'both', scope: 'system',
  },
  {
    key: 'logLevel', flag: '--log-level <level>', kind: 'choice', choices: LOG_LEVELS, default: 'info', defaultText: 'info',
    meaning: 'pino level', mode: 'both', scope: 'system',
  },
];

const BY_KEY = new Map(OPTIONS.map((spec) => [spec.key, spec]));

export function optionSpec(key: string): OptionSpec | undefined {
  return BY_KEY.get(key);
}

/** `base-port` and `basePort` are the same key. */
export function camelKey(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** `basePort` -> `--base-port`, for messages. */
export function flagName(key: string): string {
  return '--' + kebabKey(key);
}

/** `basePort` -> `base-port`: the key as the docs write it in a file. */
export function kebabKey(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** The value an option has when nothing sets it. */
export function defaultValue(spec: OptionSpec, context: DefaultContext): unknown {
  return spec.defaultFrom ? spec.defaultFrom(context) : spec.default;
}

/**
 * Validates one raw value (a flag's string, or a file's string/number/boolean/list)
 * against its entry. Returns the parsed value, or the reason it is wrong, phrased
 * to follow the setting's name: "must be an integer from 1 to 1024 (got "0")".
 */
export function parseOption(spec: OptionSpec, value: unknown): { value: unknown } | { error: string } {
  const got = `(got ${typeof value === 'string' ? `"${value}"` : JSON.stringify(value)})`;
  switch (spec.kind) {
    case 'integer': {
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      const number = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
      if (!Number.isInteger(number) || number < min || number > max) return { error: `must be an integer from ${min} to ${max} ${got}` };
      return { value: number };
    }
    case 'duration': {
      const min = spec.min ?? 1;
      const ms = typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
      if (ms === undefined || ms < min) return { error: `must be a duration of at least ${min}ms, like 500, 500ms, 10s or 2m ${got}` };
      return { value: ms };
    }
    case 'size': {
      const bytes = typeof value === 'string' || typeof value === 'number' ? parseSize(value) : undefined;
      if (bytes === undefined || bytes < (spec.min ?? 0)) {
        const least = (spec.min ?? 0) >= 1024 * 1024 ? `${(spec.min ?? 0) / (1024 * 1024)}M, like 512M or 1G` : `${(spec.min ?? 0) / 1024}K, like 512K or 10M`;
        return { error: `must be a size of at least ${least} ${got}` };
      }
      if (spec.max !== undefined && bytes > spec.max) {
        const most = spec.max >= 1024 * 1024 ? `${spec.max / (1024 * 1024)}M` : `${spec.max / 1024}K`;
        return { error: `must be a size of at most ${most} ${got}` };
      }
      return { value: bytes };
    }
    case 'choice':
      if (!spec.choices?.includes(value as string)) return { error: `must be one of ${spec.choices?.join(', ')} ${got}` };
      return { value };
    case 'string':
      if (typeof value !== 'string' || value === '') return { error: `must be a non-empty string ${got}` };
      return { value };
    case 'http-path':
      if (typeof value !== 'string' || !value.startsWith('/')) return { error: `must be an HTTP path starting with / ${got}` };
      return { value };
    case 'boolean':
      if (typeof value !== 'boolean') return { error: `must be true or false ${got}` };
      return { value };
    case 'list':
    case 'switch-or-list': {
      if (spec.kind === 'switch-or-list' && typeof value === 'boolean') return { value };
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((item) => typeof item === 'string' && item !== '')) return { error: `must be a list of non-empty strings ${got}` };
      return { value: list };
    }
  }
}

/** The README's options table, generated (a unit test keeps README.md equal to it). */
export function optionsTable(): string {
  const rows = OPTIONS.map((spec) => {
    // Short choice lists read best in the flag itself: `--proxy <tcp|http|none>`.
    const inline = spec.kind === 'choice' && spec.choices !== undefined && spec.choices.length <= 3;
    const flag = inline ? spec.flag.replace(/<[^>]+>/, `<${spec.choices?.join('\\|')}>`) : spec.flag;
    const choices = !inline && spec.choices !== undefined && spec.key !== 'logLevel' ? `: ${spec.choices.map((c) => `\`${c}\``).join(', ')}` : '';
    const scope = spec.scope === 'system' && !spec.cliOnly ? ' (system-wide in a system file)' : '';
    return `| \`${flag}\` | ${spec.defaultText} | ${spec.meaning}${choices}${scope} |`;
  });
  return ['| option | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
