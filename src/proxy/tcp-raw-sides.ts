// One end of a raw tunnel (a libuv TCP handle, tcp-proxy-raw.ts) and the
// JavaScript data path between two ends: reads into one shared buffer,
// writes to the peer, backpressure, half-close, closing and its accounting.
// Used where the native tunnel (native-tunnel.ts) is not: the raw front's
// connect ends with both handles reading here.

import { UV_EOF, type RawTcp, type ShutdownReq, type TcpHandle, type WriteReq } from './raw-tcp.js';
import type { TunnelBase } from './tcp-front-base.js';

/** The tunnel two sides belong to, as the data path sees it (tcp-proxy-raw.ts's RawTunnel). */
export interface SideTunnel extends TunnelBase {
  readonly client: Side;
  upstream: Side | undefined;
  readonly front: {
    destroyTunnel(tunnel: SideTunnel): void;
    upstreamClosed(tunnel: SideTunnel): void;
    clientGone(tunnel: SideTunnel): void;
  };
}

const kSide = Symbol('supervise.side');

type SideHandle = TcpHandle & { [kSide]: Side };
type PendingWrite = WriteReq & { side: Side | undefined; chunk: Uint8Array | undefined };
type PendingShutdown = ShutdownReq & { side: Side };

/** The bindings; set by initRawSides before any handler can run. */
let raw: RawTcp;

/** One end of a tunnel: a handle and where its two directions stand. */
export class Side {
  /** An end (or an error) was read from this handle: nothing more will come. */
  readDone = false;
  /** Our end was passed on to this handle (shutdown completed): nothing more will be written. */
  writeDone = false;
  /** A write to this handle is queued in libuv; its peer is not read until it completes. */
  writing = false;
  closed = false;
  peer!: Side;
  readonly handle: SideHandle;

  /** `readsHere`: false when the native tunnel will read this handle's socket, not node. */
  constructor(
    readonly tunnel: SideTunnel,
    handle: TcpHandle,
    readsHere = true,
  ) {
    this.handle = handle as SideHandle;
    this.handle[kSide] = this;
    if (!readsHere) return;
    this.handle.onread = onRead;
    handle.useUserBuffer(readBuffer);
  }
}

// ---------------------------------------------------------------- moving bytes

export function startReading(side: Side): void {
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
export function closeHandle(side: Side): void {
  side.closed = true;
  side.handle.close();
}

/** Closes `side` and accounts for it: the backend's connection ends with the upstream, the tunnel with both. */
export function closeSide(side: Side): void {
  if (side.closed) return;
  closeHandle(side);
  const tunnel = side.tunnel;
  if (side === tunnel.client) {
    tunnel.front.clientGone(tunnel);
    return;
  }
  tunnel.upstream = undefined;
  tunnel.front.upstreamClosed(tunnel);
}

/** The side a handle was given to. */
export function sideOf(handle: TcpHandle): Side {
  return (handle as SideHandle)[kSide];
}

/** Once per process, before the first side. */
export function initRawSides(bindings: RawTcp): void {
  raw = bindings;
  spareWrite = newWrite();
  readBuffer = Buffer.allocUnsafeSlow(64 * 1024); // libuv's read size for node's streams
}
