// Shared fixture for control-socket tests: a fresh temporary directory per
// test, a control server over a fake supervisor, and cleanup of both.

import { link, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import pino from 'pino';
import { createMetrics } from '../../src/control/metrics.js';
import { type ControlServer, type ControlServerLimits, startControlServer } from '../../src/control/server.js';
import { createFakeSupervisor, type FakeSupervisor } from './fake-supervisor.js';

export const silentLogger = pino({ level: 'silent' });

/** Per-test bound: every test here finishes in well under a second. */
export const TIMEOUT = { timeout: 10_000 };

export interface ControlSocketFixture {
  /** This test's temporary directory. */
  readonly directory: string;
  /** `<directory>/control.sock`. */
  readonly socketPath: string;
  /** Starts a control server (closed after the test) over `fake`. */
  serve(
    fake?: FakeSupervisor,
    limits?: Partial<ControlServerLimits>,
    path?: string,
  ): Promise<{ fake: FakeSupervisor; server: ControlServer }>;
  /** Runs after the test, before the directory is removed (last registered, first run). */
  defer(cleanup: () => Promise<unknown>): void;
}

/** Registers beforeEach/afterEach hooks; call at the top level of a test file. */
export function useControlSocketFixture(): ControlSocketFixture {
  let directory = '';
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'supervise-ctl-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  });

  const fixture: ControlSocketFixture = {
    get directory() {
      return directory;
    },
    get socketPath() {
      return join(directory, 'control.sock');
    },
    async serve(fake = createFakeSupervisor(), limits = {}, path = fixture.socketPath) {
      const server = await startControlServer({ path, api: fake, metrics: createMetrics(fake), logger: silentLogger, limits });
      cleanups.push(async () => {
        fake.dispose();
        await server.close();
      });
      return { fake, server };
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
  return fixture;
}

/** A socket file with no listener: bind, hard-link it elsewhere, close (which unlinks the original). */
export async function makeStaleSocket(path: string): Promise<void> {
  const server = net.createServer();
  const original = `${path}.orig`;
  await new Promise<void>((done) => server.listen(original, done));
  await link(original, path);
  await new Promise<void>((done) => server.close(() => done()));
}

/** Polls instead of sleeping; fails after timeoutMs. */
export async function waitFor(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((done) => setTimeout(done, 10));
  }
}
