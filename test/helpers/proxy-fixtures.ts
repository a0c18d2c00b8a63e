// Fixtures of the front proxy tests: real backends on port 0 that say who they
// are, a port nobody listens on, a backend that never accepts, a recorder of
// the front's events, and one cleanup list per test.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, afterEach, before } from 'node:test';
import type { FrontEvents, WorkerId } from '../../src/core/types.js';
import type { BoundFront, FrontOptions } from '../../src/proxy/options.js';

export interface HttpBackend {
  readonly name: string;
  readonly port: number;
  readonly server: http.Server;
  /** Requests this backend has answered. */
  readonly requests: http.IncomingMessage[];
}

/** Per-test cleanups, run last-registered-first after each test. */
export function useCleanup(): (cleanup: () => unknown) => void {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // best effort: the next cleanup still runs
      }
    }
  });
  return (cleanup) => {
    cleanups.push(cleanup);
  };
}

export function listening(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Closes a server and every connection it still has. */
export function closeServer(server: net.Server | http.Server): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * An HTTP backend that answers "<name> <method> <url>" (and echoes a request
 * body after a newline), or whatever `handler` answers.
 */
export async function startHttpBackend(
  name: string,
  defer: (cleanup: () => unknown) => void,
  handler?: http.RequestListener,
): Promise<HttpBackend> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((request, response) => {
    requests.push(request);
    if (handler) {
      handler(request, response);
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      response.setHeader('X-Backend', name);
      response.end(body.length > 0 ? `${name} ${request.method} ${request.url}\n${body}` : `${name} ${request.method} ${request.url}`);
    });
  });
  const port = await listening(server);
  defer(() => closeServer(server));
  return { name, port, server, requests };
}

/** A port nothing listens on: connecting to it is refused. */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  const port = await listening(server);
  await closeServer(server);
  return port;
}

/**
 * A port whose listener never accepts: a child process binds it with a backlog
 * of 1 and blocks its event loop; once that backlog is full, connects hang.
 */
export async function blackholePort(defer: (cleanup: () => unknown) => void): Promise<number> {
  const script = `const s = require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
    require('fs').writeSync(1, s.address().port + '\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  });`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  defer(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
  });
  // Fill the backlog so that the next connects hang.
  for (let i = 0; i < 2; i++) {
    const filler = net.connect(port, '127.0.0.1');
    filler.on('error', () => undefined);
    await new Promise((resolve) => filler.once('connect', resolve));
    defer(() => filler.destroy());
  }
  return port;
}

export interface RecordedEvents extends FrontEvents {
  readonly failures: Array<{ id: WorkerId; error: Error }>;
  readonly drained: WorkerId[];
}

export function recordEvents(): RecordedEvents {
  const failures: Array<{ id: WorkerId; error: Error }> = [];
  const drained: WorkerId[] = [];
  return {
    failures,
    drained,
    onConnectFailure: (id, error) => failures.push({ id, error }),
    onDrained: (id) => drained.push(id),
  };
}

export interface SimpleResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request; `agent` false (the default) means a new connection per request. */
export function request(
  port: number,
  options: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string; agent?: http.Agent | false } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: options.path ?? '/', method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('test request timed out after 5000ms')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** How many responses came from each backend, by the first word of the body. */
export function countByBackend(bodies: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const body of bodies) {
    const name = body.split(' ')[0] as string;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/** A front started on a port someone else holds must refuse with EADDRINUSE, naming host:port. */
export async function assertNamesBusyPort(
  createFront: (options: FrontOptions) => BoundFront,
  defer: (cleanup: () => unknown) => void,
): Promise<void> {
  const holder = net.createServer();
  const busyPort = await listening(holder);
  defer(() => closeServer(holder));
  const front = createFront({ host: '127.0.0.1', port: busyPort, balance: 'round-robin', events: recordEvents() });
  await assert.rejects(front.listen(), (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, 'EADDRINUSE');
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${busyPort} is already in use`));
    return true;
  });
  await front.close(0);
}

/** The part of a front the suite fixture needs (both http data paths have it). */
interface SuiteFront {
  listen(): Promise<unknown>;
  add(backend: { id: WorkerId; host: string; port: number; weight: number }): void;
  address(): { port: number };
  close(graceMs: number): Promise<unknown>;
}

/**
 * A front made by `create` over one backend server, for a whole describe():
 * started before its tests, closed (with the backend) after them. Its port is
 * read in the tests (`fixture.port`).
 */
export function frontOverBackend(backend: net.Server | http.Server, create: (options: FrontOptions) => SuiteFront): { readonly port: number } {
  const fixture = { port: 0 };
  let front: SuiteFront | undefined;
  before(async () => {
    const backendPort = await listening(backend);
    front = create({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: recordEvents() });
    await front.listen();
    front.add({ id: 1, host: '127.0.0.1', port: backendPort, weight: 1 });
    fixture.port = front.address().port;
  });
  after(async () => {
    await front?.close(0);
    await closeServer(backend);
  });
  return fixture;
}
