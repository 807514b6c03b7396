/**
 * latchctl's TLS flags (`--cacert`, `--cert`, `--key`, https endpoints) against a latchkey member that requires
 * client certificates (test/fixtures/tls): with a CA-signed certificate latchctl prints what etcdctl prints; a
 * self-signed certificate, none at all, or an unreadable file fail as they fail for etcdctl.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { startTlsMember, type TlsMember, tlsFixture as f, tlsFixtures as fixtures, withCert } from '../harness/tls-member.js';
import { errorLines, runInProcess, runTool, type ToolResult } from './tools.js';

let member: TlsMember | undefined;
let endpoint = '';

beforeAll(async () => {
  member = await startTlsMember({ cert: 'client.crt', key: 'client.key' });
  endpoint = member.endpoint;
}, 30_000);

afterAll(() => member?.stop());

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
