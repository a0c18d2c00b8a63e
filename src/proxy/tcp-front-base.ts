// The L4 front's JavaScript data path (tcp-proxy-sockets.ts on net.Socket; the
// native one is http-native.ts's kind 'tcp', deciding in C): the backend bookkeeping of
// every connect attempt (through dispatch.ts), the connect and idle timeouts
// (one sweeping interval, no timer per connection) and close(timeoutMs).
// Listening and moving the bytes are the subclass's.

import type { WorkerId } from '../core/types.js';
import type { BackendEntry } from './backend-registry.js';
import type { Attempt, AttemptHandler } from './dispatch.js';
import { ConnectTimeoutError } from './errors.js';
import { DEFAULT_EDGE_TIMEOUTS } from '../core/edge.js';
import { edgeTimeouts, type FrontOptions } from './options.js';
import { FrontBase } from './front-base.js';

/** A connection with no byte either way for this long is closed: --tunnel-timeout's default (1 h). */
export const DEFAULT_TCP_IDLE_TIMEOUT_MS = DEFAULT_EDGE_TIMEOUTS.tunnelTimeoutMs;

/** One client connection and its current upstream attempt, as the front accounts for it. */
export abstract class TunnelBase implements Attempt {
  backend: BackendEntry | undefined = undefined;
  failed: Set<WorkerId> | undefined = undefined;
  connected = false;
  connectStartedAt = 0;
  clientClosed = false;
  /** Chunks moved in either direction; the idle sweep compares it with what it saw last. */
  activity = 0;
  activitySeen = 0;
  quietSince = 0;
}

export abstract class TcpFrontBase<T extends TunnelBase> extends FrontBase implements AttemptHandler<T> {
  protected readonly tunnels = new Set<T>();
  private readonly connecting = new Set<T>();
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  protected closing: Promise<void> | undefined;
  private onAllClosed: (() => void) | undefined;
  private refusedSinceWarning = 0;
  private lastNoBackendWarning = 0;

  constructor(options: FrontOptions) {
    super(options);
    // --connect-timeout and --tunnel-timeout (the idle timeout of an L4 connection).
    const edge = edgeTimeouts(options, 'tcp');
    this.connectTimeoutMs = edge.connectTimeoutMs;
    this.idleTimeoutMs = edge.tunnelTimeoutMs;
  }

  protected timeoutsMs(): number[] {
    return [this.connectTimeoutMs, this.idleTimeoutMs];
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.stopAccepting();
      this.dispatcher.giveUpAll('the front is closing');
      const finish = () => {
        clearTimeout(deadline);
        this.sweeper?.stop();
        resolve();
      };
      const deadline = setTimeout(() => {
        for (const tunnel of this.tunnels) this.destroyTunnel(tunnel);
      }, timeoutMs);
      if (this.tunnels.size === 0) finish();
      else this.onAllClosed = finish;
    });
    return this.closing;
  }

  // ------------------------------------------------------ for the subclasses

  /** Closes the listener; the open connections are this front's to finish. */
  protected abstract stopAccepting(): void;

  /** Starts a connect of `tunnel` to `backend` (already acquired and recorded on the tunnel). */
  protected abstract startConnect(tunnel: T, backend: BackendEntry): void;

  /** Drops the pending connect attempt of `tunnel`, silently: its failure is accounted for by the caller. */
  protected abstract abortConnect(tunnel: T): void;

  /** Closes both sides of `tunnel` at once. */
  abstract destroyTunnel(tunnel: T): void;

  /** Closes a client for which no backend is left. */
  protected abstract refuse(tunnel: T): void;

  acceptFailed(error: Error): void {
    this.options.logger?.error({ err: error }, 'front: accept failed');
  }

  /** A client was accepted. */
  protected accepted(tunnel: T): void {
    this.tunnels.add(tunnel);
    if (this.closing !== undefined) this.destroyTunnel(tunnel);
    else this.connectNext(tunnel);
  }

  /** Connects the tunnel to the next backend it has not failed on (dispatch.ts): connect() or giveUp() follows. */
  connectNext(tunnel: T): void {
    this.dispatcher.dispatch(tunnel, this);
  }

  /** AttemptHandler: the dispatcher chose (and acquired) `backend` for `tunnel`. */
  connect(tunnel: T, backend: BackendEntry): void {
    tunnel.connectStartedAt = Date.now();
    this.connecting.add(tunnel);
    this.startConnect(tunnel, backend);
  }

  /** AttemptHandler: no backend for this client (none accepted it, or none came into rotation in time). */
  giveUp(tunnel: T, reason: string): void {
    this.warnNoBackend(reason);
    this.refuse(tunnel);
  }

  connected(tunnel: T): void {
    tunnel.connected = true;
    this.connecting.delete(tunnel);
  }

  /** The current upstream attempt failed before connecting: report it and try the next backend. */
  connectFailed(tunnel: T, error: Error): void {
    this.connecting.delete(tunnel);
    this.dispatcher.connectFailed(tunnel, error);
    if (tunnel.clientClosed) this.forget(tunnel);
    else this.connectNext(tunnel);
  }

  /** The tunnel's upstream closed: the backend has one connection fewer; the tunnel ends if its client has closed too. */
  upstreamClosed(tunnel: T): void {
    this.connecting.delete(tunnel);
    const backend = tunnel.backend as BackendEntry;
    tunnel.backend = undefined;
    this.registry.release(backend);
    if (tunnel.clientClosed) this.forget(tunnel);
  }

  /** The tunnel's client closed; the tunnel ends if no upstream (connected or connecting) is left. */
  clientGone(tunnel: T): void {
    tunnel.clientClosed = true;
    if (tunnel.backend === undefined) this.forget(tunnel);
  }

  /** The client closed and no upstream is left. */
  private forget(tunnel: T): void {
    this.dispatcher.cancel(tunnel);
    this.tunnels.delete(tunnel);
    if (this.tunnels.size === 0 && this.onAllClosed !== undefined) this.onAllClosed();
  }

  protected sweep(now: number): void {
    for (const tunnel of this.connecting) {
      if (now - tunnel.connectStartedAt >= this.connectTimeoutMs) {
        const backend = tunnel.backend as BackendEntry;
        this.abortConnect(tunnel);
        this.connectFailed(tunnel, new ConnectTimeoutError(backend.host, backend.port, this.connectTimeoutMs));
      }
    }
    if (this.idleTimeoutMs <= 0) return;
    for (const tunnel of this.tunnels) {
      if (!tunnel.connected) continue;
      const activity = this.activityOf(tunnel);
      if (activity !== tunnel.activitySeen || tunnel.quietSince === 0) {
        tunnel.activitySeen = activity;
        tunnel.quietSince = now;
      } else if (now - tunnel.quietSince >= this.idleTimeoutMs) {
        this.destroyTunnel(tunnel);
      }
    }
  }

  /** Chunks `tunnel` has moved so far, as the idle sweep compares them. */
  protected activityOf(tunnel: T): number {
    return tunnel.activity;
  }

  /** At most one warning per 5 s when connections are refused for lack of a backend. */
  private warnNoBackend(reason: string): void {
    this.refusedSinceWarning++;
    const now = Date.now();
    if (now - this.lastNoBackendWarning < 5000) return;
    this.options.logger?.warn(
      { refused: this.refusedSinceWarning, reason, inRotation: this.registry.size },
      'front: no backend available, closing client connections',
    );
    this.lastNoBackendWarning = now;
    this.refusedSinceWarning = 0;
  }
}
