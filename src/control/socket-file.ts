// The control socket's file on disk: who may own the path, how to create it
// with mode 0600 without a window, and how to remove it only if it is ours.
//
// Why a private directory and a hard link rather than chmod after listen():
// bind() creates the socket with mode 0777 & ~umask, so between listen() and
// chmod() another local user could connect if the umask is permissive.
// process.umask() around listen() would close that window, but it is
// process-wide and would also apply to files the libuv thread pool creates at
// that moment. Instead we bind inside a fresh mkdtemp() directory (mode 0700,
// unreachable for others), chmod the socket to 0600 there, and then link() it
// to the requested path. link() fails with EEXIST if the path appeared in the
// meantime, so two supervisors starting at once cannot silently replace each
// other's socket either.

import { lstat, chmod, link, mkdtemp, rename, rmdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { RuntimeFailure } from '../errors.js';
import { controlRequest } from './client.js';

/** Unix sockets store the path in sun_path: 108 bytes on Linux, 104 elsewhere, including the NUL. */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;
const PROBE_TIMEOUT_MS = 1000;

/** A live supervisor (or some other process) answers on the socket path. */
export class ControlSocketInUseError extends RuntimeFailure {
  constructor(
    readonly path: string,
    readonly pid: number | undefined,
  ) {
    const holder = pid === undefined ? 'a live process (it did not say its pid)' : `the supervisor with pid ${pid}`;
    super(
      `control socket ${path} is in use by ${holder}; stop it ` +
        `(supervise ctl --control ${path} stop) or give this supervisor another socket with --control <path>`,
      'CONTROL_SOCKET_IN_USE',
    );
  }
}

/** The path cannot hold a control socket: too long, not a socket, no permission, no directory. */
export class ControlSocketPathError extends RuntimeFailure {
  constructor(message: string) {
    super(message, 'CONTROL_SOCKET_PATH');
  }
}

/** Device and inode of the socket we created, to recognise it at close. */
export interface SocketFileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/**
 * Makes `server` listen on `path` (absolute) with mode 0600. A stale socket file
 * is replaced; a live one, or a file that is not a socket, is refused.
 */
export async function listenOnSocketFile(server: net.Server, path: string): Promise<SocketFileIdentity> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ControlSocketPathError(
      `control socket path ${path} is ${bytes} bytes long; Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}: ` +
        'use a shorter --control path',
    );
  }
  // Two attempts: the second covers a stale file that appeared between our
  // check and our link (someone else's crash); a live one is refused at once.
  for (let attempt = 1; ; attempt++) {
    await removeStaleSocket(path);
    const linked = await bindPrivatelyThenLink(server, path);
    if (linked) return identify(path);
    if (attempt === 2) throw new ControlSocketInUseError(path, undefined);
  }
}

/** Unlinks the socket file at close, unless another process has replaced it since. */
export async function unlinkIfOurs(path: string, identity: SocketFileIdentity): Promise<void> {
  try {
    const stats = await lstat(path);
    if (stats.dev === identity.dev && stats.ino === identity.ino) await unlink(path);
  } catch {
    // Already gone: nothing to clean up.
  }
}

// ---------------------------------------------------------------- claiming the path

async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw pathError(path, error);
  });
  if (stats === undefined) return;
  if (!stats.isSocket()) {
    throw new ControlSocketPathError(
      `${path} exists and is not a socket; remove it or give the control socket another path with --control <path>`,
    );
  }
  const liveness = await probe(path);
  if (liveness === 'stale') {
    await unlink(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw pathError(path, error);
    });
    return;
  }
  if (liveness === 'gone') return;
  throw new ControlSocketInUseError(path, await askPid(path));
}

/** Connects without sending anything: a listener accepts, a stale file refuses. */
function probe(path: string): Promise<'live' | 'stale' | 'gone'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    // A listener that does not accept in time (backlog full, process stopped) still owns the path.
    socket.setTimeout(PROBE_TIMEOUT_MS, () => finish('live'));
    socket.once('connect', () => finish('live'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') finish('stale');
      else if (error.code === 'ENOENT') finish('gone');
      else {
        socket.destroy();
        reject(pathError(path, error));
      }
    });
    function finish(result: 'live' | 'stale' | 'gone'): void {
      socket.destroy();
      resolve(result);
    }
  });
}

async function askPid(path: string): Promise<number | undefined> {
  try {
    const response = await controlRequest(path, 'GET', '/status', undefined, PROBE_TIMEOUT_MS);
    const json = response.json as { pid?: unknown } | undefined;
    return typeof json?.pid === 'number' ? json.pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- binding

/** Returns false when the path was taken between our check and our link. */
async function bindPrivatelyThenLink(server: net.Server, path: string): Promise<boolean> {
  const directory = dirname(path);
  const privateDirectory = await mkdtemp(join(directory, '.sv-')).catch((error: NodeJS.ErrnoException) => {
    throw pathError(path, error);
  });
  const privatePath = join(privateDirectory, 's');
  try {
    if (Buffer.byteLength(privatePath) > MAX_SOCKET_PATH_BYTES) {
      // The requested path fits but the detour does not: bind in place and
      // chmod at once. The socket is reachable only by those the umask lets
      // write to it (connect needs write permission) for that instant.
      await listen(server, path);
      await chmod(path, 0o600);
      return true;
    }
    await listen(server, privatePath);
    await chmod(privatePath, 0o600);
    return await publish(server, privatePath, path);
  } finally {
    await unlink(privatePath).catch(() => undefined);
    await rmdir(privateDirectory).catch(() => undefined);
  }
}

async function publish(server: net.Server, privatePath: string, path: string): Promise<boolean> {
  try {
    await link(privatePath, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await closeListener(server);
      return false;
    }
    // File systems without hard links: rename() is atomic too, but replaces
    // rather than refuses a file that appeared since our check.
    await rename(privatePath, path).catch(async (renameError: NodeJS.ErrnoException) => {
      await closeListener(server);
      throw pathError(path, renameError);
    });
    return true;
  }
}

function listen(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(pathError(path, error));
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeListener(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function identify(path: string): Promise<SocketFileIdentity> {
  const stats = await lstat(path);
  return { dev: stats.dev, ino: stats.ino };
}

function pathError(path: string, error: NodeJS.ErrnoException): ControlSocketPathError {
  const directory = dirname(path);
  const reasons: Record<string, string> = {
    EACCES: `permission denied in ${directory}`,
    EPERM: `operation not permitted in ${directory}`,
    ENOENT: `directory ${directory} does not exist`,
    ENOTDIR: `${directory} is not a directory`,
    EROFS: `${directory} is on a read-only file system`,
  };
  const reason = (error.code === undefined ? undefined : reasons[error.code]) ?? error.message;
  return new ControlSocketPathError(
    `cannot create the control socket ${basename(path)} at ${path}: ${reason}; ` +
      'choose another location with --control <path>',
  );
}
