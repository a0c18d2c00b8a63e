// The JavaScript http front's listening server: node's http server, or on a
// TLS front the same server over node:tls (https.Server is a tls.Server that
// feeds node's http parser), so that everything after the handshake — edge
// timeouts, framing, retries, upgrades, pools — is the plain front's.

import http from 'node:http';
import https from 'node:https';
import { tlsFrontServer } from '../tls/tls-server.js';
import type { HttpFrontOptions } from './http-common.js';

export function createServer(
  options: HttpFrontOptions, serverOptions: http.ServerOptions, handler: http.RequestListener,
): { server: http.Server; stopRenewals?: () => void } {
  const { tls } = options;
  if (tls === undefined) return { server: http.createServer(serverOptions, handler) };
  const front = tlsFrontServer(tls.certificates, true);
  const server = https.createServer({ ...serverOptions, ...front.options }, handler);
  // A plaintext client, a failed handshake, garbage instead of a ClientHello: that connection closes, nothing else.
  server.on('tlsClientError', (error: Error) => options.logger?.debug({ err: error.message }, 'front: TLS handshake failed'));
  return { server: server as unknown as http.Server, stopRenewals: front.attach(server) };
}
