// The native module's lifecycle: its env cleanup hook closes every socket it
// holds and stops its data-plane threads when its environment goes away (here
// a worker thread that is terminated, running a tcp front), and the module can
// then be initialised again in this process (its libuv handle closes on the
// ended environment's loop, with a callback of the module, before node may
// unload it).

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { loadNativeHttp } from '../../src/proxy/http-native.js';
import { nativeTunnelPath } from '../../src/proxy/native-tunnel.js';
import { closeServer, listening, useCleanup } from '../helpers/proxy-fixtures.js';

const defer = useCleanup();

/** A worker thread running a tcp front (native data path) to `backendPort`; posts the front's port. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.tcpProxy).then(async ({ createTcpFront }) => {
  const front = createTcpFront({ host: '127.0.0.1', port: 0, balance: 'round-robin', events: { onConnectFailure() {}, onDrained() {} } });
  await front.listen();
  front.add({ id: 1, host: '127.0.0.1', port: workerData.backendPort, weight: 1 });
  parentPort.postMessage({ port: front.address().port, dataPath: front.dataPath });
});
`;

describe('native tcp front lifecycle', { skip: nativeTunnelPath() === undefined ? 'native tunnel not built' : false }, () => {
  it('closes its listener and tunnels when its environment ends, and can start again', { timeout: 15_000 }, async () => {
    const backend = net.createServer((socket) => socket.pipe(socket));
    const backendPort = await listening(backend);
    defer(() => closeServer(backend));
    const tcpProxy = new URL('../../src/proxy/tcp-proxy.js', import.meta.url).href;
    const worker = new Worker(WORKER, { eval: true, workerData: { tcpProxy, backendPort } });
    defer(() => worker.terminate());
    const { port, dataPath } = await new Promise<{ port: number; dataPath: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(dataPath, 'native');

    const client = net.connect({ port, host: '127.0.0.1' });
    client.on('error', () => undefined);
    const echoed = new Promise<string>((resolve) => client.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    client.write('ping');
    assert.equal(await echoed, 'ping', 'tunnelled by the worker thread');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    await worker.terminate();
    await closed; // the tunnel's client side was closed by the cleanup hook
    await assert.rejects(
      new Promise((resolve, reject) => net.connect({ port, host: '127.0.0.1' }).once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
      'the listener is closed',
    );
    assert.notEqual(loadNativeHttp(), undefined, 'initialised again, in this thread');
  });
});
