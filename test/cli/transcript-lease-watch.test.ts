/**
 * Transcripts of the lease and watch commands (see transcript.ts): etcdctl and latchctl each on a fresh latchkey
 * member, long-running commands driven through the same dialog and stopped once they printed what the test
 * waits for.
 */
import { describe, expect, test } from 'vitest';
import { useMembers } from '../harness/vitest.js';
import { watchEventCount as countEvents } from '../harness/etcdctl-stream.js';
import { Transcript } from './transcript.js';

/** The lease tests share one pair (they look at their own leases only); each watch test starts a fresh one. */
const shared = useMembers({ scope: 'file' });
const members = useMembers();
let leasePair: Promise<Transcript> | undefined;
const leaseTranscript = (): Promise<Transcript> => (leasePair ??= Transcript.start(shared));

const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;

describe('latchctl transcripts: lease', () => {
  test('transcript lease - grant, attach, timetolive, list, keep-alive --once, revoke; simple, json and fields; errors', async () => {
    const t = await leaseTranscript();
    await t.run(['lease', 'grant', '100']);
    await t.run(['lease', 'grant', '60', '-w', 'json']);
    await t.run(['lease', 'grant', '30', '-w', 'fields']);
    await t.run((tool) => ['put', 'k1', 'v1', `--lease=${t.lease(tool, 0)}`]);
    await t.run((tool) => ['put', 'k2', 'v2', `--lease=${t.lease(tool, 0)}`]);
    await t.run(['get', 'k1', '-w', 'json']);
    await t.run((tool) => ['lease', 'timetolive', t.lease(tool, 0)]);
    await t.run((tool) => ['lease', 'timetolive', t.lease(tool, 0), '--keys']);
    await t.run((tool) => ['lease', 'timetolive', t.lease(tool, 0), '--keys', '-w', 'json']);
    await t.run((tool) => ['lease', 'timetolive', t.lease(tool, 1), '-w', 'fields']);
    await t.run(['lease', 'timetolive', '1234']);
    await t.run(['lease', 'timetolive', '1234', '-w', 'json']);
    await t.run(['lease', 'list']);
    await t.run(['lease', 'list', '-w', 'json']);
    await t.run((tool) => ['lease', 'keep-alive', '--once', t.lease(tool, 0)]);
    await t.run((tool) => ['lease', 'keep-alive', '--once', t.lease(tool, 1), '-w', 'json']);
    await t.run(['lease', 'keep-alive', '--once', '1234'], { code: 2, note: 'unknown lease' });
    await t.run((tool) => ['lease', 'revoke', t.lease(tool, 2)]);
    await t.run((tool) => ['lease', 'revoke', t.lease(tool, 2)], { code: 1, note: 'already revoked' });
    await t.run(['lease', 'revoke', 'zz'], { code: 128 });
    await t.run(['lease', 'revoke'], { code: 128 });
    await t.run(['lease', 'grant'], { code: 128 });
    await t.run(['lease', 'grant', 'ten'], { code: 128 });
    await t.run(['lease', 'grant', '9999999999999'], { code: 1, note: 'TTL too large' });
    await t.run(['lease', 'timetolive'], { code: 128 });
    await t.run((tool) => ['lease', 'revoke', t.lease(tool, 0), '-w', 'json']);
    await t.run(['get', 'k', '--prefix'], { note: 'the revoked lease took its keys' });
    await t.run((tool) => ['lease', 'keep-alive', t.lease(tool, 0)], { note: 'keep-alive of a revoked lease ends at once' });
  });

  test('transcript lease keep-alive - a 2 s lease is refreshed every half second until stopped', async () => {
    const t = await leaseTranscript();
    await t.run(['lease', 'grant', '2']);
    const r = await t.dialog((tool) => ['lease', 'keep-alive', t.lease(tool, t.leases[tool].length - 1)], [{ until: (out) => count(out, /keepalived with TTL\(2\)\n/g) >= 3, what: 'three keep-alives' }], {
      stop: true,
    });
    expect(count(r.latchctl.stdout, /^lease <lease-id> keepalived with TTL\(2\)$/gm)).toBeGreaterThanOrEqual(3);
  });
});

