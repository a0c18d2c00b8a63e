// The reference point for the tcp front's optimisations: the textbook node
// proxy, net.createServer + connect + pipe() both ways, round-robin, no retry.
// Only bench/proxy.ts --naive 1 runs it.
//
//   node dist/bench/lib/naive-proxy.js <port> <backend-port>[,<backend-port>…]

import net from 'node:net';

const [portText, backendsText] = process.argv.slice(2);
const backendPorts = (backendsText ?? '').split(',').map(Number);
let next = 0;

const server = net.createServer((client) => {
  const port = backendPorts[next++ % backendPorts.length] as number;
  const upstream = net.connect(port, '127.0.0.1');
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(Number(portText), '127.0.0.1', () => process.stdout.write(`listening ${portText}\n`));
process.once('SIGTERM', () => process.exit(0));
