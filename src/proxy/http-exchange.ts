// One request of the JavaScript http front (http-proxy.ts): its exchange with
// the current backend, whether it may be sent again, and the edge's timeouts
// of a request on node's sockets (SPEC §12) — the header and keep-alive
// timeouts are node's server's, the body's, the backend read's and the client
// send's are idle timers of the sockets.

import http from 'node:http';
import type { EdgeTimeouts } from '../core/edge.js';
import type { WorkerId } from '../core/types.js';
import type { BackendEntry } from './backend-registry.js';
import type { Attempt } from './dispatch.js';
import { ResponseTimeoutError } from './errors.js';
import { forwardedRequestHeaders } from './http-headers.js';

export const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Retries of a request whose pooled socket turned out to be closed by the backend. */
const MAX_STALE_RETRIES = 2;
/** Next backends tried for an idempotent request whose backend reset or timed out before answering (as http_internal.h's MAX_RESENDS). */
const MAX_RESENDS = 2;
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

type Phase = 'connecting' | 'waiting' | 'streaming' | 'done';

/** One client request and its current attempt upstream. */
export class Exchange implements Attempt {
  upstream: http.ClientRequest | undefined = undefined;
  backend: BackendEntry | undefined = undefined;
  failed: Set<WorkerId> | undefined = undefined;
  phase: Phase = 'connecting';
  phaseStartedAt = 0;
  staleRetries = 0;
  bodyForwarded = false;
  /** The request's path for the backend (a router may rewrite it). */
  path: string;
  /** The (app, route) it matched (RouteSeries), which its response is counted under. */
  series = 0;
  readonly startedAt = performance.now();
  readonly headers: string[];
  readonly hasBody: boolean;

  /** Sent again after its backend reset or timed out before answering (idempotent, no body): the last such error. */
  resent: { count: number; error: Error } | undefined = undefined;

  constructor(
    readonly request: http.IncomingMessage,
    readonly response: http.ServerResponse,
    trusted: boolean,
  ) {
    this.headers = forwardedRequestHeaders(request, false, trusted);
    this.path = request.url ?? '/';
    const length = request.headers['content-length'];
    this.hasBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  }
}

export function mayResend(exchange: Exchange, error: NodeJS.ErrnoException): boolean {
  return (
    !exchange.hasBody &&
    IDEMPOTENT.has(exchange.request.method ?? '') &&
    (exchange.resent?.count ?? 0) < MAX_RESENDS &&
    (error instanceof ResponseTimeoutError || STALE_SOCKET_CODES.has(error.code ?? ''))
  );
}

/** A pooled socket the backend had closed: safe to retry when nothing can have been processed twice. */
export function isStaleSocket(exchange: Exchange, upstream: http.ClientRequest, error: NodeJS.ErrnoException): boolean {
  return (
    upstream.reusedSocket &&
    !exchange.hasBody &&
    exchange.staleRetries < MAX_STALE_RETRIES &&
    IDEMPOTENT.has(exchange.request.method ?? '') &&
    STALE_SOCKET_CODES.has(error.code ?? '')
  );
}

/** node's server with the edge's header and keep-alive timeouts (it answers a late head 408 itself). */
export function edgeServerOptions(edge: EdgeTimeouts): http.ServerOptions {
  const { clientHeaderTimeoutMs, keepaliveTimeoutMs } = edge;
  return {
    headersTimeout: clientHeaderTimeoutMs,
    requestTimeout: 0, // a whole upload may take long: its idle time is the body timeout (BodyWatch)
    keepAliveTimeout: keepaliveTimeoutMs,
    // How often node checks the header timeout: a few times per timeout.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(Math.min(clientHeaderTimeoutMs, keepaliveTimeoutMs) / 4))),
  };
}

/**
 * Request bodies being read and the time of their last byte: the front's
 * sweep calls `onStall` for those idle past the body timeout (one sweep for
 * all, not a timer per request; the socket's own timer is the send timeout's).
 */
export class BodyWatch {
  private readonly bodies = new Map<http.IncomingMessage, { at: number; readonly onStall: () => void }>();

  watch(request: http.IncomingMessage, onStall: () => void): void {
    const entry = { at: Date.now(), onStall };
    this.bodies.set(request, entry);
    request.on('data', () => (entry.at = Date.now()));
    const done = () => this.bodies.delete(request);
    request.once('end', done);
    request.once('close', done);
  }

  sweep(now: number, timeoutMs: number): void {
    for (const [request, entry] of this.bodies) {
      if (now - entry.at < timeoutMs) continue;
      this.bodies.delete(request);
      entry.onStall();
    }
  }
}

/** Mid-response, the backend sends nothing (backend read timeout) or the client takes nothing (client send timeout): both closed. */
export function closeWhenIdle(upstreamResponse: http.IncomingMessage, response: http.ServerResponse, edge: EdgeTimeouts): void {
  const backendSocket = upstreamResponse.socket;
  const stalled = () => {
    upstreamResponse.destroy();
    response.destroy();
  };
  backendSocket.setTimeout(edge.backendReadTimeoutMs);
  backendSocket.once('timeout', stalled);
  response.setTimeout(edge.clientSendTimeoutMs, stalled);
  upstreamResponse.once('end', () => {
    // The pooled socket goes back without this response's timer.
    backendSocket.setTimeout(0);
    backendSocket.off('timeout', stalled);
  });
  response.once('finish', () => response.setTimeout(0));
}
