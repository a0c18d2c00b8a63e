// Header rewriting of the http front: hop-by-hop headers stay on their hop
// (RFC 9110 §7.6.1), X-Forwarded-* tell the backend who asked and how.
// Headers are handled as node's raw [name, value, name, value, …] lists, which
// keep their case, their order and their repetitions.

import type { IncomingMessage } from 'node:http';
import { requestTarget } from '../core/http-target.js';

/** Headers that describe one connection, never forwarded as they are. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  // Answered by the front's own server (it sent "100 Continue" already).
  'expect',
]);

const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/** Extra header names the sender listed in Connection (they are hop-by-hop too). */
function connectionListed(rawHeaders: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== 'connection') continue;
    for (const token of (rawHeaders[i + 1] as string).split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '' && name !== 'close' && name !== 'keep-alive') (listed ??= new Set()).add(name);
    }
  }
  return listed;
}

/**
 * What node's parser lets through but the native one (and nginx) refuses,
 * because a backend or another proxy could frame or route it otherwise: a
 * version other than 1.0/1.1, two Hosts, Transfer-Encoding in an HTTP/1.0
 * request. Undefined when the request is fine.
 */
export function ambiguousRequest(request: IncomingMessage): string | undefined {
  if (request.httpVersion !== '1.1' && request.httpVersion !== '1.0') return `HTTP/${request.httpVersion} is not supported`;
  let hosts = 0;
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 4 && (raw[i] as string).toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) return 'more than one Host header';
  if (request.httpVersion === '1.0' && request.headers['transfer-encoding'] !== undefined) return 'Transfer-Encoding in an HTTP/1.0 request';
  return undefined;
}

/** A client address without the IPv4-mapped IPv6 prefix node reports on dual-stack sockets. */
export function clientAddress(request: IncomingMessage): string {
  const address = request.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The headers of a request as the backend should see them: hop-by-hop ones
 * dropped (`keepUpgrade` keeps Connection/Upgrade for a WebSocket handshake).
 * From a `trusted` peer (--forwarded-allow-ips) the client's address is
 * appended to X-Forwarded-For, and X-Forwarded-Proto and -Host are set unless
 * that proxy set them; from any other peer the client's own X-Forwarded-* are
 * dropped and all three say what the front saw.
 */
export function forwardedRequestHeaders(request: IncomingMessage, keepUpgrade = false, trusted = true): string[] {
  const raw = request.rawHeaders;
  const listed = connectionListed(raw);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (FORWARDED.has(lower)) {
      if (!trusted) continue;
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (lower === 'x-forwarded-proto') forwardedProto ??= value;
      else forwardedHost ??= value;
      continue;
    }
    if (lower === 'host') host = value;
    const hopByHop = HOP_BY_HOP.has(lower) || listed?.has(lower) === true;
    if (hopByHop && !(keepUpgrade && (lower === 'connection' || lower === 'upgrade'))) continue;
    out.push(name, value);
  }
  const address = clientAddress(request);
  out.push('X-Forwarded-For', forwardedFor === undefined ? address : `${forwardedFor}, ${address}`);
  // What the client spoke to the front: https on a TLS front (node:tls marks its sockets `encrypted`).
  out.push('X-Forwarded-Proto', forwardedProto ?? ((request.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http'));
  if (forwardedHost !== undefined || host !== undefined) out.push('X-Forwarded-Host', (forwardedHost ?? host) as string);
  return out;
}

/** `Strict-Transport-Security` added to a response's raw headers on a TLS front asked for it, unless the backend sent its own. */
export function withHsts(headers: string[], hsts: number | undefined): string[] {
  if (hsts === undefined) return headers;
  for (let i = 0; i < headers.length; i += 2) if ((headers[i] as string).toLowerCase() === 'strict-transport-security') return headers;
  headers.push('Strict-Transport-Security', `max-age=${hsts}`);
  return headers;
}

/**
 * A backend response's headers for the client: hop-by-hop ones dropped, and
 * Transfer-Encoding, because node has decoded the body and frames it again
 * as this client understands (no chunks for HTTP/1.0).
 */
export function forwardedResponseHeaders(response: IncomingMessage): string[] {
  const raw = response.rawHeaders;
  const listed = connectionListed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding' || listed?.has(lower) === true) continue;
    out.push(name, raw[i + 1] as string);
  }
  return out;
}

/**
 * A response head for a raw socket (after an Upgrade request). A 101 goes as
 * the backend sent it; any other answer is relayed close-delimited, because
 * node has already decoded its body.
 */
export function responseHead(response: IncomingMessage): string {
  const switching = response.statusCode === 101;
  let head = `HTTP/1.1 ${response.statusCode ?? 502} ${response.statusMessage ?? ''}\r\n`;
  const raw = switching ? response.rawHeaders : forwardedResponseHeaders(response);
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  if (!switching) head += 'Connection: close\r\n';
  return `${head}\r\n`;
}

/**
 * Applies the target rules (core/http-target.ts) to `request`: false when it
 * must be refused with 400; an absolute-form target is rewritten in place to
 * origin-form, its authority becoming the Host the route and the backend see.
 * (CONNECT never gets here: node hands it to the server's 'connect' event.)
 */
export function takeTarget(request: IncomingMessage): boolean {
  const verdict = requestTarget(request.method ?? '', request.url ?? '', request.headers.host);
  if ('refuse' in verdict) return false;
  if (verdict.host !== request.headers.host && verdict.host !== undefined) {
    const raw = request.rawHeaders.filter((_, i, all) => (i % 2 === 0 ? all[i] : all[i - 1])?.toLowerCase() !== 'host');
    request.rawHeaders.length = 0;
    request.rawHeaders.push('Host', verdict.host, ...raw);
    request.headers.host = verdict.host;
  }
  request.url = verdict.path;
  return true;
}
