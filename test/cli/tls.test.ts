/**
 * latchctl's TLS flags (`--cacert`, `--cert`, `--key`, https endpoints) against a latchkey member that requires
 * client certificates (test/fixtures/tls): with a CA-signed certificate latchctl prints what etcdctl prints; a
 * self-signed certificate, none at all, or an unreadable file fail as they fail for etcdctl.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { freePorts } from '../harness/ports.js';
import { memberCommand } from '../harness/processes.js';
import { errorLines, runInProcess, runTool, type ToolResult } from './tools.js';

const fixtures = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const f = (name: string): string => path.join(fixtures, name);
const withCert = (cert: string, key: string): string[] => ['--cacert', f('ca.crt'), '--cert', f(cert), '--key', f(key)];

let proc: ChildProcess | undefined;
let dir = '';
let endpoint = '';

beforeAll(async () => {
  const [client, peer] = (await freePorts(2)) as [number, number];
  dir = mkdtempSync(path.join(tmpdir(), 'latchctl-tls-'));
  endpoint = `https://127.0.0.1:${client}`;
  const { command, args } = memberCommand('latchkey');
  proc = spawn(command, [
    ...args,
    '--name', 't1', '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `t1=http://127.0.0.1:${peer}`,
    '--cert-file', f('server.crt'), '--key-file', f('server.key'), '--trusted-ca-file', f('ca.crt'), '--client-cert-auth',
  ], { stdio: 'ignore' });
  // Polls the member's health (a readiness wait under a deadline, as the harness does for plain members).
  const deadline = Date.now() + 20_000;
  while ((await etcdctl(endpoint, [...withCert('client.crt', 'client.key'), 'endpoint', 'health'])).code !== 0) {
    if (Date.now() > deadline) throw new Error('TLS member did not become healthy');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 30_000);

afterAll(() => {
  proc?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const outcome = (r: ToolResult): [number, string, string[]] => [r.code, r.stdout, errorLines(r.stderr)];

describe('latchctl TLS', () => {
  test('tls - client certificate flags: same output as etcdctl; missing, self-signed and unreadable certificates fail alike', async () => {
    const ok = await runTool('latchctl', endpoint, [...withCert('client.crt', 'client.key'), 'put', 'tls/k', 'v']);
    expect(outcome(ok)).toEqual([0, 'OK\n', []]);
    for (const args of [
      [...withCert('client.crt', 'client.key'), 'get', 'tls/k', '-w', 'json'],
      [...withCert('client.crt', 'client.key'), 'member', 'list'],
      [...withCert('client.crt', 'client.key'), 'endpoint', 'hashkv'],
    ]) {
      const [e, l] = await Promise.all([runTool('etcdctl', endpoint, args), runInProcess(endpoint, args)]);
      expect.soft(outcome(l), args.join(' ')).toEqual(outcome(e));
    }
    const fast = ['--dial-timeout=500ms', '--command-timeout=1s'];
    for (const args of [
      ['--cacert', f('ca.crt'), ...fast, 'get', 'tls/k'],
      [...withCert('rogue.crt', 'rogue.key'), ...fast, 'get', 'tls/k'],
      ['--cacert', f('nosuch.crt'), 'get', 'tls/k'],
      ['--cert', '', 'get', 'tls/k'],
    ]) {
      const [e, l] = await Promise.all([runTool('etcdctl', endpoint, args), runTool('latchctl', endpoint, args)]);
      expect.soft(outcome(l), args.join(' ').replace(fixtures, '<fixtures>/')).toEqual(outcome(e));
      expect(e.code).not.toBe(0);
    }
  });
});
