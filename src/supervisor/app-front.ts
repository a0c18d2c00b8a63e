// Where an app's backends go: its share of the system's routing front (a
// routed app), or a front of its own (spawn mode with --proxy), or none.

import type { FrontEvents, Front } from '../core/types.js';
import type { AppConfig } from '../core/system-types.js';
import type { Logger } from '../log.js';
import { createFront, type BoundFront } from '../proxy/index.js';
import type { FrontTls } from '../proxy/options.js';
import type { RoutingFront } from '../proxy/routed-registry.js';
import { isRouted } from '../system-config.js';

/** `own`: the front the app listens with and closes; `front`: where its backends join (the same, or its routed share). */
export function appFront(
  config: AppConfig,
  routing: RoutingFront | undefined,
  logger: Logger,
  events: FrontEvents,
  tls: () => FrontTls | undefined,
): { own: BoundFront | undefined; front: Front | undefined } {
  if (isRouted(config) && routing !== undefined) {
    routing.backends.addApp(config.name, config.balance, events);
    return { own: undefined, front: routedShare(config.name, routing) };
  }
  if (config.mode !== 'spawn' || config.proxy === 'none') return { own: undefined, front: undefined };
  const own = createFront(config.proxy as 'tcp' | 'http', {
    host: config.host, port: config.port, balance: config.balance, queueTimeoutMs: config.queueTimeoutMs, logger, events,
    edge: config.edge, forwardedAllowIps: config.forwardedAllowIps, maxHeaderSize: config.maxHeaderSize, tls: tls(), frontThreads: config.frontThreads,
  });
  return { own, front: own };
}

/**
 * An app's view of the shared routing front: its backends are tagged with the
 * app, and join through the front (which sends on the requests it holds).
 */
function routedShare(app: string, { front }: RoutingFront): Front {
  return {
    dataPath: front.dataPath,
    listen: async () => undefined,
    add: (backend) => front.add({ ...backend, app }),
    remove: (id) => front.remove(id),
    connections: (id) => front.connections(id),
    totalConnections: (id) => front.totalConnections(id),
    inFlight: (id) => front.inFlight?.(id) ?? 0,
    close: async () => undefined,
  };
}
