// What the JavaScript front answers when node's parser refuses bytes of a
// client connection (a smuggling shape, an oversize head, a bad chunk): 431
// for a head over the limit, else 400, and the connection ends. When the
// request in progress was whole, the error is in the next, pipelined one: the
// first still gets its own response, then the refusal (as the native front,
// which answers in order).

import type http from 'node:http';
import type { Socket } from 'node:net';

export const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
export const METHOD_NOT_ALLOWED = 'HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const HEAD_TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

/** The request on the connection whose response is in progress, if any. */
export interface ClientExchange {
  readonly request: http.IncomingMessage;
  readonly response: http.ServerResponse;
}

/** Answers node's parse error on `socket`; `abandon` stops the exchange in progress when its own request is the bad one. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket, exchange: ClientExchange | undefined, abandon: () => void): void {
  const reply = error.code === 'HPE_HEADER_OVERFLOW' ? HEAD_TOO_LARGE : BAD_REQUEST;
  const refuse = (): void => {
    if (socket.writable) socket.end(reply);
    else socket.destroy();
  };
  if (exchange !== undefined && exchange.request.complete && !exchange.response.writableFinished && !exchange.response.destroyed) {
    exchange.response.once('finish', refuse);
    exchange.response.once('close', () => {
      if (!exchange.response.writableFinished) socket.destroy();
    });
    return;
  }
  if (exchange !== undefined && !exchange.response.writableFinished) {
    // A bad body (a chunk size): nothing more of the request goes to the backend.
    abandon();
    if (exchange.response.headersSent) {
      socket.destroy();
      return;
    }
  }
  refuse();
}
