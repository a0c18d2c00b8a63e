// A streamed reader that does not read must cost the master nothing but a bounded
// buffer, and must learn how many lines it missed.

import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import { Broadcast } from '../../src/control/broadcast.js';

describe('broadcast to streamed responses', () => {
  it('drops lines for a client that does not read, past the bound, and then says how many', async () => {
    const broadcast = new Broadcast<number>((count) => `${JSON.stringify({ type: 'dropped', count })}\n`, 64 * 1024);
    const server = http.createServer((_request, response) => {
      response.writeHead(200);
      response.flushHeaders();
      broadcast.add(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const response = await new Promise<http.IncomingMessage>((resolve) => http.get({ port, host: '127.0.0.1', agent: false }, resolve));
    response.pause(); // a stuck reader
    await new Promise((resolve) => setTimeout(resolve, 50));

    const line = `${'x'.repeat(1000)}\n`;
    const published = 20_000; // 20 MB offered
    const started = performance.now();
    for (let i = 0; i < published; i++) broadcast.publish(i, () => line);
    assert.ok(performance.now() - started < 2000, 'publishing never waits for the reader');

    let received = 0;
    let dropped = 0;
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) {
        if (text.startsWith('{')) dropped += (JSON.parse(text) as { count: number }).count;
        else received++;
      }
    });
    response.resume();
    // Once the reader catches up, one more line makes the server notice the drain.
    await new Promise((resolve) => setTimeout(resolve, 300));
    broadcast.publish(-1, () => line);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(dropped > 0, 'lines were dropped');
    assert.ok(received < published / 2, `the buffer stayed bounded (${received} lines got through)`);
    assert.equal(received + dropped, published + 1, 'every line is either received or counted as dropped');
    broadcast.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});
