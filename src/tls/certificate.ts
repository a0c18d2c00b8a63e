// One certificate of a front: its files read and checked as hostile input
// (exists, readable, PEM, parses, the key is the certificate's), its names
// (the `hosts:` given, else the certificate's DNS names) and what status and
// metrics show of it. A failure is a CertificateError naming the file and
// what to do; an expired certificate loads (a front must keep serving what it
// has) and says so in `expired`.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { normalizeHost } from '../core/sni.js';

/** One `tls:` entry as the config gives it: absolute paths, validated host patterns (undefined: the certificate's names). */
export interface CertificateSpec {
  readonly cert: string;
  readonly key: string;
  readonly hosts?: readonly string[] | undefined;
}

export class CertificateError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'CertificateError';
  }
}

/**
 * Mozilla's "intermediate" profile (ssl-config.mozilla.org, version 5.7):
 * TLS 1.3's three suites, then TLS 1.2's ECDHE AEAD suites. Its DHE suites are
 * left out: they need a DH group file, and every client that offers them also
 * offers ECDHE. Same list in C (the native path).
 */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
export const ECDH_CURVES = 'X25519:prime256v1:secp384r1';

export interface LoadedCertificate {
  readonly spec: CertificateSpec;
  /** The PEM texts as read (the chain included), for the native data plane. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The names it is chosen for, lower case. */
  readonly hosts: readonly string[];
  readonly subject: string;
  /** Its DNS subject alternative names. */
  readonly names: readonly string[];
  readonly notAfter: Date;
  readonly serial: string;
  readonly expired: boolean;
  /** node:tls's context for the JavaScript path. */
  readonly context: SecureContext;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CertificateError(file, `no such ${what} file; check the path (relative paths are from the config file's folder)`);
    if (code === 'EACCES') throw new CertificateError(file, `the ${what} file is not readable by this user (uid ${process.getuid?.()}); fix its permissions`);
    if (code === 'EISDIR') throw new CertificateError(file, `is a directory, not a ${what} file`);
    throw new CertificateError(file, `cannot read the ${what} file: ${(error as Error).message}`);
  }
}

/** The DNS names of a certificate's subjectAltName ("DNS:a.example.com, IP Address:…"). */
export function dnsNames(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (x509.subjectAltName ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) names.push(normalizeHost(entry.slice(4)));
  }
  return names;
}

/** Reads and checks one certificate and its key; throws a CertificateError naming the file that is wrong. */
export function loadCertificate(spec: CertificateSpec, now = Date.now()): LoadedCertificate {
  const certPem = readText(spec.cert, 'certificate');
  if (!PEM_CERTIFICATE.test(certPem)) throw new CertificateError(spec.cert, 'is not a PEM certificate (no "-----BEGIN CERTIFICATE-----"); give the certificate file, chain included');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (error) {
    throw new CertificateError(spec.cert, `the certificate cannot be parsed: ${(error as Error).message}`);
  }
  const keyPem = readText(spec.key, 'key');
  if (!PEM_KEY.test(keyPem)) throw new CertificateError(spec.key, 'is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----"); give the key file');
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertificateError(spec.key, `the private key cannot be read: ${(error as Error).message} (an encrypted key must be decrypted first)`);
  }
  if (!x509.checkPrivateKey(key)) throw new CertificateError(spec.key, `this key does not belong to the certificate ${spec.cert}; give the key it was issued for`);
  let context: SecureContext;
  try {
    context = createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2', ciphers: INTERMEDIATE_CIPHERS, ecdhCurve: ECDH_CURVES });
  } catch (error) {
    throw new CertificateError(spec.cert, `TLS cannot use this certificate and key: ${(error as Error).message}`);
  }
  const names = dnsNames(x509);
  const notAfter = new Date(x509.validTo);
  return Object.freeze({
    spec,
    certPem,
    keyPem,
    hosts: spec.hosts?.map(normalizeHost) ?? names,
    subject: x509.subject.replace(/\n/g, ', '),
    names,
    notAfter,
    serial: x509.serialNumber,
    expired: notAfter.getTime() <= now,
    context,
  });
}
