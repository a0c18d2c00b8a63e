// Loads the notify functions of the project's native addon (src/native/notify.c,
// built with the tunnel into one module, loaded by src/native/load.ts). The only place the notify code
// touches the addon; src/notify/socket.ts wraps it.

import { loadNative } from '../native/load.js';

/** An open receiving socket, opaque to JavaScript. */
export type NativeReceiver = object;

export interface NotifyBinding {
  /** Sends one datagram to `path` (`@name`: abstract namespace): the bytes sent. Throws an Error with `code` (ENOENT, ECONNREFUSED, EAGAIN …). */
  notifySend(path: string, message: string | Buffer): number;
  /** Binds `path` with SO_PASSCRED; onMessage for each datagram (pid/uid/gid of its sender). Throws (EADDRINUSE, ENAMETOOLONG …). */
  notifyListen(path: string, onMessage: (message: Buffer, pid: number, uid: number, gid: number, truncated: boolean) => void): NativeReceiver;
  notifyClose(receiver: NativeReceiver): void;
  notifyRef(receiver: NativeReceiver, ref: boolean): void;
}

let binding: NotifyBinding | undefined | null = null;

/** The notify functions, or undefined where the addon did not build (another platform, no compiler). */
export function loadNotifyBinding(): NotifyBinding | undefined {
  if (binding === null) binding = load();
  return binding;
}

function load(): NotifyBinding | undefined {
  const loaded = loadNative()?.exports as Partial<NotifyBinding> | undefined;
  return typeof loaded?.notifySend === 'function' && typeof loaded.notifyListen === 'function' ? (loaded as NotifyBinding) : undefined;
}
