/**
 * Client TLS with etcd's flags (`--cert-file --key-file --trusted-ca-file --client-cert-auth`, https URLs):
 * etcdctl and the SDK with a CA-signed client certificate get in; without a certificate, or with a self-signed
 * one (test/fixtures/tls/rogue), they do not; with auth enabled the certificate's common name is the user.
 * (Peer TLS, including a rogue peer being refused, is tested in packages/server/src/transport/transport.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { Client } from '@latchkey/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { startTlsMember, type TlsMember, tlsFixture as f, withCert } from '../harness/tls-member.js';

let member: TlsMember | undefined;
let endpoint = '';

beforeAll(async () => {
  member = await startTlsMember({ cert: 'root.crt', key: 'root.key' });
  endpoint = member.endpoint;
}, 30_000);

afterAll(() => member?.stop());

describe('client TLS', () => {
  it('etcdctl: a CA-signed client certificate works; none or a self-signed one is refused', async () => {
    const ok = await etcdctl(endpoint, [...withCert('client.crt', 'client.key'), 'put', 'tls/k', 'v']);
    expect(ok.stdout.trim(), ok.stderr).toBe('OK');
    const none = await etcdctl(endpoint, ['--cacert', f('ca.crt'), '--dial-timeout', '2s', '--command-timeout', '2s', 'get', 'tls/k']);
    expect(none.code).not.toBe(0);
    const rogue = await etcdctl(endpoint, [...withCert('rogue.crt', 'rogue.key'), '--dial-timeout', '2s', '--command-timeout', '2s', 'get', 'tls/k']);
    expect(rogue.code).not.toBe(0);
    expect(rogue.stdout).not.toContain('tls/k');
  }, 30_000);

  it('the SDK: with ca/cert/key it reads and writes; without a client certificate it cannot', async () => {
    const good = new Client({
      endpoints: [endpoint],
      tls: { ca: readFileSync(f('ca.crt')), cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) },
    });
    await good.put('tls/sdk', 'yes');
    expect(await good.getString('tls/sdk')).toBe('yes');
    good.close();
    const bad = new Client({ endpoints: [endpoint], tls: { ca: readFileSync(f('ca.crt')) }, dialTimeoutMs: 1_000, maxRetries: 1 });
    await expect(bad.get('tls/sdk', { timeoutMs: 3_000 })).rejects.toThrow();
    bad.close();
  }, 30_000);

  it('with auth enabled, the certificate common name is the user', async () => {
    const root = withCert('root.crt', 'root.key');
    for (const args of [
      ['user', 'add', 'root:rootpw', '--interactive=false'],
      ['user', 'add', 'client:clientpw', '--interactive=false'],
      ['role', 'add', 'tlsreader'],
      ['role', 'grant-permission', 'tlsreader', 'read', 'tls/', '--prefix=true'],
      ['user', 'grant-role', 'client', 'tlsreader'],
      ['auth', 'enable'],
    ]) {
      const r = await etcdctl(endpoint, [...root, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const client = withCert('client.crt', 'client.key');
    const read = await etcdctl(endpoint, [...client, 'get', 'tls/k', '--print-value-only']);
    expect(read.stdout.trim(), read.stderr).toBe('v');
    const write = await etcdctl(endpoint, [...client, 'put', 'tls/k', 'w']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('etcdserver: permission denied');
    const asRoot = await etcdctl(endpoint, [...root, 'put', 'tls/k', 'w']);
    expect(asRoot.stdout.trim(), asRoot.stderr).toBe('OK');
  }, 30_000);
});

describe('client TLS - --client-cert-allowed-hostname, the same as etcd 3.4', () => {
  it('accepts a CA-signed client certificate valid for the host name and refuses one that is not', async () => {
    const outcomes: Record<string, number[]> = {};
    for (const kind of ['etcd', 'latchkey'] as const) {
      const m = await startTlsMember({ cert: 'client.crt', key: 'client.key' }, { kind, extraArgs: ['--client-cert-allowed-hostname', 'localhost'] });
      try {
        const asClient = await etcdctl(m.endpoint, [...withCert('client.crt', 'client.key'), 'put', 'k', 'v']);
        // Signed by the same CA, but valid only for 127.0.0.1 and other.example.
        const asOther = await etcdctl(m.endpoint, [...withCert('other.crt', 'other.key'), 'get', 'k', '--command-timeout=2s', '--dial-timeout=2s']);
        outcomes[kind] = [asClient.code, asOther.code];
      } finally {
        m.stop();
      }
    }
    expect(outcomes['etcd']).toEqual([0, 1]);
    expect(outcomes['latchkey']).toEqual(outcomes['etcd']);
  }, 60_000);
});

describe('client TLS - --cipher-suites, the same as etcd 3.4', () => {
  /** Whether a TLS handshake with at most `maxVersion` and offering only `ciphers` succeeds. */
  const handshake = (endpoint: string, maxVersion: 'TLSv1.2' | 'TLSv1.3', ciphers?: string): Promise<boolean> => {
    const url = new URL(endpoint);
    return new Promise((resolve) => {
      const s = tlsConnect({ host: url.hostname, port: Number(url.port), ca: readFileSync(f('ca.crt')), cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')), maxVersion, ...(ciphers ? { ciphers } : {}) });
      s.once('secureConnect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  };

  // etcd also needs an AES-128-GCM suite in the list (Go's HTTP/2 requires one): config.test.ts checks that
  // latchkey refuses such a list at start, where etcd 3.4 fails when it starts serving.
  it('TLS 1.2 offers only the listed suites; TLS 1.3 keeps its own', async () => {
    const outcomes: Record<string, boolean[]> = {};
    for (const kind of ['etcd', 'latchkey'] as const) {
      const m = await startTlsMember({ cert: 'client.crt', key: 'client.key' }, { kind, extraArgs: ['--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305'] });
      try {
        outcomes[kind] = [
          await handshake(m.endpoint, 'TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256'),
          await handshake(m.endpoint, 'TLSv1.2', 'ECDHE-RSA-CHACHA20-POLY1305'),
          await handshake(m.endpoint, 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384'),
          await handshake(m.endpoint, 'TLSv1.3'),
        ];
      } finally {
        m.stop();
      }
    }
    expect(outcomes['etcd']).toEqual([true, true, false, true]);
    expect(outcomes['latchkey']).toEqual(outcomes['etcd']);
  }, 60_000);
});
