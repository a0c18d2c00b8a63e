// TLS clients for the tests: node's https (keep-alive agents), a raw TLS
// connection that reports the certificate it was given, and the openssl and
// curl command lines as a user would run them.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

export interface HttpsAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** The request went on a connection the agent had used before. */
  readonly reused: boolean;
}

export interface HttpsOptions {
  readonly ca: string;
  readonly servername?: string;
  readonly path?: string;
  readonly agent?: https.Agent | false;
  readonly timeoutMs?: number;
}

export function httpsGet(port: number, options: HttpsOptions): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const request = https.get({
      host: '127.0.0.1', port, path: options.path ?? '/', ca: readFileSync(options.ca), servername: options.servername ?? 'www.example.com',
      headers: { host: options.servername ?? 'www.example.com' }, agent: options.agent ?? false, timeout: options.timeoutMs ?? 10_000,
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body, reused: request.reusedSocket }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

/** The certificate a new TLS connection naming `servername` gets (not verified: the test looks at which one it is). */
export function peerCertificate(port: number, servername: string | undefined): Promise<{ serial: string; subject: string; protocol: string | null; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      const certificate = socket.getPeerCertificate();
      resolve({ serial: certificate.serialNumber, subject: certificate.subject.CN as string, protocol: socket.getProtocol(), alpn: socket.alpnProtocol });
      socket.end();
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
  });
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with `input` on stdin, bounded in time. */
export function run(command: string, args: readonly string[], input = '', timeoutMs = 15_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // The command may end before it reads its input (s_client refused at the handshake): its word is its exit code.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** `openssl s_client` to the port with extra arguments (a protocol, -servername); `Q` ends the session. */
export function sClient(port: number, args: readonly string[], ca: string): Promise<CommandResult> {
  return run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', ca, '-verify_return_error', ...args], 'Q\n');
}
