// A plain Node HTTP server: supervise forks it N times with node:cluster and
// balances connections round-robin. It only has to listen on $PORT.
import http from 'node:http';

const worker = process.env.SUPERVISE_WORKER ?? '?';
const generation = process.env.SUPERVISE_GENERATION ?? '?';

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ worker: Number(worker), pid: process.pid, generation: Number(generation), url: req.url }) + '\n');
});

server.listen(Number(process.env.PORT ?? 8080), () => {
  console.log(`worker ${worker} (pid ${process.pid}, generation ${generation}) listening on ${process.env.PORT}`);
});
