// Before any worker starts: is the port free, and if not, who holds it? A clear
// "port 8080 is in use by pid 1234 (nginx)" beats a crash loop of workers that
// cannot bind.

import { closeSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { RuntimeFailure } from '../errors.js';
import { firstUnusedPort, type PortRange } from './port-plan.js';

/** Rejects with a RuntimeFailure naming the port and its holder when it cannot be bound. */
export async function assertPortFree(port: number, host: string | undefined, what: string): Promise<void> {
  if (port === 0) return;
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (!error) return;
  throw portError(port, host, what, error);
}

export function portError(port: number, host: string | undefined, what: string, error: NodeJS.ErrnoException): RuntimeFailure {
  // "public port (--port) 8080", not "public port (--port) port 8080".
  const where = host ? `${host}:${port}` : /\bport\b/.test(what) ? String(port) : `port ${port}`;
  if (error.code === 'EADDRINUSE') {
    const holder = describePortHolder(port);
    return new RuntimeFailure(
      `${what} ${where} is already in use${holder ? ` by ${holder}` : ''}; stop it or choose another port`,
      'PORT_IN_USE',
    );
  }
  if (error.code === 'EACCES') {
    return new RuntimeFailure(`${what} ${where}: permission denied (ports below 1024 need privileges)`, 'PORT_DENIED');
  }
  return new RuntimeFailure(`${what} ${where} cannot be bound: ${error.message}`, 'PORT_ERROR');
}

/** "pid 1234 (nginx)" for a TCP port in LISTEN state, from /proc (Linux); undefined elsewhere. */
export function describePortHolder(port: number): string | undefined {
  const pid = portHolders(port)[0];
  return pid === undefined ? undefined : `pid ${pid} (${commandOf(String(pid))})`;
}

/** Pids holding a listening socket on the TCP port (Linux, /proc); empty when none or unknown. */
export function portHolders(port: number): number[] {
  try {
    const inodes = listeningInodes(port);
    if (inodes.size === 0) return [];
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .filter((pid) => holdsSocket(pid, inodes));
  } catch {
    return []; // not Linux, or /proc unreadable: nobody known
  }
}

/**
 * Whether one of `pids` holds the listening socket of the TCP port: undefined
 * when nothing listens or /proc cannot tell. Reads only those processes' fds —
 * a scan of every process costs a readlink per descriptor on the machine.
 */
export function listenerAmong(port: number, pids: Iterable<number>): boolean | undefined {
  let inodes: Set<string>;
  try {
    inodes = listeningInodes(port);
  } catch {
    return undefined;
  }
  if (inodes.size === 0) return undefined;
  for (const pid of pids) if (holdsSocket(pid, inodes)) return true;
  return false;
}

function holdsSocket(pid: number, inodes: ReadonlySet<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or not ours to read
  }
  for (const fd of fds) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode !== undefined && inodes.has(inode)) return true;
  }
  return false;
}

/** Whether anything listens on the TCP port (Linux, /proc); false when unknown. */
export function isListening(port: number): boolean {
  try {
    return listeningInodes(port).size > 0;
  } catch {
    return false;
  }
}

// /proc/net/tcp holds a line per socket of the machine: with 1,024 workers and
// their probes' TIME_WAIT sockets, megabytes, read at every worker start. It is
// streamed through one reused buffer and only the lines naming the port are
// decoded: reading it whole into a string per start grew the master's malloc
// heap by tens of MB.
const chunk = Buffer.alloc(64 * 1024);

function listeningInodes(port: number): Set<string> {
  const needle = Buffer.from(`:${port.toString(16).toUpperCase().padStart(4, '0')} `, 'latin1');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let fd: number;
    try {
      fd = openSync(table, 'r');
    } catch {
      continue;
    }
    try {
      let carried = 0; // bytes of an unfinished line kept at the start of the chunk
      for (;;) {
        const read = readSync(fd, chunk, carried, chunk.length - carried, null);
        const end = carried + read;
        const lastNewline = read === 0 ? end : chunk.lastIndexOf(10, end - 1);
        const complete = lastNewline === -1 ? end : lastNewline;
        for (let at = chunk.indexOf(needle); at !== -1 && at < complete; at = chunk.indexOf(needle, at + 1)) {
          const start = chunk.lastIndexOf(10, at) + 1;
          const stop = chunk.indexOf(10, at);
          addListener(chunk.toString('latin1', start, stop === -1 || stop > end ? end : stop), inodes, needle.toString('latin1'));
        }
        if (read === 0) break;
        carried = end - (complete + 1);
        if (carried > 0) chunk.copy(chunk, 0, complete + 1, end);
        if (carried < 0 || carried >= chunk.length) carried = 0; // a line longer than the buffer: not a socket line
      }
    } catch {
      // unreadable mid-way: what was found stands
    } finally {
      closeSync(fd);
    }
  }
  return inodes;
}

/** One socket line: the local address ends with the port, state 0A is LISTEN, the inode is field 9. */
function addListener(line: string, inodes: Set<string>, portSuffix: string): void {
  const fields = line.trim().split(/\s+/);
  if (`${fields[1] ?? ''} `.endsWith(portSuffix) && fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
}

export function commandOf(pid: string): string {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmdline.length > 60 ? `${cmdline.slice(0, 57)}...` : cmdline;
  } catch {
    return '?';
  }
}

/**
 * Spawn mode: a port of the range that neither a worker of ours nor anyone else
 * holds, for a replacement that starts next to the worker it replaces; undefined
 * when there is none (it then waits for the old worker's port: see rolling-reload.ts).
 */
export function sparePort(range: PortRange): number | undefined {
  return firstUnusedPort(range, (port) => !isListening(port));
}

/** ": port 8003 is in use by pid 12 (nginx)" for the first in-range port held by someone else, for error messages. */
export function foreignHolder(range: PortRange): string {
  const port = firstUnusedPort(range, isListening);
  return port === undefined ? '' : `: port ${port} is in use by ${describePortHolder(port) ?? 'another process'}`;
}
