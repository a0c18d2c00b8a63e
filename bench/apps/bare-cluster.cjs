// The baseline: a bare node:cluster primary with round-robin scheduling, the
// same hello app in N workers (default 2), nothing else. Usage:
//   PORT=8080 node bare-cluster.cjs [workers]
const cluster = require('node:cluster');
const path = require('node:path');

cluster.schedulingPolicy = cluster.SCHED_RR;

if (cluster.isPrimary) {
  const workers = Number(process.argv[2] ?? 2);
  cluster.setupPrimary({ exec: path.join(__dirname, 'hello.cjs') });
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === workers) process.stdout.write(`ready ${workers}\n`);
  });
  cluster.on('exit', (worker, code, signal) => {
    process.stderr.write(`worker ${worker.process.pid} exited (${signal ?? code})\n`);
  });
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
