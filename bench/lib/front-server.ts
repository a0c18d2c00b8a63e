// supervise's front proxy alone in a process of its own, for bench/proxy.ts:
// the same process layout as HAProxy and nginx (one proxy process, its own
// event loop), without a supervisor or workers around it.
//
//   node dist/bench/lib/front-server.js <tcp|http> <port> <backend-port>[,<backend-port>…]
//
// Prints "listening <port>" once it accepts; stops on SIGTERM/SIGINT.

import { createFront } from '../../src/proxy/index.js';

function usage(message: string): never {
  process.stderr.write(`front-server: ${message}\nusage: front-server.js <tcp|http> <port> <backend-port>[,<backend-port>…]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const [kind, portText, backendsText] = process.argv.slice(2);
  if (kind !== 'tcp' && kind !== 'http') usage(`unknown front kind ${JSON.stringify(kind)}`);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0) usage(`bad port ${JSON.stringify(portText)}`);
  const backendPorts = (backendsText ?? '').split(',').map(Number);
  if (backendPorts.length === 0 || backendPorts.some((p) => !Number.isInteger(p) || p <= 0)) usage(`bad backend ports ${JSON.stringify(backendsText)}`);

  const front = createFront(kind, {
    host: '127.0.0.1',
    port,
    balance: 'round-robin',
    events: {
      onConnectFailure: (id, error) => process.stderr.write(`front-server: backend ${id} failed: ${error.message}\n`),
      onDrained: () => undefined,
    },
  });
  await front.listen();
  backendPorts.forEach((backendPort, id) => front.add({ id, host: '127.0.0.1', port: backendPort, weight: 1 }));
  process.stdout.write(`listening ${front.address().port}\n`);

  const stop = () => {
    void front.close(1000).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`front-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
