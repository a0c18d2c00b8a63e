// Certificates made at test time with the openssl command line: a CA, leaf
// certificates with subject alternative names signed by it (each with its own
// serial), an expired one. Tests that need them skip with a reason where
// openssl is missing.

import { execFileSync, spawnSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  /** Hex, as node's getPeerCertificate().serialNumber writes it. */
  readonly serial: string;
}

/** Why TLS tests cannot run here, or undefined. */
export function opensslMissing(): string | undefined {
  const run = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return run.status === 0 ? undefined : 'the openssl command is not installed';
}

export interface TestCa {
  readonly dir: string;
  readonly ca: string;
  /** A leaf certificate for `sans` (DNS names; IP:… entries too), signed by the CA, valid `days` (negative: expired). */
  leaf(name: string, sans: readonly string[], options?: { serial?: number; days?: number }): CertFiles;
}

let nextSerial = 0x1000;

export function makeCa(dir: string): TestCa {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', ca, '-days', '30', '-subj', '/CN=supervise test CA']);
  return {
    dir,
    ca,
    leaf(name, sans, options = {}) {
      const serial = options.serial ?? nextSerial++;
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const cert = join(dir, `${name}.pem`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, `subjectAltName=${sans.map((san) => (san.startsWith('IP:') ? san : `DNS:${san}`)).join(',')}\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${sans[0] ?? name}`]);
      openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-set_serial', String(serial), '-days', String(options.days ?? 30), '-extfile', ext, '-out', cert]);
      return { cert, key, serial: serial.toString(16).toUpperCase().padStart(2, '0') };
    },
  };
}

/** Replaces `target`'s certificate and key with `source`'s the way renewal tools do: a new file renamed over the old. */
export function replaceFiles(source: CertFiles, target: { cert: string; key: string }): void {
  for (const [from, to] of [[source.key, target.key], [source.cert, target.cert]] as const) {
    execFileSync('cp', [from, `${to}.new`]);
    renameSync(`${to}.new`, to);
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
