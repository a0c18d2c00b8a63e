// The L4 front: each accepted connection is tunnelled to the next backend.
//
// A hot path. Measured (docs/benchmarks.md, "Front proxy"): what it costs is
// node's per-socket and per-write machinery, the same as for a textbook
// net+pipe proxy; the choices below keep the features free on top of that:
// - the client socket is accepted paused (pauseOnConnect) and read only once a
//   backend has accepted, so a refused or timed-out connect is retried on the
//   next backend with nothing lost and nothing seen by the client;
// - bytes move with write() plus pause()/resume() on backpressure, no pipe()
//   and its per-stream listeners;
// - the upstream socket reads through `onread` into one shared buffer, which
//   skips the Readable machinery for the direction that carries the responses;
// - handlers are module-level functions that find their tunnel on the socket:
//   no closures per connection;
// - no timer per connection: one sweeping interval enforces the connect and
//   idle timeouts by comparing activity counters;
// - once both sides have ended, a socket is closed rather than shut down
//   first (one syscall less per connection).

import net from 'node:net';
import type { Backend, WorkerId } from '../core/types.js';
import { BackendRegistry, type BackendEntry } from './backend-registry.js';
import { ConnectTimeoutError } from './errors.js';
import { boundAddress, listenOn, stopAccepting } from './listen.js';
import { checkFrontOptions, DEFAULT_CONNECT_TIMEOUT_MS, type BoundFront, type FrontOptions } from './options.js';
import { createSweeper, type Sweeper } from './sweeper.js';

export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 300_000;

const kTunnel = Symbol('supervise.tunnel');

type TunnelSocket = net.Socket & { [kTunnel]: Tunnel };

/** One client connection and its current upstream attempt. */
class Tunnel {
  upstream: TunnelSocket | undefined = undefined;
  backend: BackendEntry | undefined = undefined;
  /** Backends whose connect failed for this client; allocated on the first failure only. */
  failed: Set<WorkerId> | undefined = undefined;
  connected = false;
  connectStartedAt = 0;
  clientEnded = false;
  upstreamEnded = false;
  clientClosed = false;
  /** Chunks moved in either direction; the idle sweep compares it with what it saw last. */
  activity = 0;
  activitySeen = 0;
  quietSince = 0;

  constructor(
    readonly front: TcpFront,
    readonly client: TunnelSocket,
  ) {}
}

