// Benchmark app: answers every request with "hello" (content-length set), on
// process.env.PORT. No signal handling and no graceful shutdown of its own: the
// same app runs under bare node:cluster, supervise, PM2 and in spawn mode.
const http = require('node:http');

const BODY = Buffer.from('hello');
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  response.end(BODY);
});
server.listen(Number(process.env.PORT));
