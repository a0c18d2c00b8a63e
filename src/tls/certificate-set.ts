// The certificates of one TLS front and their renewals. Loaded whole at start
// (a failure is the user's error, before anything listens); then re-read on
// SIGHUP, `ctl apply` and when their files change. A renewal is all or
// nothing: every file of the set loads and the data plane takes it, or the
// set keeps serving what it had (logged, and an event naming the file and the
// reason). New handshakes get the new certificates; open connections keep
// theirs (a TLS connection never looks at its certificate again).
//
// Watching: certbot replaces `live/<name>/*.pem` symlinks (new files in
// `archive/`), cert-manager and Kubernetes swap a `..data` symlink, others
// write a temporary file and rename it. So the folders are watched (the
// file's own and the one its symlinks lead to), not the files, and any change
// there re-reads the set after a short debounce; an unchanged set is a no-op.

import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import { chooseCertificate } from '../core/sni.js';
import type { TlsCertificateStatus } from '../core/system-api.js';
import type { SupervisorEvent } from '../core/types.js';
import { CertificateError, loadCertificate, type CertificateSpec, type LoadedCertificate } from './certificate.js';

export type TlsEvent = Extract<SupervisorEvent, { type: 'tls' }>;

/** What `ctl status` shows of one certificate (its front is the caller's to add). */
export type CertificateStatus = Omit<TlsCertificateStatus, 'front'>;

export interface CertificateSetOptions {
  readonly logger?: Logger | undefined;
  readonly emit?: ((event: TlsEvent) => void) | undefined;
  /** Watch the files' folders (default true). */
  readonly watch?: boolean;
  /** Changes closer together than this make one re-read (default 300 ms). */
  readonly debounceMs?: number;
}

/** Told of every renewal before it takes effect; a string refuses it (the reason), and nothing changes. */
export type RenewalListener = (certificates: readonly LoadedCertificate[]) => string | undefined;

export type RenewalResult = { readonly ok: true; readonly changed: boolean } | { readonly ok: false; readonly error: string };

const DAY_MS = 86_400_000;

export class CertificateSet {
  private loaded: readonly LoadedCertificate[];
  private specs: readonly CertificateSpec[];
  private readonly listeners = new Set<RenewalListener>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Throws a CertificateError (the first file that is wrong) when the set does not load. */
  constructor(specs: readonly CertificateSpec[], private readonly options: CertificateSetOptions = {}) {
    if (specs.length === 0) throw new TypeError('a TLS front needs at least one certificate');
    this.specs = specs;
    this.loaded = specs.map((spec) => loadCertificate(spec));
    // Once the owner has wired its events (the set is made before the app's supervisor).
    queueMicrotask(() => {
      for (const certificate of this.loaded) this.warnIfExpired(certificate);
    });
    if (options.watch !== false) this.watchFiles();
  }

  get certificates(): readonly LoadedCertificate[] {
    return this.loaded;
  }

  /** The certificate a handshake naming `servername` gets (exact, wildcard, then the first). */
  choose(servername: string | undefined): LoadedCertificate {
    return this.loaded[chooseCertificate(this.loaded, servername)] as LoadedCertificate;
  }

  /** Tells `listener` of every renewal (the native data plane takes the new set this way); returns how to stop. */
  onRenewal(listener: RenewalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files (of `specs` when the config changed them); keeps the old set on any failure. */
  reload(reason: string, newSpecs?: readonly CertificateSpec[]): RenewalResult {
    const specs = newSpecs ?? this.specs;
    if (this.closed) return { ok: true, changed: false };
    let next: LoadedCertificate[];
    try {
      next = specs.map((spec) => loadCertificate(spec));
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      return this.refused(error.file, error.reason, reason);
    }
    const same = JSON.stringify(specs) === JSON.stringify(this.specs) && next.every((c, i) => c.certPem === this.loaded[i]?.certPem && c.keyPem === this.loaded[i]?.keyPem);
    if (same) return { ok: true, changed: false };
    for (const listener of this.listeners) {
      const refusal = listener(next);
      if (refusal !== undefined) return this.refused(next[0]?.spec.cert ?? '', `the data plane refused the certificates: ${refusal}`, reason);
    }
    const before = this.loaded;
    const pathsChanged = JSON.stringify(specs) !== JSON.stringify(this.specs);
    this.loaded = next;
    this.specs = specs;
    for (const certificate of next) {
      const old = before.find((each) => each.spec.cert === certificate.spec.cert);
      if (old !== undefined && old.certPem === certificate.certPem && old.keyPem === certificate.keyPem) continue;
      this.options.logger?.info(
        { file: certificate.spec.cert, serial: certificate.serial, notAfter: certificate.notAfter.toISOString(), reason },
        `TLS certificate ${certificate.spec.cert} loaded (serial ${certificate.serial}, expires ${certificate.notAfter.toISOString()}): new handshakes use it`,
      );
      this.options.emit?.({ type: 'tls', change: 'renewed', file: certificate.spec.cert, serial: certificate.serial, notAfter: certificate.notAfter.toISOString() });
      this.warnIfExpired(certificate);
    }
    if (pathsChanged && this.watcher !== undefined) {
      void this.watcher.close();
      this.watchFiles();
    }
    return { ok: true, changed: true };
  }

  status(now = Date.now()): CertificateStatus[] {
    return this.loaded.map((certificate) => ({
      file: certificate.spec.cert,
      subject: certificate.subject,
      names: certificate.names,
      hosts: certificate.hosts,
      serial: certificate.serial,
      notAfter: certificate.notAfter.toISOString(),
      daysLeft: Math.floor((certificate.notAfter.getTime() - now) / DAY_MS),
    }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.listeners.clear();
    await this.watcher?.close();
  }

  private refused(file: string, why: string, reason: string): RenewalResult {
    this.options.logger?.error({ file, reason }, `TLS certificates not reloaded (${reason}): ${file}: ${why}; the front keeps serving the previous ones`);
    this.options.emit?.({ type: 'tls', change: 'failed', file, reason: why });
    return { ok: false, error: `${file}: ${why}` };
  }

  private warnIfExpired(certificate: LoadedCertificate): void {
    if (!certificate.expired) return;
    const when = certificate.notAfter.toISOString();
    this.options.logger?.warn({ file: certificate.spec.cert, notAfter: when }, `TLS certificate ${certificate.spec.cert} expired on ${when}: clients will refuse it; renew it (the front serves it meanwhile)`);
    this.options.emit?.({ type: 'tls', change: 'expired', file: certificate.spec.cert, notAfter: when });
  }

  private watchFiles(): void {
    const folders = new Set<string>();
    for (const spec of this.specs) {
      for (const file of [spec.cert, spec.key]) {
        folders.add(dirname(file));
        try {
          folders.add(dirname(realpathSync(file)));
        } catch {
          // gone for now: its own folder is watched for it to come back
        }
      }
    }
    const watcher = watch([...folders], { ignoreInitial: true, depth: 0, followSymlinks: false });
    watcher.on('all', () => this.changed());
    watcher.on('error', (error) => this.options.logger?.warn({ err: error }, 'TLS certificate watcher error'));
    this.watcher = watcher;
  }

  private changed(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload('the certificate files changed');
    }, this.options.debounceMs ?? 300);
    this.timer.unref();
  }
}