/**
 * Upstream reads land in this buffer and are copied out at once (a pending
 * write must not see the next read overwrite it); small chunks come from
 * node's buffer pool, where a 'data' event allocates a 64 KiB read buffer and
 * shrinks it.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

class TcpFront implements BoundFront {
  readonly registry: BackendRegistry;
  private readonly server: net.Server;
  private readonly tunnels = new Set<Tunnel>();
  private readonly connecting = new Set<Tunnel>();
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private sweeper: Sweeper | undefined;
  private closing: Promise<void> | undefined;
  private onAllClosed: (() => void) | undefined;
  private refusedSinceWarning = 0;
  private lastNoBackendWarning = 0;

  constructor(private readonly options: FrontOptions) {
    checkFrontOptions(options);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS;
    this.registry = new BackendRegistry(options.balance, options.events);
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    this.server.on('connection', (client: net.Socket) => this.accept(client as TunnelSocket));
    // Accept errors (EMFILE…) must not crash the supervisor; the listener keeps going.
    this.server.on('error', (error) => {
      if (this.server.listening) this.options.logger?.error({ err: error }, 'front: accept failed');
    });
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.options.host, this.options.port);
    const timeouts = [this.connectTimeoutMs, this.idleTimeoutMs].filter((ms) => ms > 0);
    this.sweeper = createSweeper(Math.min(...timeouts), (now) => this.sweep(now));
  }

  address(): { host: string; port: number } {
    return boundAddress(this.server);
  }

  add(backend: Backend): void {
    this.registry.add(backend);
  }

  remove(id: WorkerId): void {
    this.registry.remove(id);
  }

  connections(id: WorkerId): number {
    return this.registry.connections(id);
  }

  totalConnections(id: WorkerId): number {
    return this.registry.totalConnections(id);
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      stopAccepting(this.server);
      const finish = () => {
        clearTimeout(deadline);
        this.sweeper?.stop();
        resolve();
      };
      const deadline = setTimeout(() => {
        for (const tunnel of this.tunnels) destroyTunnel(tunnel);
      }, timeoutMs);
      if (this.tunnels.size === 0) finish();
      else this.onAllClosed = finish;
    });
    return this.closing;
  }

  // -------------------------------------------------------------- per connection

  private accept(client: TunnelSocket): void {
    const tunnel = new Tunnel(this, client);
    client[kTunnel] = tunnel;
    client.on('error', onSocketError);
    client.on('close', onClientClose);
    this.tunnels.add(tunnel);
    if (this.closing !== undefined) client.destroy();
    else this.connectNext(tunnel);
  }

  /** Connects the tunnel to the next backend it has not failed on, or closes the client. */
  connectNext(tunnel: Tunnel): void {
    const backend = this.registry.pick(tunnel.failed);
    if (backend === undefined) {
      this.warnNoBackend(tunnel.failed?.size ?? 0);
      tunnel.client.destroy();
      return;
    }
    this.registry.acquire(backend);
    tunnel.backend = backend;
    tunnel.connectStartedAt = Date.now();
    const upstream = net.connect({
      host: backend.host,
      port: backend.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: { buffer: sharedReadBuffer, callback: onUpstreamRead },
    }) as TunnelSocket;
    upstream[kTunnel] = tunnel;
    upstream.on('connect', onUpstreamConnect);
    upstream.on('error', onUpstreamError);
    upstream.on('end', onUpstreamEnd);
    upstream.on('close', onUpstreamClose);
    tunnel.upstream = upstream;
    this.connecting.add(tunnel);
  }

  connected(tunnel: Tunnel): void {
    this.connecting.delete(tunnel);
  }

  /** The current upstream attempt failed before connecting: report it and try the next backend. */
  connectFailed(tunnel: Tunnel, error: Error): void {
    const backend = tunnel.backend as BackendEntry;
    this.connecting.delete(tunnel);
    tunnel.upstream = undefined;
    tunnel.backend = undefined;
    this.registry.releaseFailed(backend);
    (tunnel.failed ??= new Set()).add(backend.id);
    this.options.logger?.debug({ backend: backend.id, port: backend.port, err: error.message }, 'front: connect failed, trying the next backend');
    this.options.events.onConnectFailure(backend.id, error);
    if (tunnel.clientClosed) this.forget(tunnel);
    else this.connectNext(tunnel);
  }

  /** The tunnel's upstream closed: the backend has one connection fewer. */
  upstreamClosed(tunnel: Tunnel): void {
    this.connecting.delete(tunnel);
    const backend = tunnel.backend as BackendEntry;
    tunnel.upstream = undefined;
    tunnel.backend = undefined;
    this.registry.release(backend);
  }

  /** The client closed and no upstream is left. */
  forget(tunnel: Tunnel): void {
    this.tunnels.delete(tunnel);
    if (this.tunnels.size === 0 && this.onAllClosed !== undefined) this.onAllClosed();
  }

  private sweep(now: number): void {
    for (const tunnel of this.connecting) {
      if (now - tunnel.connectStartedAt >= this.connectTimeoutMs) {
        const backend = tunnel.backend as BackendEntry;
        // Destroying with an error routes it through onUpstreamError → connectFailed.
        tunnel.upstream?.destroy(new ConnectTimeoutError(backend.host, backend.port, this.connectTimeoutMs));
      }
    }
    if (this.idleTimeoutMs <= 0) return;
    for (const tunnel of this.tunnels) {
      if (!tunnel.connected) continue;
      if (tunnel.activity !== tunnel.activitySeen || tunnel.quietSince === 0) {
        tunnel.activitySeen = tunnel.activity;
        tunnel.quietSince = now;
      } else if (now - tunnel.quietSince >= this.idleTimeoutMs) {
        destroyTunnel(tunnel);
      }
    }
  }

  /** At most one warning per 5 s when connections are refused for lack of a backend. */
  private warnNoBackend(failedOn: number): void {
    this.refusedSinceWarning++;
    const now = Date.now();
    if (now - this.lastNoBackendWarning < 5000) return;
    this.options.logger?.warn(
      { refused: this.refusedSinceWarning, failedBackends: failedOn, inRotation: this.registry.size },
      'front: no backend available, closing client connections',
    );
    this.lastNoBackendWarning = now;
    this.refusedSinceWarning = 0;
  }
}

