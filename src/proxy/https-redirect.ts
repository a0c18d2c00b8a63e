// `redirect-http: <port>`: a plain-HTTP listener beside a TLS front that sends
// every request to its https URL (301), as nginx's `return 301 https://$host$request_uri`.
// No backend is involved; the Host header decides the URL only when it is a
// host name or an address (core/https-redirect.ts), else 400. Node's parser
// and its timeouts (a head within 10 s, keep-alive 5 s) guard the listener.

import http from 'node:http';
import type { Logger } from '../log.js';
import { httpsRedirectLocation } from '../core/https-redirect.js';
import { boundAddress, listenOn } from './listen.js';

export interface RedirectServer {
  listen(): Promise<void>;
  address(): { host: string; port: number };
  close(): Promise<void>;
}

/** `httpsPort()`: the TLS front's bound port (known once it listens). */
export function createRedirectServer(options: { host: string; port: number; httpsPort: () => number; logger?: Logger | undefined }): RedirectServer {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 10_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 }, (request, response) => {
    const location = httpsRedirectLocation(request.headers.host, request.url, options.httpsPort());
    // The body is not read: the connection closes after the answer.
    response.setHeader('Connection', 'close');
    if (location === undefined) {
      const body = '400 Bad Request: this address redirects to https and needs a Host header naming the site\n';
      response.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
      return;
    }
    const body = `301 Moved Permanently: ${location}\n`;
    response.writeHead(301, { Location: location, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('error', (error) => options.logger?.error({ err: error }, 'redirect-http: accept failed'));
  return {
    listen: () => listenOn(server, options.host, options.port),
    address: () => boundAddress(server),
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
