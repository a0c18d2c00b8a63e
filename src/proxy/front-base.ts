// What every front (tcp, http) shares: listening with one sweeping interval for
// its timeouts, its bound address, the backend bookkeeping (registry) and the
// choice of backend with its retries and queue (dispatch.ts). How a connection
// or a request is forwarded is the subclass's.

import type net from 'node:net';
import type { Backend, WorkerId } from '../core/types.js';
import { BackendRegistry, type BackendEntry, type Backends } from './backend-registry.js';
import { DEFAULT_QUEUE_TIMEOUT_MS, Dispatcher } from './dispatch.js';
import { capConnections } from './fd-budget.js';
import { boundAddress, listenOn } from './listen.js';
import { checkFrontOptions, type BoundFront, type FrontOptions } from './options.js';
import { createSweeper, type Sweeper } from './sweeper.js';

/** Makes a front's backends (the routing front's: routed-registry.ts); `onForget` is told of each drained backend. */
export type BackendsFactory = (onForget: (entry: BackendEntry) => void) => Backends;

export abstract class FrontBase implements BoundFront {
  readonly registry: Backends;
  readonly dispatcher: Dispatcher;
  /** The listener, where node's net module binds it (not the native tcp front's: it listens in C). */
  protected abstract readonly server: net.Server | undefined;
  protected sweeper: Sweeper | undefined;

  /**
   * @param backends the routing front's (routed-registry.ts): its `route()` picks
   *   the app by host and path first; by default one registry, where it does not.
   */
  constructor(
    protected readonly options: FrontOptions,
    backends?: BackendsFactory,
  ) {
    checkFrontOptions(options);
    const onForget = (entry: BackendEntry) => this.backendForgotten(entry);
    this.registry = backends?.(onForget) ?? new BackendRegistry(options.balance, options.events, onForget);
    this.dispatcher = new Dispatcher(this.registry, options.events, options.logger, options.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS);
  }

  /** JavaScript unless a subclass hands the bytes to the native addon (status: front.dataPath). */
  get dataPath(): 'native' | 'javascript' {
    return 'javascript';
  }

  /** The deadlines the sweeper enforces, in ms; 0 turns one off. */
  protected abstract timeoutsMs(): number[];
  /** One pass of the sweeper: time out what has waited too long. */
  protected abstract sweep(now: number): void;
  /** Called once the server listens. */
  protected listening(): void {}
  /** A removed backend has drained and is forgotten (the http front closes its pool). */
  protected backendForgotten(_entry: BackendEntry): void {}

  abstract close(timeoutMs: number): Promise<void>;

  async listen(): Promise<void> {
    await this.bind();
    this.listening();
    const timeouts = [this.dispatcher.queueTimeoutMs, ...this.timeoutsMs()].filter((ms) => ms > 0);
    this.sweeper = createSweeper(Math.min(...timeouts), (now) => {
      this.dispatcher.sweep(now);
      this.sweep(now);
    });
  }

  /** Binds and listens, its connections capped to the process's descriptors (fd-budget.ts); the error names host:port (listen.ts). */
  protected async bind(): Promise<void> {
    await listenOn(this.server as net.Server, this.options.host, this.options.port);
    capConnections(this.server as net.Server);
  }

  address(): { host: string; port: number } {
    return boundAddress(this.server as net.Server);
  }

  add(backend: Backend): void {
    this.registry.add(backend);
    this.dispatcher.backendAdded(backend.id);
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

  /** The registry's own count: open connections (tcp), requests in flight (http, before the pools' idle sockets are added). */
  inFlight(id: WorkerId): number {
    return this.registry.connections(id);
  }
}