describe('latchctl transcripts: watch', () => {
  test('transcript watch - history from --rev, prefix, prev-kv, json and fields output, a command per event, argument errors', async () => {
    const t = await Transcript.start(members);
    await t.run(['put', 'foo', 'bar']); // 2
    await t.run(['put', 'foo', 'bar_new']); // 3
    await t.run(['put', 'zoo', 'val']); // 4
    await t.run(['del', 'foo']); // 5
    const events = (n: number) => ({ until: (out: string) => countEvents(out) >= n, what: `${n} events` });
    await t.dialog(['watch', '--rev=2', 'foo'], [events(3)], { stop: true });
    await t.dialog(['watch', '--rev=2', '--prefix', '', '--prev-kv'], [{ until: (out) => out.includes('zoo\nval\nDELETE\n') && out.endsWith('foo\n\n'), what: 'the delete of foo' }], { stop: true });
    await t.dialog(['watch', '--rev=3', 'foo', 'zz', '-w', 'json'], [{ until: (out) => out.includes('"type":1'), what: 'the delete event' }], { stop: true });
    await t.dialog(['watch', '--rev=4', 'zoo', '-w', 'fields'], [{ until: (out) => out.includes('"Lease" : 0\n'), what: 'the zoo event' }], { stop: true });
    await t.dialog(
      ['watch', '--rev=2', 'foo', '--', 'sh', '-c', 'echo "exec $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION"'],
      [{ until: (out) => count(out, /^exec /gm) >= 3, what: 'three command runs' }],
      { stop: true },
    );
    await t.run(['watch', '--rev=2', 'foo', '--', 'sh', '-c', 'exit 7'], { code: 1, note: 'the command fails', binary: true });
    await t.dialog(['watch', '--rev=2'], [events(3)], { stop: true, env: { ETCDCTL_WATCH_KEY: 'foo' }, note: 'key from ETCDCTL_WATCH_KEY' });
    await t.run(['watch'], { code: 128 });
    await t.run(['watch', 'foo', '--'], { code: 128 });
    await t.run(['watch', 'a', 'b', '--prefix'], { code: 128 });
    await t.run(['watch', 'foo'], { code: 128, env: { ETCDCTL_WATCH_KEY: 'foo' }, note: 'key given twice' });
    await t.run(['watch', 'foo'], { code: 128, env: { ETCDCTL_WATCH_RANGE_END: 'z' }, note: 'range end without key' });
    await t.run(['compaction', '3']);
    await t.run(['watch', '--rev=2', 'foo'], { code: 5, note: 'compacted start revision' });
    await t.run(['watch', '--rev=2', 'foo', '-w', 'json'], { code: 5, note: 'compacted start revision, json' });
  });

  test('transcript watch -i - two watchers on one stream, progress, events from another client, invalid lines, EOF', async () => {
    const t = await Transcript.start(members);
    await t.run(['put', 'seed', '1']);
    const progress = (n: number) => (out: string) => count(out, /^progress notify: \d+$/gm) >= n;
    const r = await t.dialog(
      ['watch', '-i'],
      [
        { send: 'watch foo\nwatch zoo --prev-kv\nprogress\n' },
        // Both watchers answered the progress request: they exist, so the puts below reach them.
        { until: progress(2), what: 'a progress notification per watcher', side: ['put', 'foo', 'bar'] },
        { until: (out) => out.includes('PUT\nfoo\nbar\n'), what: 'the foo event', side: ['put', 'zoo', 'val'] },
        { until: (out) => out.includes('PUT\nzoo\nval\n'), what: 'the zoo event', side: ['put', 'zoo', 'val2'] },
        { until: (out) => out.includes('zoo\nval\nzoo\nval2\n'), what: 'the zoo update with its previous value', send: 'bogus\n\nwatch\nwatch a b --prefix\nprogress\n' },
        { until: progress(4), what: 'the second progress round', end: true },
      ],
      { code: 3 },
    );
    expect(r.latchctl.stderr).toContain('Invalid command bogus (only support watch)');
    expect(r.latchctl.stderr).toMatch(/Error: Error reading watch request line: EOF\n$/);
  });
});
