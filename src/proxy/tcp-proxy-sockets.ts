// The portable L4 front, on net.Socket: what runs where the native data plane
// (http-native.ts's kind 'tcp', src/native/http_tcp.c) is not built or not
// loadable, is turned off (SUPERVISE_TCP_NATIVE=0), or where the front
// terminates TLS.
//
// Measured (docs/benchmarks.md, "Front proxy"): what it costs is node's
// per-socket and per-write machinery, the same as for a textbook net+pipe
// proxy; the choices below keep the features free on top of that:
// - the client socket is accepted paused (pauseOnConnect) and read only once a
//   backend has accepted, so a refused or timed-out connect is retried on the
//   next backend with nothing lost and nothing seen by the client;
// - bytes move with write() plus pause()/resume() on backpressure, no pipe()
//   and its per-stream listeners;
// - the upstream socket reads through `onread` into one shared buffer, which
//   skips the Readable machinery for the direction that carries the responses;
// - handlers are module-level functions that find their tunnel on the socket:
//   no closures per connection;
// - once both sides have ended, a socket is closed rather than shut down
//   first (one syscall less per connection).

import net from 'node:net';
import tls from 'node:tls';
import { tlsFrontServer } from '../tls/tls-server.js';
import type { BackendEntry } from './backend-registry.js';
import { stopAccepting } from './listen.js';
import type { BoundFront, FrontOptions } from './options.js';
import { TcpFrontBase, TunnelBase } from './tcp-front-base.js';

const kTunnel = Symbol('supervise.tunnel');

type TunnelSocket = net.Socket & { [kTunnel]: SocketTunnel };

class SocketTunnel extends TunnelBase {
  upstream: TunnelSocket | undefined = undefined;
  clientEnded = false;
  upstreamEnded = false;

  constructor(
    readonly front: SocketTcpFront,
    readonly client: TunnelSocket,
  ) {
    super();
  }
}

/**
 * Upstream reads land in this buffer and are copied out at once (a pending
 * write must not see the next read overwrite it); small chunks come from
 * node's buffer pool, where a 'data' event allocates a 64 KiB read buffer and
 * shrinks it.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

class SocketTcpFront extends TcpFrontBase<SocketTunnel> {
  protected readonly server: net.Server;

  private stopRenewals: (() => void) | undefined;

  constructor(options: FrontOptions) {
    super(options);
    if (options.tls === undefined) {
      this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
      this.server.on('connection', (client: net.Socket) => this.accept(client as TunnelSocket));
    } else {
      // TLS terminated here, plaintext to the backend (HAProxy's `mode tcp` + `ssl`). Not pauseOnConnect:
      // the handshake reads the socket; the decrypted stream is paused until a backend accepts.
      const front = tlsFrontServer(options.tls.certificates, false);
      const server = tls.createServer({ allowHalfOpen: true, noDelay: true, ...front.options });
      server.on('secureConnection', (client: tls.TLSSocket) => {
        client.pause();
        this.accept(client as unknown as TunnelSocket);
      });
      server.on('tlsClientError', (error: Error) => options.logger?.debug({ err: error.message }, 'front: TLS handshake failed'));
      this.stopRenewals = front.attach(server);
      this.server = server;
    }
    // Accept errors (EMFILE…) must not crash the supervisor; the listener keeps going.
    this.server.on('error', (error) => {
      if (this.server.listening) this.acceptFailed(error);
    });
  }

  protected stopAccepting(): void {
    this.stopRenewals?.();
    stopAccepting(this.server);
  }

  private accept(client: TunnelSocket): void {
    const tunnel = new SocketTunnel(this, client);
    client[kTunnel] = tunnel;
    client.on('error', onSocketError);
    client.on('close', onClientClose);
    this.accepted(tunnel);
  }

  protected startConnect(tunnel: SocketTunnel, backend: BackendEntry): void {
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
  }

  protected abortConnect(tunnel: SocketTunnel): void {
    const upstream = tunnel.upstream;
    // Detached first: its 'error' and 'close' then see a stale attempt and do nothing.
    tunnel.upstream = undefined;
    upstream?.destroy();
  }

  protected refuse(tunnel: SocketTunnel): void {
    tunnel.client.destroy();
  }

  destroyTunnel(tunnel: SocketTunnel): void {
    tunnel.upstream?.destroy();
    tunnel.client.destroy();
  }
}

// ---------------------------------------------------------------- handlers
// Registered on every socket; `this` is the socket, its tunnel is on kTunnel.

function onSocketError(this: TunnelSocket): void {
  // 'close' follows with hadError and tears the tunnel down; nothing to do here
  // but to keep an unhandled 'error' from throwing.
}

function onUpstreamConnect(this: TunnelSocket): void {
  const tunnel = this[kTunnel];
  tunnel.front.connected(tunnel);
  const client = tunnel.client;
  client.on('data', onClientData);
  client.on('end', onClientEnd);
  client.resume();
}

function onUpstreamError(this: TunnelSocket, error: Error): void {
  const tunnel = this[kTunnel];
  if (tunnel.upstream !== this || tunnel.connected) return;
  tunnel.upstream = undefined;
  tunnel.front.connectFailed(tunnel, error);
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
  tunnel.front.clientGone(tunnel);
  const upstream = tunnel.upstream;
  if (upstream === undefined) return;
  // A clean close means both directions ended and the upstream finishes on its
  // own (flushing what it still has to write); a reset, or a close before the
  // client's end (or before the backend accepted), aborts the backend side too.
  if (hadError || !tunnel.clientEnded || !tunnel.connected) upstream.destroy();
}

function onUpstreamClose(this: TunnelSocket, hadError: boolean): void {
  const tunnel = this[kTunnel];
  if (tunnel.upstream !== this) return; // a failed attempt, already accounted for
  tunnel.upstream = undefined;
  tunnel.front.upstreamClosed(tunnel);
  if (!tunnel.clientClosed && (hadError || !tunnel.upstreamEnded)) tunnel.client.destroy();
}

export function createSocketTcpFront(options: FrontOptions): BoundFront {
  return new SocketTcpFront(options);
}
