// Hostile clients for bench/edge.ts, in a process of their own so that their
// CPU is not the benchmark's: connections to 127.0.0.1:<port> that
//   - drip a request head of <head-kib> KiB a byte per write, one byte per
//     connection every <interval-ms>: the attack on a parser that reads the
//     head again from its start on every read. Each connection opens with a
//     random part of the head in one write, as if it had been dripping for a
//     while: the attack's steady state from the first second, in a bounded run;
//   - send slow headers ("slowloris"): a head started, then a byte every 2 s.
// A connection the server closes (a timeout, a 400/431, or the head complete
// and answered) is opened again while the run lasts.
//
//   node dist/bench/lib/hostile-clients.js <port> <drip-connections> <slow-connections> [head-kib=30] [interval-ms=5]
//
// Prints "ready" once every connection is open; on SIGTERM, one line
// "HOSTILE_JSON {...}" (bytes written, connections closed by the server, replies) and exits.

import net from 'node:net';

const SLOW_INTERVAL_MS = 2000;

interface Stats {
  bytes: number;
  opened: number;
  closedByServer: number;
  replies: number;
  errors: number;
}

const stats: Stats = { bytes: 0, opened: 0, closedByServer: 0, replies: 0, errors: 0 };
let stopping = false;

function usage(message: string): never {
  process.stderr.write(`hostile-clients: ${message}\nusage: hostile-clients.js <port> <drip-connections> <slow-connections> [head-kib] [interval-ms]\n`);
  process.exit(2);
}

/** A request head of about `size` bytes: headers of 400 bytes (under any header-count limit), then the blank line. */
function buildHead(size: number): Buffer {
  const lines = ['GET / HTTP/1.1', 'Host: 127.0.0.1'];
  let length = lines.join('\r\n').length + 4;
  for (let i = 0; length < size - 2; i++) {
    const line = `X-Pad-${i}: ${'a'.repeat(Math.max(1, Math.min(400, size - length - 12)))}`;
    lines.push(line);
    length += line.length + 2;
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

/** One connection that writes `head` from `offset`, `step()` writing the next byte; reopened when the server closes it. */
class Dripper {
  private socket: net.Socket | undefined;
  private offset = 0;

  constructor(
    private readonly port: number,
    private readonly head: Buffer,
    private readonly randomStart: boolean,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect({ port: this.port, host: '127.0.0.1', noDelay: true });
      this.socket = socket;
      this.offset = this.randomStart ? Math.floor(Math.random() * (this.head.length - 1024)) : Math.min(64, this.head.length - 1);
      socket.once('connect', () => {
        stats.opened++;
        this.write(this.head.subarray(0, this.offset));
        resolve();
      });
      socket.on('data', () => {
        stats.replies++;
      });
      socket.once('error', () => {
        stats.errors++;
        resolve();
      });
      socket.once('close', () => {
        if (this.socket !== socket) return;
        this.socket = undefined;
        if (stopping) return;
        stats.closedByServer++;
        setTimeout(() => void this.open(), 10);
      });
    });
  }

  /** The next byte of the head; once it is all written, the connection starts over. */
  step(): void {
    if (this.socket === undefined || this.socket.connecting) return;
    if (this.offset >= this.head.length) {
      this.socket.destroy();
      return;
    }
    this.write(this.head.subarray(this.offset, this.offset + 1));
    this.offset++;
  }

  close(): void {
    this.socket?.destroy();
  }

  private write(bytes: Buffer): void {
    if (bytes.length === 0 || this.socket === undefined) return;
    stats.bytes += bytes.length;
    this.socket.write(bytes);
  }
}

async function main(): Promise<void> {
  const [portText, dripText, slowText, kibText = '30', intervalText = '5'] = process.argv.slice(2);
  const [port, drips, slows, kib, intervalMs] = [portText, dripText, slowText, kibText, intervalText].map(Number) as [number, number, number, number, number];
  if (!Number.isInteger(port) || port <= 0 || port > 65535) usage(`bad port ${JSON.stringify(portText)}`);
  if (!Number.isInteger(drips) || drips < 0 || !Number.isInteger(slows) || slows < 0) usage('connection counts must be whole numbers ≥ 0');
  if (!(kib >= 2 && kib <= 1024) || !(intervalMs >= 1)) usage('head-kib must be 2…1024 and interval-ms ≥ 1');

  const head = buildHead(kib * 1024);
  const drippers = Array.from({ length: drips }, () => new Dripper(port, head, true));
  const slowClients = Array.from({ length: slows }, () => new Dripper(port, head, false));
  // Open them a few at a time: a burst of hundreds of connects is another attack, not this one.
  const all = [...drippers, ...slowClients];
  for (let i = 0; i < all.length; i += 50) await Promise.all(all.slice(i, i + 50).map((client) => client.open()));
  const dripTimer = setInterval(() => drippers.forEach((client) => client.step()), intervalMs);
  const slowTimer = setInterval(() => slowClients.forEach((client) => client.step()), SLOW_INTERVAL_MS);
  process.stdout.write('ready\n');

  process.once('SIGTERM', () => {
    stopping = true;
    clearInterval(dripTimer);
    clearInterval(slowTimer);
    all.forEach((client) => client.close());
    process.stdout.write(`HOSTILE_JSON ${JSON.stringify(stats)}\n`, () => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`hostile-clients: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
