// Access to node's libuv TCP bindings (`tcp_wrap`, `stream_wrap`), the layer
// under net.Socket, for the raw front (tcp-proxy-raw.ts). Not a public API:
// everything is feature-detected here, and `loadRawTcp()` answers undefined —
// the portable net.Socket front is used instead — when anything differs from
// what the raw front was written against (node 20's lib/net.js and
// lib/internal/stream_base_commons.js use these bindings the same way).
//
// `process.binding()` is deprecated (DEP0111) but only warns under
// --pending-deprecation (or NODE_PENDING_DEPRECATION=1), and throws under the
// permission model; in both cases the bindings are not touched at all, so that
// no warning reaches the user's logs.

import { getSystemErrorName } from 'node:util';

/** A libuv TCP handle (node's TCPWrap), as far as the raw front uses it. */
export interface TcpHandle {
  onread: (this: TcpHandle, arrayBuffer: ArrayBuffer | undefined) => void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  /** Writes the string's char codes as bytes; what the kernel does not take at once is copied (node's StreamBase::WriteString). */
  writeLatin1String(req: WriteReq, data: string): number;
  /** Reads go into `buffer` (overwritten by the next read of any handle given it) instead of a fresh ArrayBuffer each. */
  useUserBuffer(buffer: Uint8Array): void;
  shutdown(req: ShutdownReq): number;
  connect(req: ConnectReq, host: string, port: number): number;
  connect6(req: ConnectReq, host: string, port: number): number;
  setNoDelay(enable: boolean): number;
  close(): void;
  /** The socket's file descriptor (-1 before it has one). */
  readonly fd: number;
}

export interface WriteReq {
  oncomplete: (status: number) => void; // `this` is the request
}

export interface ShutdownReq {
  oncomplete: (status: number) => void; // `this` is the request
}

export interface ConnectReq {
  oncomplete: (status: number, handle: TcpHandle) => void;
}

export interface RawTcp {
  newSocketHandle(): TcpHandle;
  newConnectReq(): ConnectReq;
  newWriteReq(): WriteReq;
  newShutdownReq(): ShutdownReq;
  isTcpHandle(value: unknown): value is TcpHandle;
  /** After a read callback: bytes read (> 0), or a negative libuv error (UV_EOF at the end). */
  readResult(): number;
  /** After a write: whether it was queued (its oncomplete will be called) rather than done at once. */
  lastWriteWasAsync(): boolean;
  /** `buffer`'s bytes [start, end) as a string of char codes 0–255 (Buffer#latin1Slice): exact, whatever the bytes. */
  latin1Slice(buffer: Buffer, start: number, end: number): string;
}

/** libuv's UV_EOF; the same number on every platform (checked in loadRawTcp). */
export const UV_EOF = -4095;
/** libuv's UV_EBADF (-errno, on Linux). */
export const UV_EBADF = -9;

type Latin1Slice = { latin1Slice(start: number, end: number): string };

type Constructor<T> = new (...args: unknown[]) => T;

let loaded: RawTcp | undefined | null = null;

/** The bindings, or undefined when they must not or cannot be used here (looked up once per process). */
export function loadRawTcp(env: NodeJS.ProcessEnv = process.env): RawTcp | undefined {
  if (env.SUPERVISE_TCP_FAST === '0' || wouldWarn(env)) return undefined;
  if (loaded === null) loaded = lookUpBindings();
  return loaded;
}

function lookUpBindings(): RawTcp | undefined {
  try {
    const legacy = process as unknown as { binding(name: string): Record<string, unknown> };
    return describe(legacy.binding('tcp_wrap'), legacy.binding('stream_wrap'));
  } catch {
    return undefined; // permission model, or a runtime without these bindings
  }
}

/** Whether process.binding() would print DEP0111 in this process. */
function wouldWarn(env: NodeJS.ProcessEnv): boolean {
  const flags = [...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.includes('--no-deprecation')) return false;
  return flags.includes('--pending-deprecation') || (env.NODE_PENDING_DEPRECATION ?? '').startsWith('1');
}

function describe(tcp: Record<string, unknown>, stream: Record<string, unknown>): RawTcp | undefined {
  const TCP = tcp.TCP as Constructor<TcpHandle> | undefined;
  const TCPConnectWrap = tcp.TCPConnectWrap as Constructor<ConnectReq> | undefined;
  const WriteWrap = stream.WriteWrap as Constructor<WriteReq> | undefined;
  const ShutdownWrap = stream.ShutdownWrap as Constructor<ShutdownReq> | undefined;
  const SOCKET = (tcp.constants as Record<string, unknown> | undefined)?.SOCKET;
  const state = stream.streamBaseState;
  const { kReadBytesOrError, kLastWriteWasAsync } = stream;
  const latin1Slice = (Buffer.prototype as unknown as Record<string, unknown>).latin1Slice;
  const methods = ['readStart', 'readStop', 'writeBuffer', 'writeLatin1String', 'useUserBuffer', 'shutdown', 'connect', 'connect6', 'setNoDelay', 'close'];
  if (
    typeof TCP !== 'function' || typeof TCPConnectWrap !== 'function' ||
    typeof WriteWrap !== 'function' || typeof ShutdownWrap !== 'function' ||
    typeof SOCKET !== 'number' || !(state instanceof Int32Array) || typeof latin1Slice !== 'function' ||
    typeof kReadBytesOrError !== 'number' || typeof kLastWriteWasAsync !== 'number' ||
    !methods.every((name) => typeof (TCP.prototype as Record<string, unknown>)[name] === 'function') ||
    !('onread' in TCP.prototype) ||
    getSystemErrorName(UV_EOF) !== 'EOF'
  ) {
    return undefined;
  }
  return {
    newSocketHandle: () => new TCP(SOCKET),
    newConnectReq: () => new TCPConnectWrap(),
    newWriteReq: () => new WriteWrap(),
    newShutdownReq: () => new ShutdownWrap(),
    isTcpHandle: (value): value is TcpHandle => value instanceof TCP,
    readResult: () => state[kReadBytesOrError] as number,
    lastWriteWasAsync: () => state[kLastWriteWasAsync] !== 0,
    latin1Slice: (buffer, start, end) => (buffer as Buffer & Latin1Slice).latin1Slice(start, end),
  };
}

/** An error like node's own for a libuv status: code, errno, syscall, and the address when there is one. */
export function errnoError(status: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const where = address === undefined ? '' : ` ${address}:${port}`;
  const error: NodeJS.ErrnoException & { address?: string; port?: number } = new Error(`${syscall} ${code}${where}`);
  error.errno = status;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) {
    error.address = address;
    error.port = port;
  }
  return error;
}
