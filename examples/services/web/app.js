// A small Node app in cluster mode: supervise forks it with node:cluster and
// node's round-robin balances connections on its own port (3000 here).
import http from 'node:http';

const worker = process.env.SUPERVISE_WORKER ?? '?';
http
  .createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ service: 'web', worker: Number(worker), pid: process.pid, url: req.url }) + '\n');
  })
  .listen(Number(process.env.PORT ?? 3000));
