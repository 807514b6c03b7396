/**
 * The etcdctl commands of the seed overview (../shared/reference/seed-etcd-overview.md), end to end, through
 * etcdctl and latchctl on identical fresh latchkey members, compared step by step — including the interactive
 * `watch -i` (puts from "another terminal" while it runs) and `txn -i` (each section typed after its prompt).
 */
import { describe, expect, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { watchEventCount as countEvents } from '../harness/etcdctl-stream.js';
import { Transcript } from './transcript.js';

const members = useMembers();

describe('latchctl seed script', () => {
  test('seed - put/get forms, history reads, watch -i and watch --rev, leases, keep-alive and txn -i, as etcdctl prints them', async () => {
    const t = await Transcript.start(members);
    // 写 / 读
    const put = await t.run(['put', 'foo', 'bar']); // rev 2
    expect(put.latchctl.stdout).toBe('OK\n');
    await t.run(['get', 'foo']);
    const valueOnly = await t.run(['get', 'foo', '--print-value-only']);
    expect(valueOnly.latchctl.stdout).toBe('bar\n');
    await t.run(['put', 'foo1', 'bar1']); // rev 3
    await t.run(['put', 'foo2', 'bar2']); // rev 4
    await t.run(['put', 'foo3', 'bar3']); // rev 5
    const range = await t.run(['get', 'foo', 'foo3']);
    expect(range.latchctl.stdout).toBe('foo\nbar\nfoo1\nbar1\nfoo2\nbar2\n');
    const limited = await t.run(['get', '--prefix', '--limit=2', 'foo']);
    expect(limited.latchctl.stdout).toBe('foo\nbar\nfoo1\nbar1\n');
    await t.run(['put', 'key', 'value']); // rev 6
    const json = await t.run(['get', 'key', '-w', 'json']);
    expect(json.latchctl.stdout).toMatch(/^\{"header":\{"cluster_id":<cluster-id>,"member_id":<member-id>,"revision":6,"raft_term":<term>\},"kvs":\[\{"key":"a2V5","create_revision":6,"mod_revision":6,"version":1,"value":"dmFsdWU="\}\],"count":1\}\n$/);

    // 版本 (revision): every put of a key makes a new version of it
    await t.run(['put', 'foo', 'bar_new']); // rev 7
    await t.run(['put', 'foo1', 'bar1_new']); // rev 8
    await t.run(['get', '--prefix', 'foo']);
    const rev7 = await t.run(['get', '--prefix', '--rev=7', 'foo']);
    expect(rev7.latchctl.stdout).toBe('foo\nbar_new\nfoo1\nbar1\nfoo2\nbar2\nfoo3\nbar3\n');
    await t.run(['get', '--prefix', '--rev=3', 'foo']);
    const rev2 = await t.run(['get', '--prefix', '--rev=2', 'foo']);
    expect(rev2.latchctl.stdout).toBe('foo\nbar\n');
    const rev1 = await t.run(['get', '--prefix', '--rev=1', 'foo']);
    expect(rev1.latchctl.stdout).toBe('');

    // 观察 (watch): two keys on one interactive watch, changes made from another terminal
    const progress = (n: number) => (out: string) => (out.match(/^progress notify: \d+$/gm) ?? []).length >= n;
    const watchI = await t.dialog(
      ['watch', '-i'],
      [
        { send: 'watch foo\nwatch zoo\nprogress\n' },
        { until: progress(2), what: 'both watchers created', side: ['put', 'foo', 'bar'] },
        { until: (out) => out.includes('PUT\nfoo\nbar\n'), what: 'the foo event', side: ['put', 'zoo', 'val'] },
        { until: (out) => out.includes('PUT\nzoo\nval\n'), what: 'the zoo event', end: true },
      ],
      { code: 3, note: 'watch -i ends at EOF with exit 3' },
    );
    expect(watchI.latchctl.stdout).toBe('progress notify: 8\nprogress notify: 8\nPUT\nfoo\nbar\nPUT\nzoo\nval\n');

    // 观察历史改动: from revision 2
    const history = await t.dialog(['watch', '--rev=2', 'foo'], [{ until: (out) => countEvents(out) >= 3, what: 'three events' }], { stop: true });
    expect(history.latchctl.stdout).toBe('PUT\nfoo\nbar\nPUT\nfoo\nbar_new\nPUT\nfoo\nbar\n');

    // 租约 (lease)
    const grant = await t.run(['lease', 'grant', '10']);
    expect(grant.latchctl.stdout).toBe('lease <lease-id> granted with TTL(10s)\n');
    await t.run((tool) => ['put', `--lease=${t.lease(tool, 0)}`, 'foo', 'bar']);
    await t.run((tool) => ['lease', 'timetolive', t.lease(tool, 0), '--keys']);
    const revoke = await t.run((tool) => ['lease', 'revoke', t.lease(tool, 0)]);
    expect(revoke.latchctl.stdout).toBe('lease <lease-id> revoked\n');
    const gone = await t.run(['get', 'foo'], { note: 'empty: revoking the lease deleted foo' });
    expect(gone.latchctl.stdout).toBe('');
    await t.run(['lease', 'grant', '10']);
    const keepAlive = await t.dialog(
      (tool) => ['lease', 'keep-alive', t.lease(tool, 1)],
      // The first answer comes at once, the next after TTL/3 = 3 s (the repetition is shown with a 2 s lease in
      // transcript-lease-watch.test.ts, where it takes half a second).
      [{ until: (out) => out.includes('keepalived with TTL(10)\n'), what: 'the first keep-alive' }],
      { stop: true },
    );
    expect(keepAlive.latchctl.stdout).toMatch(/^(lease <lease-id> keepalived with TTL\(10\)\n)+$/);

    // 事务 (txn -i): value("foo") = "ccvvb" ? get foo : del foo
    await t.run(['put', 'foo', 'ccvvb']);
    const prompt = (p: string) => (out: string) => out.includes(`${p}\n`);
    const txn = await t.dialog(
      ['txn', '-i'],
      [
        { until: prompt('compares:'), what: 'compares prompt', send: 'value("foo") = "ccvvb"\n\n' },
        { until: prompt('success requests (get, put, del):'), what: 'success prompt', send: 'get foo\n\n' },
        { until: prompt('failure requests (get, put, del):'), what: 'failure prompt', send: 'del foo\n\n' },
      ],
    );
    expect(txn.latchctl.stdout).toBe('compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nfoo\nccvvb\n');
    const txnFail = await t.dialog(
      ['txn', '-i'],
      [
        { until: prompt('compares:'), what: 'compares prompt', send: 'value("foo") = "xxx"\n\n' },
        { until: prompt('success requests (get, put, del):'), what: 'success prompt', send: 'get foo\n\n' },
        { until: prompt('failure requests (get, put, del):'), what: 'failure prompt', send: 'del foo\n\n' },
      ],
    );
    expect(txnFail.latchctl.stdout).toMatch(/FAILURE\n\n1\n$/);
  });
});
