// The control socket: HTTP/1.1 + JSON on a Unix socket. This file is plumbing
// only — reading requests within limits, answering malformed ones, and closing
// cleanly; what each request does lives in handlers.ts, and the socket file's
// life (0600, stale files, ownership) in socket-file.ts.
//
// Whatever a client sends, the process keeps serving: every error is turned
// into a 4xx/5xx JSON answer or a closed connection, never a throw.

import http from 'node:http';
import type net from 'node:net';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { SupervisorApi } from '../core/types.js';
import type { SystemApi } from '../core/system-api.js';
import { singleAppSystem } from './single-app.js';
import { errorReply, matchRoute, type Reply, type Streams } from './handlers.js';
import type { Metrics } from './metrics.js';
import { register, registryDir } from './registry.js';
import { listenOnSocketFile, unlinkIfOurs } from './socket-file.js';

export { ControlSocketInUseError, ControlSocketPathError } from './socket-file.js';

export interface ControlServerLimits {
  /** Largest request body accepted; larger gets 413. */
  readonly maxBodyBytes: number;
  /** Largest request head (node's maxHeaderSize); larger gets 431. */
  readonly maxHeaderBytes: number;
  /** Time to receive a whole request; a silent or slow client gets 408 and is closed. */
  readonly requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** At close, time left to in-flight requests before their connections are cut. */
  readonly closeGraceMs: number;
  /** Connections beyond this are refused, so that a runaway client cannot exhaust file descriptors. */
  readonly maxConnections: number;
}

export const DEFAULT_LIMITS: ControlServerLimits = {
  maxBodyBytes: 64 * 1024,
  maxHeaderBytes: 16 * 1024,
  requestTimeoutMs: 5000,
  keepAliveTimeoutMs: 5000,
  closeGraceMs: 2000,
  maxConnections: 256,
};

export interface ControlServerOptions {
  readonly path: string;
  /** The system it answers for; or one supervisor, served as a system of one app. */
  readonly system?: SystemApi;
  readonly api?: SupervisorApi;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly limits?: Partial<ControlServerLimits>;
  /** `GET /events` and `GET /logs`. */
  readonly streams?: Streams;
  /** Listed in the user's registry of supervisors while the socket is open (registry.ts, `supervise ls`). */
  readonly registration?: { readonly name: string; readonly folder: string; readonly apps: readonly string[] };
}

export interface ControlServer {
  /** The absolute socket path. */
  readonly path: string;
  /** Stops accepting, lets in-flight requests finish (up to closeGraceMs), removes the socket file. Idempotent. */
  close(): Promise<void>;
}

interface ServerContext {
  readonly system: SystemApi;
  readonly metrics: Metrics;
  readonly streams: Streams | undefined;
  readonly logger: Logger;
  readonly limits: ControlServerLimits;
  /** The response in progress on each busy socket: a client error there must answer through it, not raw bytes. */
  readonly responses: WeakMap<net.Socket, http.ServerResponse>;
}

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const limits: ControlServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const path = resolve(options.path);
  const system = options.system ?? (options.api === undefined ? undefined : singleAppSystem(options.api));
  if (system === undefined) throw new TypeError('startControlServer needs a system or an api');
  const context: ServerContext = {
    system,
    metrics: options.metrics,
    streams: options.streams,
    logger: options.logger.child({ component: 'control' }),
    limits,
    responses: new WeakMap(),
  };

  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.requestTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this period (30 s by default),
      // which would let a silent client linger six times longer than asked.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))),
    },
    (request, response) => void serve(request, response, context),
  );
  server.maxConnections = limits.maxConnections;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => answerClientError(error, socket, context));

  const identity = await listenOnSocketFile(server, path);
  server.on('error', (error) => context.logger.error({ err: error }, 'control socket error'));
  context.logger.info({ path }, 'control socket listening');
  const unregister = registerSocket(path, options.registration, context.logger);

  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      unregister();
      closing ??= closeServer(server, limits.closeGraceMs, () => unlinkIfOurs(path, identity));
      return closing;
    },
  };
}

/** The registry entry for `supervise ls`; a directory we cannot write costs the listing, not the supervisor. */
function registerSocket(path: string, registration: ControlServerOptions['registration'], logger: Logger): () => void {
  if (registration === undefined) return () => undefined;
  const dir = registryDir();
  try {
    return register({ ...registration, pid: process.pid, socket: path, startedAt: Date.now() }, dir);
  } catch (error) {
    logger.warn(`cannot register in ${dir} (${(error as Error).message}): supervise ls will not list this supervisor; --control ${path} reaches it`);
    return () => undefined;
  }
}

async function closeServer(server: http.Server, graceMs: number, removeSocketFile: () => Promise<void>): Promise<void> {
  // The file goes first: once a client sees the socket refuse, the path is
  // already free for a new supervisor (`ctl stop --wait && supervise …`).
  await removeSocketFile();
  const closed = new Promise<void>((done) => server.close(() => done()));
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(cut);
}

// ---------------------------------------------------------------- requests

