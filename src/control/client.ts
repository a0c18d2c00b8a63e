// The client side of the control socket: one HTTP request over the Unix socket,
// answered as status + parsed body. Used by `supervise ctl`, by the control
// server (to ask a live socket's owner for its pid) and by the benchmark.

import http from 'node:http';
import { EXIT_NO_SUPERVISOR, RuntimeFailure, SuperviseError } from '../errors.js';

export type ControlMethod = 'GET' | 'POST';

export interface ControlResponse {
  readonly status: number;
  readonly contentType: string;
  /** The raw body, as text. */
  readonly text: string;
  /** The body parsed as JSON when the server said it is JSON; undefined otherwise. */
  readonly json: unknown;
}

/** Nothing listens on the socket path: no file, a stale file, or no permission. */
export class NoSupervisorError extends SuperviseError {
  constructor(
    readonly socketPath: string,
    readonly reason: string,
  ) {
    super(
      `no supervisor answers on ${socketPath} (${reason}); ` +
        'start one, or point at its socket with --control <path>',
      'NO_SUPERVISOR',
      EXIT_NO_SUPERVISOR,
    );
  }
}

/** The supervisor was reached but the exchange failed: timeout, lost connection. */
export class ControlRequestError extends RuntimeFailure {
  constructor(message: string) {
    super(message, 'CONTROL_REQUEST_FAILED');
  }
}

/** Socket errors that mean "no one is there" rather than "someone answered badly". */
const NOBODY_THERE: Readonly<Record<string, string>> = {
  ENOENT: 'no such socket file',
  ECONNREFUSED: 'connection refused: the socket file is stale or not a socket',
  ENOTSOCK: 'the path is not a socket',
  EACCES: 'permission denied: the socket belongs to another user',
  ENOTDIR: 'a parent of the path is not a directory',
};

/**
 * Sends one request and resolves with the answer, whatever its status code.
 * `timeoutMs` bounds the whole exchange; omit it for requests that legitimately
 * take long (reload, scale), which answer only when the work is done.
 */
export function controlRequest(
  socketPath: string,
  method: ControlMethod,
  urlPath: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<ControlResponse> {
  return new Promise<ControlResponse>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders = { host: 'localhost', accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    // A fresh connection per request (agent: false): ctl makes one request and
    // exits, and a pooled keep-alive socket would hold the process open.
    const request = http.request({ socketPath, method, path: urlPath, headers, agent: false });

    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        request.destroy(
          new ControlRequestError(`the supervisor on ${socketPath} did not answer ${method} ${urlPath} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
    }
    const settle = (): void => clearTimeout(timer);

    request.on('error', (error: NodeJS.ErrnoException) => {
      settle();
      reject(translateError(error, socketPath, method, urlPath));
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error) => {
        settle();
        reject(translateError(error, socketPath, method, urlPath));
      });
      response.on('end', () => {
        settle();
        const text = Buffer.concat(chunks).toString('utf8');
        const contentType = String(response.headers['content-type'] ?? '');
        resolve({ status: response.statusCode ?? 0, contentType, text, json: parseJsonBody(contentType, text) });
      });
    });
    request.end(payload);
  });
}

function parseJsonBody(contentType: string, text: string): unknown {
  if (!contentType.startsWith('application/json')) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function translateError(error: NodeJS.ErrnoException, socketPath: string, method: string, urlPath: string): Error {
  if (error instanceof ControlRequestError) return error;
  const reason = error.code === undefined ? undefined : NOBODY_THERE[error.code];
  if (reason !== undefined) return new NoSupervisorError(socketPath, reason);
  return new ControlRequestError(
    `${method} ${urlPath} on ${socketPath} failed: ${error.message}` +
      (error.code === 'ECONNRESET' ? ' (the supervisor closed the connection; is it stopping?)' : ''),
  );
}

/** Reads the `error` field of a JSON error answer, or describes the answer when there is none. */
export function errorMessageOf(response: ControlResponse): string {
  const json = response.json;
  if (typeof json === 'object' && json !== null && 'error' in json && typeof json.error === 'string') {
    return json.error;
  }
  const text = response.text.trim();
  return `HTTP ${response.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`;
}

/**
 * A streamed GET (`/events`, `/logs?follow=1`): calls `onLine` for every line of
 * a 2xx answer as it arrives, and resolves when the server ends the stream
 * (`status`), or at once with the error answer of a non-2xx one. `signal` ends it
 * from this side (Ctrl-C).
 */
export function controlStream(
  socketPath: string,
  urlPath: string,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<ControlResponse> {
  return new Promise<ControlResponse>((resolve, reject) => {
    const request = http.request({
      socketPath,
      method: 'GET',
      path: urlPath,
      headers: { host: 'localhost', accept: 'application/x-ndjson' },
      agent: false,
    });
    const aborted = (): void => {
      request.destroy();
      resolve({ status: 0, contentType: '', text: '', json: undefined });
    };
    signal?.addEventListener('abort', aborted, { once: true });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (signal?.aborted) return;
      reject(translateError(error, socketPath, 'GET', urlPath));
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const contentType = String(response.headers['content-type'] ?? '');
      const chunks: Buffer[] = [];
      let pending = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (status < 200 || status >= 300) {
          chunks.push(Buffer.from(chunk));
          return;
        }
        pending += chunk;
        let newline = pending.indexOf('\n');
        while (newline !== -1) {
          onLine(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
      });
      response.on('error', () => undefined);
      response.on('close', () => {
        signal?.removeEventListener('abort', aborted);
        if (pending !== '') onLine(pending);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status, contentType, text, json: parseJsonBody(contentType, text) });
      });
    });
    request.end();
  });
}
