// The hello app with the shutdown PM2's documentation asks apps to add: on
// SIGINT (what `pm2 reload` sends an old worker) stop accepting and exit once
// the server has closed. PM2 kills the worker after its kill_timeout (1.6 s)
// if it has not exited by then.
const http = require('node:http');

const BODY = Buffer.from('hello');
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  response.end(BODY);
});
server.listen(Number(process.env.PORT));
process.on('SIGINT', () => server.close(() => process.exit(0)));
