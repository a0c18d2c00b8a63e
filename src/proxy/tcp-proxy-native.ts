// The L4 front on the native data plane (native-tunnel.ts, src/native/tunnel.c):
// C listens, accepts, holds each client unread, connects to the backend named
// here and moves the bytes; this module is the control plane, through the
// shared TcpFrontBase: which backend (once per connection, retrying the next
// on a failed connect, queueing while none is in rotation), the connect and
// idle timeouts, the per-backend counts, and draining: when a backend leaves
// the rotation its HTTP/1.x connections end at their next response boundary
// (with Connection: close), so that keep-alive clients reconnect to a ready
// backend and lose no request.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { WorkerId } from '../core/types.js';
import type { LoadedCertificate } from '../tls/certificate.js';
import type { BackendEntry } from './backend-registry.js';
import { describeListenError } from './listen.js';
import {
  CLIENT_SIDE, errnoError, UPSTREAM_SIDE, type NativeListenerOwner, type NativeTunnelOwner, type NativeTunnels,
} from './native-tunnel.js';
import type { BoundFront, FrontOptions } from './options.js';
import { TcpFrontBase, TunnelBase } from './tcp-front-base.js';

class NativeTunnel extends TunnelBase implements NativeTunnelOwner {
  /** Connect attempts started, so that a host name resolved after its attempt was given up on is dropped. */
  attempts = 0;

  constructor(
    readonly front: NativeTcpFront,
    /** The native tunnel's id (reused by C once both sides have closed). */
    readonly id: number,
  ) {
    super();
  }

  nativeConnected(): void {
    this.front.connected(this);
  }

  nativeConnectFailed(status: number): void {
    const backend = this.backend as BackendEntry;
    this.front.connectFailed(this, errnoError(status, 'connect', backend.host, backend.port));
  }

  nativeSidesClosed(sides: number): void {
    if ((sides & UPSTREAM_SIDE) !== 0) this.front.upstreamClosed(this);
    if ((sides & CLIENT_SIDE) !== 0) this.front.clientGone(this);
  }

  nativeEventFailed(error: unknown): void {
    this.front.eventFailed(error);
    if (!this.clientClosed) this.front.destroyTunnel(this);
  }
}

class NativeTcpFront extends TcpFrontBase<NativeTunnel> implements NativeListenerOwner {
  override get dataPath(): 'native' {
    return 'native';
  }
  protected readonly server = undefined;
  private listenerId = -1;
  private stopRenewals: (() => void) | undefined;
  private bound: { host: string; port: number } | undefined;

  constructor(
    options: FrontOptions,
    private readonly native: NativeTunnels,
  ) {
    super(options);
  }

  protected override async bind(): Promise<void> {
    const { host, port } = this.options;
    const { address, family } = await resolve(host);
    const id = this.native.listen(address, port, family, this);
    if (id < 0) throw describeListenError(errnoError(id, 'listen', address, port), host, port);
    this.listenerId = id;
    this.bound = { host: address, port: this.native.listenerPort(id) };
    this.setTls(id);
  }

  /** A TLS front: the certificates to C now (before the loop turns: no client is accepted without them), and on each renewal. */
  private setTls(id: number): void {
    const { tls } = this.options;
    const setTls = this.native.setTls;
    if (tls === undefined || setTls === undefined) return;
    const apply = (certificates: readonly LoadedCertificate[]) =>
      setTls(id, certificates.map((certificate) => ({ cert: certificate.certPem, key: certificate.keyPem, hosts: [...certificate.hosts] })));
    const refused = apply(tls.certificates.certificates);
    if (refused !== undefined) {
      this.stopAccepting();
      throw new Error(`front cannot serve TLS: the data plane refused the certificates: ${refused}`);
    }
    this.stopRenewals = tls.certificates.onRenewal((certificates) => (this.listenerId === id ? apply(certificates) : undefined));
  }

  override address(): { host: string; port: number } {
    if (this.bound === undefined) throw new Error('front is not listening: call and await listen() first');
    return this.bound;
  }

  protected stopAccepting(): void {
    this.stopRenewals?.();
    this.stopRenewals = undefined;
    if (this.listenerId >= 0) this.native.closeListener(this.listenerId);
    this.listenerId = -1;
  }

  nativeAccepted(id: number): NativeTunnelOwner {
    const tunnel = new NativeTunnel(this, id);
    this.accepted(tunnel);
    return tunnel;
  }

  nativeAcceptFailed(status: number): void {
    this.acceptFailed(errnoError(status, 'accept'));
  }

  nativeEventFailed(error: unknown): void {
    this.eventFailed(error);
  }

  eventFailed(error: unknown): void {
    this.options.logger?.error({ err: error }, 'front: error while handling a connection event');
  }

  /** Out of rotation: its HTTP/1.x connections end at their next response boundary; others run on, as before. */
  override remove(id: WorkerId): void {
    super.remove(id);
    for (const tunnel of this.tunnels) {
      if (tunnel.backend?.id === id) this.native.drain(tunnel.id);
    }
  }

  protected startConnect(tunnel: NativeTunnel, backend: BackendEntry): void {
    const attempt = ++tunnel.attempts;
    const family = ipFamily(backend.host);
    if (family !== 0) {
      this.dial(tunnel, backend.host, family, backend.port);
      return;
    }
    resolve(backend.host).then(
      ({ address, family: resolved }) => {
        if (tunnel.attempts === attempt) this.dial(tunnel, address, resolved, backend.port);
      },
      (error: Error) => {
        if (tunnel.attempts === attempt) this.connectFailed(tunnel, error);
      },
    );
  }

  private dial(tunnel: NativeTunnel, address: string, family: number, port: number): void {
    const status = this.native.connect(tunnel.id, address, port, family);
    if (status < 0) this.connectFailed(tunnel, errnoError(status, 'connect', address, port));
  }

  protected abortConnect(tunnel: NativeTunnel): void {
    tunnel.attempts++;
    this.native.abortConnect(tunnel.id);
  }

  protected refuse(tunnel: NativeTunnel): void {
    this.destroyTunnel(tunnel);
  }

  destroyTunnel(tunnel: NativeTunnel): void {
    if (tunnel.clientClosed && tunnel.backend === undefined) return; // gone: its id may be another tunnel's by now
    tunnel.attempts++;
    tunnel.nativeSidesClosed(this.native.destroy(tunnel.id));
  }

  protected override activityOf(tunnel: NativeTunnel): number {
    return this.native.activity(tunnel.id);
  }
}

let lastHost = '';
let lastFamily = 0;

/** isIP(host), remembered for the last host: backends are usually all on the same one (isIP runs a regular expression). */
function ipFamily(host: string): number {
  if (host !== lastHost) {
    lastFamily = isIP(host);
    lastHost = host;
  }
  return lastFamily;
}

async function resolve(host: string): Promise<{ address: string; family: number }> {
  const family = ipFamily(host);
  return family !== 0 ? { address: host, family } : lookup(host);
}

export function createNativeTcpFront(options: FrontOptions, native: NativeTunnels): BoundFront {
  return new NativeTcpFront(options, native);
}