async function serve(request: http.IncomingMessage, response: http.ServerResponse, context: ServerContext): Promise<void> {
  const started = performance.now();
  const socket = request.socket;
  context.responses.set(socket, response);
  response.once('close', () => context.responses.delete(socket));

  let reply: Reply;
  try {
    reply = await route(request, context);
  } catch (error) {
    if (error instanceof ClientGoneError) return;
    context.logger.error({ err: error, method: request.method, url: request.url }, 'control request failed');
    reply = errorReply(500, `internal error: ${error instanceof Error ? error.message : String(error)}`);
  }
  send(response, reply, context.logger);
  context.logger.debug(
    { method: request.method, url: request.url, status: reply.status, ms: Math.round(performance.now() - started) },
    'control request',
  );
}

async function route(request: http.IncomingMessage, context: ServerContext): Promise<Reply> {
  const url = parseTarget(request.url ?? '');
  if (url === undefined) return errorReply(400, `malformed request target ${JSON.stringify(request.url)}`);
  const { pathname } = url;

  const match = matchRoute(request.method ?? '', pathname);
  if ('reply' in match) return match.reply;

  const text = await readBody(request, context.limits.maxBodyBytes);
  if (text === TOO_LARGE) {
    // The rest of the body is never read, so the connection cannot carry another request.
    return errorReply(413, `request body exceeds ${context.limits.maxBodyBytes} bytes`, { connection: 'close' });
  }
  const body = parseJson(text);
  if (body instanceof SyntaxError) return errorReply(400, `malformed JSON body: ${truncate(body.message)}`);

  return match.handler({
    system: context.system,
    metrics: context.metrics,
    body: body.value,
    params: match.params,
    query: url.searchParams,
    streams: context.streams,
  });
}

function parseTarget(target: string): URL | undefined {
  try {
    return new URL(target, 'http://localhost');
  } catch {
    return undefined;
  }
}

const TOO_LARGE = Symbol('too large');

/** The client hung up before its request was complete: there is no one to answer. */
class ClientGoneError extends Error {}

function readBody(request: http.IncomingMessage, limit: number): Promise<string | typeof TOO_LARGE> {
  return new Promise((resolveBody, reject) => {
    if (Number(request.headers['content-length'] ?? 0) > limit) {
      resolveBody(TOO_LARGE);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        resolveBody(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    request.once('close', () => {
      if (!request.complete) reject(new ClientGoneError());
    });
    request.once('error', () => reject(new ClientGoneError()));
  });
}

/** An empty body is "no body"; anything else must be JSON. */
function parseJson(text: string): { value: unknown } | SyntaxError {
  if (text.trim() === '') return { value: undefined };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return error instanceof SyntaxError ? error : new SyntaxError(String(error));
  }
}

function send(response: http.ServerResponse, reply: Reply, logger: Logger): void {
  const { afterSend } = reply;
  // Run once the answer is out, or at once if the client is gone: the request
  // was complete, so it is honoured either way.
  const runAfterSend = (): void => {
    afterSend?.().catch((error: unknown) => logger.error({ err: error }, 'control action after reply failed'));
  };
  if (response.destroyed || response.writableEnded) {
    runAfterSend();
    return;
  }
  if (afterSend !== undefined) response.once('close', runAfterSend);
  if (reply.stream !== undefined) {
    // No length: the body is chunked and ends when the stream does (or the client leaves).
    response.writeHead(reply.status, { ...reply.headers, 'content-type': reply.contentType, 'cache-control': 'no-store' });
    response.flushHeaders();
    reply.stream(response);
    return;
  }
  response.writeHead(reply.status, {
    ...reply.headers,
    'content-type': reply.contentType,
    'content-length': Buffer.byteLength(reply.body),
  });
  response.end(reply.body);
}

// ---------------------------------------------------------------- malformed HTTP

/**
 * Node calls this for what its parser rejects (binary junk, oversize headers)
 * and for request timeouts. Node's default answers with an empty body; ours
 * says what was wrong, in the same JSON shape as every other error.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: net.Socket, context: ServerContext): void {
  context.logger.debug({ code: error.code }, 'control client error');
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, message] = describeClientError(error, context.limits);
  const response = context.responses.get(socket);
  if (response !== undefined) {
    // A request whose body stalls: its handler waits for the body, so answer
    // through its response (raw bytes could interleave with it) and close.
    if (response.headersSent) socket.destroy();
    else send(response, errorReply(status, message, { connection: 'close' }), context.logger);
    return;
  }
  const body = `${JSON.stringify({ error: message })}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function describeClientError(error: NodeJS.ErrnoException, limits: ControlServerLimits): [number, string, string] {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large', `request headers exceed ${limits.maxHeaderBytes} bytes`];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', `no complete request within ${limits.requestTimeoutMs} ms`];
    default:
      return [
        400,
        'Bad Request',
        `malformed HTTP request (${error.code ?? 'parse error'}); this socket speaks HTTP/1.1 with JSON bodies, ` +
          'e.g. curl --unix-socket <path> http://localhost/status',
      ];
  }
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
