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
// Where the native tunnel (native-tunnel.ts) was built, it connects to the
// backend this front chose and moves the bytes, by the same rules, in C, with
// no JavaScript per chunk; this front keeps the rest (balancing, retries,
// timeouts, accounting).

import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import type { BackendEntry } from './backend-registry.js';
import type { BoundFront, FrontOptions } from './options.js';
import { CLIENT_SIDE, loadNativeTunnels, UPSTREAM_SIDE, type NativeTunnelOwner, type NativeTunnels } from './native-tunnel.js';
import { errnoError, UV_EBADF, UV_EOF, type ConnectReq, type RawTcp, type ShutdownReq, type TcpHandle, type WriteReq } from './raw-tcp.js';
import { TcpFrontBase, TunnelBase } from './tcp-front-base.js';

const kSide = Symbol('supervise.side');
const kFront = Symbol('supervise.front');

type SideHandle = TcpHandle & { [kSide]: Side };
type ServerHandle = { onconnection: typeof onConnection; [kFront]: RawTcpFront };
type PendingWrite = WriteReq & { side: Side | undefined; chunk: Uint8Array | undefined };
type PendingShutdown = ShutdownReq & { side: Side };

/** The bindings; set by createRawTcpFront before any handler can run. */
let raw: RawTcp;

/** One end of a tunnel: a handle and where its two directions stand. */
class Side {
  /** An end (or an error) was read from this handle: nothing more will come. */
  readDone = false;
  /** Our end was passed on to this handle (shutdown completed): nothing more will be written. */
  writeDone = false;
  /** A write to this handle is queued in libuv; its peer is not read until it completes. */
  writing = false;
  closed = false;
  peer!: Side;
  readonly handle: SideHandle;

  constructor(
    readonly tunnel: RawTunnel,
    handle: TcpHandle,
  ) {
    this.handle = handle as SideHandle;
    this.handle[kSide] = this;
    this.handle.onread = onRead;
    handle.useUserBuffer(readBuffer);
  }
}

class RawTunnel extends TunnelBase implements NativeTunnelOwner {
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
    this.client = new Side(this, clientHandle);
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

  /** The native tunnel's sides closed: the same accounting as closeSide's. */
  nativeSidesClosed(sides: number, open: number): void {
    if (open === 0) this.nativeId = -1;
    if ((sides & UPSTREAM_SIDE) !== 0) this.front.upstreamClosed(this);
    if ((sides & CLIENT_SIDE) !== 0) this.clientClosed = true;
    if (sides !== 0 && this.clientClosed && (open & UPSTREAM_SIDE) === 0) this.front.forget(this);
  }
}

class RawTcpFront extends TcpFrontBase<RawTunnel> {
  /** The native data path (native-tunnel.ts), when it was built and is wanted: it connects and moves the bytes. */
  readonly native = loadNativeTunnels();

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
      tunnel.nativeSidesClosed((this.native as NativeTunnels).destroy(tunnel.nativeId), 0);
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
  const upstream = (handle as SideHandle)[kSide];
  if (upstream.closed) return; // an attempt given up on (timeout, close): already accounted for
  const tunnel = upstream.tunnel;
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
  const tunnel = upstream.tunnel;
  tunnel.upstream = undefined;
  closeHandle(upstream);
  tunnel.front.connectFailed(tunnel, error);
}

// ---------------------------------------------------------------- moving bytes

function startReading(side: Side): void {
  const status = side.handle.readStart();
  if (status !== 0) side.tunnel.front.destroyTunnel(side.tunnel);
}

/**
 * Every handle reads into this one buffer (useUserBuffer), instead of into a
 * 64 KiB allocation per read that node then shrinks, wraps in an ArrayBuffer
 * and leaves to the garbage collector: what was read is written out before
 * the next read can overwrite it (forward), and a write that the kernel does
 * not take at once keeps a copy of what is left, never the buffer itself.
 */
let readBuffer: Buffer;

/** Up to this size, a chunk is written through node's string path, which copies only what the kernel did not take. */
const MAX_STRING_WRITE = 16 * 1024;

/** Called by libuv after a read into readBuffer (its length in readResult()), an end, or an error. */
function onRead(this: TcpHandle): void {
  const side = (this as SideHandle)[kSide];
  const result = raw.readResult();
  if (result > 0) forward(side, result);
  else if (result === UV_EOF) ended(side);
  else if (result < 0) side.tunnel.front.destroyTunnel(side.tunnel); // ECONNRESET…
}

/**
 * The request object of the next write. Most writes are done at once (the
 * kernel takes all the bytes) and then libuv never sees the request: it is
 * reused until a write gets queued, which keeps it.
 */
let spareWrite: PendingWrite;

function newWrite(): PendingWrite {
  const req = raw.newWriteReq() as PendingWrite;
  req.oncomplete = onWriteComplete;
  req.side = undefined;
  req.chunk = undefined;
  return req;
}

