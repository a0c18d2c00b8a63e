// TLS settings (SPEC §14) → TlsConfig: `--tls-cert/--tls-key/--hsts/--redirect-http`
// (an app's own front), and the system file's `front: {tls: [..], redirect-http, hsts}`
// (the routing front). Hostile input: both or neither of cert and key, host
// patterns that are names, and every certificate loaded now (missing,
// unreadable, not PEM, a key of another certificate) so that a bad file is a
// usage error at start and a refused `ctl apply`, never a front that cannot
// serve.

import { resolve } from 'node:path';
import { UsageError } from './errors.js';
import { hostPatternError } from './core/sni.js';
import type { ProxyKind, TlsCertificateConfig, TlsConfig } from './core/types.js';
import { CertificateError, loadCertificate } from './tls/certificate.js';

type Where = (key: string) => string;

/** An app's own front: from its option values (flags, or its keys in a file). */
export function tlsFromOptions(values: Record<string, unknown>, cwd: string, where: Where, front: { mode: string; proxy: ProxyKind; port: number }): TlsConfig | undefined {
  const cert = values['tlsCert'] as string | undefined;
  const key = values['tlsKey'] as string | undefined;
  const hsts = values['hsts'] as number | undefined;
  const redirectHttp = values['redirectHttp'] as number | undefined;
  if (cert === undefined && key === undefined) {
    for (const name of ['hsts', 'redirectHttp']) {
      if (values[name] !== undefined) throw new UsageError(`${where(name)} needs TLS at the front: add --tls-cert <pem> --tls-key <pem>`);
    }
    return undefined;
  }
  if (cert === undefined) throw new UsageError(`${where('tlsKey')} needs its certificate: add --tls-cert <pem> (the certificate and its chain)`);
  if (key === undefined) throw new UsageError(`${where('tlsCert')} needs its private key: add --tls-key <pem>`);
  if (front.mode !== 'spawn' || front.proxy === 'none') {
    throw new UsageError(`${where('tlsCert')}: TLS is terminated by the spawn-mode front; give a command after -- and --proxy http (or tcp)`);
  }
  if (redirectHttp !== undefined && redirectHttp === front.port) {
    throw new UsageError(`${where('redirectHttp')} ${redirectHttp} is the https port itself; choose another port (80, usually)`);
  }
  const tls: TlsConfig = { certificates: [{ cert: resolve(cwd, cert), key: resolve(cwd, key) }], hsts, redirectHttp };
  checkCertificates(tls, () => where('tlsCert'));
  return Object.freeze(tls);
}

/** `front: {tls, redirect-http, hsts}` of a system file; paths relative to the file's folder. */
export function tlsFromFront(front: Record<string, unknown>, folder: string, where: (keys: readonly (string | number)[]) => string, port: number): TlsConfig | undefined {
  const { tls, redirectHttp, hsts } = front;
  if (tls === undefined || tls === null) {
    if (redirectHttp !== undefined) throw new UsageError(`${where(['front', 'redirect-http'])} needs TLS at the front: add tls: [{cert, key}]`);
    if (hsts !== undefined) throw new UsageError(`${where(['front', 'hsts'])} needs TLS at the front: add tls: [{cert, key}]`);
    return undefined;
  }
  const list = Array.isArray(tls) ? tls : [tls];
  if (list.length === 0) throw new UsageError(`${where(['front', 'tls'])} must list at least one {cert, key, hosts?}`);
  const certificates = list.map((item, index): TlsCertificateConfig => {
    const at = where(['front', 'tls', index]);
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new UsageError(`${at} must be {cert, key, hosts?} (got ${JSON.stringify(item)})`);
    const { cert, key, hosts, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw new UsageError(`${at}: unknown key "${unknown}"; a certificate has cert, key, hosts`);
    if (typeof cert !== 'string' || cert === '') throw new UsageError(`${at}: cert must be the path of a PEM certificate (got ${JSON.stringify(cert)})`);
    if (typeof key !== 'string' || key === '') throw new UsageError(`${at}: key must be the path of its PEM private key (got ${JSON.stringify(key)})`);
    return { cert: resolve(folder, cert), key: resolve(folder, key), hosts: parseHosts(hosts, `${at}: hosts`) };
  });
  const integer = (value: unknown, name: string, min: number, max: number): number | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new UsageError(`${where(['front', name])} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
    }
    return value;
  };
  const redirect = integer(redirectHttp, 'redirect-http', 1, 65535);
  if (redirect !== undefined && redirect === port) throw new UsageError(`${where(['front', 'redirect-http'])} ${redirect} is the https port itself; choose another port (80, usually)`);
  const config: TlsConfig = { certificates, hsts: integer(hsts, 'hsts', 1, 2 ** 31 - 1), redirectHttp: redirect };
  checkCertificates(config, (index) => where(['front', 'tls', index]));
  return Object.freeze(config);
}

function parseHosts(value: unknown, at: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new UsageError(`${at} must list host names (or be left out: the certificate's names are used)`);
  for (const pattern of list) {
    const error = hostPatternError(pattern);
    if (error !== undefined) throw new UsageError(`${at}: ${error}`);
  }
  return (list as string[]).map((host) => host.toLowerCase());
}

/** Loads each certificate once: a file that is wrong is a usage error naming the setting and the file. */
function checkCertificates(tls: TlsConfig, where: (index: number) => string): void {
  for (const [index, spec] of tls.certificates.entries()) {
    try {
      loadCertificate(spec);
    } catch (error) {
      if (error instanceof CertificateError) throw new UsageError(`${where(index)}: ${error.message}`, 'TLS_CERTIFICATE');
      throw error;
    }
  }
}
