import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostOf, selfCert } from './self-cert.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const scratch = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'latchkey-selfcert-'));
  dirs.push(d);
  return join(d, 'fixtures', 'client');
};

describe('self-cert', () => {
  it('self-cert - a certificate Node parses: self-signed, O=etcd, a year, server auth, the hosts as SANs, matching its key', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const c = selfCert(scratch(), ['127.0.0.1:2379', 'db.example:2379', '[::1]:2379', '10.0.0.7'], now);
    const x = new X509Certificate(c.cert);
    expect(c.created).toBe(true);
    expect(x.subject).toBe('O=etcd');
    expect(x.issuer).toBe('O=etcd');
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(x.subjectAltName).toBe('IP Address:127.0.0.1, DNS:db.example, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.7');
    expect(new Date(x.validFrom).toISOString()).toBe('2026-06-01T12:00:00.000Z');
    expect(new Date(x.validTo).toISOString()).toBe('2027-06-01T12:00:00.000Z');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(c.key))).toBe(true);
    expect(x.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'secp521r1' });
    // Control: another key neither signed it nor matches it.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    expect(x.verify(other.publicKey)).toBe(false);
    expect(x.checkPrivateKey(other.privateKey)).toBe(false);
  });

  it('self-cert - existing files are reused, as etcd reuses them', () => {
    const dir = scratch();
    const first = selfCert(dir, ['127.0.0.1:2379']);
    const again = selfCert(dir, ['127.0.0.1:2379', 'other:1']);
    expect(again.created).toBe(false);
    expect(again.cert.equals(first.cert)).toBe(true);
    expect(again.key.equals(first.key)).toBe(true);
  });

  it('self-cert - dates from 2050 on are GeneralizedTime (RFC 5280)', () => {
    const x = new X509Certificate(selfCert(scratch(), ['127.0.0.1'], new Date('2049-12-31T00:00:00Z')).cert);
    expect(new Date(x.validTo).toISOString()).toBe('2050-12-31T00:00:00.000Z');
  });

  it('self-cert - hostOf takes the host out of host:port, IPv6 brackets included', () => {
    expect(['127.0.0.1:2379', 'localhost', '[::1]:2380', '[fe80::1]', 'a.b:1'].map(hostOf)).toEqual(['127.0.0.1', 'localhost', '::1', 'fe80::1', 'a.b']);
  });
});
