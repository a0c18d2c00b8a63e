// node:tls settings of a front's JavaScript data path (the native one applies
// the same in C): TLS 1.2 and 1.3, Mozilla's intermediate ciphers and curves,
// ALPN http/1.1 on an http front, the certificate by SNI, renewals for new
// handshakes, session ticket keys rotated.
//
// Session tickets (TLS 1.2 tickets and TLS 1.3 PSK tickets) are encrypted
// with one key set per front (48 bytes: name, HMAC and AES keys), random at
// start and replaced every TICKET_KEY_ROTATION_MS, so that a stolen key opens
// at most that window of recorded sessions. Every certificate's context of the
// front uses the same keys (a context made with other keys would not resume a
// session its client got from the default one). Node keeps one key set, so a
// ticket from before a rotation gets a full handshake; a renewal keeps the keys.

import { randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContext, type Server, type TlsOptions } from 'node:tls';
import { ECDH_CURVES, INTERMEDIATE_CIPHERS, type LoadedCertificate } from './certificate.js';
import type { CertificateSet } from './certificate-set.js';

export const TICKET_KEY_ROTATION_MS = 12 * 3600_000;

export interface TlsFrontServer {
  /** The server's options: the default certificate's, and SNI for the others. */
  readonly options: TlsOptions;
  /** Keeps `server` on the set's certificates and rotates its ticket keys; returns how to stop. */
  attach(server: Server): () => void;
}

/** `alpn`: http/1.1 on an http front, none on a tcp front (its backends may speak anything). */
export function tlsFrontServer(certificates: CertificateSet, alpn: boolean): TlsFrontServer {
  let ticketKeys = randomBytes(48);
  // One context per certificate and key set, made on the first handshake that needs it.
  const contexts = new WeakMap<LoadedCertificate, { keys: Buffer; context: SecureContext }>();
  const contextFor = (certificate: LoadedCertificate): SecureContext => {
    let made = contexts.get(certificate);
    if (made === undefined || made.keys !== ticketKeys) {
      made = { keys: ticketKeys, context: createSecureContext({ ...contextOptions(certificate), ticketKeys }) };
      contexts.set(certificate, made);
    }
    return made.context;
  };
  const options: TlsOptions = {
    ...contextOptions(certificates.certificates[0] as LoadedCertificate),
    ticketKeys,
    ...(alpn ? { ALPNProtocols: ['http/1.1'] } : {}),
    SNICallback: (servername, callback) => {
      try {
        callback(null, contextFor(certificates.choose(servername)));
      } catch (error) {
        callback(error as Error, undefined);
      }
    },
  };
  return {
    options,
    attach(server) {
      // A client without SNI gets the server's own context: renewed here (clients with SNI are served by SNICallback).
      const stop = certificates.onRenewal((next) => {
        try {
          server.setSecureContext({ ...contextOptions(next[0] as LoadedCertificate), ticketKeys });
          return undefined;
        } catch (error) {
          return (error as Error).message;
        }
      });
      const rotation = setInterval(() => {
        ticketKeys = randomBytes(48);
        server.setTicketKeys(ticketKeys);
      }, TICKET_KEY_ROTATION_MS);
      rotation.unref();
      return () => {
        stop();
        clearInterval(rotation);
      };
    },
  };
}

function contextOptions(certificate: LoadedCertificate): TlsOptions {
  return { cert: certificate.certPem, key: certificate.keyPem, minVersion: 'TLSv1.2', ciphers: INTERMEDIATE_CIPHERS, ecdhCurve: ECDH_CURVES, honorCipherOrder: false };
}
