// node:tls settings of a front's JavaScript data path (the native one applies
// the same in C): TLS 1.2 and 1.3, Mozilla's intermediate ciphers and curves,
// ALPN http/1.1 on an http front, the certificate by SNI, renewals for new
// handshakes, session ticket keys rotated.
//
// Session tickets: node encrypts tickets with one key set per server
// (random at start, 48 bytes). It is replaced every TICKET_KEY_ROTATION_MS, so
// a stolen key opens at most that window of recorded sessions; a ticket from
// before a rotation is not resumed (a full handshake instead), which is the
// price of node keeping one key set.

import { randomBytes } from 'node:crypto';
import type { Server, TlsOptions } from 'node:tls';
import { ECDH_CURVES, INTERMEDIATE_CIPHERS, type LoadedCertificate } from './certificate.js';
import type { CertificateSet } from './certificate-set.js';

export const TICKET_KEY_ROTATION_MS = 12 * 3600_000;

/** The server options: the default certificate's, and SNI for the others. `alpn`: http/1.1 on an http front, none on a tcp front. */
export function tlsServerOptions(certificates: CertificateSet, alpn: boolean): TlsOptions {
  const first = certificates.certificates[0] as LoadedCertificate;
  return {
    ...contextOptions(first),
    ...(alpn ? { ALPNProtocols: ['http/1.1'] } : {}),
    SNICallback: (servername, callback) => callback(null, certificates.choose(servername).context),
  };
}

function contextOptions(certificate: LoadedCertificate): TlsOptions {
  return { cert: certificate.certPem, key: certificate.keyPem, minVersion: 'TLSv1.2', ciphers: INTERMEDIATE_CIPHERS, ecdhCurve: ECDH_CURVES, honorCipherOrder: false };
}

/**
 * Keeps `server` on the set's certificates: a client without SNI gets the
 * server's own context, replaced on each renewal (clients with SNI are served
 * from the set by SNICallback). Rotates the ticket keys. Returns how to stop.
 */
export function followRenewals(server: Server, certificates: CertificateSet): () => void {
  const stop = certificates.onRenewal((next) => {
    try {
      const keys = server.getTicketKeys();
      server.setSecureContext(contextOptions(next[0] as LoadedCertificate));
      // A new context has new ticket keys: the current ones stay, so sessions resume across a renewal.
      server.setTicketKeys(keys);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  });
  const rotation = setInterval(() => server.setTicketKeys(randomBytes(48)), TICKET_KEY_ROTATION_MS);
  rotation.unref();
  return () => {
    stop();
    clearInterval(rotation);
  };
}
