/**
 * Failures a user meets — an endpoint nobody listens on, unknown leases, compacted revisions — end latchctl with
 * etcdctl's `Error: …` line and exit code, and nothing else on stderr (no stack trace, no retry log lines).
 * Where etcdctl waits forever instead of failing (txn, lease timetolive/list and keep-alive --once on a dead
 * endpoint: they run without a deadline), latchctl fails after `--command-timeout` with the exit code etcdctl
 * uses for those commands' other errors.
 */
import { describe, expect, test } from 'vitest';
import { freePort } from '../harness/ports.js';
import { useMembers } from '../harness/vitest.js';
import { errorLines, runInProcess, runTool, type ToolResult } from './tools.js';

const members = useMembers({ scope: 'file' });

const errors = (r: ToolResult): string[] => errorLines(r.stderr);

describe('latchctl errors', () => {
  test('errors - an unreachable endpoint: etcdctl\'s message and exit code for each kind of command, after the command timeout', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const fast = ['--dial-timeout=300ms', '--command-timeout=1s'];
    const cases: Array<{ args: string[]; stdin?: string }> = [
      { args: ['get', 'foo'] },
      { args: ['put', 'foo', 'bar'] },
      { args: ['del', 'foo'] },
      { args: ['compaction', '2'] },
      { args: ['lease', 'grant', '10'] },
      { args: ['lease', 'revoke', '1234'] },
      { args: ['member', 'list'] },
      { args: ['endpoint', 'health'] },
      { args: ['endpoint', 'status'] },
      { args: ['endpoint', 'hashkv'] },
    ];
    await Promise.all(
      cases.map(async ({ args, stdin }) => {
        const started = Date.now();
        const [e, l] = await Promise.all([runTool('etcdctl', dead, [...fast, ...args], { stdin }), runTool('latchctl', dead, [...fast, ...args], { stdin })]);
        const took = Date.now() - started;
        const title = `$ <ctl> ${args.join(' ')} (nothing listens on ${dead})`;
        expect.soft({ code: l.code, stdout: l.stdout, errors: errors(l).map((x) => x.replace(dead, '<dead>')) }, title).toEqual({
          code: e.code,
          stdout: e.stdout,
          errors: errors(e).map((x) => x.replace(dead, '<dead>')),
        });
        expect.soft(e.code, `${title}: etcdctl fails`).not.toBe(0);
        expect.soft(l.stderr, `${title}: latchctl prints only its error lines`).not.toMatch(/^\{"level"|\n\s+at |node:internal/m);
        expect.soft(took, `${title}: the command timeout bounds the wait`).toBeLessThan(10_000);
      }),
    );
  });

  test('errors - commands etcdctl leaves hanging on a dead endpoint fail after the command timeout with etcdctl\'s exit code', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const fast = ['--dial-timeout=300ms', '--command-timeout=1s'];
    const [ttl, list, once, txn] = await Promise.all([
      runTool('latchctl', dead, [...fast, 'lease', 'timetolive', '1234']),
      runTool('latchctl', dead, [...fast, 'lease', 'list']),
      runTool('latchctl', dead, [...fast, 'lease', 'keep-alive', '--once', '1234']),
      runTool('latchctl', dead, [...fast, 'txn'], { stdin: '\nput a b\n\n\n' }),
    ]);
    for (const r of [ttl, list, once]) expect([r.code, r.stdout, r.stderr]).toEqual([2, '', 'Error: context deadline exceeded\n']);
    expect([txn.code, txn.stdout, txn.stderr]).toEqual([1, '', 'Error: context deadline exceeded\n']);
    // keep-alive (not --once) on a dead endpoint: like etcdctl, the lease is given up after dial timeout + 1 s.
    const keepAlive = await Promise.all((['etcdctl', 'latchctl'] as const).map((tool) => runTool(tool, dead, [...fast, 'lease', 'keep-alive', '1234'])));
    expect(keepAlive.map((r) => [r.code, r.stdout])).toEqual([
      [0, 'lease 0000000000001234 expired or revoked.\n'],
      [0, 'lease 0000000000001234 expired or revoked.\n'],
    ]);
  });

  test('errors - unknown leases and compacted revisions give one error line and etcdctl\'s exit code', async () => {
    const m = await members.start({ kind: 'latchkey' });
    for (const v of ['1', '2', '3']) expect((await runInProcess(m.endpoint, ['put', 'k', v])).code).toBe(0);
    expect((await runInProcess(m.endpoint, ['compaction', '3'])).code).toBe(0);
    const cases: Array<{ args: string[]; code: number; error: string }> = [
      { args: ['put', 'k', 'v', '--lease=abc123'], code: 1, error: 'Error: etcdserver: requested lease not found' },
      { args: ['lease', 'revoke', 'abc123'], code: 1, error: 'Error: failed to revoke lease (etcdserver: requested lease not found)' },
      { args: ['lease', 'keep-alive', '--once', 'abc123'], code: 2, error: 'Error: etcdserver: requested lease not found' },
      { args: ['get', 'k', '--rev=2'], code: 1, error: 'Error: etcdserver: mvcc: required revision has been compacted' },
      { args: ['compaction', '2'], code: 1, error: 'Error: etcdserver: mvcc: required revision has been compacted' },
      { args: ['watch', 'k', '--rev=2'], code: 5, error: 'Error: watch is canceled by the server' },
      { args: ['txn'], code: 1, error: 'Error: etcdserver: mvcc: required revision has been compacted' },
    ];
    for (const c of cases) {
      const stdin = c.args[0] === 'txn' ? '\nget k --rev=2\n\n\n' : '';
      const [e, l] = await Promise.all([runTool('etcdctl', m.endpoint, c.args, { stdin }), runInProcess(m.endpoint, c.args, { stdin })]);
      const title = `$ <ctl> ${c.args.join(' ')}`;
      expect.soft([e.code, errors(e).at(-1)], `${title}: etcdctl (checks the case)`).toEqual([c.code, c.error]);
      expect.soft([l.code, l.stdout, errors(l)], title).toEqual([e.code, e.stdout, errors(e)]);
    }
  });
});
