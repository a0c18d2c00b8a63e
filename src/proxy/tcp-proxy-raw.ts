// The fast L4 front: the tunnel moves bytes between two libuv TCP handles
// (raw-tcp.ts) without building a net.Socket for either side. Per connection
// that saves two Duplex streams with their state machines, listeners and
// close ticks — most of the front's CPU per new connection (docs/benchmarks.md,
// "Raw handles experiment"). What it keeps from the portable front
// (tcp-proxy-sockets.ts), through the shared TcpFrontBase:
// - net.Server binds and closes the listener (same errors, same address());
//   once it listens, its handle's accepts come here instead of to net;
// - the client is read only once a backend has accepted: a refused or
//   timed-out connect is retried on the next backend, unseen by the client;
// - half-close: an end read on one side is passed on as a shutdown of the
//   other, which may keep sending; a side is closed once it has ended and been
//   ended (at once, without a shutdown, when nothing is left to write to it);
// - backpressure: while a write is queued in libuv (the kernel did not take it
//   all), the side that produced it is not read.
// The bytes move in tcp-raw-sides.ts; or, where the native tunnel
// (native-tunnel.ts) was built, it connects to the backend this front chose
// and moves the bytes, by the same rules, in C, with no JavaScript per chunk;
// this front keeps the rest (balancing, retries, timeouts, accounting).

import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import type { DataPath } from '../core/types.js';
import type { BackendEntry } from './backend-registry.js';
import type { BoundFront, FrontOptions } from './options.js';
import { CLIENT_SIDE, loadNativeTunnels, UPSTREAM_SIDE, type NativeTunnelOwner, type NativeTunnels } from './native-tunnel.js';
import { errnoError, UV_EBADF, type ConnectReq, type RawTcp, type TcpHandle } from './raw-tcp.js';
import { TcpFrontBase, TunnelBase } from './tcp-front-base.js';
import { closeHandle, closeSide, initRawSides, Side, sideOf, startReading, type SideTunnel } from './tcp-raw-sides.js';

const kFront = Symbol('supervise.front');

type ServerHandle = { onconnection: typeof onConnection; [kFront]: RawTcpFront };

/** The bindings; set by createRawTcpFront before any handler can run. */
let raw: RawTcp;

class RawTunnel extends TunnelBase implements SideTunnel, NativeTunnelOwner {
  readonly client: Side;
  /** The connected upstream, or the pending connect attempt. */
  upstream: Side | undefined = undefined;
  /** The native tunnel connecting or connected for this client (-1: none; without the native tunnel, the bytes move here). */
  nativeId = -1;
  /** Connect attempts started, so that a host name resolved after its attempt was given up on is dropped. */
  attempts = 0;

  constructor(
    readonly front: RawTcpFront,
    clientHandle: TcpHandle,
  ) {
    super();
    this.client = new Side(this, clientHandle, front.native === undefined);
  }

  nativeConnected(): void {
    this.front.connected(this);
    closeHandle(this.client); // the tunnel has its own descriptor of the client
  }

  nativeConnectFailed(status: number): void {
    this.nativeId = -1;
    const backend = this.backend as BackendEntry;
    this.front.connectFailed(this, errnoError(status, 'connect', backend.host, backend.port));
  }

  /** Sides of the native tunnel closed: the same accounting as closeSide's. */
  nativeSidesClosed(sides: number): void {
    if ((sides & UPSTREAM_SIDE) !== 0) this.front.upstreamClosed(this);
    if ((sides & CLIENT_SIDE) !== 0) this.front.clientGone(this);
    if (this.clientClosed && this.backend === undefined) this.nativeId = -1;
  }
}

class RawTcpFront extends TcpFrontBase<RawTunnel> {
  /** The native data path (native-tunnel.ts), when it was built and is wanted: it connects and moves the bytes. */
  readonly native = loadNativeTunnels();

  override get dataPath(): DataPath {
    return this.native === undefined ? 'javascript' : 'native';
  }

  protected override listening(): void {
    const handle = (this.server as unknown as { _handle?: unknown })._handle;
    if (!raw.isTcpHandle(handle)) {
      throw new Error('front: unexpected listener handle for the raw tcp front; set SUPERVISE_TCP_FAST=0 to use the portable one');
    }
    // Node's own accept callback would wrap each client in a net.Socket; ours does not.
    const server = handle as unknown as ServerHandle;
    server[kFront] = this;
    server.onconnection = onConnection;
  }

  accept(clientHandle: TcpHandle): void {
    this.accepted(new RawTunnel(this, clientHandle));
  }

  protected startConnect(tunnel: RawTunnel, backend: BackendEntry): void {
    tunnel.attempts++;
    if (this.native !== undefined) {
      dialNative(tunnel, backend);
      return;
    }
    const upstream = new Side(tunnel, raw.newSocketHandle());
    upstream.peer = tunnel.client;
    tunnel.client.peer = upstream;
    tunnel.upstream = upstream;
    const family = ipFamily(backend.host);
    if (family !== 0) {
      dial(upstream, backend.host, family, backend.port);
      return;
    }
    lookup(backend.host, (error, address, resolved) => {
      if (upstream.closed) return; // timed out or torn down meanwhile
      if (error) connectError(upstream, error);
      else dial(upstream, address, resolved, backend.port);
    });
  }