/** Writes the `length` bytes `from` read (in readBuffer) to its peer; stops reading `from` while the write is queued. */
function forward(from: Side, length: number): void {
  const to = from.peer;
  from.tunnel.activity++;
  if (to.closed) return;
  const req = spareWrite;
  let chunk: Uint8Array | undefined;
  let status: number;
  if (length <= MAX_STRING_WRITE) {
    // Bytes 0–255 as char codes and back: exact. node writes from a copy on
    // its stack, and copies what is left into the request if the write is queued.
    status = to.handle.writeLatin1String(req, raw.latin1Slice(readBuffer, 0, length));
  } else {
    chunk = new Uint8Array(readBuffer.subarray(0, length)); // a copy: the next read reuses readBuffer
    status = to.handle.writeBuffer(req, chunk);
  }
  if (status !== 0) {
    from.tunnel.front.destroyTunnel(from.tunnel); // EPIPE, ECONNRESET…
    return;
  }
  if (!raw.lastWriteWasAsync()) return;
  spareWrite = newWrite();
  req.side = to;
  req.chunk = chunk; // libuv points into a written copy until the write completes
  to.writing = true;
  from.handle.readStop();
}

function onWriteComplete(this: PendingWrite, status: number): void {
  const to = this.side as Side;
  this.side = undefined;
  this.chunk = undefined;
  to.writing = false;
  if (to.closed) return;
  if (status < 0) {
    to.tunnel.front.destroyTunnel(to.tunnel);
    return;
  }
  const from = to.peer;
  if (!from.readDone && !from.closed) startReading(from);
}

// ---------------------------------------------------------------- ending and closing

/** `side` sent its end: pass it on, and close `side` if it has been ended too. */
function ended(side: Side): void {
  side.readDone = true;
  deferEnd(side.peer);
  if (side.writeDone) closeSide(side);
}

/**
 * Ends are passed on at the end of the event-loop turn, all together: a
 * backend's end usually arrives with its response, and by then the client
 * that got the response has often closed too, so that both sides are simply
 * closed instead of a shutdown of the client first (a syscall and a callback).
 */
let endsToPass: Side[] = [];

function deferEnd(to: Side): void {
  if (endsToPass.length === 0) setImmediate(passEnds);
  endsToPass.push(to);
}

function passEnds(): void {
  const sides = endsToPass;
  endsToPass = [];
  for (const to of sides) passEnd(to);
}

/**
 * Ends `to`'s write direction. When `to` has ended too and nothing is left to
 * write, both directions are done: closing at once sends the same FIN as a
 * shutdown would, and saves a syscall and a callback per connection (the
 * common case of a backend closing after its response).
 */
function passEnd(to: Side): void {
  if (to.closed || to.writeDone) return;
  if (to.readDone && !to.writing) {
    to.writeDone = true;
    closeSide(to);
    return;
  }
  const req = raw.newShutdownReq() as PendingShutdown;
  req.oncomplete = onShutdown;
  req.side = to;
  // libuv sends the FIN once the queued writes are done.
  if (to.handle.shutdown(req) !== 0) to.tunnel.front.destroyTunnel(to.tunnel);
}

function onShutdown(this: PendingShutdown, status: number): void {
  const to = this.side;
  to.writeDone = true;
  if (to.closed) return;
  if (status < 0) to.tunnel.front.destroyTunnel(to.tunnel);
  else if (to.readDone) closeSide(to);
}

/** Closes the handle of `side` without any accounting. */
function closeHandle(side: Side): void {
  side.closed = true;
  side.handle.close();
}

/** Closes `side` and accounts for it: the backend's connection ends with the upstream, the tunnel with both. */
function closeSide(side: Side): void {
  if (side.closed) return;
  closeHandle(side);
  const tunnel = side.tunnel;
  const front = tunnel.front;
  if (side === tunnel.client) {
    tunnel.clientClosed = true;
    if (tunnel.upstream === undefined) front.forget(tunnel);
    return;
  }
  tunnel.upstream = undefined;
  front.upstreamClosed(tunnel);
  if (tunnel.clientClosed) front.forget(tunnel);
}

function onConnection(this: ServerHandle, status: number, clientHandle: TcpHandle | undefined): void {
  const front = this[kFront];
  if (status < 0) front.acceptFailed(errnoError(status, 'accept'));
  else if (clientHandle !== undefined) front.accept(clientHandle);
}

export function createRawTcpFront(options: FrontOptions, bindings: RawTcp): BoundFront {
  if (raw === undefined) {
    raw = bindings;
    spareWrite = newWrite();
    readBuffer = Buffer.allocUnsafeSlow(64 * 1024); // libuv's read size for node's streams
  }
  return new RawTcpFront(options);
}
