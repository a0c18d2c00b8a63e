// Errors the fronts report (to onConnectFailure, in 502/504 bodies and logs).

/** A backend that did not accept a connection within connectTimeoutMs. */
export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(host: string, port: number, timeoutMs: number) {
    super(`connect to ${host}:${port} timed out after ${timeoutMs}ms`);
    this.name = 'ConnectTimeoutError';
  }
}

/** A backend that accepted a request but sent no response head in time (http front: 504). */
export class ResponseTimeoutError extends Error {
  readonly code = 'ERESPONSETIMEOUT';
  constructor(host: string, port: number, timeoutMs: number) {
    super(`backend ${host}:${port} sent no response within ${timeoutMs}ms`);
    this.name = 'ResponseTimeoutError';
  }
}