  protected abortConnect(tunnel: RawTunnel): void {
    tunnel.attempts++;
    if (tunnel.nativeId >= 0) {
      // Without accounting, as below; the client stays this front's until connected.
      (this.native as NativeTunnels).destroy(tunnel.nativeId);
      tunnel.nativeId = -1;
      return;
    }
    const upstream = tunnel.upstream;
    tunnel.upstream = undefined;
    // Closed without accounting: the caller reports the failure. libuv then
    // completes the connect with ECANCELED, which onConnect ignores.
    if (upstream !== undefined) closeHandle(upstream);
  }

  protected refuse(tunnel: RawTunnel): void {
    closeSide(tunnel.client);
  }

  destroyTunnel(tunnel: RawTunnel): void {
    if (tunnel.nativeId >= 0) {
      const sides = (this.native as NativeTunnels).destroy(tunnel.nativeId);
      tunnel.nativeId = -1;
      tunnel.nativeSidesClosed(sides);
      closeSide(tunnel.client); // while connecting, the client is still ours
      return;
    }
    if (tunnel.upstream !== undefined) closeSide(tunnel.upstream);
    closeSide(tunnel.client);
  }

  protected override activityOf(tunnel: RawTunnel): number {
    return tunnel.nativeId >= 0 ? (this.native as NativeTunnels).activity(tunnel.nativeId) : tunnel.activity;
  }
}

// ---------------------------------------------------------------- connecting

let lastHost = '';
let lastFamily = 0;

/** isIP(host), remembered for the last host: backends are usually all on the same one (isIP runs a regular expression). */
function ipFamily(host: string): number {
  if (host !== lastHost) {
    lastFamily = isIP(host);
    lastHost = host;
  }
  return lastFamily;
}

function dial(upstream: Side, address: string, family: number, port: number): void {
  const req = raw.newConnectReq();
  req.oncomplete = onConnect;
  const handle = upstream.handle;
  let status = family === 6 ? handle.connect6(req, address, port) : handle.connect(req, address, port);
  // Reading starts with the connect, not after it: libuv then registers the
  // socket with epoll once for both, instead of a second time (an EEXIST
  // and a retry) when reading starts after the connect. libuv completes the
  // connect before it reads (uv__stream_io), so onConnect still comes first.
  if (status === 0) status = handle.readStart();
  if (status !== 0) connectError(upstream, errnoError(status, 'connect', address, port));
}

function onConnect(this: ConnectReq, status: number, handle: TcpHandle): void {
  const upstream = sideOf(handle);
  if (upstream.closed) return; // an attempt given up on (timeout, close): already accounted for
  const tunnel = upstream.tunnel as RawTunnel;
  if (status < 0) {
    const backend = tunnel.backend as BackendEntry;
    connectError(upstream, errnoError(status, 'connect', backend.host, backend.port));
    return;
  }
  tunnel.front.connected(tunnel);
  // Responses are small and request-sized: never let Nagle hold one back.
  upstream.handle.setNoDelay(true);
  tunnel.client.handle.setNoDelay(true);
  startReading(tunnel.client);
}

/** Starts the native tunnel's connect to `backend` for `tunnel`'s client, once the host is an address. */
function dialNative(tunnel: RawTunnel, backend: BackendEntry): void {
  const family = ipFamily(backend.host);
  if (family !== 0) {
    nativeConnect(tunnel, backend.host, family, backend.port);
    return;
  }
  const attempt = tunnel.attempts;
  lookup(backend.host, (error, address, resolved) => {
    if (tunnel.attempts !== attempt) return; // timed out or torn down meanwhile
    if (error) tunnel.front.connectFailed(tunnel, error);
    else nativeConnect(tunnel, address, resolved, backend.port);
  });
}

function nativeConnect(tunnel: RawTunnel, address: string, family: number, port: number): void {
  const fd = tunnel.client.handle.fd;
  const id = typeof fd === 'number' && fd >= 0 ? (tunnel.front.native as NativeTunnels).connect(fd, address, port, family, tunnel) : UV_EBADF;
  if (id < 0) tunnel.front.connectFailed(tunnel, errnoError(id, 'connect', address, port));
  else tunnel.nativeId = id;
}

/** The connect attempt of `upstream` failed: drop it and let the front try the next backend. */
function connectError(upstream: Side, error: Error): void {
  const tunnel = upstream.tunnel as RawTunnel;
  tunnel.upstream = undefined;
  closeHandle(upstream);
  tunnel.front.connectFailed(tunnel, error);
}

function onConnection(this: ServerHandle, status: number, clientHandle: TcpHandle | undefined): void {
  const front = this[kFront];
  if (status < 0) front.acceptFailed(errnoError(status, 'accept'));
  else if (clientHandle !== undefined) front.accept(clientHandle);
}

export function createRawTcpFront(options: FrontOptions, bindings: RawTcp): BoundFront {
  if (raw === undefined) {
    raw = bindings;
    initRawSides(bindings);
  }
  return new RawTcpFront(options);
}
