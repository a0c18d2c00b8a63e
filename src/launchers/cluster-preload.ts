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

// ---------------------------------------------------------------- integrity (SPEC §3, §9)
// Die with the master, whatever this worker's event loop is doing: the kernel
// sends SIGKILL when the master's forking thread ends (a busy loop never reads
// the closed IPC channel). Heartbeats come from the event loop, so a blocked
// loop stops them and the master declares the worker hung.

const masterPid = Number(process.env.SUPERVISE_MASTER_PID);
if (Number.isInteger(masterPid) && masterPid > 1 && process.send) {
  try {
    const { armParentDeathSignal } = await import('./prctl.js');
    armParentDeathSignal('SIGKILL', masterPid);
  } catch {
    // no addon: the reaper still covers this worker
  }
  const period = Number(process.env.SUPERVISE_HEARTBEAT_MS);
  const timeout = Number(process.env.SUPERVISE_HEARTBEAT_TIMEOUT_MS);
  if (period > 0) {
    const beat = new Int32Array(new SharedArrayBuffer(4));
    // The interval must not keep a finished worker alive, nor its sends the channel.
    setInterval(() => {
      Atomics.add(beat, 0, 1);
      if (process.connected) process.send?.('supervise:heartbeat', undefined, { swallowErrors: true } as never, () => undefined);
    }, period).unref();
    if (timeout > 0) {
      // The stack is taken at three quarters of the timeout: before the master kills the worker.
      const { Worker } = await import('node:worker_threads');
      const watcher = new Worker(new URL('./stack-watch.js', import.meta.url), {
        workerData: { beat, limitMs: Math.floor(timeout * 0.75), periodMs: period },
        stdout: false,
        stderr: false,
      });
      watcher.unref();
      watcher.on('error', () => undefined); // no inspector in this build: no stacks, nothing else lost
    }
  }
}

// --max-requests: counted here, per request of every http server; the master
// replaces the worker through a drain once it is reached.
const requestLimit = Number(process.env.SUPERVISE_MAX_REQUESTS);
if (requestLimit > 0) {
  let served = 0;
  const count = () => {
    if (++served === requestLimit) process.send?.('supervise:max-requests');
  };
  const originalEmit = http.Server.prototype.emit;
  http.Server.prototype.emit = function emit(this: http.Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') count();
    return (originalEmit as (...a: unknown[]) => boolean).call(this, event, ...args);
  } as typeof http.Server.prototype.emit;
}
