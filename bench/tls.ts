// TLS at the front: supervise's native http front terminating TLS
// (src/native/tls_*.c) beside nginx with `ssl`, both one process with one
// thread (nginx worker_processes 1), the same self-signed P-256 certificate,
// the same curves (X25519 first: what wrk's OpenSSL offers) and TLS 1.3, over
// the same two hello backends (plaintext).
//
// Three loads. With wrk -c50 over https: keep-alive requests, and a new
// connection per request ("Connection: close") — wrk keeps each connection's
// session (SSL_clear) and offers its ticket, so these are TLS 1.3 resumptions
// (PSK with a fresh X25519 exchange, no certificate), which is what returning
// browsers do. Full handshakes (certificate, signature, no ticket): openssl
// s_time -new, FULL_CLIENTS processes at once, one HTTP/1.0 GET per
// connection. Interleaved rounds as in proxy.ts; CPU per request is the proxy
// process's user+system time over its requests (s_time reports no latency).
//
// Acceptance (issue 19): supervise ≥ 0.9× nginx on every load (medians of the
// per-round ratios).
//
//   node dist/bench/tls.js [--rounds 3] [--duration 2] [--warmup 1] [--connections 50]
//
// BENCH_QUICK=1: 2 rounds of 1 s. BENCH_ONLY="supervise https": only these.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  childPids, errorMessage, fmtInt, fmtMs, freePorts, loadLine, machineLine, markdownTable, median, parseNumberFlags, parseWrkReport, runIfMain,
  startProcess, tempDir, WRK_REPORT, REPO, waitUntil, type Proc, type WrkResult,
} from './common.js';
import { cpuTicks, NGINX, startBackend, TICKS_PER_SECOND, unavailable, type ProxyTarget } from './lib/proxy-targets.js';
import { QUICK, wanted } from './lib/mode.js';

interface Settings {
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
}
const DEFAULTS: Settings = QUICK ? { rounds: 2, durationS: 1, warmupS: 1, connections: 50 } : { rounds: 3, durationS: 2, warmupS: 1, connections: 50 };
const USAGE = 'usage: tls.js [--rounds n] [--duration s] [--warmup s] [--connections n]';
const TARGET_RATIO = 0.9;
const LOADS = [
  { name: 'keep-alive', connectionClose: false, client: 'wrk' },
  { name: 'resumed handshake/req', connectionClose: true, client: 'wrk' },
  { name: 'full handshake/req', connectionClose: true, client: 's_time' },
] as const;
const FULL_CLIENTS = 6;  // s_time processes: each makes its connections one after another
type LoadName = (typeof LOADS)[number]['name'];
type Measured = WrkResult & { readonly cpuUsPerRequest: number };

interface Entry {
  readonly name: string;
  target: ProxyTarget | undefined;
  failure: string | undefined;
  readonly results: Map<LoadName, Measured[]>;
}

