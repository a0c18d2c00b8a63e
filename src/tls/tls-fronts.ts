// The certificate sets of a system's TLS fronts (the routing front's, and each
// app's own), by owner: what SIGHUP and `ctl apply` re-read, what `ctl status`
// shows and `/metrics` exports (`supervise_tls_cert_expiry_seconds`).

import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TlsConfig } from '../core/types.js';
import { CertificateError } from './certificate.js';
import { CertificateSet, type CertificateStatus, type TlsEvent } from './certificate-set.js';

/** The owner: `front` for the routing front, else the app whose own front it is. */
export type FrontCertificateStatus = CertificateStatus & { readonly front: string };

export class TlsFronts {
  private readonly sets = new Map<string, CertificateSet>();

  /** Loads a front's certificates; a file that does not load is a usage error (the config checked it a moment ago). */
  create(owner: string, tls: TlsConfig, options: { logger?: Logger | undefined; emit?: (event: TlsEvent) => void }): CertificateSet {
    let set: CertificateSet;
    try {
      set = new CertificateSet(tls.certificates, options);
    } catch (error) {
      if (error instanceof CertificateError) throw new UsageError(`front TLS: ${error.message}`, 'TLS_CERTIFICATE');
      throw error;
    }
    void this.sets.get(owner)?.close();
    this.sets.set(owner, set);
    return set;
  }

  get(owner: string): CertificateSet | undefined {
    return this.sets.get(owner);
  }

  async remove(owner: string, set?: CertificateSet): Promise<void> {
    const current = this.sets.get(owner);
    if (current === undefined || (set !== undefined && current !== set)) return;
    this.sets.delete(owner);
    await current.close();
  }

  /**
   * SIGHUP, `ctl apply`: every set re-reads its files, or the ones `lists`
   * now gives its owner (a set that fails keeps its certificates). Returns the failures.
   */
  reloadAll(reason: string, lists: ReadonlyMap<string, TlsConfig['certificates']> = new Map()): string[] {
    const errors: string[] = [];
    for (const [owner, set] of this.sets) {
      const result = set.reload(reason, lists.get(owner));
      if (!result.ok) errors.push(`${owner === 'front' ? 'front' : `app "${owner}"`} TLS: ${result.error} (the previous certificates stay)`);
    }
    return errors;
  }

  status(now = Date.now()): FrontCertificateStatus[] {
    return [...this.sets].flatMap(([front, set]) => set.status(now).map((status) => ({ front, ...status })));
  }

  /** Prometheus text: seconds until each certificate expires (negative once expired). */
  metricsText(now = Date.now()): string {
    const rows = this.status(now);
    if (rows.length === 0) return '';
    const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const lines = [
      '# HELP supervise_tls_cert_expiry_seconds Seconds until the TLS certificate expires (negative once expired), per front and certificate file.',
      '# TYPE supervise_tls_cert_expiry_seconds gauge',
      ...rows.map((row) => `supervise_tls_cert_expiry_seconds{front="${label(row.front)}",cert="${label(row.file)}"} ${Math.round((Date.parse(row.notAfter) - now) / 1000)}`),
    ];
    return `${lines.join('\n')}\n`;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sets.values()].map((set) => set.close()));
    this.sets.clear();
  }
}
