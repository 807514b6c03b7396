/**
 * A latchkey member that serves clients over TLS and requires client certificates (etcd's `--cert-file
 * --key-file --trusted-ca-file --client-cert-auth`), with the certificates of test/fixtures/tls. Resolves once
 * `etcdctl endpoint health` succeeds with the given client certificate.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { etcdctl } from './etcdctl.js';
import { freePorts } from './ports.js';
import { memberCommand, type MemberKind } from './processes.js';

/** test/fixtures/tls, with a trailing separator. */
export const tlsFixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** The path of a file in test/fixtures/tls. */
export const tlsFixture = (name: string): string => path.join(tlsFixtures, name);

/** etcdctl/latchctl flags for the fixtures' CA and the given client certificate and key. */
export const withCert = (cert: string, key: string): string[] => ['--cacert', tlsFixture('ca.crt'), '--cert', tlsFixture(cert), '--key', tlsFixture(key)];

export interface TlsMember {
  /** `https://127.0.0.1:<port>` */
  readonly endpoint: string;
  stop(): void;
}

/**
 * Starts the member; `health` is the client certificate (and key) the readiness check uses. `kind` etcd starts a
 * real etcd with the same flags; `extraArgs` are appended to them.
 */
export async function startTlsMember(health: { cert: string; key: string }, options: { kind?: MemberKind; extraArgs?: readonly string[] } = {}): Promise<TlsMember> {
  const [client, peer] = (await freePorts(2)) as [number, number];
  const dir = mkdtempSync(path.join(tmpdir(), 'latchkey-tls-'));
  const endpoint = `https://127.0.0.1:${client}`;
  const { command, args } = memberCommand(options.kind ?? 'latchkey');
  const f = tlsFixture;
  const proc: ChildProcess = spawn(command, [
    ...args,
    '--name', 't1', '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `t1=http://127.0.0.1:${peer}`,
    '--cert-file', f('server.crt'), '--key-file', f('server.key'), '--trusted-ca-file', f('ca.crt'), '--client-cert-auth',
    ...(options.extraArgs ?? []),
  ], { stdio: 'ignore' });
  const stop = (): void => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  // Polls the member's health (a readiness wait under a deadline, as the harness does for plain members).
  const deadline = Date.now() + 20_000;
  while ((await etcdctl(endpoint, [...withCert(health.cert, health.key), 'endpoint', 'health'])).code !== 0) {
    if (Date.now() > deadline) {
      stop();
      throw new Error('TLS member did not become healthy');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint, stop };
}
