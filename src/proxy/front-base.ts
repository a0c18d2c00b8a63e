// What every front (tcp, http) shares: listening with one sweeping interval for
// its timeouts, its bound address, and the backend bookkeeping it leaves to the
// registry. How a connection or a request is forwarded is the subclass's.

import type net from 'node:net';
import type { Backend, WorkerId } from '../core/types.js';
import type { Backends } from './backend-registry.js';
import { boundAddress, listenOn } from './listen.js';
import type { BoundFront, FrontOptions } from './options.js';
import { createSweeper, type Sweeper } from './sweeper.js';

export abstract class FrontBase implements BoundFront {
  abstract readonly registry: Backends;
  protected abstract readonly server: net.Server;
  protected sweeper: Sweeper | undefined;

  constructor(protected readonly options: FrontOptions) {}

  /** The deadlines the sweeper enforces, in ms; 0 turns one off. */
  protected abstract timeoutsMs(): number[];
  /** One pass of the sweeper: time out what has waited too long. */
  protected abstract sweep(now: number): void;
  /** Called once the server listens. */
  protected listening(): void {}

  abstract close(timeoutMs: number): Promise<void>;

  async listen(): Promise<void> {
    await listenOn(this.server, this.options.host, this.options.port);
    this.listening();
    const timeouts = this.timeoutsMs().filter((ms) => ms > 0);
    this.sweeper = createSweeper(Math.min(...timeouts), (now) => this.sweep(now));
  }

  address(): { host: string; port: number } {
    return boundAddress(this.server);
  }

  add(backend: Backend): void {
    this.registry.add(backend);
  }

  remove(id: WorkerId): void {
    this.registry.remove(id);
  }

  connections(id: WorkerId): number {
    return this.registry.connections(id);
  }

  totalConnections(id: WorkerId): number {
    return this.registry.totalConnections(id);
  }
}
