// A Launcher without processes, for the supervisor's lifecycle: every start is
// recorded (slot, port, time) and scripted by the test; signals are recorded and
// SIGKILL/SIGTERM end the fake worker. What a real process adds is only waiting.

import { pino } from 'pino';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import type { Config, LaunchCallbacks, LaunchSpec, Launcher } from '../../src/core/types.js';

export interface FakeStart {
  readonly spec: LaunchSpec;
  readonly at: number;
  readonly callbacks: LaunchCallbacks;
  readonly signals: string[];
  exited: boolean;
  exit(code: number | null, signal?: string | null): void;
}

export interface FakeLauncher extends Launcher {
  readonly starts: FakeStart[];
}

/** `script` runs at each start (after the start returns): call onReady, exit, … */
export function createFakeLauncher(script: (start: FakeStart) => void): FakeLauncher {
  const starts: FakeStart[] = [];
  let nextPid = 50_000;
  return {
    starts,
    start(spec, callbacks) {
      const pid = nextPid++;
      const start: FakeStart = {
        spec,
        at: Date.now(),
        callbacks,
        signals: [],
        exited: false,
        exit(code, signal = null) {
          if (start.exited) return;
          start.exited = true;
          callbacks.onExit(code, signal);
        },
      };
      starts.push(start);
      callbacks.onSpawn(pid);
      setImmediate(() => script(start));
      return {
        pid,
        drain: () => setImmediate(() => callbacks.onDrained()),
        signal(signal) {
          start.signals.push(signal);
          setImmediate(() => start.exit(null, signal));
        },
      };
    },
    async close() {},
  };
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    mode: 'spawn',
    script: undefined,
    args: ['server', '{port}'],
    workers: 1,
    port: 0,
    host: '127.0.0.1',
    basePort: 9000,
    proxy: 'none',
    balance: 'round-robin',
    health: { path: undefined, intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3 },
    readyTimeoutMs: 5000,
    waitReady: false,
    killTimeoutMs: 2000,
    maxFails: 1,
    failTimeoutMs: 10_000,
    watch: undefined,
    maxMemoryBytes: undefined,
    control: '/nonexistent',
    logFormat: 'json',
    logLevel: 'silent',
    cwd: '/',
    queueTimeoutMs: 10_000,
    readyBy: 'probe',
    watchdogMs: undefined,
    heartbeatTimeoutMs: 30_000,
    liveness: undefined,
    restart: { initialMs: 100, maxMs: 30_000, maxFailedStarts: undefined },
    maxRequests: undefined,
    ...overrides,
  };
}

export function fakeSupervisor(config: Config, launcher: Launcher, random?: () => number): Supervisor {
  return new Supervisor({ config, logger: pino({ level: 'silent' }), launcher, ...(random ? { random } : {}) });
}
