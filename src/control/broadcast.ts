// Fan-out of lines to streaming HTTP responses (`GET /events`, `GET /logs?follow=1`).
// The master never waits for a client: a line goes into each response's buffer,
// and a client whose buffer holds more than `maxBufferedBytes` (a slow reader, a
// stopped terminal) misses lines until it has caught up. It is then told how many
// it missed, in a line of its own, so a gap is never silent.

import type http from 'node:http';

export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

interface Client<T> {
  readonly response: http.ServerResponse;
  readonly accept: (item: T) => boolean;
  dropped: number;
}

export class Broadcast<T> {
  private readonly clients = new Set<Client<T>>();

  constructor(
    /** The line that reports a gap: e.g. `{"type":"dropped","count":n}`. */
    private readonly droppedLine: (count: number) => string,
    private readonly maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Streams to `response` until the client goes away or `close()`. */
  add(response: http.ServerResponse, accept: (item: T) => boolean = () => true): void {
    const client: Client<T> = { response, accept, dropped: 0 };
    this.clients.add(client);
    response.once('close', () => this.clients.delete(client));
    response.on('drain', () => {
      if (client.dropped === 0) return;
      response.write(this.droppedLine(client.dropped));
      client.dropped = 0;
    });
  }

  /** `line` is built only when some client wants the item. */
  publish(item: T, line: () => string): void {
    let text: string | undefined;
    for (const client of this.clients) {
      if (!client.accept(item)) continue;
      const { response } = client;
      if (response.destroyed || response.writableEnded) continue;
      if (client.dropped > 0 || response.writableLength > this.maxBufferedBytes) {
        client.dropped++;
        continue;
      }
      text ??= line();
      response.write(text);
    }
  }

  /** Ends every stream (the supervisor is stopping). */
  close(): void {
    for (const client of this.clients) client.response.end();
    this.clients.clear();
  }
}
