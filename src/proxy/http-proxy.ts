// The L7 front (--proxy http): every request goes to the next backend, over a
// keep-alive pool per backend. Because the choice is made per request, a
// client's keep-alive connection outlives any backend: when one is removed
// (reload, scale down, health ejection) the next request simply goes to
// another, which is what makes reloads lossless on busy keep-alive connections.
// A request whose backend refuses the connection (or does not accept in time)
// is retried on the next backend before anything is sent, and reported as a
// passive health check; one that finds a pooled socket closed by the backend is
// retried when that is safe (idempotent, no body). 502 when no backend works,
// 504 when the backend does not answer in time.
//
// This is the portable data path: where the native one (http-native.ts, C)
// is built, createHttpFront uses that instead, with the same behaviour.

import http from 'node:http';
import type { Socket } from 'node:net';
import type { WorkerId } from '../core/types.js';
import type { BackendEntry } from './backend-registry.js';
import type { AttemptHandler } from './dispatch.js';
import type { BackendsFactory } from './front-base.js';
import { ConnectTimeoutError, ResponseTimeoutError } from './errors.js';
import { DEFAULT_FORWARDED_ALLOW_IPS, isTrustedPeer, parseTrustedPeers, type EdgeTimeouts, type TrustedPeers } from '../core/edge.js';
import { BackendRouteCounters, RouteSeries, type HttpFrontOptions, type RequestStats } from './http-common.js';
import { ambiguousRequest, forwardedResponseHeaders, withHsts, takeTarget } from './http-headers.js';
import { createServer } from './http-server.js';
import { closeWhenIdle, edgeServerOptions, Exchange, isStaleSocket, mayResend, BodyWatch, REQUEST_TIMEOUT } from './http-exchange.js';
import { answerClientError, BAD_REQUEST, METHOD_NOT_ALLOWED } from './http-client-error.js';
import { MAX_HEAD, MAX_HEADERS } from './http-limits.js';
import { createNativeHttpFront } from './http-native.js';
import { proxyUpgrade } from './http-upgrade.js';
import { FrontBase } from './front-base.js';
import { edgeTimeouts, type BoundFront } from './options.js';
import { UpstreamPools } from './upstream-pools.js';

export { DEFAULT_HTTP_RESPONSE_TIMEOUT_MS } from './http-common.js';
export type { HttpFrontOptions, RequestStats } from './http-common.js';

export class HttpFront extends FrontBase implements AttemptHandler<Exchange> {
  readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly edge: EdgeTimeouts;
  private readonly trustedPeers: TrustedPeers;
  protected readonly server: http.Server;
  private readonly pools = new UpstreamPools();
  private readonly bodies = new BodyWatch();
  /** Exchanges waiting for a connect or a response head: the sweeper times them out. */
  private readonly pending = new Set<Exchange>();
  /** Upgraded (WebSocket) connections, which the http server no longer tracks. */
  readonly tunnels = new Set<Socket>();
  /** Set while closing: called whenever an upgraded connection ends. */
  whenTunnelsClosed: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  /** On a TLS front: stops following certificate renewals. */
  private stopRenewals: (() => void) | undefined;

  private readonly counters = new BackendRouteCounters();
  private readonly series = new RouteSeries();
  /** The exchange in progress on each client connection, abandoned if node's parser then refuses the rest (a bad chunk). */
  private readonly current = new WeakMap<Socket, Exchange>();