/** Whether a TLS handshake with 127.0.0.1:port succeeds. */
function tlsOk(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function ready(proc: Proc, port: number, what: string): Promise<void> {
  await waitUntil(`${what} serving TLS on port ${port}`, () => tlsOk(port), { timeoutMs: 15_000, proc });
}

function target(name: string, port: number, proc: Proc, pids: () => number[]): ProxyTarget {
  return { name, port, pids, stop: () => proc.stop(3000, { group: true }).then(() => undefined) };
}

async function startSupervise(port: number, backends: readonly number[], cert: string, key: string): Promise<ProxyTarget> {
  const env = { ...process.env, BENCH_TLS_CERT: cert, BENCH_TLS_KEY: key };
  const proc = startProcess('supervise https front', process.execPath, [join(REPO, 'dist', 'bench', 'lib', 'front-server.js'), 'http', String(port), backends.join(',')], { env });
  await ready(proc, port, 'supervise https');
  return target('supervise https', port, proc, () => [proc.pid]);
}

/** nginx, one worker, `ssl` with Mozilla's intermediate settings (what supervise serves), upstream keepalive. */
async function startNginxTls(port: number, backends: readonly number[], dir: string, cert: string, key: string): Promise<ProxyTarget> {
  const config = join(dir, 'nginx-tls.conf');
  writeFileSync(config, [
    'daemon off;', 'master_process on;', 'worker_processes 1;', `pid ${join(dir, 'nginx-tls.pid')};`, `error_log ${join(dir, 'nginx-error.log')} error;`,
    'events { worker_connections 4096; }',
    'http {', '  access_log off;',
    '  upstream hello {', ...backends.map((p) => `    server 127.0.0.1:${p};`), '    keepalive 64;', '  }',
    '  server {', `    listen 127.0.0.1:${port} ssl;`,
    `    ssl_certificate ${cert};`, `    ssl_certificate_key ${key};`,
    '    ssl_protocols TLSv1.2 TLSv1.3;', '    ssl_ecdh_curve X25519:prime256v1:secp384r1;',
    '    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;',
    '    ssl_prefer_server_ciphers off;', '    ssl_session_tickets on;',
    '    location / { proxy_pass http://hello; proxy_http_version 1.1; proxy_set_header Connection ""; }',
    '  }', '}', '',
  ].join('\n'));
  const proc = startProcess('nginx tls', NGINX, ['-e', join(dir, 'nginx-error.log'), '-p', dir, '-c', config]);
  await ready(proc, port, 'nginx ssl');
  return target('nginx ssl', port, proc, () => [proc.pid, ...childPids(proc.pid)]);
}

/** FULL_CLIENTS `openssl s_time -new` at once: full handshakes, each connection one request; a WrkResult without latencies. */
async function runFullHandshakes(entry: Entry, durationS: number): Promise<Measured> {
  const t = entry.target as ProxyTarget;
  const pids = t.pids();
  const before = cpuTicks(pids);
  const started = Date.now();
  const clients = Array.from({ length: FULL_CLIENTS }, () =>
    startProcess('openssl s_time', 'openssl', ['s_time', '-connect', `127.0.0.1:${t.port}`, '-new', '-time', String(durationS), '-www', '/'], { keepStdout: true }));
  let connections = 0;
  for (const client of clients) {
    const exit = await client.exited;
    const count = /^(\d+) connections in [\d.]+s/m.exec(client.stdout())?.[1];
    if (exit.code !== 0 || count === undefined) throw new Error(`openssl s_time failed against ${entry.name} (${exit.signal ?? exit.code}):\n${client.tail()}`);
    connections += Number(count);
  }
  const elapsedS = (Date.now() - started) / 1000;
  const ticks = cpuTicks(pids) - before;
  const none = { connect: 0, read: 0, write: 0, timeout: 0 };
  return {
    requests: connections, durationS: elapsedS, rps: connections / elapsedS, p50Ms: Number.NaN, p90Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN,
    socketErrors: none, non2xx: 0, errors: 0, cpuUsPerRequest: connections === 0 ? Number.NaN : (ticks * 1e6) / TICKS_PER_SECOND / connections,
  } as Measured;
}

async function runLoad(entry: Entry, load: (typeof LOADS)[number], settings: Settings, durationS: number): Promise<Measured> {
  if (load.client === 's_time') return runFullHandshakes(entry, durationS);
  const t = entry.target as ProxyTarget;
  const args = ['-t', '1', '-c', String(settings.connections), '-d', `${durationS}s`, '--timeout', '2s', '--latency', '-s', WRK_REPORT,
    ...(load.connectionClose ? ['-H', 'Connection: close'] : []), `https://127.0.0.1:${t.port}/`];
  const pids = t.pids();
  const before = cpuTicks(pids);
  const proc = startProcess('wrk', 'wrk', args, { keepStdout: true });
  const timer = setTimeout(() => proc.signal('SIGKILL'), (durationS + 30) * 1000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const ticks = cpuTicks(pids) - before;
  const line = proc.stdout().split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (exit.code !== 0 || line === undefined) throw new Error(`wrk failed against ${entry.name} (${exit.signal ?? exit.code}):\n${proc.tail()}`);
  const result = parseWrkReport(line.slice('WRK_JSON '.length));
  return { ...result, cpuUsPerRequest: result.requests === 0 ? Number.NaN : (ticks * 1e6) / TICKS_PER_SECOND / result.requests };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const settings = parseNumberFlags(argv, DEFAULTS, { '--rounds': 'rounds', '--duration': 'durationS', '--warmup': 'warmupS', '--connections': 'connections' }, USAGE);
  const dir = tempDir('tls');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=bench.test',
    '-addext', 'subjectAltName=DNS:bench.test', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  process.stdout.write([
    '## TLS at the front', machineLine(),
    `load: wrk -t1 -c${settings.connections} -d${settings.durationS}s over https (TLS 1.3, X25519, ECDSA P-256), GET / → "hello", keep-alive and "Connection: close" ` +
      `(a resumed handshake per request); ${FULL_CLIENTS}× openssl s_time -new (a full handshake per request, HTTP/1.0); ` +
      `${settings.rounds} interleaved rounds after a ${settings.warmupS}s warm-up`, '',
  ].join('\n'));
  const backendPorts = [await freePorts(1), await freePorts(1)];
  const backends = await Promise.all(backendPorts.map((port) => startBackend(port)));
  const contenders: Array<[string, string | undefined, () => Promise<ProxyTarget>]> = [
    ['supervise https', unavailable('supervise'), async () => startSupervise(await freePorts(1), backendPorts, cert, key)],
    ['nginx ssl', unavailable('nginx'), async () => startNginxTls(await freePorts(1), backendPorts, dir, cert, key)],
  ];
  const entries: Entry[] = [];
  try {
    for (const [name, missing, start] of contenders) {
      if (!wanted(name, true)) continue;
      const entry: Entry = { name, target: undefined, failure: missing, results: new Map() };
      entries.push(entry);
      if (missing !== undefined) continue;
      try {
        entry.target = await start();
        for (const load of LOADS) await runLoad(entry, load, settings, settings.warmupS);
      } catch (error) {
        entry.failure = errorMessage(error);
      }
    }
    const live = entries.filter((entry) => entry.failure === undefined);
    for (let round = 0; round < settings.rounds; round++) {
      for (const load of LOADS) {
        for (let i = 0; i < live.length; i++) {
          const entry = live[(i + round) % live.length] as Entry;
          const list = entry.results.get(load.name) ?? [];
          list.push(await runLoad(entry, load, settings, settings.durationS));
          entry.results.set(load.name, list);
        }
      }
    }
  } finally {
    for (const entry of entries) await entry.target?.stop().catch(() => undefined);
    for (const backend of backends) await backend.stop();
  }
  process.stdout.write(`${report(entries)}\n${loadLine()}\n`);
  return 0;
}

function report(entries: readonly Entry[]): string {
  const rows: string[][] = [];
  for (const entry of entries) {
    if (entry.failure !== undefined) {
      rows.push([entry.name, 'n/a', '', '', '', `not measured: ${entry.failure}`]);
      continue;
    }
    for (const load of LOADS) {
      const runs = entry.results.get(load.name) ?? [];
      rows.push([entry.name, load.name, fmtInt(median(runs.map((r) => r.rps))), load.client === 's_time' ? '—' : fmtMs(median(runs.map((r) => r.p99Ms))),
        median(runs.map((r) => r.cpuUsPerRequest)).toFixed(1), String(runs.reduce((n, r) => n + r.errors, 0))]);
    }
  }
  const lines = [markdownTable(['target', 'load', 'req/s', 'p99 ms', 'CPU µs/req', 'errors'], rows), ''];
  const ours = entries.find((entry) => entry.name === 'supervise https');
  const nginx = entries.find((entry) => entry.name === 'nginx ssl');
  if (ours?.failure === undefined && nginx?.failure === undefined && ours !== undefined && nginx !== undefined) {
    for (const load of LOADS) {
      const a = ours.results.get(load.name) ?? [];
      const b = nginx.results.get(load.name) ?? [];
      const ratio = median(a.map((run, i) => run.rps / (b[i]?.rps ?? Number.NaN)));
      lines.push(`${ratio >= TARGET_RATIO ? 'PASS' : 'FAIL'} ${load.name}: supervise https ${ratio.toFixed(2)}× nginx ssl req/s (target ≥ ${TARGET_RATIO}×)`);
    }
  }
  return lines.join('\n');
}

runIfMain(import.meta.url, main);
