// Spawn-mode benchmark app: the hello app on the port given as its first argument
// (supervise replaces {port}), on 127.0.0.1.
const http = require('node:http');

const port = Number(process.argv[2] ?? process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node hello-port.cjs <port>\n');
  process.exit(2);
}
const BODY = Buffer.from('hello');
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  response.end(BODY);
});
server.listen(port, '127.0.0.1');
