// Upgrade requests (WebSocket) through the http front: the handshake goes to
// the next backend over a connection of its own (never a pooled one), and once
// the backend answers 101 the two sockets are piped together until either ends.
// As for plain requests, a refused connect is retried on the next backend.

import http from 'node:http';
import type { Socket } from 'node:net';
import type { BackendEntry, Backends } from './backend-registry.js';
import type { Attempt, AttemptHandler, Choose, Dispatcher } from './dispatch.js';
import { ConnectTimeoutError } from './errors.js';
import { ambiguousRequest, forwardedRequestHeaders, responseHead, takeTarget } from './http-headers.js';
import { BAD_REQUEST } from './http-client-error.js';

/** What the upgrade path needs from the http front. */
export interface UpgradeContext {
  readonly registry: Backends;
  readonly dispatcher: Dispatcher;
  readonly connectTimeoutMs: number;
  /** An upgraded connection with no byte either way for this long is closed. */
  readonly tunnelTimeoutMs: number;
  /** Whether the peer's X-Forwarded-* headers are kept (--forwarded-allow-ips). */
  trusts(request: http.IncomingMessage): boolean;
  /** Upgraded client sockets, destroyed when close() times out. */
  readonly tunnels: Set<Socket>;
  readonly isClosing: boolean;
  /** Set while the front closes: called whenever an upgraded connection ends. */
  readonly whenTunnelsClosed: (() => void) | undefined;
}

function ignoreError(): void {
  // 'close' follows and tears both sides down.
}

export function proxyUpgrade(context: UpgradeContext, request: http.IncomingMessage, client: Socket, head: Buffer): void {
  if (context.isClosing) {
    client.destroy();
    return;
  }
  if (ambiguousRequest(request) !== undefined || !takeTarget(request)) {
    client.end(BAD_REQUEST);
    return;
  }
  client.on('error', ignoreError);
  context.tunnels.add(client);
  client.once('close', () => {
    context.tunnels.delete(client);
    context.whenTunnelsClosed?.();
  });
  const headers = forwardedRequestHeaders(request, true, context.trusts(request));
  // Idle (no byte either way) for the tunnel timeout: closed, and its backend side with it ('close' tears both down).
  client.setTimeout(context.tunnelTimeoutMs, () => client.destroy());
  const attempt: Attempt = { backend: undefined, failed: undefined };
  client.once('close', () => context.dispatcher.cancel(attempt));
  // By host and path (the routing front); the path as the chosen route rewrote it.
  let path = request.url ?? '/';
  const choose: Choose = (exclude) => {
    const routed = context.registry.route(request.headers.host, request.url ?? '/', exclude);
    if (routed !== undefined) path = routed.path;
    return routed?.backend;
  };

  const handler: AttemptHandler<Attempt> = {
    giveUp: (_attempt, reason, queueTimedOut) => refuse(client, reason, queueTimedOut ? 503 : 502),
    waitable: () => context.registry.waitable(request.headers.host, request.url ?? '/'),
    connect: (_attempt, backend: BackendEntry) => {
      let released = false;
      const release = () => {
        if (!released) context.registry.release(backend);
        released = true;
      };
      let connected = false;
      const upstream = http.request({
        host: backend.host,
        port: backend.port,
        method: request.method,
        path,
        headers,
        setHost: false,
        agent: false,
        timeout: context.connectTimeoutMs,
      });
      upstream.on('socket', (socket: Socket) => {
        socket.once('connect', () => {
          connected = true;
          upstream.setTimeout(0);
        });
      });
      upstream.on('timeout', () => {
        if (!connected) upstream.destroy(new ConnectTimeoutError(backend.host, backend.port, context.connectTimeoutMs));
      });
      upstream.on('error', (error) => {
        if (released) return;
        if (connected) {
          release();
          refuse(client, 'the backend failed', 502); // the body names no internal address
          return;
        }
        released = true;
        context.dispatcher.connectFailed(attempt, error);
        dispatch();
      });
      upstream.on('upgrade', (response: http.IncomingMessage, backendSocket: Socket, backendHead: Buffer) => {
        backendSocket.on('error', ignoreError);
        backendSocket.once('close', () => {
          release();
          client.destroy();
        });
        client.once('close', () => backendSocket.destroy());
        if (client.destroyed) {
          backendSocket.destroy();
          return;
        }
        client.write(responseHead(response));
        if (backendHead.length > 0) client.write(backendHead);
        if (head.length > 0) backendSocket.write(head);
        client.pipe(backendSocket);
        backendSocket.pipe(client);
      });
      upstream.on('response', (response: http.IncomingMessage) => {
        // The backend declined the upgrade: relay its answer and end the connection.
        client.write(responseHead(response));
        response.pipe(client);
        response.once('close', () => {
          release();
          client.end();
        });
      });
      upstream.end();
    },
  };
  const dispatch = (): void => {
    if (!client.destroyed) context.dispatcher.dispatch(attempt, handler, choose);
  };
  dispatch();
}

function refuse(client: Socket, reason: string, status: 502 | 503): void {
  if (client.destroyed) return;
  const title = `${status} ${http.STATUS_CODES[status]}`;
  const body = `${title}: ${reason}\n`;
  client.end(
    `HTTP/1.1 ${title}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
