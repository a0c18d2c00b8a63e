// Loaded with --import into every cluster worker, before the user's script.
// It gives the master two things node:cluster lacks:
//  - a graceful drain: on "supervise:drain" every server stops accepting, and
//    each keep-alive connection is closed after its next response
//    (Connection: close) instead of being cut while a request may be on the wire;
//    idle ones end at the server's keep-alive timeout. "supervise:drained" is sent
//    once every server has closed.
//  - a terminal Ctrl-C reaches the whole foreground process group; the worker
//    ignores SIGINT so that the master, not the kernel, decides how it stops.
//  - its connection count and its own prom-client metrics (worker-stats.ts).
// Cost at run time: one Set insertion per listen(), a counter per connection.

import http from 'node:http';
import net from 'node:net';
import { answerStatsMessage, countConnections } from './worker-stats.js';

const servers = new Set<net.Server>();
const originalListen = net.Server.prototype.listen;
const originalClose = net.Server.prototype.close;

net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
  // The 'message' listener keeps the IPC channel referenced: hold it only while a
  // server exists, so a worker that has finished its work still exits on its own.
  if (servers.size === 0) process.on('message', onMessage);
  servers.add(this);
  countConnections(this);
  this.once('close', () => {
    servers.delete(this);
    if (servers.size === 0) process.off('message', onMessage);
  });
  return (originalListen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;

function closeOnNextResponse(_request: http.IncomingMessage, response: http.ServerResponse): void {
  response.shouldKeepAlive = false;
}

function drain(): void {
  const open = [...servers].filter((server) => server.listening);
  let remaining = open.length;
  const done = () => {
    if (--remaining <= 0) process.send?.('supervise:drained');
  };
  if (remaining === 0) {
    process.send?.('supervise:drained');
    return;
  }
  for (const server of open) {
    if (server instanceof http.Server) server.prependListener('request', closeOnNextResponse);
    // net's close, not http's: http.Server#close also drops idle keep-alive
    // connections at once, racing a request the client may be sending on them.
    originalClose.call(server, done);
  }
}

function onMessage(message: unknown): void {
  if (message === 'supervise:drain') drain();
  else answerStatsMessage(message);
}

process.on('SIGINT', () => undefined);
