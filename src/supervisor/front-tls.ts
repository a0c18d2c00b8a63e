// What an app's own front and the system's routing front do alike for TLS
// (SPEC §14): load the certificate set (registered with the system, so that
// SIGHUP, apply, status and metrics see it) and start the redirect listener.

import type { Logger } from '../log.js';
import type { SupervisorEvent, TlsConfig } from '../core/types.js';
import type { FrontTls } from '../proxy/options.js';
import { createRedirectServer, type RedirectServer } from '../proxy/https-redirect.js';
import { TlsFronts } from '../tls/tls-fronts.js';
import { portError } from './port-check.js';

/**
 * A front's certificates, loaded now (a file that does not load throws a
 * usage error); `release` unregisters them. Without a system's registry
 * (tests, the programmatic API) the front keeps its set alone.
 */
export function frontCertificates(
  tls: TlsConfig, owner: string, registry: TlsFronts | undefined, logger: Logger, emit: (event: SupervisorEvent) => void,
): { front: FrontTls; release: () => Promise<void> } {
  const fronts = registry ?? new TlsFronts();
  const certificates = fronts.create(owner, tls, { logger, emit });
  return { front: { certificates, hsts: tls.hsts }, release: () => fronts.remove(owner, certificates) };
}

/** `redirect-http`: the plain listener answering 301 to the front's https URL, listening; a busy port is a port error naming `what`. */
export async function startRedirect(
  options: { host: string; port: number; httpsPort: () => number; logger: Logger }, what: string,
): Promise<RedirectServer> {
  const redirect = createRedirectServer(options);
  try {
    await redirect.listen();
  } catch (error) {
    throw portError(options.port, options.host, what, error as NodeJS.ErrnoException);
  }
  options.logger.info({ port: options.port }, `plain HTTP on ${options.host}:${options.port} redirects to https`);
  return redirect;
}
