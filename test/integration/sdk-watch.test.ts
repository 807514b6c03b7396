/**
 * SDK watches across a reconnect whose resume revision may have been compacted meanwhile, in a 3-member cluster of
 * real etcd 3.4 and of latchkey. The member the client watches through hangs (SIGSTOP) while the others take
 * writes and a compaction, then dies (SIGKILL), so the client re-creates its watchers on another member:
 *  - a watcher that had seen nothing past its last event must end with `CompactedError` (carrying the compaction
 *    revision) after exactly the events before — never silently skip the compacted ones;
 *  - a watcher that asked for progress notifications, and had been told the store moved past the compaction point
 *    with nothing for it, resumes from there: it goes on and gets the next event, once.
 */
import { Client, CompactedError, type WatchEvent } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { type MemberKind } from '../harness/processes.js';
import { useClusters } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const clusters = useClusters();

/** Collects a watch's events in the background, and how it ended. */
function collect(events: AsyncIterable<WatchEvent>): { seen: WatchEvent[]; end: unknown } {
  const out: { seen: WatchEvent[]; end: unknown } = { seen: [], end: undefined };
  void (async () => {
    try {
      for await (const ev of events) out.seen.push(ev);
      out.end = 'ended';
    } catch (err) {
      out.end = err;
    }
  })();
  return out;
}

describe.each(targets)('%s', (kind) => {
  it('sdk watch - a resume revision compacted while disconnected: CompactedError after the events before; progress notifications move it past', async () => {
    const c = await clusters.start({ kind, size: 3, extraArgs: ['--experimental-watch-progress-notify-interval', '200ms'] });
    const leader = await c.leader();
    // Watch through a follower, so that hanging and killing it needs no election.
    const victim = c.members.find((m) => m !== leader)!;
    const rest = c.members.filter((m) => m !== victim);
    const client = new Client({ endpoints: [victim.endpoint, ...rest.map((m) => m.endpoint)] });
    const other = new Client({ endpoints: rest.map((m) => m.endpoint) });
    try {
      const ac = new AbortController();
      const plain = client.watch('w/', { prefix: true, signal: ac.signal });
      const notified = client.watch('p/', { prefix: true, progressNotify: true, signal: ac.signal });
      await Promise.all([plain.created, notified.created]);
      const plainSeen = collect(plain);
      const notifiedSeen = collect(notified);
      const before: bigint[] = [];
      for (let i = 0; i < 3; i++) before.push((await other.put(`w/${i}`, `v${i}`)).header.revision);
      await until(() => plainSeen.seen.length === 3, 'the events before the hang');
      // Writes neither watcher watches; progress notifications tell the second one the store has moved past them.
      await other.put('x/0', '-');
      const compactAt = (await other.put('x/1', '-')).header.revision;
      await until(() => notified.nextRevision > compactAt, 'a progress notification past the last write', 10_000);
      expect(plain.nextRevision).toBe(before[2]! + 1n);

      // The watched member hangs; the history the plain watcher would resume from is compacted; the member dies.
      await victim.kill('SIGSTOP');
      await other.compact(compactAt);
      await victim.kill('SIGKILL');

      await until(() => plainSeen.end !== undefined, 'the plain watcher to end', 15_000);
      expect(plainSeen.end).toBeInstanceOf(CompactedError);
      expect((plainSeen.end as CompactedError).compactRevision).toBe(compactAt);
      expect(plainSeen.seen.map((e) => `${e.key}=${e.value}@${e.revision}`)).toEqual(before.map((r, i) => `w/${i}=v${i}@${r}`));

      // The notified watcher resumed past the compaction point: it gets the next event under p/, once.
      const next = (await other.put('p/1', 'after')).header.revision;
      await until(() => notifiedSeen.seen.length > 0 || notifiedSeen.end !== undefined, 'the notified watcher’s event', 15_000);
      expect(notifiedSeen.end).toBeUndefined();
      const marker = (await other.put('p/2', 'marker')).header.revision;
      await until(() => notifiedSeen.seen.length >= 2 || notifiedSeen.end !== undefined, 'the marker event', 10_000);
      expect(notifiedSeen.seen.map((e) => `${e.key}=${e.value}@${e.revision}`)).toEqual([`p/1=after@${next}`, `p/2=marker@${marker}`]);
      ac.abort();
    } finally {
      client.close();
      other.close();
    }
  }, 60_000);
});
