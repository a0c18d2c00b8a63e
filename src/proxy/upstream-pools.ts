// The JavaScript http front's keep-alive connections to its backends: one
// http.Agent per backend, LIFO (a few hot sockets stay busy, the rest expire),
// idle sockets counted as the backend's connections and closed when it leaves
// rotation, the whole pool destroyed once the backend has drained.

import http from 'node:http';
import type { WorkerId } from '../core/types.js';

export class UpstreamPools {
  private readonly pools = new Map<WorkerId, http.Agent>();

  /** The backend's pool, made on first use. */
  of(id: WorkerId): http.Agent {
    let pool = this.pools.get(id);
    if (pool === undefined) {
      // The timeout closes idle sockets (node shortens it to the backend's Keep-Alive hint).
      pool = new http.Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets: 128, timeout: 30_000 });
      this.pools.set(id, pool);
    }
    return pool;
  }

  /** Idle pooled sockets: they keep the backend's server busy too. */
  idle(id: WorkerId): number {
    let count = 0;
    for (const sockets of Object.values(this.pools.get(id)?.freeSockets ?? {})) count += sockets?.length ?? 0;
    return count;
  }

  /** The backend left rotation: its idle sockets would only keep its server from closing. */
  closeIdle(id: WorkerId): void {
    for (const sockets of Object.values(this.pools.get(id)?.freeSockets ?? {})) {
      for (const socket of sockets ?? []) socket.destroy();
    }
  }

  /** The backend drained: its pool goes, after the response that drained it has handed its socket back. */
  close(id: WorkerId): void {
    const pool = this.pools.get(id);
    if (pool === undefined) return;
    this.pools.delete(id);
    setImmediate(() => pool.destroy());
  }

  /** The front is closing: every pool at once. */
  destroyAll(): void {
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }
}
