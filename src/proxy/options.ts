// Options shared by the tcp and http fronts, with their defaults and eager
// validation: a bad value fails at construction with a message naming it.

import type { Logger } from 'pino';
import { DEFAULT_EDGE_TIMEOUTS, parseTrustedPeers, type EdgeTimeouts } from '../core/edge.js';
import type { BalancePolicy, Front, FrontEvents } from '../core/types.js';
import type { CertificateSet } from '../tls/certificate-set.js';

export interface FrontOptions {
  readonly host: string;
  /** 0 picks a free port; read it back with address(). */
  readonly port: number;
  readonly balance: BalancePolicy;
  /** A backend that has not accepted within this time counts as failed (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /**
   * tcp: a connection with no byte in either direction for this long is closed.
   * http: how long a backend may take to send its response head, counted from
   * the end of the request (then 504). 0 disables. Default 300000 ms (tcp), 60000 ms (http).
   */
  readonly idleTimeoutMs?: number;
  /**
   * While no backend is in rotation (the first worker still booting, all
   * ejected), clients wait this long for one, then get a 503 (http) or a close
   * (tcp). 0 gives up at once. Default 10000 ms (dispatch.ts).
   */
  readonly queueTimeoutMs?: number;
  /**
   * The edge's timeouts (SPEC §12), each DEFAULT_EDGE_TIMEOUTS' where not
   * given; connectTimeoutMs and idleTimeoutMs above win over theirs.
   */
  readonly edge?: Partial<EdgeTimeouts>;
  /** http: peers whose X-Forwarded-* headers are kept (default 127.0.0.1, ::1; `*`: all). */
  readonly forwardedAllowIps?: readonly string[];
  /** The largest request head (http fronts; 431 above it): HP_MAX_HEAD where not given. */
  readonly maxHeaderSize?: number;
  /** http, native data plane: its threads (1 where not given). */
  readonly frontThreads?: number;
  readonly events: FrontEvents;
  readonly logger?: Logger;
  /** TLS termination (SPEC §14): the certificates (renewed in place) and HSTS; undefined: plain. */
  readonly tls?: FrontTls | undefined;
}

export interface FrontTls {
  readonly certificates: CertificateSet;
  /** Strict-Transport-Security max-age (http fronts); undefined: none. */
  readonly hsts?: number | undefined;
}

/**
 * The timeouts a front enforces: the edge's, with the older options'
 * (connectTimeoutMs; idleTimeoutMs: the http response timeout, 0 for none, or
 * the tcp front's idle timeout, which is the tunnel timeout) over them.
 */
export function edgeTimeouts(options: FrontOptions, kind: 'http' | 'tcp'): EdgeTimeouts {
  const edge = { ...DEFAULT_EDGE_TIMEOUTS, ...options.edge };
  if (options.connectTimeoutMs !== undefined) edge.connectTimeoutMs = options.connectTimeoutMs;
  if (options.idleTimeoutMs !== undefined) edge[kind === 'http' ? 'responseTimeoutMs' : 'tunnelTimeoutMs'] = options.idleTimeoutMs;
  return edge;
}

/** A Front that can also say which port it bound (useful with port 0). */
export type BoundFront = Front & { address(): { readonly host: string; readonly port: number } };

export const DEFAULT_CONNECT_TIMEOUT_MS = DEFAULT_EDGE_TIMEOUTS.connectTimeoutMs;
/** The longest timeout (C keeps them in 32 bits of ms). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function checkFrontOptions(options: FrontOptions): void {
  const { port, connectTimeoutMs, idleTimeoutMs, queueTimeoutMs } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`front port must be an integer in 0…65535, got ${port}`);
  }
  if (typeof options.host !== 'string' || options.host === '') {
    throw new TypeError(`front host must be a non-empty string, got ${JSON.stringify(options.host)}`);
  }
  if (connectTimeoutMs !== undefined && !(Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0)) {
    throw new RangeError(`connectTimeoutMs must be a positive number of milliseconds, got ${connectTimeoutMs}`);
  }
  if (idleTimeoutMs !== undefined && !(Number.isFinite(idleTimeoutMs) && idleTimeoutMs >= 0)) {
    throw new RangeError(`idleTimeoutMs must be 0 (off) or a positive number of milliseconds, got ${idleTimeoutMs}`);
  }
  if (queueTimeoutMs !== undefined && !(Number.isFinite(queueTimeoutMs) && queueTimeoutMs >= 0)) {
    throw new RangeError(`queueTimeoutMs must be 0 (off) or a positive number of milliseconds, got ${queueTimeoutMs}`);
  }
  for (const [name, ms] of Object.entries(options.edge ?? {})) {
    // An edge must not wait forever: none of these is 0.
    if (ms !== undefined && !(Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMEOUT_MS)) {
      throw new RangeError(`${name} must be a positive number of milliseconds up to ${MAX_TIMEOUT_MS} (24 days), got ${ms}`);
    }
  }
  if (options.forwardedAllowIps !== undefined) parseTrustedPeers(options.forwardedAllowIps);
}
