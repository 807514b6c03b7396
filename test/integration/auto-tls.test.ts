/**
 * `--auto-tls` and `--peer-auto-tls` against etcd 3.4 with the same flags: each server makes its own
 * certificate in `<data-dir>/fixtures/{client,peer}`, etcdctl gets in only when told to skip verification, the
 * certificate has the same shape on both (openssl's description of it, less serial, dates and key material, is
 * equal), a restart keeps it, and a 3-member cluster forms over https peer URLs with generated peer certificates.
 * latchctl, given etcdctl's `--insecure-transport=false --insecure-skip-tls-verify`, gets in too.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { freePorts } from '../harness/ports.js';
import { memberCommand, type MemberKind } from '../harness/processes.js';
import { until } from '../harness/wait.js';
import { runTool } from '../cli/tools.js';

/** etcdctl 3.4 over TLS to a server whose certificate nobody signed. */
const SKIP_VERIFY = ['--insecure-transport=false', '--insecure-skip-tls-verify'];

interface Proc {
  proc: ChildProcess;
  dataDir: string;
  args: string[];
  kind: MemberKind;
}
const running: Proc[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.proc.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function launch(kind: MemberKind, dataDir: string, args: string[]): Proc {
  const { command, args: pre } = memberCommand(kind);
  const p = { proc: spawn(command, [...pre, '--data-dir', dataDir, ...args], { stdio: 'ignore' }), dataDir, args, kind };
  running.push(p);
  return p;
}

async function stopped(p: Proc): Promise<void> {
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill('SIGKILL');
  await exited;
  running.splice(running.indexOf(p), 1);
}

const healthy = (endpoint: string) => until(async () => (await etcdctl(endpoint, [...SKIP_VERIFY, 'endpoint', 'health'])).code === 0, `${endpoint} to be healthy`, 30_000);

/** openssl's description of a certificate, without what differs between any two (serial, dates, keys, signature). */
function shape(certPem: string): string {
  const r = spawnSync('openssl', ['x509', '-noout', '-text'], { input: certPem, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => !/^\s+([0-9a-f]{2}:)+[0-9a-f]{0,2}$/.test(l) && !/Not (Before|After)/.test(l) && !/^\s+Serial Number:/.test(l))
    .join('\n');
}

function certFacts(file: string): { validDays: number; keyMode: string; keyHeader: string } {
  const x = new X509Certificate(readFileSync(file));
  const key = path.join(path.dirname(file), 'key.pem');
  return {
    validDays: Math.round((Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000),
    keyMode: (statSync(key).mode & 0o777).toString(8),
    keyHeader: readFileSync(key, 'utf8').split('\n')[0]!,
  };
}

describe('auto TLS, the same as etcd 3.4', () => {
  it('auto-tls - --auto-tls: a generated client certificate; etcdctl needs to skip verification; a restart keeps the certificate', async () => {
    const seen: Record<string, unknown> = {};
    const shapes: Record<string, string> = {};
    for (const kind of ['etcd', 'latchkey'] as const) {
      const [client, peer] = (await freePorts(2)) as [number, number];
      const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-autotls-'));
      dirs.push(dir);
      const endpoint = `https://127.0.0.1:${client}`;
      const peerUrl = `http://127.0.0.1:${peer}`;
      const args = ['--name', 'a1', '--auto-tls', '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint, '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `a1=${peerUrl}`];
      const dataDir = path.join(dir, 'data');
      let p = launch(kind, dataDir, args);
      await healthy(endpoint);
      const certFile = path.join(dataDir, 'fixtures', 'client', 'cert.pem');
      const put = await etcdctl(endpoint, [...SKIP_VERIFY, 'put', 'k', 'v']);
      const verified = await etcdctl(endpoint, ['--insecure-transport=false', '--dial-timeout=2s', '--command-timeout=2s', 'get', 'k']);
      // latchctl takes the same flags, with the same outcomes.
      const latchctlGet = await runTool('latchctl', endpoint, [...SKIP_VERIFY, 'get', 'k', '--print-value-only']);
      const latchctlVerified = await runTool('latchctl', endpoint, ['--insecure-transport=false', '--dial-timeout=2s', '--command-timeout=2s', 'get', 'k']);
      const before = new X509Certificate(readFileSync(certFile));
      await stopped(p);
      p = launch(kind, dataDir, args);
      await healthy(endpoint);
      const after = new X509Certificate(readFileSync(certFile));
      const get = await etcdctl(endpoint, [...SKIP_VERIFY, 'get', 'k', '--print-value-only']);
      seen[kind] = {
        put: [put.code, put.stdout.trim()],
        withoutSkipVerify: verified.code,
        latchctl: { get: [latchctlGet.code, latchctlGet.stdout.trim()], withoutSkipVerify: latchctlVerified.code === 0 ? 0 : 'failed' },
        afterRestart: [get.code, get.stdout.trim()],
        sameCertAfterRestart: before.fingerprint256 === after.fingerprint256,
        ...certFacts(certFile),
      };
      shapes[kind] = shape(readFileSync(certFile, 'utf8'));
      await stopped(p);
    }
    expect(seen['etcd']).toEqual({ put: [0, 'OK'], withoutSkipVerify: 1, latchctl: { get: [0, 'v'], withoutSkipVerify: 'failed' }, afterRestart: [0, 'v'], sameCertAfterRestart: true, validDays: 365, keyMode: '600', keyHeader: '-----BEGIN EC PRIVATE KEY-----' });
    expect(seen['latchkey']).toEqual(seen['etcd']);
    // Subject O=etcd, P-521, ECDSA-SHA512, key usages, CA:FALSE, the listen host as an IP SAN.
    expect(shapes['etcd']).toContain('IP Address:127.0.0.1');
    expect(shapes['latchkey']).toBe(shapes['etcd']);
  }, 120_000);

  it('auto-tls - --peer-auto-tls: a 3-member cluster over https peer URLs, each member with its own generated certificate', async () => {
    const outcomes: Record<string, unknown> = {};
    const shapes: Record<string, string> = {};
    for (const kind of ['etcd', 'latchkey'] as const) {
      const ports = await freePorts(6);
      const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-peerautotls-'));
      dirs.push(dir);
      const names = ['p1', 'p2', 'p3'];
      const peerUrl = (i: number) => `https://127.0.0.1:${ports[2 * i + 1]}`;
      const clientUrl = (i: number) => `http://127.0.0.1:${ports[2 * i]}`;
      const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
      names.forEach((name, i) =>
        launch(kind, path.join(dir, name), [
          '--name', name, '--peer-auto-tls',
          '--listen-client-urls', clientUrl(i), '--advertise-client-urls', clientUrl(i),
          '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
          '--initial-cluster', initialCluster, '--initial-cluster-token', 'auto-tls',
        ]),
      );
      for (let i = 0; i < 3; i++) await until(async () => (await etcdctl(clientUrl(i), ['endpoint', 'health'])).code === 0, `${kind} ${names[i]} healthy`, 30_000);
      const put = await etcdctl(clientUrl(0), ['put', 'k', 'replicated']);
      const reads = [];
      for (let i = 0; i < 3; i++) reads.push((await etcdctl(clientUrl(i), ['get', 'k', '--print-value-only'])).stdout.trim());
      const members = (await etcdctl(clientUrl(1), ['member', 'list'])).stdout.trim().split('\n').map((l) => l.split(', ').slice(2, 4).join(' ')).sort();
      const fingerprints = new Set(names.map((n) => new X509Certificate(readFileSync(path.join(dir, n, 'fixtures', 'peer', 'cert.pem'))).fingerprint256));
      outcomes[kind] = { put: put.stdout.trim(), reads, members: members.map((m) => m.replace(/:\d+$/, ':<port>')), distinctCerts: fingerprints.size };
      shapes[kind] = shape(readFileSync(path.join(dir, 'p1', 'fixtures', 'peer', 'cert.pem'), 'utf8'));
      for (const p of [...running]) await stopped(p);
    }
    expect(outcomes['etcd']).toEqual({ put: 'OK', reads: ['replicated', 'replicated', 'replicated'], members: ['p1 https://127.0.0.1:<port>', 'p2 https://127.0.0.1:<port>', 'p3 https://127.0.0.1:<port>'], distinctCerts: 3 });
    expect(outcomes['latchkey']).toEqual(outcomes['etcd']);
    expect(shapes['latchkey']).toBe(shapes['etcd']);
  }, 120_000);
});
