// A front's certificate set and its renewals, without a front: all or
// nothing (a file that does not load, or a data plane that refuses, leaves
// the set as it was, with an event naming the file and the reason), an
// unchanged re-read is a no-op, the choice by SNI, what status shows.
// Certificates are made by openssl at test time (skipped without it).

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateSet, type TlsEvent } from '../../src/tls/certificate-set.js';
import { TlsFronts } from '../../src/tls/tls-fronts.js';
import { makeCa, opensslMissing, type CertFiles, type TestCa } from '../helpers/tls-certs.js';

const skip = opensslMissing();

describe('certificate set', { skip }, () => {
  let dir: string;
  let ca: TestCa;
  let www: CertFiles;
  let api: CertFiles;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'supervise-certset-'));
    ca = makeCa(dir);
    www = ca.leaf('www', ['www.example.com']);
    api = ca.leaf('api', ['api.example.com', '*.api.example.com']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of `files` that the test may break and renew. */
  const copy = (files: CertFiles, name: string) => {
    const cert = join(dir, `${name}.pem`);
    const key = join(dir, `${name}.key`);
    copyFileSync(files.cert, cert);
    copyFileSync(files.key, key);
    return { cert, key };
  };

  it('chooses by SNI from the SANs, the first being the default', () => {
    const set = new CertificateSet([www, api], { watch: false });
    assert.equal(set.choose('api.example.com').serial, api.serial);
    assert.equal(set.choose('x.api.example.com').serial, api.serial);
    assert.equal(set.choose('other.example.org').serial, www.serial);
    assert.equal(set.choose(undefined).serial, www.serial);
  });

  it('a renewal that does not load keeps the set, and says which file and why', () => {
    const live = copy(www, 'live1');
    const events: TlsEvent[] = [];
    const set = new CertificateSet([live], { watch: false, emit: (event) => events.push(event) });
    writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
    const result = set.reload('test');
    assert.equal(result.ok, false);
    assert.equal(set.certificates[0]?.serial, www.serial);
    assert.deepEqual(events.map((event) => [event.change, event.file]), [['failed', live.cert]]);
    assert.match(events[0]?.reason ?? '', /the certificate cannot be parsed/);
  });

  it('the data plane may refuse a renewal: nothing changes', () => {
    const live = copy(www, 'live2');
    const events: TlsEvent[] = [];
    const set = new CertificateSet([live], { watch: false, emit: (event) => events.push(event) });
    set.onRenewal(() => 'no memory');
    const renewed = ca.leaf('renewed2', ['www.example.com']);
    copyFileSync(renewed.key, live.key);
    copyFileSync(renewed.cert, live.cert);
    assert.deepEqual(set.reload('test'), { ok: false, error: `${live.cert}: the data plane refused the certificates: no memory` });
    assert.equal(set.certificates[0]?.serial, www.serial);
    assert.equal(events[0]?.change, 'failed');
  });

  it('a good renewal swaps the set once; the same files again change nothing', () => {
    const live = copy(www, 'live3');
    const events: TlsEvent[] = [];
    const set = new CertificateSet([live], { watch: false, emit: (event) => events.push(event) });
    let told = 0;
    set.onRenewal(() => void told++);
    assert.deepEqual(set.reload('test'), { ok: true, changed: false });
    const renewed = ca.leaf('renewed3', ['www.example.com']);
    copyFileSync(renewed.key, live.key);
    copyFileSync(renewed.cert, live.cert);
    assert.deepEqual(set.reload('test'), { ok: true, changed: true });
    assert.deepEqual(set.reload('test'), { ok: true, changed: false });
    assert.equal(set.certificates[0]?.serial, renewed.serial);
    assert.equal(told, 1);
    assert.deepEqual(events.map((event) => [event.change, event.serial]), [['renewed', renewed.serial]]);
  });

  it('status and the expiry gauge, by front; an expired certificate loads with an event', async () => {
    const expired = ca.leaf('expired', ['old.example.com'], { days: -1 });
    const fronts = new TlsFronts();
    const events: TlsEvent[] = [];
    fronts.create('front', { certificates: [www, expired] }, { emit: (event) => events.push(event) });
    await Promise.resolve();
    assert.deepEqual(events.map((event) => [event.change, event.file]), [['expired', expired.cert]]);
    const now = Date.now();
    const [first, second] = fronts.status(now);
    assert.equal(first?.front, 'front');
    assert.deepEqual(first?.names, ['www.example.com']);
    assert.ok(first !== undefined && first.daysLeft >= 29 && first.daysLeft <= 30);
    assert.ok(second !== undefined && second.daysLeft < 0);
    const text = fronts.metricsText(now);
    assert.match(text, /^# TYPE supervise_tls_cert_expiry_seconds gauge$/m);
    assert.match(text, new RegExp(`^supervise_tls_cert_expiry_seconds\\{front="front",cert="${www.cert.replace(/[.]/g, '\\.')}"\\} \\d+$`, 'm'));
    assert.match(text, new RegExp(`cert="${expired.cert.replace(/[.]/g, '\\.')}"\\} -\\d+$`, 'm'));
    await fronts.closeAll();
    assert.equal(fronts.metricsText(), '');
  });
});