function destroyTunnel(tunnel: Tunnel): void {
  tunnel.upstream?.destroy();
  tunnel.client.destroy();
}

// ---------------------------------------------------------------- handlers
// Registered on every socket; `this` is the socket, its tunnel is on kTunnel.

function onSocketError(this: TunnelSocket): void {
  // 'close' follows with hadError and tears the tunnel down; nothing to do here
  // but to keep an unhandled 'error' from throwing.
}

function onUpstreamConnect(this: TunnelSocket): void {
  const tunnel = this[kTunnel];
  tunnel.connected = true;
  tunnel.front.connected(tunnel);
  const client = tunnel.client;
  client.on('data', onClientData);
  client.on('end', onClientEnd);
  client.resume();
}

function onUpstreamError(this: TunnelSocket, error: Error): void {
  const tunnel = this[kTunnel];
  if (tunnel.upstream === this && !tunnel.connected) tunnel.front.connectFailed(tunnel, error);
}

function onClientData(this: TunnelSocket, chunk: Buffer): void {
  const tunnel = this[kTunnel];
  const upstream = tunnel.upstream;
  if (upstream === undefined) return; // closed cleanly after this client's end: nothing can follow
  tunnel.activity++;
  if (!upstream.write(chunk)) {
    this.pause();
    upstream.once('drain', resumeClient);
  }
}

function resumeClient(this: TunnelSocket): void {
  this[kTunnel].client.resume();
}

function onUpstreamRead(this: TunnelSocket, length: number, buffer: Buffer): boolean {
  const tunnel = this[kTunnel];
  const chunk = Buffer.allocUnsafe(length);
  buffer.copy(chunk, 0, 0, length);
  tunnel.activity++;
  if (tunnel.client.write(chunk)) return true;
  tunnel.client.once('drain', resumeUpstream);
  return false; // pauses this upstream until the client drains
}

function resumeUpstream(this: TunnelSocket): void {
  this[kTunnel].upstream?.resume();
}

function onClientEnd(this: TunnelSocket): void {
  const tunnel = this[kTunnel];
  tunnel.clientEnded = true;
  const upstream = tunnel.upstream;
  if (upstream !== undefined) endOrClose(upstream, tunnel.upstreamEnded);
}

function onUpstreamEnd(this: TunnelSocket): void {
  const tunnel = this[kTunnel];
  tunnel.upstreamEnded = true;
  endOrClose(tunnel.client, tunnel.clientEnded);
}

/**
 * Passes an end on to `socket`. When its peer has ended too and nothing is
 * left to write, both directions are done: closing at once sends the same FIN
 * as shutdown() would, and saves a syscall and a round of stream callbacks
 * per connection (the common case of a backend closing after its response).
 */
function endOrClose(socket: TunnelSocket, peerEnded: boolean): void {
  if (peerEnded && socket.writableLength === 0) socket.destroy();
  else socket.end();
}

function onClientClose(this: TunnelSocket, hadError: boolean): void {
  const tunnel = this[kTunnel];
  tunnel.clientClosed = true;
  const upstream = tunnel.upstream;
  if (upstream === undefined) {
    tunnel.front.forget(tunnel);
    return;
  }
  // A clean close means both directions ended and the upstream finishes on its
  // own (flushing what it still has to write); a reset, or a close before the
  // client's end (or before the backend accepted), aborts the backend side too.
  if (hadError || !tunnel.clientEnded || !tunnel.connected) upstream.destroy();
}

function onUpstreamClose(this: TunnelSocket, hadError: boolean): void {
  const tunnel = this[kTunnel];
  if (tunnel.upstream !== this) return; // a failed attempt, already accounted for
  tunnel.front.upstreamClosed(tunnel);
  if (tunnel.clientClosed) tunnel.front.forget(tunnel);
  else if (hadError || !tunnel.upstreamEnded) tunnel.client.destroy();
}

export function createTcpFront(options: FrontOptions): BoundFront {
  return new TcpFront(options);
}
