// The master's own NOTIFY_SOCKET for spawn workers (systemd's notify protocol,
// SPEC §9): one datagram socket per master in the abstract namespace (no file
// to clean up), opened on first use. The kernel tells us each sender's pid; a
// message belongs to the worker whose tag that process carries (lineage.ts),
// so a worker's child (a uvicorn master's server process) may speak for it,
// and no worker can speak for another.

import { readFileSync } from 'node:fs';
import { INSTANCE_VAR } from './lineage.js';
import { notifyAvailable, NotifyReceiver, type NotifyMessage } from '../notify/socket.js';

export type NotifyHandler = (fields: ReadonlyMap<string, string>) => void;

export interface NotifyHub {
  /** The NOTIFY_SOCKET value for workers. */
  readonly path: string;
  /** Messages from processes carrying `tag` go to `handler` until the returned function is called. */
  listen(tag: string, handler: NotifyHandler): () => void;
  close(): void;
}

let hub: NotifyHub | undefined | null = null;

/** The hub, or undefined where the native notify sockets are missing (then `--ready notify` and `--watchdog` cannot work). */
export function notifyHub(): NotifyHub | undefined {
  if (hub === null) {
    try {
      hub = notifyAvailable() ? openHub() : undefined;
    } catch {
      hub = undefined; // could not bind: workers get no NOTIFY_SOCKET
    }
  }
  return hub;
}

/** The worker tag in a process's environment, if any. */
function tagOf(pid: number): string | undefined {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    const prefix = `${INSTANCE_VAR}=`;
    return environ.split('\0').find((entry) => entry.startsWith(prefix))?.slice(prefix.length);
  } catch {
    return undefined; // gone already, or not ours
  }
}

function openHub(): NotifyHub {
  const path = `@supervise-notify-${process.pid}`;
  const handlers = new Map<string, NotifyHandler>();
  const onMessage = (message: NotifyMessage) => {
    if (message.truncated || message.pid <= 0) return;
    const tag = tagOf(message.pid);
    const handler = tag === undefined ? undefined : handlers.get(tag);
    handler?.(message.fields);
  };
  const receiver = NotifyReceiver.listen(path, onMessage).unref();
  return {
    path,
    listen(tag, handler) {
      handlers.set(tag, handler);
      return () => {
        if (handlers.get(tag) === handler) handlers.delete(tag);
      };
    },
    close() {
      receiver.close();
      hub = null;
    },
  };
}

/** Closes the hub if one was opened (the system's last step). */
export function closeNotifyHub(): void {
  if (hub) hub.close();
}
