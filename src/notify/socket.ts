// Unix datagram sockets for the notify protocol: sendNotify (to systemd's
// NOTIFY_SOCKET, or any receiver) and NotifyReceiver (a NOTIFY_SOCKET of our
// own: each message with its sender's pid, taken from the kernel's
// credentials, not from the message, so a worker cannot speak for another).

import { rmSync } from 'node:fs';
import { loadNotifyBinding, type NativeReceiver, type NotifyBinding } from './native.js';
import { parseNotify } from './protocol.js';

export interface NotifyMessage {
  /** The sender's pid, uid and gid as the kernel saw them (pid 0 / uid -1 if it sent none). */
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** The datagram as text. */
  readonly text: string;
  /** Its assignments (READY → 1, STATUS → …). */
  readonly fields: Map<string, string>;
  /** Longer than 4096 bytes (systemd's limit): cut, and better not acted upon. */
  readonly truncated: boolean;
}

/** Whether this platform has the native notify sockets (Linux, with the addon built). */
export function notifyAvailable(): boolean {
  return loadNotifyBinding() !== undefined;
}

function binding(): NotifyBinding {
  const loaded = loadNotifyBinding();
  if (loaded === undefined) throw new Error('the notify protocol needs the native addon (Linux, built by npm install with a C compiler)');
  return loaded;
}

/**
 * Sends one datagram to `path` (`@name` for the abstract namespace). Never
 * blocks; throws an Error whose `code` says why (ENOENT: nobody bound there,
 * ECONNREFUSED: the receiver closed, EAGAIN: its queue is full).
 */
export function sendNotify(path: string, message: string): void {
  binding().notifySend(path, message);
}

export class NotifyReceiver {
  readonly #native: NativeReceiver;
  #open = true;

  private constructor(
    readonly path: string,
    onMessage: (message: NotifyMessage) => void,
  ) {
    this.#native = binding().notifyListen(path, (data, pid, uid, gid, truncated) => {
      if (!this.#open) return;
      const text = data.toString('utf8');
      onMessage({ pid, uid, gid, text, fields: parseNotify(text), truncated });
    });
  }

  /** Binds `path` (it must not exist; `@name`: abstract) and calls onMessage per datagram. Throws with `code` (EADDRINUSE …). */
  static listen(path: string, onMessage: (message: NotifyMessage) => void): NotifyReceiver {
    return new NotifyReceiver(path, onMessage);
  }

  /** Stops receiving, closes the socket and removes its file (a second close does nothing). */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    binding().notifyClose(this.#native);
    if (!this.path.startsWith('@')) rmSync(this.path, { force: true });
  }

  /** Lets the process exit while the socket is open (as net.Server#unref). */
  unref(): this {
    if (this.#open) binding().notifyRef(this.#native, false);
    return this;
  }

  ref(): this {
    if (this.#open) binding().notifyRef(this.#native, true);
    return this;
  }
}
