// Binding and closing the public listener, the same way for both fronts.

import type { Server } from 'node:net';

/**
 * Resolves once `server` listens on host:port. On failure the error keeps its
 * code (EADDRINUSE, EACCES…) and its message names the address, so that
 * "127.0.0.1:8080 is already in use" reaches the user rather than a bare "listen EADDRINUSE".
 */
export function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(describeListenError(error, host, port));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

export function describeListenError(error: NodeJS.ErrnoException, host: string, port: number): NodeJS.ErrnoException {
  const where = `${host}:${port}`;
  const reason =
    error.code === 'EADDRINUSE'
      ? `${where} is already in use; stop whatever holds it or choose another port`
      : error.code === 'EACCES'
        ? `${where}: permission denied (ports below 1024 need privileges)`
        : error.code === 'EADDRNOTAVAIL'
          ? `${where}: no local interface has this address`
          : `${where} cannot be bound: ${error.message}`;
  const described: NodeJS.ErrnoException = new Error(`front cannot listen: ${reason}`, { cause: error });
  if (error.code !== undefined) described.code = error.code;
  if (error.errno !== undefined) described.errno = error.errno;
  described.syscall = 'listen';
  return described;
}

/** The bound address; throws a clear error before listen() has succeeded. */
export function boundAddress(server: Server): { host: string; port: number } {
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('front is not listening: call and await listen() first');
  }
  return { host: address.address, port: address.port };
}

/** Stops accepting new connections; the open ones are the front's to finish. */
export function stopAccepting(server: Server): void {
  // Not close(callback): that waits for every connection, and the fronts
  // track and time-limit their connections themselves.
  if (server.listening) server.close();
}