  /** @param backends the routing front's (routed-registry.ts): its `route()` picks the app by host and path first. */
  constructor(options: HttpFrontOptions, backends?: BackendsFactory) {
    super(options, backends);
    this.edge = edgeTimeouts(options, 'http');
    this.connectTimeoutMs = this.edge.connectTimeoutMs;
    this.responseTimeoutMs = this.edge.responseTimeoutMs;
    this.trustedPeers = parseTrustedPeers(options.forwardedAllowIps ?? DEFAULT_FORWARDED_ALLOW_IPS);
    const front = createServer(options, { ...edgeServerOptions(this.edge), maxHeaderSize: options.maxHeaderSize ?? MAX_HEAD }, (request, response) => this.handle(request, response));
    this.server = front.server;
    this.stopRenewals = front.stopRenewals;
    // At most MAX_HEADERS lines, as the native parser: node 22.23+ refuses from about 1,000 by default (431), node 20 drops what is over the count.
    this.server.maxHeadersCount = MAX_HEADERS;
    // Every request node's parser refuses (smuggling attempts, oversize heads…) is a 400 or 431, as on the native path.
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      // The head did not come within the header timeout (node's headersTimeout).
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && this.current.get(socket) === undefined) {
        if (socket.writable) socket.end(REQUEST_TIMEOUT);
        else socket.destroy();
        return;
      }
      const exchange = this.current.get(socket);
      answerClientError(error, socket, exchange, () => exchange !== undefined && this.abandon(exchange));
    });
    // Node hands CONNECT to 'connect' listeners (and closes without one): the native front's 405.
    this.server.on('connect', (_request: http.IncomingMessage, socket: Socket) => socket.end(METHOD_NOT_ALLOWED));
    this.server.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => proxyUpgrade(this, request, socket, head));
    this.server.on('error', (error) => {
      if (this.server.listening) this.options.logger?.error({ err: error }, 'front: accept failed');
    });
  }

  protected timeoutsMs(): number[] {
    return [this.connectTimeoutMs, this.responseTimeoutMs, this.edge.clientBodyTimeoutMs];
  }

  get tunnelTimeoutMs(): number {
    return this.edge.tunnelTimeoutMs;
  }

  /** Whether this request's peer is one of --forwarded-allow-ips. */
  trusts(request: http.IncomingMessage): boolean {
    return isTrustedPeer(this.trustedPeers, request.socket.remoteAddress);
  }

  override remove(id: WorkerId): void {
    super.remove(id);
    this.pools.closeIdle(id);
  }

  /** In-flight requests plus idle pooled sockets: both keep the backend's server busy. */
  override connections(id: WorkerId): number {
    return super.connections(id) + this.pools.idle(id);
  }

  protected override backendForgotten(entry: BackendEntry): void {
    this.pools.close(entry.id);
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const deadline = setTimeout(() => {
        this.server.closeAllConnections();
        for (const socket of this.tunnels) socket.destroy();
      }, timeoutMs);
      const finish = () => {
        clearTimeout(deadline);
        this.stopRenewals?.();
        this.sweeper?.stop();
        this.pools.destroyAll();
        resolve();
      };
      let serverClosed = !this.server.listening;
      const maybeFinish = () => {
        if (serverClosed && this.tunnels.size === 0) finish();
      };
      this.whenTunnelsClosed = maybeFinish;
      if (serverClosed) {
        maybeFinish();
        return;
      }
      // close() stops accepting and closes idle keep-alive connections; busy
      // ones get "Connection: close" on their current response (endConnectionIfClosing).
      this.server.close(() => {
        serverClosed = true;
        maybeFinish();
      });
    });
    // Once closing is set: their answers end their connections.
    this.dispatcher.giveUpAll('the front is closing');
    return this.closing;
  }

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  requestStats(): RequestStats[] {
    return this.counters.snapshot(this.series);
  }

  /** Counts a response sent for `backend` under the route the request matched (the latency: from its head to now). */
  private count(exchange: Exchange, backend: BackendEntry, status: number): void {
    this.counters.record(backend.id, exchange.series, status, performance.now() - exchange.startedAt);
  }

  /** The registry's route for this request: its backend, and the path it goes with (a route may strip a prefix). */
  private routed(exchange: Exchange, exclude: ReadonlySet<WorkerId> | undefined): BackendEntry | undefined {
    const { request } = exchange;
    const routed = this.registry.route(request.headers.host, request.url ?? '/', exclude);
    if (routed !== undefined) {
      exchange.path = routed.path;
      exchange.series = this.series.of(routed);
    }
    return routed?.backend;
  }

  pool(backend: BackendEntry): http.Agent {
    return this.pools.of(backend.id);
  }

  // -------------------------------------------------------------- per request

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    if (ambiguousRequest(request) !== undefined || !takeTarget(request)) {
      request.socket.end(BAD_REQUEST);
      return;
    }
    const exchange = new Exchange(request, response, this.trusts(request));
    this.current.set(request.socket, exchange);
    response.on('close', () => {
      // The client went away before its response was complete: stop the backend side.
      if (!response.writableFinished) this.abandon(exchange);
    });
    this.dispatch(exchange);
  }

  private dispatch(exchange: Exchange): void {
    if (exchange.response.destroyed) return; // the client left while a retry was due
    this.dispatcher.dispatch(exchange, this, (exclude) => this.routed(exchange, exclude));
  }

  /** AttemptHandler: no backend for this request; 404 when no route matches it at all, 503 after waiting in the queue for one. */
  /** AttemptHandler: held while no backend of its route is in rotation (per app on the routing front). */
  waitable(exchange: Exchange): boolean {
    return this.registry.waitable(exchange.request.headers.host, exchange.request.url ?? '/');
  }

  giveUp(exchange: Exchange, reason: string, queueTimedOut: boolean): void {
    const { request } = exchange;
    if (exchange.resent !== undefined && !queueTimedOut) {
      // No other backend for a request resent after a timeout or a reset: the answer is that failure's.
      const timedOut = exchange.resent.error instanceof ResponseTimeoutError;
      this.fail(exchange, timedOut ? 504 : 502, timedOut ? `the backend sent no response within ${this.responseTimeoutMs}ms` : 'the backend failed');
      return;
    }
    if (!queueTimedOut && exchange.failed === undefined && !this.registry.hasRoute(request.headers.host, request.url ?? '/')) {
      this.fail(exchange, 404, 'no route for this path');
      return;
    }
    this.fail(exchange, queueTimedOut ? 503 : 502, reason);
  }

  /** AttemptHandler: sends the request to `backend` (chosen and acquired by the dispatcher). */
  connect(exchange: Exchange, backend: BackendEntry): void {
    const { request } = exchange;
    let upstream: http.ClientRequest;
    try {
      upstream = http.request({
        host: backend.host,
        port: backend.port,
        method: request.method,
        path: exchange.path,
        // An HTTP/1.0 client may send no Host; the backend, asked in 1.1, needs one.
        headers: request.headers.host === undefined ? [...exchange.headers, 'Host', `${backend.host}:${backend.port}`] : exchange.headers,
        setHost: false,
        agent: this.pool(backend),
      });
    } catch (error) {
      // A request node's server accepted but its client refuses to send (an invalid header or path).
      exchange.backend = undefined;
      this.registry.releaseFailed(backend);
      this.fail(exchange, 400, `cannot forward this request: ${(error as Error).message}`);
      return;
    }
    exchange.upstream = upstream;
    exchange.phase = 'connecting';
    exchange.phaseStartedAt = Date.now();
    this.pending.add(exchange);
    upstream.on('socket', (socket) => {
      if (socket.connecting) socket.once('connect', () => this.sendBody(exchange, upstream));
      else this.sendBody(exchange, upstream);
    });
    upstream.on('response', (upstreamResponse) => this.relayResponse(exchange, upstream, upstreamResponse));
    upstream.on('error', (error) => this.upstreamFailed(exchange, upstream, error));
    // Without a body the request can be sent (and re-sent on a retry) as it is.
    if (!exchange.hasBody) upstream.end();
  }

  /** The backend accepted: the body may flow now (it was held back so a refused connect loses nothing). */
  private sendBody(exchange: Exchange, upstream: http.ClientRequest): void {
    if (exchange.upstream !== upstream || exchange.phase !== 'connecting') return;
    exchange.phase = 'waiting';
    exchange.phaseStartedAt = Date.now();
    if (exchange.hasBody && !exchange.bodyForwarded) {
      exchange.bodyForwarded = true;
      // The response timeout counts from the end of the upload, not from the connect.
      exchange.request.once('end', () => {
        exchange.request.setTimeout(0);
        if (exchange.upstream === upstream) exchange.phaseStartedAt = Date.now();
      });
      // No body byte for the body timeout: 408 (or a cut, once a response began), and the backend connection closed.
      this.bodies.watch(exchange.request, () => this.bodyStalled(exchange));
      exchange.request.pipe(upstream);
    }
  }

  private relayResponse(exchange: Exchange, upstream: http.ClientRequest, upstreamResponse: http.IncomingMessage): void {
    if (exchange.upstream !== upstream) return;
    this.pending.delete(exchange);
    exchange.phase = 'streaming';
    const { response } = exchange;
    this.endConnectionIfClosing(response);
    try {
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.statusMessage, withHsts(forwardedResponseHeaders(upstreamResponse), this.options.tls?.hsts));
    } catch (error) {
      // A response node's client parsed but its server refuses to send on.
      upstreamResponse.destroy();
      this.finish(exchange);
      this.fail(exchange, 502, `backend sent a response that cannot be forwarded: ${(error as Error).message}`);
      return;
    }
    upstreamResponse.pipe(response);
    closeWhenIdle(upstreamResponse, response, this.edge);
    upstreamResponse.on('close', () => {
      // Cut short by the backend: the client cannot get a whole response any more.
      if (!upstreamResponse.complete) response.destroy();
      else if (exchange.backend !== undefined) this.count(exchange, exchange.backend, upstreamResponse.statusCode ?? 0);
      this.finish(exchange);
    });
  }

  private upstreamFailed(exchange: Exchange, upstream: http.ClientRequest, error: NodeJS.ErrnoException): void {
    if (exchange.upstream !== upstream) return; // abandoned, or an attempt already retried
    const backend = exchange.backend as BackendEntry;
    const { phase } = exchange;
    this.pending.delete(exchange);
    exchange.upstream = undefined;
    if (phase === 'connecting') {
      // Nothing reached the backend: try the next one.
      this.dispatcher.connectFailed(exchange, error);
      this.dispatch(exchange);
      return;
    }
    exchange.backend = undefined;
    if (!(phase === 'waiting' && mayResend(exchange, error))) this.registry.release(backend);
    if (phase === 'waiting' && isStaleSocket(exchange, upstream, error)) {
      exchange.staleRetries++;
      this.dispatch(exchange);
      return;
    }
    if (phase === 'waiting' && mayResend(exchange, error)) {
      // Reset or timed out before any response byte: an idempotent request without a body goes to the next backend (nginx's proxy_next_upstream).
      exchange.resent = { count: (exchange.resent?.count ?? 0) + 1, error };
      exchange.backend = backend;
      this.dispatcher.connectFailed(exchange, error);
      this.dispatch(exchange);
      return;
    }
    // The body names no internal address; the log does.
    const timedOut = error instanceof ResponseTimeoutError;
    this.count(exchange, backend, timedOut ? 504 : 502);
    this.options.logger?.warn({ backend: backend.id, port: backend.port, err: error.message }, 'front: backend failed');
    if (timedOut) this.fail(exchange, 504, `the backend sent no response within ${this.responseTimeoutMs}ms`);
    else this.fail(exchange, 502, 'the backend failed');
  }

  /** Answers with a short error, or cuts the connection when the response had already begun. */
  private fail(exchange: Exchange, status: 400 | 404 | 408 | 502 | 503 | 504, reason: string): void {
    exchange.phase = 'done';
    const { response } = exchange;
    if (response.headersSent || response.destroyed) {
      response.destroy();
      return;
    }
    this.options.logger?.warn({ status, method: exchange.request.method, url: exchange.request.url, reason }, 'front: request failed');
    const body = `${status} ${http.STATUS_CODES[status]}: ${reason}\n`;
    // Nothing of a half-copied backend response may leak into the error.
    for (const name of response.getHeaderNames()) response.removeHeader(name);
    this.endConnectionIfClosing(response);
    response.writeHead(status, withHsts(['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))], this.options.tls?.hsts));
    response.end(body);
  }

  /** While closing, every response ends its keep-alive connection, so that close() completes. */
  private endConnectionIfClosing(response: http.ServerResponse): void {
    if (this.closing !== undefined) response.setHeader('Connection', 'close');
  }

  private finish(exchange: Exchange): void {
    if (this.current.get(exchange.request.socket) === exchange) this.current.delete(exchange.request.socket);
    this.pending.delete(exchange);
    exchange.phase = 'done';
    exchange.upstream = undefined;
    const backend = exchange.backend;
    exchange.backend = undefined;
    if (backend !== undefined) this.registry.release(backend);
  }

  private abandon(exchange: Exchange): void {
    this.dispatcher.cancel(exchange);
    const upstream = exchange.upstream;
    this.finish(exchange);
    upstream?.destroy();
  }

  private bodyStalled(exchange: Exchange): void {
    const { upstream } = exchange;
    if (exchange.phase !== 'done') {
      this.finish(exchange);
      upstream?.destroy();
    }
    if (exchange.response.headersSent) {
      exchange.request.socket.destroy();
      return;
    }
    this.fail(exchange, 408, `the request body did not come within ${this.edge.clientBodyTimeoutMs}ms`);
    exchange.response.once('finish', () => exchange.request.socket.destroy());
  }

  protected sweep(now: number): void {
    this.bodies.sweep(now, this.edge.clientBodyTimeoutMs);
    for (const exchange of this.pending) {
      const backend = exchange.backend as BackendEntry;
      const elapsed = now - exchange.phaseStartedAt;
      if (exchange.phase === 'connecting' && elapsed >= this.connectTimeoutMs) {
        exchange.upstream?.destroy(new ConnectTimeoutError(backend.host, backend.port, this.connectTimeoutMs));
      } else if (exchange.phase === 'waiting' && this.responseTimeoutMs > 0 && elapsed >= this.responseTimeoutMs) {
        exchange.upstream?.destroy(new ResponseTimeoutError(backend.host, backend.port, this.responseTimeoutMs));
      }
    }
  }
}

export type HttpFrontLike = BoundFront & { requestStats(): RequestStats[] };

/** The http front: the native data path where it is built (SUPERVISE_HTTP_NATIVE=0 turns it off), else the JavaScript one. */
export function createHttpFront(options: HttpFrontOptions, backends?: BackendsFactory): HttpFrontLike {
  // A TLS front runs native only where the addon terminates TLS (httpSetTls): createNativeHttpFront says so.
  return createNativeHttpFront(options, backends) ?? new HttpFront(options, backends);
}

/** The JavaScript data path, whatever is built (tests run both). */
export function createJavaScriptHttpFront(options: HttpFrontOptions, backends?: BackendsFactory): HttpFrontLike {
  return new HttpFront(options, backends);
}

