// "Connect, and on failure retry the next backend", written once for every
// front (a tcp tunnel, an http request, an http upgrade), as undici writes it
// once in pool-base.js; and the queue where clients wait while no backend is
// in rotation (HAProxy's `timeout queue`), so that connections arriving while
// the first worker boots are held, not reset.
//
// The caller owns its attempt's connect (and the connect timeout); this module
// owns the choice: pick a backend the attempt has not failed on, acquire it,
// account for a failure and report it as a passive health check, queue when
// nothing is in rotation, and give up when nothing is left to try.

import type { FrontEvents, WorkerId } from '../core/types.js';
import type { Logger } from 'pino';
import type { BackendEntry, Backends } from './backend-registry.js';
import { isLocalResourceError } from '../core/edge.js';

/** How long a client waits for a backend while none is in rotation (HAProxy: `timeout queue`). */
export const DEFAULT_QUEUE_TIMEOUT_MS = 10_000;

/** One client's way through the backends. */
export interface Attempt {
  /** The backend being connected to (acquired), or connected. */
  backend: BackendEntry | undefined;
  /** Backends whose connect failed for this client; allocated on the first failure only. */
  failed: Set<WorkerId> | undefined;
}

/** What a front does with an attempt once the dispatcher has decided. */
export interface AttemptHandler<A extends Attempt> {
  /** Connect `attempt` to `backend`: acquired, and recorded on the attempt. */
  connect(attempt: A, backend: BackendEntry): void;
  /**
   * No backend for `attempt`. `queueTimedOut`: it waited `--queue-timeout`
   * for one to come into rotation (L7 answers 503); otherwise every backend in
   * rotation refused it, or none could be waited for (L7: 502). L4 closes.
   */
  giveUp(attempt: A, reason: string, queueTimedOut: boolean): void;
  /**
   * Whether nothing in rotation could take `attempt`, but a backend may come:
   * it waits in the queue. Without it: while the front has no backend at all.
   * (The http fronts ask their registry by host and path: per app on the routing front.)
   */
  waitable?(attempt: A): boolean;
}

/** Chooses a backend not in `exclude`: the balancer's pick by default, a router's for the routing front. */
export type Choose = (exclude: ReadonlySet<WorkerId> | undefined) => BackendEntry | undefined;

interface Waiting {
  readonly handler: AttemptHandler<Attempt>;
  readonly choose: Choose | undefined;
  readonly since: number;
}

export class Dispatcher {
  private readonly queue = new Map<Attempt, Waiting>();

  constructor(
    private readonly registry: Backends,
    private readonly events: FrontEvents,
    private readonly logger: Logger | undefined,
    readonly queueTimeoutMs: number,
  ) {}

  /** Connects `attempt` to the next backend it has not failed on; queues it while none is in rotation. */
  dispatch<A extends Attempt>(attempt: A, handler: AttemptHandler<A>, choose?: Choose): void {
    const backend = choose === undefined ? this.registry.route(undefined, '', attempt.failed)?.backend : choose(attempt.failed);
    if (backend !== undefined) {
      this.registry.acquire(backend);
      attempt.backend = backend;
      handler.connect(attempt, backend);
      return;
    }
    if (this.queueTimeoutMs > 0 && (handler.waitable?.(attempt) ?? this.registry.size === 0)) {
      if (!this.queue.has(attempt)) this.queue.set(attempt, { handler: handler as AttemptHandler<Attempt>, choose, since: Date.now() });
      return;
    }
    const tried = attempt.failed?.size ?? 0;
    handler.giveUp(attempt, tried > 0 ? `no backend accepted the connection (${tried} tried)` : 'no backend available', false);
  }

  /**
   * The attempt's connect failed before anything reached the backend: it never
   * counted as a connection, the backend is reported, and the attempt will not
   * try it again. The caller then dispatches it again if its client is still there.
   */
  connectFailed(attempt: Attempt, error: Error): void {
    const backend = attempt.backend as BackendEntry;
    attempt.backend = undefined;
    this.registry.releaseFailed(backend);
    (attempt.failed ??= new Set()).add(backend.id);
    this.logger?.debug({ backend: backend.id, port: backend.port, err: error.message }, 'front: connect failed, trying the next backend');
    // Out of descriptors (or buffers) here: the backend did nothing wrong.
    if (!isLocalResourceError(error)) this.events.onConnectFailure(backend.id, error);
  }

  /** The attempt's client left while it waited: forget it. */
  cancel(attempt: Attempt): void {
    this.queue.delete(attempt);
  }

  get queued(): number {
    return this.queue.size;
  }

  /** A backend came into rotation: the waiting clients go to it (or to any other now in rotation), first come first served. */
  backendAdded(id: WorkerId): void {
    if (this.queue.size === 0) return;
    const waiting = [...this.queue];
    this.queue.clear();
    for (const [attempt, { handler, choose, since }] of waiting) {
      attempt.failed?.delete(id); // it may have failed earlier and recovered since
      this.dispatch(attempt, handler, choose);
      // Still waiting (the backend is another app's, or left again meanwhile): keep its arrival time.
      if (this.queue.has(attempt)) this.queue.set(attempt, { handler, choose, since });
    }
  }

  /** Gives up on the clients that have waited `queueTimeoutMs`. */
  sweep(now: number): void {
    for (const [attempt, { handler, since }] of this.queue) {
      if (now - since < this.queueTimeoutMs) continue;
      this.queue.delete(attempt);
      handler.giveUp(attempt, `no backend became ready within ${this.queueTimeoutMs}ms`, true);
    }
  }

  /** Gives up on every waiting client at once (the front is closing). */
  giveUpAll(reason: string): void {
    const waiting = [...this.queue];
    this.queue.clear();
    for (const [attempt, { handler }] of waiting) handler.giveUp(attempt, reason, false);
  }
}
